"""``confint()`` against lme4's ``confint.merMod`` in tests/reference (lme4 1.1-31).

Wald: lme4's estimates and vcov in a result (no refit), limits to 1e-6 relative; the
variance-component rows NA. Profile: merx's own fits, each limit within 1% of the interval's
width (lme4 interpolates a spline through a grid of ζ, merx finds the crossings by root
search; the references agree to ~3e-4 of the width, most to 1e-5). lme4 profiles the ML
deviance also for a REML fit (``confint_profile_note``), and so does merx; a GLMM's profile is
of the Laplace deviance.
"""

import json
import math
import os
import pickle
import warnings

import numpy as np
import pytest
from refutil import REF_DIR, ref_data
from test_glmer_printing import glmer_from_reference
from test_results_printing import fit_from_reference

import merx
from merx.errors import MerxError
from merx.results.confint import percent_labels


def _refs(kind: str, key: str) -> list:
    out = []
    for name in sorted(os.listdir(REF_DIR)):
        if not name.endswith(".json"):
            continue
        with open(os.path.join(REF_DIR, name)) as fh:
            d = json.load(fh)
        if d.get("kind") == kind and d.get(key):
            out.append(name[:-5])
    return out


LMER_WALD = _refs("lmer", "confint_wald")
GLMER_WALD = _refs("glmer", "confint_wald")
LMER_PROFILE = _refs("lmer", "confint_profile")

#: lme4's profile of these rows is flagged by lme4 itself ("non-monotonic profile for
#: cor_MachineC.(Intercept)|Worker", "bad spline fit ...: falling back to linear
#: interpolation", "unexpected decrease in profile: using minstep"): its correlation limits
#: are off its own ζ = ±1.96 crossings (merx's are checked below by a multi-start minimum).
LME4_BAD_PROFILE = {
    "machines_slopes": {
        "cor_MachineB.(Intercept)|Worker",
        "cor_MachineC.(Intercept)|Worker",
        "cor_MachineC.MachineB|Worker",
    }
}

_fits: dict = {}


def own_fit(name: str):
    if name not in _fits:
        with open(os.path.join(REF_DIR, f"{name}.json")) as fh:
            d = json.load(fh)
        _fits[name] = (merx.lmer(d["formula"], ref_data(d["dataset"]), REML=bool(d["call"]["REML"])), d)
    return _fits[name]


def _assert_wald(ci, want: dict) -> None:
    assert list(ci.columns) == want["columns"]
    assert list(ci.index) == list(want["rows"])
    for row, (lo, hi) in want["rows"].items():
        got = ci.loc[row].to_numpy()
        if lo is None:
            assert np.isnan(got).all(), row
        else:
            assert got == pytest.approx([lo, hi], rel=1e-6), row


@pytest.mark.parametrize("name", LMER_WALD)
def test_wald_of_lmer_matches_lme4(name):
    with open(os.path.join(REF_DIR, f"{name}.json")) as fh:
        d = json.load(fh)
    if d.get("vectors_truncated"):  # no fitted values stored: merx's estimates at lme4's θ
        theta = list(d["theta"].values())
        res = merx.lmer(d["formula"], ref_data(d["dataset"]), REML=bool(d["call"]["REML"]), start=theta, optimize=False)
    else:
        res, d = fit_from_reference(name)
    _assert_wald(res.confint(method="Wald"), d["confint_wald"])


@pytest.mark.parametrize("name", GLMER_WALD)
def test_wald_of_glmer_matches_lme4(name):
    res, d = glmer_from_reference(name)
    _assert_wald(res.confint(method="Wald"), d["confint_wald"])


def test_wald_of_own_fit_is_close_to_lme4():
    m, d = own_fit("sleepstudy_reml")
    ci = m.confint(method="wald")  # the method's case does not matter, as lme4's match.arg
    for row in ["(Intercept)", "Days"]:
        assert ci.loc[row].to_numpy() == pytest.approx(d["confint_wald"]["rows"][row], rel=1e-5)


@pytest.mark.parametrize("name", LMER_PROFILE)
def test_profile_of_lmer_matches_lme4(name):
    m, d = own_fit(name)
    want = d["confint_profile"]
    ci = m.confint()  # lme4's default method is the profile
    assert list(ci.columns) == want["columns"]
    assert list(ci.index) == list(want["rows"])
    skip = LME4_BAD_PROFILE.get(name, set())
    for row, (lo, hi) in want["rows"].items():
        if row in skip:
            continue
        width = hi - lo
        got = ci.loc[row].to_numpy()
        assert abs(got[0] - lo) <= 0.01 * width and abs(got[1] - hi) <= 0.01 * width, (row, got, (lo, hi))


def test_profile_limits_are_the_zeta_crossings_where_lme4s_profile_is_flagged():
    """At merx's limits of machines_slopes' correlations, the profiled ML deviance (minimised
    from several starts) is the base deviance + z² (ζ = ±1.96)."""
    from merx.models.profile import _Profiler

    m, _ = own_fit("machines_slopes")
    ci = m.confint(parm=sorted(LME4_BAD_PROFILE["machines_slopes"]))
    prof = _Profiler(m, 0.95)
    names = merx.results.confint.parameter_names(m._blocks, True)
    rng = np.random.default_rng(0)
    for row, (lo, hi) in ci.iterrows():
        w = names.index(row)
        for v in (lo, hi):
            best = prof._min_dev(w, v, prof.p0.copy())[0]
            for _ in range(3):
                start = prof.p0.copy()
                for i, kind in enumerate(prof.kinds):
                    start[i] = rng.uniform(-0.9, 0.9) if kind == "cor" else start[i] * math.exp(rng.normal(0, 0.3))
                best = min(best, prof._min_dev(w, v, start)[0])
            assert math.sqrt(best - prof.dev0) == pytest.approx(1.959964, abs=2e-3), (row, v)


