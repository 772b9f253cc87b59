"""lme4's ``VarCorr``: variances, standard deviations and correlations of the
random effects, built from θ and σ (``σ² T T'`` per term).

``str(VarCorr)`` is lme4's print layout (see :func:`merx.rstyle.layouts.format_varcorr`);
:meth:`VarCorr.to_frame` is lme4's ``as.data.frame(VarCorr(fit))``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from ..rstyle import layouts
from ..rstyle.names import make_names
from .theta_layout import block_covariance, relative_factor

__all__ = ["VarCorr", "VarCorrTerm", "varcorr_terms", "cov2cor"]


def cov2cor(cov: np.ndarray) -> np.ndarray:
    """R's ``cov2cor``: the correlation matrix of a covariance matrix, with its
    diagonal exactly 1 (NaN off the diagonal where a standard deviation is 0)."""
    cov = np.asarray(cov, dtype=float)
    sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = cov / np.outer(sd, sd)
    np.fill_diagonal(corr, 1.0)
    return corr


@dataclass
class VarCorrTerm:
    """Covariance of one random-effects term (one entry of lme4's ``VarCorr`` list)."""

    name: str  # as lme4 names the list element ("Subject", "Subject.1", "ward:hospital")
    group: str  # the grouping factor
    columns: list
    cov: np.ndarray  # (k, k), sigma^2 T T'
    covariance: str = "unstructured"  # the core's name of the term's structure

    @property
    def common_correlation(self) -> float | None:
        """The one correlation parameter of glmmTMB's ``ar1`` (φ, the lag-1 correlation) and
        ``cs`` (ρ, every pair's) terms; None for other structures."""
        if self.covariance not in ("ar1", "heterogeneous_compound_symmetry", "compound_symmetry") or len(self.columns) < 2:
            return None
        return float(self.correlation[1, 0])

    @property
    def stddev(self) -> np.ndarray:
        return np.sqrt(np.clip(np.diag(self.cov), 0.0, None))

    @property
    def correlation(self) -> np.ndarray:
        return cov2cor(self.cov)


class VarCorr:
    """Estimated variances, standard deviations and correlations of the random effects.

    ``str()`` is lme4's ``print(VarCorr(fit))`` (standard deviations and
    correlations, 5 significant digits); :meth:`format` gives other layouts;
    :meth:`to_frame` (alias :meth:`as_dataframe`) is lme4's
    ``as.data.frame(VarCorr(fit))``; ``vc["Subject"]`` is the covariance matrix
    of that term as a DataFrame.
    """

    def __init__(self, terms: list, sigma: float, use_scale: bool = True):
        self.terms = list(terms)
        self.sigma = float(sigma)
        self.use_scale = use_scale

    def format(self, digits: int = 5, comp: Sequence[str] = ("Std.Dev.",), corr: bool | None = None) -> str:
        if isinstance(comp, str):
            comp = (comp,)
        return "\n".join(layouts.format_varcorr(self, digits, comp, corr))

    def __str__(self) -> str:
        return self.format()

    def __repr__(self) -> str:
        return self.format()

    def keys(self) -> list:
        return [t.name for t in self.terms]

    def __iter__(self):
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.terms)

    def __getitem__(self, name: str) -> pd.DataFrame:
        for t in self.terms:
            if t.name == name:
                return pd.DataFrame(t.cov, index=list(t.columns), columns=list(t.columns))
        raise KeyError(f"no random-effects term named {name!r}; terms are {self.keys()}")

    def to_frame(self) -> pd.DataFrame:
        """lme4's ``as.data.frame(VarCorr(fit))``: grp, var1, var2, vcov, sdcor.

        Per term the variances, then the covariances (lower triangle, column by
        column; none for a diagonal term), the residual last.
        """
        rows = []
        for t in self.terms:
            k = len(t.columns)
            sd = t.stddev
            corr = t.correlation
            for i in range(k):
                rows.append((t.name, t.columns[i], None, float(t.cov[i, i]), float(sd[i])))
            for j in range(k if t.covariance != "diagonal" else 0):
                for i in range(j + 1, k):
                    rows.append((t.name, t.columns[j], t.columns[i], float(t.cov[i, j]), float(corr[i, j])))
        if self.use_scale:
            rows.append(("Residual", None, None, self.sigma**2, self.sigma))
        return pd.DataFrame(rows, columns=["grp", "var1", "var2", "vcov", "sdcor"])

    as_dataframe = to_frame

    def variance_components(self) -> pd.DataFrame:
        """Variances per random effect and residual, with their share of the total variance."""
        rows = []
        for t in self.terms:
            for i, c in enumerate(t.columns):
                rows.append((t.name, c, float(t.cov[i, i])))
        rows.append(("Residual", "", self.sigma**2))
        df = pd.DataFrame(rows, columns=["group", "effect", "variance"])
        df["sd"] = np.sqrt(df["variance"].to_numpy())
        total = float(df["variance"].sum())
        df["var_prop"] = df["variance"] / total if total > 0 else np.nan
        return df



def varcorr_terms(blocks: Sequence, thetas: Sequence[np.ndarray], sigma: float) -> list[VarCorrTerm]:
    """One entry per random-effects term, named as lme4's ``VarCorr`` list.

    ``thetas`` holds the θ values of each block (see :mod:`merx.results.theta_layout`).
    Names are the grouping factors, passed through ``make.names(unique =
    TRUE)`` when a factor has several terms (``Subject``, ``Subject.1``); each term keeps its
    block's covariance structure (glmmTMB's ``diag`` shows zero correlations, ``ar1`` and
    ``cs`` their one correlation parameter, as glmmTMB prints them).
    """
    terms = []
    s2 = sigma**2
    for b, th in zip(blocks, thetas):
        k, covariance = len(b.columns), block_covariance(b)
        T = relative_factor(th, k, covariance)
        terms.append(VarCorrTerm(b.group, b.group, list(b.columns), s2 * (T @ T.T), covariance))
    raw = [t.group for t in terms]
    if len(set(raw)) < len(raw):
        for t, nm in zip(terms, make_names(raw, unique=True)):
            t.name = nm
    return terms
