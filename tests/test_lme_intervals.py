"""merx.lme's intervals() against nlme 3.1-162 (tests/reference/make_lme_intervals.R and the
gpa varIdent reference of ../shared/reference).

nlme's own apVar comes from fdHess with .relStep = eps^(1/3), off by up to 2% from the exact
Hessian on gpa varIdent; with .relStep = 1e-4 nlme agrees with merx to ~5e-4. So merx's apVar
is tested against the finer nlme Hessian, and the intervals' layout and back-transforms
against nlme's printed intervals exactly, given nlme's own apVar."""

import numpy as np
import pytest

import merx
from merx.results.lme_intervals import approximate_covariance, normal_quantile, variance_intervals
from refutil import load_ref, ref_data

CASES = load_ref("lme_intervals_cases")


def rows(ref):
    """Row names of an R data frame as jsonlite wrote them (one row: a string)."""
    return [ref["rows"]] if isinstance(ref["rows"], str) else ref["rows"]


def fit_case(case):
    w = merx.varIdent(f"~1 | {case['weights']}") if case["weights"] else None
    cor = merx.corAR1(form=f"~{case['correlation']}") if case.get("correlation") else None
    return merx.lme(case["fixed"], ref_data(case["data"]), case["random"], weights=w, correlation=cor,
                    method=case["method"], data_name="dat")


def nlme_apvar_in_merx_order(case, key):
    """nlme orders apVar reStruct, corStruct, varStruct, lSigma; merx's parameters put the
    variance function before the correlation."""
    names = case["apVar_names"]
    order = ([i for i, n in enumerate(names) if n.startswith("reStruct")]
             + [i for i, n in enumerate(names) if n.startswith("varStruct")]
             + [i for i, n in enumerate(names) if n.startswith("corStruct")]
             + [names.index("lSigma")])
    v = np.array(case[key])
    return v[np.ix_(order, order)], order


LME_CASES = sorted(k for k, c in CASES.items() if "coef" not in c)
GLS_CASES = sorted(k for k, c in CASES.items() if "coef" in c)


@pytest.fixture(scope="module", params=LME_CASES)
def case_fit(request):
    case = CASES[request.param]
    return case, fit_case(case)


def test_approximate_covariance_is_nlmes_finer_hessian(case_fit):
    case, m = case_fit
    cov, x = approximate_covariance(m)
    fine, order = nlme_apvar_in_merx_order(case, "apVar_fine")
    assert x == pytest.approx(np.array(case["apVar_pars"])[order], abs=2e-4)
    # the finer nlme Hessian is itself a finite-difference one (5e-4 from merx's on gpa)
    assert np.abs(cov - fine).max() <= 2e-3 * np.abs(fine).max()
    assert np.diag(cov) == pytest.approx(np.diag(fine), rel=2e-3)


def test_intervals_given_nlmes_apvar_are_nlmes(case_fit):
    """With nlme's own apVar at merx's estimates, the transforms and the layout give nlme's
    printed intervals to the estimates' agreement: on the flat likelihood near the optimum the
    two optimizers stop up to 5e-5 relative (sleepstudy's correlation: 1.4e-5 absolute) apart,
    merx's logLik higher by ~1e-9 on these fits."""
    case, m = case_fit
    _, x = approximate_covariance(m)
    re_struct, var_struct, cor_struct, sigma = variance_intervals(m, x, nlme_apvar_in_merx_order(case, "apVar")[0], 0.95)
    for group, ref in case["reStruct"].items():
        got = re_struct[group]
        assert list(got.index) == rows(ref)
        for col, key in (("lower", "lower"), ("est.", "est"), ("upper", "upper")):
            assert got[col].to_numpy() == pytest.approx(ref[key], rel=5e-5, abs=2e-5)
    assert list(re_struct) == list(case["reStruct"])
    assert sigma.to_numpy() == pytest.approx(case["sigma"], rel=5e-5)
    for got, key in ((var_struct, "varStruct"), (cor_struct, "corStruct")):
        if case.get(key) is None:
            assert got is None
            continue
        assert list(got.index) == rows(case[key])
        for col, k in (("lower", "lower"), ("est.", "est"), ("upper", "upper")):
            assert got[col].to_numpy() == pytest.approx(case[key][k], rel=5e-5)


def test_intervals_match_nlme(case_fit):
    """merx's own intervals: the fixed effects' as nlme's; the variance parameters' as nlme's
    would be with its finer Hessian (nlme's default one moves them by up to 6%: sleepstudy's
    correlation, whose apVar entry nlme's default fdHess puts 12% low)."""
    case, m = case_fit
    iv = m.intervals()
    fixed = case["fixed_iv"]
    assert list(iv.fixed.index) == rows(fixed)
    _, x = approximate_covariance(m)
    re_fine, var_fine, cor_fine, sigma_fine = variance_intervals(m, x, nlme_apvar_in_merx_order(case, "apVar_fine")[0], 0.95)
    for col, key in (("lower", "lower"), ("est.", "est"), ("upper", "upper")):
        assert iv.fixed[col].to_numpy() == pytest.approx(fixed[key], rel=2e-6)
        for group, ref in re_fine.items():
            assert iv.reStruct[group][col].to_numpy() == pytest.approx(ref[col].to_numpy(), rel=1e-3)
    assert iv.sigma.to_numpy() == pytest.approx(sigma_fine.to_numpy(), rel=1e-3)
    for got, fine in ((iv.varStruct, var_fine), (iv.corStruct, cor_fine)):
        assert (got is None) == (fine is None)
        if got is not None:
            assert got.to_numpy() == pytest.approx(fine.to_numpy(), rel=1e-3)
    assert m.intervals(level=0.9).sigma.to_numpy() == pytest.approx(case["sigma90"], rel=2e-3)


