"""Warnings name the user's line (merx.errors.warn_user): raised at different depths inside
merx (the frame, the core's fit, an anova refit, lme's anova), each is reported with this
file as its filename and the line of the call here."""

import inspect
import warnings

import numpy as np
import pandas as pd
import pytest

import merx
from merx.errors import user_stacklevel, warn_user
from merx.models.anova import REFIT_MESSAGE


def _record(call):
    """Runs call() (a lambda written on the caller's line: the first frame outside merx); returns
    the warnings it raised and that line."""
    line = inspect.currentframe().f_back.f_lineno
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    return caught, line


def _assert_at_this_call(caught, line, match):
    hits = [w for w in caught if match in str(w.message)]
    assert hits, [str(w.message) for w in caught]
    for w in hits:
        assert w.filename == __file__, (str(w.message), w.filename)
        assert w.lineno == line, (str(w.message), w.lineno)


def test_warn_user_from_outside_the_package_is_the_caller():
    def helper():
        warn_user("from a function outside merx")
        return user_stacklevel()
    caught, _ = _record(helper)
    assert caught[0].filename == __file__
    assert caught[0].lineno == helper.__code__.co_firstlineno + 1  # the line in helper that called warn_user
    with pytest.warns(UserWarning, match="from a function outside merx"):
        assert helper() == 1  # already outside merx: the caller itself


def test_lmer_rank_deficient_and_scale_warnings():
    d = merx.load_example("sleepstudy").assign(Days2=lambda d: 2.0 * d["Days"])
    caught, line = _record(lambda: merx.lmer("Reaction ~ Days + Days2 + (1 | Subject)", d))
    _assert_at_this_call(caught, line, "rank deficient so dropping 1 column / coefficient: Days2")
    big = merx.load_example("sleepstudy").assign(big=lambda d: d["Days"] * 1e5 + 3.0)
    caught, line = _record(lambda: merx.lmer("Reaction ~ big + (1 | Subject)", big))
    _assert_at_this_call(caught, line, "Some predictor variables are on very different scales")


def test_glmer_convergence_warning():
    cbpp = merx.load_example("cbpp")
    caught, line = _record(lambda: merx.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp,
                                              family="binomial", max_fun=4))
    _assert_at_this_call(caught, line, "the optimizer did not converge")


def test_glmer_and_glmmtmb_frame_warnings():
    rng = np.random.default_rng(1)
    d = pd.DataFrame({"g": np.repeat(list("abcdefgh"), 10), "x": rng.normal(size=80)})
    d["c"] = rng.poisson(2.0, size=80) + 0.5
    caught, line = _record(lambda: merx.glmer("c ~ x + (1 | g)", d, family="poisson"))
    _assert_at_this_call(caught, line, "non-integer x = ")
    d["x2"] = 3.0 * d["x"]
    d["c"] = np.floor(d["c"])
    caught, line = _record(lambda: merx.glmmTMB("c ~ x + x2 + (1 | g)", d, family="poisson"))
    _assert_at_this_call(caught, line, "rank deficient so dropping 1 column / coefficient: x2")


def test_anova_refit_and_lme_anova_warnings():
    d = merx.load_example("sleepstudy")
    fm0 = merx.lmer("Reaction ~ 1 + (1 | Subject)", d)
    fm1 = merx.lmer("Reaction ~ Days + (1 | Subject)", d)
    caught, line = _record(lambda: merx.anova(fm1, fm0))
    _assert_at_this_call(caught, line, REFIT_MESSAGE)
    m0 = merx.lme("Reaction ~ 1", d, random="~1 | Subject")
    m1 = merx.lme("Reaction ~ Days", d, random="~1 | Subject")
    caught, line = _record(lambda: merx.anova(m0, m1))
    _assert_at_this_call(caught, line, "REML comparisons are not meaningful")
    d2 = d.assign(Days2=lambda d: 2.0 * d["Days"])
    caught, line = _record(lambda: merx.lme("Reaction ~ Days + Days2", d2, random="~1 | Subject"))
    _assert_at_this_call(caught, line, "rank deficient so dropping 1 column / coefficient: Days2")
