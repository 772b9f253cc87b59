"""R's formula algebra (``terms.formula``) on a right-hand side.

``expand_terms(rhs)`` turns ``a*b - a + offset(o)`` into R's ``terms`` object:
the intercept flag, the distinct variables, the terms as sets of variables
ordered by degree, R's term labels and the ``offset()`` arguments. Operators:
``+ - * / : ^ %in%``, ``0``/``1`` for the intercept, parentheses.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import FormulaError
from .expression import BinOp, Call, Name, Node, Num, Paren, Str, Unary, deparse


@dataclass
class TermsInfo:
    """R's ``terms`` object for a right-hand side.

    ``variables`` are the distinct variable expressions in order of first
    appearance; ``terms`` are tuples of variable indices (ascending), sorted by
    degree as R does (``keep.order = FALSE``); ``term_labels`` as R's
    ``attr(, "term.labels")``.
    """

    intercept: bool
    variables: list
    var_labels: list[str]
    terms: list[tuple]
    term_labels: list[str]
    offsets: list  # offset(...) argument expressions
    # variables appearing only as offset(...) are not listed in ``variables``


def _union(a: list, b: list) -> list:
    """``a`` followed by the terms of ``b`` not in ``a``."""
    out = list(a)
    for t in b:
        if t not in out:
            out.append(t)
    return out


def _interactions(left: list, right: list) -> list:
    """The distinct terms ``a:b`` for ``a`` in ``left``, ``b`` in ``right`` (R's order)."""
    return _union([], [a | b for a in left for b in right])


class _TermBuilder:
    """Encodes a right-hand side into terms (frozensets of variable indices),
    collecting the variables, the intercept flag and the ``offset()`` arguments."""

    def __init__(self, source: str):
        self.source = source
        self.variables: list = []
        self.var_labels: list[str] = []
        self._index: dict[str, int] = {}
        self.intercept = True
        self.offsets: list = []

    def var(self, node: Node) -> int:
        label = deparse(node)
        if label not in self._index:
            self._index[label] = len(self.variables)
            self.variables.append(node)
            self.var_labels.append(label)
        return self._index[label]

    def enc(self, node: Node, negate: bool = False) -> list:
        """Ordered list of terms (frozensets of variable indices)."""
        if isinstance(node, Paren):
            return self.enc(node.expr, negate)
        if isinstance(node, Num):
            if node.value == 1:
                self.intercept = not negate
                return []
            if node.value == 0:
                self.intercept = negate
                return []
            raise FormulaError(
                f"invalid model term {deparse(node)!r} in {self.source!r}: only 0 and 1 may appear as "
                f"numbers (to drop or keep the intercept); use I({deparse(node)}) for a constant"
            )
        if isinstance(node, BinOp):
            op = node.op
            if op == "+":
                return _union(self.enc(node.left, negate), self.enc(node.right, negate))
            if op == "-":
                left = self.enc(node.left, negate)
                removed = self.enc(node.right, not negate)
                return [t for t in left if t not in removed]
            if op in (":", "%in%"):
                return _interactions(self.enc(node.left, negate), self.enc(node.right, negate))
            if op == "*":
                left = self.enc(node.left, negate)
                right = self.enc(node.right, negate)
                return _union(_union(left, right), _interactions(left, right))
            if op == "/":
                left = self.enc(node.left, negate)
                right = self.enc(node.right, negate)
                allv = frozenset().union(*left) if left else frozenset()
                return _union(left, [allv | b for b in right])
            if op == "^":
                if not (isinstance(node.right, Num) and node.right.value >= 1
                        and float(node.right.value).is_integer()):
                    raise FormulaError(
                        f"invalid power in model term {deparse(node)!r} in {self.source!r}: the exponent "
                        f"must be a positive integer; for a numeric power use I({deparse(node)})"
                    )
                base = self.enc(node.left, negate)
                result = list(base)
                for _ in range(int(node.right.value) - 1):
                    result = _union(result, _interactions(result, base))
                return result
            if op in ("|", "||"):
                raise FormulaError(
                    f"random-effects term {deparse(node)!r} in {self.source!r} must be added at the top level "
                    f"of the right-hand side, e.g. 'y ~ x + ({deparse(node)})'"
                )
            if op == "~":
                raise FormulaError(f"more than one '~' in formula {self.source!r}")
        if isinstance(node, Unary):
            if node.op == "-":
                self.enc(node.operand, not negate)
                return []
            if node.op == "+":
                return self.enc(node.operand, negate)
            if node.op == "~":
                raise FormulaError(f"more than one '~' in formula {self.source!r}")
        if isinstance(node, Name) and node.id == ".":
            raise FormulaError(
                f"'.' (all other columns) is not supported in {self.source!r}; list the predictors explicitly"
            )
        if isinstance(node, Call) and node.fn == "offset":
            if len(node.args) != 1 or node.args[0][0] is not None:
                raise FormulaError(f"offset() takes exactly one argument: {deparse(node)!r} in {self.source!r}")
            self.offsets.append(node.args[0][1])
            return []
        if isinstance(node, Str):
            raise FormulaError(
                f"a string {deparse(node)!r} cannot be a model term in {self.source!r}; write the column "
                f"name without quotes (use backticks for unusual names, e.g. `my var`)"
            )
        return [frozenset([self.var(node)])]


def expand_terms(rhs: Node, source: str | None = None) -> TermsInfo:
    """R's terms expansion of a right-hand side (no bar terms allowed)."""
    b = _TermBuilder(source or deparse(rhs))
    terms = b.enc(rhs)
    terms = [t for t in terms if len(t) > 0]
    ordered = sorted(((len(t), i, tuple(sorted(t))) for i, t in enumerate(terms)))
    tt = [t for _, _, t in ordered]
    labels = [":".join(b.var_labels[v] for v in t) for t in tt]
    used = sorted({v for t in tt for v in t})
    # re-index variables to those used in terms (offset-only variables are not)
    remap = {old: new for new, old in enumerate(used)}
    variables = [b.variables[v] for v in used]
    var_labels = [b.var_labels[v] for v in used]
    tt = [tuple(remap[v] for v in t) for t in tt]
    return TermsInfo(
        intercept=b.intercept,
        variables=variables,
        var_labels=var_labels,
        terms=tt,
        term_labels=labels,
        offsets=list(b.offsets),
    )
