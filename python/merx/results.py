"""The fitted linear mixed model: :class:`LmerResult`.

``LmerResult`` wraps a :class:`~merx.model_frame.ModelFrame` and the fit dict
returned by the Rust core's ``LmmProblem.fit()`` and offers the accessors an
lme4 user expects (``fixef``, ``ranef``, ``coef``, ``VarCorr``, ``sigma``,
``theta``, ``vcov``, ``logLik``, ``AIC``, ``BIC``, ``deviance``, ``REMLcrit``,
``df_residual``, ``nobs``, ``ngrps``, ``fitted``, ``residuals``, ``predict``,
``is_singular``, ``summary``, ...). Printing follows lme4's layout exactly
(see :mod:`merx.printing`).

All heavy numerics come from the fit dict. Python only derives small
quantities: covariance matrices of the random effects from ``theta`` and
``sigma``, correlations, AIC/BIC, residual quantiles and tables.

Conventions that differ from lme4 on purpose:

* ``deviance`` is always the ML deviance (-2 log-likelihood) at the estimates,
  also for a REML fit (lme4 1.1-31's ``deviance()`` of a REML fit returns the
  REML criterion with a deprecation warning; its ``deviance(fit, REML = FALSE)``
  is what merx returns); the REML criterion is ``REMLcrit`` (for an ML fit it is
  the REML criterion evaluated at the ML estimates, as lme4's ``REMLcrit()``).
* ``logLik``, ``AIC`` and ``BIC`` are those of the criterion that was optimised
  (REML log-likelihood for a REML fit), as in lme4.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Sequence

import numpy as np
import pandas as pd

from . import printing
from .errors import DataError, MerxError

__all__ = ["LmerResult", "LmerSummary", "VarCorr", "VarCorrTerm", "RanefDict"]

SINGULAR_TOL = 1e-4
SINGULAR_MESSAGE = "boundary (singular) fit: see help('isSingular')"


# ---------------------------------------------------------------------------
# theta layout
# ---------------------------------------------------------------------------


def _block_theta_size(k: int, correlated: bool) -> int:
    return k * (k + 1) // 2 if correlated else k


def _block_template(theta: np.ndarray, k: int, correlated: bool) -> np.ndarray:
    """Lower-triangular relative covariance factor T of one term (filled column-wise)."""
    T = np.zeros((k, k))
    if correlated:
        pos = 0
        for j in range(k):
            for i in range(j, k):
                T[i, j] = theta[pos]
                pos += 1
    else:
        T[np.diag_indices(k)] = theta[:k]
    return T


def _block_theta_names(group: str, cols: Sequence[str], correlated: bool) -> list[str]:
    """lme4's ``tnames``: ``g.col`` for diagonals, ``g.row.col`` below the diagonal."""
    k = len(cols)
    if not correlated:
        return [f"{group}.{c}" for c in cols]
    out = []
    for j in range(k):
        for i in range(j, k):
            out.append(f"{group}.{cols[i]}" if i == j else f"{group}.{cols[i]}.{cols[j]}")
    return out


def _block_theta_lower(k: int, correlated: bool) -> list[float]:
    if not correlated:
        return [0.0] * k
    out = []
    for j in range(k):
        for i in range(j, k):
            out.append(0.0 if i == j else -math.inf)
    return out


# ---------------------------------------------------------------------------
# VarCorr
# ---------------------------------------------------------------------------


@dataclass
class VarCorrTerm:
    """Covariance of one random-effects term (one entry of lme4's ``VarCorr`` list)."""

    name: str  # as lme4 names the list element ("Subject", "Subject.1", "ward:hospital")
    group: str  # the grouping factor
    columns: list
    cov: np.ndarray  # (k, k), sigma^2 T T'

    @property
    def stddev(self) -> np.ndarray:
        return np.sqrt(np.clip(np.diag(self.cov), 0.0, None))

    @property
    def correlation(self) -> np.ndarray:
        sd = self.stddev
        with np.errstate(divide="ignore", invalid="ignore"):
            corr = self.cov / np.outer(sd, sd)
        corr = np.array(corr, dtype=float)
        np.fill_diagonal(corr, 1.0)
        return corr


