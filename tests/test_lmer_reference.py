"""merx.lmer reproduces every linear mixed model in tests/reference (lme4 1.1-31 fits)."""

import math
import pickle

import numpy as np
import pandas as pd
import pytest

import merx
from refutil import ref_data, refs_of_kind

LMER_REFS = refs_of_kind("lmer")

# merx reaches an objective at least as low as lme4's on every reference (asserted in
# test_objective_not_worse_than_lme4 and, at lme4's own θ, in test_lmer_printing.py).
_fit_cache: dict = {}


def fit_of(ref):
    key = ref["id"]
    if key not in _fit_cache:
        data = ref_data(ref["dataset"])
        _fit_cache[key] = merx.lmer(ref["formula"], data, REML=bool(ref["call"]["REML"]), data_name="dat")
    return _fit_cache[key]


def objective_of(ref):
    return ref["REMLcrit"] if ref["call"]["REML"] else ref["deviance"]


def assert_within(got, want, tol, what):
    """|got - want| <= tol elementwise (tol may be an array), with a readable message."""
    got, want = np.asarray(got, float), np.asarray(want, float)
    bad = np.abs(got - want) > tol
    assert not bad.any(), f"{what}: got {got[bad]}, lme4 {want[bad]}, tolerance {np.broadcast_to(tol, got.shape)[bad]}"


def test_reference_set_is_complete():
    assert len(LMER_REFS) >= 15


@pytest.mark.parametrize("ref", LMER_REFS)
def test_objective_not_worse_than_lme4(ref):
    m = fit_of(ref)
    # logLik not worse than R's by more than 1e-3 (objective = -2 logLik).
    assert m.objective <= objective_of(ref) + 2e-3
    assert m.logLik >= ref["logLik"] - 1e-3


@pytest.mark.parametrize("ref", LMER_REFS)
def test_theta_sigma_fixef(ref):
    m = fit_of(ref)
    theta = m.theta
    assert list(theta.index) == list(ref["theta"].keys())
    ref_theta = np.array(list(ref["theta"].values()))
    assert_within(theta.values, ref_theta, 2e-3 * np.maximum(1.0, np.abs(ref_theta)), "theta")
    assert m.sigma == pytest.approx(ref["sigma"], rel=1e-3)
    fe = m.fixef
    assert list(fe.index) == list(ref["fixef"].keys())
    se = np.array(list(ref["se"].values()))
    assert_within(fe.values, list(ref["fixef"].values()), 2e-3 * se, "fixef")
    my_se = np.sqrt(np.diag(m.vcov.values))
    np.testing.assert_allclose(my_se, se, rtol=2e-3)


@pytest.mark.parametrize("ref", LMER_REFS)
def test_information_criteria_and_singularity(ref):
    m = fit_of(ref)
    assert m.AIC == pytest.approx(ref["AIC"], abs=2e-3)
    assert m.BIC == pytest.approx(ref["BIC"], abs=2e-3)
    assert m.df == ref["logLik_df"]
    assert m.nobs == ref["nobs"]
    assert m.df_residual == ref["df_residual"]
    assert m.ngrps == ref["ngrps"]
    assert m.is_singular == ref["isSingular"]
    if ref["call"]["REML"]:
        assert m.REMLcrit == pytest.approx(ref["REMLcrit"], abs=2e-3)
        # The ML deviance is not stationary at the REML optimum, so it moves at first order
        # with the ~1e-5 difference between lme4's θ and merx's (the REML criterion, which
        # is stationary there, agrees to 2e-3 above).
        assert m.deviance == pytest.approx(ref["deviance_ML_at_REML_estimates"], abs=2e-2)
    else:
        assert m.deviance == pytest.approx(ref["deviance"], abs=2e-3)


@pytest.mark.parametrize("ref", LMER_REFS)
def test_varcorr(ref):
    m = fit_of(ref)
    vc = m.VarCorr.to_frame()
    want = pd.DataFrame(ref["varcorr"])
    assert list(vc["grp"]) == list(want["grp"])
    assert [None if pd.isna(v) else v for v in vc["var1"]] == [None if pd.isna(v) else v for v in want["var1"]]
    assert [None if pd.isna(v) else v for v in vc["var2"]] == [None if pd.isna(v) else v for v in want["var2"]]
    # variances relative 2e-3 of the largest variance component of the fit; correlations absolute
    scale = want["vcov"].abs().max()
    np.testing.assert_allclose(vc["vcov"].values, want["vcov"].values, rtol=0, atol=2e-3 * scale)
    is_cor = want["var2"].notna().values
    np.testing.assert_allclose(vc["sdcor"].values[is_cor], want["sdcor"].values[is_cor], atol=5e-3)


