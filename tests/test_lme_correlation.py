"""merx.lme and merx.gls with nlme's correlation structures and variance functions against
nlme 3.1-162: the gpa corAR1 reference (tests/reference/gpa_nlme_ar1.json) and the fits of
tests/reference/make_nlme_corr_cases.R (gaps in time, corCAR1, corExp, corCompSymm, varPower,
varExp, varIdent × corAR1, varPower × corAR1, a random slope with AR(1), ML and REML, gls with
each), their printed summaries, and the errors of bad input."""

import numpy as np
import pytest

import merx
from refutil import load_ref, ref_data
from test_lme import _numbers

CASES = load_ref("nlme_corr_cases")
SPECS = {"corAR1": merx.corAR1, "corCAR1": merx.corCAR1, "corExp": merx.corExp, "corCompSymm": merx.corCompSymm,
         "varIdent": merx.varIdent, "varPower": merx.varPower, "varExp": merx.varExp}


def spec(text):
    """nlme's call text ``corAR1(form = ~occasion | student)`` as the merx spec."""
    if text is None:
        return None
    name, form = text.split("(", 1)
    return SPECS[name](form.split("=", 1)[1].rstrip(")").strip())


def case_data(case):
    """The script's data: gpa with occ1 = occasion + 1; gpagaps the rows nlme kept, with the
    uneven time t."""
    d = ref_data("gpa").assign(occ1=lambda df: df["occasion"] + 1)
    if case["data"] == "gpagaps":
        d = d.iloc[np.asarray(case["rows_used"]) - 1].copy()
        d["t"] = np.array([0, 0.45, 1.1, 1.5, 2.3, 2.6])[d["occasion"].to_numpy()]
    return d


def fit_case(case):
    kw = dict(weights=spec(case["weights"]), correlation=spec(case["correlation"]), method=case["method"], data_name="dat")
    if case["fun"] == "gls":
        return merx.gls(case["fixed"], case_data(case), **kw)
    return merx.lme(case["fixed"], case_data(case), case["random"], **kw)


def rel(a, b):
    return abs(a - b) / abs(b)


def test_gpa_nlme_ar1_reference():
    ref = load_ref("gpa_nlme_ar1")
    m = merx.lme("gpa ~ occasion", ref_data("gpa"), "~1 | student", correlation=merx.corAR1("~occasion | student"))
    assert m._problem.n_classes == 2  # first rows and gap 1: combined per evaluation, no row pass
    se = np.sqrt(np.diag(m.vcov.to_numpy()))
    for j, name in enumerate(m.fixef.index):
        assert abs(m.fixef[name] - ref["fixef"][name]) < 2e-3 * ref["se"][name]
        assert rel(se[j], ref["se"][name]) < 1e-3
    assert rel(m.sigma, ref["sigma"]) < 1e-3
    assert rel(m.theta.iloc[0] * m.sigma, ref["re_cov"]["student"]["sd"]["(Intercept)"]) < 1e-3
    assert rel(m.corStruct["Phi"], ref["corStruct"]["coef"]["Phi"]) < 1e-3
    assert m.logLik >= ref["logLik"] - 1e-3
    # nlme's logLik is merx's objective at nlme's estimates (θ = sd/σ, log((1 + φ)/(1 - φ))).
    params = [ref["re_cov"]["student"]["sd"]["(Intercept)"] / ref["sigma"], ref["corStruct"]["coef_unconstrained"]]
    assert -m._problem.deviance(params) / 2 == pytest.approx(ref["logLik"], rel=1e-10)
    assert m.df == ref["logLik_df"]
    assert m.AIC == pytest.approx(ref["AIC"], abs=1e-5)
    assert m.BIC == pytest.approx(ref["BIC"], abs=1e-5)
    scale = np.std(m.fitted)
    np.testing.assert_allclose(m.fitted, ref["fitted"], atol=1e-4 * scale)
    np.testing.assert_allclose(m.predict(level=0), ref["fitted_level0"], atol=1e-4 * scale)
    np.testing.assert_allclose(m.residuals("response"), ref["residuals"], atol=1e-4 * scale)
    for kind, key in [("pearson", "residuals_pearson"), ("normalized", "residuals_normalized")]:
        np.testing.assert_allclose(m.residuals(kind), ref[key], atol=1e-4)
    # normalized residuals are the Pearson ones whitened: the first row of each student equal
    first = np.r_[True, np.diff(ref_data("gpa")["student"].cat.codes.to_numpy()) != 0]
    np.testing.assert_allclose(m.residuals("normalized").iloc[first], m.residuals("pearson").iloc[first], rtol=1e-12)
    new = ref_data("gpa").iloc[ref["predict_first5"]["rows0"]]
    np.testing.assert_allclose(m.predict(new, level=1), ref["predict_first5"]["level1"], atol=1e-4 * scale)
    np.testing.assert_allclose(m.predict(new, level=0), ref["predict_first5"]["level0"], atol=1e-4 * scale)


