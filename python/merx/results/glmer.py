"""The fitted generalized linear mixed model: :class:`GlmerResult` (lme4's ``glmerMod``).

Everything a mixed model offers comes from :class:`~merx.results.base.MixedModelResult`;
a GLMM adds the family, the link, fitted values on the response scale, residuals of every
type and predictions on both scales. The family's functions (inverse link, variance,
deviance residuals) are the Rust core's (``merx._core.GlmFamily``).

Conventions of lme4 kept on purpose:

* ``deviance`` is lme4's ``deviance()`` of a GLMM: the sum of squared deviance residuals at
  the conditional modes (73.47 for cbpp), not -2 log-likelihood (``-2 * logLik``, which
  ``summary()`` prints as ``deviance``).
* ``sigma`` is 1 for the binomial, Poisson and negative binomial families (no dispersion
  parameter). For the families with one (Gamma, inverse.gaussian, gaussian: lme4's
  ``useSc``) it is lme4's ``sigma()``: √((Σ w(y-μ)²/V(μ) + ‖u‖²)/n), the Pearson χ² plus
  the squared spherical modes over the number of observations (``sigmaML`` of lme4's
  ``mkMerMod``; not the φ = deviance/Σw inside the log-likelihood's constants). As in lme4
  it scales the printed random-effect variances ((σθ)², with a ``Residual`` row of σ²), the
  conditional variances of the modes (σ²) and the scaled residuals, not ``vcov``; it counts
  in logLik's df, and the coefficient table says ``t value`` (with ``Pr(>|z|)``, as lme4).
  The logLik of these families is lme4's: minus half its Laplace deviance, whose constants
  are R's ``family$aic`` with its +2 for the dispersion (see ``rust/src/family/dispersion.rs``).
* ``vcov`` is lme4's default: twice the inverse Hessian of the deviance in (θ, β),
  restricted to β (for ``nAGQ = 0``: the conditional one from R_X). For the Laplace fit the
  Hessian is that of lme4's own evaluation of the deviance, which takes log|L|² one PIRLS
  step short of the modes (``rust/src/pirls_lme4.rs``): its SEs can differ from the exact
  Laplace Hessian's by ~1% (cbpp), and merx reports lme4's.
* ``summary()`` and ``str()`` are lme4's ``glmerMod`` layouts (see
  :mod:`merx.rstyle.glmer_layouts`): z values with normal p-values and significance stars,
  Pearson residuals as the scaled residuals, ``deviance`` in the likelihood table = -2 logLik.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .. import _core
from ..errors import MerxError
from ..families import NegativeBinomial
from ..formula.deparse_lines import formula_lines
from ..rstyle import glmer_layouts
from . import prediction
from .base import MixedModelResult
from .ranef import RanefDict, ranef_tables
from .summary import GlmerSummary

__all__ = ["GlmerResult", "SCALE_FAMILIES"]

#: The families with a dispersion parameter (lme4's ``useSc`` of a GLMM).
SCALE_FAMILIES = ("Gamma", "inverse.gaussian", "gaussian")


class GlmerResult(MixedModelResult):
    """A fitted generalized linear mixed model (lme4's ``glmerMod``).

    Parameters as :class:`~merx.results.base.MixedModelResult`, and ``nAGQ`` as given to
    ``glmer`` (1, the default: the Laplace approximation; 0: lme4's ``nAGQ = 0`` fit; more:
    adaptive Gauss-Hermite quadrature), which the printed title names as lme4's does.
    """

    #: The binomial, Poisson and negative binomial families have no scale parameter (the
    #: instance sets these for the families of ``SCALE_FAMILIES``).
    n_scale_params = 0
    use_scale = False
    stat_name = "z value"
    normal_pvalues = True

    def __init__(self, frame, fit, data_name=None, call_formula=None, problem=None, weights_name=None,
                 offset_name=None, nAGQ: int = 1, shape_estimated: bool = False):  # noqa: N803 - lme4 name
        super().__init__(frame, fit, data_name, call_formula, problem, weights_name, offset_name)
        self.nAGQ = int(nAGQ)
        self._shape_estimated = bool(shape_estimated)
        self._sigma = 1.0
        if str(fit.family) in SCALE_FAMILIES:
            self.n_scale_params = 1
            self.use_scale = True
            self.stat_name = "t value"
            self._sigma = self._lme4_sigma()

    def _lme4_sigma(self) -> float:
        """lme4's σ of a GLMM with a scale: √((Pearson χ² + ‖u‖²) / n)."""
        y = np.asarray(self.frame.y, dtype=float)
        mu = self._fitted_values()
        pearson = float(np.sum(self._prior_weights() * (y - mu) ** 2 / np.asarray(self._glm_family().variance(mu))))
        return float(np.sqrt((pearson + float(self.fit.ussq)) / y.size))

    @property
    def family(self):
        """The family object (:mod:`merx.families`)."""
        return self.frame.family

    @property
    def family_name(self) -> str:
        """R's name of the family (``family(fit)$family``: ``"binomial"``, ``"poisson"``,
        ``"Negative Binomial(0.9424)"``)."""
        if self.fit.family == "negative_binomial":
            return NegativeBinomial(theta=self.shape, link=self.link).family_name
        return str(self.fit.family)

    @property
    def shape(self) -> float:
        """The negative binomial shape θ (Var(y) = μ + μ²/θ); NaN for other families."""
        return float(self.fit.shape)

    @property
    def n_params(self) -> int:
        """β, θ and, for ``glmer_nb``, the shape (lme4's logLik df)."""
        extra = 1 if self.fit.family == "negative_binomial" and self._shape_estimated else 0
        return super().n_params + extra

    @property
    def link(self) -> str:
        return str(self.fit.link)

    def _glm_family(self):
        shape = float(self.fit.shape)
        return _core.GlmFamily(self.fit.family, self.fit.link, None if np.isnan(shape) else shape)

    @property
    def sigma(self) -> float:
        """1 without a dispersion parameter; else lme4's ``sigma()`` (see the module's notes)."""
        return self._sigma

    def ranef(self, condvar: bool = True) -> RanefDict:
        """As :meth:`MixedModelResult.ranef`; with a scale the conditional variances are
        σ² times the unscaled ones, as lme4's ``ranef(fit, condVar = TRUE)``.

        Parameters
        ----------
        condvar : bool
            Attach the conditional variances.

        Returns
        -------
        RanefDict
            Grouping factor → DataFrame of modes (``.condsd``: their conditional SDs).

        Raises
        ------
        None
            The modes come from the fit.
        """
        if not self.use_scale or not self.fit.condvar:
            return super().ranef(condvar)
        s2 = self.sigma**2
        vals, sds, cvs = ranef_tables(self._blocks, self.fit.b, [np.asarray(c) * s2 for c in self.fit.condvar])
        return RanefDict(vals, sds, cvs, show_condvar=condvar)

    @property
    def deviance(self) -> float:
        """lme4's ``deviance()`` of a GLMM: Σ squared deviance residuals at the modes."""
        return float(self.fit.deviance_residuals)

    def _eta_values(self) -> np.ndarray:
        return np.asarray(self.fit.eta, dtype=float).copy()

    @property
    def linear_predictor(self) -> pd.Series:
        """η = Xβ + Zb + offset, a Series named ``linear_predictor`` indexed like the data's used rows."""
        return prediction.per_row(self._eta_values(), self.frame, None, "linear_predictor")

    def _prior_weights(self) -> np.ndarray:
        w = self.frame.weights
        return np.ones(len(self.frame.y)) if w is None else np.asarray(w, dtype=float)

    def residuals(self, type: str = "deviance", scaled: bool = False) -> pd.Series:  # noqa: A002 - R name
        """Residuals as R's ``residuals.glm``: ``"deviance"`` (default), ``"pearson"``,
        ``"response"`` (y - μ) or ``"working"`` ((y - μ) / (dμ/dη)); ``scaled=True`` divides
        them by ``sigma`` (lme4's ``residuals(fit, type, scaled = TRUE)``).

        Parameters
        ----------
        type : str
            ``"deviance"``, ``"pearson"``, ``"response"`` or ``"working"``.
        scaled : bool
            Divide by ``sigma``.

        Returns
        -------
        pandas.Series
            One residual per used row, named ``residuals``, indexed like the data's used rows.

        Raises
        ------
        MerxError
            An unknown ``type``.
        """
        r = self._residuals(type)
        return prediction.per_row(r / self.sigma if scaled else r, self.frame, None, "residuals")

    def _residuals(self, type: str) -> np.ndarray:  # noqa: A002 - R name
        y = np.asarray(self.frame.y, dtype=float)
        mu = self._fitted_values()
        fam = self._glm_family()
        if type == "response":
            return y - mu
        if type == "working":
            return (y - mu) / np.asarray(fam.mu_eta(self._eta_values()))
        w = self._prior_weights()
        if type == "pearson":
            return (y - mu) * np.sqrt(w) / np.sqrt(np.asarray(fam.variance(mu)))
        if type == "deviance":
            d = np.asarray(fam.deviance_residuals(y, mu, w))
            return np.sign(y - mu) * np.sqrt(np.maximum(d, 0.0))
        raise MerxError(f"unknown residual type {type!r}: use 'deviance', 'pearson', 'response' or 'working'")

    def predict(self, newdata: Any = None, re_form: Any = None, allow_new_levels: bool = False,
                type: str = "link") -> pd.Series:  # noqa: A002 - R name
        """Predictions (lme4's ``predict(fit, newdata, re.form, allow.new.levels, type)``):
        ``type="link"`` (default, as lme4) on the scale of η, ``"response"`` on the scale of μ.

        Parameters
        ----------
        newdata : DataFrame or dict of columns, optional
            Rows to predict (default: the fitted rows).
        re_form : None or str
            None: all random effects; ``"~0"``: none; ``"~(1 | g)"``: those of ``g``.
        allow_new_levels : bool
            New levels at the population level (else an error).
        type : str
            ``"link"`` or ``"response"``.

        Returns
        -------
        pandas.Series
            One prediction per row, named ``predicted``, indexed like ``newdata`` (like the
            data's used rows without it).

        Raises
        ------
        MerxError
            An unknown ``type``.
        DataError
            Missing variables, or new levels with ``allow_new_levels=False``.
        """
        if type not in ("link", "response"):
            raise MerxError(f"unknown prediction type {type!r}: use 'link' or 'response'")
        eta = prediction.predict(self.frame, self._beta, self.fit.b, self._eta_values(), newdata, re_form,
                                 allow_new_levels)
        eta = np.asarray(eta, dtype=float)
        if type == "response":
            eta = np.asarray(self._glm_family().link_inverse(np.ascontiguousarray(eta)))
        return prediction.per_row(eta, self.frame, newdata, "predicted")

    # -- tables and printing ----------------------------------------------

    def summary(self, correlation: bool | None = None) -> GlmerSummary:
        """lme4's ``summary(fit)`` of a ``glmerMod``; ``str()`` of the result is its printed layout.

        Parameters
        ----------
        correlation : bool, optional
            Print the correlation of the fixed effects (default: as lme4, up to 12 of them).

        Returns
        -------
        GlmerSummary
            ``str()`` is the printed summary; its tables are attributes.

        Raises
        ------
        None
            The summary is formatted from the fit.
        """
        return GlmerSummary(self, correlation)

    def __str__(self) -> str:
        return glmer_layouts.format_glmer_print(self, formula_lines(self.call_formula)).removesuffix("\n")

    __repr__ = __str__
