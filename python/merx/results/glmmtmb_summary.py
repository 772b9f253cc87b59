"""``GlmmTMBSummary``: what glmmTMB's ``summary(fit)`` holds; ``str()`` is its printed layout
(:mod:`merx.rstyle.glmmtmb_layout`)."""

from __future__ import annotations

from typing import Any

from ..formula.deparse_lines import formula_lines
from ..rstyle.glmmtmb_layout import format_glmmtmb_summary

__all__ = ["GlmmTMBSummary"]


class GlmmTMBSummary:
    """``summary(fit)`` of a glmmTMB fit: the likelihood table, the random effects and the
    coefficient tables by component (``coefficients``: ``{"cond": DataFrame, ...}``)."""

    def __init__(self, result: Any):
        self.result = result
        self.family = result.family_name
        self.link = result.link
        self.zi_formula = result.zi.formula
        self.disp_formula = result.disp.formula
        self.data_name = result.data_name
        self.AIC, self.BIC, self.logLik = result.AIC, result.BIC, result.logLik
        self.df_residual = result.df_residual
        self.varcor = result.VarCorr
        self.ngrps = result.ngrps
        self.nobs = result.nobs
        self.sigma = result.sigma
        self.coefficients = result.coef_tables()

    def __str__(self) -> str:
        return format_glmmtmb_summary(self, formula_lines(self.result.call_formula)).removesuffix("\n")

    __repr__ = __str__