class VarCorr:
    """Estimated variances, standard deviations and correlations of the random effects.

    ``str()`` is lme4's ``print(VarCorr(fit))`` (standard deviations and
    correlations, 5 significant digits); :meth:`format` gives other layouts;
    :meth:`to_frame` (alias :meth:`as_dataframe`) is lme4's
    ``as.data.frame(VarCorr(fit))``; ``vc["Subject"]`` is the covariance matrix
    of that term as a DataFrame.
    """

    def __init__(self, terms: list, sigma: float, use_scale: bool = True):
        self.terms = list(terms)
        self.sigma = float(sigma)
        self.use_scale = use_scale

    def format(self, digits: int = 5, comp: Sequence[str] = ("Std.Dev.",), corr: bool | None = None) -> str:
        if isinstance(comp, str):
            comp = (comp,)
        return "\n".join(printing.format_varcorr(self, digits, comp, corr))

    def __str__(self) -> str:
        return self.format()

    def __repr__(self) -> str:
        return self.format()

    def keys(self) -> list:
        return [t.name for t in self.terms]

    def __iter__(self):
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.terms)

    def __getitem__(self, name: str) -> pd.DataFrame:
        for t in self.terms:
            if t.name == name:
                return pd.DataFrame(t.cov, index=list(t.columns), columns=list(t.columns))
        raise KeyError(f"no random-effects term named {name!r}; terms are {self.keys()}")

    def to_frame(self) -> pd.DataFrame:
        """lme4's ``as.data.frame(VarCorr(fit))``: grp, var1, var2, vcov, sdcor.

        Per term the variances, then the covariances (lower triangle, column by
        column), the residual last.
        """
        rows = []
        for t in self.terms:
            k = len(t.columns)
            sd = t.stddev
            corr = t.correlation
            for i in range(k):
                rows.append((t.name, t.columns[i], None, float(t.cov[i, i]), float(sd[i])))
            for j in range(k):
                for i in range(j + 1, k):
                    rows.append((t.name, t.columns[j], t.columns[i], float(t.cov[i, j]), float(corr[i, j])))
        if self.use_scale:
            rows.append(("Residual", None, None, self.sigma**2, self.sigma))
        return pd.DataFrame(rows, columns=["grp", "var1", "var2", "vcov", "sdcor"])

    as_dataframe = to_frame


# ---------------------------------------------------------------------------
# ranef
# ---------------------------------------------------------------------------


class RanefDict(dict):
    """``{grouping factor: DataFrame of conditional modes}`` as lme4's ``ranef()``.

    ``str()`` is lme4's ``print(ranef(fit))``. ``condsd`` holds the conditional
    standard deviations in the same layout, ``condvar`` the per-level
    conditional covariance matrices ``(L, k, k)``; :meth:`to_frame` is lme4's
    ``as.data.frame(ranef(fit, condVar = TRUE))`` with columns grp, term, level,
    condval, condsd.
    """

    def __init__(self, data: dict, condsd: dict, condvar: dict, show_condvar: bool = True):
        super().__init__(data)
        self.condsd = condsd
        self.condvar = condvar
        self.show_condvar = show_condvar

    def __str__(self) -> str:
        return printing.format_ranef(self, self.show_condvar).rstrip("\n")

    __repr__ = __str__

    def to_frame(self) -> pd.DataFrame:
        rows = []
        for g, df in self.items():
            sd = self.condsd[g]
            for term in df.columns:
                for lev in df.index:
                    rows.append((g, term, lev, float(df.at[lev, term]), float(sd.at[lev, term])))
        return pd.DataFrame(rows, columns=["grp", "term", "level", "condval", "condsd"])

    as_dataframe = to_frame

    def __reduce__(self):
        return (RanefDict, (dict(self), self.condsd, self.condvar, self.show_condvar))


# ---------------------------------------------------------------------------
# summary
# ---------------------------------------------------------------------------


