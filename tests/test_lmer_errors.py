"""Bad input through merx.lmer: a clear MerxError that names the problem, never a crash."""

import re

import numpy as np
import pandas as pd
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


def _crossed_ratings(n_users=1500, n_items=400, per_user=12, seed=3):
    """Users rating popular items: the item block's Schur complement is dense."""
    rng = np.random.default_rng(seed)
    user = np.repeat(np.arange(n_users), per_user)
    popularity = 1.0 / np.arange(1, n_items + 1)
    item = rng.choice(n_items, size=user.size, p=popularity / popularity.sum())
    item[:n_items] = np.arange(n_items)  # every item rated at least once
    y = rng.normal(0, 0.6, n_users)[user] + rng.normal(0, 0.4, n_items)[item] + rng.normal(size=user.size)
    return pd.DataFrame({"y": y, "user": [f"u{u}" for u in user], "item": [f"i{i}" for i in item]})


def test_an_oversized_crossed_design_is_refused_under_a_configured_limit(monkeypatch):
    """MERX_MEMORY_LIMIT caps the memory the core plans for; a crossed design whose dense item
    block (400 columns, ~1 MB) exceeds it is refused before anything is allocated, with the
    grouping factors, the size and what to do named: not killed by the operating system."""
    data = _crossed_ratings()
    formula = "y ~ 1 + (1 | user) + (1 | item)"
    monkeypatch.setenv("MERX_MEMORY_LIMIT", "0.5MB")
    with pytest.raises(merx.MerxError) as info:
        merx.lmer(formula, data)
    text = str(info.value)
    # S is dense or sparse by its own fill; either way its size is named before it is allocated.
    assert re.match(r"the model does not fit in memory: random-effects terms 2 to 2 \(those after the first, 400 "
                    r"random effects\) couple through the first term's levels: the (dense Schur complement|sparse "
                    r"Cholesky factor) \(400 columns.*\) needs 1\.\d MB of memory but 0\.5 MB is available \(the "
                    r"limit set by MERX_MEMORY_LIMIT\)", text), text
    assert "After 'user' (1500 levels) come 'item' (400 levels)" in text
    assert "raise MERX_MEMORY_LIMIT" in text
    # The same design fits once the limit allows the block, to the estimates of an unlimited fit.
    monkeypatch.setenv("MERX_MEMORY_LIMIT", "2MB")
    capped = merx.lmer(formula, data)
    monkeypatch.delenv("MERX_MEMORY_LIMIT")
    free = merx.lmer(formula, data)
    np.testing.assert_allclose(capped.theta, free.theta, rtol=1e-12)


def test_a_memory_limit_that_is_not_a_size_is_named(monkeypatch):
    monkeypatch.setenv("MERX_MEMORY_LIMIT", "lots")
    with pytest.raises(merx.MerxError, match=r'MERX_MEMORY_LIMIT="lots" is not a memory size: give bytes or a number '
                                             r"with a unit, e.g. 500MB or 2.5GB"):
        merx.lmer("Reaction ~ Days + (Days | Subject)", merx.load_example("sleepstudy"))
