"""θ per random-effects term, in the layout of the term's covariance structure.

A term with ``k`` columns has a lower-triangular relative covariance factor ``T``
(k × k); its covariance is ``σ² T T'``. How ``T`` depends on the term's θ entries is the
structure's (the block's ``covariance``): lme4's unstructured term stores the lower
triangle of ``T`` column by column (``k (k + 1) / 2`` values, named ``g.col`` and
``g.row.col``), a diagonal one its diagonal (``k`` values), glmmTMB's ``ar1`` a relative SD
and an angle u, φ = sin u (``g.(sd)``, ``g.(asin_phi)``), its heterogeneous compound
symmetry ``k`` relative SDs and an angle v, ρ = -a + (1+a) sin²v with a = 1/(k-1)
(``g.col``, ``g.(rho_angle)``). The Rust core's
structures (``merx._core.covariance_layout`` / ``covariance_template``) are the one
definition; a result read back from a pickle, without its Rust problem, reads θ through
them too.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .. import _core

__all__ = [
    "theta_size", "relative_factor", "theta_names", "theta_lower", "theta_upper", "block_covariance",
    "variance_parameter_entries",
]


def block_covariance(block) -> str:
    """The core's name of a block's covariance structure (blocks pickled before blocks named
    theirs are unstructured, or diagonal where they were marked uncorrelated)."""
    cov = getattr(block, "covariance", None)
    if isinstance(cov, str):
        return cov
    return "unstructured" if getattr(block, "correlated", True) else "diagonal"


def _layout(covariance: str, group: str, cols: Sequence[str]) -> tuple:
    return _core.covariance_layout(covariance, group, [str(c) for c in cols])


def theta_size(k: int, covariance: str) -> int:
    """Number of θ values of a term with ``k`` columns."""
    if covariance == "unstructured":  # the core's lower triangle of T (lme4's terms), without asking it
        return k * (k + 1) // 2
    return len(_layout(covariance, "g", [f"x{j}" for j in range(k)])[0])


def relative_factor(theta: np.ndarray, k: int, covariance: str) -> np.ndarray:
    """Lower-triangular relative covariance factor T of one term."""
    return np.asarray(_core.covariance_template(covariance, int(k), [float(v) for v in theta]), dtype=float).reshape(k, k)


def theta_names(group: str, cols: Sequence[str], covariance: str) -> list[str]:
    """θ's names: lme4's ``tnames`` (``g.col`` for diagonals, ``g.row.col`` below the
    diagonal) for lme4's terms, the structure's parameter names for the others."""
    return list(_layout(covariance, group, cols)[0])


def theta_lower(k: int, covariance: str) -> list[float]:
    """Lower bounds: 0 for standard deviations (the diagonal of lme4's T), the angles' lower
    ends (ar1: -π/2, cs: 0), -inf otherwise."""
    return list(_layout(covariance, "g", [f"x{j}" for j in range(k)])[2])


def theta_upper(k: int, covariance: str) -> list[float]:
    """Upper bounds: the angles' upper ends (π/2), inf otherwise."""
    return list(_layout(covariance, "g", [f"x{j}" for j in range(k)])[3])


def variance_parameter_entries(group: str, columns: Sequence[str], covariance: str) -> list[tuple[str, int, int]]:
    """(name, i, j) of a term's variance parameters on lme4's sd/cor scale, named as lme4's
    ``confint`` rows: ``sd_col|g`` the SD of column i (i == j), ``cor_coli.colj|g`` the
    correlation of columns i and j. An unstructured term has every SD and correlation
    (per column j: its SD, then its correlations with the later columns); a diagonal one the
    SDs; glmmTMB's ``ar1`` (and nlme's homogeneous compound symmetry) its one SD, as the
    first column's, and its one correlation as the first two columns' (φ, the lag-1
    correlation); glmmTMB's ``cs`` every SD and the common correlation as the first two
    columns'."""
    k = len(columns)
    sd = [(f"sd_{c}|{group}", j, j) for j, c in enumerate(columns)]
    if covariance == "diagonal" or k == 1:
        return sd
    common = (f"cor_{columns[1]}.{columns[0]}|{group}", 1, 0)
    if covariance in ("ar1", "compound_symmetry"):
        return [sd[0], common]
    if covariance == "heterogeneous_compound_symmetry":
        return sd + [common]
    out = []
    for j in range(k):
        out.append(sd[j])
        out += [(f"cor_{columns[i]}.{columns[j]}|{group}", i, j) for i in range(j + 1, k)]
    return out
