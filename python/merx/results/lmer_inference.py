"""lmerTest's tests of the fixed effects on an lmer fit: t tests with Satterthwaite's or
Kenward-Roger's denominator degrees of freedom (``summary``, ``tidy``, ``contest``) and
lmerTest's F tables (``anova(type=...)``).

The variance-parameter derivatives come from the core at the estimates, once per method and
fit (cached on the result); a result read back from a pickle rebuilds its core problem from
the model frame through the builder that :mod:`merx.models.lmer` registers (results never
import models).
"""

from __future__ import annotations

from statistics import NormalDist
from typing import Any, Callable

import numpy as np
import pandas as pd

from .. import _core
from ..errors import MerxError, warn_user
from ..rstyle.anova_layout import format_anova
from .contrasts import contrasts_type1, contrasts_type2, contrasts_type3
from .ddf import check_ddf, contrast_f_test, contrast_t_test
from .t_and_f import t_quantile

__all__ = ["LmerInference", "LmerAnova", "register_problem_builder"]

_PROBLEM_BUILDER: list = []


def register_problem_builder(build: Callable[[Any, bool], Any]) -> None:
    """``build(frame, REML)`` → a ``merx._core.LinearMixedModel`` (set by merx.models.lmer)."""
    _PROBLEM_BUILDER[:] = [build]


class LmerAnova(pd.DataFrame):
    """lmerTest's ``anova(fit, type, ddf)``: a DataFrame indexed by term with ``sum_sq,
    mean_sq, num_df, den_df, f_value, p_value``; ``str()`` prints lmerTest's table."""

    _metadata = ["heading"]

    @property
    def _constructor(self):
        return LmerAnova

    def __str__(self) -> str:
        cols = [self[c].to_numpy(dtype=float) for c in ("sum_sq", "mean_sq", "num_df", "den_df", "f_value", "p_value")]
        names = ["Sum Sq", "Mean Sq", "NumDF", "DenDF", "F value", "Pr(>F)"]
        return "\n".join(format_anova(self.heading, list(self.index), names, cols))

    __repr__ = __str__


_TYPE_NAMES = {"1": "I", "2": "II", "3": "III", "I": "I", "II": "II", "III": "III"}


