"""lme4's layout of θ, per random-effects term.

A term with ``k`` columns has a lower-triangular relative covariance factor
``T`` (k × k); its covariance is ``σ² T T'``. A correlated term stores the
lower triangle of ``T`` column by column (``k (k + 1) / 2`` values), a
diagonal one (``correlated=False``) only the diagonal (``k`` values). The same
layout as the Rust core's ``covariance/`` structures (and ``LinearMixedModel.theta_lower``); it is
repeated here so that a result read back from a pickle, without its Rust
problem, can still name and bound θ.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

__all__ = ["theta_size", "relative_factor", "theta_names", "theta_lower"]


def theta_size(k: int, correlated: bool) -> int:
    """Number of θ values of a term with ``k`` columns."""
    return k * (k + 1) // 2 if correlated else k


def relative_factor(theta: np.ndarray, k: int, correlated: bool) -> np.ndarray:
    """Lower-triangular relative covariance factor T of one term (filled column-wise)."""
    T = np.zeros((k, k))
    if correlated:
        pos = 0
        for j in range(k):
            for i in range(j, k):
                T[i, j] = theta[pos]
                pos += 1
    else:
        T[np.diag_indices(k)] = theta[:k]
    return T


def theta_names(group: str, cols: Sequence[str], correlated: bool) -> list[str]:
    """lme4's ``tnames``: ``g.col`` for diagonals, ``g.row.col`` below the diagonal."""
    k = len(cols)
    if not correlated:
        return [f"{group}.{c}" for c in cols]
    out = []
    for j in range(k):
        for i in range(j, k):
            out.append(f"{group}.{cols[i]}" if i == j else f"{group}.{cols[i]}.{cols[j]}")
    return out


def theta_lower(k: int, correlated: bool) -> list[float]:
    """Lower bounds: 0 for the diagonal of T, -inf below it."""
    if not correlated:
        return [0.0] * k
    out = []
    for j in range(k):
        for i in range(j, k):
            out.append(0.0 if i == j else -math.inf)
    return out
