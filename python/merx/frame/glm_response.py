"""The response of a GLMM, as R's family ``initialize`` expressions see it.

:func:`glm_response` turns the response's value on the used rows and the prior
weights into what the GLMM core fits, with R's conventions (``glm`` and lme4's
``glmer`` run the same ``family$initialize``):

* binomial (``binomInitialize``): ``y`` is the proportion of successes and the
  weights are trials × prior weights. A one-column response (0/1 numbers,
  booleans, proportions with ``weights`` = trials, or a factor whose first level
  is failure and every other level success) keeps the prior weights, and rows
  of weight 0 get ``y = 0``; ``cbind(successes, failures)`` gives
  ``y = s / (s + f)`` (0 where ``s + f = 0``) and weights ``(s + f)`` × prior
  weights. R's ``n`` (``s + f`` for cbind, 1 otherwise) comes along: R's
  binomial log-likelihood needs it. Non-integer successes warn as R does;
* poisson and negative binomial: non-negative counts (non-integer counts warn,
  as R's ``dpois``/``dnbinom`` do when the log-likelihood is computed);
* Gamma and inverse.gaussian: positive values;
* gaussian: any numbers, but R cannot start the log link from y <= 0 nor the
  inverse link from y = 0 (its initialize: "cannot find valid starting values").

Errors name the response and the first offending row; the R message the rule
comes from starts the text.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import DataError, warn_user
from ..families import Binomial, Family, Gamma, Gaussian, InverseGaussian, NegativeBinomial, Poisson
from ..rstyle.numbers import r_format_number
from .factors import Factor, format_levels
from .values import Logical, Numeric, NumericMatrix

__all__ = ["GlmResponse", "glm_response", "batch_response"]

# R: any(abs(m - round(m)) > 1e-3) in binomInitialize
BINOMIAL_INTEGER_TOL = 1e-3
# warnings name the caller of build_model_frame: warn in a helper <- glm_response <- build_model_frame


@dataclass
class GlmResponse:
    y: np.ndarray  # float64 (n,): proportions of successes for binomial, the response otherwise
    weights: np.ndarray | None  # prior weights (× trials for binomial; always given for binomial)
    binomial_n: np.ndarray | None  # R's n of binomial families: s + f for cbind, 1 otherwise; else None


def glm_response(rv, label: str, family: Family, prior_weights: np.ndarray | None,
                 row_of: Callable[[int], str]) -> GlmResponse:
    """The GLMM response of ``family`` from the response's value ``rv`` on the used rows.

    ``label``: the response as written in the formula; ``prior_weights``: the
    ``weights=`` argument on the used rows (None: all 1); ``row_of(i)``: the
    data's label of used row ``i``, for messages.
    """
    if isinstance(family, Binomial):
        return _binomial(rv, label, prior_weights, row_of)
    y = single_numeric_response(rv, label, f"the {family.family} family")
    if isinstance(family, (Poisson, NegativeBinomial)):
        _counts(y, label, family, row_of)
    elif isinstance(family, (Gamma, InverseGaussian)):
        bad = y <= 0
        if bad.any():
            head = (
                "non-positive values not allowed for the 'Gamma' family"
                if isinstance(family, Gamma)
                else "positive values only are allowed for the 'inverse.gaussian' family"
            )
            raise DataError(
                f"{head}: the response {label!r} has {_count(bad, 'value')} <= 0 ({_first(y, bad, row_of)}); "
                f"the {family.family} family is for positive responses"
            )
    elif isinstance(family, Gaussian) and family.link in ("log", "inverse"):
        bad = y <= 0 if family.link == "log" else y == 0
        if bad.any():
            need = "positive" if family.link == "log" else "non-zero"
            raise DataError(
                f"cannot find valid starting values: the gaussian family's {family.link} link starts from the "
                f"response, which must be {need}; {label!r} has {_count(bad, 'value')} that is not "
                f"({_first(y, bad, row_of)})"
            )
    return GlmResponse(y=y, weights=prior_weights, binomial_n=None)


def batch_response(family: Family, quiet: bool) -> Callable:
    """The family's response rules for one batch of data read in batches (the
    ``response`` of :func:`merx.frame.stream_frame.batch_arrays`): ``(y, weights)``, rows
    named as ``<row> of <file>``; ``quiet`` silences the warnings a first pass gave already.
    A cbind response with prior weights besides the trials is refused (the log-likelihood
    would need the trials apart, per row)."""

    def response(rv, label: str, weights, where: str) -> tuple:
        with warnings.catch_warnings():
            if quiet:
                warnings.simplefilter("ignore")
            resp = glm_response(rv, label, family, weights, lambda i: f"{i + 1} of {where}")
        if resp.binomial_n is not None and weights is not None and np.any(resp.binomial_n > 1):
            raise DataError(
                f"glmer on data read in batches takes cbind(successes, failures) without prior weights only "
                f"({where} has weights besides the trials); give the proportion successes / trials with "
                "weights = trials × prior weights, or fit the data in memory"
            )
        return resp.y, resp.weights

    return response


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def _count(mask: np.ndarray, what: str) -> str:
    k = int(mask.sum())
    return f"{k} {what}{'' if k == 1 else 's'}"


def _first(values: np.ndarray, mask: np.ndarray, row_of: Callable[[int], str]) -> str:
    i = int(np.flatnonzero(mask)[0])
    return f"first {r_format_number(values[i])} in row {row_of(i)}"


def single_numeric_response(rv, label: str, model: str) -> np.ndarray:
    """``y`` from a response that must be one numeric column (lmer's, and every family's
    but the binomial); ``model`` names what needs it in the messages."""
    if isinstance(rv, (Numeric, Logical)):
        return np.asarray(rv.values, dtype=float).copy()
    if isinstance(rv, Factor):
        raise DataError(
            f"the response {label!r} is not numeric (it is a factor with levels {format_levels(rv.levels)}); "
            f"{model} needs a numeric response: convert it to numbers, or fit a binomial GLMM for a "
            f"two-level outcome"
        )
    if isinstance(rv, NumericMatrix):
        raise DataError(
            f"the response {label!r} is a matrix (cbind); {model} needs a single numeric response "
            f"(cbind(successes, failures) is the binomial family's response)"
        )
    raise DataError(f"the response {label!r} is not numeric")


def _counts(y: np.ndarray, label: str, family: Family, row_of) -> None:
    """R's poisson/negative.binomial initialize (no negative values) and dpois's
    warning about non-integer x (tolerance 1e-7 relative, R_nonint)."""
    neg = y < 0
    if neg.any():
        who = "'Poisson' family" if isinstance(family, Poisson) else "negative binomial family"
        raise DataError(
            f"negative values not allowed for the {who}: the response {label!r} has "
            f"{_count(neg, 'negative value')} ({_first(y, neg, row_of)}); the {who} is for "
            f"counts 0, 1, 2, ..."
        )
    nonint = np.abs(y - np.round(y)) > 1e-7 * np.maximum(1.0, np.abs(y))
    if nonint.any():
        i = int(np.flatnonzero(nonint)[0])
        name = family.family if isinstance(family, Poisson) else "negative binomial"
        warn_user(
            f"non-integer x = {y[i]:f}: the {name} response {label!r} has "
            f"{_count(nonint, 'non-integer value')} (first in row {row_of(i)}); the {name} likelihood "
            f"is for counts",
            UserWarning,
        )


def _binomial(rv, label: str, prior_weights, row_of) -> GlmResponse:
    """R's binomInitialize."""
    n = rv.codes.shape[0] if isinstance(rv, Factor) else rv.values.shape[0]
    prior = np.ones(n) if prior_weights is None else np.asarray(prior_weights, dtype=float)
    if isinstance(rv, NumericMatrix) and rv.values.shape[1] == 2:
        return _binomial_cbind(rv, label, prior, row_of)
    if isinstance(rv, NumericMatrix) and rv.values.shape[1] != 1:
        raise DataError(
            f"for the 'binomial' family, y must be a vector of 0 and 1's or a 2 column matrix where col 1 is "
            f"no. successes and col 2 is no. failures: the response {label!r} has {rv.values.shape[1]} columns"
        )
    if isinstance(rv, NumericMatrix):
        y = rv.values[:, 0].copy()
    elif isinstance(rv, Factor):
        # R: if (is.factor(y)) y <- y != levels(y)[1L]
        y = (rv.codes != 0).astype(float)
    elif isinstance(rv, (Numeric, Logical)):
        y = np.asarray(rv.values, dtype=float).copy()
    else:
        raise DataError(f"the response {label!r} is not numeric")
    y[prior == 0] = 0.0  # R: y[weights == 0] <- 0
    bad = (y < 0) | (y > 1)
    if bad.any():
        counts = bool(np.all(y >= 0) and np.all(y == np.round(y)))
        hint = (
            " (they look like counts of successes: give cbind(successes, failures), or the proportion "
            "successes / trials with weights = trials)"
            if counts else ""
        )
        raise DataError(
            f"y values must be 0 <= y <= 1: the binomial response {label!r} has {_count(bad, 'value')} outside "
            f"[0, 1] ({_first(y, bad, row_of)}){hint}; a binomial response is 0/1, TRUE/FALSE, a factor (first "
            f"level = failure), a proportion of successes with weights = number of trials, or "
            f"cbind(successes, failures)"
        )
    m = prior * y
    nonint = np.abs(m - np.round(m)) > BINOMIAL_INTEGER_TOL
    if nonint.any():
        i = int(np.flatnonzero(nonint)[0])
        what = "weights × response" if prior_weights is not None else "the response"
        warn_user(
            f"non-integer #successes in a binomial glm! ({what} is not a whole number of successes in "
            f"{_count(nonint, 'row')}, first {r_format_number(m[i])} in row {row_of(i)}; a proportion of "
            f"successes needs weights = the number of trials)",
            UserWarning,
        )
    return GlmResponse(y=y, weights=prior.copy(), binomial_n=np.ones(n))


