"""nlme's one-sided formulas: ``random = ~x | g`` (and nested ``~1 | a/b``) as lme4 bar terms,
and the variance function ``varIdent(form = ~1 | s)``.

nlme writes the random effects apart from the fixed part; ``~x | g`` means what lme4's
``(x | g)`` means (an intercept unless ``0 +`` or ``- 1``), and ``~1 | a/b`` what ``(1 | a/b)``
means (``a`` and ``b`` within ``a``), so :func:`lme4_formula` joins them into one lme4
formula for :mod:`merx.frame`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import FormulaError
from .expression import BinOp, Name, Node, deparse
from .grammar import parse_expression


def _one_sided(text: str, what: str) -> Node:
    if not isinstance(text, str):
        raise FormulaError(f"{what} must be a one-sided formula string such as '~1 | g', not {type(text).__name__}")
    s = text.strip()
    if not s.startswith("~"):
        raise FormulaError(f"{what} {text!r} must be a one-sided formula starting with '~', e.g. '~1 | g'")
    body = parse_expression(s[1:])
    if not (isinstance(body, BinOp) and body.op == "|"):
        raise FormulaError(f"{what} {text!r} needs a grouping part after '|', e.g. '~1 | g'")
    return body


def lme4_formula(fixed: str, random: str) -> str:
    """nlme's ``fixed`` and ``random`` as one lme4 formula: ``y ~ x`` and ``~x | g`` give
    ``y ~ x + (x | g)``."""
    if not isinstance(fixed, str) or "~" not in fixed:
        raise FormulaError(f"fixed must be a two-sided formula string such as 'y ~ x', not {fixed!r}")
    if "|" in fixed:
        raise FormulaError(f"fixed {fixed!r} has a '|': nlme takes the random effects in random=, e.g. random='~1 | g'")
    bar = _one_sided(random, "random")
    return f"{fixed} + ({deparse(bar.left)} | {deparse(bar.right)})"


@dataclass(frozen=True)
class VarIdent:
    """nlme's ``varIdent(form = ~1 | s)``: one residual standard deviation per stratum of
    ``s`` (an interaction ``s1 * s2`` crosses several variables), relative to the first
    stratum's. ``strata`` are the variable names."""

    form: str
    strata: tuple

    def __str__(self) -> str:
        return f"varIdent(form = {self.form})"


def _names(node: Node, form: str) -> list:
    if isinstance(node, Name):
        return [node.id]
    if isinstance(node, BinOp) and node.op == "*":
        return _names(node.left, form) + _names(node.right, form)
    raise FormulaError(
        f"varIdent(form = {form!r}): the stratum must be a variable or variables joined by '*', not {deparse(node)!r}"
    )


def varIdent(form: str = "~1") -> VarIdent:  # noqa: N802 - nlme's name
    """nlme's ``varIdent``: ``varIdent(form="~1 | occasion")`` estimates the residual SD of
    every stratum of ``occasion`` relative to the first (nlme's reference stratum).

    Parameters
    ----------
    form : str
        ``"~1 | s"``: the stratifying variable(s) after the bar.

    Returns
    -------
    VarIdent
        The specification, for ``weights=`` of :func:`merx.lme` and :func:`merx.gls`.

    Raises
    ------
    FormulaError
        A malformed ``form`` or one with a covariate before the bar.
    """
    bar = _one_sided(form, "varIdent form")
    if deparse(bar.left) != "1":
        raise FormulaError(f"varIdent(form = {form!r}): merx takes the form '~1 | stratum' (no covariate before '|')")
    return VarIdent(form=f"~1 | {deparse(bar.right)}", strata=tuple(_names(bar.right, form)))
