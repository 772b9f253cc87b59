"""Tail probabilities the result tables need beyond the normal one (which comes from
``math.erfc``): the chi-squared upper tail of a likelihood-ratio test, R's
``pchisq(x, df, lower.tail = FALSE)``.

The chi-squared distribution with ``df`` degrees of freedom is the gamma distribution with
shape ``df / 2`` and scale 2, so its upper tail is the regularized upper incomplete gamma
function Q(df/2, x/2), with

    P(a, x) = γ(a, x) / Γ(a),  Q(a, x) = Γ(a, x) / Γ(a) = 1 - P(a, x).

Both come from the two classical expansions, each used where it converges fast:

* for x < a + 1 the power series  γ(a, x) = e^(-x) x^a Σ_{n≥0} x^n / (a (a+1) ... (a+n)),
  whose terms fall geometrically once a + n > x; Q = 1 - P is then no smaller than ~0.3
  (the median of the gamma distribution lies near a), so the subtraction loses nothing;
* for x ≥ a + 1 Legendre's continued fraction
  Γ(a, x) = e^(-x) x^a / (x + 1 - a - 1 (1 - a) / (x + 3 - a - 2 (2 - a) / (x + 5 - a - ...))),
  evaluated forwards with the modified Lentz method, which keeps Q's relative precision
  far into the tail (the p-values of lme4's tables go down to 1e-300 and below 2e-16 print
  as "< 2e-16").

The prefactor e^(-x) x^a / Γ(a) is computed on the log scale with ``math.lgamma``. For one
and two degrees of freedom the closed forms erfc(√(x/2)) and e^(-x/2) are used.
"""

from __future__ import annotations

import math

__all__ = ["regularized_gamma_p", "regularized_gamma_q", "chisq_upper_tail"]

_EPS = 1e-16  # relative size of the last term / the last correction
_TINY = 1e-300  # floor of the Lentz denominators (a zero would divide by zero)
_MAX_ITER = 10_000


def _log_prefactor(a: float, x: float) -> float:
    """log(e^(-x) x^a / Γ(a))."""
    return -x + a * math.log(x) - math.lgamma(a)


def _lower_series(a: float, x: float) -> float:
    """P(a, x) by the power series (x < a + 1)."""
    term = 1.0 / a
    total = term
    denom = a
    for _ in range(_MAX_ITER):
        denom += 1.0
        term *= x / denom
        total += term
        if abs(term) < abs(total) * _EPS:
            break
    return total * math.exp(_log_prefactor(a, x))


def _upper_fraction(a: float, x: float) -> float:
    """Q(a, x) by Legendre's continued fraction (x ≥ a + 1), modified Lentz.

    The fraction is b0 + a1/(b1 + a2/(b2 + ...)) with b_n = x + 2n + 1 - a and
    a_n = -n (n - a); the value is its reciprocal times the prefactor."""
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for n in range(1, _MAX_ITER):
        an = -n * (n - a)
        b += 2.0
        d = an * d + b
        if abs(d) < _TINY:
            d = _TINY
        c = b + an / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return h * math.exp(_log_prefactor(a, x))


def regularized_gamma_p(a: float, x: float) -> float:
    """P(a, x) = γ(a, x) / Γ(a), the gamma distribution function (shape a, scale 1) at x."""
    a, x = float(a), float(x)
    if math.isnan(a) or math.isnan(x) or a <= 0:
        return math.nan
    if x <= 0:
        return 0.0
    if math.isinf(x):
        return 1.0
    if x < a + 1.0:
        return _lower_series(a, x)
    return 1.0 - _upper_fraction(a, x)


def regularized_gamma_q(a: float, x: float) -> float:
    """Q(a, x) = Γ(a, x) / Γ(a) = 1 - P(a, x), the gamma upper tail, to full relative
    precision in the tail."""
    a, x = float(a), float(x)
    if math.isnan(a) or math.isnan(x) or a <= 0:
        return math.nan
    if x <= 0:
        return 1.0
    if math.isinf(x):
        return 0.0
    if x < a + 1.0:
        return 1.0 - _lower_series(a, x)
    return _upper_fraction(a, x)


def chisq_upper_tail(x: float, df: float) -> float:
    """R's ``pchisq(x, df, lower.tail = FALSE)``: P(X > x) for X ~ χ²(df), df > 0.

    NaN for a missing ``x`` or ``df`` and for ``df <= 0`` (lme4's ``anova`` shows NA when
    two models have the same number of parameters); 1 for x <= 0."""
    x, df = float(x), float(df)
    if math.isnan(x) or math.isnan(df) or df <= 0:
        return math.nan
    if x <= 0:
        return 1.0
    if df == 1.0:
        return math.erfc(math.sqrt(x / 2.0))
    if df == 2.0:
        return math.exp(-x / 2.0)
    return regularized_gamma_q(df / 2.0, x / 2.0)
