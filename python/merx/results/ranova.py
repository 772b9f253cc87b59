"""The table of lmerTest's ``ranova(model)``: :class:`RanovaResult` (single term deletions
of the random-effects terms, an ``anova`` data frame with its heading).

The reduced models are fitted by :mod:`merx.models.ranova`, which registers itself here
(the results stage imports nothing of the models stage); the table is lmerTest 3.x's
``mk_LRtab``: ``npar`` (logLik's df), ``logLik`` (the REML log-likelihood for a REML fit,
as lmerTest), ``AIC`` = -2 logLik + 2 npar, ``LRT`` = 2 (logLik of the model - logLik of
the reduced one), ``Df`` = difference in npar, ``Pr(>Chisq)`` the chi-squared upper tail
(NA, here NaN, in the ``<none>`` row). ``str()`` is R's ``print.anova`` of it, followed by
merx's note on the boundary (lmerTest prints no such note).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from ..errors import MerxError
from ..rstyle.anova_layout import format_anova
from .distributions import chisq_upper_tail

__all__ = ["RanovaResult", "RANOVA_COLUMNS", "RANOVA_TITLE", "BOUNDARY_NOTE", "register_ranova", "ranova_of"]

RANOVA_COLUMNS = ["npar", "logLik", "AIC", "LRT", "Df", "Pr(>Chisq)"]
RANOVA_TITLE = "ANOVA-like table for random-effects: Single term deletions"
BOUNDARY_NOTE = (
    "Note: each reduced model sets random-effect variances to 0, on the boundary of the parameter\n"
    "space, where the chi-squared reference distribution of LRT does not hold: its p-values are\n"
    "conservative (too large; for one variance the null distribution is the 50:50 mixture of\n"
    "chi-squared(0) and chi-squared(1), half the p-value shown)."
)

_RANOVA: list[Callable] = []


def register_ranova(fn: Callable) -> None:
    """Registers the function that fits the reduced models (:mod:`merx.models.ranova`)."""
    _RANOVA[:] = [fn]


def ranova_of(result: Any, reduce_terms: bool = True) -> "RanovaResult":
    """lmerTest's ``ranova(result, reduce.terms)`` through the registered model stage."""
    if not _RANOVA:
        raise MerxError("ranova() needs merx.models.ranova, which registers itself when merx is imported")
    return _RANOVA[0](result, reduce_terms=reduce_terms)


class RanovaResult:
    """lmerTest's ``ranova(model)``: likelihood-ratio tests of reduced random-effects terms.

    Attributes
    ----------
    table : pandas.DataFrame
        Rows ``<none>`` (the model) and one per reduction (``Days in (Days | Subject)``,
        ``(1 | Subject)``, ...); columns ``npar``, ``logLik``, ``AIC``, ``LRT``, ``Df``,
        ``Pr(>Chisq)`` (NaN where lmerTest shows NA).
    formula : str
        The model's formula as lmerTest prints it on the ``Model:`` line.
    formulae : dict
        Row name → the formula of the reduced model.
    models : dict
        Row name → the reduced fit (an ``LmerResult``; None where no random-effects term
        is left, whose log-likelihood is that of the linear model, as lmerTest's ``lm``).
    """

    def __init__(self, formula: str, names: Sequence[str], npar: Sequence[int], loglik: Sequence[float],
                 formulae: Sequence[str], models: Sequence[Any]):
        self.formula = formula
        self.formulae = dict(zip(names[1:], formulae))
        self.models = dict(zip(names[1:], models))
        self.table = _lr_table(list(names), np.asarray(npar, dtype=int), np.asarray(loglik, dtype=float))

    @property
    def heading(self) -> list[str]:
        """``cat(heading, sep = "\\n")`` of lmerTest's heading."""
        return [RANOVA_TITLE, "", "Model:", self.formula]

    @property
    def p_values(self) -> pd.Series:
        return self.table["Pr(>Chisq)"]

    def format(self, note: bool = True) -> str:
        """R's printed table (lmerTest's layout); ``note`` appends merx's boundary note.

        Parameters
        ----------
        note : bool
            Append the note on tests at the boundary.

        Returns
        -------
        str
            The printed table.

        Raises
        ------
        None
            The text is formatted from the result.
        """
        t = self.table
        cols = [t[c].to_numpy(dtype=float).tolist() for c in RANOVA_COLUMNS]
        lines = format_anova(self.heading, [str(i) for i in t.index], RANOVA_COLUMNS, cols)
        return "\n".join(lines + ([BOUNDARY_NOTE] if note else []))

    def __str__(self) -> str:
        return self.format()

    __repr__ = __str__


def _lr_table(names: list, npar: np.ndarray, loglik: np.ndarray) -> pd.DataFrame:
    lrt = [math.nan] + [2.0 * (loglik[0] - v) for v in loglik[1:]]
    df = [math.nan] + [float(npar[0] - k) for k in npar[1:]]
    pv = [math.nan] + [
        math.nan if not d > 0 else (1.0 if x <= 0 else chisq_upper_tail(x, d)) for x, d in zip(lrt[1:], df[1:])
    ]
    return pd.DataFrame(
        {"npar": npar, "logLik": loglik, "AIC": -2.0 * loglik + 2.0 * npar, "LRT": lrt, "Df": df, "Pr(>Chisq)": pv},
        index=pd.Index(names),
    )
