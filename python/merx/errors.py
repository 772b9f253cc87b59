"""Exception hierarchy of merx.

Every error that merx raises about user input is a :class:`MerxError`, which
subclasses :class:`ValueError` so that generic ``except ValueError`` handlers
keep working.
"""

from __future__ import annotations

import os
import sys
import warnings

__all__ = ["MerxError", "FormulaError", "DataError", "FamilyError", "warn_user", "user_stacklevel"]

# Every module of merx lies under this folder: frames from files under it are merx's own.
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


class MerxError(ValueError):
    """Base class of all merx input errors."""


class FormulaError(MerxError):
    """The model formula is malformed or uses something merx does not support."""


class DataError(MerxError):
    """The data cannot be used with the formula (unknown column, bad values, ...)."""


class FamilyError(MerxError):
    """An unknown GLM family or a link the family does not have."""


def user_stacklevel() -> int:
    """The ``stacklevel`` that makes ``warnings.warn``, called by this function's caller, name
    the first frame outside the merx package (pandas' ``find_stack_level``): the user's call,
    however deep inside merx the warning is raised. Without such a frame (merx's own threads),
    the outermost frame."""
    frame = sys._getframe(1)  # the caller, where warnings.warn will be called: stacklevel 1
    level = 1
    while frame.f_back is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR):
        frame = frame.f_back
        level += 1
    return level


def warn_user(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn(message, category)`` reported at the user's call (file and line of the
    first frame outside merx), so that a warning names the line of the user's code that caused it."""
    warnings.warn(message, category, stacklevel=user_stacklevel())  # counted from this frame
