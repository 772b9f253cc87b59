"""Random-effects blocks as lme4's ``mkReTrms`` builds them.

One :class:`RandomEffectBlock` per expanded bar term: the grouping factor
(interaction of its components, unused levels dropped), the raw model matrix
Z of the term's left-hand side, ordered as lme4 orders terms (decreasing
number of levels) and checked as lme4 checks them (``checkNlevels``,
``checkZdims``). :func:`newdata_block` recomputes codes and Z on new data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DataError, FormulaError
from ..formula.expression import deparse
from ..formula.random_terms import RandomTerm
from ..formula.terms import TermsInfo
from ..rstyle.numbers import r_format_number
from .design import Design, design_matrix, fit_arrays, make_design, newdata_arrays
from .evaluate import Evaluator, check_columns_exist
from .factors import Factor, codes_for_levels, drop_unused_levels, format_levels, interaction
from .values import Numeric, NumericMatrix, as_factor, level_labels


@dataclass(eq=False)
class RandomEffectBlock:
    """One random-effects term ``(lhs | group)``.

    ``codes`` (n,) index ``levels`` (lme4's level order); ``Z`` (n, k) is the
    raw model matrix of the term's left-hand side with column names
    ``columns``; ``covariance`` is the core's name of the term's covariance structure
    (``"unstructured"`` for lme4's terms; glmmTMB's ``diag()``, ``cs()``, ``ar1()`` give
    ``"diagonal"``, ``"heterogeneous_compound_symmetry"``, ``"ar1"``): every model built
    from the frame hands it to the core as is.
    """

    group: str
    codes: np.ndarray
    levels: list
    columns: list
    Z: np.ndarray
    covariance: str = "unstructured"
    lhs: str = ""
    term: str = ""

    @property
    def correlated(self) -> bool:
        """Whether the structure has correlations between the term's columns."""
        return self.covariance != "diagonal"

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    @property
    def n_columns(self) -> int:
        return len(self.columns)


@dataclass
class RandomBlockSpec:
    """What rebuilds a block on new data: the design of its left-hand side and
    the expressions whose interaction is its grouping factor."""

    design: Design
    group_nodes: list


@dataclass
class _Term:
    term: RandomTerm
    design: Design
    Z: np.ndarray
    factor: Factor
    group_nodes: list


def _check_structure(rt: RandomTerm, ti: TermsInfo, vals: list, k: int) -> None:
    """What glmmTMB's wrappers need of the data: ar1() a factor (one with a single level the
    design refuses, as R's contrasts do), cs() more than one column (the formula checks the
    rest, :mod:`merx.formula.covariance_terms`)."""
    if rt.covariance == "ar1":
        lab, v = ti.var_labels[0], vals[0]
        if not isinstance(v, Factor):
            raise FormulaError(
                f"ar1() needs a factor time variable: {lab!r} in {rt.source} is not a factor; use "
                f"ar1(0 + factor({lab}) | {rt.group}) (glmmTMB: ar1() expects a single, factor variable as the "
                f"time component)"
            )
    if rt.covariance == "heterogeneous_compound_symmetry" and k < 2:
        raise FormulaError(
            f"{rt.source} has one column, so there is no correlation to estimate: write ({rt.term})"
        )


#: Rows from which a random term shares X's columns instead of a copy (below, a copy costs
#: less than the check).
_SHARE_MIN_ROWS = 1 << 16
#: Rows of X and of a term's own model matrix compared before the term shares X's columns.
_SHARED_CHECK_ROWS = 4096


def _columns_of_x(colnames: list, fixed_x, n: int):
    """X's columns ``colnames`` as a view, when X has them side by side in that order (a
    random term's left-hand side repeating fixed terms, e.g. ``x + (1 + x | g)``): the same
    design code on the same rows makes the same columns, so the term needs no copy of them.
    None otherwise."""
    if fixed_x is None or n < _SHARE_MIN_ROWS:
        return None
    X, names = fixed_x
    k = len(colnames)
    if not k or colnames[0] not in names:
        return None
    j = names.index(colnames[0])
    if names[j:j + k] != list(colnames) or X.shape[0] != n:
        return None
    return X[:, j:j + k]


def _same_columns(Z_view: np.ndarray, design, vals: list, n: int) -> bool:
    """Whether the term's own model matrix equals ``Z_view`` on a sample of rows (the first,
    the last and evenly spaced ones): a guard on :func:`_columns_of_x`'s reasoning that costs
    no n-row copy."""
    rows = np.unique(np.concatenate([np.arange(min(n, 64)), np.linspace(0, n - 1, min(n, _SHARED_CHECK_ROWS)).astype(np.int64)]))

    def sampled(v):
        if isinstance(v, Factor):  # the codes as they are: the design holds the levels
            return Factor(v.codes[rows], v.levels)
        if isinstance(v, NumericMatrix):
            return NumericMatrix(v.values[rows], v.colnames)
        if np.ndim(v.values) == 0:  # a constant
            return v
        return type(v)(v.values[rows])

    own = design_matrix(design, fit_arrays(design, [sampled(v) for v in vals]), len(rows))
    return np.array_equal(own, Z_view[rows])


def _build_term(rt: RandomTerm, ti: TermsInfo, values: dict, n: int, fixed_x=None) -> _Term:
    ctx = f"random-effects term ({rt.term})"
    vals = [values[lab] for lab in ti.var_labels]
    design = make_design(ti, vals, ctx)
    _check_structure(rt, ti, vals, len(design.colnames))
    for lab, v in zip(ti.var_labels, vals):
        if isinstance(v, Numeric):
            vv = v.values
            if vv.size and np.minimum.reduce(vv, axis=None) == np.maximum.reduce(vv, axis=None):  # (no NaN here)
                raise DataError(
                    f"slope variable {lab!r} in {ctx} is constant (every used row is "
                    f"{r_format_number(vv[0])}), so its random slope cannot be separated from the "
                    f"random intercept; remove it from the term"
                )
    Z = _columns_of_x(design.colnames, fixed_x, n)
    if Z is None or not _same_columns(Z, design, vals, n):
        Z = design_matrix(design, fit_arrays(design, vals), n)
    comps = rt.group_components
    facs = [as_factor(values[deparse(nd)], f"grouping factor {deparse(nd)!r}") for nd in comps]
    if len(facs) > 1:  # (one factor: interaction() drops its unused levels itself)
        facs = [drop_unused_levels(f) for f in facs]
    return _Term(rt, design, Z, interaction(facs), comps)


def _check_levels(terms: list, n: int, allow_n: bool) -> None:
    """lme4's checkNlevels and checkZdims (the latter for lme4's terms only); ``allow_n``: glmer's ``allow.n = TRUE`` (a grouping
    factor may have one level per observation, e.g. an observation-level random effect)."""
    for t in terms:
        rt, L = t.term, len(t.factor.levels)
        if L < 2:
            raise DataError(
                f"grouping factor {rt.group!r} of ({rt.term}) has {L} level among the rows used "
                f"({format_levels(t.factor.levels)}); grouping factors must have > 1 sampled level: drop the term "
                f"or use data with several groups"
            )
        if (L > n) if allow_n else (L >= n):
            why = "" if allow_n else (
                "; a grouping factor with one level per observation is confounded with the residual error"
            )
            raise DataError(
                f"number of levels of each grouping factor must be {'<=' if allow_n else '<'} number of "
                f"observations: {rt.group!r} of ({rt.term}) has {L} levels for {n} observations{why}"
            )
    for t in terms:
        if t.term.wrapper:
            continue  # glmmTMB's terms: glmmTMB has no checkZdims (a structured term may have n random effects)
        q = len(t.factor.levels) * t.Z.shape[1]
        if (n < q) if allow_n else (n <= q):
            raise DataError(
                f"number of observations (={n}) {'<' if allow_n else '<='} number of random effects (={q}) for "
                f"term ({t.term.term}); the random-effects parameters"
                f"{'' if allow_n else ' and the residual variance (or scale parameter)'} are probably "
                f"unidentifiable: simplify the term"
            )


def build_random_effects(random_terms: list, random_tis: list, values: dict, n: int, allow_n: bool = False,
                         fixed_x=None) -> tuple:
    """``(blocks, specs)`` of the expanded bar terms given the variable values on the used rows;
    ``allow_n``: lme4's glmer checks (see :func:`_check_levels`); ``fixed_x``: (X, its column
    names), whose columns a term may share (see :func:`_columns_of_x`)."""
    terms = [_build_term(rt, ti, values, n, fixed_x) for rt, ti in zip(random_terms, random_tis)]
    nl = [len(t.factor.levels) for t in terms]
    if any(nl[i + 1] > nl[i] for i in range(len(nl) - 1)):
        order = sorted(range(len(nl)), key=lambda i: (nl[i], i))[::-1]
        terms = [terms[i] for i in order]
    _check_levels(terms, n, allow_n)
    blocks = [
        RandomEffectBlock(
            group=t.term.group,
            codes=t.factor.codes,
            levels=list(t.factor.levels),
            columns=list(t.design.colnames),
            Z=t.Z,
            covariance=t.term.covariance,
            lhs=t.term.lhs,
            term=t.term.term,
        )
        for t in terms
    ]
    specs = [RandomBlockSpec(design=t.design, group_nodes=list(t.group_nodes)) for t in terms]
    return blocks, specs


def newdata_block(spec: RandomBlockSpec, block: RandomEffectBlock, ev: Evaluator, n: int) -> tuple:
    """``(codes, Z)`` of a block on new data; codes are -1 for a level not seen
    when fitting (or missing)."""
    context = f"random-effects term ({block.term})"
    check_columns_exist(ev.src, spec.design.var_nodes + spec.group_nodes, context)
    Z = design_matrix(spec.design, newdata_arrays(spec.design, ev, n, context), n)
    labels = None
    for node in spec.group_nodes:
        lab = level_labels(ev.eval(node), f"grouping factor {deparse(node)!r}")
        labels = lab if labels is None else np.array(
            [None if (a is None or b is None) else f"{a}:{b}" for a, b in zip(labels, lab)], dtype=object)
    codes = codes_for_levels(labels, block.levels, f"grouping factor {block.group!r}", "minus1")
    return codes, np.asfortranarray(Z)
