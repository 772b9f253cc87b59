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


def test_a_factor_larger_than_memory_is_named_not_killed():
    """The core refuses a factor whose storage (known after the symbolic analysis) exceeds the
    memory available (rust/src/linalg/memory.rs); the message then names the grouping factors."""
    from merx.frame.model_frame import build_model_frame
    from merx.models.fitting import memory_error

    import merx as _merx

    frame = build_model_frame("Reaction ~ Days + (1 | Subject) + (1 | Days)", _merx.load_example("sleepstudy"))
    core_msg = ("random-effects terms 2 to 2 (those after the first, 10 random effects) couple through the first "
                "term's levels: the sparse Cholesky factor (10 columns, 55 stored entries) needs 23.3 GB of memory "
                "but 16.0 GB is available")
    err = memory_error(frame, ValueError(core_msg))
    assert isinstance(err, _merx.MerxError)
    text = str(err)
    assert text.startswith("the model does not fit in memory: random-effects terms 2 to 2")
    assert "After 'Subject' (18 levels) come 'Days' (10 levels)" in text
    assert "23.3 GB" in text and "machine with more memory" in text
    assert memory_error(frame, ValueError("y has a non-finite value")) is None
