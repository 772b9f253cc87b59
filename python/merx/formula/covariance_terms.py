"""glmmTMB's covariance-structure wrappers around bar terms: ``us(x | g)``, ``diag(x | g)``,
``cs(x | g)``, ``ar1(0 + f | g)``.

A wrapper names the covariance structure of the random-effects term inside it (glmmTMB
1.1.5's definitions, Var(b_level) per level of g):

* ``us``: unstructured, any positive semi-definite matrix (the default, ``(x | g)``);
* ``diag``: one variance per column, no correlations (for a factor term not lme4's
  ``(f || g)``, which merx expands as lme4 1.1-31 does: ``(1 | g) + (0 + f | g)``);
* ``cs``: heterogeneous compound symmetry, one variance per column and one common
  correlation ρ;
* ``ar1``: over the levels of a factor f in order, σ_b² φ^|i-j|. glmmTMB requires a single
  factor (``ar1(0 + x | g)`` with x numeric is an error there) and warns that an AR1 with an
  intercept is not meaningful; merx refuses both, the factor check where the data are known
  (:mod:`merx.frame.random_effects`).

The term inside is expanded as lme4 expands a bar term (``/`` nesting); each resulting
:class:`~merx.formula.random_terms.RandomTerm` carries the structure as ``covariance`` (the
core's name) and the wrapper as ``wrapper``.
"""

from __future__ import annotations

from ..errors import FormulaError
from .expression import Call, Node, Paren, deparse
from .random_terms import contains_bar, expand_bar_term, is_bar

__all__ = ["STRUCTURES", "is_structure_call", "expand_structure_call"]

#: glmmTMB's wrapper → the core's name of the covariance structure.
STRUCTURES = {
    "us": "unstructured",
    "diag": "diagonal",
    "cs": "heterogeneous_compound_symmetry",
    "ar1": "ar1",
}

# glmmTMB's other structures: named as such in the error rather than as unknown wrappers.
_GLMMTMB_ONLY = ("toep", "ou", "exp", "gau", "mat", "rr", "homdiag", "homcs", "hetar1", "propto", "equalto")

_SUPPORTED = "us(), diag(), cs() or ar1()"


def is_structure_call(node: Node) -> bool:
    """Whether ``node`` is a call with a bar term among its arguments (``ar1(0 + f | g)``)."""
    return isinstance(node, Call) and any(contains_bar(arg) for _, arg in node.args)


def expand_structure_call(call: Call, formula: str) -> list:
    """The random terms of one wrapper call, checked as glmmTMB checks them."""
    text = deparse(call)
    if call.fn not in STRUCTURES:
        if call.fn in _GLMMTMB_ONLY:
            raise FormulaError(
                f"glmmTMB's {call.fn}() covariance structure in {text!r} (formula {formula!r}) is not available "
                f"in merx: use {_SUPPORTED}"
            )
        raise FormulaError(
            f"unknown covariance structure {call.fn}() around a random-effects term in {text!r} (formula "
            f"{formula!r}): the wrappers merx knows are {_SUPPORTED}, as glmmTMB writes them"
        )
    if len(call.args) != 1 or call.args[0][0] is not None:
        raise FormulaError(
            f"{call.fn}() takes one random-effects term and nothing else, e.g. {call.fn}(0 + f | g); got {text!r}"
        )
    bar = call.args[0][1]
    while isinstance(bar, Paren):
        bar = bar.expr
    if not is_bar(bar):
        raise FormulaError(
            f"the argument of {call.fn}() in {text!r} must be one random-effects term such as {call.fn}(0 + f | g)"
        )
    if bar.op == "||":
        raise FormulaError(
            f"'||' inside {call.fn}() in {text!r}: the wrapper names the covariance structure, so write "
            f"{call.fn}({deparse(bar.left)} | {deparse(bar.right)}) (diag() for uncorrelated effects)"
        )
    terms = expand_bar_term(bar, STRUCTURES[call.fn], call.fn)
    for rt in terms:
        ti = rt.lhs_terms()
        if call.fn == "ar1":
            if ti.intercept:
                raise FormulaError(
                    f"{rt.source} has an intercept: an AR(1) structure runs over the levels of one factor "
                    f"(glmmTMB warns that AR1 is not meaningful with an intercept); write ar1(0 + f | {rt.group})"
                )
            if len(ti.terms) != 1 or len(ti.terms[0]) != 1:
                raise FormulaError(
                    f"ar1() needs a single factor time variable, as in ar1(0 + f | {rt.group}); {rt.source} has "
                    f"the terms {ti.term_labels}"
                )
        if call.fn == "cs" and not ti.terms:
            raise FormulaError(
                f"{rt.source} has one column (the intercept), so there is no correlation to estimate (glmmTMB "
                f"leaves cs()'s correlation unidentified there): write (1 | {rt.group})"
            )
    return terms
