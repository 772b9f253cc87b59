"""glmmTMB's side models: the zero-inflation (``ziformula``) and dispersion
(``dispformula``) formulas, one-sided and of fixed effects only, turned into model
matrices on the rows of the conditional model; the family as the Laplace engine names it.

No numerics: the side formulas go through the same formula parser and model frame as
the conditional one (R's ``model.matrix`` with treatment contrasts and R's names).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import FamilyError, FormulaError
from ..families import BetaFamily, Binomial, Family, Gamma, Gaussian, NBinom1, NBinom2, NegativeBinomial, Poisson, resolve_family
from ..formula.model_formula import parse_formula
from ..frame.model_frame import ModelFrame, build_model_frame

#: The engine's family name of each family class (glmmTMB's names).
ENGINE_FAMILIES = {Poisson: "poisson", Binomial: "binomial", NBinom2: "nbinom2", NBinom1: "nbinom1",
                   Gamma: "Gamma", BetaFamily: "beta", Gaussian: "gaussian"}
#: The family whose response rules the model frame applies (counts, binomial forms).
# (the shape does not enter the response rules: non-negative counts, named as negative binomial)
FRAME_FAMILIES = {NBinom2: lambda: NegativeBinomial(theta=1.0), NBinom1: lambda: NegativeBinomial(theta=1.0)}
#: Families with a dispersion parameter (a ``dispformula``).
DISPERSION_FAMILIES = ("nbinom2", "nbinom1", "Gamma", "beta", "gaussian")


def tmb_family(family: Any) -> Family:
    """The family object of ``family`` (a name, an object or a class) if the engine fits it."""
    fam = resolve_family(family)
    if type(fam) not in ENGINE_FAMILIES:
        names = ", ".join(sorted(set(ENGINE_FAMILIES.values())))
        raise FamilyError(f"glmmTMB with the {fam.family} family is not available: the Laplace engine fits {names}")
    return fam


def frame_family(fam: Family) -> Family:
    """The family whose response rules the conditional model frame follows."""
    cls = FRAME_FAMILIES.get(type(fam))
    if cls is not None:
        return cls()
    if isinstance(fam, (Gamma, BetaFamily)):
        return Gaussian()  # the support is checked by glmmTMB's rules (zeros with zero inflation)
    return fam


@dataclass
class SidePart:
    """A side model's one-sided formula (as the user wrote it, deparsed as R prints it) and
    its model frame on the conditional model's rows (None: the model has no such part)."""

    formula: str | None
    frame: ModelFrame | None

    @property
    def X(self) -> np.ndarray | None:
        return None if self.frame is None else np.asfortranarray(self.frame.X, dtype=np.float64)

    @property
    def names(self) -> list:
        return [] if self.frame is None else list(self.frame.x_names)


def side_rhs(formula: Any, argument: str) -> str | None:
    """The right-hand side of a one-sided side formula, None for none (``~0``, ``~ -1``,
    None); refuses a left-hand side and random-effects terms, naming the argument."""
    if formula is None:
        return None
    if not isinstance(formula, str):
        raise FormulaError(f"{argument} must be a one-sided formula string such as '~ x', not {formula!r}")
    text = formula.strip()
    if not text.startswith("~"):
        raise FormulaError(
            f"{argument} {formula!r} has a left-hand side (or no '~'): it must be one-sided, such as '~ x' "
            "(its response is the conditional model's)"
        )
    rhs = text[1:].strip()
    if rhs == "." or rhs.startswith(". ") or rhs.startswith(".+"):
        raise FormulaError(
            f"{argument} {formula!r}: '.' stands for the conditional model with its random-effects terms (as in "
            "glmmTMB), which merx.glmmTMB does not fit in this part; write its fixed-effects terms, such as '~ x'"
        )
    parsed = parse_formula(f"y__ ~ {rhs}")
    if parsed.random:
        raise FormulaError(
            f"{argument} {formula!r} has random-effects terms: merx.glmmTMB fits fixed effects only in the "
            "zero-inflation and dispersion models"
        )
    ti = parsed.fixed_terms()
    if ti.offsets:
        raise FormulaError(f"{argument} {formula!r} has an offset(), which merx.glmmTMB does not take in this part")
    if not ti.intercept and not ti.term_labels:
        return None
    return rhs


def side_frame(rhs: str | None, response: str, data: Any, family: Family) -> ModelFrame | None:
    """The model frame of ``response ~ rhs`` (its X is the side model's matrix)."""
    if rhs is None:
        return None
    return build_model_frame(parse_formula(f"{response} ~ {rhs}"), data, family=family)
