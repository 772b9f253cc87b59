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
        return _categorical_value(s.array)
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


def _categorical_value(cat: pd.Categorical) -> Factor:
    codes = getattr(cat, "_codes", None)  # (pandas' own codes, copied: cheaper than the public view)
    if type(codes) is not np.ndarray or codes.dtype == np.int64:
        codes = cat.codes
    return Factor(np.asarray(codes, dtype=np.int64), category_labels(cat.categories))


def array_value(arr):
    """The value of a column's own array (a plain DataFrame's block values) where it is a
    numpy number/boolean array or a Categorical, exactly as :func:`column_value` makes it of
    the column's Series; None for any other array (use :func:`column_value`)."""
    if type(arr) is np.ndarray:
        kind = arr.dtype.kind
        if kind not in "fiub":
            return None
        if arr.dtype == np.float64:  # Series.to_numpy(dtype=float) under copy-on-write: a read-only view
            values = arr.view()
            values.flags.writeable = False
        else:  # a conversion: a new, writable array
            values = arr.astype(float)
        return Logical(values) if kind == "b" else Numeric(values)
    if type(arr) is pd.Categorical:
        return _categorical_value(arr)
    return None


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


#: pandas from 3.0 (tested up to 3.1): copy-on-write always on, so a column's values read
#: straight from the frame's blocks (``BlockManager.iget_values``, what ``DataFrame._ixs``
#: reads, without building a Series) convert as ``Series.to_numpy`` converts them. A plain
#: DataFrame's columns are read that way (a large share of a small fit's time after a
#: ``gc.collect()`` is pandas' ``__getitem__``); other frames, or a pandas without these
#: internals, go through ``df[column]``.
_DIRECT_BLOCKS = int(pd.__version__.split(".", 1)[0]) >= 3

#: What ``str()`` makes of a missing column label: such a name is looked up among the
#: labels as text (see :meth:`DataSource.has`).
_NA_TEXTS = ("nan", "<NA>", "None", "NaT")


def _column_blocks(df: pd.DataFrame):
    """The block manager of a plain pandas DataFrame whose column values can be read directly
    (see :data:`_DIRECT_BLOCKS`), else None."""
    if not _DIRECT_BLOCKS or type(df) is not pd.DataFrame:
        return None
    mgr = getattr(df, "_mgr", None)
    return mgr if callable(getattr(mgr, "iget_values", None)) else None


class DataSource:
    """The columns of a data frame by name, each converted once (see :func:`column_value`)."""

    def __init__(self, df: pd.DataFrame, what: str = "data"):
        self.df = df
        self.what = what
        self.n = len(df)
        self._colmap: dict | None = None  # str(label) -> label, built when needed
        self._cache: dict = {}
        self._found: dict = {}  # name -> (label, position)
        self._blocks = _column_blocks(df)
        # text labels: a name is a label itself (no str() of every label to look it up)
        self._text_labels = isinstance(df.columns.dtype, pd.StringDtype)

    @property
    def columns(self) -> list:
        """The column labels as text."""
        return [str(c) for c in self.df.columns.tolist()]

    def _labels(self) -> dict:
        if self._colmap is None:
            labels = self.df.columns.tolist()
            self._colmap = dict(zip([str(c) for c in labels], labels))
        return self._colmap

    def _loc(self, name: str):
        """``(label, position)`` of the column ``name`` (the position None where the label is
        not unique); KeyError when there is none. Looked up once per name."""
        found = self._found.get(name)
        if found is None:
            columns = self.df.columns
            if self._text_labels and name not in _NA_TEXTS:
                label = name  # (KeyError from get_loc when it is no column)
            else:
                label = self._labels()[name]
            loc = columns.get_loc(label)
            found = self._found[name] = (label, loc if type(loc) is int else None)
        return found

    def has(self, name: str) -> bool:
        try:
            self._loc(name)
        except KeyError:
            return False
        return True

    def get(self, name: str):
        v = self._cache.get(name)
        if v is None:
            v = self._cache[name] = self._value(name)
        return v

    def _value(self, name: str):
        label, loc = self._loc(name)
        if self._blocks is not None and loc is not None:
            v = array_value(self._blocks.iget_values(loc))
            if v is not None:
                return v
        return column_value(self.df[label], name)

    def unknown_message(self, names: list, context: str) -> str:
        parts = []
        columns = self.columns
        lower = {c.lower(): c for c in columns}
        for nm in names:
            close = difflib.get_close_matches(nm, columns, n=3, cutoff=0.6)
            if nm.lower() in lower and lower[nm.lower()] not in close:
                close.insert(0, lower[nm.lower()])
            hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
            parts.append(f"{nm!r}{hint}")
        cols = ", ".join(columns[:30]) + (", ..." if len(columns) > 30 else "")
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
