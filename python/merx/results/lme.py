"""The fitted nlme model: :class:`LmeResult` (nlme's ``lme`` object) with nlme's names.

What every mixed model offers comes from :class:`~merx.results.base.MixedModelResult`;
``lme`` adds nlme's pieces: the residual structure's parameters (``varStruct``: varIdent's
ratios, varPower's power, varExp's expon; ``corStruct``: ``Phi``, ``Phi1``, ``range``), the t-table with
nlme's inner-outer denominator df (:mod:`~merx.results.nlme_df`), residuals of nlme's types,
``predict(level=0|1)``, nlme's BIC (REML: log(N - p)) and ``summary()`` in nlme's layout
(:mod:`~merx.results.lme_summary`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import MerxError
from . import prediction
from .base import MixedModelResult
from .lme_intervals import LmeIntervals, lme_intervals
from .lme_summary import LmeSummary
from .lme_varcorr import LmeVarCorr, lme_varcorr
from .nlme_structure import NlmeStructureMethods
from .nlme_df import nlme_fixed_df
from .t_and_f import t_two_sided_p

__all__ = ["LmeResult"]


class LmeResult(NlmeStructureMethods, MixedModelResult):
    """A fitted ``lme`` model. Beyond the common result's arguments: ``fixed`` and ``random``
    (nlme's formulas as given), ``method`` ("REML" or "ML") and ``structure`` (the residual
    structure's :class:`~merx.models.nlme_structures.ResidualStructureInfo`: specs, strata,
    covariate, groups)."""

    def __init__(self, frame: Any, fit: Any, *, fixed: str, random: str, method: str,
                 structure: Any = None, **kwargs: Any):
        super().__init__(frame, fit, **kwargs)
        self.fixed_formula = fixed
        self.random_formula = random
        self.method = method
        self._setup_structure(structure)

    # -- parameters and likelihood -------------------------------------------

    @property
    def n_params(self) -> int:
        """β, θ, the residual structure's parameters and σ (nlme's ``attr(logLik, "df")``)."""
        return super().n_params + int(self._structure_params.size)

    @property
    def VarCorr(self) -> LmeVarCorr:  # noqa: N802 - nlme name
        """nlme's ``VarCorr(m)``: lme4's variance components, printed in nlme's layout."""
        return lme_varcorr(self, super().VarCorr)

    # -- fixed effects ---------------------------------------------------------

    @property
    def fixed_df(self) -> pd.Series:
        """nlme's denominator df of each fixed effect (``getFixDF``: the inner-outer rule)."""
        groups = self._groups_outer_first()
        df = nlme_fixed_df(np.asarray(self.frame.X), [np.asarray(b.codes) for b in groups])
        return pd.Series(df, index=list(self.frame.x_names), name="DF")

    @property
    def tTable(self) -> pd.DataFrame:  # noqa: N802 - nlme name
        """nlme's ``summary(m)$tTable``: Value, Std.Error, DF, t-value, p-value."""
        est = self._beta
        se = np.sqrt(np.diag(self.vcov.to_numpy()))
        df = self.fixed_df.to_numpy()
        t = est / se
        p = [t_two_sided_p(float(ti), float(d)) for ti, d in zip(t, df)]
        return pd.DataFrame({"Value": est, "Std.Error": se, "DF": df, "t-value": t, "p-value": p},
                            index=list(self.frame.x_names))

    # -- fitted values, residuals, prediction -----------------------------------

    def _groups_outer_first(self) -> list:
        return sorted({b.group: b for b in self._blocks}.values(), key=lambda b: len(b.levels))

    def _level(self, level: int | None) -> int:
        q = len(self._groups_outer_first())
        if level is None:
            return q
        if not isinstance(level, (int, np.integer)) or not 0 <= level <= q:
            raise MerxError(
                f"level must be 0 (population) to {q} (every grouping level, nlme's default), not {level!r}"
            )
        return int(level)

    def residuals(self, type: str = "response", level: int | None = None) -> pd.Series:  # noqa: A002 - nlme name
        """nlme's ``residuals(m, level, type)``: ``"response"`` y - fitted at ``level`` (0:
        population; k: with the random effects of the k outermost grouping levels; default the
        innermost), ``"pearson"`` divided by the row's residual SD (σ·s_i), ``"normalized"``
        whitened by the estimated correlation as well (the Pearson ones without one).

        Parameters
        ----------
        type : str
            ``"response"`` (default), ``"pearson"`` or ``"normalized"``.
        level : int, optional
            0 (population) to the number of grouping levels (default).

        Returns
        -------
        pandas.Series
            One residual per used row, named ``residuals``, indexed like the data's used rows.

        Raises
        ------
        MerxError
            An unknown ``type`` or ``level``.
        """
        fitted = self.predict(level=level).to_numpy()
        r = np.asarray(self.frame.y, dtype=float) - fitted
        values = self._structure_residuals(r, type, self._level(level) == self._level(None))
        return prediction.per_row(values, self.frame, None, "residuals")

    def predict(self, newdata: Any = None, level: int | None = None) -> pd.Series:  # type: ignore[override]
        """nlme's ``predict(m, newdata, level)``: level 0 the fixed part Xβ, level k adds the
        conditional modes of the k outermost grouping levels (default: all, nlme's innermost).

        Parameters
        ----------
        newdata : DataFrame or dict of columns, optional
            Rows to predict (default: the fitted rows).
        level : int, optional
            0 (population) to the number of grouping levels (default).

        Returns
        -------
        pandas.Series
            One prediction per row, named ``predicted``, indexed like ``newdata`` (like the
            data's used rows without it).

        Raises
        ------
        DataError
            ``newdata`` without a variable of the model, or with values the model frame refuses.
        MerxError
            A ``level`` out of range.
        """
        k = self._level(level)
        groups = self._groups_outer_first()
        if k == len(groups):
            re_form = None
        elif k == 0:
            re_form = "~0"
        else:
            re_form = "~" + " + ".join(f"(1 | {b.group})" for b in groups[:k])
        return super().predict(newdata, re_form=re_form)

    # -- tables ----------------------------------------------------------------

    def intervals(self, level: float = 0.95, which: str = "all") -> LmeIntervals:
        """nlme's ``intervals(m, level, which)``: t intervals of the fixed effects with nlme's
        df, Wald intervals of the variance parameters on nlme's unconstrained scale
        (:mod:`~merx.results.lme_intervals`); ``which`` is "all", "fixed" or "var-cov".

        Parameters
        ----------
        level : float
            Coverage, in (0, 1).
        which : str
            ``"all"``, ``"fixed"`` or ``"var-cov"``.

        Returns
        -------
        LmeIntervals
            ``str()`` nlme's printed intervals; the tables are attributes.

        Raises
        ------
        MerxError
            ``level`` outside (0, 1) or an unknown ``which``.
        """
        return lme_intervals(self, level, which)

    def summary(self, correlation: bool | None = None) -> LmeSummary:
        """nlme's ``summary(m)``; ``str()`` of it is ``print(summary(m))``.

        Parameters
        ----------
        correlation : bool, optional
            Not used: nlme's summary always prints the correlation of the fixed effects
            (the argument keeps the other results' signature).

        Returns
        -------
        LmeSummary
            ``str()`` is the printed summary; its tables are attributes.

        Raises
        ------
        None
            The summary is formatted from the fit.
        """
        return LmeSummary(self)

    def __str__(self) -> str:
        return str(self.summary())
