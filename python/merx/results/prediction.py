"""lme4's ``predict(fit, newdata, re.form, allow.new.levels)`` for a linear mixed model.

The linear predictor ``X β + Z b + offset`` for the fitted rows or for new
data (whose model matrices the :class:`~merx.frame.model_frame.ModelFrame` builds),
conditioning on all, some (``re_form="~(1 | g)"``) or none (``re_form="~0"``)
of the random-effects terms.
"""

from __future__ import annotations

import math
import re
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..errors import DataError, MerxError

__all__ = ["predict", "select_blocks", "is_population_re_form"]


def is_population_re_form(re_form: Any) -> bool:
    """Whether ``re_form`` asks for population-level predictions (no random effects)."""
    if re_form is None:
        return False
    if isinstance(re_form, float) and math.isnan(re_form):
        return True
    if re_form is pd.NA:
        return True
    if isinstance(re_form, str):
        s = re_form.replace(" ", "")
        return s in ("~0", "~-1", "NA", "0", "")
    return False


def select_blocks(blocks: Sequence, re_form: Any) -> list[int]:
    """Indices of the random-effects blocks that ``re_form`` conditions on."""
    if re_form is None:
        return list(range(len(blocks)))
    if is_population_re_form(re_form):
        return []
    if isinstance(re_form, str):
        groups = [g.strip() for g in re.findall(r"\|\|?\s*([^()|]+?)\s*\)", re_form)]
        if not groups:
            raise MerxError(
                f"re_form {re_form!r} not understood: use None (all random effects), "
                f"'~0' or numpy.nan (none), or a formula such as '~(1 | g)'"
            )
        known = {b.group for b in blocks}
        unknown = [g for g in groups if g not in known]
        if unknown:
            raise MerxError(
                f"re_form {re_form!r} names grouping factor(s) {unknown} that are not in the model "
                f"(grouping factors: {sorted(known)})"
            )
        return [i for i, b in enumerate(blocks) if b.group in groups]
    raise MerxError(f"re_form must be None, '~0', numpy.nan or a formula string, got {re_form!r}")


def row_index(frame: Any, newdata: Any, n: int) -> pd.Index:
    """The index of a per-row output of ``n`` rows: a pandas ``newdata``'s own index, positions
    0..n-1 for other new data (polars, dicts), and without ``newdata`` the labels of the data's
    rows that the fit used (``ModelFrame.row_labels``: rows dropped for missing values are not
    among them)."""
    if newdata is None:
        labels = frame.row_labels
        return pd.Index(labels) if labels is not None and len(labels) == n else pd.RangeIndex(n)
    if isinstance(newdata, (pd.DataFrame, pd.Series)):
        return newdata.index
    return pd.RangeIndex(n)


def per_row(values: Any, frame: Any, newdata: Any, name: str) -> pd.Series:
    """``values`` (one per row of ``newdata``, or of the data's used rows) as a float Series named
    ``name`` with :func:`row_index`'s index, so that it lines up with the rows it describes."""
    v = np.asarray(values, dtype=float)
    return pd.Series(v, index=row_index(frame, newdata, len(v)), name=name)


def predict(
    frame: Any,
    beta: np.ndarray,
    b_list: Sequence,
    fitted: np.ndarray,
    newdata: Any = None,
    re_form: Any = None,
    allow_new_levels: bool = False,
) -> np.ndarray:
    """Predictions of the model fitted to ``frame`` with fixed effects ``beta``,
    conditional modes ``b_list`` (the fit's ``b``) and fitted values ``fitted``.

    See :meth:`merx.results.LmerResult.predict` for ``re_form`` and ``allow_new_levels``.
    """
    blocks = list(frame.blocks)
    sel = select_blocks(blocks, re_form)
    if newdata is None:
        if len(sel) == len(blocks):
            return fitted
        eta = np.asarray(frame.X, dtype=float) @ beta
        if frame.offset is not None:
            eta = eta + np.asarray(frame.offset, dtype=float)
        for bi in sel:
            eta = eta + _random_part(blocks[bi], b_list[bi], blocks[bi].codes, blocks[bi].Z)
        return eta
    eta = np.asarray(frame.new_fixed_matrix(newdata), dtype=float) @ beta
    off = frame.new_offset(newdata)
    if off is not None:
        eta = eta + np.asarray(off, dtype=float)
    if sel:
        new_blocks = frame.new_random_blocks(newdata)
        for bi in sel:
            blk = blocks[bi]
            codes, Z = new_blocks[bi]  # codes -1: a level not seen when fitting, or a missing value
            missing = _missing_group(newdata, blk.group, np.asarray(codes), allow_new_levels)
            # a new level contributes 0; a missing grouping value makes the prediction NaN
            eta = eta + np.where(missing, np.nan, _random_part(blk, b_list[bi], codes, Z))
    return eta


def _random_part(blk: Any, b: np.ndarray, codes: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """Per row ``Z[i] · b[codes[i]]`` of one random-effects term; 0 where the code is -1."""
    k = len(blk.columns)
    b = np.asarray(b, dtype=float).reshape(len(blk.levels), k)
    codes = np.asarray(codes, dtype=np.int64)
    Z = np.asarray(Z, dtype=float).reshape(len(codes), k)
    unseen = codes < 0
    part = np.einsum("ij,ij->i", Z, b[np.where(unseen, 0, codes)])
    return np.where(unseen, 0.0, part) if unseen.any() else part


def _missing_group(newdata: Any, group: str, codes: np.ndarray, allow_new_levels: bool) -> np.ndarray:
    """Rows of ``newdata`` whose grouping value is missing (bool (n,)); raises
    :class:`DataError` on a level not seen when fitting unless ``allow_new_levels``."""
    unseen = codes < 0
    missing = np.zeros(len(codes), dtype=bool)
    if not unseen.any():
        return missing
    labels = _group_labels(newdata, group, len(codes))
    if labels is not None:
        missing = unseen & np.array([lab is None for lab in labels], dtype=bool)
    new = unseen & ~missing
    if new.any() and not allow_new_levels:
        i = int(np.flatnonzero(new)[0])
        lev = labels[i] if labels is not None else "<unknown>"
        raise DataError(
            f"new level {lev!r} of grouping factor {group!r} in newdata (row {i}) was not in "
            f"the data the model was fitted to; pass allow_new_levels=True to predict it with "
            f"random effects 0 (population level)"
        )
    return missing


def _group_labels(newdata: Any, group: str, n: int) -> list | None:
    """Labels of grouping factor ``group`` ("a:b" for interactions) in ``newdata``,
    None for a missing value; None overall when the columns cannot be found."""
    try:
        cols = []
        for part in group.split(":"):
            col = newdata[part]
            vals = col.tolist() if hasattr(col, "tolist") else list(col)
            if len(vals) != n:
                return None
            cols.append(vals)
    except Exception:  # noqa: BLE001 - e.g. an expression as grouping factor
        return None
    out = []
    for row in zip(*cols):
        if any(v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA for v in row):
            out.append(None)
        else:
            out.append(":".join(_level_str(v) for v in row))
    return out


def _level_str(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)
