"""glmer on a Dask DataFrame, on a LocalCluster of two worker processes (conftest's
``client``), against the in-memory fit of the same rows: each PIRLS step is one map-reduce
over the partitions. Estimates to 1e-6, logLik to 1e-8 (relative)."""

import numpy as np
import pytest

import merx
from stream_glmm_data import crossed_data
from stream_util import rel

dd = pytest.importorskip("dask.dataframe", reason="dask (merx[dask]) is not installed")
pytest.importorskip("distributed", reason="dask.distributed (merx[dask]) is not installed")


def compare(mem, dist):
    assert rel(dist.fixef, mem.fixef) <= 1e-6
    assert rel(dist.theta, mem.theta) <= 1e-6
    assert abs(dist.logLik - mem.logLik) <= 1e-8 * abs(mem.logLik)
    assert dist.nobs == mem.nobs and dist.ngrps == mem.ngrps
    for g, table in mem.ranef().items():
        np.testing.assert_allclose(dist.ranef()[g].to_numpy(), table.to_numpy(), rtol=1e-6,
                                   atol=1e-6 * np.abs(table.to_numpy()).max())


def without_partition(ddf, index):
    """The DataFrame with partition ``index`` emptied (a filter that removes its rows)."""
    return ddf.map_partitions(lambda p, partition_info=None: p.iloc[0:0] if partition_info["number"] == index else p,
                              meta=ddf._meta)


def test_binomial_with_weights_and_an_empty_partition(client):
    df = merx.load_example("cbpp").sort_values("herd", kind="stable").reset_index(drop=True)
    df["prop"] = df["incidence"] / df["size"]
    ddf = without_partition(dd.from_pandas(df, npartitions=5), 2)
    lens = ddf.map_partitions(len).compute().tolist()
    assert 0 in lens
    kept = ddf.compute()
    assert 0 < len(kept) < len(df)
    formula = "prop ~ period + (1 | herd)"
    mem = merx.glmer(formula, kept, family="binomial", weights="size")
    dist = merx.glmer(formula, ddf, family="binomial", weights="size")
    compare(mem, dist)
    assert dist.n_passes > 20
    assert f"Number of obs: {len(kept)}" in str(dist.summary())


def test_poisson_with_an_offset_on_a_crossed_design(client, tmp_path):
    df = crossed_data()
    ddf = dd.from_pandas(df, npartitions=4)
    formula = "count ~ x + (1 | g1) + (1 | g2)"
    mem = merx.glmer(formula, df, family="poisson", offset="log_exposure")
    dist = merx.glmer(formula, ddf, family="poisson", offset="log_exposure")
    compare(mem, dist)
    assert dist.frame.n_dropped_na == 30
    out = tmp_path / "fitted"
    assert dist.write_fitted(out) == len(df)
    written = dd.read_parquet(str(out)).compute()
    used = ~written["fitted"].isna().to_numpy()
    np.testing.assert_allclose(written["fitted"].to_numpy()[used], mem.fitted, rtol=1e-6)


def test_a_bad_partition_is_named(client):
    df = merx.load_example("cbpp").assign(y=lambda d: (d["incidence"] > 0).astype(float))
    df.loc[40, "y"] = 3.0
    ddf = dd.from_pandas(df, npartitions=3)
    with pytest.raises(merx.DataError, match="binomial response 'y'.*partition 2"):
        merx.glmer("y ~ period + (1 | herd)", ddf, family="binomial")
