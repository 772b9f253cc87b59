"""Ctrl-C stops a running core fit (a watched fit: the core on a worker thread, Python's signal
handlers run every 0.1 s), the model stays usable and refits to the same estimates; the progress
callback sees the evaluations; fits with a bar count them."""

import os
import signal
import threading

import numpy as np
import pandas as pd
import pytest

import merx
from merx.models.lmer import build_problem
from merx.models.glmer import glmm_problem
from refutil import ref_data

INSTEVAL = "y ~ 1 + service + (1 | s) + (1 | d) + (1 | dept:service)"


@pytest.fixture(scope="module")
def insteval():
    return ref_data("InstEval")


def test_a_progress_callback_error_cancels_the_fit_and_the_model_refits(insteval):
    _, problem = build_problem(INSTEVAL, insteval)
    seen = []

    def callback(n_eval):
        seen.append(n_eval)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        problem.fit(watch=True, progress=callback)
    assert seen and seen[0] >= 0
    again = problem.fit(watch=True)
    plain = build_problem(INSTEVAL, insteval)[1].fit()
    assert again.objective == pytest.approx(plain.objective, rel=1e-12)
    np.testing.assert_allclose(again.theta, plain.theta, rtol=1e-9)


def test_sigint_stops_a_watched_fit(insteval):
    """SIGINT while the core fits: KeyboardInterrupt, raised before the fit would have ended.

    The fit is lme4's (BOBYQA from θ = 1: 92 evaluations, ~1 s here) so that it outlasts the
    signal by a wide margin on a faster machine too (merx's own start takes 26 evaluations,
    0.3 s here, too close to the 0.15 s signal and the 0.1 s polling)."""
    _, problem = build_problem(INSTEVAL, insteval)
    lme4_fit = dict(optimizer="bobyqa", theta_start=[1.0, 1.0, 1.0])
    evaluations = []
    timer = threading.Timer(0.15, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            problem.fit(watch=True, progress=evaluations.append, **lme4_fit)
    finally:
        timer.cancel()
    full = build_problem(INSTEVAL, insteval)[1].fit(**lme4_fit)
    assert not evaluations or evaluations[-1] < full.n_eval  # stopped before the optimum's evaluations


def test_glmm_fit_is_watched_too():
    rng = np.random.default_rng(7)
    g = np.repeat(np.arange(5000), 20)
    x = rng.normal(size=g.size)
    eta = -0.5 + 0.8 * x + rng.normal(scale=0.7, size=5000)[g]
    d = pd.DataFrame({"y": (rng.random(g.size) < 1 / (1 + np.exp(-eta))).astype(float), "x": x, "g": g.astype(str)})
    frame = merx.glmer("y ~ x + (1 | g)", d, family="binomial").frame
    model = glmm_problem(frame, "binomial", "logit")

    def stop(_n):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        model.fit(watch=True, progress=stop)
    refit = model.fit(watch=True)
    plain = glmm_problem(frame, "binomial", "logit").fit()
    assert refit.objective == pytest.approx(plain.objective, rel=1e-10)


def test_progress_bar_of_a_fit(capsys):
    pytest.importorskip("tqdm")
    m = merx.lmer("Reaction ~ Days + (Days | Subject)", ref_data("sleepstudy"), progress=True)
    err = capsys.readouterr().err
    assert "fit" in err and "evaluations" in err
    assert m.fit.converged
    g = merx.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", ref_data("cbpp"),
                   family="binomial", progress=True)
    assert "evaluations" in capsys.readouterr().err and g.fit.converged


def test_lme_gls_and_glmmtmb_fits_are_watched():
    """The nlme and glmmTMB models' core fits take the same watch (a raising callback stops them)."""
    gpa = ref_data("gpa")
    frame_fit = merx.lme("gpa ~ occasion", gpa, "~1 | student", correlation=merx.corAR1(form="~occasion | student"))
    problem = frame_fit._problem

    def stop(_n):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        problem.fit(watch=True, progress=stop)
    assert problem.fit(watch=True).objective == pytest.approx(frame_fit.fit.objective, rel=1e-10)
    z = merx.glmmTMB("count ~ spp + mined + (1 | site)", ref_data("Salamanders"), family="nbinom2")
    with pytest.raises(KeyboardInterrupt):
        z._problem.fit(watch=True, progress=stop)
