"""Numerical robustness of the fit beyond the reference datasets."""

import numpy as np
import pytest

import merx


@pytest.mark.parametrize("shift", [1e4, 1e8, 1e10])
def test_response_with_a_large_mean_loses_no_precision(shift):
    """The profiled likelihood is invariant to adding a constant to the response (the
    intercept absorbs it); a large mean must not cancel the digits of the residual sum of
    squares (the core fits the response net of its least-squares fit on X)."""
    data = merx.load_example("sleepstudy")
    base = merx.lmer("Reaction ~ Days + (Days | Subject)", data)
    shifted = data.copy()
    shifted["Reaction"] = shifted["Reaction"] + shift
    m = merx.lmer("Reaction ~ Days + (Days | Subject)", shifted)
    assert m.objective == pytest.approx(base.objective, abs=1e-6)
    np.testing.assert_allclose(m.theta.values, base.theta.values, rtol=0, atol=1e-7)
    np.testing.assert_allclose(m.fixef.values - [shift, 0.0], base.fixef.values, rtol=0, atol=1e-6)
    np.testing.assert_allclose(m.fitted - shift, base.fitted, rtol=0, atol=1e-5)


def test_set_response_refits_without_a_new_analysis():
    """A new response on the same design (parametric bootstrap) reuses the problem."""
    data = merx.load_example("sleepstudy")
    frame, problem = merx.build_problem("Reaction ~ Days + (Days | Subject)", data)
    rng = np.random.default_rng(7)
    y_sim = frame.y + rng.normal(scale=10.0, size=frame.y.size)
    problem.set_response(y_sim)
    refit = problem.fit()
    fresh_data = data.copy()
    fresh_data["Reaction"] = y_sim
    _, fresh = merx.build_problem("Reaction ~ Days + (Days | Subject)", fresh_data)
    want = fresh.fit()
    assert refit.objective == pytest.approx(want.objective, abs=1e-9)
    np.testing.assert_allclose(refit.theta, want.theta, atol=1e-8)
    np.testing.assert_allclose(refit.beta, want.beta, atol=1e-8)
    np.testing.assert_allclose(refit.fitted, want.fitted, atol=1e-8)
    with pytest.raises(ValueError, match="length 3 but the model has 180 rows"):
        problem.set_response(np.ones(3))
    with pytest.raises(ValueError, match="non-finite value at row 0"):
        problem.set_response(np.full(180, np.nan))
    # the failed calls left the problem as it was
    assert problem.fit().objective == pytest.approx(want.objective, abs=1e-9)


def test_response_with_an_enormous_mean_is_still_fitted():
    """The exact-fit check works at rounding level, so a 1e12 mean is not mistaken for one."""
    data = merx.load_example("sleepstudy")
    base = merx.lmer("Reaction ~ Days + (1 | Subject)", data)
    shifted = data.copy()
    shifted["Reaction"] = shifted["Reaction"] + 1e12
    m = merx.lmer("Reaction ~ Days + (1 | Subject)", shifted)
    assert m.theta.values == pytest.approx(base.theta.values, abs=1e-4)


def test_more_levels_than_observations_is_refused_by_the_core():
    from merx._core import LinearMixedModel

    n = 10
    with pytest.raises(ValueError, match="declares 1000000000 levels for 10 observations"):
        LinearMixedModel(np.ones((n, 1)), np.arange(n, dtype=float),
                   [(np.zeros(n, dtype=np.int64), 10**9, np.ones((n, 1)), "unstructured")])


@pytest.mark.parametrize("formula", ["Reaction ~ x + (1 | Subject)", "Reaction ~ x + (Days | Subject)"])
def test_columns_with_large_means_give_the_centred_fit(formula):
    """X's columns enter centred when there is an intercept (mapped back exactly): x near
    10⁶ gives the slope and the standard errors of the fit on x - 10⁶ to 1e-9 relative
    (X'X - R_ZX'R_ZX lost about twelve digits before)."""
    data = merx.load_example("sleepstudy")
    rng = np.random.default_rng(3)
    data["z"] = data["Days"] + rng.normal(scale=0.5, size=len(data))
    centred = data.assign(x=data["z"])
    shifted = data.assign(x=data["z"] + 1e6)
    a = merx.lmer(formula, centred, optimizer="bobyqa")
    b = merx.lmer(formula, shifted, optimizer="bobyqa")
    # the same θ (the likelihood is invariant), so compare the estimates at one θ as well
    b_at_a = merx.lmer(formula, shifted, start=a.theta.values, optimize=False)
    for m in (b, b_at_a):
        assert m.objective == pytest.approx(a.objective, rel=1e-12)
    se = lambda m: np.sqrt(np.diag(m.vcov.values))
    assert b_at_a.fixef["x"] == pytest.approx(a.fixef["x"], rel=1e-9)
    assert se(b_at_a)[1] == pytest.approx(se(a)[1], rel=1e-9)
    # the intercept maps back: β₀ = β₀(centred) - 10⁶ β₁, with its variance through the map
    assert b_at_a.fixef["(Intercept)"] == pytest.approx(a.fixef["(Intercept)"] - 1e6 * a.fixef["x"], rel=1e-9)
    V = a.vcov.values
    var0 = V[0, 0] - 2e6 * V[0, 1] + 1e12 * V[1, 1]
    assert se(b_at_a)[0] ** 2 == pytest.approx(var0, rel=1e-9)
    np.testing.assert_allclose(b_at_a.fitted, a.fitted, rtol=1e-9)
    # after optimizing separately, to the optimizer's tolerance
    assert b.fixef["x"] == pytest.approx(a.fixef["x"], rel=1e-6)
    assert se(b)[1] == pytest.approx(se(a)[1], rel=1e-6)
