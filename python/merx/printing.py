"""lme4-layout text for ``print()`` / ``summary()`` / ``VarCorr`` / ``ranef``.

The functions here reproduce, line by line, what R 4.2 with lme4 1.1-31
prints for a linear mixed model (``options(digits = 7, width = 80)``):

* R's number formatting: ``format(x, digits=, nsmall=)`` (``formatReal``:
  common number of decimals so that every element shows at least ``digits``
  significant digits, fixed unless scientific is narrower), ``round()`` (R 4
  algorithm, fractional ``digits`` rounded to the nearest integer),
  ``zapsmall()``, ``quantile(type = 7)``, ``abbreviate()``;
* R's printing of character matrices (``print(m, quote = FALSE, right =)``),
  named vectors (names over values, ``print.gap``), ``cat(..., fill = TRUE)``
  and ``deparse()`` line breaking of long formulas (``width.cutoff = 60``);
* lme4's ``formatVC`` / ``.prt.VC`` / ``.prt.methTit`` / ``.prt.call`` /
  ``.prt.aictab`` / ``.prt.resids`` / ``.prt.grps`` / ``.prt.warn``,
  ``printCoefmat`` as lme4 calls it (no ``zap.ind``) and the
  "Correlation of Fixed Effects" block of ``print.summary.merMod``.

Nothing here does model numerics: every number comes from an
:class:`~merx.results.LmerResult` (itself built from the Rust core's fit dict).
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .results import LmerResult, LmerSummary, VarCorr

__all__ = [
    "r_round",
    "zapsmall",
    "quantile7",
    "format_real",
    "format_cat_number",
    "abbreviate",
    "make_names",
    "print_matrix",
    "print_named_vector",
    "cat_fill",
    "deparse_lines",
    "formula_lines",
    "format_varcorr_matrix",
    "format_varcorr",
    "format_coefmat",
    "format_print",
    "format_summary",
    "format_ranef",
]

WIDTH = 80  # getOption("width")
R_DIGITS = 7  # getOption("digits")
COR_MAX = 12  # getOption("lme4.summary.cor.max")
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
    v = np.sort(np.asarray([t for t in np.asarray(x, dtype=float) if not math.isnan(t)]))
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
    naflag = nanflag = posinf = neginf = False
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
# abbreviate(), make.names()
# ---------------------------------------------------------------------------


def _stripchars(s: str, minlen: int) -> str:
    """R's C-level ``stripchars`` (abbreviate with use.classes = TRUE), ASCII."""
    b = list(s)
    if len(b) < minlen:
        return s

    def first_char(i: int) -> bool:
        return b[i - 1].isspace()

    def last_char(i: int) -> bool:
        return (not b[i - 1].isspace()) and (i + 1 >= len(b) or b[i + 1].isspace())

    def is_lc_vowel(i: int) -> bool:
        return b[i] in "aeiou"

    def done() -> bool:
        return len(b) - nspace <= minlen

    nspace = 0
    # record spaces for removal later (trailing spaces are dropped)
    j = True
    for i in range(len(b) - 1, 0, -1):
        if b[i].isspace():
            if j:
                del b[i:]
            else:
                nspace += 1
        else:
            j = False
        if done():
            return _finish(b, minlen)

    passes = [
        lambda i: is_lc_vowel(i) and last_char(i),
        lambda i: is_lc_vowel(i) and not first_char(i),
        lambda i: b[i].islower() and last_char(i),
        lambda i: b[i].islower() and not first_char(i),
        lambda i: (not first_char(i)) and not b[i].isspace(),
    ]
    for test in passes:
        i = len(b) - 1
        while i > 0:
            if i < len(b) and test(i):
                del b[i]
            if done():
                return _finish(b, minlen)
            i -= 1
    return _finish(b, minlen)


def _finish(b: list, minlen: int) -> str:
    if len(b) > minlen:
        for i in range(len(b) - 1, 0, -1):
            if b[i].isspace():
                del b[i]
    return "".join(b)


