"""GlmerResult's printed layouts (lme4's ``summary()`` and ``print()`` of a glmerMod),
``tidy()`` of a GLMM and the command line's ``--family``.

As in tests/test_results_printing.py, a result is also rebuilt from the reference JSON files
(lme4 1.1-31's estimates on the real model frame), so that the printed text can be compared
with lme4's line by line; merx's own fits are then compared up to the optimizer's
tolerance, with the one known difference (cbpp's Hessian-based standard errors) asserted
explicitly.
"""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import numpy as np
import pytest

import merx
from merx import _core
from merx.families import resolve_family
from merx.frame.model_frame import build_model_frame
from merx.results.glmer import GlmerResult
from merx.rstyle.matrices import format_coefmat, format_pval, strwrap
from refutil import assert_cbpp_summary_close, load_ref, ref_data, ref_modes

ROOT = Path(__file__).resolve().parents[1]
PRINTED = ROOT / "tests" / "reference" / "printed"
CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
GROUSE = "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)"
SPEED = "decision ~ sex + samerace + attractive_sc + sincere_sc + intelligent_sc + (1 | iid)"


def glmer_from_reference(name: str, data_name: str | None = None) -> tuple[GlmerResult, dict]:
    """A GlmerResult holding lme4's estimates for reference ``name``."""
    d = load_ref(name)
    fam = resolve_family(f"{d['call']['family']}(link = \"{d['call']['link']}\")")
    frame = build_model_frame(d["formula"], ref_data(d["dataset"]), family=fam)
    assert frame.x_names == d["X_colnames"]
    b_list, cv_list = ref_modes(d, frame)
    cmp = d["devcomp"]["cmp"]
    fit = _core.MixedModelFit(
        theta=np.array(list(d["theta"].values()), dtype=float),
        beta=np.array([d["fixef"][k] for k in d["X_colnames"]]),
        u=np.zeros(d["Z_ncol"]),
        b=b_list,
        condvar=cv_list,
        vcov_beta=np.array(d["vcov"]["matrix"]),
        fitted=np.array(d["fitted"]),
        eta=np.array(d["fitted_link"]),
        family=d["call"]["family"],
        link=d["call"]["link"],
        deviance_residuals=d["deviance"],
        reml=False,
        sigma=1.0,
        objective=d["neg2logLik"],
        deviance_ml=d["neg2logLik"],
        reml_criterion=math.nan,
        ld_l2=cmp["ldL2"],
        ld_rx2=cmp["ldRX2"],
        pwrss=cmp["pwrss"],
        wrss=cmp["wrss"],
        ussq=cmp["ussq"],
        optimizer="Nelder_Mead",
        n_eval=d["optinfo"]["feval"],
        converged=True,
        message=d["optinfo"]["message"],
    )
    res = GlmerResult(frame, fit, data_name=data_name, call_formula=d["formula"], nAGQ=d["call"]["nAGQ"])
    return res, d


_fits: dict = {}


def merx_fit(formula: str, dataset: str, family: str, **kw) -> GlmerResult:
    key = (formula, dataset, family, tuple(sorted(kw.items())))
    if key not in _fits:
        _fits[key] = merx.glmer(formula, ref_data(dataset), family=family, **kw)
    return _fits[key]


# ---------------------------------------------------------------------------
# summary(fit) == lme4's, line by line
# ---------------------------------------------------------------------------


def test_cbpp_summary_matches_lme4_at_its_estimates():
    res, _ = glmer_from_reference("cbpp_laplace", data_name="cb")
    want = (PRINTED / "cbpp_laplace_summary.txt").read_text()
    got = str(res.summary()) + "\n"
    g, w = got.split("\n"), want.split("\n")
    assert len(g) == len(w), got
    for i, (a, b) in enumerate(zip(g, w)):
        assert a == b, f"line {i + 1}:\n got: {a!r}\nwant: {b!r}"
    assert repr(res.summary()) == str(res.summary())


def test_cbpp_summary_of_merx_fit():
    m = merx_fit(CBPP, "cbpp", "binomial", data_name="cb")
    got = str(m.summary()) + "\n"
    want = (PRINTED / "cbpp_laplace_summary.txt").read_text()
    assert got.split("\n")[:5] == want.split("\n")[:5]  # title, family, formula, data
    assert_cbpp_summary_close(got, want)


def _copy_fit(fit, **changes):
    """A copy of a typed fit with some fields changed."""
    names = {"ld_l2": "ldL2", "ld_rx2": "ldRX2"}
    keys = ["theta", "beta", "u", "b", "condvar", "vcov_beta", "fitted", "eta", "family", "link",
            "deviance_residuals", "reml", "sigma", "objective", "deviance_ml", "reml_criterion", "ld_l2", "ld_rx2",
            "pwrss", "wrss", "ussq", "optimizer", "n_eval", "converged", "message"]
    fields = {k: getattr(fit, names.get(k, k)) for k in keys}
    fields.update(changes)
    return _core.MixedModelFit(**fields)


