"""Tokenizer and parser of R's expression grammar (operator precedence as in R).

``parse_expression("y ~ x + (1 | g)")`` returns the tree of
:mod:`merx.formula.expression` nodes; malformed text raises
:class:`~merx.errors.FormulaError` with a message that points at the problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import FormulaError
from .expression import (
    BINDING_POWER,
    NOT_BP,
    RIGHT_ASSOC,
    UNARY_MINUS_BP,
    BinOp,
    Call,
    Name,
    Node,
    Num,
    Paren,
    Str,
    Unary,
    binding_power,
    deparse,
)

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
        return binding_power(t.value)

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
                return Unary(t.value, self.expr(UNARY_MINUS_BP))
            if t.value == "!":
                return Unary("!", self.expr(NOT_BP))
            if t.value == "~":
                return Unary("~", self.expr(BINDING_POWER["~"]))
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
        bp = binding_power(op)
        right = self.expr(bp - 1 if op in RIGHT_ASSOC else bp)
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
