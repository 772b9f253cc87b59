"""Parser for lme4 model formulas.

``parse_formula("Reaction ~ Days + (Days | Subject)")`` splits an lme4 formula
into its response, its fixed-effects part and its random-effects ("bar")
terms, expanding the shorthands exactly as lme4 1.1-31 does:

* ``(x || g)``  ->  ``(1 | g) + (0 + x | g)``  (``expandDoubleVerts``: one term
  per term label of ``~ x``; a factor stays one block),
* ``(1 | a/b)`` ->  ``(1 | b:a) + (1 | a)``      (``expandSlash``),
* ``(1 | a/b/c)`` -> ``(1 | c:(b:a)) + (1 | b:a) + (1 | a)``.

The module holds a small parser for R's expression grammar (operator
precedence as in R), R-style deparsing (used for term and column names) and
R's formula algebra (``terms.formula``: ``+ - * / : ^ %in%``, ``0``/``1``,
``offset()``), which :mod:`merx.model_frame` uses to build model matrices.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Union

from .errors import FormulaError

__all__ = [
    "ParsedFormula",
    "RandomTerm",
    "TermsInfo",
    "parse_formula",
    "parse_expression",
    "deparse",
    "expand_terms",
    "r_format_number",
]

# ---------------------------------------------------------------------------
# AST
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


# ---------------------------------------------------------------------------
# Deparse (R style)
# ---------------------------------------------------------------------------

# binding powers (R's precedence, low -> high)
_BP = {
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
_UNARY_MINUS_BP = 100
_NOT_BP = 40
_RIGHT_ASSOC = {"^"}
# operators R deparses without surrounding spaces (PP_BINARY2)
_NO_SPACE = {"/", "^", ":", "%%", "%/%"}

_RESERVED = {
    "if", "else", "repeat", "while", "function", "for", "next", "break",
    "TRUE", "FALSE", "NULL", "Inf", "NaN", "NA", "NA_integer_", "NA_real_",
    "NA_character_", "in",
}
_SYNTACTIC = re.compile(r"^(?:[^\W\d_]|\.(?![0-9]))[\w.]*$|^\.$")


def _bp(op: str) -> int:
    if op.startswith("%") and op not in _BP:
        return _BP["%"]
    return _BP.get(op, _BP["%"])


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
        own = _NOT_BP if node.op == "!" else (_BP["~"] if node.op == "~" else _UNARY_MINUS_BP)
        if isinstance(node.operand, BinOp) and _bp(node.operand.op) < own:
            inner = "(" + inner + ")"
        return node.op + inner
    if isinstance(node, BinOp):
        p = _bp(node.op)
        left = deparse(node.left)
        right = deparse(node.right)
        if node.op in _RIGHT_ASSOC:
            if isinstance(node.left, (BinOp, Unary)) and _node_bp(node.left) <= p:
                left = "(" + left + ")"
            if isinstance(node.right, BinOp) and _node_bp(node.right) < p:
                right = "(" + right + ")"
        else:
            if isinstance(node.left, BinOp) and _node_bp(node.left) < p:
                left = "(" + left + ")"
            if isinstance(node.right, (BinOp,)) and _node_bp(node.right) <= p:
                right = "(" + right + ")"
        if node.op in _NO_SPACE:
            return f"{left}{node.op}{right}"
        return f"{left} {node.op} {right}"
    raise TypeError(f"cannot deparse {node!r}")


def _node_bp(node: Node) -> int:
    if isinstance(node, BinOp):
        return _bp(node.op)
    if isinstance(node, Unary):
        return _NOT_BP if node.op == "!" else _UNARY_MINUS_BP
    return 1000


# ---------------------------------------------------------------------------
# Tokenizer
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tok:
    kind: str  # 'num', 'str', 'name', 'op', '(', ')', ',', '=', 'eof'
    text: str
    pos: int
    value: object = None


_NUM_RE = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?L?")
_OPS = ["||", "&&", "==", "!=", "<=", ">=", "**", "::", "|", "&", "~", "+", "-",
        "*", "/", "^", ":", "<", ">", "!"]


def _tokenize(s: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c.isspace():
            i += 1
            continue
        if c == "#":
            raise FormulaError(f"comments ('#') are not allowed in a formula: {s!r}")
        m = _NUM_RE.match(s, i)
        if m and (c.isdigit() or (c == "." and i + 1 < n and s[i + 1].isdigit())):
            text = m.group(0)
            is_int = text.endswith("L")
            val = float(text[:-1] if is_int else text)
            toks.append(_Tok("num", text, i, (val, is_int)))
            i = m.end()
            continue
        if c.isalpha() or c == "." or c == "_":
            j = i + 1
            while j < n and (s[j].isalnum() or s[j] in "._"):
                j += 1
            text = s[i:j]
            if c == "_":
                raise FormulaError(
                    f"invalid name {text!r} at position {i} in formula {s!r}: R names "
                    f"cannot start with '_'; quote it with backticks, e.g. `{text}`"
                )
            toks.append(_Tok("name", text, i, text))
            i = j
            continue
        if c == "`":
            j = s.find("`", i + 1)
            if j < 0:
                raise FormulaError(f"unterminated backtick name starting at position {i} in formula {s!r}; add a closing '`'")
            toks.append(_Tok("name", s[i:j + 1], i, s[i + 1:j]))
            i = j + 1
            continue
        if c in "\"'":
            j = i + 1
            buf = []
            while j < n and s[j] != c:
                if s[j] == "\\" and j + 1 < n:
                    buf.append(s[j + 1])
                    j += 2
                    continue
                buf.append(s[j])
                j += 1
            if j >= n:
                raise FormulaError(f"unterminated string starting at position {i} in formula {s!r}; add a closing {c}")
            toks.append(_Tok("str", s[i:j + 1], i, "".join(buf)))
            i = j + 1
            continue
        if c == "%":
            j = s.find("%", i + 1)
            if j < 0:
                raise FormulaError(f"unterminated %operator% starting at position {i} in formula {s!r}")
            toks.append(_Tok("op", s[i:j + 1], i, s[i:j + 1]))
            i = j + 1
            continue
        if c in "(),":
            toks.append(_Tok(c, c, i))
            i += 1
            continue
        if c == "=" and not s.startswith("==", i):
            toks.append(_Tok("=", "=", i))
            i += 1
            continue
        for op in _OPS:
            if s.startswith(op, i):
                val = "^" if op == "**" else op
                toks.append(_Tok("op", op, i, val))
                i += len(op)
                break
        else:
            raise FormulaError(f"unexpected character {c!r} at position {i} in formula {s!r}")
    toks.append(_Tok("eof", "", n))
    return toks


def _check_parens(s: str, toks: list[_Tok]) -> None:
    stack: list[int] = []
    for t in toks:
        if t.kind == "(":
            stack.append(t.pos)
        elif t.kind == ")":
            if not stack:
                raise FormulaError(
                    f"unbalanced parentheses in formula {s!r}: the ')' at position {t.pos} "
                    f"has no matching '('; remove it or add the missing '('\n  {s}\n  {' ' * t.pos}^"
                )
            stack.pop()
    if stack:
        p = stack[-1]
        k = len(stack)
        raise FormulaError(
            f"unbalanced parentheses in formula {s!r}: {k} '(' not closed (the one at "
            f"position {p}); add the missing ')'\n  {s}\n  {' ' * p}^"
        )


# ---------------------------------------------------------------------------
# Parser (Pratt, R precedence)
# ---------------------------------------------------------------------------


class _Parser:
    def __init__(self, s: str):
        self.s = s
        self.toks = _tokenize(s)
        _check_parens(s, self.toks)
        self.i = 0

    # helpers
    def peek(self) -> _Tok:
        return self.toks[self.i]

    def next(self) -> _Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def _where(self, pos: int) -> str:
        return f"\n  {self.s}\n  {' ' * pos}^"

    def _enclosing_paren_text(self, pos: int) -> str:
        """Text of the innermost parenthesised group around ``pos``."""
        depth = 0
        start = None
        for j in range(pos - 1, -1, -1):
            ch = self.s[j]
            if ch == ")":
                depth += 1
            elif ch == "(":
                if depth == 0:
                    start = j
                    break
                depth -= 1
        if start is None:
            return self.s
        depth = 0
        for j in range(start, len(self.s)):
            ch = self.s[j]
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth == 0:
                    return self.s[start:j + 1]
        return self.s[start:]

    def error_unexpected(self, t: _Tok) -> FormulaError:
        if t.kind == "eof":
            return FormulaError(f"formula {self.s!r} ends unexpectedly; an operand is missing at the end")
        return FormulaError(f"unexpected {t.text!r} at position {t.pos} in formula {self.s!r}{self._where(t.pos)}")

    def parse(self) -> Node:
        if self.peek().kind == "eof":
            raise FormulaError("empty formula: write it as 'response ~ predictors', e.g. 'y ~ x + (1 | g)'")
        node = self.expr(0)
        t = self.peek()
        if t.kind != "eof":
            raise self.error_unexpected(t)
        return node

    def lbp(self, t: _Tok) -> int:
        if t.kind != "op":
            return 0
        if t.value == "!":
            return 0
        return _bp(t.value)

    def expr(self, rbp: int) -> Node:
        t = self.next()
        left = self.nud(t)
        while True:
            t = self.peek()
            bp = self.lbp(t)
            if bp <= rbp:
                break
            self.next()
            left = self.led(t, left)
        return left

    def nud(self, t: _Tok) -> Node:
        if t.kind == "num":
            val, is_int = t.value
            return Num(val, is_int)
        if t.kind == "str":
            return Str(t.value)
        if t.kind == "name":
            name = t.value
            if self.peek().kind == "op" and self.peek().value == "::":
                self.next()
                t2 = self.next()
                if t2.kind != "name":
                    raise self.error_unexpected(t2)
                name = t2.value  # drop the namespace: stats::poly -> poly
            if self.peek().kind == "(":
                self.next()
                return Call(name, self.call_args(t))
            return Name(name)
        if t.kind == "(":
            if self.peek().kind == "op" and self.peek().value in ("|", "||"):
                bar = self.peek()
                raise FormulaError(
                    f"empty left-hand side in random-effects term {self._enclosing_paren_text(bar.pos)!r}: "
                    f"put the effects before '{bar.value}', e.g. '(1 {bar.value} g)' for a random intercept"
                    f"{self._where(bar.pos)}"
                )
            if self.peek().kind == ")":
                raise FormulaError(f"empty parentheses '()' at position {t.pos} in formula {self.s!r}; remove them{self._where(t.pos)}")
            inner = self.expr(0)
            close = self.next()
            if close.kind != ")":
                raise self.error_unexpected(close)
            return Paren(inner)
        if t.kind == "op":
            if t.value in ("-", "+"):
                return Unary(t.value, self.expr(_UNARY_MINUS_BP))
            if t.value == "!":
                return Unary("!", self.expr(_NOT_BP))
            if t.value == "~":
                return Unary("~", self.expr(_BP["~"]))
            if t.value in ("|", "||"):
                raise FormulaError(
                    f"empty left-hand side before '{t.value}' at position {t.pos} in formula {self.s!r}: "
                    f"random-effects terms look like '(1 | g)'{self._where(t.pos)}"
                )
        raise self.error_unexpected(t)

    def led(self, t: _Tok, left: Node) -> Node:
        op = t.value
        if op == "::":
            raise self.error_unexpected(t)
        nxt = self.peek()
        if op in ("|", "||") and (nxt.kind in (")", "eof", ",")):
            raise FormulaError(
                f"empty grouping factor in random-effects term {self._enclosing_paren_text(t.pos)!r}: "
                f"name the grouping variable after '{op}', e.g. '({deparse(left)} {op} subject)'"
                f"{self._where(t.pos)}"
            )
        if nxt.kind in (")", "eof", ","):
            raise FormulaError(
                f"operator {t.text!r} at position {t.pos} in formula {self.s!r} has no right-hand operand; "
                f"complete or remove it{self._where(t.pos)}"
            )
        bp = _bp(op)
        right = self.expr(bp - 1 if op in _RIGHT_ASSOC else bp)
        return BinOp(op, left, right)

    def call_args(self, fn_tok: _Tok) -> tuple:
        args = []
        if self.peek().kind == ")":
            self.next()
            return tuple(args)
        while True:
            name = None
            t = self.peek()
            if t.kind in ("name", "str") and self.toks[self.i + 1].kind == "=":
                name = t.value
                self.next()
                self.next()
            if self.peek().kind in (",", ")"):
                raise FormulaError(
                    f"empty argument in call to {fn_tok.value}() at position {self.peek().pos} in formula {self.s!r}"
                )
            args.append((name, self.expr(0)))
            t = self.next()
            if t.kind == ")":
                return tuple(args)
            if t.kind != ",":
                raise self.error_unexpected(t)


def parse_expression(s: str) -> Node:
    """Parse an R expression (or formula) into an AST; raises FormulaError."""
    if not isinstance(s, str):
        raise FormulaError(f"a formula must be a string, got {type(s).__name__}")
    return _Parser(s).parse()


# ---------------------------------------------------------------------------
# Formula algebra (R's terms.formula)
# ---------------------------------------------------------------------------


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


def _is_num(node: Node, v: float) -> bool:
    return isinstance(node, Num) and node.value == v


class _TermBuilder:
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

    @staticmethod
    def _union(a: list, b: list) -> list:
        out = list(a)
        for t in b:
            if t not in out:
                out.append(t)
        return out

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
                return self._union(self.enc(node.left, negate), self.enc(node.right, negate))
            if op == "-":
                left = self.enc(node.left, negate)
                removed = self.enc(node.right, not negate)
                return [t for t in left if t not in removed]
            if op in (":", "%in%"):
                left = self.enc(node.left, negate)
                right = self.enc(node.right, negate)
                out: list = []
                for a in left:
                    for b in right:
                        t = a | b
                        if t not in out:
                            out.append(t)
                return out
            if op == "*":
                left = self.enc(node.left, negate)
                right = self.enc(node.right, negate)
                inter = []
                for a in left:
                    for b in right:
                        if a | b not in inter:
                            inter.append(a | b)
                return self._union(self._union(left, right), inter)
            if op == "/":
                left = self.enc(node.left, negate)
                right = self.enc(node.right, negate)
                allv = frozenset().union(*left) if left else frozenset()
                return self._union(left, [allv | b for b in right])
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
                    new = []
                    for a in result:
                        for b in base:
                            if a | b not in new:
                                new.append(a | b)
                    result = self._union(result, new)
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


# ---------------------------------------------------------------------------
# Bar terms
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RandomTerm:
    """One random-effects term ``(lhs | group)`` after expanding ``||`` and ``/``.

    ``lhs`` and ``group`` are R-deparsed text (``"1 + Days"``, ``"ward:hospital"``);
    ``correlated`` is False only for future diagonal structures (lme4 1.1-31
    expands ``||`` into separate, individually unstructured terms, so every term
    produced here is correlated); ``source`` is the bar term as written.
    """

    lhs: str
    group: str
    correlated: bool = True
    source: str = ""
    lhs_expr: Node = field(default=None, repr=False, compare=False)
    group_expr: Node = field(default=None, repr=False, compare=False)

    @property
    def term(self) -> str:
        """``"lhs | group"`` as lme4 prints the term."""
        return f"{self.lhs} | {self.group}"

    @property
    def group_components(self) -> list:
        """Expressions whose interaction forms the grouping factor (``a:b`` -> [a, b])."""
        return _flatten_colon(self.group_expr)

    def lhs_terms(self) -> TermsInfo:
        return expand_terms(self.lhs_expr, f"({self.term})")


def _flatten_colon(node: Node) -> list:
    if isinstance(node, Paren):
        return _flatten_colon(node.expr)
    if isinstance(node, BinOp) and node.op == ":":
        return _flatten_colon(node.left) + _flatten_colon(node.right)
    return [node]


@dataclass(frozen=True)
class ParsedFormula:
    """An lme4 formula split into its parts.

    * ``formula``: the formula as given; ``response``: R text of the response
      expression (``"Reaction"``, ``"log(y)"``, ``"cbind(s, f)"``) or None;
    * ``fixed``: the right-hand side without bar terms (``"Days"``, ``"0 + x"``,
      ``"1"`` when only bar terms were given), ``offset(...)`` kept;
    * ``random``: the expanded :class:`RandomTerm` list in formula order;
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

    @property
    def fixed_formula(self) -> str:
        """The fixed-effects formula (lme4's ``nobars``)."""
        return f"{self.response} ~ {self.fixed}" if self.response else f"~{self.fixed}"

    def fixed_terms(self) -> TermsInfo:
        return expand_terms(self.fixed_expr, self.fixed_formula)

    @property
    def response_is_cbind(self) -> bool:
        return isinstance(self.response_expr, Call) and self.response_expr.fn == "cbind"


