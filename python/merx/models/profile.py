"""Likelihood-profile confidence intervals of a linear mixed model: lme4's ``profile.merMod``
followed by ``confint.thpr``, with the crossing points found by root search instead of lme4's
spline interpolation of a grid.

As lme4 (``devfun2`` refits a REML model with ML first), the profiled criterion is the ML
deviance, also for a REML fit; ζ(p) = sign(p - p̂)·√(dev(p) - dev(p̂)) with every other
parameter re-optimised, and the limits are where ζ = ±z (z the normal quantile of the level).

* Variance components: lme4's parameters (σ-scale standard deviations and correlations per
  term, then σ), with θ = chol(Σ)/σ. The deviance at (θ, σ) is
  ``ldL2 + pwrss/σ² + n log(2πσ²)`` (β profiled by the penalised least squares); each point
  holds one parameter and minimises over the others in the core (``merx.core`` profile.rs:
  BOBYQA on the model's symbolic analysis, warm-started from the previous point). A standard
  deviation whose profile stays below z down to 0 gets the limit 0, a correlation below z up
  to ±1 the limit ±1 (lme4's too).
* Fixed effects β_j: the ML refit of the model without column j and response y - b x_j (lme4's
  offset; the same thing), the whole fit done by the core.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any, Callable

import numpy as np

from .. import _core
from ..errors import MerxError
from ..progress import ProgressBar
from ..results.confint import parameter_names, register_profiler
from ..results.theta_layout import block_covariance, theta_size, variance_parameter_entries
from .fitting import core_terms
from .lmer import _problem_from_frame

__all__ = ["profile_limits", "nelder_mead"]


def nelder_mead(f: Callable, x0: np.ndarray, step: np.ndarray, ftol: float = 1e-9, max_eval: int = 0) -> tuple:
    """Minimises ``f`` from ``x0`` (initial simplex x0 + step_i e_i); (x, f(x)). Stops when the
    simplex's values agree within ``ftol`` (absolute) and its points within 1e-6 of their size."""
    n = x0.size
    max_eval = max_eval or 600 * n
    pts = [x0.copy()] + [x0 + np.eye(n)[i] * step[i] for i in range(n)]
    vals = [f(p) for p in pts]
    evals = n + 1
    while evals < max_eval:
        order = np.argsort(vals)
        pts = [pts[i] for i in order]
        vals = [vals[i] for i in order]
        spread = max(np.max(np.abs(p - pts[0])) for p in pts[1:])
        if vals[-1] - vals[0] <= ftol and spread <= 1e-6 * (1.0 + np.max(np.abs(pts[0]))):
            break
        if vals[-1] - vals[0] <= ftol * 1e-3:
            break
        c = np.mean(pts[:-1], axis=0)
        xr = c + (c - pts[-1])
        fr = f(xr)
        evals += 1
        if fr < vals[0]:
            xe = c + 2.0 * (c - pts[-1])
            fe = f(xe)
            evals += 1
            pts[-1], vals[-1] = (xe, fe) if fe < fr else (xr, fr)
        elif fr < vals[-2]:
            pts[-1], vals[-1] = xr, fr
        else:
            xc = c + 0.5 * (pts[-1] - c) if fr >= vals[-1] else c + 0.5 * (xr - c)
            fc = f(xc)
            evals += 1
            if fc < min(fr, vals[-1]):
                pts[-1], vals[-1] = xc, fc
            else:
                for i in range(1, n + 1):
                    pts[i] = pts[0] + 0.5 * (pts[i] - pts[0])
                    vals[i] = f(pts[i])
                evals += n
    i = int(np.argmin(vals))
    return pts[i], vals[i]


