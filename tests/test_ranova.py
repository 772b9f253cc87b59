"""merx.ranova / LmerResult.ranova(): lmerTest's single term deletions of random-effects terms.

References: tests/reference/ranova_lmertest.json and printed/ranova_*.txt, made by
tests/reference/make_ranova.R (lmerTest's ranova(), reduce.terms = TRUE, on sleepstudy with a
correlated slope (REML and ML), the split (1 | Subject) + (0 + Days | Subject), a scalar term
whose removal leaves a linear model (REML and ML), Penicillin's crossed terms and Machines'
factor slope (Machine | Worker))."""

from __future__ import annotations

import math

import numpy as np
import pytest

import merx
from merx.results.ranova import BOUNDARY_NOTE, RANOVA_TITLE
from refutil import REF_DIR, load_ref, ref_data

REFS = load_ref("ranova_lmertest")
DATA = {"sleep": "sleepstudy", "pen": "Penicillin", "mach": "Machines"}


def _fit(ref: dict):
    return merx.lmer(ref["formula"], ref_data(DATA[ref["data"]]), REML=ref["REML"])


@pytest.fixture(scope="module", params=sorted(REFS))
def case(request):
    ref = REFS[request.param]
    return request.param, ref, _fit(ref).ranova()


def _num(values) -> np.ndarray:
    return np.array([math.nan if v is None else v for v in values], dtype=float)


def test_rows_and_parameter_counts_are_lmertests(case):
    _, ref, result = case
    assert list(result.table.index) == ref["rows"]
    assert result.table["npar"].tolist() == ref["npar"]
    np.testing.assert_array_equal(result.table["Df"].to_numpy()[1:], _num(ref["Df"])[1:])


def test_loglik_and_lrt_match_lmertest(case):
    _, ref, result = case
    np.testing.assert_allclose(result.table["logLik"], ref["logLik"], rtol=1e-6)
    np.testing.assert_allclose(result.table["AIC"], ref["AIC"], rtol=1e-6)
    np.testing.assert_allclose(result.table["LRT"].to_numpy()[1:], _num(ref["LRT"])[1:], rtol=1e-6)
    np.testing.assert_allclose(result.p_values.to_numpy()[1:], _num(ref["p"])[1:], rtol=1e-4)
    assert math.isnan(result.table["LRT"].iloc[0]) and math.isnan(result.p_values.iloc[0])


def test_printed_table_is_lmertests_and_the_note_follows(case):
    cid, _, result = case
    with open(f"{REF_DIR}/printed/ranova_{cid}.txt") as fh:
        want = fh.read().rstrip("\n")
    assert result.format(note=False) == want
    assert str(result) == want + "\n" + BOUNDARY_NOTE
    assert str(result).startswith(RANOVA_TITLE + "\n\nModel:\n")


def test_reduced_formulae_merge_duplicate_terms():
    ref = REFS["sleep_split"]
    result = _fit(ref).ranova()
    assert result.formulae == {
        "(1 | Subject)": "Reaction ~ Days + (0 + Days | Subject)",
        "Days in (0 + Days | Subject)": "Reaction ~ Days + (1 | Subject)",
    }
    reduced = result.models["Days in (0 + Days | Subject)"]
    assert [b.columns for b in reduced.frame.blocks] == [["(Intercept)"]]


def test_reml_fit_keeps_reml_for_the_reduced_fits():
    result = _fit(REFS["sleep_slope"]).ranova()
    (reduced,) = result.models.values()
    assert reduced.reml
    assert _fit(REFS["sleep_slope_ml"]).ranova().models["Days in (Days | Subject)"].reml is False


def test_removing_the_last_term_gives_the_linear_model_row():
    result = _fit(REFS["sleep_intercept"]).ranova()
    assert result.models["(1 | Subject)"] is None
    assert result.table.loc["(1 | Subject)", "npar"] == 3


def test_reduce_terms_false_removes_whole_terms():
    sleep = ref_data("sleepstudy")
    m = merx.lmer("Reaction ~ Days + (Days | Subject)", sleep)
    result = m.ranova(reduce_terms=False)
    assert list(result.table.index) == ["<none>", "(Days | Subject)"]
    assert result.table.loc["(Days | Subject)", "npar"] == 3
    assert result.table.loc["(Days | Subject)", "Df"] == 3
    assert merx.ranova(m).table.equals(m.ranova().table)


def test_bad_arguments_raise_clear_errors():
    sleep = ref_data("sleepstudy")
    m = merx.lmer("Reaction ~ Days + (1 | Subject)", sleep)
    with pytest.raises(merx.MerxError, match="reduce_terms must be True or False"):
        m.ranova(reduce_terms="yes")
    cbpp = merx.load_example("cbpp")
    g = merx.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial")
    with pytest.raises(merx.MerxError, match="linear mixed model"):
        merx.ranova(g)
