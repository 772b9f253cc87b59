"""nlme's ``intervals(m)`` of an ``lme`` or ``gls`` fit: :func:`lme_intervals` and its
printed form :class:`LmeIntervals` (``print.intervals.lme``, ``print.intervals.gls``).

Fixed effects: β ± t(df) SE with nlme's denominator df. Variance parameters: Wald
intervals on nlme's unconstrained scale (``apVar``), transformed back: log SDs, correlations
through log((1 + r)/(1 - r)), the variance function's and correlation structure's own
unconstrained coefficients, log σ. ``apVar`` is the inverse Hessian of -log L in those
parameters, σ not profiled out (the REML likelihood for a REML fit).

nlme takes that Hessian from ``fdHess`` (a quadratic fitted to evaluations ``.relStep`` =
ε^(1/3) apart), which on gpa with ``varIdent`` is off by up to 2% from the exact one (with
``.relStep = 1e-4`` nlme agrees with merx to 0.05%). merx differentiates the likelihood by
central differences of the core's objective 1e-4 apart on the unconstrained scale (an
objective exact to ~1e-12, so the Hessian is good to ~1e-6): the same intervals up to nlme's
own rounding.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ..errors import MerxError
from ..rstyle.matrices import format_data_frame, print_named_vector
from ..rstyle.numbers import R_DIGITS, format_real
from .t_and_f import t_quantile

__all__ = ["LmeIntervals", "lme_intervals", "normal_quantile"]

# Step of the central differences on the unconstrained scale.
_STEP = 1e-4


def normal_quantile(p: float) -> float:
    """R's ``qnorm(p)`` for 0 < p < 1 (Newton on the error function from a close start)."""
    if not 0.0 < p < 1.0:
        raise MerxError(f"a probability strictly between 0 and 1 is needed, not {p}")
    x = math.sqrt(2.0) * _erfinv(2.0 * p - 1.0)
    for _ in range(3):  # Newton on Φ(x) - p
        x -= (0.5 * math.erfc(-x / math.sqrt(2.0)) - p) / (math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi))
    return x


def _erfinv(y: float) -> float:
    """A start for the inverse error function (Giles' single-precision approximation)."""
    w = -math.log((1.0 - y) * (1.0 + y))
    if w < 5.0:
        w -= 2.5
        c = [2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
             -0.00125372503, -0.00417768164, 0.246640727, 1.50140941]
    else:
        w = math.sqrt(w) - 3.0
        c = [-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
             -0.0076224613, 0.00943887047, 1.00167406, 2.83297682]
    p = c[0]
    for ci in c[1:]:
        p = ci + p * w
    return p * y


class _Layout:
    """The unconstrained parameters of an lme fit: per random-effects block its log SDs and
    correlations on nlme's log((1+r)/(1-r)) scale, the residual structure's parameters as the
    core takes them, log σ; and the map back to the core's (θ, residual parameters)."""

    def __init__(self, result: Any):
        # gls holds one single-level term at θ = 0: no parameters of its own
        held = getattr(result, "held_group", None)
        self.n_held = sum(1 for b in result._blocks if b.group == held)
        self.blocks = [b for b in result._blocks if b.group != held]
        self.structures = [b.covariance for b in self.blocks]
        self.sizes = [len(b.columns) for b in self.blocks]
        self.n_residual = int(np.asarray(result.fit.residual_parameters).size)

    def block_natural(self, cov: np.ndarray) -> list:
        sd = np.sqrt(np.diag(cov))
        k = sd.size
        out = list(np.log(sd))
        corr = cov / np.outer(sd, sd)
        for j in range(k):
            for i in range(j):
                out.append(math.log((1.0 + corr[i, j]) / (1.0 - corr[i, j])))
        return out

    def natural(self, result: Any) -> np.ndarray:
        x: list = []
        for cov, structure in zip(block_covariances(result)[self.n_held:], self.structures):
            nat = self.block_natural(cov)
            x += nat if structure != "diagonal" else nat[: cov.shape[0]]
        x += list(np.asarray(result.fit.residual_parameters, dtype=float).ravel())
        x.append(math.log(result.sigma))
        return np.asarray(x, dtype=float)

    def core_parameters(self, x: np.ndarray) -> tuple[list, float]:
        """(θ then residual parameters, σ) at unconstrained parameters x."""
        sigma = math.exp(x[-1])
        theta: list = [0.0] * self.n_held
        pos = 0
        for k, structure in zip(self.sizes, self.structures):
            sd = np.exp(x[pos: pos + k]) / sigma
            pos += k
            if structure == "diagonal":
                theta += list(sd)
                continue
            corr = np.eye(k)
            for j in range(k):
                for i in range(j):
                    corr[i, j] = corr[j, i] = math.tanh(0.5 * x[pos])
                    pos += 1
            t = np.linalg.cholesky(corr * np.outer(sd, sd))
            theta += [t[i, j] for j in range(k) for i in range(j, k)]
        return theta + list(x[pos: pos + self.n_residual]), sigma


