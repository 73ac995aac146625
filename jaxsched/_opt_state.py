"""Finding things inside any optimizer state, and reading or advancing them.

Optimizer states nest: ``optax.chain`` tuples, ``inject_hyperparams`` (the
hyperparameters and their schedules' states beside the inner state),
``MultiSteps`` (whose inner state advances once per k micro-steps),
``multi_transform``/``partition`` (one inner state per group label), Flax
``TrainState`` (``.opt_state``) and ``nnx.Optimizer`` (leaves wrapped in nnx
Variables). This module walks all of them; ``_plateau`` knows what is inside a
plateau state.

One meaning of "the current value" of a hyperparameter, PyTorch's
``get_last_lr()``: the value the *next* update will use. ``inject_hyperparams``
keeps, for a schedule, only the step count and the value the *last* update
used, so those are evaluated from the schedule (``schedules=``) at the count;
a constant injected by ``inject_hyperparams`` and a ``js.plateau`` are read
from the state, where they already are the next update's values.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.typing import ArrayLike

from . import _checks as check
from . import _plateau
from ._plateau import PlateauState, ReduceOnPlateauState
from ._schedule import is_stateful
from ._steps import float_dtype

LR = "learning_rate"


# --------------------------------------------------------------------- nnx leaves
def nnx_module() -> Any:
    """``flax.nnx`` if the user imported it (jaxsched never imports Flax itself), else None."""
    return sys.modules.get("flax.nnx")


def is_var(x: Any) -> bool:
    """Whether ``x`` is an nnx Variable (an ``nnx.Optimizer`` wraps its state in them)."""
    nnx = nnx_module()
    return nnx is not None and isinstance(x, nnx.Variable)


def unwrap(tree: Any) -> Any:
    """``tree`` with nnx Variables replaced by their values."""
    if nnx_module() is None:
        return tree
    return jax.tree.map(lambda x: x.get_value() if is_var(x) else x, tree, is_leaf=is_var)


def optax_state(x: Any) -> Any:
    """The optax state inside a Flax ``TrainState`` or ``nnx.Optimizer``; else ``x``."""
    if hasattr(x, "opt_state") and hasattr(x, "tx"):
        return x.opt_state
    return x


def is_plateau(x: Any) -> bool:
    return isinstance(x, PlateauState)


def inject_types() -> tuple[type, ...]:
    names = ("InjectStatefulHyperparamsState", "InjectHyperparamsState")
    return tuple(getattr(optax, n) for n in names if hasattr(optax, n))


def has_count(x: Any) -> bool:
    """Whether ``x`` is an optax state (a ``NamedTuple``) with a step ``count`` field."""
    return isinstance(x, tuple) and "count" in getattr(type(x), "_fields", ())


# --------------------------------------------------------------------- the walk
class Found(NamedTuple):
    """A hyperparameter found in a state."""

    group: str  # "" or a multi_transform label path, "body" or "body/inner"
    name: str  # the hyperparameter, e.g. "learning_rate"
    kind: str  # "value": stored, the next update's; "schedule": needs it; "stateful"; "plateau"
    data: Any  # the stored value, the schedule's count, or the schedule's state


class Scan(NamedTuple):
    hyper: list[Found]
    scales: list[tuple[str, ReduceOnPlateauState]]  # reduce_on_plateau, by group
    counts: list[tuple[str, jax.Array]]  # step counts, by group, in tree order
    groups: list[str]


def _label(group: str, label: Any) -> str:
    return f"{group}/{label}" if group else str(label)


def scan(opt_state: Any) -> Scan:
    """Every hyperparameter, reduce-on-plateau scale, step count and group in ``opt_state``."""
    injects = inject_types()
    acc = Scan([], [], [], [])

    def is_node(x: Any) -> bool:
        return (isinstance(x, (*injects, optax.PartitionState)) or is_plateau(x)
                or has_count(x))

    def visit(tree: Any, group: str) -> None:
        for _, x in jax.tree_util.tree_flatten_with_path(tree, is_leaf=is_node)[0]:
            if isinstance(x, optax.PartitionState):
                for label, inner in x.inner_states.items():
                    acc.groups.append(_label(group, label))
                    visit(inner, _label(group, label))
            elif isinstance(x, ReduceOnPlateauState):
                acc.scales.append((group, x))
            elif is_plateau(x):  # a bare plateau state: p.init()
                acc.hyper.append(Found(group, LR, "plateau", x))
            elif isinstance(x, injects):
                acc.counts.append((group, x.count))
                states = getattr(x, "hyperparams_states", {})
                for name, value in x.hyperparams.items():
                    acc.hyper.append(_classify(group, name, value, states.get(name)))
                visit(x.inner_state, group)
            elif has_count(x):
                acc.counts.append((group, x.count))
                visit([getattr(x, f) for f in x._fields if f != "count"], group)

    visit(optax_state(opt_state), "")
    return acc


@functools.cache
def _wrapped_state() -> type:
    """The type of the state optax keeps for a plain schedule under inject_hyperparams
    (public only through an instance: ``optax.WrappedSchedule(...).init()``)."""
    return type(optax.WrappedSchedule(lambda count: count).init())


def _classify(group: str, name: str, value: Any, state: Any) -> Found:
    if state is None:  # a constant (or one set by hand): what the next update uses
        return Found(group, name, "value", value)
    if is_plateau(state):
        return Found(group, name, "plateau", state)
    if isinstance(state, _wrapped_state()):  # optax's, for a plain schedule
        return Found(group, name, "schedule", state.count)
    return Found(group, name, "stateful", state)


def found_plateaus(opt_state: Any, fn: str) -> list[tuple[str, PlateauState]]:
    """Every plateau state in ``opt_state`` with its path; raises if there is none."""
    pairs, _ = jax.tree_util.tree_flatten_with_path(opt_state, is_leaf=is_plateau)
    found = [(jax.tree_util.keystr(path), x) for path, x in pairs if is_plateau(x)]
    if not found:
        raise ValueError(
            f"{fn}: no plateau state in {type(opt_state).__name__}: build the optimizer with "
            "optax.inject_hyperparams(...)(learning_rate=js.plateau(...)) or chain "
            "js.reduce_on_plateau(...), and pass its state (or the TrainState / "
            "nnx.Optimizer holding it).")
    return found


# --------------------------------------------------------------------- schedules=
def _entry(fn: str, where: str, value: Any) -> Any:
    if callable(value) or check.concrete_number(value) is not None or check.is_tracer(value):
        return value
    raise TypeError(f"{fn}: `{where}` must be a schedule, a function of the step or a number, "
                    f"got {value!r}.")


def _resolve(fn: str, schedules: Any, groups: list[str]) -> dict[tuple[str, str], Any]:
    """``schedules`` as ``{(group, name): schedule}``; group "" is every group's default."""
    if schedules is None:
        return {}
    if not isinstance(schedules, Mapping):
        return {("", LR): _entry(fn, "schedules", schedules)}
    keys = [str(k) for k in schedules]
    labelled = [k for k in keys if k in groups]
    if labelled and len(labelled) < len(keys):
        names = [k for k in keys if k not in groups]
        raise ValueError(
            f"{fn}: `schedules` mixes group labels {labelled} and hyperparameter names "
            f"{names}; give one dict per group: {{label: schedule or {{name: schedule}}}}. "
            f"The groups of this optimizer: {groups}.")
    out = {}
    for k, v in zip(keys, schedules.values(), strict=True):
        if not labelled:
            out["", k] = _entry(fn, f"schedules[{k!r}]", v)
        elif isinstance(v, Mapping):
            for name, s in v.items():
                out[k, str(name)] = _entry(fn, f"schedules[{k!r}][{name!r}]", s)
        else:
            out[k, LR] = _entry(fn, f"schedules[{k!r}]", v)
    return out


