"""Evaluation of the variables of a model formula on the data, as R would.

:class:`Evaluator` computes an expression tree (``log(x)``, ``I(x^2)``,
``factor(g)``, ``poly(x, 2)``, ``scale(x)``, ``a == "b"``, ...) over a
:class:`~merx.frame.data_source.DataSource` into a :mod:`merx.frame.values` value. The
data-dependent parameters of ``scale``/``poly`` are learnt when fitting and
reused on new data.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import DataError, FormulaError, warn_user
from ..formula.expression import BinOp, Call, Name, Num, Paren, Str, Unary, deparse, variable_names
from ..rstyle.numbers import r_format_number
from .data_source import DataSource
from .factors import Factor, format_levels
from .values import (
    DateTimeColumn,
    Logical,
    Numeric,
    NumericMatrix,
    StringConstant,
    as_factor,
    date_message,
)

CONSTANTS = {"pi": math.pi, "TRUE": True, "FALSE": False, "T": True, "F": False}


def check_columns_exist(src: DataSource, nodes: list, context: str) -> None:
    """Raise DataError naming every column the expressions use that ``src`` lacks."""
    names: list = []
    for node in nodes:
        variable_names(node, names)
    check_names_exist(src, names, context)


def check_names_exist(src: DataSource, names: list, context: str) -> None:
    """:func:`check_columns_exist` of the names the expressions use."""
    unknown = [nm for nm in names if not src.has(nm) and nm not in CONSTANTS]
    if unknown:
        raise DataError(src.unknown_message(unknown, context))


_UNARY_FUNS = {
    "log2": np.log2, "log10": np.log10, "log1p": np.log1p, "exp": np.exp, "expm1": np.expm1,
    "sqrt": np.sqrt, "abs": np.abs, "sin": np.sin, "cos": np.cos, "tan": np.tan,
    "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan, "sinh": np.sinh, "cosh": np.cosh,
    "tanh": np.tanh, "floor": np.floor, "ceiling": np.ceil, "trunc": np.trunc, "sign": np.sign,
}
_SUPPORTED = sorted(set(_UNARY_FUNS) | {"log", "I", "factor", "as.factor", "ordered", "as.numeric",
                                        "as.double", "as.integer", "scale", "poly", "round", "pmin",
                                        "pmax", "c", "cbind"})


class Evaluator:
    """Evaluates variable expressions on a data source.

    ``state`` holds data-dependent parameters (``scale`` centre/scale,
    ``poly`` coefficients) learnt when fitting (``fitting=True``) and reused
    for new data; results are cached per expression text.
    """

    def __init__(self, src: DataSource, state: dict, fitting: bool, context: str):
        self.src = src
        self.state = state
        self.fitting = fitting
        self.context = context
        self._cache: dict = {}

    def eval(self, node):
        key = deparse(node)
        if key not in self._cache:
            self._cache[key] = self._eval(node)
        return self._cache[key]

    def numeric(self, v, expr) -> np.ndarray:
        """The float values of ``v``; DataError when ``expr`` does arithmetic on a non-number."""
        if isinstance(v, (Numeric, Logical)):
            return v.values
        if isinstance(v, Factor):
            raise DataError(
                f"cannot compute {deparse(expr)!r}: it does arithmetic on a factor (levels "
                f"{format_levels(v.levels)}); use a numeric column"
            )
        if isinstance(v, NumericMatrix):
            raise DataError(f"cannot compute {deparse(expr)!r}: arithmetic on a matrix-valued term is not supported")
        if isinstance(v, StringConstant):
            raise DataError(f"cannot compute {deparse(expr)!r}: arithmetic on a string")
        if isinstance(v, DateTimeColumn):
            raise DataError(date_message(v.name))
        raise TypeError(v)

    def _eval(self, node):
        if isinstance(node, Num):
            return Numeric(np.array(node.value))
        if isinstance(node, Str):
            return StringConstant(node.value)
        if isinstance(node, Paren):
            return self.eval(node.expr)
        if isinstance(node, Name):
            if self.src.has(node.id):
                return self.src.get(node.id)
            if node.id in CONSTANTS:
                c = CONSTANTS[node.id]
                return Logical(np.array(float(c))) if isinstance(c, bool) else Numeric(np.array(c))
            raise DataError(self.src.unknown_message([node.id], self.context))
        if isinstance(node, Unary):
            v = self.eval(node.operand)
            if node.op == "-":
                return Numeric(-self.numeric(v, node))
            if node.op == "+":
                return Numeric(self.numeric(v, node))
            if node.op == "!":
                x = self.numeric(v, node)
                return Logical(np.where(np.isnan(x), np.nan, (x == 0).astype(float)))
            raise FormulaError(f"unsupported operator {node.op!r} in {deparse(node)!r}")
        if isinstance(node, BinOp):
            return self._binop(node)
        if isinstance(node, Call):
            return self._call(node)
        raise FormulaError(f"cannot evaluate {deparse(node)!r}")

    def _binop(self, node: BinOp):
        op = node.op
        if op in ("==", "!=") and (isinstance(node.left, Str) or isinstance(node.right, Str)):
            other, lit = (node.left, node.right) if isinstance(node.right, Str) else (node.right, node.left)
            v = self.eval(other)
            if isinstance(v, Factor):
                miss = v.codes < 0
                eq = np.array([lv == lit.value for lv in v.levels] + [False])[v.codes]
            else:
                raise DataError(f"cannot compare {deparse(other)!r} with a string in {deparse(node)!r}")
            res = eq if op == "==" else ~eq
            return Logical(np.where(miss, np.nan, res.astype(float)))
        a = self.numeric(self.eval(node.left), node)
        b = self.numeric(self.eval(node.right), node)
        with np.errstate(all="ignore"):
            if op == "+":
                return Numeric(a + b)
            if op == "-":
                return Numeric(a - b)
            if op == "*":
                return Numeric(a * b)
            if op == "/":
                return Numeric(a / b)
            if op == "^":
                return Numeric(np.power(a, b))
            if op == "%%":
                return Numeric(np.mod(a, b))
            if op == "%/%":
                return Numeric(np.floor_divide(a, b))
            miss = np.isnan(a) | np.isnan(b)
            if op in ("==", "!=", "<", ">", "<=", ">="):
                res = {"==": np.equal, "!=": np.not_equal, "<": np.less, ">": np.greater,
                       "<=": np.less_equal, ">=": np.greater_equal}[op](a, b)
                return Logical(np.where(miss, np.nan, res.astype(float)))
            if op in ("&", "&&"):
                return Logical(np.where(miss, np.nan, ((a != 0) & (b != 0)).astype(float)))
            if op in ("|", "||"):
                return Logical(np.where(miss, np.nan, ((a != 0) | (b != 0)).astype(float)))
        raise FormulaError(
            f"operator {op!r} is not supported inside {deparse(node)!r}; compute the variable in the data first"
        )

    def _const(self, node, what: str):
        if isinstance(node, Num):
            return node.value
        if isinstance(node, Str):
            return node.value
        if isinstance(node, Unary) and node.op == "-" and isinstance(node.operand, Num):
            return -node.operand.value
        if isinstance(node, Name) and node.id in ("TRUE", "FALSE", "T", "F") and not self.src.has(node.id):
            return node.id in ("TRUE", "T")
        if isinstance(node, Call) and node.fn == "c":
            return [self._const(a, what) for _, a in node.args]
        raise FormulaError(f"{what} must be a constant, got {deparse(node)!r}")

    def _call(self, node: Call):
        fn = node.fn
        pos = [a for nm, a in node.args if nm is None]
        kw = {nm: a for nm, a in node.args if nm is not None}
        text = deparse(node)

        def need_argument():
            if not pos:
                raise FormulaError(f"{fn}() needs an argument in {text!r}")

        if fn == "I":
            if len(node.args) != 1:
                raise FormulaError(f"I() takes one argument: {text!r}")
            v = self.eval(node.args[0][1])
            if isinstance(v, StringConstant):
                raise DataError(f"{text!r} evaluates to a string constant")
            return v
        if fn in _UNARY_FUNS:
            need_argument()
            x = self.numeric(self.eval(pos[0]), node)
            with np.errstate(all="ignore"):
                return self._nan_check(Numeric(_UNARY_FUNS[fn](x).astype(float)), x, text)
        if fn == "log":
            need_argument()
            x = self.numeric(self.eval(pos[0]), node)
            base = kw.get("base", pos[1] if len(pos) > 1 else None)
            with np.errstate(all="ignore"):
                out = np.log(x)
                if base is not None:
                    out = out / math.log(float(self._const(base, "the base of log()")))
            return self._nan_check(Numeric(out), x, text)
        if fn == "round":
            need_argument()
            x = self.numeric(self.eval(pos[0]), node)
            d = kw.get("digits", pos[1] if len(pos) > 1 else None)
            digits = int(self._const(d, "digits")) if d is not None else 0
            return Numeric(np.round(x, digits))
        if fn in ("pmin", "pmax"):
            xs = [self.numeric(self.eval(a), node) for a in pos]
            if not xs:
                raise FormulaError(f"{fn}() needs arguments in {text!r}")
            f = np.minimum if fn == "pmin" else np.maximum
            out = xs[0]
            for x in xs[1:]:
                out = f(out, x)
            return Numeric(np.asarray(out, dtype=float))
        if fn in ("as.numeric", "as.double", "as.integer"):
            need_argument()
            v = self.eval(pos[0])
            if isinstance(v, Factor):  # R: the integer codes
                x = np.where(v.codes < 0, np.nan, v.codes + 1.0)
            else:
                x = self.numeric(v, node)
            return Numeric(np.trunc(x) if fn == "as.integer" else np.asarray(x, dtype=float))
        if fn in ("factor", "as.factor", "ordered"):
            need_argument()
            v = self.eval(pos[0])
            if isinstance(v, DateTimeColumn):
                raise DataError(date_message(v.name))
            f = as_factor(v, text)
            lv = kw.get("levels", pos[1] if len(pos) > 1 else None)
            if lv is not None:
                wanted = self._const(lv, "levels")
                wanted = [wanted] if not isinstance(wanted, list) else wanted
                wanted = [r_format_number(w) if isinstance(w, float) else str(w) for w in wanted]
                index = {w: i for i, w in enumerate(wanted)}
                remap = np.array([index.get(lv_, -1) for lv_ in f.levels] + [-1], dtype=np.int64)
                f = Factor(remap[f.codes], wanted)
            return f
        if fn == "scale":
            need_argument()
            x = self.numeric(self.eval(pos[0]), node)
            center = self._const(kw["center"], "center") if "center" in kw else True
            scl = self._const(kw["scale"], "scale") if "scale" in kw else True
            key = ("scale", text)
            if self.fitting:
                ok = ~np.isnan(x)
                c = float(np.mean(x[ok])) if center is True else (float(center) if center is not False else 0.0)
                if scl is True:
                    xc = x[ok] - c
                    s = float(np.sqrt(np.sum(xc * xc) / max(ok.sum() - 1, 1)))
                else:
                    s = float(scl) if scl is not False else 1.0
                self.state[key] = (c, s)
            c, s = self.state[key]
            with np.errstate(all="ignore"):
                return Numeric((x - c) / s)
        if fn == "poly":
            return self._poly(node, pos, kw, text)
        if fn == "cbind":
            cols = [self.numeric(self.eval(a), node) for a in pos]
            n = self.src.n
            mat = np.column_stack([np.broadcast_to(c, (n,)) for c in cols]).astype(float)
            return NumericMatrix(mat, [deparse(a) for a in pos])
        if fn == "offset":
            raise FormulaError(f"offset() can only be a term of the fixed part, not used inside {text!r}")
        raise FormulaError(
            f"unsupported function {fn!r} in {text!r}: merx evaluates {', '.join(_SUPPORTED)}; "
            f"compute the variable in the data frame first and use the column"
        )

    def _nan_check(self, out: Numeric, x: np.ndarray, text: str) -> Numeric:
        """R's "NaNs produced" warning; such rows are then missing (dropped)."""
        new_nan = np.isnan(out.values) & ~np.isnan(x)
        if np.any(new_nan):
            k = int(np.sum(new_nan))
            warn_user(
                f"NaNs produced evaluating {text} ({k} row{'s' if k != 1 else ''}); "
                f"{'they are' if k != 1 else 'it is'} treated as missing",
                UserWarning,
            )
        return out

    def _poly(self, node, pos, kw, text):
        if not pos:
            raise FormulaError(f"poly() needs a variable in {text!r}")
        x = self.numeric(self.eval(pos[0]), node)
        deg_node = kw.get("degree", pos[1] if len(pos) > 1 else None)
        degree = int(self._const(deg_node, "degree")) if deg_node is not None else 1
        raw = bool(self._const(kw["raw"], "raw")) if "raw" in kw else False
        if degree < 1:
            raise FormulaError(f"'degree' must be at least 1 in {text!r}")
        names = [str(i) for i in range(1, degree + 1)]
        if raw:
            return NumericMatrix(np.column_stack([x ** d for d in range(1, degree + 1)]), names)
        key = ("poly", text)
        if self.fitting:
            xs = x[~np.isnan(x)]
            if len(np.unique(xs)) <= degree:
                raise DataError(f"'degree' must be less than number of unique points in {text!r}")
            # Stieltjes recurrence (R's poly: alpha and norm2)
            alpha = []
            norm2 = [1.0, float(len(xs))]
            p_prev = np.zeros_like(xs)
            p = np.ones_like(xs)
            for i in range(degree):
                a = float(np.sum(xs * p * p) / np.sum(p * p))
                alpha.append(a)
                beta = norm2[-1] / norm2[-2] if i > 0 else 0.0
                p_new = (xs - a) * p - beta * p_prev
                p_prev, p = p, p_new
                norm2.append(float(np.sum(p * p)))
            self.state[key] = (alpha, norm2)
        alpha, norm2 = self.state[key]
        n = x.shape[0]
        Z = np.ones((n, degree + 1))
        Z[:, 1] = x - alpha[0]
        for i in range(1, degree):
            Z[:, i + 1] = (x - alpha[i]) * Z[:, i] - (norm2[i + 1] / norm2[i]) * Z[:, i - 1]
        Z = Z[:, 1:] / np.sqrt(np.asarray(norm2[2:]))
        return NumericMatrix(Z, names)

