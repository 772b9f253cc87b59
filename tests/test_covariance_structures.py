"""glmmTMB's covariance structures (``ar1()``, ``cs()``, ``diag()``, ``us()``) fitted as Gaussian
ML linear mixed models (``merx.models.lmer.fit_structured_lmm``) against glmmTMB 1.1.5:
``gpa_glmmtmb_ar1*.json`` (the course's AR(1) models) and
``glmmtmb_covariance_structures.json`` (``make_glmmtmb_covariance.R``: diag() and cs() fits)."""

import json
import os

import numpy as np
import pytest
from refutil import REF_DIR, load_ref, ref_data

from merx.models.lmer import fit_structured_lmm

with open(os.path.join(REF_DIR, "glmmtmb_covariance_structures.json")) as fh:
    ALL_FITS = json.load(fh)["fits"]
STRUCTURE_FITS = [f for f in ALL_FITS if f["family"] == "gaussian"]
BINARY_AR1 = next(f for f in ALL_FITS if f["id"] == "gpa_binary_ar1")


def check_against_glmmtmb(m, fixef, se, sigma, varcorr, loglik, df, aic):
    """fixef within 2e-3 SE, σ within 1e-3 relative, each SD and correlation within 1e-3
    relative (1e-4 absolute for an SD near 0), logLik not worse than glmmTMB's by 1e-3."""
    for name, want in fixef.items():
        assert abs(m.fixef[name] - want) <= 2e-3 * se[name], name
    assert m.sigma == pytest.approx(sigma, rel=1e-3)
    terms = m.VarCorr.terms
    assert [t.name for t in terms] == [v["group"] for v in varcorr]
    for t, v in zip(terms, varcorr):
        assert list(t.columns) == v["columns"]
        want_sd = np.asarray(v["stddev"], dtype=float)
        assert np.all(np.abs(t.stddev - want_sd) <= np.maximum(1e-3 * want_sd, 1e-4 * (want_sd < 1e-3))), t.name
        k = len(t.columns)
        if k > 1:
            want_cor = np.asarray(v["correlation"], dtype=float)
            np.testing.assert_allclose(t.correlation, want_cor, rtol=1e-3, atol=1e-12)
    assert m.logLik >= loglik - 1e-3
    assert m.df == df
    assert m.AIC == pytest.approx(-2 * m.logLik + 2 * df, rel=1e-12)
    assert m.AIC <= aic + 2e-3


def gpa_varcorr(ref):
    out = []
    for group, v in ref["varcorr"]["cond"].items():
        k = len(v["columns"])
        out.append({"group": group, "columns": v["columns"], "stddev": v["stddev"],
                    "correlation": v.get("correlation", np.eye(k).tolist())})
    return out


@pytest.mark.parametrize("name", ["gpa_glmmtmb_ar1", "gpa_glmmtmb_ar1_only"])
def test_ar1_against_glmmtmb(name):
    ref = load_ref(name)
    m = fit_structured_lmm(ref["formula"], ref_data("gpa"), REML=False)
    assert m.fit.converged
    check_against_glmmtmb(m, ref["fixef"]["cond"], ref["se"]["cond"], ref["sigma"], gpa_varcorr(ref),
                          ref["logLik"], ref["logLik_df"], ref["AIC"])
    ar1 = m.VarCorr.terms[0]
    assert ar1.covariance == "ar1"
    sd = ar1.stddev
    np.testing.assert_allclose(sd, sd[0], rtol=1e-13)  # one SD for every level, as glmmTMB prints it
    phi = ar1.common_correlation
    assert phi == pytest.approx(ref["varcorr"]["cond"]["student"]["rho_1_2"], rel=1e-3)
    lags = np.array([[phi ** abs(i - j) for j in range(6)] for i in range(6)])
    np.testing.assert_allclose(ar1.correlation, lags, rtol=1e-12)
    # the fixed effects' standard errors as glmmTMB's within 1e-3 relative
    se = np.sqrt(np.diag(m.vcov.to_numpy()))
    np.testing.assert_allclose(se, [ref["se"]["cond"][n] for n in m.fixef.index], rtol=1e-3)
    assert m.isSingular() == (name == "gpa_glmmtmb_ar1")


