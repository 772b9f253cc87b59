"""merx.glmer with the families that have a dispersion parameter (Gamma, inverse.gaussian,
gaussian with the log and inverse links) against lme4 1.1-31
(tests/reference/make_glmer_families.R on tests/data/glmer_families.csv).

lme4 fits these families by the Laplace approximation with the dispersion estimated inside
the log-likelihood's constants (R's ``family$aic``, whose +2 lme4 keeps), reports
``sigma`` = √((Pearson χ² + ‖u‖²)/n), counts the scale in logLik's df and prints ``t value``
with ``Pr(>|z|)``; merx reproduces each of these (``rust/src/family/dispersion.rs``).

Two lme4 fits per model are in the reference: lme4's default, and the same with
``tolPwrss = 1e-12``. lme4's default evaluates its deviance with PIRLS stopped at a relative
change of 1e-7 and log|L|² taken one step short of the modes; merx optimises the Laplace
deviance at the converged modes, which is what the tight fit evaluates. Against the tight
fit θ, β, logLik and σ agree to ~1e-5; against the default one the optimum can sit a few
thousandths of an SE away (inverse Gaussian: 4e-3 SE, where merx's logLik is 1.85e-3 higher
than lme4's), so β is checked against the tight fit. The standard errors are lme4's default
ones (the Hessian of lme4's own evaluation, ``rust/src/pirls_lme4.rs``).
"""

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import merx
from merx import _core
from merx.errors import DataError, FamilyError
from merx.families import Gamma, Gaussian, InverseGaussian, resolve_family
from merx.frame.model_frame import build_model_frame
from merx.results.glmer import GlmerResult

HERE = Path(__file__).resolve().parent
REF = json.loads((HERE / "reference" / "glmer_families.json").read_text())
PRINTED = HERE / "reference" / "printed"
MODELS = [pytest.param(r, id=k) for k, r in REF["models"].items()]
_fits: dict = {}


def data() -> pd.DataFrame:
    return pd.read_csv(HERE / "data" / "glmer_families.csv")


def family_of(ref: dict):
    return resolve_family(f'{ref["family"]}(link = "{ref["link"]}")')


def fit_of(ref: dict) -> GlmerResult:
    if ref["id"] not in _fits:
        _fits[ref["id"]] = merx.glmer(ref["formula"], data(), family=family_of(ref), data_name="d")
    return _fits[ref["id"]]


def _values(d: dict) -> np.ndarray:
    return np.array(list(d.values()), dtype=float)


def test_reference_covers_the_families():
    assert {(r["family"], r["link"]) for r in REF["models"].values()} >= {
        ("Gamma", "log"), ("Gamma", "inverse"), ("Gamma", "identity"), ("inverse.gaussian", "log"),
        ("gaussian", "log"), ("gaussian", "inverse"),
    }


@pytest.mark.parametrize("ref", MODELS)
def test_optimum_is_lme4s(ref):
    m = fit_of(ref)
    assert m.converged, m.optinfo["message"]
    tight, default = ref["tight"], ref["default"]
    assert list(m.theta.index) == list(tight["theta"]) and list(m.fixef.index) == list(tight["fixef"])
    np.testing.assert_allclose(m.theta.values, _values(tight["theta"]), rtol=0, atol=2e-3)
    np.testing.assert_allclose(m.theta.values, _values(default["theta"]), rtol=0, atol=2e-3)
    se = _values(default["se"])
    assert np.all(np.abs(m.fixef.values - _values(tight["fixef"])) <= 2e-3 * se)
    assert abs(m.logLik - tight["logLik"]) <= 1e-3
    # lme4's default logLik is its own (approximate) evaluation at its optimum: merx's is
    # within 1e-3 of it or higher.
    assert m.logLik >= default["logLik"] - 1e-3
    assert m.sigma == pytest.approx(tight["sigma"], rel=1e-3)
    assert m.sigma == pytest.approx(default["sigma"], rel=1e-3)


@pytest.mark.parametrize("ref", MODELS)
def test_standard_errors_are_lme4s(ref):
    m = fit_of(ref)
    np.testing.assert_allclose(np.sqrt(np.diag(m.vcov.values)), _values(ref["default"]["se"]), rtol=2e-3)


@pytest.mark.parametrize("ref", MODELS)
def test_likelihood_summaries_count_the_scale(ref):
    m, want = fit_of(ref), ref["default"]
    assert m.df == want["logLik_df"] == m.fixef.size + m.theta.size + 1
    assert m.df_residual == want["df_residual"] and m.nobs == want["nobs"]
    assert m.AIC == pytest.approx(want["AIC"], abs=4e-3)
    assert m.BIC == pytest.approx(want["BIC"], abs=4e-3)
    # deviance(): Σ squared deviance residuals at the modes
    assert m.deviance == pytest.approx(want["deviance"], rel=1e-3)
    vc = m.VarCorr
    assert vc.use_scale and vc.sigma == m.sigma


