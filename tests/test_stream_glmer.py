"""glmer on Parquet data read in batches against the in-memory fit of the same rows.

Each dataset is written to several Parquet files with small row groups, sorted by a
grouping factor so that the batches hold different subsets of its levels. Every PIRLS step
of the streamed fit is one pass over the files. The estimates must agree with the in-memory
fit's: fixed effects, θ and the conditional modes to 1e-6, logLik to 1e-8 (relative).
"""

import pickle
import warnings

import numpy as np
import pytest

import merx
from merx import _core
from merx.models.glmer import glmm_problem
from stream_glmm_data import crossed_data
from stream_util import write_parts, rel

pa = pytest.importorskip("pyarrow", reason="pyarrow (merx[parquet]) is not installed")
pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow (merx[parquet]) is not installed")


def compare(mem, streamed, tol=1e-6):
    assert list(streamed.fixef.index) == list(mem.fixef.index)
    assert rel(streamed.fixef, mem.fixef) <= tol
    assert rel(streamed.theta, mem.theta) <= tol
    assert abs(streamed.logLik - mem.logLik) <= 1e-8 * abs(mem.logLik)
    assert streamed.nobs == mem.nobs and streamed.ngrps == mem.ngrps
    for g, table in mem.ranef().items():
        other = streamed.ranef()[g]
        assert list(other.index) == list(table.index)
        np.testing.assert_allclose(other.to_numpy(), table.to_numpy(), rtol=tol, atol=tol * np.abs(table.to_numpy()).max())


@pytest.fixture(scope="module")
def crossed(tmp_path_factory):
    df = crossed_data()
    return df, write_parts(df, tmp_path_factory.mktemp("crossed"), 4, 300)


def test_binomial_proportions_with_weights_cbpp(tmp_path):
    df = merx.load_example("cbpp").sort_values("herd", kind="stable").reset_index(drop=True)
    df["prop"] = df["incidence"] / df["size"]
    path = write_parts(df, tmp_path / "cbpp", 3, 7)
    formula = "prop ~ period + (1 | herd)"
    mem = merx.glmer(formula, df, family="binomial", weights="size")
    streamed = merx.glmer(formula, path, family="binomial", weights="size")
    compare(mem, streamed)
    # The exact Laplace deviance's Hessian; lme4's SEs (0.2312, 0.3032, 0.3228, 0.4220) are
    # 0.5-1.2% below it.
    assert_exact_hessian_vcov(mem, streamed, "binomial", "logit")
    # Every PIRLS step is a pass: the two design passes and a few hundred more.
    assert streamed.n_passes > 20
    text = str(streamed.summary())
    assert "Number of obs: 56, groups:  herd, 15" in text and "Weights: size" in text
    assert "Scaled residuals" not in text
    # cbind(successes, failures) is the same model.
    both = merx.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", path, family="binomial")
    compare(mem, both)


def exact_hessian_se(mem, family: str, link: str, h: float = 1e-3) -> np.ndarray:
    """Standard errors of β from 2H⁻¹, H the Hessian of the in-memory core's exact Laplace
    deviance at the in-memory optimum by central second differences (the same to 1e-6 at
    steps 1e-4 to 1e-2 on these models)."""
    problem = glmm_problem(mem.frame, family, link)
    x0 = np.concatenate([np.asarray(mem.theta, float), np.asarray(mem.fixef, float)])
    nt, m = len(mem.theta), len(x0)

    def f(dx):
        x = x0 + dx
        return problem.deviance([float(v) for v in x[:nt]], [float(v) for v in x[nt:]])

    e = np.eye(m) * h
    f0 = f(np.zeros(m))
    H = np.empty((m, m))
    for i in range(m):
        H[i, i] = (f(e[i]) - 2 * f0 + f(-e[i])) / h**2
        for j in range(i):
            H[i, j] = H[j, i] = (f(e[i] + e[j]) - f(e[i] - e[j]) - f(e[j] - e[i]) + f(-e[i] - e[j])) / (4 * h * h)
    return np.sqrt(np.diag(2 * np.linalg.inv(H)[nt:, nt:]))


def assert_exact_hessian_vcov(mem, streamed, family: str, link: str) -> None:
    """The streamed vcov is 2H⁻¹ of the exact Laplace deviance (lme4's and the in-memory
    fit's differ from it: they differentiate lme4's own, less exact, evaluations)."""
    se = np.sqrt(np.diag(streamed.vcov.to_numpy()))
    np.testing.assert_allclose(se, exact_hessian_se(mem, family, link), rtol=2e-4)
    np.testing.assert_allclose(streamed.tidy()["std_error"].to_numpy()[: len(se)], se, rtol=1e-12)


def test_binary_crossed_design_with_missing_values(crossed, tmp_path):
    df, path = crossed
    formula = "y ~ x + (1 | g1) + (1 | g2)"
    mem = merx.glmer(formula, df, family="binomial")
    streamed = merx.glmer(formula, path, family="binomial")
    compare(mem, streamed)
    assert streamed.frame.n_dropped_na == 30
    out = tmp_path / "fitted.parquet"
    assert streamed.write_fitted(out) == len(df)
    written = pq.read_table(str(out)).to_pandas()
    used = ~written["fitted"].isna().to_numpy()
    np.testing.assert_allclose(written["fitted"].to_numpy()[used], mem.fitted, rtol=1e-6)
    np.testing.assert_allclose(written["residual"].to_numpy()[used], mem.residuals(type="response"), rtol=1e-5,
                               atol=1e-6)
    with pytest.raises(merx.MerxError, match="write_fitted"):
        streamed.fitted
    # lme4's nAGQ = 0 (the first stage only); vcov from R_X in both.
    mem0 = merx.glmer(formula, df, family="binomial", nAGQ=0)
    streamed0 = merx.glmer(formula, path, family="binomial", nAGQ=0)
    compare(mem0, streamed0)
    np.testing.assert_allclose(streamed0.vcov.to_numpy(), mem0.vcov.to_numpy(), rtol=1e-5)


