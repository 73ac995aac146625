"""jaxsched: learning-rate schedules for JAX and Optax.

Schedules are immutable values, callable as ``step -> lr`` with pure ``jnp``
ops: they work eagerly, under ``jit`` and ``vmap``, print as the code that
built them, compare by value and save to a config.
"""

from ._curves import constant as constant
from ._curves import cosine as cosine
from ._curves import cyclic as cyclic
from ._curves import exponential as exponential
from ._curves import interpolate as interpolate
from ._curves import inverse_sqrt as inverse_sqrt
from ._curves import linear as linear
from ._curves import multistep as multistep
from ._curves import piecewise_constant as piecewise_constant
from ._curves import polynomial as polynomial
from ._describe import describe as describe
from ._finder import FinderResult as FinderResult
from ._finder import lr_finder as lr_finder
from ._join import clip as clip
from ._join import join as join
from ._join import per_epoch as per_epoch
from ._join import repeat as repeat
from ._join import warmup as warmup
from ._plateau import current_lr as current_lr
from ._plateau import plateau as plateau
from ._plateau import plateau_state as plateau_state
from ._plateau import reduce_on_plateau as reduce_on_plateau
from ._plateau import report as report
from ._plateau import should_stop as should_stop
from ._plot import plot as plot
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
from ._schedule import evaluate as evaluate
from ._schedule import from_config as from_config
from ._schedule import wrap as wrap
from ._spec import ParseError as ParseError
from ._spec import parse as parse

__version__ = "0.1.0"

__all__ = [
    "FinderResult",
    "ParseError",
    "Schedule",
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
    "interpolate",
    "inverse_sqrt",
    "join",
    "linear",
    "lr_finder",
    "multistep",
    "one_cycle",
    "one_cycle_momentum",
    "parse",
    "per_epoch",
    "piecewise_constant",
    "plateau",
    "plateau_state",
    "plot",
    "polynomial",
    "reduce_on_plateau",
    "repeat",
    "report",
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
