"""Per-row outputs are pandas Series (simulations and prediction intervals DataFrames) indexed
like the rows they describe: the data's used rows (labels kept, rows dropped for missing
values absent) or newdata's rows; sklearn's estimators keep returning arrays."""

import pickle

import numpy as np
import pandas as pd
import pytest

import merx


@pytest.fixture(scope="module")
def sleep():
    """sleepstudy with string labels and two rows missing their response (dropped by na.omit)."""
    d = merx.load_example("sleepstudy")
    d.index = [f"r{i}" for i in range(len(d))]
    d.loc[["r3", "r40"], "Reaction"] = np.nan
    return d


def _used(d, column):
    return d.index[d[column].notna()]


def _check_rows(series, index, name):
    assert isinstance(series, pd.Series)
    assert series.name == name
    assert series.dtype == np.float64
    pd.testing.assert_index_equal(series.index, pd.Index(index), exact=False)  # RangeIndex equals Index(0..n-1)


def test_lmer_outputs_are_indexed_by_the_used_rows(sleep):
    m = merx.lmer("Reaction ~ Days + (Days | Subject)", sleep)
    used = _used(sleep, "Reaction")
    assert len(used) == len(sleep) - 2 and "r3" not in used
    _check_rows(m.fitted, used, "fitted")
    _check_rows(m.residuals(), used, "residuals")
    _check_rows(m.resid, used, "residuals")
    _check_rows(m.residuals("pearson", scaled=True), used, "residuals")
    _check_rows(m.predict(), used, "predicted")
    _check_rows(m.predict(re_form="~0"), used, "predicted")
    # aligned by label: the response minus the fitted values is the residual of each row
    difference = sleep["Reaction"] - m.fitted  # aligned by label; the two dropped rows NaN
    assert difference.isna().sum() == 2 and difference[["r3", "r40"]].isna().all()
    np.testing.assert_allclose(difference.loc[used], m.residuals(), rtol=0, atol=1e-10)
    new = sleep.iloc[[5, 0, 7]]
    _check_rows(m.predict(new), new.index, "predicted")
    np.testing.assert_allclose(m.predict(new), m.fitted.loc[new.index], rtol=1e-10)
    sims = m.simulate(3, seed=1)
    assert list(sims.columns) == ["sim_1", "sim_2", "sim_3"]
    pd.testing.assert_index_equal(sims.index, pd.Index(used))
    pd.testing.assert_index_equal(m.simulate(2, seed=1, newdata=new).index, new.index)
    pi = m.predict_interval(new, nsim=200, seed=1)
    pd.testing.assert_index_equal(pi.index, new.index)
    pd.testing.assert_index_equal(m.predict_interval(nsim=200, seed=1).index, pd.Index(used))
    back = pickle.loads(pickle.dumps(m))  # the frame keeps the row labels
    pd.testing.assert_series_equal(back.fitted, m.fitted, check_exact=True)
    pd.testing.assert_series_equal(back.residuals(), m.residuals(), check_exact=True)


def test_polars_newdata_is_indexed_by_position(sleep):
    pl = pytest.importorskip("polars")
    m = merx.lmer("Reaction ~ Days + (1 | Subject)", sleep)
    new = sleep.iloc[[5, 0, 7]]
    got = m.predict(pl.from_pandas(new.reset_index(drop=True)))
    _check_rows(got, pd.RangeIndex(3), "predicted")
    np.testing.assert_allclose(got.to_numpy(), m.predict(new).to_numpy(), rtol=1e-12)


def test_glmer_outputs(sleep):
    d = merx.load_example("cbpp")
    d.index = d.index + 100
    d.loc[[102], "period"] = np.nan
    m = merx.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", d, family="binomial")
    used = d.index[d["period"].notna()]
    _check_rows(m.fitted, used, "fitted")
    _check_rows(m.linear_predictor, used, "linear_predictor")
    for kind in ("deviance", "pearson", "response", "working"):
        _check_rows(m.residuals(kind), used, "residuals")
    _check_rows(m.predict(type="response"), used, "predicted")
    np.testing.assert_allclose(m.predict(type="response"), m.fitted, rtol=1e-12)
    _check_rows(m.predict(d.loc[[110, 101]], type="response"), [110, 101], "predicted")
    pd.testing.assert_index_equal(m.simulate(2, seed=3).index, used)


def test_lme_gls_and_glmmtmb_outputs(sleep):
    used = _used(sleep, "Reaction")
    lme = merx.lme("Reaction ~ Days", sleep, random="~Days | Subject")
    for level in (0, 1):
        _check_rows(lme.predict(level=level), used, "predicted")
        _check_rows(lme.residuals("pearson", level=level), used, "residuals")
    _check_rows(lme.fitted, used, "fitted")
    gls = merx.gls("Reaction ~ Days", sleep, correlation=merx.corAR1(form="~1 | Subject"))
    _check_rows(gls.fitted, used, "fitted")
    for kind in ("response", "pearson", "normalized"):
        _check_rows(gls.residuals(kind), used, "residuals")
    _check_rows(gls.predict(sleep.iloc[[2, 1]]), sleep.index[[2, 1]], "predicted")
    sal = merx.load_example("Salamanders")
    sal.index = [f"s{i}" for i in range(len(sal))]
    tmb = merx.glmmTMB("count ~ mined + (1 | site)", sal, family="poisson", ziformula="~ mined")
    _check_rows(tmb.fitted, sal.index, "fitted")
    _check_rows(tmb.residuals("pearson"), sal.index, "residuals")
    for kind in ("link", "response", "conditional", "zprob", "disp"):
        _check_rows(tmb.predict(type=kind), sal.index, "predicted")
        _check_rows(tmb.predict(sal.iloc[[4, 2]], type=kind), sal.index[[4, 2]], "predicted")
    # a value missing in the zero-inflation part's covariate drops the row from every part
    sal.loc["s7", "cover"] = np.nan
    zi = merx.glmmTMB("count ~ mined + (1 | site)", sal, family="poisson", ziformula="~ cover")
    complete = sal.index[sal["cover"].notna()]
    _check_rows(zi.fitted, complete, "fitted")
    _check_rows(zi.predict(type="zprob"), complete, "predicted")


def test_streamed_fit_predicts_newdata_only(sleep, tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "sleep.parquet"
    pq.write_table(pa.Table.from_pandas(sleep, preserve_index=False), str(path), row_group_size=50)
    m = merx.lmer("Reaction ~ Days + (Days | Subject)", str(path))
    with pytest.raises(merx.MerxError, match="not held in memory"):
        m.fitted
    with pytest.raises(merx.MerxError, match="not held in memory"):
        m.predict()
    new = sleep.iloc[[9, 4]]
    got = m.predict(new)
    _check_rows(got, new.index, "predicted")
    in_memory = merx.lmer("Reaction ~ Days + (Days | Subject)", sleep)
    np.testing.assert_allclose(got, in_memory.predict(new), rtol=1e-6)


def test_sklearn_predictions_stay_arrays():
    pytest.importorskip("sklearn")
    from merx.sklearn import LmerRegressor
    d = merx.load_example("sleepstudy")
    est = LmerRegressor(formula="Reaction ~ Days + (1 | Subject)").fit(d.drop(columns="Reaction"), d["Reaction"])
    got = est.predict(d.drop(columns="Reaction"))
    assert type(got) is np.ndarray and got.shape == (len(d),)
    np.testing.assert_array_equal(got, est.model_.predict(d).to_numpy())
