"""merx.lme's VarCorr printed as nlme 3.1-162's print(VarCorr(m))
(tests/reference/make_lme_varcorr.R), and the same components as lme4's VarCorr."""

import numpy as np
import pytest

import merx
from refutil import load_ref, ref_data

PRINTED = load_ref("lme_varcorr_printed")
G = ref_data("gpa")
FITS = {
    "intercept": lambda: merx.lme("gpa ~ occasion", G, "~1 | student"),
    "slope": lambda: merx.lme("gpa ~ occasion", G, "~occasion | student"),
    "nested": lambda: merx.lme("strength ~ 1", ref_data("Pastes"), "~1 | batch/cask"),
    "varident": lambda: merx.lme("gpa ~ occasion", G, "~1 | student", weights=merx.varIdent("~1 | occasion")),
    "sleep_ml": lambda: merx.lme("Reaction ~ Days", ref_data("sleepstudy"), "~Days | Subject", method="ML"),
}


def same_print(got, want, rel):
    """Line by line: the same words, numbers to ``rel`` (nlme's optimizer stops on the flat
    likelihood near the optimum up to 3e-5 relative from merx's, whose logLik is the higher:
    see test_lme.py), and the same lines where all printed digits agree (7 significant
    digits of a different number may drop a trailing zero and change a column's width)."""
    assert len(got) == len(want), (got, want)
    if [g.split() for g in got] == [w.split() for w in want]:
        assert got == want
    for g, w in zip(got, want):
        for a, b in zip(g.split(), w.split()):
            try:
                assert float(a) == pytest.approx(float(b), rel=rel), (g, w)
            except ValueError:
                assert a == b, (g, w)


@pytest.mark.parametrize("case", sorted(FITS))
def test_printed_as_nlme(case):
    m = FITS[case]()
    same_print(str(m.VarCorr).split("\n"), PRINTED[case], rel=5e-5)


def test_components_are_lme4s():
    m = FITS["slope"]()
    lmer = merx.lmer("gpa ~ occasion + (occasion | student)", G)
    vc = m.VarCorr
    assert vc.keys() == lmer.VarCorr.keys()
    assert vc["student"].to_numpy() == pytest.approx(lmer.VarCorr["student"].to_numpy(), rel=1e-4)
    table = vc.table()
    assert list(table.index) == ["(Intercept)", "occasion", "Residual"]
    assert list(table.columns) == ["Variance", "StdDev", "Corr"]
    assert float(table.loc["Residual", "StdDev"]) == pytest.approx(m.sigma, rel=1e-6)
    assert np.isclose(float(table.loc["occasion", "Corr"]), -0.098)
