"""The fixed-effects model matrix X as lme4 builds it.

R's ``model.matrix`` of the fixed part (:mod:`merx.frame.design`), then lme4's
checks: aliased columns are dropped (rank by LINPACK's pivoted QR ``dqrdc2``,
R's ``qr(LAPACK = FALSE)``, tol 1e-7) with a warning, and predictors on very
different scales are warned about (``check.scaleX``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import warn_user
from ..formula.terms import TermsInfo
from .design import Design, design_matrix, fit_arrays, make_design


@dataclass
class FixedEffects:
    X: np.ndarray  # (n, p) Fortran order, aliased columns dropped
    names: list  # R column names of X
    dropped: list  # names of the aliased columns dropped
    design: Design  # to rebuild the full matrix on new data
    keep: list  # indices of the columns of the full matrix kept in X
    arrays: list  # per-variable inputs of design_matrix on the used rows (type-3 contrasts)


def build_fixed_effects(ti: TermsInfo, values: list, n: int) -> FixedEffects:
    """X of the fixed-effects terms ``ti`` given the values of their variables on the used rows.

    Warnings name the user's call (:func:`merx.errors.warn_user`).
    """
    design = make_design(ti, values, "the fixed effects")
    arrays = fit_arrays(design, values)
    X_full = design_matrix(design, arrays, n)
    keep = list(range(X_full.shape[1]))
    dropped: list = []
    if X_full.shape[1] > 0:
        rank, piv = dqrdc2(X_full)
        if rank < X_full.shape[1]:
            keep = sorted(piv[:rank])
            dropped = [design.colnames[i] for i in range(X_full.shape[1]) if i not in set(keep)]
            warn_dropped_columns(dropped)
    X = np.asfortranarray(X_full[:, keep]) if dropped else X_full
    check_scale_x(X)
    return FixedEffects(X=X, names=[design.colnames[i] for i in keep], dropped=dropped, design=design, keep=keep,
                        arrays=arrays)


def warn_dropped_columns(dropped: list) -> None:
    """lme4's warning for the aliased columns it drops from X (none: no warning)."""
    k = len(dropped)
    if k:
        warn_user(
            f"fixed-effect model matrix is rank deficient so dropping {k} "
            f"{'column / coefficient' if k == 1 else 'columns / coefficients'}: {', '.join(dropped)}",
            UserWarning,
        )


def dqrdc2(X: np.ndarray, tol: float = 1e-7, _fast: bool = True) -> tuple:
    """Rank and column pivot of R's dqrdc2 (limited pivoting: negligible
    columns are moved to the end, the others keep their order)."""
    n, p = X.shape
    if p == 0:
        return 0, []
    if _fast and n >= p and p <= _SMALL_P and _small_full_rank(X, tol):
        return p, list(range(p))
    norms = np.sqrt(np.sum(X * X, axis=0))
    if _fast and n >= p and np.all(norms > 0):
        # fast paths: with no column negligible, dqrdc2 does no pivoting and its
        # running column norms are |R_jj| of the unpivoted QR. First from the Cholesky
        # factor of X'X (a p x p problem: 0.06 ms where a tall QR takes 5 ms), accepted
        # only far from the threshold (its |R_jj| lose accuracy as X'X squares the
        # condition), then from the QR itself.
        try:
            r = np.abs(np.diag(np.linalg.cholesky(X.T @ X)))
            if np.all(r > 1e4 * tol * norms):
                return p, list(range(p))
        except np.linalg.LinAlgError:
            pass
        r = np.abs(np.diag(np.linalg.qr(X, mode="r")))
        if np.all(r > 100.0 * tol * norms):
            return p, list(range(p))
    x = np.array(X, dtype=float, order="F", copy=True)
    jpvt = list(range(p))
    qraux = norms.copy()
    work1 = qraux.copy()
    work2 = qraux.copy()
    work2[work2 == 0] = 1.0
    k = p + 1
    for l in range(min(n, p)):
        while l + 1 < k and qraux[l] < work2[l] * tol:
            order = list(range(l + 1, p)) + [l]
            x[:, l:] = x[:, order]
            for arr in (qraux, work1, work2):
                arr[l:] = arr[order]
            jpvt[l:] = [jpvt[i] for i in order]
            k -= 1
        if l == n - 1:
            break
        col = x[l:, l]
        nrmxl = float(np.sqrt(col @ col))
        if nrmxl == 0.0:
            continue
        if x[l, l] != 0:
            nrmxl = math.copysign(nrmxl, x[l, l])
        x[l:, l] /= nrmxl
        x[l, l] += 1.0
        if l + 1 < p:
            v = x[l:, l]
            t = -(v @ x[l:, l + 1:]) / x[l, l]
            x[l:, l + 1:] += np.outer(v, t)
            q = qraux[l + 1:]
            nz = q != 0
            tt = np.zeros_like(q)
            tt[nz] = np.maximum(1.0 - (np.abs(x[l, l + 1:][nz]) / q[nz]) ** 2, 0.0)
            small = nz & (np.abs(tt) < 1e-6)
            big = nz & ~small
            q[big] = q[big] * np.sqrt(tt[big])
            if small.any():
                idx = l + 1 + np.flatnonzero(small)
                qraux[idx] = np.sqrt(np.sum(x[l + 1:, idx] ** 2, axis=0))
                work1[idx] = qraux[idx]
        qraux[l] = x[l, l]
        x[l, l] = -nrmxl
    rank = min(k - 1, n)
    return rank, jpvt