def abbreviate(names: Sequence[str], minlength: int = 4) -> list[str]:
    """R's ``abbreviate(names, minlength)`` (method "left.kept", use.classes = TRUE)."""
    if minlength <= 0:
        return ["" for _ in names]
    names = [re.sub(r"^ +", "", re.sub(r" +$", "", str(n))) for n in names]
    old = list(names)
    uniq: list[str] = []
    for n in names:
        if n not in uniq:
            uniq.append(n)
    x = list(uniq)
    dup2 = [True] * len(uniq)
    these = list(uniq)
    ml = minlength
    while True:
        ans = [_stripchars(t, ml) if len(t) > ml else t for t in these]
        k = 0
        for i in range(len(x)):
            if dup2[i]:
                x[i] = ans[k]
                k += 1
        seen: set = set()
        dup_flags = []
        for v in x:
            dup_flags.append(v in seen)
            seen.add(v)
        if not any(dup_flags):
            break
        ml += 1
        dupvals = {x[i] for i in range(len(x)) if dup_flags[i]}
        dup2 = [dup_flags[i] or (x[i] in dupvals) for i in range(len(x))]
        these = [uniq[i] for i in range(len(x)) if dup2[i]]
    lookup = dict(zip(uniq, x))
    return [lookup[n] for n in old]


_R_RESERVED = {
    "if", "else", "repeat", "while", "function", "for", "next", "break", "TRUE", "FALSE",
    "NULL", "Inf", "NaN", "NA", "NA_integer_", "NA_real_", "NA_character_", "in",
}


def make_names(names: Sequence[str], unique: bool = False) -> list[str]:
    """R's ``make.names(names, unique)``."""
    out = []
    for n in names:
        s = re.sub(r"[^A-Za-z0-9._]", ".", str(n))
        if not s or not (s[0].isalpha() or (s[0] == "." and not (len(s) > 1 and s[1].isdigit()))):
            s = "X" + s
        if s in _R_RESERVED:
            s = s + "."
        out.append(s)
    if unique:
        out = make_unique(out)
    return out


def make_unique(names: Sequence[str], sep: str = ".") -> list[str]:
    """R's ``make.unique``."""
    out = list(names)
    seen = set()
    counts: dict = {}
    taken = set(out)
    for i, n in enumerate(out):
        if n in seen:
            cnt = counts.get(n, 0)
            while True:
                cnt += 1
                cand = f"{n}{sep}{cnt}"
                if cand not in taken:
                    break
            counts[n] = cnt
            out[i] = cand
            taken.add(cand)
            seen.add(cand)
        else:
            seen.add(n)
    return out


# ---------------------------------------------------------------------------
# R printing primitives
# ---------------------------------------------------------------------------


def _just(s: str, w: int, right: bool) -> str:
    return s.rjust(w) if right else s.ljust(w)


def print_matrix(
    cells: Sequence[Sequence[str]],
    row_names: Sequence[str],
    col_names: Sequence[str],
    right: bool = False,
    gap: int = 1,
    width: int = WIDTH,
) -> list[str]:
    """``print(<character matrix>, quote = FALSE, right = right)``.

    Row names are left-justified; entries and column labels are justified as
    ``right``; columns that do not fit in ``width`` are printed in further
    blocks, as R's ``printMatrix`` does.
    """
    nr = len(row_names)
    nc = len(col_names)
    rlabw = max((len(r) for r in row_names), default=0)
    colw = []
    for j in range(nc):
        w = len(col_names[j])
        for i in range(nr):
            w = max(w, len(cells[i][j]))
        colw.append(w)
    lines: list[str] = []
    if nc == 0:
        lines.append(" " * rlabw)
        for i in range(nr):
            lines.append(row_names[i].ljust(rlabw))
        return lines
    jmin = 0
    while jmin < nc:
        wtot = rlabw
        jmax = jmin
        while True:
            wtot += colw[jmax] + gap
            jmax += 1
            if not (jmax < nc and wtot + colw[jmax] + gap < width):
                break
        head = " " * rlabw
        for j in range(jmin, jmax):
            head += " " * gap + _just(col_names[j], colw[j], right)
        lines.append(head)
        for i in range(nr):
            line = row_names[i].ljust(rlabw)
            for j in range(jmin, jmax):
                line += " " * gap + _just(cells[i][j], colw[j], right)
            lines.append(line)
        jmin = jmax
    return lines


