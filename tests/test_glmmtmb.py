"""merx.glmmTMB against glmmTMB 1.1.5's fits of the Salamanders data: zero-inflated Poisson
(tests/reference/salamanders_glmmtmb_zip.json) and nbinom2 (salamanders_glmmtmb_nb2.json),
their printed summaries (tests/reference/printed/glmmtmb_*_summary.txt, from
make_glmmtmb_families.R), and the errors on bad input."""

import re

import numpy as np
import pandas as pd
import pytest

import merx
from refutil import load_ref, ref_data

FORMULA = "count ~ spp + mined + (1 | site)"
CASES = {
    "zip": dict(family="poisson", ziformula="~ spp + mined"),
    "nb2": dict(family="nbinom2"),
}


@pytest.fixture(scope="module", params=list(CASES))
def case(request):
    ref = load_ref(f"salamanders_glmmtmb_{request.param}")
    fit = merx.glmmTMB(FORMULA, ref_data("Salamanders"), data_name="sal", **CASES[request.param])
    return request.param, ref, fit


def _internal_se(ref, name):
    """The standard error of one TMB parameter (beta, betazi, betad) from sdreport's cov.fixed."""
    ip = ref["internal_par"]
    return [s for n, s in zip(ip["names"], ip["se"]) if n == name]


def test_estimates_and_standard_errors(case):
    _, ref, fit = case
    for comp in ("cond", "zi"):
        if comp not in ref["fixef"]:
            assert len(fit.fixef[comp]) == 0
            continue
        want = np.array(list(ref["fixef"][comp].values()))
        se = np.array(list(ref["se"][comp].values()))
        got = fit.fixef[comp]
        assert list(got.index) == list(ref["fixef"][comp])
        assert np.all(np.abs(got.to_numpy() - want) <= 2e-3 * se)
        got_se = np.sqrt(np.diag(fit.vcov[comp].to_numpy()))
        np.testing.assert_allclose(got_se, se, rtol=1e-3)
    if "disp" in ref["fixef"]:
        bd = fit.fixef["disp"]["(Intercept)"]
        se_d = _internal_se(ref, "betad")[0]
        assert abs(bd - ref["fixef"]["disp"]["(Intercept)"]) <= 2e-3 * se_d
        assert np.sqrt(fit.vcov["disp"].iloc[0, 0]) == pytest.approx(se_d, rel=1e-3)
        assert list(fit.vcov["disp"].index) == ["d~(Intercept)"]
    if "zi" in ref["fixef"]:
        assert list(fit.vcov["zi"].index) == ref["vcov"]["zi"]["names"]


def test_dispersion_variance_and_likelihood(case):
    _, ref, fit = case
    assert fit.sigma == pytest.approx(ref["sigma"], rel=1e-3)
    sd = fit.VarCorr.terms[0].stddev[0]
    assert sd == pytest.approx(ref["varcorr"]["cond"]["site"]["stddev"][0] if "varcorr" in ref and "stddev" in
                               ref["varcorr"]["cond"]["site"] else np.exp(ref["theta"]), rel=1e-3)
    assert sd == pytest.approx(np.exp(ref["theta"]), rel=1e-3)
    assert fit.logLik >= ref["logLik"] - 1e-3
    assert fit.df == ref["logLik_df"]
    assert fit.AIC == pytest.approx(ref["AIC"], abs=2e-3)
    assert fit.BIC == pytest.approx(ref["BIC"], abs=2e-3)
    assert fit.df_residual == ref["df_residual"]
    assert fit.nobs == ref["nobs"] and fit.ngrps == ref["ngrps"]["cond"]
    assert fit.converged


