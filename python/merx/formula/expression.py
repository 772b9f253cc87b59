"""R expressions as a tree: the node types, R-style deparsing and R's number formatting.

:mod:`merx.r_parser` builds these trees from text; :func:`deparse` writes them
back as R does (term labels and column names are deparsed text), and
:func:`r_format_number` formats numbers as R's ``as.character`` (level labels of
numeric grouping factors).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Union

import numpy as np

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
# Number formatting as R's as.character / deparse (15 significant digits)
# ---------------------------------------------------------------------------


def r_format_number(value: float) -> str:
    """Format a number the way R's ``as.character`` does (15 significant digits).

    ``1.0 -> "1"``, ``0.1 -> "0.1"``, ``1/3 -> "0.333333333333333"``,
    ``100000 -> "1e+05"``, ``123456 -> "123456"``, ``1e-4 -> "1e-04"``.
    """
    v = float(value)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Inf" if v > 0 else "-Inf"
    if v == 0:
        return "0"
    neg = v < 0
    a = abs(v)
    # minimal number of significant digits (<= 15) that reproduces the value
    # rounded to 15 significant digits
    ref = float(f"{a:.14e}")
    nsig = 15
    for d in range(1, 16):
        if float(f"{a:.{d - 1}e}") == ref:
            nsig = d
            break
    mant, exp_s = f"{ref:.{nsig - 1}e}".split("e")
    kpower = int(exp_s)
    # widths as in R's formatReal (scipen = 0)
    exp_digits = 3 if abs(kpower) >= 100 else 2
    sci_width = (nsig + 1 if nsig > 1 else 1) + 2 + exp_digits
    rgt = max(0, nsig - kpower - 1)
    left = kpower + 1 if kpower >= 0 else 1
    fixed_width = left + (rgt + 1 if rgt > 0 else 0)
    if fixed_width <= sci_width:
        s = f"{ref:.{rgt}f}"
    else:
        sign = "-" if kpower < 0 else "+"
        s = f"{mant}e{sign}{abs(kpower):0{exp_digits}d}"
    return ("-" if neg else "") + s


def r_format_numbers(values) -> list:
    """``[r_format_number(v) for v in values]``, vectorised for whole numbers.

    A whole number below 1e15 prints in full unless its scientific form is
    shorter, which needs five or more trailing zeros: ``d00000`` (one
    significant digit) or any nonzero multiple of 10^6.
    """
    v = np.asarray(values, dtype=float).reshape(-1)
    a = np.abs(v)
    with np.errstate(invalid="ignore"):
        whole = (a < 1e15) & (v == np.trunc(v))
        scientific = (a > 0) & ((a % 1e6 == 0) | ((a % 1e5 == 0) & (a < 1e6)))
    in_full = whole & ~scientific
    if in_full.all():
        return [str(i) for i in v.astype(np.int64).tolist()]
    return [str(int(x)) if full else r_format_number(x) for x, full in zip(v.tolist(), in_full.tolist())]


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

_RESERVED = {
    "if", "else", "repeat", "while", "function", "for", "next", "break",
    "TRUE", "FALSE", "NULL", "Inf", "NaN", "NA", "NA_integer_", "NA_real_",
    "NA_character_", "in",
}
_SYNTACTIC = re.compile(r"^(?:[^\W\d_]|\.(?![0-9]))[\w.]*$|^\.$")


def binding_power(op: str) -> int:
    """R's precedence of a binary operator (any ``%op%`` binds as ``%%``)."""
    return BINDING_POWER.get(op, BINDING_POWER["%"])


def _deparse_name(name: str) -> str:
    if _SYNTACTIC.match(name) and name not in _RESERVED:
        return name
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def deparse(node: Node) -> str:
    """R-style text of an expression (as R's ``deparse``)."""
    if isinstance(node, Num):
        s = r_format_number(node.value)
        return s + "L" if node.is_integer_literal else s
    if isinstance(node, Str):
        return '"' + node.value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(node, Name):
        return _deparse_name(node.id)
    if isinstance(node, Paren):
        return "(" + deparse(node.expr) + ")"
    if isinstance(node, Call):
        parts = []
        for nm, arg in node.args:
            parts.append((f"{_deparse_name(nm)} = " if nm else "") + deparse(arg))
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
