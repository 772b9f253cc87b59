"""lme4-layout text for ``print()`` / ``summary()`` / ``VarCorr`` / ``ranef``.

The functions here reproduce, line by line, what R 4.2 with lme4 1.1-31
prints for a linear mixed model (``options(digits = 7, width = 80)``), and the
parts every merMod shares (:mod:`merx.rstyle.glmer_layouts` adds a GLMM's header):
lme4's ``formatVC`` / ``.prt.VC`` / ``.prt.methTit`` / ``.prt.call`` /
``.prt.aictab`` / ``.prt.resids`` / ``.prt.grps`` / ``.prt.warn``, the
"Correlation of Fixed Effects" block of ``print.summary.merMod`` and
``print.ranef.mer``.

They are built on the emulation of R itself next door: number formatting in
:mod:`merx.rstyle.numbers`, names in :mod:`merx.rstyle.names`, matrix / vector /
``cat`` / ``printCoefmat`` layout in :mod:`merx.rstyle.matrices`.

Nothing here does model numerics, and nothing here knows the result classes:
the arrow goes one way, :mod:`merx.results` calls these functions with itself
(read through the attributes the protocols below name) and with what it
derives for printing (the deparsed lines of the formula,
:func:`merx.formula.deparse_lines.formula_lines`).
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

import numpy as np

from .matrices import WIDTH, cat_fill, format_coefmat, format_data_frame, print_matrix, print_named_vector, strwrap
from .names import abbreviate, deparse_name
from .numbers import R_DIGITS, format_cat_number, format_real, quantile7, r_round, r_round_vec, zapsmall

__all__ = [
    "format_varcorr_matrix",
    "format_varcorr",
    "format_cor_fixef",
    "format_print",
    "format_summary",
    "format_ranef",
    "print_body",
    "summary_body",
    "aictab_lines",
    "prt_meth_tit",
    "prt_call",
]


# ---------------------------------------------------------------------------
# What the layouts read (structural types: any object with these attributes)
# ---------------------------------------------------------------------------


class VarCorrTermLike(Protocol):
    name: str
    columns: list
    cov: np.ndarray

    @property
    def stddev(self) -> np.ndarray: ...

    @property
    def correlation(self) -> np.ndarray: ...


class VarCorrLike(Protocol):
    terms: Sequence[VarCorrTermLike]
    sigma: float
    use_scale: bool


class FittedLike(Protocol):
    """A fitted linear mixed model as the printed layouts read it."""

    reml: bool
    data_name: str | None
    weights_name: str | None  # read with getattr: optional
    offset_name: str | None  # read with getattr: optional
    frame: Any  # .dropped_x_names
    REMLcrit: float
    AIC: float
    BIC: float
    logLik: float
    deviance: float
    df_residual: int
    VarCorr: VarCorrLike
    ngrps: dict
    nobs: int
    fixef: Any  # pandas Series
    optinfo: dict


class SummaryLike(Protocol):
    """``summary(fit)`` as :func:`format_summary` reads it."""

    result: FittedLike
    correlation: bool | None
    coefficients: Any  # DataFrame: Estimate, Std. Error, t or z value[, Pr(>|z|)]
    varcor: VarCorrLike
    scaled_residuals: np.ndarray
    ngrps: dict
    nobs: int
    correlation_matrix: np.ndarray


COR_MAX = 12  # getOption("lme4.summary.cor.max")


# ---------------------------------------------------------------------------
# lme4 pieces
# ---------------------------------------------------------------------------


def method_title(reml: bool) -> str:
    # lme4 1.1-31 pastes an empty GLMM suffix, hence the double space for ML
    return "Linear mixed model fit by REML" if reml else "Linear mixed model fit by maximum likelihood "


def prt_meth_tit(mtit: str, cls: str = "lmerMod") -> list[str]:
    """lme4's ``.prt.methTit``: ``title ['class']``, or, when that passes the console width,
    the title wrapped (``strwrap``, width - 2, exdent 2) and `` [class]`` after it."""
    if len(mtit) + 5 + len(cls) > WIDTH:
        return cat_fill(strwrap(mtit, WIDTH - 2, exdent=2) + [" [", cls, "]"], sep="")
    return [f"{mtit} ['{cls}']"]


def prt_call(res: FittedLike, formula_lines: Sequence[str]) -> list[str]:
    lines = cat_fill(["Formula:"] + list(formula_lines))
    if res.data_name is not None:
        lines += cat_fill(["   Data:", str(res.data_name)])
    if getattr(res, "weights_name", None):
        lines += cat_fill(["Weights:", str(res.weights_name)])
    if getattr(res, "offset_name", None):
        lines += cat_fill([" Offset:", str(res.offset_name)])
    return lines


def aictab_lines(values: Sequence[float], digits: int) -> list[str]:
    """lme4's ``.prt.aictab`` of the likelihood table (AIC, BIC, logLik, deviance, df.resid)."""
    names = ["AIC", "BIC", "logLik", "deviance", "df.resid"]
    t4 = r_round_vec([float(v) for v in values], digits)
    t4f = format_real(t4)
    t4f[4] = format_real([t4[4]])[0]
    return print_named_vector(t4f, names)


