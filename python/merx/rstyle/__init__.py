"""R's and lme4's way of writing things down, as text.

* :mod:`~merx.rstyle.numbers`: R's rounding and number formatting (``round``, ``format``,
  ``as.character``);
* :mod:`~merx.rstyle.names`: ``abbreviate``, ``make.names``, ``make.unique``, deparsed names;
* :mod:`~merx.rstyle.matrices`: printed matrices, named vectors, ``cat(fill = TRUE)``,
  ``printCoefmat``;
* :mod:`~merx.rstyle.layouts`: lme4's printed layouts (``print``, ``summary``, ``VarCorr``,
  ``ranef``), reading the result objects through their attributes only;
* :mod:`~merx.rstyle.glmer_layouts`: the header of a GLMM's ``print`` and ``summary``
  (title with the approximation, family line), on top of the shared layouts;
* :mod:`~merx.rstyle.anova_layout`: R's ``print.anova`` (the table of ``anova(m0, m1, ...)``).

The bottom of the package: these modules import nothing else of merx. Import
from the modules; this file imports nothing.
"""
