"""The model frame of data read in batches (Parquet, Dask partitions).

:func:`build_stream_spec` turns the representative rows of pass 1
(:mod:`merx.frame.level_scan`) into what codes any batch: the fixed-effects design with
every factor's levels, the random-effects terms in lme4's order with their grouping
levels, lme4's level checks against the number of used rows. :func:`batch_arrays` is pass
2's frame of one batch: its X (all columns of the design, aliased ones included: which
are aliased is known only once every row was seen, :func:`aliased_columns`), y - offset,
weights, per term the level codes and Z: exactly what the in-memory frame of all rows has
for those rows (R's contrasts, names and level order). :func:`streamed_model_frame` is the
:class:`ModelFrame` a result keeps: names, levels and designs for ``predict(newdata)``,
no rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import DataError, MerxError
from ..formula.expression import deparse
from ..rstyle.numbers import r_format_number
from .design import design_matrix, make_design
from .factors import Factor, codes_for_levels, drop_unused_levels, interaction, sorted_unique
from .fixed_effects import dqrdc2, scale_warning
from .glm_response import single_numeric_response
from .level_scan import evaluate_batch, missing_rows, numeric_column
from .model_frame import ModelFrame, _variables_used
from .random_effects import RandomBlockSpec, RandomEffectBlock, _check_levels, _Term
from .values import Logical, Numeric, as_factor


@dataclass
class GroupCoder:
    """Codes a grouping factor of a batch: per component its levels (numbers sorted, or
    labels), the combination of component codes → the factor's level."""

    numeric_levels: list  # per component: sorted float levels, or None (labels)
    label_levels: list  # per component: R's labels
    combo_keys: np.ndarray  # sorted mixed-radix keys of the present combinations
    combo_level: np.ndarray  # the factor's level of each key
    dense: list = field(default_factory=list)  # per component: (min, code per whole number) or None


@dataclass
class StreamSpec:
    """Everything pass 2 needs to build any batch's arrays (picklable: Dask workers)."""

    parsed: object
    variables: list
    weights: str | None
    offset: str | None
    columns: list
    state: dict
    fixed_design: object
    blocks: list  # RandomEffectBlock without rows, lme4's order
    random_specs: list
    coders: list
    fixed_term_offsets: list
    n_rows: int
    n_used: int
    context: str = ""
    xlevels: dict = field(default_factory=dict)


def stream_variables(parsed, weights, offset) -> tuple:
    """``(variables, group components per random term, fixed terms)`` of a formula."""
    fixed_ti = parsed.fixed_terms()
    random_terms = list(parsed.random)
    random_tis = [rt.lhs_terms() for rt in random_terms]
    variables = _variables_used(parsed, fixed_ti, random_terms, random_tis)
    groups = [[deparse(nd) for nd in rt.group_components] for rt in random_terms]
    return variables, groups, fixed_ti


