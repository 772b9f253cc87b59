"""merx: linear and generalized linear mixed-effects models (lme4's) with a Rust core.

>>> import merx
>>> m = merx.lmer("Reaction ~ Days + (Days | Subject)", merx.load_example("sleepstudy"))
>>> print(m.summary())
"""

from . import families
from .datasets import list_examples, load_example, read_data
from .errors import DataError, FamilyError, FormulaError, MerxError
from .models.pb_anova import anova
from .families import BetaFamily, NBinom1, NBinom2
from .models.glmer import glmer, glmer_nb
from .models.glmmtmb import glmmTMB
from .models.lmer import build_problem, lmer
from .models.lme import lme
from .models.hausman import hausman
from .models.gls import gls
from .formula.nlme_forms import varIdent
from .formula.nlme_structures import corAR1, corCAR1, corCompSymm, corExp, varExp, varPower
from .models.ranova import ranova
from .models import profile as _profile  # noqa: F401 - registers lmer's profile confint
from .models import profile_glmm as _profile_glmm  # noqa: F401 - registers glmer's profile confint
from .models import profile_table as _profile_table  # noqa: F401 - registers m.profile()
from .models import bootstrap as _bootstrap  # noqa: F401 - registers simulate() and bootstrap()
from .results.anova import AnovaResult
from .results.bootstrap import BootstrapResult
from .results.glmer import GlmerResult
from .results.hausman import HausmanResult
from .results.glmmtmb import GlmmTMBResult
from .results.lmer import LmerResult
from .results.lme import LmeResult
from .results.gls import GlsResult
from .results.ranova import RanovaResult

__all__ = [
    "lmer",
    "lme",
    "hausman",
    "HausmanResult",
    "gls",
    "GlsResult",
    "varIdent",
    "varPower",
    "varExp",
    "corAR1",
    "corCAR1",
    "corExp",
    "corCompSymm",
    "LmeResult",
    "glmer",
    "glmer_nb",
    "glmmTMB",
    "GlmmTMBResult",
    "NBinom2",
    "NBinom1",
    "BetaFamily",
    "anova",
    "AnovaResult",
    "ranova",
    "RanovaResult",
    "BootstrapResult",
    "build_problem",
    "LmerResult",
    "GlmerResult",
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
