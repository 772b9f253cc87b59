"""Model frame: turn a parsed formula and a data frame into y, X and the
random-effects blocks, with R/lme4 semantics.

* missing values: rows with a missing value in any variable the model uses
  (response, fixed predictors, random-effect slopes, grouping factors,
  weights, offset) are dropped (``na.omit``);
* factors: pandas Categoricals keep their level order; strings, objects and
  booleans become factors with sorted levels; numeric grouping variables become
  factors with numerically sorted levels labelled as R prints numbers; levels
  that do not occur in the used rows are dropped (``drop.unused.levels``);
* fixed effects: R's ``model.matrix`` (terms ordered by degree, treatment
  contrasts with the first level as reference, R's rule for full dummy coding,
  R column names such as ``(Intercept)``, ``sexfemale``, ``age:sexfemale``);
  aliased columns are dropped as lme4 does (LINPACK pivoted QR, tol 1e-7);
* random effects: one block per expanded bar term, in lme4's ``mkReTrms``
  order, with lme4's checks on the number of levels and random effects.
"""

from __future__ import annotations

import difflib
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .errors import DataError, FormulaError
from .formula import (
    BinOp,
    Call,
    Name,
    Num,
    Paren,
    ParsedFormula,
    Str,
    TermsInfo,
    Unary,
    deparse,
    expand_terms,
    parse_formula,
    r_format_number,
)

__all__ = ["ModelFrame", "RandomEffectBlock", "build_model_frame"]


# ---------------------------------------------------------------------------
# Values produced by evaluating R expressions on the data
# ---------------------------------------------------------------------------


@dataclass
class _NumV:
    values: np.ndarray  # float64, (n,) or () for a scalar; NaN = missing


@dataclass
class _LogV:
    values: np.ndarray  # float64 0/1, NaN = missing (R logical)


@dataclass
class _FacV:
    codes: np.ndarray  # int64 (n,), -1 = missing
    levels: list


@dataclass
class _MatV:
    values: np.ndarray  # float64 (n, k)
    colnames: list


@dataclass
class _StrV:
    value: str  # a string literal


def _missing(v) -> np.ndarray:
    if isinstance(v, (_NumV, _LogV)):
        return np.isnan(v.values)
    if isinstance(v, _FacV):
        return v.codes < 0
    if isinstance(v, _MatV):
        return np.isnan(v.values).any(axis=1)
    raise TypeError(v)


def _subset(v, keep: np.ndarray):
    if isinstance(v, _NumV):
        return _NumV(v.values[keep])
    if isinstance(v, _LogV):
        return _LogV(v.values[keep])
    if isinstance(v, _FacV):
        return _drop_unused(_FacV(v.codes[keep], v.levels))
    if isinstance(v, _MatV):
        return _MatV(v.values[keep], v.colnames)
    raise TypeError(v)


def _drop_unused(f: _FacV) -> _FacV:
    L = len(f.levels)
    present = np.zeros(L, dtype=bool)
    ok = f.codes >= 0
    present[f.codes[ok]] = True
    if present.all():
        return f
    new_index = np.cumsum(present) - 1
    codes = np.where(ok, new_index[np.where(ok, f.codes, 0)], -1).astype(np.int64)
    return _FacV(codes, [lv for lv, p in zip(f.levels, present) if p])


def _labels_for_categories(cats) -> list:
    if pd.api.types.is_bool_dtype(cats.dtype):
        return ["TRUE" if c else "FALSE" for c in cats]
    if pd.api.types.is_numeric_dtype(cats.dtype):
        return [r_format_number(c) for c in cats]
    return [str(c) for c in cats]


def _factor_from_labels(labels: np.ndarray, missing: np.ndarray) -> _FacV:
    """Factor with sorted unique levels from an object array of strings."""
    present = labels[~missing]
    levels = sorted(set(present.tolist()))
    cat = pd.Categorical(np.where(missing, None, labels), categories=levels)
    return _FacV(np.asarray(cat.codes, dtype=np.int64), levels)


def _factor_from_numbers(values: np.ndarray) -> _FacV:
    """R's factor() of a numeric vector: numerically sorted levels, R labels."""
    values = np.asarray(values, dtype=float)
    miss = np.isnan(values)
    uniq, inv = np.unique(values[~miss], return_inverse=True)
    codes = np.full(values.shape[0], -1, dtype=np.int64)
    codes[~miss] = inv
    return _FacV(codes, [r_format_number(u) for u in uniq])


def _as_factor(v, what: str) -> _FacV:
    if isinstance(v, _FacV):
        return v
    if isinstance(v, _LogV):
        codes = np.where(np.isnan(v.values), -1, v.values).astype(np.int64)
        return _drop_unused(_FacV(codes, ["FALSE", "TRUE"]))
    if isinstance(v, _NumV):
        vals = np.broadcast_to(v.values, v.values.shape) if v.values.ndim else v.values
        return _factor_from_numbers(vals)
    raise DataError(f"{what} cannot be used as a factor (it evaluates to a matrix)")


# ---------------------------------------------------------------------------
# Data access
# ---------------------------------------------------------------------------


def _series_to_value(s: pd.Series, name: str):
    dt = s.dtype
    if isinstance(dt, pd.CategoricalDtype):
        codes = np.asarray(s.cat.codes.to_numpy(), dtype=np.int64)
        return _FacV(codes, _labels_for_categories(s.cat.categories))
    if pd.api.types.is_bool_dtype(dt):
        return _LogV(s.to_numpy(dtype=float, na_value=np.nan))
    if pd.api.types.is_datetime64_any_dtype(dt) or pd.api.types.is_timedelta64_dtype(dt):
        return _DateColumn(name)
    if pd.api.types.is_complex_dtype(dt):
        raise DataError(f"column {name!r} is complex-valued; merx needs real numbers")
    if pd.api.types.is_numeric_dtype(dt):
        return _NumV(s.to_numpy(dtype=float, na_value=np.nan))
    # strings, objects, pyarrow strings, ...
    missing = np.asarray(pd.isna(s), dtype=bool)
    values = s.to_numpy(dtype=object, na_value=None)
    kind = pd.api.types.infer_dtype(values[~missing], skipna=True) if (~missing).any() else "empty"
    if kind == "boolean":
        out = np.full(len(values), np.nan)
        out[~missing] = values[~missing].astype(bool).astype(float)
        return _LogV(out)
    if kind in ("integer", "floating", "mixed-integer-float", "decimal"):
        out = np.full(len(values), np.nan)
        out[~missing] = values[~missing].astype(float)
        return _NumV(out)
    if kind == "empty":
        return _NumV(np.full(len(values), np.nan))
    if kind in ("datetime", "datetime64", "date", "timedelta", "timedelta64", "time", "period"):
        return _DateColumn(name)
    if kind != "string":
        labels = np.array([None if m else str(v) for v, m in zip(values, missing)], dtype=object)
    else:
        labels = values
    return _factor_from_labels(labels, missing)