def test_predictions_fitted_and_residuals(case):
    _, ref, fit = case
    p = ref["predict_first5"]
    for key, want in p.items():
        if key == "rows0":
            continue
        kind, re_form = key.split("_re_form_")
        got = fit.predict(type=kind, re_form=None if re_form == "NULL" else "NA").iloc[:5]
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=1e-6, err_msg=key)
    np.testing.assert_allclose(fit.fitted, ref["fitted"], rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(fit.residuals("response"), ref["residuals"], atol=1e-4)
    np.testing.assert_allclose(fit.residuals("pearson"), ref["residuals_pearson"], atol=1e-4)
    # the same predictions from newdata (the fitted rows)
    nd = ref_data("Salamanders").iloc[:5]
    np.testing.assert_allclose(fit.predict(nd, type="response"), fit.predict(type="response").iloc[:5], rtol=1e-12)
    np.testing.assert_allclose(fit.predict(nd, type="zprob"), fit.predict(type="zprob").iloc[:5], rtol=1e-12)


def test_ranef_matches_glmmtmb(case):
    _, ref, fit = case
    r = ref["ranef"]["cond|site"]
    got = fit.ranef()["site"]
    assert [str(v) for v in got.index] == r["levels"]
    want = [r["values"][lv]["(Intercept)"] for lv in r["levels"]]
    np.testing.assert_allclose(got["(Intercept)"].to_numpy(), want, atol=1e-4)
    # conditional SDs as TMB's sdreport (with the parameters' uncertainty)
    condsd = [r["condsd"][lv]["(Intercept)"] for lv in r["levels"]]
    np.testing.assert_allclose(fit.ranef().condsd["site"]["(Intercept)"].to_numpy(), condsd, rtol=1e-3)


_NUM = re.compile(r"-?\d+\.?\d*(?:e[-+]\d+)?")


def test_printed_summary_layout(case):
    """glmmTMB's layout to the character; numbers within the last printed digit or 2e-4
    relative (estimates and SEs agree to ~1e-5 relative, enough to move a rounding boundary
    and the p-values' fifth digit)."""
    name, _, fit = case
    with open(f"tests/reference/printed/glmmtmb_{name}_summary.txt") as fh:
        want = fh.read().rstrip("\n").split("\n")
    got = str(fit.summary()).split("\n")
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert _NUM.sub("#", g) == _NUM.sub("#", w), (g, w)
        for a, b in zip(_NUM.findall(g), _NUM.findall(w)):
            fa, fb = float(a), float(b)
            last = 10.0 ** -(len(b.split(".")[1].split("e")[0]) if "." in b else 0)
            assert abs(fa - fb) <= max(1.5 * last * (abs(fb) if "e" in b else 1), 2e-4 * abs(fb)) + 1e-12, (g, w)


def test_bad_input():
    d = ref_data("Salamanders")
    with pytest.raises(merx.FamilyError, match="unknown family"):
        merx.glmmTMB(FORMULA, d, family="tweedie")
    with pytest.raises(merx.FormulaError, match="ziformula .* left-hand side"):
        merx.glmmTMB(FORMULA, d, family="poisson", ziformula="count ~ mined")
    with pytest.raises(merx.FormulaError, match="ziformula .* random-effects terms"):
        merx.glmmTMB(FORMULA, d, family="poisson", ziformula="~ mined + (1 | site)")
    with pytest.raises(merx.FormulaError, match="ziformula '~.'.* random-effects terms"):
        merx.glmmTMB(FORMULA, d, family="poisson", ziformula="~.")
    with pytest.raises(merx.FormulaError, match="dispformula .* random-effects terms"):
        merx.glmmTMB(FORMULA, d, family="nbinom2", dispformula="~ (1 | site)")
    with pytest.raises(merx.FormulaError, match="ziformula .* offset"):
        merx.glmmTMB(FORMULA, d, family="poisson", ziformula="~ mined + offset(cover)")
    with pytest.raises(merx.FormulaError, match="poisson family has no dispersion"):
        merx.glmmTMB(FORMULA, d, family="poisson", dispformula="~ mined")
    with pytest.raises(merx.MerxError, match="REML"):
        merx.glmmTMB(FORMULA, d, family="poisson", REML=True)
    bad = d.assign(count=d["count"].astype(float))
    bad.loc[bad.index[3], "count"] = -2.0
    for fam in ("poisson", "nbinom2", "nbinom1"):
        with pytest.raises(merx.DataError, match="count"):
            merx.glmmTMB(FORMULA, bad, family=fam)
    with pytest.raises(merx.DataError, match="'cover' .* Gamma"):
        merx.glmmTMB("cover ~ mined + (1 | site)", d, family="Gamma")
    with pytest.raises(merx.DataError, match="'count' .* beta"):
        merx.glmmTMB(FORMULA, d, family="beta_family")
    with pytest.raises(merx.FormulaError, match="no random-effects term"):
        merx.glmmTMB("count ~ mined", d, family="poisson")


def test_family_objects_and_missing_rows():
    """Family objects work as names; a row missing a zero-inflation variable is dropped from
    all three parts (glmmTMB's one model frame)."""
    d = ref_data("Salamanders")
    a = merx.glmmTMB(FORMULA, d, family=merx.NBinom2())
    b = merx.glmmTMB(FORMULA, d, family="nbinom2")
    assert a.logLik == pytest.approx(b.logLik, abs=1e-9)
    d2 = d.copy()
    d2["z"] = d2["cover"].astype(float)
    d2.loc[d2.index[:10], "z"] = np.nan
    m = merx.glmmTMB(FORMULA, d2, family="poisson", ziformula="~ z")
    assert m.nobs == len(d2) - 10
    m_ref = merx.glmmTMB(FORMULA, d2.iloc[10:], family="poisson", ziformula="~ z")
    assert m.logLik == pytest.approx(m_ref.logLik, abs=1e-6)
    assert isinstance(m, merx.GlmmTMBResult)
    t = m.tidy()
    assert set(t["component"]) == {"cond", "zi"}
    np.testing.assert_allclose(t["conf_high"] - t["estimate"], 1.959963984540054 * t["std_error"], rtol=1e-12)
    with pytest.raises(merx.MerxError, match="confint.* not available"):
        m.confint()


def test_pickle_round_trip():
    import pickle

    m = merx.glmmTMB(FORMULA, ref_data("Salamanders"), family="poisson", ziformula="~ mined")
    back = pickle.loads(pickle.dumps(m))
    assert back.logLik == m.logLik
    np.testing.assert_array_equal(back.vcov["zi"].to_numpy(), m.vcov["zi"].to_numpy())
    np.testing.assert_array_equal(back.ranef().condsd["site"].to_numpy(), m.ranef().condsd["site"].to_numpy())
    assert str(back.summary()) == str(m.summary())