def block_covariances(result: Any) -> list:
    """Var(b) of each random-effects block: σ² T T' from its θ."""
    out = []
    for b, theta in zip(result._blocks, result._theta_by_block()):
        k = len(b.columns)
        t = np.diag(theta) if b.covariance == "diagonal" else np.zeros((k, k))
        if b.covariance != "diagonal":  # lme4's θ: the lower triangle column by column
            idx = 0
            for j in range(k):
                for i in range(j, k):
                    t[i, j] = theta[idx]
                    idx += 1
        out.append(result.sigma ** 2 * t @ t.T)
    return out


def level_names(result: Any) -> dict:
    """nlme's name of each grouping level in ``intervals``: the level's own variable
    (``~1 | batch/cask``: "batch", "cask"), keyed by the block's group, outermost first."""
    if getattr(result, "held_group", None) is not None:
        return {}
    parts = [p.strip() for p in result.random_formula.split("|", 1)[1].split("/")]
    blocks = sorted({b.group: b for b in result._blocks}.values(), key=lambda b: len(b.levels))
    return {b.group: part for b, part in zip(blocks, parts)}


def _residual_frames(result: Any, lo: np.ndarray, x: np.ndarray, hi: np.ndarray) -> tuple:
    """(varStruct, corStruct) frames of the residual structure's parameters (the variance
    function's first, then the correlation's), each on nlme's natural scale: varIdent's
    ratios exp(·), varPower's power and varExp's expon as they are, the correlation's through
    the core's map (corAR1's Phi = tanh(·/2), corCAR1's plogis, corExp's range exp(·), ...)."""
    n_var = int(np.asarray(result._variance_params).size)
    var_struct = cor_struct = None
    if n_var:
        vs = result.varStruct
        back = np.exp if result._strata is not None else (lambda v: np.asarray(v, dtype=float))
        var_struct = _frame(*[back(arr[:n_var]) for arr in (lo, x, hi)], vs.index)
    if result.corStruct is not None:
        natural = result._problem.correlation_natural
        vals = [float(natural(float(arr[n_var]))) for arr in (lo, x, hi)]
        cor_struct = _frame(*[[v] for v in vals], result.corStruct.index)
    return var_struct, cor_struct


def _minus_twice_loglik(problem: Any, layout: _Layout, x: np.ndarray, n_resid: float) -> float:
    """-2 log L at unconstrained x with σ given: the core's profiled criterion D at (θ,
    residual parameters) plus n'(r - 1 - log r), r = σ̂²/σ², σ̂² = pwrss/n' (n' = N - p for
    REML, N for ML): -2 log L = D - n' log σ̂² - n' + n' log σ² + pwrss/σ²."""
    params, sigma = layout.core_parameters(x)
    est = problem.estimates(params, False)
    ratio = est.pwrss / n_resid / sigma ** 2
    return float(est.objective) + n_resid * (ratio - 1.0 - math.log(ratio))


def approximate_covariance(result: Any) -> tuple[np.ndarray, np.ndarray]:
    """nlme's ``apVar`` (inverse Hessian of -log L on the unconstrained scale) and the
    estimates there."""
    problem = result._problem
    if problem is None:
        raise MerxError("intervals() needs the fitted model's core problem (a result read from a pickle has none)")
    layout = _Layout(result)
    x0 = layout.natural(result)
    n_resid = result.nobs - (result._beta.size if result.method == "REML" else 0)
    k = x0.size
    f = lambda x: _minus_twice_loglik(problem, layout, x, n_resid)  # noqa: E731
    h = np.zeros((k, k))
    eye = np.eye(k) * _STEP
    f0 = f(x0)
    for i in range(k):
        h[i, i] = (f(x0 + eye[i]) - 2.0 * f0 + f(x0 - eye[i])) / _STEP ** 2
        for j in range(i):
            h[i, j] = h[j, i] = (f(x0 + eye[i] + eye[j]) - f(x0 + eye[i] - eye[j]) - f(x0 - eye[i] + eye[j])
                                 + f(x0 - eye[i] - eye[j])) / (4.0 * _STEP ** 2)
    try:
        np.linalg.cholesky(0.5 * h)
    except np.linalg.LinAlgError:
        raise MerxError(
            "Non-positive definite approximate variance-covariance (nlme's message): the fit is at a "
            "boundary or not at an optimum, so Wald intervals of the variance parameters do not exist; "
            "use intervals(which='fixed')"
        ) from None
    return np.linalg.inv(0.5 * h), x0


def _frame(lower, est, upper, index) -> pd.DataFrame:
    return pd.DataFrame({"lower": lower, "est.": est, "upper": upper}, index=list(index))


