"""Bad input through merx.lmer: a clear MerxError that names the problem, never a crash."""

import numpy as np
import pytest

import merx


@pytest.fixture
def sleep():
    return merx.load_example("sleepstudy")


def test_constant_response_is_refused(sleep):
    sleep["Reaction"] = 1.0
    with pytest.raises(merx.MerxError, match="reproduced exactly by the fixed effects"):
        merx.lmer("Reaction ~ Days + (1 | Subject)", sleep)


def test_response_fitted_exactly_by_fixed_effects_is_refused(sleep):
    sleep["Reaction"] = 2.0 * sleep["Days"] + 1.0
    for optimizer in ("auto", "bobyqa", "quasi-newton"):
        with pytest.raises(merx.MerxError, match="no residual variation"):
            merx.lmer("Reaction ~ Days + (1 | Subject)", sleep, optimizer=optimizer)


def test_start_of_wrong_length_is_refused(sleep):
    with pytest.raises(merx.MerxError, match="theta_start has length 1 but the model has 3"):
        merx.lmer("Reaction ~ Days + (Days | Subject)", sleep, start=[1.0])


def test_non_finite_start_is_refused(sleep):
    with pytest.raises(merx.MerxError, match="non-finite"):
        merx.lmer("Reaction ~ Days + (Days | Subject)", sleep, start=[1.0, np.nan, 1.0])


def test_evaluation_without_start_is_refused(sleep):
    with pytest.raises(merx.MerxError, match="optimize=False needs start="):
        merx.lmer("Reaction ~ Days + (1 | Subject)", sleep, optimize=False)


def test_formula_without_random_effects_is_refused(sleep):
    with pytest.raises(merx.MerxError, match="no random-effects term"):
        merx.lmer("Reaction ~ Days", sleep)
