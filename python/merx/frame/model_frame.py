"""Model frame: turn a parsed formula and a data frame into y, X and the
random-effects blocks, with R/lme4 semantics.

:func:`build_model_frame` is the pipeline, one step per module:

1. the data (:mod:`merx.frame.data_source`): pandas, polars or a dict of columns;
2. the variables (:mod:`merx.frame.evaluate`, :mod:`merx.frame.model_variables`): every
   variable the model uses is evaluated on the data (pandas Categoricals keep
   their level order; strings, objects and booleans become factors with
   sorted levels; numeric grouping variables become factors with numerically
   sorted levels labelled as R prints numbers, :mod:`merx.frame.factors`); rows with
   a missing value in any of them are dropped (``na.omit``) and levels that do
   not occur in the used rows are dropped (``drop.unused.levels``);
3. the response, weights and offset (for a GLMM, the family's rules of
   :mod:`merx.frame.glm_response`: binomial ``y`` as proportions and weights
   as trials × prior weights, as R);
4. fixed effects (:mod:`merx.frame.fixed_effects`, :mod:`merx.frame.design`): R's
   ``model.matrix`` (terms ordered by degree, treatment contrasts with the
   first level as reference, R's rule for full dummy coding, R column names
   such as ``(Intercept)``, ``sexfemale``, ``age:sexfemale``); aliased columns
   are dropped as lme4 does (LINPACK pivoted QR, tol 1e-7);
5. random effects (:mod:`merx.frame.random_effects`): one block per expanded bar
   term, in lme4's ``mkReTrms`` order, with lme4's checks on the number of
   levels and random effects (lme4's ``glFormula`` checks for a GLMM: a grouping
   factor may have one level per observation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import DataError, FormulaError
from ..families import Family, Gaussian, resolve_family
from ..formula.expression import Name, deparse, variable_names
from ..formula.model_formula import ParsedFormula, parse_formula
from .data_source import DataSource, row_name, to_pandas
from .design import Design, design_matrix, full_dummy_matrix, newdata_arrays
from .evaluate import Evaluator, check_columns_exist, check_names_exist
from .fixed_effects import build_fixed_effects
from .glm_response import glm_response, single_numeric_response
from .model_variables import evaluate_variables
from .random_effects import build_random_effects, newdata_block
from .values import Logical, Numeric

__all__ = ["ModelFrame", "build_model_frame"]


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
    family: Family | None = None  # the GLM family of a GLMM; None for lmer
    binomial_n: np.ndarray | None = None  # binomial: R's n (s + f of cbind(s, f), else 1); else None
    _fixed_design: Design | None = field(default=None, repr=False)
    _x_keep: list = field(default_factory=list, repr=False)
    _fixed_arrays: list = field(default_factory=list, repr=False)  # the fixed design's variables
    _random_specs: list = field(default_factory=list, repr=False)
    _state: dict = field(default_factory=dict, repr=False)
    _offset_nodes: list = field(default_factory=list, repr=False)
    _offset_arg: Any = field(default=None, repr=False)

    @property
    def nobs(self) -> int:
        return int(self.y.shape[0])

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

    def full_dummy_matrix(self) -> tuple:
        """lmerTest's ``get_rdX``: the fixed-effects model matrix with every factor coded by
        indicators of all its levels in every term (rank deficient), and its column names."""
        return full_dummy_matrix(self._fixed_design, self._fixed_arrays, self.nobs)

    # ------------------------------------------------------------------
    # new data (predict)
    # ------------------------------------------------------------------

    def _new_evaluator(self, newdata) -> Evaluator:
        src = DataSource(to_pandas(newdata, "newdata"), "newdata")
        return Evaluator(src, self._state, fitting=False, context="the model (newdata)")

    def new_fixed_matrix(self, newdata) -> np.ndarray:
        """Fixed-effects model matrix of ``newdata`` with the columns of ``X``.

        Factors are coded with the fitting levels (a level not seen when
        fitting raises DataError); rows with a missing predictor give NaN rows.
        """
        ev = self._new_evaluator(newdata)
        d = self._fixed_design
        check_columns_exist(ev.src, d.var_nodes, "the fixed effects")
        n = ev.src.n
        M = design_matrix(d, newdata_arrays(d, ev, n, "fixed effects"), n)
        return np.asfortranarray(M[:, self._x_keep])

    def new_random_blocks(self, newdata) -> list:
        """Per block (same order as ``blocks``): ``(codes, Z)`` for ``newdata``;
        codes are int64 with -1 for a level not seen when fitting (or missing)."""
        ev = self._new_evaluator(newdata)
        return [newdata_block(spec, block, ev, ev.src.n) for spec, block in zip(self._random_specs, self.blocks)]

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
        check_columns_exist(ev.src, nodes, "the offset")
        for nd in nodes:
            total = total + ev.numeric(ev.eval(nd), nd)
        return total


# ---------------------------------------------------------------------------
# build_model_frame
# ---------------------------------------------------------------------------


def build_model_frame(parsed, data, weights=None, offset=None, data_name=None, family=None) -> ModelFrame:
    """Build the :class:`ModelFrame` of an lme4 formula on ``data``, with lme4's
    ``lmer`` checks (a numeric response; fewer levels of a grouping factor and
    fewer random effects than observations), or with ``family`` those of
    ``glmer``.

    ``parsed``: a :class:`~merx.formula.model_formula.ParsedFormula` or a formula string;
    ``data``: pandas or polars DataFrame, or dict of columns; ``weights`` and
    ``offset``: column name or array (one value per row of ``data``);
    ``family``: None (a linear mixed model) or a GLM family (anything
    :func:`merx.families.resolve_family` accepts). With a family, ``y`` and
    ``weights`` follow R's ``family$initialize`` (:mod:`merx.frame.glm_response`):
    for binomial, ``y`` is the proportion of successes, ``weights`` the
    trials × prior weights (always an array) and ``binomial_n`` R's ``n``;
    for the other families ``y`` is the response, checked against the family's
    support, and ``weights`` the prior weights (None when not given).
    """
    fam = None if family is None else resolve_family(family)
    if isinstance(parsed, str):
        parsed = parse_formula(parsed)
    if not isinstance(parsed, ParsedFormula):
        raise FormulaError(f"expected a formula string or ParsedFormula, got {type(parsed).__name__}")
    df = to_pandas(data)
    src = DataSource(df)
    formula_ctx = f"the formula {parsed.formula!r}"

    # 1. the terms, and every column they use present in the data
    fixed_ti = parsed.fixed_terms()
    random_terms = list(parsed.random)
    random_tis = [rt.lhs_terms() for rt in random_terms]
    variables, names = _formula_variables(parsed, fixed_ti, random_terms, random_tis)
    check_names_exist(src, names, formula_ctx)
    if src.n == 0:
        raise DataError("the data has no rows")

    # 2. the variables on the rows without missing values
    state: dict = {}
    ev = Evaluator(src, state, fitting=True, context=formula_ctx)
    used = evaluate_variables(variables, ev, df, weights=weights, offset=offset)
    n, keep, values = used.n, used.keep, used.values

    # 3. response, weights, offset
    _check_weights(used.weights, keep, df)
    rv = values[deparse(parsed.response_expr)]
    prior_weights, binomial_n = used.weights, None
    if fam is None:
        y = single_numeric_response(rv, parsed.response, "lmer")
    else:
        rows = np.flatnonzero(keep)
        glm = glm_response(rv, parsed.response, fam, used.weights, lambda i: row_name(df, rows[i]))
        y, prior_weights, binomial_n = glm.y, glm.weights, glm.binomial_n
    off = _total_offset(fixed_ti.offsets, values, used.offset, n)

    # 4. fixed effects
    fixed = build_fixed_effects(fixed_ti, [values[lab] for lab in fixed_ti.var_labels], n)

    # 5. random effects
    # lme4's glmer, except for gaussian(identity) which lme4 hands to lmer
    glmm = fam is not None and not (isinstance(fam, Gaussian) and fam.link == "identity")
    blocks, specs = build_random_effects(random_terms, random_tis, values, n, allow_n=glmm, fixed_x=(fixed.X, fixed.names))

    fdesign = fixed.design
    xlevels = {lab: lv for lab, k, lv in zip(fdesign.var_labels, fdesign.var_kinds, fdesign.var_levels)
               if k in ("fac", "log")}
    return ModelFrame(
        formula=parsed.formula,
        response_name=parsed.response,
        y=y,
        X=fixed.X,
        x_names=fixed.names,
        dropped_x_names=fixed.dropped,
        weights=prior_weights,
        offset=off,
        blocks=blocks,
        n_dropped_na=src.n - n,
        row_labels=df.index[keep] if n < src.n else df.index[:],
        data_name=data_name,
        parsed=parsed,
        n_rows_data=src.n,
        x_assign=[fdesign.assign[i] for i in fixed.keep],
        fixed_term_labels=list(fdesign.term_labels),
        xlevels=xlevels,
        family=fam,
        binomial_n=binomial_n,
        _fixed_design=fdesign,
        _x_keep=fixed.keep,
        _fixed_arrays=fixed.arrays,
        _random_specs=specs,
        _state=state,
        _offset_nodes=list(fixed_ti.offsets),
        _offset_arg=offset if (offset is None or isinstance(offset, str)) else "array",
    )


#: ``(variables, names)`` of a formula (see :func:`_formula_variables`), by its parts' text.
_FORMULA_VARIABLES: dict = {}


def _formula_variables(parsed: ParsedFormula, fixed_ti, random_terms: list, random_tis: list) -> tuple:
    """:func:`_variables_used` and the data columns they name, worked out once per formula
    (they depend on nothing else: the key is the formula's text and its random terms; the
    lists returned are shared, read only)."""
    key = (parsed.formula, parsed.response, parsed.fixed, tuple(random_terms))
    found = _FORMULA_VARIABLES.get(key)
    if found is None:
        variables = _variables_used(parsed, fixed_ti, random_terms, random_tis)
        names: list = []
        for nd, _ in variables:
            variable_names(nd, names)
        if len(_FORMULA_VARIABLES) >= 256:
            _FORMULA_VARIABLES.clear()
        found = _FORMULA_VARIABLES[key] = (variables, names)
    return found


def _variables_used(parsed: ParsedFormula, fixed_ti, random_terms: list, random_tis: list) -> list:
    """``(expression, what it is used for)`` of every variable of the model, in the
    order that problems are reported: response, fixed effects, offsets, then
    per random-effects term its variables and its grouping factor."""
    variables = [(parsed.response_expr, "the response")]
    variables += [(nd, "a fixed-effects term") for nd in fixed_ti.variables]
    variables += [(nd, "offset()") for nd in fixed_ti.offsets]
    for rt, ti in zip(random_terms, random_tis):
        variables += [(nd, f"random-effects term ({rt.term})") for nd in ti.variables]
        variables += [(nd, f"the grouping factor of ({rt.term})") for nd in rt.group_components]
    return variables




def _check_weights(w, keep: np.ndarray, df) -> None:
    if w is not None and (w < 0).any():
        first = np.flatnonzero(keep)[np.flatnonzero(w < 0)[0]]
        raise DataError(
            f"weights must not be negative ({int((w < 0).sum())} negative, first in row "
            f"{row_name(df, first)}); give non-negative weights"
        )


def _total_offset(offset_nodes: list, values: dict, offset_arg, n: int):
    """The sum of the formula's ``offset()`` terms and the ``offset=`` argument, or None."""
    if not offset_nodes and offset_arg is None:
        return None
    off = np.zeros(n)
    for nd in offset_nodes:
        v = values[deparse(nd)]
        if not isinstance(v, (Numeric, Logical)):
            raise DataError(f"offset({deparse(nd)}) is not numeric")
        off = off + v.values
    if offset_arg is not None:
        off = off + offset_arg
    return off
