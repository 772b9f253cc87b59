"""fit.simulate() (lme4's simulate.merMod), the parametric-bootstrap LRT (pbkrtest's
PBmodcomp) and the core's new-response path.

Distributional checks on small simulated designs: means and variances of many simulated
responses against the model's, within Monte Carlo error (5 standard errors).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import merx


@pytest.fixture(scope="module")
def sleep():
    return merx.load_example("sleepstudy")


@pytest.fixture(scope="module")
def fit(sleep):
    return merx.lmer("Reaction ~ Days + (Days | Subject)", sleep)


def within_mc(estimate, target, se, what):
    assert np.all(np.abs(np.asarray(estimate) - np.asarray(target)) < 5 * np.asarray(se)), what


def test_new_random_effects_give_the_marginal_moments(fit, sleep):
    nsim = 4000
    sims = fit.simulate(nsim, seed=1).to_numpy()
    assert sims.shape == (len(sleep), nsim)
    # Var(y_i) = σ²(z_i'TT'z_i + 1); Cov(y_i, y_j) = σ² z_i'TT'z_j within a subject.
    vc = fit.VarCorr.terms[0].cov
    z = np.column_stack([np.ones(len(sleep)), sleep["Days"].to_numpy()])
    marginal = np.einsum("ij,jk,ik->i", z, vc, z) + fit.sigma**2
    mean_fixed = fit.predict(re_form="~0")
    within_mc(sims.mean(axis=1), mean_fixed, np.sqrt(marginal / nsim), "means")
    var = sims.var(axis=1, ddof=1)
    within_mc(var, marginal, marginal * np.sqrt(2 / (nsim - 1)), "variances")
    cov01 = np.cov(sims[0], sims[9])[0, 1]  # rows 0 and 9: one subject, Days 0 and 9
    target = z[0] @ vc @ z[9]
    within_mc(cov01, target, np.sqrt((marginal[0] * marginal[9] + target**2) / nsim), "covariance")


def test_conditioning_on_the_modes_leaves_the_noise(fit):
    nsim = 4000
    sims = fit.simulate(nsim, seed=2, re_form=None).to_numpy()
    within_mc(sims.mean(axis=1), fit.fitted, fit.sigma / np.sqrt(nsim), "means")
    var = sims.var(axis=1, ddof=1)
    within_mc(var, fit.sigma**2, fit.sigma**2 * np.sqrt(2 / (nsim - 1)), "variances")
    rows_of_subject = fit.simulate(nsim, seed=2, re_form="~(Days | Subject)").to_numpy()
    np.testing.assert_array_equal(rows_of_subject, sims)  # every term named: conditional on all


def test_simulations_are_labelled_and_reproducible(fit, sleep):
    a = fit.simulate(3, seed=5)
    assert list(a.columns) == ["sim_1", "sim_2", "sim_3"] and len(a) == len(sleep)
    pd.testing.assert_frame_equal(a, fit.simulate(3, seed=5))
    assert not np.allclose(a.to_numpy(), fit.simulate(3, seed=6).to_numpy())
    new = sleep.head(4)
    b = fit.simulate(2, seed=5, newdata=new, re_form=None)
    assert list(b.index) == list(new.index)
    with pytest.raises(merx.MerxError, match="nsim must be a whole number"):
        fit.simulate(0)
    with pytest.raises(merx.MerxError, match="re_form"):
        fit.simulate(1, re_form="~(1 | nothere)")


def test_glmm_simulations_follow_the_family():
    rng = np.random.default_rng(4)
    g = np.repeat(np.arange(20), 10)
    x = rng.uniform(-1, 1, 200)
    eta = 0.5 + 0.8 * x + rng.normal(0, 0.6, 20)[g]
    trials = rng.integers(3, 9, 200)
    df = pd.DataFrame({"x": x, "g": g.astype(str), "count": rng.poisson(np.exp(eta)), "n": trials,
                       "s": rng.binomial(trials, 1 / (1 + np.exp(-eta)))})
    nsim = 3000
    pois = merx.glmer("count ~ x + (1 | g)", df, family="poisson")
    sims = pois.simulate(nsim, seed=3, re_form=None).to_numpy()
    mu = pois.fitted
    assert np.all(sims == np.rint(sims)) and np.all(sims >= 0)
    within_mc(sims.mean(axis=1), mu, np.sqrt(mu / nsim), "Poisson means")
    within_mc(sims.var(axis=1, ddof=1), mu, np.sqrt((2 * mu**2 + mu) / nsim), "Poisson variances")
    binom = merx.glmer("cbind(s, n - s) ~ x + (1 | g)", df, family="binomial")
    props = binom.simulate(nsim, seed=3, re_form=None).to_numpy()
    successes = props * trials[:, None]
    np.testing.assert_allclose(successes, np.rint(successes), atol=1e-9)  # whole successes of n trials
    p = binom.fitted
    within_mc(props.mean(axis=1), p, np.sqrt(p * (1 - p) / trials / nsim), "binomial means")
    # New random effects: the marginal mean of a Poisson row is exp(η_F + τ²/2).
    fresh = pois.simulate(nsim, seed=4).to_numpy()
    tau2 = pois.VarCorr.terms[0].cov[0, 0]
    eta_f = pois.predict(re_form="~0")
    within_mc(fresh.mean(axis=0).mean(), np.mean(np.exp(eta_f + tau2 / 2)), np.std(fresh.mean(axis=0)) / np.sqrt(nsim),
              "Poisson marginal mean")


def test_parametric_bootstrap_lrt(sleep):
    m1 = merx.lmer("Reaction ~ Days + (Days | Subject)", sleep, REML=False)
    m0 = merx.lmer("Reaction ~ Days + (1 | Subject)", sleep, REML=False)
    pb = merx.anova(m1, m0, test="PB", nsim=60, seed=1, n_jobs=2)
    lrt = 2 * (m1.logLik - m0.logLik)
    assert pb.lrt == pytest.approx(lrt, rel=1e-12) and pb.df == 2
    assert pb.p_pb == pytest.approx((1 + np.sum(pb.ref >= lrt)) / (1 + 60))
    np.testing.assert_array_equal(pb.ref, merx.anova(m0, m1, test="PB", nsim=60, seed=1).ref)
    # Replicate 0: both models refitted to the response simulated from the smaller one.
    y0 = np.asarray(merx.lmer("Reaction ~ Days + (1 | Subject)", sleep, REML=False).bootstrap(1, seed=1).replicate_data(0))
    again = sleep.assign(Reaction=y0)
    big = merx.lmer("Reaction ~ Days + (Days | Subject)", again, REML=False)
    small = merx.lmer("Reaction ~ Days + (1 | Subject)", again, REML=False)
    assert pb.ref[0] == pytest.approx(2 * (big.logLik - small.logLik), rel=1e-6, abs=1e-6)
    text = str(pb)
    assert "Bootstrap test; time:" in text and "PBtest" in text and "large : Reaction ~ Days + (Days | Subject)" in text
    with pytest.raises(merx.MerxError, match="unknown test 'F'"):
        merx.anova(m0, m1, test="F")


@settings(max_examples=25, deadline=None)
@given(scale=st.floats(0.1, 50.0), shift=st.floats(-1e3, 1e3), seed=st.integers(0, 2**32 - 1),
       theta=st.lists(st.floats(0.05, 3.0), min_size=3, max_size=3))
def test_a_new_response_on_the_same_design_evaluates_as_a_fresh_model(scale, shift, seed, theta):
    sleep = merx.load_example("sleepstudy")
    formula = "Reaction ~ Days + (Days | Subject)"
    theta = [theta[0], theta[1] - 1.5, theta[2]]
    y = shift + scale * np.random.default_rng(seed).normal(size=len(sleep))
    _, problem = merx.build_problem(formula, sleep)
    problem.set_response(y)
    _, fresh = merx.build_problem(formula, sleep.assign(Reaction=y))
    a, b = problem.deviance(theta), fresh.deviance(theta)
    assert abs(a - b) <= 1e-10 * abs(b)


def test_simulate_in_chunks_draws_the_same_replicates(monkeypatch):
    """Replicate j comes from stream j of the seed: the draws do not depend on the chunks the
    progress bar and Ctrl-C split them into."""
    import merx.models.bootstrap as boot

    m = merx.lmer("Reaction ~ Days + (Days | Subject)", merx.load_example("sleepstudy"))
    whole = m.simulate(30, seed=11)
    chunks = []
    real = boot.run_in_chunks

    def small_chunks(run, total, chunk, desc, progress):
        chunks.append(7)
        return real(run, total, 7, desc, progress)

    monkeypatch.setattr(boot, "run_in_chunks", small_chunks)
    split = m.simulate(30, seed=11)
    assert chunks == [7]
    pd.testing.assert_frame_equal(whole, split)