class LmerSummary:
    """``summary(fit)``: ``str()`` is lme4's ``print(summary(fit))``.

    Attributes: ``coefficients`` (DataFrame Estimate / Std. Error / t value),
    ``varcor``, ``scaled_residuals``, ``ngrps``, ``nobs``, ``correlation_matrix``
    (of the fixed effects), ``aictab`` (dict), ``result`` (the fit).

    As in lme4, the correlation of the fixed effects is printed when there are
    at most 12 coefficients (``correlation=True`` forces it, ``False`` hides it);
    lme4's stderr message about a hidden matrix is not reproduced.
    """

    def __init__(self, result: "LmerResult", correlation: bool | None = None):
        self.result = result
        self.correlation = correlation
        fe = result.fixef
        se = np.sqrt(np.diag(result.vcov.to_numpy())) if len(fe) else np.zeros(0)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = fe.to_numpy() / se
        self.coefficients = pd.DataFrame(
            {"Estimate": fe.to_numpy(), "Std. Error": se, "t value": t}, index=list(fe.index)
        )
        self.varcor = result.VarCorr
        self.scaled_residuals = result.residuals("pearson") / result.sigma
        self.ngrps = result.ngrps
        self.nobs = result.nobs
        self.correlation_matrix = result.vcov_correlation().to_numpy()
        if result.reml:
            self.aictab = {"REML": result.REMLcrit}
        else:
            self.aictab = {
                "AIC": result.AIC,
                "BIC": result.BIC,
                "logLik": result.logLik,
                "deviance": result.deviance,
                "df.resid": result.df_residual,
            }

    def __str__(self) -> str:
        return printing.format_summary(self).removesuffix("\n")

    __repr__ = __str__


# ---------------------------------------------------------------------------
# the result
# ---------------------------------------------------------------------------


def _is_population_re_form(re_form: Any) -> bool:
    if re_form is None:
        return False
    if isinstance(re_form, float) and math.isnan(re_form):
        return True
    if re_form is pd.NA:
        return True
    if isinstance(re_form, str):
        s = re_form.replace(" ", "")
        return s in ("~0", "~-1", "NA", "0", "")
    return False