def _binomial_cbind(rv: NumericMatrix, label: str, prior: np.ndarray, row_of) -> GlmResponse:
    s, f = rv.values[:, 0], rv.values[:, 1]
    for col, v in ((0, s), (1, f)):
        neg = v < 0
        if neg.any():
            which = "successes" if col == 0 else "failures"
            raise DataError(
                f"the binomial response {label!r} has negative counts: its column {rv.colnames[col]!r} "
                f"(the {which}) is negative in {_count(neg, 'row')} ({_first(v, neg, row_of)}); "
                f"cbind(successes, failures) needs counts >= 0"
                + (" (the second column is the failures, e.g. trials - successes, not the trials)"
                   if col == 1 else "")
            )
    nonint = (np.abs(rv.values - np.round(rv.values)) > BINOMIAL_INTEGER_TOL).any(axis=1)
    if nonint.any():
        i = int(np.flatnonzero(nonint)[0])
        warn_user(
            f"non-integer counts in a binomial glm! (the response {label!r} has non-integer counts in "
            f"{_count(nonint, 'row')}, first in row {row_of(i)}: {r_format_number(s[i])}, "
            f"{r_format_number(f[i])})",
            UserWarning,
        )
    trials = s + f
    y = np.zeros_like(trials)
    pos = trials != 0
    y[pos] = s[pos] / trials[pos]  # R: y <- y1/n; y[n == 0] <- 0
    return GlmResponse(y=y, weights=prior * trials, binomial_n=trials.copy())
