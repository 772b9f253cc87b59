"""lme4's ``summary(fit)`` of a linear mixed model: :class:`LmerSummary`, and its
table of fixed-effects coefficients (also behind ``tidy()`` of every result)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..formula.deparse_lines import formula_lines
from ..rstyle import layouts

__all__ = ["LmerSummary", "coefficient_table"]


def coefficient_table(fixef: pd.Series, vcov: pd.DataFrame) -> pd.DataFrame:
    """Estimate, Std. Error (square roots of the diagonal of ``vcov``) and t value,
    one row per fixed effect."""
    est = fixef.to_numpy()
    se = np.sqrt(np.diag(vcov.to_numpy()))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = est / se
    return pd.DataFrame({"Estimate": est, "Std. Error": se, "t value": t}, index=list(fixef.index))


class LmerSummary:
    """``summary(fit)``: ``str()`` is lme4's ``print(summary(fit))``.

    Attributes: ``coefficients`` (DataFrame Estimate / Std. Error / t value),
    ``varcor``, ``scaled_residuals``, ``ngrps``, ``nobs``, ``correlation_matrix``
    (of the fixed effects), ``aictab`` (dict), ``result`` (the fit, an
    :class:`~merx.results.lmer.LmerResult`; read through its attributes only, so
    that this module does not import the result classes).

    As in lme4, the correlation of the fixed effects is printed when there are
    at most 12 coefficients (``correlation=True`` forces it, ``False`` hides it);
    lme4's stderr message about a hidden matrix is not reproduced.
    """

    def __init__(self, result: Any, correlation: bool | None = None):
        self.result = result
        self.correlation = correlation
        self.coefficients = coefficient_table(result.fixef, result.vcov)
        self.varcor = result.VarCorr
        self.scaled_residuals = result.residuals("pearson", scaled=True)
        self.ngrps = result.ngrps
        self.nobs = result.nobs
        self.correlation_matrix = result.vcov_correlation().to_numpy()
        if result.reml:
            self.aictab = {"REML": result.REMLcrit}
        else:
            self.aictab = {
                "AIC": result.AIC,
                "BIC": result.BIC,
                "logLik": result.logLik,
                "deviance": result.deviance,
                "df.resid": result.df_residual,
            }

    def __str__(self) -> str:
        return layouts.format_summary(self, formula_lines(self.result.call_formula)).removesuffix("\n")

    __repr__ = __str__
