"""R's arithmetic and number formatting, as the printed numbers of lme4 go through them.

Emulates R 4.2 (``options(digits = 7)``):

* ``round(x, digits)`` (R >= 4.0.0 algorithm, fractional ``digits`` rounded to
  the nearest integer) and ``zapsmall()``;
* ``quantile(x, type = 7)`` with R's fuzz, as ``summary()`` takes the
  quantiles of the scaled residuals;
* ``format(x, digits =, nsmall =)`` of a numeric vector (``formatReal`` /
  ``encodeReal`` in format.c: a common number of decimals so that every element
  shows at least ``digits`` significant digits, fixed notation unless
  scientific is narrower) and how ``cat()`` shows one number;
* ``as.character(x)`` / ``deparse(x)`` of a number (15 significant digits):
  :func:`r_format_number`, e.g. the level labels of a numeric grouping factor
  and the numbers in deparsed formulas.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Iterable, Sequence

import numpy as np

__all__ = [
    "R_DIGITS",
    "r_round",
    "r_round_vec",
    "zapsmall",
    "quantile7",
    "format_real",
    "format_cat_number",
    "r_format_number",
    "r_format_numbers",
]

R_DIGITS = 7  # getOption("digits")
_KP_MAX = 22  # R's table of powers of ten in format.c

# ---------------------------------------------------------------------------
# R arithmetic helpers
# ---------------------------------------------------------------------------


def _nearbyint(x: float) -> float:
    """C's nearbyint in the default rounding mode (ties to even)."""
    return float(round(x))


def r_round(x: float, digits: float = 0.0) -> float:
    """R (>= 4.0.0) ``round(x, digits)`` for one double, fractional ``digits`` included.

    Port of ``fround`` (src/nmath/fround.c): ``digits`` is rounded to the nearest
    integer, then of the two neighbouring decimal candidates the closer one is
    taken (ties to the even last digit).
    """
    x = float(x)
    if math.isnan(x) or math.isnan(digits):
        return x + digits
    if math.isinf(x):
        return x
    if digits > 308 + 15 or x == 0.0:
        return x
    if digits < -308:
        return 0.0
    if digits == 0.0:
        return _nearbyint(x)
    dig = int(math.floor(digits + 0.5))
    sgn = 1.0
    if x < 0.0:
        sgn, x = -1.0, -x
    l10x = math.log10(2.0) * (0.5 + (math.frexp(x)[1] - 1))
    if l10x + dig > 15:
        return sgn * x
    if dig <= 308:
        pow10 = 10.0**dig
        x10 = x * pow10
        i10 = math.floor(x10)
        xd = i10 / pow10
        xu = math.ceil(x10) / pow10
    else:  # |x| << 1
        e10 = dig - 308
        p10 = 10.0**e10
        pow10 = 10.0**308
        x10 = (x * pow10) * p10
        i10 = math.floor(x10)
        xd = i10 / pow10 / p10
        xu = math.ceil(x10) / pow10 / p10
    du = xu - x
    dd = x - xd
    return sgn * (xu if (du < dd or (math.fmod(i10, 2.0) == 1 and du == dd)) else xd)


def r_round_vec(x: Iterable[float], digits: float = 0.0) -> list[float]:
    return [r_round(v, digits) for v in x]


def zapsmall(x: Sequence[float], digits: int = R_DIGITS) -> list[float]:
    """R 4.2 ``zapsmall``: ``round(x, digits - log10(max|x|))`` (no ceiling)."""
    vals = [float(v) for v in x]
    finite = [abs(v) for v in vals if not math.isnan(v)]
    if not finite:
        return vals
    mx = max(finite)
    d = max(0.0, digits - math.log10(mx)) if mx > 0 else float(digits)
    return r_round_vec(vals, d)


