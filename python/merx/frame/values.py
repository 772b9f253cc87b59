"""What a variable of a model evaluates to on the data, with R's kinds of vector.

* :class:`Numeric`: float64 values, NaN = missing (shape () for a constant);
* :class:`Logical`: R's logical as float64 0/1, NaN = missing;
* :class:`~merx.frame.factors.Factor`: codes into levels, -1 = missing;
* :class:`NumericMatrix`: (n, k) float64 with column names (``poly()``, ``cbind()``);
* :class:`StringConstant`: a string literal (only valid inside comparisons);
* :class:`DateTimeColumn`: a date/time column, which no model term accepts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from ..rstyle.numbers import r_format_numbers
from .factors import Factor, drop_unused_levels, factor_from_numbers, sorted_unique


@dataclass
class Numeric:
    values: np.ndarray  # float64, (n,) or () for a scalar; NaN = missing


@dataclass
class Logical:
    values: np.ndarray  # float64 0/1, NaN = missing (R logical)


@dataclass
class NumericMatrix:
    values: np.ndarray  # float64 (n, k)
    colnames: list


@dataclass
class StringConstant:
    value: str


@dataclass
class DateTimeColumn:
    name: str


def date_message(name: str) -> str:
    return (
        f"column {name!r} holds dates/times; convert it to numbers (e.g. days since the start) for a "
        f"predictor, or to strings for a grouping factor"
    )


def missing_mask(v) -> np.ndarray:
    """Rows where the value is missing."""
    if isinstance(v, (Numeric, Logical)):
        return np.isnan(v.values)
    if isinstance(v, Factor):
        return v.codes < 0
    if isinstance(v, NumericMatrix):
        return np.isnan(v.values).any(axis=1)
    raise TypeError(v)


def subset_rows(v, keep: np.ndarray):
    """The value on the rows ``keep`` (factors drop the levels no kept row has)."""
    if isinstance(v, Numeric):
        return Numeric(v.values[keep])
    if isinstance(v, Logical):
        return Logical(v.values[keep])
    if isinstance(v, Factor):
        return drop_unused_levels(Factor(v.codes[keep], v.levels))
    if isinstance(v, NumericMatrix):
        return NumericMatrix(v.values[keep], v.colnames)
    raise TypeError(v)


def as_factor(v, what: str) -> Factor:
    """R's ``as.factor``: logicals have levels FALSE/TRUE, numbers their sorted values."""
    if isinstance(v, Factor):
        return v
    if isinstance(v, Logical):
        codes = np.where(np.isnan(v.values), -1, v.values).astype(np.int64)
        return drop_unused_levels(Factor(codes, ["FALSE", "TRUE"]))
    if isinstance(v, Numeric):
        return factor_from_numbers(v.values)
    raise DataError(f"{what} cannot be used as a factor (it evaluates to a matrix)")


def level_labels(v, what: str) -> np.ndarray:
    """Per-row level labels (object array, None = missing) of a value used as factor."""
    if isinstance(v, Factor):
        lv = np.array(list(v.levels) + [None], dtype=object)
        return lv[v.codes]
    if isinstance(v, Logical):
        out = np.full(v.values.shape[0], None, dtype=object)
        ok = ~np.isnan(v.values)
        out[ok] = np.where(v.values[ok] != 0, "TRUE", "FALSE")
        return out
    if isinstance(v, Numeric):
        vals = v.values
        out = np.full(vals.shape[0], None, dtype=object)
        ok = ~np.isnan(vals)
        uniq, inv = sorted_unique(vals[ok])
        labels = np.array(r_format_numbers(uniq), dtype=object)
        out[ok] = labels[inv] if len(uniq) else []
        return out
    if isinstance(v, DateTimeColumn):
        raise DataError(date_message(v.name))
    raise DataError(f"{what} cannot be used as a factor")
