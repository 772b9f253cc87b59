"""merx.glmmTMB with glmmTMB's covariance structures (ar1, cs, diag) against glmmTMB 1.1.5:
../shared/reference's gpa ar1 fits and tests/reference/glmmtmb_covariance_structures.json,
through the public interface (the Gaussian LMM on the LMM core, then glmmTMB's quantities)."""

import numpy as np
import pytest

import merx
from refutil import load_ref, ref_data

STRUCTURE_FITS = load_ref("glmmtmb_covariance_structures")["fits"]


def reference_cases():
    cases = []
    for name in ("gpa_glmmtmb_ar1", "gpa_glmmtmb_ar1_only"):
        ref = load_ref(name)
        vc = [{"group": g, "stddev": v["stddev"], "correlation": v.get("correlation")}
              for g, v in ref["varcorr"]["cond"].items()]
        cases.append((name, "gpa", "gaussian", ref["formula"], ref["fixef"]["cond"], ref["se"]["cond"], ref["sigma"],
                      vc, ref["logLik"], ref["AIC"]))
    for f in STRUCTURE_FITS:
        # gpa_cs_boundary: glmmTMB stops with false convergence at ρ ≈ 1 - 7e-9, merx at the
        # bound ρ = 1 (1.9e-6 lower logLik): both within the tolerances below
        vc = [{"group": v["group"], "stddev": v["stddev"], "correlation": v.get("correlation")} for v in f["varcorr"]]
        cases.append((f["id"], f["dataset"], f["family"], f["formula"], f["fixef"], f["se"], f["sigma"] or None, vc,
                      f["logLik"], f["AIC"]))
    return cases


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c[0])
def test_structures_through_glmmtmb(case):
    _, dataset, family, formula, fixef, se, sigma, varcorr, loglik, aic = case
    data = ref_data(dataset)
    if formula.startswith("high ~"):  # make_glmmtmb_covariance.R's binary response
        data = data.assign(high=(data["gpa"] > 3).astype(float))
    m = merx.glmmTMB(formula, data, family=family)
    cond = m.fixef["cond"]
    want = np.array([fixef[n] for n in cond.index])
    want_se = np.array([se[n] for n in cond.index])
    assert np.all(np.abs(cond.to_numpy() - want) <= 2e-3 * want_se)
    got_se = np.sqrt(np.diag(m.vcov["cond"].to_numpy()))
    np.testing.assert_allclose(got_se, want_se, rtol=1e-3)
    if sigma is not None:  # R's NULL for the binomial family
        assert m.sigma == pytest.approx(sigma, rel=1e-3)
    assert m.logLik >= loglik - 1e-3
    assert m.AIC == pytest.approx(aic, abs=2e-3)
    terms = m.VarCorr.terms
    assert len(terms) == len(varcorr)
    for t, v in zip(terms, varcorr):
        np.testing.assert_allclose(t.stddev, v["stddev"], rtol=1e-3, atol=1e-4)  # an SD near 0: 1e-4 absolute
        if v["correlation"] is not None and len(t.columns) > 1:
            np.testing.assert_allclose(t.correlation, v["correlation"], rtol=1e-3, atol=1e-4)


def test_ar1_same_fit_as_the_structured_lmm():
    ref = load_ref("gpa_glmmtmb_ar1")
    m = merx.glmmTMB(ref["formula"], ref_data("gpa"))
    lmm = merx.models.lmer.fit_structured_lmm(ref["formula"], ref_data("gpa"), REML=False)
    assert m.logLik == pytest.approx(lmm.logLik, abs=1e-9)
    np.testing.assert_allclose(m.fixef["cond"].to_numpy(), lmm.fixef.to_numpy(), rtol=1e-9)
    assert m.VarCorr.terms[0].common_correlation == pytest.approx(lmm.VarCorr.terms[0].common_correlation, rel=1e-9)
    assert "0.84 (ar1)" in str(m.summary())
