"""merx.glmer against lme4 1.1-31 on nine more GLMMs (tests/reference/glmer_lme4_suite.json,
made by tests/reference/make_glmer_lme4_suite.R): logit and probit links on VerbAgg's
crossed design, cloglog on cbpp, Poisson with two crossed terms, with an offset, with a
factor-rich X, a correlated random slope, and AGQ with 9 nodes.

Each model has two lme4 fits: its defaults, and a tight one (BOBYQA in both stages to
rhoend 1e-9, tolPwrss 1e-12), which evaluates the exact Laplace deviance at converged modes
and so is the optimum merx aims at. merx's θ, β and logLik are checked against the tight fit
(and logLik against the default one: never worse by more than 1e-3). The standard errors are
lme4's default ones (the Hessian of lme4's own evaluation of the deviance, which the tight
control changes by up to 0.8%).
"""

import numpy as np
import pytest

import merx
from merx.families import resolve_family

from refutil import load_ref, ref_data

SUITE = load_ref("glmer_lme4_suite")
MODELS = [pytest.param(r, id=k) for k, r in SUITE["models"].items()]
_fits: dict = {}


def data_of(name: str):
    d = ref_data(name)
    for col in SUITE["factor_columns"].get(name, []):
        d[col] = d[col].astype(str).astype("category") if name == "grouseticks" else d[col].astype("category")
    return d


def fit_of(ref: dict):
    key = (ref["dataset"], ref["formula"], ref["link"], ref["nAGQ"])
    if key not in _fits:
        family = resolve_family(f'{ref["family"]}(link = "{ref["link"]}")')
        _fits[key] = merx.glmer(ref["formula"], data_of(ref["dataset"]), family=family, nAGQ=ref["nAGQ"])
    return _fits[key]


def _values(d: dict) -> np.ndarray:
    return np.array(list(d.values()), dtype=float)


@pytest.mark.parametrize("ref", MODELS)
def test_optimum_is_the_laplace_optimum(ref):
    m = fit_of(ref)
    tight = ref["tight"]
    assert m.converged, m.optinfo["message"]
    assert list(m.fixef.index) == list(ref["fixef"]) and list(m.theta.index) == list(ref["theta"])
    se = _values(ref["se"])
    assert np.all(np.abs(m.fixef.values - _values(tight["fixef"])) <= 2e-3 * se)
    np.testing.assert_allclose(m.theta.values, _values(tight["theta"]), rtol=0, atol=2e-3)
    assert abs(m.logLik - tight["logLik"]) <= 1e-4
    assert m.logLik >= ref["logLik"] - 1e-3


# lme4's default fit of the probit model stops 9.6e-4 short of the optimum in logLik (its
# tight fit and merx agree), 7e-3 SE from it; its Hessian is taken there, and merx's at the
# optimum is 2.2e-3 from it. Every other model: within 2e-3.
SE_RTOL = {"va_probit": 2.5e-3}


@pytest.mark.parametrize("ref", MODELS)
def test_standard_errors_are_lme4s(ref):
    m = fit_of(ref)
    name = next(k for k, r in SUITE["models"].items() if r is ref)
    np.testing.assert_allclose(np.sqrt(np.diag(m.vcov.values)), _values(ref["se"]), rtol=SE_RTOL.get(name, 2e-3))


def test_the_short_stop_is_lme4s():
    """The probit exception above: lme4's own tight fit reaches merx's logLik, 9.6e-4 above
    its default one."""
    ref = SUITE["models"]["va_probit"]
    assert ref["tight"]["logLik"] - ref["logLik"] > 9e-4
    assert abs(fit_of(ref).logLik - ref["tight"]["logLik"]) <= 1e-4
