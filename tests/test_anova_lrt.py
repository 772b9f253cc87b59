"""merx.anova(m0, m1, ...): lme4's likelihood-ratio comparison of nested mixed models.

References: tests/reference/sleepstudy_anova_lrt.json and printed/sleepstudy_anova_print.txt
(lme4 1.1-31's anova(m0, m1) on sleepstudy), and tests/reference/anova_lrt_cases.json
(tests/reference/make_anova_lrt.R: cbpp glmer fits, three REML fits refitted with ML, REML
fits with refit = FALSE, two models with the same number of parameters, R's pchisq grid).
"""

from __future__ import annotations

import math
import pickle
import re
import warnings

import numpy as np
import pytest

import merx
from merx.models.anova import REFIT_MESSAGE
from merx.results.distributions import chisq_upper_tail, regularized_gamma_p, regularized_gamma_q
from refutil import REF_DIR, load_ref, ref_data

COLUMNS = ["npar", "AIC", "BIC", "logLik", "deviance", "Chisq", "Df", "Pr(>Chisq)"]
CASES = {c["id"]: c for c in load_ref("anova_lrt_cases")["cases"]}
CBPP_RESPONSE = "cbind(incidence, size - incidence)"


@pytest.fixture(scope="module")
def sleep():
    return ref_data("sleepstudy")


@pytest.fixture(scope="module")
def cbpp():
    return ref_data("cbpp")


def _lmer(formula, data, data_name="sleepstudy", **kw):
    return merx.lmer(formula, data, data_name=data_name, **kw)


def _assert_table(table, rows, rtol=1e-6, atol=0.0):
    assert list(table.columns) == COLUMNS
    assert list(table.index) == [r["term"] for r in rows]
    for (_, got), want in zip(table.iterrows(), rows):
        for col in COLUMNS:
            if want[col] is None:
                assert math.isnan(got[col]), (want["term"], col)
            else:
                assert got[col] == pytest.approx(want[col], rel=rtol, abs=atol), (want["term"], col)


