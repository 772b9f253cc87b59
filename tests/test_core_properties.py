"""Property-based tests of merx._core.LinearMixedModel against dense numpy/scipy computations.

Random small designs (5..60 rows; 1-3 random-effects terms with k = 1, 2, 3 columns,
correlated or diagonal templates; crossed, nested, partially crossed, balanced and unbalanced
grouping with singleton levels and occasionally an unused level; optional prior weights,
sometimes with zeros; optional offset) and random θ (positive diagonals, sometimes exactly 0).

The dense reference: r = y - offset ~ N(Xβ, σ²V), V = ZΛΛ'Z' + W⁻¹ on the rows with positive
weight, β and σ² profiled out (GLS β̂; σ̂² = r'V⁻¹r / n for ML, / (n - p) for REML):

    ML deviance     = log|V| + n (1 + log(2π σ̂²_ML))
    REML criterion  = log|V| + log|X'V⁻¹X| + (n - p)(1 + log(2π σ̂²_REML))

log|V| = log|Λ'Z'WZΛ + I| - Σ log w_i, which is how the core (and lme4, through ldW) writes
it. Zero weights: the rows contribute nothing to any cross-product, and the core's n counts
only rows with positive weight, so the fit equals the fit with those rows dropped (lme4 counts
length(y) but its ldW is then log 0 = -inf). ``N_COUNTS_ZERO_WEIGHT_ROWS`` pins that
convention; the dense reference is evaluated with that n.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import numpy as np
import pytest
import scipy.linalg
import scipy.optimize
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from merx._core import LinearMixedModel

N_COUNTS_ZERO_WEIGHT_ROWS = False
LOG_2PI = np.log(2 * np.pi)

# MERX_PROPERTY_EXAMPLES scales the number of examples (for longer stress runs).
EXAMPLES = int(os.environ.get("MERX_PROPERTY_EXAMPLES", "150"))
def structure(correlated: bool) -> str:
    """The core's name of the covariance structure of a correlated or diagonal template."""
    return "unstructured" if correlated else "diagonal"


SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------------------
# Designs
# --------------------------------------------------------------------------------------