class _SdCor:
    """lme4's variance-component parameters (sd/cor per term, σ) ↔ (θ, σ) for a model's
    random-effects blocks: the core's map (``merx._core.sdcor_of_theta`` /
    ``theta_of_sdcor``, the one the core's profile points use)."""

    def __init__(self, blocks: list):
        self.terms = [(len(b.columns), block_covariance(b)) for b in blocks]
        n_theta = sum(theta_size(k, covariance) for k, covariance in self.terms)
        try:
            self.kinds = list(_core.sdcor_of_theta(self.terms, [0.0] * n_theta, 1.0)[1])
        except ValueError as err:  # a structure without lme4's sd/cor parameters
            raise MerxError(f"{err}") from None

    def from_theta(self, theta: np.ndarray, sigma: float) -> np.ndarray:
        return np.asarray(_core.sdcor_of_theta(self.terms, [float(t) for t in theta], float(sigma))[0])

    def to_theta(self, p: np.ndarray) -> np.ndarray | None:
        theta = _core.theta_of_sdcor(self.terms, [float(v) for v in p])
        return None if theta is None else np.asarray(theta)


def correlation_lower_ends(blocks: list) -> list:
    """Per variance parameter (σ last) the lower end of a correlation: -1, or -1/(k-1) for
    glmmTMB's cs (heterogeneous compound symmetry), below which its matrix is not PSD."""
    return [
        -1.0 / (len(b.columns) - 1) if block_covariance(b) == "heterogeneous_compound_symmetry" else -1.0
        for b in blocks
        for _ in variance_parameter_entries(b.group, list(b.columns), block_covariance(b))
    ] + [-1.0]


class _Profiler:
    """The profile of a linear mixed model: each point of a variance component is one
    optimisation in the core (``merx._core.variance_profile_point``, BOBYQA over the other
    sd/cor/σ, warm-started from the previous point)."""

    def __init__(self, result: Any, level: float):
        self.frame = result.frame
        self.problem = _problem_from_frame(self.frame, REML=False)
        fit = self.problem.fit(theta_start=[float(t) for t in result._theta])
        self.fit0 = fit
        self.dev0 = float(fit.deviance_ml)
        self.z = NormalDist().inv_cdf(0.5 + level / 2.0)
        sc = _SdCor(list(self.frame.blocks))
        self.p0 = sc.from_theta(np.asarray(fit.theta, dtype=float), float(fit.sigma))
        self.kinds = list(sc.kinds)
        self.cor_lower = correlation_lower_ends(self.frame.blocks)
        self.scale = float(fit.sigma)
        self.beta0 = np.asarray(fit.beta, dtype=float)
        self.se0 = np.sqrt(np.diag(np.asarray(fit.vcov_beta, dtype=float)))

    def deviance(self, p: np.ndarray) -> float:
        """The ML deviance at (sd, cor, σ) = p, β profiled."""
        return float(_core.sdcor_deviance_at(self.problem, [float(v) for v in p]))

    def _min_dev(self, w: int, v: float, start: np.ndarray) -> tuple[float, np.ndarray]:
        """min over the other parameters of the deviance with parameter w held at v."""
        d, p = _core.variance_profile_point(self.problem, [float(x) for x in start], w, float(v), self.scale)
        return float(d), np.asarray(p, dtype=float)

    # -- ζ and the crossing points ------------------------------------------

    def _zeta_var(self, w: int) -> Callable:
        state = {"start": self.p0.copy()}

        def zeta(v: float) -> float:
            d, p = self._min_dev(w, v, state["start"])
            state["start"] = p
            return math.copysign(math.sqrt(max(d - self.dev0, 0.0)), v - self.p0[w])

        return zeta

    def _zeta_beta(self, j: int) -> Callable:
        X = np.asarray(self.frame.X, dtype=np.float64)
        xj = X[:, j].copy()
        y = np.asarray(self.frame.y, dtype=np.float64)
        terms, names = core_terms(self.frame)
        w = None if self.frame.weights is None else np.ascontiguousarray(self.frame.weights, dtype=np.float64)
        o = None if self.frame.offset is None else np.ascontiguousarray(self.frame.offset, dtype=np.float64)
        Xr = np.ascontiguousarray(np.delete(X, j, axis=1))
        model = _core.LinearMixedModel(Xr, y.copy(), terms, weights=w, offset=o, reml=False, term_names=names)
        state = {"theta": [float(t) for t in self.fit0.theta]}

        def zeta(v: float) -> float:
            model.set_response(np.ascontiguousarray(y - v * xj))
            fit = model.fit(theta_start=state["theta"], condvar=False)
            state["theta"] = [float(t) for t in fit.theta]
            return math.copysign(math.sqrt(max(float(fit.deviance_ml) - self.dev0, 0.0)), v - self.beta0[j])

        return zeta

    def limit(self, zeta: Callable, est: float, trials: list, bound: float | None, side: int) -> float:
        """The v on one side of ``est`` where ζ(v) = side·z: ``trials`` are the points tried
        outward until |ζ| ≥ z (``bound``, where given, is the last: its limit if ζ stays below)."""
        target = side * self.z
        a, fa = est, -target  # g = ζ - target: at est, g = -target
        for v in trials:
            fv = zeta(v) - target
            if (fv > 0) == (side > 0) or fv == 0:
                return _root(lambda t: zeta(t) - target, a, fa, v, fv, abs(v - est))
            a, fa = v, fv
        return bound if bound is not None else math.nan


