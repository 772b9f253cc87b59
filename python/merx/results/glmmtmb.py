"""``GlmmTMBResult``: a model fitted by ``merx.glmmTMB`` (the core's general Laplace engine),
with glmmTMB's names: ``fixef``/``vcov`` by component (``cond``, ``zi``, ``disp``),
``sigma`` as glmmTMB's ``sigma()`` (σ for gaussian, θ for nbinom2, φ for nbinom1 and beta,
1/√shape for Gamma, 1 for poisson and binomial; NaN with a dispersion model beyond an
intercept, where glmmTMB returns NA), ``fitted`` as glmmTMB's (μ(1 - p) with zero
inflation), ``residuals(type="response"|"pearson")`` and ``predict(type="link"|"response"|
"conditional"|"zprob"|"disp")``.

Pearson residuals are glmmTMB 1.1's: y - fitted over √v with v the family's variance
function (R's: μ for poisson, μ(1 - μ) for binomial (times the trials' weight), μ² for Gamma,
μ(1 - μ) for beta, 1 for gaussian; μ + μ²/θ and μ(1 + φ) for nbinom2 and nbinom1), for the
one-parameter variance functions times (d/σ)² with d the row's dispersion on ``sigma()``'s
scale (1 with a dispersion intercept only; NaN, as glmmTMB's NA, beyond it); zero-inflated:
v(1 - p) + μ²p(1 - p) with v times d² instead.
"""

from __future__ import annotations

from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from .. import _core
from ..errors import MerxError
from . import prediction
from .base import MixedModelResult
from .glmmtmb_summary import GlmmTMBSummary
from .ranef import RanefDict, ranef_tables
from .summary import coefficient_table
from .varcorr import VarCorr, varcorr_terms

__all__ = ["GlmmTMBResult"]

#: A core family whose link functions include each link (for the inverse link).
_LINK_HOLDER = {"logit": "binomial", "probit": "binomial", "cloglog": "binomial", "log": "poisson",
                "identity": "gaussian", "sqrt": "poisson", "inverse": "Gamma"}
COMPONENTS = ("cond", "zi", "disp")


def _refused(name: str):
    """A result method glmmTMB fits do not have in merx yet: it raises, with what to use instead."""
    def method(self, *args: Any, **kwargs: Any) -> Any:
        raise MerxError(f"{name}() of a glmmTMB fit is not available in merx; tidy(level=...) gives Wald "
                        "intervals of the fixed effects")
    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"""Not available for glmmTMB fits in merx yet (lme4 fits have ``{name}``).

        Parameters
        ----------
        *args, **kwargs
            The other results' arguments, not used.

        Returns
        -------
        None
            Never returns.

        Raises
        ------
        MerxError
            Always; ``tidy(level=...)`` gives Wald intervals of the fixed effects.
        """
    return method


