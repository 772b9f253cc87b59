"""nlme's ``VarCorr(m)`` of an ``lme`` fit: the same variance components as lme4's
:class:`~merx.results.varcorr.VarCorr` (the same ``keys()``, ``m.VarCorr["g"]``,
``to_frame()``), printed as nlme's ``print.VarCorr.lme``: per grouping level, outermost
first, a ``g = pdLogChol(formula)`` title, then Variance and StdDev (each column formatted
together, 7 significant digits) and the correlations' lower triangle (3 decimals, the first
row the abbreviated column names), the residual last.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..formula.expression import deparse
from ..formula.grammar import parse_expression
from ..rstyle.matrices import print_matrix
from ..rstyle.names import abbreviate
from ..rstyle.numbers import R_DIGITS, format_real, r_round
from .varcorr import VarCorr

__all__ = ["LmeVarCorr", "lme_varcorr"]

#: nlme's ``rdig``: decimals of the printed correlations.
_RDIG = 3


class LmeVarCorr(VarCorr):
    """lme4's variance components with nlme's table: ``levels`` are (nlme's level name,
    ``pdLogChol(...)`` string, term) outermost first."""

    def __init__(self, terms: list, sigma: float, levels: list):
        super().__init__(terms, sigma)
        self.levels = levels

    def _corr_cells(self, term: Any, width: int) -> list:
        """Rows of the Corr columns of one level (``width`` columns), nlme's lower triangle."""
        k = len(term.columns)
        if k < 2:
            return [[""] * width for _ in range(k)]
        corr = term.correlation
        lower = [(i, j) for j in range(k) for i in range(k) if i > j]
        fm = dict(zip(lower, format_real([r_round(float(corr[i, j]), _RDIG) for i, j in lower], R_DIGITS)))
        abbr = abbreviate(list(term.columns), _RDIG + 3)
        rows = []
        for i in range(k):
            cells = abbr[: k - 1] if i == 0 else [fm.get((i, j), "") for j in range(k - 1)]
            rows.append(cells + [""] * (width - (k - 1)))
        return rows

    def table(self) -> pd.DataFrame:
        """nlme's ``VarCorr(m)`` character matrix (row names: nlme's)."""
        width = max((len(t.columns) - 1 for _, _, t in self.levels), default=0)
        single = len(self.levels) == 1
        row_names: list = []
        var: list = []
        sd: list = []
        corr_rows: list = []
        title_rows = []
        for name, form, term in self.levels:
            if not single:
                title_rows.append(len(row_names))
                row_names.append(f"{name} =")
                var.append(None)
                sd.append(None)
                corr_rows.append([""] * width)
            row_names += list(term.columns)
            var += list(term.stddev ** 2)
            sd += list(term.stddev)
            corr_rows += self._corr_cells(term, width)
        row_names.append("Residual")
        var.append(self.sigma ** 2)
        sd.append(self.sigma)
        corr_rows.append([""] * width)
        fv = iter(format_real([v for v in var if v is not None], R_DIGITS))
        fs = iter(format_real([v for v in sd if v is not None], R_DIGITS))
        var_col = [next(fv) if v is not None else "" for v in var]
        sd_col = [next(fs) if v is not None else "" for v in sd]
        for pos, (_, form, _) in zip(title_rows, self.levels):
            var_col[pos] = form
        columns = ["Variance", "StdDev"] + (["Corr"] + [""] * (width - 1) if width else [])
        data = [[a, b] + c for a, b, c in zip(var_col, sd_col, corr_rows)]
        return pd.DataFrame(data, index=row_names, columns=range(len(columns))).set_axis(columns, axis=1)

    def __str__(self) -> str:
        t = self.table()
        lines = []
        if len(self.levels) == 1:
            name, form, _ = self.levels[0]
            lines.append(f"{name} = {form} ")
        cells = t.to_numpy().tolist()
        lines += print_matrix(cells, list(t.index), list(t.columns), right=False)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.__str__()


def lme_varcorr(result: Any, base: VarCorr) -> LmeVarCorr:
    """nlme's VarCorr of ``result`` from its lme4 VarCorr ``base`` (one term per block)."""
    lhs = deparse(parse_expression(result.random_formula.strip()[1:].split("|", 1)[0]))
    form = f"pdLogChol({lhs})"
    parts = [p.strip() for p in result.random_formula.split("|", 1)[1].split("/")]
    by_group = {t.group: t for t in base.terms}
    blocks = sorted({b.group: b for b in result._blocks}.values(), key=lambda b: len(b.levels))
    levels = [(part, form, by_group[b.group]) for b, part in zip(blocks, parts)]
    return LmeVarCorr(base.terms, base.sigma, levels)