def test_cbpp_merx_fit_with_lme4s_vcov_prints_lme4s_standard_errors():
    """The Std. Error / z / p columns differ from lme4's only through vcov: merx's estimates
    with lme4's vcov print lme4's standard errors and stars exactly, and z to the last digit."""
    m = merx_fit(CBPP, "cbpp", "binomial", data_name="cb")
    _, d = glmer_from_reference("cbpp_laplace")
    swapped = GlmerResult(m.frame, _copy_fit(m.fit, vcov_beta=np.array(d["vcov"]["matrix"])), data_name="cb",
                          call_formula=CBPP)
    got = str(swapped.summary()).split("\n")
    want = (PRINTED / "cbpp_laplace_summary.txt").read_text().split("\n")
    i = want.index("Fixed effects:")
    assert got[i:i + 2] == want[i:i + 2]  # the title and the column header
    for a, b in zip(got[i + 2:i + 6], want[i + 2:i + 6]):  # the four coefficient rows
        ta, tb = a.split(), b.split()
        assert len(a) == len(b) and ta[0] == tb[0] and ta[2] == tb[2] and ta[5:] == tb[5:], (a, b)
        assert abs(float(ta[1]) - float(tb[1])) <= 1e-3, (a, b)  # estimates: merx's optimum
        assert abs(float(ta[3]) - float(tb[3])) <= 3e-3, (a, b)  # z follows the estimate
    assert got[i + 6:] == want[i + 6:-1]  # the legend and lme4's correlations


def test_nagq0_title_names_the_quadrature():
    m = merx_fit(CBPP, "cbpp", "binomial", nAGQ=0)
    assert m.nAGQ == 0
    for text in (str(m.summary()), str(m)):
        assert text.split("\n")[:3] == [
            "Generalized linear mixed model fit by maximum likelihood (Adaptive",
            "  Gauss-Hermite Quadrature, nAGQ = 0) [glmerMod]",
            " Family: binomial  ( logit )",
        ]
    assert merx_fit(CBPP, "cbpp", "binomial").nAGQ == 1


def test_agq_title_and_likelihood_line_at_lme4_estimates():
    res, d = glmer_from_reference("cbpp_agq25", data_name="cb")
    assert res.nAGQ == 25
    lines = str(res.summary()).split("\n")
    assert lines[:2] == ["Generalized linear mixed model fit by maximum likelihood (Adaptive",
                         "  Gauss-Hermite Quadrature, nAGQ = 25) [glmerMod]"]
    assert lines[6:8] == ["     AIC      BIC   logLik deviance df.resid ",
                          "   110.0    120.1    -50.0    100.0       51 "]


# ---------------------------------------------------------------------------
# print(fit): lme4's print.merMod of a glmerMod
# ---------------------------------------------------------------------------


def test_cbpp_print_at_lme4_estimates():
    res, _ = glmer_from_reference("cbpp_laplace", data_name="cb")
    assert str(res).split("\n") == [
        "Generalized linear mixed model fit by maximum likelihood (Laplace",
        "  Approximation) [glmerMod]",
        " Family: binomial  ( logit )",
        "Formula: cbind(incidence, size - incidence) ~ period + (1 | herd)",
        "   Data: cb",
        "     AIC      BIC   logLik deviance df.resid ",
        "194.0531 204.1799 -92.0266 184.0531       51 ",
        "Random effects:",
        " Groups Name        Std.Dev.",
        " herd   (Intercept) 0.6421  ",
        "Number of obs: 56, groups:  herd, 15",
        "Fixed Effects:",
        "(Intercept)      period2      period3      period4  ",
        "    -1.3983      -0.9919      -1.1282      -1.5797  ",
    ]
    assert repr(res) == str(res)


def test_singular_fit_warning_lines_as_lmer():
    """lme4's .prt.warn, shared with the linear mixed model: one line in print(), the
    message in summary()."""
    res, _ = glmer_from_reference("cbpp_laplace", data_name="cb")
    singular = GlmerResult(res.frame, _copy_fit(res.fit, theta=np.array([0.0])), data_name="cb", call_formula=CBPP)
    assert str(singular).split("\n")[-1] == (
        "optimizer (Nelder_Mead) convergence code: 0 (OK) ; 0 optimizer warnings; 1 lme4 warnings ")
    assert str(singular.summary()).split("\n")[-3:] == [
        "optimizer (Nelder_Mead) convergence code: 0 (OK)", "boundary (singular) fit: see help('isSingular')", ""]
    assert not any("convergence code" in ln for ln in str(res.summary()).split("\n"))