@pytest.mark.parametrize("cid", sorted(CASES))
def test_nlme_cases(cid):
    case = CASES[cid]
    m = fit_case(case)
    assert m.logLik >= case["logLik"] - 1e-6
    assert m.logLik - case["logLik"] < 1e-4
    tab = m.tTable
    for name in m.fixef.index:
        assert abs(tab.loc[name, "Value"] - case["fixef"][name]) < 2e-3 * case["se"][name]
        assert rel(tab.loc[name, "Std.Error"], case["se"][name]) < 1e-3
        if case["fun"] == "lme":
            assert tab.loc[name, "DF"] == case["df"][name]
    assert rel(m.sigma, case["sigma"]) < 1e-3
    for key, got in [("corStruct", m.corStruct), ("varStruct", m.varStruct)]:
        if case[key] is None:
            assert got is None
        else:
            assert list(got.index) == list(case[key]["coef"])
            for k, v in case[key]["coef"].items():
                assert abs(got[k] - v) < 1e-3 * abs(v) + 1e-4, (k, got[k], v)
    assert m.df == case["df_logLik"]
    assert m.AIC == pytest.approx(case["AIC"], abs=2e-4)
    assert m.BIC == pytest.approx(case["BIC"], abs=2e-4)
    scale = np.std(m.fitted)
    np.testing.assert_allclose(m.fitted, case["fitted"], atol=1e-3 * scale)
    if case["fun"] == "lme":
        np.testing.assert_allclose(m.predict(level=0), case["fitted0"], atol=1e-3 * scale)
        assert rel(m.theta.iloc[0] * m.sigma, np.sqrt(case["varcorr_variance"][0])) < 1e-3
    np.testing.assert_allclose(m.residuals("response"), case["resid_response"], atol=1e-3 * scale)
    np.testing.assert_allclose(m.residuals("pearson"), case["resid_pearson"], atol=1e-3)
    np.testing.assert_allclose(m.residuals("normalized"), case["resid_normalized"], atol=1e-3)


@pytest.mark.parametrize("cid", sorted(CASES))
def test_summary_layout(cid):
    """nlme's printed summary line by line: the words as printed, the numbers to the optima's
    agreement."""
    with open(f"tests/reference/printed/nlme_{cid}_summary.txt") as fh:
        want = fh.read().rstrip("\n").split("\n")
    got = str(fit_case(CASES[cid]).summary()).rstrip("\n").split("\n")
    assert len(got) == len(want), "\n".join(got)
    for g, w in zip(got, want):
        assert [t for t in g.split() if not _numbers(t)] == [t for t in w.split() if not _numbers(t)], f"{g!r} vs {w!r}"
        for a, b in zip(_numbers(g), _numbers(w)):
            assert abs(a - b) <= 1e-3 * abs(b) + 2e-5, f"{g!r} vs {w!r}"


def test_gpa_ar1_summary_layout():
    with open("tests/reference/printed/nlme_gpa_ar1_summary.txt") as fh:
        want = fh.read()
    m = merx.lme("gpa ~ occasion", ref_data("gpa"), "~1 | student", correlation=merx.corAR1("~occasion | student"),
                 data_name="gpa")
    got = str(m.summary()).split("\n")
    for g, w in zip(got, want.split("\n")):
        if "Min" in w or not _numbers(w):
            assert g == w
    assert len(got) == len(want.split("\n"))


