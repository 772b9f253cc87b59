"""R factors: integer codes into a list of level labels, with R's semantics.

Levels of strings sort as text, levels of numbers sort numerically and are
labelled as R prints numbers; ``drop_unused_levels`` is R's
``droplevels``/``drop.unused.levels``; ``interaction`` is ``a:b`` followed by
``factor()`` (only the combinations present, the first factor varying slowest).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import DataError
from ..rstyle.numbers import r_format_numbers


@dataclass
class Factor:
    codes: np.ndarray  # int64 (n,), -1 = missing
    levels: list
    # every level occurs (and no code is missing), as found by a check (codes and levels are never
    # changed in place: a factor's rows or levels change only as a new Factor)
    all_used: bool = field(default=False, repr=False, compare=False)


def drop_unused_levels(f: Factor) -> Factor:
    """The factor without the levels no row has (``f`` itself when every level occurs)."""
    if f.all_used:
        return f
    present = np.zeros(len(f.levels), dtype=bool)
    ok = f.codes >= 0
    no_missing = bool(np.logical_and.reduce(ok, axis=None))
    present[f.codes if no_missing else f.codes[ok]] = True
    if np.logical_and.reduce(present, axis=None):
        if no_missing:
            f.all_used = True
        return f
    new_index = np.cumsum(present) - 1
    if no_missing:
        codes = new_index[f.codes].astype(np.int64)
    else:
        codes = np.where(ok, new_index[np.where(ok, f.codes, 0)], -1).astype(np.int64)
    return Factor(codes, [lv for lv, p in zip(f.levels, present) if p])


def category_labels(cats) -> list:
    """Level labels of pandas categories as R prints them."""
    dt = cats.dtype
    if not isinstance(dt, pd.StringDtype):  # (the checks below are slow on pandas' string dtype)
        if pd.api.types.is_bool_dtype(dt):
            return ["TRUE" if c else "FALSE" for c in cats]
        if pd.api.types.is_numeric_dtype(dt):
            return r_format_numbers([float(c) for c in cats])
    else:
        # pandas' pyarrow-backed strings (pandas >= 2.1; the default str dtype of pandas 3): the
        # pyarrow array's own list, without pandas' conversion to a numpy object array
        # (categories hold no missing values, so these are the same strings)
        pa_array = getattr(cats.array, "_pa_array", None)
        if pa_array is not None and callable(getattr(pa_array, "to_pylist", None)):
            labels = pa_array.to_pylist()
            if set(map(type, labels)) <= {str}:  # (one C-level pass over the labels)
                return labels
    return [str(c) for c in cats.tolist()]


def factor_from_labels(labels: np.ndarray, missing: np.ndarray) -> Factor:
    """Factor with sorted unique levels from an object array of strings."""
    present = labels[~missing]
    levels = sorted(set(present.tolist()))
    cat = pd.Categorical(np.where(missing, None, labels), categories=levels)
    return Factor(np.asarray(cat.codes, dtype=np.int64), levels)


def factor_from_numbers(values: np.ndarray) -> Factor:
    """R's factor() of a numeric vector: numerically sorted levels, R labels."""
    values = np.asarray(values, dtype=float)
    miss = np.isnan(values)
    if miss.any():
        uniq, inv = sorted_unique(values[~miss])
        codes = np.full(values.shape[0], -1, dtype=np.int64)
        codes[~miss] = inv
    else:
        uniq, codes = sorted_unique(values)
    return Factor(codes, r_format_numbers(uniq))


def sorted_unique(x: np.ndarray) -> tuple:
    """``np.unique(x, return_inverse=True)`` of a 1-d array (inverse as int64);
    by counting, without sorting, when ``x`` holds whole numbers in a range not
    much wider than its length (integer ids, codes)."""
    if x.size:
        lo, hi = x.min(), x.max()
        if -(2.0**52) < lo and hi < 2.0**52 and hi - lo <= 2 * x.size + 1000:
            lo = math.floor(lo)
            # (in place where possible: one n-length array for a million-level id column)
            offset = x.astype(np.int64)
            if np.array_equal(offset, x):  # every value whole
                offset -= lo
                present = np.zeros(int(hi - lo) + 1, dtype=bool)
                present[offset] = True
                rank = np.cumsum(present, dtype=np.int64) - 1
                uniq = (np.flatnonzero(present) + lo).astype(x.dtype)
                return uniq, np.take(rank, offset, out=offset, mode="clip")  # (every index valid; unbuffered)
    uniq, inv = np.unique(x, return_inverse=True)
    return uniq, np.asarray(inv, dtype=np.int64).reshape(-1)


def interaction(facs: list) -> Factor:
    """R's ``a:b`` on factors followed by ``factor()``: levels are the present
    combinations, the first factor varying slowest."""
    if len(facs) == 1:
        return drop_unused_levels(facs[0])
    n = facs[0].codes.shape[0]
    sizes = [max(len(f.levels), 1) for f in facs]
    if math.prod(sizes) < 2**62:
        key = np.zeros(n, dtype=np.int64)
        for f, s in zip(facs, sizes):
            key = key * s + f.codes
        uniq, inv = sorted_unique(key)
        combo_codes = []  # per factor, its code in each combination
        for s in reversed(sizes):
            combo_codes.insert(0, uniq % s)
            uniq = uniq // s
    else:  # pragma: no cover - astronomically many combinations
        stack = np.column_stack([f.codes for f in facs])
        uniq, inv = np.unique(stack, axis=0, return_inverse=True)
        combo_codes = list(uniq.T)
    labels = [np.asarray(f.levels, dtype=object)[c] for f, c in zip(facs, combo_codes)]
    levels = [":".join(parts) for parts in zip(*labels)]
    return Factor(np.asarray(inv, dtype=np.int64).reshape(-1), levels)


def codes_for_levels(labels: np.ndarray, levels: list, what: str, unseen: str) -> np.ndarray:
    """Codes of per-row level ``labels`` (object array, None = missing)
    relative to training ``levels``.

    ``unseen='error'`` raises DataError for a level not seen when fitting,
    ``unseen='minus1'`` codes it -1.
    """
    index = {lv: i for i, lv in enumerate(levels)}
    codes = np.fromiter((index.get(x, -2) if x is not None else -1 for x in labels), dtype=np.int64,
                        count=len(labels))
    bad = codes == -2
    if bad.any():
        if unseen == "error":
            new = sorted({str(x) for x in labels[bad]})
            raise DataError(
                f"{what} has level{'s' if len(new) > 1 else ''} {format_levels(new)} in newdata that "
                f"{'were' if len(new) > 1 else 'was'} not seen when fitting (levels: {format_levels(levels, 10)}); "
                f"remove those rows or map them to a known level"
            )
        codes[bad] = -1
    return codes


def format_levels(levels: list, k: int = 6) -> str:
    shown = ", ".join(levels[:k])
    return shown + (", ..." if len(levels) > k else "")
