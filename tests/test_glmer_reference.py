"""merx.glmer reproduces the Laplace GLMMs in tests/reference (lme4 1.1-31 fits):
cbpp (binomial, cbind response), grouseticks (Poisson, three crossed and nested terms with
an observation-level effect) and speed_dating (binary, a two-level factor response)."""

import pickle

import numpy as np
import pandas as pd
import pytest

import merx
from refutil import ref_data, refs_of_kind

GLMER_REFS = [r for r in refs_of_kind("glmer") if r.values[0]["call"]["nAGQ"] == 1]
_fits: dict = {}


def fit_of(ref):
    if ref["id"] not in _fits:
        _fits[ref["id"]] = merx.glmer(ref["formula"], ref_data(ref["dataset"]), family=ref["call"]["family"])
    return _fits[ref["id"]]


def _values(d):
    return np.array(list(d.values()), dtype=float)


def test_reference_set():
    assert {r.values[0]["id"] for r in GLMER_REFS} >= {"cbpp_laplace", "grouseticks_poisson", "speed_dating_logit"}


@pytest.mark.parametrize("ref", GLMER_REFS)
def test_optimum_theta_fixef(ref):
    m = fit_of(ref)
    # merx's Laplace optimum is at least as good as lme4's (cbpp: 2.8e-4 better in logLik,
    # the part of lme4's log|L|² evaluated one PIRLS step short of its modes).
    assert m.logLik >= ref["logLik"] - 1e-3
    assert list(m.theta.index) == list(ref["theta"])
    want = _values(ref["theta"])
    assert np.all(np.abs(m.theta.values - want) <= 2e-3 * np.maximum(1, np.abs(want))), (m.theta.values, want)
    assert list(m.fixef.index) == list(ref["fixef"])
    se = _values(ref["se"])
    assert np.all(np.abs(m.fixef.values - _values(ref["fixef"])) <= 2e-3 * se)
    assert m.sigma == 1.0 and m.converged


@pytest.mark.parametrize("ref", GLMER_REFS)
def test_standard_errors_are_lme4s_hessian_based_ones(ref):
    """vcov is twice the inverse Hessian of lme4's deviance function in (θ, β), as lme4's
    default. lme4 evaluates log|L|² one PIRLS step short of the modes, and on cbpp that
    moves its SEs 0.5-1.3% from those of the exact Laplace Hessian; merx's vcov takes the
    Hessian of the same evaluation (``rust/src/pirls_lme4.rs``)."""
    m = fit_of(ref)
    np.testing.assert_allclose(np.sqrt(np.diag(m.vcov.values)), _values(ref["se"]), rtol=2e-3)


@pytest.mark.parametrize("ref", GLMER_REFS)
def test_likelihood_summaries(ref):
    m = fit_of(ref)
    assert m.nobs == ref["nobs"]
    assert m.ngrps == ref["ngrps"]
    assert m.df == ref["logLik_df"]
    assert m.df_residual == ref["df_residual"]
    assert m.AIC == pytest.approx(ref["AIC"], abs=2e-3)
    assert m.BIC == pytest.approx(ref["BIC"], abs=2e-3)
    # lme4's deviance() of a GLMM: Σ squared deviance residuals at the modes
    assert m.deviance == pytest.approx(ref["deviance"], rel=1e-4)
    assert m.objective == pytest.approx(ref["neg2logLik"], abs=2e-3)


@pytest.mark.parametrize("ref", GLMER_REFS)
def test_modes_fitted_residuals_predictions(ref):
    m = fit_of(ref)
    re = m.ranef()
    for grp, r in ref["ranef"].items():
        want = pd.DataFrame(r["values"]).T.loc[r["levels"], r["columns"]]
        scale = float(want.abs().values.max())
        np.testing.assert_allclose(re[grp].values, want.values, rtol=0, atol=3e-3 * scale)
        want_sd = pd.DataFrame(r["condsd"]).T.loc[r["levels"], r["columns"]]
        np.testing.assert_allclose(re.condsd[grp].values, want_sd.values, rtol=3e-3)
    k = len(ref["fitted"])
    np.testing.assert_allclose(m.fitted.iloc[:k], ref["fitted"], rtol=0, atol=2e-3 * np.max(np.abs(ref["fitted"])))
    np.testing.assert_allclose(m.linear_predictor.iloc[:k], ref["fitted_link"], rtol=0, atol=2e-3)
    for kind in ("deviance", "pearson", "response"):
        got = m.residuals() if kind == "deviance" else m.residuals(kind)
        np.testing.assert_allclose(got.iloc[:k], ref[f"residuals_{kind}"], rtol=0, atol=2e-3)
    p5 = ref["predict_first5"]
    data = ref_data(ref["dataset"]).iloc[p5["rows0"]]
    np.testing.assert_allclose(m.predict(data), p5["re_form_NULL"], rtol=0, atol=2e-3)
    np.testing.assert_allclose(m.predict(data, re_form=np.nan), p5["re_form_NA"], rtol=0, atol=2e-3)
    np.testing.assert_allclose(m.predict(data, type="response"), p5["response_re_form_NULL"], rtol=0, atol=2e-3)
    np.testing.assert_allclose(m.predict(re_form="~0", type="response").iloc[:5], p5["response_re_form_NA"], rtol=0, atol=2e-3)
    back = pickle.loads(pickle.dumps(m))
    np.testing.assert_array_equal(back.fitted, m.fitted)


