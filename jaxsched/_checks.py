"""Construction-time validation with messages in the user's words.

Every check takes the public name of the function being built (``fn``) and the
argument name, so a message reads ``cosine: `steps` must be a positive int, got 0.``

A number that is not concrete yet passes unchanged: a JAX tracer (a schedule built
inside a trace, e.g. ``jax.vmap`` over peak LRs) or a ``Deferred`` value (a re-plan's
"LR reached", known only when the schedule runs). Anything else that is not a real
number (a list, a string, a complex number, an optimizer, a schedule, an arbitrary
object) is refused with a message that names it. Pytree unflattening bypasses
``__init__``, so JAX's placeholder leaves never reach these checks.

Field checkers are the lowercase functions below; a dataclass field names its
checker (``hyper(check.lr)``, ``static(check.positive_int)``) and
``Schedule.__post_init__`` applies it.
"""

from __future__ import annotations

import math
import numbers
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np

# Step counts, boundaries and patience: at most this, so that sums of two of them and
# their float conversions stay exact and finite in int64/float64 arithmetic.
MAX_INT = 2**62


def is_tracer(value: Any) -> bool:
    return isinstance(value, jax.core.Tracer)


class Deferred:
    """A number known only when the schedule runs (a re-plan's "LR reached"): the number
    checks let it through, like a tracer."""


def is_optimizer(value: Any) -> bool:
    """An optax GradientTransformation (or anything with its ``init``/``update`` pair)."""
    return (isinstance(value, tuple) and hasattr(value, "init") and hasattr(value, "update")
            and callable(value.init))


def optimizer_message(fn: str, name: str) -> str:
    return (f"{fn}: `{name}` got an optax optimizer (a GradientTransformation); pass the "
            f"learning rate, not the optimizer: e.g. lr = {fn}(0.1, ...) and then "
            "optax.inject_hyperparams(optax.sgd)(learning_rate=lr).")


