"""merx.lme (nlme's interface) against nlme 3.1-162: the gpa varIdent reference of
../shared/reference (tests/reference/gpa_nlme_varident.json) and the fits of
tests/reference/make_lme_cases.R (random slope, nested grouping, REML and ML), their
printed summaries, and lmer's numbers for the same model without weights."""

import math

import numpy as np
import pytest

import merx
from refutil import load_ref, ref_data

CASES = load_ref("lme_nlme_cases")
DATA = {"gpa": "gpa", "sleep": "sleepstudy", "pastes": "Pastes", "nurses": "nurses"}


def fit_case(case):
    w = merx.varIdent(f"~1 | {case['weights']}") if case["weights"] else None
    return merx.lme(case["fixed"], ref_data(DATA[case["data"]]), case["random"], weights=w,
                    method=case["method"], data_name="dat")


def rel(a, b):
    return abs(a - b) / abs(b)


def test_gpa_varident_reference():
    ref = load_ref("gpa_nlme_varident")
    m = merx.lme("gpa ~ occasion", ref_data("gpa"), "~1 | student", weights=merx.varIdent("~1 | occasion"))
    # merx's optimum is at least as high as nlme's, and nlme's logLik is merx's objective at
    # nlme's estimates: the ~1e-5 relative differences below are nlme's convergence.
    assert m.logLik >= ref["logLik"] - 1e-9
    assert m.logLik - ref["logLik"] < 1e-6
    nlme_params = [ref["re_cov"]["student"]["sd"]["(Intercept)"] / ref["sigma"]] + ref["varStruct"]["coef_unconstrained"]
    assert -m._problem.deviance(nlme_params) / 2 == pytest.approx(ref["logLik"], rel=1e-10)
    se = np.sqrt(np.diag(m.vcov.to_numpy()))
    for j, name in enumerate(m.fixef.index):
        assert abs(m.fixef[name] - ref["fixef"][name]) < 2e-3 * ref["se"][name]
        assert rel(se[j], ref["se"][name]) < 1e-4
        assert m.tTable.loc[name, "DF"] == ref["df"][name]
    assert rel(m.sigma, ref["sigma"]) < 1e-4
    want = ref["varStruct"]["coef"]
    assert list(m.varStruct.index) == list(want)
    for k, v in want.items():
        assert rel(m.varStruct[k], v) < 1e-4
    assert m.df == ref["logLik_df"]
    assert m.AIC == pytest.approx(ref["AIC"], abs=2e-6)
    assert m.BIC == pytest.approx(ref["BIC"], abs=2e-6)
    np.testing.assert_allclose(m.fitted, ref["fitted"], atol=1e-4)
    np.testing.assert_allclose(m.predict(level=0), ref["fitted_level0"], atol=1e-5)
    np.testing.assert_allclose(m.residuals(), ref["residuals"], atol=1e-4)
    np.testing.assert_allclose(m.residuals("pearson"), ref["residuals_pearson"], atol=1e-3)
    np.testing.assert_allclose(m.residuals("normalized"), ref["residuals_normalized"], atol=1e-3)
    new = ref_data("gpa").head(5)
    np.testing.assert_allclose(m.predict(new, level=1), ref["predict_first5"]["level1"], atol=1e-4)
    np.testing.assert_allclose(m.predict(new, level=0), ref["predict_first5"]["level0"], atol=1e-5)
    re = m.ranef()["student"]["(Intercept)"].to_numpy()
    np.testing.assert_allclose(re, [ref["ranef"]["student"]["values"][k]["(Intercept)"] for k in ref["ranef"]["student"]["levels"]], atol=1e-4)


@pytest.mark.parametrize("cid", sorted(CASES))
def test_nlme_cases(cid):
    case = CASES[cid]
    m = fit_case(case)
    assert m.logLik >= case["logLik"] - 1e-6
    assert m.logLik - case["logLik"] < 1e-5
    tab = m.tTable
    names = list(m.fixef.index)
    se_ref = case["se"] if isinstance(case["se"], dict) else dict(zip(names, case["se"]))
    fx_ref = case["fixef"] if isinstance(case["fixef"], dict) else dict(zip(names, case["fixef"]))
    df_ref = case["df"] if isinstance(case["df"], dict) else dict(zip(names, case["df"]))
    for name in names:
        assert abs(tab.loc[name, "Value"] - fx_ref[name]) < 2e-3 * se_ref[name]
        assert rel(tab.loc[name, "Std.Error"], se_ref[name]) < 1e-3
        assert tab.loc[name, "DF"] == df_ref[name]
    assert rel(m.sigma, case["sigma"]) < 1e-3
    if case["ratios"]:
        for k, v in case["ratios"].items():
            assert rel(m.varStruct[k], v) < 1e-3
    assert m.df == case["df_logLik"]
    assert m.AIC == pytest.approx(case["AIC"], abs=2e-5)
    assert m.BIC == pytest.approx(case["BIC"], abs=2e-5)
    # nlme's level 1 is the outermost grouping level (of a nested model: without the inner one)
    np.testing.assert_allclose(m.predict(level=1).iloc[:10], case["fitted1"], atol=1e-3 * np.std(m.fitted))
    np.testing.assert_allclose(m.predict(level=0).iloc[:10], case["fitted0"], atol=1e-3 * np.std(m.fitted))


