"""``m.profile()``: lme4's ζ profiles as a long table (parameter, value, zeta).

Checked against merx's own profile intervals (themselves tested against lme4's in
test_confint.py): ζ interpolated at ±1.96 gives ``confint(method="profile")``'s limits
within 1% of the interval's width; ζ is 0 at the estimate, increasing in the value, and the
path reaches the cutoff on each side unless a bound (sd 0, cor ±1) comes first.
"""

from __future__ import annotations

import numpy as np
import pytest
from refutil import ref_data

import merx
from merx.errors import MerxError


@pytest.fixture(scope="module")
def sleep_fit():
    return merx.lmer("Reaction ~ Days + (Days | Subject)", ref_data("sleepstudy"))


def _check_paths(prof, fit, cutoff):
    ci = fit.confint()
    for name, g in prof.groupby("parameter", observed=True):
        g = g.sort_values("value")
        z = g["zeta"].to_numpy()
        assert np.all(np.diff(z) > 0), name  # ζ increases with the parameter
        assert np.any(z == 0.0)
        est = g["value"].to_numpy()[z == 0.0][0]
        assert z.min() <= -cutoff or name.startswith(("sd_", "cor_")), name
        assert z.max() >= cutoff or name.startswith("cor_"), name
        lo, hi = np.interp([-1.959964, 1.959964], z, g["value"])
        width = ci.loc[name].iloc[1] - ci.loc[name].iloc[0]
        if z.min() <= -1.959964:
            assert abs(lo - ci.loc[name].iloc[0]) < 0.01 * width, (name, lo, ci.loc[name].tolist())
        assert abs(hi - ci.loc[name].iloc[1]) < 0.01 * width, (name, hi, ci.loc[name].tolist())
        assert ci.loc[name].iloc[0] <= est <= ci.loc[name].iloc[1]


def test_lmer_profile_paths_cross_at_the_profile_limits(sleep_fit):
    prof = sleep_fit.profile()
    assert list(prof.columns) == ["parameter", "value", "zeta"]
    assert list(prof["parameter"].cat.categories) == [
        "sd_(Intercept)|Subject", "cor_Days.(Intercept)|Subject", "sd_Days|Subject", "sigma", "(Intercept)", "Days"]
    _check_paths(prof, sleep_fit, 2.5758293)


def test_which_and_alphamax(sleep_fit):
    prof = sleep_fit.profile(which="beta_", alphamax=0.05)
    assert set(prof["parameter"].astype(str)) == {"(Intercept)", "Days"}
    assert prof["zeta"].abs().max() < 1.96 * 1.6
    assert set(sleep_fit.profile(which="sigma")["parameter"].astype(str)) == {"sigma"}
    with pytest.raises(MerxError, match="unknown parameters"):
        sleep_fit.profile(which="sd_Days")
    with pytest.raises(ValueError, match="alphamax"):
        sleep_fit.profile(alphamax=1.5)


def test_glmer_profile():
    cbpp = ref_data("cbpp")
    m = merx.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial")
    prof = m.profile(which=["sd_(Intercept)|herd", "period2"])
    _check_paths(prof, m, 2.5758293)
