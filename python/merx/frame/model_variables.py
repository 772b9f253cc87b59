"""The variables a model uses, evaluated on the data, and the rows it keeps.

:func:`evaluate_variables` evaluates every variable (response, fixed
predictors, random-effect slopes, grouping factors, offsets) and the
``weights=``/``offset=`` arguments on all rows, then applies R's ``na.omit``:
rows with a missing value in any of them are dropped, factors lose the levels
no kept row has, and infinite values are errors. Messages name the variable
and the term it is used in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataError
from ..formula.expression import deparse
from .data_source import DataSource, row_name
from .evaluate import Evaluator
from .factors import Factor, drop_unused_levels
from .values import (
    DateTimeColumn,
    Logical,
    Numeric,
    NumericMatrix,
    StringConstant,
    date_message,
    missing_mask,
    subset_rows,
)


@dataclass
class ModelVariables:
    values: dict  # deparsed expression -> value on the kept rows (constants repeated per row)
    keep: np.ndarray  # bool (rows of the data,): rows without missing values
    n: int  # number of kept rows
    weights: np.ndarray | None  # the weights= argument on the kept rows
    offset: np.ndarray | None  # the offset= argument on the kept rows


def _vector_arg(arg, src: DataSource, what: str) -> np.ndarray | None:
    """weights/offset: a column name or an array of length n -> float values."""
    if arg is None:
        return None
    if isinstance(arg, str):
        if not src.has(arg):
            raise DataError(src.unknown_message([arg], f"{what}="))
        v = src.get(arg)
        if isinstance(v, DateTimeColumn):
            raise DataError(date_message(arg))
        if not isinstance(v, (Numeric, Logical)):
            raise DataError(f"{what} column {arg!r} is not numeric (it is a factor); give numeric {what}")
        return np.asarray(v.values, dtype=float)
    if isinstance(arg, pd.Series):
        arr = arg.to_numpy(dtype=float, na_value=np.nan)
    else:
        try:
            arr = np.asarray(arg, dtype=float)
        except (TypeError, ValueError):
            raise DataError(f"{what} must be numeric (a column name or an array of numbers)") from None
    if arr.ndim != 1 or arr.shape[0] != src.n:
        raise DataError(
            f"{what} has length {arr.shape[0] if arr.ndim == 1 else arr.shape} but the data has {src.n} rows; "
            f"give one value per row"
        )
    return arr.astype(float)


def _is_constant(v) -> bool:
    return isinstance(v, (Numeric, Logical)) and v.values.ndim == 0


def evaluate_each(variables: list, ev: Evaluator) -> dict:
    """``label -> (value, description)`` of ``variables`` (``(expression, description)``
    pairs; the first description of a label kept), dates and string constants refused."""
    used: dict = {}
    for node, desc in variables:
        lab = deparse(node)
        v = ev.eval(node)
        if isinstance(v, DateTimeColumn):
            raise DataError(date_message(v.name))
        if isinstance(v, StringConstant):
            raise DataError(f"{lab!r} ({desc}) is a string constant, not a variable")
        used.setdefault(lab, (v, desc))
    return used


def _complete_values(used: dict) -> dict | None:
    """The values of ``used`` (as :func:`evaluate_variables` keeps them) when no row misses a
    value and no value is infinite, else None (the full check then says which)."""
    values = {}
    for lab, (v, _) in used.items():
        tv = type(v)
        if tv is Factor:
            codes = v.codes
            if codes.ndim != 1 or not codes.size or np.minimum.reduce(codes) < 0:
                return None
            present = np.zeros(len(v.levels), dtype=bool)
            present[codes] = True
            if np.logical_and.reduce(present):
                v.all_used = True
            else:
                v = drop_unused_levels(v)
        elif tv is Numeric or tv is Logical:
            x = v.values
            # (NaN propagates through both reductions; the same reductions as later checks)
            if x.ndim != 1 or not x.size or not (math.isfinite(np.minimum.reduce(x))
                                                  and math.isfinite(np.maximum.reduce(x))):
                return None
        else:
            return None
        values[lab] = v
    return values


def evaluate_variables(variables: list, ev: Evaluator, df: pd.DataFrame, weights=None, offset=None) -> ModelVariables:
    """Evaluate ``variables`` (``(expression, description)`` pairs, in the order
    that errors are reported) and drop the rows with missing values."""
    src = ev.src
    n_all = src.n
    used = evaluate_each(variables, ev)
    w_arr = _vector_arg(weights, src, "weights")
    o_arr = _vector_arg(offset, src, "offset")
    args = [(arr, label) for arr, label in ((w_arr, "weights"), (o_arr, "offset")) if arr is not None]

    if not args:
        values = _complete_values(used)
        if values is not None:  # no missing or infinite value anywhere: every row kept
            return ModelVariables(values=values, keep=np.ones(n_all, dtype=bool), n=n_all, weights=None, offset=None)

    # entirely missing variables: name them (instead of "no rows left")
    masks = {lab: missing_mask(v) for lab, (v, _) in used.items() if not _is_constant(v)}
    for lab, (v, desc) in used.items():
        if lab in masks and masks[lab].all():
            extra = ""
            if desc.startswith("random-effects term"):
                extra = " (an all-missing slope variable cannot be estimated)"
            raise DataError(
                f"{lab!r} used in {desc} is missing in every row{extra}; fix the column or remove it from the formula"
            )
    for arr, label in args:
        if np.isnan(arr).all():
            raise DataError(f"{label} are missing in every row; give a value per row")
    if w_arr is not None and np.isnan(w_arr).any():
        # Unlike a missing predictor (na.omit drops the row), a missing prior weight is
        # refused: the row's intended influence is unknown.
        bad = np.flatnonzero(np.isnan(w_arr))
        raise DataError(
            f"weights are missing in {bad.size} row(s) (first in row {row_name(df, int(bad[0]))}); "
            "give every row a weight, or drop those rows from the data"
        )

    # na.omit
    all_masks = list(masks.items()) + [(label, np.isnan(arr)) for arr, label in args]
    miss = np.zeros(n_all, dtype=bool)
    for _, mask in all_masks:
        miss |= mask
    keep = ~miss
    n = int(keep.sum())
    if n == 0:
        counts = sorted(((int(mask.sum()), lab) for lab, mask in all_masks), reverse=True)
        detail = ", ".join(f"{lab!r}: {c}" for c, lab in counts if c > 0)
        raise DataError(
            f"no rows left after removing rows with missing values (the data has {n_all} rows; missing values "
            f"per variable: {detail}); every row misses at least one variable the model uses"
        )

    def kept(v):
        if _is_constant(v):
            return type(v)(np.broadcast_to(v.values, (n,)).copy())
        if n == n_all:  # no copies: the values are only read from here on
            return drop_unused_levels(v) if isinstance(v, Factor) else v
        return subset_rows(v, keep)

    values = {lab: kept(v) for lab, (v, _) in used.items()}

    # infinite values
    for lab, v in values.items():
        if isinstance(v, (Numeric, NumericMatrix)):
            bad = ~np.isfinite(v.values)
            if bad.ndim == 2:
                bad = bad.any(axis=1)
            if bad.any():
                first = np.flatnonzero(keep)[np.flatnonzero(bad)[0]]
                raise DataError(
                    f"{lab!r} ({used[lab][1]}) has {int(bad.sum())} infinite value(s) (first in row "
                    f"{row_name(df, first)}); remove those rows or transform the variable"
                )
    for arr, label in args:
        if not np.isfinite(arr[keep] if n < n_all else arr).all():
            raise DataError(f"{label} have infinite values; give finite {label}")

    return ModelVariables(
        values=values,
        keep=keep,
        n=n,
        weights=None if w_arr is None else w_arr[keep],
        offset=None if o_arr is None else o_arr[keep],
    )
