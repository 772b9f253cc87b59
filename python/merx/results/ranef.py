"""lme4's ``ranef()``: conditional modes of the random effects per grouping
factor, with their conditional standard deviations and covariance matrices
(all computed by the Rust core; here only laid out as tables).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ..rstyle import layouts

__all__ = ["RanefDict", "ranef_tables"]


class RanefDict(dict):
    """``{grouping factor: DataFrame of conditional modes}`` as lme4's ``ranef()``.

    ``str()`` is lme4's ``print(ranef(fit))``. ``condsd`` holds the conditional
    standard deviations in the same layout, ``condvar`` the per-level
    conditional covariance matrices ``(L, k, k)``; :meth:`to_frame` is lme4's
    ``as.data.frame(ranef(fit, condVar = TRUE))`` with columns grp, term, level,
    condval, condsd.
    """

    def __init__(self, data: dict, condsd: dict, condvar: dict, show_condvar: bool = True):
        super().__init__(data)
        self.condsd = condsd
        self.condvar = condvar
        self.show_condvar = show_condvar

    def __str__(self) -> str:
        return layouts.format_ranef(self, self.show_condvar).rstrip("\n")

    __repr__ = __str__

    def to_frame(self) -> pd.DataFrame:
        rows = []
        for g, df in self.items():
            sd = self.condsd[g]
            for term in df.columns:
                for lev in df.index:
                    rows.append((g, term, lev, float(df.at[lev, term]), float(sd.at[lev, term])))
        return pd.DataFrame(rows, columns=["grp", "term", "level", "condval", "condsd"])

    as_dataframe = to_frame

    def __reduce__(self):
        return (RanefDict, (dict(self), self.condsd, self.condvar, self.show_condvar))



def ranef_tables(blocks: Sequence, b_list: Sequence, condvar_list: Sequence | None) -> tuple[dict, dict, dict]:
    """``(modes, condsd, condvar)``, each ``{grouping factor: ...}`` in ``ranef()`` order.

    ``b_list`` and ``condvar_list`` are the fit's ``b`` (per block
    ``(L, k)``) and ``condvar`` (per block ``(L, k, k)``; None gives NaN).
    Blocks of the same grouping factor are put side by side (their
    conditional covariances block-diagonally), as lme4 does.
    """
    vals: dict = {}
    sds: dict = {}
    cvs: dict = {}
    for bi, blk in enumerate(blocks):
        k = len(blk.columns)
        L = len(blk.levels)
        b = np.asarray(b_list[bi], dtype=float).reshape(L, k)
        if condvar_list is not None:
            cv = np.asarray(condvar_list[bi], dtype=float).reshape(L, k, k)
        else:
            cv = np.full((L, k, k), np.nan)
        sd = np.sqrt(np.clip(np.diagonal(cv, axis1=1, axis2=2), 0.0, None))
        idx = pd.Index([str(v) for v in blk.levels])
        df = pd.DataFrame(b, index=idx, columns=list(blk.columns))
        sdf = pd.DataFrame(sd, index=idx, columns=list(blk.columns))
        g = blk.group
        if g in vals:
            vals[g] = pd.concat([vals[g], df], axis=1)
            sds[g] = pd.concat([sds[g], sdf], axis=1)
            cvs[g] = _block_diag_stack(cvs[g], cv)
        else:
            vals[g], sds[g], cvs[g] = df, sdf, cv
    return vals, sds, cvs


def _block_diag_stack(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-level block-diagonal combination of (L, k1, k1) and (L, k2, k2) arrays."""
    L, k1, _ = a.shape
    k2 = b.shape[1]
    out = np.zeros((L, k1 + k2, k1 + k2))
    out[:, :k1, :k1] = a
    out[:, k1:, k1:] = b
    return out

