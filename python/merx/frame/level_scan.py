"""Pass 1 over data read in batches: the factor levels, the rows with missing values.

A model frame needs the levels of every factor over all the rows it uses before any row
can be coded. :class:`LevelScan` evaluates the model's variables batch by batch, drops the
rows with a missing value as ``na.omit`` would (counting them), and keeps one
*representative row* for every level of every factor-like variable and every combination
of the components of a grouping factor (``a:b``) that a used row has: a small frame, one
row per level at most, on which :mod:`merx.frame.stream_frame` builds the model frame's
designs with exactly the levels, R's level order and column names of the in-memory frame
of all the rows. Scans of disjoint row sets merge (Dask partitions).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError
from .data_source import DataSource
from .evaluate import Evaluator
from .factors import Factor, sorted_unique
from .model_variables import evaluate_each
from .values import Logical, Numeric, missing_mask


def evaluate_batch(variables: list, df: pd.DataFrame, state: dict, fitting: bool, context: str) -> dict:
    """``label -> (value, description)`` of the model's variables on one batch."""
    return evaluate_each(variables, Evaluator(DataSource(df), state, fitting=fitting, context=context))


def numeric_column(df: pd.DataFrame, name: str | None, what: str, where: str) -> np.ndarray | None:
    """The ``weights=``/``offset=`` column of a batch as floats (None when not given)."""
    if name is None:
        return None
    v = DataSource(df).get(name)
    if not isinstance(v, (Numeric, Logical)):
        raise DataError(f"{what} column {name!r} is not numeric in {where}; give numeric {what}")
    return np.asarray(v.values, dtype=float)


def missing_rows(used: dict, weights: np.ndarray | None, offset: np.ndarray | None, where: str) -> np.ndarray:
    """Rows with a missing value in any variable or in the offset (``na.omit``); a missing
    weight is an error, as for data in memory."""
    masks = [missing_mask(v) for v, _ in used.values() if not (isinstance(v, (Numeric, Logical)) and v.values.ndim == 0)]
    n = masks[0].shape[0] if masks else (len(weights) if weights is not None else 0)
    miss = np.zeros(n, dtype=bool)
    for m in masks:
        miss |= m
    if weights is not None and np.isnan(weights).any():
        raise DataError(
            f"weights are missing in {int(np.isnan(weights).sum())} row(s) of {where}; give every row a weight, "
            "or drop those rows from the data"
        )
    if offset is not None:
        miss |= np.isnan(offset)
    return miss


def _row_keys(v) -> tuple:
    """``(codes per row (-1 missing), key of each code)`` of a factor-like value."""
    if isinstance(v, Factor):
        return v.codes, list(v.levels)
    vals = np.asarray(v.values, dtype=float)
    ok = ~np.isnan(vals)
    codes = np.full(vals.shape[0], -1, dtype=np.int64)
    uniq, inv = sorted_unique(vals[ok])
    codes[ok] = inv
    return codes, uniq


def _key(k):
    return float(k) if isinstance(k, np.floating) else k


