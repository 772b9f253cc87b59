"""``lme()``: nlme's interface (``fixed``, ``random``, ``weights=`` a variance function,
``correlation=`` a correlation structure, ``method``) on merx's model frame and core.

nlme's ``random = ~x | g`` is lme4's ``(x | g)`` and ``~1 | a/b`` its ``(1 | a/b)``, so the
model frame is lme4's (:func:`merx.formula.nlme_forms.lme4_formula`). Without a residual
structure the core model is lmer's; with one it is ``merx._core.ResidualStructureModel``,
which estimates the structure's parameters with θ inside the core
(:mod:`merx.models.nlme_structures` reads its variables from the data).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _core
from ..errors import DataError, MerxError
from ..formula.model_formula import parse_formula
from ..formula.nlme_forms import lme4_formula
from ..frame.model_frame import build_model_frame
from ..results.lme import LmeResult
from .fitting import check_lme4_terms, core_terms, fit_watched, memory_error, run_fit
from .nlme_structures import ResidualStructureInfo, correlation_names, named_core_error, residual_structure


def structure_model(frame: Any, data: Any, terms: list, names: list, weights: Any, correlation: Any, reml: bool) -> tuple:
    """The core model (lmer's without a residual structure) and the structure's info."""
    X = np.asarray(frame.X, dtype=np.float64)
    y = np.ascontiguousarray(frame.y, dtype=np.float64)
    try:
        if weights is None and correlation is None:
            return _core.LinearMixedModel(X, y, terms, reml=reml, term_names=names), ResidualStructureInfo()
        variance, core_correlation, info = residual_structure(frame, data, weights, correlation, list(frame.blocks))
    except ValueError as e:
        if isinstance(e, MerxError):
            raise
        raise memory_error(frame, e) or DataError(str(e)) from None
    try:
        problem = _core.ResidualStructureModel(
            X, y, terms, variance=variance, correlation=core_correlation, reml=reml, term_names=names
        )
    except ValueError as e:
        if isinstance(e, MerxError):
            raise
        raise memory_error(frame, e) or DataError(named_core_error(info, str(e))) from None
    if correlation is not None:
        info.correlation_title, info.parameter_label = correlation_names(correlation, problem.gaps)
    return problem, info


def lme(
    fixed: str,
    data: Any,
    random: str,
    weights: Any = None,
    correlation: Any = None,
    method: str = "REML",
    data_name: str | None = None,
) -> LmeResult:
    """Fit a linear mixed-effects model as nlme's ``lme``.

    Parameters
    ----------
    fixed : str
        Two-sided formula of the fixed effects, ``"gpa ~ occasion"``.
    data : pandas or polars DataFrame, or dict of columns.
    random : str
        One-sided random-effects formula: ``"~1 | g"``, ``"~x | g"`` or nested ``"~1 | a/b"``.
    weights : variance function, optional
        ``merx.varIdent(form="~1 | s")`` (a residual SD per stratum, relative to the first's),
        ``merx.varPower(form="~x")`` (SD ∝ |x|^power) or ``merx.varExp(form="~x")``.
    correlation : correlation structure, optional
        ``merx.corAR1(form="~t | g")``, ``merx.corCAR1``, ``merx.corExp`` within groups nested
        in the random effects' (default: the innermost grouping).
    method : "REML" or "ML".
    data_name : str, optional
        Name shown on the ``Data:`` line of ``summary()``.

    Returns
    -------
    LmeResult
        The fitted model (nlme's ``summary``, ``intervals``, ``anova`` layouts).

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
    if method not in ("REML", "ML"):
        raise MerxError(f"method must be 'REML' or 'ML', not {method!r}")
    formula = lme4_formula(fixed, random)
    parsed = parse_formula(formula)
    check_lme4_terms(parsed, "lme")
    frame = build_model_frame(parsed, data, data_name=data_name)
    terms, names = core_terms(frame)
    problem, info = structure_model(frame, data, terms, names, weights, correlation, method == "REML")
    fit = run_fit(lambda: fit_watched(problem.fit, len(frame.y), None))
    return LmeResult(
        frame, fit, data_name=data_name, call_formula=formula, problem=problem,
        fixed=fixed, random=random, method=method, structure=info,
    )
