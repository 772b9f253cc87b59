"""What every fitted mixed model offers by simulation: merTools' prediction intervals, lme4's
``simulate`` and the bootstrap (a mixin of :class:`~merx.results.base.MixedModelResult`; the
work is in :mod:`merx.results.prediction_interval` and the resamplers registered in
:mod:`merx.results.bootstrap`)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from .bootstrap import resampler
from .prediction_interval import predict_interval

__all__ = ["SimulationMethods"]


class SimulationMethods:
    """``predict_interval``, ``simulate`` and ``bootstrap`` of a fitted model."""

    def predict_interval(self, newdata: Any = None, level: float = 0.8, nsim: int = 1000, which: str = "full",
                         include_resid_var: bool = True, stat: str = "median", type: str = "link",  # noqa: A002
                         seed: int | None = None, new_levels: str = "zero", fix_intercept_variance: bool = False,
                         ignore_fixed_terms: Any = None, n_threads: int | None = None,
                         return_sims: bool = False) -> pd.DataFrame:
        """Simulated prediction intervals, merTools' ``predictInterval`` (lmer fits and binomial
        GLMMs): ``fit`` (median or mean of ``nsim`` simulations), ``lwr``, ``upr`` (their
        (1 ± level)/2 quantiles) per row of ``newdata`` (default: the fitted rows). ``which``:
        ``"full"``, ``"fixed"``, ``"random"`` or ``"all"`` (merTools' long layout: ``effect``
        ``combined``, each grouping factor, ``fixed``; ``obs``); ``type``: ``"link"`` or
        ``"response"``; ``new_levels``: ``"zero"`` or ``"draw"`` (from N(0, Σ)); ``seed`` makes
        the result reproducible; ``return_sims=True`` keeps the simulated values (link scale) in
        ``result.attrs["sim_results"]`` (merTools' ``returnSims``). Rows indexed like ``newdata``
        (like the data's used rows without it). One call into the core, without a progress bar
        (its draws are seeded by row position within the call, so it is not split into chunks).
        Semantics and deviations: :mod:`merx.results.prediction_interval`.

        Parameters
        ----------
        newdata : DataFrame, optional
            Rows to predict (default: the fitted rows).
        level : float
            Coverage, in (0, 1).
        nsim : int
            Number of simulations (at least 2).
        which, stat, type, new_levels : str
            As above; ``stat`` ``"median"`` or ``"mean"``.
        include_resid_var : bool
            Add the residual noise (merTools' ``include.resid.var``).
        seed : int, optional
            Seed of the simulations.
        fix_intercept_variance : bool
            merTools' ``fix.intercept.variance``.
        ignore_fixed_terms : sequence of str, optional
            Fixed effects held at their estimates (merTools' ``ignore.fixed.terms``).
        n_threads : int, optional
            Threads of the simulation (default: all).
        return_sims : bool
            Keep the simulated values.

        Returns
        -------
        pandas.DataFrame
            ``fit``, ``lwr``, ``upr`` per row (and merTools' long layout for ``which="all"``).

        Raises
        ------
        MerxError
            Invalid arguments, a family other than binomial for a GLMM, or an option the model
            does not allow (``fix_intercept_variance`` without an intercept).
        DataError
            ``newdata`` without the model's variables or with values the model frame refuses.
        """
        return predict_interval(self, newdata, level, nsim, which, include_resid_var, stat, type, seed, new_levels,
                                fix_intercept_variance, ignore_fixed_terms, n_threads, return_sims)

    def simulate(self, nsim: int = 1, seed: Any = None, re_form: Any = "~0", newdata: Any = None,
                 allow_new_levels: bool = False, progress: bool | None = None) -> pd.DataFrame:
        """Responses simulated from the fitted model, lme4's ``simulate(fit, nsim, seed, re.form)``:
        a DataFrame with columns ``sim_1`` .. ``sim_nsim``, indexed like ``newdata`` (like the
        data's used rows without it); the draws in chunks of replicates (replicate j from stream
        j of the seed: the same draws in any chunks), so a bar can follow them and Ctrl-C stops
        them between chunks. ``re_form="~0"`` (default, lme4's
        ``re.form = NA``): new random effects are drawn for every term; ``re_form=None``
        (lme4's ``NULL``, ``use.u = TRUE``): conditional on the fitted modes, only the
        residual noise is new; ``"~(1 | g)"``: conditional on the modes of the terms named,
        new effects for the others. A linear mixed model's noise has standard deviation
        σ/√w (lme4 ignores prior weights there); binomial responses are proportions of the
        trials (the weights), Gamma and inverse Gaussian draws use the fitted dispersion σ².

        Parameters
        ----------
        nsim : int
            Number of simulated responses.
        seed : int, optional
            Seed (the same seed gives the same draws).
        re_form : None or str
            Which random effects are conditioned on (see above).
        newdata : DataFrame, optional
            Rows to simulate at (default: the fitted rows).
        allow_new_levels : bool
            Levels of ``newdata`` not in the fit get new draws (else an error).
        progress : bool or None
            A bar over the replicates (None: in a terminal or notebook; :mod:`merx.progress`).

        Returns
        -------
        pandas.DataFrame
            Columns ``sim_1`` .. ``sim_nsim``.

        Raises
        ------
        MerxError
            ``nsim`` or ``seed`` not a whole number of the right range, or a model the core cannot
            simulate.
        DataError
            New levels in ``newdata`` with ``allow_new_levels=False``, or missing variables.
        """
        return resampler(self, "simulate")(self, nsim=nsim, seed=seed, re_form=re_form, newdata=newdata,
                                           allow_new_levels=allow_new_levels, progress=progress)

    def bootstrap(self, nsim: int, kind: str = "parametric", seed: Any = None, n_jobs: int = 1,
                  progress: bool | None = None, **options: Any) -> Any:
        """Bootstrap refits (lme4's ``bootMer``, lmeresampler's ``bootstrap``) → ``BootstrapResult``.

        ``kind``: ``"parametric"`` (new random effects and noise from the fit, lme4's
        ``simulate``; also for glmer fits), ``"semiparametric"`` (bootMer's ``use.u=TRUE``:
        fitted values plus resampled residuals), and lmeresampler 0.2.x's kinds (its
        ``R/bootstrap_lme4.R``, ``R/resamplers.R``, ``R/setup.R``, ``R/lme4_utility_functions.R``):
        ``"residual"`` (CGR: centred modes resampled per term and each replicate's draws
        centred and rescaled to the estimated covariance, centred residuals resampled),
        ``"case"`` (``resample=``: one bool per level, outermost grouping factor first and
        the observations last; drawn clusters keep their levels, so one drawn twice is one
        group with its rows twice), ``"reb"`` (random-effect block, ``reb_type`` 0, 1 or 2;
        one random-effects term; type 2's log-scale matrix is ``result.reb2_log_scale``) and
        ``"wild"`` (``wild_weights`` ``"mammen"``, ``"rademacher"``, ``"norm"``, ``"webb"``
        or ``"gamma"``, one weight per combination of the grouping factors' levels;
        ``hccme`` ``"hc2"`` or ``"hc3"`` on the diagonal leverages). The remaining
        differences from lmeresampler are in ``rust/src/bootstrap_resample.rs`` and
        ``bootstrap_cases.rs``. ``result.replicate_draws(i)`` gives the choices replicate i
        was built from. Replicate i draws from stream i of ``seed``: the same replicates for
        any ``n_jobs`` (threads). ``progress=True`` shows a tqdm bar (``merx[progress]``), ``None``
        (default) one in a terminal or notebook (:mod:`merx.progress`); Ctrl-C stops the
        bootstrap between two chunks of replicates, this result untouched and reusable.

        Parameters
        ----------
        nsim : int
            Number of replicates.
        kind : str
            One of the kinds above.
        seed : int, optional
            Seed of the replicates.
        n_jobs : int
            Threads for the refits.
        progress : bool or None
            Show a tqdm progress bar (None: in a terminal or notebook).
        **options
            ``resample`` (case), ``reb_type`` (reb), ``wild_weights`` and ``hccme`` (wild).

        Returns
        -------
        BootstrapResult
            The replicates of the fixed effects and variance parameters.

        Raises
        ------
        MerxError
            An unknown kind, a kind the fit does not have (glmer: parametric only), invalid
            options, or ``progress=True`` without tqdm.
        """
        return resampler(self, "bootstrap")(self, nsim, kind=kind, seed=seed, n_jobs=n_jobs, progress=progress,
                                            **options)