def quantile7(x: Sequence[float], probs: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0)) -> list[float]:
    """R's ``quantile(x, probs, type = 7, na.rm = TRUE)`` with R's arithmetic."""
    v = np.asarray(x, dtype=float).ravel()
    v = np.sort(v[~np.isnan(v)])
    n = v.size
    if n == 0:
        return [math.nan] * len(probs)
    out = []
    fuzz = 4 * np.finfo(float).eps
    for p in probs:
        index = 1 + max(n - 1, 0) * p
        lo = int(math.floor(index + fuzz))
        hi = int(math.ceil(index - fuzz))
        lo = min(max(lo, 1), n)
        hi = min(max(hi, 1), n)
        qs = float(v[lo - 1])
        h = index - lo
        if index > lo and float(v[hi - 1]) != qs:
            qs = (1 - h) * qs + h * float(v[hi - 1])
        out.append(qs)
    return out


# ---------------------------------------------------------------------------
# R's formatReal (format.c) and encodeReal
# ---------------------------------------------------------------------------


def _scientific(x: float, digits: int) -> tuple[int, int, int, bool]:
    """(neg, kpower, nsig, roundingwidens) of ``x`` as R's ``scientific()``."""
    if x == 0.0:
        return 0, 0, 1, False
    neg = 1 if x < 0 else 0
    r = abs(x)
    R = digits
    dr = Decimal(r)  # exact binary value
    kp = math.floor(math.log10(r)) - R + 1
    r_prec = dr.scaleb(-kp)
    if r_prec < Decimal(10) ** (R - 1):
        r_prec = r_prec * 10
        kp -= 1
    alpha = int(r_prec.to_integral_value(rounding=ROUND_HALF_EVEN))
    nsig = R
    a = alpha
    for _ in range(R):
        if a % 10 == 0:
            nsig -= 1
            a //= 10
        else:
            break
    if nsig == 0 and R > 0:
        nsig = 1
        kp += 1
    kpower = kp + R - 1
    rgt = R - kpower
    rgt = 0 if rgt < 0 else (_KP_MAX if rgt > _KP_MAX else rgt)
    fuzz = 0.5 / 10.0**rgt
    roundingwidens = 0 < kpower <= _KP_MAX and r < 10.0**kpower - fuzz
    return neg, kpower, nsig, roundingwidens


def _format_real_info(x: Sequence[float], digits: int, nsmall: int = 0) -> tuple[int, int, int]:
    """(w, d, e) of R's ``formatReal`` for the vector ``x``."""
    nanflag = posinf = neginf = False
    neg = 0
    rgt = mxl = mxsl = mxns = -(10**9)
    mxe = -(10**9)
    mne = 10**9
    any_finite = False
    for v in x:
        if math.isnan(v):
            # R distinguishes NA and NaN; we print NaN (NA is shown by callers as "NA")
            nanflag = True
            continue
        if math.isinf(v):
            if v > 0:
                posinf = True
            else:
                neginf = True
            continue
        any_finite = True
        neg_i, kpower, nsig, roundingwidens = _scientific(v, digits)
        left = kpower + 1
        if roundingwidens:
            left -= 1
        sleft = neg_i + (1 if left <= 0 else left)
        right = nsig - left
        if neg_i:
            neg = 1
        rgt = max(rgt, right)
        mxl = max(mxl, left)
        mxsl = max(mxsl, sleft)
        mxns = max(mxns, nsig)
        mxe = max(mxe, kpower)
        mne = min(mne, kpower)
    if any_finite:
        if mxl < 0:
            mxsl = 1 + neg
        if rgt < 0:
            rgt = 0
        wF = mxsl + rgt + (1 if rgt else 0)
        e = 2 if (mxe >= 100 or mne <= -99) else 1
        d = mxns - 1
        w = neg + (1 if d > 0 else 0) + d + 4 + e
        if wF <= w:  # scipen = 0
            e = 0
            if nsmall > rgt:
                rgt = nsmall
                wF = mxsl + rgt + (1 if rgt else 0)
            d = rgt
            w = wF
    else:
        w = d = e = 0
    if nanflag:
        w = max(w, 3)
    if posinf:
        w = max(w, 3)
    if neginf:
        w = max(w, 4)
    return w, d, e