@pytest.mark.parametrize("ref", LMER_REFS)
def test_ranef_and_condsd(ref):
    m = fit_of(ref)
    re = m.ranef()
    for grp, r in ref["ranef"].items():
        got = re[grp]
        assert [str(v) for v in got.index] == r["levels"]
        assert list(got.columns) == r["columns"]
        want = pd.DataFrame(r["values"]).T.loc[r["levels"], r["columns"]]
        scale = float(max(want.abs().values.max(), 1e-8))
        np.testing.assert_allclose(got.values, want.values, rtol=0, atol=3e-3 * scale)
        want_sd = pd.DataFrame(r["condsd"]).T.loc[r["levels"], r["columns"]]
        got_sd = re.condsd[grp]
        np.testing.assert_allclose(got_sd.values, want_sd.values, rtol=3e-3, atol=1e-8)


@pytest.mark.parametrize("ref", LMER_REFS)
def test_fitted_residuals_predict(ref):
    m = fit_of(ref)
    k = len(ref["fitted"])
    tol = 2e-3 * ref["sigma"]
    np.testing.assert_allclose(m.fitted.iloc[:k], ref["fitted"], rtol=0, atol=tol)
    np.testing.assert_allclose(m.residuals().iloc[:k], ref["residuals"], rtol=0, atol=tol)
    np.testing.assert_allclose(m.residuals(type="pearson").iloc[:k], ref["residuals_pearson"], rtol=0, atol=tol)
    p5 = ref["predict_first5"]
    data = ref_data(ref["dataset"]).iloc[p5["rows0"]]
    np.testing.assert_allclose(m.predict(data), p5["re_form_NULL"], rtol=0, atol=tol)
    np.testing.assert_allclose(m.predict(data, re_form=np.nan), p5["re_form_NA"], rtol=0, atol=tol)
    np.testing.assert_allclose(m.predict(re_form="~0").iloc[:5], p5["re_form_NA"], rtol=0, atol=tol)


@pytest.mark.parametrize("ref", LMER_REFS[:3])
def test_result_pickles(ref):
    m = fit_of(ref)
    m2 = pickle.loads(pickle.dumps(m))
    assert str(m2.summary()) == str(m.summary())
    np.testing.assert_array_equal(m2.fitted, m.fitted)


@pytest.mark.parametrize("ref", LMER_REFS)
def test_quasi_newton_reaches_the_bobyqa_optimum(ref):
    """The analytic-gradient optimizer finds the same optimum as BOBYQA."""
    data = ref_data(ref["dataset"])
    qn = merx.lmer(ref["formula"], data, REML=bool(ref["call"]["REML"]), optimizer="quasi-newton")
    bq = merx.lmer(ref["formula"], data, REML=bool(ref["call"]["REML"]), optimizer="bobyqa")
    assert bq.optinfo["optimizer"] == "bobyqa"
    assert qn.optinfo["optimizer"] == "quasi-newton"
    assert qn.objective <= bq.objective + 1e-7 * max(1.0, abs(bq.objective))
    assert_within(qn.theta.values, bq.theta.values, 1e-4 * np.maximum(1.0, np.abs(bq.theta.values)), "theta")


def test_unknown_optimizer_is_refused():
    with pytest.raises(merx.MerxError, match="unknown optimizer"):
        merx.lmer("Reaction ~ Days + (1 | Subject)", ref_data("sleepstudy"), optimizer="newton")


def test_conditional_variances_are_computed_on_first_use_and_survive_pickling():
    """lmer leaves the conditional variances out of the fit (for a large crossed design they
    cost more than the fit) and the result computes them on first use: equal to the core's
    eager ones at the same θ, also from a pickled result (which rebuilds its core model)."""
    import pickle

    from merx.models.lmer import build_problem

    sleep = merx.load_example("sleepstudy")
    formula = "Reaction ~ Days + (Days | Subject)"
    m = merx.lmer(formula, sleep)
    assert len(m.fit.condvar) == 0
    _, problem = build_problem(formula, sleep)
    eager = problem.estimates([float(t) for t in m.theta], condvar=True).condvar
    lazy = m._conditional_variances()
    assert len(lazy) == 1 and lazy[0].shape == (18, 2, 2)
    np.testing.assert_allclose(lazy[0], eager[0], rtol=1e-13, atol=0)
    assert m._conditional_variances() is lazy  # once
    restored = pickle.loads(pickle.dumps(merx.lmer(formula, sleep)))
    np.testing.assert_allclose(restored.ranef().condsd["Subject"].to_numpy(),
                               m.ranef().condsd["Subject"].to_numpy(), rtol=1e-13)
