"""The Schedule value: immutable, callable ``step -> lr``, printable, comparable.

A schedule is a frozen dataclass registered as a JAX pytree. Float
hyperparameters are pytree leaves (so they may be traced, e.g. under ``vmap``
over a sweep of peak learning rates); step counts, boundaries and modes are
static metadata validated at construction.

Subclasses implement ``_eval(t)``, where ``t`` is a non-negative step array that
is either an integer dtype (exact boundary arithmetic) or the default float
dtype. ``__call__`` normalises the step and the output dtype once, so composed
schedules call their children's ``_eval`` directly.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.typing import ArrayLike

from . import _checks

_REGISTRY: dict[str, type] = {}  # schedules, and plateau (a stateful schedule)


def hyper(check: Callable | None = None, **kwargs: Any) -> Any:
    """A field holding data: a float hyperparameter or child schedules (pytree leaves).

    ``check(fn, name, value) -> value`` validates and normalises it at construction.
    """
    return dataclasses.field(metadata={"data": True, "check": check}, **kwargs)


def static(check: Callable | None = None, **kwargs: Any) -> Any:
    """A field holding static metadata (ints, strings, tuples, functions)."""
    return dataclasses.field(metadata={"data": False, "check": check}, **kwargs)


def schedule_class(cls: type) -> type:
    """Makes ``cls`` a frozen dataclass, a JAX pytree and a name known to ``from_config``."""
    cls = dataclasses.dataclass(frozen=True, repr=False, eq=True)(cls)
    fields = dataclasses.fields(cls)
    data = [f.name for f in fields if f.metadata.get("data", False)]
    meta = [f.name for f in fields if not f.metadata.get("data", False)]
    jax.tree_util.register_dataclass(cls, data_fields=data, meta_fields=meta)
    _REGISTRY[cls.__name__] = cls
    return cls


def float_dtype() -> jnp.dtype:
    """float32, or float64 when ``jax_enable_x64`` is on."""
    return jnp.result_type(float)


class Schedule:
    """A learning-rate schedule: a pure function of the (zero-based) step.

    Abstract; every concrete schedule is a final frozen dataclass. Compose by
    wrapping (``join``, ``repeat``, ``warmup``, ``clip``, ``*``, ``+``), never by
    subclassing a concrete schedule.
    """

    # Names of scalar fields that a table-driven ``join`` may stack across pieces
    # of the same family (float hyperparameters and int step counts used only
    # arithmetically). Pieces whose other fields are equal share one evaluation.
    _gather: ClassVar[tuple[str, ...]] = ()

    def __call__(self, step: ArrayLike) -> jax.Array:
        """Returns the learning rate at ``step`` (any shape; int or float).

        Called on a concrete step outside a trace (``lr(0)`` for logging), the
        schedule runs as one compiled program, cached per schedule value, rather
        than op by op.
        """
        if isinstance(step, jax.core.Tracer) or not isinstance(step, _CONCRETE):
            return self._trace(step)  # traced, or a list/odd type: validated op by op
        try:
            fn = _compiled(self)
        except TypeError:  # traced or unhashable hyperparameters: evaluate inline
            return self._trace(step)
        return fn(step)

    def _trace(self, step: ArrayLike) -> jax.Array:
        t = as_step(step, type(self).__name__)
        return finish(self._eval(t), t)

    def _eval(self, t: jax.Array) -> jax.Array:  # pragma: no cover - abstract
        raise NotImplementedError

    def __post_init__(self) -> None:
        fn = type(self).__name__
        for f in dataclasses.fields(self):
            check = f.metadata.get("check")
            if check is not None:
                object.__setattr__(self, f.name, check(fn, f.name, getattr(self, f.name)))
        self._check()

    def _check(self) -> None:
        """Cross-argument validation, run after every field's own check."""

    # ----------------------------------------------------------------- value API
    def __repr__(self) -> str:
        args = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.default is not dataclasses.MISSING and _same(value, f.default):
                continue
            args.append(f"{f.name}={format_value(value)}")
        return f"{type(self).__name__}({', '.join(args)})"

    def to_config(self) -> dict[str, Any]:
        """A JSON-serialisable dict; ``jaxsched.from_config`` rebuilds an equal schedule."""
        config: dict[str, Any] = {"type": type(self).__name__}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.default is not dataclasses.MISSING and _same(value, f.default):
                continue
            config[f.name] = _to_config(value)
        return config

    # ----------------------------------------------------------------- operators
    def __mul__(self, other: Any) -> Schedule:
        return mul(self, other)

    def __rmul__(self, other: Any) -> Schedule:
        return mul(other, self)

    def __add__(self, other: Any) -> Schedule:
        return add(self, other)

    def __radd__(self, other: Any) -> Schedule:
        return add(other, self)


