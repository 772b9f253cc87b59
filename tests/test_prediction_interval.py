"""predict_interval: merTools' predictInterval (simulated prediction intervals).

Against merTools 0.5.2 (tests/reference/mertools_predict_interval.json, written by
tests/reference/make_mertools_predict_interval.R): the simulation's inputs (β̂, vcov, pwrss,
residual df, conditional modes and variances) and the intervals within Monte Carlo error
(R's draws come from R's generator, so the two agree in law, not draw for draw). Besides:
coverage of new observations simulated from the true model, the fixed-effects interval
against its closed form x'β̂ ± z √(x'Vx), the orderings of widths, reproducibility, the
layouts and the errors."""

from __future__ import annotations

import warnings
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

import merx
from refutil import load_ref, ref_data


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


# -- merTools 0.5.2 -------------------------------------------------------------------------

MERTOOLS = load_ref("mertools_predict_interval")
MERX_NSIM = 200_000


@pytest.fixture(scope="module")
def mertools_models(sleep_fit, cbpp_fit):
    return {"m_slope": sleep_fit, "m_int": merx.lmer("Reaction ~ Days + (1 | Subject)", ref_data("sleepstudy")),
            "g_bin": cbpp_fit[0]}


@pytest.mark.parametrize("name, rtol", [("m_slope", 1e-4), ("m_int", 1e-6), ("g_bin", 2e-3)])
def test_the_simulation_inputs_are_those_of_merTools(mertools_models, name, rtol):
    """What merTools draws from: fixef, vcov (after lme4's), pwrss and residual df (σ's
    scaled inverse χ²), conditional modes and variances (ranef(condVar = TRUE)) of the levels
    the rows use. The lmer fits agree to lme4's optimizer tolerance (its BOBYQA stops where
    the slope model's vcov is 1.3e-5 relative from merx's, the intercept model's 2e-8); the
    glmer fit within lme4's optimum and Hessian-based vcov (4e-4 and 5e-4 relative here;
    see refutil.assert_cbpp_summary_close). All far below the Monte Carlo error below."""
    ref, m = MERTOOLS["models"][name], mertools_models[name]
    assert list(m.fixef.index) == ref["fixef_names"]
    np.testing.assert_allclose(m.fixef.to_numpy(), ref["fixef"], rtol=rtol)
    np.testing.assert_allclose(m.vcov.to_numpy(), ref["vcov"], rtol=rtol)
    if ref["resid_df"] is not None:
        assert m.nobs - m.n_params == ref["resid_df"]
        np.testing.assert_allclose(m.fit.pwrss, ref["pwrss"], rtol=rtol)
    re = m.ranef()
    group = next(iter(re))
    rows = [list(re[group].index).index(lv) for lv in ref["levels"]]
    modes = re[group].to_numpy()[rows]
    scale = np.abs(np.asarray(ref["modes"])).max()
    np.testing.assert_allclose(modes, ref["modes"], rtol=rtol, atol=rtol * scale)
    np.testing.assert_allclose(re.condvar[group][rows].reshape(len(rows), -1),
                               np.asarray(ref["condvar"]).reshape(len(rows), -1), rtol=rtol)


def _monte_carlo_se(r_lwr, r_upr, n_r, n_merx, level, mean):
    """Standard errors of the differences merx − merTools of (fit, lwr, upr), both estimates
    from independent simulations. A sample p-quantile of n draws has standard error
    √(p(1 − p) / n) / f(q_p); the laws here are normal (binomial, link scale) or normal
    scale mixtures with σ² ~ pwrss/χ²_174 (lmer), so f(q_p) = φ(z_p)/sd with sd from R's
    interval, (upr − lwr) / (2 z_{(1+level)/2}). The mean's standard error is sd/√n."""
    nd = NormalDist()
    p = (1 - level) / 2
    z = nd.inv_cdf(1 - p)
    sd = (np.asarray(r_upr) - np.asarray(r_lwr)) / (2 * z)
    both = np.sqrt(1 / n_r + 1 / n_merx)
    se_fit = sd * both if mean else sd * np.sqrt(0.25) / nd.pdf(0) * both
    se_q = sd * np.sqrt(p * (1 - p)) / nd.pdf(z) * both
    return se_fit, se_q, se_q


