"""Design matrices as R's ``model.matrix``.

:func:`make_design` fixes, from a ``terms`` object and the values of its
variables, everything needed to build the matrix: the kind of each variable,
treatment contrasts (first level as reference) or full indicator coding by
R's rule, R's column names (``(Intercept)``, ``sexfemale``,
``age:sexfemale``) and ``assign``. :func:`design_matrix` builds the matrix,
on the fitted data or on new data (:func:`newdata_arrays`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..errors import DataError
from ..formula.terms import TermsInfo
from .evaluate import Evaluator
from .factors import Factor, codes_for_levels
from .values import DateTimeColumn, Logical, Numeric, NumericMatrix, StringConstant, date_message, level_labels


@dataclass
class Design:
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
    if isinstance(v, Numeric):
        return "num", None
    if isinstance(v, Logical):
        return "log", ["FALSE", "TRUE"]
    if isinstance(v, Factor):
        if len(v.levels) < 2:
            only = f" (only level {v.levels[0]!r})" if v.levels else ""
            raise DataError(
                f"factor {label!r} in {context} has fewer than 2 levels among the rows used{only}; "
                f"R's contrasts need 2 or more levels: remove it from the formula or check for missing values "
                f"in other columns that removed rows"
            )
        return "fac", list(v.levels)
    if isinstance(v, NumericMatrix):
        return "mat", list(v.colnames)
    if isinstance(v, StringConstant):
        raise DataError(f"the string constant {label!r} in {context} cannot be a model term")
    if isinstance(v, DateTimeColumn):
        raise DataError(date_message(v.name))
    raise TypeError(v)


def make_design(ti: TermsInfo, values: list, context: str) -> Design:
    """The :class:`Design` of ``ti`` given the values of its variables (R's
    contrasts rule: a factor is coded by contrasts when the term without it is
    in the model, by indicators otherwise)."""
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
    return Design(ti.intercept, list(ti.variables), list(ti.var_labels), kinds, levels, list(ti.terms),
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
        values = np.asarray(arr, dtype=float)
        return [values if values.shape == (n,) else np.broadcast_to(values, (n,))]
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


def design_matrix(design: Design, arrays: list, n: int) -> np.ndarray:
    """The (n, p) model matrix, Fortran order, from per-variable ``arrays``."""
    cols = []
    if design.intercept:
        cols.append(1.0)
    for j, t in enumerate(design.terms):
        tcols = [None]
        for v in t:
            vcols = _var_columns(design.var_kinds[v], design.var_levels[v], design.term_codes[j][v], arrays[v], n)
            tcols = [q if p is None else p * q for q in vcols for p in tcols]
        cols.extend(tcols)
    M = np.empty((n, len(cols)), order="F")
    for j, col in enumerate(cols):
        M[:, j] = col
    return M


def full_dummy_matrix(design: Design, arrays: list, n: int) -> tuple:
    """(M, column names): the model matrix of ``design`` with every factor coded by the
    indicators of all its levels (lmerTest's ``get_rdX``: ``model.matrix(~ 0 + term)`` per
    term, after the intercept)."""
    codes = [{v: 2 for v in t} for t in design.terms]
    full = replace(design, term_codes=codes)
    names = ["(Intercept)"] if design.intercept else []
    for j, t in enumerate(design.terms):
        tnames = [""]
        for v in t:
            vnames = _var_colnames(design.var_labels[v], design.var_kinds[v], design.var_levels[v], 2)
            tnames = [(p + ":" + q) if p else q for q in vnames for p in tnames]
        names.extend(tnames)
    return design_matrix(full, arrays, n), names


def fit_arrays(design: Design, values: list) -> list:
    """The per-variable inputs of :func:`design_matrix` from the fitted values."""
    out = []
    for k, v in zip(design.var_kinds, values):
        if k in ("num", "mat"):
            out.append(v.values)
        elif k == "log":
            out.append(np.where(np.isnan(v.values), -1, v.values).astype(np.int64))
        else:
            out.append(v.codes)
    return out


def newdata_arrays(design: Design, ev: Evaluator, n: int, context: str) -> list:
    """The per-variable inputs of :func:`design_matrix` on new data, factors
    coded with the fitted levels (an unseen level raises DataError)."""
    out = []
    for node, lab, k, lv in zip(design.var_nodes, design.var_labels, design.var_kinds, design.var_levels):
        v = ev.eval(node)
        if k == "num":
            if not isinstance(v, (Numeric, Logical)):
                raise DataError(f"variable {lab!r} was numeric when fitting but is not numeric in newdata")
            out.append(np.broadcast_to(v.values, (n,)).astype(float))
        elif k == "mat":
            if not isinstance(v, NumericMatrix):
                raise DataError(f"variable {lab!r} changed type in newdata")
            out.append(v.values)
        else:
            if isinstance(v, NumericMatrix):
                raise DataError(f"variable {lab!r} changed type in newdata")
            what = f"factor {lab!r} ({context})"
            out.append(codes_for_levels(level_labels(v, what), lv, what, "error"))
    return out