def test_poisson_with_an_offset(crossed):
    df, path = crossed
    formula = "count ~ x + (1 | g1) + (1 | g2)"
    mem = merx.glmer(formula, df, family="poisson", offset="log_exposure")
    streamed = merx.glmer(formula, path, family="poisson", offset="log_exposure")
    compare(mem, streamed)
    assert_exact_hessian_vcov(mem, streamed, "poisson", "log")
    new = df.iloc[:5]
    np.testing.assert_allclose(streamed.predict(new, type="response"), mem.predict(new, type="response"), rtol=1e-5)


def test_correlated_random_slopes_reach_the_same_optimum(crossed):
    """A (1 + x | g1) term (two columns per level). Here the deviance is flat enough near
    the optimum that the in-memory quasi-Newton fit stops up to ~9e-6 (relative) from it in
    θ and 1.4e-6 in β (measured by Newton steps on its own deviance function), so the
    streamed optimum is checked by that deviance function instead: no higher than the
    in-memory optimum's, and the estimates within the in-memory fit's own precision."""
    df, path = crossed
    formula = "count ~ x + (1 + x | g1) + (1 | g2)"
    mem = merx.glmer(formula, df, family="poisson", offset="log_exposure")
    streamed = merx.glmer(formula, path, family="poisson", offset="log_exposure")
    problem = glmm_problem(mem.frame, "poisson", "log")
    # Evaluated from the modes of its own optimum: from the family's starting μ with β held,
    # the in-memory PIRLS stops up to ~5e-8 above the Laplace deviance on this model.
    problem.fit()
    at = {m: problem.deviance(list(np.asarray(m.theta)), list(np.asarray(m.fixef))) for m in (mem, streamed)}
    assert at[streamed] <= at[mem] * (1 + 1e-13)
    assert abs(streamed.logLik - mem.logLik) <= 1e-8 * abs(mem.logLik)
    assert rel(streamed.fixef, mem.fixef) <= 1e-5
    assert float(np.max(np.abs(np.asarray(streamed.theta) - np.asarray(mem.theta)))) <= 1e-5


def test_pass_accumulators_pickle_and_merge(crossed):
    df, _ = crossed
    mem = merx.glmer("y ~ x + (1 | g1) + (1 | g2)", df, family="binomial")
    frame = mem.frame
    X, y = np.asfortranarray(frame.X), np.ascontiguousarray(frame.y, dtype=float)
    terms = [(b.n_levels, len(b.columns)) for b in frame.blocks]
    point = (np.asarray(mem.fixef, dtype=float), [np.asarray(b, dtype=float).ravel() for b in mem.fit.b], False)
    whole = _core.GlmmPassAccumulator("binomial", "logit", X.shape[1], terms, [0.0, 0.0])
    halves = []
    for rows in (slice(0, 1000), slice(1000, None)):
        acc = _core.GlmmPassAccumulator("binomial", "logit", X.shape[1], terms, [0.0, 0.0])
        args = (np.asfortranarray(X[rows]), y[rows], None, None,
                [(np.ascontiguousarray(b.codes[rows]), np.asfortranarray(b.Z[rows])) for b in frame.blocks], point)
        acc.add_batch(*args)
        whole.add_batch(*args)
        halves.append(pickle.loads(pickle.dumps(acc)))
    halves[0].merge(halves[1])
    assert halves[0].n_obs == whole.n_obs == len(y)
    assert halves[0].deviance == pytest.approx(whole.deviance, rel=1e-13)
    # The deviance residuals at the optimum: lme4's deviance() of the fit.
    assert whole.deviance == pytest.approx(mem.deviance, rel=1e-9)


def test_bad_input_is_named(tmp_path, crossed):
    df, path = crossed
    with pytest.raises(merx.DataError, match="'z'"):
        merx.glmer("y ~ z + (1 | g1)", path, family="binomial")
    bad = df.iloc[:400].copy()
    bad.loc[350, "y"] = 2.0
    bad_path = write_parts(bad, tmp_path / "bad", 2, 100)
    with pytest.raises(merx.DataError, match=r"binomial response 'y'.*part-01\.parquet"):
        merx.glmer("y ~ x + (1 | g1)", bad_path, family="binomial")
    with pytest.raises(merx.DataError, match="binomial and poisson families; the Gamma family"):
        merx.glmer("count ~ x + (1 | g1)", path, family="Gamma")
    with pytest.raises(merx.DataError, match="canonical 'logit' link"):
        merx.glmer("y ~ x + (1 | g1)", path, family=merx.families.Binomial(link="probit"))
    with pytest.raises(merx.DataError, match="nAGQ"):
        merx.glmer("y ~ x + (1 | g1)", path, family="binomial", nAGQ=5)
    with pytest.raises(merx.DataError, match="glmer_nb"):
        merx.glmer_nb("count ~ x + (1 | g1)", path)
    cb = merx.load_example("cbpp").assign(w=2.0)
    cb_path = write_parts(cb, tmp_path / "cb", 2, 20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(merx.DataError, match="cbind.*without prior weights"):
            merx.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cb_path, family="binomial",
                       weights="w")
