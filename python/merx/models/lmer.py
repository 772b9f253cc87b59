"""``lmer()``: formula → model frame → Rust problem → optimised θ → result object.

The same split as lme4 (``lFormula`` → ``mkLmerDevfun`` → ``optimizeLmer`` → ``mkMerMod``):
:func:`build_problem` is the first two steps, :func:`lmer` adds the last two. No
numerics here: the formula is parsed by :mod:`merx.formula`, the model frame built
by :mod:`merx.frame`, the problem solved by the Rust core and the result wrapped by
:mod:`merx.results`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .. import _core
from ..errors import DataError, MerxError
from ..formula.model_formula import parse_formula
from ..frame.model_frame import ModelFrame, build_model_frame
from ..results.lmer import LmerResult
from ..results.lmer_inference import register_problem_builder
from ..frame.batch_source import is_batch_source
from .fitting import argument_names, check_lme4_terms, check_prior_weights, core_terms, fit_watched, memory_error, run_fit
from .lmer_dask import is_dask_collection, lmer_dask
from .lmer_stream import lmer_batches


def _problem_from_frame(frame: ModelFrame, REML: bool) -> "_core.LinearMixedModel":
    """The Rust model of a model frame; the arrays are handed over without copies where
    their layout allows."""
    if not frame.blocks:
        raise MerxError(
            f"formula {frame.formula!r} has no random-effects term such as (1 | group); "
            "for a model without random effects use an ordinary least-squares fit"
        )
    terms, names = core_terms(frame)
    X = np.asarray(frame.X, dtype=np.float64)
    y = np.ascontiguousarray(frame.y, dtype=np.float64)
    w = None if frame.weights is None else np.ascontiguousarray(frame.weights, dtype=np.float64)
    o = None if frame.offset is None else np.ascontiguousarray(frame.offset, dtype=np.float64)
    try:
        return _core.LinearMixedModel(X, y, terms, weights=w, offset=o, reml=bool(REML), term_names=names)
    except ValueError as e:  # the core's own input checks
        raise memory_error(frame, e) or DataError(str(e)) from None


# Results read back from a pickle rebuild their core problem for degrees of freedom.
register_problem_builder(_problem_from_frame)


def build_problem(formula: str, data: Any, REML: bool = True, weights=None, offset=None, data_name=None,
                  covariance_wrappers: bool = False):
    """Model frame and Rust model (cross-products and symbolic factorisation) without
    optimising: ``problem.deviance(theta)`` evaluates the profiled objective.
    ``covariance_wrappers``: accept glmmTMB's ``ar1()``, ``cs()``, ``diag()``, ``us()`` terms
    (lme4's ``lmer`` does not).

    Parameters
    ----------
    formula, data, REML, weights, offset, data_name
        As :func:`merx.lmer`.
    covariance_wrappers : bool
        Accept glmmTMB's covariance-structure wrappers.

    Returns
    -------
    tuple of (ModelFrame, merx._core.LinearMixedModel)
        The model frame and the core's model, not optimised.

    Raises
    ------
    FormulaError
        The formula is malformed or uses a term this interface does not take.
    DataError
        A variable is missing from the data or its values cannot be used (also the core's
        refusals of the model, e.g. a grouping factor with as many levels as rows).
    MerxError
        Invalid arguments, or a model too large for the available memory.
    """
    check_prior_weights(weights, "lmer")
    parsed = parse_formula(formula)
    if not covariance_wrappers:
        check_lme4_terms(parsed, "lmer")
    frame = build_model_frame(parsed, data, weights=weights, offset=offset, data_name=data_name)
    return frame, _problem_from_frame(frame, REML)


def lmer(
    formula: str,
    data: Any,
    REML: bool = True,
    weights=None,
    offset=None,
    data_name: str | None = None,
    start: Any = None,
    max_fun: int | None = None,
    optimize: bool = True,
    optimizer: str = "auto",
    progress: bool | None = None,
) -> LmerResult:
    """Fit a linear mixed-effects model, as lme4's ``lmer``.

    Parameters
    ----------
    formula : str
        lme4 formula, e.g. ``"Reaction ~ Days + (Days | Subject)"``.
    data : pandas or polars DataFrame, dict of columns, or data read in batches: a Parquet
        file, a directory of Parquet files or a ``pyarrow.dataset.Dataset`` (``merx[parquet]``),
        or a Dask DataFrame (``merx[dask]``, see docs/dask.md). Batched data is read twice
        (factor levels, then cross-products); the result holds no rows (``write_fitted``).
    REML : bool
        Optimise the REML criterion (default) or the ML deviance.
    weights, offset : column name or array, optional
        Prior weights and offset, as lme4 treats them.
    data_name : str, optional
        Name shown on the ``Data:`` line of ``summary()``.
    start : array-like, optional
        Starting θ (lme4's layout); default lme4's (identity templates).
    max_fun : int, optional
        Cap on objective evaluations.
    optimizer : str
        ``"auto"`` (default: the quasi-Newton method where the gradient is cheap, i.e. no
        or a small Schur complement after the first random-effects term, BOBYQA
        otherwise), ``"bobyqa"`` (derivative-free, lme4's default algorithm) or
        ``"quasi-newton"`` (projected BFGS with the analytic gradient of the profiled
        objective).
    optimize : bool
        ``False`` evaluates the model at ``start`` without optimising (lme4's
        ``lmerControl(optimizer = NULL)``), e.g. to reproduce another fit's estimates.
    progress : bool or None
        A bar (``None``: in a terminal or notebook; :mod:`merx.progress`): of the objective's
        evaluations of an in-memory fit, of the rows of each pass over Parquet data (Dask
        shows its own progress: ``dask.diagnostics`` or the dashboard). A fit of 20,000 rows
        or more, or one with a bar, stops on Ctrl-C within 0.1 s, the data untouched.

    Returns
    -------
    LmerResult
        The fitted model (a ``StreamedLmerResult``, without per-row values, for batched data).

    Raises
    ------
    FormulaError
        The formula is malformed or uses a term this interface does not take.
    DataError
        A variable is missing from the data or its values cannot be used (also the core's
        refusals of the model, e.g. a grouping factor with as many levels as rows).
    MerxError
        Invalid arguments, or a model too large for the available memory.
    """
    if type(data) is not pd.DataFrame:  # (a plain pandas frame is neither)
        if is_batch_source(data) or is_dask_collection(data):
            check_lme4_terms(parse_formula(formula), "lmer")
        if is_batch_source(data):
            return lmer_batches(formula, data, REML=REML, weights=weights, offset=offset, data_name=data_name,
                                start=start, max_fun=max_fun, optimize=optimize, optimizer=optimizer,
                                progress=progress)
        if is_dask_collection(data):
            return lmer_dask(formula, data, REML=REML, weights=weights, offset=offset, data_name=data_name,
                             start=start, max_fun=max_fun, optimize=optimize, optimizer=optimizer)
    frame, problem = build_problem(formula, data, REML=REML, weights=weights, offset=offset, data_name=data_name)
    return _fit_problem(frame, problem, formula, start, max_fun, optimize, optimizer, weights, offset, data_name,
                        progress)


def fit_structured_lmm(formula: str, data: Any, REML: bool = False, weights=None, offset=None,
                       data_name: str | None = None, start: Any = None, max_fun: int | None = None,
                       optimizer: str = "auto") -> LmerResult:
    """The Gaussian linear mixed model of a formula with glmmTMB's covariance-structure
    wrappers (``ar1(0 + f | g)``, ``cs(x | g)``, ``diag(x | g)``, ``us(x | g)``), fitted by the
    core's profiled likelihood (ML by default, as glmmTMB), returned as an ``LmerResult``
    (lme4's accessors, profiles, bootstrap) where ``merx.glmmTMB`` gives glmmTMB's result.
    θ is each structure's parameters (``LmerResult.theta`` names them)."""
    frame, problem = build_problem(formula, data, REML=REML, weights=weights, offset=offset, data_name=data_name,
                                   covariance_wrappers=True)
    return _fit_problem(frame, problem, formula, start, max_fun, True, optimizer, weights, offset, data_name)


def _fit_problem(frame, problem, formula, start, max_fun, optimize, optimizer, weights, offset, data_name,
                 progress=None):
    theta_start = None if start is None else [float(v) for v in np.ravel(start)]
    if not optimize and theta_start is None:
        raise MerxError("optimize=False needs start= (the theta at which to evaluate the model)")
    if optimize:
        # Conditional variances are left to the result, on first use (see
        # MixedModelResult._conditional_variances).
        fit = run_fit(lambda: fit_watched(lambda **watch: problem.fit(theta_start=theta_start, max_fun=max_fun,
                                                                      optimizer=optimizer, condvar=False, **watch),
                                          len(frame.y), progress))
    else:
        fit = run_fit(lambda: problem.estimates(theta_start, condvar=False))
    return LmerResult(
        frame, fit, data_name=data_name, call_formula=formula, problem=problem, **argument_names(weights, offset)
    )
