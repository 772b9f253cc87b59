"""nlme's ``anova`` of ``lme`` and ``gls`` fits (``anova.lme``, ``anova.gls``), with
``print.anova.lme``'s layout.

One model: F tests of the fixed-effects terms, ``type="sequential"`` (each term given the
terms before it: the squared entries of Rβ, R'R the inverse of the fixed effects' covariance)
or ``"marginal"`` (each term given all others: the Wald statistic β_t' V_tt⁻¹ β_t), with
``numDF`` the term's columns and ``denDF`` nlme's inner-outer df of the term (gls: N - p for
every term, printed once above the table). The covariance
is the t-table's (for ML fits nlme's ``adjustSigma``: scaled by N/(N - p)).

Several models: nlme's likelihood-ratio table in the order given (not sorted): Model, df,
AIC, BIC, logLik and, between consecutive models whose df differ, Test ("1 vs 2"),
L.Ratio = 2|Δ logLik| and its chi-squared p-value. REML fits are compared by their REML
likelihoods, as nlme does, with its warning when the fixed effects differ.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..errors import MerxError, warn_user
from ..rstyle.matrices import print_matrix
from ..rstyle.numbers import R_DIGITS, format_real, r_round, zapsmall
from .distributions import chisq_upper_tail
from .t_and_f import f_upper_tail

__all__ = ["LmeAnova", "lme_anova"]


def _format_pvalues(p: Sequence[float]) -> list:
    """nlme's p-value column: ``format(round(p, 4))``, "<.0001" where that is 0, "" for NA."""
    keep = [i for i, v in enumerate(p) if v is not None and np.isfinite(v)]
    out = [""] * len(p)
    formatted = format_real([r_round(float(p[i]), 4) for i in keep], R_DIGITS)
    for i, s in zip(keep, formatted):
        out[i] = "<.0001" if float(s) == 0.0 else s
    return out


def _format_with_blanks(x: Sequence[float]) -> list:
    """``format(zapsmall(x))`` with NA shown as "" (nlme zaps with NA set to 0)."""
    vals = [0.0 if v is None or not np.isfinite(v) else float(v) for v in x]
    formatted = format_real(zapsmall(vals), R_DIGITS)
    return ["" if v is None or not np.isfinite(v) else s for v, s in zip(x, formatted)]


class LmeAnova:
    """The table of :func:`lme_anova` (``table``, a DataFrame) and its printed form."""

    def __init__(self, table: pd.DataFrame, n_models: int, denominator_df: float | None = None):
        self.table = table
        self.n_models = n_models
        # a gls fit's F tests share one denominator df, printed above the table
        self.denominator_df = denominator_df

    def __getitem__(self, key):
        return self.table[key]

    def __str__(self) -> str:
        t = self.table
        head = []
        if self.n_models == 1:
            cols = [format_real([float(v) for v in t["numDF"]], R_DIGITS),
                    format_real([float(v) for v in t["denDF"]], R_DIGITS),
                    format_real(zapsmall(list(t["F-value"])), R_DIGITS),
                    _format_pvalues(list(t["p-value"]))]
            header = ["numDF", "denDF", "F-value", "p-value"]
            if self.denominator_df is not None:
                head = [f"Denom. DF: {format_real([self.denominator_df], R_DIGITS)[0]} "]
                del cols[1], header[1]
        else:
            cols = [format_real([float(v) for v in t["Model"]], R_DIGITS),
                    format_real([float(v) for v in t["df"]], R_DIGITS)]
            cols += [_format_with_blanks(list(t[c])) for c in ("AIC", "BIC", "logLik")]
            header = ["Model", "df", "AIC", "BIC", "logLik"]
            if "Test" in t:
                cols += [list(t["Test"]), _format_with_blanks(list(t["L.Ratio"])), _format_pvalues(list(t["p-value"]))]
                header += ["Test", "L.Ratio", "p-value"]
        cells = [[c[i] for c in cols] for i in range(len(t))]
        lines = head + print_matrix(cells, [str(r) for r in t.index], header, right=True)
        return "\n".join(lines) + "\n"

    __repr__ = __str__


