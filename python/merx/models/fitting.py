"""What every model interface does the same way around the Rust core: the random-effects
terms as the core takes them, the fit call with its errors and convergence warning, and the
names of the weights/offset arguments lme4 prints."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..errors import FormulaError, MerxError, warn_user
from ..formula.nlme_forms import VarIdent
from ..formula.nlme_structures import CorStruct, VarFunction
from ..progress import ProgressBar, show_progress


def core_terms(frame: Any) -> tuple[list, list]:
    """(codes, levels, Z, covariance) per random-effects block, and (group, columns) names."""
    terms = [
        (np.ascontiguousarray(b.codes, dtype=np.int64), int(b.n_levels), np.asarray(b.Z, dtype=np.float64), b.covariance)
        for b in frame.blocks
    ]
    return terms, [(b.group, list(b.columns)) for b in frame.blocks]


def check_lme4_terms(parsed: Any, fun: str) -> None:
    """lme4's and nlme's interfaces have no covariance-structure wrappers: glmmTMB's ``ar1()``,
    ``cs()``, ``diag()``, ``us()`` in their formulas are refused, naming the interface that
    fits them (the frame and core take them from any model: ``RandomEffectBlock.covariance``)."""
    wrappers = parsed.covariance_wrappers
    if wrappers:
        written = ", ".join(f"{w}()" for w in wrappers)
        raise FormulaError(
            f"{fun}() fits lme4's random-effects terms, which have no covariance-structure wrappers; {written} in "
            f"formula {parsed.formula!r} {'is' if len(wrappers) == 1 else 'are'} glmmTMB's: fit the model with "
            f"merx.glmmTMB"
        )


def run_fit(call: Callable[[], Any]) -> Any:
    """Runs the core's fit: its input errors as MerxError, a numerical failure named as
    such, and a warning (at the user's call) when the optimizer
    did not converge."""
    try:
        fit = call()
    except ValueError as e:
        raise MerxError(str(e)) from None
    except ArithmeticError as e:
        raise MerxError(f"the fit failed: {e}") from None
    if not fit.converged:
        warn_user(f"the optimizer did not converge: {fit.message}")
    return fit


def argument_names(weights: Any, offset: Any) -> dict:
    """lme4 prints the weights/offset arguments; a column name is what the user wrote."""
    return {
        "weights_name": weights if isinstance(weights, str) else None,
        "offset_name": offset if isinstance(offset, str) else None,
    }


#: The environment variable the core reads as a cap on the memory it plans for.
MEMORY_LIMIT_VARIABLE = "MERX_MEMORY_LIMIT"


def memory_error(frame: Any, err: Exception) -> MerxError | None:
    """The core's refusal of a factor larger than the available memory, with the grouping
    factors named (None for any other error)."""
    msg = str(err)
    if " of memory but " not in msg:
        return None
    first = frame.blocks[0]
    later = ", ".join(f"{b.group!r} ({len(b.levels)} levels)" for b in frame.blocks[1:])
    return MerxError(
        f"the model does not fit in memory: {msg}. After {first.group!r} ({len(first.levels)} levels) come {later}: "
        "crossed grouping factors with many levels leave a large, nearly dense block to factor (about "
        "levels² × 8 bytes). Fit on a machine with more memory, or reduce the levels of the crossed factors "
        "(e.g. pool rare levels)" + (f"; or raise {MEMORY_LIMIT_VARIABLE}" if MEMORY_LIMIT_VARIABLE in msg else "")
    )



def check_prior_weights(weights: Any, fun: str) -> None:
    """lme4's ``weights=`` are prior weights; a variance function belongs to ``merx.lme``."""
    if isinstance(weights, (VarIdent, VarFunction, CorStruct)):
        raise MerxError(
            f"{fun}(weights=...) takes prior weights (a column name or an array); the variance function "
            f"{weights} is estimated by only merx.lme(..., weights=...) (a linear mixed model fitted as nlme's lme)"
        )


#: Rows from which an in-memory fit runs watched (Ctrl-C stops it within 0.1 s): the worker
#: thread a watched fit runs on costs ~50 µs, a lot for a sleepstudy-sized fit of 0.5 ms.
WATCH_ROWS = 20_000


def fit_watched(fit: Callable[..., Any], n_rows: int, progress: bool | None, desc: str = "fit") -> Any:
    """Calls the core's ``fit(watch=..., progress=...)``: watched (interruptible by Ctrl-C, the
    core's worker thread cancelled and joined, the model left reusable) for ``n_rows`` from
    :data:`WATCH_ROWS` or when a bar is shown; the bar counts objective evaluations (an
    automatic one, ``progress=None`` in a terminal or notebook, appears after a second)."""
    if progress is False or (progress is None and not show_progress(None)):  # no bar: nothing to advance
        return fit(watch=n_rows >= WATCH_ROWS, progress=None)
    with ProgressBar(None, desc, progress, unit="evaluations", delay=1.0 if progress is None else 0.0) as bar:
        done = [0]

        def advance(n_eval: int) -> None:
            bar.update(n_eval - done[0])
            done[0] = n_eval

        return fit(watch=bar.shown or n_rows >= WATCH_ROWS, progress=advance if bar.shown else None)
