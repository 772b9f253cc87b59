"""The core's seams used through the binding: covariance structures by name, a residual
covariance given per stratum, fixed entries of θ (what a profile needs), θ names, and the
typed fit object."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import merx
from merx._core import LinearMixedModel, MixedModelFit
from test_boundary_optimum import dense_reml


def _sleep_arrays():
    frame, _ = merx.build_problem("Reaction ~ Days + (Days | Subject)", merx.load_example("sleepstudy"))
    b = frame.blocks[0]
    return frame, np.asarray(frame.X, float), np.asarray(frame.y, float), b.codes.astype(np.int64), np.asarray(b.Z, float)


def test_compound_symmetry_fit_matches_the_dense_likelihood():
    frame, X, y, codes, Z = _sleep_arrays()
    model = LinearMixedModel(X, y, [(codes, 18, Z, "compound_symmetry")], term_names=[("Subject", ["(Intercept)", "Days"])])
    assert model.theta_names == ["Subject.(sd)", "Subject.(cor)"]
    np.testing.assert_array_equal(model.theta_lower, [0.0, -1.0])
    np.testing.assert_array_equal(model.theta_upper, [np.inf, 1.0])
    fits = [model.fit(optimizer=opt) for opt in ("bobyqa", "quasi-newton")]
    assert fits[0].objective == pytest.approx(fits[1].objective, abs=1e-7)
    tau, rho = fits[1].theta
    T = np.linalg.cholesky(tau**2 * np.array([[1.0, rho], [rho, 1.0]]))
    assert fits[1].objective == pytest.approx(dense_reml(X, y, Z, codes, T), rel=1e-10)
    # both components share one variance: a worse fit than the unstructured one
    unstructured = LinearMixedModel(X, y, [(codes, 18, Z, "unstructured")]).fit()
    assert unstructured.objective < fits[1].objective


def test_stratum_weights_equal_the_row_weights():
    frame, X, y, codes, Z = _sleep_arrays()
    strata = (np.asarray(frame.X[:, 1]) >= 5).astype(np.int64)  # days 0-4 and 5-9
    per_stratum = [1.0, 0.25]
    rows = np.array(per_stratum)[strata]
    a = LinearMixedModel(X, y, [(codes, 18, Z, "unstructured")], stratum_weights=(strata, per_stratum)).fit()
    b = LinearMixedModel(X, y, [(codes, 18, Z, "unstructured")], weights=rows).fit()
    assert a.objective == pytest.approx(b.objective, rel=1e-12)
    np.testing.assert_allclose(a.theta, b.theta, atol=1e-7)
    np.testing.assert_allclose(a.beta, b.beta, rtol=1e-8)
    assert a.wrss == pytest.approx(b.wrss, rel=1e-9)
    with pytest.raises(ValueError, match="stratum weights must be finite and positive; stratum 1 has 0"):
        LinearMixedModel(X, y, [(codes, 18, Z, "unstructured")], stratum_weights=(strata, [1.0, 0.0]))
    with pytest.raises(ValueError, match="stratum code 1 at row 5 is outside 0..1"):
        LinearMixedModel(X, y, [(codes, 18, Z, "unstructured")], stratum_weights=(strata, [1.0]))
    with pytest.raises(ValueError, match="stratum weights: 3 stratum codes for 180 observations"):
        LinearMixedModel(X, y, [(codes, 18, Z, "unstructured")], stratum_weights=(strata[:3], per_stratum))


def test_fixed_entries_of_theta_are_held():
    frame, X, y, codes, Z = _sleep_arrays()
    model = LinearMixedModel(X, y, [(codes, 18, Z, "unstructured")])
    best = model.fit()
    held = model.fit(fixed=[(1, 0.0)])  # no correlation
    assert held.theta[1] == 0.0
    assert held.objective >= best.objective - 1e-9
    # the uncorrelated model fitted directly
    diagonal = LinearMixedModel(X, y, [(codes, 18, Z, "diagonal")]).fit()
    assert held.objective == pytest.approx(diagonal.objective, abs=1e-7)
    # held at the optimum's own value: the same optimum
    again = model.fit(fixed=[(0, float(best.theta[0]))])
    assert again.objective == pytest.approx(best.objective, abs=1e-8)
    with pytest.raises(ValueError, match="cannot be fixed at -1: it must lie in"):
        model.fit(fixed=[(0, -1.0)])
    with pytest.raises(ValueError, match="no covariance parameter 7"):
        model.fit(fixed=[(7, 1.0)])
    with pytest.raises(ValueError, match="all are fixed"):
        model.fit(fixed=[(0, 1.0), (1, 0.0), (2, 1.0)])


def test_typed_fit_round_trips_and_names_theta():
    frame, X, y, codes, Z = _sleep_arrays()
    model = LinearMixedModel(X, y, [(codes, 18, Z, "unstructured")], term_names=[("Subject", ["(Intercept)", "Days"])])
    assert model.theta_names == ["Subject.(Intercept)", "Subject.Days.(Intercept)", "Subject.Days"]
    fit = model.fit()
    assert isinstance(fit, MixedModelFit) and fit.reml is True
    back = pickle.loads(pickle.dumps(fit))
    for name in ("objective", "sigma", "reml", "n_eval", "optimizer", "message", "converged", "ldL2", "pwrss"):
        assert getattr(back, name) == getattr(fit, name)
    for name in ("theta", "beta", "u", "vcov_beta", "fitted"):
        np.testing.assert_array_equal(getattr(back, name), getattr(fit, name))
    np.testing.assert_array_equal(back.b[0], fit.b[0])
    np.testing.assert_array_equal(back.condvar[0], fit.condvar[0])
    assert fit.b[0].shape == (18, 2) and fit.condvar[0].shape == (18, 2, 2) and fit.vcov_beta.shape == (2, 2)
    at = model.estimates(list(fit.theta))
    assert (at.optimizer, at.n_eval) == ("none", 1)
    assert at.objective == pytest.approx(fit.objective, rel=1e-14)
