"""lme4's ``summary(fit)``: :class:`LmerSummary` (linear mixed model) and
:class:`GlmerSummary` (GLMM), and their table of fixed-effects coefficients (also behind
``tidy()`` of every result)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ..formula.deparse_lines import formula_lines
from ..rstyle import glmer_layouts, layouts

__all__ = ["LmerSummary", "GlmerSummary", "coefficient_table"]


def coefficient_table(fixef: pd.Series, vcov: pd.DataFrame, stat_name: str = "t value",
                      normal_pvalues: bool | None = None) -> pd.DataFrame:
    """Estimate, Std. Error (square roots of the diagonal of ``vcov``) and the Wald statistic,
    one row per fixed effect.

    ``stat_name="t value"`` (lme4's ``lmerMod``): no p-values, as lme4. ``"z value"``
    (``glmerMod``): a ``Pr(>|z|)`` column of two-sided normal p-values follows, as lme4's
    ``2 * pnorm(abs(z), lower.tail = FALSE)``. ``normal_pvalues`` (default: for a z value)
    asks for that column whatever the statistic is called: lme4 prints a GLMM with a scale
    (Gamma, inverse.gaussian, gaussian) with ``t value`` and ``Pr(>|z|)``.
    """
    est = fixef.to_numpy()
    se = np.sqrt(np.diag(vcov.to_numpy()))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = est / se
    out = pd.DataFrame({"Estimate": est, "Std. Error": se, stat_name: t}, index=list(fixef.index))
    if stat_name == "z value" if normal_pvalues is None else normal_pvalues:
        # erfc keeps the upper tail's precision far out (lme4 prints 1.47e-09, < 2e-16)
        out["Pr(>|z|)"] = [math.nan if math.isnan(z) else math.erfc(abs(z) / math.sqrt(2.0)) for z in t]
    return out


class _MerSummary:
    """What ``summary(fit)`` holds for every merMod."""

    def __init__(self, result: Any, correlation: bool | None = None):
        self.result = result
        self.correlation = correlation
        self.coefficients = coefficient_table(result.fixef, result.vcov, result.stat_name, result.normal_pvalues)
        self.varcor = result.VarCorr
        # None for a fit to data read in batches: its rows are not held.
        self.scaled_residuals = result.residuals("pearson", scaled=True).to_numpy() if getattr(
            result, "rows_in_memory", True) else None
        self.ngrps = result.ngrps
        self.nobs = result.nobs
        self.correlation_matrix = result.vcov_correlation().to_numpy()

    def _ml_aictab(self, deviance: float) -> dict:
        r = self.result
        return {"AIC": r.AIC, "BIC": r.BIC, "logLik": r.logLik, "deviance": deviance, "df.resid": r.df_residual}


class LmerSummary(_MerSummary):
    """``summary(fit)``: ``str()`` is lme4's ``print(summary(fit))``.

    Attributes: ``ddf`` (``"Satterthwaite"``, ``"Kenward-Roger"``: lmerTest's summary, whose
    ``coefficients`` add df and Pr(>|t|) and whose title names the method; ``"lme4"``:
    lme4's), ``coefficients`` (DataFrame Estimate / Std. Error / [df /] t value [/ Pr(>|t|)]),
    ``varcor``, ``scaled_residuals``, ``ngrps``, ``nobs``, ``correlation_matrix``
    (of the fixed effects), ``aictab`` (dict), ``result`` (the fit, an
    :class:`~merx.results.lmer.LmerResult`; read through its attributes only, so
    that this module does not import the result classes).

    As in lme4, the correlation of the fixed effects is printed when there are
    at most 12 coefficients (``correlation=True`` forces it, ``False`` hides it);
    lme4's stderr message about a hidden matrix is not reproduced.
    """

    def __init__(self, result: Any, correlation: bool | None = None, ddf: str = "lme4"):
        super().__init__(result, correlation)
        self.ddf = ddf
        if ddf != "lme4":  # lmerTest's table: df and Pr(>|t|) columns
            self.coefficients = result.coef_table(ddf)
        self.aictab = {"REML": result.REMLcrit} if result.reml else self._ml_aictab(result.deviance)

    def __str__(self) -> str:
        return layouts.format_summary(self, formula_lines(self.result.call_formula)).removesuffix("\n")

    __repr__ = __str__


class GlmerSummary(_MerSummary):
    """``summary(fit)`` of a GLMM: ``str()`` is lme4's ``print(summary(fit))`` of a ``glmerMod``.

    As :class:`LmerSummary`, with ``coefficients`` holding Estimate / Std. Error / z value /
    Pr(>|z|) (normal p-values), ``scaled_residuals`` the Pearson residuals, and ``aictab``
    whose ``deviance`` is -2 log-likelihood (lme4's summary table; the result's
    ``deviance`` is lme4's ``deviance()``, the sum of squared deviance residuals).
    """

    def __init__(self, result: Any, correlation: bool | None = None):
        super().__init__(result, correlation)
        self.aictab = self._ml_aictab(-2.0 * result.logLik)

    def __str__(self) -> str:
        return glmer_layouts.format_glmer_summary(self, formula_lines(self.result.call_formula)).removesuffix("\n")

    __repr__ = __str__
