"""lmer on Parquet data read in batches against the in-memory fit of the same rows.

Each dataset is written to several Parquet files with small row groups, so the factor
levels, the crossed level pairs and the missing rows are spread over batches. The
objective at a fixed θ must agree to 1e-10 (relative) and the estimates to 1e-6.
"""

import pickle
import warnings

import numpy as np
import pytest

import merx
from merx import _core
from stream_util import write_parts, rel

pa = pytest.importorskip("pyarrow", reason="pyarrow (merx[parquet]) is not installed")
pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow (merx[parquet]) is not installed")
pads = pytest.importorskip("pyarrow.dataset", reason="pyarrow (merx[parquet]) is not installed")


def compare(formula, df, path, theta_probe_scale=(0.7, 1.3), **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mem = merx.lmer(formula, df, **kw)
        streamed = merx.lmer(formula, path, **kw)
    _, problem = merx.build_problem(formula, df, REML=kw.get("REML", True), weights=kw.get("weights"))
    for s in theta_probe_scale:
        theta = list(np.asarray(mem.theta) * s + 0.05)
        d_mem, d_str = problem.deviance(theta), streamed._problem.deviance(theta)
        assert abs(d_str - d_mem) <= 1e-10 * abs(d_mem), (s, d_mem, d_str)
    assert list(streamed.fixef.index) == list(mem.fixef.index)
    assert rel(streamed.theta, mem.theta) <= 1e-6
    assert rel(streamed.fixef, mem.fixef) <= 1e-6
    assert rel(streamed.sigma, mem.sigma) <= 1e-6
    assert abs(streamed.logLik - mem.logLik) <= 1e-8 * abs(mem.logLik)
    assert streamed.nobs == mem.nobs and streamed.ngrps == mem.ngrps
    for g, table in mem.ranef().items():
        other = streamed.ranef()[g]
        assert list(other.index) == list(table.index)
        np.testing.assert_allclose(other.to_numpy(), table.to_numpy(), rtol=1e-6, atol=1e-6 * np.abs(table.to_numpy()).max())
    return mem, streamed


def test_large_mean_response_over_three_files(tmp_path):
    df = merx.load_example("sleepstudy").copy()
    df["Reaction"] = df["Reaction"] + 1e8
    path = write_parts(df, tmp_path / "sleep", 3, 20)
    mem, streamed = compare("Reaction ~ Days + (Days | Subject)", df, path)
    text = str(streamed.summary())
    assert "Number of obs: 180, groups:  Subject, 18" in text and "Scaled residuals" not in text
    restored = pickle.loads(pickle.dumps(streamed))
    assert rel(restored.fixef, mem.fixef) <= 1e-6 and restored.nobs == 180
    with pytest.raises(merx.MerxError, match="no longer has its cross-products"):
        restored.summary()
    assert "Number of obs: 180" in str(restored.summary(ddf="lme4"))


@pytest.mark.parametrize("mean", [0.0, 1e8])
def test_crossed_insteval_subset(tmp_path, mean):
    df = merx.load_example("InstEval").iloc[:6000].copy()
    df["y"] = df["y"] + mean
    path = write_parts(df, tmp_path / "inst", 4, 700)
    mem, streamed = compare("y ~ service + (1 | s) + (1 | d) + (1 | dept:service)", df, path)
    assert streamed.ngrps["d"] == mem.ngrps["d"]


def test_nested_terms_and_factor_covariate_with_string_columns(tmp_path):
    df = merx.load_example("InstEval").iloc[:5000].copy()
    for c in ("dept", "service", "studage"):
        df[c] = df[c].astype(str)  # plain strings: levels sorted across files, not a dictionary
    path = write_parts(df, tmp_path / "nested", 5, 300)
    compare("y ~ studage + (1 | dept/service)", df, path)


def test_weights_and_missing_values_and_write_fitted(tmp_path):
    rng = np.random.default_rng(1)
    df = merx.load_example("sleepstudy").copy()
    df["w"] = rng.uniform(0.5, 2.0, len(df))
    df.loc[[3, 70, 150], "Reaction"] = np.nan
    df.loc[[10, 11], "Days"] = np.nan
    subj = df["Subject"].astype(object)
    subj[[100]] = None
    df["Subject"] = subj.astype(str).where(subj.notna(), None)
    path = write_parts(df, tmp_path / "weighted", 3, 25)
    mem, streamed = compare("Reaction ~ Days + (Days | Subject)", df, path, weights="w")
    assert streamed.frame.n_dropped_na == mem.frame.n_dropped_na == 6
    out = tmp_path / "fitted.parquet"
    assert streamed.write_fitted(out) == len(df)
    written = pq.read_table(str(out)).to_pandas()
    used = ~written["fitted"].isna().to_numpy()
    assert used.sum() == mem.nobs
    np.testing.assert_allclose(written["fitted"].to_numpy()[used], mem.fitted, rtol=1e-9)
    np.testing.assert_allclose(written["residual"].to_numpy()[used], mem.residuals(), rtol=1e-6, atol=1e-8)


def test_aliased_column_dropped_as_in_memory(tmp_path):
    df = merx.load_example("sleepstudy").copy()
    df["Days2"] = 2.0 * df["Days"] + 1.0
    path = write_parts(df, tmp_path / "alias", 2, 40)
    with pytest.warns(UserWarning, match="dropping 1 column / coefficient: Days2"):
        streamed = merx.lmer("Reaction ~ Days + Days2 + (1 | Subject)", path)
    mem = merx.lmer("Reaction ~ Days + (1 | Subject)", df)
    assert streamed.frame.dropped_x_names == ["Days2"]
    assert rel(streamed.fixef, mem.fixef) <= 1e-6


def test_pyarrow_dataset_and_predict_on_newdata(tmp_path):
    df = merx.load_example("Penicillin")
    path = write_parts(df, tmp_path / "pen", 3, 30)
    mem, streamed = compare("diameter ~ sample + (1 | plate)", df, pads.dataset(path), theta_probe_scale=(0.8,))
    np.testing.assert_allclose(streamed.predict(df.iloc[:10]), mem.predict(df.iloc[:10]), rtol=1e-9)
    with pytest.raises(merx.MerxError, match="write_fitted"):
        streamed.residuals()


def test_accumulator_pickles_and_merges():
    df = merx.load_example("sleepstudy")
    frame, problem = merx.build_problem("Reaction ~ Days + (Days | Subject)", df)
    X, y, b = np.asarray(frame.X), frame.y, frame.blocks[0]
    centre, shift = _core.pilot_centring(np.asfortranarray(X[:60]), np.ascontiguousarray(y[:60]), None, 0)
    parts = []
    for rows in (slice(0, 60), slice(60, 180)):
        acc = _core.CrossProductAccumulator(2, [(b.n_levels, 2)], centre, shift)
        acc.add_batch(np.asfortranarray(X[rows]), np.ascontiguousarray(y[rows]), None,
                      [(np.ascontiguousarray(b.codes[rows]), np.asfortranarray(b.Z[rows]))])
        parts.append(pickle.loads(pickle.dumps(acc)))
    parts[0].merge(parts[1])
    model = parts[0].finish([0, 1], 0, True, ["unstructured"])
    theta = [0.9, 0.1, 0.3]
    assert abs(model.deviance(theta) - problem.deviance(theta)) <= 1e-10 * problem.deviance(theta)
    assert parts[0].n_obs == 180


def test_errors_name_the_file_and_the_column(tmp_path):
    df = merx.load_example("sleepstudy")
    path = write_parts(df, tmp_path / "cols", 2, 50)
    pq.write_table(pa.Table.from_pandas(df.drop(columns=["Days"]).iloc[:5], preserve_index=False),
                   str(tmp_path / "cols" / "part-99.parquet"))
    with pytest.raises(merx.DataError, match=r"part-99\.parquet.*'Days'"):
        merx.lmer("Reaction ~ Days + (1 | Subject)", path)
    with pytest.raises(merx.DataError, match="'Dayz'"):
        merx.lmer("Reaction ~ Dayz + (1 | Subject)", write_parts(df, tmp_path / "ok", 2, 50))
    with pytest.raises(merx.DataError, match="scale"):
        merx.lmer("Reaction ~ scale(Days) + (1 | Subject)", str(tmp_path / "ok"))
    with pytest.raises(merx.DataError, match="no such Parquet"):
        merx.lmer("Reaction ~ Days + (1 | Subject)", str(tmp_path / "missing"))
    with pytest.raises(merx.MerxError, match="glmer on data read in batches"):
        merx.glmer("Reaction ~ Days + (1 | Subject)", str(tmp_path / "ok"), family="Gamma")


def test_sorted_rows_first_batches_with_one_level_and_a_constant_slope(tmp_path):
    df = merx.load_example("InstEval").iloc[:5000].sort_values(["service", "d"], kind="stable")
    # The first files hold service 0 only: the pilot fit sees a constant dummy column.
    path = write_parts(df, tmp_path / "sorted", 5, 400)
    compare("y ~ service + (1 | s) + (1 | d)", df, path)
    const = merx.load_example("sleepstudy").assign(one=3.0)
    with pytest.raises(merx.DataError, match="slope variable 'one'.*constant"):
        merx.lmer("Reaction ~ Days + (one | Subject)", write_parts(const, tmp_path / "const", 2, 50))


def test_scale_warning_as_in_memory(tmp_path):
    df = merx.load_example("sleepstudy").assign(big=lambda d: d["Days"] * 1e5 + 3.0)
    path = write_parts(df, tmp_path / "scale", 3, 30)
    with pytest.warns(UserWarning, match="very different scales"):
        merx.lmer("Reaction ~ big + (1 | Subject)", df)
    with pytest.warns(UserWarning, match="very different scales"):
        merx.lmer("Reaction ~ big + (1 | Subject)", path)
