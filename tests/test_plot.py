"""merx.plot: each function returns a Figure with the expected panels, and the data its artists
hold are the model's own numbers (read back from the artists)."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

matplotlib = pytest.importorskip("matplotlib", reason="merx.plot needs matplotlib (the merx[plot] extra)")
matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

import merx  # noqa: E402
import merx.plot as mplot  # noqa: E402


@pytest.fixture(scope="module")
def sleep_fit():
    return merx.lmer("Reaction ~ Days + (Days | Subject)", merx.load_example("sleepstudy"))


@pytest.fixture(scope="module")
def penicillin_fit():
    return merx.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", merx.load_example("Penicillin"))


@pytest.fixture(scope="module")
def cbpp_fit():
    return merx.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", merx.load_example("cbpp"),
                      family="binomial")


def _errorbar(ax):
    """(x of the points, y positions, the bars' (lo, hi) in x) of the panel's one errorbar."""
    container = ax.containers[0]
    data_line, _caps, (bars,) = container.lines
    segments = np.array([seg for seg in bars.get_segments()])
    return np.asarray(data_line.get_xdata()), np.asarray(data_line.get_ydata()), segments[:, :, 0]


def test_caterpillar_points_are_the_sorted_modes_and_bars_z_condsd(sleep_fit):
    fig = mplot.caterpillar(sleep_fit, level=0.9)
    assert isinstance(fig, Figure)
    re = sleep_fit.ranef()
    assert len(fig.axes) == re["Subject"].shape[1] == 2
    z = NormalDist().inv_cdf(0.95)
    for ax, term in zip(fig.axes, re["Subject"].columns):
        x, y, bars = _errorbar(ax)
        modes = re["Subject"][term]
        order = np.argsort(modes.to_numpy(), kind="stable")
        np.testing.assert_array_equal(x, modes.to_numpy()[order])
        np.testing.assert_array_equal(y, np.arange(len(modes)))
        sd = re.condsd["Subject"][term].to_numpy()[order]
        np.testing.assert_allclose(bars[:, 0], x - z * sd, rtol=1e-12)
        np.testing.assert_allclose(bars[:, 1], x + z * sd, rtol=1e-12)
        assert [t.get_text() for t in ax.get_yticklabels()] == list(modes.index[order])


def test_caterpillar_unordered_one_term_and_several_factors(sleep_fit, penicillin_fit):
    fig = mplot.caterpillar(sleep_fit, term="Days", order=False)
    assert len(fig.axes) == 1
    x, _, _ = _errorbar(fig.axes[0])
    np.testing.assert_array_equal(x, sleep_fit.ranef()["Subject"]["Days"].to_numpy())
    fig = mplot.caterpillar(penicillin_fit)  # one panel per (factor, term)
    assert len(fig.axes) == len(penicillin_fit.ranef()) == 2
    assert [ax.get_title() for ax in fig.axes] == [f"{g}: (Intercept)" for g in penicillin_fit.ranef()]
    assert len(mplot.caterpillar(penicillin_fit, group="sample").axes) == 1
    with pytest.raises(merx.MerxError, match="no grouping factor"):
        mplot.caterpillar(penicillin_fit, group="nope")
    with pytest.raises(merx.MerxError, match="no term"):
        mplot.caterpillar(sleep_fit, term="nope")


def _per_group_lstsq(m, group, columns):
    data = merx.load_example("sleepstudy")
    out = {}
    for level, rows in data.groupby(group, observed=True):
        X = np.column_stack([np.ones(len(rows)), rows["Days"].to_numpy(dtype=float)])[:, :len(columns)]
        out[str(level)] = np.linalg.lstsq(X, rows["Reaction"].to_numpy(dtype=float), rcond=None)[0]
    return pd.DataFrame(out, index=columns).T


def test_shrinkage_points_are_lstsq_fits_and_coef(sleep_fit):
    fig = mplot.shrinkage(sleep_fit)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    expected = _per_group_lstsq(sleep_fit, "Subject", ["(Intercept)", "Days"])
    table = mplot.group_least_squares(sleep_fit, "Subject")
    pd.testing.assert_frame_equal(table, expected.loc[table.index], rtol=1e-10)
    ls_line, coef_line, pop_line = ax.lines[:3]
    np.testing.assert_allclose(ls_line.get_xdata(), table["(Intercept)"], rtol=1e-12)
    np.testing.assert_allclose(ls_line.get_ydata(), table["Days"], rtol=1e-12)
    coef = sleep_fit.coef["Subject"]
    np.testing.assert_array_equal(coef_line.get_xdata(), coef["(Intercept)"].to_numpy())
    np.testing.assert_array_equal(coef_line.get_ydata(), coef["Days"].to_numpy())
    np.testing.assert_array_equal(pop_line.get_xydata()[0], sleep_fit.fixef[["(Intercept)", "Days"]].to_numpy())
    # one arrow per level, from its least-squares point to its conditional one
    arrows = [t for t in ax.texts if t.arrow_patch is not None]
    assert len(arrows) == len(table)
    for arrow, (ls_pt, c_pt) in zip(arrows, zip(table.to_numpy(), coef[["(Intercept)", "Days"]].to_numpy())):
        np.testing.assert_allclose(arrow.xyann, ls_pt, rtol=1e-12)
        np.testing.assert_allclose(arrow.xy, c_pt, rtol=1e-12)


def test_shrinkage_one_term_is_one_dimensional(sleep_fit):
    m = merx.lmer("Reaction ~ Days + (1 | Subject)", merx.load_example("sleepstudy"))
    fig = mplot.shrinkage(m)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    expected = _per_group_lstsq(m, "Subject", ["(Intercept)", "Days"])["(Intercept)"]
    order = np.argsort(expected.loc[m.coef["Subject"].index].to_numpy(), kind="stable")
    ls_line, coef_line = ax.lines[:2]
    np.testing.assert_allclose(ls_line.get_xdata(), expected.loc[m.coef["Subject"].index].to_numpy()[order],
                               rtol=1e-10)
    np.testing.assert_array_equal(coef_line.get_xdata(), m.coef["Subject"]["(Intercept)"].to_numpy()[order])
    assert ax.lines[2].get_xdata()[0] == m.fixef["(Intercept)"]
    segments = ax.collections[0].get_segments()
    assert len(segments) == len(expected)


def test_shrinkage_refuses_a_glmm(cbpp_fit):
    with pytest.raises(merx.MerxError, match="linear mixed model"):
        mplot.shrinkage(cbpp_fit)


@pytest.mark.parametrize("fit", ["sleep_fit", "cbpp_fit"])
def test_residual_plots_hold_fitted_and_pearson_residuals(fit, request):
    m = request.getfixturevalue(fit)
    resid = m.residuals(type="pearson")
    fig = mplot.residuals_vs_fitted(m)
    assert len(fig.axes) == 1
    points = fig.axes[0].lines[0]
    np.testing.assert_array_equal(points.get_xdata(), m.fitted)
    np.testing.assert_array_equal(points.get_ydata(), resid)
    fig = mplot.qq_residuals(m)
    assert len(fig.axes) == 1
    qq = fig.axes[0].lines[0]
    np.testing.assert_array_equal(qq.get_ydata(), np.sort(resid))
    probs = (np.arange(1, resid.size + 1) - 0.5) / resid.size  # ppoints(n), n > 10
    np.testing.assert_allclose(qq.get_xdata(), [NormalDist().inv_cdf(p) for p in probs], rtol=1e-12)


def test_normal_quantiles_follow_ppoints():
    # ppoints: a = 3/8 up to 10 points
    np.testing.assert_allclose(mplot.normal_quantiles(5),
                               [NormalDist().inv_cdf((i - 0.375) / 5.25) for i in range(1, 6)], rtol=1e-12)


def test_qq_ranef_one_panel_per_term(sleep_fit, penicillin_fit):
    fig = mplot.qq_ranef(sleep_fit)
    re = sleep_fit.ranef()["Subject"]
    assert len(fig.axes) == 2
    for ax, term in zip(fig.axes, re.columns):
        np.testing.assert_array_equal(ax.lines[0].get_ydata(), np.sort(re[term].to_numpy()))
        np.testing.assert_allclose(ax.lines[0].get_xdata(), mplot.normal_quantiles(len(re)), rtol=1e-12)
    assert len(mplot.qq_ranef(penicillin_fit).axes) == 2
    assert len(mplot.qq_ranef(penicillin_fit, group="plate").axes) == 1


def test_profile_zeta_panels_are_the_profile_paths(sleep_fit):
    table = sleep_fit.profile()
    fig = mplot.profile_zeta(sleep_fit, profile=table)
    names = list(pd.unique(table["parameter"].astype(str)))
    assert len(fig.axes) == len(names)
    for ax, name in zip(fig.axes, names):
        rows = table[table["parameter"].astype(str) == name]
        np.testing.assert_array_equal(ax.lines[0].get_xdata(), rows["value"].to_numpy(dtype=float))
        np.testing.assert_array_equal(ax.lines[0].get_ydata(), rows["zeta"].to_numpy(dtype=float))
        levels = sorted({abs(line.get_ydata()[0]) for line in ax.lines[1:]})
        np.testing.assert_allclose(levels, [NormalDist().inv_cdf(0.5 + lv / 2) for lv in mplot.PROFILE_LEVELS],
                                   rtol=1e-12)
    # without a table the function profiles the fit itself
    assert len(mplot.profile_zeta(sleep_fit).axes) == len(names)


def test_import_merx_does_not_load_the_optional_packages():
    import subprocess
    import sys

    code = "import sys, merx; print('matplotlib' in sys.modules, 'sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_missing_matplotlib_names_the_extra(sleep_fit, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # makes the import fail
    with pytest.raises(ImportError, match=r"merx\[plot\]"):
        mplot.qq_residuals(sleep_fit)


def test_shrinkage_with_the_other_fixed_effects_held(sleep_fit):
    m = merx.lmer("Reaction ~ Days + (1 | Subject)", merx.load_example("sleepstudy"))
    data = merx.load_example("sleepstudy")
    adjusted = data["Reaction"] - m.fixef["Days"] * data["Days"]
    table = mplot.group_least_squares(m, "Subject", hold_fixed=True)
    assert list(table.columns) == ["(Intercept)"]
    means = adjusted.groupby(data["Subject"], observed=True).mean()
    means.index = means.index.astype(str)
    np.testing.assert_allclose(table["(Intercept)"], means.loc[table.index], rtol=1e-12)
    # balanced random intercepts: each mode is the group's deviation times one shrinkage factor
    factor = (m.coef["Subject"]["(Intercept)"] - m.fixef["(Intercept)"]) / (table["(Intercept)"] - m.fixef["(Intercept)"])
    np.testing.assert_allclose(factor, factor.iloc[0], rtol=1e-6)
    assert 0.0 < factor.iloc[0] < 1.0
    line = mplot.shrinkage(m, hold_fixed=True).axes[0].lines[0]
    np.testing.assert_allclose(np.sort(line.get_xdata()), np.sort(table["(Intercept)"].to_numpy()), rtol=1e-12)
    # with both terms random, holding nothing else is lmList's fit
    pd.testing.assert_frame_equal(mplot.group_least_squares(sleep_fit, "Subject", hold_fixed=True),
                                  mplot.group_least_squares(sleep_fit, "Subject"), rtol=1e-10)


def test_docs_script_renders_every_picture_of_the_page(tmp_path):
    import importlib.util
    from pathlib import Path

    docs = Path(__file__).resolve().parents[1] / "docs"
    spec = importlib.util.spec_from_file_location("make_plots", docs / "make_plots.py")
    make_plots = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_plots)
    written = make_plots.main(tmp_path)
    page = (docs / "plots.md").read_text()
    for path in written:
        assert path.stat().st_size < 100_000, path.name
        assert f"images/{path.name}" in page, path.name
