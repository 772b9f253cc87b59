"""The fitted nlme ``gls`` model: :class:`GlsResult`, with nlme's names (``coef``,
``tTable``, ``varStruct``, ``corStruct``, residuals of nlme's three types) and
``print(summary(m))`` in nlme's layout (``print.summary.gls``).

The core fits gls as a mixed model with one single-level term held at θ = 0 (see
:mod:`merx.models.gls`); that term is the result frame's only block and is never shown.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from ..frame.random_effects import RandomEffectBlock
from ..rstyle.matrices import format_data_frame, print_matrix, print_named_vector
from ..rstyle.numbers import R_DIGITS, format_real, quantile7, r_round, zapsmall
from . import prediction
from .base import MixedModelResult
from .lme_intervals import LmeIntervals, lme_intervals
from .lme_summary import _correlation_lines, _deparse_formula, correlation_structure_lines, variance_function_lines
from .nlme_structure import NlmeStructureMethods
from .t_and_f import t_two_sided_p

__all__ = ["GlsResult"]


class GlsResult(NlmeStructureMethods, MixedModelResult):
    """A fitted ``gls`` model: ``model`` (the formula as given), ``method`` and ``structure``
    (the residual structure's info)."""

    #: The single-level term gls holds at θ = 0 (the core's model is lme's without random effects).
    held_group = "(gls)"

    def __init__(self, frame: Any, fit: Any, *, model: str, method: str, structure: Any = None, **kwargs: Any):
        n = len(frame.y)
        held = RandomEffectBlock(group=self.held_group, codes=np.zeros(n, dtype=np.int64), levels=["1"],
                                 columns=["(Intercept)"], Z=np.ones((n, 1)))
        super().__init__(dataclasses.replace(frame, blocks=[held]), fit, call_formula=model, **kwargs)
        self.model_formula = model
        self.method = method
        self._setup_structure(structure)

    @property
    def n_params(self) -> int:
        """β, the residual structure's parameters and σ (nlme's ``attr(logLik, "df")``)."""
        return int(self._beta.size + self._structure_params.size + 1)

    @property
    def coef(self) -> pd.Series:  # type: ignore[override]
        """nlme's ``coef(m)``: the coefficients."""
        return self.fixef

    @property
    def tTable(self) -> pd.DataFrame:  # noqa: N802 - nlme name
        """nlme's ``summary(m)$tTable``: Value, Std.Error, t-value, p-value (df N - p)."""
        est = self._beta
        se = np.sqrt(np.diag(self.vcov.to_numpy()))
        t = est / se
        df = self.nobs - est.size
        p = [t_two_sided_p(float(ti), float(df)) for ti in t]
        return pd.DataFrame({"Value": est, "Std.Error": se, "t-value": t, "p-value": p}, index=list(self.frame.x_names))

    def residuals(self, type: str = "response") -> pd.Series:  # type: ignore[override]  # noqa: A002 - nlme name
        """nlme's ``residuals(m, type)``: ``"response"``, ``"pearson"`` (divided by σ·s_i),
        ``"normalized"`` (whitened by the estimated correlation as well).

        Parameters
        ----------
        type : str
            ``"response"`` (default), ``"pearson"`` or ``"normalized"``.

        Returns
        -------
        pandas.Series
            One residual per used row, named ``residuals``, indexed like the data's used rows.

        Raises
        ------
        MerxError
            An unknown ``type``.
        """
        r = np.asarray(self.frame.y, dtype=float) - self._fitted_values()
        return prediction.per_row(self._structure_residuals(r, type, True), self.frame, None, "residuals")

    def predict(self, newdata: Any = None) -> pd.Series:  # type: ignore[override]
        """nlme's ``predict(m, newdata)``: Xβ.

        Parameters
        ----------
        newdata : DataFrame or dict of columns, optional
            Rows to predict (default: the fitted rows).

        Returns
        -------
        pandas.Series
            One prediction per row, named ``predicted``, indexed like ``newdata`` (like the
            data's used rows without it).

        Raises
        ------
        DataError
            ``newdata`` without a variable of the model, or with values the model frame refuses.
        """
        return super().predict(newdata, re_form="~0")

    def intervals(self, level: float = 0.95, which: str = "all") -> LmeIntervals:
        """nlme's ``intervals(m, level, which)`` of a gls fit: t intervals of the coefficients
        (df N - p), Wald intervals of the structure's parameters and σ (see
        :mod:`~merx.results.lme_intervals`); ``which`` is "all", "coef" or "var-cov".

        Parameters
        ----------
        level : float
            Coverage, in (0, 1).
        which : str
            ``"all"``, ``"coef"`` (or ``"fixed"``) or ``"var-cov"``.

        Returns
        -------
        LmeIntervals
            ``str()`` nlme's printed intervals; the tables are attributes.

        Raises
        ------
        MerxError
            ``level`` outside (0, 1) or an unknown ``which``.
        """
        return lme_intervals(self, level, "fixed" if which == "coef" else which)

    def summary(self, correlation: bool | None = None) -> str:  # type: ignore[override]
        """nlme's ``print(summary(m))``.

        Parameters
        ----------
        correlation : bool, optional
            Not used: nlme's summary always prints the correlation of the fixed effects
            (the argument keeps the other results' signature).

        Returns
        -------
        str
            The printed summary.

        Raises
        ------
        None
            The summary is formatted from the fit.
        """
        return gls_summary(self)

    def __str__(self) -> str:
        return self.summary()


def gls_summary(r: GlsResult) -> str:
    """nlme's ``print.summary.gls``."""
    title = "REML" if r.method == "REML" else "maximum likelihood"
    crit = pd.DataFrame({"AIC": [r.AIC], "BIC": [r.BIC], "logLik": [r.logLik]}, index=[" "])
    lines = [f"Generalized least squares fit by {title}", f"  Model: {_deparse_formula(r.model_formula)} ",
             f"  Data: {r.data_name or 'data'} "]
    lines += format_data_frame(crit) + [""]
    lines += correlation_structure_lines(r)
    lines += variance_function_lines(r)
    if r.corStruct is not None or r.varStruct is not None:
        lines.append("")
    tab = r.tTable
    cols = [format_real(zapsmall(tab[c].to_numpy()), R_DIGITS) for c in ["Value", "Std.Error", "t-value"]]
    cols.append(format_real([r_round(float(p), 4) for p in tab["p-value"]], R_DIGITS))
    lines.append("Coefficients:")
    lines += print_matrix([[c[i] for c in cols] for i in range(len(tab))], list(tab.index), list(tab.columns), right=True)
    corr = _correlation_lines(list(r.frame.x_names), r.vcov_correlation().to_numpy())
    if corr:
        lines += [""] + corr
    lines += ["", "Standardized residuals:"]
    lines += print_named_vector(format_real(quantile7(r.residuals("pearson").to_numpy()), R_DIGITS), ["Min", "Q1", "Med", "Q3", "Max"])
    lines += ["", f"Residual standard error: {format_real([r.sigma], R_DIGITS)[0]} ",
              f"Degrees of freedom: {r.nobs} total; {r.nobs - r._beta.size} residual"]
    return "\n".join(lines) + "\n"