@pytest.mark.parametrize("ref", MODELS)
def test_modes_and_conditional_sds_carry_sigma(ref):
    """ranef: Λu (not scaled); its conditional variances σ² times the unscaled ones (against
    the tight fit: the default one's slope θ is 0.3% off the optimum, and so are its condsd)."""
    m = fit_of(ref)
    re = m.ranef()
    for grp, r in ref["tight"]["ranef"].items():
        want = np.array(r["values"], dtype=float).reshape(len(r["levels"]), len(r["columns"]))
        np.testing.assert_allclose(re[grp].values, want, rtol=0, atol=3e-3 * np.abs(want).max())
        want_sd = np.array(r["condsd"], dtype=float).reshape(want.shape)
        np.testing.assert_allclose(re.condsd[grp].values, want_sd, rtol=3e-3)
    np.testing.assert_allclose(m.residuals("pearson", scaled=True).iloc[:5],
                               ref["default"]["residuals_pearson_scaled_first5"], rtol=0, atol=5e-3)


def _from_lme4(ref: dict) -> GlmerResult:
    """A GlmerResult holding lme4's estimates (its printed layout is then lme4's to the character)."""
    want = ref["default"]
    frame = build_model_frame(ref["formula"], data(), family=family_of(ref), data_name="d")
    blocks = frame.blocks
    assert len(blocks) == 1
    r = want["ranef"][blocks[0].group]
    b = np.array(r["values"], dtype=float).reshape(len(r["levels"]), len(r["columns"]))
    sd = np.array(r["condsd"], dtype=float).reshape(b.shape) / want["sigma"]
    cmp = want["devcomp"]
    dev = -2 * want["logLik"]
    fit = _core.MixedModelFit(
        theta=_values(want["theta"]), beta=_values(want["fixef"]), u=np.zeros(b.size), b=[b],
        condvar=[np.stack([np.diag(s**2) for s in sd])], vcov_beta=np.array(want["vcov"], dtype=float),
        fitted=np.array(want["fitted"]), eta=np.array(want["eta"]), family=ref["family"], link=ref["link"],
        deviance_residuals=want["deviance"], reml=False, sigma=1.0, objective=dev, deviance_ml=dev,
        reml_criterion=math.nan, ld_l2=cmp["ldL2"], ld_rx2=cmp["ldRX2"], pwrss=cmp["pwrss"], wrss=cmp["wrss"],
        ussq=cmp["ussq"], optimizer="Nelder_Mead", n_eval=1, converged=True, message="",
    )
    return GlmerResult(frame, fit, data_name="d", call_formula=ref["formula"], nAGQ=1)


def test_sigma_is_lme4s_definition():
    """σ from lme4's fitted values and ‖u‖²: √((Σ w(y-μ)²/V(μ) + ‖u‖²)/n) = lme4's sigma()."""
    ref = REF["models"]["gamma_log"]
    res = _from_lme4(ref)
    assert res.sigma == pytest.approx(ref["default"]["sigma"], rel=1e-12)


@pytest.mark.parametrize("kind", ["summary", "print"])
def test_gamma_layouts_match_lme4_line_by_line(kind):
    res = _from_lme4(REF["models"]["gamma_log"])
    got = (str(res.summary()) if kind == "summary" else str(res)).split("\n")
    want = (PRINTED / f"glmer_gamma_log_{kind}.txt").read_text().rstrip("\n").split("\n")
    assert len(got) == len(want), "\n".join(got)
    for i, (a, b) in enumerate(zip(got, want)):
        assert a == b, f"line {i + 1}:\n got: {a!r}\nwant: {b!r}"


def test_gamma_summary_of_merx_fit_has_lme4s_lines():
    """merx's own fit: lme4's lines, its numbers within the optimizer's tolerance."""
    m = fit_of(REF["models"]["gamma_log"])
    got = str(m.summary()).split("\n")
    want = (PRINTED / "glmer_gamma_log_summary.txt").read_text().rstrip("\n").split("\n")
    assert len(got) == len(want)
    for a, b in zip(got, want):
        ta, tb = a.split(), b.split()
        assert len(ta) == len(tb), (a, b)
        for x, y in zip(ta, tb):
            try:
                fx, fy = float(x), float(y)
            except ValueError:
                assert x == y, (a, b)
                continue
            assert fx == pytest.approx(fy, rel=2e-3, abs=2e-4), (a, b)
    coefs = m.summary().coefficients
    assert list(coefs.columns) == ["Estimate", "Std. Error", "t value", "Pr(>|z|)"]
    assert "p_value" in m.tidy().columns


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------


def test_non_positive_gamma_response_names_the_row():
    d = data()
    d.loc[7, "y_gamma"] = 0.0  # rows are named by the data frame's index
    with pytest.raises(DataError, match=r"non-positive values not allowed for the 'Gamma' family.*row 7\)"):
        merx.glmer("y_gamma ~ x + (1 | g)", d, family="Gamma")
    d.loc[3, "y_ig"] = -1.0
    with pytest.raises(DataError, match=r"inverse.gaussian.*row 3\)"):
        merx.glmer("y_ig ~ x + (1 | g)", d, family=InverseGaussian("log"))


def test_gaussian_log_link_needs_a_positive_response():
    d = data()
    d.loc[11, "y_gauss"] = -0.5
    with pytest.raises(DataError, match=r"cannot find valid starting values.*row 11\)"):
        merx.glmer("y_gauss ~ x + (1 | g)", d, family=Gaussian("log"))


