"""lmer on a Dask DataFrame, on a LocalCluster of two worker processes, against the
in-memory fit of the same rows (objective at fixed θ to 1e-10, estimates to 1e-6)."""

import numpy as np
import pandas as pd
import pytest

import merx
from stream_util import rel

dd = pytest.importorskip("dask.dataframe", reason="dask (merx[dask]) is not installed")
distributed = pytest.importorskip("distributed", reason="dask.distributed (merx[dask]) is not installed")


def check_against_memory(formula, df, ddf, **kw):
    mem = merx.lmer(formula, df, **kw)
    dist = merx.lmer(formula, ddf, **kw)
    _, problem = merx.build_problem(formula, df, weights=kw.get("weights"))
    theta = list(np.asarray(mem.theta) * 0.8 + 0.05)
    assert abs(dist._problem.deviance(theta) - problem.deviance(theta)) <= 1e-10 * abs(problem.deviance(theta))
    assert rel(dist.theta, mem.theta) <= 1e-6
    assert rel(dist.fixef, mem.fixef) <= 1e-6
    assert rel(dist.sigma, mem.sigma) <= 1e-6
    assert dist.nobs == mem.nobs and dist.ngrps == mem.ngrps
    return mem, dist


def test_large_mean_response_on_two_workers(client):
    df = merx.load_example("sleepstudy").copy()
    df["Reaction"] = df["Reaction"] + 1e8
    ddf = dd.from_pandas(df, npartitions=4)
    mem, dist = check_against_memory("Reaction ~ Days + (Days | Subject)", df, ddf)
    assert set(dist.stream_timings) == {"levels", "accumulate", "optimize"}
    assert "Number of obs: 180" in str(dist.summary())


def test_crossed_with_weights_and_missing_values(client, tmp_path):
    rng = np.random.default_rng(7)
    df = merx.load_example("InstEval").iloc[:4000].copy()
    df["y"] = df["y"].astype(float)
    df.loc[rng.choice(len(df), 40, replace=False), "y"] = np.nan
    df["w"] = rng.uniform(0.5, 1.5, len(df))
    ddf = dd.from_pandas(df, npartitions=5)
    mem, dist = check_against_memory("y ~ service + (1 | s) + (1 | d)", df, ddf, weights="w")
    assert dist.frame.n_dropped_na == 40
    out = tmp_path / "fitted"
    assert dist.write_fitted(out) == len(df)
    written = dd.read_parquet(str(out)).compute()
    used = ~written["fitted"].isna().to_numpy()
    assert used.sum() == mem.nobs
    np.testing.assert_allclose(written["fitted"].to_numpy()[used], mem.fitted, rtol=1e-9)
    np.testing.assert_allclose(written["residual"].to_numpy()[used], mem.residuals(), rtol=1e-6, atol=1e-8)


def test_glmer_link_it_cannot_stream_is_refused_clearly(client):
    df = merx.load_example("cbpp")
    ddf = dd.from_pandas(pd.DataFrame(df), npartitions=2)
    with pytest.raises(merx.DataError, match="canonical 'log' link"):
        merx.glmer("incidence ~ period + (1 | herd)", ddf, family=merx.families.Poisson(link="sqrt"))


def test_an_empty_partition_changes_nothing(client):
    """A partition with no rows (a filter that empties one) adds nothing to the cross-products."""
    df = merx.load_example("sleepstudy")
    ddf = dd.from_pandas(df, npartitions=4)
    parts = ddf.map_partitions(lambda p: p.iloc[0:0] if p.index[0] >= 90 and p.index[0] < 135 else p)
    kept = pd.concat([p for p in (df.iloc[0:45], df.iloc[45:90], df.iloc[135:])])
    lens = parts.map_partitions(len).compute().tolist()
    assert 0 in lens and sum(lens) == len(kept)
    check_against_memory("Reaction ~ Days + (Days | Subject)", kept, parts)
