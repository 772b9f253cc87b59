"""Simulation (lme4's ``simulate.merMod``) and bootstrap refits (lme4's ``bootMer``,
lmeresampler's ``bootstrap``) of fitted mixed models.

No numerics here: the responses are drawn and the replicates refitted by the Rust core
(``merx._core.simulate``, ``bootstrap_lmm``, ``bootstrap_glmm``) on its own threads with
the GIL released; this module checks the arguments, builds the core problem from the
result's model frame and names the replicates' estimates. Replicate i draws from stream i
of the seed, so a seed gives the same replicates for any ``n_jobs`` and any chunking: the
replicates run in chunks (:func:`merx.progress.run_in_chunks`), which advance the progress bar
and let Ctrl-C stop the bootstrap between two chunks, the fitted result untouched.
"""

from __future__ import annotations

import secrets
from typing import Any

import numpy as np
import pandas as pd

from .. import _core
from ..errors import DataError, MerxError
from ..progress import run_in_chunks
from ..results import prediction
from ..results.bootstrap import BootstrapResult, register_resampler, replicate_table
from ..results.glmer import GlmerResult
from ..results.lmer import LmerResult
from .glmer import glmm_problem
from .lmer import _problem_from_frame

__all__ = ["bootstrap", "simulate", "check_count", "resolve_seed", "glmm_family_arguments"]

KINDS = ("parametric", "semiparametric", "residual", "case", "reb", "wild")


