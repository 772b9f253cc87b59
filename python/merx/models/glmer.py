"""``glmer()``: formula → model frame (with the family's response rules) → Rust GLMM →
Laplace fit → :class:`~merx.results.glmer.GlmerResult`.

No numerics here: the family's response rules are in :mod:`merx.frame.glm_response`,
PIRLS, the Laplace deviance, the optimisation and the Hessian in the Rust core.
"""

from __future__ import annotations


from typing import Any

import numpy as np

from .. import _core
from ..errors import DataError, MerxError, warn_user
from ..families import Gaussian, NegativeBinomial, resolve_family
from ..formula.model_formula import parse_formula
from ..frame.batch_source import is_batch_source
from ..frame.model_frame import build_model_frame
from ..results.glmer import GlmerResult
from ..results.lmer import LmerResult
from ..results.variance_decomposition import register_null_model_intercept
from .fitting import (argument_names, check_lme4_terms, check_prior_weights, core_terms, fit_watched, memory_error,
                      run_fit)
from .glmer_dask import glmer_dask
from .glmer_stream import glmer_batches
from .lmer import lmer
from .lmer_dask import is_dask_collection

#: The families the core fits (and the negative binomial); the gaussian family with the
#: identity link is handed to ``lmer``, as lme4's ``glmer`` does.
CORE_FAMILIES = ("binomial", "poisson", "Gamma", "inverse.gaussian", "gaussian")