def _given(given: dict, group: str, name: str) -> tuple[str, str] | None:
    """The key of the entry for ``name`` in ``group``: its own, an enclosing group's, or ""."""
    g = group
    while True:
        if (g, name) in given:
            return g, name
        if not g:
            return None
        g = g.rpartition("/")[0]


def _count(fn: str, acc: Scan, group: str, opt_state: Any) -> jax.Array:
    """The step count of ``group``: the first found in it or in its subgroups, else above."""
    g = group
    while True:
        for where, count in acc.counts:
            if not g or where == g or where.startswith(g + "/"):
                return jnp.asarray(unwrap(count))
        if not g:
            raise ValueError(
                f"{fn}: no step count in {type(opt_state).__name__} to evaluate the schedules "
                "at (optax.sgd with a constant LR keeps none): build the optimizer with the "
                "schedule (optax.sgd(schedule)) or with optax.inject_hyperparams.")
        g = g.rpartition("/")[0]


def _value(x: Any) -> jax.Array:
    return jnp.asarray(x).astype(float_dtype())


def _put(out: dict[str, jax.Array], name: str, value: jax.Array) -> None:
    key, k = name, 1
    while key in out:  # two of one name in one group: learning_rate, learning_rate_2
        k += 1
        key = f"{name}_{k}"
    out[key] = value


