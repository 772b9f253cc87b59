"""The contrast matrices of lmerTest's F tables, one per fixed-effects term.

* Type I (sequential): the rows of the term in the unit upper-triangular factor of X'X
  (Doolittle's LU, as lmerTest's ``get_contrasts_type1``): each term is tested after the
  terms before it.
* Type III: with R's treatment contrasts and no term contained in another (no ``a`` next to
  ``a:b``), lmerTest's construction (``extract_contrasts_type3``) gives, for each term, the
  rows that select its coefficients, and so does this module. Marginal terms of an
  interaction need lmerTest's orthogonalization against the full dummy coding, which merx
  does not build yet: such models get a clear error pointing to type 1.
"""

from __future__ import annotations

import numpy as np

from ..errors import MerxError

__all__ = ["contrasts_type1", "contrasts_type3", "doolittle_upper"]


def doolittle_upper(xtx: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """t(L) of lmerTest's ``doolittle(x)``: X'X = LU with unit lower L, entries below
    ``eps`` set to 0."""
    n = xtx.shape[0]
    L = np.eye(n)
    U = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            U[i, j] = xtx[i, j] - L[i, :i] @ U[:i, j]
        for j in range(i + 1, n):
            v = xtx[j, i] - L[j, :i] @ U[:i, i]
            L[j, i] = 0.0 if abs(U[i, i]) < eps else v / U[i, i]
    L[np.abs(L) < eps] = 0.0
    return L.T


def _columns_by_term(assign: list, term_labels: list) -> dict:
    return {label: [i for i, a in enumerate(assign) if a == t + 1] for t, label in enumerate(term_labels)}


def contrasts_type1(X: np.ndarray, assign: list, term_labels: list) -> dict:
    """Type I contrasts: term label → rows of L (k × p)."""
    p = X.shape[1]
    cols = _columns_by_term(assign, term_labels)
    if p == 0:
        return {}
    upper = np.ones((1, 1)) if p == 1 else doolittle_upper(X.T @ X)
    return {label: upper[idx, :] for label, idx in cols.items() if idx}


def _factors_of(label: str) -> set:
    return set(label.split(":"))


def contrasts_type3(X: np.ndarray, assign: list, term_labels: list) -> dict:
    """Type III contrasts (see the module's docstring): term label → rows of L."""
    p = X.shape[1]
    if len(term_labels) <= 1 or p <= 1:
        return contrasts_type1(X, assign, term_labels)
    for a in term_labels:
        for b in term_labels:
            if a != b and _factors_of(a) < _factors_of(b):
                raise MerxError(
                    f"type 3 tests of {a!r}, which is marginal to {b!r}, are not available yet in merx: "
                    "use anova(type=1) (sequential tests), or contest() with your own contrast matrix"
                )
    cols = _columns_by_term(assign, term_labels)
    eye = np.eye(p)
    return {label: eye[idx, :] for label, idx in cols.items() if idx}
