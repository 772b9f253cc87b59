"""Confidence intervals of a fitted mixed model, as lme4's ``confint.merMod``.

The table has lme4's rows: per random-effects term the standard deviations and
correlations on the σ scale (``sd_(Intercept)|Subject``, ``cor_Days.(Intercept)|Subject``,
``sd_Days|Subject``, in the order of θ: column by column, each column's standard deviation
followed by its correlations with the later columns), ``sigma`` where the model has a
residual scale, then the fixed effects by name; the columns are R's percent labels of the
two tail probabilities (``2.5 %``, ``97.5 %``).

``method="Wald"``: β ± z·SE with z the normal quantile; the variance-component rows are NA
(NaN), as lme4 prints them. ``method="profile"`` (lme4's default) is the likelihood-profile
interval; its refits live with the model interfaces (:mod:`merx.models.profile`,
:mod:`merx.models.profile_glmm`), which register their profilers here (the results stage imports nothing of the models stage).
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from ..errors import MerxError
from .theta_layout import block_covariance, variance_parameter_entries

__all__ = ["confint_table", "parameter_names", "percent_labels", "register_profiler", "register_profile_table",
           "PROFILERS", "PROFILE_TABLES"]

#: Profile-interval functions by result class name, registered by :mod:`merx.models.profile`:
#: ``fn(result, names, level) -> {name: (lower, upper)}``.
PROFILERS: dict[str, Callable] = {}

METHODS = {"profile": "profile", "wald": "Wald", "boot": "boot"}


def register_profiler(class_name: str, fn: Callable) -> None:
    """Registers the profile-interval function of one result class."""
    PROFILERS[class_name] = fn


#: ``m.profile()``'s function, registered by :mod:`merx.models.profile_table`:
#: ``fn(result, which, alphamax, maxpts) -> DataFrame``.
PROFILE_TABLES: list = []


def register_profile_table(fn: Callable) -> None:
    PROFILE_TABLES[:] = [fn]


def percent_labels(level: float) -> list[str]:
    """R's ``paste(format(100 * a, trim = TRUE, scientific = FALSE, digits = 3), "%")`` of the
    tail probabilities a = ((1 - level)/2, 1 - (1 - level)/2)."""
    a = (1.0 - level) / 2.0
    vals = [100.0 * a, 100.0 * (1.0 - a)]
    decimals = 0
    for v in vals:
        r = float(f"{v:.2e}")  # three significant digits
        d = next(d for d in range(16) if abs(round(r, d) - r) <= 1e-12 * max(1.0, abs(r)))
        decimals = max(decimals, d)
    return [f"{v:.{decimals}f} %" for v in vals]


def parameter_names(blocks: Sequence[Any], use_scale: bool) -> list[str]:
    """lme4's names of the variance-component parameters (``sd_``/``cor_`` rows, ``sigma``);
    for glmmTMB's structures those of :func:`~merx.results.theta_layout.variance_parameter_entries`."""
    out: list[str] = []
    for b in blocks:
        out += [name for name, _, _ in variance_parameter_entries(b.group, list(b.columns), block_covariance(b))]
    if use_scale:
        out.append("sigma")
    return out


def _check_level(level: float) -> float:
    try:
        lv = float(level)
    except (TypeError, ValueError):
        raise MerxError(f"level must be a number between 0 and 1, not {level!r}") from None
    if not 0.0 < lv < 1.0:
        raise MerxError(f"level must be between 0 and 1 (exclusive), not {level!r}")
    return lv


def _select(parm: Any, var_names: list[str], fixed_names: list[str]) -> list[str]:
    """The rows that ``parm`` asks for, in lme4's meaning: None (all), names, 1-based positions,
    or the groups ``"theta_"`` (the variance components) and ``"beta_"`` (the fixed effects)."""
    every = var_names + fixed_names
    if parm is None:
        return every
    wanted = [parm] if isinstance(parm, (str, int, np.integer)) else list(parm)
    out: list[str] = []
    for p in wanted:
        if p == "theta_":
            out += var_names
        elif p == "beta_":
            out += fixed_names
        elif isinstance(p, str) and p in every:
            out.append(p)
        elif isinstance(p, (int, np.integer)) and not isinstance(p, bool) and 1 <= p <= len(every):
            out.append(every[int(p) - 1])  # R's 1-based position among the rows
        else:
            raise MerxError(
                f"unknown parameter {p!r} in parm: use 'theta_', 'beta_', positions 1 to {len(every)} "
                f"or names among {every}"
            )
    seen: set = set()
    return [p for p in out if not (p in seen or seen.add(p))]


def confint_table(result: Any, parm: Any = None, level: float = 0.95, method: str = "profile",
                  boot_limits: Callable | None = None, progress: bool | None = None) -> pd.DataFrame:
    """lme4's ``confint(fit, parm, level, method)`` of ``result`` as a DataFrame
    (``boot_limits(rows, level)``: the bootstrap intervals, for ``method="boot"``; ``progress``:
    the profiler's bar)."""
    key = METHODS.get(str(method).lower()) if isinstance(method, str) else None
    if key is None:
        raise MerxError(f"unknown confint method {method!r}: use 'profile', 'Wald' or 'boot'")
    if key == "boot" and boot_limits is None:
        raise MerxError("confint method 'boot' needs the fit's bootstrap: call fit.confint(method='boot', nsim=...)")
    level = _check_level(level)
    var_names = parameter_names(result._blocks, result.use_scale)
    fixed_names = list(result.frame.x_names)
    rows = _select(parm, var_names, fixed_names)
    labels = percent_labels(level)
    if key == "boot":
        table = boot_limits(rows, level)
        limits = {n: tuple(table.loc[n]) for n in rows}
    elif key == "Wald":
        z = NormalDist().inv_cdf(0.5 + level / 2.0)
        beta = result.fixef
        se = np.sqrt(np.diag(result.vcov.to_numpy()))
        se = pd.Series(se, index=beta.index)
        limits = {n: (beta[n] - z * se[n], beta[n] + z * se[n]) for n in fixed_names}
    else:
        fn = PROFILERS.get(type(result).__name__)
        if fn is None:
            raise MerxError(
                f"confint method 'profile' is not available for a {type(result).__name__}: use method='Wald'"
            )
        limits = fn(result, rows, level, progress=progress)
    out = np.array([limits.get(n, (math.nan, math.nan)) for n in rows], dtype=float).reshape(len(rows), 2)
    return pd.DataFrame(out, index=rows, columns=labels)