def glmer(
    formula: str,
    data: Any,
    family: Any,
    weights=None,
    offset=None,
    nAGQ: int = 1,  # noqa: N803 - lme4 name
    start: Any = None,
    max_fun: int | None = None,
    data_name: str | None = None,
    progress: bool | None = None,
) -> GlmerResult | LmerResult:
    """Fit a generalized linear mixed-effects model, as lme4's ``glmer``.

    Parameters
    ----------
    formula : str
        lme4 formula; a binomial response may be 0/1, logical, a two-level factor (the
        first level is failure), a proportion with ``weights`` = trials, or
        ``cbind(successes, failures)``.
    data : pandas or polars DataFrame, or dict of columns
        The variables of the formula(s).
    family : str, family object or class
        ``"binomial"``, ``"poisson"``, ``"Gamma"``, ``"inverse.gaussian"``, ``"gaussian"``,
        ``merx.families.Binomial(link="probit")``, ``merx.families.Gamma(link="log")``, ...
        The families with a dispersion (Gamma, inverse.gaussian, gaussian) are fitted as
        lme4 fits them: the dispersion is not a parameter of the Laplace approximation but
        is estimated inside the log-likelihood's constants (R's ``family$aic``), and
        ``sigma`` is lme4's (see :mod:`merx.results.glmer`). ``gaussian`` with the identity
        link is a linear mixed model: as lme4, glmer warns and fits it with ``lmer``
        (REML).
    weights, offset : column name or array, optional
        Prior weights (the trials of a proportion response; with ``cbind(s, f)`` prior
        weights besides the trials, as R's binomial log-likelihood weighs each row's
        binomial probability) and offset (on the link scale).
    nAGQ : int
        1 (default): the Laplace approximation, θ and β optimised together (lme4's
        default, after a first stage with β inside PIRLS). 0: that first stage only, β
        from PIRLS at each θ (lme4's ``nAGQ = 0``, faster, slightly different estimates).
        > 1: adaptive Gauss-Hermite quadrature with that many nodes in the second stage
        (one scalar random-effects term, as lme4 requires); its deviance, as lme4's, leaves
        out the family's constants, so its logLik is not comparable with the Laplace one.
    start : array-like, optional
        Starting θ (lme4's layout).
    max_fun : int, optional
        Cap on objective evaluations per stage.
    data_name : str, optional
        Name shown on the ``Data:`` line of ``summary()``.
    progress : bool or None
        A bar of the objective's evaluations (``None``: in a terminal or notebook;
        :mod:`merx.progress`). A fit of 20,000 rows or more, or one with a bar, stops on
        Ctrl-C within 0.1 s, the data untouched.

    Returns
    -------
    GlmerResult or LmerResult
        The fitted model; an ``LmerResult`` for the gaussian family with the identity link.

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
    fam = resolve_family(family)
    if isinstance(fam, Gaussian) and fam.link == "identity":
        warn_user(
            "calling glmer() with family=gaussian (identity link) as a shortcut to lmer() is deprecated; "
            "please call lmer() directly",
            FutureWarning
        )
        return lmer(formula, data, weights=weights, offset=offset, data_name=data_name, start=start,
                    max_fun=max_fun, progress=progress)
    return _fit(formula, data, fam, weights, offset, nAGQ, start, max_fun, data_name, estimate_shape=False,
                progress=progress)


def glmer_nb(
    formula: str,
    data: Any,
    weights=None,
    offset=None,
    nAGQ: int = 1,  # noqa: N803 - lme4 name
    start: Any = None,
    max_fun: int | None = None,
    data_name: str | None = None,
    link: str = "log",
    init_theta: float = 1.0,
    information: str = "observed",
) -> GlmerResult:
    """Fit a negative binomial GLMM with its shape estimated, as lme4's ``glmer.nb``.

    The shape θ of Var(y) = μ + μ²/θ is estimated with the other parameters by the
    Laplace approximation (jointly, as glmmTMB's ``nbinom2``; lme4 alternates between θ and
    the rest) and is the result's ``shape`` attribute: ``theta`` stays the relative
    covariance factor. ``init_theta`` is its starting value.

    ``information``: the log-determinant of the Laplace approximation uses the
    ``"observed"`` information at the modes (default; glmmTMB's ``nbinom2``, whose fits merx
    reproduces) or the ``"expected"`` one (lme4's PIRLS weights). The log link is not the
    negative binomial's canonical link, so the two likelihoods differ slightly (Salamanders
    ``count ~ spp + mined + (1 | site)``: logLik -826.202 observed, -826.157 expected).

    Parameters
    ----------
    formula, data, weights, offset, nAGQ, start, max_fun, data_name
        As :func:`merx.glmer`.
    link : str
        The link of the mean (``"log"`` by default).
    init_theta : float
        Starting value of the shape θ.
    information : str
        ``"observed"`` (default) or ``"expected"``.

    Returns
    -------
    GlmerResult
        The fitted model, the estimated shape as ``shape``.

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
        A link the negative binomial family does not have.
    """
    if information not in ("observed", "expected"):
        raise MerxError(f"information must be 'observed' or 'expected', not {information!r}")
    fam = NegativeBinomial(theta=init_theta, link=link)
    return _fit(formula, data, fam, weights, offset, nAGQ, start, max_fun, data_name, estimate_shape=True,
                observed_information=information == "observed")


def _fit(formula, data, fam, weights, offset, nAGQ, start, max_fun, data_name, estimate_shape: bool,  # noqa: N803
         observed_information: bool = False, progress: bool | None = None) -> GlmerResult:
    if isinstance(nAGQ, bool) or not isinstance(nAGQ, (int, np.integer)) or not 0 <= nAGQ <= 100:
        raise MerxError(f"nAGQ must be an integer from 0 to 100, not {nAGQ!r}")
    negative_binomial = isinstance(fam, NegativeBinomial)
    if not negative_binomial and fam.family_name not in CORE_FAMILIES:
        raise MerxError(
            f"glmer with the {fam.family_name} family is not available yet: the core fits "
            f"{', '.join(CORE_FAMILIES)} and negative binomial GLMMs"
        )
    check_prior_weights(weights, "glmer")
    parsed = parse_formula(formula)
    if is_batch_source(data) or is_dask_collection(data):
        if negative_binomial or estimate_shape:
            raise DataError("glmer_nb on data read in batches (Parquet, Dask) is not supported: fit it on data in memory")
        check_lme4_terms(parsed, "glmer")
        if is_dask_collection(data):
            return glmer_dask(formula, data, fam, weights=weights, offset=offset, nAGQ=nAGQ, start=start,
                              max_fun=max_fun, data_name=data_name)
        return glmer_batches(formula, data, fam, weights=weights, offset=offset, nAGQ=nAGQ, start=start,
                             max_fun=max_fun, data_name=data_name, progress=progress)
    check_lme4_terms(parsed, "glmer")
    frame = build_model_frame(parsed, data, weights=weights, offset=offset, data_name=data_name, family=fam)
    if not frame.blocks:
        raise MerxError(
            f"formula {formula!r} has no random-effects term such as (1 | group); for a model "
            "without random effects use an ordinary generalized linear model"
        )
    # Prior weights on a cbind(s, f) response: the weights are trials × prior weights, and
    # the log-likelihood needs the trials apart (R's binomial()$aic weighs each row's
    # log dbinom(s | n, μ) by its prior weight).
    trials = None
    if frame.binomial_n is not None and weights is not None and np.any(frame.binomial_n > 1):
        trials = [float(v) for v in frame.binomial_n]
    family_name = "negative_binomial" if negative_binomial else fam.family_name
    model = glmm_problem(frame, family_name, fam.link, trials, shape=fam.theta if negative_binomial else None)
    model.observed_information = observed_information
    theta_start = None if start is None else [float(v) for v in np.ravel(start)]
    fit = run_fit(lambda: fit_watched(lambda **watch: model.fit(theta_start=theta_start, fast=(nAGQ == 0),
                                                                n_agq=max(int(nAGQ), 1), max_fun=max_fun,
                                                                estimate_shape=estimate_shape, **watch),
                                      len(frame.y), progress))
    if fam.family_name == "binomial":
        _warn_if_separated(frame, fit)
    return GlmerResult(frame, fit, data_name=data_name, call_formula=formula, nAGQ=nAGQ, shape_estimated=estimate_shape,
                       **argument_names(weights, offset))


def glmm_problem(frame: Any, family_name: str, link: str, trials: Any = None, shape: Any = None,
                 X: Any = None, offset: Any = None) -> "_core.GeneralizedLinearMixedModel":
    """The Rust GLMM of a model frame (``X``, ``offset``: in place of the frame's, for refits
    with columns held in the offset, as a profile's)."""
    w = None if frame.weights is None else np.ascontiguousarray(frame.weights, dtype=np.float64)
    terms, names = core_terms(frame)
    o = frame.offset if offset is None else offset
    o = None if o is None else np.ascontiguousarray(o, dtype=np.float64)
    try:
        return _core.GeneralizedLinearMixedModel(
            np.asarray(frame.X if X is None else X, dtype=np.float64),
            np.ascontiguousarray(frame.y, dtype=np.float64),
            terms,
            family_name,
            link=link,
            weights=w,
            offset=o,
            term_names=names,
            shape=shape,
            trials=trials,
        )
    except ValueError as e:
        raise memory_error(frame, e) or DataError(str(e)) from None


def _warn_if_separated(frame: Any, fit: Any) -> None:
    """R's glm warning "fitted probabilities numerically 0 or 1 occurred", naming the
    coefficients that run away (|β| > 10 on the link scale): under complete or
    quasi-complete separation their maximum-likelihood estimates are infinite."""
    mu = np.asarray(fit.fitted)
    eps = 10 * np.finfo(float).eps
    if not np.any((mu < eps) | (mu > 1 - eps)):
        return
    beta = np.asarray(fit.beta)
    large = [name for name, b in zip(frame.x_names, beta) if abs(b) > 10]
    which = f"; the estimates of {', '.join(large)} diverge" if large else ""
    warn_user(
        "fitted probabilities numerically 0 or 1 occurred: the response is completely or "
        f"quasi-completely separated{which} (their maximum-likelihood estimates are infinite)"
    )


def _null_model_intercept(result: GlmerResult) -> float:
    """β₀ of a count GLMM's null model (the same random terms, offset, weights and family, fixed
    part ``~ 1``), refitted as performance's ``null_model()`` does with ``update()``. Only the
    log link's lognormal approximation asks for it, so there are no binomial trials to keep."""
    n = len(result.frame.y)
    model = glmm_problem(result.frame, str(result.fit.family), str(result.fit.link), None, X=np.ones((n, 1)))
    fit = run_fit(lambda: model.fit(fast=(result.nAGQ == 0), n_agq=max(int(result.nAGQ), 1), vcov=False))
    return float(np.ravel(fit.beta)[0])


register_null_model_intercept(_null_model_intercept)