def _anova_quiet(*models, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = merx.anova(*models, **kw)
    return out, [str(w.message) for w in caught]


# -- the sleepstudy reference (lme4's anova(m0, m1) of ML fits) --------------------------


def test_sleepstudy_reference_table(sleep):
    ref = load_ref("sleepstudy_anova_lrt")
    m0, m1 = (_lmer(f, sleep, REML=ref["call"]["REML"]) for f in ref["formulas"])
    a, msgs = _anova_quiet(m0, m1)
    assert msgs == []  # ML fits: nothing to refit
    _assert_table(a.table, ref["table"])
    assert a.table["npar"].tolist() == [m["logLik_df"] for m in ref["models"]]
    assert a.chisq.iloc[1] == pytest.approx(ref["chisq"], rel=1e-6)
    assert a.p_values.iloc[1] == pytest.approx(ref["p_value"], rel=1e-6)


def test_sleepstudy_printed_as_lme4(sleep):
    """REML fits, refitted with ML (lme4's message as a UserWarning), printed line by line as
    lme4 prints anova(m0, m2) of fits to data `ss`."""
    want = (REF_DIR + "/printed/sleepstudy_anova_print.txt")
    with open(want, encoding="utf-8") as fh:
        want_lines = fh.read().rstrip("\n").split("\n")
    m0 = _lmer("Reaction ~ Days + (1 | Subject)", sleep, data_name="ss")
    m2 = _lmer("Reaction ~ Days + (Days | Subject)", sleep, data_name="ss")
    with pytest.warns(UserWarning, match=re.escape(REFIT_MESSAGE)):
        a = merx.anova(m0, m2, names=["m0", "m2"])
    assert str(a).split("\n") == want_lines
    assert repr(a) == str(a)
    assert a.refitted == ["m0", "m2"]
    # the inputs are left as they were; the table's rows come from the ML refits
    assert m0.reml and m2.reml
    assert not any(m.reml for m in a.models.values())
    _assert_table(a.table.rename(index={"m2": "m1"}), load_ref("sleepstudy_anova_lrt")["table"])


def test_three_models_refitted_and_sorted_by_npar(sleep):
    case = CASES["sleepstudy_refit_three"]
    fits = {f["formula"]: f for f in case["models"]}
    fm1, fm0, fm2 = (_lmer(f, sleep) for f in fits)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a = merx.anova(fm1, fm0, fm2, names=["fm1", "fm0", "fm2"])
    assert [str(w.message) for w in caught] == case["messages"] == [REFIT_MESSAGE]
    assert caught[0].filename == __file__  # reported at the user's call
    assert list(a.models) == ["fm0", "fm2", "fm1"]
    _assert_table(a.table, case["table"])
    assert str(a).split("\n") == case["printed"]


def test_refit_false_compares_reml_fits(sleep):
    case = CASES["sleepstudy_reml_norefit"]
    fm0, fm1 = (_lmer(f["formula"], sleep) for f in case["models"])
    a, msgs = _anova_quiet(fm0, fm1, names=["fm0", "fm1"], refit=False)
    assert msgs == case["warnings"] == []
    assert a.refitted == [] and all(m.reml for m in a.models.values())
    assert a.models["fm0"] is fm0
    _assert_table(a.table, case["table"])
    assert str(a).split("\n") == case["printed"]


def test_refit_false_with_reml_and_ml_fits_warns(sleep):
    m0 = _lmer("Reaction ~ Days + (1 | Subject)", sleep)
    m1 = _lmer("Reaction ~ Days + (Days | Subject)", sleep, REML=False)
    with pytest.warns(UserWarning, match="some models fit with REML = TRUE, some not"):
        merx.anova(m0, m1, refit=False)


def test_same_number_of_parameters_has_no_p_value(sleep):
    case = CASES["sleepstudy_same_npar"]
    fm3, fm0ml = (_lmer(f["formula"], sleep, REML=False) for f in case["models"])
    a, msgs = _anova_quiet(fm3, fm0ml, names=["fm3", "fm0ml"])
    assert msgs == []
    _assert_table(a.table, case["table"], atol=1e-9)
    assert str(a).split("\n") == case["printed"]


def test_refit_uses_the_weights_of_the_fit(sleep):
    d = sleep.copy()
    d["w"] = np.linspace(0.5, 2.0, len(d))
    reml = _lmer("Reaction ~ Days + (Days | Subject)", d, weights="w")
    ml = _lmer("Reaction ~ Days + (Days | Subject)", d, weights="w", REML=False)
    m0 = _lmer("Reaction ~ Days + (1 | Subject)", d, weights="w", REML=False)
    a, _ = _anova_quiet(m0, reml)
    assert a.models["m1"].weights_name == "w"
    assert a.table.loc["m1", "logLik"] == pytest.approx(ml.logLik, rel=1e-12)
    assert a.table.loc["m1", "npar"] == ml.df


# -- GLMMs ----------------------------------------------------------------------------


def _assert_printed_close(got: list, want: list) -> None:
    """The same lines, widths and words; numbers may differ by one unit in the last printed digit."""
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert len(g) == len(w), (g, w)
        gt, wt = g.split(), w.split()
        assert len(gt) == len(wt), (g, w)
        for a, b in zip(gt, wt):
            try:
                fa, fb = float(a), float(b)
            except ValueError:
                assert a == b, (g, w)
                continue
            decimals = len(b.split(".")[1].split("e")[0]) if "." in b else 0
            assert abs(fa - fb) <= 1.01 * 10.0 ** (-decimals) * (1 if "e" not in b else abs(fb)), (g, w)


def test_glmer_comparison_cbpp(cbpp):
    """lme4's anova(gm1, gm0) on cbpp. merx's Laplace log-likelihoods are 2-3e-4 above lme4's
    (lme4 evaluates log|L|² one PIRLS step short of the modes; a tighter lme4 optimizer gives
    the same values), so Chisq agrees to 1.3e-4 and the printed logLik of gm0 in the last digit."""
    case = CASES["cbpp_glmer"]
    gm1 = merx.glmer(f"{CBPP_RESPONSE} ~ period + (1 | herd)", cbpp, "binomial", data_name="cbpp")
    gm0 = merx.glmer(f"{CBPP_RESPONSE} ~ 1 + (1 | herd)", cbpp, "binomial", data_name="cbpp")
    a, msgs = _anova_quiet(gm1, gm0, names=["gm1", "gm0"])
    assert msgs == case["messages"] == []
    _assert_table(a.table, case["table"], rtol=1e-5, atol=5e-4)
    assert a.table["npar"].tolist() == [2, 5]
    assert a.table["Pr(>Chisq)"].iloc[1] == pytest.approx(case["table"][1]["Pr(>Chisq)"], rel=1e-4)
    # deviance is -2 logLik, not the GLMM's deviance()
    assert a.table.loc["gm1", "deviance"] == pytest.approx(-2 * gm1.logLik)
    _assert_printed_close(str(a).split("\n"), case["printed"])


def test_glmer_of_different_links_is_an_error(cbpp):
    logit = merx.glmer(f"{CBPP_RESPONSE} ~ 1 + (1 | herd)", cbpp, "binomial")
    probit = merx.glmer(f"{CBPP_RESPONSE} ~ period + (1 | herd)", cbpp, merx.families.Binomial(link="probit"))
    with pytest.raises(merx.MerxError, match=r"same family and link: m0: binomial\(logit\), m1: binomial\(probit\)"):
        merx.anova(logit, probit)


# -- errors ---------------------------------------------------------------------------


def test_different_data_sizes(sleep):
    m0 = _lmer("Reaction ~ Days + (1 | Subject)", sleep, REML=False)
    m1 = _lmer("Reaction ~ Days + (Days | Subject)", sleep.head(170), REML=False)
    with pytest.raises(merx.MerxError) as err:
        merx.anova(m0, m1)
    msg = str(err.value)
    assert "models were not all fitted to the same size of dataset" in msg
    assert "m0 has 180 observations" in msg and "m1 has 170 observations" in msg


def test_single_model_and_non_models(sleep):
    m0 = _lmer("Reaction ~ Days + (1 | Subject)", sleep)
    with pytest.raises(merx.MerxError, match="two or more fitted models"):
        merx.anova(m0)
    with pytest.raises(merx.MerxError, match="two or more fitted models"):
        merx.anova()
    with pytest.raises(merx.MerxError, match="argument 2 is a DataFrame"):
        merx.anova(m0, sleep)


def test_lmer_with_glmer_is_an_error(sleep, cbpp):
    lm = _lmer("Reaction ~ Days + (1 | Subject)", sleep)
    gm = merx.glmer(f"{CBPP_RESPONSE} ~ 1 + (1 | herd)", cbpp, "binomial")
    with pytest.raises(merx.MerxError, match=r"lmer\) with generalized ones \(glmer\): m0: lmer, m1: glmer"):
        merx.anova(lm, gm)


def test_different_responses_or_data(sleep):
    d = sleep.copy()
    d["logR"] = np.log(d["Reaction"])
    m0 = _lmer("Reaction ~ Days + (1 | Subject)", d, REML=False)
    m1 = _lmer("logR ~ Days + (1 | Subject)", d, REML=False)
    with pytest.raises(merx.MerxError, match="responses differ: m0: Reaction, m1: logR"):
        merx.anova(m0, m1)
    other = _lmer("Reaction ~ Days + (1 | Subject)", d, REML=False, data_name="other")
    with pytest.raises(merx.MerxError, match="same data object: m0: sleepstudy, m1: other"):
        merx.anova(m0, other)
    shifted = d.assign(Reaction=d["Reaction"] + 1.0)
    m2 = _lmer("Reaction ~ Days + (Days | Subject)", shifted, REML=False)
    with pytest.raises(merx.MerxError, match="the response of m1 differs from that of m0"):
        merx.anova(m0, m2)


def test_names(sleep):
    m0 = _lmer("Reaction ~ Days + (1 | Subject)", sleep, REML=False, data_name=None)
    m1 = _lmer("Reaction ~ Days + (Days | Subject)", sleep, REML=False, data_name=None)
    a, _ = _anova_quiet(m1, m0)
    assert list(a.table.index) == ["m1", "m0"]  # positional names, then sorted by npar
    assert a.heading[0] == "Models:"  # no data name: no "Data:" line
    with pytest.raises(merx.MerxError, match="names= gives 1 names for 2 models"):
        merx.anova(m0, m1, names=["a"])
    with pytest.warns(UserWarning, match="failed to find model names, assigning generic names"):
        a = merx.anova(m0, m1, names=["x", "x"])
    assert list(a.table.index) == ["MODEL1", "MODEL2"]
    a, _ = _anova_quiet([m0, m1], names=("small", "big"))  # a list of models also works
    assert list(a.table.index) == ["small", "big"]


def test_result_pickles(sleep):
    m0 = _lmer("Reaction ~ Days + (1 | Subject)", sleep, REML=False)
    m1 = _lmer("Reaction ~ Days + (Days | Subject)", sleep, REML=False)
    a, _ = _anova_quiet(m0, m1)
    back = pickle.loads(pickle.dumps(a))
    assert str(back) == str(a)
    assert isinstance(back, merx.AnovaResult)


# -- the chi-squared upper tail -------------------------------------------------------


def test_chisq_upper_tail_matches_r():
    grid = load_ref("anova_lrt_cases")["pchisq_upper"]
    for x, df, p in zip(grid["x"], grid["df"], grid["p"]):
        assert chisq_upper_tail(x, df) == pytest.approx(p, rel=1e-12, abs=1e-300), (x, df)


def test_chisq_upper_tail_edges():
    assert chisq_upper_tail(0.0, 3) == 1.0
    assert chisq_upper_tail(math.inf, 3) == 0.0
    assert math.isnan(chisq_upper_tail(1.0, 0))
    assert math.isnan(chisq_upper_tail(math.nan, 2))
    assert chisq_upper_tail(3.84, 1) == pytest.approx(0.05004352124870519, rel=1e-14)
    for a, x in [(0.5, 0.2), (3.0, 2.0), (3.0, 9.0), (40.0, 35.0), (40.0, 60.0)]:
        assert regularized_gamma_p(a, x) + regularized_gamma_q(a, x) == pytest.approx(1.0, abs=1e-14)
    # a = 1: the exponential distribution
    assert regularized_gamma_q(1.0, 7.0) == pytest.approx(math.exp(-7.0), rel=1e-14)
