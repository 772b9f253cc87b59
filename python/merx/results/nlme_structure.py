"""What nlme's fits with a residual structure share (``lme`` and ``gls``):
:class:`NlmeStructureMethods`, the mixin with the structure's parameters under nlme's names
(``varStruct``, ``corStruct``), each row's residual SD ratio (Pearson residuals) and the
normalized residuals (whitened by the estimated correlation in the core)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ..errors import MerxError


class NlmeStructureMethods:
    """Mixin: needs ``self.fit``, ``self.sigma``, ``self.frame``, ``self._problem``, ``self.nobs``,
    ``self.method``, ``self.n_params`` and a base class with ``vcov`` and ``logLik``."""

    def _setup_structure(self, structure: Any) -> None:
        """Splits the fit's residual parameters (variance function's, then the correlation's)
        and keeps the normalized residuals of the fitted values (for pickled results)."""
        self.structure = structure
        self._strata = structure.strata if structure is not None else None
        self.var_ident = structure.weights if self._strata is not None else None
        params = np.asarray(self.fit.residual_parameters, dtype=float).ravel()
        self._structure_params = params
        has_cor = structure is not None and structure.correlation is not None
        self._variance_params = params[:-1] if has_cor else params
        self._log_ratio = self._variance_params if self._strata is not None else np.zeros(0)
        self._correlation_natural = None
        self._normalized = None
        if has_cor:
            self._correlation_natural = float(self._problem.correlation_natural(float(params[-1])))
            r = np.asarray(self.frame.y, dtype=float) - np.asarray(self.fit.fitted, dtype=float)
            self._normalized = self._problem.normalized_residuals(list(params), np.ascontiguousarray(r), self.sigma)

    @property
    def BIC(self) -> float:  # noqa: N802 - nlme name
        """nlme's BIC: the REML fit's log-likelihood is one of N - p observations."""
        n = self.nobs - (self._beta.size if self.method == "REML" else 0)
        return -2.0 * self.logLik + self.n_params * math.log(n)

    @property
    def vcov(self) -> pd.DataFrame:
        """nlme's ``vcov(m)`` (lme's ``varFix``, gls's ``varBeta``): of an ML fit scaled by
        N/(N - p) (lme4's ML vcov uses σ̂²_ML as it is), of a REML fit the same as lmer's."""
        v = super().vcov
        if self.method == "ML":
            n, p = self.nobs, self._beta.size
            v = v * (n / (n - p))
        return v

    @property
    def varStruct(self) -> pd.Series | None:  # noqa: N802 - nlme name
        """nlme's ``coef(m$modelStruct$varStruct, unconstrained = FALSE)``: varIdent's residual
        SD of each stratum relative to the reference (first) stratum's, varPower's ``power``,
        varExp's ``expon``; None without ``weights``."""
        if self._strata is not None:
            return pd.Series(np.exp(self._log_ratio), index=list(self._strata[1][1:]), name="varStruct")
        if self.structure is None or self.structure.weights is None:
            return None
        return pd.Series(self._variance_params, index=[self.structure.weights.parameter_name], name="varStruct")

    @property
    def corStruct(self) -> pd.Series | None:  # noqa: N802 - nlme name
        """nlme's ``coef(m$modelStruct$corStruct, unconstrained = FALSE)``: ``Phi`` (corAR1,
        corCAR1; ``Phi1`` where nlme turns a corAR1 with gaps into ARMA(1,0)), ``range``
        (corExp), ``Rho`` (corCompSymm); None without ``correlation``."""
        if self._correlation_natural is None:
            return None
        return pd.Series([self._correlation_natural], index=[self.structure.parameter_label], name="corStruct")

    def _row_sd_ratio(self) -> np.ndarray:
        """s_i per row: varIdent's δ_{s(i)}, varPower's |x_i|^power, varExp's exp(expon·x_i)
        (1 without a variance function)."""
        if self._strata is not None:
            ratio = np.concatenate([[1.0], np.exp(self._log_ratio)])
            return ratio[np.asarray(self._strata[0])]
        if self.structure is None or self.structure.covariate is None:
            return np.ones(self.nobs)
        x, d = self.structure.covariate, float(self._variance_params[0])
        return np.abs(x) ** d if self.structure.weights.kind == "varPower" else np.exp(d * x)

    def _structure_residuals(self, r: np.ndarray, type: str, fitted_level: bool) -> np.ndarray:  # noqa: A002
        """Residuals of nlme's ``type`` from the response residuals ``r`` (``fitted_level``:
        those of the fitted values, whose normalized residuals are kept)."""
        if type == "response":
            return r
        if type == "normalized" and self._normalized is not None:
            if fitted_level:
                return self._normalized.copy()
            if self._problem is None:
                raise MerxError("normalized residuals at another level need the fitted model (not pickled)")
            return self._problem.normalized_residuals(list(self._structure_params), np.ascontiguousarray(r, dtype=float), self.sigma)
        if type in ("pearson", "normalized"):
            return r / (self.sigma * self._row_sd_ratio())
        raise MerxError(f"unknown residual type {type!r}: use 'response', 'pearson' or 'normalized'")
