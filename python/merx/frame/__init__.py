"""Stage 2 of the pipeline: a parsed formula and a data frame → :class:`~merx.frame.model_frame.ModelFrame`
(y, X, random-effects blocks) with R's and lme4's semantics.

* :mod:`~merx.frame.data_source`: pandas / polars / dict input, one column at a time;
* :mod:`~merx.frame.values`, :mod:`~merx.frame.factors`: what a variable evaluates to; R's factors;
* :mod:`~merx.frame.evaluate`: evaluation of R expressions (``log(x)``, ``I(x^2)``, ``poly``, ...);
* :mod:`~merx.frame.model_variables`: the variables a model uses, rows with missing values dropped;
* :mod:`~merx.frame.design`: R's ``model.matrix`` for fitted and new data;
* :mod:`~merx.frame.fixed_effects`, :mod:`~merx.frame.random_effects`: X (aliased columns dropped) and
  the random-effects blocks;
* :mod:`~merx.frame.model_frame`: ``ModelFrame`` and ``build_model_frame``, the pipeline of this stage.

Import from the modules; this file imports nothing, so that no import circle
can run through it.
"""
