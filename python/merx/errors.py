"""Exception hierarchy of merx.

Every error that merx raises about user input is a :class:`MerxError`, which
subclasses :class:`ValueError` so that generic ``except ValueError`` handlers
keep working.
"""

from __future__ import annotations

__all__ = ["MerxError", "FormulaError", "DataError", "FamilyError"]


class MerxError(ValueError):
    """Base class of all merx input errors."""


class FormulaError(MerxError):
    """The model formula is malformed or uses something merx does not support."""


class DataError(MerxError):
    """The data cannot be used with the formula (unknown column, bad values, ...)."""


class FamilyError(MerxError):
    """An unknown GLM family or a link the family does not have."""
