"""Properties of the core's general Laplace engine (merx._core.LaplaceModel, rust/src/laplace/):
for one scalar random-effects term with a few levels, its Laplace approximation equals the one
computed here densely (modes by Newton, the observed Hessian, derivatives written out
independently) and is close to the marginal likelihood by adaptive quadrature per level, for
nbinom2 and the zero-inflated Poisson; its Poisson fit without zero inflation is merx.glmer's."""

import numpy as np
import pandas as pd
import pytest
from scipy import integrate
from scipy.special import gammaln

import merx
from merx import _core


def _simulate(family, n_levels, per_level, seed):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_levels), per_level)
    x = rng.normal(size=g.size)
    b = rng.normal(scale=0.6, size=n_levels)
    mu = np.exp(0.4 + 0.5 * x + b[g])
    if family == "nbinom2":
        y = rng.negative_binomial(1.5, 1.5 / (1.5 + mu)).astype(float)
    else:
        y = np.where(rng.uniform(size=g.size) < 0.3, 0.0, rng.poisson(mu)).astype(float)
    X = np.column_stack([np.ones_like(x), x])
    return X, y, g


def _loglik(family, y, eta, extra):
    """Each row's log-likelihood and its first two derivatives in η (log link)."""
    mu = np.exp(eta)
    if family == "nbinom2":
        k = np.exp(extra)
        ll = gammaln(y + k) - gammaln(k) - gammaln(y + 1) + k * np.log(k / (k + mu)) + y * np.log(mu / (k + mu))
        return ll, y - (y + k) * mu / (k + mu), -k * mu * (y + k) / (k + mu) ** 2
    p = 1.0 / (1.0 + np.exp(-extra))
    zero = y == 0
    f0 = (1 - p) * np.exp(-mu)
    r = np.where(zero, f0 / (p + f0), 1.0)
    ll = np.where(zero, np.log(p + f0), np.log1p(-p) + y * eta - mu - gammaln(y + 1))
    d1 = np.where(zero, -r * mu, y - mu)
    d2 = np.where(zero, -r * mu + r * (1 - r) * mu**2, -mu)
    return ll, d1, d2


def _dense_laplace(family, X, y, g, theta, beta, extra):
    L = g.max() + 1
    u = np.zeros(L)
    fixed = X @ beta
    for _ in range(100):
        ll, d1, d2 = _loglik(family, y, fixed + theta * u[g], extra)
        grad = u - theta * np.bincount(g, d1, L)
        hess = 1.0 + theta**2 * np.bincount(g, -d2, L)
        step = grad / hess
        u -= step
        if np.max(np.abs(step)) < 1e-13:
            break
    ll, d1, d2 = _loglik(family, y, fixed + theta * u[g], extra)
    hess = 1.0 + theta**2 * np.bincount(g, -d2, L)
    return -ll.sum() + 0.5 * u @ u + 0.5 * np.log(hess).sum(), u


def _quadrature(family, X, y, g, theta, beta, extra):
    """-log of the marginal likelihood, one adaptive integral per level around its mode."""
    fixed = X @ beta
    _, u = _dense_laplace(family, X, y, g, theta, beta, extra)
    total = 0.0
    for lv in range(g.max() + 1):
        rows = g == lv
        peak = _loglik(family, y[rows], fixed[rows] + theta * u[lv], extra)[0].sum() - 0.5 * u[lv] ** 2

        def integrand(v, rows=rows, peak=peak):
            return np.exp(_loglik(family, y[rows], fixed[rows] + theta * v, extra)[0].sum() - 0.5 * v * v - peak)

        val, _ = integrate.quad(integrand, u[lv] - 12, u[lv] + 12, epsabs=0, epsrel=1e-12, limit=200)
        total -= peak + np.log(val / np.sqrt(2 * np.pi))
    return total


