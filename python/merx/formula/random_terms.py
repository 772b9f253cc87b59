"""Random-effects ("bar") terms: ``(lhs | group)`` and their lme4 shorthands.

``expand_bar_term`` validates one bar term and expands it exactly as lme4
1.1-31 does:

* ``(x || g)``  ->  ``(1 | g) + (0 + x | g)``  (``expandDoubleVerts``: one term
  per term label of ``~ x``; a factor stays one block),
* ``(1 | a/b)`` ->  ``(1 | b:a) + (1 | a)``      (``expandSlash``),
* ``(1 | a/b/c)`` -> ``(1 | c:(b:a)) + (1 | b:a) + (1 | a)``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from ..errors import FormulaError
from .expression import BinOp, Call, Name, Node, Num, Paren, deparse, walk
from .terms import TermsInfo, expand_terms


def is_bar(node: Node) -> bool:
    """Whether ``node`` is a bar term ``lhs | group`` or ``lhs || group``."""
    return isinstance(node, BinOp) and node.op in ("|", "||")


def first_bar(node: Node):
    """The first bar term inside an expression, or None."""
    return next((sub for sub in walk(node) if is_bar(sub)), None)


def contains_bar(node: Node) -> bool:
    return first_bar(node) is not None


@dataclass(frozen=True)
class RandomTerm:
    """One random-effects term ``(lhs | group)`` after expanding ``||`` and ``/``.

    ``lhs`` and ``group`` are R-deparsed text (``"1 + Days"``, ``"ward:hospital"``);
    ``covariance`` is the core's name of the term's covariance structure: lme4's terms
    are ``"unstructured"`` (lme4 1.1-31 expands ``||`` into separate, individually
    unstructured terms), glmmTMB's wrappers ``diag()``, ``cs()`` and ``ar1()`` (see
    :mod:`~merx.formula.covariance_terms`) give ``"diagonal"``,
    ``"heterogeneous_compound_symmetry"`` and ``"ar1"``; ``wrapper`` is the wrapper as
    written (``""`` for a plain bar term); ``source`` is the bar term as written.
    """

    lhs: str
    group: str
    covariance: str = "unstructured"
    wrapper: str = ""
    source: str = ""
    lhs_expr: Node = field(default=None, repr=False, compare=False)
    group_expr: Node = field(default=None, repr=False, compare=False)

    @property
    def correlated(self) -> bool:
        """Whether the structure has correlations between the term's columns."""
        return self.covariance != "diagonal"

    @property
    def term(self) -> str:
        """``"lhs | group"`` as lme4 prints the term."""
        return f"{self.lhs} | {self.group}"

    @property
    def group_components(self) -> list:
        """Expressions whose interaction forms the grouping factor (``a:b`` -> [a, b])."""
        return _flatten_colon(self.group_expr)

    def lhs_terms(self) -> TermsInfo:
        """R's terms of the left-hand side (computed once: read only)."""
        return self._lhs_terms

    @functools.cached_property
    def _lhs_terms(self) -> TermsInfo:
        return expand_terms(self.lhs_expr, f"({self.term})")


def _flatten_colon(node: Node) -> list:
    if isinstance(node, Paren):
        return _flatten_colon(node.expr)
    if isinstance(node, BinOp) and node.op == ":":
        return _flatten_colon(node.left) + _flatten_colon(node.right)
    return [node]


def _check_group_expr(node: Node, term_text: str) -> None:
    if contains_bar(node):
        raise FormulaError(f"grouping factor of {term_text!r} contains a '|'; write one bar per term, e.g. '(1 | g)'")
    for comp in _flatten_colon(node):
        if isinstance(comp, Paren):
            comp = comp.expr
        if isinstance(comp, BinOp) and comp.op == "/":
            continue
        if isinstance(comp, (Name, Call)):
            continue
        raise FormulaError(
            f"grouping factor {deparse(node)!r} in random-effects term {term_text!r} must be a column name, "
            f"an interaction 'a:b' or a nesting 'a/b'"
        )


