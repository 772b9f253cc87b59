"""Stage 1 of the pipeline: an lme4 formula string → :class:`~merx.formula.model_formula.ParsedFormula`.

* :mod:`~merx.formula.grammar`: tokenizer and parser of R's expression grammar (``parse_expression``);
* :mod:`~merx.formula.expression`: the expression tree, R's operator precedence, one-line ``deparse``;
* :mod:`~merx.formula.terms`: R's formula algebra (``a*b``, ``a:b``, ``-1``, ...): ``expand_terms``;
* :mod:`~merx.formula.random_terms`: ``RandomTerm``; lme4's expansion of ``(x || g)`` and ``(1 | a/b)``;
* :mod:`~merx.formula.covariance_terms`: glmmTMB's ``us()``, ``diag()``, ``cs()``, ``ar1()`` wrappers → ``RandomTerm.covariance``;
* :mod:`~merx.formula.model_formula`: ``parse_formula`` → ``ParsedFormula``;
* :mod:`~merx.formula.deparse_lines`: R's line-broken ``deparse`` and the formula as lme4 prints it.

Import from the modules; this file imports nothing, so that no import circle
can run through it.
"""