def test_printed_layout(case_fit):
    """nlme's print.intervals.lme, line by line; the numbers' last digits may differ where
    nlme's coarser Hessian moves them, so the lines are compared with the numbers masked."""
    case, m = case_fit
    mask = lambda line: " ".join("#" if any(ch.isdigit() for ch in w) and w[0] in "-0123456789" else w
                                 for w in line.split())  # noqa: E731
    got = str(m.intervals()).rstrip("\n").split("\n")
    assert [mask(x) for x in got] == [mask(x) for x in case["printed"]]


def test_gpa_ar1_reference_intervals():
    """../shared/reference's corAR1 fit: given nlme's apVar, nlme's intervals to the estimates'
    agreement; merx's own (exact Hessian) within 2e-3 of them (nlme's default fdHess puts
    Phi's lower end 1.2e-3 relative higher)."""
    ref = load_ref("gpa_nlme_ar1")
    m = merx.lme("gpa ~ occasion", ref_data("gpa"), "~1 | student", correlation=merx.corAR1(form="~occasion | student"))
    assert ref["apVar"]["names"] == ["reStruct.student", "corStruct", "lSigma"]  # merx's order too
    _, x = approximate_covariance(m)
    re_given, _, cor_given, sigma_given = variance_intervals(m, x, np.array(ref["apVar"]["matrix"]), 0.95)
    iv = m.intervals()
    r = ref["intervals"]
    for col in ("lower", "est.", "upper"):
        want_phi = r["corStruct"][col]["Phi"]
        want_sd = r["reStruct"]["student"][col]["sd((Intercept))"]
        assert cor_given.loc["Phi", col] == pytest.approx(want_phi, rel=5e-5)
        assert re_given["student"].loc["sd((Intercept))", col] == pytest.approx(want_sd, rel=5e-5)
        assert sigma_given[col] == pytest.approx(r["sigma"][col], rel=5e-5)
        assert iv.corStruct.loc["Phi", col] == pytest.approx(want_phi, rel=2e-3)
        assert iv.reStruct["student"].loc["sd((Intercept))", col] == pytest.approx(want_sd, rel=2e-3)
        assert iv.sigma[col] == pytest.approx(r["sigma"][col], rel=2e-3)
        assert iv.fixed[col].to_numpy() == pytest.approx(list(r["fixed"][col].values()), rel=1e-6)
    assert iv.varStruct is None


def test_gpa_reference_intervals():
    ref = load_ref("gpa_nlme_varident")
    m = merx.lme("gpa ~ occasion", ref_data("gpa"), "~1 | student", weights=merx.varIdent("~1 | occasion"))
    iv = m.intervals()
    r = ref["intervals"]
    for col in ("lower", "est.", "upper"):
        assert iv.varStruct[col].to_numpy() == pytest.approx(list(r["varStruct"][col].values()), rel=1.5e-3)
        assert iv.sigma[col] == pytest.approx(r["sigma"][col], rel=1.5e-3)
        assert iv.fixed[col].to_numpy() == pytest.approx(list(r["fixed"][col].values()), rel=1e-6)


def test_bad_arguments_and_qnorm():
    assert normal_quantile(0.975) == pytest.approx(1.959963984540054, rel=1e-14)
    assert normal_quantile(1e-10) == pytest.approx(-6.361340902404056, rel=1e-12)
    m = merx.lme("Reaction ~ Days", ref_data("sleepstudy"), "~1 | Subject")
    with pytest.raises(merx.MerxError, match="which must be"):
        m.intervals(which="random")
    with pytest.raises(merx.MerxError, match="level must be"):
        m.intervals(level=95)
    assert m.intervals(which="fixed").reStruct is None
    assert m.intervals(which="var-cov").fixed is None


@pytest.mark.parametrize("name", GLS_CASES)
def test_gls_intervals(name):
    """nlme's intervals.gls: coefficients with df N - p (varBeta: an ML fit's with N/(N - p)),
    the structure's parameters and σ; apVar as nlme's finer Hessian, intervals given nlme's
    apVar as nlme's, the printed layout."""
    case = CASES[name]
    w = merx.varIdent(f"~1 | {case['weights']}") if case["weights"] else None
    cor = merx.corAR1(form=f"~{case['correlation']}") if case["correlation"] else None
    m = merx.gls("gpa ~ occasion", ref_data("gpa"), weights=w, correlation=cor, method=case["method"])
    cov, x = approximate_covariance(m)
    assert x == pytest.approx(np.array(case["apVar_pars"]), abs=2e-4)
    assert np.diag(cov) == pytest.approx(np.diag(np.array(case["apVar_fine"])), rel=2e-3)
    _, var_given, cor_given, sigma_given = variance_intervals(m, x, np.array(case["apVar"]), 0.95)
    iv = m.intervals()
    assert iv.reStruct is None
    for col, key in (("lower", "lower"), ("est.", "est"), ("upper", "upper")):
        assert iv.fixed[col].to_numpy() == pytest.approx(case["coef"][key], rel=2e-6)
        assert sigma_given.to_numpy() == pytest.approx(case["sigma"], rel=5e-5)
        for got, k in ((var_given, "varStruct"), (cor_given, "corStruct")):
            assert (got is None) == (case[k] is None)
            if got is not None:
                assert got[col].to_numpy() == pytest.approx(case[k][key], rel=5e-5)
    mask = lambda line: " ".join("#" if w_[0] in "-0123456789" else w_ for w_ in line.split())  # noqa: E731
    assert [mask(x_) for x_ in str(iv).rstrip("\n").split("\n")] == [mask(x_) for x_ in case["printed"]]
    assert m.intervals(which="coef").sigma is None
