"""jaxsched: learning-rate schedules for JAX and Optax.

Schedules are immutable values, callable as ``step -> lr`` with pure ``jnp``
ops: they work eagerly, under ``jit`` and ``vmap``, print as the code that
built them, compare by value and save to a config.
"""

from importlib import metadata as _metadata

from . import hf as hf
from . import pytorch as pytorch
from ._curves import constant as constant
from ._curves import cosine as cosine
from ._curves import cyclic as cyclic
from ._curves import exponential as exponential
from ._curves import inverse_sqrt as inverse_sqrt
from ._curves import linear as linear
from ._curves import multistep as multistep
from ._curves import piecewise_constant as piecewise_constant
from ._curves import polynomial as polynomial
from ._describe import describe as describe
from ._finder import FinderResult as FinderResult
from ._finder import lr_finder as lr_finder
from ._groups import ParamGroups as ParamGroups
from ._groups import layerwise_decay as layerwise_decay
from ._groups import param_groups as param_groups
from ._integer import batch_ramp as batch_ramp
from ._integer import integer as integer
from ._integer import scale_by_batch as scale_by_batch
from ._join import clip as clip
from ._join import join as join
from ._join import per_epoch as per_epoch
from ._join import repeat as repeat
from ._join import warmup as warmup
from ._migrate import migrate as migrate
from ._opt_state import current_lr as current_lr
from ._opt_state import hyperparams as hyperparams
from ._opt_state import plateau_state as plateau_state
from ._opt_state import report as report
from ._opt_state import should_stop as should_stop
from ._plateau import plateau as plateau
from ._plateau import reduce_on_plateau as reduce_on_plateau
from ._plot import plot as plot
from ._recipes import interpolate as interpolate
from ._recipes import one_cycle as one_cycle
from ._recipes import one_cycle_momentum as one_cycle_momentum
from ._recipes import sgdr as sgdr
from ._recipes import warmup_constant as warmup_constant
from ._recipes import warmup_cosine as warmup_cosine
from ._recipes import warmup_linear as warmup_linear
from ._recipes import warmup_polynomial as warmup_polynomial
from ._recipes import wsd as wsd
from ._replan import cooldown as cooldown
from ._replan import extend as extend
from ._replan import restart as restart
from ._schedule import Schedule as Schedule
from ._schedule import StatefulSchedule as StatefulSchedule
from ._schedule import evaluate as evaluate
from ._schedule import from_config as from_config
from ._schedule import wrap as wrap
from ._spec import ParseError as ParseError
from ._spec import parse as parse

__version__ = _metadata.version("jaxsched")

# Public classes defined in private modules show under the name users import them by
# (``jaxsched.ParseError`` in a traceback, not ``jaxsched._spec.ParseError``).
for _cls in (ParseError, Schedule, StatefulSchedule, FinderResult, ParamGroups):
    _cls.__module__ = __name__
del _cls

__all__ = [
    "FinderResult",
    "ParamGroups",
    "ParseError",
    "Schedule",
    "StatefulSchedule",
    "batch_ramp",
    "clip",
    "constant",
    "cooldown",
    "cosine",
    "current_lr",
    "cyclic",
    "describe",
    "evaluate",
    "exponential",
    "extend",
    "from_config",
    "hf",
    "hyperparams",
    "integer",
    "interpolate",
    "inverse_sqrt",
    "join",
    "layerwise_decay",
    "linear",
    "lr_finder",
    "migrate",
    "multistep",
    "one_cycle",
    "one_cycle_momentum",
    "param_groups",
    "parse",
    "per_epoch",
    "piecewise_constant",
    "plateau",
    "plateau_state",
    "plot",
    "polynomial",
    "pytorch",
    "reduce_on_plateau",
    "repeat",
    "report",
    "scale_by_batch",
    "restart",
    "sgdr",
    "should_stop",
    "warmup",
    "warmup_constant",
    "warmup_cosine",
    "warmup_linear",
    "warmup_polynomial",
    "wrap",
    "wsd",
]
