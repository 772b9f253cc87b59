"""The fitted linear mixed model: :class:`LmerResult` (lme4's ``lmerMod``).

Everything a mixed model offers comes from
:class:`~merx.results.base.MixedModelResult`; a linear mixed model adds the
REML criterion, the ML deviance, ``summary()`` and lme4's printed layout (see
:mod:`merx.rstyle.layouts`).

Conventions that differ from lme4 on purpose:

* ``deviance`` is always the ML deviance (-2 log-likelihood) at the estimates,
  also for a REML fit (lme4 1.1-31's ``deviance()`` of a REML fit returns the
  REML criterion with a deprecation warning; its ``deviance(fit, REML = FALSE)``
  is what merx returns); the REML criterion is ``REMLcrit`` (for an ML fit it is
  the REML criterion evaluated at the ML estimates, as lme4's ``REMLcrit()``).
* ``logLik``, ``AIC`` and ``BIC`` are those of the criterion that was optimised
  (REML log-likelihood for a REML fit), as in lme4.
* ``summary()`` and ``tidy()`` report lmerTest's t tests (Satterthwaite's df by default), as
  most lme4 users see them with lmerTest loaded; ``ddf="lme4"`` gives lme4's table.
"""

from __future__ import annotations

from ..formula.deparse_lines import formula_lines
from ..rstyle import layouts
from .base import MixedModelResult
from .lmer_inference import LmerInference
from .ranova import RanovaResult, ranova_of
from .summary import LmerSummary

__all__ = ["LmerResult"]


class LmerResult(LmerInference, MixedModelResult):
    """A fitted linear mixed model (lme4's ``lmerMod``).

    Parameters
    ----------
    frame : ModelFrame
        The model frame the model was fitted to.
    fit : merx._core.MixedModelFit
        The fit returned by ``merx._core.LinearMixedModel.fit()`` (its ``reml`` says
        whether the REML criterion was optimised).
    data_name, call_formula, problem, weights_name, offset_name
        As for :class:`~merx.results.base.MixedModelResult`.
    """

    # -- likelihood -------------------------------------------------------

    @property
    def reml(self) -> bool:
        """Whether the REML criterion was optimised (else the ML deviance)."""
        return bool(self.fit.reml)

    @property
    def REMLcrit(self) -> float:  # noqa: N802 - lme4 name
        """REML criterion (-2 REML log-likelihood) at the estimates."""
        if self.reml:
            return self.objective
        return float(self.fit.reml_criterion)

    @property
    def deviance(self) -> float:
        """ML deviance (-2 log-likelihood) at the estimates, also for a REML fit."""
        if not self.reml:
            return self.objective
        return float(self.fit.deviance_ml)

    # -- tables and printing ----------------------------------------------

    def ranova(self, reduce_terms: bool = True) -> RanovaResult:
        """lmerTest's ``ranova(fit, reduce.terms)``: each random-effects term reduced (``(Days |
        Subject)`` to ``(1 | Subject)``) or removed (``(1 | Subject)``), refitted with the
        fit's criterion, and tested by a likelihood ratio (see :mod:`merx.models.ranova`).

        Parameters
        ----------
        reduce_terms : bool
            Reduce ``(x | g)`` to ``(1 | g)`` (default) rather than remove the term.

        Returns
        -------
        RanovaResult
            The likelihood-ratio table.

        Raises
        ------
        MerxError
            A result without its model frame (see :func:`merx.ranova`).
        """
        return ranova_of(self, reduce_terms)

    def summary(self, correlation: bool | None = None, ddf: str | None = None) -> LmerSummary:
        """``summary(fit)`` as with lmerTest loaded: t tests with Satterthwaite's (the default)
        or Kenward-Roger's (``ddf="Kenward-Roger"``, REML fits) denominator degrees of
        freedom; ``ddf="lme4"`` gives lme4's own summary (no df, no p-values). By default, a
        model too large for the exact derivatives (see ``ddf_method``) gets lme4's summary
        with a warning saying why.

        Parameters
        ----------
        correlation : bool, optional
            Print the correlation of the fixed effects (default: as lme4, up to 12 of them).
        ddf : str, optional
            ``"Satterthwaite"``, ``"Kenward-Roger"`` or ``"lme4"``; None: Satterthwaite's.

        Returns
        -------
        LmerSummary
            ``str()`` is the printed summary; its tables are attributes.

        Raises
        ------
        ValueError
            An unknown ``ddf``, or a model too large for the degrees of freedom's derivatives.
        """
        return LmerSummary(self, correlation, self.ddf_method(ddf))

    def __str__(self) -> str:
        return layouts.format_print(self, formula_lines(self.call_formula)).removesuffix("\n")

    __repr__ = __str__