def _numbers(line):
    out = []
    for tok in line.split():
        try:
            out.append(float(tok))
        except ValueError:
            pass
    return out


@pytest.mark.parametrize("cid", sorted(CASES))
def test_summary_layout(cid):
    """nlme's printed summary line by line: the words and widths as printed, the numbers to
    the optimum's agreement (1e-4 relative where merx's and nlme's optima differ in the last
    printed digits)."""
    with open(f"tests/reference/printed/lme_{cid}_summary.txt") as fh:
        want = fh.read().rstrip("\n").split("\n")
    got = str(fit_case(CASES[cid]).summary()).rstrip("\n").split("\n")
    assert len(got) == len(want), "\n".join(got)
    same = [_numbers(g) == _numbers(w) for g, w in zip(got, want)] + [True]
    for i, (g, w) in enumerate(zip(got, want)):
        # widths agree where the printed numbers of the line and of the row under a header do
        # (R's format drops a last digit 0, so an optimum differing in it changes a width)
        assert len(g) == len(w) or not (same[i] and same[i + 1]), f"{g!r} vs {w!r}"
        assert [t for t in g.split() if not _numbers(t)] == [t for t in w.split() if not _numbers(t)], f"{g!r} vs {w!r}"
        for a, b in zip(_numbers(g), _numbers(w)):
            assert abs(a - b) <= 1e-4 * abs(b) + 2e-6, f"{g!r} vs {w!r}"


def test_plain_lme_equals_lmer():
    sleep = ref_data("sleepstudy")
    for method in ("REML", "ML"):
        a = merx.lme("Reaction ~ Days", sleep, "~Days | Subject", method=method)
        b = merx.lmer("Reaction ~ Days + (Days | Subject)", sleep, REML=method == "REML")
        assert a.logLik == pytest.approx(b.logLik, rel=1e-12)
        np.testing.assert_allclose(a.fixef, b.fixef, rtol=1e-10)
        n, p = a.nobs, a.fixef.size  # nlme's ML vcov is lme4's times N/(N - p)
        np.testing.assert_allclose(a.vcov, b.vcov * (n / (n - p) if method == "ML" else 1.0), rtol=1e-8)
        assert a.sigma == pytest.approx(b.sigma, rel=1e-10)
        np.testing.assert_allclose(a.fitted, b.fitted, rtol=1e-10)


def test_bad_input_is_named():
    gpa = ref_data("gpa")
    with pytest.raises(merx.DataError, match="no column 'occ'"):
        merx.lme("gpa ~ occasion", gpa, "~1 | student", weights=merx.varIdent("~1 | occ"))
    one = gpa.assign(s=1.0)
    with pytest.raises(merx.DataError, match="single level"):
        merx.lme("gpa ~ occasion", one, "~1 | student", weights=merx.varIdent("~1 | s"))
    lone = gpa.assign(s=np.where(np.arange(len(gpa)) == 7, "b", "a"))
    with pytest.raises(merx.DataError, match="stratum 'b' has a single observation"):
        merx.lme("gpa ~ occasion", lone, "~1 | student", weights=merx.varIdent("~1 | s"))
    with pytest.raises(merx.MerxError, match="variance function"):
        merx.lme("gpa ~ occasion", gpa, "~1 | student", weights="occasion")
    with pytest.raises(merx.MerxError, match="method must be"):
        merx.lme("gpa ~ occasion", gpa, "~1 | student", method="REM")
    with pytest.raises(merx.FormulaError, match="one-sided formula"):
        merx.lme("gpa ~ occasion", gpa, "1 | student")
    with pytest.raises(merx.MerxError, match="only merx.lme"):
        merx.glmer("gpa ~ occasion + (1 | student)", gpa, family="poisson", weights=merx.varIdent("~1 | occasion"))
    with pytest.raises(merx.MerxError, match="only merx.lme"):
        merx.lmer("gpa ~ occasion + (1 | student)", gpa, weights=merx.varIdent("~1 | occasion"))
    with pytest.raises(merx.MerxError, match="level must be 0"):
        merx.lme("gpa ~ occasion", gpa, "~1 | student").predict(level=2)
