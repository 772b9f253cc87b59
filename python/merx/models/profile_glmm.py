"""Likelihood-profile confidence intervals of a GLMM (lme4's ``profile.merMod`` of a
``glmerMod``, then ``confint.thpr``), for Laplace fits (``nAGQ = 1``) of the families without a
scale (binomial, Poisson).

The profiled criterion is the Laplace deviance of (θ, β). A variance component (standard
deviation or correlation, on θ's scale: σ = 1) is held while the other components and β are
minimised: for the standard deviation of a scalar term (sd = θ) by one core fit with that θ
held (lme4's two stages, warm-started), otherwise by Nelder–Mead over core evaluations
``deviance(theta, beta)``; a fixed
effect β_j is held in the offset and the model without column j refitted by the core. The
crossings of ζ = ±z are found as for a linear mixed model (:mod:`merx.models.profile`).
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any, Callable

import numpy as np

from ..errors import MerxError
from ..results.confint import register_profiler
from .glmer import glmm_problem
from .profile import _Profiler, _SdCor, correlation_lower_ends, nelder_mead, profile_limits

__all__ = ["glmm_profile_limits"]


def _trials(frame: Any) -> list | None:
    """The binomial trials apart from prior weights (as ``glmer`` gives them to the core)."""
    n = frame.binomial_n
    if n is None or frame.weights is None or not np.any(n > 1) or np.allclose(frame.weights, n):
        return None
    return [float(v) for v in n]


class _GlmmProfiler(_Profiler):
    def __init__(self, result: Any, level: float):  # noqa: D107 - no super(): another model kind
        family = str(result.fit.family)
        if result.nAGQ != 1 or result.use_scale or getattr(result, "_shape_estimated", False) or family not in (
            "binomial",
            "poisson",
        ):
            raise MerxError(
                "profile intervals of a GLMM are available for Laplace fits (nAGQ=1) of the binomial "
                "and Poisson families: use method='Wald'"
            )
        self.frame = frame = result.frame
        self.family, self.link, self.trials = family, str(result.fit.link), _trials(frame)
        self.problem = glmm_problem(frame, family, self.link, self.trials)
        fit = self.problem.fit(theta_start=[float(t) for t in result._theta], condvar=False)
        self.fit0 = fit
        self.dev0 = float(fit.objective)
        self.z = NormalDist().inv_cdf(0.5 + level / 2.0)
        self.sc = _SdCor(list(frame.blocks))
        pv = self.sc.from_theta(np.asarray(fit.theta, dtype=float), 1.0)
        self.nv = pv.size
        self.cor_lower = correlation_lower_ends(frame.blocks)
        self.beta0 = np.asarray(fit.beta, dtype=float)
        self.se0 = np.sqrt(np.diag(np.asarray(fit.vcov_beta, dtype=float)))
        self.p0 = np.concatenate([pv, self.beta0])
        self.kinds = list(self.sc.kinds[:-1]) + ["held"] + ["beta"] * self.beta0.size
        self.scale = 1.0

    def _step(self, i: int, x: float) -> float:
        """Nelder-Mead's initial step of free parameter i at x."""
        if self.kinds[i] == "beta":
            return 0.5 * self.se0[i - self.nv]
        return 0.1 if self.kinds[i] == "cor" else max(0.1 * abs(x), 0.02 * self.scale)

    def _theta_index(self, w: int) -> int | None:
        """θ's index of parameter w when it is the standard deviation of a scalar term (there
        sd = θ, σ being 1): such a point is a core fit with that θ held."""
        pos_p = pos_t = 0
        for k, structure in self.sc.terms:
            full = structure == "unstructured"
            n_p = k + (k * (k - 1) // 2 if full else 0)
            n_t = k * (k + 1) // 2 if full else k
            if pos_p <= w < pos_p + n_p:
                return pos_t if k == 1 else None
            pos_p, pos_t = pos_p + n_p, pos_t + n_t
        return None

    def _min_dev(self, w: int, v: float, start: np.ndarray) -> tuple[float, np.ndarray]:
        """min over the other parameters (and β) of the Laplace deviance with parameter w held
        at v: a core fit with θ_w held (both of lme4's stages, no Hessian) for a scalar term's
        sd, else Nelder-Mead over core evaluations."""
        i = self._theta_index(w)
        if i is not None:
            theta0 = self.sc.to_theta(start[: self.nv])
            theta0 = [float(t) for t in (theta0 if theta0 is not None else self.fit0.theta)]
            theta0[i] = float(v)
            fit = self.problem.fit(theta_start=theta0, fixed=[(i, float(v))], condvar=False, vcov=False)
            theta = np.asarray(fit.theta, dtype=float)
            p = np.concatenate([self.sc.from_theta(theta, 1.0), np.asarray(fit.beta, dtype=float)])
            return float(fit.objective), p
        kinds = self.kinds
        free = [i for i in range(len(kinds)) if i != w and kinds[i] != "held"]

        def to_p(x: np.ndarray) -> np.ndarray:
            p = start.copy()
            p[w] = v
            for xi, i in zip(x, free):
                p[i] = math.sin(xi) if kinds[i] == "cor" else xi if kinds[i] == "beta" else abs(xi)
            return p

        start = start.copy()
        start[w] = v
        others = [i for i in free if kinds[i] == "cor"]
        for _ in range(60):  # the held correlation with the others of the start may not be PSD
            if self.sc.to_theta(start[: self.nv]) is not None:
                break
            start[others] *= 0.8
        else:
            start[others] = 0.0
        x0 = np.array([math.asin(max(-1.0, min(1.0, start[i]))) if kinds[i] == "cor" else start[i] for i in free])
        step = np.array([self._step(i, x0[j]) for j, i in enumerate(free)])
        fun = lambda x: self.deviance(to_p(x))  # noqa: E731
        x, fx = nelder_mead(fun, x0, step)
        x, fx = nelder_mead(fun, x, step * 0.1)  # a restart: Nelder-Mead can stall
        return fx, to_p(x)

    def deviance(self, p: np.ndarray) -> float:
        theta = self.sc.to_theta(p[: self.nv])
        if theta is None:
            return math.inf
        try:
            return float(self.problem.deviance([float(t) for t in theta], beta=[float(b) for b in p[self.nv :]]))
        except (ValueError, ArithmeticError):
            return math.inf

    def _zeta_beta(self, j: int) -> Callable:
        X = np.asarray(self.frame.X, dtype=np.float64)
        xj = X[:, j].copy()
        Xr = np.ascontiguousarray(np.delete(X, j, axis=1))
        o = np.zeros(X.shape[0]) if self.frame.offset is None else np.asarray(self.frame.offset, dtype=np.float64)
        state = {"theta": [float(t) for t in self.fit0.theta]}

        def zeta(v: float) -> float:
            model = glmm_problem(self.frame, self.family, self.link, self.trials, X=Xr, offset=o + v * xj)
            fit = model.fit(theta_start=state["theta"], condvar=False)
            state["theta"] = [float(t) for t in fit.theta]
            return math.copysign(math.sqrt(max(float(fit.objective) - self.dev0, 0.0)), v - self.beta0[j])

        return zeta


def glmm_profile_limits(result: Any, names: list, level: float, progress: bool | None = None) -> dict:
    """Profile-interval limits ``{name: (lower, upper)}`` of a GLMM's named parameters."""
    return profile_limits(result, names, level, profiler=_GlmmProfiler, progress=progress)


register_profiler("GlmerResult", glmm_profile_limits)
