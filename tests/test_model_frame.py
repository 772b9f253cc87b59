"""Tests of merx.frame (and merx.datasets): y, X and random-effects
blocks built with lme4's semantics, checked against lme4 1.1-31 references."""

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from merx.datasets import list_examples, load_example, read_data
from merx.errors import DataError, FormulaError
from merx.formula.model_formula import parse_formula
from merx.frame.model_frame import ModelFrame, build_model_frame
from merx.frame.random_effects import RandomEffectBlock

from refutil import ref_data
from refutil import refs_of_kind as _refs_of_kind


def _refs(kinds):
    return _refs_of_kind(*kinds)


def mf_of(formula, data, **kw):
    return build_model_frame(parse_formula(formula), data, **kw)


# ---------------------------------------------------------------------------
# lme4 references
# ---------------------------------------------------------------------------

LMER_REFS = _refs({"lmer"})


def test_there_are_lmer_references():
    assert len(LMER_REFS) >= 15


@pytest.mark.parametrize("ref", LMER_REFS)
def test_reference_structure(ref):
    df = ref_data(ref["dataset"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # lme4 gave no warnings for these frames
        mf = build_model_frame(parse_formula(ref["formula"]), df, data_name=ref["dataset"])
    assert isinstance(mf, ModelFrame)
    assert mf.data_name == ref["dataset"]
    assert mf.x_names == ref["X_colnames"]
    assert mf.nobs == ref["nobs"]
    assert mf.n_rows_data == ref["n_rows_data"]
    assert mf.n_dropped_na == ref["n_rows_data"] - ref["nobs"]
    assert mf.X.shape == (ref["nobs"], len(ref["X_colnames"]))
    assert [(b.group, b.columns) for b in mf.blocks] == [(t["grp"], t["columns"]) for t in ref["re_terms"]]
    assert mf.ngrps == ref["ngrps"]
    assert list(mf.ngrps) == list(ref["ngrps"])  # lme4's flist order
    assert sum(b.n_levels * b.n_columns for b in mf.blocks) == ref["Z_ncol"]
    for grp, r in ref["ranef"].items():
        assert mf.flist[grp] == r["levels"], grp
    for b in mf.blocks:
        assert isinstance(b, RandomEffectBlock)
        assert b.codes.dtype == np.int64 and b.codes.shape == (mf.nobs,)
        assert b.codes.min() == 0 and b.codes.max() == b.n_levels - 1
        assert b.Z.dtype == np.float64 and b.Z.shape == (mf.nobs, b.n_columns)
    assert mf.y.dtype == np.float64 and mf.X.dtype == np.float64
    if "rows_used0" in ref:
        assert list(mf.row_labels) == ref["rows_used0"]


@pytest.mark.parametrize("ref", LMER_REFS)
def test_reference_linear_predictor_reproduced(ref):
    """X beta + sum_k Z_k b_k[codes] with lme4's estimates gives lme4's fitted
    values: checks the content of X, Z, codes and the level order."""
    mf = build_model_frame(parse_formula(ref["formula"]), ref_data(ref["dataset"]))
    eta = mf.X @ np.array([ref["fixef"][nm] for nm in mf.x_names])
    for b in mf.blocks:
        vals = ref["ranef"][b.group]["values"]
        B = np.array([[vals[lv][c] for c in b.columns] for lv in b.levels])
        eta = eta + np.sum(b.Z * B[b.codes], axis=1)
    target = np.array(ref["fitted"], dtype=float)
    m = len(target)
    np.testing.assert_allclose(eta[:m], target, rtol=1e-10, atol=1e-9)
    # the response: y = fitted + residuals
    resid = np.array(ref["residuals"], dtype=float)
    np.testing.assert_allclose(mf.y[:m], target + resid, rtol=1e-10, atol=1e-8)


# ---------------------------------------------------------------------------
# factors, names and column order as R
# ---------------------------------------------------------------------------


@pytest.fixture
def toy():
    rng = np.random.default_rng(1)
    n = 60
    return pd.DataFrame(
        {
            "y": rng.normal(size=n),
            "age": rng.normal(40, 10, size=n),
            "x": rng.uniform(1, 5, size=n),
            "sex": np.array(["male", "female"])[rng.integers(0, 2, n)],
            "f": np.array(["c", "a", "b"])[np.arange(n) % 3],
            "flag": (np.arange(n) % 4 == 0),
            "g": np.array(["g10", "g2", "g1", "g3", "g4", "g5"])[np.arange(n) % 6],
            "num_g": (np.arange(n) % 12) + 1,
            "h": np.arange(n) % 5,
        }
    )


def test_string_columns_become_sorted_factors(toy):
    mf = mf_of("y ~ sex + f + (1 | g)", toy)
    assert mf.x_names == ["(Intercept)", "sexmale", "fb", "fc"]
    assert mf.blocks[0].levels == ["g1", "g10", "g2", "g3", "g4", "g5"]
    assert mf.xlevels == {"sex": ["female", "male"], "f": ["a", "b", "c"]}


def test_categorical_keeps_level_order(toy):
    toy["sex"] = pd.Categorical(toy["sex"], categories=["male", "female"])
    toy["g"] = pd.Categorical(toy["g"], categories=["g5", "g4", "g3", "g2", "g10", "g1"])
    mf = mf_of("y ~ sex + (1 | g)", toy)
    assert mf.x_names == ["(Intercept)", "sexfemale"]
    assert mf.blocks[0].levels == ["g5", "g4", "g3", "g2", "g10", "g1"]
    codes = mf.blocks[0].codes
    assert [mf.blocks[0].levels[c] for c in codes[:6]] == list(toy["g"].astype(str)[:6])


def test_numeric_grouping_levels_sorted_numerically(toy):
    mf = mf_of("y ~ 1 + (1 | num_g)", toy)
    assert mf.blocks[0].levels == [str(i) for i in range(1, 13)]
    toy["fl"] = toy["num_g"].astype(float) / 2
    mf = mf_of("y ~ 1 + (1 | fl)", toy)
    assert mf.blocks[0].levels == ["0.5", "1", "1.5", "2", "2.5", "3", "3.5", "4", "4.5", "5", "5.5", "6"]


def test_boolean_columns_are_factors(toy):
    mf = mf_of("y ~ flag + (1 | g)", toy)
    assert mf.x_names == ["(Intercept)", "flagTRUE"]
    np.testing.assert_array_equal(mf.X[:, 1], toy["flag"].to_numpy(dtype=float))
    mf = mf_of("y ~ 1 + (1 | flag)", toy)
    assert mf.blocks[0].levels == ["FALSE", "TRUE"]


def test_interaction_names_and_order(toy):
    mf = mf_of("y ~ age*sex + (1 | g)", toy)
    assert mf.x_names == ["(Intercept)", "age", "sexmale", "age:sexmale"]
    mf = mf_of("y ~ sex*f + (1 | g)", toy)
    # R: the first factor varies fastest within an interaction term
    assert mf.x_names == ["(Intercept)", "sexmale", "fb", "fc", "sexmale:fb", "sexmale:fc"]
    mf = mf_of("y ~ sex:age + age + (1 | g)", toy)
    assert mf.x_names == ["(Intercept)", "age", "sexmale:age"]
    np.testing.assert_allclose(mf.X[:, 2], (toy["sex"] == "male") * toy["age"])


def test_no_intercept_full_dummy_coding(toy):
    assert mf_of("y ~ 0 + f + (1 | g)", toy).x_names == ["fa", "fb", "fc"]
    assert mf_of("y ~ -1 + f + sex + (1 | g)", toy).x_names == ["fa", "fb", "fc", "sexmale"]
    assert mf_of("y ~ 0 + age + f + (1 | g)", toy).x_names == ["age", "fa", "fb", "fc"]


def test_r_contrast_rule_for_interactions_without_margins(toy):
    # y ~ x + x:f : the margin x is present, so f gets contrasts
    assert mf_of("y ~ x + x:f + (1 | g)", toy).x_names == ["(Intercept)", "x", "x:fb", "x:fc"]
    # y ~ x:f : no margin, full indicators
    assert mf_of("y ~ x:f + (1 | g)", toy).x_names == ["(Intercept)", "x:fa", "x:fb", "x:fc"]
    # nesting f/x = f + f:x
    assert mf_of("y ~ f/x + (1 | g)", toy).x_names == ["(Intercept)", "fb", "fc", "fa:x", "fb:x", "fc:x"]


def test_expression_columns(toy):
    mf = mf_of("log(y + 10) ~ log(x) + I(x^2) + (1 | g)", toy)
    assert mf.response_name == "log(y + 10)"
    assert mf.x_names == ["(Intercept)", "log(x)", "I(x^2)"]
    np.testing.assert_allclose(mf.X[:, 1], np.log(toy["x"]))
    np.testing.assert_allclose(mf.X[:, 2], toy["x"] ** 2)
    np.testing.assert_allclose(mf.y, np.log(toy["y"] + 10))


def test_factor_of_numeric_and_logical_expression(toy):
    mf = mf_of("y ~ factor(h) + I(x > 3) + (1 | g)", toy)
    assert mf.x_names == ["(Intercept)", "factor(h)1", "factor(h)2", "factor(h)3", "factor(h)4", "I(x > 3)TRUE"]


def test_poly_and_scale(toy):
    mf = mf_of("y ~ poly(x, 2) + scale(age) + (1 | g)", toy)
    assert mf.x_names == ["(Intercept)", "poly(x, 2)1", "poly(x, 2)2", "scale(age)"]
    P = mf.X[:, 1:3]
    # R's poly: orthonormal columns orthogonal to the constant
    np.testing.assert_allclose(P.T @ P, np.eye(2), atol=1e-12)
    np.testing.assert_allclose(P.sum(axis=0), 0, atol=1e-12)
    a = toy["age"]
    np.testing.assert_allclose(mf.X[:, 3], (a - a.mean()) / a.std(ddof=1))


def test_random_term_columns(toy):
    mf = mf_of("y ~ x + (x | g)", toy)
    assert mf.blocks[0].columns == ["(Intercept)", "x"]
    np.testing.assert_allclose(mf.blocks[0].Z[:, 1], toy["x"])
    mf2 = mf_of("y ~ x + (1 + x | g)", toy)
    np.testing.assert_array_equal(mf.blocks[0].Z, mf2.blocks[0].Z)
    assert mf_of("y ~ x + (0 + x | g)", toy).blocks[0].columns == ["x"]
    assert mf_of("y ~ x + (-1 + x | g)", toy).blocks[0].columns == ["x"]
    # factor slopes: full dummy coding without intercept, contrasts with it
    assert mf_of("y ~ f + (0 + f | g)", toy).blocks[0].columns == ["fa", "fb", "fc"]
    assert mf_of("y ~ f + (f | g)", toy).blocks[0].columns == ["(Intercept)", "fb", "fc"]
    blocks = mf_of("y ~ f + (f || g)", toy).blocks
    assert [b.columns for b in blocks] == [["(Intercept)"], ["fa", "fb", "fc"]]
    assert [b.term for b in blocks] == ["1 | g", "0 + f | g"]


def test_interaction_grouping_levels(toy):
    mf = mf_of("y ~ 1 + (1 | sex:f)", toy)
    b = mf.blocks[0]
    assert b.group == "sex:f"
    present = sorted({(s, f) for s, f in zip(toy["sex"], toy["f"])})
    assert b.levels == [f"{s}:{f}" for s, f in present]
    labels = [b.levels[c] for c in b.codes]
    assert labels == [f"{s}:{f}" for s, f in zip(toy["sex"], toy["f"])]


def test_nested_grouping_numeric_labels():
    df = pd.DataFrame({"y": np.arange(24.0) % 7, "a": np.repeat([1, 2, 10], 8), "b": np.tile([1, 2, 3, 4], 6)})
    mf = mf_of("y ~ 1 + (1 | a/b)", df)
    assert [b.group for b in mf.blocks] == ["b:a", "a"]
    assert mf.blocks[0].levels == [f"{b}:{a}" for b in (1, 2, 3, 4) for a in (1, 2, 10)]
    assert mf.blocks[1].levels == ["1", "2", "10"]


def test_term_order_mkReTrms():
    # lme4 reorders only when a later term has more levels; ties come out reversed
    n = 120
    df = pd.DataFrame({
        "y": np.sin(np.arange(n)),
        "a": np.arange(n) % 4,   # 4 levels
        "b": np.arange(n) % 10,  # 10 levels
        "c": np.arange(n) % 3,   # 3 levels
        "d": (np.arange(n) // 7) % 4,  # 4 levels
    })
    assert [b.group for b in mf_of("y ~ 1 + (1|b) + (1|a) + (1|c)", df).blocks] == ["b", "a", "c"]
    assert [b.group for b in mf_of("y ~ 1 + (1|a) + (1|b) + (1|c)", df).blocks] == ["b", "a", "c"]
    # a and d tie with 4 levels: rev(order(nl)) puts the later one first
    assert [b.group for b in mf_of("y ~ 1 + (1|a) + (1|d) + (1|b)", df).blocks] == ["b", "d", "a"]
    # no reordering when already non-increasing, even with ties
    assert [b.group for b in mf_of("y ~ 1 + (1|a) + (1|d) + (1|c)", df).blocks] == ["a", "d", "c"]


# ---------------------------------------------------------------------------
# missing values, unused levels
# ---------------------------------------------------------------------------


def test_missing_values_dropped(toy):
    toy.loc[3, "x"] = np.nan
    toy.loc[7, "y"] = np.nan
    toy["s"] = toy["sex"].astype(object)
    toy.loc[11, "s"] = None
    toy["w"] = 1.0  # (a missing weight is refused rather than dropped: see below)
    toy["o"] = 0.5
    toy.loc[13, "o"] = np.nan
    toy.loc[17, "age"] = np.nan  # not used by the model: row kept
    mf = mf_of("y ~ x + s + (1 | g)", toy, weights="w", offset="o")
    assert mf.n_dropped_na == 4
    assert mf.nobs == len(toy) - 4
    assert list(mf.row_labels) == [i for i in range(len(toy)) if i not in (3, 7, 11, 13)]
    np.testing.assert_allclose(mf.y, toy["y"].drop([3, 7, 11, 13]))


def test_missing_grouping_and_slope_values_dropped(toy):
    toy["g"] = toy["g"].astype(object)
    toy.loc[0, "g"] = None
    toy.loc[1, "x"] = np.nan
    mf = mf_of("y ~ 1 + (0 + x | g)", toy)
    assert mf.n_dropped_na == 2


def test_pandas_na_and_nullable_dtypes(toy):
    toy["xi"] = pd.array(np.arange(len(toy)) % 7, dtype="Int64")
    toy.loc[5, "xi"] = pd.NA
    toy["s"] = pd.array(toy["sex"], dtype="string")
    toy.loc[6, "s"] = pd.NA
    mf = mf_of("y ~ xi + s + (1 | g)", toy)
    assert mf.n_dropped_na == 2
    assert mf.x_names == ["(Intercept)", "xi", "smale"]


def test_unused_levels_dropped(toy):
    toy["g"] = pd.Categorical(toy["g"], categories=["g1", "g2", "g3", "g4", "g5", "g10", "unused"])
    toy["f"] = pd.Categorical(toy["f"], categories=["zz", "a", "b", "c"])
    mf = mf_of("y ~ f + (1 | g)", toy)
    assert mf.blocks[0].levels == ["g1", "g2", "g3", "g4", "g5", "g10"]
    assert mf.x_names == ["(Intercept)", "fb", "fc"]  # reference is the first used level


def test_levels_absent_after_na_removal_are_dropped(toy):
    toy.loc[toy["g"] == "g5", "y"] = np.nan
    mf = mf_of("y ~ 1 + (1 | g)", toy)
    assert "g5" not in mf.blocks[0].levels
    assert mf.blocks[0].n_levels == 5


# ---------------------------------------------------------------------------
# rank deficiency
# ---------------------------------------------------------------------------


def test_rank_deficient_columns_dropped(toy):
    toy["x2"] = 2.0 * toy["x"]
    with pytest.warns(UserWarning, match=r"rank deficient so dropping 1 column / coefficient: x2"):
        mf = mf_of("y ~ x + x2 + age + (1 | g)", toy)
    assert mf.x_names == ["(Intercept)", "x", "age"]
    assert mf.dropped_x_names == ["x2"]
    assert mf.X.shape[1] == 3
    assert mf.x_assign == [0, 1, 3]


def test_rank_deficient_interaction_without_margins(toy):
    # R's model.matrix(~ sex:f) has the intercept plus all 6 cells: the last is aliased
    with pytest.warns(UserWarning, match=r"dropping 1 column"):
        mf = mf_of("y ~ sex:f + (1 | g)", toy)
    assert mf.dropped_x_names == ["sexmale:fc"]
    assert mf.x_names == ["(Intercept)", "sexfemale:fa", "sexmale:fa", "sexfemale:fb", "sexmale:fb",
                          "sexfemale:fc"]


def test_two_aliased_columns_plural_message(toy):
    toy["c1"] = 1.0
    toy["x3"] = toy["x"] + toy["age"]
    with pytest.warns(UserWarning, match=r"dropping 2 columns / coefficients: c1, x3"):
        mf = mf_of("y ~ c1 + x + age + x3 + (1 | g)", toy)
    assert mf.x_names == ["(Intercept)", "x", "age"]


def test_dqrdc2_fast_and_full_paths_agree():
    from merx.frame.fixed_effects import dqrdc2 as _dqrdc2

    rng = np.random.default_rng(3)
    A = rng.normal(size=(50, 6))
    assert _dqrdc2(A) == _dqrdc2(A, _fast=False) == (6, list(range(6)))
    B = np.column_stack([A[:, 0], A[:, 1], A[:, 0] + A[:, 1], A[:, 2], np.zeros(50), A[:, 3]])
    rank, piv = _dqrdc2(B)
    assert rank == 4
    assert piv[:4] == [0, 1, 3, 5]  # the earliest independent columns, in order
    assert sorted(piv[4:]) == [2, 4]
    # a column that is aliased only up to 1e-9 relative noise is still dropped (tol 1e-7)
    C = np.column_stack([A[:, :3], A[:, 0] - A[:, 2] + 1e-9 * rng.normal(size=50)])
    assert _dqrdc2(C)[0] == 3


def test_new_fixed_matrix_after_rank_drop(toy):
    toy["x2"] = 2.0 * toy["x"]
    with pytest.warns(UserWarning):
        mf = mf_of("y ~ x + x2 + (1 | g)", toy)
    np.testing.assert_allclose(mf.new_fixed_matrix(toy), mf.X)


# ---------------------------------------------------------------------------
# weights and offsets
# ---------------------------------------------------------------------------


def test_weights_and_offset_by_name_and_array(toy):
    toy["w"] = np.arange(len(toy)) % 3 + 1.0
    toy["o"] = np.linspace(0, 1, len(toy))
    a = mf_of("y ~ x + (1 | g)", toy, weights="w", offset="o")
    b = mf_of("y ~ x + (1 | g)", toy, weights=toy["w"].to_numpy(), offset=list(toy["o"]))
    np.testing.assert_array_equal(a.weights, toy["w"])
    np.testing.assert_array_equal(b.weights, toy["w"])
    np.testing.assert_array_equal(a.offset, toy["o"])
    np.testing.assert_array_equal(b.offset, toy["o"])
    assert mf_of("y ~ x + (1 | g)", toy).weights is None
    assert mf_of("y ~ x + (1 | g)", toy).offset is None


def test_offset_in_formula_adds(toy):
    toy["o"] = np.linspace(0, 1, len(toy))
    mf = mf_of("y ~ x + offset(log(x)) + (1 | g)", toy, offset="o")
    np.testing.assert_allclose(mf.offset, np.log(toy["x"]) + toy["o"])
    assert mf.x_names == ["(Intercept)", "x"]
    np.testing.assert_allclose(mf.new_offset(toy), mf.offset)


def test_zero_weights_allowed(toy):
    w = np.ones(len(toy))
    w[0] = 0.0
    assert mf_of("y ~ x + (1 | g)", toy, weights=w).weights[0] == 0.0


# ---------------------------------------------------------------------------
# other inputs: polars, dict
# ---------------------------------------------------------------------------


def test_polars_input_matches_pandas(toy):
    pl = pytest.importorskip("polars")
    toy["fc"] = pd.Categorical(toy["f"], categories=["c", "b", "a"])
    pdf = pl.DataFrame({
        "y": toy["y"].to_numpy(), "x": toy["x"].to_numpy(), "sex": list(toy["sex"]),
        "g": list(toy["g"]), "fc": pl.Series(list(toy["fc"].astype(str)), dtype=pl.Enum(["c", "b", "a"])),
        "flag": toy["flag"].to_numpy(),
    })
    a = mf_of("y ~ x + sex + fc + flag + (x | g)", toy)
    b = mf_of("y ~ x + sex + fc + flag + (x | g)", pdf)
    assert a.x_names == b.x_names == ["(Intercept)", "x", "sexmale", "fcb", "fca", "flagTRUE"]
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    assert a.blocks[0].levels == b.blocks[0].levels
    np.testing.assert_array_equal(a.blocks[0].codes, b.blocks[0].codes)


def test_polars_nulls_dropped():
    pl = pytest.importorskip("polars")
    df = pl.DataFrame({"y": [1.0, 2.0, None, 4.0, 5.0, 6.0], "x": [1.0, 2.0, 3.0, None, 5.0, 7.0],
                       "g": ["a", "b", "a", "b", None, "a"]})
    mf = mf_of("y ~ x + (1 | g)", df)
    assert mf.nobs == 3 and mf.n_dropped_na == 3
    assert list(mf.row_labels) == [0, 1, 5]


def test_dict_input(toy):
    d = {c: toy[c].to_numpy() for c in ["y", "x", "g"]}
    a = mf_of("y ~ x + (1 | g)", d)
    b = mf_of("y ~ x + (1 | g)", toy)
    np.testing.assert_array_equal(a.X, b.X)
    assert a.blocks[0].levels == b.blocks[0].levels


def test_dict_with_unequal_lengths():
    with pytest.raises(DataError, match="equal length"):
        mf_of("y ~ x + (1 | g)", {"y": [1.0, 2.0], "x": [1.0], "g": ["a", "b"]})


# ---------------------------------------------------------------------------
# bad input: DataError naming the column/term and the fix
# ---------------------------------------------------------------------------


def test_unknown_column_with_close_match(toy):
    with pytest.raises(DataError, match=r"'agee' \(did you mean 'age'\?\).*not found in data.*Available columns"):
        mf_of("y ~ agee + (1 | g)", toy)


def test_several_unknown_columns_reported_together(toy):
    with pytest.raises(DataError, match=r"columns 'foo', 'Sex' \(did you mean 'sex'\?\)"):
        mf_of("y ~ foo + Sex + (1 | g)", toy)


def test_unknown_grouping_column(toy):
    with pytest.raises(DataError, match=r"'subject'.*not found"):
        mf_of("y ~ x + (1 | subject)", toy)


def test_unknown_weights_column(toy):
    with pytest.raises(DataError, match=r"'wt'.*weights=.*not found"):
        mf_of("y ~ x + (1 | g)", toy, weights="wt")


def test_non_numeric_response(toy):
    with pytest.raises(DataError, match=r"response 'sex' is not numeric.*factor with levels female, male"):
        mf_of("sex ~ x + (1 | g)", toy)


def test_cbind_response_rejected_for_lmer(toy):
    with pytest.raises(DataError, match=r"cbind.*lmer needs a single numeric response"):
        mf_of("cbind(y, x) ~ age + (1 | g)", toy)


def test_grouping_factor_with_one_level(toy):
    toy["one"] = "a"
    with pytest.raises(DataError, match=r"grouping factor 'one'.*1 level.*> 1 sampled level"):
        mf_of("y ~ x + (1 | one)", toy)


def test_grouping_factor_with_a_level_per_observation(toy):
    toy["id"] = np.arange(len(toy))
    with pytest.raises(DataError, match=r"number of levels of each grouping factor must be < number of obs.*'id'"):
        mf_of("y ~ x + (1 | id)", toy)


def test_too_many_random_effects(toy):
    # 30 levels x 2 columns = 60 random effects for 60 observations
    toy["g30"] = np.arange(len(toy)) % 30
    with pytest.raises(DataError, match=r"number of observations \(=60\) <= number of random effects \(=60\)"):
        mf_of("y ~ x + (x | g30)", toy)


def test_no_rows_left(toy):
    toy["a"] = np.where(np.arange(len(toy)) % 2 == 0, np.nan, 1.0)
    toy["b"] = np.where(np.arange(len(toy)) % 2 == 1, np.nan, 1.0)
    with pytest.raises(DataError, match=r"no rows left after removing rows with missing values.*'a': 30"):
        mf_of("y ~ a + b + (1 | g)", toy)


def test_all_missing_slope_variable(toy):
    toy["z"] = np.nan
    with pytest.raises(DataError, match=r"'z' used in random-effects term \(0 \+ z \| g\) is missing in every row"):
        mf_of("y ~ x + (0 + z | g)", toy)


def test_constant_slope_variable(toy):
    toy["k"] = 3.0
    with pytest.raises(DataError, match=r"slope variable 'k' in random-effects term \(k \| g\) is constant"):
        mf_of("y ~ x + (k | g)", toy)


def test_constant_slope_after_na_removal(toy):
    toy["k"] = np.where(np.arange(len(toy)) == 0, 5.0, 3.0)
    toy.loc[0, "y"] = np.nan
    with pytest.raises(DataError, match=r"'k'.*is constant"):
        mf_of("y ~ x + (0 + k | g)", toy)


@pytest.mark.parametrize("col", ["y", "x", "age"])
def test_infinite_values(toy, col):
    toy.loc[4, col] = np.inf
    with pytest.raises(DataError, match=rf"'{col}'.*infinite value.*row 4"):
        mf_of("y ~ x + (age | g)", toy)


def test_infinite_from_transformation(toy):
    toy.loc[2, "x"] = 0.0
    with pytest.raises(DataError, match=r"'log\(x\)'.*infinite"):
        mf_of("y ~ log(x) + (1 | g)", toy)


def test_infinite_weights(toy):
    w = np.ones(len(toy))
    w[3] = np.inf
    with pytest.raises(DataError, match=r"weights have infinite values"):
        mf_of("y ~ x + (1 | g)", toy, weights=w)


def test_negative_weights(toy):
    w = np.ones(len(toy))
    w[5] = -1.0
    with pytest.raises(DataError, match=r"weights must not be negative.*row 5"):
        mf_of("y ~ x + (1 | g)", toy, weights=w)


def test_missing_weights_are_refused(toy):
    w = np.ones(len(toy))
    w[2] = np.nan
    with pytest.raises(DataError, match=r"weights are missing in 1 row\(s\) \(first in row 2\); give every row a weight"):
        mf_of("y ~ x + (1 | g)", toy, weights=w)
    with pytest.raises(DataError, match=r"weights are missing in every row"):
        mf_of("y ~ x + (1 | g)", toy, weights=np.full(len(toy), np.nan))


def test_weights_wrong_length(toy):
    with pytest.raises(DataError, match=r"weights has length 3 but the data has 60 rows"):
        mf_of("y ~ x + (1 | g)", toy, weights=[1.0, 2.0, 3.0])


def test_factor_with_one_level_in_fixed_part(toy):
    toy["one"] = "only"
    with pytest.raises(DataError, match=r"factor 'one'.*fewer than 2 levels.*'only'"):
        mf_of("y ~ x + one + (1 | g)", toy)


def test_arithmetic_on_factor(toy):
    with pytest.raises(DataError, match=r"'log\(sex\)'.*arithmetic on a factor"):
        mf_of("y ~ log(sex) + (1 | g)", toy)


def test_unsupported_function(toy):
    with pytest.raises(FormulaError, match=r"unsupported function 'ns'.*compute the variable"):
        mf_of("y ~ ns(x, 3) + (1 | g)", toy)


def test_datetime_column(toy):
    toy["when"] = pd.date_range("2020-01-01", periods=len(toy))
    with pytest.raises(DataError, match=r"'when' holds dates"):
        mf_of("y ~ when + (1 | g)", toy)


def test_not_a_data_frame():
    with pytest.raises(DataError, match=r"pandas or polars DataFrame"):
        build_model_frame(parse_formula("y ~ x + (1 | g)"), 42)


def test_formula_string_accepted(toy):
    mf = build_model_frame("y ~ x + (1 | g)", toy)
    assert mf.formula == "y ~ x + (1 | g)"


# ---------------------------------------------------------------------------
# new data (predict)
# ---------------------------------------------------------------------------


def test_new_data_reproduces_training_matrices(toy):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mf = mf_of("y ~ age*sex + poly(x, 2) + scale(h) + f + (x | g) + (0 + f | num_g)", toy)
    np.testing.assert_allclose(mf.new_fixed_matrix(toy), mf.X, rtol=1e-12, atol=1e-12)
    for (codes, Z), b in zip(mf.new_random_blocks(toy), mf.blocks):
        np.testing.assert_array_equal(codes, b.codes)
        np.testing.assert_allclose(Z, b.Z)


def test_new_data_subset_keeps_encoding(toy):
    mf = mf_of("y ~ poly(x, 2) + scale(age) + sex + (1 | g)", toy)
    sub = toy.iloc[[5, 1, 9]]
    np.testing.assert_allclose(mf.new_fixed_matrix(sub), mf.X[[5, 1, 9]], rtol=1e-12, atol=1e-12)
    only_female = toy[toy["sex"] == "female"].iloc[:3]
    X = mf.new_fixed_matrix(only_female)
    assert X.shape == (3, mf.X.shape[1])
    np.testing.assert_array_equal(X[:, mf.x_names.index("sexmale")], 0.0)


def test_new_data_unseen_fixed_level(toy):
    mf = mf_of("y ~ f + (1 | g)", toy)
    new = pd.DataFrame({"f": ["a", "zz"], "g": ["g1", "g2"]})
    with pytest.raises(DataError, match=r"factor 'f'.*level zz in newdata that was not seen.*levels: a, b, c"):
        mf.new_fixed_matrix(new)


def test_new_data_unseen_group_level_coded_minus_one(toy):
    mf = mf_of("y ~ x + (x | g) + (1 | num_g)", toy)
    new = pd.DataFrame({"x": [1.0, 2.0, 3.0], "g": ["g2", "new", None], "num_g": [12, 13, 1]})
    (c1, Z1), (c2, Z2) = mf.new_random_blocks(new)
    assert mf.blocks[0].group == "num_g"
    np.testing.assert_array_equal(c1, [11, -1, 0])
    np.testing.assert_array_equal(c2, [mf.blocks[1].levels.index("g2"), -1, -1])
    np.testing.assert_allclose(Z2, [[1, 1], [1, 2], [1, 3]])
    assert c1.dtype == np.int64 and Z2.dtype == np.float64


def test_new_data_missing_column(toy):
    mf = mf_of("y ~ x + sex + (x | g)", toy)
    with pytest.raises(DataError, match=r"'sex'.*not found in newdata"):
        mf.new_fixed_matrix(pd.DataFrame({"x": [1.0], "g": ["g1"]}))
    with pytest.raises(DataError, match=r"'g'.*not found in newdata"):
        mf.new_random_blocks(pd.DataFrame({"x": [1.0], "sex": ["male"]}))


def test_new_data_missing_values_give_nan_rows(toy):
    mf = mf_of("y ~ x + sex + (1 | g)", toy)
    X = mf.new_fixed_matrix(pd.DataFrame({"x": [1.0, np.nan], "sex": ["male", "female"]}))
    np.testing.assert_allclose(X[0], [1, 1, 1])
    assert np.isnan(X[1]).any()


def test_new_data_polars(toy):
    pl = pytest.importorskip("polars")
    mf = mf_of("y ~ x + sex + (1 | g)", toy)
    X = mf.new_fixed_matrix(pl.DataFrame({"x": [2.0], "sex": ["male"]}))
    np.testing.assert_allclose(X, [[1.0, 2.0, 1.0]])


# ---------------------------------------------------------------------------
# property: permuting rows permutes y, X, codes consistently
# ---------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(min_value=20, max_value=60),  # g:h has at most 12 levels, which must be < n
    seed=st.integers(min_value=0, max_value=2**31 - 1),
)
def test_row_permutation_invariance(n, seed):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "y": rng.normal(size=n),
        "x": rng.normal(size=n),
        "f": np.array(["p", "q", "r"])[np.arange(n) % 3],
        "g": np.array(["s1", "s2", "s3", "s4"])[rng.permutation(np.arange(n) % 4)],
        "h": rng.permutation(np.arange(n) % 3) + 1,
    })
    formula = "y ~ x * f + (1 + x | g) + (1 | h) + (1 | g:h)"
    mf = mf_of(formula, df)
    perm = rng.permutation(n)
    dfp = df.iloc[perm]
    mfp = mf_of(formula, dfp)
    np.testing.assert_array_equal(mfp.y, mf.y[perm])
    np.testing.assert_array_equal(mfp.X, mf.X[perm])
    assert mfp.x_names == mf.x_names
    assert list(mfp.row_labels) == list(mf.row_labels[perm])
    assert [b.group for b in mfp.blocks] == [b.group for b in mf.blocks]
    for bp, b in zip(mfp.blocks, mf.blocks):
        assert bp.levels == b.levels
        np.testing.assert_array_equal(bp.codes, b.codes[perm])
        np.testing.assert_array_equal(bp.Z, b.Z[perm])