@dataclass
class _DateColumn:
    name: str


def _native_to_pandas(data) -> pd.DataFrame:
    """Convert a polars (or other narwhals-supported) frame to pandas, keeping
    categorical level order, without needing pyarrow."""
    import narwhals as nw

    try:
        df = nw.from_native(data, eager_only=True)
    except TypeError:
        raise DataError(
            f"data must be a pandas or polars DataFrame or a dict of columns, got {type(data).__name__}"
        ) from None
    cols = {}
    for name in df.columns:
        s = df[name]
        dtype = s.dtype
        values = s.to_numpy()
        if isinstance(dtype, nw.Enum) or dtype == nw.Enum:
            cats = list(dtype.categories)
            cols[name] = pd.Categorical(values, categories=cats)
        elif dtype == nw.Categorical:
            present = sorted({v for v in values.tolist() if v is not None})
            cols[name] = pd.Categorical(values, categories=present)
        elif dtype == nw.Boolean:
            nulls = s.is_null().to_numpy()
            if nulls.any():
                cols[name] = pd.array([None if m else bool(v) for v, m in zip(values, nulls)], dtype="boolean")
            else:
                cols[name] = np.asarray(values, dtype=bool)
        elif dtype.is_numeric():
            nulls = s.is_null().to_numpy()
            arr = np.array(values, dtype=float, copy=True)
            arr[nulls] = np.nan
            cols[name] = arr
        else:
            cols[name] = pd.Series(values, dtype=object)
    return pd.DataFrame(cols)


def _to_pandas(data, what: str = "data") -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        if not data.columns.is_unique:
            dup = data.columns[data.columns.duplicated()].tolist()
            raise DataError(f"{what} has duplicated column names {dup}; rename them")
        return data
    if isinstance(data, dict):
        try:
            return pd.DataFrame({str(k): (np.asarray(v) if not isinstance(v, pd.Series) else v.to_numpy())
                                 if not isinstance(v, (pd.Categorical,)) else v for k, v in data.items()})
        except ValueError as e:
            raise DataError(f"{what} given as a dict must hold columns of equal length: {e}") from None
    if data is None:
        raise DataError(f"no {what} given: pass a pandas or polars DataFrame or a dict of columns")
    return _native_to_pandas(data)


class _Source:
    """Column lookup with caching and R-style special names."""

    def __init__(self, df: pd.DataFrame, what: str = "data"):
        self.df = df
        self.what = what
        self.n = len(df)
        self.columns = [str(c) for c in df.columns]
        self._colmap = {str(c): c for c in df.columns}
        self._cache: dict = {}

    def has(self, name: str) -> bool:
        return name in self._colmap

    def get(self, name: str):
        if name not in self._cache:
            self._cache[name] = _series_to_value(self.df[self._colmap[name]], name)
        return self._cache[name]

    def unknown_message(self, names: list, context: str) -> str:
        parts = []
        lower = {c.lower(): c for c in self.columns}
        for nm in names:
            close = difflib.get_close_matches(nm, self.columns, n=3, cutoff=0.6)
            if nm.lower() in lower and lower[nm.lower()] not in close:
                close.insert(0, lower[nm.lower()])
            hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
            parts.append(f"{nm!r}{hint}")
        cols = ", ".join(self.columns[:30]) + (", ..." if len(self.columns) > 30 else "")
        s = "s" if len(names) > 1 else ""
        return (
            f"column{s} {', '.join(parts)} used in {context} not found in {self.what}; "
            f"check the spelling or add the column. Available columns: {cols}"
        )


_CONSTANTS = {"pi": math.pi, "TRUE": True, "FALSE": False, "T": True, "F": False}


def _names_in(node, out: list) -> list:
    if isinstance(node, Name):
        if node.id not in out:
            out.append(node.id)
    elif isinstance(node, BinOp):
        _names_in(node.left, out)
        _names_in(node.right, out)
    elif isinstance(node, Unary):
        _names_in(node.operand, out)
    elif isinstance(node, Paren):
        _names_in(node.expr, out)
    elif isinstance(node, Call):
        for _, a in node.args:
            _names_in(a, out)
    return out


# ---------------------------------------------------------------------------
# Evaluator of R expressions
# ---------------------------------------------------------------------------

_UNARY_FUNS = {
    "log2": np.log2, "log10": np.log10, "log1p": np.log1p, "exp": np.exp, "expm1": np.expm1,
    "sqrt": np.sqrt, "abs": np.abs, "sin": np.sin, "cos": np.cos, "tan": np.tan,
    "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan, "sinh": np.sinh, "cosh": np.cosh,
    "tanh": np.tanh, "floor": np.floor, "ceiling": np.ceil, "trunc": np.trunc, "sign": np.sign,
}
_SUPPORTED = sorted(set(_UNARY_FUNS) | {"log", "I", "factor", "as.factor", "ordered", "as.numeric",
                                        "as.double", "as.integer", "scale", "poly", "round", "pmin",
                                        "pmax", "c", "cbind"})