_CONCRETE = (jax.Array, np.ndarray, np.generic, int, float)


def _same(a: Any, b: Any) -> bool:
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:  # noqa: BLE001 - traced values never equal a default
        return False


def format_value(value: Any) -> str:
    """Formats a field value the way it would be written in code."""
    if isinstance(value, tuple | list):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, Schedule | str | bool | int | float) or value is None:
        return repr(value)
    if callable(value):
        return getattr(value, "__qualname__", None) or repr(value)
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape is not None:
        return f"<{'traced ' if _checks._is_tracer(value) else ''}{dtype}{list(shape)}>"
    return repr(value)


def _to_config(value: Any) -> Any:
    if isinstance(value, Schedule):
        return value.to_config()
    if isinstance(value, tuple | list):
        return [_to_config(v) for v in value]
    if value is None or isinstance(value, str | bool | int | float):
        return value
    raise TypeError(f"to_config: cannot serialise {value!r}: only schedules built from "
                    "jaxsched constructors with plain numbers have a config form.")


def from_config(config: Any) -> Any:
    """Rebuilds a schedule from ``Schedule.to_config()`` output.

    >>> import jaxsched as js
    >>> s = js.warmup_cosine(peak=1e-3, warmup_steps=10, total_steps=100)
    >>> js.from_config(s.to_config()) == s
    True
    """
    if isinstance(config, int | float) and not isinstance(config, bool):
        return config
    if not isinstance(config, dict) or "type" not in config:
        raise ValueError(f"from_config: expected a dict with a 'type' key, got {config!r}.")
    name = config["type"]
    cls = _REGISTRY.get(name)
    if cls is None or name.startswith("_"):
        known = ", ".join(sorted(k for k in _REGISTRY if not k.startswith("_")))
        raise ValueError(f"from_config: unknown schedule type {name!r}; known: {known}.")
    kwargs = {k: _from_config(v) for k, v in config.items() if k != "type"}
    return cls(**kwargs)


def _from_config(value: Any) -> Any:
    if isinstance(value, dict):
        return from_config(value)
    if isinstance(value, list):
        return tuple(_from_config(v) for v in value)
    return value


# --------------------------------------------------------------------- steps
def as_step(step: ArrayLike, fn: str) -> jax.Array:
    """Validates and normalises a step: int steps stay ints (>= 32 bit), floats become
    the default float dtype, and negative steps are treated as step 0."""
    if isinstance(step, Schedule):
        raise TypeError(f"{fn}: the step must be a number or array, got a schedule.")
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


def stack(values: Any) -> jax.Array:
    """Scalars as one array: a single constant when they are plain numbers, else a stack."""
    if all(isinstance(v, int | float) for v in values):
        return jnp.asarray(np.asarray(values, np.float64), float_dtype())
    return jnp.stack([jnp.asarray(v) for v in values])


def finish(out: ArrayLike, t: jax.Array) -> jax.Array:
    out = jnp.asarray(out).astype(float_dtype())
    return jnp.broadcast_to(out, jnp.broadcast_shapes(out.shape, t.shape))


def is_int(t: jax.Array) -> bool:
    return jnp.issubdtype(t.dtype, jnp.integer)


def _imax(t: jax.Array) -> int:
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
        return min(c, _imax(t))
    return float(c)


