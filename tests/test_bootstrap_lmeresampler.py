"""The resampling kinds against lmeresampler 0.2.x's constructions (github.com/aloy/lmeresampler:
`R/bootstrap_lme4.R`, `R/resamplers.R`, `R/setup.R`, `R/lme4_utility_functions.R`), rebuilt here in plain
numpy from the fit's estimates and the choices a replicate drew (`replicate_draws`): each
replicate's response (case: its rows and levels; REB type 2: the post-processed replicates)
must be lmeresampler's to 1e-10.

The designs are simulated here (numpy, fixed seeds); no expected number comes from merx.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import merx

from test_bootstrap import two_level

FORMULA = "y ~ x + (x | g)"
SEED = 31


@pytest.fixture(scope="module")
def data():
    return two_level(seed=0)


@pytest.fixture(scope="module")
def fit(data):
    return merx.lmer(FORMULA, data)


def pieces(m):
    """The fit in numpy: y, X, Xβ̂, per term (codes, Z, modes b̂ (L × k), σ̂²TT'), σ̂, fitted."""
    y = np.asarray(m.frame.y, dtype=float)
    X = np.asarray(m.frame.X, dtype=float)
    xbeta = X @ m.fixef.to_numpy()
    terms = []
    fitted = xbeta.copy()
    for block, b, vc in zip(m.frame.blocks, m.fit.b, m.VarCorr.terms):
        codes, Z = np.asarray(block.codes), np.asarray(block.Z, dtype=float).reshape(len(y), -1)
        b = np.asarray(b, dtype=float).reshape(block.n_levels, -1)
        terms.append((codes, Z, b, np.asarray(vc.cov, dtype=float)))
        fitted += np.sum(Z * b[codes], axis=1)
    return y, X, xbeta, terms, float(m.sigma), fitted


def scale_center_ranef(b, vc):
    """lmeresampler's scale_center_ranef: centre, then map to empirical covariance vc."""
    u = b - b.mean(axis=0)
    S = u.T @ u / u.shape[0]
    # lmeresampler's chol(., pivot = TRUE) keeps the order (its pivots are ignored) when the
    # diagonal does not increase: then its factors are these.
    assert np.all(np.diff(np.diag(S)) <= 0) and np.all(np.diff(np.diag(vc)) <= 0)
    Ls, Lr = np.linalg.cholesky(S), np.linalg.cholesky(vc)
    return u @ (Lr @ np.linalg.inv(Ls)).T


def scale_center_e(e, sigma):
    """lmeresampler's scale_center_e: σ e (e'e/n)^(-1/2), then centred."""
    out = sigma * e / np.sqrt(e @ e / e.size)
    return out - out.mean()


def test_residual_replicates_are_lmeresamplers_cgr_responses(fit):
    y, X, xbeta, terms, sigma, fitted = pieces(fit)
    e = (y - fitted) - (y - fitted).mean()
    boot = fit.bootstrap(3, kind="residual", seed=SEED)
    for i in range(3):
        draws = boot.replicate_draws(i)
        expected = xbeta.copy()
        for (codes, Z, b, vc), picks in zip(terms, draws["levels"]):
            picks = np.asarray(picks)
            assert picks.shape == (b.shape[0],) and picks.min() >= 0 and picks.max() < b.shape[0]
            ustar = scale_center_ranef((b - b.mean(axis=0))[picks], vc)
            np.testing.assert_allclose(ustar.T @ ustar / ustar.shape[0], vc, rtol=1e-10)
            expected += np.sum(Z * ustar[codes], axis=1)
        expected += e[np.asarray(draws["rows"])]
        np.testing.assert_allclose(np.asarray(boot.replicate_data(i)), expected, rtol=0, atol=1e-10)


def test_semiparametric_replicates_are_fitted_values_plus_resampled_residuals(fit):
    y, _, _, _, _, fitted = pieces(fit)
    boot = fit.bootstrap(2, kind="semiparametric", seed=SEED)
    for i in range(2):
        rows = np.asarray(boot.replicate_draws(i)["rows"])
        np.testing.assert_allclose(np.asarray(boot.replicate_data(i)), fitted + (y - fitted)[rows], rtol=0, atol=1e-10)


def reb_setup(m, reb_type):
    """lmeresampler's .setup(type = "reb"): ũ = (Z'Z)⁻¹Z'r with lme4's Z (levels × columns,
    level-major), ẽ = r - Zũ; type 1 rescales both."""
    y, X, xbeta, terms, sigma, _ = pieces(m)
    (codes, Zt, b, vc), = terms
    L, k = b.shape
    Z = np.zeros((len(y), L * k))
    for a in range(k):
        Z[np.arange(len(y)), codes * k + a] = Zt[:, a]
    r = y - xbeta
    u = np.linalg.solve(Z.T @ Z, Z.T @ r)
    e = r - Z @ u
    u = u.reshape(L, k)
    if reb_type == 1:
        u, e = scale_center_ranef(u, vc), scale_center_e(e, sigma)
    return xbeta, codes, Zt, u, e


@pytest.mark.parametrize("reb_type", [0, 1])
def test_reb_replicates_are_lmeresamplers_reb_responses(fit, reb_type):
    xbeta, codes, Zt, u, e = reb_setup(fit, reb_type)
    boot = fit.bootstrap(3, kind="reb", reb_type=reb_type, seed=SEED)
    for i in range(3):
        draws = boot.replicate_draws(i)
        (picks,) = draws["levels"]
        ustar = u[np.asarray(picks)]
        expected = xbeta + np.sum(Zt * ustar[codes], axis=1) + e[np.asarray(draws["rows"])]
        np.testing.assert_allclose(np.asarray(boot.replicate_data(i)), expected, rtol=0, atol=1e-10)


def test_reb_type_2_is_lmeresamplers_postprocessing_of_type_0(fit):
    nsim = 25
    raw = fit.bootstrap(nsim, kind="reb", reb_type=0, seed=SEED).replicates
    boot = fit.bootstrap(nsim, kind="reb", reb_type=2, seed=SEED, n_jobs=2)
    orig = boot.original
    x_names = list(fit.fixef.index)
    sd_names = [c for c in raw.columns if c.startswith("sd_")] + ["sigma"]
    fe, vc = raw[x_names].to_numpy(), raw[sd_names].to_numpy() ** 2
    fe0, vc0 = orig[x_names].to_numpy(), orig[sd_names].to_numpy() ** 2
    # .postprocess.reb2's bias corrections
    np.testing.assert_allclose(boot.replicates[x_names].to_numpy(), fe + (fe0 - fe.mean(axis=0)), rtol=1e-10)
    np.testing.assert_allclose(boot.replicates[sd_names].to_numpy() ** 2, vc * (vc0 / vc.mean(axis=0)), rtol=1e-10)
    cor = [c for c in raw.columns if c.startswith("cor_")]
    np.testing.assert_allclose(boot.replicates[cor].to_numpy(), raw[cor].to_numpy(), rtol=1e-10)
    # ... and its L_b = exp(M + ((S - M) W½) ∘ D) on the log scale
    S = np.log(vc)
    M = S.mean(axis=0)
    cov = np.cov(S, rowvar=False)
    lam, V = np.linalg.eigh(np.linalg.inv(cov))
    order = np.argsort(-lam)
    lam, V = lam[order], V[:, order]
    V = V * np.sign(V[np.argmax(np.abs(V), axis=0), np.arange(V.shape[1])])
    Lb = np.exp(M + ((S - M) @ (V * np.sqrt(lam))) * np.sqrt(np.diag(cov)))
    assert list(boot.reb2_log_scale.columns) == ["var_(Intercept)|g", "var_x|g", "var_Residual"]
    np.testing.assert_allclose(boot.reb2_log_scale.to_numpy(), Lb, rtol=1e-10)


SUPPORT = {
    "mammen": [-(np.sqrt(5) - 1) / 2, (np.sqrt(5) + 1) / 2],
    "rademacher": [-1.0, 1.0],
    "webb": [s * v for s in (-1, 1) for v in (np.sqrt(1.5), 1.0, np.sqrt(0.5))],
}


@pytest.mark.parametrize("weights,hccme", [("mammen", "hc2"), ("rademacher", "hc3"), ("webb", "hc2"),
                                           ("norm", "hc3"), ("gamma", "hc2")])
def test_wild_replicates_are_lmeresamplers_wild_responses(fit, data, weights, hccme):
    y, X, xbeta, _, _, _ = pieces(fit)
    h = np.diag(X @ np.linalg.inv(X.T @ X) @ X.T)
    v = (y - xbeta) / (np.sqrt(1 - h) if hccme == "hc2" else (1 - h))
    boot = fit.bootstrap(3, kind="wild", wild_weights=weights, hccme=hccme, seed=SEED)
    for i in range(3):
        draws = boot.replicate_draws(i)
        w, clusters = np.asarray(draws["weights"]), np.asarray(draws["clusters"])
        np.testing.assert_array_equal(clusters, pd.factorize(data["g"])[0])  # fct_inorder of the groups
        assert w.shape == (data["g"].nunique(),)
        if weights in SUPPORT:
            assert np.all(np.min(np.abs(w[:, None] - np.array(SUPPORT[weights])[None, :]), axis=1) < 1e-15)
        elif weights == "gamma":
            assert np.all(w > -2)
        np.testing.assert_allclose(np.asarray(boot.replicate_data(i)), xbeta + v * w[clusters], rtol=0, atol=1e-10)


def test_wild_clusters_are_the_combinations_of_the_grouping_factors():
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"y": rng.normal(size=60), "a": np.repeat(list("abc"), 20), "b": np.tile(list("uvwxyz"), 10)})
    m = merx.lmer("y ~ 1 + (1 | a) + (1 | b)", df)
    boot = m.bootstrap(2, kind="wild", seed=SEED)
    draws = boot.replicate_draws(1)
    np.testing.assert_array_equal(np.asarray(draws["clusters"]), pd.factorize(df["a"] + ":" + df["b"])[0])
    assert np.asarray(draws["weights"]).shape == (18,)


