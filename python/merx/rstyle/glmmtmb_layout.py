"""glmmTMB 1.1's printed ``summary()`` layout (``print.summary.glmmTMB``): family line,
the formulas of the parts, the likelihood table, the random effects of the conditional
model, the dispersion line of a dispersion model with an intercept only, and one
coefficient table per part. Reads the summary through its attributes (a protocol)."""

from __future__ import annotations

import math
from typing import Any, Sequence

from .layouts import aictab_lines, coefmat_lines, format_varcorr_matrix, prt_grps
from .matrices import print_matrix

__all__ = ["format_glmmtmb_summary", "dispersion_line"]

_TITLES = {"cond": "Conditional model", "zi": "Zero-inflation model", "disp": "Dispersion model"}


def _format_c3(x: float) -> str:
    """R's ``formatC(x, digits = 3)`` (C's %.3g)."""
    return f"{x:.3g}"


def dispersion_line(family: str, sigma: float) -> list[str]:
    """glmmTMB's ``printDispersion``: σ² for gaussian, the family's parameter otherwise."""
    if family in ("poisson", "binomial") or not math.isfinite(sigma):
        return []
    if family == "gaussian":
        return ["", f"Dispersion estimate for {family} family (sigma^2): {_format_c3(sigma**2)} "]
    return ["", f"Dispersion parameter for {family} family (): {_format_c3(sigma)} "]


def _varcorr_lines(varcor: Any, digits: int) -> list[str]:
    """lme4's ``formatVC`` table, a missing residual σ (a dispersion model beyond an
    intercept) printed as R formats NA among numbers: right-justified to their width."""
    cells, colnms = format_varcorr_matrix(varcor, digits, ("Variance", "Std.Dev."))
    for j, name in enumerate(colnms):
        if name in ("Variance", "Std.Dev."):
            for r in cells:
                if r[j].strip() == "NaN":
                    r[j] = "NA".rjust(len(r[j]))
    return print_matrix(cells, [""] * len(cells), colnms, right=False)


def format_glmmtmb_summary(s: Any, formula_lines: Sequence[str], digits: int = 4) -> str:
    """The printed ``summary(fit)`` of a glmmTMB fit (ends with a newline)."""
    lines = [f" Family: {s.family}  ( {s.link} )"]
    lines.append("Formula:          " + " ".join(formula_lines))
    if s.zi_formula is not None:
        lines.append("Zero inflation:         " + s.zi_formula)
    if s.disp_formula is not None and s.disp_formula != "~1":
        lines.append("Dispersion:               " + s.disp_formula)
    if s.data_name:
        lines.append(f"Data: {s.data_name}")
    lines.append("")
    lines += aictab_lines([s.AIC, s.BIC, s.logLik, -2.0 * s.logLik, float(s.df_residual)], 1)
    lines += ["", "Random effects:", "", "Conditional model:"]
    lines += _varcorr_lines(s.varcor, digits)
    lines += prt_grps(s.ngrps, s.nobs)
    if s.disp_formula == "~1":
        lines += dispersion_line(s.family, s.sigma)
    for comp, table in s.coefficients.items():
        if comp == "disp" and s.disp_formula == "~1":
            continue
        lines += ["", f"{_TITLES[comp]}:"]
        lines += coefmat_lines(table, digits)
    return "\n".join(lines) + "\n"