class LmerInference:
    """The lmerTest methods of :class:`~merx.results.lmer.LmerResult` (a mixin)."""

    def _core_problem(self, purpose: str):
        """The core's model of this fit: the one fitted, or rebuilt from the frame's rows (a
        pickled result keeps none)."""
        problem = getattr(self, "_problem", None)
        if not isinstance(problem, _core.LinearMixedModel) or bool(problem.reml) != self.reml:
            if not _PROBLEM_BUILDER:
                raise MerxError(f"this result has no model to compute {purpose} from")
            problem = _PROBLEM_BUILDER[0](self.frame, self.reml)
        return problem

    def _variance_inference(self, method: str):
        cache = self.__dict__.setdefault("_ddf_cache", {})
        if method not in cache:
            problem = self._core_problem("degrees of freedom")
            cache[method] = _core.variance_parameter_inference(problem, [float(v) for v in self.theta], method)
        return cache[method]

    def _compute_conditional_variances(self) -> list:
        # The same estimates at the same θ as the fit's own, with the conditional variances.
        problem = self._core_problem("conditional variances")
        return list(problem.estimates([float(v) for v in self._theta], condvar=True).condvar)

    def ddf_method(self, ddf: str | None = None) -> str:
        """The method of ``summary()``/``tidy()``: ``ddf`` checked, or by default Satterthwaite's,
        unless the model is too large for its exact derivatives (their dense q × q working
        set over the random effects exceeds the core's budget): then lme4's, with a warning.

        Parameters
        ----------
        ddf : str, optional
            A method to check; None: the default's choice.

        Returns
        -------
        str
            ``"Satterthwaite"``, ``"Kenward-Roger"`` or ``"lme4"``.

        Raises
        ------
        ValueError
            An unknown ``ddf``.
        """
        if ddf is not None:
            return check_ddf(ddf)
        try:
            self._variance_inference("Satterthwaite")
        except ValueError as err:
            if "dense" not in str(err):
                raise
            warn_user(f"no Satterthwaite degrees of freedom, lme4's table instead: {err}", UserWarning)
            return "lme4"
        return "Satterthwaite"

    def _fixef_values(self) -> np.ndarray:
        return self.fixef.to_numpy(dtype=float)

    def coef_table(self, ddf: str = "Satterthwaite") -> pd.DataFrame:
        """The fixed-effects table of ``summary(fit, ddf=...)``: Estimate, Std. Error, df,
        t value, Pr(>|t|) (lmerTest's ``get_coefmat``); ``ddf="lme4"``: lme4's three columns.

        Parameters
        ----------
        ddf : str
            ``"Satterthwaite"`` (default), ``"Kenward-Roger"`` (REML fits) or ``"lme4"``.

        Returns
        -------
        pandas.DataFrame
            One row per fixed effect.

        Raises
        ------
        ValueError
            An unknown ``ddf``, or a model too large for the degrees of freedom's derivatives.
        """
        method = check_ddf(ddf)
        if method == "lme4":
            est = self._fixef_values()
            se = np.sqrt(np.diag(self.vcov.to_numpy()))
            return pd.DataFrame({"Estimate": est, "Std. Error": se, "t value": est / se}, index=list(self.fixef.index))
        inf = self._variance_inference(method)
        p = len(self.fixef)
        rows = [contrast_t_test(inf, self._fixef_values(), np.eye(p)[i], method) for i in range(p)]
        return pd.DataFrame(
            {
                "Estimate": [r.estimate for r in rows],
                "Std. Error": [r.std_error for r in rows],
                "df": [r.df for r in rows],
                "t value": [r.t_value for r in rows],
                "Pr(>|t|)": [r.p_value for r in rows],
            },
            index=list(self.fixef.index),
        )

    def tidy(self, level: float = 0.95, ddf: str | None = None) -> pd.DataFrame:
        """Fixed-effects table: term, estimate, std_error, df, statistic (t), p_value,
        conf_low, conf_high (t intervals with the method's df, Satterthwaite's by default as
        for ``summary()``; ``ddf="lme4"``: no df or p-value and normal intervals, as lme4).

        Parameters
        ----------
        level : float
            Coverage of the intervals, in (0, 1).
        ddf : str, optional
            As ``summary()``; None: Satterthwaite's (lme4's for a model too large).

        Returns
        -------
        pandas.DataFrame
            One row per fixed effect.

        Raises
        ------
        ValueError
            ``level`` outside (0, 1), or an unknown ``ddf``.
        """
        if not 0 < level < 1:
            raise ValueError(f"level must be between 0 and 1, not {level!r}")
        tab = self.coef_table(self.ddf_method(ddf))
        out = pd.DataFrame({"term": list(tab.index), "estimate": tab["Estimate"].to_numpy(),
                            "std_error": tab["Std. Error"].to_numpy()})
        if "df" in tab:
            out["df"] = tab["df"].to_numpy()
            out["statistic"] = tab["t value"].to_numpy()
            out["p_value"] = tab["Pr(>|t|)"].to_numpy()
            mult = np.array([t_quantile(0.5 + level / 2.0, d) for d in out["df"]])
        else:
            out["statistic"] = tab["t value"].to_numpy()
            mult = np.full(len(out), NormalDist().inv_cdf(0.5 + level / 2.0))
        out["conf_low"] = out["estimate"] - mult * out["std_error"]
        out["conf_high"] = out["estimate"] + mult * out["std_error"]
        return out

    def contest(self, L: Any, ddf: str = "Satterthwaite", joint: bool = True, level: float = 0.95) -> pd.DataFrame:
        """lmerTest's ``contest``: ``joint=True`` the F test of Lβ = 0 (one row: Sum Sq, Mean
        Sq, NumDF, DenDF, F value, Pr(>F)); ``joint=False`` a t test per row of L (Estimate,
        Std. Error, df, t value, lower, upper, Pr(>|t|)). ``L``: a vector or matrix with one
        column per fixed effect, or a DataFrame whose columns are fixed-effect names.

        Parameters
        ----------
        L : array-like or pandas.DataFrame
            The contrasts, one row each.
        ddf : str
            ``"Satterthwaite"`` (default), or ``"Kenward-Roger"`` (REML fits).
        joint : bool
            One F test of all rows (default) or a t test per row.
        level : float
            Coverage of the t tests' intervals.

        Returns
        -------
        pandas.DataFrame
            The F test (one row) or the t tests (one row per contrast).

        Raises
        ------
        ValueError
            ``ddf="lme4"``, columns of L that are not fixed effects, a wrong number of columns,
            or missing or infinite entries.
        """
        method = check_ddf(ddf)
        if method == "lme4":
            raise ValueError("contest needs degrees of freedom: use ddf='Satterthwaite' or 'Kenward-Roger'")
        names = list(self.fixef.index)
        if isinstance(L, pd.DataFrame):
            unknown = [c for c in L.columns if c not in names]
            if unknown:
                raise ValueError(f"L has columns that are not fixed effects: {unknown}; the fixed effects are {names}")
            L = L.reindex(columns=names, fill_value=0.0).to_numpy(dtype=float)
        L = np.atleast_2d(np.asarray(L, dtype=float))
        if L.shape[1] != len(names):
            raise ValueError(f"L has {L.shape[1]} columns but the model has {len(names)} fixed effects ({names})")
        if not np.all(np.isfinite(L)):
            raise ValueError("L has missing or infinite entries")
        inf = self._variance_inference(method)
        if joint:
            r = contrast_f_test(inf, self._fixef_values(), L, method)
            return pd.DataFrame({"Sum Sq": [r.sum_sq], "Mean Sq": [r.mean_sq], "NumDF": [r.num_df],
                                 "DenDF": [r.den_df], "F value": [r.f_value], "Pr(>F)": [r.p_value]})
        rows = [contrast_t_test(inf, self._fixef_values(), row, method) for row in L]
        out = pd.DataFrame({"Estimate": [r.estimate for r in rows], "Std. Error": [r.std_error for r in rows],
                            "df": [r.df for r in rows], "t value": [r.t_value for r in rows]})
        mult = np.array([t_quantile(0.5 + level / 2.0, r.df) for r in rows])
        out["lower"] = out["Estimate"] - mult * out["Std. Error"]
        out["upper"] = out["Estimate"] + mult * out["Std. Error"]
        out["Pr(>|t|)"] = [r.p_value for r in rows]
        return out

    def anova(self, type: Any = 3, ddf: str = "Satterthwaite") -> LmerAnova:  # noqa: A002 - lmerTest's name
        """lmerTest's ``anova(fit, type, ddf)``: an F test per fixed-effects term (type 3:
        marginal, type 2: each term after those that do not contain it, type 1: sequential), with ``sum_sq, mean_sq, num_df, den_df, f_value,
        p_value``. For comparing models use :func:`merx.anova`.

        Parameters
        ----------
        type : int or str
            1, 2 or 3 (or ``"I"``, ``"II"``, ``"III"``).
        ddf : str
            ``"Satterthwaite"`` (default) or ``"Kenward-Roger"``.

        Returns
        -------
        LmerAnova
            The table (``.table``, a DataFrame; ``str()`` lmerTest's layout).

        Raises
        ------
        ValueError
            An unknown ``type`` or ``ddf``, or ``ddf="lme4"``.
        """
        kind = _TYPE_NAMES.get(str(type).upper())
        if kind is None:
            raise ValueError(f"type must be 1, 2 or 3 (or 'I', 'II', 'III'), not {type!r}")
        method = check_ddf(ddf)
        if method == "lme4":
            raise ValueError("lme4's anova table has no degrees of freedom: use ddf='Satterthwaite' or 'Kenward-Roger'")
        fr = self.frame
        X = np.asarray(fr.X, dtype=float)
        design = fr._fixed_design
        if kind == "I":
            lists = contrasts_type1(X, list(fr.x_assign), list(fr.fixed_term_labels))
        elif kind == "II":
            lists = contrasts_type2(X, list(fr.x_assign), list(fr.fixed_term_labels), list(design.terms),
                                    list(design.var_kinds))
        else:
            lists = contrasts_type3(X, list(fr.x_assign), list(fr.fixed_term_labels), list(fr.x_names),
                                    fr.full_dummy_matrix(), list(design.terms), list(design.var_kinds))
        inf = self._variance_inference(method)
        rows = {label: contrast_f_test(inf, self._fixef_values(), L, method) for label, L in lists.items()}
        table = LmerAnova({
            "sum_sq": [r.sum_sq for r in rows.values()],
            "mean_sq": [r.mean_sq for r in rows.values()],
            "num_df": [r.num_df for r in rows.values()],
            "den_df": [r.den_df for r in rows.values()],
            "f_value": [r.f_value for r in rows.values()],
            "p_value": [r.p_value for r in rows.values()],
        }, index=list(rows))
        table.heading = [f"Type {kind} Analysis of Variance Table with {method}'s method"]
        return table
