"""The model frame's fast paths for small fits give exactly what the general code gives:
columns read from a plain DataFrame's blocks (and the public ``df[column]`` fallback), the
pyarrow string categories' labels, the complete-rows check, the rank test of a narrow X and
the standard deviations of check.scaleX."""

import math

import numpy as np
import pandas as pd
import pytest

import merx
import merx.frame.data_source as data_source
import merx.frame.fixed_effects as fixed_effects
from merx.frame.data_source import DataSource, column_value
from merx.frame.factors import Factor, category_labels
from merx.frame.fixed_effects import _column_sd, check_scale_x, dqrdc2
from merx.frame.values import Logical, Numeric


def _frame():
    n = 12
    rng = np.random.default_rng(3)
    return pd.DataFrame({
        "f64": rng.normal(size=n),
        "f32": rng.normal(size=n).astype(np.float32),
        "i64": rng.integers(0, 9, size=n),
        "u8": rng.integers(0, 9, size=n).astype(np.uint8),
        "b": rng.random(n) < 0.5,
        "cat": pd.Categorical(rng.choice(["b", "a", "c"], size=n), categories=["c", "a", "b", "d"]),
        "icat": pd.Categorical(rng.choice([3, 1, 2], size=n)),
        "s": rng.choice(["x", "y"], size=n),
        "I64": pd.array(rng.integers(0, 5, size=n), dtype="Int64"),
        "nab": pd.array([True, None] * (n // 2), dtype="boolean"),
        "obj": pd.Series([1.5, None] * (n // 2), dtype=object),
    })


def _same(a, b):
    assert type(a) is type(b)
    if isinstance(a, Factor):
        assert a.levels == b.levels and all(type(x) is str for x in a.levels)
        assert a.codes.dtype == b.codes.dtype and np.array_equal(a.codes, b.codes)
        assert a.codes.flags.writeable == b.codes.flags.writeable
    else:
        assert a.values.dtype == b.values.dtype
        assert np.array_equal(a.values, b.values, equal_nan=True)
        assert a.values.flags.writeable == b.values.flags.writeable


@pytest.mark.parametrize("name", list(_frame().columns))
def test_columns_read_from_blocks_are_the_series_values(name):
    df = _frame()
    fast = DataSource(df).get(name)
    public = column_value(df[name], name)
    _same(fast, public)
    if isinstance(fast, Numeric) and fast.values.dtype == np.float64 and df[name].dtype == np.float64:
        # read-only, as Series.to_numpy under copy-on-write: the data cannot be changed through it
        assert not fast.values.flags.writeable


def test_public_path_without_pandas_internals(monkeypatch):
    df = _frame()
    monkeypatch.setattr(data_source, "_DIRECT_BLOCKS", False)
    src = DataSource(df)
    assert src._blocks is None
    for name in df.columns:
        _same(src.get(name), column_value(df[name], name))


def test_subclass_and_odd_labels_use_the_public_path():
    class Sub(pd.DataFrame):
        pass

    df = Sub({"y": [1.0, 2.0], 3: [1, 2]})
    src = DataSource(df)
    assert src._blocks is None
    assert src.has("y") and src.has("3") and not src.has("x")
    assert np.array_equal(src.get("3").values, [1.0, 2.0])
    plain = pd.DataFrame({"y": [1.0, 2.0], 3: [1, 2]})
    src = DataSource(plain)
    assert src.has("3") and src.columns == ["y", "3"]
    assert np.array_equal(src.get("3").values, [1.0, 2.0])


def test_missing_label_text_is_looked_up_as_before():
    df = pd.DataFrame([[1.0, 2.0]], columns=pd.Index(["a", None], dtype="str"))
    src = DataSource(df)
    assert src.has("a") and src.has("nan") and not src.has("b")
    assert src.get("nan").values.tolist() == [2.0]


def test_unknown_column_message_unchanged():
    src = DataSource(pd.DataFrame({"Reaction": [1.0], "Days": [2]}))
    msg = src.unknown_message(["reaction"], "the formula")
    assert "'reaction' (did you mean 'Reaction'?)" in msg and msg.endswith("Available columns: Reaction, Days")


@pytest.mark.parametrize("cats", [
    pd.Index(["b", "a", "c"], dtype="str"),
    pd.Index(["b", "a", "c"], dtype=pd.StringDtype("python")),
    pd.Index(["b", "a", "c"], dtype=object),
    pd.Index([2.0, 1.5, 10.0]),
    pd.Index([True, False]),
])
def test_category_labels(cats):
    expect = [str(c) for c in cats.tolist()] if not pd.api.types.is_numeric_dtype(cats.dtype) \
        and not pd.api.types.is_bool_dtype(cats.dtype) else None
    got = category_labels(cats)
    assert all(type(c) is str for c in got)
    if expect is not None:
        assert got == expect


def test_sleepstudy_subject_factor():
    df = merx.load_example("sleepstudy")
    f = DataSource(df).get("Subject")
    assert f.levels == [str(c) for c in df["Subject"].cat.categories.tolist()]
    assert np.array_equal(f.codes, df["Subject"].cat.codes.to_numpy().astype(np.int64))


def _frames_equal(a, b):
    assert a.x_names == b.x_names and a.dropped_x_names == b.dropped_x_names
    assert np.array_equal(a.X, b.X) and a.X.flags.f_contiguous == b.X.flags.f_contiguous
    assert np.array_equal(a.y, b.y) and a.n_dropped_na == b.n_dropped_na
    assert list(a.row_labels) == list(b.row_labels)
    for p, q in zip(a.blocks, b.blocks):
        assert p.levels == q.levels and p.columns == q.columns
        assert np.array_equal(p.codes, q.codes) and np.array_equal(p.Z, q.Z)


@pytest.mark.parametrize("formula", [
    "Reaction ~ Days + (Days | Subject)",
    "Reaction ~ Days + (1 | Subject)",
    "log(Reaction) ~ Days + I(Days^2) + (Days || Subject)",
])
def test_complete_rows_fast_path_matches_general(formula, monkeypatch):
    from merx.frame import model_variables
    from merx.frame.model_frame import build_model_frame

    df = merx.load_example("sleepstudy")
    fast = build_model_frame(formula, df)
    monkeypatch.setattr(model_variables, "_complete_values", lambda used: None)
    general = build_model_frame(formula, df)
    _frames_equal(fast, general)


@pytest.mark.filterwarnings("error")
def test_complete_rows_fast_path_declines_missing_and_infinite():
    from merx.frame.model_variables import _complete_values

    ok = {"x": (Numeric(np.array([1.0, 2.0])), ""), "g": (Factor(np.array([0, 1]), ["a", "b"]), "")}
    assert list(_complete_values(ok)) == ["x", "g"]
    for bad in (Numeric(np.array([1.0, np.nan])), Numeric(np.array([1.0, np.inf])),
                Logical(np.array([1.0, np.nan])),
                Factor(np.array([0, -1]), ["a"]), Numeric(np.array(2.0))):
        assert _complete_values({**ok, "z": (bad, "")}) is None
    # a level no row has is dropped, as by the general path
    f = _complete_values({"g": (Factor(np.array([0, 2]), ["a", "b", "c"]), "")})["g"]
    assert f.levels == ["a", "c"] and f.codes.tolist() == [0, 1]


def test_small_rank_test_agrees_with_the_full_one():
    rng = np.random.default_rng(0)
    for _ in range(3000):
        n, p = int(rng.integers(1, 30)), int(rng.integers(1, 9))
        X = rng.normal(size=(n, p)) * 10.0 ** rng.integers(-8, 8, size=p)
        if rng.random() < 0.3 and p > 1:
            X[:, -1] = X[:, 0] * 2 + rng.normal(size=n) * 10.0 ** -float(rng.integers(0, 12))
        if rng.random() < 0.2:
            X = np.round(X)
        X = np.asfortranarray(X)
        small = dqrdc2(X)
        fixed_effects._SMALL_P, saved = -1, fixed_effects._SMALL_P
        try:
            assert dqrdc2(X) == small
        finally:
            fixed_effects._SMALL_P = saved
        assert dqrdc2(X, _fast=False)[0] == small[0] or small[0] == min(n, p)


def test_column_sd_is_numpy_std():
    rng = np.random.default_rng(1)
    for _ in range(500):
        n, k = int(rng.integers(2, 300)), int(rng.integers(1, 5))
        A = rng.normal(size=(n, k)) * 10.0 ** rng.integers(-10, 10, size=k) + rng.normal(size=k) * 1e6
        X = np.asfortranarray(np.column_stack([np.ones(n), A]))
        B = X[:, np.array([False] + [True] * k)]
        assert np.array_equal(_column_sd(X, list(range(1, k + 1))), np.std(B, axis=0, ddof=1))


def test_column_sd_in_blocks_is_numpy_std_to_rounding():
    rng = np.random.default_rng(2)
    n = 3 * (1 << 16) + 17  # several blocks of rows
    X = np.asfortranarray(np.column_stack([np.ones(n), rng.normal(size=n) * 1e-3 + 1e4, rng.uniform(size=n)]))
    np.testing.assert_allclose(_column_sd(X, [1, 2]), np.std(X[:, 1:], axis=0, ddof=1), rtol=1e-12)


@pytest.mark.parametrize("scale, warns", [(1.0, False), (1e-3, True), (1e4, True), (5e2, False)])
def test_check_scale_x(scale, warns, recwarn):
    x = np.linspace(0, 1, 50) * scale
    check_scale_x(np.asfortranarray(np.column_stack([np.ones(50), x, np.linspace(0, 1, 50)])))
    assert any("very different scales" in str(w.message) for w in recwarn.list) == warns


def test_small_scale_check_warns_exactly_as_numpy(monkeypatch):
    import warnings

    def warned(X):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            check_scale_x(X)
        return any("very different scales" in str(x.message) for x in w)

    rng = np.random.default_rng(7)
    for _ in range(1500):
        n = int(rng.integers(2, 60))
        cols = [np.ones(n), (rng.random(n) < 0.5).astype(float)]
        for _ in range(int(rng.integers(0, 3))):
            scale = 10.0 ** rng.uniform(-4.5, 4.5)
            cols.append(rng.normal(size=n) * scale + rng.normal() * 10.0 ** rng.uniform(-3, 6))
        if rng.random() < 0.2:
            cols.append(np.full(n, 2.0))  # constant, not an indicator
        if rng.random() < 0.2:
            cols.append(rng.choice([0.0, 0.5, 1.0], size=n))  # in [0, 1], not an indicator
        X = np.asfortranarray(np.column_stack(cols))
        small = warned(X)
        monkeypatch.setattr(fixed_effects, "_SMALL_N", 0)
        assert warned(X) == small
        monkeypatch.setattr(fixed_effects, "_SMALL_N", 5000)


def _check_scale_x_reference(X, tol=1e3):
    """check.scaleX as first written: every column compared value by value."""
    binary = ((X == 0.0) | (X == 1.0)).all(axis=0)
    if binary.all():
        return False
    sd = np.std(X[:, ~binary], axis=0, ddof=1)
    vals = list(np.abs(np.log(sd)))
    vals += [abs(math.log(a / b)) for i, a in enumerate(sd) for b in sd[:i]]
    return any(v > math.log(tol) for v in vals if np.isfinite(v))


@pytest.mark.parametrize("extra", [None, 0.5, 1e-5, 3e4, "within"])
def test_check_scale_x_on_many_rows_finds_the_indicators_as_before(extra, recwarn):
    """Beyond the small-X shortcut, only columns within [0, 1] are tested as indicators; the
    decision equals the value-by-value one."""
    import warnings

    rng = np.random.default_rng(5)
    n = 6000
    cols = [np.ones(n), (rng.random(n) < 0.3).astype(float), rng.normal(size=n)]
    if extra == "within":
        cols.append(rng.random(n) * 1e-4)  # in [0, 1], not an indicator, tiny sd
    elif extra is not None:
        cols.append(rng.normal(size=n) * extra)
    X = np.column_stack(cols)
    expected = _check_scale_x_reference(X)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_scale_x(X)
    assert any("different scales" in str(w.message) for w in caught) == expected
    assert expected == (extra in (1e-5, 3e4, "within"))
