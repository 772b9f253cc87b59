"""GLM families as R defines them, seen from Python (the numerics live in the Rust core).

A family object names R's family and link, with R's default link and the links
R's constructor lists (its ``okLinks``, the links of R's ``?family`` help page),
in R's order:

* ``Binomial``: ``binomial``; logit (default), probit, cloglog, cauchit, log;
* ``Poisson``: ``poisson``; log (default), identity, sqrt;
* ``Gamma``: ``Gamma``; inverse (default), log, identity;
* ``InverseGaussian``: ``inverse.gaussian``; inverse, log, identity, 1/mu^2 (default);
* ``Gaussian``: ``gaussian``; inverse, log, identity (default);
* ``NegativeBinomial(theta)``: MASS's ``negative.binomial(theta)``, printed
  ``Negative Binomial(θ)``; log (default), identity, sqrt.

>>> Binomial(link="probit")
Binomial(link='probit')
>>> resolve_family("poisson")
Poisson(link='log')

:func:`resolve_family` turns what a user passes as ``family=`` (a name, an
object or a class) into a family object. Unlike R, a link name outside the
family's list (``binomial("identity")``, which R hands to ``make.link``) is
refused.
"""

from __future__ import annotations

import difflib
import math
import re

from .errors import FamilyError
from .rstyle.numbers import format_real, r_round

__all__ = [
    "Family",
    "Binomial",
    "Poisson",
    "Gamma",
    "InverseGaussian",
    "Gaussian",
    "NegativeBinomial",
    "NBinom2",
    "NBinom1",
    "BetaFamily",
    "resolve_family",
]


def _quoted(names) -> str:
    return ", ".join(f"'{n}'" for n in names)


class Family:
    """Base class: R's family name (``.family``) and link name (``.link``)."""

    family_name: str = ""  # R's name of the family
    links: tuple = ()  # the links R's constructor accepts (its okLinks, in R's order)
    default_link: str = ""

    def __init__(self, link: str | None = None):
        if not self.links:
            raise TypeError("Family is the base class; use Binomial, Poisson, Gamma, InverseGaussian, Gaussian or "
                            "NegativeBinomial")
        if link is None:
            link = self.default_link
        if not isinstance(link, str):
            raise FamilyError(
                f"the link of the {self.family_name} family must be given by name (a string), got "
                f"{type(link).__name__}; available links are {_quoted(self.links)}"
            )
        if link not in self.links:
            # R: link "foo" not available for binomial family; available links are 'logit', ...
            raise FamilyError(
                f"link {link!r} not available for {self.family_name} family; available links are "
                f"{_quoted(self.links)}"
            )
        self._link = link

    @property
    def family(self) -> str:
        """The family's name as R prints it (``family(m)$family``)."""
        return self.family_name

    @property
    def link(self) -> str:
        """The link's name as R prints it (``family(m)$link``)."""
        return self._link

    def _key(self) -> tuple:
        return (self._link,)

    def __eq__(self, other) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash((type(self).__name__,) + self._key())

    def __repr__(self) -> str:
        return f"{type(self).__name__}(link={self._link!r})"

    def __str__(self) -> str:
        # as R's print.family
        return f"Family: {self.family}\nLink function: {self.link}"


class Binomial(Family):
    """R's ``binomial()``: responses 0/1, proportions with weights = trials, a factor
    (first level = failure) or ``cbind(successes, failures)``."""

    family_name = "binomial"
    links = ("logit", "probit", "cloglog", "cauchit", "log")
    default_link = "logit"


class Poisson(Family):
    """R's ``poisson()``: non-negative counts."""

    family_name = "poisson"
    links = ("log", "identity", "sqrt")
    default_link = "log"


class Gamma(Family):
    """R's ``Gamma()``: positive responses."""

    family_name = "Gamma"
    links = ("inverse", "log", "identity")
    default_link = "inverse"


class InverseGaussian(Family):
    """R's ``inverse.gaussian()``: positive responses."""

    family_name = "inverse.gaussian"
    links = ("inverse", "log", "identity", "1/mu^2")
    default_link = "1/mu^2"


class Gaussian(Family):
    """R's ``gaussian()``; glmer with the identity link is lmer."""

    family_name = "gaussian"
    links = ("inverse", "log", "identity")
    default_link = "identity"


class NegativeBinomial(Family):
    """MASS's ``negative.binomial(theta)``: non-negative counts, variance mu + mu^2/theta
    with a known ``theta``."""

    links = ("log", "identity", "sqrt")
    default_link = "log"

    def __init__(self, theta: float, link: str | None = None):
        try:
            t = float(theta)
        except (TypeError, ValueError):
            raise FamilyError(f"theta of the negative binomial family must be a number, got {theta!r}") from None
        if isinstance(theta, bool) or not math.isfinite(t) or t <= 0:
            raise FamilyError(f"theta of the negative binomial family must be a positive finite number, got {theta!r}")
        self._theta = t
        super().__init__(link)

    @property
    def family_name(self) -> str:  # type: ignore[override]
        # MASS: paste0("Negative Binomial(", format(round(theta, 4)), ")")
        return f"Negative Binomial({format_real([r_round(self._theta, 4)], 7)[0].strip()})"

    @property
    def theta(self) -> float:
        return self._theta

    def _key(self) -> tuple:
        return (self._theta, self._link)

    def __repr__(self) -> str:
        return f"NegativeBinomial(theta={self._theta!r}, link={self._link!r})"