def check_count(value: Any, name: str) -> int:
    """A positive whole number (``nsim``, ``n_jobs``)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise MerxError(f"{name} must be a whole number of at least 1, not {value!r}")
    return int(value)


def resolve_seed(seed: Any) -> int:
    """The seed as the core takes it (a fresh random one when None)."""
    if seed is None:
        return secrets.randbits(63)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise MerxError(f"seed must be a non-negative whole number or None, not {seed!r}")
    return int(seed) % (1 << 64)


def _original(result: Any) -> tuple:
    fit = result.fit
    b = [np.asarray(v, dtype=float).ravel().tolist() for v in fit.b]
    return (np.asarray(fit.theta, float).tolist(), np.asarray(fit.beta, float).tolist(), b, float(fit.sigma))


def glmm_family_arguments(result: GlmerResult) -> dict:
    """The core family arguments of a GLMM fit: name, link, trials (cbind with prior
    weights), shape (negative binomial)."""
    frame = result.frame
    trials = None
    n = frame.binomial_n
    if n is not None and frame.weights is not None and np.any(n > 1) and not np.array_equal(n, frame.weights):
        trials = [float(v) for v in n]
    shape = result.fit.shape
    return {"family_name": str(result.fit.family), "link": str(result.fit.link), "trials": trials,
            "shape": None if shape is None else float(shape)}


def _run_chunks(run, nsim: int, n_jobs: int, progress: bool | None) -> list:
    """Replicates 0..nsim in chunks of at least 4 per thread and at most 100 chunks: each
    advances the bar, and Ctrl-C is raised between two of them (the core runs a chunk with the
    GIL released)."""
    return run_in_chunks(run, nsim, max(4 * n_jobs, nsim // 100, 1), "bootstrap", progress)


def _collect(parts: list) -> tuple:
    theta = np.concatenate([p.theta for p in parts])
    beta = np.concatenate([p.beta for p in parts])
    sigma = np.concatenate([p.sigma for p in parts])
    converged = np.concatenate([np.asarray(p.converged, dtype=bool) for p in parts])
    errors = [e for p in parts for e in p.errors]
    return theta, beta, sigma, converged, {i: e for i, e in enumerate(errors) if e is not None}


def bootstrap(result: Any, nsim: int, kind: str = "parametric", seed: Any = None, n_jobs: int = 1,
              progress: bool | None = None, resample: Any = None, reb_type: int = 0, wild_weights: str = "mammen",
              hccme: str = "hc2") -> BootstrapResult:
    """See :meth:`merx.results.base.MixedModelResult.bootstrap`."""
    nsim = check_count(nsim, "nsim")
    n_jobs = check_count(n_jobs, "n_jobs")
    seed = resolve_seed(seed)
    if kind not in KINDS:
        raise MerxError(f"unknown bootstrap kind {kind!r}: use one of {', '.join(KINDS)}")
    frame = result.frame
    lmm = isinstance(result, LmerResult)
    if not lmm and kind != "parametric":
        raise MerxError(f"kind={kind!r} is available for lmer fits; a glmer fit has the parametric bootstrap only")
    if kind == "reb" and reb_type not in (0, 1, 2):
        raise MerxError(f"reb_type must be 0, 1 or 2, not {reb_type!r}")
    if kind == "case":
        n_levels = len({tuple(np.asarray(b.codes)) for b in frame.blocks}) + 1
        if resample is None:
            raise MerxError(
                f"kind='case' needs resample=: one bool per level, outermost grouping factor first and the "
                f"observations last ({n_levels} for this model), e.g. {tuple([True] + [False] * (n_levels - 1))}"
            )
        resample = [bool(v) for v in resample]
    if kind == "reb" and len(frame.blocks) != 1:
        raise MerxError(
            f"kind={kind!r} needs a two-level model (one random-effects term); this model has "
            f"{len(frame.blocks)}: {', '.join(b.group for b in frame.blocks)}"
        )
    if lmm:
        problem = _problem_from_frame(frame, REML=bool(result.fit.reml))
        core_original = _original(result)
        try:
            plan = _core.ResamplingPlan(kind, resample=resample, reb_rescale=(kind == "reb" and reb_type == 1),
                                        wild_weights=wild_weights, hccme=hccme)
            parts = _run_chunks(lambda first, count: _core.bootstrap_lmm(problem, core_original, plan, first, count, seed,
                                                                         n_jobs), nsim, n_jobs, progress)
        except ValueError as e:
            raise MerxError(str(e)) from None

        def replicate_data(i: int) -> Any:
            return _core.lmm_replicate_data(problem, core_original, plan, i, seed)

        def replicate_draws(i: int) -> dict:
            if kind == "parametric":
                raise MerxError("the parametric bootstrap draws normal variates, not resamples: "
                                "replicate_draws is for the resampling kinds")
            return _core.lmm_replicate_draws(problem, core_original, plan, i, seed)
    else:
        replicate_draws = None
        args = glmm_family_arguments(result)
        problem = glmm_problem(frame, args["family_name"], args["link"], args["trials"], shape=args["shape"])
        theta, beta = list(np.asarray(result.fit.theta, float)), list(np.asarray(result.fit.beta, float))
        sigma = float(result.sigma) if result.use_scale else 1.0
        options = dict(shape=args["shape"], fast=result.nAGQ == 0, n_agq=max(result.nAGQ, 1),
                       estimate_shape=bool(result._shape_estimated))
        try:
            parts = _run_chunks(lambda first, count: _core.bootstrap_glmm(problem, theta, beta, sigma, first, count,
                                                                          seed, n_jobs, **options),
                                nsim, n_jobs, progress)
        except ValueError as e:
            raise MerxError(str(e)) from None

        def replicate_data(i: int) -> Any:
            return _core.glmm_replicate_response(problem, theta, beta, sigma, i, seed, shape=args["shape"])
    theta_r, beta_r, sigma_r, converged, errors = _collect(parts)
    table = replicate_table(frame.blocks, frame.x_names, result.use_scale, lmm, theta_r, beta_r, sigma_r)
    original = replicate_table(frame.blocks, frame.x_names, result.use_scale, lmm,
                               np.asarray(result.fit.theta, float)[None, :], np.asarray(result.fit.beta, float)[None, :],
                               np.array([result.sigma])).iloc[0]
    log_scale = None
    if kind == "reb" and reb_type == 2:
        table, log_scale = _reb_type2(table, original, list(frame.x_names))
    out = BootstrapResult(table, original, kind, seed, errors, converged, replicate_data, replicate_draws)
    out.reb2_log_scale = log_scale
    return out


def _reb_type2(table: pd.DataFrame, original: pd.Series, x_names: list) -> tuple:
    """REB type 2 (lmeresampler 0.2.x's ``.postprocess.reb2``, in the core): the type 0
    replicates' fixed effects shifted so that their mean is the original estimate, their
    variance components (the random effects' variances and σ², lmeresampler's
    ``extract_parameters``) scaled so that their mean is the original one; written back as
    standard deviations (correlations are the replicates' own: lmeresampler reports no
    covariances). Also lmeresampler's log-scale matrix L_b (its replicates of the variance
    components made uncorrelated on the log scale), which lmeresampler computes and leaves
    out of its result, as a DataFrame ``var_<effect>|<group>``, ..., ``var_Residual`` (None
    when there are too few finite replicates)."""
    sd_names = [c for c in table.columns if c.startswith("sd_")] + (["sigma"] if "sigma" in table.columns else [])
    fe = np.ascontiguousarray(table[x_names].to_numpy(dtype=float))
    vc = np.ascontiguousarray(table[sd_names].to_numpy(dtype=float) ** 2)
    fe0 = original[x_names].to_numpy(dtype=float).tolist()
    vc0 = (original[sd_names].to_numpy(dtype=float) ** 2).tolist()
    fe_adj, vc_adj, lb = _core.reb2_postprocess(fe, vc, fe0, vc0)
    out = table.copy()
    out[x_names] = np.asarray(fe_adj)
    out[sd_names] = np.sqrt(np.asarray(vc_adj))
    var_names = ["var_Residual" if n == "sigma" else "var_" + n[3:] for n in sd_names]
    log_scale = None if lb is None else pd.DataFrame(np.asarray(lb), columns=var_names)
    return out, log_scale


def simulate(result: Any, nsim: int = 1, seed: Any = None, re_form: Any = "~0", newdata: Any = None,
             allow_new_levels: bool = False, progress: bool | None = None) -> pd.DataFrame:
    """See :meth:`merx.results.base.MixedModelResult.simulate`."""
    nsim = check_count(nsim, "nsim")
    seed = resolve_seed(seed)
    frame = result.frame
    blocks = list(frame.blocks)
    conditioned = prediction.select_blocks(blocks, re_form)
    lmm = isinstance(result, LmerResult)
    if lmm:
        eta = result.predict(newdata=newdata, re_form=re_form, allow_new_levels=allow_new_levels).to_numpy()
        family, link, sigma, shape, re_scale = "gaussian", "identity", float(result.sigma), None, float(result.sigma)
    else:
        eta = result.predict(newdata=newdata, re_form=re_form, allow_new_levels=allow_new_levels, type="link").to_numpy()
        args = glmm_family_arguments(result)
        family, link, shape = args["family_name"], args["link"], args["shape"]
        sigma, re_scale = (float(result.sigma) if result.use_scale else 1.0), 1.0
    eta = np.ascontiguousarray(eta, dtype=float)
    drawn = _drawn_terms(result, blocks, conditioned, newdata, len(eta))
    weights = None
    if newdata is None and frame.weights is not None:
        weights = np.ascontiguousarray(frame.weights, dtype=float)
        if not lmm and args["trials"] is not None:
            weights = np.ascontiguousarray(args["trials"], dtype=float)
    def draw(first: int, count: int) -> np.ndarray:
        try:
            return np.asarray(_core.simulate(eta, drawn, re_scale, family, link, sigma, count, seed, shape=shape,
                                             weights=weights, first=first))
        except ValueError as e:
            raise MerxError(str(e)) from None

    # chunks of about 10^6 values (a bar step and a Ctrl-C point each): replicate j is stream j
    chunk = max(1, min(nsim, 1_000_000 // max(len(eta), 1)))
    values = np.concatenate(run_in_chunks(draw, nsim, chunk, "simulate", progress), axis=1)
    columns = [f"sim_{j + 1}" for j in range(nsim)]
    return pd.DataFrame(values, columns=columns, index=prediction.row_index(frame, newdata, len(eta)))


def _drawn_terms(result: Any, blocks: list, conditioned: list, newdata: Any, n: int) -> list:
    """(codes, levels, Z, covariance, θ of the term) for the terms drawn afresh."""
    theta = np.asarray(result.fit.theta, dtype=float)
    offsets = result._theta_offsets
    new_blocks = None if newdata is None else result.frame.new_random_blocks(newdata)
    out = []
    for i, b in enumerate(blocks):
        if i in conditioned:
            continue
        if new_blocks is None:
            codes, Z = np.asarray(b.codes), np.asarray(b.Z)
        else:
            codes, Z = (np.asarray(v) for v in new_blocks[i])
            if np.any(codes < 0):
                raise DataError(
                    f"newdata has levels of grouping factor {b.group!r} (or missing values) that were not in the "
                    f"data the model was fitted to; simulation draws effects for the fitted levels only"
                )
        covariance = getattr(b, "covariance", "unstructured")
        out.append((np.ascontiguousarray(codes, dtype=np.int64), int(b.n_levels),
                    np.asarray(Z, dtype=float).reshape(n, len(b.columns)), covariance,
                    theta[offsets[i]:offsets[i + 1]].tolist()))
    return out


for _cls in (LmerResult, GlmerResult):
    register_resampler(_cls.__name__, "simulate", simulate)
    register_resampler(_cls.__name__, "bootstrap", bootstrap)
