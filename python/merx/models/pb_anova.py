"""``anova(m0, m1, test="PB")``: pbkrtest's ``PBmodcomp``, the parametric-bootstrap
likelihood-ratio test of two nested models.

Responses are simulated from the smaller model (new random effects and noise, replicate i
from stream i of the seed, as :func:`merx.models.bootstrap.bootstrap` draws them), both
models are refitted to each, and the observed LRT is referred to the replicates' LRTs. REML
fits are compared by their ML fits (as ``anova``). The refits run in the core with the GIL
released; ``n_jobs`` threads each hold their own pair of core models, so the replicates
are the same for any ``n_jobs``. They run in rounds (:func:`merx.progress.run_in_chunks`):
each advances the progress bar, and Ctrl-C stops the test after the running round.
"""

from __future__ import annotations

import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

import numpy as np

from .. import _core
from ..errors import MerxError
from ..progress import run_in_chunks
from ..results.anova import AnovaResult
from ..results.glmer import GlmerResult
from ..results.gls import GlsResult
from ..results.lme import LmeResult
from ..results.lme_anova import LmeAnova, lme_anova
from ..results.lmer import LmerResult
from ..results.pb_anova import PBModcompResult
from . import anova as lrt_anova
from .bootstrap import _original, check_count, glmm_family_arguments, resolve_seed
from .glmer import glmm_problem
from .lmer import _problem_from_frame

__all__ = ["anova", "pb_modcomp"]


def anova(*models: Any, names: Sequence[str] | None = None, refit: bool = True, test: str | None = None,
          nsim: int = 1000, seed: Any = None, n_jobs: int = 1, progress: bool | None = None,
          type: str = "sequential") -> AnovaResult | PBModcompResult | LmeAnova:  # noqa: A002 - nlme's name
    """lme4's ``anova(m0, m1, ...)`` (likelihood-ratio tests; see :func:`merx.models.anova.anova`),
    or with ``test="PB"`` pbkrtest's ``PBmodcomp(large, small, nsim, seed)`` of two models:
    the LRT with its chi-squared p-value and the parametric-bootstrap p-value
    (1 + #{LRT* ≥ LRT}) / (1 + nsim), from ``nsim`` responses simulated from the smaller model
    (``progress``: a bar, see :mod:`merx.progress`; Ctrl-C stops it between rounds of replicates).

    ``lme`` and ``gls`` fits get nlme's ``anova.lme`` (:mod:`merx.results.lme_anova`): one model, F tests
    of its terms (``type`` "sequential" or "marginal"); several, nlme's likelihood-ratio table
    in the order given (REML fits compared by their REML likelihoods, as nlme does).

    Parameters
    ----------
    *models : fitted models
        lmer/glmer fits, or lme/gls fits (not mixed).
    names : sequence of str, optional
        Row names of the table (default: ``m0``, ``m1``, ...).
    refit : bool
        Refit REML fits by ML before comparing them (lme4's default ``True``).
    test : str, optional
        None (likelihood-ratio test) or ``"PB"`` (parametric bootstrap).
    nsim : int
        Number of simulated responses of ``test="PB"``.
    seed : int, optional
        Seed of the simulations.
    n_jobs : int
        Threads for the refits of ``test="PB"``.
    progress : bool or None
        ``test="PB"``: a progress bar (None: in a terminal or notebook).
    type : str
        One lme/gls fit: ``"sequential"`` or ``"marginal"`` F tests.

    Returns
    -------
    AnovaResult, PBModcompResult or LmeAnova
        The table (``.table``, a DataFrame; ``str()`` R's printed layout).

    Raises
    ------
    MerxError
        Models that cannot be compared (different data or responses, lme with lmer fits), an
        unknown ``test``, or ``test="PB"`` with other than two nested lmer/glmer fits.
    """
    nlme_fits = (LmeResult, GlsResult)
    if any(isinstance(m, nlme_fits) for m in models):
        if not all(isinstance(m, nlme_fits) for m in models):
            raise MerxError("anova compares lme and gls fits with each other (nlme's anova.lme): refit the others "
                            "with merx.lme or merx.gls")
        if test is not None:
            raise MerxError("test= applies to lmer/glmer fits; nlme's anova of lme fits is the likelihood-ratio table")
        return lme_anova(*models, names=names, type=type)
    if test is None or (isinstance(test, str) and test.lower() in ("chisq", "lrt")):
        # The comparison's warnings (REML refits, convergence) name the caller's line: merx.errors.warn_user.
        return lrt_anova.anova(*models, names=names, refit=refit)
    if test != "PB":
        raise MerxError(f"unknown test {test!r}: use None (likelihood-ratio test) or 'PB' (parametric bootstrap)")
    if len(models) != 2:
        raise MerxError(f"test='PB' compares two nested models, not {len(models)}")
    return pb_modcomp(models[0], models[1], nsim=nsim, seed=seed, n_jobs=n_jobs, progress=progress)