def print_named_vector(
    values: Sequence[str], names: Sequence[str], gap: int = 1, width: int = WIDTH
) -> list[str]:
    """R's ``printNamedVector``: right-justified names over values, ``gap`` after each."""
    n = len(values)
    if n == 0:
        return ["named character(0)"]
    w = max(max(len(v) for v in values), max(len(nm) for nm in names))
    perline = max(1, width // (w + gap))
    lines = []
    for start in range(0, n, perline):
        stop = min(n, start + perline)
        lines.append("".join(names[k].rjust(w) + " " * gap for k in range(start, stop)))
        lines.append("".join(values[k].rjust(w) + " " * gap for k in range(start, stop)))
    return lines


def cat_fill(items: Sequence[str], width: int = WIDTH) -> list[str]:
    """``cat(items..., fill = TRUE)`` (separator " "): the lines written."""
    lines: list[str] = []
    cur = ""
    wcur = 0
    sepw = 1
    for k, item in enumerate(items):
        if k > 0:
            cur += " "
        w = len(item)
        if wcur + w + sepw > width and wcur > 0:
            lines.append(cur)
            cur = ""
            wcur = 0
        cur += item
        wcur += w + sepw
    if wcur or cur:
        lines.append(cur)
    return lines


# ---------------------------------------------------------------------------
# deparse() with R's line breaking (width.cutoff = 60)
# ---------------------------------------------------------------------------


class _Deparser:
    def __init__(self, cutoff: int = 60):
        self.cutoff = cutoff
        self.lines: list[str] = []
        self.buf = ""
        self.len = 0
        self.indent = 0
        self.startline = True

    def put(self, s: str) -> None:
        if self.startline:
            self.startline = False
            for i in range(1, self.indent + 1):
                tab = "    " if i <= 4 else "  "
                self.buf += tab
                self.len += len(tab)
        self.buf += s
        self.len += len(s)

    def writeline(self) -> None:
        self.lines.append(self.buf)
        self.buf = ""
        self.len = 0
        self.startline = True

    def linebreak(self, state: list) -> None:
        if self.len > self.cutoff:
            if not state[0]:
                state[0] = True
                self.indent += 1
            self.writeline()

    def node(self, n) -> None:
        from . import formula as F

        if isinstance(n, F.Paren):
            self.put("(")
            self.node(n.expr)
            self.put(")")
        elif isinstance(n, F.BinOp):
            if n.op in ("/", "^", ":", "%%", "%/%"):
                self.node(n.left)
                self.put(n.op)
                self.node(n.right)
            else:
                state = [False]
                self.node(n.left)
                self.put(" " + n.op + " ")
                self.linebreak(state)
                self.node(n.right)
                if state[0]:
                    self.indent -= 1
        elif isinstance(n, F.Unary):
            self.put(n.op)
            self.node(n.operand)
        elif isinstance(n, F.Call):
            self.put(n.fn + "(")
            state = [False]
            for k, (nm, arg) in enumerate(n.args):
                if nm:
                    self.put(F.deparse(F.Name(nm)) + " = ")
                self.node(arg)
                if k < len(n.args) - 1:
                    self.put(", ")
                    self.linebreak(state)
            if state[0]:
                self.indent -= 1
            self.put(")")
        else:
            self.put(F.deparse(n))

    def result(self) -> list[str]:
        if self.buf or not self.lines:
            self.writeline()
        return self.lines


def deparse_lines(node, cutoff: int = 60) -> list[str]:
    """R's ``deparse(expr)``: the character vector of lines (``width.cutoff = 60``)."""
    d = _Deparser(cutoff)
    d.node(node)
    return d.result()


def _expand_double_verts(node):
    """lme4's ``expandDoubleVerts`` on the formula rhs, as ``lmer`` stores the call."""
    from . import formula as F

    if isinstance(node, F.BinOp) and node.op == "||":
        ti = F.expand_terms(node.left, F.deparse(node))
        new_lhs = []
        if ti.intercept:
            new_lhs.append(F.Num(1.0))
        for t in ti.terms:
            expr = ti.variables[t[0]]
            for v in t[1:]:
                expr = F.BinOp(":", expr, ti.variables[v])
            new_lhs.append(F.BinOp("+", F.Num(0.0), expr))
        out = None
        for lhs in new_lhs:
            term = F.Paren(F.BinOp("|", lhs, node.right))
            out = term if out is None else F.BinOp("+", out, term)
        return out
    if isinstance(node, F.Paren):
        return F.Paren(_expand_double_verts(node.expr))
    if isinstance(node, F.BinOp):
        return F.BinOp(node.op, _expand_double_verts(node.left), _expand_double_verts(node.right))
    if isinstance(node, F.Unary):
        return F.Unary(node.op, _expand_double_verts(node.operand))
    return node


def formula_lines(formula: str) -> list[str]:
    """The deparsed lines of a formula as lme4 keeps it in the call.

    ``||`` terms are expanded as lme4's ``expandDoubleVerts`` does; spacing is
    R's (``a ~ b + c:d``). A formula that cannot be parsed is returned as is.
    """
    try:
        from . import formula as F

        tree = F.parse_expression(formula)
        if isinstance(tree, F.BinOp) and tree.op == "~":
            tree = F.BinOp("~", tree.left, _expand_double_verts(tree.right))
        return deparse_lines(tree)
    except Exception:  # noqa: BLE001 - printing must never fail on a formula
        return [" ".join(str(formula).split())]


# ---------------------------------------------------------------------------
# lme4 pieces
# ---------------------------------------------------------------------------


def method_title(reml: bool) -> str:
    # lme4 1.1-31 pastes an empty GLMM suffix, hence the double space for ML
    return "Linear mixed model fit by REML" if reml else "Linear mixed model fit by maximum likelihood "


def prt_meth_tit(mtit: str, cls: str = "lmerMod") -> list[str]:
    # lme4 wraps titles longer than the console width; LMM titles never are
    return [f"{mtit} ['{cls}']"]


def prt_call(res: "LmerResult") -> list[str]:
    lines = cat_fill(["Formula:"] + formula_lines(res.call_formula))
    if res.data_name is not None:
        lines += cat_fill(["   Data:", str(res.data_name)])
    if getattr(res, "weights_name", None):
        lines += cat_fill(["Weights:", str(res.weights_name)])
    if getattr(res, "offset_name", None):
        lines += cat_fill([" Offset:", str(res.offset_name)])
    return lines


def prt_aictab(res: "LmerResult", digits: int) -> list[str]:
    if res.reml:
        val = r_round(res.REMLcrit, digits)
        return cat_fill(["REML criterion at convergence:", format_cat_number(val)])
    names = ["AIC", "BIC", "logLik", "deviance", "df.resid"]
    vals = [res.AIC, res.BIC, res.logLik, res.deviance, float(res.df_residual)]
    t4 = r_round_vec(vals, digits)
    t4f = format_real(t4)
    t4f[4] = format_real([t4[4]])[0]
    return print_named_vector(t4f, names)


def prt_resids(resids: np.ndarray, digits: int) -> list[str]:
    q = zapsmall(quantile7(resids), digits + 1)
    vals = format_real(q, digits)
    return ["Scaled residuals: "] + print_named_vector(vals, ["Min", "1Q", "Median", "3Q", "Max"]) + [""]


def format_varcorr_matrix(
    vc: "VarCorr", digits: int, comp: Sequence[str] = ("Std.Dev.",), corr: bool | None = None
) -> tuple[list[list[str]], list[str]]:
    """lme4's ``formatVC``: (cells, column names) of the random-effects table."""
    comp = list(comp)
    for c in comp:
        if c not in ("Variance", "Std.Dev."):
            raise ValueError(f"illegal 'comp': {c!r} (use 'Variance' and/or 'Std.Dev.')")
    if corr is None:
        corr = "Std.Dev." in comp
    use_c = [c for c in ("Variance", "Std.Dev.") if c in comp]
    colnms = ["Groups", "Name"] + use_c
    sds: list[float] = []
    groups: list[str] = []
    names: list[str] = []
    lens: list[int] = []
    for t in vc.terms:
        k = len(t.columns)
        lens.append(k)
        sds.extend(float(s) for s in t.stddev)
        groups.extend([t.name] + [""] * (k - 1))
        names.extend(t.columns)
    if vc.use_scale:
        sds.append(float(vc.sigma))
        groups.append("Residual")
        names.append("")
        lens.append(1)
    nr = len(sds)
    cols: dict = {"Groups": groups, "Name": names}
    if "Variance" in use_c:
        cols["Variance"] = format_real([s * s for s in sds], digits)
    if "Std.Dev." in use_c:
        cols["Std.Dev."] = format_real(sds, digits)
    cells = [[cols[c][i] for c in colnms] for i in range(nr)]
    if any(n > 1 for n in lens):
        maxlen = max(lens)
        dig = max(2, digits - 2)
        co_rows: list[list[str]] = []
        for t in vc.terms:
            k = len(t.columns)
            m = t.correlation if corr else t.cov
            flat = [r_round(float(m[i, j]), dig) for j in range(k) for i in range(k)]  # column-major
            fm = format_real(flat, R_DIGITS, nsmall=dig)
            cc = [[fm[j * k + i] if i > j else "" for j in range(k)] for i in range(k)]
            for row in cc:
                co_rows.append(row + [""] * (maxlen - k))
        co_rows = [r[: maxlen - 1] for r in co_rows]
        while len(co_rows) < nr:
            co_rows.append([""] * (maxlen - 1))
        colnms = colnms + [("Corr" if corr else "Cov")] + [""] * (maxlen - 2)
        cells = [cells[i] + co_rows[i] for i in range(nr)]
    return cells, colnms


def format_varcorr(
    vc: "VarCorr", digits: int = 5, comp: Sequence[str] = ("Std.Dev.",), corr: bool | None = None
) -> list[str]:
    """``print(VarCorr(fit), digits =, comp =)`` lines."""
    cells, colnms = format_varcorr_matrix(vc, digits, comp, corr)
    return print_matrix(cells, [""] * len(cells), colnms, right=False)


def prt_grps(ngrps: dict, nobs: int) -> list[str]:
    return cat_fill(
        [f"Number of obs: {nobs}, groups: ", "; ".join(f"{k}, {v}" for k, v in ngrps.items())]
    )


def format_coefmat(coef_rows: Sequence[str], est: Sequence[float], se: Sequence[float], digits: int = 4,
                   stat_name: str = "t value") -> list[str]:
    """``printCoefmat(cbind(Estimate, Std. Error, t value), digits)`` as lme4 1.1-31 calls it."""
    p = len(est)
    est = [float(v) for v in est]
    se = [float(v) for v in se]
    tval = [e / s if s != 0 else (math.nan if e == 0 else math.copysign(math.inf, e)) for e, s in zip(est, se)]
    dig_tst = max(1, min(5, digits - 1))
    cs = est + se  # column-major block of the two coefficient columns
    acs = [abs(v) for v in cs if math.isfinite(v) and v != 0]
    if acs:
        digmin = [1 + math.floor(math.log10(min(acs))), 1 + math.floor(math.log10(max(acs)))]
    else:
        digmin = [1, 1]
    rd = max(1, max(digits - dm for dm in digmin))
    csf = format_real(r_round_vec(cs, rd), digits)
    tf = format_real(r_round_vec(tval, dig_tst), digits)
    # entries that are non-zero but print as zero (or the reverse) get more digits
    fix = []
    for idx, v in enumerate(cs):
        try:
            shown_zero = float(csf[idx]) == 0
        except ValueError:
            continue
        if (v == 0) != shown_zero:
            fix.append(idx)
    if fix:
        refmt = format_real([cs[i] for i in fix], max(1, digits - 1))
        for i, sfix in zip(fix, refmt):
            csf[i] = sfix
    cells = [[csf[i], csf[p + i], tf[i]] for i in range(p)]
    return print_matrix(cells, list(coef_rows), ["Estimate", "Std. Error", stat_name], right=True)


def format_cor_fixef(names: Sequence[str], corr: np.ndarray) -> list[str]:
    """The "Correlation of Fixed Effects" table (abbreviated names, 3 decimals)."""
    p = len(names)
    rns = abbreviate(names, 11)
    cns = abbreviate(names, 6)
    flat = [r_round(float(corr[i, j]), 3) for j in range(p) for i in range(p)]
    fm = format_real(flat, R_DIGITS, nsmall=3)
    cells = [[fm[j * p + i] if i > j else "" for j in range(p - 1)] for i in range(1, p)]
    return print_matrix(cells, rns[1:], cns[: p - 1], right=False)


def prt_warn(res: "LmerResult", summary: bool) -> list[str]:
    info = res.optinfo
    cc = int(info.get("conv_code", 0))
    msgs = list(info.get("lme4_messages", []))
    warnings = list(info.get("warnings", []))
    if cc > 0 or msgs or warnings:
        if cc == 0:
            m = "(OK)"
        elif info.get("message"):
            m = f"({info['message']})"
        else:
            m = ""
        convmsg = f"optimizer ({info.get('optimizer', 'nloptwrap')}) convergence code: {cc} {m}"
        if summary:
            return [f"{convmsg} ; {len(warnings)} optimizer warnings; {len(msgs)} lme4 warnings "]
        return [convmsg] + msgs + [str(w) for w in warnings] + [""]
    return []


def fit_messages(res: "LmerResult") -> list[str]:
    dropped = list(getattr(res.frame, "dropped_x_names", None) or [])
    if not dropped:
        return []
    k = len(dropped)
    if k == 1:
        return ["fixed-effect model matrix is rank deficient so dropping 1 column / coefficient"]
    return [f"fixed-effect model matrix is rank deficient so dropping {k} columns / coefficients"]


# ---------------------------------------------------------------------------
# print(fit) and summary(fit)
# ---------------------------------------------------------------------------


def format_print(res: "LmerResult", digits: int = 4) -> str:
    """lme4's ``print.merMod`` output (ends with a newline)."""
    lines = prt_meth_tit(method_title(res.reml))
    lines += prt_call(res)
    lines += prt_aictab(res, 4)
    lines.append("Random effects:")
    lines += format_varcorr(res.VarCorr, digits, ("Std.Dev.",))
    lines += prt_grps(res.ngrps, res.nobs)
    fe = res.fixef
    if len(fe) > 0:
        lines.append("Fixed Effects:")
        lines += print_named_vector(format_real(list(fe.values), digits), list(fe.index), gap=2)
    else:
        lines.append("No fixed effect coefficients")
    msgs = fit_messages(res)
    if msgs:
        lines += ["fit warnings:"] + msgs
    lines += prt_warn(res, summary=True)
    return "\n".join(lines) + "\n"


def format_summary(s: "LmerSummary", digits: int = 4) -> str:
    """lme4's ``print.summary.merMod`` output (ends with a newline)."""
    res = s.result
    lines = prt_meth_tit(method_title(res.reml))
    lines += prt_call(res)
    lines.append("")
    lines += prt_aictab(res, 1)
    lines.append("")
    lines += prt_resids(s.scaled_residuals, digits)
    lines.append("Random effects:")
    lines += format_varcorr(res.VarCorr, digits, ("Variance", "Std.Dev."))
    lines += prt_grps(res.ngrps, res.nobs)
    coefs = s.coefficients
    p = len(coefs)
    if p > 0:
        lines += ["", "Fixed effects:"]
        lines += format_coefmat(
            list(coefs.index), list(coefs["Estimate"]), list(coefs["Std. Error"]), digits
        )
        correlation = s.correlation
        if correlation is None:
            correlation = p <= COR_MAX
        if correlation and p > 1:
            lines += ["", "Correlation of Fixed Effects:"]
            lines += format_cor_fixef(list(coefs.index), s.correlation_matrix)
    msgs = fit_messages(res)
    if msgs:
        lines += ["fit warnings:"] + msgs
    lines += prt_warn(res, summary=False)
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# ranef(fit) printing (print.ranef.mer)
# ---------------------------------------------------------------------------


def _list_tag(name: str) -> str:
    from . import formula as F

    try:
        return "$" + F.deparse(F.Name(name))
    except Exception:  # noqa: BLE001
        return "$" + name


def format_data_frame(df) -> list[str]:
    """``print(<numeric data.frame>)`` (each column ``format(digits = 7)``, right-justified)."""
    cols = list(df.columns)
    colvals = [format_real([float(v) for v in df[c].to_numpy()], R_DIGITS) for c in cols]
    cells = [[colvals[j][i] for j in range(len(cols))] for i in range(len(df))]
    return print_matrix(cells, [str(r) for r in df.index], [str(c) for c in cols], right=True)


def format_ranef(ranef: dict, condvar: bool = True) -> str:
    """lme4's ``print(ranef(fit))`` output (ends with a newline)."""
    lines: list[str] = []
    for name, df in ranef.items():
        lines.append(_list_tag(name))
        lines += format_data_frame(df)
        lines.append("")
    if condvar and ranef:
        lines.append("with conditional variances for " + " ".join(f"\u201c{k}\u201d" for k in ranef) + " ")
    return "\n".join(lines) + "\n"
