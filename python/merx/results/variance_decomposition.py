"""Intraclass correlations and Nakagawa's R² of a fitted mixed model, as the R package
performance 0.10.2 computes them (``icc()``, ``r2_nakagawa()``, with insight 0.19's
``get_variance()``); a mixin of :class:`~merx.results.base.MixedModelResult`.

The variances (Nakagawa, Johnson and Schielzeth 2017; Johnson 2014 for random slopes):

* fixed: the sample variance (n - 1) of the fixed part Xβ̂ (without the offset);
* random: per random-effects term the mean over the observations of z_i'Σz_i, with z_i the
  row of X in the term's columns (an intercept column for ``(1 | g)``; random-slope columns
  that X lacks are left out, with insight's warning), summed over the terms; a GLMM's
  observation-level terms (as many levels as observations) count as dispersion instead;
* distribution: σ² of a linear mixed model; binomial: π²/3 (logit), 1 (probit), π²/6
  (cloglog); Poisson with the sqrt link 0.25, with the log link the lognormal approximation
  log(1 + Var(μ)/μ²) = log(1 + 1/μ), μ = exp(β₀) of the null model (the same random terms,
  offset and family, fixed part ``~ 1``) refitted by the function ``models/glmer.py``
  registers here (this stage imports nothing of the models stage);
* residual: distribution + dispersion.

ICC adjusted = random / (random + residual); unadjusted (conditional) = random / (fixed +
random + residual); by group: each term's intercept variance / (random + residual). R²
marginal = fixed / (fixed + random + residual), conditional = (fixed + random) / (the same).
As insight, only the first term of each grouping factor enters the random variance: the
slope of ``(x || g)`` (VarCorr's ``g.1``) and ``(0 + x | g)`` next to ``(1 | g)`` are left out
(insight selects VarCorr's entries by the names of ``ranef()``); merx warns when it does so.
A fit with a variance parameter on its bound (|θ| < ``tolerance`` on a diagonal entry) has
no random variance for performance: the ICCs are NaN, R² marginal is fixed / (fixed +
residual) and conditional NaN, each with performance's warning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from ..errors import MerxError, warn_user
from .varcorr import varcorr_terms

__all__ = ["VarianceDecomposition", "NakagawaVariances", "IntraclassCorrelation", "NakagawaR2",
           "register_null_model_intercept", "NULL_MODEL_INTERCEPT", "distribution_variance", "nakagawa_variances",
           "icc_of", "icc_by_group_of", "r2_of"]

#: The null model's intercept of a GLMM (same random terms, offset and family; ``~ 1``),
#: registered by :mod:`merx.models.glmer`.
NULL_MODEL_INTERCEPT: list = []
# insight's threshold below which the lognormal approximation's μ is called unreliable
_SMALL_MU = 6.0
_BINOMIAL_DISTRIBUTION_VARIANCE = {"logit": math.pi ** 2 / 3.0, "probit": 1.0, "cloglog": math.pi ** 2 / 6.0}


def register_null_model_intercept(fn: Callable) -> None:
    NULL_MODEL_INTERCEPT[:] = [fn]


@dataclass(frozen=True)
class NakagawaVariances:
    """insight's ``get_variance()``: fixed, random (None when singular), distribution,
    dispersion and residual variances, and each term's intercept variance."""

    fixed: float
    random: float | None
    distribution: float
    dispersion: float
    intercept: dict

    @property
    def residual(self) -> float:
        return self.distribution + self.dispersion


@dataclass(frozen=True)
class IntraclassCorrelation:
    """performance's ``icc()``: ``adjusted`` and ``unadjusted`` (= ``conditional``)."""

    adjusted: float
    unadjusted: float

    @property
    def conditional(self) -> float:
        return self.unadjusted


@dataclass(frozen=True)
class NakagawaR2:
    """performance's ``r2_nakagawa()``: ``marginal`` and ``conditional``."""

    marginal: float
    conditional: float


def distribution_variance(family: str | None, link: str | None, sigma: float, null_intercept: Callable | None,
                          what: str) -> float:
    """insight's distribution-specific variance; ``family`` None: a linear mixed model (σ²);
    ``null_intercept()`` gives β₀ of the null model (Poisson with the log link)."""
    if family is None:
        return float(sigma) ** 2
    if family == "binomial" and link in _BINOMIAL_DISTRIBUTION_VARIANCE:
        return _BINOMIAL_DISTRIBUTION_VARIANCE[link]
    if family == "poisson" and link == "sqrt":
        return 0.25
    if family == "poisson" and link == "log":
        mu = math.exp(null_intercept())
        if mu < _SMALL_MU:
            warn_user(f"mu of {mu:.1f} is too close to zero, estimate of {what} may be unreliable.",
                      UserWarning)
        return math.log1p(1.0 / mu)  # Var(y)/μ² = 1/μ for the Poisson
    raise MerxError(f"{what} of a {family} GLMM with the {link} link is not available: merx follows performance "
                    "for linear mixed models, binomial (logit, probit, cloglog) and Poisson (log, sqrt) GLMMs")