def test_ar1_with_a_second_term_on_the_same_factor():
    ref = load_ref("gpa_glmmtmb_ar1")
    m = fit_structured_lmm(ref["formula"], ref_data("gpa"), REML=False)
    assert [b.covariance for b in m.frame.blocks] == ["ar1", "unstructured"]
    assert list(m.theta.index) == ["student.(sd)", "student.(asin_phi)", "student.(Intercept)"]
    assert list(m.theta_lower) == [0.0, -np.pi / 2, 0.0]
    assert m.isSingular()  # the (1 | student) SD is 0 (glmmTMB: 1.7e-5)
    assert list(m.VarCorr.keys()) == ["student", "student.1"]
    first, second = "occasyear 1 semester 1", "occasyear 1 semester 2"
    assert list(m.confint(method="Wald").index) == [
        f"sd_{first}|student", f"cor_{second}.{first}|student", "sd_(Intercept)|student", "sigma",
        "(Intercept)", "occasion"]
    lines = str(m.VarCorr).splitlines()
    assert lines[1].split()[:2] == ["student", "occasyear"] and lines[1].rstrip().endswith("0.844 (ar1)")
    assert lines[2].split()[:2] == ["student.1", "(Intercept)"]
    # ranef: the ar1 block's columns and the intercept block's, each student's modes as glmmTMB's
    re = m.ranef()["student"]
    assert list(re.columns) == ref["ranef"]["cond|student"]["columns"]
    want = ref["ranef"]["cond|student"]["values"]
    got = re.loc["1"].to_numpy()
    np.testing.assert_allclose(got[:6], [want["1"][c] for c in re.columns[:6]], rtol=2e-3)
    assert abs(got[6]) < 1e-4
    # predictions with the random effects (re.form = NULL) and without (NA), as glmmTMB's
    rows = ref_data("gpa").iloc[ref["predict_first5"]["rows0"]]
    np.testing.assert_allclose(np.asarray(m.predict(rows)), ref["predict_first5"]["link_re_form_NULL"], rtol=1e-5)
    np.testing.assert_allclose(np.asarray(m.predict(rows, re_form="NA")),
                               ref["predict_first5"]["link_re_form_NA"], rtol=1e-6)


@pytest.mark.parametrize("fit", STRUCTURE_FITS, ids=[f["id"] for f in STRUCTURE_FITS])
def test_diag_and_cs_against_glmmtmb(fit):
    m = fit_structured_lmm(fit["formula"], ref_data(fit["dataset"]), REML=False)
    assert m.fit.converged
    check_against_glmmtmb(m, fit["fixef"], fit["se"], fit["sigma"], fit["varcorr"], fit["logLik"],
                          fit["logLik_df"], fit["AIC"])
    t = m.VarCorr.terms[0]
    k = len(t.columns)
    if fit["varcorr"][0]["blockCode"] == "diag":
        assert t.covariance == "diagonal"
        np.testing.assert_array_equal(t.correlation, np.eye(k))
        assert m.VarCorr.to_frame()["var2"].isna().all()  # SDs only, no correlation rows
        assert list(m.theta.index) == [f"{t.name}.{c}" for c in t.columns]
    else:
        assert t.covariance == "heterogeneous_compound_symmetry"
        rho = t.common_correlation
        assert rho == pytest.approx(fit["varcorr"][0]["correlation"][0][1], rel=1e-3)
        off = t.correlation[~np.eye(k, dtype=bool)]
        np.testing.assert_allclose(off, rho, rtol=1e-12)
        assert list(m.theta.index) == [f"{t.name}.{c}" for c in t.columns] + [f"{t.name}.(rho_angle)"]
        names = list(m.confint(method="Wald").index)
        assert names[:k + 1] == [f"sd_{c}|{t.name}" for c in t.columns] + [
            f"cor_{t.columns[1]}.{t.columns[0]}|{t.name}"]
        assert str(m.VarCorr).splitlines()[1].rstrip().endswith(f"{rho:.3f} (cs)")
    if fit["warnings"]:  # glmmTMB's false convergence as ρ nears 1: merx reaches the bound ρ = 1
        assert fit["convergence"]["message"] == "false convergence (8)"
        assert m.VarCorr.terms[0].common_correlation == pytest.approx(1.0, abs=1e-12)
    # singular: an SD at 0 or a correlation at an end of its range (here only ρ = 1)
    assert m.isSingular() == bool(fit["warnings"])


