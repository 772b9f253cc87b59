"""The fitted generalized linear mixed model: :class:`GlmerResult` (lme4's ``glmerMod``).

Everything a mixed model offers comes from :class:`~merx.results.base.MixedModelResult`;
a GLMM adds the family, the link, fitted values on the response scale, residuals of every
type and predictions on both scales. The family's functions (inverse link, variance,
deviance residuals) are the Rust core's (``merx._core.GlmFamily``).

Conventions of lme4 kept on purpose:

* ``deviance`` is lme4's ``deviance()`` of a GLMM: the sum of squared deviance residuals at
  the conditional modes (73.47 for cbpp), not -2 log-likelihood (``-2 * logLik``, which
  ``summary()`` prints as ``deviance``).
* ``sigma`` is 1 for the binomial and Poisson families (no dispersion parameter).
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

from .. import _core
from ..errors import MerxError
from ..families import NegativeBinomial
from ..formula.deparse_lines import formula_lines
from ..rstyle import glmer_layouts
from . import prediction
from .base import MixedModelResult
from .summary import GlmerSummary

__all__ = ["GlmerResult"]


class GlmerResult(MixedModelResult):
    """A fitted generalized linear mixed model (lme4's ``glmerMod``).

    Parameters as :class:`~merx.results.base.MixedModelResult`, and ``nAGQ`` as given to
    ``glmer`` (1, the default: the Laplace approximation; 0: lme4's ``nAGQ = 0`` fit; more:
    adaptive Gauss-Hermite quadrature), which the printed title names as lme4's does.
    """

    #: The binomial and Poisson families have no scale parameter.
    n_scale_params = 0
    use_scale = False
    stat_name = "z value"

    def __init__(self, frame, fit, data_name=None, call_formula=None, problem=None, weights_name=None,
                 offset_name=None, nAGQ: int = 1, shape_estimated: bool = False):  # noqa: N803 - lme4 name
        super().__init__(frame, fit, data_name, call_formula, problem, weights_name, offset_name)
        self.nAGQ = int(nAGQ)
        self._shape_estimated = bool(shape_estimated)

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
        return 1.0

    @property
    def deviance(self) -> float:
        """lme4's ``deviance()`` of a GLMM: Σ squared deviance residuals at the modes."""
        return float(self.fit.deviance_residuals)

    @property
    def linear_predictor(self) -> np.ndarray:
        """η = Xβ + Zb + offset."""
        return np.asarray(self.fit.eta, dtype=float).copy()

    def _prior_weights(self) -> np.ndarray:
        w = self.frame.weights
        return np.ones(len(self.frame.y)) if w is None else np.asarray(w, dtype=float)

    def residuals(self, type: str = "deviance", scaled: bool = False) -> np.ndarray:  # noqa: A002 - R name
        """Residuals as R's ``residuals.glm``: ``"deviance"`` (default), ``"pearson"``,
        ``"response"`` (y - μ) or ``"working"`` ((y - μ) / (dμ/dη))."""
        y = np.asarray(self.frame.y, dtype=float)
        mu = self.fitted
        fam = self._glm_family()
        if type == "response":
            return y - mu
        if type == "working":
            return (y - mu) / np.asarray(fam.mu_eta(self.linear_predictor))
        w = self._prior_weights()
        if type == "pearson":
            return (y - mu) * np.sqrt(w) / np.sqrt(np.asarray(fam.variance(mu)))
        if type == "deviance":
            d = np.asarray(fam.deviance_residuals(y, mu, w))
            return np.sign(y - mu) * np.sqrt(np.maximum(d, 0.0))
        raise MerxError(f"unknown residual type {type!r}: use 'deviance', 'pearson', 'response' or 'working'")

    def predict(self, newdata: Any = None, re_form: Any = None, allow_new_levels: bool = False,
                type: str = "link") -> np.ndarray:  # noqa: A002 - R name
        """Predictions (lme4's ``predict(fit, newdata, re.form, allow.new.levels, type)``):
        ``type="link"`` (default, as lme4) on the scale of η, ``"response"`` on the scale of μ."""
        if type not in ("link", "response"):
            raise MerxError(f"unknown prediction type {type!r}: use 'link' or 'response'")
        eta = prediction.predict(self.frame, self._beta, self.fit.b, self.linear_predictor, newdata, re_form,
                                 allow_new_levels)
        eta = np.asarray(eta, dtype=float)
        if type == "link":
            return eta
        return np.asarray(self._glm_family().link_inverse(np.ascontiguousarray(eta)))

    # -- tables and printing ----------------------------------------------

    def summary(self, correlation: bool | None = None) -> GlmerSummary:
        """lme4's ``summary(fit)`` of a ``glmerMod``; ``str()`` of the result is its printed layout."""
        return GlmerSummary(self, correlation)

    def __str__(self) -> str:
        return glmer_layouts.format_glmer_print(self, formula_lines(self.call_formula)).removesuffix("\n")

    __repr__ = __str__
