"""R's ``deparse()`` with its line breaking (``width.cutoff = 60``), and the
formula as lme4 keeps it in the call (``||`` expanded by ``expandDoubleVerts``),
as the ``Formula:`` line of lme4's printed output shows it.

Works on the expression trees of :mod:`merx.formula.expression`.
"""

from __future__ import annotations

from .expression import BinOp, Call, Name, Paren, Unary, deparse
from .grammar import parse_expression
from .random_terms import double_vert_lhs

__all__ = ["deparse_lines", "formula_lines"]


class _Deparser:
    def __init__(self, cutoff: int = 60):
        self.cutoff = cutoff
        self.lines: list[str] = []
        self.buf = ""
        self.len = 0
        self.indent = 0
        self.startline = True

    def put(self, s: str) -> None:
        if self.startline:
            self.startline = False
            for i in range(1, self.indent + 1):
                tab = "    " if i <= 4 else "  "
                self.buf += tab
                self.len += len(tab)
        self.buf += s
        self.len += len(s)

    def writeline(self) -> None:
        self.lines.append(self.buf)
        self.buf = ""
        self.len = 0
        self.startline = True

    def linebreak(self, state: list) -> None:
        if self.len > self.cutoff:
            if not state[0]:
                state[0] = True
                self.indent += 1
            self.writeline()

    def node(self, n) -> None:
        if isinstance(n, Paren):
            self.put("(")
            self.node(n.expr)
            self.put(")")
        elif isinstance(n, BinOp):
            if n.op in ("/", "^", ":", "%%", "%/%"):
                self.node(n.left)
                self.put(n.op)
                self.node(n.right)
            else:
                state = [False]
                self.node(n.left)
                self.put(" " + n.op + " ")
                self.linebreak(state)
                self.node(n.right)
                if state[0]:
                    self.indent -= 1
        elif isinstance(n, Unary):
            self.put(n.op)
            self.node(n.operand)
        elif isinstance(n, Call):
            self.put(n.fn + "(")
            state = [False]
            for k, (nm, arg) in enumerate(n.args):
                if nm:
                    self.put(deparse(Name(nm)) + " = ")
                self.node(arg)
                if k < len(n.args) - 1:
                    self.put(", ")
                    self.linebreak(state)
            if state[0]:
                self.indent -= 1
            self.put(")")
        else:
            self.put(deparse(n))

    def result(self) -> list[str]:
        if self.buf or not self.lines:
            self.writeline()
        return self.lines


def deparse_lines(node, cutoff: int = 60) -> list[str]:
    """R's ``deparse(expr)``: the character vector of lines (``width.cutoff = 60``)."""
    d = _Deparser(cutoff)
    d.node(node)
    return d.result()


def _expand_double_verts(node):
    """lme4's ``expandDoubleVerts`` on the formula rhs, as ``lmer`` stores the call."""
    if isinstance(node, BinOp) and node.op == "||":
        out = None
        for lhs in double_vert_lhs(node.left, deparse(node)):
            term = Paren(BinOp("|", lhs, node.right))
            out = term if out is None else BinOp("+", out, term)
        return out
    if isinstance(node, Paren):
        return Paren(_expand_double_verts(node.expr))
    if isinstance(node, BinOp):
        return BinOp(node.op, _expand_double_verts(node.left), _expand_double_verts(node.right))
    if isinstance(node, Unary):
        return Unary(node.op, _expand_double_verts(node.operand))
    return node


def formula_lines(formula: str, cutoff: int = 60) -> list[str]:
    """The deparsed lines of a formula as lme4 keeps it in the call.

    ``||`` terms are expanded as lme4's ``expandDoubleVerts`` does; spacing is
    R's (``a ~ b + c:d``). A formula that cannot be parsed is returned as is.
    ``cutoff`` is deparse's ``width.cutoff`` (R's ``deparse1`` uses 500 and joins the
    lines with a space).
    """
    try:
        tree = parse_expression(formula)
        if isinstance(tree, BinOp) and tree.op == "~":
            tree = BinOp("~", tree.left, _expand_double_verts(tree.right))
        return deparse_lines(tree, cutoff)
    except Exception:  # noqa: BLE001 - printing must never fail on a formula
        return [" ".join(str(formula).split())]