def _model(family, X, y, g):
    terms = [(np.ascontiguousarray(g, dtype=np.int64), int(g.max() + 1), np.ones((y.size, 1)), "unstructured")]
    x_zi = np.ones((y.size, 1)) if family == "zip" else None
    return _core.LaplaceModel(np.asfortranarray(X), y, terms, "poisson" if family == "zip" else "nbinom2",
                              x_zi=x_zi)


PARAMS = {"nbinom2": [0.7, 0.3, 0.45, 0.2], "zip": [0.7, 0.3, 0.45, -0.8]}


@pytest.mark.parametrize("family", ["nbinom2", "zip"])
def test_engine_equals_dense_laplace(family):
    X, y, g = _simulate(family, 5, 12, seed=1)
    model = _model(family, X, y, g)
    theta, b0, b1, extra = PARAMS[family]
    objective, u, log_det, loglik = model.evaluate(PARAMS[family])
    want, u_dense = _dense_laplace(family, X, y, g, theta, np.array([b0, b1]), extra)
    assert objective == pytest.approx(want, rel=1e-12, abs=1e-9)
    np.testing.assert_allclose(u, u_dense, atol=1e-9)
    # a warm start from other modes ends at the same objective
    model.evaluate([1.4, 0.0, 0.0, 0.0])
    assert model.evaluate(PARAMS[family], warm=True)[0] == pytest.approx(objective, abs=1e-9)


@pytest.mark.parametrize("family", ["nbinom2", "zip"])
def test_laplace_is_close_to_quadrature_and_closer_with_more_rows(family):
    """The Laplace error per level shrinks as the rows per level grow (O(1/n))."""
    errors = []
    for per_level in (6, 48):
        X, y, g = _simulate(family, 4, per_level, seed=2)
        theta, b0, b1, extra = PARAMS[family]
        laplace = _model(family, X, y, g).evaluate(PARAMS[family])[0]
        exact = _quadrature(family, X, y, g, theta, np.array([b0, b1]), extra)
        errors.append(abs(laplace - exact))
    assert errors[0] < 0.05 * 4 and errors[1] < errors[0]


def test_poisson_fit_equals_glmer():
    """With the canonical log link the observed information is the expected one: the engine's
    Laplace fit is lme4's (merx.glmer's) likelihood, optimum and standard errors."""
    X, y, g = _simulate("zip", 8, 15, seed=3)
    d = pd.DataFrame({"y": y, "x": X[:, 1], "g": [f"g{v}" for v in g]})
    tmb = merx.glmmTMB("y ~ x + (1 | g)", d, family="poisson")
    lme4 = merx.glmer("y ~ x + (1 | g)", d, family="poisson")
    assert tmb.logLik == pytest.approx(lme4.logLik, abs=1e-6)
    np.testing.assert_allclose(tmb.fixef["cond"].to_numpy(), lme4.fixef.to_numpy(), atol=1e-4)
    assert tmb.VarCorr.terms[0].stddev[0] == pytest.approx(lme4.theta.iloc[0], rel=1e-4)
    np.testing.assert_allclose(np.sqrt(np.diag(tmb.vcov["cond"])), np.sqrt(np.diag(lme4.vcov)), rtol=2e-2)


def test_indefinite_observed_information_at_zeros():
    """Zero-inflated zeros with a large μ have a negative observed information: the Newton
    steps use |w| there and still reach the modes of the dense computation."""
    X, y, g = _simulate("zip", 3, 10, seed=4)
    y[:6] = 0.0
    params = [1.0, 2.0, 0.0, 0.0]
    _, d1, d2 = _loglik("zip", y, X @ np.array(params[1:3]), params[3])
    assert np.any(d2 > 0)
    objective, u, _, _ = _model("zip", X, y, g).evaluate(params)
    want, u_dense = _dense_laplace("zip", X, y, g, params[0], np.array(params[1:3]), params[3])
    assert objective == pytest.approx(want, abs=1e-9)
    np.testing.assert_allclose(u, u_dense, atol=1e-8)