@dataclass
class Design:
    X: np.ndarray
    y: np.ndarray
    codes: list  # int64 (n,) per term
    n_levels: list
    Z: list  # float64 (n, k) per term
    correlated: list
    weights: np.ndarray | None
    offset: np.ndarray | None

    @property
    def n(self) -> int:
        return len(self.y)

    @property
    def p(self) -> int:
        return self.X.shape[1]

    def terms(self):
        return [(c, L, z, structure(corr)) for c, L, z, corr in zip(self.codes, self.n_levels, self.Z, self.correlated)]

    def problem(self, reml: bool) -> LinearMixedModel:
        return LinearMixedModel(self.X, self.y, self.terms(), weights=self.weights, offset=self.offset, reml=reml)

    def w(self) -> np.ndarray:
        return np.ones(self.n) if self.weights is None else self.weights

    def layout(self):
        """Per term: (u offset, k, levels, theta offset, correlated)."""
        out, u, th = [], 0, 0
        for L, z, corr in zip(self.n_levels, self.Z, self.correlated):
            k = z.shape[1]
            out.append((u, k, L, th, corr))
            u += k * L
            th += k * (k + 1) // 2 if corr else k
        return out

    @property
    def q(self) -> int:
        return sum(k * L for _, k, L, _, _ in self.layout())

    @property
    def n_theta(self) -> int:
        return sum(k * (k + 1) // 2 if c else k for _, k, _, _, c in self.layout())

    def take_rows(self, rows) -> "Design":
        rows = np.asarray(rows)
        return Design(
            X=np.ascontiguousarray(self.X[rows]),
            y=self.y[rows].copy(),
            codes=[c[rows].copy() for c in self.codes],
            n_levels=list(self.n_levels),
            Z=[np.ascontiguousarray(z[rows]) for z in self.Z],
            correlated=list(self.correlated),
            weights=None if self.weights is None else self.weights[rows].copy(),
            offset=None if self.offset is None else self.offset[rows].copy(),
        )


def covering_codes(rng, n, used):
    c = np.concatenate([np.arange(used), rng.integers(0, used, size=n - used)])
    rng.shuffle(c)
    return c.astype(np.int64)


@st.composite
def designs(draw, weights=None, min_n=5):
    """Random designs, degenerate ones included (a single level, as many levels as rows:
    the objective can then be unbounded below or flat, which does not matter at a fixed θ)."""
    n = draw(st.integers(min_n, 60))
    p = 1 + min(draw(st.integers(0, 2)), n - 4)
    n_terms = draw(st.integers(1, 3))
    specs = [
        (draw(st.integers(1, 3)), draw(st.booleans()), draw(st.integers(1, 20)), draw(st.booleans()),
         draw(st.integers(0, 7)) == 0)
        for _ in range(n_terms)
    ]
    structure = draw(st.sampled_from(["crossed", "nested", "partial", "balanced", "unbalanced"]))
    wmode = weights if weights is not None else draw(st.sampled_from(["none", "positive", "some_zero"]))
    has_offset = draw(st.booleans())
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))

    X = np.ones((n, p))
    X[:, 1:] = rng.normal(size=(n, p - 1))
    codes, n_levels, Z, corr = [], [], [], []
    prev_used = n
    for t, (k, correlated, levels, slope_only, unused) in enumerate(specs):
        used = min(levels, n)
        if structure == "crossed":
            c = covering_codes(rng, n, used)
        elif structure == "balanced":
            c = np.empty(n, dtype=np.int64)
            c[rng.permutation(n)] = np.arange(n) % used
        elif structure == "unbalanced":
            used = int(np.clip(n // 2 + rng.integers(0, n // 4 + 1), 1, n))
            c = covering_codes(rng, n, used)
        elif t == 0:
            c = covering_codes(rng, n, used)
        else:  # nested / partially crossed: a function of the previous term's levels
            used = min(used, prev_used)
            parent = covering_codes(rng, prev_used, used)
            c = parent[codes[t - 1]]
            if structure == "partial":
                flip = rng.random(n) < 0.3
                c[flip] = rng.integers(0, used, size=flip.sum())
            _, c = np.unique(c, return_inverse=True)
            c = c.astype(np.int64)
            used = int(c.max()) + 1
        prev_used = used
        z = rng.normal(size=(n, k))
        if not (k == 1 and slope_only):
            z[:, 0] = 1.0
        codes.append(c)
        n_levels.append(used + int(unused))
        Z.append(z)
        corr.append(correlated)
    w = None
    if wmode != "none":
        w = 0.25 + 3.75 * rng.random(n)
        if wmode == "some_zero":
            n_zero = min(1 + n // 8, n - (p + 3))
            w[rng.permutation(n)[:n_zero]] = 0.0
    offset = rng.normal(size=n) if has_offset else None
    y = X @ np.arange(1.0, p + 1) + 0.5 * rng.normal(size=n)
    for c, L, z in zip(codes, n_levels, Z):
        b = rng.normal(size=(L, z.shape[1]))
        y += np.einsum("ik,ik->i", z, b[c])
    if offset is not None:
        y += offset
    return Design(X, y, codes, n_levels, Z, corr, w, offset)


@st.composite
def identifiable_designs(draw, max_k=3):
    """Designs for comparing optimisers: 40-60 rows, at most 4 random-effect columns in all,
    at least k + 2 levels per term and p + q ≤ n/2, so that the profiled objective is bounded
    below with a well-defined minimum (degenerate designs can have several local minima or
    none, and then two optimisers legitimately disagree)."""
    n = draw(st.integers(40, 60))
    p = draw(st.integers(1, 3))
    budget = n // 2 - p
    ks, room = [], 4
    for _ in range(draw(st.integers(1, 3))):
        if room == 0:
            break
        ks.append(draw(st.integers(1, min(max_k, room))))
        room -= ks[-1]
    while sum(k * (k + 2) for k in ks) > budget:
        ks.pop()
    structure = draw(st.sampled_from(["crossed", "nested", "balanced"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    X = np.ones((n, p))
    X[:, 1:] = rng.normal(size=(n, p - 1))
    codes, n_levels, Z, corr = [], [], [], []
    spare = budget - sum(k * (k + 2) for k in ks)
    for t, k in enumerate(ks):
        lo = k + 2
        L = lo + draw(st.integers(0, spare // k))
        spare -= (L - lo) * k
        if structure == "nested" and t > 0 and lo <= n_levels[-1]:
            L = min(L, n_levels[-1])
            c = covering_codes(rng, n_levels[-1], L)[codes[-1]]
        elif structure == "balanced":
            c = np.empty(n, dtype=np.int64)
            c[rng.permutation(n)] = np.arange(n) % L
        else:
            c = covering_codes(rng, n, L)
        z = rng.normal(size=(n, k))
        if not (k == 1 and draw(st.booleans())):
            z[:, 0] = 1.0
        codes.append(c)
        n_levels.append(L)
        Z.append(z)
        corr.append(draw(st.booleans()))
    wmode = draw(st.sampled_from(["none", "positive", "some_zero"]))
    w = None if wmode == "none" else 0.25 + 3.75 * rng.random(n)
    if wmode == "some_zero":
        w[rng.permutation(n)[: 1 + n // 10]] = 0.0
    offset = rng.normal(size=n) if draw(st.booleans()) else None
    sd = draw(st.sampled_from([0.0, 0.3, 1.0, 3.0]))  # 0: the optimum is on the boundary
    y = X @ np.arange(1.0, p + 1) + rng.normal(size=n)
    for c, L, z in zip(codes, n_levels, Z):
        y += np.einsum("ik,ik->i", z, sd * rng.normal(size=(L, z.shape[1]))[c])
    if offset is not None:
        y += offset
    return Design(X, y, codes, n_levels, Z, corr, w, offset)


def random_theta(d: Design, rng, boundary: bool) -> np.ndarray:
    th = []
    for _, k, _, _, corr in d.layout():
        for c in range(k):
            for r in range(c, k) if corr else [c]:
                if r == c:
                    th.append(0.0 if boundary and rng.random() < 0.25 else 0.2 + 1.8 * rng.random())
                else:
                    th.append(0.5 * rng.normal())
    return np.array(th)


@st.composite
def design_and_theta(draw, weights=None, min_n=5):
    d = draw(designs(weights=weights, min_n=min_n))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return d, random_theta(d, rng, draw(st.booleans())), draw(st.booleans())


# --------------------------------------------------------------------------------------
# Dense reference
# --------------------------------------------------------------------------------------


def dense_z(d: Design) -> np.ndarray:
    Zd = np.zeros((d.n, d.q))
    for t, (u0, k, L, _, _) in enumerate(d.layout()):
        for a in range(k):
            Zd[np.arange(d.n), u0 + d.codes[t] * k + a] = d.Z[t][:, a]
    return Zd


def dense_lambda(d: Design, theta) -> np.ndarray:
    lam = np.zeros((d.q, d.q))
    for u0, k, L, th0, corr in d.layout():
        T = np.zeros((k, k))
        idx = th0
        for c in range(k):
            for r in range(c, k) if corr else [c]:
                T[r, c] = theta[idx]
                idx += 1
        for l in range(L):
            lam[u0 + l * k : u0 + (l + 1) * k, u0 + l * k : u0 + (l + 1) * k] = T
    return lam


@dataclass
class DenseFit:
    logdet_v: float
    logdet_xvx: float
    quad: float
    beta: np.ndarray
    b: np.ndarray  # (q,)
    vcov_unscaled: np.ndarray
    condvar_unscaled: np.ndarray  # (q, q): Λ A⁻¹ Λ'
    n_pos: int

    def deviance_ml(self, n):
        return self.logdet_v + n * (1 + LOG_2PI + np.log(self.quad / n))

    def reml_criterion(self, n, p):
        nmp = n - p
        return self.logdet_v + self.logdet_xvx + nmp * (1 + LOG_2PI + np.log(self.quad / nmp))

    def objective(self, d: Design, reml: bool):
        n = core_n(d)
        return self.reml_criterion(n, d.p) if reml else self.deviance_ml(n)


def core_n(d: Design) -> int:
    return d.n if N_COUNTS_ZERO_WEIGHT_ROWS else int((d.w() > 0).sum())


def dense_fit(d: Design, theta, need_condvar=True) -> DenseFit:
    w = d.w()
    keep = w > 0
    Zd = dense_z(d)
    lam = dense_lambda(d, theta)
    ZL = Zd[keep] @ lam
    X = d.X[keep]
    r = (d.y - (0 if d.offset is None else d.offset))[keep]
    V = ZL @ ZL.T + np.diag(1.0 / w[keep])
    cV = scipy.linalg.cho_factor(V, lower=True)
    VX = scipy.linalg.cho_solve(cV, X)
    XVX = X.T @ VX
    cX = scipy.linalg.cho_factor(XVX, lower=True)
    beta = scipy.linalg.cho_solve(cX, X.T @ scipy.linalg.cho_solve(cV, r))
    e = r - X @ beta
    Ve = scipy.linalg.cho_solve(cV, e)
    condvar = None
    if need_condvar:
        A = lam.T @ (Zd.T * w) @ Zd @ lam + np.eye(d.q)
        condvar = lam @ np.linalg.solve(A, lam.T)
    return DenseFit(
        logdet_v=2 * np.log(np.diag(cV[0])).sum(),
        logdet_xvx=2 * np.log(np.diag(cX[0])).sum(),
        quad=float(e @ Ve),
        beta=beta,
        b=lam @ (ZL.T @ Ve),
        vcov_unscaled=scipy.linalg.cho_solve(cX, np.eye(d.p)),
        condvar_unscaled=condvar,
        n_pos=int(keep.sum()),
    )


def close(got, want, rtol=1e-8, scale=None, what=""):
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    s = max(1.0, float(np.max(np.abs(want))) if want.size else 1.0, scale or 0.0)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * s, err_msg=what)


def per_term_b(d: Design, bvec):
    return [bvec[u0 : u0 + k * L].reshape(L, k) for u0, k, L, _, _ in d.layout()]


def per_term_condvar(d: Design, C):
    out = []
    for u0, k, L, _, _ in d.layout():
        blocks = np.empty((L, k, k))
        for l in range(L):
            s = slice(u0 + l * k, u0 + (l + 1) * k)
            blocks[l] = C[s, s]
        out.append(blocks)
    return out


# --------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------


@SETTINGS
@given(design_and_theta())
def test_objective_and_estimates_match_dense(case):
    d, theta, reml = case
    prob = d.problem(reml)
    assert prob.n_theta == d.n_theta and prob.q == d.q and prob.reml == reml
    ref = dense_fit(d, theta)
    n, p = core_n(d), d.p
    want_obj = ref.objective(d, reml)
    close(prob.deviance(list(theta)), want_obj, 1e-9, n, "deviance(theta)")
    est = prob.estimates(list(theta))
    close(est.deviance_ml, ref.deviance_ml(n), 1e-9, n, "deviance_ml")
    close(est.reml_criterion, ref.reml_criterion(n, p), 1e-9, n, "reml_criterion")
    close(est.objective, want_obj, 1e-9, n, "objective")
    close(est.pwrss, ref.quad, 1e-9, what="pwrss")
    close(est.ldL2 - np.log(d.w()[d.w() > 0]).sum(), ref.logdet_v, 1e-9, n, "ldL2 - sum log w")
    close(est.ldRX2, ref.logdet_xvx, 1e-9, n, "ldRX2")
    sigma2 = ref.quad / (n - p if reml else n)
    close(est.sigma ** 2, sigma2, 1e-9, what="sigma^2")
    close(est.theta, theta, 0, what="theta echoed")
    close(est.beta, ref.beta, 1e-8, what="beta")
    assert len(est.b) == len(d.codes)
    for t, (got, want) in enumerate(zip(est.b, per_term_b(d, ref.b))):
        assert got.shape == want.shape
        close(got, want, 1e-8, np.abs(ref.b).max(), f"b term {t}")
    for t, (got, want) in enumerate(zip(est.condvar, per_term_condvar(d, sigma2 * ref.condvar_unscaled))):
        assert got.shape == want.shape
        close(got, want, 1e-8, sigma2 * np.abs(ref.condvar_unscaled).max(), f"condvar term {t}")
    close(est.vcov_beta, sigma2 * ref.vcov_unscaled, 1e-8, what="vcov_beta")
    fitted = d.X @ ref.beta + dense_z(d) @ ref.b + (0 if d.offset is None else d.offset)
    close(est.fitted, fitted, 1e-8, np.abs(d.y).max(), "fitted")
    wrss = float((d.w() * (d.y - fitted) ** 2).sum())
    close(est.wrss, wrss, 1e-7, ref.quad, "wrss")
    close(est.wrss + est.ussq, est.pwrss, 1e-8, what="wrss + ussq = pwrss")


@SETTINGS
@given(design_and_theta(), st.integers(0, 2**32 - 1))
def test_invariant_under_row_permutation_and_relabelling(case, seed):
    d, theta, reml = case
    rng = np.random.default_rng(seed)
    d2 = d.take_rows(rng.permutation(d.n))
    perms = [rng.permutation(L) for L in d.n_levels]
    d2.codes = [pi[c] for pi, c in zip(perms, d2.codes)]
    e1 = d.problem(reml).estimates(list(theta))
    e2 = d2.problem(reml).estimates(list(theta))
    for key in ("objective", "deviance_ml", "reml_criterion", "sigma"):
        close(getattr(e2, key), getattr(e1, key), 1e-10, d.n, key)
    close(e2.beta, e1.beta, 1e-9, what="beta")
    for t, pi in enumerate(perms):
        close(e2.b[t][pi], e1.b[t], 1e-9, what=f"b term {t}")
        close(e2.condvar[t][pi], e1.condvar[t], 1e-9, what=f"condvar term {t}")


@SETTINGS
@given(design_and_theta(weights="some_zero", min_n=8))
def test_zero_weight_rows_contribute_nothing(case):
    d, theta, reml = case
    keep = np.flatnonzero(d.weights > 0)
    assert len(keep) < d.n
    dropped = d.take_rows(keep)
    ea = d.problem(reml).estimates(list(theta))
    ed = dropped.problem(reml).estimates(list(theta))
    for key in ("ldL2", "ldRX2", "pwrss", "ussq"):
        close(getattr(ea, key), getattr(ed, key), 1e-10, abs(getattr(ed, key)), key)
    close(ea.beta, ed.beta, 1e-9, what="beta")
    for t in range(len(d.codes)):
        close(ea.b[t], ed.b[t], 1e-9, what=f"b term {t}")
    # Everything that depends on n uses the number of rows, zero weights included.
    n_all, n_pos = d.n, len(keep)
    ld = ea.ldL2 - np.log(d.weights[keep]).sum()
    n_core = n_all if N_COUNTS_ZERO_WEIGHT_ROWS else n_pos
    close(ea.deviance_ml, ld + n_core * (1 + LOG_2PI + np.log(ea.pwrss / n_core)), 1e-10, n_all)
    close(ed.deviance_ml, ld + n_pos * (1 + LOG_2PI + np.log(ed.pwrss / n_pos)), 1e-10, n_pos)
    dof = (n_core - d.p) if reml else n_core
    close(ea.sigma ** 2, ea.pwrss / dof, 1e-10)
    # the response of a zero-weight row has no influence
    d3 = replace(d, y=d.y.copy())
    d3.y[d.weights == 0] = 1e6
    e3 = d3.problem(reml).estimates(list(theta))
    assert e3.objective == ea.objective
    close(e3.beta, ea.beta, 0)


def test_zero_weight_convention_fixed_case():
    """(1|g), two groups, θ = 1, one zero-weight row: n is 5 (the row is as if dropped), not 6."""
    X = np.ones((6, 1))
    y = np.array([1.0, 2.0, 4.0, 3.0, 7.0, 100.0])
    codes = np.array([0, 0, 0, 1, 1, 1], dtype=np.int64)
    w = np.array([1.0, 1, 1, 1, 1, 0])
    d = Design(X, y, [codes], [2], [np.ones((6, 1))], [True], w, None)
    est = d.problem(False).estimates([1.0])
    ref = dense_fit(d, [1.0])
    assert ref.n_pos == 5
    close(est.deviance_ml, ref.deviance_ml(5), 1e-10)
    assert abs(est.deviance_ml - ref.deviance_ml(6)) > 1e-3


@SETTINGS
@given(design_and_theta())
def test_strided_and_fortran_inputs_give_the_same_objective(case):
    d, theta, reml = case
    ref = d.problem(reml).deviance(list(theta))
    Xf = np.asfortranarray(d.X)
    Xs = np.repeat(d.X, 2, axis=0)[::2]
    Zs = [np.asfortranarray(np.repeat(z, 2, axis=0)[::2]) for z in d.Z]
    for X, Z in ((Xf, d.Z), (Xs, Zs)):
        d2 = replace(d, X=X, Z=Z)
        assert d2.problem(reml).deviance(list(theta)) == pytest.approx(ref, rel=1e-12, abs=1e-12)


def dense_objective(d: Design, reml: bool):
    def f(theta):
        try:
            return dense_fit(d, theta, need_condvar=False).objective(d, reml)
        except np.linalg.LinAlgError:  # far out (huge θ): V numerically singular
            return np.inf

    return f


@settings(max_examples=max(1, EXAMPLES * 2 // 3), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(identifiable_designs(), st.booleans())
def test_fit_is_no_worse_than_dense_lbfgsb(d, reml):
    """fit() (BOBYQA in the core) against L-BFGS-B on the dense objective, same start, bounds
    from theta_lower. The profiled objective can have several local minima even on these
    designs (variance moving between crossed terms, boundary minima of correlated terms):
    then the two optimisers may legitimately end in different ones (about 2% of cases, in
    either direction). So: fit() is no worse than L-BFGS-B to 1e-6, or else fit()'s θ is
    itself a local minimum of the dense objective (L-BFGS-B started there gains nothing) and
    fit() started from L-BFGS-B's θ reaches L-BFGS-B's value."""
    tol = 1e-6
    prob = d.problem(reml)
    fit = prob.fit()
    f = dense_objective(d, reml)
    lower = prob.theta_lower
    bounds = [(lo if np.isfinite(lo) else None, None) for lo in lower]
    ref = scipy.optimize.minimize(f, prob.theta_start, method="L-BFGS-B", bounds=bounds)
    assert np.all(fit.theta >= lower)
    # the reported objective is the objective at the reported θ, by the core and densely
    assert prob.deviance(list(fit.theta)) == pytest.approx(fit.objective, rel=1e-12, abs=1e-12)
    close(f(fit.theta), fit.objective, 1e-9, d.n, "dense objective at the fitted theta")
    if fit.objective <= ref.fun + tol:
        return
    local = scipy.optimize.minimize(f, fit.theta, method="L-BFGS-B", bounds=bounds)
    assert local.fun >= fit.objective - tol, ("fit() stopped short of a local minimum", fit.theta, local.x)
    refit = prob.fit(theta_start=list(ref.x))
    assert refit.objective <= ref.fun + tol, (refit.objective, ref.fun, refit.theta, ref.x)


# --------------------------------------------------------------------------------------
# Bad input: ValueError, never a crash
# --------------------------------------------------------------------------------------


def _base(n=12):
    rng = np.random.default_rng(1)
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    y = rng.normal(size=n)
    codes = (np.arange(n) % 3).astype(np.int64)
    Z = np.column_stack([np.ones(n), rng.normal(size=n)])
    return dict(x=X, y=y, terms=[(codes, 3, Z, "unstructured")], weights=np.ones(n), offset=np.zeros(n))


def _term(**kw):
    b = _base()
    c, L, Z, corr = b["terms"][0]
    vals = dict(codes=c, L=L, Z=Z, corr=corr)
    vals.update(kw)
    return {"terms": [(vals["codes"], vals["L"], vals["Z"], vals["corr"])]}


def _nan_at(name, value=np.nan):
    a = _base()[name].copy()
    a.flat[3] = value
    return {name: a}


BAD_INPUTS = {
    "code out of range (= n_levels)": _term(codes=np.array([0, 1, 2, 3] * 3, dtype=np.int64)),
    "negative code": _term(codes=np.array([0, 1, 2, -1] * 3, dtype=np.int64)),
    "n_levels = 0": _term(L=0),
    "codes too short": _term(codes=np.zeros(11, dtype=np.int64)),
    "Z too long": _term(Z=np.ones((13, 2))),
    "Z with no columns": _term(Z=np.ones((12, 0))),
    "y too short": {"y": np.zeros(11)},
    "X too long": {"x": np.ones((13, 2))},
    "weights wrong length": {"weights": np.ones(13)},
    "offset wrong length": {"offset": np.zeros(11)},
    "NaN in y": _nan_at("y"),
    "inf in y": _nan_at("y", np.inf),
    "NaN in X": _nan_at("x"),
    "NaN in offset": _nan_at("offset"),
    "NaN in weights": _nan_at("weights"),
    "NaN in Z": _term(Z=np.where(np.arange(24).reshape(12, 2) == 5, np.nan, 1.0)),
    "negative weight": _nan_at("weights", -0.5),
    "all weights zero": {"weights": np.zeros(12)},
    "non-contiguous codes": _term(codes=np.repeat(np.arange(12) % 3, 2).astype(np.int64)[::2]),
    "reversed codes view": _term(codes=(np.arange(12) % 3).astype(np.int64)[::-1]),
    "non-contiguous y": {"y": np.repeat(np.arange(12.0), 2)[::2]},
    "non-contiguous weights": {"weights": np.ones(24)[::2]},
    "non-contiguous offset": {"offset": np.zeros(24)[::2]},
    "codes float64": _term(codes=(np.arange(12) % 3).astype(np.float64)),
    "codes int32": _term(codes=(np.arange(12) % 3).astype(np.int32)),
    "codes as list": _term(codes=list(np.arange(12) % 3)),
    "y int64": {"y": np.arange(12)},
    "y 2-d": {"y": np.zeros((12, 1))},
    "X float32": {"x": np.ones((12, 2), dtype=np.float32)},
    "X 1-d": {"x": np.ones(12)},
    "Z 1-d": _term(Z=np.ones(12)),
    "weights int64": {"weights": np.ones(12, dtype=np.int64)},
    "offset float32": {"offset": np.zeros(12, dtype=np.float32)},
    "no random-effects terms": {"terms": []},
    "term tuple of length 3": {"terms": [((np.arange(12) % 3).astype(np.int64), 3, np.ones((12, 1)))]},
    "unknown covariance structure": _term(corr="toeplitz"),
    "covariance given as a bool": _term(corr=True),
    "REML with n <= p": {"x": np.ones((12, 12)) + np.eye(12)},
}


# What each message must say: the array, and the row or size at fault.
BAD_INPUT_MESSAGES = {
    "code out of range (= n_levels)": r"term 0: grouping code 3 at row 3 is outside 0\.\.3",
    "negative code": r"term 0: grouping code -1 at row 3 is outside 0\.\.3",
    "n_levels = 0": r"term 0 must have a positive number of levels, not 0",
    "codes too short": r"term 0: 11 grouping codes for 12 observations",
    "Z too long": r"term 0: Z has 13 rows for 12 observations",
    "Z with no columns": r"term 0 has no columns",
    "y too short": r"X has 12 rows but the response has 11",
    "X too long": r"X has 13 rows but the response has 12",
    "weights wrong length": r"weights have length 13 but there are 12 observations",
    "offset wrong length": r"offset has length 11 but there are 12 observations",
    "NaN in y": r"response has a non-finite value at row 3",
    "inf in y": r"response has a non-finite value at row 3",
    "NaN in X": r"column 1 of X has a non-finite value at row 1",
    "NaN in offset": r"offset has a non-finite value at row 3",
    "NaN in weights": r"weights must be finite and non-negative; row 3 has NaN",
    "NaN in Z": r"term 0: column 1 has a non-finite value at row 2",
    "negative weight": r"weights must be finite and non-negative; row 3 has -0\.5",
    "all weights zero": r"all weights are zero",
    "non-contiguous codes": r"codes of random-effects term 0 must be a contiguous 1-d array",
    "reversed codes view": r"codes of random-effects term 0 must be a contiguous 1-d array",
    "non-contiguous y": r"^y must be a contiguous 1-d array",
    "non-contiguous weights": r"weights must be a contiguous 1-d array",
    "non-contiguous offset": r"offset must be a contiguous 1-d array",
    "codes float64": r"codes of random-effects term 0 must be a 1-d int64 numpy array",
    "codes int32": r"codes of random-effects term 0 must be a 1-d int64 numpy array",
    "codes as list": r"codes of random-effects term 0 must be a 1-d int64 numpy array",
    "y int64": r"^y must be a 1-d float64 numpy array",
    "y 2-d": r"^y must be a 1-d float64 numpy array",
    "X float32": r"X must be a 2-d float64 numpy array",
    "X 1-d": r"X must be a 2-d float64 numpy array",
    "Z 1-d": r"Z of random-effects term 0 must be a 2-d float64 numpy array",
    "weights int64": r"weights must be a 1-d float64 numpy array",
    "offset float32": r"offset must be a 1-d float64 numpy array",
    "no random-effects terms": r"needs at least one random-effects term",
    "term tuple of length 3": r"tuple of length 4",
    "unknown covariance structure": r"random-effects term 0: .*unknown covariance structure \"toeplitz\"",
    "covariance given as a bool": r"random-effects term 0: the covariance structure must be given by name \(a str\), not bool",
    "REML with n <= p": r"REML needs more observations with positive weight \(12\) than fixed-effect columns \(12\)",
}


@pytest.mark.parametrize("bad", list(BAD_INPUTS), ids=list(BAD_INPUTS))
def test_bad_input_raises_value_error(bad):
    args = _base()
    args.update(BAD_INPUTS[bad])
    with pytest.raises(ValueError, match=BAD_INPUT_MESSAGES[bad]):
        LinearMixedModel(args["x"], args["y"], args["terms"], weights=args["weights"], offset=args["offset"], reml=True)


def test_base_input_is_valid():
    a = _base()
    prob = LinearMixedModel(a["x"], a["y"], a["terms"], weights=a["weights"], offset=a["offset"])
    assert np.isfinite(prob.deviance(list(prob.theta_start)))


@pytest.mark.parametrize(
    "theta", [[1.0, 0.0], [1.0, 0.0, 1.0, 0.5], [np.nan, 0.0, 1.0], [1.0, np.inf, 1.0]], ids=["short", "long", "nan", "inf"]
)
def test_bad_theta_raises_value_error(theta):
    a = _base()
    prob = LinearMixedModel(a["x"], a["y"], a["terms"], weights=a["weights"], offset=a["offset"])
    with pytest.raises(ValueError, match=r"theta has length|non-finite"):
        prob.deviance(theta)
    with pytest.raises(ValueError, match=r"theta has length|non-finite"):
        prob.estimates(theta)
    with pytest.raises(ValueError, match=r"theta_start has length|non-finite"):
        prob.fit(theta_start=theta)


@SETTINGS
@given(designs(), st.data())
def test_corrupted_random_design_raises_value_error(d, data):
    """A valid random design made invalid in one way raises ValueError."""
    t = data.draw(st.integers(0, len(d.codes) - 1))
    i = data.draw(st.integers(0, d.n - 1))
    kind = data.draw(
        st.sampled_from(["code_high", "code_negative", "nan_y", "neg_weight", "short_codes", "short_y", "int32_codes", "strided_codes"])
    )
    codes = [c.copy() for c in d.codes]
    y, w = d.y.copy(), d.w().copy()
    if kind == "code_high":
        codes[t][i] = d.n_levels[t] + data.draw(st.integers(0, 5))
    elif kind == "code_negative":
        codes[t][i] = -data.draw(st.integers(1, 5))
    elif kind == "nan_y":
        y[i] = np.nan
    elif kind == "neg_weight":
        w[i] = -data.draw(st.floats(1e-6, 10.0))
    elif kind == "short_codes":
        codes[t] = codes[t][:-1]
    elif kind == "short_y":
        y = y[:-1]
    elif kind == "int32_codes":
        codes[t] = codes[t].astype(np.int32)
    elif kind == "strided_codes":
        codes[t] = np.repeat(codes[t], 2)[::2]
    terms = [(c, L, z, structure(corr)) for c, L, z, corr in zip(codes, d.n_levels, d.Z, d.correlated)]
    expected = {
        "code_high": rf"term {t}: grouping code \d+ at row {i} is outside",
        "code_negative": rf"term {t}: grouping code -\d+ at row {i} is outside",
        "nan_y": rf"response has a non-finite value at row {i}",
        "neg_weight": rf"weights must be finite and non-negative; row {i} has -",
        "short_codes": rf"term {t}: {d.n - 1} grouping codes for {d.n} observations",
        "short_y": rf"X has {d.n} rows but the response has {d.n - 1}",
        "int32_codes": rf"codes of random-effects term {t} must be a 1-d int64 numpy array",
        "strided_codes": rf"codes of random-effects term {t} must be a contiguous 1-d array",
    }[kind]
    with pytest.raises(ValueError, match=expected):
        LinearMixedModel(d.X, y, terms, weights=w, offset=d.offset, reml=data.draw(st.booleans()))
