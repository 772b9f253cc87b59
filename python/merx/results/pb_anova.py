"""The parametric-bootstrap likelihood-ratio test of two nested models (pbkrtest's
``PBmodcomp``): the observed LRT, its chi-squared p-value and the bootstrap p-value
(1 + #{LRT* ≥ LRT}) / (1 + number of replicates), printed in pbkrtest's layout."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

from ..rstyle.matrices import SIGNIF_LEGEND, format_pval, print_matrix, signif_star
from ..rstyle.numbers import format_real
from .distributions import chisq_upper_tail

__all__ = ["PBModcompResult"]


class PBModcompResult:
    """``table``: rows ``LRT`` and ``PBtest`` with columns ``stat``, ``df``, ``p.value``;
    ``ref``: the bootstrap LRTs (NaN where a refit failed); ``n_extremes``: #{LRT* ≥ LRT}."""

    def __init__(self, lrt: float, df: int, ref: np.ndarray, formulas: Sequence[str], seconds: float, seed: int):
        self.lrt = float(lrt)
        self.df = int(df)
        self.ref = np.asarray(ref, dtype=float)
        used = self.ref[np.isfinite(self.ref)]
        self.n_used = int(used.size)
        self.n_extremes = int(np.sum(used >= self.lrt))
        self.p_chisq = chisq_upper_tail(max(self.lrt, 0.0), self.df) if self.df > 0 else math.nan
        self.p_pb = (1 + self.n_extremes) / (1 + self.n_used)
        self.formulas = list(formulas)  # large, small
        self.seconds = float(seconds)
        self.seed = seed
        self.table = pd.DataFrame(
            {"stat": [self.lrt, self.lrt], "df": [float(self.df), math.nan], "p.value": [self.p_chisq, self.p_pb]},
            index=["LRT", "PBtest"],
        )

    def __str__(self) -> str:
        head = (f"Bootstrap test; time: {self.seconds:.2f} sec; samples: {self.n_used}; "
                f"extremes: {self.n_extremes};")
        lines = [head]
        if self.n_used < self.ref.size:
            lines.append(f"Requested samples: {self.ref.size} Used samples: {self.n_used} Extremes: {self.n_extremes}")
        lines += [f"large : {self.formulas[0]}", f"small : {self.formulas[1]}"]
        stat = format_real([self.lrt], 5)[0]
        pv = format_pval([self.p_chisq, self.p_pb], 4)
        cells = [[stat, str(self.df), pv[0], signif_star(self.p_chisq)],
                 [stat, "", pv[1], signif_star(self.p_pb)]]
        lines += print_matrix(cells, ["LRT", "PBtest"], ["stat", "df", "p.value", ""], right=True)
        lines += ["---", f"Signif. codes:  {SIGNIF_LEGEND}"]
        return "\n".join(lines)

    __repr__ = __str__