class _Evaluator:
    """Evaluates variable expressions on a data source.

    ``state`` holds data-dependent parameters (``scale`` centre/scale,
    ``poly`` coefficients, ``factor`` levels) learnt when fitting and reused
    for new data.
    """

    def __init__(self, src: _Source, state: dict, fitting: bool, context: str):
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

    def _num(self, v, expr) -> np.ndarray:
        if isinstance(v, (_NumV, _LogV)):
            return v.values
        if isinstance(v, _FacV):
            raise DataError(
                f"cannot compute {deparse(expr)!r}: it does arithmetic on a factor (levels "
                f"{_fmt_levels(v.levels)}); use a numeric column"
            )
        if isinstance(v, _MatV):
            raise DataError(f"cannot compute {deparse(expr)!r}: arithmetic on a matrix-valued term is not supported")
        if isinstance(v, _StrV):
            raise DataError(f"cannot compute {deparse(expr)!r}: arithmetic on a string")
        if isinstance(v, _DateColumn):
            raise DataError(_date_message(v.name))
        raise TypeError(v)

    def _eval(self, node):
        if isinstance(node, Num):
            return _NumV(np.array(node.value))
        if isinstance(node, Str):
            return _StrV(node.value)
        if isinstance(node, Paren):
            return self.eval(node.expr)
        if isinstance(node, Name):
            if self.src.has(node.id):
                return self.src.get(node.id)
            if node.id in _CONSTANTS:
                c = _CONSTANTS[node.id]
                return _LogV(np.array(float(c))) if isinstance(c, bool) else _NumV(np.array(c))
            raise DataError(self.src.unknown_message([node.id], self.context))
        if isinstance(node, Unary):
            v = self.eval(node.operand)
            if node.op == "-":
                return _NumV(-self._num(v, node))
            if node.op == "+":
                return _NumV(self._num(v, node))
            if node.op == "!":
                x = self._num(v, node)
                return _LogV(np.where(np.isnan(x), np.nan, (x == 0).astype(float)))
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
            if isinstance(v, _FacV):
                miss = v.codes < 0
                eq = np.array([lv == lit.value for lv in v.levels] + [False])[v.codes]
            else:
                raise DataError(f"cannot compare {deparse(other)!r} with a string in {deparse(node)!r}")
            res = eq if op == "==" else ~eq
            return _LogV(np.where(miss, np.nan, res.astype(float)))
        a = self._num(self.eval(node.left), node)
        b = self._num(self.eval(node.right), node)
        with np.errstate(all="ignore"):
            if op == "+":
                return _NumV(a + b)
            if op == "-":
                return _NumV(a - b)
            if op == "*":
                return _NumV(a * b)
            if op == "/":
                return _NumV(a / b)
            if op == "^":
                return _NumV(np.power(a, b))
            if op == "%%":
                return _NumV(np.mod(a, b))
            if op == "%/%":
                return _NumV(np.floor_divide(a, b))
            miss = np.isnan(a) | np.isnan(b)
            if op in ("==", "!=", "<", ">", "<=", ">="):
                res = {"==": np.equal, "!=": np.not_equal, "<": np.less, ">": np.greater,
                       "<=": np.less_equal, ">=": np.greater_equal}[op](a, b)
                return _LogV(np.where(miss, np.nan, res.astype(float)))
            if op in ("&", "&&"):
                return _LogV(np.where(miss, np.nan, ((a != 0) & (b != 0)).astype(float)))
            if op in ("|", "||"):
                return _LogV(np.where(miss, np.nan, ((a != 0) | (b != 0)).astype(float)))
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

        def need(k: int):
            if len(pos) < 1:
                raise FormulaError(f"{fn}() needs an argument in {text!r}")

        if fn == "I":
            if len(node.args) != 1:
                raise FormulaError(f"I() takes one argument: {text!r}")
            v = self.eval(node.args[0][1])
            if isinstance(v, _StrV):
                raise DataError(f"{text!r} evaluates to a string constant")
            return v
        if fn in _UNARY_FUNS:
            need(1)
            x = self._num(self.eval(pos[0]), node)
            with np.errstate(all="ignore"):
                return self._nan_check(_NumV(_UNARY_FUNS[fn](x).astype(float)), x, text)
        if fn == "log":
            need(1)
            x = self._num(self.eval(pos[0]), node)
            base = kw.get("base", pos[1] if len(pos) > 1 else None)
            with np.errstate(all="ignore"):
                out = np.log(x)
                if base is not None:
                    out = out / math.log(float(self._const(base, "the base of log()")))
            return self._nan_check(_NumV(out), x, text)
        if fn == "round":
            need(1)
            x = self._num(self.eval(pos[0]), node)
            d = kw.get("digits", pos[1] if len(pos) > 1 else None)
            digits = int(self._const(d, "digits")) if d is not None else 0
            return _NumV(np.round(x, digits))
        if fn in ("pmin", "pmax"):
            xs = [self._num(self.eval(a), node) for a in pos]
            if not xs:
                raise FormulaError(f"{fn}() needs arguments in {text!r}")
            f = np.minimum if fn == "pmin" else np.maximum
            out = xs[0]
            for x in xs[1:]:
                out = f(out, x)
            return _NumV(np.asarray(out, dtype=float))
        if fn in ("as.numeric", "as.double", "as.integer"):
            need(1)
            v = self.eval(pos[0])
            if isinstance(v, _FacV):  # R: the integer codes
                x = np.where(v.codes < 0, np.nan, v.codes + 1.0)
            else:
                x = self._num(v, node)
            return _NumV(np.trunc(x) if fn == "as.integer" else np.asarray(x, dtype=float))
        if fn in ("factor", "as.factor", "ordered"):
            need(1)
            v = self.eval(pos[0])
            if isinstance(v, _DateColumn):
                raise DataError(_date_message(v.name))
            f = _as_factor(v, text)
            lv = kw.get("levels", pos[1] if len(pos) > 1 else None)
            if lv is not None:
                wanted = self._const(lv, "levels")
                wanted = [wanted] if not isinstance(wanted, list) else wanted
                wanted = [r_format_number(w) if isinstance(w, float) else str(w) for w in wanted]
                index = {w: i for i, w in enumerate(wanted)}
                remap = np.array([index.get(lv_, -1) for lv_ in f.levels] + [-1], dtype=np.int64)
                f = _FacV(remap[f.codes], wanted)
            return f
        if fn == "scale":
            need(1)
            x = self._num(self.eval(pos[0]), node)
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
                return _NumV((x - c) / s)
        if fn == "poly":
            return self._poly(node, pos, kw, text)
        if fn == "cbind":
            cols = [self._num(self.eval(a), node) for a in pos]
            n = self.src.n
            mat = np.column_stack([np.broadcast_to(c, (n,)) for c in cols]).astype(float)
            return _MatV(mat, [deparse(a) for a in pos])
        if fn == "offset":
            raise FormulaError(f"offset() can only be a term of the fixed part, not used inside {text!r}")
        raise FormulaError(
            f"unsupported function {fn!r} in {text!r}: merx evaluates {', '.join(_SUPPORTED)}; "
            f"compute the variable in the data frame first and use the column"
        )

    def _nan_check(self, out: _NumV, x: np.ndarray, text: str) -> _NumV:
        """R's "NaNs produced" warning; such rows are then missing (dropped)."""
        new_nan = np.isnan(out.values) & ~np.isnan(x)
        if np.any(new_nan):
            k = int(np.sum(new_nan))
            warnings.warn(
                f"NaNs produced evaluating {text} ({k} row{'s' if k != 1 else ''}); "
                f"{'they are' if k != 1 else 'it is'} treated as missing",
                UserWarning,
                stacklevel=5,
            )
        return out

    def _poly(self, node, pos, kw, text):
        if not pos:
            raise FormulaError(f"poly() needs a variable in {text!r}")
        x = self._num(self.eval(pos[0]), node)
        deg_node = kw.get("degree", pos[1] if len(pos) > 1 else None)
        degree = int(self._const(deg_node, "degree")) if deg_node is not None else 1
        raw = bool(self._const(kw["raw"], "raw")) if "raw" in kw else False
        if degree < 1:
            raise FormulaError(f"'degree' must be at least 1 in {text!r}")
        names = [str(i) for i in range(1, degree + 1)]
        if raw:
            return _MatV(np.column_stack([x ** d for d in range(1, degree + 1)]), names)
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
        return _MatV(Z, names)


