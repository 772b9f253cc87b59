"""nlme's denominator degrees of freedom for the fixed effects (``nlme:::getFixDF``), its
inner-outer rule for nested grouping.

The strata are the grouping levels, outermost first, then the residual: with n_1 outer
groups, n_2 groups at the next level, ..., N rows, stratum k has n_k - n_{k-1} degrees of
freedom (N - n_Q for the residual). A column of X belongs to the innermost stratum within
whose groups it varies (nlme's ``inner_perc_table`` > 0): a column constant within the
outermost groups to the outermost stratum, one that varies within the innermost groups to
the residual. Each stratum's df lose its own columns; the intercept takes one from the
outermost stratum (without an intercept every stratum but the outermost gains one), and
has the largest df left. The columns' df are their stratum's.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["nlme_fixed_df"]


def _constant(x: np.ndarray) -> bool:
    """nlme's ``const``: every entry equal to the first within sqrt(eps) relative."""
    tol = math.sqrt(np.finfo(float).eps)
    rel = x if x[0] == 0 else x / x[0] - 1.0
    return bool(np.all(np.abs(rel) < tol))


def _varies_within(x: np.ndarray, codes: np.ndarray) -> bool:
    """Whether x takes two values inside some group (nlme compares values exactly)."""
    n_groups = int(codes.max()) + 1
    lo = np.full(n_groups, np.inf)
    hi = np.full(n_groups, -np.inf)
    np.minimum.at(lo, codes, x)
    np.maximum.at(hi, codes, x)
    return bool(np.any(hi > lo))


def nlme_fixed_df(X: np.ndarray, groups: list) -> np.ndarray:
    """The df of each column of X; ``groups`` the grouping codes, outermost first (nested)."""
    X = np.asarray(X, dtype=float)
    n, p = X.shape
    ngrps = [int(np.unique(g).size) for g in groups]
    df_strata = np.array([a - b for a, b in zip(ngrps + [n], [0] + ngrps)], dtype=float)
    constant = np.array([_constant(X[:, j]) for j in range(p)])
    out = np.zeros(p)
    if np.any(~constant):
        stratum = np.zeros(p, dtype=int)
        for j in np.flatnonzero(~constant):
            for k, g in enumerate(groups, start=1):
                if _varies_within(X[:, j], np.asarray(g)):
                    stratum[j] = k
        for j in np.flatnonzero(~constant):
            df_strata[stratum[j]] -= 1
        if np.any(constant):
            df_strata[0] -= 1
        else:
            df_strata[1:] += 1
        out[~constant] = df_strata[stratum[~constant]]
    if np.any(constant):
        out[constant] = df_strata.max()
    return out