def build_stream_spec(parsed, rep: pd.DataFrame, scan, weights, offset, columns: list) -> StreamSpec:
    """The designs and grouping levels of all rows from pass 1's representative rows."""
    variables, _, fixed_ti = stream_variables(parsed, weights, offset)
    state: dict = {}
    context = f"the formula {parsed.formula!r}"
    used = evaluate_batch(variables, rep, state, True, context)
    values = {lab: v for lab, (v, _) in used.items()}
    design = make_design(fixed_ti, [values[lab] for lab in fixed_ti.var_labels], "the fixed effects")
    terms, coders = [], []
    for rt in parsed.random:
        ti = rt.lhs_terms()
        rdesign = make_design(ti, [values[lab] for lab in ti.var_labels], f"random-effects term ({rt.term})")
        for lab in ti.var_labels:  # lme4's check of a constant slope, over all used rows
            lo, hi = scan.ranges.get(lab, (0.0, 1.0))
            if isinstance(values[lab], Numeric) and lo == hi:
                raise DataError(
                    f"slope variable {lab!r} in random-effects term ({rt.term}) is constant (every used row is "
                    f"{r_format_number(lo)}), so its random slope cannot be separated from the random intercept; "
                    "remove it from the term")
        comps = [values[deparse(nd)] for nd in rt.group_components]
        facs = [drop_unused_levels(as_factor(v, f"grouping factor {deparse(nd)!r}"))
                for v, nd in zip(comps, rt.group_components)]
        fac = interaction(facs)
        terms.append(_Term(rt, rdesign, np.empty((0, len(rdesign.colnames))), fac, list(rt.group_components)))
        coders.append(_group_coder(comps, facs, fac))
    nl = [len(t.factor.levels) for t in terms]
    order = sorted(range(len(nl)), key=lambda i: (nl[i], i))[::-1] if any(
        nl[i + 1] > nl[i] for i in range(len(nl) - 1)) else list(range(len(nl)))
    terms, coders = [terms[i] for i in order], [coders[i] for i in order]
    _check_levels(terms, scan.n_used, False)
    blocks = [RandomEffectBlock(group=t.term.group, codes=np.empty(0, dtype=np.int64), levels=list(t.factor.levels),
                                columns=list(t.design.colnames), Z=np.empty((0, len(t.design.colnames))),
                                covariance=t.term.covariance, lhs=t.term.lhs, term=t.term.term) for t in terms]
    xlevels = {lab: lv for lab, k, lv in zip(design.var_labels, design.var_kinds, design.var_levels)
               if k in ("fac", "log")}
    return StreamSpec(parsed=parsed, variables=variables, weights=weights, offset=offset, columns=columns,
                      state=state, fixed_design=design, blocks=blocks,
                      random_specs=[RandomBlockSpec(design=t.design, group_nodes=list(t.group_nodes)) for t in terms],
                      coders=coders, fixed_term_offsets=list(fixed_ti.offsets), n_rows=scan.n_rows,
                      n_used=scan.n_used, context=context, xlevels=xlevels)


def _group_coder(values: list, facs: list, fac: Factor) -> GroupCoder:
    numeric = [np.array([float(x) for x in sorted_unique(np.asarray(v.values, float))[0]])
               if isinstance(v, Numeric) else None for v in values]
    key = np.zeros(fac.codes.shape[0], dtype=np.int64)
    for f in facs:
        key = key * (len(f.levels) + 1) + f.codes
    keys, first = np.unique(key, return_index=True)
    return GroupCoder(numeric, [list(f.levels) for f in facs], keys, fac.codes[first],
                      [_dense_table(levels) for levels in numeric])


def _dense_table(levels):
    """Whole-number levels in a range not much wider than their count (integer ids): a
    table from value - min to code, a lookup per row instead of a binary search."""
    if levels is None or not len(levels) or not np.array_equal(levels, np.floor(levels)):
        return None
    lo, hi = levels[0], levels[-1]
    if hi - lo > 4 * len(levels) + 1024:
        return None
    table = np.full(int(hi - lo) + 1, -1, dtype=np.int64)
    table[(levels - lo).astype(np.int64)] = np.arange(len(levels))
    return lo, table


def _component_codes(v, numeric_levels, labels: list, what: str, dense=None) -> np.ndarray:
    """Codes of a factor-like value in the levels of all rows (-1 for a level not among them)."""
    if dense is not None and isinstance(v, Numeric):
        lo, table = dense
        shifted = v.values - lo
        index = shifted.astype(np.int64)
        ok = (index == shifted) & (index >= 0) & (index < len(table))
        return np.where(ok, table[np.where(ok, index, 0)], -1)
    if numeric_levels is not None and isinstance(v, Numeric):
        x = v.values
        codes = np.searchsorted(numeric_levels, x)
        ok = codes < len(numeric_levels)
        ok[ok] = numeric_levels[codes[ok]] == x[ok]
        return np.where(ok, codes, -1)
    f = as_factor(v, what)
    return codes_for_levels(np.asarray(f.levels, dtype=object), labels, what, "minus1")[f.codes]


