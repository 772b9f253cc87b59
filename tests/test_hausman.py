"""merx.hausman reproduces plm 2.6-2's phtest: the shared Grunfeld reference
(tests/reference/hausman_grunfeld.json) and the cases of tests/reference/make_hausman_cases.R
(the regression-based test with and without vcovHC, an unbalanced panel, time effects, a
covariance difference that is not positive definite, a time-invariant regressor), with
Swamy-Arora's variance components; the REML variant against merx.lmer; the input errors."""

import os
import warnings

import numpy as np
import pytest

import merx
from refutil import REF_DIR, load_ref

RTOL = 1e-6
CASES = load_ref("hausman_cases")
CASE_IDS = [k for k, v in CASES.items() if isinstance(v, dict) and "statistic" in v]
FORMULA = "inv ~ value + capital"


def grunfeld():
    return merx.load_example("Grunfeld")


def case_data(name):
    """The data sets of make_hausman_cases.R: ``d`` Grunfeld with the firm-level regressor
    firmclass, ``du`` the unbalanced panel without the listed rows."""
    d = grunfeld()
    d["firmclass"] = d["firm"] % 3
    if name == "du":
        d = d.drop(index=np.asarray(CASES["dropped_rows_1based"]) - 1).reset_index(drop=True)
    return d


def printed(case_id):
    with open(os.path.join(REF_DIR, "printed", f"hausman_{case_id}.txt"), encoding="utf-8") as fh:
        return fh.read()


