"""merx.glmer_nb: a negative binomial GLMM with its shape estimated, against glmmTMB's
nbinom2 fit of the same Laplace ML model (tests/reference/salamanders_glmmtmb_nb2.json)."""

import numpy as np
import pytest

import merx
from refutil import load_ref, ref_data

REF = load_ref("salamanders_glmmtmb_nb2")


@pytest.fixture(scope="module")
def fit():
    return merx.glmer_nb(REF["formula"], ref_data("Salamanders"))


def test_estimates_match_glmmtmb(fit):
    fixef = np.array(list(REF["fixef"]["cond"].values()))
    se = np.array(list(REF["se"]["cond"].values()))
    assert list(fit.fixef.index) == list(REF["fixef"]["cond"])
    assert np.all(np.abs(fit.fixef.values - fixef) <= 2e-3 * se)
    assert fit.logLik == pytest.approx(REF["logLik"], abs=1e-3)
    # glmmTMB's sigma() of nbinom2 is the shape θ; its theta is log(SD) of the term
    assert fit.shape == pytest.approx(REF["sigma"], rel=1e-3)
    assert fit.theta.values[0] == pytest.approx(np.exp(REF["theta"]), rel=2e-3)
    assert fit.df == REF["logLik_df"]
    assert fit.AIC == pytest.approx(REF["AIC"], abs=2e-3)
    assert fit.family_name == "Negative Binomial(0.9424)"
    assert "Family: Negative Binomial(0.9424)  ( log )" in str(fit.summary())


def test_expected_information_is_another_likelihood(fit):
    """With the expected information (the PIRLS weights, as lme4 takes them) in log|L| the
    Laplace approximation differs from glmmTMB's for the log link, which is not the negative
    binomial's canonical one; the modes, and with them the estimates, move only a little."""
    expected = merx.glmer_nb(REF["formula"], ref_data("Salamanders"), information="expected")
    assert abs(expected.logLik - fit.logLik) > 0.01
    se = np.sqrt(np.diag(fit.vcov.values))
    assert np.all(np.abs(expected.fixef.values - fit.fixef.values) < 0.1 * se)
    with pytest.raises(merx.MerxError, match="information must be 'observed' or 'expected'"):
        merx.glmer_nb(REF["formula"], ref_data("Salamanders"), information="fisher")


def test_known_shape_and_bad_counts():
    d = ref_data("Salamanders")
    known = merx.glmer(REF["formula"], d, family=merx.families.NegativeBinomial(theta=0.9424))
    assert known.shape == pytest.approx(0.9424)
    assert known.df == REF["logLik_df"] - 1  # the shape is not estimated
    bad = d.assign(count=d["count"].astype(float))
    bad.loc[bad.index[5], "count"] = -1.0
    with pytest.raises(merx.DataError, match="count"):
        merx.glmer_nb(REF["formula"], bad)