# ---------------------------------------------------------------------------
# datasets
# ---------------------------------------------------------------------------


def test_list_examples():
    assert set(list_examples()) >= {"sleepstudy", "Penicillin", "InstEval", "cbpp"}


def test_load_example_levels():
    df = load_example("sleepstudy")
    assert df.shape == (180, 3)
    assert isinstance(df["Subject"].dtype, pd.CategoricalDtype)
    assert list(df["Subject"].cat.categories[:3]) == ["308", "309", "310"]
    assert df["Days"].dtype.kind in "iuf"
    pen = load_example("penicillin")  # case-insensitive
    assert list(pen["sample"].cat.categories) == ["A", "B", "C", "D", "E", "F"]
    ie = load_example("InstEval")
    assert list(ie["service"].cat.categories) == ["0", "1"]


def test_load_example_unknown():
    with pytest.raises(DataError, match=r"no example data set named 'nope'; available"):
        load_example("nope")


def test_example_frame_sleepstudy():
    mf = mf_of("Reaction ~ Days + (Days | Subject)", load_example("sleepstudy"))
    assert mf.nobs == 180
    assert mf.blocks[0].n_levels == 18
    assert mf.blocks[0].columns == ["(Intercept)", "Days"]


def test_read_data_strings_become_factors(tmp_path):
    p = tmp_path / "d.csv"
    pd.DataFrame({"y": [1.0, 2, 3, 4, 5, 6], "grp": ["b", "a", "c", "b", "a", "c"]}).to_csv(p, index=False)
    df = read_data(p)
    assert not isinstance(df["grp"].dtype, pd.CategoricalDtype)
    mf = mf_of("y ~ 1 + (1 | grp)", df)
    assert mf.blocks[0].levels == ["a", "b", "c"]