def _slash_terms(node: Node):
    """lme4's slashTerms: nested list of the '/'-separated parts (or the node)."""
    if isinstance(node, Paren) and _has_slash(node.expr):
        node = node.expr
    if not _has_slash(node):
        return node
    if not (isinstance(node, BinOp) and node.op == "/"):
        raise FormulaError(f"unparseable grouping factor {deparse(node)!r}: use 'a/b' for b nested in a")
    return [_slash_terms(node.left), _slash_terms(node.right)]


def _has_slash(node: Node) -> bool:
    if isinstance(node, BinOp):
        return node.op == "/" or _has_slash(node.left) or _has_slash(node.right)
    if isinstance(node, Paren):
        return _has_slash(node.expr)
    return False


def _make_interaction(x):
    """lme4's makeInteraction: [a, b] -> [b:a, a]; [[a, b], c] -> [c:(b:a), [b:a, a]]."""
    if not isinstance(x, list):
        return x
    trm1 = _make_interaction(x[0])
    trm11 = trm1[0] if isinstance(trm1, list) else trm1
    return [BinOp(":", x[1], trm11), trm1]


def _flatten_list(x) -> list:
    if isinstance(x, list):
        out = []
        for e in x:
            out.extend(_flatten_list(e))
        return out
    return [x]


def _expand_slash(lhs: Node, group: Node) -> list:
    st = _slash_terms(group)
    if not isinstance(st, list):
        return [(lhs, group)]
    return [(lhs, g) for g in _flatten_list(_make_interaction(st))]


def double_vert_lhs(lhs: Node, source: str) -> list:
    """The left-hand sides lme4 1.1-31's expandDoubleVert makes of ``(lhs || g)``:
    ``1``, ``0 + x``, ... (one per term of ``lhs``)."""
    ti = expand_terms(lhs, source)
    out = []
    if ti.intercept:
        out.append(Num(1.0))
    for t in ti.terms:
        expr = ti.variables[t[0]]
        for v in t[1:]:
            expr = BinOp(":", expr, ti.variables[v])
        out.append(BinOp("+", Num(0.0), expr))
    return out


def _expand_double_vert(lhs: Node, group: Node, source: str) -> list:
    """lme4 1.1-31 expandDoubleVert: (x || g) -> (1 | g) + (0 + x | g) + ..."""
    return [(new_lhs, group) for new_lhs in double_vert_lhs(lhs, source)]


def _check_lhs(lhs: Node, group: Node, term_text: str) -> None:
    if contains_bar(lhs):
        raise FormulaError(f"nested '|' in random-effects term {term_text!r}; write one bar per term, e.g. '(1 | g)'")
    ti = expand_terms(lhs, term_text)
    if ti.offsets:
        raise FormulaError(f"offset() is not allowed inside random-effects term {term_text!r}; put it in the fixed part")
    if not ti.intercept and not ti.terms:
        raise FormulaError(
            f"random-effects term {term_text!r} has no effects (no intercept and no variables); "
            f"use '(1 | {deparse(group)})' for a random intercept"
        )



def expand_bar_term(bar: BinOp, covariance: str = "unstructured", wrapper: str = "") -> list:
    """The :class:`RandomTerm` list of one bar term as written (``||`` and ``/`` expanded),
    each with the covariance structure ``covariance`` (a wrapper's, see
    :mod:`~merx.formula.covariance_terms`)."""
    term_text = f"{wrapper}({deparse(bar)})"
    _check_lhs(bar.left, bar.right, term_text)
    _check_group_expr(bar.right, term_text)
    pairs = _expand_double_vert(bar.left, bar.right, term_text) if bar.op == "||" else [(bar.left, bar.right)]
    return [
        RandomTerm(
            lhs=deparse(lhs2),
            group=deparse(grp2),
            covariance=covariance,
            wrapper=wrapper,
            source=term_text,
            lhs_expr=lhs2,
            group_expr=grp2,
        )
        for lhs, grp in pairs
        for lhs2, grp2 in _expand_slash(lhs, grp)
    ]