def test_binomial_response_forms_give_one_fit():
    """cbind(s, f), proportions with trials as weights and the expanded 0/1 rows."""
    d = ref_data("cbpp")
    a = merx.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", d, family="binomial")
    d = d.assign(prop=d["incidence"] / d["size"])
    b = merx.glmer("prop ~ period + (1 | herd)", d, family=merx.families.Binomial(), weights="size")
    rows = []
    for _, r in d.iterrows():
        rows += [{"herd": r["herd"], "period": r["period"], "y": 1}] * int(r["incidence"])
        rows += [{"herd": r["herd"], "period": r["period"], "y": 0}] * int(r["size"] - r["incidence"])
    long = pd.DataFrame(rows).astype({"herd": d["herd"].dtype, "period": d["period"].dtype})
    c = merx.glmer("y ~ period + (1 | herd)", long, family="binomial")
    for other in (b, c):
        np.testing.assert_allclose(other.fixef.values, a.fixef.values, atol=1e-5)
        np.testing.assert_allclose(other.theta.values, a.theta.values, atol=1e-5)
    assert b.logLik == pytest.approx(a.logLik, abs=1e-8)
    # the expanded rows' likelihood lacks the binomial coefficients (R's too)
    assert c.logLik < a.logLik


def test_fast_mode_is_lme4s_nagq0():
    """nAGQ = 0 minimises the deviance with β from PIRLS at each θ: its θ is a minimum of
    the core's nAGQ = 0 deviance, which lies above the full Laplace optimum."""
    from merx import _core
    from merx.formula.model_formula import parse_formula
    from merx.frame.model_frame import build_model_frame
    from merx.models.fitting import core_terms

    formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    d = ref_data("cbpp")
    fast = merx.glmer(formula, d, family="binomial", nAGQ=0)
    full = fit_of(next(r.values[0] for r in GLMER_REFS if r.values[0]["id"] == "cbpp_laplace"))
    assert fast.objective >= full.objective - 1e-9
    frame = build_model_frame(parse_formula(formula), d, family="binomial")
    terms, _ = core_terms(frame)
    core = _core.GeneralizedLinearMixedModel(np.asarray(frame.X, float), np.asarray(frame.y, float), terms,
                                             "binomial", weights=np.asarray(frame.weights, float))
    th = float(fast.theta.values[0])
    at = core.deviance([th])
    assert at == pytest.approx(fast.objective, abs=1e-8)
    for step in (-1e-2, -1e-3, 1e-3, 1e-2):
        assert core.deviance([th + step]) >= at - 1e-9


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"family": "binomial", "nAGQ": -1}, "nAGQ must be an integer from 0 to 100"),
        ({"family": "binomial", "nAGQ": 2.5}, "nAGQ must be an integer"),
        ({"family": "quasipoisson"}, "quasi-likelihood family, which glmer does not fit"),
        ({"family": "binomal"}, "binomal"),
        ({"family": "poisson"}, "factor"),
    ],
)
def test_bad_input(kwargs, message):
    d = ref_data("speed_dating")
    with pytest.raises(merx.MerxError, match=message):
        merx.glmer("decision ~ sex + (1 | iid)", d, **kwargs)


def test_adaptive_gauss_hermite_quadrature_matches_lme4():
    """cbpp with 25 nodes: lme4's AGQ deviance (without the family's constants: logLik
    -50.01 against -92.03 by Laplace), its estimates and its Hessian-based SEs."""
    from refutil import load_ref

    ref = load_ref("cbpp_agq25")
    m = merx.glmer(ref["formula"], ref_data("cbpp"), family="binomial", nAGQ=25)
    assert m.logLik >= ref["logLik"] - 1e-3
    assert m.logLik == pytest.approx(ref["logLik"], abs=1e-6)
    se = _values(ref["se"])
    assert np.all(np.abs(m.fixef.values - _values(ref["fixef"])) <= 2e-3 * se)
    assert m.theta.values[0] == pytest.approx(_values(ref["theta"])[0], abs=2e-3)
    np.testing.assert_allclose(np.sqrt(np.diag(m.vcov.values)), se, rtol=2e-3)
    assert m.deviance == pytest.approx(ref["deviance"], rel=1e-4)
    assert "25-node adaptive Gauss-Hermite" in m.optinfo["optimizer"]


def test_quadrature_needs_one_scalar_term():
    d = ref_data("grouseticks")
    with pytest.raises(merx.MerxError, match="single scalar random-effects term"):
        merx.glmer("TICKS ~ YEAR + (1 | BROOD) + (1 | LOCATION)", d, family="poisson", nAGQ=9)


def test_separation_is_named():
    rng = np.random.default_rng(0)
    n = 200
    x = rng.normal(size=n)
    d = pd.DataFrame({"y": (x > 0).astype(float), "x": x, "g": pd.Categorical(np.repeat(np.arange(20), 10))})
    with pytest.warns(UserWarning, match=r"fitted probabilities numerically 0 or 1 occurred.*estimates of .*\bx diverge"):
        m = merx.glmer("y ~ x + (1 | g)", d, family="binomial")
    assert not m.converged


def test_max_fun_cut_short_warns():
    with pytest.warns(UserWarning, match="did not converge: the (max_fun )?evaluation budget was exhausted"):
        m = merx.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", merx.load_example("cbpp"),
                       family="binomial", max_fun=4)
    assert not m.converged
