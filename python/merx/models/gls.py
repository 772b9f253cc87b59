"""``gls()``: nlme's generalized least squares (``model``, ``weights=`` a variance function,
``correlation=`` a correlation structure, ``method``) on merx's core.

There are no random effects: the core model is ``merx._core.ResidualStructureModel`` with
one random-intercept term of a single level whose θ is held at 0 (its Λ is 0, so A = I and
the penalized least squares are the weighted least squares of the whitened rows; the cost
over a dedicated path is one 1 × 1 factorisation per evaluation). Without a correlation's
grouping variable, all rows form one group (nlme's gls).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import FormulaError, MerxError
from ..formula.model_formula import parse_formula
from ..frame.model_frame import build_model_frame
from ..results.gls import GlsResult
from .fitting import fit_watched, run_fit
from .lme import structure_model


def gls(
    model: str,
    data: Any,
    weights: Any = None,
    correlation: Any = None,
    method: str = "REML",
    data_name: str | None = None,
) -> GlsResult:
    """Fit a linear model with correlated and/or heteroscedastic errors as nlme's ``gls``.

    Parameters
    ----------
    model : str
        Two-sided formula, ``"gpa ~ occasion"`` (no random-effects terms).
    data : pandas or polars DataFrame, or dict of columns.
    weights : ``merx.varIdent``, ``merx.varPower`` or ``merx.varExp``, optional
    correlation : ``merx.corAR1``, ``merx.corCAR1``, ``merx.corExp`` or ``merx.corCompSymm``, optional
        Within the groups of its ``form`` (``"~t | g"``); without ``| g`` one group of all rows.
    method : "REML" or "ML".
    data_name : str, optional
        Name shown on the ``Data:`` line of ``summary()``.

    Returns
    -------
    GlsResult
        The fitted model.

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
    if not isinstance(model, str) or "~" not in model:
        raise FormulaError(f"model must be a two-sided formula string such as 'y ~ x', not {model!r}")
    if "|" in model:
        raise FormulaError(f"gls model {model!r} has a '|': gls has no random effects (use merx.lme)")
    frame = build_model_frame(parse_formula(model), data, data_name=data_name)
    n = len(frame.y)
    # One level, θ held at 0: no random effect enters the likelihood.
    terms = [(np.zeros(n, dtype=np.int64), 1, np.ones((n, 1)), "unstructured")]
    problem, info = structure_model(frame, data, terms, [("(gls)", ["(Intercept)"])], weights, correlation, method == "REML")
    if weights is None and correlation is None:
        fit = run_fit(lambda: problem.estimates([0.0]))
    else:
        fit = run_fit(lambda: fit_watched(lambda **watch: problem.fit(fixed=[(0, 0.0)], **watch), len(frame.y), None))
    return GlsResult(frame, fit, data_name=data_name, problem=problem, model=model, method=method, structure=info)