def _needs(fn: str, f: Found) -> str:
    if f.group:
        fix = f"schedules={{{f.group!r}: {{{f.name!r}: schedule}}}}"
    else:
        fix = "schedules=lr" if f.name == LR else f"schedules={{{f.name!r}: schedule}}"
    where = f"`{f.name}`" + (f" of group {f.group!r}" if f.group else "")
    return (f"{fn}: {where} follows a schedule under optax.inject_hyperparams, whose state "
            "keeps the step count and the value the last update used, not the one the next "
            f"update will use; pass the schedule: js.{fn}(opt_state, {fix}).")


def _is_lr(name: str) -> bool:
    return name.rpartition("/")[2].endswith(LR)  # learning_rate, adam_learning_rate


def collect(opt_state: Any, schedules: Any, fn: str, *, constants: bool,
            lr_only: bool = False) -> dict[str, jax.Array]:
    """The hyperparameters of the next update, by readable name (``js.hyperparams``).

    With ``lr_only``, schedules of other hyperparameters may be missing.
    """
    acc = scan(opt_state)
    given = _resolve(fn, schedules, acc.groups)
    used: set[tuple[str, str]] = set()
    out: dict[str, jax.Array] = {}
    plateaus: list[tuple[str, str, Any]] = []
    for f in acc.hyper:
        key = _given(given, f.group, f.name)
        if key is not None:
            used.add(key)
        name = _label(f.group, f.name)
        if f.kind == "value":
            if constants or key is not None:
                _put(out, name, _value(unwrap(f.data)))
        elif f.kind == "plateau":
            info = _plateau.info(unwrap(f.data))
            _put(out, name, info.lr)
            plateaus.append((f.group, "plateau" if f.name == LR else f"{f.name}_plateau", info))
        elif key is None:
            if lr_only and not _is_lr(f.name):
                continue
            raise ValueError(_needs(fn, f))
        else:  # the state holds a count ("schedule") or a state ("stateful"): sched reads it
            sched, stateful = given[key], f.kind == "stateful"
            if is_stateful(sched) != stateful:
                kinds = ("a plain", "a stateful")
                raise TypeError(f"{fn}: `{f.name}` follows {kinds[stateful]} schedule in the "
                                f"state, but `schedules` gives {kinds[not stateful]} one, "
                                f"{sched!r}; give the schedule the optimizer was built with.")
            _put(out, name, _value(sched(unwrap(f.data)) if callable(sched) else sched))
    for (group, name), sched in given.items():
        if (group, name) in used:
            continue
        if is_stateful(sched):
            raise TypeError(
                f"{fn}: `schedules` gives {name!r} a stateful schedule ({sched!r}) that is not "
                "in the state; its state lives in the optimizer: build it with "
                f"optax.inject_hyperparams(...)({name}=...).")
        value = sched(_count(fn, acc, group, opt_state)) if callable(sched) else sched
        _put(out, _label(group, name), _value(value))
    for group, s in acc.scales:
        info = _plateau.info(unwrap(s))
        for k in out:
            inside = not group or k.startswith(group + "/")
            if inside and _is_lr(k):
                out[k] = out[k] * info.scale.astype(out[k].dtype)
        plateaus.append((group, "plateau", info))
    for group, prefix, info in plateaus:
        _put(out, _label(group, f"{prefix}/scale"), info.scale)
        _put(out, _label(group, f"{prefix}/num_reductions"), info.num_reductions)
    return out


