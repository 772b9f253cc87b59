"""``anova(m0, m1, ...)``: likelihood-ratio comparison of nested mixed models, as lme4's
``anova.merMod``, with the ML refit of REML fits (hence here, next to ``lmer``).

lme4's rules, in its order: the models must have the same number of observations (else
"models were not all fitted to the same size of dataset"); REML fits are refitted with ML
unless ``refit=False`` (with the note "refitting model(s) with ML (instead of REML)", which
merx, as its other notes, issues as a ``UserWarning``); the models are sorted by their
number of parameters (stably); they must have been fitted to the same data.

Python cannot see the argument expressions that lme4 uses as row names: pass ``names=``,
else the models are named ``m0``, ``m1``, ... by their position in the call.

merx checks more than lme4 does, because the table is meaningless otherwise: the models
must all be linear mixed models or all GLMMs, with the same response, the same family and
link, and GLMMs fitted by adaptive quadrature (``nAGQ > 1``, whose log-likelihood leaves out
the family's constants) are not compared with Laplace fits. lme4's ``anova`` of a single
model (the F table of the fixed-effect terms) is not available: it raises an error.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..errors import MerxError, warn_user
from ..results.anova import AnovaResult
from ..results.base import MixedModelResult
from ..results.glmer import GlmerResult
from ..results.lmer import LmerResult
from .fitting import run_fit
from .lmer import _problem_from_frame

__all__ = ["anova", "refit_ml", "REFIT_MESSAGE"]

REFIT_MESSAGE = "refitting model(s) with ML (instead of REML)"


def anova(*models: MixedModelResult, names: Sequence[str] | None = None, refit: bool = True) -> AnovaResult:
    """Likelihood-ratio tests of nested models, lme4's ``anova(m0, m1, ...)``.

    Parameters
    ----------
    *models : LmerResult or GlmerResult
        Two or more fits of the same data and response (all ``lmer`` or all ``glmer``).
    names : sequence of str, optional
        The row names (lme4 takes the argument expressions); default ``m0``, ``m1``, ...
        in the order the models are passed.
    refit : bool
        Refit REML fits with ML before comparing them (default, as lme4); with ``False``
        the REML log-likelihoods are compared (valid only for models with the same fixed
        effects).

    Returns
    -------
    AnovaResult
        ``.table`` (a DataFrame: npar, AIC, BIC, logLik, deviance, Chisq, Df, Pr(>Chisq),
        one row per model sorted by npar); ``str()`` prints lme4's layout.
    """
    models = list(models)
    if len(models) == 1 and isinstance(models[0], (list, tuple)):
        models = list(models[0])
    for k, m in enumerate(models):
        if not isinstance(m, MixedModelResult):
            raise MerxError(f"anova() compares fitted mixed models; argument {k + 1} is a {type(m).__name__}")
    if len(models) < 2:
        raise MerxError(
            "anova() needs two or more fitted models to compare (lme4's anova of a single model, "
            "the F table of its fixed-effect terms, is not available)"
        )
    labels = _model_names(names, len(models))
    _check_comparable(models, labels)
    refitted: list[str] = []
    if refit:
        reml = [isinstance(m, LmerResult) and m.reml for m in models]
        if any(reml):
            warn_user(REFIT_MESSAGE, UserWarning)
            for k, r in enumerate(reml):  # a loop, not a comprehension: warnings point at the caller
                if r:
                    models[k] = refit_ml(models[k])
            refitted = [nm for nm, r in zip(labels, reml) if r]
    else:
        reml = [isinstance(m, LmerResult) and m.reml for m in models]
        if any(reml) and not all(reml):
            warn_user("some models fit with REML = TRUE, some not", UserWarning)
    order = sorted(range(len(models)), key=lambda i: models[i].df)
    data_names = [models[i].data_name for i in order if models[i].data_name is not None]
    return AnovaResult([models[i] for i in order], [labels[i] for i in order],
                       data_name=data_names[0] if data_names else None, refitted=refitted)


def refit_ml(result: LmerResult) -> LmerResult:
    """The ML fit of a linear mixed model (lme4's ``refitML``): the same model frame (data,
    weights, offset) with the ML deviance optimised from lme4's default start, as
    ``lmer(..., REML=False)`` fits it."""
    if not result.reml:
        return result
    problem = _problem_from_frame(result.frame, REML=False)
    fit = run_fit(lambda: problem.fit(theta_start=None, max_fun=None, optimizer="auto"))
    return LmerResult(result.frame, fit, data_name=result.data_name, call_formula=result.call_formula,
                      problem=problem, weights_name=result.weights_name, offset_name=result.offset_name)


def _model_names(names: Sequence[str] | None, n: int) -> list[str]:
    if names is None:
        return [f"m{k}" for k in range(n)]
    if isinstance(names, str):
        names = [names]
    labels = [str(v) for v in names]
    if len(labels) != n:
        raise MerxError(f"names= gives {len(labels)} names for {n} models")
    if len(set(labels)) < n:
        warn_user("failed to find model names, assigning generic names", UserWarning)
        return [f"MODEL{k + 1}" for k in range(n)]
    return labels


def _listing(labels: Sequence[str], values: Sequence[Any]) -> str:
    return ", ".join(f"{nm}: {v}" for nm, v in zip(labels, values))


def _check_comparable(models: list, labels: list[str]) -> None:
    kinds = ["glmer" if isinstance(m, GlmerResult) else "lmer" for m in models]
    if len(set(kinds)) > 1:
        raise MerxError(
            "anova() cannot compare linear mixed models (lmer) with generalized ones (glmer): "
            + _listing(labels, kinds)
        )
    nobs = [m.nobs for m in models]
    if len(set(nobs)) > 1:
        raise MerxError(
            "models were not all fitted to the same size of dataset: "
            + ", ".join(f"{nm} has {k} observations" for nm, k in zip(labels, nobs))
        )
    responses = [" ".join(str(m.frame.response_name).split()) for m in models]
    if len(set(responses)) > 1:
        raise MerxError("anova() compares models of the same response; the responses differ: "
                        + _listing(labels, responses))
    data = [m.data_name for m in models]
    known = {d for d in data if d is not None}
    if len(known) > 1:
        raise MerxError("all models must be fit to the same data object: " + _listing(labels, data))
    y0 = np.asarray(models[0].frame.y, dtype=float)
    for nm, m in zip(labels[1:], models[1:]):
        if not np.array_equal(np.asarray(m.frame.y, dtype=float), y0, equal_nan=True):
            raise MerxError(f"all models must be fit to the same data: the response of {nm} differs from "
                            f"that of {labels[0]}")
    if kinds[0] == "glmer":
        fams = [f"{m.fit.family}({m.link})" for m in models]
        if len(set(fams)) > 1:
            raise MerxError("anova() compares GLMMs of the same family and link: " + _listing(labels, fams))
        quad = [m.nAGQ > 1 for m in models]
        if any(quad) and len({m.nAGQ for m in models}) > 1:
            raise MerxError(
                "GLMMs fitted with nAGQ > 1 have log-likelihoods without the family's constants, "
                "not comparable with other fits: " + _listing(labels, [f"nAGQ = {m.nAGQ}" for m in models])
            )