def run_case(case):
    kwargs = dict(group="firm", time="year", method=case["method"], effects=case["effect"])
    if case["vcov"] is not None:
        kwargs["vcov"] = case["vcov"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = merx.hausman(case["formula"], case_data(case["data"]), **kwargs)
    return result, [str(w.message) for w in caught]


def assert_table(table, ref):
    assert list(table.index) == ref["names"]
    np.testing.assert_allclose(table["estimate"].to_numpy(), ref["estimate"], rtol=RTOL)
    np.testing.assert_allclose(table["std_error"].to_numpy(), ref["std_error"], rtol=RTOL)


def test_grunfeld_shared_reference():
    ref = load_ref("hausman_grunfeld")
    r = merx.hausman(ref["formula"], grunfeld(), group=ref["index"][0], time=ref["index"][1])
    np.testing.assert_allclose(r.statistic, ref["chisq"], rtol=RTOL)
    assert r.df == ref["df"]
    np.testing.assert_allclose(r.p_value, ref["p_value"], rtol=RTOL)
    assert_table(r.within, ref["within"])
    assert_table(r.random, ref["random"])
    for key, want in ref["random_ercomp"].items():
        np.testing.assert_allclose(r.variance_components[key], want, rtol=RTOL, err_msg=key)
    assert r.positive_definite and r.dropped == [] and r.compared == ["value", "capital"]
    assert str(r) == printed("balanced_chisq")


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_plm_cases(case_id):
    case = CASES[case_id]
    r, messages = run_case(case)
    np.testing.assert_allclose(r.statistic, case["statistic"], rtol=RTOL)
    assert r.df == case["df"]
    np.testing.assert_allclose(r.p_value, case["p_value"], rtol=RTOL)
    assert r.method == case["method_name"]
    assert str(r) == printed(case_id)
    if case["method"] == "chisq":
        assert_table(r.within, case["within"])
        assert_table(r.random, case["random"])
        effect_key = "sigma2_id" if case["effect"] == "individual" else "sigma2_time"
        want = case["sigma2"]
        np.testing.assert_allclose(r.variance_components["sigma2_idios"], want["idios"], rtol=RTOL)
        # time effects on Grunfeld: Swamy-Arora's σ²_time is negative, set to 0 (θ = 0) as plm does
        np.testing.assert_allclose(r.variance_components[effect_key], want["id" if effect_key == "sigma2_id" else "time"],
                                   rtol=RTOL)
        np.testing.assert_allclose(np.ravel(r.variance_components["theta"]), np.ravel(case["theta"]), rtol=RTOL)
    pd_warnings = [m for m in messages if "not positive definite" in m]
    assert len(pd_warnings) == (1 if case_id == "not_positive_definite_chisq" else 0), messages
    dropped_warnings = [m for m in messages if "dropped by the within estimator" in m]
    if case_id == "time_invariant_chisq":
        assert r.dropped == ["firmclass"] and len(dropped_warnings) == 1 and "firmclass" in dropped_warnings[0]
    else:
        assert r.dropped == [] and not dropped_warnings


def test_not_positive_definite_flag():
    r, messages = run_case(CASES["not_positive_definite_chisq"])
    assert r.positive_definite is False
    assert any("V_within - V_random" in m and "not positive definite" in m for m in messages)


def test_reml_components_are_lmers():
    """random="reml": σ²_ν, σ²_η from the REML fit of y ~ x + (1 | firm); the GLS estimates
    and their covariance are then lmer's β̂ and vcov."""
    d = grunfeld()
    r = merx.hausman(FORMULA, d, group="firm", time="year", random="reml")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = merx.lmer(FORMULA + " + (1 | firm)", d)
    np.testing.assert_allclose(r.variance_components["sigma2_idios"], m.sigma ** 2, rtol=1e-10)
    np.testing.assert_allclose(r.variance_components["sigma2_id"], (m.sigma * m.theta.iloc[0]) ** 2, rtol=1e-10)
    np.testing.assert_allclose(r.random["estimate"].to_numpy(), m.fixef.to_numpy(), rtol=1e-7)
    np.testing.assert_allclose(r.random["std_error"].to_numpy(), np.sqrt(np.diag(m.vcov.to_numpy())), rtol=1e-7)
    assert r.random_method == "reml"
    swar = merx.hausman(FORMULA, d, group="firm", time="year")
    assert r.within.equals(swar.within)
    assert r.statistic != swar.statistic


def test_dict_input_agrees_with_pandas():
    d = grunfeld()
    ref = merx.hausman(FORMULA, d, group="firm", time="year")
    r = merx.hausman(FORMULA, {c: d[c].to_numpy() for c in d.columns}, group="firm", time="year")
    assert r.statistic == ref.statistic and r.within.equals(ref.within)


@pytest.mark.parametrize("kwargs, message", [
    (dict(group="company", time="year"), "group column 'company' is not in the data"),
    (dict(group="firm", time="period"), "time column 'period' is not in the data"),
    (dict(group="firm", time="year", effects="time", method="chisq", vcov="vcovHC"), "method='aux'"),
])
def test_bad_index_and_arguments(kwargs, message):
    with pytest.raises(merx.MerxError, match=message):
        merx.hausman(FORMULA, grunfeld(), **kwargs)


def test_index_column_missing_is_a_data_error():
    with pytest.raises(merx.DataError, match="'company'"):
        merx.hausman(FORMULA, grunfeld(), group="company", time="year")


def test_fewer_than_two_groups():
    d = grunfeld()
    with pytest.raises(merx.DataError, match="at least 2 groups"):
        merx.hausman(FORMULA, d[d["firm"] == 1], group="firm", time="year")


def test_only_time_invariant_regressors():
    d = case_data("d")
    with pytest.raises(merx.DataError, match=r"firmclass.*constant within each level of 'firm'"):
        merx.hausman("inv ~ firmclass", d, group="firm", time="year")


def test_duplicate_panel_rows():
    d = grunfeld()
    d.loc[1, "year"] = d.loc[0, "year"]
    with pytest.raises(merx.DataError, match="more than one row for group '1' at time '1935'"):
        merx.hausman(FORMULA, d, group="firm", time="year")


def test_unsupported_effects_and_methods():
    with pytest.raises(merx.MerxError, match="twoways"):
        merx.hausman(FORMULA, grunfeld(), group="firm", time="year", effects="twoways")
    with pytest.raises(merx.MerxError, match="time index"):
        merx.hausman(FORMULA, grunfeld(), group="firm", effects="time")
    with pytest.raises(merx.MerxError, match="method must be"):
        merx.hausman(FORMULA, grunfeld(), group="firm", method="lm")
    with pytest.raises(merx.FormulaError, match="random-effects terms"):
        merx.hausman(FORMULA + " + (1 | firm)", grunfeld(), group="firm")


def test_grunfeld_is_a_bundled_example():
    assert "Grunfeld" in merx.list_examples()
    d = grunfeld()
    assert d.shape == (200, 5) and list(d.columns) == ["firm", "year", "inv", "value", "capital"]


def test_rows_with_missing_values_are_dropped():
    """A missing regressor or index value drops the row (na.omit), as plm's model frame does."""
    d = grunfeld()
    with_na = d.copy()
    with_na["value"] = with_na["value"].astype(float)
    with_na.loc[5, "value"] = np.nan
    with_na["firm"] = with_na["firm"].astype(float)
    with_na.loc[17, "firm"] = np.nan
    without = d.drop(index=[5, 17]).reset_index(drop=True)
    r_na = merx.hausman(FORMULA, with_na, group="firm", time="year")
    r = merx.hausman(FORMULA, without, group="firm", time="year")
    np.testing.assert_allclose(r_na.statistic, r.statistic, rtol=1e-12)
    np.testing.assert_allclose(np.ravel(r_na.variance_components["theta"]), np.ravel(r.variance_components["theta"]),
                               rtol=1e-12)
    assert np.ravel(r.variance_components["theta"]).size == 198  # unbalanced: one θ_i per observation
