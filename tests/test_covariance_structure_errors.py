"""Bad input around glmmTMB's covariance-structure wrappers: the errors name the problem and
the fix (glmmTMB 1.1.5's own rules where it has them)."""

import numpy as np
import pandas as pd
import pytest
from refutil import load_ref, ref_data

import merx
from merx.formula.model_formula import parse_formula
from merx.models.lmer import fit_structured_lmm


@pytest.fixture(scope="module")
def gpa():
    return ref_data("gpa")


@pytest.mark.parametrize("formula, message", [
    ("gpa ~ occasion + ar1(occas | student)",
     r"ar1\(occas \| student\) has an intercept: .*glmmTMB warns that AR1 is not meaningful with an intercept.*"
     r"write ar1\(0 \+ f \| student\)"),
    ("gpa ~ occasion + ar1(0 + occas + job | student)",
     r"ar1\(\) needs a single factor time variable, as in ar1\(0 \+ f \| student\); .* has the terms \['occas', 'job'\]"),
    ("gpa ~ occasion + ar1(0 + occas:job | student)", r"ar1\(\) needs a single factor time variable"),
    ("gpa ~ occasion + toep(0 + occas | student)",
     r"glmmTMB's toep\(\) covariance structure .* is not available in merx: use us\(\), diag\(\), cs\(\) or ar1\(\)"),
    ("gpa ~ occasion + corAR1(0 + occas | student)",
     r"unknown covariance structure corAR1\(\) around a random-effects term"),
    ("gpa ~ occasion + cs(1 | student)", r"cs\(1 \| student\) has one column .* write \(1 \| student\)"),
    ("gpa ~ occasion + diag(occasion || student)", r"'\|\|' inside diag\(\) .* write diag\(occasion \| student\)"),
    ("gpa ~ occasion + ar1(0 + occas | student, 2)", r"ar1\(\) takes one random-effects term and nothing else"),
    ("gpa ~ occasion + ar1(occasion)", None),  # no bar inside: a fixed-effects call, refused by the frame
])
def test_formula_errors(formula, message):
    if message is None:
        parsed = parse_formula(formula)
        assert not parsed.random and parsed.fixed == "occasion + ar1(occasion)"
        return
    with pytest.raises(merx.FormulaError, match=message):
        parse_formula(formula)


def test_ar1_on_a_numeric_variable(gpa):
    with pytest.raises(merx.FormulaError, match=r"ar1\(\) needs a factor time variable: 'occasion' in "
                       r"ar1\(0 \+ occasion \| student\) is not a factor; use ar1\(0 \+ factor\(occasion\) \| student\)"):
        fit_structured_lmm("gpa ~ occasion + ar1(0 + occasion | student)", gpa)
    # factor(occasion) is the fix
    m = fit_structured_lmm("gpa ~ occasion + ar1(0 + factor(occasion) | student)", gpa)
    assert m.frame.blocks[0].covariance == "ar1" and len(m.frame.blocks[0].columns) == 6


def test_ar1_on_a_factor_with_one_level():
    rng = np.random.default_rng(3)
    d = pd.DataFrame({"y": rng.normal(size=40), "g": np.repeat(list("abcdefghij"), 4),
                      "t": pd.Categorical(["t1"] * 40)})
    with pytest.raises(merx.DataError, match=r"factor 't' in random-effects term \(0 \+ t \| g\) has fewer than 2 levels"):
        fit_structured_lmm("y ~ 1 + ar1(0 + t | g)", d)


def test_cs_of_one_column(gpa):
    with pytest.raises(merx.FormulaError, match=r"cs\(0 \+ occasion \| student\) has one column, so there is no "
                       r"correlation to estimate: write \(0 \+ occasion \| student\)"):
        fit_structured_lmm("gpa ~ occas + cs(0 + occasion | student)", gpa)


@pytest.mark.parametrize("fun", ["lmer", "glmer"])
def test_lme4_interfaces_refuse_the_wrappers(gpa, fun):
    formula = "gpa ~ occasion + ar1(0 + occas | student) + diag(1 | student)"
    kwargs = {"family": "poisson"} if fun == "glmer" else {}
    with pytest.raises(merx.FormulaError, match=fr"{fun}\(\) fits lme4's random-effects terms, which have no "
                       r"covariance-structure wrappers; ar1\(\), diag\(\) in formula .* are glmmTMB's: fit the model "
                       r"with merx.glmmTMB"):
        getattr(merx, fun)(formula, gpa, **kwargs)


def test_ranova_refuses_structured_terms(gpa):
    m = fit_structured_lmm(load_ref("gpa_glmmtmb_ar1_only")["formula"], gpa)
    with pytest.raises(merx.MerxError, match=r"ranova\(\) reduces lme4's random-effects terms .* ar1 covariance"):
        merx.ranova(m)
    # Wald intervals: the fixed effects', the variance parameters' rows named but empty
    ci = m.confint(method="Wald")
    assert ci.iloc[:3].isna().all().all() and ci.iloc[3:].notna().all().all()


def test_profile_map_refuses_structures_without_one():
    from merx import _core

    with pytest.raises(ValueError, match=r"profile intervals of random-effects term 1 \(its covariance structure is "
                       r"compound_symmetry\) are not available: use method=\"boot\""):
        _core.sdcor_of_theta([(2, "ar1"), (3, "compound_symmetry")], [1.0, 0.5, 1.0, 0.2], 1.0)
