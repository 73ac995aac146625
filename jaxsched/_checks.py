"""Construction-time validation with messages in the user's words.

Every check takes the public name of the function being built (``fn``) and the
argument name, so a message reads ``cosine: `steps` must be a positive int, got 0.``

Values that are not concrete (JAX tracers while a schedule is rebuilt inside a
trace, or placeholder leaves that JAX passes through pytree unflattening) are
returned unchanged: validation is for what the user typed, not for the trace.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np


def concrete_number(value: Any) -> float | int | None:
    """Returns ``value`` as a Python number if it is a concrete real scalar, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Real):
        return value
    if isinstance(value, np.ndarray | np.generic) and np.ndim(value) == 0:
        return value.item() if np.issubdtype(value.dtype, np.number) else None
    try:  # a concrete jax.Array; tracers raise on conversion.
        import jax

        concrete = isinstance(value, jax.Array) and not isinstance(value, jax.core.Tracer)
        if concrete and value.ndim == 0:
            return value.item()
    except Exception:  # noqa: BLE001 - anything unconvertible is "not concrete"
        return None
    return None


def _fmt(value: Any) -> str:
    return repr(value) if not isinstance(value, str) else repr(value)


def number(fn: str, name: str, value: Any, *, min: float | None = None,
           min_open: bool = False, max: float | None = None, max_open: bool = False,
           allowed: str | None = None) -> Any:
    """Validates a float hyperparameter and returns it as a Python float.

    Tracers and other non-concrete leaves pass through unchanged, so that
    ``jax.vmap`` over a sweep of hyperparameters works.
    """
    if isinstance(value, bool) or isinstance(value, str) or value is None:
        raise TypeError(f"{fn}: `{name}` must be a real number, got {_fmt(value)}.")
    v = concrete_number(value)
    if v is None:
        if _looks_numeric_container(value):
            raise TypeError(f"{fn}: `{name}` must be a scalar, got an array of shape "
                            f"{np.shape(value)}.")
        return value
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


def _looks_numeric_container(value: Any) -> bool:
    shape = getattr(value, "shape", None)
    return shape is not None and tuple(shape) != () and not _is_tracer(value)


def _is_tracer(value: Any) -> bool:
    try:
        import jax

        return isinstance(value, jax.core.Tracer)
    except Exception:  # noqa: BLE001
        return False


def _range(lo, lo_open, hi, hi_open) -> str:
    if lo is not None and hi is not None:
        return f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    if lo is not None:
        return f"{'>' if lo_open else '>='} {lo:g}"
    return f"{'<' if hi_open else '<='} {hi:g}"


def lr(fn: str, name: str, value: Any) -> Any:
    """A learning rate (or any value a schedule outputs): finite and >= 0."""
    return number(fn, name, value, min=0.0, allowed="a finite number >= 0")


def optional_lr(fn: str, name: str, value: Any) -> Any:
    return None if value is None else lr(fn, name, value)


def integer(fn: str, name: str, value: Any, *, min: int = 0) -> int:
    """A static step count: a Python int (or NumPy integer) >= ``min``."""
    what = "a positive int" if min == 1 else f"an int >= {min}"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral | np.integer):
        if isinstance(value, float) and value.is_integer():
            raise TypeError(f"{fn}: `{name}` must be {what}, got the float {value!r}; "
                            f"step counts are static ints: pass {int(value)}.")
        raise TypeError(f"{fn}: `{name}` must be {what}, got {_fmt(value)} "
                        f"({type(value).__name__}).")
    value = int(value)
    if value < min:
        raise ValueError(f"{fn}: `{name}` must be {what}, got {value}.")
    return value


def boundaries(fn: str, name: str, values: Any, *, min: int = 0,
               strict: bool = True) -> tuple[int, ...]:
    """A sorted sequence of static step boundaries."""
    if isinstance(values, str) or not isinstance(values, Sequence | np.ndarray):
        raise TypeError(f"{fn}: `{name}` must be a list of ints, got {_fmt(values)}.")
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
        raise ValueError(f"{fn}: `{name}` must be one of {options}, got {_fmt(value)}.")
    return value


def flag(fn: str, name: str, value: Any) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{fn}: `{name}` must be a bool, got {_fmt(value)}.")
    return bool(value)


# ------------------------------------------------------------- field checkers
# Declared on dataclass fields (``hyper(LR)``, ``static(POSITIVE_INT)``) and applied by
# ``Schedule.__post_init__``: each takes (function name, argument name, value) and returns
# the normalised value.
LR = lr
OPTIONAL_LR = optional_lr
FLAG = flag


def at_least(minimum: int):
    return lambda fn, name, value: integer(fn, name, value, min=minimum)


POSITIVE_INT = at_least(1)
NONNEG_INT = at_least(0)


def POSITIVE(fn: str, name: str, value: Any) -> Any:  # noqa: N802 - a constant-like checker
    return number(fn, name, value, min=0.0, min_open=True)


def FRACTION(fn: str, name: str, value: Any) -> Any:  # noqa: N802
    return number(fn, name, value, min=0.0, max=1.0, min_open=True, max_open=True)


def STEPS_OR_FRACTION(fn: str, name: str, value: Any) -> int | float:  # noqa: N802
    """A step count (an int >= 0) or a fraction of the run (a float in (0, 1)), kept as given."""
    if isinstance(value, float | np.floating) and 0.0 < value < 1.0:
        return float(value)
    if isinstance(value, float | np.floating):
        raise ValueError(f"{fn}: `{name}` must be an int >= 0 (steps) or a float in (0, 1) "
                         f"(a fraction of total_steps), got {float(value)!r}.")
    return integer(fn, name, value, min=0)


def resolve_steps(value: int | float, total_steps: int) -> int:
    """A ``STEPS_OR_FRACTION`` value in steps: a fraction becomes ``math.ceil(value *
    total_steps)``, Hugging Face's rule for ``warmup_ratio`` (so the same float gives the
    same int: ``0.07 * 100`` is 7.000000000000001 in float64, which HF rounds up to 8)."""
    if isinstance(value, float):
        return math.ceil(total_steps * value)
    return value


def one_of(*options: str):
    return lambda fn, name, value: choice(fn, name, value, options)


def sorted_ints(minimum: int = 0):
    return lambda fn, name, value: boundaries(fn, name, value, min=minimum)


def optional(checker):
    """``checker``, letting None through."""
    return lambda fn, name, value: None if value is None else checker(fn, name, value)


def LRS(fn: str, name: str, values: Any) -> tuple:  # noqa: N802
    """A list of learning rates."""
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise TypeError(f"{fn}: `{name}` must be a list of numbers, got {_fmt(values)}.")
    return tuple(lr(fn, f"{name}[{i}]", v) for i, v in enumerate(values))
