"""lme4 model formulas: :func:`parse_formula` and :class:`ParsedFormula`.

``parse_formula("Reaction ~ Days + (Days | Subject)")`` splits an lme4 formula
into its response, its fixed-effects part and its random-effects ("bar")
terms, expanding ``||`` and ``/`` as lme4 1.1-31 does. The pieces it uses live
next door: :mod:`~merx.formula.grammar` (``parse_expression``, R's grammar),
:mod:`~merx.formula.expression` (the expression tree and ``deparse``),
:mod:`~merx.formula.terms` (R's formula algebra, ``expand_terms`` ->
``TermsInfo``, which :mod:`merx.frame` uses to build model matrices) and
:mod:`~merx.formula.random_terms` (``RandomTerm`` and the bar-term expansion).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from ..errors import FormulaError
from .expression import BinOp, Call, Node, Num, Paren, Unary, deparse, walk
from .grammar import parse_expression
from .covariance_terms import expand_structure_call, is_structure_call
from .random_terms import contains_bar, expand_bar_term, first_bar, is_bar
from .terms import TermsInfo, expand_terms

__all__ = ["ParsedFormula", "parse_formula"]


@dataclass(frozen=True)
class ParsedFormula:
    """An lme4 formula split into its parts.

    * ``formula``: the formula as given; ``response``: R text of the response
      expression (``"Reaction"``, ``"log(y)"``, ``"cbind(s, f)"``) or None;
    * ``fixed``: the right-hand side without bar terms (``"Days"``, ``"0 + x"``,
      ``"1"`` when only bar terms were given), ``offset(...)`` kept;
    * ``random``: the expanded :class:`RandomTerm` list in formula order (glmmTMB's
      covariance wrappers ``diag()``, ``cs()``, ``ar1()``, ``us()`` as each term's
      ``covariance``; :attr:`covariance_wrappers` says whether any was written);
    * ``offset_terms``: R text of the arguments of ``offset(...)`` in the fixed part.
    """

    formula: str
    response: str | None
    fixed: str
    random: list
    offset_terms: list
    response_expr: Node = field(default=None, repr=False, compare=False)
    fixed_expr: Node = field(default=None, repr=False, compare=False)
    bar_terms: list = field(default_factory=list, repr=False, compare=False)
    _fixed_terms: TermsInfo | None = field(default=None, repr=False, compare=False)

    @property
    def fixed_formula(self) -> str:
        """The fixed-effects formula (lme4's ``nobars``)."""
        return f"{self.response} ~ {self.fixed}" if self.response else f"~{self.fixed}"

    def fixed_terms(self) -> TermsInfo:
        """R's terms of the fixed part (shared by the parses of one formula string: read only)."""
        if self._fixed_terms is not None:
            return self._fixed_terms
        return expand_terms(self.fixed_expr, self.fixed_formula)

    @property
    def covariance_wrappers(self) -> list:
        """The glmmTMB wrappers written around bar terms (``["ar1"]``); lme4 has none."""
        return sorted({rt.wrapper for rt in self.random if rt.wrapper})

    @property
    def response_is_cbind(self) -> bool:
        return isinstance(self.response_expr, Call) and self.response_expr.fn == "cbind"


def _split_rhs(rhs: Node) -> list:
    """Flatten the top-level sum of the rhs into (sign, node, in_parens) items."""
    items: list = []

    def visit(node: Node, sign: int, parened: bool):
        if isinstance(node, BinOp) and node.op == "+":
            visit(node.left, sign, parened)
            visit(node.right, sign, parened)
        elif isinstance(node, BinOp) and node.op == "-":
            visit(node.left, sign, parened)
            visit(node.right, -sign, parened)
        elif isinstance(node, Unary) and node.op in ("-", "+"):
            visit(node.operand, -sign if node.op == "-" else sign, parened)
        elif isinstance(node, Paren) and contains_bar(node.expr):
            visit(node.expr, sign, True)
        else:
            items.append((sign, node, parened))

    visit(rhs, 1, False)
    return items


def _contains_tilde(node: Node) -> bool:
    return any(isinstance(sub, (BinOp, Unary)) and sub.op == "~" for sub in walk(node))


def _bar_outside_message(node: BinOp, source: str) -> str:
    return (
        f"'{node.op}' outside parentheses in {deparse(node)!r} (formula {source!r}): random-effects "
        f"terms must be wrapped in parentheses and added with '+', e.g. 'y ~ x + (1 {node.op} g)'"
    )


def parse_formula(s: str) -> ParsedFormula:
    """Parse an lme4 formula such as ``"y ~ x + (1 + x | g) + (1 | a/b)"``.

    Raises :class:`~merx.errors.FormulaError` with a message that names the
    problem and the fix. A formula string is parsed once; each call returns
    its own :class:`ParsedFormula` (the lists are copies; the expressions,
    random terms and fixed terms are shared and immutable or read only).
    """
    if not isinstance(s, str):
        raise FormulaError(
            f"the formula must be a string such as 'y ~ x + (1 | g)', got {type(s).__name__}"
        )
    parsed = _parse_formula_once(s)
    # a copy with its own lists (``dataclasses.replace`` without re-running the generated __init__)
    copy = object.__new__(ParsedFormula)
    fields = copy.__dict__
    fields.update(parsed.__dict__)
    fields["random"] = list(parsed.random)
    fields["offset_terms"] = list(parsed.offset_terms)
    fields["bar_terms"] = list(parsed.bar_terms)
    return copy


@functools.lru_cache(maxsize=256)
def _parse_formula_once(s: str) -> ParsedFormula:
    if "~" not in s:
        raise FormulaError(
            f"formula {s!r} has no '~': write it as 'response ~ predictors', e.g. 'y ~ x + (1 | g)'"
        )
    tree = parse_expression(s)
    if isinstance(tree, Unary) and tree.op == "~":
        raise FormulaError(
            f"formula {s!r} has no response: put the response variable left of '~', e.g. 'y {s.strip()}'"
        )
    if not (isinstance(tree, BinOp) and tree.op == "~"):
        raise FormulaError(
            f"formula {s!r} is not of the form 'response ~ predictors' ('~' must be the top-level operator)"
        )
    response, rhs = tree.left, tree.right
    if contains_bar(response):
        raise FormulaError(f"the response {deparse(response)!r} of formula {s!r} contains '|'; bars belong on the right of '~'")
    for node in (response, rhs):
        if _contains_tilde(node):
            raise FormulaError(f"more than one '~' in formula {s!r}")

    items = _split_rhs(rhs)
    fixed_items: list = []
    bars: list = []
    for sign, node, parened in items:
        if is_bar(node):
            if not parened:
                raise FormulaError(_bar_outside_message(node, s))
            if sign < 0:
                raise FormulaError(
                    f"random-effects term '({deparse(node)})' is subtracted in formula {s!r}; "
                    f"random-effects terms can only be added with '+'"
                )
            bars.append(node)
        elif is_structure_call(node):
            if sign < 0:
                raise FormulaError(
                    f"random-effects term {deparse(node)!r} is subtracted in formula {s!r}; "
                    f"random-effects terms can only be added with '+'"
                )
            bars.append(node)
        else:
            inner = first_bar(node)
            if inner is not None:
                raise FormulaError(
                    f"random-effects term '({deparse(inner)})' appears inside {deparse(node)!r} in formula "
                    f"{s!r}; random-effects terms must be added at the top level, e.g. 'y ~ x + (1 | g)'"
                )
            fixed_items.append((sign, node))

    # fixed part
    if not fixed_items:
        fixed_expr: Node = Num(1.0)
    else:
        fixed_expr = None
        for sign, node in fixed_items:
            if fixed_expr is None:
                fixed_expr = node if sign > 0 else Unary("-", node)
            else:
                fixed_expr = BinOp("+" if sign > 0 else "-", fixed_expr, node)
    fixed_text = deparse(fixed_expr)
    # validate the fixed part (raises FormulaError on invalid terms)
    fixed_ti = expand_terms(fixed_expr, f"{deparse(response)} ~ {fixed_text}")
    offset_terms = [deparse(o) for o in fixed_ti.offsets]

    # random part
    random = [
        term
        for bar in bars
        for term in (expand_structure_call(bar, s) if isinstance(bar, Call) else expand_bar_term(bar))
    ]
    return ParsedFormula(
        formula=s,
        response=deparse(response),
        fixed=fixed_text,
        random=random,
        offset_terms=offset_terms,
        response_expr=response,
        fixed_expr=fixed_expr,
        bar_terms=[deparse(bar) if isinstance(bar, Call) else f"({deparse(bar)})" for bar in bars],
        _fixed_terms=fixed_ti,
    )