class NBinom2(Family):
    """glmmTMB's ``nbinom2()``: the negative binomial with Var = μ + μ²/θ, θ estimated
    (``merx.glmmTMB`` only).

    Parameters
    ----------
    link : str, optional
        The link of the mean: ``"log"`` (default), ``"identity"`` or ``"sqrt"``.

    Raises
    ------
    FamilyError
        A link the family does not have, or not a string.
    """

    family_name = "nbinom2"
    links = ("log", "identity", "sqrt")
    default_link = "log"


class NBinom1(Family):
    """glmmTMB's ``nbinom1()``: the negative binomial with Var = μ(1 + φ), φ estimated
    (``merx.glmmTMB`` only).

    Parameters
    ----------
    link : str, optional
        The link of the mean: ``"log"`` (default), ``"identity"`` or ``"sqrt"``.

    Raises
    ------
    FamilyError
        A link the family does not have, or not a string.
    """

    family_name = "nbinom1"
    links = ("log", "identity", "sqrt")
    default_link = "log"


class BetaFamily(Family):
    """glmmTMB's ``beta_family()``: responses in (0, 1), mean μ and precision φ
    (Var = μ(1 - μ)/(1 + φ); ``merx.glmmTMB`` only).

    Parameters
    ----------
    link : str, optional
        The link of the mean: ``"logit"`` (default), ``"probit"``, ``"cloglog"`` or ``"log"``.

    Raises
    ------
    FamilyError
        A link the family does not have, or not a string.
    """

    family_name = "beta"
    links = ("logit", "probit", "cloglog", "log")
    default_link = "logit"


# ---------------------------------------------------------------------------
# resolve_family
# ---------------------------------------------------------------------------

_BY_NAME = {
    "binomial": Binomial,
    "poisson": Poisson,
    "gamma": Gamma,
    "inverse.gaussian": InverseGaussian,
    "gaussian": Gaussian,
    "nbinom2": NBinom2,
    "nbinom1": NBinom1,
    "beta_family": BetaFamily,
    "beta": BetaFamily,
}
_NAMES = ["binomial", "poisson", "Gamma", "inverse.gaussian", "gaussian", "nbinom2", "nbinom1", "beta_family",
          "beta_family"]
_CLASSES = [Binomial, Poisson, Gamma, InverseGaussian, Gaussian, NegativeBinomial, NBinom2, NBinom1, BetaFamily]
# an R call such as binomial(link = "probit") or poisson("sqrt")
_CALL = re.compile(r"""^\s*([A-Za-z.]+)\s*\(\s*(?:link\s*=\s*)?(?:"([^"]*)"|'([^']*)'|([A-Za-z]\w*))?\s*\)\s*$""")


def _valid_choices() -> str:
    return (
        f"give one of the names {_quoted(dict.fromkeys(_NAMES))} (optionally with a link, as 'binomial(link = \"probit\")'), "
        f"a family object such as merx.families.Binomial(link='probit') or "
        f"merx.families.NegativeBinomial(theta=2), or one of the classes "
        f"{', '.join(c.__name__ for c in _CLASSES)}"
    )


def _from_name(spec: str) -> Family:
    m = _CALL.match(spec)
    name, link = (m.group(1), next((g for g in m.groups()[1:] if g is not None), None)) if m else (spec.strip(), None)
    key = name.lower()
    if key in _BY_NAME:
        return _BY_NAME[key](link)
    if key in ("quasibinomial", "quasipoisson", "quasi"):
        raise FamilyError(
            f"family {name!r} is a quasi-likelihood family, which glmer does not fit (lme4 refuses it too); "
            f"use the likelihood family (binomial, poisson) and an observation-level random effect for "
            f"overdispersion"
        )
    if key in ("negative.binomial", "negativebinomial", "negative binomial", "nbinom", "negbin"):
        raise FamilyError(
            f"family {name!r} needs its theta: give merx.families.NegativeBinomial(theta=...) instead of a name"
        )
    close = difflib.get_close_matches(key, list(_BY_NAME), n=1, cutoff=0.6)
    hint = f" (did you mean {_NAMES[list(_BY_NAME).index(close[0])]!r}?)" if close else ""
    raise FamilyError(f"unknown family {name!r}{hint}; {_valid_choices()}")


def resolve_family(spec) -> Family:
    """The family object of ``spec``: a name (``"binomial"``, ``"poisson"``, ``"Gamma"`` or
    ``"gamma"``, ``"inverse.gaussian"``, ``"gaussian"``, or an R call such as
    ``'binomial(link = "probit")'``), a family object, or a family class (default link).

    Raises :class:`~merx.errors.FamilyError` naming a bad family or link and listing the valid ones.
    """
    if isinstance(spec, Family):
        return spec
    if isinstance(spec, str):
        return _from_name(spec)
    if isinstance(spec, type) and issubclass(spec, Family) and spec is not Family:
        if spec is NegativeBinomial:
            raise FamilyError("NegativeBinomial needs its theta: give NegativeBinomial(theta=...), not the class")
        return spec()
    if spec is None:
        raise FamilyError(f"no family given; {_valid_choices()}")
    raise FamilyError(f"family must be a name, a family object or a family class, got {spec!r}; {_valid_choices()}")
