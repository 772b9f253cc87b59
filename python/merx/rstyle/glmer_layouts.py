"""lme4-layout text for ``print()`` / ``summary()`` of a generalized linear mixed model
(lme4's ``glmerMod``), as R 4.2 with lme4 1.1-31 prints it.

A GLMM's output differs from a linear mixed model's only at the top: the title names the
approximation (lme4's ``methTitle``: "Laplace Approximation" for ``nAGQ = 1``, else
"Adaptive Gauss-Hermite Quadrature, nAGQ = k", wrapped by ``.prt.methTit`` when it passes
the console width), a `` Family:`` line follows (``.prt.family``), and the likelihood table
is always printed (a GLMM has no REML; its ``deviance`` entry is -2 log-likelihood). From
"Scaled residuals:" (the Pearson residuals) or "Random effects:" on, the lines are the
shared ones of :mod:`merx.rstyle.layouts`: the random-effects table has no ``Residual`` row
(no scale parameter) and the coefficient table carries ``z value`` and ``Pr(>|z|)`` with
the significance stars, as the summary hands it over. A family with a dispersion (Gamma,
inverse.gaussian, gaussian) has the ``Residual`` row (lme4's σ) and, as lme4 prints it,
``t value`` with ``Pr(>|z|)``.

As :mod:`merx.rstyle.layouts`, nothing here knows the result classes: results are read
through the attributes :class:`GlmmFittedLike` names.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

from .layouts import aictab_lines, print_body, prt_call, prt_meth_tit, summary_body
from .matrices import cat_fill

__all__ = ["glmm_method_title", "prt_family", "format_glmer_print", "format_glmer_summary"]


class GlmmFittedLike(Protocol):
    """A fitted GLMM as the layouts here read it (besides what
    :class:`merx.rstyle.layouts.FittedLike` names for the shared parts)."""

    nAGQ: int
    family_name: str
    link: str
    data_name: str | None
    AIC: float
    BIC: float
    logLik: float
    df_residual: int


class GlmmSummaryLike(Protocol):
    result: GlmmFittedLike


def glmm_method_title(nAGQ: int) -> str:  # noqa: N803 - lme4 name
    """lme4's ``methTitle`` of a GLMM."""
    if nAGQ == 1:
        how = "(Laplace Approximation)"
    else:
        how = f"(Adaptive Gauss-Hermite Quadrature, nAGQ = {int(nAGQ)})"
    return f"Generalized linear mixed model fit by maximum likelihood {how}"


def prt_family(family: str, link: str | None) -> list[str]:
    """lme4's ``.prt.family``: `` Family: binomial  ( logit )``."""
    items = [" Family:", str(family)]
    if link is not None:
        items.append(f" ( {link} )")
    return cat_fill(items)


def _header(res: GlmmFittedLike, formula_lines: Sequence[str], cls: str) -> list[str]:
    lines = prt_meth_tit(glmm_method_title(res.nAGQ), cls)
    lines += prt_family(res.family_name, res.link)
    lines += prt_call(res, formula_lines)
    return lines


def _aictab(res: GlmmFittedLike, digits: int) -> list[str]:
    # lme4's getLlikAIC of a GLMM: the deviance entry is -2 logLik, not deviance(fit)
    return aictab_lines([res.AIC, res.BIC, res.logLik, -2.0 * res.logLik, float(res.df_residual)], digits)


def format_glmer_print(res: Any, formula_lines: Sequence[str], digits: int = 4, cls: str = "glmerMod") -> str:
    """lme4's ``print.merMod`` output of a GLMM (ends with a newline)."""
    lines = _header(res, formula_lines, cls)
    lines += _aictab(res, 4)
    lines += print_body(res, digits)
    return "\n".join(lines) + "\n"


def format_glmer_summary(s: Any, formula_lines: Sequence[str], digits: int = 4, cls: str = "glmerMod") -> str:
    """lme4's ``print.summary.merMod`` output of a GLMM (ends with a newline)."""
    res = s.result
    lines = _header(res, formula_lines, cls)
    lines.append("")
    lines += _aictab(res, 1)
    lines.append("")
    lines += summary_body(s, digits)
    return "\n".join(lines) + "\n"