def _date_message(name: str) -> str:
    return (
        f"column {name!r} holds dates/times; convert it to numbers (e.g. days since the start) for a "
        f"predictor, or to strings for a grouping factor"
    )


def _fmt_levels(levels: list, k: int = 6) -> str:
    shown = ", ".join(levels[:k])
    return shown + (", ..." if len(levels) > k else "")


# ---------------------------------------------------------------------------
# Design matrices (R's model.matrix)
# ---------------------------------------------------------------------------


@dataclass
class _Design:
    """Everything needed to rebuild a model matrix on new data."""

    intercept: bool
    var_nodes: list
    var_labels: list
    var_kinds: list  # 'num' | 'fac' | 'log' | 'mat'
    var_levels: list  # factor levels (fac/log) or matrix column names (mat)
    terms: list
    term_labels: list
    term_codes: list  # per term: dict var -> 1 (contrasts) | 2 (indicators)
    colnames: list
    assign: list  # 0 = intercept, j = j-th term (1-based), as R's "assign"


def _var_kind(v, label: str, context: str) -> tuple:
    if isinstance(v, _NumV):
        return "num", None
    if isinstance(v, _LogV):
        return "log", ["FALSE", "TRUE"]
    if isinstance(v, _FacV):
        if len(v.levels) < 2:
            only = f" (only level {v.levels[0]!r})" if v.levels else ""
            raise DataError(
                f"factor {label!r} in {context} has fewer than 2 levels among the rows used{only}; "
                f"R's contrasts need 2 or more levels: remove it from the formula or check for missing values "
                f"in other columns that removed rows"
            )
        return "fac", list(v.levels)
    if isinstance(v, _MatV):
        return "mat", list(v.colnames)
    if isinstance(v, _StrV):
        raise DataError(f"the string constant {label!r} in {context} cannot be a model term")
    if isinstance(v, _DateColumn):
        raise DataError(_date_message(v.name))
    raise TypeError(v)


def _make_design(ti: TermsInfo, values: list, context: str) -> _Design:
    kinds, levels = [], []
    for lab, v in zip(ti.var_labels, values):
        k, lv = _var_kind(v, lab, context)
        kinds.append(k)
        levels.append(lv)
    sets = [set(t) for t in ti.terms]
    term_codes = []
    for j, t in enumerate(ti.terms):
        code = {}
        for v in t:
            rest = sets[j] - {v}
            if not rest or any(rest <= sets[k] for k in range(j)):
                code[v] = 1
            else:
                code[v] = 2
        term_codes.append(code)
    if not ti.intercept:
        done = False
        for j, t in enumerate(ti.terms):
            for v in t:
                if kinds[v] in ("fac", "log"):
                    term_codes[j][v] = 2
                    done = True
                    break
            if done:
                break
    colnames, assign = [], []
    if ti.intercept:
        colnames.append("(Intercept)")
        assign.append(0)
    for j, t in enumerate(ti.terms):
        names = [""]
        for v in t:
            vnames = _var_colnames(ti.var_labels[v], kinds[v], levels[v], term_codes[j][v])
            names = [(p + ":" + q) if p else q for q in vnames for p in names]
        colnames.extend(names)
        assign.extend([j + 1] * len(names))
    return _Design(ti.intercept, list(ti.variables), list(ti.var_labels), kinds, levels, list(ti.terms),
                   list(ti.term_labels), term_codes, colnames, assign)


def _var_colnames(label, kind, levels, code) -> list:
    if kind == "num":
        return [label]
    if kind == "mat":
        return [label + c for c in levels]
    lv = levels[1:] if code == 1 else levels
    return [label + x for x in lv]


def _var_columns(kind, levels, code, arr, n) -> list:
    """Columns (list of float arrays) of one variable; ``arr`` is the float
    vector (num), the (n, k) matrix (mat) or int codes with -1 = missing."""
    if kind == "num":
        return [np.broadcast_to(np.asarray(arr, dtype=float), (n,))]
    if kind == "mat":
        return [arr[:, i] for i in range(arr.shape[1])]
    codes = arr
    miss = codes < 0
    start = 1 if code == 1 else 0
    cols = []
    for i in range(start, len(levels)):
        c = (codes == i).astype(float)
        if miss.any():
            c[miss] = np.nan
        cols.append(c)
    return cols


def _design_matrix(design: _Design, arrays: list, n: int) -> np.ndarray:
    cols = []
    if design.intercept:
        cols.append(np.ones(n))
    for j, t in enumerate(design.terms):
        tcols = [None]
        for v in t:
            vcols = _var_columns(design.var_kinds[v], design.var_levels[v], design.term_codes[j][v], arrays[v], n)
            tcols = [q if p is None else p * q for q in vcols for p in tcols]
        cols.extend(tcols)
    if not cols:
        return np.zeros((n, 0))
    return np.asfortranarray(np.column_stack(cols).astype(float, copy=False))


def _design_arrays_fit(design: _Design, values: list) -> list:
    out = []
    for k, v in zip(design.var_kinds, values):
        if k == "num":
            out.append(v.values)
        elif k == "mat":
            out.append(v.values)
        elif k == "log":
            out.append(np.where(np.isnan(v.values), -1, v.values).astype(np.int64))
        else:
            out.append(v.codes)
    return out


def _labels_of_value(v, what: str) -> np.ndarray:
    """Per-row level labels (object array, None = missing) of a value used as factor."""
    if isinstance(v, _FacV):
        lv = np.array(list(v.levels) + [None], dtype=object)
        return lv[v.codes]
    if isinstance(v, _LogV):
        out = np.full(v.values.shape[0], None, dtype=object)
        ok = ~np.isnan(v.values)
        out[ok] = np.where(v.values[ok] != 0, "TRUE", "FALSE")
        return out
    if isinstance(v, _NumV):
        vals = v.values
        out = np.full(vals.shape[0], None, dtype=object)
        ok = ~np.isnan(vals)
        uniq, inv = np.unique(vals[ok], return_inverse=True)
        labels = np.array([r_format_number(u) for u in uniq], dtype=object)
        out[ok] = labels[inv] if len(uniq) else []
        return out
    if isinstance(v, _DateColumn):
        raise DataError(_date_message(v.name))
    raise DataError(f"{what} cannot be used as a factor")