def test_us_wrapper_is_lme4s_default_term():
    import merx

    d = ref_data("sleepstudy")
    a = fit_structured_lmm("Reaction ~ Days + us(Days | Subject)", d, REML=False)
    b = merx.lmer("Reaction ~ Days + (Days | Subject)", d, REML=False)
    assert a.logLik == pytest.approx(b.logLik, abs=1e-8)
    assert list(a.theta.index) == list(b.theta.index)
    np.testing.assert_allclose(a.theta.to_numpy(), b.theta.to_numpy(), atol=1e-5)


def test_binary_ar1_glmm_from_the_frame_against_glmmtmb():
    """Any model built from the frame gets the structures: a binomial GLMM with ar1() through
    the core's Laplace fit (glmmTMB's correlation is near 1: 0.97)."""
    from merx import _core
    from merx.families import resolve_family
    from merx.formula.model_formula import parse_formula
    from merx.frame.model_frame import build_model_frame
    from merx.models.fitting import core_terms

    d = ref_data("gpa")
    d["high"] = (d["gpa"] > 3).astype(float)
    frame = build_model_frame(parse_formula(BINARY_AR1["formula"]), d, family=resolve_family("binomial"))
    terms, names = core_terms(frame)
    assert [t[3] for t in terms] == ["ar1"]
    g = _core.GeneralizedLinearMixedModel(np.asarray(frame.X), np.ascontiguousarray(frame.y), terms, "binomial",
                                          term_names=names)
    assert g.theta_names == ["student.(sd)", "student.(asin_phi)"]
    fit = g.fit()
    assert fit.converged
    assert -fit.objective / 2 >= BINARY_AR1["logLik"] - 1e-3
    for name, b in zip(frame.x_names, fit.beta):
        assert abs(b - BINARY_AR1["fixef"][name]) <= 2e-3 * BINARY_AR1["se"][name], name
    sd, u = fit.theta
    want = BINARY_AR1["varcorr"][0]
    assert sd == pytest.approx(want["stddev"][0], rel=1e-3)
    assert np.sin(u) == pytest.approx(want["correlation"][0][1], rel=1e-3)


def test_ar1_profile_intervals_against_glmmtmb():
    """Likelihood-profile intervals are invariant under monotone maps of a parameter, so
    glmmTMB's intervals of log SD and of φ's unconstrained x give those of the SD and of φ."""
    with open(os.path.join(REF_DIR, "glmmtmb_covariance_structures.json")) as fh:
        ref = json.load(fh)["ar1_profile"]
    m = fit_structured_lmm(ref["formula"], ref_data("gpa"), REML=False)
    first, second = "occasyear 1 semester 1", "occasyear 1 semester 2"
    rows = [f"sd_{first}|student", f"cor_{second}.{first}|student"]
    ci = m.confint(parm=rows, method="profile", level=ref["level"])
    np.testing.assert_allclose(ci.loc[rows[0]].to_numpy(), ref["sd"], rtol=2e-4)
    np.testing.assert_allclose(ci.loc[rows[1]].to_numpy(), ref["phi"], rtol=2e-4)