#: Columns up to which :func:`dqrdc2` first tries the Cholesky factor of X'X in plain Python.
_SMALL_P = 8
#: Smallest squared column norm of that test: far from underflow, so no column that
#: ``np.sum(X * X, axis=0)`` finds zero passes it.
_SMALL_NORM2 = 1e-250


def _small_full_rank(X: np.ndarray, tol: float) -> bool:
    """Whether :func:`dqrdc2` keeps every column of a narrow ``X`` unpivoted, by its first fast
    path's test (|R_jj| of the Cholesky factor of X'X far above ``tol`` × the column norm),
    the p × p factor computed in Python (one numpy call instead of a dozen). False also when
    the test is inconclusive: the full computation decides then."""
    G = np.dot(X.T, X).tolist()  # (np.dot: BLAS's X'X of a transposed pair, cheaper to start than matmul)
    p = len(G)
    L: list = []
    for j in range(p):
        g = G[j]
        gjj = g[j]
        if not (_SMALL_NORM2 < gjj < math.inf):
            return False
        row = [0.0] * p
        for k in range(j):
            lk = L[k]
            row[k] = (g[k] - sum(row[i] * lk[i] for i in range(k))) / lk[k]
        d = gjj - sum(v * v for v in row[:j])
        if not d > 0.0:
            return False
        row[j] = math.sqrt(d)
        if not row[j] > 1e4 * tol * math.sqrt(gjj):
            return False
        L.append(row)
    return True


def check_scale_x(X: np.ndarray, tol: float = 1e3) -> None:
    """lme4's check.scaleX = "warning"."""
    if X.shape[1] == 0 or X.shape[0] < 2:
        return
    if tol == 1e3 and X.shape[0] <= _SMALL_N and _clearly_in_scale(X):
        return
    # Indicators and the intercept: only a column within [0, 1] can be one, so the others
    # are not compared value by value (a large X would make three temporaries of its size).
    within = (np.minimum.reduce(X, axis=0) >= 0.0) & (np.maximum.reduce(X, axis=0) <= 1.0)
    binary = np.zeros(X.shape[1], dtype=bool)
    for j in np.flatnonzero(within).tolist():
        col = X[:, j]
        binary[j] = np.logical_and.reduce((col == 0.0) | (col == 1.0))
    if np.logical_and.reduce(binary):
        return
    scale_warning(_column_sd(X, np.flatnonzero(~binary).tolist()), tol=tol)


#: Rows up to which :func:`check_scale_x` first bounds the standard deviations by the ranges.
_SMALL_N = 5000


def _clearly_in_scale(X: np.ndarray) -> bool:
    """Whether check.scaleX (``tol = 1e3``) surely does not warn, seen from the columns' ranges
    alone (two reductions instead of a dozen numpy calls): a column's sd lies between
    ``R / sqrt(2 (n - 1))`` and ``R sqrt(n / (4 (n - 1)))`` for its range R, and the test passes
    when those bounds keep every sd, and every ratio of two, well inside the limits. False
    when that is not clear (numpy's sd decide then)."""
    n = X.shape[0]
    lows = np.minimum.reduce(X, axis=0).tolist()
    highs = np.maximum.reduce(X, axis=0).tolist()
    smallest, largest = math.inf, 0.0
    for j, (lo, hi) in enumerate(zip(lows, highs)):
        if lo == hi:
            if lo == 1.0 or lo == 0.0:
                continue  # the intercept (or a constant indicator)
            return False
        if lo == 0.0 and hi == 1.0:
            if set(X[:, j].tolist()) <= _BINARY:
                continue  # an indicator
        r = hi - lo
        smallest = min(smallest, 0.999 * r / math.sqrt(2.0 * (n - 1)))
        largest = max(largest, 1.001 * r * math.sqrt(n / (4.0 * (n - 1))))
    return largest == 0.0 or (smallest > 1.1e-3 and largest < 9e2 and largest < 9e2 * smallest)


_BINARY = {0.0, 1.0}


#: Rows per block of :func:`_column_sd` (its temporaries stay this size, not the data's).
_SD_BLOCK_ROWS = 1 << 16


def _column_sd(A: np.ndarray, columns: list) -> np.ndarray:
    """``np.std(A[:, columns], axis=0, ddof=1)`` of a float64 matrix of two or more rows, by
    numpy's two-pass formula (numpy's own reductions: the same to the bit up to
    ``_SD_BLOCK_ROWS`` rows), in blocks of rows: no temporary of the data's size."""
    n = A.shape[0]
    out = np.empty(len(columns))
    for i, j in enumerate(columns):
        col = A[:, j]
        mean = np.add.reduce(col) / n
        ss = 0.0
        for start in range(0, n, _SD_BLOCK_ROWS):
            d = np.subtract(col[start:start + _SD_BLOCK_ROWS], mean)
            ss += np.add.reduce(np.multiply(d, d, out=d))
        out[i] = ss / (n - 1)
    return np.sqrt(out, out=out)


def scale_warning(sd: np.ndarray, tol: float = 1e3) -> None:
    """check.scaleX's test on the standard deviations of the non-indicator columns."""
    with np.errstate(all="ignore"):
        vals = np.abs(np.log(sd))
        if len(sd) > 1:  # and the ratios of the standard deviations, each pair once
            logcomp = np.abs(np.log(sd[:, None] / sd[None, :]))
            vals = np.concatenate([vals, logcomp[np.tril_indices(len(sd), -1)]])
    if np.any(vals[np.isfinite(vals)] > math.log(tol)):
        warn_user("Some predictor variables are on very different scales: consider rescaling",
                  UserWarning)
