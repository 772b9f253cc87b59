"""What every fitted mixed model offers about the uncertainty of its estimates:
:class:`IntervalMethods`, a mixin of :class:`~merx.results.base.MixedModelResult`
(``tidy``, ``confint``, ``profile``, ``vcov_correlation``, ``variance_components``,
``isSingular``). The profilers are registered by ``merx.models`` in
:mod:`~merx.results.confint` (results import nothing of models)."""

from __future__ import annotations

from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from ..errors import MerxError
from .confint import PROFILE_TABLES, confint_table
from .summary import coefficient_table
from .theta_layout import block_covariance, theta_upper
from .varcorr import cov2cor

__all__ = ["IntervalMethods", "SINGULAR_TOL"]

#: lme4's ``isSingular`` tolerance.
SINGULAR_TOL = 1e-4


class IntervalMethods:
    """Mixin: needs ``fixef``, ``vcov``, ``VarCorr``, ``theta_lower``, ``_theta``, ``_blocks``,
    ``stat_name``, ``normal_pvalues`` and ``bootstrap`` of the result."""

    def isSingular(self, tol: float = SINGULAR_TOL) -> bool:  # noqa: N802 - lme4 name
        """lme4's ``isSingular(fit, tol)``: a θ on its lower bound 0 (within ``tol``); for
        glmmTMB's structures also an angle on either end of its range (ar1's |φ| = 1, cs's
        ρ = -1/(k-1) or 1), where the covariance matrix is singular too.

        Parameters
        ----------
        tol : float
            Distance from a bound counted as on it.

        Returns
        -------
        bool
            Whether the fit is on the boundary of the parameter space.

        Raises
        ------
        None
        """
        lower = self.theta_lower.to_numpy()
        upper = np.array([u for b in self._blocks for u in theta_upper(len(b.columns), block_covariance(b))])
        on_lower = np.isfinite(lower) & (self._theta - lower < tol)
        on_upper = np.isfinite(upper) & (upper - self._theta < tol)
        return bool(np.any(on_lower | on_upper))

    def vcov_correlation(self) -> pd.DataFrame:
        """Correlation matrix of the fixed-effects estimates (lme4's ``cov2cor(vcov(fit))``).

        Returns
        -------
        pandas.DataFrame
            Rows and columns named by the fixed effects.

        Raises
        ------
        None
        """
        V = self.vcov
        return pd.DataFrame(cov2cor(V.to_numpy()), index=V.index, columns=V.columns)

    def variance_components(self) -> pd.DataFrame:
        """Variances per random effect and residual, with their share of the total variance.

        Returns
        -------
        pandas.DataFrame
            group, effect, variance, sd, var_prop.

        Raises
        ------
        None
        """
        return self.VarCorr.variance_components()

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """Fixed-effects table with Wald (normal) intervals.

        Parameters
        ----------
        level : float
            Coverage of ``conf_low``/``conf_high``.

        Returns
        -------
        pandas.DataFrame
            term, estimate, std_error, statistic (the t value of a linear mixed model, the z
            value of a GLMM, its t value with a scale), p_value (GLMMs only: two-sided normal,
            as lme4's ``Pr(>|z|)``; lme4 gives none for a linear mixed model), conf_low,
            conf_high.

        Raises
        ------
        None
        """
        coefs = coefficient_table(self.fixef, self.vcov, self.stat_name, self.normal_pvalues)
        est = coefs["Estimate"].to_numpy()
        se = coefs["Std. Error"].to_numpy()
        z = NormalDist().inv_cdf(0.5 + level / 2.0)
        out = {"term": list(coefs.index), "estimate": est, "std_error": se,
               "statistic": coefs[self.stat_name].to_numpy()}
        if "Pr(>|z|)" in coefs.columns:
            out["p_value"] = coefs["Pr(>|z|)"].to_numpy()
        out["conf_low"] = est - z * se
        out["conf_high"] = est + z * se
        return pd.DataFrame(out)

    def profile(self, which: Any = None, alphamax: float = 0.01, maxpts: int = 100,
                progress: bool | None = None) -> pd.DataFrame:
        """lme4's ``profile(fit)``: ζ = sign(v - v̂)√(dev(v) - dev(v̂)) along a path out from each
        estimate to |ζ| = qnorm(1 - alphamax/2), the other parameters re-optimised at each
        point; the ML deviance for an lmer fit (also a REML one, as lme4), the Laplace deviance
        for a glmer fit.

        Parameters
        ----------
        which : optional
            The parameters (as ``confint``'s ``parm``; default all).
        alphamax : float
            The path's end: |ζ| = qnorm(1 - alphamax/2).
        maxpts : int
            Most points per direction.
        progress : bool or None
            A bar over the parameters (None: in a terminal or notebook); Ctrl-C stops the
            profile, the result untouched.

        Returns
        -------
        pandas.DataFrame
            Long table: parameter, value, zeta.

        Raises
        ------
        MerxError
            A model kind without profiles, or invalid arguments.
        """
        if not PROFILE_TABLES:
            raise MerxError("profiles need merx.models.profile_table (imported by the merx package)")
        return PROFILE_TABLES[0](self, which, alphamax, maxpts, progress)

    def confint(self, parm: Any = None, level: float = 0.95, method: str = "profile", nsim: int = 500,
                seed: Any = None, boot_type: str = "perc", progress: bool | None = None,
                **boot_args: Any) -> pd.DataFrame:
        """Confidence intervals as lme4's ``confint(fit, parm, level, method)``.

        Parameters
        ----------
        parm : optional
            Names, 1-based positions, ``"theta_"`` or ``"beta_"`` (default all).
        level : float
            Coverage.
        method : str
            ``"profile"`` (lme4's default: likelihood-profile intervals of the ML deviance, also
            for a REML fit, or of a GLMM's Laplace deviance), ``"Wald"`` (β ± z·SE; NaN for the
            variance components) or ``"boot"`` (parametric bootstrap).
        nsim, seed : optional
            ``method="boot"``: replicates and seed.
        boot_type : str
            ``"perc"`` (lme4's default), ``"basic"`` or ``"norm"``.
        progress : bool or None
            A bar over the profiled parameters or the replicates.
        **boot_args
            ``kind=`` and the other arguments of :meth:`bootstrap`.

        Returns
        -------
        pandas.DataFrame
            Rows ``sd_``/``cor_`` per random-effects term, ``sigma``, then the fixed effects;
            columns ``2.5 %``, ``97.5 %`` (of ``level``).

        Raises
        ------
        MerxError
            An unknown ``method`` or ``parm``, a ``level`` outside (0, 1), or a model kind
            without that method.
        """
        if isinstance(method, str) and method.lower() == "boot":
            boot = self.bootstrap(nsim, seed=seed, progress=progress, **boot_args)
            return confint_table(self, parm=parm, level=level, method=method,
                                 boot_limits=lambda rows, lv: boot.confint(type=boot_type, level=lv, parm=rows))
        return confint_table(self, parm=parm, level=level, method=method, progress=progress)