def test_read_data_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"does not exist"):
        read_data(tmp_path / "nope.csv")


# ---------------------------------------------------------------------------
# further lme4 details
# ---------------------------------------------------------------------------


def test_scale_warning_as_lme4(toy):
    toy["big"] = toy["x"] * 1e5
    with pytest.warns(UserWarning, match=r"Some predictor variables are on very different scales: consider rescaling"):
        mf_of("y ~ big + (1 | g)", toy)


def test_flist_unique_groups_in_term_order(toy):
    mf = mf_of("y ~ x + (1 | g) + (0 + x | g) + (1 | num_g)", toy)
    assert [b.group for b in mf.blocks] == ["num_g", "g", "g"]  # 12 levels move ahead of 6
    assert mf.ngrps == {"num_g": 12, "g": 6}


def test_assign_and_term_labels(toy):
    mf = mf_of("y ~ age + f + age:f + (1 | g)", toy)
    assert mf.fixed_term_labels == ["age", "f", "age:f"]
    assert mf.x_names == ["(Intercept)", "age", "fb", "fc", "age:fb", "age:fc"]
    assert mf.x_assign == [0, 1, 2, 2, 3, 3]


def test_numeric_categories_labelled_as_r(toy):
    toy["nc"] = pd.Categorical(np.arange(len(toy)) % 3 * 10.0, categories=[20.0, 0.0, 10.0])
    mf = mf_of("y ~ nc + (1 | g)", toy)
    assert mf.x_names == ["(Intercept)", "nc0", "nc10"]


def test_logical_response_for_lmer(toy):
    mf = mf_of("flag ~ x + (1 | g)", toy)
    np.testing.assert_array_equal(mf.y, toy["flag"].astype(float))


def test_nan_from_transformation_dropped_as_missing(toy):
    toy.loc[0, "x"] = -1.0
    with pytest.warns(UserWarning, match=r"NaNs produced evaluating sqrt\(x\) \(1 row\)"):
        mf = mf_of("y ~ sqrt(x) + (1 | g)", toy)  # sqrt(-1) is NaN: the row is dropped, as in R
    assert mf.n_dropped_na == 1


def test_empty_and_missing_data():
    empty = pd.DataFrame({"y": pd.Series([], dtype=float), "x": pd.Series([], dtype=float),
                          "g": pd.Series([], dtype=object)})
    with pytest.raises(DataError, match=r"the data has no rows"):
        mf_of("y ~ x + (1 | g)", empty)
    with pytest.raises(DataError, match=r"no data given"):
        mf_of("y ~ x + (1 | g)", None)
