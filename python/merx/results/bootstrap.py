"""Bootstrap results: the replicates' estimates, boot's summary and intervals.

``BootstrapResult.replicates`` has one row per replicate and lme4's ``confint()`` columns
(``sd_(Intercept)|Subject``, ``cor_Days.(Intercept)|Subject``, ..., ``sigma``, then the
fixed effects by name). ``summary()`` is boot's ``original``, ``bias`` and ``std. error``;
``confint(type=...)`` boot's percentile (``"perc"``, interpolated on the normal scale as
``boot::norm.inter``), basic and normal intervals. The refits themselves run in the models
stage (:mod:`merx.models.bootstrap`), which registers them here (results import nothing of
models).
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from ..errors import MerxError
from ..rstyle.matrices import format_data_frame
from .confint import parameter_names, percent_labels
from .theta_layout import block_covariance, relative_factor, theta_size, variance_parameter_entries

__all__ = ["BootstrapResult", "RESAMPLERS", "register_resampler", "variance_parameters", "norm_inter"]

#: ``"simulate"`` and ``"bootstrap"`` by result class name, registered by
#: :mod:`merx.models.bootstrap`: ``fn(result, **arguments)``.
RESAMPLERS: dict[str, dict[str, Callable]] = {}

INTERVAL_TYPES = ("perc", "basic", "norm")


def register_resampler(class_name: str, what: str, fn: Callable) -> None:
    """Registers the simulation or bootstrap function of one result class."""
    RESAMPLERS.setdefault(class_name, {})[what] = fn


def resampler(result: Any, what: str) -> Callable:
    fn = RESAMPLERS.get(type(result).__name__, {}).get(what)
    if fn is None:
        raise MerxError(f"{what} is not available for a {type(result).__name__}")
    return fn


def variance_parameters(blocks: Sequence[Any], theta: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """lme4's sd/cor parameters (the order of :func:`merx.results.confint.parameter_names`,
    without ``sigma``) of each row of ``theta`` (m, n_theta), with the random effects'
    covariance scale² T T' (``scale``: σ of each row for a linear mixed model, 1 for a GLMM)."""
    theta = np.atleast_2d(np.asarray(theta, dtype=float))
    scale = np.broadcast_to(np.asarray(scale, dtype=float), (theta.shape[0],))
    out = []
    for r in range(theta.shape[0]):
        row: list[float] = []
        pos = 0
        for b in blocks:
            k, covariance = len(b.columns), block_covariance(b)
            size = theta_size(k, covariance)
            T = relative_factor(theta[r, pos : pos + size], k, covariance)
            pos += size
            cov = scale[r] ** 2 * (T @ T.T)
            sd = np.sqrt(np.diag(cov))
            for _, i, j in variance_parameter_entries(b.group, list(b.columns), covariance):
                if i == j:
                    row.append(sd[j])
                else:
                    row.append(cov[i, j] / (sd[i] * sd[j]) if sd[i] > 0 and sd[j] > 0 else math.nan)
        out.append(row)
    return np.array(out, dtype=float)


def norm_inter(t: np.ndarray, alpha: Sequence[float]) -> np.ndarray:
    """boot's ``norm.inter``: the (R + 1)α-th order statistics of the finite t, interpolated
    on the normal quantile scale between neighbours."""
    t = np.sort(np.asarray(t, dtype=float)[np.isfinite(t)])
    R = t.size
    if R == 0:
        return np.full(len(alpha), math.nan)
    nd = NormalDist()
    out = []
    for a in alpha:
        rk = (R + 1) * a
        k = int(math.trunc(rk))
        if k == rk and 1 <= k <= R:
            out.append(t[k - 1])
        elif k <= 0:
            out.append(t[0])
        elif k >= R:
            out.append(t[R - 1])
        else:
            z, zk, zk1 = nd.inv_cdf(a), nd.inv_cdf(k / (R + 1)), nd.inv_cdf((k + 1) / (R + 1))
            out.append(t[k - 1] + (z - zk) / (zk1 - zk) * (t[k] - t[k - 1]))
    return np.array(out)