def concrete_number(value: Any) -> float | int | None:
    """Returns ``value`` as a Python number if it is a concrete real scalar, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Real):
        return value
    if isinstance(value, np.ndarray | np.generic) and np.ndim(value) == 0:
        if np.issubdtype(value.dtype, np.bool_) or not np.issubdtype(value.dtype, np.number):
            return None
        return None if np.iscomplexobj(value) else value.item()
    if isinstance(value, jax.Array) and not is_tracer(value) and value.ndim == 0:
        if not np.issubdtype(value.dtype, np.number) or np.iscomplexobj(value):
            return None
        return value.item()
    return None


def _not_a_number(fn: str, name: str, value: Any) -> str | None:
    """Why ``value`` can never be a float hyperparameter, or None if it may be one."""
    if is_optimizer(value):
        return optimizer_message(fn, name)
    if hasattr(value, "_eval") and hasattr(value, "to_config"):
        return (f"{fn}: `{name}` must be a number, got the schedule {value!r}; a schedule "
                "here is not supported (compose schedules with join, *, + instead).")
    if isinstance(value, bool | str | bytes | dict | list | tuple | complex) or value is None:
        hint = (" (a list of numbers is not a number; pass a single number)"
                if isinstance(value, list | tuple) else "")
        return f"{fn}: `{name}` must be a real number, got {value!r}{hint}."
    dtype = getattr(value, "dtype", None)
    shape = getattr(value, "shape", None)
    if dtype is not None and shape is not None:
        if tuple(shape) != ():
            return (f"{fn}: `{name}` must be a scalar, got an array of shape "
                    f"{tuple(shape)}; to sweep values, jax.vmap over a function that builds "
                    "the schedule.")
        if np.dtype(dtype).kind not in "iuf":
            return f"{fn}: `{name}` must be a real number, got an array of dtype {dtype}."
    return None


def number(fn: str, name: str, value: Any, *, min: float | None = None,
           min_open: bool = False, max: float | None = None, max_open: bool = False,
           allowed: str | None = None) -> Any:
    """Validates a float hyperparameter and returns it as a Python float.

    Tracers and ``Deferred`` values pass through unchanged, so that ``jax.vmap`` over a
    sweep of hyperparameters works.
    """
    why = _not_a_number(fn, name, value)
    if why is not None:
        raise TypeError(why)
    v = concrete_number(value)
    if v is None:
        if is_tracer(value) or isinstance(value, Deferred):
            return value
        raise TypeError(f"{fn}: `{name}` must be a real number, got {value!r} "
                        f"({type(value).__name__}).")
    try:
        v = float(v)
    except OverflowError:
        raise ValueError(f"{fn}: `{name}` must be finite, got an int with {len(str(v))} "
                         "digits.") from None
    if not math.isfinite(v):
        raise ValueError(f"{fn}: `{name}` must be finite, got {v!r}.")
    bad = ((min is not None and (v < min or (min_open and v == min)))
           or (max is not None and (v > max or (max_open and v == max))))
    if bad:
        raise ValueError(f"{fn}: `{name}` must be {allowed or _range(min, min_open, max, max_open)}"
                         f", got {v!r}.")
    return v


def _range(lo, lo_open, hi, hi_open) -> str:
    if lo is not None and hi is not None:
        return f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    if lo is not None:
        return f"{'>' if lo_open else '>='} {lo:g}"
    return f"{'<' if hi_open else '<='} {hi:g}"


def integer(fn: str, name: str, value: Any, *, min: int = 0) -> int:
    """A static step count: a Python int (or NumPy integer) in ``[min, MAX_INT]``."""
    what = "a positive int" if min == 1 else f"an int >= {min}"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral | np.integer):
        if is_optimizer(value):
            raise TypeError(optimizer_message(fn, name))
        if isinstance(value, float) and value.is_integer():
            # No "pass 2" hint: a float here is often a misplaced positional argument, and
            # the hinted call would build a different schedule.
            raise TypeError(f"{fn}: `{name}` must be {what}, got the float {value!r}; step "
                            "counts are static Python ints (pass arguments by keyword to be "
                            "sure each lands where you mean).")
        raise TypeError(f"{fn}: `{name}` must be {what}, got {value!r} "
                        f"({type(value).__name__}).")
    value = int(value)
    if value < min:
        raise ValueError(f"{fn}: `{name}` must be {what}, got {value}.")
    if value > MAX_INT:
        raise ValueError(f"{fn}: `{name}` must be <= 2**62 (step counts beyond that cannot "
                         f"be reached by any step dtype), got {value}.")
    return value


def boundaries(fn: str, name: str, values: Any, *, min: int = 0,
               strict: bool = True) -> tuple[int, ...]:
    """A sorted sequence of static step boundaries."""
    if isinstance(values, str) or not isinstance(values, Sequence | np.ndarray):
        raise TypeError(f"{fn}: `{name}` must be a list of ints, got {values!r}.")
    out = tuple(integer(fn, f"{name}[{i}]", v, min=min) for i, v in enumerate(values))
    for i in range(1, len(out)):
        if out[i] < out[i - 1] or (strict and out[i] == out[i - 1]):
            kind = "strictly increasing" if strict else "sorted"
            raise ValueError(f"{fn}: `{name}` must be {kind}, got {list(out)} "
                             f"({name}[{i - 1}]={out[i - 1]}, {name}[{i}]={out[i]}).")
    return out


def choice(fn: str, name: str, value: Any, allowed: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in allowed:
        options = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"{fn}: `{name}` must be one of {options}, got {value!r}.")
    return value


# ------------------------------------------------------------- field checkers
# Each takes (function name, argument name, value) and returns the normalised value.
Checker = Callable[[str, str, Any], Any]


def lr(fn: str, name: str, value: Any) -> Any:
    """A learning rate (or any value a schedule outputs): finite and >= 0."""
    return number(fn, name, value, min=0.0, allowed="a finite number >= 0")


def positive(fn: str, name: str, value: Any) -> Any:
    return number(fn, name, value, min=0.0, min_open=True)


def nonneg(fn: str, name: str, value: Any) -> Any:
    """A number >= 0."""
    return number(fn, name, value, min=0.0)


def unit_interval(fn: str, name: str, value: Any) -> Any:
    """A number in the closed interval [0, 1]."""
    return number(fn, name, value, min=0.0, max=1.0)


def fraction(fn: str, name: str, value: Any) -> Any:
    """A number in the open interval (0, 1)."""
    return number(fn, name, value, min=0.0, max=1.0, min_open=True, max_open=True)


def flag(fn: str, name: str, value: Any) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{fn}: `{name}` must be a bool, got {value!r}.")
    return bool(value)


def at_least(minimum: int) -> Checker:
    return lambda fn, name, value: integer(fn, name, value, min=minimum)


positive_int = at_least(1)
nonneg_int = at_least(0)


def steps_or_fraction(fn: str, name: str, value: Any) -> int | float:
    """A step count (an int >= 0) or a fraction of the run (a float in (0, 1)), kept as given."""
    if isinstance(value, float | np.floating) and 0.0 < value < 1.0:
        return float(value)
    if isinstance(value, float | np.floating):
        raise ValueError(f"{fn}: `{name}` must be an int >= 0 (steps) or a float in (0, 1) "
                         f"(a fraction of total_steps), got {float(value)!r}.")
    return integer(fn, name, value, min=0)


def resolve_steps(value: int | float, total_steps: int) -> int:
    """A ``steps_or_fraction`` value in steps: a fraction becomes ``math.ceil(value *
    total_steps)``, Hugging Face's rule for ``warmup_ratio`` (so the same float gives the
    same int: ``0.07 * 100`` is 7.000000000000001 in float64, which HF rounds up to 8)."""
    if isinstance(value, float):
        return math.ceil(total_steps * value)
    return value


def one_of(*options: str) -> Checker:
    return lambda fn, name, value: choice(fn, name, value, options)


def sorted_ints(minimum: int = 0) -> Checker:
    return lambda fn, name, value: boundaries(fn, name, value, min=minimum)


def optional(checker: Checker) -> Checker:
    """``checker``, letting None through."""
    return lambda fn, name, value: None if value is None else checker(fn, name, value)


def lrs(fn: str, name: str, values: Any) -> tuple:
    """A list of learning rates."""
    if is_optimizer(values):
        raise TypeError(optimizer_message(fn, name))
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise TypeError(f"{fn}: `{name}` must be a list of numbers, got {values!r}.")
    return tuple(lr(fn, f"{name}[{i}]", v) for i, v in enumerate(values))


def warn(message: str) -> None:
    """A UserWarning attributed to the first caller outside jaxsched (whatever the depth of
    constructors, generated ``__init__``s and recipes between the user's line and this)."""
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_globals.get("__name__", "").partition(".")[0] == \
            "jaxsched":
        frame, level = frame.f_back, level + 1
    warnings.warn(message, UserWarning, stacklevel=level)