def replay_case(factors, resample, draws):
    """lmeresampler's .resamp.cases from the drawn clusters: rows and per-factor codes."""
    n, nf = len(factors[0]), len(factors)
    levels, positions = [list(np.asarray(d)) for d in draws["levels"]], list(np.asarray(draws["rows"]))
    rows = list(range(n))
    if resample[0]:
        top = sorted(set(factors[0]))
        assert len(levels[0]) == len(top) and set(levels[0]) <= set(top)
        rows = [i for c in levels[0] for i in range(n) if factors[0][i] == c]
    for f in range(1, nf):
        if not resample[f]:
            assert levels[f] == []
            continue
        drawn, out = iter(levels[f]), []
        for outer in sorted({factors[f - 1][i] for i in rows}):
            group = [i for i in rows if factors[f - 1][i] == outer]
            present = sorted({factors[f][i] for i in group})
            for _ in present:
                c = next(drawn)
                assert c in present
                out += [i for i in group if factors[f][i] == c]
        assert next(drawn, None) is None
        rows = out
    if resample[nf]:
        drawn, out = iter(positions), []
        inner = factors[nf - 1]
        for c in sorted({inner[i] for i in rows}):
            group = [i for i in rows if inner[i] == c]
            for _ in group:
                p = next(drawn)
                assert 0 <= p < len(group)
                out.append(group[p])
        assert next(drawn, None) is None
        rows = out
    codes = [np.searchsorted(sorted({f[i] for i in rows}), f[rows]) for f in factors]
    return np.array(rows), codes