def _codes_for_levels(v, levels: list, what: str, unseen: str) -> np.ndarray:
    """Codes of new-data values relative to training ``levels``.

    ``unseen='error'`` raises DataError for a level not seen when fitting,
    ``unseen='minus1'`` codes it -1.
    """
    labels = _labels_of_value(v, what)
    index = {lv: i for i, lv in enumerate(levels)}
    codes = np.fromiter((index.get(x, -2) if x is not None else -1 for x in labels), dtype=np.int64,
                        count=len(labels))
    bad = codes == -2
    if bad.any():
        if unseen == "error":
            new = sorted({str(x) for x in labels[bad]})
            raise DataError(
                f"{what} has level{'s' if len(new) > 1 else ''} {_fmt_levels(new)} in newdata that "
                f"{'were' if len(new) > 1 else 'was'} not seen when fitting (levels: {_fmt_levels(levels, 10)}); "
                f"remove those rows or map them to a known level"
            )
        codes[bad] = -1
    return codes


def _design_arrays_new(design: _Design, ev: _Evaluator, n: int, context: str) -> list:
    out = []
    for node, lab, k, lv in zip(design.var_nodes, design.var_labels, design.var_kinds, design.var_levels):
        v = ev.eval(node)
        if k == "num":
            if not isinstance(v, (_NumV, _LogV)):
                raise DataError(f"variable {lab!r} was numeric when fitting but is not numeric in newdata")
            out.append(np.broadcast_to(v.values, (n,)).astype(float))
        elif k == "mat":
            if not isinstance(v, _MatV):
                raise DataError(f"variable {lab!r} changed type in newdata")
            out.append(v.values)
        else:
            if isinstance(v, _MatV):
                raise DataError(f"variable {lab!r} changed type in newdata")
            out.append(_codes_for_levels(v, lv, f"factor {lab!r} ({context})", "error"))
    return out


# ---------------------------------------------------------------------------
# Rank deficiency: LINPACK dqrdc2 (R's qr(LAPACK = FALSE))
# ---------------------------------------------------------------------------


def _dqrdc2(X: np.ndarray, tol: float = 1e-7, _fast: bool = True) -> tuple:
    """Rank and column pivot of R's dqrdc2 (limited pivoting: negligible
    columns are moved to the end, the others keep their order)."""
    n, p = X.shape
    if p == 0:
        return 0, []
    norms = np.sqrt(np.sum(X * X, axis=0))
    if _fast and n >= p and np.all(norms > 0):
        # fast path: with no column negligible, dqrdc2 does no pivoting and its
        # running column norms are |R_jj| of the unpivoted QR
        r = np.abs(np.diag(np.linalg.qr(X, mode="r")))
        if np.all(r > 100.0 * tol * norms):
            return p, list(range(p))
    x = np.array(X, dtype=float, order="F", copy=True)
    jpvt = list(range(p))
    qraux = norms.copy()
    work1 = qraux.copy()
    work2 = qraux.copy()
    work2[work2 == 0] = 1.0
    k = p + 1
    for l in range(min(n, p)):
        while l + 1 < k and qraux[l] < work2[l] * tol:
            order = list(range(l + 1, p)) + [l]
            x[:, l:] = x[:, order]
            for arr in (qraux, work1, work2):
                arr[l:] = arr[order]
            jpvt[l:] = [jpvt[i] for i in order]
            k -= 1
        if l == n - 1:
            break
        col = x[l:, l]
        nrmxl = float(np.sqrt(col @ col))
        if nrmxl == 0.0:
            continue
        if x[l, l] != 0:
            nrmxl = math.copysign(nrmxl, x[l, l])
        x[l:, l] /= nrmxl
        x[l, l] += 1.0
        if l + 1 < p:
            v = x[l:, l]
            t = -(v @ x[l:, l + 1:]) / x[l, l]
            x[l:, l + 1:] += np.outer(v, t)
            q = qraux[l + 1:]
            nz = q != 0
            tt = np.zeros_like(q)
            tt[nz] = np.maximum(1.0 - (np.abs(x[l, l + 1:][nz]) / q[nz]) ** 2, 0.0)
            small = nz & (np.abs(tt) < 1e-6)
            big = nz & ~small
            q[big] = q[big] * np.sqrt(tt[big])
            if small.any():
                idx = l + 1 + np.flatnonzero(small)
                qraux[idx] = np.sqrt(np.sum(x[l + 1:, idx] ** 2, axis=0))
                work1[idx] = qraux[idx]
        qraux[l] = x[l, l]
        x[l, l] = -nrmxl
    rank = min(k - 1, n)
    return rank, jpvt


# ---------------------------------------------------------------------------
# Public dataclasses
# ---------------------------------------------------------------------------


@dataclass(eq=False)
class RandomEffectBlock:
    """One random-effects term ``(lhs | group)``.

    ``codes`` (n,) index ``levels`` (lme4's level order); ``Z`` (n, k) is the
    raw model matrix of the term's left-hand side with column names
    ``columns``; ``correlated`` False would mean a diagonal covariance template
    (lme4 1.1-31 expands ``||`` into separate terms, so it is always True here).
    """

    group: str
    codes: np.ndarray
    levels: list
    columns: list
    Z: np.ndarray
    correlated: bool = True
    lhs: str = ""
    term: str = ""

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    @property
    def n_columns(self) -> int:
        return len(self.columns)


@dataclass
class _RandomSpec:
    design: _Design
    group_nodes: list
    group_labels: list


