"""Step arithmetic: normalising a step and the overflow-safe integer operations on it.

Schedules decide boundaries, staircases and cycles in integer arithmetic when
the step is an integer, so that step 2**24 + 1 (past float32's exact integers)
still lands in the right place. Every helper here takes the normalised step
``t`` (see ``as_step``) and static Python ints, and never overflows: a Python
int beyond ``t``'s dtype is handled exactly rather than wrapped.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.typing import ArrayLike


def float_dtype() -> jnp.dtype:
    """float32, or float64 when ``jax_enable_x64`` is on."""
    return jnp.result_type(float)


def as_step(step: ArrayLike, fn: str) -> jax.Array:
    """Validates and normalises a step: int steps stay ints (>= 32 bit), floats become
    the default float dtype, and negative steps are treated as step 0."""
    t = jnp.asarray(step)
    dtype = t.dtype
    if jnp.issubdtype(dtype, jnp.bool_) or not (
        jnp.issubdtype(dtype, jnp.integer) or jnp.issubdtype(dtype, jnp.floating)
    ):
        raise TypeError(f"{fn}: the step must be an int or float array, got dtype {dtype}.")
    if jnp.issubdtype(dtype, jnp.integer):
        if dtype.itemsize < 4:
            t = t.astype(jnp.int32 if jnp.issubdtype(dtype, jnp.signedinteger) else jnp.uint32)
        if jnp.issubdtype(t.dtype, jnp.unsignedinteger):
            return t
    else:
        t = t.astype(float_dtype())
    return jnp.maximum(t, 0)


def finish(out: ArrayLike, t: jax.Array) -> jax.Array:
    """The schedule's output in the default float dtype, broadcast to the step's shape."""
    out = jnp.asarray(out).astype(float_dtype())
    return jnp.broadcast_to(out, jnp.broadcast_shapes(out.shape, t.shape))


def stack(values: Any) -> jax.Array:
    """Scalars as one array: a single constant when they are plain numbers, else a stack."""
    if all(isinstance(v, int | float) for v in values):
        return jnp.asarray(np.asarray(values, np.float64), float_dtype())
    return jnp.stack([jnp.asarray(v) for v in values])


def is_int(t: jax.Array) -> bool:
    return jnp.issubdtype(t.dtype, jnp.integer)


def imax(t: jax.Array) -> int:
    """The largest value of ``t``'s integer dtype."""
    return int(np.iinfo(t.dtype).max)


def fl(x: Any) -> Any:
    """To the default float dtype (Python numbers stay Python floats)."""
    if isinstance(x, int | float):
        return float(x)
    return jnp.asarray(x).astype(float_dtype())


def const(t: jax.Array, c: Any) -> Any:
    """An int step constant (or a gathered array of them) in ``t``'s arithmetic.

    Python ints beyond ``t``'s integer range are clamped to its max: used only
    where that is exact (``min(t, c)``: t can never exceed the max anyway).
    """
    if not isinstance(c, int):
        return c
    if is_int(t):
        return min(c, imax(t))
    return float(c)


def tmin(t: jax.Array, c: Any) -> jax.Array:
    """``min(t, c)``, overflow-safe for huge Python-int ``c``."""
    return jnp.minimum(t, const(t, c))


def frac(t: jax.Array, steps: Any) -> jax.Array:
    """``min(t, steps) / steps`` in float, clamped to [0, 1]: XLA may turn the division
    into a multiply by the rounded reciprocal, which must not overshoot the end value."""
    return jnp.minimum(fl(tmin(t, steps)) / fl(steps), 1.0)


def reached(t: jax.Array, c: int) -> jax.Array:
    """``t >= c`` for a static int ``c``, exact for every integer ``t``."""
    if is_int(t) and c > imax(t):
        return jnp.zeros(t.shape, bool)
    return t >= const(t, c)


def since(t: jax.Array, c: int) -> jax.Array:
    """``max(t - c, 0)`` for a static int ``c``, without overflow (unsigned steps too)."""
    if is_int(t) and c > imax(t):
        return jnp.zeros_like(t)
    c = const(t, c)
    if jnp.issubdtype(t.dtype, jnp.unsignedinteger):
        return jnp.where(t >= c, t - c, jnp.zeros_like(t))
    return jnp.maximum(t - c, 0)


def divide(t: jax.Array, c: int) -> tuple[jax.Array, jax.Array]:
    """``(t // c, t % c)`` for a static positive int ``c``, exact for integer ``t``."""
    if is_int(t) and c > imax(t):
        return jnp.zeros_like(t), t
    # Steps are >= 0 here, so truncating division is floor division (and cheaper).
    q = lax.div(t, jnp.asarray(c, t.dtype)) if is_int(t) else jnp.floor(t / c)
    return q, t - q * c
