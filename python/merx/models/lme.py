"""``lme()``: nlme's interface (``fixed``, ``random``, ``weights = varIdent(...)``, ``method``)
on merx's model frame and core.

nlme's ``random = ~x | g`` is lme4's ``(x | g)`` and ``~1 | a/b`` its ``(1 | a/b)``, so the
model frame is lme4's (:func:`merx.formula.nlme_forms.lme4_formula`). Without a variance
function the core model is lmer's; with ``varIdent`` it is ``merx._core.VarIdentModel``, which
estimates the strata's standard-deviation ratios with θ inside the core.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .. import _core
from ..errors import DataError, MerxError
from ..formula.model_formula import parse_formula
from ..formula.nlme_forms import VarIdent, lme4_formula
from ..frame.data_source import to_pandas
from ..frame.model_frame import ModelFrame, build_model_frame
from ..results.lme import LmeResult
from ..rstyle.numbers import r_format_number
from .fitting import check_lme4_terms, core_terms, memory_error, run_fit


def _stratum_labels(frame: ModelFrame, data: Any, spec: VarIdent) -> np.ndarray:
    """The stratum of each row of the model frame, as nlme writes it (``as.character`` of the
    variable; an interaction joins them with ``*``)."""
    df = to_pandas(data)
    missing = [v for v in spec.strata if v not in df.columns]
    if missing:
        raise DataError(f"{spec}: no column {missing[0]!r} in the data (columns: {list(df.columns)[:20]})")
    if frame.n_dropped_na:
        if not df.index.is_unique:
            raise DataError(f"{spec}: rows with missing values were dropped and the data's index is not unique")
        rows = df.index.get_indexer(frame.row_labels)
    else:
        rows = np.arange(len(df))
    parts = []
    for v in spec.strata:
        col = df[v].iloc[rows]
        if col.isna().any():
            raise DataError(f"{spec}: the stratum variable {v!r} has missing values in rows the model uses")
        if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
            parts.append([r_format_number(x) for x in col.to_numpy(dtype=float)])
        else:
            parts.append([str(x) for x in col.to_numpy()])
    return np.array(["*".join(t) for t in zip(*parts)], dtype=object)


def stratum_codes(frame: ModelFrame, data: Any, spec: VarIdent) -> tuple:
    """Stratum codes 0..S-1 and their labels in nlme's order: first appearance in the rows
    sorted by the grouping factors (outermost first), so stratum 0 (the reference) is the
    stratum of nlme's first row."""
    labels = _stratum_labels(frame, data, spec)
    groups = sorted(frame.blocks, key=lambda b: len(b.levels))  # outer (fewer levels) first
    keys = [np.arange(len(labels))] + [np.asarray(b.codes) for b in reversed(groups)]
    order = np.lexsort(keys)
    names: list = []
    index: dict = {}
    for lab in labels[order]:
        if lab not in index:
            index[lab] = len(names)
            names.append(lab)
    codes = np.array([index[lab] for lab in labels], dtype=np.int64)
    if len(names) < 2:
        raise DataError(f"{spec}: the stratum variable has a single level ({names[0]!r}); varIdent needs at least two")
    counts = np.bincount(codes, minlength=len(names))
    if counts.min() < 2:
        lone = names[int(np.argmin(counts))]
        raise DataError(
            f"{spec}: stratum {lone!r} has a single observation; its standard deviation cannot be estimated "
            "(the likelihood grows without bound as it shrinks to 0)"
        )
    return codes, names


def lme(
    fixed: str,
    data: Any,
    random: str,
    weights: VarIdent | None = None,
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
    weights : merx.varIdent(form="~1 | s"), optional
        nlme's variance function: a residual standard deviation per stratum of ``s``,
        estimated relative to the first stratum's.
    method : "REML" or "ML".
    """
    if method not in ("REML", "ML"):
        raise MerxError(f"method must be 'REML' or 'ML', not {method!r}")
    if weights is not None and not isinstance(weights, VarIdent):
        raise MerxError(
            f"weights must be a variance function such as merx.varIdent(form='~1 | s'), not {type(weights).__name__}"
        )
    formula = lme4_formula(fixed, random)
    parsed = parse_formula(formula)
    check_lme4_terms(parsed, "lme")
    frame = build_model_frame(parsed, data, data_name=data_name)
    terms, names = core_terms(frame)
    X = np.asarray(frame.X, dtype=np.float64)
    y = np.ascontiguousarray(frame.y, dtype=np.float64)
    reml = method == "REML"
    strata = None
    try:
        if weights is None:
            problem = _core.LinearMixedModel(X, y, terms, reml=reml, term_names=names)
        else:
            codes, labels = stratum_codes(frame, data, weights)
            strata = (codes, labels)
            problem = _core.VarIdentModel(X, y, terms, codes, len(labels), reml=reml, term_names=names)
    except ValueError as e:
        if isinstance(e, MerxError):
            raise
        raise memory_error(frame, e) or DataError(str(e)) from None
    fit = run_fit(problem.fit)
    return LmeResult(
        frame, fit, data_name=data_name, call_formula=formula, problem=problem,
        fixed=fixed, random=random, method=method, var_ident=weights, strata=strata,
    )
