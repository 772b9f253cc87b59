"""predict_interval: merTools' predictInterval (simulated prediction intervals).

No reference numbers from R (merTools is not installed, and its draws come from R's
generator): the intervals are checked against what they must be. Coverage of new
observations simulated from the true model, the fixed-effects interval against its
closed form x'β̂ ± z √(x'Vx), the orderings of widths, reproducibility, the layouts and
the errors."""

from __future__ import annotations

import warnings
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

import merx
from refutil import ref_data


@pytest.fixture(scope="module")
def sleep_fit():
    return merx.lmer("Reaction ~ Days + (Days | Subject)", ref_data("sleepstudy"))


@pytest.fixture(scope="module")
def cbpp_fit():
    cbpp = merx.load_example("cbpp")
    return merx.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial"), cbpp


def _simulate(rng, n_groups=30, per_group=10, beta=(2.0, 0.5), sd_group=1.0, sigma=1.0):
    g = np.repeat(np.arange(n_groups), per_group)
    x = rng.uniform(-2, 2, size=g.size)
    b = rng.normal(0, sd_group, n_groups)
    y = beta[0] + beta[1] * x + b[g] + rng.normal(0, sigma, g.size)
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{k}" for k in g]}), b


def test_80_percent_intervals_cover_80_percent_of_new_observations_from_the_true_model():
    """Per replicate: fit the model to data simulated from it, draw one new observation per
    fitted row from the true model (same group, same x), and count how many fall in the
    80% interval. The coverage averaged over replicates is 0.8 up to Monte Carlo error
    (estimated from the spread between replicates) and the small-sample bias of plugging
    in θ̂, which merTools (and merx) leave out of the simulation."""
    rng = np.random.default_rng(20240601)
    cover = []
    for rep in range(40):
        data, b = _simulate(rng)
        m = merx.lmer("y ~ x + (1 | g)", data)
        pi = m.predict_interval(level=0.8, nsim=1000, seed=rep)
        codes = data["g"].str[1:].astype(int).to_numpy()
        y_new = 2.0 + 0.5 * data["x"].to_numpy() + b[codes] + rng.normal(0, 1.0, len(data))
        cover.append(np.mean((y_new >= pi["lwr"].to_numpy()) & (y_new <= pi["upr"].to_numpy())))
    cover = np.asarray(cover)
    se = cover.std(ddof=1) / np.sqrt(cover.size)
    assert abs(cover.mean() - 0.8) < 4 * se + 0.01, (cover.mean(), se)


def test_fixed_interval_without_residual_is_the_normal_interval_of_x_beta(sleep_fit):
    new = pd.DataFrame({"Days": [0.0, 4.5, 9.0], "Subject": ["308"] * 3})
    pi = sleep_fit.predict_interval(new, which="fixed", include_resid_var=False, nsim=40000, level=0.8, seed=3)
    X = np.column_stack([np.ones(3), new["Days"]])
    mean = X @ sleep_fit.fixef.to_numpy()
    sd = np.sqrt(np.einsum("ij,jk,ik->i", X, sleep_fit.vcov.to_numpy(), X))
    z = NormalDist().inv_cdf(0.9)
    # quantile standard error at p = 0.1 of a normal: sd √(p(1-p)/n) / φ(z)
    q_se = sd * np.sqrt(0.09 / 40000) / NormalDist().pdf(z)
    np.testing.assert_array_less(np.abs(pi["lwr"] - (mean - z * sd)), 5 * q_se)
    np.testing.assert_array_less(np.abs(pi["upr"] - (mean + z * sd)), 5 * q_se)
    np.testing.assert_array_less(np.abs(pi["fit"] - mean), 5 * q_se)


def test_widths_are_ordered_fixed_full_and_with_residual(sleep_fit):
    kw = dict(nsim=4000, seed=9)
    width = lambda pi: (pi["upr"] - pi["lwr"]).to_numpy()  # noqa: E731
    fixed = width(sleep_fit.predict_interval(which="fixed", include_resid_var=False, **kw))
    full = width(sleep_fit.predict_interval(which="full", include_resid_var=False, **kw))
    full_resid = width(sleep_fit.predict_interval(which="full", **kw))
    assert np.all(full > fixed)
    assert np.all(full_resid > full)


def test_same_seed_same_intervals_other_seed_other_intervals(sleep_fit):
    a = sleep_fit.predict_interval(seed=42, nsim=500)
    b = sleep_fit.predict_interval(seed=42, nsim=500, n_threads=1)
    c = sleep_fit.predict_interval(seed=43, nsim=500)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["lwr"], c["lwr"])
    assert list(a.columns) == ["fit", "lwr", "upr"] and a.shape == (180, 3)
    assert np.all(a["lwr"] < a["fit"]) and np.all(a["fit"] < a["upr"])


def test_which_all_is_the_long_layout_and_its_combined_rows_are_the_full_interval(sleep_fit):
    new = ref_data("sleepstudy").head(4)
    long = sleep_fit.predict_interval(new, which="all", seed=5, nsim=300)
    assert list(long.columns) == ["effect", "fit", "lwr", "upr", "obs"]
    assert long["effect"].tolist() == ["combined"] * 4 + ["Subject"] * 4 + ["fixed"] * 4
    assert long["obs"].tolist() == [1, 2, 3, 4] * 3
    full = sleep_fit.predict_interval(new, which="full", seed=5, nsim=300)
    np.testing.assert_array_equal(long[long.effect == "combined"][["fit", "lwr", "upr"]].to_numpy(), full.to_numpy())


