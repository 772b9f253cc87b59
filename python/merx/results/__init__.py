"""The last stage of the pipeline: the Rust core's typed fit (``merx._core.MixedModelFit``) → a result object.

* :mod:`~merx.results.base`: ``MixedModelResult``, what every fitted mixed model offers;
* :mod:`~merx.results.lmer`: ``LmerResult``, the linear mixed model (lme4's ``lmerMod``);
* :mod:`~merx.results.varcorr`, :mod:`~merx.results.ranef`, :mod:`~merx.results.prediction`,
  :mod:`~merx.results.summary`: ``VarCorr``, ``ranef()``, ``predict()``, ``summary()``;
* :mod:`~merx.results.theta_layout`: θ names and bounds in lme4's layout;
* :mod:`~merx.results.anova`, :mod:`~merx.results.distributions`: ``AnovaResult`` (the
  likelihood-ratio table of ``anova()``) and the chi-squared upper tail.

Import from the modules; this file imports nothing, so that no import circle
can run through it.
"""
