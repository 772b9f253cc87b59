"""m.icc() and m.r2() reproduce performance 0.10.2's icc() and r2_nakagawa() (insight 0.19's
get_variance): the shared references (tests/reference/icc_*.json: sleepstudy, Penicillin,
cbpp) and the cases of tests/reference/make_icc_cases.R (Poisson GLMMs with performance's
null-model refit, with an offset and an observation-level term; a probit GLMM; an uncorrelated
random slope; ICCs by group; a singular fit).

Linear mixed models are compared through merx's own fits, which agree with lme4's. A GLMM's
variances are compared at lme4's estimates (θ, β and the null model's intercept, kept in the
references), because merx's Laplace optima are not lme4's: on cbpp merx's fit is 2.8e-4 better
in logLik, on grouseticks' null model (TICKS ~ (1 | BROOD)) 8.5e-3 better, which moves the ICCs
by 5e-4 to 3e-3 relative. The null-model refit itself is checked against merx.glmer."""

import math
import warnings

import numpy as np
import pytest

import merx
from merx.results.theta_layout import theta_size
from merx.results.varcorr import varcorr_terms
from merx.results.variance_decomposition import (
    distribution_variance, icc_by_group_of, icc_of, nakagawa_variances, r2_of,
)
from refutil import load_ref, ref_data

RTOL = 1e-4  # the task's tolerance for merx's own fits of the linear mixed models
RTOL_AT_LME4 = 1e-9  # the same formulas at lme4's estimates
CASES = load_ref("icc_cases")
CASE_IDS = [k for k, v in CASES.items() if isinstance(v, dict) and "formula" in v]
GAUSSIAN = [k for k in CASE_IDS if CASES[k]["family"] == "gaussian"]
GLMM = [k for k in CASE_IDS if CASES[k]["family"] != "gaussian"]