@pytest.mark.parametrize(
    "ref,formula,family,link",
    [("grouseticks_poisson", GROUSE, "poisson", "log"), ("speed_dating_logit", SPEED, "binomial", "logit")],
)
def test_print_family_line_and_coefficients(ref, formula, family, link):
    at_ref, d = glmer_from_reference(ref, data_name="d")
    m = merx_fit(formula, d["dataset"], family, data_name="d")
    for res in (at_ref, m):
        lines = str(res).split("\n")
        assert lines[2] == f" Family: {family}  ( {link} )"
        # a formula too long for one line goes on the next, as R's cat(fill = TRUE)
        j = lines.index("   Data: d")
        assert " ".join(lines[3:j]).split() == ["Formula:"] + formula.split()
        i = lines.index("Fixed Effects:")
        names = " ".join(lines[i + 1::2]).split()
        values = [float(v) for v in " ".join(lines[i + 2::2]).split()]
        assert names == d["X_colnames"]
        np.testing.assert_allclose(values, [d["fixef"][k] for k in names], rtol=2e-3, atol=1e-4)
        assert "Residual" not in str(res)
        summary = str(res.summary())
        assert "z value Pr(>|z|)" in summary and "Signif. codes:" in summary
    # at lme4's estimates the coefficients print as lme4's format(fixef, digits = 4)
    lines = str(at_ref).split("\n")
    i = lines.index("Fixed Effects:")
    assert len(lines[i + 1]) == len(lines[i + 2])


def test_speed_dating_binary_factor_response_summary():
    m = merx_fit(SPEED, "speed_dating", "binomial", data_name="sd")
    at_ref, d = glmer_from_reference("speed_dating_logit", data_name="sd")
    got, want = str(m.summary()), str(at_ref.summary())
    g, w = got.split("\n"), want.split("\n")
    assert len(g) == len(w)
    for a, b in zip(g, w):  # same layout; SEs agree with lme4's to 0.2% here
        assert len(a.split()) == len(b.split()), (a, b)


# ---------------------------------------------------------------------------
# tidy() of a GLMM: z statistics and normal p-values
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["cbpp_laplace", "grouseticks_poisson", "speed_dating_logit"])
def test_tidy_has_z_statistic_and_normal_p_values(name):
    res, d = glmer_from_reference(name)
    t = res.tidy()
    assert list(t.columns) == ["term", "estimate", "std_error", "statistic", "p_value", "conf_low", "conf_high"]
    for _, r in t.iterrows():
        assert r.statistic == pytest.approx(d["zvalue"][r.term], rel=1e-10)
        assert r.p_value == pytest.approx(d["pvalue_z"][r.term], rel=1e-8)
        assert r.std_error == pytest.approx(d["se"][r.term], rel=1e-10)
        lo, hi = d["confint_wald"]["rows"][r.term]
        assert r.conf_low == pytest.approx(lo, rel=1e-10) and r.conf_high == pytest.approx(hi, rel=1e-10)
    coefs = res.summary().coefficients
    assert list(coefs.columns) == ["Estimate", "Std. Error", "z value", "Pr(>|z|)"]


def test_pickled_glmer_prints_the_same():
    m = merx_fit(CBPP, "cbpp", "binomial", nAGQ=0, data_name="cb")
    back = pickle.loads(pickle.dumps(m))
    assert back.nAGQ == 0
    assert str(back) == str(m) and str(back.summary()) == str(m.summary())


# ---------------------------------------------------------------------------
# R primitives behind the GLMM layout
# ---------------------------------------------------------------------------


def test_format_pval_as_r():
    # fixed notation from 1e-4 up, formatted together; smaller ones apart
    assert format_pval([1.468e-9, 0.0010677, 0.00047448, 0.00018181], 3) == [
        "1.47e-09", "0.001068", "0.000474", "0.000182"]
    assert format_pval([1e-20, 0.2], 3) == ["<2e-16", "0.2"]
    assert format_pval([1e-20, 0.012345], 3) == ["<2e-16", "0.0123"]
    assert format_pval([1e-20, 0.0012345], 3) == ["< 2e-16", "0.00123"]
    assert format_pval([1e-20], 3) == ["<2e-16"]


def test_coefmat_without_small_p_values_has_no_stars():
    lines = format_coefmat(["a", "b"], [0.1, -0.2], [0.5, 0.4], 4, stat_name="z value", pvalues=[0.84, 0.62])
    assert lines[0] == "  Estimate Std. Error z value Pr(>|z|)"
    assert not any("Signif" in ln for ln in lines)


def test_strwrap_as_r():
    title = "Generalized linear mixed model fit by maximum likelihood (Laplace Approximation)"
    assert strwrap(title, 78, exdent=2) == [
        "Generalized linear mixed model fit by maximum likelihood (Laplace", "  Approximation)"]
    assert strwrap("a b", 78) == ["a b"]