# --------------------------------------------------------------------- public
def hyperparams(opt_state: Any, schedules: Any = None, *,
                constants: bool = False) -> dict[str, jax.Array]:
    """Every scheduled hyperparameter of the next update, by readable name, for logging.

    Looks through any nesting (``optax.chain``, ``inject_hyperparams``,
    ``MultiSteps``, ``multi_transform``/``partition``, Flax ``TrainState``,
    ``nnx.Optimizer``). Each value is the one the *next* update will use (as
    PyTorch's ``get_last_lr()``):

    * a ``js.plateau`` is read from its state (``base(count) * scale``), with
      ``plateau/scale`` and ``plateau/num_reductions`` beside it;
    * a schedule under ``inject_hyperparams`` is evaluated at the state's
      step count: its state keeps only the count and the value the *last*
      update used, so it must be given in ``schedules`` (a clear error says
      which one is missing);
    * a schedule of an optimizer built without ``inject_hyperparams``
      (``optax.adamw(schedule)``) is evaluated at the step count read from the
      state (``ScaleByScheduleState.count``, ``ScaleByAdamState.count``, ...);
    * a ``js.reduce_on_plateau`` scale multiplies the learning rates of its
      group (of all groups when outside ``multi_transform``) and is reported as
      ``plateau/scale`` and ``plateau/num_reductions``.

    Names are ``learning_rate``, ``weight_decay``, ``b1``, ... (the optimizer's
    argument names), prefixed by the ``multi_transform`` label of their group:
    ``body/learning_rate``. Muon (``optax.contrib.muon``) is a partition into
    the groups ``muon`` and ``adam``, so its two learning rates read
    ``muon/learning_rate`` and ``adam/learning_rate`` (or ``learning_rate``
    and ``adam_learning_rate`` under ``inject_hyperparams``).

    Pure and jittable; nothing leaves the device until you ask:
    ``jax.device_get`` turns the dict into plain floats for a metric writer.

    Args:
      opt_state: the optimizer state, a ``TrainState`` or an ``nnx.Optimizer``.
      schedules: the schedules the state cannot tell: ``None``; one schedule
        (or number), the learning rate; a dict ``{name: schedule}``, e.g.
        ``{"learning_rate": lr, "weight_decay": wd}``, for every group; or,
        with ``multi_transform``, a dict keyed by group label whose values are
        a schedule (that group's learning rate) or a ``{name: schedule}``
        dict. An entry that the state schedules is evaluated at that group's
        step count; one the state does not hold (no ``inject_hyperparams``) is
        evaluated at the step count of its group. A ``js.plateau`` given here
        is read from the state.
      constants: also report the constants injected by ``inject_hyperparams``
        (``b2``, ``eps``, ...), which the next update uses as stored.

    Returns:
      A flat ``dict`` from name to scalar array (in the order found; ``jit``
      and ``jax.device_get`` sort the keys).

    Raises:
      ValueError: if a schedule the state needs is missing from ``schedules``
        (the message names it), ``schedules`` mixes group labels and
        hyperparameter names, a schedule must be evaluated and the state holds
        no step count, or nothing is found.
      TypeError: if an entry of ``schedules`` is not a schedule, function or
        number, or a stateful schedule (``js.plateau``) is given for an
        optimizer that does not hold its state.

    >>> import jax, jax.numpy as jnp, optax, jaxsched as js
    >>> body_lr, head_lr = js.linear(1.0, 0.0, 10), js.cosine(0.5, 0.0, 10)
    >>> tx = optax.multi_transform(
    ...     {"body": optax.inject_hyperparams(optax.sgd)(learning_rate=body_lr, momentum=0.9),
    ...      "head": optax.adamw(head_lr, weight_decay=0.1)},
    ...     {"w": "body", "b": "head"})
    >>> params = {"w": jnp.zeros(2), "b": jnp.zeros(2)}
    >>> state = tx.init(params)
    >>> _, state = tx.update(params, state, params)
    >>> logged = jax.device_get(js.hyperparams(
    ...     state, {"body": body_lr, "head": {"learning_rate": head_lr, "weight_decay": 0.1}}))
    >>> for name, value in logged.items():
    ...     print(f"{name} {value:.4f}")
    body/learning_rate 0.9000
    head/learning_rate 0.4878
    head/weight_decay 0.1000
    """
    out = collect(opt_state, schedules, "hyperparams", constants=constants)
    if not out:
        raise ValueError(
            f"hyperparams: nothing scheduled in {type(opt_state).__name__}: build the "
            "optimizer with optax.inject_hyperparams, or pass the schedules it was built with "
            "(schedules=lr or {'learning_rate': lr, ...}).")
    return out


