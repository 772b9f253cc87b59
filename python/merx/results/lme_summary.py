"""nlme's ``summary(m)`` of an ``lme`` fit: :class:`LmeSummary`, whose ``str()`` is nlme's
``print(summary(m))`` (``print.summary.lme``): the fit criteria, the random effects per
grouping level (outermost first, the residual SD with the innermost), the variance function,
the t-table with nlme's df, the correlation of the estimates, the quantiles of the
standardized (Pearson) residuals and the group counts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..formula.expression import deparse
from ..formula.grammar import parse_expression
from ..rstyle.matrices import format_data_frame, print_matrix, print_named_vector
from ..rstyle.names import abbreviate
from ..rstyle.numbers import R_DIGITS, format_real, quantile7, r_round, zapsmall

__all__ = ["LmeSummary", "nlme_group_names"]


def nlme_group_names(random: str) -> list:
    """nlme's names of the grouping levels of ``random``, outermost first: ``~1 | a/b`` gives
    ``["a", "b %in% a"]``."""
    group = random.split("|", 1)[1]
    parts = [deparse(parse_expression(p)) for p in group.split("/")]
    return [" %in% ".join(reversed(parts[: k + 1])) for k in range(len(parts))]


def _deparse_formula(text: str) -> str:
    lhs, rhs = text.split("~", 1)
    return f"{deparse(parse_expression(lhs))} ~ {deparse(parse_expression(rhs))}"


def _correlation_lines(names: list, corr: np.ndarray, title: str = " Correlation: ") -> list:
    """nlme's ``print.correlation``: the lower triangle rounded to 3 decimals, full row
    names, column names abbreviated to 6 characters."""
    p = len(names)
    if p < 2:
        return []
    lower = [(i, j) for j in range(p) for i in range(p) if i > j]
    fm = dict(zip(lower, format_real([r_round(float(corr[i, j]), 3) for i, j in lower], R_DIGITS)))
    cells = [[fm.get((i, j), "") for j in range(p - 1)] for i in range(1, p)]
    return [title] + print_matrix(cells, names[1:], abbreviate(names, 6)[: p - 1], right=False)


class LmeSummary:
    """``summary(m)`` of an :class:`~merx.results.lme.LmeResult`."""

    def __init__(self, result: Any):
        self.result = result
        self.tTable = result.tTable
        self.residual_quantiles = quantile7(result.residuals("pearson").to_numpy())

    def _random_lines(self) -> list:
        r = self.result
        names = nlme_group_names(r.random_formula)
        blocks = sorted({b.group: b for b in r._blocks}.values(), key=lambda b: len(b.levels))
        thetas = dict(zip([b.group for b in r._blocks], r._theta_by_block()))
        lhs = deparse(parse_expression(r.random_formula.strip()[1:].split("|", 1)[0]))
        lines = ["Random effects:"]
        for k, (b, name) in enumerate(zip(blocks, names)):
            innermost = k == len(blocks) - 1
            kk = len(b.columns)
            t = _lower_from_theta(thetas[b.group], kk)
            cov = r.sigma ** 2 * t @ t.T
            sd = np.sqrt(np.diag(cov))
            lines.append(f" Formula: ~{lhs} | {name}")
            if kk == 1:
                cols = list(b.columns) + (["Residual"] if innermost else [])
                vals = list(sd) + ([r.sigma] if innermost else [])
                lines += print_matrix([[format_real([v], R_DIGITS)[0] for v in vals]], ["StdDev:"], cols, right=True)
            else:
                lines.append(" Structure: General positive-definite, Log-Cholesky parametrization")
                corr = cov / np.outer(sd, sd)
                sds = format_real(list(sd) + ([r.sigma] if innermost else []), R_DIGITS)
                lower = [(i, j) for j in range(kk) for i in range(kk) if i > j]
                fm = dict(zip(lower, format_real([r_round(float(corr[i, j]), 3) for i, j in lower], R_DIGITS)))
                abbr = abbreviate(list(b.columns), 6)
                rows = []
                for i in range(len(sds)):
                    if i == 0:
                        rest = abbr[: kk - 1]
                    else:
                        rest = [fm.get((i, j), "") for j in range(kk - 1)] if i < kk else [""] * (kk - 1)
                    rows.append([sds[i]] + rest)
                row_names = list(b.columns) + (["Residual"] if innermost else [])
                lines += print_matrix(rows, row_names, ["StdDev", "Corr"] + [""] * (kk - 2), right=False)
            lines.append("")
        return lines

    def _variance_function_lines(self) -> list:
        return variance_function_lines(self.result)

    def _correlation_structure_lines(self) -> list:
        return correlation_structure_lines(self.result)

    def _fixed_lines(self) -> list:
        tab = self.tTable
        cols = [format_real(zapsmall(tab[c].to_numpy()), R_DIGITS) for c in ["Value", "Std.Error", "DF", "t-value"]]
        cols.append(format_real([r_round(float(p), 4) for p in tab["p-value"]], R_DIGITS))
        cells = [[c[i] for c in cols] for i in range(len(tab))]
        return print_matrix(cells, list(tab.index), list(tab.columns), right=True)

    def __str__(self) -> str:
        r = self.result
        title = "REML" if r.method == "REML" else "maximum likelihood"
        crit = pd.DataFrame({"AIC": [r.AIC], "BIC": [r.BIC], "logLik": [r.logLik]}, index=[" "])
        lines = [f"Linear mixed-effects model fit by {title}", f"  Data: {r.data_name or 'data'} "]
        lines += format_data_frame(crit) + [""]
        lines += self._random_lines()
        lines += self._correlation_structure_lines()
        lines += self._variance_function_lines()
        lines.append(f"Fixed effects:  {_deparse_formula(r.fixed_formula)} ")
        lines += self._fixed_lines()
        lines += _correlation_lines(list(r.frame.x_names), r.vcov_correlation().to_numpy())
        lines += ["", "Standardized Within-Group Residuals:"]
        lines += print_named_vector(format_real(self.residual_quantiles, R_DIGITS), ["Min", "Q1", "Med", "Q3", "Max"])
        lines += ["", f"Number of Observations: {r.nobs}"]
        names = nlme_group_names(r.random_formula)
        blocks = sorted({b.group: b for b in r._blocks}.values(), key=lambda b: len(b.levels))
        if len(blocks) == 1:
            lines.append(f"Number of Groups: {len(blocks[0].levels)} ")
        else:
            lines.append("Number of Groups: ")
            lines += print_named_vector([str(len(b.levels)) for b in blocks], names)
        return "\n".join(lines) + "\n"


def correlation_structure_lines(r: Any) -> list:
    """nlme's ``print.summary.corStruct``: title, formula (lme's default grouping filled in),
    the natural parameter."""
    cs = r.corStruct
    if cs is None:
        return []
    info = r.structure
    form = info.correlation.form
    random = getattr(r, "random_formula", None)
    if not info.correlation.groups and random is not None:
        # nlme's default grouping of lme's correlation, printed as the random effects' (a/b)
        form += " | " + deparse(parse_expression(random.split("|", 1)[1]))
    return [
        f"Correlation Structure: {info.correlation_title}",
        f" Formula: {form} ",
        " Parameter estimate(s):",
    ] + print_named_vector(format_real(list(cs.to_numpy()), R_DIGITS), list(cs.index))


def variance_function_lines(r: Any) -> list:
    """nlme's ``print.summary.varFunc``: structure, formula, parameter estimates (varIdent's
    ratios with the reference stratum's 1)."""
    vs = r.varStruct
    if vs is None:
        return []
    spec = r.structure.weights
    if r._strata is not None:
        labels, values = list(r._strata[1]), [1.0] + list(vs.to_numpy())
        structure = "Different standard deviations per stratum"
    else:
        labels, values, structure = list(vs.index), list(vs.to_numpy()), spec.title
    return [
        "Variance function:",
        f" Structure: {structure}",
        f" Formula: {spec.form} ",
        " Parameter estimates:",
    ] + print_named_vector(format_real(values, R_DIGITS), labels)


def _lower_from_theta(theta: np.ndarray, k: int) -> np.ndarray:
    """T from lme4's θ (its lower triangle, column by column)."""
    t = np.zeros((k, k))
    idx = 0
    for j in range(k):
        for i in range(j, k):
            t[i, j] = theta[idx]
            idx += 1
    return t
