"""``ranova(model)``: lmerTest's single term deletions of the random-effects terms of a
linear mixed model, by refits of reduced model frames (hence here, next to ``lmer``).

lmerTest 3.x's rules (``reduce.terms = TRUE``, the default), per bar term in formula order:

* ``(1 | g)`` (no term on the left) is removed: row ``(1 | g)``;
* ``(f1 + f2 | g)`` is reduced by each term of its left-hand side that R's ``drop.scope``
  allows (no other term of the side contains it): row ``f1 in (f1 + f2 | g)``, model with
  ``(f2 | g)``; when the dropped term is the only one (``(Days | g)``, ``(0 + Days | g)``)
  the term becomes ``(1 | g)``, and a term equal to one already in the model merges with it
  (R's formula algebra), so ``(1 | g) + (0 + Days | g)`` reduced by ``Days`` is ``(1 | g)``;
* with ``reduce_terms=False`` every term is removed whole.

The reduced model keeps the fit's criterion (REML for a REML fit, as lmerTest's
``update``), the data, weights and offset: its frame is the model's frame with the
random-effects blocks changed (the reduced term's Z is the columns of the kept terms, or a
column of ones), fitted from lme4's start. A model left without random effects is a linear
model; its log-likelihood (REML or ML, R's ``logLik.lm``) is the mixed model's criterion at
θ = 0, evaluated by the core.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..errors import MerxError
from ..frame.random_effects import RandomEffectBlock
from ..results.lmer import LmerResult
from ..results.ranova import RanovaResult, register_ranova
from .fitting import run_fit
from .lmer import _problem_from_frame

__all__ = ["ranova"]


def ranova(model: LmerResult, reduce_terms: bool = True) -> RanovaResult:
    """lmerTest's ``ranova(model, reduce.terms)``: likelihood-ratio tests of each
    random-effects term reduced (or removed), against the model.

    Returns a :class:`~merx.results.ranova.RanovaResult` (``.table``: npar, logLik, AIC, LRT,
    Df, Pr(>Chisq), rows ``<none>`` and one per reduction; ``str()`` lmerTest's printed
    table with a note on the boundary).

    Parameters
    ----------
    model : LmerResult
        An lmer fit with at least one random-effects term.
    reduce_terms : bool
        Reduce ``(x | g)`` to ``(1 | g)`` (default) rather than remove the whole term.

    Returns
    -------
    RanovaResult
        The likelihood-ratio table.

    Raises
    ------
    MerxError
        Not an lmer fit, no random-effects term, or ``reduce_terms`` not a bool.
    """
    if not isinstance(model, LmerResult):
        raise MerxError(f"ranova() tests the random effects of a linear mixed model (lmer); got {type(model).__name__}")
    if not isinstance(reduce_terms, (bool, np.bool_)):
        raise MerxError(f"reduce_terms must be True or False, not {reduce_terms!r}")
    frame = model.frame
    if frame.parsed is None or not frame.blocks:
        raise MerxError("ranova() needs the model frame of an lmer fit with at least one random-effects term")
    structured = sorted({b.covariance for b in frame.blocks if b.covariance != "unstructured"})
    if structured:
        raise MerxError(
            f"ranova() reduces lme4's random-effects terms (lmerTest's rules); this model has "
            f"{', '.join(structured)} covariance structures, whose reductions lmerTest does not define: compare "
            f"the fits you mean with anova()"
        )
    order = _formula_order(frame)
    names, npar, loglik, formulae, fits = ["<none>"], [model.df], [model.logLik], [], []
    for bi in order:
        for name, blocks in _reductions(frame, bi, bool(reduce_terms)):
            formula = _formula_text(frame, _in_formula_order(blocks, order, frame.blocks))
            fit_npar, fit_loglik, fit = _refit(model, blocks, formula)
            names.append(name)
            npar.append(fit_npar)
            loglik.append(fit_loglik)
            formulae.append(formula)
            fits.append(fit)
    return RanovaResult(_formula_text(frame, [frame.blocks[i] for i in order]), names, npar, loglik, formulae, fits)


def _formula_order(frame: Any) -> list:
    """Block indices in the order of the bar terms in the formula (blocks are in lme4's
    order, by decreasing number of levels)."""
    free = list(range(len(frame.blocks)))
    order = []
    for rt in frame.parsed.random:
        i = next(i for i in free if frame.blocks[i].term == rt.term)
        free.remove(i)
        order.append(i)
    return order + free


def _in_formula_order(blocks: list, order: list, original: list) -> list:
    """``blocks`` (kept originals, then the reduced term) as the reduced formula lists them."""
    kept = [original[i] for i in order if any(b is original[i] for b in blocks)]
    return kept + [b for b in blocks if not any(b is o for o in original)]


def _reductions(frame: Any, bi: int, reduce_terms: bool) -> list:
    """``(row name, blocks of the reduced model)`` for the reductions of block ``bi``."""
    blk, spec = frame.blocks[bi], frame._random_specs[bi]
    others = [b for i, b in enumerate(frame.blocks) if i != bi]
    design = spec.design
    if not reduce_terms or not design.term_labels:
        return [(f"({blk.term})", others)]
    out = []
    sets = [set(t) for t in design.terms]
    for j, label in enumerate(design.term_labels):
        if any(k != j and sets[j] < sets[k] for k in range(len(sets))):
            continue  # R's drop.scope: a term inside a higher-order one is not dropped alone
        if len(design.term_labels) == 1:
            reduced = dataclasses.replace(blk, columns=["(Intercept)"], Z=np.ones((blk.Z.shape[0], 1)),
                                          lhs="1", term=f"1 | {blk.group}")
        else:
            reduced = _without_term(blk, design, j, label)
        same = [b for b in others if b.group == reduced.group and list(b.columns) == list(reduced.columns)]
        out.append((f"{label} in ({blk.term})", others if same else others + [reduced]))
    return out


def _without_term(blk: RandomEffectBlock, design: Any, j: int, label: str) -> RandomEffectBlock:
    """The block with the columns of left-hand-side term ``j`` (1-based ``assign`` j + 1) removed."""
    kinds = dict(zip(design.var_labels, design.var_kinds))
    factors_left = any(kinds.get(v) in ("fac", "log") for t, lab in enumerate(design.term_labels) if t != j
                       for v in lab.split(":"))
    if not design.intercept and factors_left:
        raise MerxError(
            f"ranova() cannot reduce ({blk.term}) by {label}: without an intercept the remaining factor's "
            "coding changes; refit the reduced model with lmer and compare with anova(..., refit=False)"
        )
    keep = [c for c, a in enumerate(design.assign) if a != j + 1]
    labels = [lab for t, lab in enumerate(design.term_labels) if t != j]
    lhs = " + ".join(labels) if design.intercept else " + ".join(["0"] + labels)
    return dataclasses.replace(blk, columns=[blk.columns[c] for c in keep], Z=np.ascontiguousarray(blk.Z[:, keep]),
                               lhs=lhs, term=f"{lhs} | {blk.group}")


def _formula_text(frame: Any, blocks: list) -> str:
    """The formula as R's ``update.formula`` writes it (lmerTest's ``Model:`` line and
    reduced formulae): fixed terms and bar terms ordered by degree, ``- 1`` without an
    intercept."""
    ti = frame.parsed.fixed_terms()
    fixed = [(len(t), lab) for t, lab in zip(ti.terms, ti.term_labels)]
    bars = [(1, f"({b.term})") for b in blocks]
    labels = [lab for _, lab in sorted(fixed + bars, key=lambda x: x[0])]
    rhs = " + ".join(labels) if labels else "1"
    if not ti.intercept:
        rhs = f"{rhs} - 1" if labels else "-1"
    return f"{frame.response_name} ~ {rhs}"


def _refit(model: LmerResult, blocks: list, formula: str) -> tuple:
    """``(npar, logLik, fit)`` of the reduced model with random-effects ``blocks``."""
    frame = model.frame
    p = len(frame.x_names)
    if not blocks:
        problem = _problem_from_frame(frame, REML=model.reml)
        theta0 = np.zeros(len(model.theta))
        return p + 1, -0.5 * float(problem.deviance(theta0)), None
    nl = [len(b.levels) for b in blocks]
    ordered = [blocks[i] for i in sorted(range(len(blocks)), key=lambda i: -nl[i])]
    reduced = dataclasses.replace(frame, blocks=ordered, formula=formula, _random_specs=[])
    problem = _problem_from_frame(reduced, REML=model.reml)
    fit = run_fit(lambda: problem.fit(theta_start=None, max_fun=None, optimizer="auto"))
    result = LmerResult(reduced, fit, data_name=model.data_name, call_formula=formula, problem=problem,
                        weights_name=model.weights_name, offset_name=model.offset_name)
    return result.df, result.logLik, result


register_ranova(ranova)
