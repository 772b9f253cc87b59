"""lme4's ``profile(fit)``: ζ on a path out from each estimate, for ``m.profile()``.

For each parameter (lme4's ``sd_``/``cor_`` names, ``sigma``, the fixed effects), ζ(v) =
sign(v - v̂)·√(dev(v) - dev(v̂)) is followed outward on both sides, as lme4's profile walks:
each next value is aimed at a ζ step of ``cutoff / 8`` (cutoff = qnorm(1 - alphamax/2))
from the local slope of ζ, until |ζ| passes the cutoff, a bound is reached (sd 0, cor ±1) or
``maxpts`` points are used. Every point is an optimisation of the other parameters (in the
core for a linear mixed model: :mod:`merx.models.profile`), warm-started from the last one.
The result is a long DataFrame (parameter, value, zeta), one row per point, the estimate
(ζ = 0) included; ``confint(method="profile")`` gives the crossings exactly.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any, Callable

import pandas as pd

from ..errors import MerxError
from ..progress import ProgressBar
from ..results.confint import parameter_names, register_profile_table
from .profile import _Profiler
from .profile_glmm import _GlmmProfiler

__all__ = ["profile_table"]


def _walk(zeta: Callable, est: float, first_step: float, side: int, cutoff: float, lower: float | None,
          upper: float | None, max_points: int) -> list:
    """(value, ζ) points from the estimate outward on one side."""
    points = []
    v, z = est, 0.0
    step = first_step
    delta = cutoff / 8.0
    for _ in range(max_points):
        nxt = v + side * step
        at_bound = False
        if lower is not None and nxt <= lower:
            nxt, at_bound = lower, True
        if upper is not None and nxt >= upper:
            nxt, at_bound = upper, True
        if nxt == v:
            break
        zn = zeta(nxt)
        if not math.isfinite(zn):
            break
        points.append((nxt, zn))
        dz = abs(zn - z)
        # the next step aims at a ζ change of delta, from the slope of the last one
        step = abs(nxt - v) * (delta / dz if dz > 1e-12 else 2.0)
        step = min(step, 4.0 * abs(nxt - v))
        v, z = nxt, zn
        if abs(z) >= cutoff or at_bound:
            break
    return points


def profile_table(result: Any, which: Any = None, alphamax: float = 0.01, maxpts: int = 100,
                  progress: bool | None = None) -> pd.DataFrame:
    """lme4's ``profile(fit, which, alphamax, maxpts)`` as a long DataFrame with columns
    ``parameter``, ``value``, ``zeta``. ``which``: parameter names (default all), or
    ``"theta_"`` (variance components) / ``"beta_"`` (fixed effects). ``progress``: a bar
    advanced per parameter (:mod:`merx.progress`)."""
    if not 0 < alphamax < 1:
        raise ValueError(f"alphamax must be between 0 and 1, not {alphamax!r}")
    if maxpts < 2:
        raise ValueError(f"maxpts must be at least 2, not {maxpts!r}")
    cutoff = NormalDist().inv_cdf(1.0 - alphamax / 2.0)
    glmm = type(result).__name__ == "GlmerResult"
    prof = (_GlmmProfiler if glmm else _Profiler)(result, 0.95)
    var_names = parameter_names(list(result.frame.blocks), result.use_scale)
    x_names = list(result.frame.x_names)
    every = var_names + x_names
    if which is None:
        names = every
    elif which == "theta_":
        names = var_names
    elif which == "beta_":
        names = x_names
    else:
        names = [which] if isinstance(which, str) else list(which)
        unknown = [n for n in names if n not in every]
        if unknown:
            raise MerxError(f"unknown parameters {unknown}: the model's are {every}")
    rows = []
    with ProgressBar(len(names), "profile", progress) as bar:
        for name in names:
            if name in x_names:
                j = x_names.index(name)
                est, se = float(prof.beta0[j]), float(prof.se0[j])
                make, first, lo, hi = (lambda j=j: prof._zeta_beta(j)), 0.5 * se, None, None
            else:
                w = var_names.index(name)
                kind, est = prof.kinds[w], float(prof.p0[w])
                make = lambda w=w: prof._zeta_var(w)  # noqa: E731
                if kind == "cor":
                    first, lo, hi = 0.1 * (1.0 - abs(est)) + 1e-3, -1.0, 1.0
                else:
                    first = 0.1 * est if est > 1e-8 * prof.scale else 0.05 * prof.scale
                    lo, hi = (0.0 if kind == "sd" else 1e-8 * prof.scale), None
            rows.append((name, est, 0.0))
            for side in (-1, 1):
                for v, z in _walk(make(), est, first, side, cutoff, lo, hi, maxpts // 2):
                    rows.append((name, v, z))
            bar.update()
    out = pd.DataFrame(rows, columns=["parameter", "value", "zeta"])
    out["parameter"] = pd.Categorical(out["parameter"], categories=names)
    return out.sort_values(["parameter", "value"], kind="stable").reset_index(drop=True)


register_profile_table(profile_table)
