"""The t and F distributions of lmerTest's tables: R's ``pt``, ``pf`` (upper tails) and
``qt``, through the regularized incomplete beta function

    I_x(a, b) = B(x; a, b) / B(a, b),

since for T ~ t(ν), P(|T| > t) = I_{ν/(ν+t²)}(ν/2, 1/2), and for F ~ F(d₁, d₂),
P(F > f) = I_{d₂/(d₂+d₁f)}(d₂/2, d₁/2). I_x comes from its continued fraction (Didonato and
Morris' form, evaluated with the modified Lentz method), used directly where it converges
fast (x < (a+1)/(a+b+2)) and through I_x(a, b) = 1 - I_{1-x}(b, a) elsewhere; the prefactor
x^a (1-x)^b / (a B(a, b)) is formed on the log scale. Upper tails keep their relative
precision far out (lmerTest prints p-values down to < 2e-16). ``qt`` inverts the two-sided
tail by bisection to the last bits of t.
"""

from __future__ import annotations

import math

from .distributions import chisq_upper_tail

__all__ = ["t_two_sided_p", "f_upper_tail", "t_quantile"]

_EPS = 1e-16
_TINY = 1e-300
_MAX_ITER = 10_000


def _continued_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b) (without its prefactor)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, _MAX_ITER):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return h


def _lgamma_correction(x: float) -> float:
    """lgamma(x) - ((x - 1/2) log x - x + log √(2π)) for x ≥ 10 (Stirling's series)."""
    x2 = 1.0 / (x * x)
    return (1.0 / 12.0 - x2 * (1.0 / 360.0 - x2 * (1.0 / 1260.0 - x2 * (1.0 / 1680.0 - x2 / 1188.0)))) / x


def _log_beta(a: float, b: float) -> float:
    """log B(a, b), without the cancellation of lgamma sums when an argument is large (R's
    ``lbeta``)."""
    p, q = min(a, b), max(a, b)
    if p >= 10.0:
        corr = _lgamma_correction(p) + _lgamma_correction(q) - _lgamma_correction(p + q)
        return -0.5 * math.log(q) + 0.5 * math.log(2.0 * math.pi) + corr + (p - 0.5) * math.log(p / (p + q)) + q * math.log1p(-p / (p + q))
    if q >= 10.0:
        corr = _lgamma_correction(q) - _lgamma_correction(p + q)
        return math.lgamma(p) + corr + p - p * math.log(p + q) + (q - 0.5) * math.log1p(-p / (p + q))
    return math.lgamma(p) + math.lgamma(q) - math.lgamma(p + q)


def _ibeta(x: float, y: float, a: float, b: float) -> float:
    """I_x(a, b) with y = 1 - x given separately (each computed without cancellation)."""
    if x <= 0.0:
        return 0.0
    if y <= 0.0:
        return 1.0
    log_x = math.log(x) if x < 0.5 else math.log1p(-y)
    log_y = math.log(y) if y < 0.5 else math.log1p(-x)
    log_front = a * log_x + b * log_y - _log_beta(a, b)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _continued_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _continued_fraction(b, a, y) / b


def t_two_sided_p(t: float, df: float) -> float:
    """2 P(T > |t|) for T ~ t(df): R's ``2 * pt(abs(t), df, lower.tail = FALSE)``."""
    if math.isnan(t) or math.isnan(df) or df <= 0:
        return math.nan
    if math.isinf(df):
        return math.erfc(abs(t) / math.sqrt(2.0))
    if math.isinf(t):
        return 0.0
    t2 = t * t
    return _ibeta(df / (df + t2), t2 / (df + t2), df / 2.0, 0.5)


def f_upper_tail(f: float, df1: float, df2: float) -> float:
    """P(F > f) for F ~ F(df1, df2): R's ``pf(f, df1, df2, lower.tail = FALSE)``."""
    if math.isnan(f) or math.isnan(df1) or math.isnan(df2) or df1 <= 0 or df2 <= 0:
        return math.nan
    if f <= 0:
        return 1.0
    if math.isinf(f):
        return 0.0
    if math.isinf(df2):
        return chisq_upper_tail(f * df1, df1)
    return _ibeta(df2 / (df2 + df1 * f), df1 * f / (df2 + df1 * f), df2 / 2.0, df1 / 2.0)


def t_quantile(p: float, df: float) -> float:
    """R's ``qt(p, df)`` for 0 < p < 1."""
    if not 0.0 < p < 1.0 or math.isnan(df) or df <= 0:
        return math.nan
    if p == 0.5:
        return 0.0
    upper = p > 0.5
    tail = 2.0 * (1.0 - p if upper else p)  # two-sided tail of |T| > t
    lo, hi = 0.0, 1.0
    while t_two_sided_p(hi, df) > tail:
        hi *= 2.0
        if hi > 1e300:
            break
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_two_sided_p(mid, df) > tail:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-15 * hi:
            break
    t = 0.5 * (lo + hi)
    return t if upper else -t