def current_lr(opt_state: Any, schedules: Any = None) -> Any:
    """The learning rate the next update will use, for logging.

    PyTorch's ``get_last_lr()``: after ``n`` updates, the LR of update ``n``
    (counting from 0). ``js.hyperparams`` tells how each kind of state is read:
    a ``js.plateau`` and a constant under ``inject_hyperparams`` from the state;
    any other schedule from ``schedules`` at the state's step count (the state
    of ``inject_hyperparams`` keeps only the LR of the *last* update, so
    without the schedule this raises rather than return it); scales of
    ``js.reduce_on_plateau`` multiply it. Jittable.

    Args:
      opt_state: the optimizer state, a ``TrainState`` or an ``nnx.Optimizer``.
      schedules: as in ``js.hyperparams``; usually the LR schedule itself.

    Returns:
      A float scalar array; a dict from name (``body/learning_rate``) to LR
      when the state holds several (``multi_transform``, Muon).

    Raises:
      ValueError: if no learning rate is found, or a scheduled one needs its
        schedule in ``schedules``.

    >>> import jax.numpy as jnp, optax, jaxsched as js
    >>> lr = js.linear(1.0, 0.0, 10)
    >>> tx = optax.inject_hyperparams(optax.sgd)(learning_rate=lr)
    >>> state = tx.init(jnp.zeros(()))
    >>> _, state = tx.update(jnp.ones(()), state)
    >>> print(f"{js.current_lr(state, lr):.2f}")  # lr(1)
    0.90
    >>> tx = optax.inject_hyperparams(optax.sgd)(learning_rate=js.plateau(lr, patience=0))
    >>> state = tx.init(jnp.zeros(()))
    >>> _, state = tx.update(jnp.ones(()), state)
    >>> state = js.report(js.report(state, 1.0), 1.0)
    >>> print(f"{js.current_lr(state):.2f}")  # lr(1) * 0.1
    0.09
    """
    out = collect(opt_state, schedules, "current_lr", constants=True, lr_only=True)
    lrs = {k: v for k, v in out.items() if _is_lr(k)}
    if not lrs:
        hint = (" It holds js.reduce_on_plateau scale(s): pass the optimizer's LR, "
                "js.current_lr(opt_state, schedules=1e-3), to get it times the scale."
                if any(k.endswith("plateau/scale") for k in out) else "")
        raise ValueError(
            f"current_lr: no learning rate in {type(opt_state).__name__}: build the optimizer "
            "with optax.inject_hyperparams(...)(learning_rate=...), or pass the schedule it "
            f"was built with: js.current_lr(opt_state, schedules=lr).{hint}")
    return next(iter(lrs.values())) if len(lrs) == 1 else lrs


def report(opt_state: Any, metric: ArrayLike, *, axis_name: Any = None) -> Any:
    """Feeds one metric (e.g. the validation loss) to every plateau in ``opt_state``.

    Pure and jittable: ``opt_state`` may be any optimizer state holding plateau
    states (nested ``optax.chain``, ``inject_hyperparams``, ``MultiSteps``,
    ``multi_transform``) or a Flax ``TrainState``; a new object of the same
    kind is returned. An ``nnx.Optimizer`` (or a tree of nnx Variables) is
    updated in place, the nnx way, and returned.

    Args:
      opt_state: the optimizer state, a ``TrainState`` or an ``nnx.Optimizer``.
      metric: a scalar; compared in float32 (float64 under x64).
      axis_name: inside ``pmap``/``shard_map``, the mapped axis to average the
        metric over first (``lax.pmean``), so every device decides alike.

    Returns:
      ``opt_state`` with every plateau state advanced by one evaluation (one
      decision per call, whatever the plateau's ``every``).

    Raises:
      ValueError: if ``opt_state`` holds no plateau state.

    >>> import jax, jax.numpy as jnp, optax, jaxsched as js
    >>> tx = optax.chain(optax.clip(1.0), optax.inject_hyperparams(optax.adam)(
    ...     learning_rate=js.plateau(1e-3, factor=0.5, patience=0)))
    >>> state = tx.init(jnp.zeros(2))
    >>> state = jax.jit(js.report)(state, 1.0)
    >>> state = jax.jit(js.report)(state, 1.0)
    >>> print(f"{js.current_lr(state):.4f}", int(js.plateau_state(state).num_reductions))
    0.0005 1
    """
    found = found_plateaus(opt_state, "report")
    m = _plateau.metric(metric, "report", axis_name)
    in_place = [any(is_var(v) for v in jax.tree.leaves(s, is_leaf=is_var)) for _, s in found]
    if any(in_place):
        if not all(in_place):
            raise TypeError("report: some plateau states hold nnx Variables and some do not; "
                            "pass the nnx.Optimizer or the plain optax state, not a mix.")
        for _, s in found:
            new = _plateau.advance(unwrap(s), m)
            for var, value in zip(jax.tree.leaves(s, is_leaf=is_var), jax.tree.leaves(new),
                                  strict=True):
                var.set_value(value)
        return opt_state
    return jax.tree.map(lambda x: _plateau.advance(x, m) if is_plateau(x) else x, opt_state,
                        is_leaf=is_plateau)