@dataclass(eq=False)
class ModelFrame:
    """y, X and random-effects blocks of a mixed model (see docs/architecture.md)."""

    formula: str
    response_name: str
    y: np.ndarray
    X: np.ndarray
    x_names: list
    dropped_x_names: list
    weights: np.ndarray | None
    offset: np.ndarray | None
    blocks: list
    n_dropped_na: int
    row_labels: Any
    data_name: str | None = None
    parsed: ParsedFormula | None = None
    n_rows_data: int = 0
    x_assign: list = field(default_factory=list)  # R's assign for the kept columns of X
    fixed_term_labels: list = field(default_factory=list)
    xlevels: dict = field(default_factory=dict)  # factor levels of the fixed part, by variable
    binomial_size: np.ndarray | None = None  # glmer: number of trials per row (cbind response)
    kind: str = "lmer"
    _fixed_design: _Design | None = field(default=None, repr=False)
    _x_keep: list = field(default_factory=list, repr=False)
    _random_specs: list = field(default_factory=list, repr=False)
    _state: dict = field(default_factory=dict, repr=False)
    _offset_nodes: list = field(default_factory=list, repr=False)
    _offset_arg: Any = field(default=None, repr=False)

    @property
    def nobs(self) -> int:
        return int(self.y.shape[0])

    @property
    def n_fixed(self) -> int:
        return int(self.X.shape[1])

    @property
    def flist(self) -> dict:
        """Grouping factors as lme4's ``flist``: unique by name, in term order
        (name -> levels)."""
        out: dict = {}
        for b in self.blocks:
            if b.group not in out:
                out[b.group] = b.levels
        return out

    @property
    def ngrps(self) -> dict:
        return {k: len(v) for k, v in self.flist.items()}

    # ------------------------------------------------------------------
    # new data (predict)
    # ------------------------------------------------------------------

    def _new_evaluator(self, newdata) -> _Evaluator:
        df = _to_pandas(newdata, "newdata")
        src = _Source(df, "newdata")
        return _Evaluator(src, self._state, fitting=False, context="the model (newdata)")

    def _check_columns(self, ev: _Evaluator, nodes: list, purpose: str) -> None:
        names: list = []
        for nd in nodes:
            _names_in(nd, names)
        missing = [nm for nm in names if not ev.src.has(nm) and nm not in _CONSTANTS]
        if missing:
            raise DataError(ev.src.unknown_message(missing, purpose))

    def new_fixed_matrix(self, newdata) -> np.ndarray:
        """Fixed-effects model matrix of ``newdata`` with the columns of ``X``.

        Factors are coded with the fitting levels (a level not seen when
        fitting raises DataError); rows with a missing predictor give NaN rows.
        """
        ev = self._new_evaluator(newdata)
        d = self._fixed_design
        self._check_columns(ev, d.var_nodes, "the fixed effects")
        n = ev.src.n
        arrays = _design_arrays_new(d, ev, n, "fixed effects")
        M = _design_matrix(d, arrays, n)
        return np.asfortranarray(M[:, self._x_keep])

    def new_random_blocks(self, newdata) -> list:
        """Per block (same order as ``blocks``): ``(codes, Z)`` for ``newdata``;
        codes are int64 with -1 for a level not seen when fitting (or missing)."""
        ev = self._new_evaluator(newdata)
        n = ev.src.n
        out = []
        for spec, block in zip(self._random_specs, self.blocks):
            self._check_columns(ev, spec.design.var_nodes + spec.group_nodes, f"random-effects term ({block.term})")
            arrays = _design_arrays_new(spec.design, ev, n, f"random-effects term ({block.term})")
            Z = _design_matrix(spec.design, arrays, n)
            labels = None
            for node in spec.group_nodes:
                lab = _labels_of_value(ev.eval(node), f"grouping factor {deparse(node)!r}")
                labels = lab if labels is None else np.array(
                    [None if (a is None or b is None) else f"{a}:{b}" for a, b in zip(labels, lab)], dtype=object)
            index = {lv: i for i, lv in enumerate(block.levels)}
            codes = np.fromiter((index.get(x, -1) if x is not None else -1 for x in labels),
                                dtype=np.int64, count=n)
            out.append((codes, np.asfortranarray(Z)))
        return out

    def new_offset(self, newdata) -> np.ndarray | None:
        """Offset for ``newdata`` (formula ``offset()`` terms plus an offset
        given as a column name); None when the model has no offset."""
        if not self._offset_nodes and self._offset_arg is None:
            return None
        ev = self._new_evaluator(newdata)
        n = ev.src.n
        total = np.zeros(n)
        nodes = list(self._offset_nodes)
        if isinstance(self._offset_arg, str):
            nodes.append(Name(self._offset_arg))
        elif self._offset_arg is not None:
            raise DataError(
                "the model was fitted with an offset given as an array, which cannot be recomputed for "
                "newdata; give the offset as a column name or as offset(...) in the formula"
            )
        self._check_columns(ev, nodes, "the offset")
        for nd in nodes:
            total = total + ev._num(ev.eval(nd), nd)
        return total


# ---------------------------------------------------------------------------
# build_model_frame
# ---------------------------------------------------------------------------


def _vector_arg(arg, src: _Source, what: str, ev: _Evaluator):
    """weights/offset: a column name or an array of length n -> (values, label)."""
    if arg is None:
        return None, None
    if isinstance(arg, str):
        if not src.has(arg):
            raise DataError(src.unknown_message([arg], f"{what}="))
        v = src.get(arg)
        if isinstance(v, _DateColumn):
            raise DataError(_date_message(arg))
        if not isinstance(v, (_NumV, _LogV)):
            raise DataError(f"{what} column {arg!r} is not numeric (it is a factor); give numeric {what}")
        return np.asarray(v.values, dtype=float), arg
    if isinstance(arg, pd.Series):
        arr = arg.to_numpy(dtype=float, na_value=np.nan)
    else:
        try:
            arr = np.asarray(arg, dtype=float)
        except (TypeError, ValueError):
            raise DataError(f"{what} must be numeric (a column name or an array of numbers)") from None
    if arr.ndim != 1 or arr.shape[0] != src.n:
        raise DataError(
            f"{what} has length {arr.shape[0] if arr.ndim == 1 else arr.shape} but the data has {src.n} rows; "
            f"give one value per row"
        )
    return arr.astype(float), f"({what})"


