"""Simulated prediction intervals, merTools' ``predictInterval`` (the CRAN releases 0.5.2 to
0.6.4, whose simulation is the same; checked against merTools 0.5.2 in
``tests/test_prediction_interval.py``).

The simulation runs in the Rust core (``merx._core.prediction_intervals``, see
``rust/src/prediction_interval.rs``); this module assembles its input from a fitted model
and the rows to predict, and lays its output out as merTools does. Per simulation:

* β ~ N(β̂, vcov(β̂)) (``fix_intercept_variance`` and ``ignore_fixed_terms`` adjust that
  covariance as merTools does; for ``ignore_fixed_terms`` merx uses the exact limit of
  merTools' precision × 1e15: the named coefficients are held at β̂ and the others drawn
  from their conditional law given them);
* per level of each random-effects term b ~ N(conditional mode, conditional covariance)
  (lme4's ``ranef(condVar = TRUE)``), independently of β, one draw per level shared by all
  rows of that level;
* a linear mixed model's residual SD σ with σ² = pwrss / χ²_df, df = n - p - nθ - 1 (merTools'
  ``1 / rgamma(0.5 df, 0.5 pwrss)``); a binomial GLMM's σ is 1 and, as merTools' CRAN releases,
  ``include_resid_var`` adds N(0, 1) noise on the link scale.

Levels of ``newdata`` not seen in the fit contribute 0 (``new_levels="zero"``, merTools'
default, with its warning) or, with ``new_levels="draw"``, an effect drawn from N(0, Σ) of
the term, one per new level. The median (or mean) and the (1 ± level)/2 quantiles of the
simulations (R's type 7) are ``fit``, ``lwr`` and ``upr``; ``type="response"`` maps the
three through the inverse link (as merTools' ``type = "probability"``). ``which="all"``
sums the components once for ``combined`` and adds to it and to each component (each
grouping factor, ``fixed``) its own residual noise with the simulation's σ, as merTools.
``return_sims=True`` (merTools' ``returnSims``) puts the simulated values on the link scale
in ``result.attrs["sim_results"]``: an array rows × nsim, or with ``which="all"`` a dict of
them by effect (merTools' attribute holds the components only; merx adds ``combined``).

merTools versions: 0.5.2 (Debian's), 0.6.1 (ranef computed once, #120) to 0.6.4 (CRAN,
2026) draw the same law. merTools' development version 1.0.0 (not on CRAN) changes three
things: a binomial GLMM's ``include.resid.var`` simulates binomial responses for
``type = "probability"`` and adds nothing on the link scale (merx keeps the CRAN
behaviour, N(0, 1) noise on the link scale); several terms of one grouping factor
(``(1 | g) + (0 + x | g)``, ``||``), an error in the CRAN releases, are drawn block-diagonally
(merx: each term from its own conditional covariance, the same law); an unobserved level of
an interaction grouping factor (``(1 | a/b)``) borrowed a random observed level's effect in
the CRAN releases and contributes 0 in 1.0.0 (merx: 0, as any new level).

Deviations from merTools, on purpose: the offset (formula ``offset()`` or ``offset=``) is
part of the fixed component (merTools leaves it out); the columns are ``fit, lwr, upr``
(merTools: ``fit, upr, lwr``); ``ignore_fixed_terms`` takes names or 0-based positions (merTools: 1-based, so its
``ignore.fixed.terms = 1`` is merx's ``0`` or ``"(Intercept)"``);
rows with a missing grouping value or predictor give NaN (merTools treats a missing group as
a new level); families other than binomial raise an error (merTools warns "not tested" and
adds N(0, 1) noise on the link scale); ``fix_intercept_variance`` with a grouping factor
without a random intercept raises an error (merTools turns the option off with a message
when the last grouping factor has none, and fails with R's "missing value" error otherwise);
``ignore_fixed_terms=True`` (all coefficients, in merTools) is not accepted; a different
random-number generator (xoshiro256++), so the numbers equal merTools' in law, not draw for
draw.
"""

from __future__ import annotations

import secrets
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .. import _core
from ..errors import MerxError, warn_user
from .prediction import _group_labels, row_index
from .theta_layout import block_covariance, relative_factor

__all__ = ["predict_interval", "WHICH", "NEW_LEVELS"]

WHICH = ("full", "fixed", "random", "all")
NEW_LEVELS = ("zero", "draw")
_STATS = ("median", "mean")
_TYPES = ("link", "response")