def _encode_real(v: float, w: int, d: int, e: int) -> str:
    if v == 0.0:
        v = 0.0  # R drops the sign of negative zero
    if math.isnan(v):
        return "NaN".rjust(w)
    if math.isinf(v):
        return ("Inf" if v > 0 else "-Inf").rjust(w)
    if e:
        s = ("%#.*e" % (d, v)) if d else ("%.*e" % (d, v))
        return s.rjust(w)
    return ("%.*f" % (d, v)).rjust(w)


def format_real(x: Sequence[float], digits: int = R_DIGITS, nsmall: int = 0) -> list[str]:
    """R's ``format(x, digits = digits, nsmall = nsmall)`` of a numeric vector.

    All elements share one width (right-justified) and one number of decimals.
    """
    vals = [float(v) for v in x]
    w, d, e = _format_real_info(vals, digits, nsmall)
    return [_encode_real(v, w, d, e) for v in vals]


def format_cat_number(x: float, digits: int = R_DIGITS) -> str:
    """How ``cat()`` / ``paste()`` show one number (``digits`` significant digits)."""
    return format_real([x], digits)[0].strip()


# ---------------------------------------------------------------------------
# as.character / deparse of a number (15 significant digits)
# ---------------------------------------------------------------------------


def r_format_number(value: float) -> str:
    """Format a number the way R's ``as.character`` does (15 significant digits).

    ``1.0 -> "1"``, ``0.1 -> "0.1"``, ``1/3 -> "0.333333333333333"``,
    ``100000 -> "1e+05"``, ``123456 -> "123456"``, ``1e-4 -> "1e-04"``.
    """
    v = float(value)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Inf" if v > 0 else "-Inf"
    if v == 0:
        return "0"
    neg = v < 0
    a = abs(v)
    # minimal number of significant digits (<= 15) that reproduces the value
    # rounded to 15 significant digits
    ref = float(f"{a:.14e}")
    nsig = 15
    for d in range(1, 16):
        if float(f"{a:.{d - 1}e}") == ref:
            nsig = d
            break
    mant, exp_s = f"{ref:.{nsig - 1}e}".split("e")
    kpower = int(exp_s)
    # widths as in R's formatReal (scipen = 0)
    exp_digits = 3 if abs(kpower) >= 100 else 2
    sci_width = (nsig + 1 if nsig > 1 else 1) + 2 + exp_digits
    rgt = max(0, nsig - kpower - 1)
    left = kpower + 1 if kpower >= 0 else 1
    fixed_width = left + (rgt + 1 if rgt > 0 else 0)
    if fixed_width <= sci_width:
        s = f"{ref:.{rgt}f}"
    else:
        sign = "-" if kpower < 0 else "+"
        s = f"{mant}e{sign}{abs(kpower):0{exp_digits}d}"
    return ("-" if neg else "") + s


def r_format_numbers(values) -> list:
    """``[r_format_number(v) for v in values]``, vectorised for whole numbers.

    A whole number below 1e15 prints in full unless its scientific form is
    shorter, which needs five or more trailing zeros: ``d00000`` (one
    significant digit) or any nonzero multiple of 10^6.
    """
    v = np.asarray(values, dtype=float).reshape(-1)
    a = np.abs(v)
    with np.errstate(invalid="ignore"):
        whole = (a < 1e15) & (v == np.trunc(v))
        scientific = (a > 0) & ((a % 1e6 == 0) | ((a % 1e5 == 0) & (a < 1e6)))
    in_full = whole & ~scientific
    if in_full.all():
        return [str(i) for i in v.astype(np.int64).tolist()]
    return [str(int(x)) if full else r_format_number(x) for x, full in zip(v.tolist(), in_full.tolist())]
