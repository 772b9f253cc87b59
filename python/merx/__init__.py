"""merx: linear mixed-effects models (lme4's model class) with a Rust core.

>>> import merx
>>> m = merx.lmer("Reaction ~ Days + (Days | Subject)", merx.load_example("sleepstudy"))
>>> print(m.summary())
"""

from . import families
from .datasets import list_examples, load_example, read_data
from .errors import DataError, FamilyError, FormulaError, MerxError
from .models.lmer import build_problem, lmer
from .results.lmer import LmerResult

__all__ = [
    "lmer",
    "build_problem",
    "LmerResult",
    "load_example",
    "list_examples",
    "read_data",
    "MerxError",
    "FormulaError",
    "DataError",
    "FamilyError",
    "families",
]
__version__ = "0.1.0"