def tmin(t: jax.Array, c: Any) -> jax.Array:
    """``min(t, c)``, overflow-safe for huge Python-int ``c``."""
    return jnp.minimum(t, const(t, c))


def reached(t: jax.Array, c: int) -> jax.Array:
    """``t >= c`` for a static int ``c``, exact for every integer ``t``."""
    if is_int(t) and c > _imax(t):
        return jnp.zeros(t.shape, bool)
    return t >= const(t, c)


def since(t: jax.Array, c: int) -> jax.Array:
    """``max(t - c, 0)`` for a static int ``c``, without overflow (unsigned steps too)."""
    if is_int(t) and c > _imax(t):
        return jnp.zeros_like(t)
    c = const(t, c)
    if jnp.issubdtype(t.dtype, jnp.unsignedinteger):
        return jnp.where(t >= c, t - c, jnp.zeros_like(t))
    return jnp.maximum(t - c, 0)


def divide(t: jax.Array, c: int) -> tuple[jax.Array, jax.Array]:
    """``(t // c, t % c)`` for a static positive int ``c``, exact for integer ``t``."""
    if is_int(t) and c > _imax(t):
        return jnp.zeros_like(t), t
    # Steps are >= 0 here, so truncating division is floor division (and cheaper).
    q = lax.div(t, jnp.asarray(c, t.dtype)) if is_int(t) else jnp.floor(t / c)
    return q, t - q * c


SELECT_MAX = 8  # up to this many boundaries, a chain of selects beats a gather on CPU


def pick(t: jax.Array, bounds: tuple[int, ...], values: Any) -> jax.Array:
    """``values[segment(t, bounds)]``: a select chain for few boundaries, else one gather."""
    if len(bounds) <= SELECT_MAX:
        out = jnp.asarray(values[0])
        for b, v in zip(bounds, values[1:], strict=True):
            out = jnp.where(reached(t, b), v, out)
        return out
    return stack(values)[segment(t, bounds)]


def table(t: jax.Array, values: tuple[int, ...]) -> jax.Array:
    """A static sorted table of step boundaries in ``t``'s dtype.

    Entries beyond an integer dtype's range can never be reached by ``t`` and are
    dropped, so lookups stay exact (int32 steps up to 2**31 - 1).
    """
    if is_int(t):
        top = _imax(t)
        return jnp.asarray([v for v in values if v <= top], dtype=t.dtype)
    return jnp.asarray(values, dtype=float_dtype())


def segment(t: jax.Array, bounds: tuple[int, ...]) -> jax.Array:
    """The number of ``bounds`` that ``t`` has reached: the index of its segment.

    Up to 32 boundaries: a fused compare-and-count. More, with integer steps: a
    radix table (``_Buckets``) resolves the segment with one gather plus a few
    compares. Otherwise a binary search.
    """
    tab = table(t, bounds)
    k = tab.shape[0]
    if k == 0:
        return jnp.zeros(t.shape, jnp.int32)
    if k <= 32:
        return jnp.sum(t[..., None] >= tab, axis=-1, dtype=jnp.int32)
    if is_int(t):
        buckets = _buckets(tuple(bounds[:k]))
        if buckets is not None:
            return buckets.lookup(t, tab)
    return jnp.searchsorted(tab, t, side="right", method="scan_unrolled").astype(jnp.int32)


@dataclasses.dataclass(frozen=True)
class _Buckets:
    """A radix index over sorted int boundaries, exact for every integer step.

    Steps are cut into ``2**shift``-wide buckets from the first boundary ``lo``;
    ``base[j]`` counts the boundaries before bucket ``j``, and no bucket holds more
    than ``width`` boundaries, so ``segment(t) = base[j] + #{b in bucket j: b <= t}``.
    """

    lo: int
    shift: int
    base: np.ndarray
    width: int

    def lookup(self, t: jax.Array, tab: jax.Array) -> jax.Array:
        k = tab.shape[0]
        above = t >= self.lo
        offset = jnp.where(above, t - jnp.asarray(self.lo, t.dtype), 0)
        j = jnp.minimum(offset >> self.shift, self.base.shape[0] - 1).astype(jnp.int32)
        first = jnp.asarray(self.base, jnp.int32)[j]
        count = first
        for m in range(self.width):
            i = first + m
            count = count + ((i < k) & (t >= tab[jnp.minimum(i, k - 1)])).astype(jnp.int32)
        return jnp.where(above, count, 0)