class BootstrapResult:
    """Bootstrap replicates of a fitted mixed model (lme4's ``bootMer``, lmeresampler's
    ``bootstrap``).

    Attributes: ``replicates`` (DataFrame, one row per replicate; NaN rows where a refit
    failed), ``original`` (the estimates of the fit, a Series), ``kind``, ``nsim``,
    ``seed``, ``errors`` (replicate index → why its refit failed), ``converged`` (bool array).
    """

    def __init__(self, replicates: pd.DataFrame, original: pd.Series, kind: str, seed: int,
                 errors: dict, converged: np.ndarray, replicate_data: Callable | None = None,
                 replicate_draws: Callable | None = None):
        self.replicates = replicates
        self.original = original
        self.kind = kind
        self.nsim = len(replicates)
        self.seed = seed
        self.errors = errors
        self.converged = converged
        self._replicate_data = replicate_data
        self._replicate_draws = replicate_draws
        #: REB type 2: lmeresampler's log-scale matrix L_b of the variance components (see
        #: :func:`merx.models.bootstrap.bootstrap`); None otherwise.
        self.reb2_log_scale: pd.DataFrame | None = None

    def replicate_data(self, index: int) -> Any:
        """What replicate ``index`` was refitted to: its response (kinds that keep the
        design), or ``(rows, [(codes, n_levels) per random-effects term])`` for case
        resampling (rows of the model frame; codes: the new grouping levels).

        Parameters
        ----------
        index : int
            The replicate, from 0 to ``nsim - 1``.

        Returns
        -------
        numpy.ndarray or tuple
            As described above.

        Raises
        ------
        MerxError
            ``index`` out of range, or a result that keeps no replicate data.
        """
        if self._replicate_data is None:
            raise MerxError("this bootstrap result keeps no replicate data (it was read back from a pickle)")
        if not 0 <= int(index) < self.nsim:
            raise MerxError(f"index must be between 0 and {self.nsim - 1}, not {index!r}")
        return self._replicate_data(int(index))

    def replicate_draws(self, index: int) -> dict:
        """The random choices behind replicate ``index`` of an lmer fit's resampling kinds, a
        dict of arrays: ``"rows"`` (semiparametric, residual, reb: per row, the residual
        added; case: the drawn observations' positions among their cluster's rows),
        ``"levels"`` (residual: per term, the level whose effect each level receives; reb:
        the same for its one term; case: per grouping factor, outermost first, the codes of
        the drawn clusters), ``"weights"`` and ``"clusters"`` (wild: each cluster's weight,
        each row's cluster).

        Parameters
        ----------
        index : int
            The replicate, from 0 to ``nsim - 1``.

        Returns
        -------
        dict of numpy.ndarray
            As described above.

        Raises
        ------
        MerxError
            ``index`` out of range, or a result that keeps no draws.
        """
        if self._replicate_draws is None:
            raise MerxError("this bootstrap result keeps no draws (a glmer fit's, or read back from a pickle)")
        if not 0 <= int(index) < self.nsim:
            raise MerxError(f"index must be between 0 and {self.nsim - 1}, not {index!r}")
        return self._replicate_draws(int(index))

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_replicate_data"] = None
        state["_replicate_draws"] = None
        return state

    def summary(self) -> "BootstrapSummary":
        """boot's statistics per parameter: ``original``, ``bias`` (mean of the replicates
        minus the original) and ``std_error`` (their standard deviation).

        Returns
        -------
        BootstrapSummary
            ``str()`` boot's printed table; ``.table`` a DataFrame.

        Raises
        ------
        None
            The statistics come from the stored replicates.
        """
        reps = self.replicates
        table = pd.DataFrame(
            {
                "original": self.original,
                "bias": reps.mean(axis=0, skipna=True) - self.original,
                "std_error": reps.std(axis=0, ddof=1, skipna=True),
            }
        )
        return BootstrapSummary(table, self.kind, self.nsim, len(self.errors))

    def confint(self, type: str = "perc", level: float = 0.95, parm: Any = None) -> pd.DataFrame:  # noqa: A002 - boot's name
        """Bootstrap intervals as ``boot.ci``: ``"perc"`` (default, lme4's), ``"basic"``
        (2·original - the percentile limits, reversed) or ``"norm"`` (original - bias ±
        z·SE). ``parm``: parameter names (default all).

        Parameters
        ----------
        type : str
            ``"perc"``, ``"basic"`` or ``"norm"``.
        level : float
            Coverage, in (0, 1).
        parm : str or sequence of str, optional
            Parameters (default all).

        Returns
        -------
        pandas.DataFrame
            Lower and upper limits per parameter.

        Raises
        ------
        MerxError
            An unknown type or parameter, or ``level`` outside (0, 1).
        """
        if type not in INTERVAL_TYPES:
            raise MerxError(f"unknown interval type {type!r}: use 'perc', 'basic' or 'norm'")
        if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0.0 < float(level) < 1.0:
            raise MerxError(f"level must be between 0 and 1 (exclusive), not {level!r}")
        names = list(self.replicates.columns) if parm is None else ([parm] if isinstance(parm, str) else list(parm))
        unknown = [p for p in names if p not in self.replicates.columns]
        if unknown:
            raise MerxError(f"unknown parameter(s) {unknown}: use names among {list(self.replicates.columns)}")
        lo, hi = (1.0 - level) / 2.0, (1.0 + level) / 2.0
        z = NormalDist().inv_cdf(hi)
        rows = []
        for name in names:
            t = self.replicates[name].to_numpy(dtype=float)
            t0 = float(self.original[name])
            if type == "perc":
                rows.append(norm_inter(t, [lo, hi]))
            elif type == "basic":
                q = norm_inter(t, [hi, lo])
                rows.append(2.0 * t0 - q)
            else:
                finite = t[np.isfinite(t)]
                bias = finite.mean() - t0 if finite.size else math.nan
                merr = finite.std(ddof=1) * z if finite.size > 1 else math.nan
                rows.append(np.array([t0 - bias - merr, t0 - bias + merr]))
        return pd.DataFrame(np.array(rows, dtype=float).reshape(len(names), 2), index=names, columns=percent_labels(level))

    def __repr__(self) -> str:
        return str(self.summary())


