"""``hausman()``: plm's ``phtest`` on a panel, the within (fixed-effects) estimator against
the random-effects GLS one.

formula → model frame (the formula's fixed part, with the panel's index columns added as
``(1 | group)`` terms so that their codes and the missing-value rows come from the same frame)
→ the numerics of :mod:`merx.results.panel_estimators` → :class:`~merx.results.hausman.HausmanResult`.
With ``random="reml"`` the variance components come from the core's REML fit of
``y ~ x + (1 | group)``, as ``merx.lmer`` makes it.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np

from ..errors import DataError, FormulaError, MerxError, warn_user
from ..formula.deparse_lines import formula_lines
from ..formula.model_formula import parse_formula
from ..frame.data_source import to_pandas
from ..frame.model_frame import build_model_frame
from ..results.hausman import HausmanResult, coefficient_frame, hausman_statistic
from ..results import panel_estimators as panel
from ..rstyle.names import deparse_name
from .fitting import run_fit
from .lmer import _problem_from_frame

__all__ = ["hausman"]

_METHODS = ("chisq", "aux")
_EFFECTS = ("individual", "time")
_RANDOM_METHODS = ("swar", "reml")
# plm's vcovHC default for a pooled model: Arellano's covariance clustered by group, HC0
_ROBUST_VCOV = ("vcovHC", "arellano", "HC0")
# lme4's scale check of X concerns the optimiser of a mixed model, not these least-squares fits
_SCALE_WARNING = "Some predictor variables are on very different scales"


def _check_arguments(method, effects, vcov, random, time):
    if method not in _METHODS:
        raise MerxError(f"method must be one of {', '.join(map(repr, _METHODS))}, not {method!r}")
    if effects == "twoways":
        raise MerxError("effects='twoways' is not supported: use 'individual' or 'time'")
    if effects not in _EFFECTS:
        raise MerxError(f"effects must be one of {', '.join(map(repr, _EFFECTS))}, not {effects!r}")
    if effects == "time" and time is None:
        raise MerxError("effects='time' needs the time index: pass time=<column>")
    if random not in _RANDOM_METHODS:
        raise MerxError(f"random must be one of {', '.join(map(repr, _RANDOM_METHODS))}, not {random!r}")
    if vcov is not None:
        if method != "aux":
            raise MerxError("vcov= applies to the regression-based test only (method='aux')")
        if vcov not in _ROBUST_VCOV:
            raise MerxError(f"vcov must be None or one of {', '.join(map(repr, _ROBUST_VCOV))} "
                            "(plm's vcovHC default: Arellano's cluster-robust covariance, HC0)")


def _check_index(df, group, time):
    for role, col in (("group", group), ("time", time)):
        if col is None:
            continue
        if col not in df.columns:
            cols = ", ".join(map(str, list(df.columns)[:30]))
            raise DataError(f"the {role} column {col!r} is not in the data; available columns: {cols}")
    n_groups = df[group].nunique(dropna=True)
    if n_groups < 2:
        raise DataError(f"the group column {group!r} has {n_groups} distinct value(s): a panel needs at least 2 groups")
    if time is not None and time == group:
        raise DataError("group and time must be different columns")


def _panel_frame(formula, df, group, time):
    parsed = parse_formula(formula)
    if parsed.random:
        raise FormulaError(f"the formula {formula!r} of a Hausman test has no random-effects terms: "
                           "give the panel's index as group= and time=")
    index_terms = [f"(1 | {deparse_name(c)})" for c in (group, time) if c is not None]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_SCALE_WARNING)
        frame = build_model_frame(f"{formula} + {' + '.join(index_terms)}", df)
    if not frame.x_names or frame.x_names[0] != "(Intercept)":
        raise FormulaError("the random-effects estimator of a Hausman test needs an intercept: drop '- 1' / '0 +'")
    if len(frame.x_names) < 2:
        raise FormulaError(f"the formula {formula!r} has no regressor to compare")
    blocks = {b.group: b for b in frame.blocks}
    return frame, blocks[str(group)], (blocks[str(time)] if time is not None else None)


def _balanced(group_block, time_block) -> bool:
    """plm's ``is.pbalanced``: every group observed at every time (without a time index: the
    same number of observations per group). Duplicate (group, time) pairs are refused."""
    sizes = np.bincount(group_block.codes)
    if time_block is None:
        return bool(np.all(sizes == sizes[0]))
    pairs = group_block.codes * len(time_block.levels) + time_block.codes
    unique_pairs, counts = np.unique(pairs, return_counts=True)
    if np.any(counts > 1):
        first = unique_pairs[counts > 1][0]
        g, t = divmod(int(first), len(time_block.levels))
        raise DataError(f"the panel has more than one row for group {group_block.levels[g]!r} at time "
                        f"{time_block.levels[t]!r}: one row per (group, time) pair is needed")
    return unique_pairs.size == len(group_block.levels) * len(time_block.levels)


def _reml_components(frame, effect_block, groups) -> panel.VarianceComponents:
    """σ²_ν and σ²_η of the REML fit of y ~ x + (1 | group) by the core (merx.lmer's model)."""
    reml_frame = dataclasses.replace(frame, blocks=[effect_block])
    problem = _problem_from_frame(reml_frame, True)
    fit = run_fit(lambda: problem.fit())
    sigma2 = float(fit.sigma) ** 2
    sigma2_effect = sigma2 * float(np.ravel(fit.theta)[0]) ** 2
    return panel.VarianceComponents(sigma2, sigma2_effect, panel.quasi_demeaning_theta(sigma2, sigma2_effect, groups),
                                    "reml")


def hausman(formula: str, data: Any, group: str, time: str | None = None, method: str = "chisq",
            effects: str = "individual", vcov: str | None = None, random: str = "swar") -> HausmanResult:
    """Hausman test of the within (fixed-effects) estimator against the random-effects one,
    plm 2.6-2's ``phtest(formula, data, method, effect, vcov)``.

    ``group``, ``time``: the panel's index columns (``time`` optional for individual effects:
    it checks for duplicate rows and decides balance). ``effects``: ``"individual"`` (effects
    of ``group``) or ``"time"`` (of ``time``). ``method="chisq"``: the contrast test
    |d'(V_within - V_random)⁻¹d| over the coefficients both estimate (a warning when the
    covariance difference is not positive definite); ``method="aux"``: Wooldridge's
    regression-based test, the quasi-demeaned response on the quasi-demeaned and the
    within-transformed regressors, the latter's coefficients tested by Wald, with the OLS
    covariance or, ``vcov="vcovHC"`` (also ``"arellano"``, ``"HC0"``), plm's default
    cluster-robust one. ``random="swar"``: Swamy and Arora's variance components (plm's
    default); ``"reml"``: the REML components of ``y ~ x + (1 | group)``.

    Regressors constant within every group (time-invariant ones for individual effects) are
    dropped by the within estimator, named in a warning and in ``result.dropped``; a
    ``DataError`` when no regressor is left, an index column is missing or a panel has fewer
    than two groups.

    Parameters
    ----------
    formula : str
        Two-sided formula of the regressors, ``"inv ~ value + capital"``.
    data : pandas or polars DataFrame, or dict of columns
        The panel.
    group, time : str
        The index columns (``time`` optional for individual effects).
    method : str
        ``"chisq"`` (default) or ``"aux"``.
    effects : str
        ``"individual"`` (default) or ``"time"``.
    vcov : str, optional
        With ``method="aux"``: ``"vcovHC"``, ``"arellano"`` or ``"HC0"``.
    random : str
        ``"swar"`` (default) or ``"reml"``.

    Returns
    -------
    HausmanResult
        The statistic, its degrees of freedom and p-value, plm's printed layout.

    Raises
    ------
    FormulaError
        The formula has no regressor to compare, no intercept, or random-effects terms.
    DataError
        A missing index column, fewer than two groups, repeated (group, time) rows, or no
        regressor left after the within transformation.
    MerxError
        An unknown ``method``, ``effects``, ``vcov`` or ``random``.
    """
    _check_arguments(method, effects, vcov, random, time)
    df = to_pandas(data)
    _check_index(df, group, time)
    frame, group_block, time_block = _panel_frame(formula, df, group, time)
    balanced = _balanced(group_block, time_block)
    effect_block = group_block if effects == "individual" else time_block
    if len(effect_block.levels) < 2:
        raise DataError(f"the {effects} effects need at least 2 levels of {effect_block.group!r} "
                        f"in the rows used, found {len(effect_block.levels)}")
    groups = panel.group_structure(effect_block.codes, balanced)
    X, y, names = np.asarray(frame.X, dtype=np.float64), np.asarray(frame.y, dtype=np.float64), list(frame.x_names)

    _, keep = panel.within_columns(X, groups)
    dropped = [n for n, k in zip(names[1:], keep[1:]) if not k]
    if len(dropped) == len(names) - 1:
        raise DataError(f"every regressor ({', '.join(dropped)}) is constant within each level of "
                        f"{effect_block.group!r}: the within estimator has nothing to estimate")
    if dropped:
        warn_user(f"{', '.join(dropped)} constant within each level of {effect_block.group!r}: dropped by the "
                  "within estimator and left out of the comparison", UserWarning)
    if np.linalg.matrix_rank(panel.within_columns(X[:, keep], groups)[0]) < int(keep.sum()):
        raise DataError("the within-transformed regressors are collinear: the within estimator is not identified")
    within = panel.within_estimator(X, y, names, groups)
    if random == "reml":
        components = _reml_components(frame, effect_block, groups)
    else:
        components = panel.swamy_arora(X, y, groups, within)
    random_est = panel.random_effects_gls(X, y, names, groups, components, known_components=(random == "reml"))

    if method == "chisq":
        statistic, compared, positive_definite = hausman_statistic(within, random_est)
        df_test, title = len(compared), "Hausman Test"
    else:
        statistic, df_test = panel.auxiliary_wald(X, y, True, groups, components, robust=vcov is not None)
        compared, positive_definite = list(within.names), None
        title = "Regression-based Hausman test" + ("" if vcov is None else ", vcov: vcovHC")
    lines = formula_lines(formula)
    effect_key = "sigma2_id" if effects == "individual" else "sigma2_time"
    theta = float(components.theta[0]) if balanced else components.theta.copy()
    return HausmanResult(
        statistic=statistic, df=df_test, method=title,
        data_name=lines[0] + (" ..." if len(lines) > 1 else ""),
        within=coefficient_frame(within), random=coefficient_frame(random_est),
        variance_components={"sigma2_idios": components.sigma2_idios, effect_key: components.sigma2_effect,
                             "theta": theta},
        random_method=components.method, effect=effects, compared=compared, dropped=dropped,
        positive_definite=positive_definite,
    )