def _contains_bar(node: Node) -> bool:
    if isinstance(node, BinOp):
        if node.op in ("|", "||"):
            return True
        return _contains_bar(node.left) or _contains_bar(node.right)
    if isinstance(node, Unary):
        return _contains_bar(node.operand)
    if isinstance(node, Paren):
        return _contains_bar(node.expr)
    if isinstance(node, Call):
        return any(_contains_bar(a) for _, a in node.args)
    return False


def _split_rhs(rhs: Node, source: str):
    """Flatten the top-level sum of the rhs into (sign, node, in_parens) items."""
    items: list = []

    def walk(node: Node, sign: int, parened: bool):
        if isinstance(node, BinOp) and node.op == "+":
            walk(node.left, sign, parened)
            walk(node.right, sign, parened)
        elif isinstance(node, BinOp) and node.op == "-":
            walk(node.left, sign, parened)
            walk(node.right, -sign, parened)
        elif isinstance(node, Unary) and node.op in ("-", "+"):
            walk(node.operand, -sign if node.op == "-" else sign, parened)
        elif isinstance(node, Paren) and _contains_bar(node.expr):
            walk(node.expr, sign, True)
        else:
            items.append((sign, node, parened))

    walk(rhs, 1, False)
    return items


def _bar_outside_message(node: BinOp, source: str) -> str:
    return (
        f"'{node.op}' outside parentheses in {deparse(node)!r} (formula {source!r}): random-effects "
        f"terms must be wrapped in parentheses and added with '+', e.g. 'y ~ x + (1 {node.op} g)'"
    )


