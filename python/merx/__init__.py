from .errors import MerxError, FormulaError, DataError
from .datasets import load_example