def _factor_codes(coder: GroupCoder, values: list, what: str) -> np.ndarray:
    dense = coder.dense or [None] * len(values)
    codes = [_component_codes(v, num, labels, what, d)
             for v, num, labels, d in zip(values, coder.numeric_levels, coder.label_levels, dense)]
    key = np.zeros(codes[0].shape[0], dtype=np.int64)
    for c, labels in zip(codes, coder.label_levels):
        if (c < 0).any():
            raise MerxError(f"{what}: a level not met in the first pass over the data (internal error)")
        key = key * (len(labels) + 1) + c
    if len(codes) == 1:  # one component: its levels are the factor's
        return np.ascontiguousarray(key, dtype=np.int64)
    pos = np.minimum(np.searchsorted(coder.combo_keys, key), len(coder.combo_keys) - 1)
    if not np.array_equal(coder.combo_keys[pos], key):
        raise MerxError(f"{what}: a combination of levels not met in the first pass over the data (internal error)")
    return np.ascontiguousarray(coder.combo_level[pos], dtype=np.int64)


def _design_arrays(design, values: dict, n: int) -> list:
    """The per-variable inputs of ``design_matrix`` for one batch, factors coded with the
    levels of all rows."""
    out = []
    for node, lab, k, lv in zip(design.var_nodes, design.var_labels, design.var_kinds, design.var_levels):
        v = values[lab]
        if k == "num":
            out.append(np.broadcast_to(np.asarray(v.values, float), (n,)))
        elif k == "mat":
            out.append(v.values)
        else:
            codes = _component_codes(v, None, list(lv), f"factor {lab!r}")
            if (codes < 0).any():
                raise MerxError(f"factor {lab!r}: a level not met in the first pass over the data (internal error)")
            out.append(codes)
    return out


@dataclass
class BatchArrays:
    X: np.ndarray  # (n, p_full) Fortran order
    r: np.ndarray  # y - offset
    weights: np.ndarray | None
    terms: list  # (codes, Z) per block
    n_rows: int  # rows of the batch before dropping missing ones
    keep: np.ndarray  # bool (n_rows,): the rows used
    offset: np.ndarray  # the offset of the rows used (zeros without one)
    y: np.ndarray  # the response (a GLMM's: a binomial proportion, its weights the trials)


def batch_arrays(spec: StreamSpec, df: pd.DataFrame, where: str, response=None) -> BatchArrays | None:
    """One batch's arrays on its rows without missing values (None when it has none).

    ``response(value, label, weights, where) -> (y, weights)``: a GLMM family's response
    rules (:mod:`merx.frame.glm_response`); None: lmer's single numeric response."""
    used = evaluate_batch(spec.variables, df, {}, False, spec.context)
    w = numeric_column(df, spec.weights, "weights", where)
    o = numeric_column(df, spec.offset, "offset", where)
    keep = ~missing_rows(used, w, o, where)
    n_rows = len(df)
    if not keep.all():
        if not keep.any():
            return None
        df = df.iloc[np.flatnonzero(keep)]
        used = evaluate_batch(spec.variables, df, {}, False, spec.context)
        w = None if w is None else w[keep]
        o = None if o is None else o[keep]
    values = {lab: v for lab, (v, _) in used.items()}
    n = len(df)
    for lab, v in values.items():
        if isinstance(v, Numeric) and v.values.ndim == 1 and not np.isfinite(v.values).all():
            raise DataError(f"{lab!r} has infinite values in {where}; remove those rows or transform the variable")
    rv = values[deparse(spec.parsed.response_expr)]
    if response is None:
        y = single_numeric_response(rv, spec.parsed.response, "lmer")
    else:
        y, w = response(rv, spec.parsed.response, w, where)
    off = np.zeros(n) if o is None else o.copy()
    for nd in spec.fixed_term_offsets:
        v = values[deparse(nd)]
        if not isinstance(v, (Numeric, Logical)):
            raise DataError(f"offset({deparse(nd)}) is not numeric")
        off += v.values
    if w is not None and (w < 0).any():  # (a GLMM response checked its weights already)
        raise DataError(f"weights must not be negative ({int((w < 0).sum())} negative in {where})")
    X = design_matrix(spec.fixed_design, _design_arrays(spec.fixed_design, values, n), n)
    terms = []
    for block, rspec, coder in zip(spec.blocks, spec.random_specs, spec.coders):
        Z = design_matrix(rspec.design, _design_arrays(rspec.design, values, n), n)
        comps = [values[deparse(nd)] for nd in rspec.group_nodes]
        codes = _factor_codes(coder, comps, f"grouping factor {block.group!r}")
        terms.append((codes, np.asfortranarray(Z)))
    return BatchArrays(X=np.asfortranarray(X), r=np.ascontiguousarray(y - off), weights=w, terms=terms,
                       n_rows=n_rows, keep=keep, offset=off, y=np.ascontiguousarray(y, dtype=float))


