"""nlme's residual structures as the core takes them: the variance function's strata or
covariate and the correlation's groups and times, read from the data rows the model frame
kept, with nlme's checks as errors that name the variable.

:func:`residual_structure` returns the core's ``variance`` and ``correlation`` arguments and a
:class:`ResidualStructureInfo` for the result (labels, the covariate, the groups).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError, MerxError
from ..formula.nlme_forms import VarIdent
from ..formula.nlme_structures import CorStruct, VarFunction
from ..frame.data_source import to_pandas
from ..frame.model_frame import ModelFrame
from ..rstyle.numbers import r_format_number


@dataclass
class ResidualStructureInfo:
    """What the result needs of the structure: the specs, varIdent's strata (codes, labels),
    the variance covariate per row, and the correlation's group codes."""

    weights: Any = None
    correlation: CorStruct | None = None
    strata: tuple | None = None
    covariate: np.ndarray | None = None
    groups: np.ndarray | None = None
    #: nlme's printed title and parameter name of the correlation (a corAR1 whose times have
    #: gaps is nlme's ARMA(1,0) with ``Phi1``).
    correlation_title: str | None = None
    parameter_label: str | None = None


def _columns(frame: ModelFrame, data: Any, names: tuple, what: str) -> list:
    """The columns ``names`` at the rows of the model frame."""
    df = to_pandas(data)
    missing = [v for v in names if v not in df.columns]
    if missing:
        raise DataError(f"{what}: no column {missing[0]!r} in the data (columns: {list(df.columns)[:20]})")
    if frame.n_dropped_na:
        if not df.index.is_unique:
            raise DataError(f"{what}: rows with missing values were dropped and the data's index is not unique")
        rows = df.index.get_indexer(frame.row_labels)
    else:
        rows = np.arange(len(df))
    return [df[v].iloc[rows] for v in names]


def _labels(frame: ModelFrame, data: Any, names: tuple, what: str) -> np.ndarray:
    """Each row's level of ``names`` as nlme writes it (``as.character``; an interaction
    joins them with ``*``)."""
    parts = []
    for v, col in zip(names, _columns(frame, data, names, what)):
        if col.isna().any():
            raise DataError(f"{what}: the variable {v!r} has missing values in rows the model uses")
        if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
            parts.append([r_format_number(x) for x in col.to_numpy(dtype=float)])
        else:
            parts.append([str(x) for x in col.to_numpy()])
    return np.array(["*".join(t) for t in zip(*parts)], dtype=object)


def _numeric(frame: ModelFrame, data: Any, name: str, what: str) -> np.ndarray:
    col = _columns(frame, data, (name,), what)[0]
    if not pd.api.types.is_numeric_dtype(col.dtype) or pd.api.types.is_bool_dtype(col.dtype):
        raise DataError(f"{what}: the covariate {name!r} must be numeric, not {col.dtype}")
    values = col.to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        raise DataError(f"{what}: the covariate {name!r} has missing or infinite values ({int(bad.sum())} rows the model uses)")
    return values


def stratum_codes(frame: ModelFrame, data: Any, spec: VarIdent) -> tuple:
    """Stratum codes 0..S-1 and their labels in nlme's order: first appearance in the rows
    sorted by the grouping factors (outermost first), so stratum 0 (the reference) is the
    stratum of nlme's first row."""
    labels = _labels(frame, data, spec.strata, str(spec))
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


def _codes(frame: ModelFrame, data: Any, names: tuple, what: str) -> tuple:
    """(codes, levels) of the interaction of the variables ``names`` at the frame's rows."""
    codes = None
    levels: list = []
    for v, col in zip(names, _columns(frame, data, names, what)):
        if col.isna().any():
            raise DataError(f"{what}: the variable {v!r} has missing values in rows the model uses")
        c, u = pd.factorize(col, sort=False)
        u = [str(x) for x in u]
        if codes is None:
            codes, levels = c.astype(np.int64), u
        else:
            combined, pairs = pd.factorize(codes * len(u) + c, sort=False)
            levels = [f"{levels[p // len(u)]}*{u[p % len(u)]}" for p in pairs]
            codes = combined.astype(np.int64)
    return codes, levels


