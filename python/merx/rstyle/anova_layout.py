"""R's ``print.anova``: an analysis-of-deviance table (lme4's ``anova(m0, m1, ...)``) as
lines of text, R 4.2 with ``options(digits = 7)``.

``print.anova`` writes the heading lines, then calls ``printCoefmat`` with ``cs.ind =
NULL``: every column is formatted on its own (``format(x, digits = 5)``) after
``zapsmall`` (all columns but the test statistics and ``Df``), the test statistic
(``Chisq``, ``F``, ``* value``) rounded to ``dig.tst = 4`` decimals first, the p-values by
``format.pval(digits = 4)`` with the significance stars and their legend (when a p-value is
below 0.1); missing cells print empty (``na.print = ""``).
"""

from __future__ import annotations

import math
import re
from typing import Sequence

from .matrices import SIGNIF_LEGEND, format_pval, print_matrix, signif_star
from .numbers import format_real, r_round_vec, zapsmall

__all__ = ["format_anova", "ANOVA_DIGITS"]

ANOVA_DIGITS = 5  # print.anova's max(getOption("digits") - 2, 3)
_NA_WIDTH = 2  # R_print.na.width: format() leaves room for "NA"


def _format_column(values: Sequence[float], digits: int) -> list[str]:
    """``format(x, digits)`` of a numeric vector with NAs (NaN here): the numbers share one
    width, at least that of "NA"."""
    finite = [v for v in values if not math.isnan(v)]
    shown = iter(format_real(finite, digits)) if finite else iter(())
    out = [next(shown) if not math.isnan(v) else "NA" for v in values]
    w = max([len(s) for s in out] + ([_NA_WIDTH] if len(finite) < len(values) else []))
    return [s.rjust(w) for s in out]


def format_anova(
    heading: Sequence[str],
    row_names: Sequence[str],
    col_names: Sequence[str],
    columns: Sequence[Sequence[float]],
    digits: int = ANOVA_DIGITS,
    signif_stars: bool = True,
) -> list[str]:
    """``print.anova(x)``: ``heading`` lines, then the table (``columns``: one sequence of
    floats per column, NaN for NA) as ``printCoefmat`` lays it out."""
    nc = len(col_names)
    xm = [[float(v) for v in col] for col in columns]
    nr = len(row_names)
    has_p = bool(re.match(r"^(P|Pr)\(", col_names[-1])) if nc else False
    tst = [j for j, c in enumerate(col_names) if c[1:7] == " value"]
    tst += [j for j, c in enumerate(col_names) if c in ("F", "Cp", "Chisq")]
    zap = [j for j in range(nc - 1 if has_p else nc) if j not in tst and not col_names[j].endswith("Df")]
    dig_tst = max(1, min(5, digits - 1))
    na = [[math.isnan(v) for v in col] for col in xm]

    for j in zap:
        xm[j] = zapsmall(xm[j], digits)
    cf: list[list[str]] = [[""] * nr for _ in range(nc)]
    if tst:  # format() of the test-statistic columns together
        flat = _format_column(r_round_vec([v for j in tst for v in xm[j]], dig_tst), digits)
        for k, j in enumerate(tst):
            cf[j] = flat[k * nr : (k + 1) * nr]
    for j in range(nc):
        if j not in tst and not (has_p and j == nc - 1):
            cf[j] = _format_column(xm[j], digits)
    # cells that are not zero but print as zero (or the reverse) get one digit less
    cells = [(j, i) for j in range(nc - 1 if has_p else nc) if j not in tst for i in range(nr) if not na[j][i]]
    wrong = []
    for j, i in cells:
        try:
            shown_zero = float(cf[j][i]) == 0
        except ValueError:
            continue
        if (xm[j][i] == 0) != shown_zero:
            wrong.append((j, i))
    if wrong:
        for (j, i), s in zip(wrong, format_real([xm[j][i] for j, i in wrong], max(1, digits - 1))):
            cf[j][i] = s
    for j in range(nc):
        for i in range(nr):
            if na[j][i]:
                cf[j][i] = ""
    names = list(col_names)
    stars = False
    if has_p:
        pv = xm[-1]
        ok = [i for i in range(nr) if not na[-1][i]]
        if ok:
            for i, s in zip(ok, format_pval([pv[i] for i in ok], dig_tst)):
                cf[-1][i] = s
            stars = signif_stars and any(pv[i] < 0.1 for i in ok)
            if stars:
                sym = [signif_star(p) for p in pv]
                w = max(len(s) for s in sym)
                cf.append([s.ljust(w) for s in sym])
                names.append("")
    rows = [[cf[j][i] for j in range(len(cf))] for i in range(nr)]
    lines = list(heading) + print_matrix(rows, list(row_names), names, right=True)
    if stars:
        lines += ["---", "Signif. codes:  " + SIGNIF_LEGEND]
    return lines
