"""What every fitted mixed model offers: :class:`MixedModelResult`.

A result wraps a :class:`~merx.frame.model_frame.ModelFrame` and the typed fit
(``merx._core.MixedModelFit``) of the Rust core and offers the accessors an lme4 user expects of any mixed
model (``fixef``, ``ranef``, ``coef``, ``VarCorr``, ``sigma``, ``theta``,
``vcov``, ``logLik``, ``AIC``, ``BIC``, ``df_residual``, ``nobs``, ``ngrps``,
``fitted``, ``residuals``, ``predict``, ``is_singular``, ``tidy``, ...) and
pickling. A model kind subclasses it with what is its own (the linear mixed
model: :class:`~merx.results.lmer.LmerResult`, with ``REMLcrit``,
``deviance``, ``summary()`` and lme4's printed layout).

The pieces live next door: :mod:`~merx.results.varcorr` (``VarCorr``),
:mod:`~merx.results.ranef` (``ranef()``), :mod:`~merx.results.prediction`
(``predict()``), :mod:`~merx.results.summary` (the coefficient table) and
:mod:`~merx.results.theta_layout` (naming and bounds of θ).

All heavy numerics come from the fit. Python only derives small
quantities: covariance matrices of the random effects from ``theta`` and
``sigma``, correlations, AIC/BIC, residuals and tables.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ..errors import MerxError
from . import prediction
from .interval_methods import SINGULAR_TOL, IntervalMethods
from .simulation_methods import SimulationMethods
from .variance_decomposition import VarianceDecomposition
from .ranef import RanefDict, ranef_tables
from .theta_layout import block_covariance, theta_lower, theta_names, theta_size
from .varcorr import VarCorr, varcorr_terms

__all__ = ["MixedModelResult", "SINGULAR_TOL", "SINGULAR_MESSAGE"]

SINGULAR_MESSAGE = "boundary (singular) fit: see help('isSingular')"


class MixedModelResult(IntervalMethods, VarianceDecomposition, SimulationMethods):
    """A fitted mixed model: the model frame and the Rust core's typed fit.

    Parameters
    ----------
    frame : ModelFrame
        The model frame the model was fitted to.
    fit : merx._core.MixedModelFit
        The typed fit of the Rust core (``theta``, ``beta``, ``b``, ``condvar``,
        ``vcov_beta``, ``sigma``, ``objective``, ``fitted``, ``reml``, the optimizer
        report, ...).
    data_name : str, optional
        Name of the data shown in the ``Data:`` line of the printed output.
    call_formula : str, optional
        The formula as the user wrote it (default: ``frame.formula``).
    problem : optional
        The Rust problem, kept for refits; dropped when pickling.
    weights_name, offset_name : str, optional
        How the ``weights=`` / ``offset=`` arguments were given (a column name),
        printed on lme4's ``Weights:`` / ``Offset:`` lines.
    """

    #: Number of scale parameters estimated besides β and θ (σ of a linear mixed model).
    n_scale_params = 1
    #: Whether the model has a residual scale σ (shown as the ``Residual`` row of ``VarCorr``).
    use_scale = True
    #: The Wald statistic of the coefficient table: lme4's "t value" (no p-values) or, for a
    #: GLMM, "z value" with normal p-values.
    stat_name = "t value"
    #: Whether the coefficient table has lme4's normal ``Pr(>|z|)`` column (every GLMM).
    normal_pvalues = False

    def __init__(
        self,
        frame: Any,
        fit: Any,
        data_name: str | None = None,
        call_formula: str | None = None,
        problem: Any = None,
        weights_name: str | None = None,
        offset_name: str | None = None,
    ):
        self.frame = frame
        self.fit = fit
        self.data_name = data_name if data_name is not None else frame.data_name
        self.call_formula = call_formula if call_formula is not None else frame.formula
        self._problem = problem  # optional Rust problem for refits; never pickled
        # names shown on lme4's "Weights:" / " Offset:" lines (the weights= / offset= arguments)
        self.weights_name = weights_name
        self.offset_name = offset_name
        blocks = list(frame.blocks)
        self._blocks = blocks
        self._theta = np.asarray(self.fit.theta, dtype=float).ravel()
        sizes = [theta_size(len(b.columns), block_covariance(b)) for b in blocks]
        if sum(sizes) != self._theta.size:
            raise MerxError(
                f"fit has {self._theta.size} theta values but the random-effects terms need {sum(sizes)}"
            )
        offsets = [0]
        for size in sizes:
            offsets.append(offsets[-1] + size)
        self._theta_offsets = np.array(offsets, dtype=int)
        self._beta = np.asarray(self.fit.beta, dtype=float).ravel()
        x_names = list(frame.x_names)
        if len(x_names) != self._beta.size:
            raise MerxError(f"fit has {self._beta.size} coefficients but the model frame names {len(x_names)}")

    # -- pickling ---------------------------------------------------------

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_problem"] = None
        state.pop("_ddf_cache", None)  # core objects; recomputed on demand
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    # -- basic quantities -------------------------------------------------

    @property
    def nobs(self) -> int:
        """Number of observations used in the fit."""
        return int(np.asarray(self.frame.y).shape[0])

    @property
    def n_params(self) -> int:
        """Number of estimated parameters: fixed effects, theta and the scale (lme4's logLik df)."""
        return int(self._beta.size + self._theta.size + self.n_scale_params)

    @property
    def df_residual(self) -> int:
        """Residual degrees of freedom as lme4's ``df.residual()``: n minus all
        estimated parameters (fixed effects, theta, sigma), e.g. 180 - 6 = 174
        for ``Reaction ~ Days + (Days | Subject)``."""
        return self.nobs - self.n_params

    @property
    def fixef(self) -> pd.Series:
        """Fixed-effects estimates, indexed by the model-matrix column names."""
        return pd.Series(self._beta.copy(), index=list(self.frame.x_names), name="fixef")

    @property
    def sigma(self) -> float:
        """Residual standard deviation."""
        return float(self.fit.sigma)

    @property
    def theta(self) -> pd.Series:
        """Relative covariance parameters, named as lme4's ``getME(fit, "theta")``."""
        names: list[str] = []
        for b in self._blocks:
            names += theta_names(b.group, list(b.columns), block_covariance(b))
        return pd.Series(self._theta.copy(), index=names, name="theta")

    @property
    def theta_lower(self) -> pd.Series:
        """Lower bounds of theta: 0 for diagonal entries of T, -inf below the diagonal."""
        lower: list[float] = []
        for b in self._blocks:
            lower += theta_lower(len(b.columns), block_covariance(b))
        return pd.Series(lower, index=self.theta.index, name="lower")

    @property
    def is_singular(self) -> bool:
        """lme4's ``isSingular(fit)`` with its default ``tol = 1e-4``."""
        return self.isSingular()

    @property
    def vcov(self) -> pd.DataFrame:
        """Covariance matrix of the fixed-effects estimates."""
        names = list(self.frame.x_names)
        V = np.asarray(self.fit.vcov_beta, dtype=float).reshape(len(names), len(names))
        return pd.DataFrame(V, index=names, columns=names)

    # -- likelihood -------------------------------------------------------

    @property
    def objective(self) -> float:
        """The optimised criterion (of a linear mixed model: the REML criterion of a REML fit, else the ML deviance)."""
        return float(self.fit.objective)

    @property
    def logLik(self) -> float:  # noqa: N802 - lme4 name
        """Log-likelihood of the optimised criterion, as lme4's ``logLik()``."""
        return -self.objective / 2.0

    @property
    def df(self) -> int:
        """Degrees of freedom of ``logLik`` (lme4's ``attr(logLik(fit), "df")``)."""
        return self.n_params

    @property
    def AIC(self) -> float:  # noqa: N802 - lme4 name
        return -2.0 * self.logLik + 2.0 * self.n_params

    @property
    def BIC(self) -> float:  # noqa: N802 - lme4 name
        return -2.0 * self.logLik + self.n_params * math.log(self.nobs)

    # -- random effects ---------------------------------------------------

    def _theta_by_block(self) -> list[np.ndarray]:
        o = self._theta_offsets
        return [self._theta[o[i] : o[i + 1]] for i in range(len(self._blocks))]

    @property
    def VarCorr(self) -> VarCorr:  # noqa: N802 - lme4 name
        """Variance components (lme4's ``VarCorr(fit)``)."""
        return VarCorr(varcorr_terms(self._blocks, self._theta_by_block(), self.sigma), self.sigma, self.use_scale)

    @property
    def ngrps(self) -> dict:
        """Number of levels of each grouping factor (lme4's ``ngrps``)."""
        return dict(self.frame.ngrps)

    def ranef(self, condvar: bool = True) -> RanefDict:
        """Conditional modes of the random effects (lme4's ``ranef(fit)``).

        Parameters
        ----------
        condvar : bool
            Whether the printed form mentions the conditional SDs (computed either way; a linear
            mixed model computes them on first use).

        Returns
        -------
        RanefDict
            ``{grouping factor: DataFrame}`` (rows: levels, columns: terms); ``condsd`` the
            conditional SDs, ``to_frame()`` the long table (grp, term, level, condval, condsd).

        Raises
        ------
        None
        """
        vals, sds, cvs = ranef_tables(self._blocks, self.fit.b, self._conditional_variances())
        return RanefDict(vals, sds, cvs, show_condvar=condvar)

    def _conditional_variances(self) -> list:
        """Per random-effects term, the (levels, k, k) conditional covariances of its effects.
        Linear mixed models leave them out of the fit (for a large crossed design they cost
        more than the fit: a dense inverse of the Schur complement) and compute them here, once,
        on first use."""
        stored = list(self.fit.condvar)
        if stored or not self._blocks:
            return stored
        if "_condvar" not in self.__dict__:
            self.__dict__["_condvar"] = self._compute_conditional_variances()
        return self.__dict__["_condvar"]

    def _compute_conditional_variances(self) -> list:
        raise MerxError("this fit has no conditional variances of the random effects")

    @property
    def ranef_condsd(self) -> dict:
        """Conditional standard deviations of the random effects, laid out as ``ranef()``."""
        return self.ranef().condsd

    @property
    def coef(self) -> dict:
        """Per-level coefficients: fixed effects plus conditional modes (lme4's ``coef(fit)``)."""
        fe = self.fixef
        out = {}
        for g, re_df in self.ranef().items():
            missing = [c for c in re_df.columns if c not in fe.index]
            cols = missing + list(fe.index)
            base = pd.Series(0.0, index=cols)
            base[list(fe.index)] = fe.to_numpy()
            df = pd.DataFrame(np.tile(base.to_numpy(), (len(re_df), 1)), index=re_df.index, columns=cols)
            for c in re_df.columns:
                df[c] = df[c].to_numpy() + re_df[c].to_numpy()
            out[g] = df
        return out

    # -- fitted values, residuals, prediction -------------------------------

    # Per-row outputs are pandas Series indexed like the rows they describe (the data's used
    # rows, or newdata's); the library's own code works on the arrays of the underscored methods.

    def _fitted_values(self) -> np.ndarray:
        return np.asarray(self.fit.fitted, dtype=float).copy()

    @property
    def fitted(self) -> pd.Series:
        """Fitted values X beta + Z b (+ offset): a Series named ``fitted`` indexed like the
        data's rows that the fit used."""
        return prediction.per_row(self._fitted_values(), self.frame, None, "fitted")

    def residuals(self, type: str = "response", scaled: bool = False) -> pd.Series:  # noqa: A002 - lme4 name
        """Residuals: ``"response"`` (y - fitted) or ``"pearson"`` (sqrt(w) (y - fitted)); as in
        lme4, Pearson residuals of an lmer fit carry the prior weights but not 1/sigma.

        Parameters
        ----------
        type : str
            ``"response"`` or ``"pearson"``.
        scaled : bool
            Divide by sigma.

        Returns
        -------
        pandas.Series
            Named ``residuals``, indexed like the data's used rows.

        Raises
        ------
        MerxError
            An unknown ``type``.
        """
        r = np.asarray(self.frame.y, dtype=float) - self._fitted_values()
        if type in ("response", "working"):
            out = r
        elif type in ("pearson", "deviance"):
            w = self.frame.weights
            out = r if w is None else r * np.sqrt(np.asarray(w, dtype=float))
        else:
            raise MerxError(f"unknown residual type {type!r}: use 'response' or 'pearson'")
        return prediction.per_row(out / self.sigma if scaled else out, self.frame, None, "residuals")

    @property
    def resid(self) -> pd.Series:
        return self.residuals()

    def predict(self, newdata: Any = None, re_form: Any = None, allow_new_levels: bool = False) -> pd.Series:
        """Predictions (lme4's ``predict(fit, newdata, re.form, allow.new.levels)``).

        Parameters
        ----------
        newdata : DataFrame or dict of columns, optional
            Rows to predict (default: the fitted rows).
        re_form : None, str or nan
            None: all random effects; ``"~0"``, ``"NA"`` or nan: none (X beta + offset);
            ``"~(1 | g)"``: the terms of the named grouping factors.
        allow_new_levels : bool
            Levels not seen in the fit get random effects 0 (else an error).

        Returns
        -------
        pandas.Series
            Named ``predicted``, indexed like ``newdata`` (like the data's used rows without it).

        Raises
        ------
        DataError
            Missing variables, or new levels with ``allow_new_levels=False``.
        """
        eta = prediction.predict(self.frame, self._beta, self.fit.b, self._fitted_values(), newdata, re_form,
                                 allow_new_levels)
        return prediction.per_row(eta, self.frame, newdata, "predicted")

    # -- optimizer info ---------------------------------------------------

    @property
    def converged(self) -> bool:
        return bool(self.fit.converged)

    @property
    def optinfo(self) -> dict:
        """Optimizer report: optimizer, feval, conv_code, message, warnings, lme4_messages."""
        message = str(self.fit.message)
        return {
            "optimizer": str(self.fit.optimizer),
            "feval": int(self.fit.n_eval),
            "conv_code": 0 if self.converged else 1,
            "message": message,
            "warnings": [] if self.converged else [f"the optimizer did not converge: {message}"],
            "lme4_messages": [SINGULAR_MESSAGE] if self.is_singular else [],
        }

    # -- tables -----------------------------------------------------------

    def summary(self, correlation: bool | None = None) -> Any:
        """lme4's ``summary(fit)``; each model kind defines its own."""
        raise NotImplementedError(f"{type(self).__name__} has no summary()")