def prt_aictab(res: FittedLike, digits: int) -> list[str]:
    if res.reml:
        val = r_round(res.REMLcrit, digits)
        return cat_fill(["REML criterion at convergence:", format_cat_number(val)])
    return aictab_lines([res.AIC, res.BIC, res.logLik, res.deviance, float(res.df_residual)], digits)


def prt_resids(resids: np.ndarray, digits: int) -> list[str]:
    q = zapsmall(quantile7(resids), digits + 1)
    vals = format_real(q, digits)
    return ["Scaled residuals: "] + print_named_vector(vals, ["Min", "1Q", "Median", "3Q", "Max"]) + [""]


def format_varcorr_matrix(
    vc: VarCorrLike, digits: int, comp: Sequence[str] = ("Std.Dev.",), corr: bool | None = None
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
    # glmmTMB's layout of its structures: an ar1 term one row (its SD, the same for every
    # level) with "φ (ar1)", a cs term every SD with "ρ (cs)" on the first row.
    common = {"ar1": "ar1", "heterogeneous_compound_symmetry": "cs"}
    shown: list[int] = []
    for t in vc.terms:
        k = len(t.columns)
        special = common.get(getattr(t, "covariance", "unstructured")) if k > 1 else None
        n_rows = 1 if special == "ar1" else k
        shown.append(n_rows)
        lens.append(2 if special else k)
        sds.extend(float(s) for s in t.stddev[:n_rows])
        groups.extend([t.name] + [""] * (n_rows - 1))
        names.extend(t.columns[:n_rows])
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
        for t, n_rows in zip(vc.terms, shown):
            k = len(t.columns)
            m = t.correlation if corr else t.cov
            special = common.get(getattr(t, "covariance", "unstructured")) if k > 1 else None
            if special:
                fm = format_real([r_round(float(m[1, 0]), dig)], R_DIGITS, nsmall=dig)
                first = [f"{fm[0]} ({special})"] + [""] * (maxlen - 1)
                co_rows += [first] + [[""] * maxlen for _ in range(n_rows - 1)]
                continue
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
    vc: VarCorrLike, digits: int = 5, comp: Sequence[str] = ("Std.Dev.",), corr: bool | None = None
) -> list[str]:
    """``print(VarCorr(fit), digits =, comp =)`` lines."""
    cells, colnms = format_varcorr_matrix(vc, digits, comp, corr)
    return print_matrix(cells, [""] * len(cells), colnms, right=False)


def prt_grps(ngrps: dict, nobs: int, n_dropped: int = 0) -> list[str]:
    """lme4's "Number of obs" line; rows dropped for missing values follow it as R's
    ``naprint`` words them in ``print.summary.lm`` (lme4 itself does not say)."""
    lines = cat_fill(
        [f"Number of obs: {nobs}, groups: ", "; ".join(f"{k}, {v}" for k, v in ngrps.items())]
    )
    if n_dropped:
        noun = "observation" if n_dropped == 1 else "observations"
        lines.append(f"  ({n_dropped} {noun} deleted due to missingness)")
    return lines