@pytest.mark.parametrize("case", MERTOOLS["cases"], ids=[c["id"] for c in MERTOOLS["cases"]])
def test_intervals_agree_with_merTools_within_monte_carlo_error(mertools_models, case):
    """merx (200,000 simulations) against merTools (20,000) within 4.5 standard errors of the
    difference (_monte_carlo_se) per value: 216 values in all, so a chance failure at 4.5 SE
    has probability about 1.5e-3 for a correct implementation; a variance 10% off (a missing
    or doubled component, β's or b's covariance mis-scaled) moves a bound by ~5 SE (the SE
    is 0.0126 sd, the bound 1.28 sd from the centre). (merTools'
    run of slope_full sits 3.5 of its SEs from the exact median x'β̂ + z'b̂ in one row,
    merx's 0.3 of its own: that row's difference is 3.5 SE. The 216 differences have SD
    0.89 SE.) Binomial intervals are compared on the link scale
    (merTools' probabilities are the inverse link of link-scale quantiles)."""
    m = mertools_models[case["model"]]
    newdata = pd.DataFrame(MERTOOLS["newdata"][case["newdata"]])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The following levels of")
        pi = m.predict_interval(newdata, level=MERTOOLS["level"], nsim=MERX_NSIM, seed=2024, **case["args"])
    ref = pd.DataFrame({k: case[k] for k in ("fit", "lwr", "upr")})
    assert len(pi) == len(ref)
    if case["args"].get("which") == "all":
        assert pi["effect"].tolist() == case["effect"] and pi["obs"].tolist() == case["obs"]
    got = pi[["fit", "lwr", "upr"]].to_numpy()
    want = ref.to_numpy()
    if case["args"].get("type") == "response":
        got, want = np.log(got / (1 - got)), np.log(want / (1 - want))
    se = np.column_stack(_monte_carlo_se(want[:, 1], want[:, 2], MERTOOLS["n_sims"], MERX_NSIM, MERTOOLS["level"],
                                         case["args"].get("stat") == "mean"))
    assert np.all(se > 0)
    z = (got - want) / se
    assert np.all(np.abs(z) < 4.5), pd.DataFrame(z, columns=["fit", "lwr", "upr"]).round(2)


def test_new_levels_warn_as_merTools(sleep_fit):
    newdata = pd.DataFrame(MERTOOLS["newdata"]["sleep_new"])
    r_warning = MERTOOLS["cases"][0]["warnings"][0]
    assert "The following levels of Subject from newdata" in r_warning and "-- 999 --" in r_warning
    with pytest.warns(UserWarning, match="The following levels of Subject from newdata -- 999 -- are not in the "
                      "model data"):
        sleep_fit.predict_interval(newdata, nsim=100, seed=1)


def test_return_sims_keeps_the_simulations_summarised(sleep_fit, cbpp_fit):
    """merTools' returnSims: the simulated values (link scale) behind each row's fit, lwr
    and upr, which are their median and type-7 quantiles (numpy's default 'linear')."""
    new = ref_data("sleepstudy").iloc[[0, 50, 179]]
    pi = sleep_fit.predict_interval(new, nsim=999, seed=3, return_sims=True)
    sims = pi.attrs["sim_results"]
    assert sims.shape == (3, 999)
    lo = (1 - 0.8) / 2
    np.testing.assert_allclose(np.quantile(sims, [0.5, lo, 1 - lo], axis=1).T, pi.to_numpy(), rtol=1e-13)
    assert "sim_results" not in sleep_fit.predict_interval(new, nsim=999, seed=3).attrs
    long = sleep_fit.predict_interval(new, nsim=500, seed=3, which="all", stat="mean", return_sims=True)
    parts = long.attrs["sim_results"]
    assert list(parts) == ["combined", "Subject", "fixed"] and all(v.shape == (3, 500) for v in parts.values())
    np.testing.assert_allclose(long.loc[long.effect == "fixed", "fit"], parts["fixed"].mean(axis=1), rtol=1e-12)
    g, cbpp = cbpp_fit
    prob = g.predict_interval(cbpp.head(4), nsim=400, seed=5, type="response", return_sims=True)
    eta = np.quantile(prob.attrs["sim_results"], 1 - (1 - 0.8) / 2, axis=1)
    np.testing.assert_allclose(prob["upr"], 1 / (1 + np.exp(-eta)), rtol=1e-12)
    with pytest.raises(merx.MerxError, match="return_sims must be True or False"):
        sleep_fit.predict_interval(return_sims="yes")