def three_level(seed=3):
    rng = np.random.default_rng(seed)
    school, klass = np.repeat(np.arange(6), 12), np.repeat(np.arange(18), 4)
    y = rng.normal(0, 1, 6)[school] + rng.normal(0, 0.5, 18)[klass] + rng.normal(0, 1, 72)
    return pd.DataFrame({"y": y, "school": [f"s{v}" for v in school], "class": [f"c{v}" for v in klass]})


@pytest.mark.parametrize("formula,make,resample", [
    (FORMULA, two_level, (True, False)),
    (FORMULA, two_level, (True, True)),
    (FORMULA, two_level, (False, True)),
    ("y ~ 1 + (1 | school/class)", three_level, (True, True, False)),
    ("y ~ 1 + (1 | school/class)", three_level, (True, True, True)),
    ("y ~ 1 + (1 | school/class)", three_level, (False, True, True)),
])
def test_case_replicates_are_lmeresamplers_case_resamples(formula, make, resample):
    df = make()
    m = merx.lmer(formula, df)
    blocks = sorted(m.frame.blocks, key=lambda b: len(set(np.asarray(b.codes))))  # outermost first
    factors = [np.asarray(b.codes) for b in blocks]
    boot = m.bootstrap(3, kind="case", resample=resample, seed=SEED)
    for i in range(3):
        rows, codes = boot.replicate_data(i)
        expected_rows, expected_codes = replay_case(factors, resample, boot.replicate_draws(i))
        np.testing.assert_array_equal(np.asarray(rows), expected_rows)
        by_block = {id(b): c for b, c in zip(blocks, expected_codes)}
        for block, (new_codes, n_levels) in zip(m.frame.blocks, codes):
            np.testing.assert_array_equal(np.asarray(new_codes), by_block[id(block)])
            assert n_levels == len(set(by_block[id(block)]))
    # A replicate is lmer's refit of the resampled rows with their own levels (lmeresampler's refit).
    rows, _ = boot.replicate_data(2)
    refit = merx.lmer(formula, df.iloc[np.asarray(rows)].reset_index(drop=True))
    row = boot.replicates.iloc[2]
    np.testing.assert_allclose(row[list(refit.fixef.index)].to_numpy(), refit.fixef.to_numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(row["sigma"], refit.sigma, rtol=1e-5)


def test_replicate_draws_explain_what_they_cannot_give(fit):
    with pytest.raises(merx.MerxError, match="parametric bootstrap draws normal variates"):
        fit.bootstrap(1, seed=1).replicate_draws(0)
    with pytest.raises(merx.MerxError, match="index must be between 0 and 1"):
        fit.bootstrap(2, kind="residual", seed=1).replicate_draws(2)
