"""A random term whose columns repeat X's shares them (a view, no copy) on large data: the
model frame, and so the fit, are the same as with the term's own copy."""

import numpy as np
import pandas as pd
import pytest

import merx
import merx.frame.random_effects as random_effects
from merx.frame.model_frame import build_model_frame


@pytest.fixture(scope="module")
def rows():
    rng = np.random.default_rng(2026)
    n = 70_000
    g = rng.integers(0, 700, n)
    f = rng.choice(["a", "b", "c"], n)
    x = rng.normal(size=n)
    b = rng.normal(size=(700, 2)) * [0.8, 0.3]
    y = 1 + 0.5 * x + (f == "b") + b[g, 0] + b[g, 1] * x + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": x, "f": pd.Categorical(f), "g": g, "w": rng.uniform(0.5, 2, n)})


@pytest.mark.parametrize("formula, shared", [
    ("y ~ x + (1 + x | g)", True),
    ("y ~ x + f + (x | g)", True),
    ("y ~ x + f + (f | g)", False),     # X's columns are (Intercept), x, fb, fc: not side by side
    ("y ~ f + x + (0 + x | g)", True),
    ("y ~ x + (0 + f | g)", False),      # the full dummy coding is not in X
    ("y ~ 0 + x + (1 | g)", False),      # X has no intercept column
])
def test_a_term_shares_x_columns_only_where_they_are_the_same(rows, formula, shared, monkeypatch):
    frame = build_model_frame(formula, rows)
    Z = frame.blocks[0].Z
    assert np.shares_memory(Z, frame.X) == shared
    monkeypatch.setattr(random_effects, "_SHARE_MIN_ROWS", 10**12)
    own = build_model_frame(formula, rows)
    assert not np.shares_memory(own.blocks[0].Z, own.X)
    np.testing.assert_array_equal(Z, own.blocks[0].Z)
    assert frame.blocks[0].columns == own.blocks[0].columns


def test_a_fit_with_shared_columns_equals_the_fit_with_copies(rows, monkeypatch):
    formula = "y ~ x + f + (1 + x | g)"
    shared = merx.lmer(formula, rows, weights="w")
    monkeypatch.setattr(random_effects, "_SHARE_MIN_ROWS", 10**12)
    copied = merx.lmer(formula, rows, weights="w")
    assert shared.objective == copied.objective
    np.testing.assert_array_equal(shared.theta, copied.theta)
    np.testing.assert_array_equal(shared.fixef, copied.fixef)
