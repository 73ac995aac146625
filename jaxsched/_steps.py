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


def host_step(step: Any, fn: str) -> Any:
    """A concrete integer step from the host, in a dtype that holds it exactly.

    JAX narrows NumPy int64 steps to int32 without x64, wrapping ``2**31`` to
    ``-2**31``, and refuses Python ints beyond int32. Here every integer type follows
    one rule: a step that int32 (int64 with x64) cannot hold but uint32 (uint64) can
    is passed as unsigned, exactly (negative steps count as 0 anyway); a larger step
    raises a ValueError. Never a wrapped value. JAX arrays and floats pass through.
    """
    dtype = getattr(step, "dtype", None)
    if dtype is not None and (dtype.kind not in "iu" or dtype.itemsize < 8) \
            or isinstance(step, float | bool | jax.Array):
        return step  # the common cases first: the eager call's overhead is a few µs
    x64 = bool(jax.config.jax_enable_x64)
    smax, umax = (2**63 - 1, 2**64 - 1) if x64 else (2**31 - 1, 2**32 - 1)
    if isinstance(step, int):
        if step > smax:
            _check_top(step, umax, fn)
            return np.asarray(step, np.uint64 if x64 else np.uint32)
        return 0 if step < -smax else step
    if not isinstance(step, np.ndarray | np.generic | list | tuple):
        return step
    try:
        a = np.asarray(step)
    except OverflowError:  # Python ints beyond uint64 in a list
        _check_top(max(int(v) for v in np.ravel(np.asarray(step, dtype=object))), umax, fn)
        raise
    except ValueError:  # ragged: let jnp report it
        return step
    if a.dtype == object and a.size and all(isinstance(v, int) for v in a.ravel()):
        _check_top(int(a.max()), umax, fn)  # Python ints beyond int64 (NumPy keeps objects)
    if not np.issubdtype(a.dtype, np.integer) or a.dtype.itemsize < 8 or x64 or a.size == 0:
        return a  # (a list of ints beyond int64 is uint64 here, which jnp would refuse)
    top = int(a.max())
    if top <= smax:  # below int32 too: clamp (a negative step counts as 0), never wrap
        return a if int(a.min()) >= -smax - 1 else np.maximum(a, 0)
    _check_top(top, umax, fn)
    return np.maximum(a, 0).astype(np.uint32)


def _check_top(top: int, umax: int, fn: str) -> None:
    if top > umax:
        mode = ("64-bit mode" if umax > 2**32
                else "32-bit mode (up to 2**32 - 1 without jax_enable_x64)")
        raise ValueError(f"{fn}: step {top} is beyond the integer steps JAX holds in {mode}; "
                         "a step is never wrapped. Enable x64 (jax.config.update("
                         "'jax_enable_x64', True)) or pass the step as a float.")


def as_step(step: ArrayLike, fn: str) -> jax.Array:
    """Validates and normalises a step: int steps stay ints (>= 32 bit), floats become
    the default float dtype, and negative steps are treated as step 0."""
    t = jnp.asarray(host_step(step, fn))
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


def finish(out: ArrayLike, t: jax.Array, dtype: Any = None) -> jax.Array:
    """The schedule's output in ``dtype`` (default: the default float dtype), broadcast
    to the step's shape."""
    out = jnp.asarray(out).astype(float_dtype() if dtype is None else dtype)
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
    if is_int(t):  # in t's own dtype: a weak Python int beyond int32 cannot be parsed
        return np.asarray(min(c, imax(t)), t.dtype)
    return float(c)


def tmin(t: jax.Array, c: Any) -> jax.Array:
    """``min(t, c)``, overflow-safe for huge Python-int ``c``."""
    return jnp.minimum(t, const(t, c))


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
    """``(t // c, t % c)`` for a static positive int ``c``.

    Exact for integer ``t``. For float ``t`` the remainder is exact too (``fmod`` is),
    so it always lies in ``[0, c)``: ``t - floor(t / c) * c`` does not, because
    ``t / c`` rounds (past 2**24 by more than a step) and XLA fuses the product into
    the subtraction differently under ``jit`` and ``vmap``. The quotient is then the
    rounded ``(t - r) / c``: only as exact as the float step itself.
    """
    if is_int(t) and c > imax(t):
        return jnp.zeros_like(t), t
    if is_int(t):
        # Steps are >= 0 here, so truncating division is floor division (and cheaper).
        c = np.asarray(c, t.dtype)
        q = lax.div(t, c)
        return q, t - q * c
    r = lax.rem(t, jnp.asarray(c, t.dtype))
    return jnp.floor((t - r) / c + 0.5), r
