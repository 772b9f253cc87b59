"""fit.bootstrap(): every kind's replicates are ordinary refits of the data they were drawn
to, the standard errors behave as the resampling schemes promise, a seed reproduces the
replicates for any n_jobs, and bad arguments are named.

The designs are simulated here (numpy, fixed seeds); no expected number comes from merx.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import merx

FORMULA = "y ~ x + (x | g)"


def two_level(seed: int = 0, groups: int = 12, per: int = 8, hetero: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), per)
    x = np.tile(np.linspace(-1, 1, per), groups) + rng.normal(0, 0.1, groups * per)
    b0 = rng.normal(0, 1.0, groups)[g]
    b1 = rng.normal(0, 0.5, groups)[g]
    sd = 0.1 + 3.0 * x**2 if hetero else 0.7
    y = 2.0 + 1.5 * x + b0 + b1 * x + rng.normal(0, 1, groups * per) * sd
    return pd.DataFrame({"y": y, "x": x, "g": [f"G{v:02d}" for v in g]})


@pytest.fixture(scope="module")
def data():
    return two_level()


@pytest.fixture(scope="module")
def fit(data):
    return merx.lmer(FORMULA, data)


def assert_same_estimates(row: pd.Series, refit: merx.LmerResult) -> None:
    """A replicate's row against an ordinary lmer fit of its data (both optimised to the
    optimizer's tolerance, from different starts)."""
    assert list(row.index) == list(refit.confint(method="Wald").index)  # lme4's names and order
    fixef = refit.fixef
    np.testing.assert_allclose(row[list(fixef.index)].to_numpy(), fixef.to_numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(row["sigma"], refit.sigma, rtol=1e-5)
    for term in refit.VarCorr.terms:
        k = len(term.columns)
        for j, cj in enumerate(term.columns):
            np.testing.assert_allclose(row[f"sd_{cj}|{term.group}"], term.stddev[j], rtol=1e-4, atol=1e-6)
            for i in range(j + 1, k):
                name = f"cor_{term.columns[i]}.{cj}|{term.group}"
                np.testing.assert_allclose(row[name], term.correlation[i, j], rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("kind,options", [
    ("parametric", {}),
    ("semiparametric", {}),
    ("residual", {}),
    ("wild", {"wild_weights": "rademacher", "hccme": "hc3"}),
    ("wild", {}),
    ("wild", {"wild_weights": "gamma"}),
    ("reb", {"reb_type": 0}),
    ("reb", {"reb_type": 1}),
])
def test_each_replicate_is_an_ordinary_refit_of_its_response(data, fit, kind, options):
    boot = fit.bootstrap(4, kind=kind, seed=7, **options)
    for i in (0, 3):
        y = np.asarray(boot.replicate_data(i))
        refit = merx.lmer(FORMULA, data.assign(y=y))
        assert_same_estimates(boot.replicates.iloc[i], refit)


def test_case_replicates_refit_the_drawn_clusters_with_their_own_levels(data, fit):
    boot = fit.bootstrap(3, kind="case", resample=(True, False), seed=11)
    for i in range(3):
        rows, codes = boot.replicate_data(i)
        (new_g, n_levels), = codes
        sample = data.iloc[np.asarray(rows)]
        # As lmeresampler: as many clusters drawn as there are, whole; a cluster drawn twice
        # is one group with its rows twice, the clusters not drawn are gone.
        assert len(sample) == len(data) and n_levels == sample["g"].nunique() < data["g"].nunique()
        assert set(sample.groupby("g").size()) <= {8 * j for j in range(1, 13)}
        np.testing.assert_array_equal(np.asarray(new_g), pd.factorize(sample["g"], sort=True)[0])
        assert_same_estimates(boot.replicates.iloc[i], merx.lmer(FORMULA, sample.reset_index(drop=True)))


def test_case_resampling_keeps_a_three_level_hierarchy():
    rng = np.random.default_rng(3)
    school = np.repeat(np.arange(6), 12)
    klass = np.repeat(np.arange(18), 4)
    y = rng.normal(0, 1, 6)[school] + rng.normal(0, 0.5, 18)[klass] + rng.normal(0, 1, 72)
    df = pd.DataFrame({"y": y, "school": [f"s{v}" for v in school], "class": [f"c{v}" for v in klass]})
    m = merx.lmer("y ~ 1 + (1 | school/class)", df)
    boot = m.bootstrap(3, kind="case", resample=(True, True, False), seed=5)
    rows, codes = boot.replicate_data(1)
    rows = np.asarray(rows)
    # Terms in lme4's order: class:school first, then school; drawn levels keep their names.
    (cls, n_cls), (sch, n_sch) = codes
    cls, sch = np.asarray(cls), np.asarray(sch)
    assert rows.size == 72 and n_sch == len(set(school[rows])) and n_cls == len(set(klass[rows]))
    original = np.asarray(m.frame.blocks[0].codes)[rows]  # class:school in the fit's level order
    np.testing.assert_array_equal(cls, np.unique(original, return_inverse=True)[1])
    for s in set(school[rows]):
        in_s = school[rows] == s
        times = np.sum(in_s) // 12  # the school drawn this often: its 3 classes with 4·times rows each so far
        assert np.sum(in_s) == 12 * times and len(set(klass[rows][in_s])) <= 3
        class_rows = pd.Series(klass[rows][in_s]).value_counts()  # each class drawn 1, 2 or 3 times
        assert set(class_rows) <= {4 * times * d for d in (1, 2, 3)} and class_rows.sum() == 12 * times
    refit = merx.lmer("y ~ 1 + (1 | school/class)", df.iloc[rows].reset_index(drop=True))
    np.testing.assert_allclose(boot.replicates.iloc[1]["(Intercept)"], refit.fixef["(Intercept)"], rtol=1e-5)
    np.testing.assert_allclose(boot.replicates.iloc[1]["sigma"], refit.sigma, rtol=1e-5)


def test_parametric_standard_errors_agree_with_the_model_where_it_holds(fit):
    nsim = 800
    boot = fit.bootstrap(nsim, seed=2024, n_jobs=2)
    se_model = np.sqrt(np.diag(fit.vcov.to_numpy()))
    se_boot = boot.summary().table.loc[list(fit.fixef.index), "std_error"].to_numpy()
    # The SD of nsim normal draws has relative standard error 1/sqrt(2 nsim) = 2.5%: 4 of them.
    assert np.all(np.abs(se_boot / se_model - 1) < 4 / np.sqrt(2 * nsim)), (se_boot, se_model)


def test_case_and_wild_standard_errors_see_heteroscedastic_noise():
    df = two_level(seed=9, groups=30, per=10, hetero=True)
    m = merx.lmer("y ~ x + (1 | g)", df)
    se = {k: m.bootstrap(400, kind=k, seed=1, n_jobs=2, **o).summary().table.loc["x", "std_error"]
          for k, o in [("parametric", {}), ("case", {"resample": (True, False)}), ("wild", {})]}
    # The noise is largest where |x| is: the slope is less certain than the homoscedastic
    # model (the parametric bootstrap) says, and the resampling schemes see it.
    assert se["case"] > 1.1 * se["parametric"] and se["wild"] > 1.1 * se["parametric"], se


@pytest.mark.parametrize("kind,options", [("parametric", {}), ("residual", {}), ("case", {"resample": (True, True)}),
                                          ("wild", {}), ("wild", {"wild_weights": "norm"}), ("reb", {"reb_type": 1}),
                                          ("reb", {"reb_type": 2}), ("semiparametric", {})])
def test_a_seed_gives_the_same_replicates_for_any_n_jobs(fit, kind, options):
    one = fit.bootstrap(9, kind=kind, seed=123, n_jobs=1, **options).replicates
    two = fit.bootstrap(9, kind=kind, seed=123, n_jobs=2, **options).replicates
    pd.testing.assert_frame_equal(one, two, check_exact=True)
    other = fit.bootstrap(9, kind=kind, seed=124, n_jobs=2, **options).replicates
    assert not np.allclose(one.to_numpy(), other.to_numpy())


def test_replicates_name_lme4s_parameters_and_summarise_like_boot(fit):
    boot = fit.bootstrap(50, seed=1)
    assert list(boot.replicates.columns) == list(fit.confint(method="Wald").index)
    table = boot.summary().table
    reps = boot.replicates
    np.testing.assert_allclose(table["bias"], reps.mean() - boot.original)
    np.testing.assert_allclose(table["std_error"], reps.std(ddof=1))
    np.testing.assert_allclose(boot.original["sigma"], fit.sigma)
    text = str(boot.summary())
    assert "PARAMETRIC BOOTSTRAP" in text and "std. error" in text and "sd_(Intercept)|g" in text


def test_intervals_follow_boots_definitions(fit):
    boot = fit.bootstrap(99, seed=4)
    t = np.sort(boot.replicates["x"].to_numpy())
    # R = 99, level 0.9: (R + 1)·0.05 = 5 and (R + 1)·0.95 = 95 are whole: boot takes those order statistics.
    perc = boot.confint(type="perc", level=0.9, parm="x").loc["x"].to_numpy()
    np.testing.assert_allclose(perc, [t[4], t[94]])
    basic = boot.confint(type="basic", level=0.9, parm="x").loc["x"].to_numpy()
    np.testing.assert_allclose(basic, [2 * fit.fixef["x"] - t[94], 2 * fit.fixef["x"] - t[4]])
    norm = boot.confint(type="norm", parm="x").loc["x"].to_numpy()
    bias = t.mean() - fit.fixef["x"]
    half = t.std(ddof=1) * 1.959963984540054
    np.testing.assert_allclose(norm, [fit.fixef["x"] - bias - half, fit.fixef["x"] - bias + half])
    via_confint = fit.confint(method="boot", nsim=99, seed=4, level=0.9)
    np.testing.assert_allclose(via_confint.loc["x"].to_numpy(), perc)


def test_a_glmm_parametric_replicate_is_an_ordinary_glmer_refit():
    cbpp = merx.load_example("cbpp")
    g = merx.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial")
    boot = g.bootstrap(3, seed=8, n_jobs=2)
    for i in range(3):
        prop = np.asarray(boot.replicate_data(i))
        incidence = np.rint(prop * cbpp["size"]).astype(int)
        np.testing.assert_allclose(incidence, prop * cbpp["size"], atol=1e-9)  # whole successes
        refit = merx.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp.assign(incidence=incidence),
                           family="binomial")
        np.testing.assert_allclose(boot.replicates.iloc[i][list(refit.fixef.index)], refit.fixef, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(boot.replicates.iloc[i]["sd_(Intercept)|herd"], refit.theta.iloc[0], rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("call,message", [
    (lambda m: m.bootstrap(0), "nsim must be a whole number of at least 1"),
    (lambda m: m.bootstrap(5, n_jobs=0), "n_jobs must be a whole number of at least 1"),
    (lambda m: m.bootstrap(5, kind="jackknife"), "unknown bootstrap kind 'jackknife'"),
    (lambda m: m.bootstrap(5, kind="case"), "kind='case' needs resample="),
    (lambda m: m.bootstrap(5, kind="case", resample=(True,)), "resample needs one entry per level"),
    (lambda m: m.bootstrap(5, kind="reb", reb_type=3), "reb_type must be 0, 1 or 2"),
    (lambda m: m.bootstrap(5, kind="wild", wild_weights="uniform"), "wild weights \"uniform\""),
    (lambda m: m.bootstrap(5, seed=-1), "seed must be a non-negative whole number"),
    (lambda m: m.bootstrap(5).confint(type="bca"), "unknown interval type 'bca'"),
])
def test_bad_arguments_are_named(fit, call, message):
    with pytest.raises(merx.MerxError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call(fit)


def test_reb_needs_a_two_level_model_and_case_nested_factors():
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"y": rng.normal(size=60), "a": np.repeat(list("abc"), 20), "b": np.tile(list("uvwxyz"), 10)})
    m = merx.lmer("y ~ 1 + (1 | a) + (1 | b)", df)
    with pytest.raises(merx.MerxError, match="kind='reb' needs a two-level model"):
        m.bootstrap(5, kind="reb")
    with pytest.raises(merx.MerxError, match="nested grouping factors"):
        m.bootstrap(5, kind="case", resample=(True, False, False))


def test_progress_needs_tqdm_or_draws_the_same_replicates(fit):
    try:
        import tqdm  # noqa: F401
    except ImportError:
        with pytest.raises(merx.MerxError, match="pip install tqdm"):
            fit.bootstrap(5, progress=True)
        return
    a = fit.bootstrap(30, seed=3, progress=True).replicates
    b = fit.bootstrap(30, seed=3).replicates
    pd.testing.assert_frame_equal(a, b, check_exact=True)
