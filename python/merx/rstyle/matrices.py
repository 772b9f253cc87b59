"""R's printing of character matrices, named vectors, ``cat(fill = TRUE)``,
numeric data frames and ``printCoefmat``, as lines of text.

Cells arrive already formatted (see :mod:`merx.rstyle.numbers`); these functions lay
them out as R's ``print(m, quote = FALSE, right =)``, ``printNamedVector``
(names over values, ``print.gap``) and ``cat(..., fill = TRUE)`` do, for a
console of ``WIDTH`` columns.
"""

from __future__ import annotations

import math
from typing import Sequence

from .numbers import R_DIGITS, format_real, r_round_vec

__all__ = [
    "WIDTH",
    "print_matrix",
    "print_named_vector",
    "cat_fill",
    "format_data_frame",
    "format_coefmat",
    "format_pval",
    "strwrap",
]

WIDTH = 80  # getOption("width")


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


def cat_fill(items: Sequence[str], width: int = WIDTH, sep: str = " ") -> list[str]:
    """``cat(items..., sep = sep, fill = TRUE)``: the lines written (the separator is
    written before a line break, as R does)."""
    lines: list[str] = []
    cur = ""
    wcur = 0
    sepw = len(sep)
    for k, item in enumerate(items):
        if k > 0:
            cur += sep
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


def strwrap(text: str, width: int, indent: int = 0, exdent: int = 0) -> list[str]:
    """R's ``strwrap(text, width, indent, exdent)`` for one paragraph of plain words:
    greedy lines whose words plus one space each stay within ``width`` minus the indent."""
    words = text.split()
    if not words:
        return [""]
    lines: list[str] = []
    cur: list[str] = []
    used = 0
    limit = width - indent
    for word in words:
        if cur and used + len(word) + 1 > limit:
            lines.append(" " * (exdent if lines else indent) + " ".join(cur))
            cur, used, limit = [], 0, width - exdent
        cur.append(word)
        used += len(word) + 1
    lines.append(" " * (exdent if lines else indent) + " ".join(cur))
    return lines


def format_data_frame(df) -> list[str]:
    """``print(<numeric data.frame>)`` (each column ``format(digits = 7)``, right-justified)."""
    cols = list(df.columns)
    colvals = [format_real([float(v) for v in df[c].to_numpy()], R_DIGITS) for c in cols]
    cells = [[colvals[j][i] for j in range(len(cols))] for i in range(len(df))]
    return print_matrix(cells, [str(r) for r in df.index], [str(c) for c in cols], right=True)


#: R's ``symnum`` legend of the significance stars (``printCoefmat``).
SIGNIF_LEGEND = "0 \u2018***\u2019 0.001 \u2018**\u2019 0.01 \u2018*\u2019 0.05 \u2018.\u2019 0.1 \u2018 \u2019 1"
_EPS = 2.220446049250313e-16  # .Machine$double.eps


def format_pval(pv: Sequence[float], digits: int) -> list[str]:
    """R's ``format.pval(pv, digits, eps = .Machine$double.eps)``: p-values from 1e-4 up
    formatted together in fixed notation, smaller ones together (scientific as
    ``format`` chooses), those below ``eps`` as ``< 2e-16``."""
    pv = [float(v) for v in pv]
    out = ["NA"] * len(pv)
    ok = [i for i, v in enumerate(pv) if not math.isnan(v)]
    is0 = [i for i in ok if pv[i] < _EPS]
    rest = [i for i in ok if pv[i] >= _EPS]
    expo = {i: math.floor(math.log10(pv[i])) if pv[i] > 0 else -50 for i in rest}
    fixp = [i for i in rest if expo[i] >= -3 or (expo[i] == -4 and digits > 1)]
    expp = [i for i in rest if i not in fixp]
    for group in (fixp, expp):
        if group:
            for i, txt in zip(group, format_real([pv[i] for i in group], digits)):
                out[i] = txt
    if is0:
        d = max(1, digits - 2)
        if rest:
            nc = max(len(out[i]) for i in rest)
            if d > 1 and d + 6 > nc:
                d = max(1, nc - 7)
            sep = "" if (d == 1 and nc <= 6) else " "
        else:
            sep = "" if d == 1 else " "
        for i in is0:
            out[i] = "<" + sep + format_real([_EPS], d)[0]
    return out


def signif_star(p: float) -> str:
    """R's ``symnum`` significance code with its cutpoints (0, .001, .01, .05, .1, 1); NA → ""."""
    if math.isnan(p):
        return ""
    for cut, sym in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p <= cut:
            return sym
    return " "


def format_coefmat(coef_rows: Sequence[str], est: Sequence[float], se: Sequence[float], digits: int = 4,
                   stat_name: str = "t value", pvalues: Sequence[float] | None = None,
                   pvalue_name: str = "Pr(>|z|)", signif_stars: bool = True,
                   df: Sequence[float] | None = None) -> list[str]:
    """``printCoefmat(cbind(Estimate, Std. Error, [df,] <stat>[, <Pr>]), digits)`` as lme4 1.1-31
    calls it: with ``pvalues``, their column (``format.pval``), the significance stars and their
    legend (when a p-value is below 0.1 and ``signif_stars``). A ``df`` column (lmerTest's
    tables) belongs to the coefficient block (``cs.ind = 1:3``), formatted with the estimates."""
    p = len(est)
    est = [float(v) for v in est]
    se = [float(v) for v in se]
    tval = [e / s if s != 0 else (math.nan if e == 0 else math.copysign(math.inf, e)) for e, s in zip(est, se)]
    dig_tst = max(1, min(5, digits - 1))
    cs = est + se + ([float(v) for v in df] if df is not None else [])  # column-major coefficient block
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
    ncs = len(cs) // p if p else 2
    cells = [[csf[c * p + i] for c in range(ncs)] + [tf[i]] for i in range(p)]
    col_names = ["Estimate", "Std. Error"] + (["df"] if df is not None else []) + [stat_name]
    stars = False
    if pvalues is not None:
        pv = [float(v) for v in pvalues]
        pf = format_pval(pv, dig_tst)
        cells = [row + [pf[i]] for i, row in enumerate(cells)]
        col_names.append(pvalue_name)
        stars = signif_stars and any(v < 0.1 for v in pv if not math.isnan(v))
        if stars:
            sym = [signif_star(v) for v in pv]
            w = max(len(s) for s in sym)
            cells = [row + [sym[i].ljust(w)] for i, row in enumerate(cells)]
            col_names.append("")
    lines = print_matrix(cells, list(coef_rows), col_names, right=True)
    if stars:
        lines += ["---", "Signif. codes:  " + SIGNIF_LEGEND]
    return lines