def pb_modcomp(m0: Any, m1: Any, nsim: int = 1000, seed: Any = None, n_jobs: int = 1,
               progress: bool | None = None) -> PBModcompResult:
    """pbkrtest's ``PBmodcomp`` of two nested fits (either order); ``progress``: see :mod:`merx.progress`."""
    nsim = check_count(nsim, "nsim")
    n_jobs = check_count(n_jobs, "n_jobs")
    seed = resolve_seed(seed)
    table = lrt_anova.anova(m0, m1, names=["small", "large"])  # checks, refits REML fits with ML, sorts
    small, large = table.models.values()
    if small.df == large.df:
        raise MerxError("test='PB' needs nested models with different numbers of parameters")
    lrt = 2.0 * (large.logLik - small.logLik)
    start = time.perf_counter()
    ref = _reference_distribution(small, large, nsim, seed, n_jobs, progress)
    return PBModcompResult(lrt, large.df - small.df, ref, [large.call_formula, small.call_formula],
                           time.perf_counter() - start, seed)


def _reference_distribution(small: Any, large: Any, nsim: int, seed: int, n_jobs: int,
                            progress: bool | None) -> np.ndarray:
    if isinstance(small, LmerResult):
        response = _lmm_responses(small, seed)
        make = lambda: _LmmPair(small, large)  # noqa: E731 - one worker per thread
    elif isinstance(small, GlmerResult):
        response = _glmm_responses(small, seed)
        make = lambda: _GlmmPair(small, large)  # noqa: E731
    else:
        raise MerxError(f"test='PB' compares lmer or glmer fits, not {type(small).__name__}")
    n_threads = min(n_jobs, nsim)
    pairs = [make() for _ in range(n_threads)]  # one per thread; each refit starts at the fits' θ

    with ThreadPoolExecutor(max_workers=n_threads) as pool:
        def run_round(first: int, count: int) -> list:
            shares = np.array_split(np.arange(first, first + count), n_threads)
            work = lambda k: [pairs[k].lrt(response(int(i))) for i in shares[k]]  # noqa: E731
            return [v for part in pool.map(work, range(n_threads)) for v in part]
        parts = run_in_chunks(run_round, nsim, max(4 * n_threads, nsim // 100, 1), "PB anova", progress)
    return np.concatenate([np.asarray(p, dtype=float) for p in parts])


def _lmm_responses(small: LmerResult, seed: int):
    problem = _problem_from_frame(small.frame, REML=False)
    original = _original(small)
    plan = _core.ResamplingPlan("parametric")
    return lambda i: _core.lmm_replicate_data(problem, original, plan, i, seed)


def _glmm_responses(small: GlmerResult, seed: int):
    args = glmm_family_arguments(small)
    problem = glmm_problem(small.frame, args["family_name"], args["link"], args["trials"], shape=args["shape"])
    theta, beta = list(np.asarray(small.fit.theta, float)), list(np.asarray(small.fit.beta, float))
    sigma = float(small.sigma) if small.use_scale else 1.0
    return lambda i: _core.glmm_replicate_response(problem, theta, beta, sigma, i, seed, shape=args["shape"])


class _LmmPair:
    """The two models' ML problems, refitted to each new response (same design: O(n))."""

    def __init__(self, small: LmerResult, large: LmerResult):
        self.models = [(_problem_from_frame(m.frame, REML=False), list(np.asarray(m.fit.theta, float)))
                       for m in (small, large)]

    def lrt(self, y: np.ndarray) -> float:
        dev = []
        for problem, theta in self.models:
            problem.set_response(np.ascontiguousarray(y, dtype=float))
            try:
                dev.append(problem.fit(theta_start=theta, condvar=False).objective)
            except (ValueError, ArithmeticError):
                return float("nan")
        return dev[0] - dev[1]


class _GlmmPair:
    """Each replicate's GLMMs built afresh (the family holds the response), started at the fits' θ."""

    def __init__(self, small: GlmerResult, large: GlmerResult):
        self.models = [(m, glmm_family_arguments(m), list(np.asarray(m.fit.theta, float))) for m in (small, large)]

    def lrt(self, y: np.ndarray) -> float:
        dev = []
        for m, args, theta in self.models:
            frame = dataclasses.replace(m.frame, y=np.asarray(y, dtype=float))
            try:
                problem = glmm_problem(frame, args["family_name"], args["link"], args["trials"], shape=args["shape"])
                fit = problem.fit(theta_start=theta, fast=m.nAGQ == 0, n_agq=max(m.nAGQ, 1), condvar=False,
                                  estimate_shape=bool(m._shape_estimated))
            except (ValueError, ArithmeticError, MerxError):
                return float("nan")
            dev.append(fit.objective)
        return dev[0] - dev[1]