@functools.lru_cache(maxsize=128)
def _buckets(bounds: tuple[int, ...]) -> _Buckets | None:
    lo, hi, k = bounds[0], bounds[-1], len(bounds)
    arr = np.asarray(bounds, np.int64)
    best = None
    for density in (4, 8, 16):  # buckets per boundary: more buckets, fewer compares each
        shift = max(0, int(np.ceil(np.log2(max(1, hi - lo + 1) / (density * k)))))
        n = ((hi - lo) >> shift) + 1
        base = np.searchsorted(arr, lo + (np.arange(n, dtype=np.int64) << shift), side="left")
        width = int(np.diff(np.append(base, k)).max())
        if best is None or width < best.width:
            best = _Buckets(lo, shift, base.astype(np.int32), width)
        if width == 1:
            break
    # Clustered boundaries (many short pieces, then long ones): a binary search is cheaper.
    return best if best.width <= 4 else None


# --------------------------------------------------------------------- interop
def as_schedule(value: Any, fn: str, name: str, *, numbers: bool = True) -> Schedule:
    """Accepts a Schedule, a plain traceable callable (wrapped) or a number (constant)."""
    if isinstance(value, Schedule):
        return value
    if callable(value):
        return wrap(value)
    if numbers and _checks.concrete_number(value) is not None:
        from ._curves import constant

        return constant(value)
    raise TypeError(f"{fn}: `{name}` must be a schedule, a jnp-traceable function of the step"
                    f" or a number, got {value!r}.")


@schedule_class
class wrap(Schedule):
    """Turns a jnp-traceable function of the step into a Schedule.

    Use it to pass optax schedules or lambdas wherever jaxsched expects a
    schedule (``join``, ``repeat``, ``warmup``, ``clip`` and the operators wrap
    plain callables for you). The function receives the step as given (int or
    float array) and must return a float scalar per step.

    Args:
      fn: a function ``step -> lr`` built from ``jnp``/``lax`` ops.
      name: how the schedule prints; defaults to the function's name.

    Raises:
      TypeError: if ``fn`` is not callable or cannot be traced on an int32 step.

    >>> import optax, jaxsched as js
    >>> s = js.wrap(optax.linear_schedule(1.0, 0.0, 10), name="optax_linear")
    >>> s
    wrap(optax_linear)
    >>> print(f"{s(5):.3f}")
    0.500
    """

    fn: Callable[[jax.Array], jax.Array] = static()
    name: str | None = static(default=None, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.fn, Schedule):
            raise TypeError("wrap: `fn` is already a schedule; use it directly.")
        if not callable(self.fn):
            raise TypeError(f"wrap: `fn` must be a callable step -> lr, got {self.fn!r}.")
        if self.name is not None and not isinstance(self.name, str):
            raise TypeError(f"wrap: `name` must be a str or None, got {self.name!r}.")
        check_traceable(self.fn, "wrap", "fn")

    def _eval(self, t: jax.Array) -> jax.Array:
        return jnp.asarray(self.fn(t))

    def __repr__(self) -> str:
        return f"wrap({self.name or getattr(self.fn, '__qualname__', repr(self.fn))})"

    def to_config(self) -> dict[str, Any]:
        raise TypeError(f"to_config: {self!r} wraps a Python function, which has no config "
                        "form; build the schedule from jaxsched constructors to save it.")


@functools.lru_cache(maxsize=512)
def _traceable(fn: Callable) -> Exception | None:
    try:
        out = jax.eval_shape(fn, jax.ShapeDtypeStruct((), jnp.int32))
    except Exception as e:  # noqa: BLE001 - reported to the user below
        return e
    if not hasattr(out, "shape") or out.shape != () or not jnp.issubdtype(out.dtype, jnp.number):
        return TypeError(f"it returned {out!r}, not a numeric scalar")
    return None