class GlmmTMBResult(MixedModelResult):
    """A glmmTMB-style fit: see the module's notes for glmmTMB's names."""

    use_scale = False
    stat_name = "z value"
    normal_pvalues = True

    def __init__(self, frame: Any, fit: Any, family: Any, zi: Any, disp: Any, reml_fit: Any = None, **kwargs: Any):
        super().__init__(frame, fit, **kwargs)
        self.family = family
        self.zi = zi
        self.disp = disp
        # A REML fit of the linear mixed model (the LMM core's): its criterion is the
        # objective and its vcov(β̂) the conditional block, as glmmTMB(REML = TRUE).
        self.reml_fit = reml_fit

    # -- parameters -------------------------------------------------------

    @property
    def family_name(self) -> str:
        return str(self.fit.family)

    @property
    def link(self) -> str:
        return str(self.fit.link)

    @property
    def fixef(self) -> dict:  # type: ignore[override]
        """``{"cond": β, "zi": β_zi, "disp": β_d}`` (Series; empty for a part the model lacks)."""
        return {
            "cond": pd.Series(np.asarray(self.fit.beta, dtype=float), index=list(self.frame.x_names), name="cond"),
            "zi": pd.Series(np.asarray(self.fit.beta_zi, dtype=float), index=self.zi.names, name="zi", dtype=float),
            "disp": pd.Series(np.asarray(self.fit.beta_disp, dtype=float), index=self.disp.names, name="disp",
                              dtype=float),
        }

    def _param_slices(self) -> dict:
        n_theta = len(self._theta)
        p, pz, pd_ = len(self.fit.beta), len(self.fit.beta_zi), len(self.fit.beta_disp)
        a = n_theta
        return {"cond": slice(a, a + p), "zi": slice(a + p, a + p + pz), "disp": slice(a + p + pz, a + p + pz + pd_)}

    @property
    def vcov(self) -> dict:  # type: ignore[override]
        """Per component the covariance of its fixed effects (blocks of the inverse Hessian
        of -log L over all parameters: glmmTMB's ``vcov()``); names as glmmTMB's (``zi~x``,
        ``d~x``)."""
        cov = self.fit.cov
        out = {}
        prefix = {"cond": "", "zi": "zi~", "disp": "d~"}
        for comp, sl in self._param_slices().items():
            names = [prefix[comp] + n for n in self.fixef[comp].index]
            k = len(names)
            block = np.full((k, k), np.nan) if cov is None else np.asarray(cov)[sl, sl]
            if self.reml_fit is not None:
                block = np.asarray(self.reml_fit.vcov_beta) if comp == "cond" else np.full((k, k), np.nan)
            out[comp] = pd.DataFrame(block, index=names, columns=names)
        return out

    @property
    def sigma(self) -> float:
        """glmmTMB's ``sigma()``."""
        bd = np.asarray(self.fit.beta_disp, dtype=float)
        fam = self.family_name
        if fam in ("poisson", "binomial"):
            return 1.0
        if bd.size != 1 or self.disp.names != ["(Intercept)"]:
            return float("nan")
        return float({"gaussian": np.exp(0.5 * bd[0]), "Gamma": np.exp(-0.5 * bd[0])}.get(fam, np.exp(bd[0])))

    @property
    def n_params(self) -> int:
        return int(np.asarray(self.fit.params).size)

    @property
    def df_residual(self) -> int:
        """n minus the parameters (glmmTMB's REML: minus θ and the dispersion only)."""
        n_beta = len(self.fit.beta) if self.reml_fit is not None else 0
        return self.nobs - (self.n_params - n_beta)

    @property
    def objective(self) -> float:
        """-2 log L (the deviance glmmTMB's summary prints); of a REML fit its criterion."""
        if self.reml_fit is not None:
            return float(self.reml_fit.objective)
        return 2.0 * float(self.fit.objective)

    @property
    def deviance(self) -> float:
        return self.objective

    @property
    def VarCorr(self) -> VarCorr:  # noqa: N802 - lme4 name
        """The conditional model's random-effects covariances (glmmTMB's ``VarCorr(fit)$cond``);
        gaussian fits add the residual σ."""
        gaussian = self.family_name == "gaussian"
        s = self.sigma if gaussian else 1.0
        return VarCorr(varcorr_terms(self._blocks, self._theta_by_block(), 1.0), s, gaussian)

    def ranef(self, condvar: bool = True) -> RanefDict:
        """The conditional modes of the random effects, with glmmTMB's conditional variances
        (TMB's ``sdreport``: Λ H(û)⁻¹ Λ' plus the parameters' uncertainty through ∂b̂/∂x).

        Parameters
        ----------
        condvar : bool
            Show the conditional variances.
        Returns
        -------
        RanefDict
            Grouping factor → DataFrame of modes.
        Raises
        ------
        None
            The modes come from the fit.
        """
        cv = list(self.fit.condvar) or None
        vals, sds, cvs = ranef_tables(self._blocks, self.fit.b, cv)
        return RanefDict(vals, sds, cvs, show_condvar=condvar and cv is not None)

    @property
    def coef(self) -> dict:
        raise MerxError("coef() of a glmmTMB fit is not available in merx: use fixef['cond'] and ranef()")

    # -- fitted values, residuals, predictions -------------------------------

    def _inverse_link(self, eta: np.ndarray) -> np.ndarray:
        fam = _core.GlmFamily(_LINK_HOLDER[self.link], self.link)
        return np.asarray(fam.link_inverse(np.ascontiguousarray(eta, dtype=float)))

    def _fitted_values(self) -> np.ndarray:
        return np.asarray(self.fit.mu, dtype=float) * (1.0 - np.asarray(self.fit.pz, dtype=float))

    @property
    def fitted(self) -> pd.Series:
        """glmmTMB's ``fitted()``: the mean of y, μ(1 - p) with zero inflation; a Series named
        ``fitted`` indexed like the data's used rows."""
        return prediction.per_row(self._fitted_values(), self.frame, None, "fitted")

    def residuals(self, type: str = "response", scaled: bool = False) -> pd.Series:  # noqa: A002 - R name
        """``"response"``: y - fitted; ``"pearson"``: divided by the conditional SD (see the
        module's notes) and multiplied by √weights.

        Parameters
        ----------
        type : str
            ``"response"`` or ``"pearson"``.
        scaled : bool
            Not used (the other results' signature).
        Returns
        -------
        pandas.Series
            One residual per used row, named ``residuals``, indexed like the data's used rows.
        Raises
        ------
        MerxError
            An unknown ``type``.
        """

        return prediction.per_row(self._residual_values(type), self.frame, None, "residuals")

    def _residual_values(self, type: str) -> np.ndarray:  # noqa: A002 - R name
        y = np.asarray(self.frame.y, dtype=float)
        r = y - self._fitted_values()
        if type == "response":
            return r
        if type != "pearson":
            raise MerxError(f"unknown residual type {type!r}: use 'response' or 'pearson'")
        mu, pz = np.asarray(self.fit.mu), np.asarray(self.fit.pz)
        fam = self.family_name
        one_formal = {"poisson": mu, "binomial": mu * (1.0 - mu), "Gamma": mu**2, "beta": mu * (1.0 - mu),
                      "gaussian": np.ones_like(mu)}
        v = one_formal.get(fam)
        if v is None:
            v = np.asarray(self.fit.variance, dtype=float)
        elif fam not in ("poisson", "binomial"):
            d = self._side_prediction("disp", None)
            v = v * (d**2 if self.zi.frame is not None else (d / self.sigma) ** 2)
        if self.zi.frame is not None:
            v = v * (1.0 - pz) + mu**2 * pz * (1.0 - pz)
        out = r / np.sqrt(v)
        if self.frame.weights is not None:
            out = out * np.sqrt(np.asarray(self.frame.weights, dtype=float))
        return out

    def predict(self, newdata: Any = None, re_form: Any = None, allow_new_levels: bool = False,
                type: str = "link") -> pd.Series:  # noqa: A002 - R name
        """glmmTMB's ``predict``: ``type="link"`` (η of the conditional model), ``"conditional"``
        (μ), ``"response"`` (μ(1 - p)), ``"zprob"`` (p), ``"disp"`` (the dispersion on
        ``sigma()``'s scale: σ for gaussian and Gamma, θ or φ otherwise); ``re_form=None``
        with the random effects, ``"NA"``/``"~0"`` without.

        Parameters
        ----------
        newdata : DataFrame or dict of columns, optional
            Rows to predict (default: the fitted rows).
        re_form : None or str
            None: with the random effects; ``"NA"`` or ``"~0"``: without.
        allow_new_levels : bool
            New levels at the population level (else an error).
        type : str
            ``"link"``, ``"conditional"``, ``"response"``, ``"zprob"`` or ``"disp"``.
        Returns
        -------
        pandas.Series
            One prediction per row, named ``predicted``, indexed like ``newdata`` (like the
            data's used rows without it).
        Raises
        ------
        MerxError
            An unknown ``type``.
        DataError
            Missing variables, or new levels with ``allow_new_levels=False``.
        """

        values = self._predict_values(newdata, re_form, allow_new_levels, type)
        return prediction.per_row(values, self.frame, newdata, "predicted")

    def _predict_values(self, newdata: Any, re_form: Any, allow_new_levels: bool, type: str) -> np.ndarray:  # noqa: A002
        if type not in ("link", "response", "conditional", "zprob", "disp"):
            raise MerxError(f"unknown prediction type {type!r}: use 'link', 'response', 'conditional', 'zprob' or 'disp'")
        if type in ("zprob", "disp"):
            return self._side_prediction(type, newdata)
        eta = np.asarray(prediction.predict(self.frame, self._beta, self.fit.b, np.asarray(self.fit.eta), newdata,
                                            re_form, allow_new_levels), dtype=float)
        if type == "link":
            return eta
        mu = self._inverse_link(eta)
        if type == "conditional":
            return mu
        return mu * (1.0 - self._side_prediction("zprob", newdata))

    def _side_prediction(self, what: str, newdata: Any) -> np.ndarray:
        part, beta = (self.zi, self.fit.beta_zi) if what == "zprob" else (self.disp, self.fit.beta_disp)
        if newdata is None:
            if what == "zprob":
                return np.asarray(self.fit.pz, dtype=float).copy()
            phi = np.asarray(self.fit.phi, dtype=float)
        else:
            n = len(newdata)
            if part.frame is None:
                return np.zeros(n) if what == "zprob" else np.ones(n)
            lin = part.frame.new_fixed_matrix(newdata) @ np.asarray(beta, dtype=float)
            if what == "zprob":
                return 1.0 / (1.0 + np.exp(-lin))
            phi = np.exp(lin)
        if self.family_name in ("poisson", "binomial"):
            return np.ones_like(phi)
        return {"gaussian": np.sqrt(phi), "Gamma": 1.0 / np.sqrt(phi)}.get(self.family_name, phi)

    # -- tables -------------------------------------------------------------

    def coef_tables(self) -> dict:
        """Per present component glmmTMB's coefficient table (Estimate, Std. Error, z value, Pr(>|z|)).
        Returns
        -------
        dict of pandas.DataFrame
            ``"cond"``, ``"zi"``, ``"disp"`` (the components present) → table.
        Raises
        ------
        None
            The tables come from the fit.
        """
        fe, vc = self.fixef, self.vcov
        out = {}
        for comp in COMPONENTS:
            if len(fe[comp]) == 0:
                continue
            v = vc[comp].copy()
            v.index = v.columns = list(fe[comp].index)
            out[comp] = coefficient_table(fe[comp], v, "z value", True)
        return out

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """One row per fixed effect: component, term, estimate, std_error, statistic, p_value,
        conf_low, conf_high (Wald, normal).

        Parameters
        ----------
        level : float
            Coverage of the Wald intervals, in (0, 1).
        Returns
        -------
        pandas.DataFrame
            One row per fixed effect of every component.
        Raises
        ------
        statistics.StatisticsError
            ``level`` outside [0, 1) (a ``ValueError``).
        """
        z = NormalDist().inv_cdf(0.5 + level / 2.0)
        rows = []
        for comp, t in self.coef_tables().items():
            est, se = t["Estimate"].to_numpy(), t["Std. Error"].to_numpy()
            rows.append(pd.DataFrame({"component": comp, "term": list(t.index), "estimate": est, "std_error": se,
                                      "statistic": t["z value"].to_numpy(), "p_value": t["Pr(>|z|)"].to_numpy(),
                                      "conf_low": est - z * se, "conf_high": est + z * se}))
        return pd.concat(rows, ignore_index=True)

    confint = _refused("confint")
    profile = _refused("profile")
    simulate = _refused("simulate")
    bootstrap = _refused("bootstrap")
    predict_interval = _refused("predict_interval")

    @property
    def optinfo(self) -> dict:
        message = str(self.fit.message)
        return {"optimizer": "bobyqa+newton", "feval": int(self.fit.n_eval), "conv_code": 0 if self.converged else 1,
                "message": message, "warnings": [] if self.converged else [message], "lme4_messages": []}

    def summary(self, correlation: bool | None = None) -> GlmmTMBSummary:
        """glmmTMB's ``summary(fit)``; ``str()`` is its printed layout.

        Parameters
        ----------
        correlation : bool, optional
            Not used (glmmTMB's summary prints no correlation of the fixed effects).
        Returns
        -------
        GlmmTMBSummary
            ``str()`` is the printed summary.
        Raises
        ------
        None
            The summary is formatted from the fit.
        """
        return GlmmTMBSummary(self)

    def __str__(self) -> str:
        return str(self.summary())

    __repr__ = __str__
