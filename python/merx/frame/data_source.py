"""The data a model is fitted to: pandas or polars frames, or dicts of columns.

:func:`to_pandas` accepts the supported inputs; :class:`DataSource` looks
columns up by name and converts each used column once into a
:mod:`merx.frame.values` value with R's semantics (categoricals keep their level
order; strings, objects and booleans become factors with sorted levels).
"""

from __future__ import annotations

import difflib

import numpy as np
import pandas as pd

from ..errors import DataError
from .factors import Factor, category_labels, factor_from_labels
from .values import DateTimeColumn, Logical, Numeric


def column_value(s: pd.Series, name: str):
    """The value of one data column (see :mod:`merx.frame.values`)."""
    dt = s.dtype
    if isinstance(dt, np.dtype) and dt.kind in "fiub":  # numpy numbers and booleans: no NA but NaN
        values = s.to_numpy(dtype=float)
        return Logical(values) if dt.kind == "b" else Numeric(values)
    if isinstance(dt, pd.CategoricalDtype):
        cat = s.array
        return Factor(np.asarray(cat.codes, dtype=np.int64), category_labels(cat.categories))
    if pd.api.types.is_bool_dtype(dt):
        return Logical(s.to_numpy(dtype=float, na_value=np.nan))
    if pd.api.types.is_datetime64_any_dtype(dt) or pd.api.types.is_timedelta64_dtype(dt):
        return DateTimeColumn(name)
    if pd.api.types.is_complex_dtype(dt):
        raise DataError(f"column {name!r} is complex-valued; merx needs real numbers")
    if pd.api.types.is_numeric_dtype(dt):
        return Numeric(s.to_numpy(dtype=float, na_value=np.nan))
    # strings, objects, pyarrow strings, ...
    missing = np.asarray(pd.isna(s), dtype=bool)
    values = s.to_numpy(dtype=object, na_value=None)
    kind = pd.api.types.infer_dtype(values[~missing], skipna=True) if (~missing).any() else "empty"
    if kind == "boolean":
        out = np.full(len(values), np.nan)
        out[~missing] = values[~missing].astype(bool).astype(float)
        return Logical(out)
    if kind in ("integer", "floating", "mixed-integer-float", "decimal"):
        out = np.full(len(values), np.nan)
        out[~missing] = values[~missing].astype(float)
        return Numeric(out)
    if kind == "empty":
        return Numeric(np.full(len(values), np.nan))
    if kind in ("datetime", "datetime64", "date", "timedelta", "timedelta64", "time", "period"):
        return DateTimeColumn(name)
    if kind != "string":
        labels = np.array([None if m else str(v) for v, m in zip(values, missing)], dtype=object)
    else:
        labels = values
    return factor_from_labels(labels, missing)


def _native_to_pandas(data) -> pd.DataFrame:
    """Convert a polars (or other narwhals-supported) frame to pandas, keeping
    categorical level order, without needing pyarrow."""
    import narwhals as nw

    try:
        df = nw.from_native(data, eager_only=True)
    except TypeError:
        raise DataError(
            f"data must be a pandas or polars DataFrame or a dict of columns, got {type(data).__name__}"
        ) from None
    cols = {}
    for name in df.columns:
        s = df[name]
        dtype = s.dtype
        values = s.to_numpy()
        if isinstance(dtype, nw.Enum) or dtype == nw.Enum:
            cats = list(dtype.categories)
            cols[name] = pd.Categorical(values, categories=cats)
        elif dtype == nw.Categorical:
            present = sorted({v for v in values.tolist() if v is not None})
            cols[name] = pd.Categorical(values, categories=present)
        elif dtype == nw.Boolean:
            nulls = s.is_null().to_numpy()
            if nulls.any():
                cols[name] = pd.array([None if m else bool(v) for v, m in zip(values, nulls)], dtype="boolean")
            else:
                cols[name] = np.asarray(values, dtype=bool)
        elif dtype.is_numeric():
            nulls = s.is_null().to_numpy()
            arr = np.array(values, dtype=float, copy=True)
            arr[nulls] = np.nan
            cols[name] = arr
        else:
            cols[name] = pd.Series(values, dtype=object)
    return pd.DataFrame(cols)


def to_pandas(data, what: str = "data") -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        if not data.columns.is_unique:
            dup = data.columns[data.columns.duplicated()].tolist()
            raise DataError(f"{what} has duplicated column names {dup}; rename them")
        return data
    if isinstance(data, dict):
        try:
            return pd.DataFrame({str(k): (np.asarray(v) if not isinstance(v, pd.Series) else v.to_numpy())
                                 if not isinstance(v, (pd.Categorical,)) else v for k, v in data.items()})
        except ValueError as e:
            raise DataError(f"{what} given as a dict must hold columns of equal length: {e}") from None
    if data is None:
        raise DataError(f"no {what} given: pass a pandas or polars DataFrame or a dict of columns")
    return _native_to_pandas(data)


class DataSource:
    """The columns of a data frame by name, each converted once (see :func:`column_value`)."""

    def __init__(self, df: pd.DataFrame, what: str = "data"):
        self.df = df
        self.what = what
        self.n = len(df)
        labels = df.columns.tolist()
        self.columns = [str(c) for c in labels]
        self._colmap = dict(zip(self.columns, labels))
        self._cache: dict = {}

    def has(self, name: str) -> bool:
        return name in self._colmap

    def get(self, name: str):
        if name not in self._cache:
            self._cache[name] = column_value(self.df[self._colmap[name]], name)
        return self._cache[name]

    def unknown_message(self, names: list, context: str) -> str:
        parts = []
        lower = {c.lower(): c for c in self.columns}
        for nm in names:
            close = difflib.get_close_matches(nm, self.columns, n=3, cutoff=0.6)
            if nm.lower() in lower and lower[nm.lower()] not in close:
                close.insert(0, lower[nm.lower()])
            hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
            parts.append(f"{nm!r}{hint}")
        cols = ", ".join(self.columns[:30]) + (", ..." if len(self.columns) > 30 else "")
        s = "s" if len(names) > 1 else ""
        return (
            f"column{s} {', '.join(parts)} used in {context} not found in {self.what}; "
            f"check the spelling or add the column. Available columns: {cols}"
        )


def row_name(df: pd.DataFrame, pos: int) -> str:
    """The index label of row ``pos`` as shown in messages."""
    try:
        return repr(df.index[pos])
    except Exception:  # pragma: no cover
        return str(pos)
