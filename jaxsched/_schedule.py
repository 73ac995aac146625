"""The Schedule value: immutable, callable ``step -> lr``, printable, comparable.

A schedule is a frozen dataclass registered as a JAX pytree. Float
hyperparameters are pytree leaves (so they may be traced, e.g. under ``vmap``
over a sweep of peak learning rates); step counts, boundaries and modes are
static metadata validated at construction.

Subclasses implement ``_eval(t)``, where ``t`` is a non-negative step array that
is either an integer dtype (exact boundary arithmetic) or the default float
dtype. ``__call__`` normalises the step and the output dtype once, so composed
schedules call their children's ``_eval`` directly. This module holds the value
and its registry, configs, ``wrap``, the operators, ``evaluate`` and the one
function that turns "a schedule, a function or a number" into a schedule
(``as_schedule``); step arithmetic lives in ``_steps`` and segment lookup in
``_lookup``.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import inspect
import math
import re
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Literal, dataclass_transform

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from . import _checks as check
from ._steps import as_step, finish, host_step

_REGISTRY: dict[str, type] = {}  # schedules, and plateau (a stateful schedule)


def hyper(check: Callable | None = None, *, default: Any = dataclasses.MISSING,
          kw_only: bool = False, compare: bool = True, specialize: bool = False) -> Any:
    """A field holding data: a float hyperparameter or child schedules (pytree leaves).

    ``check(fn, name, value) -> value`` validates and normalises it at construction.
    ``specialize=True`` marks a float hyperparameter whose concrete value picks a more
    precise code path: the eager path (``__call__`` on a concrete step) compiles one
    program per value of it rather than passing it as an argument. ``log(gamma)`` on the
    host (float32's rounded gamma near 1 is not precise enough), HF's ``num_cycles`` as an
    exact fraction (the phase in integers), ``exponent``/``power`` == 1.0 skipping the
    power. A recipe that passes such a value on to a curve declares its own field so too.
    """
    return dataclasses.field(default=default, kw_only=kw_only, compare=compare,
                             metadata={"data": True, "check": check, "specialize": specialize})


def static(check: Callable | None = None, *, default: Any = dataclasses.MISSING,
           kw_only: bool = False, compare: bool = True) -> Any:
    """A field holding static metadata (ints, strings, tuples, functions)."""
    return dataclasses.field(default=default, kw_only=kw_only, compare=compare,
                             metadata={"data": False, "check": check})


@dataclass_transform(frozen_default=True, eq_default=True, field_specifiers=(hyper, static))
def schedule_class(cls: type) -> type:
    """Makes ``cls`` a frozen dataclass, a JAX pytree and a name known to ``from_config``.

    Declared with ``dataclass_transform`` so that type checkers (mypy, pyright)
    see every constructor's real parameters.
    """
    cls = dataclasses.dataclass(frozen=True, repr=False, eq=True)(cls)
    cls.__init__ = _explained(cls, cls.__init__)
    fields = dataclasses.fields(cls)
    data = tuple(f.name for f in fields if f.metadata.get("data", False))
    meta = tuple(f.name for f in fields if not f.metadata.get("data", False))
    keys = tuple(jax.tree_util.GetAttrKey(name) for name in data)

    def flatten_with_keys(obj: Any) -> tuple[list[tuple[Any, Any]], tuple[Any, ...]]:
        return ([(k, getattr(obj, n)) for k, n in zip(keys, data, strict=True)],
                tuple(getattr(obj, n) for n in meta))

    def flatten(obj: Any) -> tuple[list[Any], tuple[Any, ...]]:
        return [getattr(obj, n) for n in data], tuple(getattr(obj, n) for n in meta)

    def unflatten(aux: tuple[Any, ...], children: Any) -> Any:
        # Rebuilt without __init__: validation is for what the user typed, and JAX rebuilds
        # pytrees with tracers or placeholders (None, object()) in the data fields.
        obj = object.__new__(cls)
        for name, value in zip(data, children, strict=True):
            object.__setattr__(obj, name, value)
        for name, value in zip(meta, aux, strict=True):
            object.__setattr__(obj, name, value)
        return obj

    jax.tree_util.register_pytree_with_keys(cls, flatten_with_keys, unflatten, flatten)
    _REGISTRY[cls.__name__] = cls
    return cls


def _explained(cls: type, init: Callable) -> Callable:
    """``init``, with Python's raw signature errors ("got an unexpected keyword argument")
    replaced by the messages ``parse`` and ``from_config`` give: the constructor's name,
    "did you mean", and a hint when an optax optimizer was passed first, PyTorch style."""

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            init(self, *args, **kwargs)
        except TypeError:
            name = cls.__name__
            problem = call_error(name, cls, args, kwargs)
            if problem is None:
                raise  # a field's own check: already in the user's words
            message = problem[0]
            if any(check.is_optimizer(a) for a in (*args, *kwargs.values())):
                message += (" An optax optimizer was passed: jaxsched schedules take the "
                            "learning rate, not the optimizer (the optimizer takes the "
                            f"schedule: optax.inject_hyperparams(optax.sgd)(learning_rate="
                            f"{name}(...))).")
            raise TypeError(message) from None

    return __init__


class Schedule:
    """A learning-rate schedule: a pure function of the (zero-based) step.

    Abstract; every concrete schedule is a final frozen dataclass. Compose by
    wrapping (``join``, ``repeat``, ``warmup``, ``clip``, ``*``, ``+``), never by
    subclassing a concrete schedule.

    Besides ``_eval``, a class states what it knows about itself, so that tools
    (``describe``, ``plot``) never switch on concrete types: ``_horizon()`` (where
    its planned course ends), ``_handoffs()`` (steps where joined pieces hand
    over) and ``_long_rise`` (rising for a long time is its design, not a
    too-long warmup).
    """

    # Names of scalar fields that a table-driven ``join`` may stack across pieces
    # of the same family (float hyperparameters and int step counts used only
    # arithmetically). Pieces whose other fields are equal share one evaluation.
    _gather: ClassVar[tuple[str, ...]] = ()
    # True for schedules whose long rise is their design (one-cycle, cyclic).
    _long_rise: ClassVar[bool] = False

    def __call__(self, step: ArrayLike) -> jax.Array:
        """Returns the learning rate at ``step`` (any shape; int or float).

        Called on a concrete step outside a trace (``lr(0)`` for logging), the
        schedule runs as one compiled program, cached per schedule *structure*
        (its classes and static fields): the float hyperparameters are passed as
        arguments, so a schedule that differs only in them (a sweep over peak LRs)
        reuses the program.

        Step types. Integer steps are decided in integer arithmetic, exactly.
        Without ``jax_enable_x64`` JAX holds integer steps in 32 bits: a concrete
        step from the host (a Python int, a NumPy int64/uint64 scalar or array)
        that int32 cannot hold but uint32 can (``2**31 .. 2**32 - 1``) is passed
        as uint32, exactly; a larger one raises a ValueError (never a wrapped
        value); with x64 the same holds for int64/uint64 (up to ``2**64 - 1``).
        Every integer type follows this one rule. Under ``jit`` JAX converts the
        arguments before the schedule sees them, so pass steps there as int32 or
        uint32 (or enable x64). Float steps give exactly the value at the float's
        own value, and past 2**24 (float32) each float is an integer spaced more
        than one step from the next: periodic schedules reduce it exactly (fmod),
        so every value stays in the schedule's range, and eager, ``jit`` and
        ``vmap`` agree.
        """
        if isinstance(step, jax.core.Tracer) or not isinstance(step, _CONCRETE):
            return self._trace(step)  # traced, or a list/odd type: validated op by op
        step = host_step(step, type(self).__name__)
        program = self._program
        if program is None:  # traced or unhashable hyperparameters: evaluate inline
            return self._trace(step)
        fn, args = program
        return fn(args, step)

    @functools.cached_property
    def _program(self) -> tuple[Callable, tuple] | None:
        return _eager_program(self)

    def __getstate__(self) -> dict[str, Any]:
        # Cached evaluations (compiled programs, built recipes) are not part of the value.
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def _trace(self, step: ArrayLike) -> jax.Array:
        fn = type(self).__name__
        if isinstance(step, Schedule):
            raise TypeError(f"{fn}: the step must be a number or array, got a schedule.")
        return self._finish(as_step(step, fn))

    def _finish(self, t: jax.Array) -> jax.Array:
        """What a call returns at the validated step ``t``: ``_eval`` in the default float
        dtype, shaped like the step (integer schedules return int32 instead)."""
        return finish(self._eval(t), t)

    def _eval(self, t: jax.Array) -> jax.Array:  # pragma: no cover - abstract
        raise NotImplementedError

    def __post_init__(self) -> None:
        fn = type(self).__name__
        for f in dataclasses.fields(self):
            checker = f.metadata.get("check")
            if checker is not None:
                object.__setattr__(self, f.name, checker(fn, f.name, getattr(self, f.name)))
        self._check()

    def _check(self) -> None:
        """Cross-argument validation, run after every field's own check."""

    # ----------------------------------------------------------------- self-knowledge
    def _horizon(self) -> int | float | None:
        """Where the planned course ends: the schedule holds its last value from there.

        ``None``: no planned end (a constant or a staircase holds by design);
        ``math.inf``: it never settles (exponential, cyclic, restarts, inverse sqrt).
        """
        return math.inf

    def _handoffs(self) -> tuple[int, ...]:
        """Global steps where one joined piece hands over to the next."""
        return ()

    def _course(self, offset: int = 0) -> list[tuple[int, Schedule]]:
        """The pieces of the course in time order, as ``(global start, piece)``; a schedule
        that is not a composition in time is one piece (used by ``js.extend``)."""
        return [(offset, self)]

    def _resume_step(self) -> int | None:
        """The step a re-planned run resumes at (``js.extend`` and its kin), else None."""
        return None

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


class StatefulSchedule:
    """A schedule whose value also depends on state carried in the optimizer state.

    It follows optax's ``StatefulSchedule`` protocol, which ``optax.inject_hyperparams``
    understands: ``init()`` gives the state, ``update(state, **extra_args)`` advances it
    by one optimizer update and ``__call__(state)`` gives the value of the next update.
    It is not a function of the step, so it is not a ``Schedule`` and is never called
    with a step; it cannot be composed in time (``join``) either: compose the schedule
    inside it. Like a ``Schedule`` it is a frozen pytree dataclass that prints as the call
    that built it, compares by value, and round-trips through ``parse`` and
    ``to_config``/``from_config``; ``describe`` and ``plot`` show what can be known
    before training, its ``_preview()`` (e.g. a plateau's base schedule).
    """

    def init(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def update(self, state: Any, **extra_args: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, state: Any, **extra_args: Any) -> jax.Array:  # pragma: no cover
        raise NotImplementedError

    def _preview(self) -> tuple[Schedule, str]:  # pragma: no cover - abstract
        """``(the stateless schedule it starts from, a note on what the state changes)``."""
        raise NotImplementedError

    __repr__ = Schedule.__repr__
    to_config = Schedule.to_config


class Recipe(Schedule):
    """A schedule defined by the composition ``_build()`` returns (package-internal base).

    A recipe keeps its own arguments (so it prints, compares and saves as the
    call that built it) and delegates evaluation, horizon and hand-offs to the
    composition it builds.
    """

    @functools.cached_property
    def _inner(self) -> Schedule:
        return self._build()

    def _build(self) -> Schedule:  # pragma: no cover - abstract
        raise NotImplementedError

    def _eval(self, t: jax.Array) -> jax.Array:
        return self._inner._eval(t)

    def _built(self) -> Schedule | None:
        """The composition, or None for a recipe that evaluates by itself (its own ``_eval``)."""
        return None if type(self)._build is Recipe._build else self._inner

    def _horizon(self) -> int | float | None:
        inner = self._built()
        return Schedule._horizon(self) if inner is None else inner._horizon()

    def _handoffs(self) -> tuple[int, ...]:
        inner = self._built()
        return () if inner is None else inner._handoffs()

    def _course(self, offset: int = 0) -> list[tuple[int, Schedule]]:
        inner = self._built()
        return [(offset, self)] if inner is None else inner._course(offset)


def latest(*horizons: int | float | None) -> int | float | None:
    """The horizon of schedules running side by side (a product, a sum, a scaled LR):
    inf if one never settles, else the latest planned end, None if none has one."""
    if math.inf in horizons:
        return math.inf
    known = [h for h in horizons if h is not None]
    return max(known) if known else None


def shift(h: int | float | None, by: int) -> int | float | None:
    """A horizon moved ``by`` steps later (None and inf stay)."""
    return h if h is None or h == math.inf else by + h


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
        return f"<{'traced ' if check.is_tracer(value) else ''}{dtype}{list(shape)}>"
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

    Args:
      config: a dict with a ``"type"`` key naming the constructor and one key per
        argument (nested schedules as nested dicts), as ``to_config`` writes it.

    Raises:
      ValueError, TypeError: naming the offending key, with "did you mean" hints
        for misspelt argument names (the same messages as ``parse``).

    >>> import jaxsched as js
    >>> s = js.warmup_cosine(peak=1e-3, warmup_steps=10, total_steps=100)
    >>> js.from_config(s.to_config()) == s
    True
    """
    return _from_config(config, "config")


def _from_config(config: Any, where: str) -> Any:
    if isinstance(config, int | float) and not isinstance(config, bool):
        return config
    if not isinstance(config, dict) or "type" not in config:
        raise ValueError(f"from_config: {where} must be a number or a dict with a 'type' key, "
                         f"got {config!r}.")
    name = config["type"]
    if not isinstance(name, str):
        raise TypeError(f"from_config: {where}['type'] must be a constructor name (a str), "
                        f"got {name!r}.")
    cls = constructor(name)
    if cls is None:
        hint = unknown_hint(name, [k for k in _REGISTRY if constructor(k) is not None])
        raise ValueError(f"from_config: {where}['type'] is the unknown schedule {name!r}{hint}.")
    kwargs = {k: _field_from_config(v, f"{where}[{k!r}]") for k, v in config.items()
              if k != "type"}
    problem = call_error(name, cls, [], kwargs)
    if problem is not None:
        raise TypeError(f"from_config: {problem[0]}")
    return cls(**kwargs)


def _field_from_config(value: Any, where: str) -> Any:
    if isinstance(value, dict):
        return _from_config(value, where)
    if isinstance(value, list):
        return tuple(_field_from_config(v, f"{where}[{i}]") for i, v in enumerate(value))
    return value


def constructor(name: str) -> type | None:
    """The public schedule constructor registered as ``name`` (core, pytorch or hf)."""
    return None if name.startswith("_") else _REGISTRY.get(name)


def unknown_hint(name: str, known: Sequence[str]) -> str:
    """What follows "unknown schedule 'name'": the closest known name, or all of them."""
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else f"; known: {', '.join(sorted(known))}"


@functools.cache
def signature(cls: type) -> inspect.Signature:
    return inspect.signature(cls)


def call_error(name: str, cls: type, args: Sequence[Any],
               kwargs: dict[str, Any]) -> tuple[str, str | int | None] | None:
    """Why ``cls(*args, **kwargs)`` does not match the constructor's signature, if it doesn't.

    Returns ``(message, culprit)``: the culprit is the keyword named, the index of
    the first extra positional argument, or None (the whole call). Shared by
    ``parse`` and ``from_config``, so both give the same "did you mean" messages.

    >>> import jaxsched as js
    >>> call_error("cosine", js.cosine, [1.0], {"end": 0.0, "stpes": 10})[0]
    'cosine: unknown argument `stpes` (did you mean `steps`?); cosine takes start, end, steps, \
exponent.'
    """
    sig = signature(cls)
    params = list(sig.parameters)
    takes = ", ".join(params)
    for key in kwargs:
        if key not in sig.parameters:
            close = difflib.get_close_matches(key, params, n=1)
            hint = f" (did you mean `{close[0]}`?)" if close else ""
            return f"{name}: unknown argument `{key}`{hint}; {name} takes {takes}.", key
    try:
        sig.bind(*args, **kwargs)
    except TypeError as e:
        msg = str(e)
        if "too many positional" in msg:
            positional = [p.name for p in sig.parameters.values()
                          if p.kind is p.POSITIONAL_OR_KEYWORD]
            return (f"{name}: takes at most {len(positional)} positional arguments "
                    f"({', '.join(positional)}), got {len(args)}.", len(positional))
        m = re.search(r"multiple values for argument '(\w+)'", msg)
        if m:
            return (f"{name}: `{m.group(1)}` given twice (by position and by keyword).",
                    m.group(1))
        m = re.search(r"missing a required argument: '(\w+)'", msg)
        if m:
            return f"{name}: missing argument `{m.group(1)}`; {name} takes {takes}.", None
        return f"{name}: {msg}.", None
    return None


# --------------------------------------------------------------------- coercion
Numbers = Literal["constant", "keep", "refuse"]


def is_stateful(value: Any) -> bool:
    """A stateful schedule: a ``StatefulSchedule`` (``js.plateau``) or any object following
    optax's protocol (``init``/``update``/``__call__``)."""
    if isinstance(value, StatefulSchedule):
        return True
    return (not isinstance(value, Schedule) and callable(getattr(value, "init", None))
            and callable(getattr(value, "update", None)) and callable(value))


def as_schedule(value: Any, fn: str, name: str, *, numbers: Numbers = "constant") -> Any:
    """The one way to turn "a schedule, a function or a number" into a schedule.

    A Schedule is returned as is; a jnp-traceable function of the step is wrapped
    (``wrap``, checked by tracing it once); a number follows ``numbers``:
    ``'constant'`` makes it ``constant(number)``, ``'keep'`` returns it as a
    validated Python float (a traced scalar stays as is: operands of ``*``/``+``),
    ``'refuse'`` raises. An optimizer, a stateful schedule (``plateau``) or
    anything else raises a TypeError that names ``fn`` and ``name``.
    """
    if isinstance(value, Schedule):
        return value
    if check.is_optimizer(value):
        raise TypeError(check.optimizer_message(fn, name))
    if is_stateful(value):
        raise TypeError(f"{fn}: `{name}` is a stateful schedule ({type(value).__name__}), "
                        "which lives in the optimizer state and cannot be composed; put the "
                        "composition inside it instead, e.g. plateau(join([...]), ...).")
    if callable(value):
        return wrap(value)
    is_number = check.concrete_number(value) is not None or check.is_tracer(value)
    if is_number and numbers == "constant":
        from ._curves import constant  # curves build on this module

        return constant(value)
    if is_number and numbers == "keep":
        return check.number(fn, name, value)
    what = ("a schedule, a jnp-traceable function of the step or a number"
            if numbers != "refuse" else "a schedule or a jnp-traceable function of the step")
    raise TypeError(f"{fn}: `{name}` must be {what}, got {value!r}.")


def schedule_field(fn: str, name: str, value: Any) -> Schedule:
    """Field checker: a schedule, a wrapped traceable callable, or a number as a constant."""
    return as_schedule(value, fn, name)


def schedule_list(fn: str, name: str, values: Any) -> tuple[Schedule, ...]:
    """Field checker: a non-empty list of what ``schedule_field`` accepts."""
    if not isinstance(values, list | tuple) or check.is_optimizer(values):
        raise TypeError(f"{fn}: `{name}` must be a list of schedules, got {values!r}.")
    if not values:
        raise ValueError(f"{fn}: `{name}` must not be empty.")
    return tuple(as_schedule(v, fn, f"{name}[{i}]") for i, v in enumerate(values))


@schedule_class
class wrap(Schedule):
    """Turns a jnp-traceable function of the step into a Schedule: ``lr(t) = fn(t)``.

    Use it to pass optax schedules or lambdas wherever jaxsched expects a
    schedule (``join``, ``repeat``, ``warmup``, ``clip`` and the operators wrap
    plain callables for you). The function receives the step as given (int or
    float array) and must return a float scalar per step. A function that only
    accepts a scalar step (``optax.cosine_onecycle_schedule``, for one) is found
    at construction, by tracing it on a vector, and is mapped over arrays of
    steps, so it works in ``evaluate``, ``plot`` and ``describe`` too.

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

    fn: Callable[..., Any] = static()
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
        if t.ndim > 0 and _scalar_only(self.fn):
            return jnp.vectorize(lambda step: jnp.asarray(self.fn(step)))(t)
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


def _vector_failure(fn: Callable) -> bool:
    # Two odd shapes, so that a function's own small arrays (optax's boundaries) cannot
    # broadcast against the steps by coincidence.
    for shape in ((7,), (3, 5)):
        try:
            out = jax.eval_shape(fn, jax.ShapeDtypeStruct(shape, jnp.int32))
        except Exception:  # noqa: BLE001 - a scalar-only function
            return True
        if getattr(out, "shape", None) != shape:
            return True
    return False


_vector_cached = functools.lru_cache(maxsize=512)(_vector_failure)


def _scalar_only(fn: Callable) -> bool:
    """Whether ``fn`` (traceable on a scalar step) fails or misbehaves on a vector of steps."""
    try:
        return _vector_cached(fn)
    except TypeError:  # unhashable callable
        return _vector_failure(fn)


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


# --------------------------------------------------------------------- operators
class _Binary(Schedule):
    """``a <op> b`` for two schedules or a schedule and a number; both see the same step."""

    a: Any
    b: Any
    _symbol: ClassVar[str]

    def __post_init__(self) -> None:
        for side in ("a", "b"):
            value = as_schedule(getattr(self, side), self._symbol, "operand", numbers="keep")
            object.__setattr__(self, side, value)

    def _eval(self, t: jax.Array) -> jax.Array:
        return self._apply(_side(self.a, t), _side(self.b, t))

    def _apply(self, x: Any, y: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _horizon(self) -> int | float | None:
        return latest(*(x._horizon() for x in (self.a, self.b) if isinstance(x, Schedule)))

    def _resume_step(self) -> int | None:
        return next((x._resume_step() for x in (self.a, self.b) if isinstance(x, Schedule)
                     and x._resume_step() is not None), None)

    def _handoffs(self) -> tuple[int, ...]:
        return tuple(b for x in (self.a, self.b) if isinstance(x, Schedule)
                     for b in x._handoffs())


@schedule_class
class mul(_Binary):
    """The product of two schedules (or a schedule and a number): ``a * b``.

    With two schedules this is PyTorch's ``ChainedScheduler`` of multiplicative
    schedulers: both factors see the same global step.
    """

    a: Any = hyper()
    b: Any = hyper()
    _symbol = "*"

    def _apply(self, x: Any, y: Any) -> Any:
        return x * y

    def __repr__(self) -> str:
        # Left-associative text: a right operand that is itself a product or sum needs parentheses.
        return f"{_paren(self.a, add)} * {_paren(self.b, (add, mul))}"


@schedule_class
class add(_Binary):
    """The sum of two schedules (or a schedule and a number): ``a + b``."""

    a: Any = hyper()
    b: Any = hyper()
    _symbol = "+"

    def _apply(self, x: Any, y: Any) -> Any:
        return x + y

    def __repr__(self) -> str:
        return f"{format_value(self.a)} + {_paren(self.b, add)}"


def _side(x: Any, t: jax.Array) -> Any:
    return x._eval(t) if isinstance(x, Schedule) else x


def _paren(x: Any, kind: type | tuple[type, ...]) -> str:
    text = format_value(x)
    return f"({text})" if isinstance(x, kind) else text


# --------------------------------------------------------------------- eager path
def _eager_program(schedule: Schedule) -> tuple[Callable, tuple] | None:
    """The compiled program for ``schedule``'s structure and its float hyperparameters.

    Python-float leaves are packed into one array argument (one argument whatever
    the number of pieces: the warm call stays as cheap as a one-leaf schedule);
    array leaves are arguments of their own; ints and the leaves of fields declared
    ``hyper(..., specialize=True)`` become part of the cache key. None when a leaf is
    traced or unhashable.
    """
    flat, treedef = jax.tree_util.tree_flatten_with_path(schedule)
    kinds, packed, arrays, baked = [], [], [], []
    for path, leaf in flat:
        if isinstance(leaf, jax.core.Tracer):
            return None
        if isinstance(leaf, float) and not _specialized(schedule, path):
            kinds.append("f")
            packed.append(leaf)
        elif isinstance(leaf, jax.Array | np.ndarray | np.generic):
            kinds.append("a")
            arrays.append(leaf)
        else:
            kinds.append("k")
            baked.append((type(leaf), leaf.hex() if isinstance(leaf, float) else leaf))
    key = (treedef, tuple(kinds), tuple(baked))
    try:
        fn = _compiled(key)
    except TypeError:  # an unhashable leaf
        return None
    # On the device once: a committed array is the cheapest argument to dispatch.
    values = jnp.asarray(np.asarray(packed, np.float64), jnp.result_type(float))
    return fn, (values, tuple(arrays))


def _specialized(schedule: Schedule, path: tuple) -> bool:
    """Whether the leaf at ``path`` is in a field its schedule declares ``specialize=True``."""
    obj, owner, field = schedule, None, None
    for entry in path:
        if isinstance(obj, Schedule) and isinstance(entry, jax.tree_util.GetAttrKey):
            owner, field = obj, entry.name
        if isinstance(entry, jax.tree_util.GetAttrKey):
            obj = getattr(obj, entry.name)
        elif isinstance(entry, jax.tree_util.SequenceKey):
            obj = obj[entry.idx]
        else:
            return False
    return owner is not None and field in _specialized_fields(type(owner))


@functools.cache
def _specialized_fields(cls: type) -> frozenset[str]:
    """The names of ``cls``'s fields declared ``hyper(..., specialize=True)``."""
    if not dataclasses.is_dataclass(cls):
        return frozenset()
    return frozenset(f.name for f in dataclasses.fields(cls) if f.metadata.get("specialize"))


# Programs kept: each is about 1.5 MB of compiled code (RESULTS.md, "The eager path"), one
# per schedule structure (not per value), so a sweep over hyperparameters shares one.
PROGRAMS = 256


@functools.lru_cache(maxsize=PROGRAMS)
def _compiled(key: tuple) -> Callable:
    treedef, kinds, baked = key

    def run(args: tuple, step: jax.Array) -> jax.Array:
        packed, arrays = args
        sources = {"f": iter(packed[i] for i in range(packed.shape[0])), "a": iter(arrays),
                   "k": iter(float.fromhex(v) if t is float else v for t, v in baked)}
        leaves = [next(sources[k]) for k in kinds]
        schedule = jax.tree_util.tree_unflatten(treedef, leaves)
        return schedule._trace(step)

    return jax.jit(run)


# --------------------------------------------------------------------- evaluate


def evaluate(schedule: Any, steps: int | ArrayLike) -> np.ndarray:
    """The schedule's values as a NumPy array, compiled once per schedule structure.

    Args:
      schedule: a Schedule or a jnp-traceable function of the step.
      steps: an int ``n`` (steps ``0 .. n-1``) or an array of steps.

    >>> import jaxsched as js
    >>> js.evaluate(js.linear(1.0, 0.0, 4), 5).tolist()
    [1.0, 0.75, 0.5, 0.25, 0.0]
    """
    s = as_schedule(schedule, "evaluate", "schedule", numbers="refuse")
    if isinstance(steps, int | np.integer) and not isinstance(steps, bool):
        if steps < 0:
            raise ValueError(f"evaluate: `steps` must be >= 0, got {steps}.")
        steps = np.arange(int(steps))
    return np.asarray(s(steps))
