"""nlme's residual structures as specs: the variance functions ``varPower(form = ~x)`` and
``varExp(form = ~x)`` (``varIdent`` is in :mod:`~merx.formula.nlme_forms`) and the
correlation structures ``corAR1``, ``corCAR1``, ``corExp`` and ``corCompSymm`` with their
``form = ~t | g`` (``~1 | g``: the rows' order within each group).

A spec only records what the formula names; :mod:`merx.models.nlme_structures` reads the
variables from the data and the core estimates the parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import FormulaError
from .expression import BinOp, Name, Node, deparse
from .grammar import parse_expression

#: nlme's printed names of the correlation structures (``print.summary.corStruct``).
CORRELATION_TITLES = {
    "corAR1": "AR(1)",
    "corCAR1": "Continuous AR(1)",
    "corExp": "Exponential spatial correlation",
    "corCompSymm": "Compound symmetry",
}
#: nlme's printed names of the variance functions' structures.
VARIANCE_TITLES = {"varPower": "Power of variance covariate", "varExp": "Exponential of variance covariate"}


def _parse_form(form: str, what: str) -> tuple:
    """(covariate expression or None for ``1``, grouping expression or None) of ``~x | g``."""
    if not isinstance(form, str) or not form.strip().startswith("~"):
        raise FormulaError(f"{what}: form must be a one-sided formula string such as '~t | g', not {form!r}")
    body = parse_expression(form.strip()[1:])
    if isinstance(body, BinOp) and body.op == "|":
        left, right = body.left, body.right
    else:
        left, right = body, None
    covariate = None if deparse(left) == "1" else left
    return covariate, right


def _group_names(node: Node, what: str) -> tuple:
    if isinstance(node, Name):
        return (node.id,)
    if isinstance(node, BinOp) and node.op == "*":
        return _group_names(node.left, what) + _group_names(node.right, what)
    raise FormulaError(f"{what}: the grouping must be a variable (or variables joined by '*'), not {deparse(node)!r}")


@dataclass(frozen=True)
class CorStruct:
    """A serial or exchangeable correlation within groups: ``kind`` nlme's class name,
    ``time`` the time covariate's name (None: positions within the group), ``groups`` the
    grouping variables (empty: the innermost random-effects grouping for ``lme``, one group
    for ``gls``), ``form`` as nlme prints it."""

    kind: str
    form: str
    time: str | None
    groups: tuple

    def __str__(self) -> str:
        return f"{self.kind}(form = {self.form})"

    @property
    def title(self) -> str:
        return CORRELATION_TITLES[self.kind]


@dataclass(frozen=True)
class VarFunction:
    """``varPower`` or ``varExp`` of one covariate (``covariate`` its name)."""

    kind: str
    form: str
    covariate: str

    def __str__(self) -> str:
        return f"{self.kind}(form = {self.form})"

    @property
    def title(self) -> str:
        return VARIANCE_TITLES[self.kind]

    @property
    def parameter_name(self) -> str:
        return "power" if self.kind == "varPower" else "expon"


def _correlation(kind: str, form: str, time_allowed: bool = True) -> CorStruct:
    what = f"{kind}(form = {form!r})"
    covariate, group = _parse_form(form, what)
    if covariate is not None and not isinstance(covariate, Name):
        raise FormulaError(f"{what}: the time covariate must be a variable of the data, not {deparse(covariate)!r}")
    if covariate is not None and not time_allowed:
        raise FormulaError(f"{what}: compound symmetry takes no covariate; use form='~1 | g'")
    groups = () if group is None else _group_names(group, what)
    text = "~" + ("1" if covariate is None else deparse(covariate)) + ("" if group is None else f" | {deparse(group)}")
    return CorStruct(kind, text, None if covariate is None else covariate.id, groups)


def corAR1(form: str = "~1") -> CorStruct:  # noqa: N802 - nlme's name
    """nlme's ``corAR1``: correlation φ^|Δt| for an integer time covariate (gaps allowed);
    ``form="~1 | g"`` takes the rows' order within each group as the time.

    Parameters
    ----------
    form : str
        One-sided formula ``"~t | g"`` (time covariate, grouping variables joined by ``*``) or
        ``"~1 | g"`` (positions within the group as the time).

    Returns
    -------
    CorStruct
        The specification, for ``correlation=`` of :func:`merx.lme` and :func:`merx.gls`.

    Raises
    ------
    FormulaError
        A malformed ``form``.
    """
    return _correlation("corAR1", form)


def corCAR1(form: str = "~1") -> CorStruct:  # noqa: N802 - nlme's name
    """nlme's ``corCAR1``: continuous-time AR(1), correlation φ^|Δt|, 0 < φ < 1.

    Parameters
    ----------
    form : str
        One-sided formula ``"~t | g"`` (time covariate, grouping variables joined by ``*``) or
        ``"~1 | g"`` (positions within the group as the time).

    Returns
    -------
    CorStruct
        The specification, for ``correlation=`` of :func:`merx.lme` and :func:`merx.gls`.

    Raises
    ------
    FormulaError
        A malformed ``form``.
    """
    return _correlation("corCAR1", form)


def corExp(form: str = "~1", nugget: bool = False) -> CorStruct:  # noqa: N802 - nlme's name
    """nlme's ``corExp`` with one time covariate: correlation exp(-|Δt|/range). merx has no
    nugget effect (``nugget=False`` only).

    Parameters
    ----------
    form : str
        One-sided formula ``"~t | g"`` (time covariate, grouping variables joined by ``*``) or
        ``"~1 | g"`` (positions within the group as the time).
    nugget : bool
        Only ``False`` (merx has no nugget effect).

    Returns
    -------
    CorStruct
        The specification, for ``correlation=`` of :func:`merx.lme` and :func:`merx.gls`.

    Raises
    ------
    FormulaError
        A malformed ``form``, or ``nugget=True``.
    """
    if nugget:
        raise FormulaError("corExp(nugget=True) is not supported by merx; only nugget=False")
    return _correlation("corExp", form)


def corCompSymm(form: str = "~1") -> CorStruct:  # noqa: N802 - nlme's name
    """nlme's ``corCompSymm``: one correlation ρ between any two rows of a group.

    Parameters
    ----------
    form : str
        ``"~1 | g"`` (one correlation within each group of ``g``) or ``"~1"`` (one group).

    Returns
    -------
    CorStruct
        The specification, for ``correlation=`` of :func:`merx.lme` and :func:`merx.gls`.

    Raises
    ------
    FormulaError
        A malformed ``form`` or one with a covariate.
    """
    return _correlation("corCompSymm", form, time_allowed=False)


def _var_function(kind: str, form: str) -> VarFunction:
    what = f"{kind}(form = {form!r})"
    if form is None:
        raise FormulaError(
            f"{kind}: nlme's default form '~fitted(.)' (a variance depending on the fitted values) is not supported; "
            f"give a covariate, e.g. {kind}(form='~x')"
        )
    covariate, group = _parse_form(form, what)
    if group is not None:
        raise FormulaError(f"{what}: a variance function per stratum ('~x | s') is not supported; use '~x'")
    if covariate is None or not isinstance(covariate, Name):
        shown = "1" if covariate is None else deparse(covariate)
        raise FormulaError(f"{what}: the variance covariate must be a variable of the data, not {shown!r}")
    return VarFunction(kind, f"~{covariate.id}", covariate.id)


def varPower(form: str | None = None) -> VarFunction:  # noqa: N802 - nlme's name
    """nlme's ``varPower(form = ~x)``: residual SD ∝ |x|^power.

    Parameters
    ----------
    form : str
        One-sided formula of the variance covariate, ``"~x"`` (required: no ``~fitted(.)``).

    Returns
    -------
    VarFunction
        The specification, for ``weights=`` of :func:`merx.lme` and :func:`merx.gls`.

    Raises
    ------
    FormulaError
        A missing or malformed ``form``, or a per-stratum form ``"~x | s"``.
    """
    return _var_function("varPower", form)


def varExp(form: str | None = None) -> VarFunction:  # noqa: N802 - nlme's name
    """nlme's ``varExp(form = ~x)``: residual SD ∝ exp(expon · x).

    Parameters
    ----------
    form : str
        One-sided formula of the variance covariate, ``"~x"`` (required: no ``~fitted(.)``).

    Returns
    -------
    VarFunction
        The specification, for ``weights=`` of :func:`merx.lme` and :func:`merx.gls`.

    Raises
    ------
    FormulaError
        A missing or malformed ``form``, or a per-stratum form ``"~x | s"``.
    """
    return _var_function("varExp", form)