class BootstrapSummary:
    """boot's printed statistics; ``table`` holds them (original, bias, std_error)."""

    def __init__(self, table: pd.DataFrame, kind: str, nsim: int, n_failed: int):
        self.table = table
        self.kind = kind
        self.nsim = nsim
        self.n_failed = n_failed

    def __str__(self) -> str:
        shown = self.table.rename(columns={"std_error": "std. error"})
        lines = [f"{self.kind.upper()} BOOTSTRAP", "", f"Number of resamples: {self.nsim}"]
        if self.n_failed:
            lines.append(f"Failed refits: {self.n_failed} (left out of the statistics)")
        lines += ["", "Bootstrap Statistics :", *format_data_frame(shown)]
        return "\n".join(lines)

    __repr__ = __str__


def replicate_table(blocks: Sequence[Any], x_names: Sequence[str], use_scale: bool, lmm: bool,
                    theta: np.ndarray, beta: np.ndarray, sigma: np.ndarray) -> pd.DataFrame:
    """The replicates' parameters in lme4's ``confint()`` layout."""
    scale = sigma if lmm else np.ones(len(theta))
    var = variance_parameters(blocks, theta, scale)
    names = parameter_names(blocks, use_scale)
    cols = var if not use_scale else np.column_stack([var, np.asarray(sigma, dtype=float)])
    data = np.column_stack([cols.reshape(len(theta), -1), np.asarray(beta, dtype=float)])
    return pd.DataFrame(data, columns=names + list(x_names))