def plateau_state(opt_state: Any) -> Any:
    """The plateau's LR, scale, best metric and counters, for logging.

    Args:
      opt_state: the optimizer state, a ``TrainState`` or an ``nnx.Optimizer``.

    Returns:
      A ``PlateauInfo`` (``lr``, ``scale``, ``best``, ``num_bad``,
      ``cooldown_left``, ``num_reductions``, ``num_evals``,
      ``evals_since_best``); ``lr`` is the LR the next update uses (the scale,
      for ``reduce_on_plateau``); ``best`` is +inf ('min') or -inf ('max')
      until the first finite metric. A dict from state path to ``PlateauInfo``
      when ``opt_state`` holds several plateaus.

    Raises:
      ValueError: if ``opt_state`` holds no plateau state.

    >>> import jaxsched as js
    >>> p = js.plateau(0.1, patience=5)
    >>> info = js.plateau_state(js.report(js.report(p.init(), 2.0), 3.0))
    >>> print(f"{info.best:.1f}", int(info.num_bad), int(info.evals_since_best))
    2.0 1 1
    """
    infos = {where: _plateau.info(unwrap(s))
             for where, s in found_plateaus(opt_state, "plateau_state")}
    return next(iter(infos.values())) if len(infos) == 1 else infos


def should_stop(opt_state: Any, patience: int | None = None) -> jax.Array:
    """Early stopping: true once more than ``patience`` evaluations brought no improvement.

    Counts evaluations since the best one (improvement as the plateau defines
    it, with its threshold), so with ``patience=5`` it is true at the 6th
    evaluation in a row without improvement, the same reading of "patience" as
    the plateau's own. With several plateaus, true if any says stop. Jittable.

    Args:
      opt_state: the optimizer state, a ``TrainState`` or an ``nnx.Optimizer``.
      patience: evaluations without improvement tolerated; without it, the
        ``stop_patience`` given to ``js.plateau``.

    Returns:
      A boolean scalar array.

    Raises:
      ValueError: if ``opt_state`` holds no plateau state, or no ``patience``
        is given and the plateau was built without ``stop_patience``.

    >>> import jaxsched as js
    >>> state = js.plateau(0.1, patience=1, stop_patience=2).init()
    >>> stops = []
    >>> for loss in [1.0, 1.5, 1.2, 1.1]:
    ...     state = js.report(state, loss)
    ...     stops.append(bool(js.should_stop(state)))
    >>> stops
    [False, False, False, True]
    """
    found = [unwrap(s) for _, s in found_plateaus(opt_state, "should_stop")]
    if patience is not None:
        limit = check.integer("should_stop", "patience", patience, min=0)
        return jnp.any(jnp.stack([s.evals_since_best > limit for s in found]))
    limits = [s.stop_patience for s in found]
    if not any(check.is_tracer(x) for x in limits) and all(int(x) < 0 for x in limits):
        raise ValueError("should_stop: give `patience`, or build the plateau with "
                         "stop_patience=...: js.plateau(..., stop_patience=20).")
    return jnp.any(jnp.stack([(s.stop_patience >= 0) & (s.evals_since_best > s.stop_patience)
                              for s in found]))
