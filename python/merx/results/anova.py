"""The likelihood-ratio table of nested mixed models: :class:`AnovaResult` (lme4's
``anova(m0, m1, ...)``, an ``anova`` data frame with its heading).

The models arrive checked, refitted where needed and in lme4's order (by number of
parameters) from :func:`merx.models.anova.anova`; here the table is derived from their
log-likelihoods, as lme4 1.1-31's ``anova.merMod`` does:

* ``npar``: the degrees of freedom of ``logLik``; ``AIC`` = -2 logLik + 2 npar, ``BIC`` =
  -2 logLik + npar log(n); ``deviance`` = -2 logLik (also for a GLMM, whose ``deviance()``
  is another quantity);
* ``Chisq`` = 2 max(0, logLik - logLik of the row above), ``Df`` = npar - npar of the row
  above, ``Pr(>Chisq)`` = the chi-squared upper tail of ``Chisq`` on ``Df`` degrees of
  freedom (NA where ``Df`` is 0); all three NA (NaN here) in the first row.

``str()`` is R's ``print.anova`` of it (see :mod:`merx.rstyle.anova_layout`).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..formula.deparse_lines import formula_lines
from ..rstyle.anova_layout import format_anova
from .distributions import chisq_upper_tail

__all__ = ["AnovaResult", "ANOVA_COLUMNS", "deparse1_formula"]

ANOVA_COLUMNS = ["npar", "AIC", "BIC", "logLik", "deviance", "Chisq", "Df", "Pr(>Chisq)"]


def deparse1_formula(formula: str) -> str:
    """R's ``deparse1(formula)`` (one line: ``width.cutoff = 500``, lines joined by a space),
    as lme4's ``anova`` writes the formulas under ``Models:``."""
    return " ".join(formula_lines(formula, cutoff=500))


class AnovaResult:
    """lme4's ``anova(m0, m1, ...)``: likelihood-ratio tests of nested models.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per model, in order of increasing number of parameters, indexed by the
        model names; columns ``npar``, ``AIC``, ``BIC``, ``logLik``, ``deviance``,
        ``Chisq``, ``Df``, ``Pr(>Chisq)`` (NaN where lme4 shows NA).
    models : dict
        Model name → the fit the row was computed from (the ML refit of a REML fit), in
        the table's order.
    data_name : str or None
        The name on the ``Data:`` line (left out of the printed heading when None).
    refitted : list of str
        The names of the models that were refitted with ML.
    """

    def __init__(self, models: Sequence[Any], names: Sequence[str], data_name: str | None = None,
                 refitted: Sequence[str] = ()):
        self.models = dict(zip(names, models))
        self.data_name = data_name
        self.refitted = list(refitted)
        self.formulas = {nm: deparse1_formula(m.call_formula) for nm, m in self.models.items()}
        self.table = _lrt_table(list(models), list(names))

    @property
    def heading(self) -> list[str]:
        """The lines above the table: ``Data: ...``, ``Models:``, ``name: formula``."""
        lines = [] if self.data_name is None else [f"Data: {self.data_name}"]
        return lines + ["Models:"] + [f"{nm}: {f}" for nm, f in self.formulas.items()]

    @property
    def chisq(self) -> pd.Series:
        """The likelihood-ratio statistics (NaN in the first row)."""
        return self.table["Chisq"]

    @property
    def p_values(self) -> pd.Series:
        """``Pr(>Chisq)`` of each row (NaN in the first row)."""
        return self.table["Pr(>Chisq)"]

    def __str__(self) -> str:
        t = self.table
        cols = [t[c].to_numpy(dtype=float).tolist() for c in ANOVA_COLUMNS]
        return "\n".join(format_anova(self.heading, [str(i) for i in t.index], ANOVA_COLUMNS, cols))

    __repr__ = __str__


def _lrt_table(models: list, names: list) -> pd.DataFrame:
    llk = np.array([float(m.logLik) for m in models])
    npar = np.array([int(m.df) for m in models])
    chisq = [math.nan] + [2.0 * max(0.0, d) for d in np.diff(llk)]
    df = [math.nan] + [float(d) for d in np.diff(npar)]
    pv = [math.nan if (math.isnan(k) or k == 0) else chisq_upper_tail(c, k) for c, k in zip(chisq, df)]
    return pd.DataFrame(
        {
            "npar": npar,
            "AIC": [float(m.AIC) for m in models],
            "BIC": [float(m.BIC) for m in models],
            "logLik": llk,
            "deviance": -2.0 * llk,
            "Chisq": chisq,
            "Df": df,
            "Pr(>Chisq)": pv,
        },
        index=pd.Index(names),
    )