def _term_tests(m: Any, type: str) -> LmeAnova:  # noqa: A002 - nlme's argument name
    frame = m.frame
    beta = np.asarray(m.fixef.to_numpy(), dtype=float)
    v = m.vcov.to_numpy()
    gls = _is_gls(m)
    df = np.full(beta.size, float(m.nobs - beta.size)) if gls else m.fixed_df.to_numpy()
    assign = np.asarray(frame.x_assign)
    labels = ["(Intercept)"] + list(frame.fixed_term_labels)
    terms = [t for t in sorted(set(assign.tolist()))]
    rows, num, den, fval = [], [], [], []
    if type == "sequential":
        r = np.linalg.cholesky(np.linalg.inv(v)).T  # R'R = V⁻¹, R upper triangular
        c = r @ beta
    for t in terms:
        cols = np.flatnonzero(assign == t)
        if type == "sequential":
            stat = float(np.sum(c[cols] ** 2))
        else:
            b = beta[cols]
            stat = float(b @ np.linalg.solve(v[np.ix_(cols, cols)], b))
        rows.append(labels[t])
        num.append(cols.size)
        den.append(float(df[cols[0]]))
        fval.append(stat / cols.size)
    p = [f_upper_tail(f, n, d) for f, n, d in zip(fval, num, den)]
    table = pd.DataFrame({"numDF": num, "denDF": den, "F-value": fval, "p-value": p}, index=rows)
    return LmeAnova(table, 1, denominator_df=float(m.nobs - beta.size) if gls else None)


def _is_gls(m: Any) -> bool:
    """A gls fit (its core model holds one single-level term: no random effects)."""
    return getattr(m, "held_group", None) is not None


def _fixed_signature(m: Any) -> str:
    labels = sorted(m.frame.fixed_term_labels)
    has_intercept = 0 in list(m.frame.x_assign)
    return "&".join(labels + (["(Intercept)"] if has_intercept else []))


def lme_anova(*models: Any, names: Sequence[str] | None = None, type: str = "sequential") -> LmeAnova:  # noqa: A002
    """nlme's ``anova(m)`` (F tests, ``type`` "sequential" or "marginal") or
    ``anova(m1, m2, ...)`` (likelihood-ratio table); ``names`` the row names of the models
    (nlme takes the argument expressions; default ``m1``, ``m2``, ...)."""
    if not models:
        raise MerxError("anova needs at least one fitted model")
    if type not in ("sequential", "marginal"):
        raise MerxError(f"type must be 'sequential' or 'marginal', not {type!r}")
    if len(models) == 1:
        return _term_tests(models[0], type)
    if names is None:
        names = [f"m{i + 1}" for i in range(len(models))]
    names = list(names)
    if len(names) != len(models):
        raise MerxError(f"{len(names)} names for {len(models)} models")
    responses = [m.frame.response_name for m in models]
    if any(r != responses[0] for r in responses):
        raise MerxError(f"the models have different responses ({', '.join(dict.fromkeys(responses))}): "
                        "anova compares fits of one response")
    methods = {m.method for m in models}
    if len(methods) > 1:
        raise MerxError("all fitted objects must have the same estimation method (nlme's rule): refit them "
                        "all with method='ML' to compare models with different fixed effects")
    if len({m.nobs for m in models}) > 1:
        raise MerxError("all fitted objects must use the same number of observations")
    if methods == {"REML"} and len({_fixed_signature(m) for m in models}) > 1:
        warn_user("fitted objects with different fixed effects. REML comparisons are not meaningful.")
    ll = np.array([m.logLik for m in models], dtype=float)
    dfs = np.array([m.n_params for m in models], dtype=int)
    table = pd.DataFrame({"Model": np.arange(1, len(models) + 1), "df": dfs,
                          "AIC": [m.AIC for m in models], "BIC": [m.BIC for m in models], "logLik": ll},
                         index=names)
    ddf = np.diff(dfs)
    if np.any(ddf != 0):
        test = [""] + [f"{i} vs {i + 1}" if d != 0 else "" for i, d in enumerate(ddf, start=1)]
        lratio = [np.nan] + [2.0 * abs(b - a) if d != 0 else np.nan for a, b, d in zip(ll[:-1], ll[1:], ddf)]
        pval = [np.nan] + [chisq_upper_tail(lr, abs(int(d))) if d != 0 else np.nan for lr, d in zip(lratio[1:], ddf)]
        table["Test"] = test
        table["L.Ratio"] = lratio
        table["p-value"] = pval
    return LmeAnova(table, len(models))