def build_model_frame(parsed, data, weights=None, offset=None, data_name=None, kind: str = "lmer") -> ModelFrame:
    """Build the :class:`ModelFrame` of an lme4 formula on ``data``.

    ``parsed``: a :class:`~merx.formula.ParsedFormula` or a formula string;
    ``data``: pandas or polars DataFrame, or dict of columns; ``weights`` and
    ``offset``: column name or array (one value per row of ``data``);
    ``kind``: ``"lmer"`` (numeric response; lme4's lmer checks) or ``"glmer"``
    (also factor and ``cbind(successes, failures)`` responses, which give
    ``y`` as proportions and ``binomial_size``; a grouping factor may have as
    many levels as observations).
    """
    if isinstance(parsed, str):
        parsed = parse_formula(parsed)
    if not isinstance(parsed, ParsedFormula):
        raise FormulaError(f"expected a formula string or ParsedFormula, got {type(parsed).__name__}")
    if kind not in ("lmer", "glmer"):
        raise ValueError(f"kind must be 'lmer' or 'glmer', got {kind!r}")
    df = _to_pandas(data)
    src = _Source(df)
    n_all = src.n
    formula_ctx = f"the formula {parsed.formula!r}"

    # --- terms -------------------------------------------------------------
    fixed_ti = parsed.fixed_terms()
    random_terms = list(parsed.random)
    random_tis = [rt.lhs_terms() for rt in random_terms]

    # --- unknown columns (all at once) ---------------------------------------
    all_nodes = [parsed.response_expr] + fixed_ti.variables + fixed_ti.offsets
    for rt, ti in zip(random_terms, random_tis):
        all_nodes += ti.variables + rt.group_components
    names: list = []
    for nd in all_nodes:
        _names_in(nd, names)
    unknown = [nm for nm in names if not src.has(nm) and nm not in _CONSTANTS]
    if unknown:
        raise DataError(src.unknown_message(unknown, formula_ctx))
    if n_all == 0:
        raise DataError("the data has no rows")

    state: dict = {}
    ev = _Evaluator(src, state, fitting=True, context=formula_ctx)

    # --- evaluate every variable on all rows -----------------------------------
    used: dict = {}  # label -> (value, description)

    def add(node, desc):
        lab = deparse(node)
        v = ev.eval(node)
        if isinstance(v, _DateColumn):
            raise DataError(_date_message(v.name))
        if isinstance(v, _StrV):
            raise DataError(f"{lab!r} ({desc}) is a string constant, not a variable")
        if lab not in used:
            used[lab] = (v, desc)
        return v

    resp_val = add(parsed.response_expr, "the response")
    for nd in fixed_ti.variables:
        add(nd, "a fixed-effects term")
    offset_vals = [add(nd, "offset()") for nd in fixed_ti.offsets]
    for rt, ti in zip(random_terms, random_tis):
        for nd in ti.variables:
            add(nd, f"random-effects term ({rt.term})")
        for nd in rt.group_components:
            add(nd, f"the grouping factor of ({rt.term})")
    w_arr, w_label = _vector_arg(weights, src, "weights", ev)
    o_arr, o_label = _vector_arg(offset, src, "offset", ev)

    # entirely missing variables: name them (instead of "no rows left")
    for lab, (v, desc) in used.items():
        if _missing(v).all() and (v.values.ndim if isinstance(v, (_NumV, _LogV)) else 1) > 0:
            extra = ""
            if desc.startswith("random-effects term"):
                extra = " (an all-missing slope variable cannot be estimated)"
            raise DataError(
                f"{lab!r} used in {desc} is missing in every row{extra}; fix the column or remove it from the formula"
            )
    for arr, label in ((w_arr, "weights"), (o_arr, "offset")):
        if arr is not None and np.isnan(arr).all():
            raise DataError(f"{label} are missing in every row; give a value per row")

    # --- na.omit -----------------------------------------------------------------
    miss = np.zeros(n_all, dtype=bool)
    for v, _ in used.values():
        if isinstance(v, (_NumV, _LogV)) and v.values.ndim == 0:
            continue
        miss |= _missing(v)
    for arr in (w_arr, o_arr):
        if arr is not None:
            miss |= np.isnan(arr)
    keep = ~miss
    n = int(keep.sum())
    if n == 0:
        counts = []
        for lab, (v, _) in used.items():
            if isinstance(v, (_NumV, _LogV)) and v.values.ndim == 0:
                continue
            counts.append((int(_missing(v).sum()), lab))
        for arr, label in ((w_arr, "weights"), (o_arr, "offset")):
            if arr is not None:
                counts.append((int(np.isnan(arr).sum()), label))
        counts.sort(reverse=True)
        detail = ", ".join(f"{lab!r}: {c}" for c, lab in counts if c > 0)
        raise DataError(
            f"no rows left after removing rows with missing values (the data has {n_all} rows; missing values "
            f"per variable: {detail}); every row misses at least one variable the model uses"
        )
    n_dropped = n_all - n

    def sub(v):
        if isinstance(v, (_NumV, _LogV)) and v.values.ndim == 0:
            return type(v)(np.broadcast_to(v.values, (n,)).copy())
        return _subset(v, keep)

    kept_vals = {lab: sub(v) for lab, (v, _) in used.items()}

    # --- infinite values ------------------------------------------------------------
    for lab, v in kept_vals.items():
        if isinstance(v, (_NumV, _MatV)):
            bad = ~np.isfinite(v.values)
            if bad.ndim == 2:
                bad = bad.any(axis=1)
            if bad.any():
                first = np.flatnonzero(keep)[np.flatnonzero(bad)[0]]
                raise DataError(
                    f"{lab!r} ({used[lab][1]}) has {int(bad.sum())} infinite value(s) (first in row "
                    f"{_row_name(df, first)}); remove those rows or transform the variable"
                )
    for arr, label in ((w_arr, "weights"), (o_arr, "offset")):
        if arr is not None and not np.isfinite(arr[keep]).all():
            raise DataError(f"{label} have infinite values; give finite {label}")

    # --- response ---------------------------------------------------------------
    resp_label = parsed.response
    rv = kept_vals[deparse(parsed.response_expr)]
    binomial_size = None
    if isinstance(rv, _NumV) or isinstance(rv, _LogV):
        y = np.asarray(rv.values, dtype=float).copy()
    elif isinstance(rv, _FacV):
        if kind == "glmer":
            y = (rv.codes > 0).astype(float)
        else:
            raise DataError(
                f"the response {resp_label!r} is not numeric (it is a factor with levels "
                f"{_fmt_levels(rv.levels)}); lmer needs a numeric response: convert it to numbers, or fit a "
                f"binomial GLMM for a two-level outcome"
            )
    elif isinstance(rv, _MatV):
        if kind == "glmer" and rv.values.shape[1] == 2:
            s, f = rv.values[:, 0], rv.values[:, 1]
            if (s < 0).any() or (f < 0).any():
                raise DataError(f"the response {resp_label!r} has negative counts")
            size = s + f
            with np.errstate(all="ignore"):
                y = np.where(size > 0, s / size, 0.0)
            binomial_size = size
        else:
            raise DataError(
                f"the response {resp_label!r} is a matrix (cbind); lmer needs a single numeric response "
                f"(cbind(successes, failures) is for binomial GLMMs)"
            )
    else:
        raise DataError(f"the response {resp_label!r} is not numeric")

    # --- weights / offset ---------------------------------------------------------
    w = None
    if w_arr is not None:
        w = w_arr[keep].copy()
        if (w < 0).any():
            first = np.flatnonzero(keep)[np.flatnonzero(w < 0)[0]]
            raise DataError(
                f"weights must not be negative ({int((w < 0).sum())} negative, first in row "
                f"{_row_name(df, first)}); give non-negative weights"
            )
    off = None
    if offset_vals or o_arr is not None:
        off = np.zeros(n)
        for nd in fixed_ti.offsets:
            v = kept_vals[deparse(nd)]
            if not isinstance(v, (_NumV, _LogV)):
                raise DataError(f"offset({deparse(nd)}) is not numeric")
            off = off + v.values
        if o_arr is not None:
            off = off + o_arr[keep]

    # --- fixed effects --------------------------------------------------------------
    fixed_vals = [kept_vals[lab] for lab in fixed_ti.var_labels]
    fdesign = _make_design(fixed_ti, fixed_vals, "the fixed effects")
    X_full = _design_matrix(fdesign, _design_arrays_fit(fdesign, fixed_vals), n)
    x_keep = list(range(X_full.shape[1]))
    dropped: list = []
    if X_full.shape[1] > 0:
        rank, piv = _dqrdc2(X_full)
        if rank < X_full.shape[1]:
            x_keep = sorted(piv[:rank])
            dropped = [fdesign.colnames[i] for i in range(X_full.shape[1]) if i not in set(x_keep)]
            k = len(dropped)
            warnings.warn(
                f"fixed-effect model matrix is rank deficient so dropping {k} "
                f"{'column / coefficient' if k == 1 else 'columns / coefficients'}: {', '.join(dropped)}",
                UserWarning,
                stacklevel=2,
            )
    X = np.asfortranarray(X_full[:, x_keep])
    x_names = [fdesign.colnames[i] for i in x_keep]
    _check_scale_x(X)

    # --- random effects ----------------------------------------------------------------
    blist = []
    for rt, ti in zip(random_terms, random_tis):
        ctx = f"random-effects term ({rt.term})"
        vals = [kept_vals[lab] for lab in ti.var_labels]
        d = _make_design(ti, vals, ctx)
        for lab, v in zip(ti.var_labels, vals):
            if isinstance(v, _NumV):
                vv = v.values
                if vv.size and np.all(vv == vv[0]):
                    raise DataError(
                        f"slope variable {lab!r} in {ctx} is constant (every used row is "
                        f"{r_format_number(vv[0])}), so its random slope cannot be separated from the "
                        f"random intercept; remove it from the term"
                    )
        Z = _design_matrix(d, _design_arrays_fit(d, vals), n)
        comps = rt.group_components
        facs = []
        for nd in comps:
            gv = kept_vals[deparse(nd)]
            facs.append(_drop_unused(_as_factor(gv, f"grouping factor {deparse(nd)!r}")))
        gf = _interaction(facs)
        blist.append((rt, d, Z, gf, comps))

    # lme4's checks (checkNlevels, checkZdims) before/after ordering as lme4
    nl = [len(b[3].levels) for b in blist]
    if blist and any(nl[i + 1] > nl[i] for i in range(len(nl) - 1)):
        order = sorted(range(len(nl)), key=lambda i: (nl[i], i))[::-1]
        blist = [blist[i] for i in order]
    for rt, d, Z, gf, comps in blist:
        L = len(gf.levels)
        if L < 2:
            raise DataError(
                f"grouping factor {rt.group!r} of ({rt.term}) has {L} level among the rows used "
                f"({_fmt_levels(gf.levels)}); grouping factors must have > 1 sampled level: drop the term "
                f"or use data with several groups"
            )
        if (L >= n) if kind == "lmer" else (L > n):
            raise DataError(
                f"number of levels of each grouping factor must be {'<' if kind == 'lmer' else '<='} number of "
                f"observations: {rt.group!r} of ({rt.term}) has {L} levels for {n} observations; a grouping "
                f"factor with one level per observation is confounded with the residual error"
            )
    for rt, d, Z, gf, comps in blist:
        q = len(gf.levels) * Z.shape[1]
        if (n <= q) if kind == "lmer" else (n < q):
            raise DataError(
                f"number of observations (={n}) {'<=' if kind == 'lmer' else '<'} number of random effects "
                f"(={q}) for term ({rt.term}); the random-effects parameters"
                f"{' and the residual variance (or scale parameter)' if kind == 'lmer' else ''} are probably "
                f"unidentifiable: simplify the term"
            )

    blocks = [
        RandomEffectBlock(
            group=rt.group,
            codes=gf.codes,
            levels=list(gf.levels),
            columns=list(d.colnames),
            Z=Z,
            correlated=rt.correlated,
            lhs=rt.lhs,
            term=rt.term,
        )
        for rt, d, Z, gf, comps in blist
    ]
    specs = [
        _RandomSpec(design=d, group_nodes=list(comps), group_labels=[deparse(c) for c in comps])
        for rt, d, Z, gf, comps in blist
    ]

    row_labels = df.index[keep]
    xlevels = {lab: lv for lab, k, lv in zip(fdesign.var_labels, fdesign.var_kinds, fdesign.var_levels)
               if k in ("fac", "log")}
    return ModelFrame(
        formula=parsed.formula,
        response_name=resp_label,
        y=y,
        X=X,
        x_names=x_names,
        dropped_x_names=dropped,
        weights=w,
        offset=off,
        blocks=blocks,
        n_dropped_na=n_dropped,
        row_labels=row_labels,
        data_name=data_name,
        parsed=parsed,
        n_rows_data=n_all,
        x_assign=[fdesign.assign[i] for i in x_keep],
        fixed_term_labels=list(fdesign.term_labels),
        xlevels=xlevels,
        binomial_size=binomial_size,
        kind=kind,
        _fixed_design=fdesign,
        _x_keep=x_keep,
        _random_specs=specs,
        _state=state,
        _offset_nodes=list(fixed_ti.offsets),
        _offset_arg=offset if (offset is None or isinstance(offset, str)) else "array",
    )