def _check_group_expr(node: Node, term_text: str) -> None:
    if _contains_bar(node):
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


def _expand_double_vert(lhs: Node, group: Node, source: str) -> list:
    """lme4 1.1-31 expandDoubleVert: (x || g) -> (1 | g) + (0 + x | g) + ..."""
    ti = expand_terms(lhs, source)
    out = []
    if ti.intercept:
        out.append(Num(1.0))
    for t in ti.terms:
        expr = ti.variables[t[0]]
        for v in t[1:]:
            expr = BinOp(":", expr, ti.variables[v])
        out.append(BinOp("+", Num(0.0), expr))
    return [(new_lhs, group) for new_lhs in out]


def _check_lhs(lhs: Node, group: Node, term_text: str) -> None:
    if _contains_bar(lhs):
        raise FormulaError(f"nested '|' in random-effects term {term_text!r}; write one bar per term, e.g. '(1 | g)'")
    ti = expand_terms(lhs, term_text)
    if ti.offsets:
        raise FormulaError(f"offset() is not allowed inside random-effects term {term_text!r}; put it in the fixed part")
    if not ti.intercept and not ti.terms:
        raise FormulaError(
            f"random-effects term {term_text!r} has no effects (no intercept and no variables); "
            f"use '(1 | {deparse(group)})' for a random intercept"
        )