def test_core_checks_the_response_too():
    x = np.ones((3, 1))
    terms = [(np.array([0, 1, 1], dtype=np.int64), 2, np.ones((3, 1)), "unstructured")]
    for family, y in [("Gamma", [1.0, 0.0, 2.0]), ("inverse.gaussian", [1.0, -1.0, 2.0])]:
        with pytest.raises(ValueError, match="row 1"):
            _core.GeneralizedLinearMixedModel(x, np.array(y), terms, family, link="log")


def test_unknown_link_names_the_allowed_ones():
    with pytest.raises(FamilyError, match=r"'sqrt' not available for Gamma family; available links are "
                                          r"'inverse', 'log', 'identity'"):
        Gamma("sqrt")
    with pytest.raises(ValueError, match="inverse, log, identity"):
        _core.GlmFamily("Gamma", "logit")
    with pytest.raises(ValueError, match="1/mu\\^2, inverse, identity, log"):
        _core.GlmFamily("inverse.gaussian", "sqrt")


def test_inverse_gaussian_default_link_fails_cleanly_where_lme4_fails():
    """On these data lme4's PIRLS meets η < 0 with the 1/μ² link ("PIRLS loop resulted in
    NaN value"); merx fits or reports an error, never panics."""
    assert "NaN" in REF["inverse_gaussian_default_link"]
    try:
        m = merx.glmer("y_ig ~ x + (1 | g)", data(), family="inverse.gaussian")
    except merx.errors.MerxError as e:
        assert "PIRLS" in str(e) or "deviance" in str(e)
    else:
        assert np.isfinite(m.logLik) and np.all(m.linear_predictor > 0)


def test_gaussian_identity_is_lmer_as_in_lme4():
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        m = merx.glmer("y_gauss ~ x + (1 | g)", data(), family="gaussian")
    assert any("shortcut to lmer()" in str(x.message) for x in w)
    assert type(m).__name__ == "LmerResult"
    assert m.logLik == pytest.approx(merx.lmer("y_gauss ~ x + (1 | g)", data()).logLik)


# ---------------------------------------------------------------------------
# prior weights on a cbind(s, f) binomial response
# ---------------------------------------------------------------------------

CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
PRIOR = json.loads((HERE / "reference" / "glmer_binomial_prior_weights.json").read_text())


def _cbpp_with_weights():
    from refutil import ref_data

    cb = ref_data("cbpp")
    cb["pw"] = 1 + (np.arange(1, len(cb) + 1) % 3) * 0.5
    return cb


def test_binomial_prior_weights_apart_from_the_trials():
    """The weights multiply the trials, and each row's log dbinom(s | n, μ) counts with its
    prior weight (R's binomial()$aic, which lme4 uses): lme4 1.1-31's fit."""
    m = merx.glmer(CBPP, _cbpp_with_weights(), family="binomial", weights="pw")
    want, tight = PRIOR["default"], PRIOR["tight"]
    se = _values(want["se"])
    assert np.all(np.abs(m.fixef.values - _values(tight["fixef"])) <= 2e-3 * se)
    np.testing.assert_allclose(m.theta.values, _values(tight["theta"]), rtol=0, atol=2e-3)
    np.testing.assert_allclose(m.theta.values, _values(want["theta"]), rtol=0, atol=2e-3)
    assert abs(m.logLik - tight["logLik"]) <= 1e-3 and m.logLik >= want["logLik"] - 1e-3
    np.testing.assert_allclose(np.sqrt(np.diag(m.vcov.values)), se, rtol=2e-3)
    assert m.df == want["logLik_df"] and m.sigma == 1.0
    assert m.deviance == pytest.approx(want["deviance"], rel=1e-4)


def test_binomial_integer_prior_weights():
    cb = _cbpp_with_weights()
    cb["pw2"] = np.round(2 * cb["pw"])
    m = merx.glmer(CBPP, cb, family="binomial", weights="pw2")
    want = PRIOR["integer_weights"]
    se = _values(want["se"])
    assert np.all(np.abs(m.fixef.values - _values(want["fixef"])) <= 2e-3 * se)
    assert m.logLik >= want["logLik"] - 1e-3 and abs(m.logLik - want["logLik"]) <= 1e-3
    np.testing.assert_allclose(np.sqrt(np.diag(m.vcov.values)), se, rtol=2e-3)


def test_trials_belong_to_the_binomial_family():
    x = np.ones((3, 1))
    terms = [(np.array([0, 1, 1], dtype=np.int64), 2, np.ones((3, 1)), "unstructured")]
    with pytest.raises(ValueError, match="trials apply to the binomial family"):
        _core.GeneralizedLinearMixedModel(x, np.array([1.0, 2.0, 3.0]), terms, "poisson", trials=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="2 values for 3 observations"):
        _core.GeneralizedLinearMixedModel(x, np.array([0.5, 0.5, 1.0]), terms, "binomial",
                                          weights=np.array([2.0, 2.0, 2.0]), trials=[2.0, 2.0])