def _row_name(df: pd.DataFrame, pos: int) -> str:
    try:
        return repr(df.index[pos])
    except Exception:  # pragma: no cover
        return str(pos)


def _interaction(facs: list) -> _FacV:
    """R's ``a:b`` on factors followed by ``factor()``: levels are the present
    combinations, the first factor varying slowest."""
    if len(facs) == 1:
        return _drop_unused(facs[0])
    n = facs[0].codes.shape[0]
    sizes = [max(len(f.levels), 1) for f in facs]
    if math.prod(sizes) < 2**62:
        key = np.zeros(n, dtype=np.int64)
        for f, s in zip(facs, sizes):
            key = key * s + f.codes
        uniq, inv = np.unique(key, return_inverse=True)
        combos = []
        for u in uniq.tolist():
            parts = []
            for s in reversed(sizes):
                parts.append(u % s)
                u //= s
            combos.append(parts[::-1])
    else:  # pragma: no cover - astronomically many combinations
        stack = np.column_stack([f.codes for f in facs])
        uniq, inv = np.unique(stack, axis=0, return_inverse=True)
        combos = uniq.tolist()
    levels = [":".join(f.levels[c] for f, c in zip(facs, combo)) for combo in combos]
    return _FacV(np.asarray(inv, dtype=np.int64).reshape(-1), levels)


def _check_scale_x(X: np.ndarray, tol: float = 1e3) -> None:
    """lme4's check.scaleX = "warning"."""
    if X.shape[1] == 0 or X.shape[0] < 2:
        return
    cont = [j for j in range(X.shape[1]) if not np.isin(X[:, j], (0.0, 1.0)).all()]
    if not cont:
        return
    sd = np.std(X[:, cont], axis=0, ddof=1)
    with np.errstate(all="ignore"):
        logsd = np.abs(np.log(sd))
        logcomp = np.abs(np.log(sd[:, None] / sd[None, :]))
    vals = np.concatenate([logsd, logcomp[np.tril_indices(len(sd), -1)]])
    if np.any(vals[np.isfinite(vals)] > math.log(tol)):
        warnings.warn("Some predictor variables are on very different scales: consider rescaling",
                      UserWarning, stacklevel=3)