def parse_formula(s: str) -> ParsedFormula:
    """Parse an lme4 formula such as ``"y ~ x + (1 + x | g) + (1 | a/b)"``.

    Raises :class:`~merx.errors.FormulaError` with a message that names the
    problem and the fix.
    """
    if not isinstance(s, str):
        raise FormulaError(
            f"the formula must be a string such as 'y ~ x + (1 | g)', got {type(s).__name__}"
        )
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
    if _contains_bar(response):
        raise FormulaError(f"the response {deparse(response)!r} of formula {s!r} contains '|'; bars belong on the right of '~'")
    for node in (response, rhs):
        if _contains_tilde(node):
            raise FormulaError(f"more than one '~' in formula {s!r}")

    items = _split_rhs(rhs, s)
    fixed_items: list = []
    bars: list = []
    for sign, node, parened in items:
        if isinstance(node, BinOp) and node.op in ("|", "||"):
            if not parened:
                raise FormulaError(_bar_outside_message(node, s))
            if sign < 0:
                raise FormulaError(
                    f"random-effects term '({deparse(node)})' is subtracted in formula {s!r}; "
                    f"random-effects terms can only be added with '+'"
                )
            bars.append(node)
        else:
            if _contains_bar(node):
                inner = _first_bar(node)
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
    random: list = []
    bar_texts: list = []
    for bar in bars:
        term_text = f"({deparse(bar)})"
        bar_texts.append(term_text)
        _check_lhs(bar.left, bar.right, term_text)
        _check_group_expr(bar.right, term_text)
        pairs = (
            _expand_double_vert(bar.left, bar.right, term_text) if bar.op == "||" else [(bar.left, bar.right)]
        )
        for lhs, grp in pairs:
            for lhs2, grp2 in _expand_slash(lhs, grp):
                random.append(
                    RandomTerm(
                        lhs=deparse(lhs2),
                        group=deparse(grp2),
                        correlated=True,
                        source=term_text,
                        lhs_expr=lhs2,
                        group_expr=grp2,
                    )
                )
    return ParsedFormula(
        formula=s,
        response=deparse(response),
        fixed=fixed_text,
        random=random,
        offset_terms=offset_terms,
        response_expr=response,
        fixed_expr=fixed_expr,
        bar_terms=bar_texts,
    )


def _contains_tilde(node: Node) -> bool:
    if isinstance(node, BinOp):
        return node.op == "~" or _contains_tilde(node.left) or _contains_tilde(node.right)
    if isinstance(node, Unary):
        return node.op == "~" or _contains_tilde(node.operand)
    if isinstance(node, Paren):
        return _contains_tilde(node.expr)
    if isinstance(node, Call):
        return any(_contains_tilde(a) for _, a in node.args)
    return False


def _first_bar(node: Node):
    if isinstance(node, BinOp):
        if node.op in ("|", "||"):
            return node
        return _first_bar(node.left) or _first_bar(node.right)
    if isinstance(node, Unary):
        return _first_bar(node.operand)
    if isinstance(node, Paren):
        return _first_bar(node.expr)
    if isinstance(node, Call):
        for _, a in node.args:
            r = _first_bar(a)
            if r is not None:
                return r
    return None