def check_traceable(fn: Callable, where: str, name: str) -> None:
    """Raises a TypeError at construction if ``fn`` cannot be traced on a scalar int step."""
    try:
        err = _traceable(fn)
    except TypeError:  # unhashable callable: check it uncached
        err = _traceable.__wrapped__(fn)
    if err is not None:
        raise TypeError(
            f"{where}: `{name}` must be a jnp-traceable function of the step (jnp/lax ops "
            f"only, no Python `if`/`float()` on the step, no math.*); calling it on a traced "
            f"int32 step failed: {type(err).__name__}: {str(err).splitlines()[0]}") from None


def SCHEDULE(fn: str, name: str, value: Any) -> Schedule:  # noqa: N802 - a field checker
    """Field checker: a schedule, a wrapped traceable callable, or a number as a constant."""
    return as_schedule(value, fn, name)


# --------------------------------------------------------------------- operators
def _operand(value: Any, op: str) -> Any:
    if isinstance(value, Schedule):
        return value
    if callable(value):
        return wrap(value)
    if _checks.concrete_number(value) is not None or _checks._is_tracer(value):
        return _checks.number(op, "operand", value)
    raise TypeError(f"{op}: cannot combine a schedule with {value!r}; use a schedule, a number "
                    "or a jnp-traceable function of the step.")


@schedule_class
class mul(Schedule):
    """The product of two schedules (or a schedule and a number): ``a * b``.

    With two schedules this is PyTorch's ``ChainedScheduler`` of multiplicative
    schedulers: both factors see the same global step.
    """

    a: Any = hyper()
    b: Any = hyper()

    def __post_init__(self) -> None:
        object.__setattr__(self, "a", _operand(self.a, "*"))
        object.__setattr__(self, "b", _operand(self.b, "*"))

    def _eval(self, t: jax.Array) -> jax.Array:
        return _side(self.a, t) * _side(self.b, t)

    def __repr__(self) -> str:
        # Left-associative text: a right operand that is itself a product or sum needs parentheses.
        return f"{_paren(self.a, add)} * {_paren(self.b, (add, mul))}"


@schedule_class
class add(Schedule):
    """The sum of two schedules (or a schedule and a number): ``a + b``."""

    a: Any = hyper()
    b: Any = hyper()

    def __post_init__(self) -> None:
        object.__setattr__(self, "a", _operand(self.a, "+"))
        object.__setattr__(self, "b", _operand(self.b, "+"))

    def _eval(self, t: jax.Array) -> jax.Array:
        return _side(self.a, t) + _side(self.b, t)

    def __repr__(self) -> str:
        return f"{format_value(self.a)} + {_paren(self.b, add)}"


def _side(x: Any, t: jax.Array) -> Any:
    return x._eval(t) if isinstance(x, Schedule) else x


def _paren(x: Any, kind: type | tuple[type, ...]) -> str:
    text = format_value(x)
    return f"({text})" if isinstance(x, kind) else text


# --------------------------------------------------------------------- evaluate
@functools.lru_cache(maxsize=256)
def _compiled(schedule: Schedule) -> Callable:
    return jax.jit(schedule._trace)


def evaluate(schedule: Any, steps: int | ArrayLike) -> np.ndarray:
    """The schedule's values as a NumPy array, compiled once per schedule.

    Args:
      schedule: a Schedule or a jnp-traceable function of the step.
      steps: an int ``n`` (steps ``0 .. n-1``) or an array of steps.

    >>> import jaxsched as js
    >>> js.evaluate(js.linear(1.0, 0.0, 4), 5).tolist()
    [1.0, 0.75, 0.5, 0.25, 0.0]
    """
    s = as_schedule(schedule, "evaluate", "schedule", numbers=False)
    if isinstance(steps, int | np.integer) and not isinstance(steps, bool):
        if steps < 0:
            raise ValueError(f"evaluate: `steps` must be >= 0, got {steps}.")
        steps = np.arange(int(steps))
    return np.asarray(s(steps))
