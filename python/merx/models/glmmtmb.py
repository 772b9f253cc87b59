"""``glmmTMB()``: formula, ``ziformula`` and ``dispformula`` → model frames → the Rust
core's general Laplace engine (``merx._core.LaplaceModel``) → :class:`~merx.results.glmmtmb.GlmmTMBResult`.

No numerics here: the conditional densities, the modes, the Laplace objective, the
optimisation and the covariance of the parameters are in ``rust/src/laplace/``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .. import _core
from ..errors import DataError, FormulaError, MerxError
from ..families import Binomial
from ..formula.model_formula import parse_formula
from ..frame.data_source import to_pandas
from ..frame.model_frame import build_model_frame
from ..results.glmmtmb import GlmmTMBResult
from ..results.theta_layout import theta_size
from .fitting import argument_names, check_prior_weights, core_terms, fit_watched, memory_error, run_fit
from .glmmtmb_parts import (DISPERSION_FAMILIES, ENGINE_FAMILIES, SidePart, frame_family, side_frame, side_rhs,
                            tmb_family)


def glmmTMB(  # noqa: N802 - glmmTMB's name
    formula: str,
    data: Any,
    family: Any = "gaussian",
    ziformula: Any = None,
    dispformula: Any = None,
    REML: bool = False,  # noqa: N803 - glmmTMB's name
    weights: Any = None,
    offset: Any = None,
    start: Any = None,
    data_name: str | None = None,
) -> GlmmTMBResult:
    """Fit a generalized linear mixed model by the Laplace approximation, as glmmTMB.

    Parameters
    ----------
    formula : str
        The conditional model, an lme4 formula with random-effects terms.
    data : pandas or polars DataFrame, or dict of columns
        The variables of the formula(s).
    family : str, family object or class
        ``"poisson"``, ``"binomial"``, ``"nbinom2"`` (Var = μ + μ²/θ), ``"nbinom1"``
        (Var = μ(1 + φ)), ``"Gamma"`` (shape 1/σ²), ``"beta_family"`` (precision φ),
        ``"gaussian"``, or merx family objects (``merx.NBinom2(link="log")``, ...).
    ziformula : str, optional
        One-sided formula of the zero-inflation probability (logit link; fixed effects
        only), e.g. ``"~ spp + mined"``; ``"~0"`` or None: none. For the continuous
        families it is the probability of an exact zero (glmmTMB's ``ziGamma``).
    dispformula : str, optional
        One-sided formula of the log dispersion (fixed effects only); default ``"~1"``
        for the families with a dispersion parameter.
    REML : bool
        Restricted maximum likelihood: only for the gaussian family (identity link) without
        zero inflation or dispersion model, the linear mixed model fitted on the LMM core.
    weights : column name or array, optional
        Multipliers of each row's log-likelihood (for a binomial proportion: the trials).
    offset : column name or array, optional
        An offset of the conditional linear predictor.
    start : array-like, optional
        The outer parameters to start from: θ (merx's layout), β, β_zi, β_d.
    data_name : str, optional
        Name shown on the ``Data:`` line of ``summary()``.

    Returns
    -------
    GlmmTMBResult
        The fitted model (conditional, zero-inflation and dispersion coefficients).

    Raises
    ------
    FormulaError
        The formula is malformed or uses a term this interface does not take.
    DataError
        A variable is missing from the data or its values cannot be used (also the core's
        refusals of the model, e.g. a grouping factor with as many levels as rows).
    MerxError
        Invalid arguments, or a model too large for the available memory.
    FamilyError
        An unknown family or a link the family does not have.
    """
    fam = tmb_family(family)
    engine_family = ENGINE_FAMILIES[type(fam)]
    lmm = _is_lmm(fam, ziformula, dispformula)
    if REML and not lmm:
        raise MerxError(
            "glmmTMB(REML=True) is available in merx for the gaussian family (identity link) without ziformula "
            "or dispformula only (the linear mixed model); other models are fitted by maximum likelihood"
        )
    check_prior_weights(weights, "glmmTMB")
    zi_rhs = side_rhs(ziformula, "ziformula")
    disp_rhs = side_rhs("~1" if dispformula is None else dispformula, "dispformula")
    if engine_family not in DISPERSION_FAMILIES and disp_rhs is not None and dispformula is not None and disp_rhs != "1":
        raise FormulaError(f"dispformula {dispformula!r}: the {fam.family} family has no dispersion parameter")
    if engine_family in DISPERSION_FAMILIES and disp_rhs is None:
        raise FormulaError(f"dispformula {dispformula!r}: the {fam.family} family needs a dispersion model")
    if engine_family not in DISPERSION_FAMILIES:
        disp_rhs = None
    parsed = parse_formula(formula)
    df = to_pandas(data)
    ffam = frame_family(fam)
    frame = build_model_frame(parsed, df, weights=weights, offset=offset, data_name=data_name, family=ffam)
    if not frame.blocks:
        raise FormulaError(f"formula {formula!r} has no random-effects term such as (1 | group)")
    zi_frame = side_frame(zi_rhs, parsed.response, df, ffam)
    disp_frame = side_frame(disp_rhs, parsed.response, df, ffam)
    # The rows: those complete in all three models (glmmTMB's model frame of all variables).
    kept = [f.row_labels for f in (frame, zi_frame, disp_frame) if f is not None]
    common = kept[0]
    for k in kept[1:]:
        common = common.intersection(k, sort=False)
    if any(len(k) != len(common) for k in kept):
        sub = df.loc[df.index.isin(common)]
        w = weights if weights is None or isinstance(weights, str) else np.asarray(weights)[df.index.isin(common)]
        o = offset if offset is None or isinstance(offset, str) else np.asarray(offset)[df.index.isin(common)]
        frame = build_model_frame(parsed, sub, weights=w, offset=o, data_name=data_name, family=ffam)
        zi_frame = side_frame(zi_rhs, parsed.response, sub, ffam)
        disp_frame = side_frame(disp_rhs, parsed.response, sub, ffam)
        frame.n_dropped_na = len(df) - len(sub) + frame.n_dropped_na
        frame.n_rows_data = len(df)
    _check_support(frame, engine_family, zi_frame is not None)
    if zi_frame is not None:
        _check_zero_inflation(frame, fam, engine_family)
    zi = SidePart(None if zi_rhs is None else f"~{zi_rhs}", zi_frame)
    disp = SidePart(None if disp_rhs is None else f"~{disp_rhs}", disp_frame)
    trials = prior = None
    if isinstance(fam, Binomial):
        trials = [float(v) for v in np.asarray(frame.weights, dtype=float)]
    elif frame.weights is not None:
        prior = [float(v) for v in np.asarray(frame.weights, dtype=float)]
    terms, names = core_terms(frame)
    o = None if frame.offset is None else np.ascontiguousarray(frame.offset, dtype=np.float64)
    try:
        model = _core.LaplaceModel(
            np.asfortranarray(frame.X, dtype=np.float64), np.ascontiguousarray(frame.y, dtype=np.float64), terms,
            engine_family, link=fam.link, x_zi=zi.X, x_disp=disp.X, trials=trials, weights=prior, offset=o,
            term_names=names,
        )
    except ValueError as e:
        raise memory_error(frame, e) or DataError(str(e)) from None
    start_values = None if start is None else [float(v) for v in np.ravel(start)]
    lmm_fit = None
    if lmm:
        # The linear mixed model on the LMM core (profiled, exact); the engine then gives
        # glmmTMB's quantities and the covariance of all parameters at its optimum.
        w = None if frame.weights is None else np.ascontiguousarray(frame.weights, dtype=np.float64)
        problem = _core.LinearMixedModel(np.asarray(frame.X, dtype=np.float64), np.ascontiguousarray(frame.y, dtype=np.float64),
                                         terms, weights=w, offset=o, reml=bool(REML), term_names=names)
        lmm_fit = run_fit(lambda: fit_watched(problem.fit, len(frame.y), None))
        s = float(lmm_fit.sigma)
        params = [*_absolute_theta(frame.blocks, np.asarray(lmm_fit.theta), s), *np.asarray(lmm_fit.beta), np.log(s * s)]
        fit = run_fit(lambda: model.fit(start=params, optimize=False))
    else:
        fit = run_fit(lambda: fit_watched(lambda **watch: model.fit(start=start_values, **watch), len(frame.y), None))
    return GlmmTMBResult(frame, fit, fam, zi, disp, data_name=data_name, call_formula=formula, problem=model,
                         reml_fit=lmm_fit if REML else None, **argument_names(weights, offset))


def _absolute_theta(blocks: list, theta: np.ndarray, sigma: float) -> list:
    """The LMM's θ (relative to σ) as the engine takes it (absolute): σ scales every entry of
    the unstructured and diagonal templates, and the SDs but not the correlation angles of
    ar1 ([s, u]) and heterogeneous compound symmetry ([s_1..s_k, v])."""
    out, pos = [], 0
    for b in blocks:
        k = len(b.columns)
        n = theta_size(k, b.covariance)
        part = np.array(theta[pos: pos + n], dtype=float)
        n_scale = {"ar1": 1, "heterogeneous_compound_symmetry": k}.get(b.covariance, n)
        part[:n_scale] *= sigma
        out += list(part)
        pos += n
    return out


def _check_zero_inflation(frame: Any, fam: Any, engine_family: str) -> None:
    """Zero inflation where it cannot be told apart from the conditional model or has no zeros
    to describe: a continuous response on the whole line (gaussian) or inside (0, 1) (beta),
    and a binary binomial response (a Bernoulli mixed with a point mass at 0 is again a
    Bernoulli: glmmTMB fits it with an NA likelihood and a singular Hessian)."""
    if engine_family in ("gaussian", "beta"):
        raise FormulaError(
            f"ziformula: the {fam.family} family cannot be zero-inflated (its response has no mass at an exact 0); "
            "drop ziformula, or use a family for counts (poisson, nbinom1, nbinom2, binomial with trials) or Gamma "
            "(zeros as a hurdle)"
        )
    if engine_family == "binomial" and np.all(np.asarray(frame.weights if frame.weights is not None else 1.0) == 1.0):
        raise FormulaError(
            f"ziformula: the response {frame.response_name!r} is binary (one trial per row), and zero inflation of a "
            "Bernoulli response is not identifiable (a Bernoulli mixed with zeros is again a Bernoulli); drop "
            "ziformula, or give the trials (cbind(successes, failures)) for a zero-inflated binomial"
        )


def _is_lmm(fam, ziformula, dispformula) -> bool:
    """The gaussian family with the identity link, no zero inflation and one dispersion:
    a linear mixed model."""
    return (ENGINE_FAMILIES[type(fam)] == "gaussian" and fam.link == "identity" and side_rhs(ziformula, "ziformula") is None
            and side_rhs("~1" if dispformula is None else dispformula, "dispformula") == "1")


def _check_support(frame: Any, family: str, zero_inflated: bool) -> None:
    """glmmTMB's response checks of the continuous families, naming the column."""
    y = np.asarray(frame.y, dtype=float)
    name = frame.response_name
    if family == "Gamma":
        bad = (y < 0) if zero_inflated else (y <= 0)
        rule = "y ≥ 0 (zeros are the zero-inflation part)" if zero_inflated else "y > 0 (zeros need a ziformula, glmmTMB's ziGamma)"
    elif family == "beta":
        bad = ~(((y > 0) & (y < 1)) | (zero_inflated & (y == 0)))
        rule = "0 < y < 1" + (" (or y = 0, the zero-inflation part)" if zero_inflated else "")
    else:
        return
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        label = frame.row_labels[i] if isinstance(frame.row_labels, pd.Index) else i
        raise DataError(
            f"the response {name!r} is outside the support of the {family} family at {int(bad.sum())} row(s) "
            f"(first: row {label!r}, value {float(y[i]):g}): it needs {rule}"
        )
