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