def _correlation_groups(frame: ModelFrame, data: Any, spec: CorStruct, blocks: list) -> tuple:
    """(codes, labels) of the correlation groups: those of the form's grouping variables,
    else the innermost random-effects grouping (lme) or one group (gls); checked to be
    nested in every random-effects grouping factor."""
    n = len(frame.y)
    if spec.groups:
        codes, names = _codes(frame, data, spec.groups, str(spec))
    elif blocks:
        inner = max(blocks, key=lambda b: len(b.levels))
        codes, names = np.asarray(inner.codes, dtype=np.int64), list(inner.levels)
    else:
        codes, names = np.zeros(n, dtype=np.int64), ["1"]
    for b in blocks:
        level = np.asarray(b.codes)
        first = np.full(len(names), -1, dtype=np.int64)
        first[codes[::-1]] = level[::-1]  # one level of b per correlation group (the first row's)
        bad = first[codes] != level
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(
                f"{spec}: the correlation groups ({' * '.join(spec.groups) or 'rows'}) are not nested in the "
                f"random-effects grouping factor {b.group!r}: group {names[codes[i]]!r} spans several of its levels"
            )
    return codes, names


def _times(frame: ModelFrame, data: Any, spec: CorStruct, codes: np.ndarray, names: list) -> np.ndarray:
    """The time covariate (positions 1..n_g within each group for ``~1``), checked: numeric,
    no missing values, integer-valued for corAR1 (distinct within a group: the core's check,
    named by :func:`named_core_error`)."""
    if spec.time is None:
        return pd.Series(codes).groupby(codes).cumcount().to_numpy(dtype=float) + 1.0
    t = _numeric(frame, data, spec.time, str(spec))
    if spec.kind == "corAR1" and np.any(t != np.round(t)):
        i = int(np.argmax(t != np.round(t)))
        raise DataError(f"{spec}: corAR1 needs an integer-valued time covariate; {spec.time!r} is {r_format_number(t[i])} in row {i + 1}")
    return t


def correlation_names(spec: CorStruct, gaps: list) -> tuple:
    """nlme's title and parameter name; nlme turns a corAR1 whose time steps (the core's
    distinct gaps) are not all 1 into ARMA(1,0) (the same model, printed as such)."""
    if spec.kind == "corAR1":
        return ("ARMA(1,0)", "Phi1") if any(g != 1 for g in gaps) else (spec.title, "Phi")
    return spec.title, {"corCAR1": "Phi", "corExp": "range", "corCompSymm": "Rho"}[spec.kind]


def named_core_error(info: ResidualStructureInfo, message: str) -> str:
    """The core's message with the structure's variables named."""
    spec = info.correlation
    if spec is not None and "repeats within a group" in message:
        return f"{spec}: the time covariate {spec.time!r} repeats within a correlation group ({message})"
    return message


def residual_structure(frame: ModelFrame, data: Any, weights: Any, correlation: Any, blocks: list) -> tuple:
    """(variance, correlation) arguments of ``merx._core.ResidualStructureModel`` and the
    :class:`ResidualStructureInfo`."""
    if weights is not None and not isinstance(weights, (VarIdent, VarFunction)):
        raise MerxError(
            "weights must be a variance function (merx.varIdent, merx.varPower, merx.varExp), "
            f"not {type(weights).__name__}"
        )
    if correlation is not None and not isinstance(correlation, CorStruct):
        raise MerxError(
            "correlation must be a correlation structure (merx.corAR1, merx.corCAR1, merx.corExp, "
            f"merx.corCompSymm), not {type(correlation).__name__}"
        )
    info = ResidualStructureInfo(weights=weights, correlation=correlation)
    variance = None
    if isinstance(weights, VarIdent):
        codes, labels = stratum_codes(frame, data, weights)
        info.strata = (codes, labels)
        variance = ("varIdent", codes, len(labels))
    elif isinstance(weights, VarFunction):
        x = _numeric(frame, data, weights.covariate, str(weights))
        if weights.kind == "varPower" and np.any(x == 0):
            raise DataError(f"{weights}: the covariate {weights.covariate!r} is 0 in {int(np.sum(x == 0))} rows; "
                            "|x|^power needs non-zero values")
        info.covariate = x
        variance = (weights.kind, np.ascontiguousarray(x), None)
    core_correlation = None
    if correlation is not None:
        codes, names = _correlation_groups(frame, data, correlation, blocks)
        t = _times(frame, data, correlation, codes, names)
        info.groups = codes
        core_correlation = (correlation.kind, np.ascontiguousarray(codes), len(names), np.ascontiguousarray(t))
    return variance, core_correlation, info