def test_reml_fit_is_profiled_on_the_ml_scale():
    reml, _ = own_fit("dyestuff")
    ml, _ = own_fit("dyestuff_ml")
    np.testing.assert_allclose(reml.confint().to_numpy(), ml.confint().to_numpy(), rtol=1e-6)


def test_singular_fit_has_lower_limit_zero():
    m, d = own_fit("dyestuff2_singular")
    ci = m.confint(parm="theta_")
    assert ci.loc["sd_(Intercept)|Batch"].iloc[0] == 0.0
    assert d["confint_profile"]["rows"]["sd_(Intercept)|Batch"][0] == 0


def test_level_parm_and_labels():
    m, _ = own_fit("sleepstudy_intercept")
    ci = m.confint(parm=["Days", "sigma"], level=0.9)
    assert list(ci.columns) == ["5 %", "95 %"]
    assert list(ci.index) == ["Days", "sigma"]
    wide = m.confint(parm="Days", level=0.99)
    assert list(wide.columns) == ["0.5 %", "99.5 %"]
    assert wide.iloc[0, 0] < ci.loc["Days"].iloc[0] and wide.iloc[0, 1] > ci.loc["Days"].iloc[1]
    assert list(m.confint(parm="beta_", method="Wald").index) == ["(Intercept)", "Days"]
    assert list(m.confint(parm="theta_", method="Wald").index) == ["sd_(Intercept)|Subject", "sigma"]
    assert percent_labels(0.999) == ["0.05 %", "99.95 %"]


def test_weighted_model_with_offset_limits_are_the_zeta_crossings():
    """No lme4 reference has weights and an offset: the limits are checked by refits through
    the public interface. At the limits of Days, the ML fit with Days held there (in the
    offset) is z² above the ML fit; at σ's, the profiled deviance is too."""
    from merx.models.profile import _Profiler

    d = ref_data("sleepstudy")
    rng = np.random.default_rng(0)
    d["w"] = rng.uniform(0.5, 2.0, len(d))
    d["o"] = rng.normal(0.0, 5.0, len(d))
    m = merx.lmer("Reaction ~ Days + (Days | Subject)", d, weights="w", offset="o")
    ci = m.confint(parm=["Days", "sigma"])
    base = merx.lmer("Reaction ~ Days + (Days | Subject)", d, weights="w", offset="o", REML=False).deviance
    z2 = 1.959963984540054**2
    for b in ci.loc["Days"]:
        d["ob"] = d["o"] + b * d["Days"]
        held = merx.lmer("Reaction ~ 1 + (Days | Subject)", d, weights="w", offset="ob", REML=False)
        assert held.deviance - base == pytest.approx(z2, abs=2e-3)
    prof = _Profiler(m, 0.95)
    assert prof.dev0 == pytest.approx(base, abs=1e-6)
    for s in ci.loc["sigma"]:
        assert prof._min_dev(len(prof.kinds) - 1, s, prof.p0.copy())[0] - base == pytest.approx(z2, abs=2e-3)


def test_parm_by_position():
    m, _ = own_fit("sleepstudy_intercept")
    ci = m.confint(parm=[3, 2], method="Wald")  # R's 1-based positions among the rows
    assert list(ci.index) == ["(Intercept)", "sigma"]
    with pytest.raises(MerxError, match="positions 1 to 4"):
        m.confint(parm=5)


def test_profile_after_pickling():
    m, _ = own_fit("sleepstudy_intercept")
    back = pickle.loads(pickle.dumps(m))
    np.testing.assert_allclose(back.confint(parm="beta_").to_numpy(), m.confint(parm="beta_").to_numpy(), rtol=1e-8)


def test_bad_input_is_refused():
    m, _ = own_fit("sleepstudy_intercept")
    with pytest.raises(MerxError, match="unknown confint method 'bootstrap'"):
        m.confint(method="bootstrap")
    with pytest.raises(MerxError, match="nsim must be a whole number of at least 1"):
        m.confint(method="boot", nsim=0)
    with pytest.raises(MerxError, match="unknown parameter 'Dayz'"):
        m.confint(parm=["Days", "Dayz"])
    with pytest.raises(MerxError, match="level"):
        m.confint(level=1.5)
    cbpp = merx.load_example("cbpp")
    g0 = merx.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial", nAGQ=0)
    with pytest.raises(MerxError, match=r"Laplace fits \(nAGQ=1\)"):
        g0.confint()
    assert not g0.confint(method="Wald").iloc[1:].isna().any().any()


def test_profile_of_glmer_matches_lme4():
    """cbpp (the only GLMM reference with lme4's profile): Laplace deviance profiles."""
    with open(os.path.join(REF_DIR, "cbpp_laplace.json")) as fh:
        d = json.load(fh)
    g = merx.glmer(d["formula"], ref_data(d["dataset"]), family="binomial")
    ci = g.confint()
    want = d["confint_profile"]
    assert list(ci.columns) == want["columns"] and list(ci.index) == list(want["rows"])
    for row, (lo, hi) in want["rows"].items():
        width = hi - lo
        got = ci.loc[row].to_numpy()
        assert abs(got[0] - lo) <= 0.01 * width and abs(got[1] - hi) <= 0.01 * width, (row, got, (lo, hi))