def _choice(value: Any, allowed: Sequence[str], name: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise MerxError(f"{name} must be one of {', '.join(repr(a) for a in allowed)}, not {value!r}")
    return value


def _check_numbers(level: Any, nsim: Any, seed: Any) -> tuple[float, int, int]:
    if isinstance(level, bool) or not isinstance(level, (int, float, np.floating)) or not 0.0 < float(level) < 1.0:
        raise MerxError(f"level must be a number strictly between 0 and 1 (e.g. 0.8), not {level!r}")
    if isinstance(nsim, bool) or not isinstance(nsim, (int, np.integer)) or int(nsim) < 2:
        raise MerxError(f"nsim must be an integer of at least 2 (the number of simulations), not {nsim!r}")
    if seed is None:
        seed = secrets.randbits(64)
    elif isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 2**64:
        raise MerxError(f"seed must be None or an integer in [0, 2**64), not {seed!r}")
    return float(level), int(nsim), int(seed)


def _residual(result: Any) -> dict:
    """The residual-SD arguments of the core: a linear mixed model's scaled inverse
    chi-square draw, or a binomial GLMM's σ = 1."""
    if result.frame.family is None:
        return {"residual_df": float(result.nobs - result.n_params), "pwrss": float(result.fit.pwrss)}
    if str(result.fit.family) != "binomial":
        raise MerxError(
            f"predict_interval supports linear mixed models and binomial GLMMs (as merTools); this model's "
            f"family is {result.fit.family!r}"
        )
    return {"sigma": 1.0}


def _codes(result: Any, block: Any, codes: np.ndarray, newdata: Any, new_levels: str) -> tuple[np.ndarray, int]:
    """The core's level codes of one block's rows (-2 missing group, -1 new level at 0,
    L + j the j-th new level drawn) and the number of new levels drawn."""
    codes = np.asarray(codes, dtype=np.int64).copy()
    unseen = np.flatnonzero(codes < 0)
    if unseen.size == 0:
        return codes, 0
    labels = _group_labels(newdata, block.group, codes.size)
    if labels is None:
        if new_levels == "draw":
            raise MerxError(
                f"new_levels='draw' needs the grouping column(s) of {block.group!r} in newdata to tell the new "
                f"levels apart; use new_levels='zero'"
            )
        return codes, 0
    new_labels: dict = {}
    for i in unseen:
        lab = labels[i]
        if lab is None:
            codes[i] = -2
        elif new_levels == "draw":
            codes[i] = len(block.levels) + new_labels.setdefault(lab, len(new_labels))
        else:
            new_labels.setdefault(lab, len(new_labels))
    if new_labels and new_levels == "zero":
        warn_user(
            f"The following levels of {block.group} from newdata -- {', '.join(map(str, new_labels))} -- are not in "
            "the model data. Currently, predictions for these values are based only on the fixed coefficients "
            "and the observation-level error (new_levels='draw' draws them from the random-effects covariance).",
            UserWarning,
        )
    return codes, len(new_labels) if new_levels == "draw" else 0


def _fixed_positions(names: list, ignore_fixed_terms: Any) -> list:
    items = [ignore_fixed_terms] if isinstance(ignore_fixed_terms, (str, int, np.integer)) else list(ignore_fixed_terms)
    known = [False] * len(names)
    for it in items:
        if isinstance(it, str) and it in names:
            known[names.index(it)] = True
        elif isinstance(it, (int, np.integer)) and not isinstance(it, bool) and 0 <= int(it) < len(names):
            known[int(it)] = True
        else:
            raise MerxError(
                f"ignore_fixed_terms: {it!r} is neither a fixed-effect name ({', '.join(names)}) nor a 0-based "
                f"position below {len(names)}"
            )
    return known


def _beta_covariance(result: Any, fix_intercept_variance: bool, ignore_fixed_terms: Any, covs: list) -> np.ndarray:
    V = np.ascontiguousarray(result.fit.vcov_beta, dtype=np.float64)
    names = list(result.frame.x_names)
    if not fix_intercept_variance and ignore_fixed_terms is None:
        return V
    known = [False] * len(names) if ignore_fixed_terms is None else _fixed_positions(names, ignore_fixed_terms)
    groups = None
    if fix_intercept_variance:
        if not names or names[0] != "(Intercept)":
            raise MerxError("fix_intercept_variance needs a fixed-effects intercept as the first coefficient")
        groups, seen = [], set()
        for bi, blk in enumerate(result._blocks):
            if blk.group in seen:
                continue
            seen.add(blk.group)
            if "(Intercept)" not in blk.columns:
                raise MerxError(
                    f"fix_intercept_variance treats every random effect as an intercept; grouping factor "
                    f"{blk.group!r} has no random intercept ({blk.term}): turn fix_intercept_variance off"
                )
            j = blk.columns.index("(Intercept)")
            condvar = np.asarray(result._conditional_variances()[bi], dtype=float)[:, j, j]
            groups.append(([float(c) for c in condvar], float(covs[bi][j, j])))
    try:
        return np.ascontiguousarray(_core.beta_draw_covariance(V, known, groups))
    except ArithmeticError as e:
        raise MerxError(str(e)) from None


def predict_interval(
    result: Any,
    newdata: Any = None,
    level: float = 0.8,
    nsim: int = 1000,
    which: str = "full",
    include_resid_var: bool = True,
    stat: str = "median",
    type: str = "link",  # noqa: A002 - merTools' and lme4's name
    seed: int | None = None,
    new_levels: str = "zero",
    fix_intercept_variance: bool = False,
    ignore_fixed_terms: Any = None,
    n_threads: int | None = None,
    return_sims: bool = False,
) -> pd.DataFrame:
    """merTools' ``predictInterval``; see :meth:`merx.results.base.MixedModelResult.predict_interval`."""
    which = _choice(which, WHICH, "which")
    stat = _choice(stat, _STATS, "stat")
    type = _choice(type, _TYPES, "type")
    new_levels = _choice(new_levels, NEW_LEVELS, "new_levels")
    level, nsim, seed = _check_numbers(level, nsim, seed)
    if not isinstance(include_resid_var, (bool, np.bool_)):
        raise MerxError(f"include_resid_var must be True or False, not {include_resid_var!r}")
    if not isinstance(return_sims, (bool, np.bool_)):
        raise MerxError(f"return_sims must be True or False, not {return_sims!r}")
    if n_threads is not None and (not isinstance(n_threads, int) or n_threads < 1):
        raise MerxError(f"n_threads must be None or a positive integer, not {n_threads!r}")
    residual = _residual(result)
    if type == "response" and result.frame.family is None:
        warn_user("predictions on the response scale of a linear mixed model are those on the link "
                  "(identity) scale", UserWarning)
        type = "link"
    frame, blocks = result.frame, result._blocks
    if newdata is None:
        X, offset = frame.X, frame.offset
        rows = [(b.codes, b.Z) for b in blocks]
    else:
        X, offset = frame.new_fixed_matrix(newdata), frame.new_offset(newdata)
        rows = frame.new_random_blocks(newdata)
    index = row_index(frame, newdata, X.shape[0])
    sigma2 = result.sigma**2 if result.use_scale else 1.0
    covs = [sigma2 * (T @ T.T) for T in (relative_factor(th, len(b.columns), block_covariance(b))
                                         for b, th in zip(blocks, result._theta_by_block()))]
    groups = list(dict.fromkeys(b.group for b in blocks))
    terms = []
    for bi, (blk, (codes, Z)) in enumerate(zip(blocks, rows)):
        c, n_new = _codes(result, blk, codes, newdata, new_levels) if newdata is not None else (
            np.asarray(codes, dtype=np.int64), 0)
        k = len(blk.columns)
        terms.append((c, np.asarray(Z, dtype=np.float64).reshape(len(c), k),
                      np.ascontiguousarray(result.fit.b[bi], dtype=np.float64).reshape(len(blk.levels), k),
                      np.ascontiguousarray(result._conditional_variances()[bi], dtype=np.float64).reshape(len(blk.levels), k, k),
                      n_new, np.ascontiguousarray(covs[bi]), groups.index(blk.group)))
    fixed = len(groups)
    parts = {"full": list(range(fixed + 1)), "fixed": [fixed], "random": list(range(fixed))}
    if which == "all":
        outputs = [parts["full"]] + [[g] for g in range(fixed)] + [[fixed]]
        effects = ["combined"] + groups + ["fixed"]
    else:
        outputs, effects = [parts[which]], [which]
    out = _core.prediction_intervals(
        np.asarray(X, dtype=np.float64), np.ascontiguousarray(result._beta),
        _beta_covariance(result, bool(fix_intercept_variance), ignore_fixed_terms, covs), terms, fixed,
        [(o, bool(include_resid_var)) for o in outputs], nsim, level, stat == "median", seed,
        offset=None if offset is None else np.ascontiguousarray(offset, dtype=np.float64), n_threads=n_threads,
        keep_sims=bool(return_sims), **residual)
    stats = {nm: np.asarray(getattr(out, nm)) for nm in ("fit", "lwr", "upr")}
    if type == "response":
        family = result._glm_family()
        stats = {nm: np.stack([np.asarray(family.link_inverse(np.ascontiguousarray(r))) for r in v])
                 for nm, v in stats.items()}
    if which != "all":
        table = pd.DataFrame({nm: v[0] for nm, v in stats.items()}, index=index)
    else:
        n = stats["fit"].shape[1]
        table = pd.DataFrame({
            "effect": np.repeat(effects, n),
            **{nm: v.ravel() for nm, v in stats.items()},
            "obs": np.tile(np.arange(1, n + 1), len(effects)),
        })
    if return_sims:
        sims = np.asarray(out.sims)
        table.attrs["sim_results"] = sims[0] if which != "all" else dict(zip(effects, sims))
    return table