def _root(g: Callable, a: float, fa: float, b: float, fb: float, width: float) -> float:
    """Illinois regula falsi on a bracketing [a, b] (g(a), g(b) of opposite signs)."""
    side = 0
    for _ in range(60):
        c = b - fb * (b - a) / (fb - fa) if fb != fa else 0.5 * (a + b)
        fc = g(c)
        if abs(fc) < 1e-7 or abs(b - a) < 1e-9 * max(width, 1e-300):
            return c
        if (fc > 0) == (fb > 0):
            b, fb = c, fc
            if side == -1:
                fa *= 0.5
            side = -1
        else:
            a, fa = c, fc
            if side == 1:
                fb *= 0.5
            side = 1
    return c


def profile_limits(result: Any, names: list, level: float, profiler: Callable = _Profiler,
                   progress: bool | None = None) -> dict:
    """Profile-interval limits ``{name: (lower, upper)}`` of the named parameters of a linear
    mixed model (lme4's ``confint(fit, parm, level, method = "profile")``; ``profiler``: the
    GLMM's in :mod:`merx.models.profile_glmm`). ``progress``: a bar advanced per parameter; the
    profiler works on its own core problem, so Ctrl-C (raised when the core's current
    optimisation returns) leaves the result as it was."""
    prof = profiler(result, level)
    var_names = parameter_names(list(result.frame.blocks), result.use_scale)
    x_names = list(result.frame.x_names)
    out = {}
    with ProgressBar(len(names), "profile", progress) as bar:
        for name in names:
            out[name] = _limits(prof, name, var_names, x_names)
            bar.update()
    return out


def _limits(prof: Any, name: str, var_names: list, x_names: list) -> tuple:
    """The lower and upper profile limits of one parameter."""
    if name in x_names:
        j = x_names.index(name)
        est, se = prof.beta0[j], prof.se0[j]
        zeta = prof._zeta_beta(j)
        steps = [se * f for f in (1.5, 2.5, 4, 7, 12, 25, 50, 100)]
        lo = prof.limit(zeta, est, [est - s for s in steps], None, -1)
        zeta = prof._zeta_beta(j)
        hi = prof.limit(zeta, est, [est + s for s in steps], None, 1)
    else:
        w = var_names.index(name)
        kind, est = prof.kinds[w], prof.p0[w]
        if kind == "cor":
            fr = (0.1, 0.25, 0.5, 0.75, 0.9, 0.97, 1.0)
            end = prof.cor_lower[w]
            lo = prof.limit(prof._zeta_var(w), est, [est - f * (est - end) for f in fr], end, -1)
            hi = prof.limit(prof._zeta_var(w), est, [est + f * (1 - est) for f in fr], 1.0, 1)
        else:
            down = [est * f for f in (0.8, 0.6, 0.4, 0.25, 0.12, 0.05, 0.01)]
            down = down + [0.0] if kind == "sd" else down + [est * 1e-3, est * 1e-5]
            up_base = est if est > 1e-8 * prof.scale else 0.05 * prof.scale
            up = [up_base * f for f in (1.25, 1.6, 2.2, 3.2, 5, 8, 15, 30, 100, 1000)]
            lo = 0.0 if est <= 0 else prof.limit(prof._zeta_var(w), est, down, 0.0 if kind == "sd" else None, -1)
            hi = prof.limit(prof._zeta_var(w), est, up, None, 1)
    return lo, hi


register_profiler("LmerResult", profile_limits)
