"""The contrast matrices of lmerTest's F tables, one per fixed-effects term.

* Type I (sequential): the rows of the term in the unit upper-triangular factor of X'X
  (Doolittle's LU, as lmerTest's ``get_contrasts_type1``): each term is tested after the
  terms before it.
* Type II (lmerTest's ``get_contrasts_type2_unfolded``): marginal for a term no other
  contains, else sequential after every term that does not contain it.
* Type III (SAS's, lmerTest's ``extract_contrasts_type3`` for R's treatment contrasts): the
  columns of the full dummy coding (every factor by the indicators of all its levels) in
  the coefficients of X, L = (X⁺ rdX)'; the columns of a term contained in others
  (lmerTest's ``containment``: all its variables in the other term, which has more, with
  the same numeric variables) are made orthogonal to theirs, higher-order terms first; the
  rows of X's own columns then give each term's contrasts.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["contrasts_type1", "contrasts_type2", "contrasts_type3", "doolittle_upper"]


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


def _zapsmall(x: np.ndarray, digits: int = 7) -> np.ndarray:
    """R's ``zapsmall``: round to ``digits`` significant digits of the largest entry."""
    mx = float(np.max(np.abs(x))) if x.size else 0.0
    d = max(0, digits - int(math.ceil(math.log10(mx)))) if mx > 0 else digits
    return np.round(x, d)


def contained_in(terms: list, kinds: list) -> dict:
    """lmerTest's ``containment``: for term i, the terms j that contain it (all of i's
    variables are in j, j has more, and both have the same numeric variables)."""
    numeric = [{v for v in t if kinds[v] == "num"} for t in terms]
    sets = [set(t) for t in terms]
    return {i: [j for j in range(len(terms)) if sets[i] < sets[j] and numeric[i] == numeric[j]] for i in range(len(terms))}


def contrasts_type3(X: np.ndarray, assign: list, term_labels: list, x_names: list = None, full: tuple = None,
                    terms: list = None, kinds: list = None) -> dict:
    """Type III contrasts (lmerTest's ``extract_contrasts_type3`` for treatment coding):
    term label → rows of L. ``full`` = (rdX, its column names) from
    :meth:`~merx.frame.model_frame.ModelFrame.full_dummy_matrix`; ``terms``/``kinds`` the
    fixed design's variables per term and their kinds (for the containment relation)."""
    p = X.shape[1]
    if len(term_labels) <= 1 or p <= 1:
        return contrasts_type1(X, assign, term_labels)
    rdX, rd_names = full
    # L = t(ginv(X) rdX): each column of the full coding in the coefficients of X.
    L = _zapsmall(np.linalg.lstsq(X, rdX, rcond=None)[0].T)
    cols = _columns_by_term(assign, term_labels)
    contains = contained_in(terms, kinds)
    order = sorted(range(len(term_labels)), key=lambda t: -len(terms[t]))
    for t in order:
        if contains[t] and cols[term_labels[t]]:
            idx = cols[term_labels[t]]
            other = [c for j in contains[t] for c in cols[term_labels[j]]]
            if other:
                A = L[:, other]
                coef = np.linalg.lstsq(A, L[:, idx], rcond=None)[0]
                L[:, idx] = _zapsmall(L[:, idx] - A @ coef)
    rows = [rd_names.index(n) for n in x_names]
    L = L[rows, :]
    out = {}
    for label, idx in cols.items():
        if idx:
            Lt = L[:, idx].T
            out[label] = Lt[np.sum(np.abs(Lt), axis=1) > 1e-8]
    return out


def contrasts_type2(X: np.ndarray, assign: list, term_labels: list, terms: list, kinds: list) -> dict:
    """Type II contrasts (lmerTest's ``get_contrasts_type2_unfolded``): a term contained in
    no other is tested marginally (its coefficients); a term contained in others is tested
    after every term that does not contain it: the sequential (Doolittle) contrast with the
    columns reordered as [unrelated terms, the term, the terms containing it]."""
    p = X.shape[1]
    if len(term_labels) <= 1 or p <= 1:
        return contrasts_type1(X, assign, term_labels)
    cols = _columns_by_term(assign, term_labels)
    contains = contained_in(terms, kinds)
    eye = np.eye(p)
    out = {}
    for t, label in enumerate(term_labels):
        idx = cols[label]
        if not idx:
            continue
        if not contains[t]:
            out[label] = eye[idx, :]
            continue
        moved = idx + [c for j in contains[t] for c in cols[term_labels[j]]]
        order = [c for c in range(p) if c not in set(moved)] + moved
        upper = doolittle_upper(X[:, order].T @ X[:, order])
        rows = [order.index(c) for c in idx]
        L = np.zeros((len(idx), p))
        L[:, order] = upper[rows, :]  # back to X's column order
        out[label] = L
    return out