def test_default_grouping_is_the_innermost_random_effects_grouping():
    gpa = ref_data("gpa")
    a = merx.lme("gpa ~ occasion", gpa, "~1 | student", correlation=merx.corAR1("~occasion"))
    b = merx.lme("gpa ~ occasion", gpa, "~1 | student", correlation=merx.corAR1("~occasion | student"))
    assert a.logLik == pytest.approx(b.logLik, rel=1e-12)
    assert " Formula: ~occasion | student " in str(a.summary()).split("\n")  # as nlme prints it
    # corExp(range) is corCAR1(φ = exp(-1/range)): the same likelihood
    c = merx.lme("gpa ~ occasion", gpa, "~1 | student", correlation=merx.corCAR1("~occasion | student"))
    e = merx.lme("gpa ~ occasion", gpa, "~1 | student", correlation=merx.corExp("~occasion | student"))
    assert c.logLik == pytest.approx(e.logLik, abs=1e-6)
    assert c.corStruct["Phi"] == pytest.approx(np.exp(-1 / e.corStruct["range"]), rel=1e-4)


def test_bad_input_is_named():
    gpa = ref_data("gpa")
    lme = lambda data, **kw: merx.lme("gpa ~ occasion", data, "~1 | student", **kw)  # noqa: E731
    with pytest.raises(merx.DataError, match="'occasion' repeats within a correlation group"):
        lme(gpa.assign(occasion=gpa["occasion"].where(gpa["occasion"] != 3, 2)), correlation=merx.corAR1("~occasion | student"))
    half = gpa.assign(t=gpa["occasion"] / 2)
    with pytest.raises(merx.DataError, match="integer-valued time covariate; 't' is 0.5"):
        lme(half, correlation=merx.corAR1("~t | student"))
    assert lme(half, correlation=merx.corCAR1("~t | student")).corStruct["Phi"] > 0  # corCAR1 takes any time
    with pytest.raises(merx.DataError, match="'t' has missing or infinite values"):
        lme(gpa.assign(t=gpa["occasion"].where(gpa.index != 5)), correlation=merx.corCAR1("~t | student"))
    with pytest.raises(merx.DataError, match="not nested in the random-effects grouping factor 'student'"):
        lme(gpa, correlation=merx.corAR1("~1 | sex"))
    with pytest.raises(merx.DataError, match="no column 'tt'"):
        lme(gpa, correlation=merx.corAR1("~tt | student"))
    with pytest.raises(merx.DataError, match="'occasion' is 0 in 200 rows"):
        lme(gpa, weights=merx.varPower("~occasion"))
    with pytest.raises(merx.FormulaError, match="fitted"):
        merx.varPower()
    with pytest.raises(merx.FormulaError, match="nugget"):
        merx.corExp("~t | g", nugget=True)
    with pytest.raises(merx.MerxError, match="correlation must be a correlation structure"):
        lme(gpa, correlation="occasion")
    with pytest.raises(merx.MerxError, match="only merx.lme"):
        merx.lmer("gpa ~ occasion + (1 | student)", gpa, weights=merx.varPower("~occasion"))
    with pytest.raises(merx.FormulaError, match="gls has no random effects"):
        merx.gls("gpa ~ occasion + (1 | student)", gpa)


def test_gls_without_structure_is_least_squares():
    gpa = ref_data("gpa")
    m = merx.gls("gpa ~ occasion", gpa)
    X = np.column_stack([np.ones(len(gpa)), gpa["occasion"]])
    beta, *_ = np.linalg.lstsq(X, gpa["gpa"].to_numpy(), rcond=None)
    np.testing.assert_allclose(m.fixef.to_numpy(), beta, rtol=1e-10)
    rss = np.sum((gpa["gpa"].to_numpy() - X @ beta) ** 2)
    assert m.sigma == pytest.approx(np.sqrt(rss / (len(gpa) - 2)), rel=1e-10)
    assert m.corStruct is None and m.varStruct is None


def test_pickled_result_keeps_the_structure():
    import pickle

    gpa = ref_data("gpa")
    m = merx.lme("gpa ~ occasion", gpa, "~1 | student", weights=merx.varIdent("~1 | sex"),
                 correlation=merx.corAR1("~occasion | student"))
    back = pickle.loads(pickle.dumps(m))
    assert back.corStruct.equals(m.corStruct) and back.varStruct.equals(m.varStruct)
    np.testing.assert_array_equal(back.residuals("normalized"), m.residuals("normalized"))
    assert str(back.summary()) == str(m.summary())