class ColumnMoments:
    """Per column of X: rows, mean, sum of squared deviations (Chan et al.'s pairwise
    update, no cancellation) and whether every value is 0 or 1 — lme4's check.scaleX on
    all rows."""

    def __init__(self, p: int):
        self.n, self.mean, self.m2 = 0, np.zeros(p), np.zeros(p)
        self.binary = np.ones(p, dtype=bool)

    def add(self, X: np.ndarray) -> "ColumnMoments":
        other = ColumnMoments(X.shape[1])
        other.n, other.mean = X.shape[0], X.mean(axis=0)
        other.m2 = ((X - other.mean) ** 2).sum(axis=0)
        other.binary = ((X == 0.0) | (X == 1.0)).all(axis=0)
        return self.merge(other)

    def merge(self, o: "ColumnMoments") -> "ColumnMoments":
        n = self.n + o.n
        if o.n:
            delta = o.mean - self.mean
            self.m2 = self.m2 + o.m2 + delta**2 * self.n * o.n / n
            self.mean = self.mean + delta * o.n / n
            self.n = n
            self.binary &= o.binary
        return self

    def check_scale(self, kept: list) -> None:
        binary = self.binary[kept]
        if self.n >= 2 and not binary.all():
            scale_warning(np.sqrt(self.m2[kept][~binary] / (self.n - 1)))


def stacked_r(R: np.ndarray | None, X: np.ndarray) -> np.ndarray:
    """The R factor of the rows so far and ``X`` (a QR of [R; X]): the column norms and
    the pivoted QR of X of all rows without holding them."""
    stack = X if R is None else np.vstack([R, X])
    return np.linalg.qr(stack, mode="r")


def aliased_columns(R: np.ndarray, names: list) -> list:
    """Indices of the kept columns by R's ``dqrdc2`` (tol 1e-7), applied to the R factor of
    X (the same column norms and Householder steps as on X itself)."""
    if R.shape[1] == 0:
        return []
    rank, piv = dqrdc2(R)
    return list(range(R.shape[1])) if rank == R.shape[1] else sorted(piv[:rank])


def streamed_model_frame(spec: StreamSpec, kept: list, data_name: str | None, offset_arg) -> ModelFrame:
    """The model frame of a streamed fit: names, levels, designs; no rows."""
    d = spec.fixed_design
    dropped = [d.colnames[i] for i in range(len(d.colnames)) if i not in set(kept)]
    return ModelFrame(
        formula=spec.parsed.formula, response_name=spec.parsed.response, y=np.empty(0),
        X=np.empty((0, len(kept)), order="F"), x_names=[d.colnames[i] for i in kept], dropped_x_names=dropped,
        weights=None, offset=None, blocks=spec.blocks, n_dropped_na=spec.n_rows - spec.n_used, row_labels=None,
        data_name=data_name, parsed=spec.parsed, n_rows_data=spec.n_rows, x_assign=[d.assign[i] for i in kept],
        fixed_term_labels=list(d.term_labels), xlevels=spec.xlevels, _fixed_design=d, _x_keep=list(kept),
        _fixed_arrays=[], _random_specs=spec.random_specs, _state=spec.state,
        _offset_nodes=list(spec.fixed_term_offsets), _offset_arg=offset_arg,
    )