class LevelScan:
    """What pass 1 learns: representative rows, row counts, categorical level orders."""

    def __init__(self, variables: list, group_components: list, weights: str | None, offset: str | None,
                 columns: list, context: str):
        self.variables = variables
        self.group_components = group_components  # per random term, the labels of its components
        self.weights, self.offset = weights, offset
        self.columns = columns
        self.context = context
        self.seen: dict = {}  # key slot -> set of keys met
        self.parts: list = []  # representative rows, per batch
        self.categories: dict = {}  # categorical column -> its categories in order of appearance
        self.n_rows = 0
        self.n_used = 0
        self.ranges: dict = {}  # numeric variable -> [min, max] over the used rows (constant slopes)

    def add(self, df: pd.DataFrame, where: str) -> None:
        state: dict = {}
        used = evaluate_batch(self.variables, df, state, True, self.context)
        if state:
            raise DataError(
                f"{self.context} uses scale() or poly(), which learn their centring from all rows at once; data "
                "read in batches does not allow that: compute the column beforehand"
            )
        w = numeric_column(df, self.weights, "weights", where)
        o = numeric_column(df, self.offset, "offset", where)
        keep = ~missing_rows(used, w, o, where)
        self.n_rows += len(df)
        self.n_used += int(keep.sum())
        for col in df.columns:
            if isinstance(df[col].dtype, pd.CategoricalDtype):
                known = self.categories.setdefault(col, [])
                new = [c for c in df[col].cat.categories if c not in set(known)]
                known.extend(new)
        if not keep.any():
            return
        rows = np.flatnonzero(keep)
        for lab, (v, _) in used.items():
            if isinstance(v, Numeric) and v.values.ndim == 1:
                lo, hi = float(np.min(v.values[rows])), float(np.max(v.values[rows]))
                old = self.ranges.setdefault(lab, [lo, hi])
                old[0], old[1] = min(old[0], lo), max(old[1], hi)
        slots = {lab: _row_keys(v) for lab, (v, desc) in used.items()
                 if isinstance(v, (Factor, Logical)) or any(lab in comps for comps in self.group_components)}
        picked: set = set()
        for lab, (codes, keys) in slots.items():
            self._pick(lab, codes[rows], keys, rows, picked)
        for comps in self.group_components:
            if len(comps) < 2:
                continue
            combo = np.zeros(rows.size, dtype=np.int64)
            for lab in comps:
                combo = combo * (len(slots[lab][1]) + 1) + slots[lab][0][rows]
            _, inv = sorted_unique(combo.astype(float))
            first = np.unique(inv, return_index=True)[1]
            keys = [tuple(_key(slots[lab][1][slots[lab][0][rows[i]]]) for lab in comps) for i in first]
            self._pick(":".join(comps), inv, keys, rows, picked, first)
        if picked:
            self.parts.append(df.iloc[sorted(picked)][self.columns])

    def _pick(self, slot: str, codes: np.ndarray, keys: list, rows: np.ndarray, picked: set, first=None) -> None:
        """Marks the first row of every key of ``slot`` not met in earlier batches."""
        if first is None:
            uniq, first = np.unique(codes, return_index=True)
            if isinstance(keys, np.ndarray):  # numbers: sorted arrays, no loop per key
                values = keys[uniq]
                seen = self.seen.get(slot, np.empty(0))
                pos = np.minimum(np.searchsorted(seen, values), max(seen.size - 1, 0))
                new = (seen[pos] != values) if seen.size else np.ones(values.size, dtype=bool)
                if new.any():
                    self.seen[slot] = np.sort(np.concatenate([seen, values[new]]))
                    picked.update(rows[first[new]].tolist())
                return
            keys = [keys[c] for c in uniq]
        seen = self.seen.setdefault(slot, set())
        for key, i in zip(keys, first.tolist()):
            if key not in seen:
                seen.add(key)
                picked.add(int(rows[i]))

    def merge(self, other: "LevelScan") -> "LevelScan":
        """This scan followed by another's rows (a later part of the data)."""
        for col, cats in other.categories.items():
            known = self.categories.setdefault(col, [])
            known.extend(c for c in cats if c not in set(known))
        self.n_rows += other.n_rows
        self.n_used += other.n_used
        for lab, (lo, hi) in other.ranges.items():
            old = self.ranges.setdefault(lab, [lo, hi])
            old[0], old[1] = min(old[0], lo), max(old[1], hi)
        for part in other.parts:  # rows of keys already met stay: they are only examples
            self.parts.append(part)
        for slot, keys in other.seen.items():
            if isinstance(keys, np.ndarray):
                self.seen[slot] = np.union1d(self.seen.get(slot, np.empty(0)), keys)
            else:
                self.seen.setdefault(slot, set()).update(keys)
        return self

    def representative_rows(self) -> pd.DataFrame:
        """The representative rows, categorical columns with the categories met in order."""
        if not self.parts:
            raise DataError(
                f"no rows left after removing rows with missing values (the data has {self.n_rows} rows); "
                "every row misses at least one variable the model uses"
            )
        df = pd.concat(self.parts, ignore_index=True)
        for col, cats in self.categories.items():
            if col in df.columns:
                df[col] = pd.Categorical(np.asarray(df[col], dtype=object), categories=cats)
        return df
