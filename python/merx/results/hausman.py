"""The result of :func:`merx.hausman`: the statistic, both estimators' coefficient tables, the
random-effects model's variance components, and the printed layout of R's ``print.htest`` as
plm's ``phtest`` shows it.

The statistic of the contrast test is plm 2.6-2's: |d' (V_within - V_random)⁻¹ d| with an
ordinary inverse (R's ``solve``, which refuses a computationally singular matrix) and the
absolute value. When V_within - V_random is not positive definite the quadratic form can be
negative and its absolute value is not chi-squared under the null; plm 2.6-2 says nothing
then, merx warns (:func:`hausman_statistic`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import MerxError, warn_user
from ..rstyle.matrices import format_pval, strwrap
from ..rstyle.numbers import format_real
from .distributions import chisq_upper_tail
from .panel_estimators import Estimate

__all__ = ["HausmanResult", "hausman_statistic", "coefficient_frame", "NOT_POSITIVE_DEFINITE"]

ALTERNATIVE = "one model is inconsistent"
#: R's ``.Machine$double.eps``, the reciprocal-condition floor of ``solve``
_R_SOLVE_TOL = 2.220446049250313e-16
_R_DIGITS = 7  # getOption("digits"); print.htest shows the statistic with digits - 2, the p-value digits - 3
_R_WIDTH = 80

NOT_POSITIVE_DEFINITE = (
    "the covariance difference V_within - V_random of the Hausman test is not positive definite "
    "(smallest eigenvalue {min_eigen:.4g}): the statistic is |d' (V_within - V_random)^-1 d| as plm "
    "computes it, and its chi-squared p-value is unreliable"
)


def coefficient_frame(est: Estimate) -> pd.DataFrame:
    """Estimates and standard errors indexed by the coefficient names."""
    return pd.DataFrame({"estimate": est.coef, "std_error": est.std_error}, index=pd.Index(est.names, name="term"))


def hausman_statistic(within: Estimate, random: Estimate) -> tuple[float, list, bool]:
    """plm's contrast statistic over the coefficients both estimators have (the intercept
    excluded), the names it compares and whether the covariance difference is positive definite."""
    common = [n for n in random.names if n in within.names and n != "(Intercept)"]
    if not common:
        raise MerxError("the within and random-effects estimators have no coefficient in common to compare")
    iw = [within.names.index(n) for n in common]
    ir = [random.names.index(n) for n in common]
    d = within.coef[iw] - random.coef[ir]
    dvcov = within.vcov[np.ix_(iw, iw)] - random.vcov[np.ix_(ir, ir)]
    rcond = 1.0 / np.linalg.cond(dvcov, 1)
    if not rcond >= _R_SOLVE_TOL:
        raise MerxError(
            f"the covariance difference V_within - V_random of {', '.join(common)} is computationally singular "
            f"(reciprocal condition number {rcond:.6g}): the Hausman statistic cannot be computed"
        )
    min_eigen = float(np.min(np.linalg.eigvalsh((dvcov + dvcov.T) / 2.0)))
    positive_definite = min_eigen > 0.0
    if not positive_definite:
        warn_user(NOT_POSITIVE_DEFINITE.format(min_eigen=min_eigen), UserWarning)
    statistic = abs(float(d @ np.linalg.solve(dvcov, d)))
    return statistic, common, positive_definite


@dataclass(eq=False)
class HausmanResult:
    """A Hausman test of the within (fixed-effects) against the random-effects estimator.

    ``statistic`` (chi-squared), ``df``, ``p_value``; ``within`` and ``random``: DataFrames of
    ``estimate`` and ``std_error``; ``variance_components``: ``sigma2_idios``, ``sigma2_id``
    (individual effects) or ``sigma2_time`` (time effects) and ``theta`` (one number for a
    balanced panel, else one per observation, as plm's ``ercomp``); ``compared``: the
    coefficients the contrast test compares; ``dropped``: regressors constant within every
    group, which the within estimator cannot estimate; ``positive_definite``: whether
    V_within - V_random is (the contrast test); ``method``, ``data_name``, ``alternative``:
    the lines of R's printed test."""

    statistic: float
    df: int
    method: str
    data_name: str
    within: pd.DataFrame
    random: pd.DataFrame
    variance_components: dict
    random_method: str
    effect: str
    compared: list = field(default_factory=list)
    dropped: list = field(default_factory=list)
    positive_definite: bool | None = None
    alternative: str = ALTERNATIVE

    @property
    def p_value(self) -> float:
        """R's ``pchisq(statistic, df, lower.tail = FALSE)``."""
        return chisq_upper_tail(self.statistic, self.df)

    @property
    def pvalue(self) -> float:
        return self.p_value

    def format(self) -> str:
        """R's ``print.htest`` of plm's ``phtest``.

        Returns
        -------
        str
            The printed test.

        Raises
        ------
        None
            The text is formatted from the result.
        """
        lines = ["", "\t" + self.method, "", f"data:  {self.data_name}"]
        stat = format_real([self.statistic], max(1, _R_DIGITS - 2))[0].strip()
        df = format_real([self.df], max(1, _R_DIGITS - 2))[0].strip()
        p = format_pval([self.p_value], max(1, _R_DIGITS - 3))[0]
        p_text = f"p-value {p}" if p.startswith("<") else f"p-value = {p}"
        lines += strwrap(f"chisq = {stat}, df = {df}, {p_text}", int(0.9 * _R_WIDTH))
        lines += [f"alternative hypothesis: {self.alternative}", ""]
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return self.format()

    def __repr__(self) -> str:
        return self.format()
