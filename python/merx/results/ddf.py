"""Tests of contrasts of the fixed effects with denominator degrees of freedom: lmerTest's
``contest1D`` / ``contestMD`` with Satterthwaite's or Kenward-Roger's method.

The core (``merx._core.variance_parameter_inference``) gives, at the estimates, vcov(β̂),
∂vcov/∂γ_i for the variance parameters γ and the covariance of γ̂ the method uses (2H⁻¹ for
Satterthwaite, W for Kenward-Roger), plus Kenward-Roger's adjusted covariance Φ_A. What is
left per contrast L is a few p × p products, done here as lmerTest and pbkrtest do them:

* Satterthwaite, one row: ν = 2 (L V L')² / (g' A g), g_i = L (∂V/∂γ_i) L'. Several rows:
  the eigenvectors of L V L' turn them into independent t statistics, F is their mean
  square and its ν follows from theirs (lmerTest's ``get_Fstat_ddf``).
* Kenward-Roger (pbkrtest's ``Lb_ddf`` / ``.KR_adjust``): the Wald statistic with Φ_A, its
  scaling and ν from A₁ = Σ W_ij tr(U_i) tr(U_j), A₂ = Σ W_ij tr(U_iU_j),
  U_i = Θ (∂Φ/∂γ_i), Θ = L'(LΦL')⁻¹L.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .t_and_f import f_upper_tail, t_two_sided_p

__all__ = ["ContrastTest", "FTest", "contrast_t_test", "contrast_f_test", "DDF_METHODS", "check_ddf"]

DDF_METHODS = ("Satterthwaite", "Kenward-Roger", "lme4")


def check_ddf(ddf: str) -> str:
    """The method's canonical name; a clear error for anything else."""
    for name in DDF_METHODS:
        if isinstance(ddf, str) and ddf.lower() == name.lower():
            return name
    raise ValueError(f"ddf must be one of {', '.join(map(repr, DDF_METHODS))}, not {ddf!r}")


@dataclass
class ContrastTest:
    estimate: float
    std_error: float
    df: float
    t_value: float
    p_value: float


@dataclass
class FTest:
    sum_sq: float
    mean_sq: float
    num_df: int
    den_df: float
    f_value: float
    p_value: float


def _satterthwaite_df(inf, L: np.ndarray) -> tuple[float, float]:
    var = float(L @ inf.vcov @ L)
    grad = np.array([L @ J @ L for J in inf.jacobians])
    return var, 2.0 * var * var / float(grad @ inf.weight @ grad)


def _kr_parts(inf, L: np.ndarray) -> tuple[float, float, int]:
    """A₁, A₂ and the rank q of Kenward-Roger's adjustment for the rows of L."""
    phi = inf.vcov
    theta = L.T @ np.linalg.solve(L @ phi @ L.T, L)
    u = [theta @ J for J in inf.jacobians]  # Θ ∂Φ/∂γ_i = -ΘΦP_iΦ (signs cancel in pairs)
    W = inf.weight
    traces = np.array([np.trace(x) for x in u])
    a1 = float(traces @ W @ traces)
    a2 = float(sum(W[i, j] * np.sum(u[i] * u[j].T) for i in range(len(u)) for j in range(len(u))))
    return a1, a2, L.shape[0]


def _kr_df_and_scaling(a1: float, a2: float, q: int) -> tuple[float, float]:
    b = (a1 + 6.0 * a2) / (2.0 * q)
    g = ((q + 1) * a1 - (q + 4) * a2) / ((q + 2) * a2)
    denom = 3 * q + 2 * (1 - g)
    c1, c2, c3 = g / denom, (q - g) / denom, (q + 2 - g) / denom
    v0 = 1 + c1 * b
    v1 = 1 - c2 * b
    v2 = 1 - c3 * b
    v0 = 0.0 if abs(v0) < 1e-10 else v0
    x, y = 1 - a2 / q, v1
    ratio = 1.0 if abs(x) < 1e-14 and abs(y) < 1e-14 else x / y  # pbkrtest's .divZero
    rho = ratio * ratio * v0 / (q * v2)
    df2 = 4 + (q + 2) / (q * rho - 1)
    scaling = 1.0 if abs(df2 - 2) < 1e-2 else df2 * (1 - a2 / q) / (df2 - 2)
    return df2, scaling