class LmeIntervals:
    """``intervals(m)``: ``fixed`` (DataFrame lower/est./upper), ``reStruct`` (dict grouping
    level → DataFrame), ``varStruct`` and ``corStruct`` (DataFrames or None), ``sigma``
    (Series lower/est./upper), ``level``."""

    def __init__(self, level: float, fixed, reStruct, varStruct, corStruct, sigma,  # noqa: N803 - nlme names
                 gls: bool = False):
        self.gls = gls
        self.level = level
        self.fixed = fixed
        self.reStruct = reStruct
        self.varStruct = varStruct
        self.corStruct = corStruct
        self.sigma = sigma

    def __str__(self) -> str:
        pct = format_real([100 * self.level], R_DIGITS)[0]
        lines = [f"Approximate {pct}% confidence intervals", ""]
        if self.fixed is not None:
            lines += [" Coefficients:" if self.gls else " Fixed effects:"] + format_data_frame(self.fixed)
        if self.reStruct is not None:
            lines += ["", " Random Effects:"]
            for group, df in self.reStruct.items():
                lines += [f"  Level: {group} "] + format_data_frame(df)
        if self.corStruct is not None:
            lines += ["", " Correlation structure:"] + format_data_frame(self.corStruct)
        if self.varStruct is not None:
            lines += ["", " Variance function:"] + format_data_frame(self.varStruct)
        if self.sigma is not None:
            lines += ["", " Residual standard error:" if self.gls else " Within-group standard error:"]
            lines += print_named_vector(format_real(list(self.sigma.to_numpy()), R_DIGITS), list(self.sigma.index))
        return "\n".join(lines) + "\n"

    __repr__ = __str__


def variance_intervals(result: Any, x: np.ndarray, cov: np.ndarray, level: float) -> tuple:
    """(reStruct, varStruct, corStruct, sigma) of ``intervals()``: Wald intervals at the
    unconstrained estimates ``x`` with their covariance ``cov`` (``apVar``), transformed back."""
    half = normal_quantile(0.5 + level / 2.0) * np.sqrt(np.diag(cov))
    lo, hi = x - half, x + half
    layout = _Layout(result)
    names = level_names(result)
    re_struct, pos = {}, 0
    var_struct = cor_struct = None
    for b, k, structure in zip(layout.blocks, layout.sizes, layout.structures):
        cols = list(b.columns)
        rows = [f"sd({c})" for c in cols]
        if structure != "diagonal":
            rows += [f"cor({cols[i]},{cols[j]})" for j in range(k) for i in range(j)]
        back = [np.exp] * k + [lambda v: np.tanh(0.5 * v)] * (len(rows) - k)
        sl = slice(pos, pos + len(rows))
        re_struct[names[b.group]] = _frame(*[[g(v) for g, v in zip(back, arr[sl])] for arr in (lo, x, hi)], rows)
        pos += len(rows)
    nr = layout.n_residual
    if nr:
        var_struct, cor_struct = _residual_frames(result, lo[pos: pos + nr], x[pos: pos + nr], hi[pos: pos + nr])
    sigma = pd.Series(np.exp([lo[-1], x[-1], hi[-1]]), index=["lower", "est.", "upper"])
    re_struct = {name: re_struct[name] for name in names.values()} or None  # outermost first, as nlme prints
    return re_struct, var_struct, cor_struct, sigma


def lme_intervals(result: Any, level: float = 0.95, which: str = "all") -> LmeIntervals:
    """nlme's ``intervals(m, level, which)``: ``which`` is "all", "fixed" or "var-cov"."""
    if which not in ("all", "fixed", "var-cov"):
        raise MerxError(f"which must be 'all', 'fixed' or 'var-cov', not {which!r}")
    if not (isinstance(level, (int, float)) and 0.0 < level < 1.0):
        raise MerxError(f"level must be a probability between 0 and 1, not {level!r}")
    fixed = re_struct = var_struct = cor_struct = sigma = None
    if which in ("all", "fixed"):
        tab = result.tTable
        df = tab["DF"] if "DF" in tab else [result.nobs - len(tab)] * len(tab)  # gls: N - p
        q = np.array([t_quantile(0.5 + level / 2.0, float(d)) for d in df])
        est, se = tab["Value"].to_numpy(), tab["Std.Error"].to_numpy()
        if result.method == "ML" and "DF" in tab:
            # lme's intervals take varFix, without the t-table's N/(N - p) of an ML fit (gls's
            # take varBeta, with it)
            se = se * math.sqrt((result.nobs - est.size) / result.nobs)
        fixed = _frame(est - q * se, est, est + q * se, tab.index)
    if which in ("all", "var-cov"):
        cov, x = approximate_covariance(result)
        re_struct, var_struct, cor_struct, sigma = variance_intervals(result, x, cov, level)
    gls = getattr(result, "held_group", None) is not None
    return LmeIntervals(level, fixed, re_struct, var_struct, cor_struct, sigma, gls=gls)