def test_mean_statistic_centres_on_the_prediction(sleep_fit):
    pi = sleep_fit.predict_interval(stat="mean", include_resid_var=False, nsim=20000, seed=1)
    # the simulated mean of x'β + z'b is x'β̂ + z'b̂, the fitted value, up to Monte Carlo error
    half = (pi["upr"] - pi["lwr"]).to_numpy() / (2 * NormalDist().inv_cdf(0.9))
    np.testing.assert_array_less(np.abs(pi["fit"].to_numpy() - sleep_fit.fitted), 5 * half / np.sqrt(20000))


def test_new_levels_are_zero_with_a_warning_or_drawn(sleep_fit):
    new = pd.DataFrame({"Days": [1.0, 2.0, 3.0], "Subject": ["new1", "new1", "new2"]})
    with pytest.warns(UserWarning, match="new1, new2 -- are not in the model data"):
        zero = sleep_fit.predict_interval(new, seed=8, nsim=2000)
    with pytest.warns(UserWarning, match="are not in the model data"):
        fixed = sleep_fit.predict_interval(new, which="fixed", seed=8, nsim=2000)
    pd.testing.assert_frame_equal(zero, fixed)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        drawn = sleep_fit.predict_interval(new, seed=8, nsim=2000, new_levels="draw")
    assert np.all((drawn["upr"] - drawn["lwr"]) > (zero["upr"] - zero["lwr"]))
    missing = pd.DataFrame({"Days": [1.0], "Subject": [None]})
    assert sleep_fit.predict_interval(missing, seed=1, nsim=100).isna().all(axis=None)


def test_ignore_and_fix_intercept_narrow_the_fixed_interval(sleep_fit):
    kw = dict(which="fixed", include_resid_var=False, nsim=4000, seed=2)
    base = sleep_fit.predict_interval(**kw)
    known = sleep_fit.predict_interval(ignore_fixed_terms=["(Intercept)", 1], **kw)
    np.testing.assert_allclose(known["fit"], known["lwr"], rtol=1e-12)
    np.testing.assert_allclose(known["upr"], sleep_fit.predict(re_form="~0"), rtol=1e-12)
    intercept = merx.lmer("Reaction ~ Days + (1 | Subject)", ref_data("sleepstudy"))
    a = intercept.predict_interval(**kw)
    b = intercept.predict_interval(fix_intercept_variance=True, **kw)
    assert np.all((b["upr"] - b["lwr"]) < (a["upr"] - a["lwr"]))
    assert base.shape == known.shape


def test_binomial_response_scale_is_a_probability_interval(cbpp_fit):
    g, cbpp = cbpp_fit
    link = g.predict_interval(cbpp, seed=4, nsim=1000)
    resp = g.predict_interval(cbpp, seed=4, nsim=1000, type="response")
    assert resp.to_numpy().min() > 0 and resp.to_numpy().max() < 1
    assert np.all(resp["lwr"] <= resp["fit"]) and np.all(resp["fit"] <= resp["upr"])
    np.testing.assert_allclose(resp.to_numpy(), 1 / (1 + np.exp(-link.to_numpy())), rtol=1e-12)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(level=1.2), "level must be a number strictly between 0 and 1"),
        (dict(level="0.8"), "level must be a number"),
        (dict(nsim=1), "nsim must be an integer of at least 2"),
        (dict(nsim=10.5), "nsim must be an integer"),
        (dict(which="both"), "which must be one of 'full', 'fixed', 'random', 'all'"),
        (dict(stat="mode"), "stat must be one of 'median', 'mean'"),
        (dict(type="probability"), "type must be one of 'link', 'response'"),
        (dict(new_levels="mean"), "new_levels must be one of 'zero', 'draw'"),
        (dict(seed=-1), "seed must be None or an integer"),
        (dict(include_resid_var="yes"), "include_resid_var must be True or False"),
        (dict(ignore_fixed_terms=["Weeks"]), "ignore_fixed_terms: 'Weeks' is neither"),
        (dict(n_threads=0), "n_threads must be None or a positive integer"),
    ],
)
def test_bad_arguments_name_the_argument(sleep_fit, kwargs, message):
    with pytest.raises(merx.MerxError, match=message):
        sleep_fit.predict_interval(**kwargs)


def test_unsupported_models_and_options_raise_clear_errors(sleep_fit):
    cbpp = merx.load_example("cbpp")
    pois = merx.glmer("incidence ~ period + (1 | herd)", cbpp, family="poisson")
    with pytest.raises(merx.MerxError, match="linear mixed models and binomial GLMMs"):
        pois.predict_interval()
    no_intercept = merx.lmer("Reaction ~ Days + (0 + Days | Subject)", ref_data("sleepstudy"))
    with pytest.raises(merx.MerxError, match="has no random intercept"):
        no_intercept.predict_interval(fix_intercept_variance=True)
    with pytest.warns(UserWarning, match="response scale of a linear mixed model"):
        sleep_fit.predict_interval(type="response", nsim=10, seed=1)