def contrast_t_test(inf, beta: np.ndarray, L, method: str) -> ContrastTest:
    """t test of L'β = 0 for one contrast vector (lmerTest's ``contest1D``); ``inf`` is None
    for ``method="lme4"`` (no df, no p-value)."""
    L = np.asarray(L, dtype=float).ravel()
    est = float(L @ beta)
    if method == "Satterthwaite":
        var, df = _satterthwaite_df(inf, L)
    elif method == "Kenward-Roger":
        var = float(L @ inf.vcov_adjusted @ L)
        a1, a2, q = _kr_parts(inf, L[None, :])
        df = _kr_df_and_scaling(a1, a2, q)[0]
    else:
        raise ValueError(f"no degrees of freedom for method {method!r}")
    se = math.sqrt(var)
    t = est / se
    return ContrastTest(est, se, df, t, t_two_sided_p(t, df))


def _fstat_ddf(nu: np.ndarray, tol: float = 1e-8) -> float:
    """lmerTest's ``get_Fstat_ddf``: the F statistic's df from those of its t statistics."""
    if len(nu) == 1:
        return float(nu[0])
    if np.all(np.abs(np.diff(nu)) < tol):
        return float(np.mean(nu))
    if np.any(nu <= 2):
        return 2.0
    e = float(np.sum(nu / (nu - 2)))
    return 2 * e / (e - len(nu))


def contrast_f_test(inf, beta: np.ndarray, L, method: str, eps: float = math.sqrt(np.finfo(float).eps)) -> FTest:
    """F test of Lβ = 0 (lmerTest's ``contestMD``)."""
    L = np.atleast_2d(np.asarray(L, dtype=float))
    sigma2 = inf.sigma**2
    if L.shape[0] == 0:
        return FTest(math.nan, math.nan, 0, math.nan, math.nan, math.nan)
    if method == "Kenward-Roger":
        q = int(np.linalg.matrix_rank(L))
        diff = L @ beta
        wald = float(diff @ np.linalg.solve(L @ inf.vcov_adjusted @ L.T, diff))
        f_unscaled = wald / q
        a1, a2, _ = _kr_parts(inf, L)
        df2, scaling = _kr_df_and_scaling(a1, a2, q)
        f = f_unscaled * scaling
        ms = f_unscaled * sigma2
        return FTest(ms * q, ms, q, df2, f, f_upper_tail(f, q, df2))
    if L.shape[0] == 1:
        r = contrast_t_test(inf, beta, L[0], method)
        f = r.t_value**2
        return FTest(f * sigma2, f * sigma2, 1, r.df, f, f_upper_tail(f, 1, r.df))
    vl = L @ inf.vcov @ L.T
    d, P = np.linalg.eigh(vl)
    order = np.argsort(d)[::-1]
    d, P = d[order], P[:, order]
    tol = max(eps * d[0], 0.0)
    pos = d > tol
    q = int(np.sum(pos))
    ptl = (P.T @ L)[:q]
    if q == 1:
        r = contrast_t_test(inf, beta, ptl[0], method)
        f = r.t_value**2
        return FTest(f * sigma2, f * sigma2, 1, r.df, f, f_upper_tail(f, 1, r.df))
    t2 = (ptl @ beta) ** 2 / d[:q]
    f = float(np.sum(t2) / q)
    nu = np.array([_satterthwaite_df(inf, ptl[m])[1] for m in range(q)])
    ddf = _fstat_ddf(nu)
    ms = f * sigma2
    return FTest(ms * q, ms, q, ddf, f, f_upper_tail(f, q, ddf))
