"""merx.anova of lme fits against nlme 3.1-162's anova.lme (tests/reference/make_lme_anova.R):
the likelihood-ratio table of several fits (REML and ML) and the sequential and marginal F
tests of one fit, numbers and print.anova.lme's layout."""

import numpy as np
import pytest

import merx
from refutil import load_ref, ref_data

CASES = load_ref("lme_anova_cases")
GPA = ref_data("gpa")


def fit(fixed, random, method, weights=None):
    return merx.lme(fixed, GPA, random, weights=weights, method=method)


@pytest.fixture(scope="module")
def fits():
    return {
        "m1": fit("gpa ~ occasion", "~1 | student", "REML"),
        "m2": fit("gpa ~ occasion", "~1 | student", "REML", merx.varIdent("~1 | occasion")),
        "m3": fit("gpa ~ occasion", "~occasion | student", "REML"),
        "m4": fit("gpa ~ occasion + sex + job", "~1 | student", "ML"),
        "m5": fit("gpa ~ occasion", "~1 | student", "ML"),
        "m6": fit("gpa ~ occasion * sex + job", "~occasion | student", "REML"),
    }


def check_table(got, ref, columns):
    assert list(got.table.index) == ref["rows"]
    for col in columns:
        want = np.array([np.nan if v is None else v for v in ref["values"][col]], dtype=float)
        have = got.table[col].to_numpy(dtype=float)
        assert np.isnan(have).tolist() == np.isnan(want).tolist(), col
        ok = ~np.isnan(want)
        # p-values near 5e-4 move 5e-5 relative with the F value's 1e-7
        assert have[ok] == pytest.approx(want[ok], rel=1e-4 if col == "p-value" else 2e-5, abs=1e-12), col
    same_print(str(got).rstrip("\n").split("\n"), ref["printed"])


def same_print(got, want):
    """The printed lines: the same widths and words, numbers equal to 2e-5 relative (the two
    optimizers stop on a flat likelihood: on m6 the F values differ by up to 8.5e-6 and may
    differ in their last printed digit; merx's logLik is the higher, by 2e-9)."""
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert len(g) == len(w), (g, w)
        for a, b in zip(g.split(), w.split()):
            try:
                assert float(a) == pytest.approx(float(b), rel=2e-5), (g, w)
            except ValueError:
                assert a == b, (g, w)


@pytest.mark.parametrize("case, models", [("lrt_three", ["m1", "m2", "m3"]), ("lrt_ml", ["m5", "m4"])])
def test_likelihood_ratio_table(fits, case, models):
    got = merx.anova(*[fits[k] for k in models], names=models)
    check_table(got, CASES[case], ["Model", "df", "AIC", "BIC", "logLik", "L.Ratio", "p-value"])
    assert list(got.table["Test"]) == CASES[case]["values"]["Test"]


@pytest.mark.parametrize("case, model, kind", [
    ("f_sequential_ml", "m4", "sequential"), ("f_marginal_ml", "m4", "marginal"),
    ("f_sequential_reml", "m6", "sequential"), ("f_marginal_reml", "m6", "marginal"),
])
def test_f_tests_of_one_fit(fits, case, model, kind):
    check_table(merx.anova(fits[model], type=kind), CASES[case], ["numDF", "denDF", "F-value", "p-value"])


def test_rules_and_bad_input(fits):
    with pytest.warns(UserWarning, match="different fixed effects. REML comparisons are not meaningful"):
        merx.anova(fits["m1"], fits["m6"])
    with pytest.raises(merx.MerxError, match="same estimation method"):
        merx.anova(fits["m1"], fits["m5"])
    with pytest.raises(merx.MerxError, match="lme and gls fits with each other"):
        merx.anova(fits["m1"], merx.lmer("gpa ~ occasion + (1 | student)", GPA))
    with pytest.raises(merx.MerxError, match="type must be"):
        merx.anova(fits["m1"], type="III")
    with pytest.raises(merx.MerxError, match="2 names for 3 models"):
        merx.anova(fits["m1"], fits["m2"], fits["m3"], names=["a", "b"])
    other = merx.lme("highgpa ~ occasion", GPA, "~1 | student")
    with pytest.raises(merx.MerxError, match="different responses"):
        merx.anova(fits["m1"], other)


@pytest.fixture(scope="module")
def gls_fits():
    return {
        "g1": merx.gls("gpa ~ occasion + sex + job", GPA, correlation=merx.corAR1(form="~occasion | student"),
                       method="ML"),
        "g0": merx.gls("gpa ~ occasion + sex + job", GPA, method="ML"),
    }


@pytest.mark.parametrize("case, kind", [("gls_f_sequential", "sequential"), ("gls_f_marginal", "marginal")])
def test_f_tests_of_a_gls_fit(gls_fits, case, kind):
    got = merx.anova(gls_fits["g1"], type=kind)
    check_table(got, CASES[case], ["numDF", "F-value", "p-value"])
    assert set(got.table["denDF"]) == {1195}


def test_likelihood_ratio_table_of_gls_and_lme(fits, gls_fits):
    got = merx.anova(gls_fits["g0"], gls_fits["g1"], fits["m4"], names=["g0", "g1", "m4"])
    check_table(got, CASES["gls_lme_lrt"], ["Model", "df", "AIC", "BIC", "logLik", "L.Ratio", "p-value"])