def _n_dropped(res: Any) -> int:
    frame = getattr(res, "frame", None)
    return int(getattr(frame, "n_dropped_na", 0) or 0)



def format_cor_fixef(names: Sequence[str], corr: np.ndarray) -> list[str]:
    """The "Correlation of Fixed Effects" table (abbreviated names, 3 decimals)."""
    p = len(names)
    rns = abbreviate(names, 11)
    cns = abbreviate(names, 6)
    flat = [r_round(float(corr[i, j]), 3) for j in range(p) for i in range(p)]
    fm = format_real(flat, R_DIGITS, nsmall=3)
    cells = [[fm[j * p + i] if i > j else "" for j in range(p - 1)] for i in range(1, p)]
    return print_matrix(cells, rns[1:], cns[: p - 1], right=False)


def prt_warn(res: FittedLike, summary: bool) -> list[str]:
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


def fit_messages(res: FittedLike) -> list[str]:
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


def print_body(res: FittedLike, digits: int = 4) -> list[str]:
    """``print.merMod`` from "Random effects:" on (the same for every merMod)."""
    lines = ["Random effects:"]
    lines += format_varcorr(res.VarCorr, digits, ("Std.Dev.",))
    lines += prt_grps(res.ngrps, res.nobs, _n_dropped(res))
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
    return lines


def format_print(res: FittedLike, formula_lines: Sequence[str], digits: int = 4) -> str:
    """lme4's ``print.merMod`` output of a linear mixed model (ends with a newline);
    ``formula_lines``: the formula deparsed as lme4 keeps it in the call."""
    lines = prt_meth_tit(method_title(res.reml))
    lines += prt_call(res, formula_lines)
    lines += prt_aictab(res, 4)
    lines += print_body(res, digits)
    return "\n".join(lines) + "\n"


def coefmat_lines(coefs: Any, digits: int) -> list[str]:
    """``printCoefmat`` of a summary's coefficient table: Estimate, Std. Error, the test
    statistic (its column name) and, when the table has one, its ``Pr(...)`` column."""
    cols = [c for c in coefs.columns if c != "df"]
    has_p = len(cols) >= 4 and str(cols[3]).startswith("Pr(")
    return format_coefmat(
        list(coefs.index), list(coefs["Estimate"]), list(coefs["Std. Error"]), digits,
        stat_name=str(cols[2]), pvalues=list(coefs[cols[3]]) if has_p else None,
        pvalue_name=str(cols[3]) if has_p else "",
        df=list(coefs["df"]) if "df" in coefs.columns else None,
    )


def summary_body(s: SummaryLike, digits: int = 4) -> list[str]:
    """``print.summary.merMod`` from "Scaled residuals:" on (the same for every merMod)."""
    res = s.result
    lines = prt_resids(s.scaled_residuals, digits) if s.scaled_residuals is not None else []
    lines.append("Random effects:")
    lines += format_varcorr(s.varcor, digits, ("Variance", "Std.Dev."))
    lines += prt_grps(s.ngrps, s.nobs, _n_dropped(res))
    coefs = s.coefficients
    p = len(coefs)
    if p > 0:
        lines += ["", "Fixed effects:"]
        lines += coefmat_lines(coefs, digits)
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
    return lines


def format_summary(s: SummaryLike, formula_lines: Sequence[str], digits: int = 4) -> str:
    """lme4's ``print.summary.merMod`` output of a linear mixed model (ends with a
    newline); ``formula_lines`` as for :func:`format_print`."""
    res = s.result
    ddf_method = getattr(s, "ddf", "lme4")
    if ddf_method == "lme4":
        lines = prt_meth_tit(method_title(res.reml))
    else:  # lmerTest's summary: its method in the title, its class
        lines = prt_meth_tit(f"{method_title(res.reml)}. t-tests use {ddf_method}'s method", "lmerModLmerTest")
    lines += prt_call(res, formula_lines)
    lines.append("")
    lines += prt_aictab(res, 1)
    lines.append("")
    lines += summary_body(s, digits)
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# ranef(fit) printing (print.ranef.mer)
# ---------------------------------------------------------------------------


def _list_tag(name: str) -> str:
    return "$" + deparse_name(str(name))


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