class LmerResult:
    """A fitted linear mixed model (lme4's ``lmerMod``).

    Parameters
    ----------
    frame : ModelFrame
        The model frame the model was fitted to.
    fit : dict
        The dict returned by ``merx._core.LmmProblem.fit()``.
    reml : bool
        Whether the REML criterion was optimised.
    data_name : str, optional
        Name of the data shown in the ``Data:`` line of the printed output.
    call_formula : str, optional
        The formula as the user wrote it (default: ``frame.formula``).
    problem : merx._core.LmmProblem, optional
        The Rust problem, kept for refits; dropped when pickling.
    weights_name, offset_name : str, optional
        How the ``weights=`` / ``offset=`` arguments were given (a column name),
        printed on lme4's ``Weights:`` / ``Offset:`` lines.
    """

    def __init__(
        self,
        frame: Any,
        fit: dict,
        reml: bool,
        data_name: str | None = None,
        call_formula: str | None = None,
        problem: Any = None,
        weights_name: str | None = None,
        offset_name: str | None = None,
    ):
        self.frame = frame
        self.fit = dict(fit)
        self.reml = bool(reml)
        self.data_name = data_name if data_name is not None else getattr(frame, "data_name", None)
        self.call_formula = call_formula if call_formula is not None else getattr(frame, "formula", "")
        self._problem = problem  # optional Rust problem for refits; never pickled
        # names shown on lme4's "Weights:" / " Offset:" lines (the weights= / offset= arguments)
        self.weights_name = weights_name
        self.offset_name = offset_name
        blocks = list(frame.blocks)
        self._blocks = blocks
        self._theta = np.asarray(self.fit["theta"], dtype=float).ravel()
        sizes = [_block_theta_size(len(b.columns), getattr(b, "correlated", True)) for b in blocks]
        if sum(sizes) != self._theta.size:
            raise MerxError(
                f"fit has {self._theta.size} theta values but the random-effects terms need {sum(sizes)}"
            )
        self._theta_offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self._beta = np.asarray(self.fit["beta"], dtype=float).ravel()
        x_names = list(frame.x_names)
        if len(x_names) != self._beta.size:
            raise MerxError(f"fit has {self._beta.size} coefficients but the model frame names {len(x_names)}")

    # -- pickling ---------------------------------------------------------

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_problem"] = None
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
        """Number of estimated parameters: fixed effects, theta and sigma (lme4's logLik df)."""
        return int(self._beta.size + self._theta.size + 1)

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
        return float(self.fit["sigma"])

    @property
    def theta(self) -> pd.Series:
        """Relative covariance parameters, named as lme4's ``getME(fit, "theta")``."""
        names: list[str] = []
        for b in self._blocks:
            names += _block_theta_names(b.group, list(b.columns), getattr(b, "correlated", True))
        return pd.Series(self._theta.copy(), index=names, name="theta")

    @property
    def theta_lower(self) -> pd.Series:
        """Lower bounds of theta: 0 for diagonal entries of T, -inf below the diagonal."""
        lower: list[float] = []
        for b in self._blocks:
            lower += _block_theta_lower(len(b.columns), getattr(b, "correlated", True))
        return pd.Series(lower, index=self.theta.index, name="lower")

    @property
    def is_singular(self) -> bool:
        """lme4's ``isSingular(fit, tol = 1e-4)``: a theta on its 0 lower bound."""
        lower = self.theta_lower.to_numpy()
        on_bound = lower == 0
        return bool(np.any(self._theta[on_bound] < SINGULAR_TOL))

    def isSingular(self, tol: float = SINGULAR_TOL) -> bool:  # noqa: N802 - lme4 name
        lower = self.theta_lower.to_numpy()
        return bool(np.any(self._theta[lower == 0] < tol))

    @property
    def vcov(self) -> pd.DataFrame:
        """Covariance matrix of the fixed-effects estimates."""
        names = list(self.frame.x_names)
        V = np.asarray(self.fit["vcov_beta"], dtype=float).reshape(len(names), len(names))
        return pd.DataFrame(V, index=names, columns=names)

    def vcov_correlation(self) -> pd.DataFrame:
        """Correlation matrix of the fixed-effects estimates (lme4's ``cov2cor(vcov(fit))``)."""
        V = self.vcov
        sd = np.sqrt(np.diag(V.to_numpy()))
        with np.errstate(divide="ignore", invalid="ignore"):
            C = V.to_numpy() / np.outer(sd, sd)
        return pd.DataFrame(C, index=V.index, columns=V.columns)

    # -- likelihood -------------------------------------------------------

    def _log_det_w(self) -> float:
        w = getattr(self.frame, "weights", None)
        if w is None:
            return 0.0
        return float(np.sum(np.log(np.asarray(w, dtype=float))))

    def _dev_from_components(self, reml: bool) -> float:
        f = self.fit
        n = self.nobs
        pwrss = float(f["pwrss"])
        lnum = math.log(2 * math.pi * pwrss)
        if reml:
            nmp = n - self._beta.size
            return -self._log_det_w() + float(f["ldL2"]) + float(f["ldRX2"]) + nmp * (1 + lnum - math.log(nmp))
        return -self._log_det_w() + float(f["ldL2"]) + n * (1 + lnum - math.log(n))

    @property
    def objective(self) -> float:
        """The optimised criterion: REML criterion (REML fit) or ML deviance (ML fit)."""
        return float(self.fit["objective"])

    @property
    def REMLcrit(self) -> float:  # noqa: N802 - lme4 name
        """REML criterion (-2 REML log-likelihood) at the estimates."""
        if self.reml:
            return self.objective
        return self._dev_from_components(reml=True)

    @property
    def deviance(self) -> float:
        """ML deviance (-2 log-likelihood) at the estimates, also for a REML fit."""
        if not self.reml:
            return self.objective
        if self.fit.get("deviance_ml") is not None:
            return float(self.fit["deviance_ml"])
        return self._dev_from_components(reml=False)

    @property
    def logLik(self) -> float:  # noqa: N802 - lme4 name
        """Log-likelihood (REML log-likelihood for a REML fit), as lme4's ``logLik()``."""
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

    def _varcorr_terms(self) -> list[VarCorrTerm]:
        """One entry per random-effects term, named as lme4's ``VarCorr`` list.

        Names are the grouping factors, passed through ``make.names(unique =
        TRUE)`` when a factor has several terms (``Subject``, ``Subject.1``). A
        diagonal (``correlated=False``) block is shown as lme4 shows ``(x || g)``:
        one single-column term per column.
        """
        terms = []
        s2 = self.sigma**2
        for bi, b in enumerate(self._blocks):
            k = len(b.columns)
            corr = getattr(b, "correlated", True)
            th = self._theta[self._theta_offsets[bi] : self._theta_offsets[bi + 1]]
            T = _block_template(th, k, corr)
            cov = s2 * (T @ T.T)
            if corr:
                terms.append(VarCorrTerm(b.group, b.group, list(b.columns), cov))
            else:
                for j, c in enumerate(b.columns):
                    terms.append(VarCorrTerm(b.group, b.group, [c], cov[j : j + 1, j : j + 1].copy()))
        raw = [t.group for t in terms]
        if len(set(raw)) < len(raw):
            for t, nm in zip(terms, printing.make_names(raw, unique=True)):
                t.name = nm
        return terms

    @property
    def VarCorr(self) -> VarCorr:  # noqa: N802 - lme4 name
        """Variance components (lme4's ``VarCorr(fit)``)."""
        return VarCorr(self._varcorr_terms(), self.sigma)

    @property
    def ngrps(self) -> dict:
        """Number of levels of each grouping factor (lme4's ``ngrps``)."""
        out: dict = {}
        for b in self._blocks:
            if b.group not in out:
                out[b.group] = len(b.levels)
        return out

    def _ranef_parts(self):
        b_list = self.fit["b"]
        cv_list = self.fit.get("condvar")
        vals: dict = {}
        sds: dict = {}
        cvs: dict = {}
        for bi, blk in enumerate(self._blocks):
            k = len(blk.columns)
            L = len(blk.levels)
            b = np.asarray(b_list[bi], dtype=float).reshape(L, k)
            if cv_list is not None:
                cv = np.asarray(cv_list[bi], dtype=float).reshape(L, k, k)
            else:
                cv = np.full((L, k, k), np.nan)
            sd = np.sqrt(np.clip(np.diagonal(cv, axis1=1, axis2=2), 0.0, None))
            idx = pd.Index([str(v) for v in blk.levels])
            df = pd.DataFrame(b, index=idx, columns=list(blk.columns))
            sdf = pd.DataFrame(sd, index=idx, columns=list(blk.columns))
            g = blk.group
            if g in vals:
                vals[g] = pd.concat([vals[g], df], axis=1)
                sds[g] = pd.concat([sds[g], sdf], axis=1)
                cvs[g] = _block_diag_stack(cvs[g], cv)
            else:
                vals[g], sds[g], cvs[g] = df, sdf, cv
        return vals, sds, cvs

    def ranef(self, condvar: bool = True) -> RanefDict:
        """Conditional modes of the random effects (lme4's ``ranef(fit)``).

        A dict ``{grouping factor: DataFrame}`` (rows: levels, columns: terms);
        its ``condsd`` attribute holds the conditional standard deviations and
        ``to_frame()`` the tidy long table (grp, term, level, condval, condsd).
        ``condvar`` only controls whether the printed form mentions them.
        """
        vals, sds, cvs = self._ranef_parts()
        return RanefDict(vals, sds, cvs, show_condvar=condvar)

    @property
    def ranef_condsd(self) -> dict:
        """Conditional standard deviations of the random effects, laid out as ``ranef()``."""
        return self._ranef_parts()[1]

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

    @property
    def fitted(self) -> np.ndarray:
        """Fitted values X beta + Z b (+ offset)."""
        return np.asarray(self.fit["fitted"], dtype=float).copy()

    def residuals(self, type: str = "response", scaled: bool = False) -> np.ndarray:  # noqa: A002 - lme4 name
        """Residuals: ``"response"`` (y - fitted) or ``"pearson"`` (sqrt(w) (y - fitted)).

        As in lme4, Pearson residuals of an lmer fit carry the prior weights but
        are not divided by sigma; ``scaled=True`` divides either kind by sigma.
        """
        r = np.asarray(self.frame.y, dtype=float) - self.fitted
        if type in ("response", "working"):
            out = r
        elif type in ("pearson", "deviance"):
            w = getattr(self.frame, "weights", None)
            out = r if w is None else r * np.sqrt(np.asarray(w, dtype=float))
        else:
            raise MerxError(f"unknown residual type {type!r}: use 'response' or 'pearson'")
        return out / self.sigma if scaled else out

    @property
    def resid(self) -> np.ndarray:
        return self.residuals()

    def _select_blocks(self, re_form: Any) -> list[int]:
        if re_form is None:
            return list(range(len(self._blocks)))
        if _is_population_re_form(re_form):
            return []
        if isinstance(re_form, str):
            groups = [g.strip() for g in re.findall(r"\|\|?\s*([^()|]+?)\s*\)", re_form)]
            if not groups:
                raise MerxError(
                    f"re_form {re_form!r} not understood: use None (all random effects), "
                    f"'~0' or numpy.nan (none), or a formula such as '~(1 | g)'"
                )
            known = {b.group for b in self._blocks}
            unknown = [g for g in groups if g not in known]
            if unknown:
                raise MerxError(
                    f"re_form {re_form!r} names grouping factor(s) {unknown} that are not in the model "
                    f"(grouping factors: {sorted(known)})"
                )
            return [i for i, b in enumerate(self._blocks) if b.group in groups]
        raise MerxError(f"re_form must be None, '~0', numpy.nan or a formula string, got {re_form!r}")

    def predict(self, newdata: Any = None, re_form: Any = None, allow_new_levels: bool = False) -> np.ndarray:
        """Predictions (lme4's ``predict(fit, newdata, re.form, allow.new.levels)``).

        ``re_form=None`` conditions on all random effects; ``"~0"``, ``"NA"`` or
        ``numpy.nan`` gives population-level predictions (X beta + offset); a
        formula like ``"~(1 | g)"`` keeps the terms of the named grouping factors.
        With ``newdata``, levels not seen in the fit raise :class:`DataError`
        unless ``allow_new_levels=True`` (their random effects are then 0).
        """
        sel = self._select_blocks(re_form)
        b_list = self.fit["b"]
        if newdata is None:
            if len(sel) == len(self._blocks):
                return self.fitted
            X = np.asarray(self.frame.X, dtype=float)
            eta = X @ self._beta
            off = getattr(self.frame, "offset", None)
            if off is not None:
                eta = eta + np.asarray(off, dtype=float)
            for bi in sel:
                blk = self._blocks[bi]
                b = np.asarray(b_list[bi], dtype=float).reshape(len(blk.levels), len(blk.columns))
                Z = np.asarray(blk.Z, dtype=float).reshape(len(eta), len(blk.columns))
                codes = np.asarray(blk.codes, dtype=np.int64)
                eta = eta + np.einsum("ij,ij->i", Z, b[codes])
            return eta
        X = np.asarray(self.frame.new_fixed_matrix(newdata), dtype=float)
        eta = X @ self._beta
        new_offset = getattr(self.frame, "new_offset", None)
        if new_offset is not None:
            off = new_offset(newdata)
            if off is not None:
                eta = eta + np.asarray(off, dtype=float)
        elif getattr(self.frame, "offset", None) is not None:
            raise DataError("this model has an offset; predicting for newdata needs the offset of the new rows")
        if sel:
            new_blocks = list(self.frame.new_random_blocks(newdata))
            for bi in sel:
                blk = self._blocks[bi]
                nb = new_blocks[bi]
                k = len(blk.columns)
                b = np.asarray(b_list[bi], dtype=float).reshape(len(blk.levels), k)
                # the model frame gives (codes, Z) per block; objects with .codes/.Z work too
                nb_codes, nb_Z = (nb.codes, nb.Z) if hasattr(nb, "codes") else nb
                codes = np.asarray(nb_codes, dtype=np.int64)
                Z = np.asarray(nb_Z, dtype=float).reshape(len(codes), k)
                unseen = codes < 0
                missing = np.zeros(len(codes), dtype=bool)
                if unseen.any():
                    labels = _group_labels(newdata, blk.group, len(codes))
                    if labels is not None:
                        missing = unseen & np.array([lab is None for lab in labels], dtype=bool)
                    new = unseen & ~missing
                    if new.any() and not allow_new_levels:
                        i = int(np.flatnonzero(new)[0])
                        lev = labels[i] if labels is not None else "<unknown>"
                        raise DataError(
                            f"new level {lev!r} of grouping factor {blk.group!r} in newdata (row {i}) was not in "
                            f"the data the model was fitted to; pass allow_new_levels=True to predict it with "
                            f"random effects 0 (population level)"
                        )
                contrib = np.einsum("ij,ij->i", Z, b[np.where(unseen, 0, codes)])
                # a new level contributes 0; a missing grouping value makes the prediction NaN
                eta = eta + np.where(missing, np.nan, np.where(unseen, 0.0, contrib))
        return eta

    # -- optimizer info ---------------------------------------------------

    @property
    def converged(self) -> bool:
        return bool(self.fit.get("converged", True))

    @property
    def optinfo(self) -> dict:
        """Optimizer report: optimizer, feval, conv_code, message, warnings, lme4_messages."""
        conv_code = self.fit.get("conv_code")
        if conv_code is None:
            conv_code = 0 if self.converged else 1
        msgs = list(self.fit.get("messages", []) or [])
        if self.is_singular and SINGULAR_MESSAGE not in msgs:
            msgs.append(SINGULAR_MESSAGE)
        return {
            "optimizer": str(self.fit.get("optimizer", "nloptwrap")),
            "feval": int(self.fit.get("n_eval", -1)),
            "conv_code": int(conv_code),
            "message": str(self.fit.get("message", "")),
            "warnings": list(self.fit.get("warnings", []) or []),
            "lme4_messages": msgs,
        }

    # -- tables -----------------------------------------------------------

    def summary(self, correlation: bool | None = None) -> LmerSummary:
        """lme4's ``summary(fit)``; ``str()`` of the result is its printed layout."""
        return LmerSummary(self, correlation)

    def tidy(self, conf_level: float = 0.95) -> pd.DataFrame:
        """Fixed-effects table: term, estimate, std_error, statistic, conf_low, conf_high (Wald, normal)."""
        fe = self.fixef
        se = np.sqrt(np.diag(self.vcov.to_numpy()))
        z = NormalDist().inv_cdf(0.5 + conf_level / 2.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            stat = fe.to_numpy() / se
        return pd.DataFrame(
            {
                "term": list(fe.index),
                "estimate": fe.to_numpy(),
                "std_error": se,
                "statistic": stat,
                "conf_low": fe.to_numpy() - z * se,
                "conf_high": fe.to_numpy() + z * se,
            }
        )

    def variance_components(self) -> pd.DataFrame:
        """Variances per random effect and residual, with their share of the total variance."""
        rows = []
        for t in self.VarCorr.terms:
            for i, c in enumerate(t.columns):
                rows.append((t.name, c, float(t.cov[i, i])))
        rows.append(("Residual", "", self.sigma**2))
        df = pd.DataFrame(rows, columns=["group", "effect", "variance"])
        df["sd"] = np.sqrt(df["variance"].to_numpy())
        total = float(df["variance"].sum())
        df["var_prop"] = df["variance"] / total if total > 0 else np.nan
        return df

    # -- printing ---------------------------------------------------------

    def __str__(self) -> str:
        return printing.format_print(self).removesuffix("\n")

    __repr__ = __str__


def _block_diag_stack(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-level block-diagonal combination of (L, k1, k1) and (L, k2, k2) arrays."""
    L, k1, _ = a.shape
    k2 = b.shape[1]
    out = np.zeros((L, k1 + k2, k1 + k2))
    out[:, :k1, :k1] = a
    out[:, k1:, k1:] = b
    return out


def _group_labels(newdata: Any, group: str, n: int) -> list | None:
    """Labels of grouping factor ``group`` ("a:b" for interactions) in ``newdata``,
    None for a missing value; None overall when the columns cannot be found."""
    try:
        cols = []
        for part in group.split(":"):
            col = newdata[part]
            vals = col.tolist() if hasattr(col, "tolist") else list(col)
            if len(vals) != n:
                return None
            cols.append(vals)
    except Exception:  # noqa: BLE001 - e.g. an expression as grouping factor
        return None
    out = []
    for row in zip(*cols):
        if any(v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA for v in row):
            out.append(None)
        else:
            out.append(":".join(_level_str(v) for v in row))
    return out


def _level_str(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)