def fit(data, formula, family="gaussian", link=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if family == "gaussian":
            return merx.lmer(formula, ref_data(data))
        fam = merx.families.Binomial(link=link) if family == "binomial" else merx.families.Poisson(link=link)
        return merx.glmer(formula, ref_data(data), family=fam)


def quietly(fn, *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    return out, [str(w.message) for w in caught]


def variances_at(m, theta, beta, family, link, null_intercept):
    """insight's variances of the model of ``m`` at the given θ and β (σ = 1: the GLMMs here)."""
    blocks, th, parts, start = m.frame.blocks, np.ravel(theta), [], 0
    for b in blocks:
        size = theta_size(len(b.columns), b.covariance)
        parts.append(th[start:start + size])
        start += size
    terms = varcorr_terms(blocks, parts, 1.0)
    distribution, _ = quietly(distribution_variance, family, link, 1.0, lambda: null_intercept, "ICC")
    return nakagawa_variances(m.frame.X, m.frame.x_names, np.ravel(beta), terms,
                              {b.group: len(b.levels) for b in blocks}, True, distribution, False)


@pytest.mark.parametrize("name", ["icc_sleepstudy", "icc_penicillin"])
def test_shared_linear_mixed_model_references(name):
    ref = load_ref(name)
    m = fit(ref["dataset"], ref["formula"])
    icc, r2 = m.icc(), m.r2()
    np.testing.assert_allclose(icc.adjusted, ref["icc_adjusted"], rtol=RTOL)
    np.testing.assert_allclose(icc.unadjusted, ref["icc_conditional"], rtol=RTOL)
    assert icc.conditional == icc.unadjusted
    np.testing.assert_allclose(r2.marginal, ref["r2_marginal"], rtol=RTOL)
    np.testing.assert_allclose(r2.conditional, ref["r2_conditional"], rtol=RTOL)


def test_shared_cbpp_reference_at_lme4s_estimates():
    """cbpp's binomial logit GLMM: π²/3 as the distribution variance, at the estimates of the
    same lme4 1.1-31 fit (tests/reference/cbpp_laplace.json)."""
    ref, lme4_fit = load_ref("icc_cbpp"), load_ref("cbpp_laplace")
    assert lme4_fit["formula"] == ref["formula"]
    m = fit(ref["dataset"], ref["formula"], "binomial", "logit")
    v = variances_at(m, list(lme4_fit["theta"].values()), list(lme4_fit["fixef"].values()), "binomial", "logit", None)
    assert v.distribution == math.pi ** 2 / 3
    icc, r2 = icc_of(v), r2_of(v)
    np.testing.assert_allclose([icc.adjusted, icc.unadjusted, r2.marginal, r2.conditional],
                               [ref["icc_adjusted"], ref["icc_conditional"], ref["r2_marginal"], ref["r2_conditional"]],
                               rtol=RTOL_AT_LME4)
    # merx's own fit: the same formulas at merx's (better) Laplace optimum
    assert m.logLik >= lme4_fit["logLik"]
    own = m.variance_decomposition()
    np.testing.assert_allclose(own.random, (m.theta.iloc[0]) ** 2, rtol=1e-12)
    np.testing.assert_allclose(m.icc().adjusted, own.random / (own.random + math.pi ** 2 / 3), rtol=1e-12)


@pytest.mark.parametrize("case_id", GAUSSIAN)
def test_linear_mixed_model_cases(case_id):
    c = CASES[case_id]
    m = fit(c["data"], c["formula"])
    (icc, icc_warnings) = quietly(m.icc)
    (r2, r2_warnings) = quietly(m.r2)
    (by_group, _) = quietly(m.icc, by_group=True)
    np.testing.assert_allclose(r2.marginal, c["r2_marginal"], rtol=RTOL)
    if c["icc_adjusted"] is None:  # singular: performance has no random variance
        assert math.isnan(icc.adjusted) and math.isnan(icc.unadjusted) and math.isnan(r2.conditional)
        assert any("Some variance components equal zero" in w for w in icc_warnings)
        assert any("Random effect variances not available" in w for w in r2_warnings)
        assert by_group["ICC"].isna().all()
        return
    np.testing.assert_allclose(icc.adjusted, c["icc_adjusted"], rtol=RTOL)
    np.testing.assert_allclose(icc.unadjusted, c["icc_conditional"], rtol=RTOL)
    np.testing.assert_allclose(r2.conditional, c["r2_conditional"], rtol=RTOL)
    assert list(by_group["Group"]) == list(np.atleast_1d(c["icc_by_group"]["group"]))
    np.testing.assert_allclose(by_group["ICC"].to_numpy(), np.atleast_1d(c["icc_by_group"]["icc"]), rtol=RTOL)
    v, _ = quietly(m.variance_decomposition)
    np.testing.assert_allclose([v.fixed, v.random, v.residual], [c["var_fixed"], c["var_random"], c["var_residual"]],
                               rtol=RTOL, atol=1e-12)
    skipped = [w for w in icc_warnings if "first term of each grouping factor" in w]
    assert len(skipped) == (1 if "||" in c["formula"] else 0)


@pytest.mark.parametrize("case_id", GLMM)
def test_glmm_cases_at_lme4s_estimates(case_id):
    c = CASES[case_id]
    m = fit(c["data"], c["formula"], c["family"], c["link"])
    v = variances_at(m, c["theta"], c["beta"], c["family"], c["link"], c["null_intercept"])
    np.testing.assert_allclose([v.fixed, v.random, v.distribution, v.dispersion],
                               [c["var_fixed"], c["var_random"], c["var_distribution"], c["var_dispersion"]],
                               rtol=RTOL_AT_LME4)
    icc, r2, by_group = icc_of(v), r2_of(v), icc_by_group_of(v)
    np.testing.assert_allclose([icc.adjusted, icc.unadjusted, r2.marginal, r2.conditional],
                               [c["icc_adjusted"], c["icc_conditional"], c["r2_marginal"], c["r2_conditional"]],
                               rtol=RTOL_AT_LME4)
    assert list(by_group["Group"]) == list(np.atleast_1d(c["icc_by_group"]["group"]))
    np.testing.assert_allclose(by_group["ICC"].to_numpy(), np.atleast_1d(c["icc_by_group"]["icc"]), rtol=RTOL_AT_LME4)


@pytest.mark.parametrize("case_id", [k for k in GLMM if CASES[k]["link"] == "log"])
def test_poisson_null_model_refit(case_id):
    """The lognormal approximation's μ comes from the null model refitted with the same random
    terms, offset and family: merx.glmer of ``y ~ 1 + offset + random terms``."""
    c = CASES[case_id]
    m = fit(c["data"], c["formula"], c["family"], c["link"])
    response, rhs = c["formula"].split("~")
    kept = [t.strip() for t in rhs.split("+") if t.strip().startswith(("(", "offset("))]
    null = fit(c["data"], f"{response.strip()} ~ 1 + {' + '.join(kept)}", "poisson", "log")
    v, messages = quietly(m.variance_decomposition)
    np.testing.assert_allclose(v.distribution, math.log1p(math.exp(-null.fixef.iloc[0])), rtol=1e-6)
    mu = math.exp(null.fixef.iloc[0])
    assert any("too close to zero" in w for w in messages) == (mu < 6)
    icc, _ = quietly(m.icc)
    np.testing.assert_allclose(icc.adjusted, v.random / (v.random + v.distribution + v.dispersion), rtol=1e-12)


def test_observation_level_term_is_dispersion():
    c = CASES["grouseticks_poisson_obs_level"]
    m = fit(c["data"], c["formula"], c["family"], c["link"])
    v, _ = quietly(m.variance_decomposition)
    np.testing.assert_allclose(v.dispersion, m.VarCorr["INDEX"].to_numpy()[0, 0], rtol=1e-12)
    np.testing.assert_allclose(v.random, m.VarCorr["BROOD"].to_numpy()[0, 0] + m.VarCorr["LOCATION"].to_numpy()[0, 0],
                               rtol=1e-12)


def test_random_slope_variance_is_johnsons():
    """sleepstudy (Days | Subject): the random variance is the mean of z_i'Σz_i, z_i = (1, Days_i)."""
    m = fit("sleepstudy", "Reaction ~ Days + (Days | Subject)")
    sigma = m.VarCorr["Subject"].to_numpy()
    days = ref_data("sleepstudy")["Days"].to_numpy(dtype=float)
    want = np.mean(sigma[0, 0] + 2 * days * sigma[0, 1] + days ** 2 * sigma[1, 1])
    np.testing.assert_allclose(m.variance_decomposition().random, want, rtol=1e-12)
    _, messages = quietly(m.icc, by_group=True)
    assert any("Cannot compute accurate ICCs by group" in w for w in messages)


def test_unsupported_family():
    with pytest.raises(merx.MerxError, match="Gamma GLMM with the log link is not available"):
        distribution_variance("Gamma", "log", 1.0, None, "ICC")
