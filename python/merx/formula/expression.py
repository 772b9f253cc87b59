"""R expressions as a tree: the node types, R's operator precedence and
R-style deparsing.

:mod:`merx.formula.grammar` builds these trees from text; :func:`deparse`
writes them back on one line as R does (term labels and column names are
deparsed text; numbers and names as :mod:`merx.rstyle` formats them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from ..rstyle.names import deparse_name
from ..rstyle.numbers import r_format_number

# ---------------------------------------------------------------------------
# Node types
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Num:
    value: float
    is_integer_literal: bool = False  # R's ``2L``


@dataclass(frozen=True)
class Str:
    value: str


@dataclass(frozen=True)
class Name:
    id: str


@dataclass(frozen=True)
class Call:
    fn: str
    # positional and named arguments in the order written: (name or None, node)
    args: tuple


@dataclass(frozen=True)
class BinOp:
    op: str
    left: "Node"
    right: "Node"


@dataclass(frozen=True)
class Unary:
    op: str
    operand: "Node"


@dataclass(frozen=True)
class Paren:
    expr: "Node"


Node = Union[Num, Str, Name, Call, BinOp, Unary, Paren]

# ---------------------------------------------------------------------------
# Deparse (R style)
# ---------------------------------------------------------------------------

# binding powers (R's precedence, low -> high)
BINDING_POWER = {
    "~": 10,
    "||": 20,
    "|": 20,
    "&&": 30,
    "&": 30,
    "==": 50,
    "!=": 50,
    "<": 50,
    ">": 50,
    "<=": 50,
    ">=": 50,
    "+": 60,
    "-": 60,
    "*": 70,
    "/": 70,
    "%": 80,  # any %op%
    ":": 90,
    "^": 110,
}
UNARY_MINUS_BP = 100
NOT_BP = 40
RIGHT_ASSOC = {"^"}
# operators R deparses without surrounding spaces (PP_BINARY2)
_NO_SPACE = {"/", "^", ":", "%%", "%/%"}


def binding_power(op: str) -> int:
    """R's precedence of a binary operator (any ``%op%`` binds as ``%%``)."""
    return BINDING_POWER.get(op, BINDING_POWER["%"])


def deparse(node: Node) -> str:
    """R-style text of an expression (as R's ``deparse``)."""
    if isinstance(node, Num):
        s = r_format_number(node.value)
        return s + "L" if node.is_integer_literal else s
    if isinstance(node, Str):
        return '"' + node.value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(node, Name):
        return deparse_name(node.id)
    if isinstance(node, Paren):
        return "(" + deparse(node.expr) + ")"
    if isinstance(node, Call):
        parts = []
        for nm, arg in node.args:
            parts.append((f"{deparse_name(nm)} = " if nm else "") + deparse(arg))
        return f"{node.fn}({', '.join(parts)})"
    if isinstance(node, Unary):
        inner = deparse(node.operand)
        own = NOT_BP if node.op == "!" else (BINDING_POWER["~"] if node.op == "~" else UNARY_MINUS_BP)
        if isinstance(node.operand, BinOp) and binding_power(node.operand.op) < own:
            inner = "(" + inner + ")"
        return node.op + inner
    if isinstance(node, BinOp):
        p = binding_power(node.op)
        left = deparse(node.left)
        right = deparse(node.right)
        if node.op in RIGHT_ASSOC:
            if isinstance(node.left, (BinOp, Unary)) and _node_binding_power(node.left) <= p:
                left = "(" + left + ")"
            if isinstance(node.right, BinOp) and _node_binding_power(node.right) < p:
                right = "(" + right + ")"
        else:
            if isinstance(node.left, BinOp) and _node_binding_power(node.left) < p:
                left = "(" + left + ")"
            if isinstance(node.right, (BinOp,)) and _node_binding_power(node.right) <= p:
                right = "(" + right + ")"
        if node.op in _NO_SPACE:
            return f"{left}{node.op}{right}"
        return f"{left} {node.op} {right}"
    raise TypeError(f"cannot deparse {node!r}")


def _node_binding_power(node: Node) -> int:
    if isinstance(node, BinOp):
        return binding_power(node.op)
    if isinstance(node, Unary):
        return NOT_BP if node.op == "!" else UNARY_MINUS_BP
    return 1000


def walk(node: Node):
    """The nodes of an expression, each before its operands, left to right."""
    yield node
    if isinstance(node, BinOp):
        yield from walk(node.left)
        yield from walk(node.right)
    elif isinstance(node, Unary):
        yield from walk(node.operand)
    elif isinstance(node, Paren):
        yield from walk(node.expr)
    elif isinstance(node, Call):
        for _, arg in node.args:
            yield from walk(arg)


def variable_names(node: Node, out: list) -> list:
    """Append the names an expression refers to (in order of first appearance) to ``out``."""
    for sub in walk(node):
        if isinstance(sub, Name) and sub.id not in out:
            out.append(sub.id)
    return out