def nakagawa_variances(X: np.ndarray, x_names: list, beta: np.ndarray, terms: list, n_levels: dict, glmm: bool,
                       distribution: float, singular: bool, what: str = "ICC") -> NakagawaVariances:
    """insight's ``get_variance()`` from the fixed-effects design, β̂, the VarCorr terms
    (:func:`~merx.results.varcorr.varcorr_terms`) and the number of levels of each grouping factor."""
    X = np.asarray(X, dtype=float)
    names = list(x_names)
    eta = X @ np.asarray(beta, dtype=float)
    # centred at one of its values first: an intercept-only Xβ has variance exactly 0, as R's var()
    fixed = float(np.var(eta - eta[0], ddof=1)) if eta.size > 1 else 0.0
    if "(Intercept)" not in names:
        X, names = np.column_stack([np.ones(X.shape[0]), X]), ["(Intercept)"] + names
    n = X.shape[0]
    random, dispersion, missing, skipped, intercept, seen = 0.0, 0.0, [], [], {}, set()
    for term in terms:
        if term.columns[0] == "(Intercept)":
            intercept[term.name] = float(term.cov[0, 0])
        if term.group in seen:  # insight's vc[names(ranef)]: the first term of each grouping factor
            skipped.append(term.name)
            continue
        seen.add(term.group)
        kept = [j for j, c in enumerate(term.columns) if c in names]
        missing += [c for c in term.columns if c not in names]
        Z = X[:, [names.index(term.columns[j]) for j in kept]]
        value = float(np.sum((Z @ term.cov[np.ix_(kept, kept)]) * Z)) / n
        if glmm and n_levels[term.group] == n:
            dispersion += value
        else:
            random += value
    if missing:
        warn_user(f"Random slopes not present as fixed effects ({', '.join(missing)}). This artificially "
                  f"inflates the conditional {what}.", UserWarning)
    if skipped:
        warn_user(f"the variances of {', '.join(skipped)} are left out of the random variance: performance "
                  "(insight's get_variance) counts the first term of each grouping factor only", UserWarning)
    if singular:
        warn_user(f"Can't compute {what}. Some variance components equal zero. Your model may suffer from "
                  "singularity.", UserWarning)
    return NakagawaVariances(fixed, None if singular else random, distribution, dispersion, intercept)


def icc_of(v: NakagawaVariances) -> IntraclassCorrelation:
    if v.random is None:
        return IntraclassCorrelation(math.nan, math.nan)
    return IntraclassCorrelation(v.random / (v.random + v.residual), v.random / (v.fixed + v.random + v.residual))


def icc_by_group_of(v: NakagawaVariances) -> pd.DataFrame:
    denominator = math.nan if v.random is None else v.random + v.residual
    return pd.DataFrame({"Group": list(v.intercept), "ICC": [x / denominator for x in v.intercept.values()]})


def r2_of(v: NakagawaVariances) -> NakagawaR2:
    if v.random is None:
        return NakagawaR2(v.fixed / (v.fixed + v.residual), math.nan)
    total = v.fixed + v.random + v.residual
    return NakagawaR2(v.fixed / total, (v.fixed + v.random) / total)


class VarianceDecomposition:
    """``icc()``, ``r2()`` and the variances behind them."""

    def variance_decomposition(self, tolerance: float = 1e-5, what: str = "ICC") -> NakagawaVariances:
        """The variances of insight's ``get_variance()`` (see :mod:`merx.results.variance_decomposition`).

        Parameters
        ----------
        tolerance : float
            θ entries on their bound below this count as singular.
        what : str
            ``"ICC"`` or ``"r-squared"`` (the messages' wording).

        Returns
        -------
        NakagawaVariances
            Fixed, random, residual and distribution-specific variances.

        Raises
        ------
        MerxError
            A GLMM family and link whose distribution-specific variance performance does not
            define.
        """
        glmm = hasattr(self, "family_name") and hasattr(self.fit, "family")
        family = str(self.fit.family) if glmm else None
        link = str(self.fit.link) if glmm else None
        distribution = distribution_variance(family, link, self.sigma, lambda: NULL_MODEL_INTERCEPT[0](self), what)
        on_bound = self.theta_lower.to_numpy() == 0
        singular = bool(np.any(np.abs(self._theta[on_bound]) < tolerance))
        terms = varcorr_terms(self._blocks, self._theta_by_block(), self.sigma)
        n_levels = {b.group: len(b.levels) for b in self._blocks}
        return nakagawa_variances(self.frame.X, self.frame.x_names, self.fit.beta, terms, n_levels, glmm, distribution,
                                  singular, what)

    def icc(self, by_group: bool = False, tolerance: float = 1e-5):
        """Intraclass correlation, performance's ``icc(model, by_group, tolerance)``:
        ``IntraclassCorrelation(adjusted, unadjusted)``, or with ``by_group=True`` a DataFrame
        (``Group``, ``ICC``) of each term's intercept variance over the random plus residual
        variance (NaN values for a singular fit).

        Parameters
        ----------
        by_group : bool
            One ICC per grouping factor.
        tolerance : float
            θ entries on their bound below this count as singular.

        Returns
        -------
        IntraclassCorrelation or pandas.DataFrame
            ``adjusted`` and ``unadjusted``, or the table by group.

        Raises
        ------
        MerxError
            As :meth:`variance_decomposition`.
        """
        v = self.variance_decomposition(tolerance, "ICC")
        if by_group:
            if any(len(b.columns) > 1 or b.columns[0] != "(Intercept)" for b in self._blocks):
                warn_user("Model contains random slopes. Cannot compute accurate ICCs by group factors.",
                          UserWarning)
            return icc_by_group_of(v)
        return icc_of(v)

    def r2(self, tolerance: float = 1e-5) -> NakagawaR2:
        """Nakagawa's marginal and conditional R², performance's ``r2_nakagawa(model)``.

        Parameters
        ----------
        tolerance : float
            θ entries on their bound below this count as singular.

        Returns
        -------
        NakagawaR2
            ``marginal`` and ``conditional``.

        Raises
        ------
        MerxError
            As :meth:`variance_decomposition`.
        """
        v = self.variance_decomposition(tolerance, "r-squared")
        if v.random is None:
            warn_user("Random effect variances not available. Returned R2 does not account for random effects.",
                      UserWarning)
        return r2_of(v)
