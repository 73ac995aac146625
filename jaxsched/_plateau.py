"""Reduce-on-plateau carried in the optimizer state.

``plateau`` is a stateful schedule for ``optax.inject_hyperparams``: the
learning rate is ``base(count) * scale`` and ``scale`` drops by ``factor`` when
a monitored metric stops improving. ``reduce_on_plateau`` is the same logic as
a gradient transformation that scales the updates. Both keep their state in
the optimizer state (a ``NamedTuple`` of two small arrays), so it is jitted,
checkpointed and sharded with the rest of ``opt_state``.

The metric arrives as ``value=`` on ``tx.update`` or through ``report``, which
finds every plateau state inside any optimizer state (chains, ``MultiSteps``,
``multi_transform``, Flax ``TrainState``, ``nnx.Optimizer``) and advances it.
The decision rules travel inside the state as arrays, so ``report`` needs
nothing but the state, and a restored checkpoint continues with the rules it
was saved with (as PyTorch's ``state_dict`` does).
"""

from __future__ import annotations

import dataclasses
import sys
import warnings
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax
from jax.typing import ArrayLike

from . import _checks as check
from ._schedule import Schedule, as_schedule, hyper, schedule_class, static
from ._steps import float_dtype

_INT_MAX = int(np.iinfo(np.int32).max)
_MODES = ("min", "max")
_THRESHOLD_MODES = ("rel", "abs")
_REL_MARGINS = ("abs_best", "pytorch")


# The state is two arrays, not one array per quantity: every leaf of an optimizer state
# costs each jitted train step a buffer in and out (about 1.5 us per leaf per call on a
# CPU host), and a plateau would otherwise add two dozen. Entries, by index:
INT_FIELDS = (
    "count",  # updates so far; `base` is evaluated at this step for the next update
    "num_bad",  # evaluations without improvement (PyTorch's num_bad_epochs)
    "cooldown_left",  # evaluations still ignored after a reduction
    "num_reductions",  # reductions applied
    "num_evals",  # decisions made
    "evals_since_best",  # == num_evals until the first finite metric
    "metric_count",  # `value=` metrics fed since the last decision (`every` > 1)
    "metric_nonfinite",  # 1 if one of them was NaN/inf
    # the rules, fixed at construction, kept in the state so that `report` needs only
    # the state and a restored checkpoint goes on with the rules it was saved with
    "patience",
    "cooldown",
    "stop_patience",  # -1 when none was given
    "maximize",  # 1 for mode='max'
    "abs_threshold",  # 1 for threshold_mode='abs'
    "signed_margin",  # 1 for rel_margin='pytorch'
)
FLOAT_FIELDS = (
    "base_lr",  # base(count): the unscaled LR of the next update
    "scale",  # product of the applied reductions, 1.0 at start
    "best",  # best metric so far; 0.0 until the first finite one
    "metric_sum",  # sum of the finite ones
    # the rules
    "factor",
    "threshold",
    "min_lr",  # the LR floor (min_scale for reduce_on_plateau)
    "eps",
)
_I = {name: i for i, name in enumerate(INT_FIELDS)}
_F = {name: i for i, name in enumerate(FLOAT_FIELDS)}


class PlateauState(NamedTuple):
    """The state of ``js.plateau``: two small arrays, checkpointable with ``opt_state``.

    Every quantity reads as an attribute (``state.best``, ``state.num_bad``,
    ``state.scale``, ...); ``INT_FIELDS`` and ``FLOAT_FIELDS`` give the layout.
    Floats are float32 (float64 under x64) whatever the parameter dtype; the
    state stays finite, whatever the metrics.
    """

    ints: jax.Array  # shape=(14,), dtype=int32: INT_FIELDS
    floats: jax.Array  # shape=(8,), dtype=float32 (float64 under x64): FLOAT_FIELDS


def _getter(array: str, i: int, name: str) -> property:
    return property(lambda self: getattr(self, array)[..., i],
                    doc=f"{name}: ``{array}[..., {i}]``")


for _n, _i in _I.items():
    setattr(PlateauState, _n, _getter("ints", _i, _n))
for _n, _i in _F.items():
    setattr(PlateauState, _n, _getter("floats", _i, _n))


class ReduceOnPlateauState(PlateauState):
    """The state of ``js.reduce_on_plateau``: a ``PlateauState`` whose base LR is 1."""

    __slots__ = ()


def _unpack(s: PlateauState) -> dict[str, jax.Array]:
    out = {n: s.ints[..., i] for n, i in _I.items()}
    out.update({n: s.floats[..., i] for n, i in _F.items()})
    return out


def _pack(like: PlateauState, v: dict[str, Any]) -> PlateauState:
    ints = jnp.stack([jnp.asarray(v[n]).astype(jnp.int32) for n in INT_FIELDS], -1)
    floats = jnp.stack([jnp.asarray(v[n]).astype(like.floats.dtype) for n in FLOAT_FIELDS], -1)
    return type(like)(ints, floats)


class PlateauInfo(NamedTuple):
    """A plateau state for logging (``js.plateau_state``)."""

    lr: jax.Array  # the LR (or scale, for reduce_on_plateau) the next update uses
    scale: jax.Array
    best: jax.Array  # +inf ('min') or -inf ('max') until the first finite metric
    num_bad: jax.Array
    cooldown_left: jax.Array
    num_reductions: jax.Array
    num_evals: jax.Array
    evals_since_best: jax.Array


# --------------------------------------------------------------------- rules
def check_rules(fn: str, *, mode: Any, factor: Any, patience: Any, threshold: Any,
                threshold_mode: Any, cooldown: Any, floor: tuple[str, Any], eps: Any,
                every: Any, axis_name: Any, stop_patience: Any, rel_margin: Any) -> dict:
    """The plateau rules validated in ``fn``'s words (shared by ``plateau``,
    ``reduce_on_plateau`` and ``pt.ReduceLROnPlateau``); ``floor`` is ``(its name, value)``."""
    out = {
        "mode": check.choice(fn, "mode", mode, _MODES),
        "factor": check.number(fn, "factor", factor, min=0.0, min_open=True, max=1.0,
                               max_open=True),
        "patience": check.integer(fn, "patience", patience, min=0),
        "threshold": check.number(fn, "threshold", threshold, min=0.0),
        "threshold_mode": check.choice(fn, "threshold_mode", threshold_mode, _THRESHOLD_MODES),
        "cooldown": check.integer(fn, "cooldown", cooldown, min=0),
        floor[0]: check.lr(fn, floor[0], floor[1]),
        "eps": check.number(fn, "eps", eps, min=0.0),
        "every": check.integer(fn, "every", every, min=1),
        "stop_patience": (None if stop_patience is None
                          else check.integer(fn, "stop_patience", stop_patience, min=0)),
        "rel_margin": check.choice(fn, "rel_margin", rel_margin, _REL_MARGINS),
    }
    if isinstance(axis_name, list):
        axis_name = tuple(axis_name)
    names = axis_name if isinstance(axis_name, tuple) else (axis_name,)
    if axis_name is not None and not all(isinstance(a, str) and a for a in names):
        raise TypeError(f"{fn}: `axis_name` must be None, a mapped axis name (str) or a tuple "
                        f"of them, got {axis_name!r}.")
    out["axis_name"] = axis_name
    sp, p = out["stop_patience"], out["patience"]
    if sp is not None and sp < 2 * p:
        warnings.warn(f"{fn}: stop_patience={sp} is less than 2 * patience={2 * p}: training "
                      "may stop before a reduction of the learning rate has had time to help.",
                      UserWarning, stacklevel=4)
    return out


def _rules(p: plateau) -> dict[str, Any]:
    # The counters saturate at int32's max, so a larger patience (a natural way to say
    # "never") is stored as that max, exactly: num_bad can never exceed it.
    def count(n: int) -> int:
        return min(n, _INT_MAX)

    return {
        "patience": count(p.patience), "cooldown": count(p.cooldown),
        "stop_patience": -1 if p.stop_patience is None else count(p.stop_patience),
        "maximize": p.mode == "max", "abs_threshold": p.threshold_mode == "abs",
        "signed_margin": p.rel_margin == "pytorch",
        "factor": p.factor, "threshold": p.threshold, "min_lr": p.min_lr, "eps": p.eps,
    }


# --------------------------------------------------------------------- the schedule
@schedule_class
class plateau:
    """A learning rate that drops by ``factor`` when a metric stops improving.

    A stateful schedule for ``optax.inject_hyperparams``. The learning rate of
    update ``t`` is ``max(base(t) * scale, min(min_lr, base(t)))``: ``base`` is
    any schedule (warmup, cosine, ...) or a float, and ``scale`` starts at 1. An
    evaluation with metric ``m`` (``mode='min'``) is an improvement when
    ``m < best - threshold * |best|`` (``threshold_mode='rel'``) or
    ``m < best - threshold`` (``'abs'``); ``'max'`` mirrors it. Each evaluation
    without improvement adds one to ``num_bad``; when ``num_bad > patience`` the
    scale becomes ``scale * factor`` (applied only if the LR changes by more than
    ``eps``; the plateau never takes the LR below ``min_lr``), ``num_bad`` resets
    and the next ``cooldown`` evaluations are ignored (``best`` still updates).

    These are PyTorch's ``ReduceLROnPlateau`` decisions with two documented
    differences. The relative margin is ``threshold * |best|``, so negative
    metrics (NLL, ELBO, rewards) improve and reduce correctly: PyTorch's bar
    ``best * (1 - threshold)`` lies *above* ``best`` once ``best < 0``, so a
    flat or slightly worse value counts as an improvement and the LR is never
    cut (``rel_margin='pytorch'`` reproduces PyTorch exactly). And NaN or inf
    metrics are bad evaluations that never become ``best`` (PyTorch makes
    ``-inf`` the best in 'min' mode). Comparisons are made in float32 (float64
    under x64) whatever the dtype of the metric or the parameters, and the LR
    is float32 too.

    Feed the metric either as ``tx.update(grads, state, params, value=metric)``
    on each update (averaged over ``every`` values per decision), or once per
    validation with ``opt_state = js.report(opt_state, metric)`` (one decision
    per call). A decision made on one update's ``value`` applies from the next
    update on. Read the LR with ``js.current_lr(opt_state)`` and the counters
    with ``js.plateau_state(opt_state)``.

    The state (``PlateauState``) holds the counters and the decision rules as
    two small arrays, so ``report`` works from the state alone, and a
    checkpoint of ``opt_state`` restores the plateau exactly, rules included
    (as PyTorch's ``state_dict`` does); ``base``, ``every`` and ``axis_name``
    are read from this object.

    Args:
      base: the learning rate before reductions: a schedule or a float.
      mode: ``'min'`` (loss) or ``'max'`` (accuracy).
      factor: multiplier of each reduction, in (0, 1).
      patience: evaluations without improvement tolerated; the next one reduces.
      threshold: the improvement margin (relative or absolute), >= 0.
      threshold_mode: ``'rel'`` or ``'abs'``.
      cooldown: evaluations ignored after a reduction.
      min_lr: the plateau never reduces the LR below this (>= 0).
      eps: reductions that change the LR by ``eps`` or less are skipped.
      every: metrics passed as ``value=`` averaged per decision (like optax's
        ``accumulation_size``); each ``report`` is one decision of its own.
      axis_name: a mapped axis (``pmap``/``shard_map``): ``value=`` metrics
        are averaged over it (``lax.pmean``), so every device keeps the same
        state and LR. With ``js.report`` pass ``axis_name=`` to ``report``.
      stop_patience: evaluations without improvement after which
        ``js.should_stop(opt_state)`` is true; warns if less than
        ``2 * patience``.
      rel_margin: ``'abs_best'`` (margin ``threshold * |best|``) or
        ``'pytorch'`` (``best * (1 -/+ threshold)``, as PyTorch and optax).

    Raises:
      ValueError, TypeError: for arguments outside the ranges above.

    >>> import jax.numpy as jnp, optax, jaxsched as js
    >>> lr = js.plateau(0.1, factor=0.5, patience=1)
    >>> tx = optax.inject_hyperparams(optax.sgd)(learning_rate=lr)
    >>> state = tx.init(jnp.zeros(3))
    >>> for loss in [1.0, 0.5, 0.6, 0.7, 0.8]:
    ...     state = js.report(state, loss)
    ...     print(f"{js.current_lr(state):.4f}")
    0.1000
    0.1000
    0.1000
    0.0500
    0.0500
    """

    base: Any = hyper()
    mode: str = static(default="min", kw_only=True)
    factor: Any = hyper(default=0.1, kw_only=True)
    patience: int = static(default=10, kw_only=True)
    threshold: Any = hyper(default=1e-4, kw_only=True)
    threshold_mode: str = static(default="rel", kw_only=True)
    cooldown: int = static(default=0, kw_only=True)
    min_lr: Any = hyper(default=0.0, kw_only=True)
    eps: Any = hyper(default=1e-8, kw_only=True)
    every: int = static(default=1, kw_only=True)
    axis_name: Any = static(default=None, kw_only=True)
    stop_patience: int | None = static(default=None, kw_only=True)
    rel_margin: str = static(default="abs_best", kw_only=True)

    def __post_init__(self) -> None:
        fn = "plateau"
        base = self.base
        if isinstance(base, plateau):
            raise TypeError("plateau: `base` is already a plateau; nest schedules, not plateaus.")
        base = as_schedule(base, fn, "base", numbers="keep")
        object.__setattr__(self, "base", base if isinstance(base, Schedule)
                           else check.lr(fn, "base", base))
        checked = check_rules(
            fn, mode=self.mode, factor=self.factor, patience=self.patience,
            threshold=self.threshold, threshold_mode=self.threshold_mode,
            cooldown=self.cooldown, floor=("min_lr", self.min_lr), eps=self.eps,
            every=self.every, axis_name=self.axis_name, stop_patience=self.stop_patience,
            rel_margin=self.rel_margin)
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    # optax's StatefulSchedule protocol: init(), update(state, **extra), __call__(state, **extra)
    def init(self) -> PlateauState:
        """The state before the first update: scale 1, no best, counters at 0."""
        values = dict.fromkeys(INT_FIELDS + FLOAT_FIELDS, 0)
        values.update(_rules(self), scale=1.0, base_lr=self._base(jnp.zeros((), jnp.int32)))
        like = PlateauState(jnp.zeros(0, jnp.int32), jnp.zeros(0, float_dtype()))
        return _pack(like, values)

    def update(self, state: PlateauState, *, value: ArrayLike | None = None,
               **extra_args: Any) -> PlateauState:
        """Advances ``state`` by one optimizer update, feeding ``value`` if given."""
        del extra_args
        return self._step(state, None if value is None
                          else _metric(value, "plateau", self.axis_name))

    def _step(self, state: PlateauState, metric: jax.Array | None) -> PlateauState:
        """One update, feeding a metric already averaged and cast by ``_metric``."""
        _check_state(state, "plateau")
        v = _unpack(state)
        v["count"] = _inc(v["count"])
        v["base_lr"] = self._base(v["count"])
        if metric is not None:
            v = _feed(v, metric, self.every)
        return _pack(state, v)

    def __call__(self, state: PlateauState, **extra_args: Any) -> jax.Array:
        """The learning rate of the next update: ``max(base * scale, min(min_lr, base))``."""
        del extra_args
        _check_state(state, "plateau")
        return _lr(_unpack(state))

    def _base(self, count: jax.Array) -> jax.Array:
        if isinstance(self.base, Schedule):
            return self.base(count).astype(float_dtype())
        return jnp.asarray(self.base, float_dtype())

    def _preview(self) -> tuple[Schedule, str]:
        """What can be shown before training: the base schedule, and why only it."""
        base = self.base if isinstance(self.base, Schedule) else as_schedule(
            self.base, "plateau", "base")
        return base, ("a plateau's reductions depend on the metric: shown is its base "
                      "schedule, the LR before any reduction")

    __repr__ = Schedule.__repr__
    to_config = Schedule.to_config


def from_rules(base: Any, rules: dict[str, Any]) -> plateau:
    """A plateau from rules that ``check_rules`` validated already, in the words of another
    constructor (``reduce_on_plateau``, ``pt.ReduceLROnPlateau``): each argument is
    validated once, and its message names the function the user called."""
    fields = {f.name: f.default for f in dataclasses.fields(plateau)}
    fields.update(rules, base=base)
    obj = object.__new__(plateau)
    for name, value in fields.items():
        object.__setattr__(obj, name, value)
    return obj


def _check_state(state: Any, fn: str) -> None:
    if not isinstance(state, PlateauState):
        raise TypeError(
            f"{fn}: expected a PlateauState, got {type(state).__name__}. A plateau is a "
            "stateful schedule: pass it to optax.inject_hyperparams (its LR at update t is "
            "base(t) * scale); read the LR with js.current_lr(opt_state).")


# --------------------------------------------------------------------- the transformation
def reduce_on_plateau(*, mode: str = "min", factor: float = 0.1, patience: int = 10,
                      threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                      min_scale: float = 0.0, eps: float = 1e-8, every: int = 1,
                      axis_name: Any = None, stop_patience: int | None = None,
                      rel_margin: str = "abs_best") -> optax.GradientTransformationExtraArgs:
    """Scales the updates by a factor that drops when a metric stops improving.

    The rules of ``js.plateau`` (see there) applied to a scale that starts at 1
    and never goes below ``min_scale``, for chains that do not use
    ``optax.inject_hyperparams``: ``optax.chain(optax.adamw(1e-3),
    js.reduce_on_plateau(patience=5))``. The updates of step ``t`` are
    multiplied by the scale decided before it; a decision made on the
    ``value=`` of update ``t`` applies from update ``t + 1`` on, exactly as with
    ``js.plateau`` inside ``inject_hyperparams``. ``value=`` is optional (feed
    the metric with ``js.report`` instead).

    Returns:
      An ``optax.GradientTransformationExtraArgs`` whose state is a
      ``ReduceOnPlateauState``.

    >>> import jax.numpy as jnp, optax, jaxsched as js
    >>> tx = optax.chain(optax.sgd(1.0), js.reduce_on_plateau(factor=0.5, patience=0))
    >>> state = tx.init(jnp.zeros(()))
    >>> for loss in [1.0, 2.0, 3.0]:
    ...     u, state = tx.update(jnp.ones(()), state, value=loss)
    ...     print(f"{u:.2f}")
    -1.00
    -1.00
    -0.50
    """
    fn = "reduce_on_plateau"
    checked = check_rules(
        fn, mode=mode, factor=factor, patience=patience, threshold=threshold,
        threshold_mode=threshold_mode, cooldown=cooldown, floor=("min_scale", min_scale),
        eps=eps, every=every, axis_name=axis_name, stop_patience=stop_patience,
        rel_margin=rel_margin)
    rule = from_rules(1.0, {**checked, "min_lr": checked.pop("min_scale")})

    def init_fn(params: Any) -> ReduceOnPlateauState:
        del params
        return ReduceOnPlateauState(*rule.init())

    def update_fn(updates: Any, state: ReduceOnPlateauState, params: Any = None, *,
                  value: ArrayLike | None = None, **extra_args: Any) -> tuple[Any, Any]:
        del params, extra_args
        scale = _lr(_unpack(state))
        metric = None if value is None else _metric(value, fn, rule.axis_name)
        new_state = rule._step(state, metric)
        updates = jax.tree.map(lambda g: g * scale.astype(jnp.result_type(g)), updates)
        return updates, new_state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


# --------------------------------------------------------------------- the decision
def _inc(x: jax.Array) -> jax.Array:
    return x + (x < _INT_MAX).astype(x.dtype)


def _lr(v: dict[str, jax.Array]) -> jax.Array:
    return _lr_at(v["base_lr"], v["scale"], v["min_lr"])


def _lr_at(base: jax.Array, scale: jax.Array, floor: jax.Array) -> jax.Array:
    return jnp.maximum(base * scale, jnp.minimum(floor, base))


def _metric(value: Any, fn: str, axis_name: Any) -> jax.Array:
    v = jnp.asarray(value)
    if v.shape != ():
        raise ValueError(f"{fn}: the metric must be a scalar, got an array of shape "
                         f"{tuple(v.shape)}; reduce it (e.g. its mean) first.")
    if not (jnp.issubdtype(v.dtype, jnp.floating) or jnp.issubdtype(v.dtype, jnp.integer)):
        raise TypeError(f"{fn}: the metric must be a real number, got dtype {v.dtype}.")
    v = v.astype(float_dtype())  # compare in float32/64, never in the params' bf16
    if axis_name is not None:
        try:
            v = lax.pmean(v, axis_name)
        except NameError:
            raise ValueError(
                f"{fn}: axis_name={axis_name!r} is not bound here: feed the metric inside "
                "the pmap/shard_map that defines it, or drop axis_name when the metric is "
                "already global.") from None
    return v


def _feed(v: dict[str, jax.Array], m: jax.Array, every: int) -> dict[str, jax.Array]:
    """Adds metric ``m`` to the accumulator; decides once ``every`` metrics have arrived."""
    m = m.astype(v["metric_sum"].dtype)
    if every == 1:  # the common case, without the accumulator
        return {**v, **_decide(v, m)}
    finite = jnp.isfinite(m)
    total = v["metric_sum"] + jnp.where(finite, m, 0)
    n = v["metric_count"] + 1
    bad = (v["metric_nonfinite"] != 0) | ~finite
    done = n >= every
    mean = jnp.where(bad, jnp.nan, total / n.astype(total.dtype))
    decided = _decide(v, mean)
    out = {k: jnp.where(done, decided[k], v[k]) for k in decided}
    out["metric_sum"] = jnp.where(done, 0, total).astype(total.dtype)
    out["metric_count"] = jnp.where(done, 0, n)
    out["metric_nonfinite"] = jnp.where(done, False, bad)
    return {**v, **out}


def _decide(v: dict[str, jax.Array], m: jax.Array) -> dict[str, jax.Array]:
    """One evaluation of metric ``m``: PyTorch's ReduceLROnPlateau.step, in arrays.

    Returns the entries that change.
    """
    best, thr, signed = v["best"], v["threshold"], v["signed_margin"] != 0
    low = jnp.where(v["abs_threshold"] != 0, best - thr,
                    jnp.where(signed, best * (1 - thr), best - thr * jnp.abs(best)))
    high = jnp.where(v["abs_threshold"] != 0, best + thr,
                     jnp.where(signed, best * (1 + thr), best + thr * jnp.abs(best)))
    beats = jnp.where(v["maximize"] != 0, m > high, m < low)
    has_best = v["evals_since_best"] < v["num_evals"]
    better = jnp.isfinite(m) & (beats | ~has_best)

    num_bad = jnp.where(better, 0, _inc(v["num_bad"]))
    in_cooldown = v["cooldown_left"] > 0
    cooldown_left = jnp.where(in_cooldown, v["cooldown_left"] - 1, v["cooldown_left"])
    num_bad = jnp.where(in_cooldown, 0, num_bad)
    reduce = num_bad > v["patience"]
    new_scale = v["scale"] * v["factor"]
    old_lr = _lr_at(v["base_lr"], v["scale"], v["min_lr"])
    new_lr = _lr_at(v["base_lr"], new_scale, v["min_lr"])
    applied = reduce & (old_lr - new_lr > v["eps"])
    return {
        "best": jnp.where(better, m, best),
        "num_bad": jnp.where(reduce, 0, num_bad),
        "cooldown_left": jnp.where(reduce, v["cooldown"], cooldown_left),
        "scale": jnp.where(applied, new_scale, v["scale"]),
        "num_reductions": v["num_reductions"] + applied.astype(jnp.int32),
        "num_evals": _inc(v["num_evals"]),
        "evals_since_best": jnp.where(better, 0, _inc(v["evals_since_best"])),
    }


# --------------------------------------------------------------------- finding states
def _nnx() -> Any:
    return sys.modules.get("flax.nnx")


def _is_var(x: Any) -> bool:
    nnx = _nnx()
    return nnx is not None and isinstance(x, nnx.Variable)


def _unwrap(tree: Any) -> Any:
    """``tree`` with nnx Variables replaced by their values."""
    if _nnx() is None:
        return tree
    return jax.tree.map(lambda x: x.get_value() if _is_var(x) else x, tree, is_leaf=_is_var)


def _is_plateau(x: Any) -> bool:
    return isinstance(x, PlateauState)


def _found(opt_state: Any, fn: str) -> list[tuple[str, PlateauState]]:
    pairs, _ = jax.tree_util.tree_flatten_with_path(opt_state, is_leaf=_is_plateau)
    found = [(jax.tree_util.keystr(path), x) for path, x in pairs if _is_plateau(x)]
    if not found:
        raise ValueError(
            f"{fn}: no plateau state in {type(opt_state).__name__}: build the optimizer with "
            "optax.inject_hyperparams(...)(learning_rate=js.plateau(...)) or chain "
            "js.reduce_on_plateau(...), and pass its state (or the TrainState / "
            "nnx.Optimizer holding it).")
    return found


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
    found = _found(opt_state, "report")
    m = _metric(metric, "report", axis_name)
    in_place = [any(_is_var(v) for v in jax.tree.leaves(s, is_leaf=_is_var)) for _, s in found]
    if any(in_place):
        if not all(in_place):
            raise TypeError("report: some plateau states hold nnx Variables and some do not; "
                            "pass the nnx.Optimizer or the plain optax state, not a mix.")
        for _, s in found:
            new = _advance(_unwrap(s), m)
            for var, value in zip(jax.tree.leaves(s, is_leaf=_is_var), jax.tree.leaves(new),
                                  strict=True):
                var.set_value(value)
        return opt_state
    return jax.tree.map(lambda x: _advance(x, m) if _is_plateau(x) else x, opt_state,
                        is_leaf=_is_plateau)


@jax.jit  # one compiled call when used eagerly, once per epoch
def _advance(s: PlateauState, m: jax.Array) -> PlateauState:
    v = _unpack(s)
    return _pack(s, {**v, **_decide(v, m.astype(v["best"].dtype))})


def _inject_types() -> tuple[type, ...]:
    names = ("InjectStatefulHyperparamsState", "InjectHyperparamsState")
    return tuple(getattr(optax, n) for n in names if hasattr(optax, n))


def current_lr(opt_state: Any) -> Any:
    """The learning rate the next update will use, for logging.

    Looks through any nesting (``optax.chain``, ``MultiSteps``,
    ``multi_transform``, Flax ``TrainState``, ``nnx.Optimizer``). A
    ``js.plateau`` gives ``base(count) * scale`` (after any ``js.report``); any
    other schedule under ``inject_hyperparams`` gives
    ``hyperparams['learning_rate']`` (the LR of the last update); scales of
    ``js.reduce_on_plateau`` transformations multiply it.

    Returns:
      A float scalar array; a dict from state path to LR when the state holds
      several learning rates (e.g. ``multi_transform``).

    Raises:
      ValueError: if no learning rate is held in ``opt_state`` (an optimizer
        built with a constant, e.g. ``optax.adam(1e-3)``, does not keep it).

    >>> import jax.numpy as jnp, optax, jaxsched as js
    >>> lr = js.plateau(js.linear(1.0, 0.0, 10), factor=0.1, patience=0)
    >>> tx = optax.inject_hyperparams(optax.sgd)(learning_rate=lr)
    >>> state = tx.init(jnp.zeros(()))
    >>> _, state = tx.update(jnp.ones(()), state)
    >>> print(f"{js.current_lr(state):.2f}")  # base(1)
    0.90
    >>> state = js.report(js.report(state, 1.0), 1.0)
    >>> print(f"{js.current_lr(state):.2f}")  # base(1) * 0.1
    0.09
    """
    injects = _inject_types()
    is_node = lambda x: isinstance(x, injects) or _is_plateau(x)
    lrs: list[tuple[str, jax.Array]] = []
    scales: list[jax.Array] = []

    def visit(tree: Any, prefix: str) -> None:
        pairs, _ = jax.tree_util.tree_flatten_with_path(tree, is_leaf=is_node)
        for path, x in pairs:
            where = prefix + jax.tree_util.keystr(path)
            if isinstance(x, ReduceOnPlateauState):
                scales.append(_state_lr(_unwrap(x)))
            elif _is_plateau(x):
                lrs.append((where, _state_lr(_unwrap(x))))
            elif isinstance(x, injects):
                inner = getattr(x, "hyperparams_states", {}).get("learning_rate")
                if _is_plateau(inner) and not isinstance(inner, ReduceOnPlateauState):
                    lrs.append((where, _state_lr(_unwrap(inner))))
                elif "learning_rate" in x.hyperparams:
                    lrs.append((where, jnp.asarray(_unwrap(x.hyperparams["learning_rate"]))))
                visit(x.inner_state, where + ".inner_state")

    visit(opt_state, "")
    if not lrs:
        hint = (" It holds js.reduce_on_plateau scale(s): the LR is your optimizer's LR times "
                "js.plateau_state(opt_state).lr." if scales else "")
        raise ValueError(
            f"current_lr: no learning rate in {type(opt_state).__name__}: build the optimizer "
            "with optax.inject_hyperparams(...)(learning_rate=...) so that the LR is part of "
            f"its state.{hint}")
    factor = jnp.prod(jnp.stack(scales)) if scales else None

    def scaled(lr: jax.Array) -> jax.Array:
        return lr if factor is None else lr * factor.astype(lr.dtype)

    if len(lrs) == 1:
        return scaled(lrs[0][1])
    return {where: scaled(lr) for where, lr in lrs}


@jax.jit
def _state_lr(s: PlateauState) -> jax.Array:
    return _lr(_unpack(s))


def plateau_state(opt_state: Any) -> Any:
    """The plateau's LR, scale, best metric and counters, for logging.

    Returns:
      A ``PlateauInfo`` (``lr``, ``scale``, ``best``, ``num_bad``,
      ``cooldown_left``, ``num_reductions``, ``num_evals``,
      ``evals_since_best``); ``best`` is +inf ('min') or -inf ('max') until the
      first finite metric. A dict from state path to ``PlateauInfo`` when
      ``opt_state`` holds several plateaus.

    Raises:
      ValueError: if ``opt_state`` holds no plateau state.

    >>> import jaxsched as js
    >>> p = js.plateau(0.1, patience=5)
    >>> info = js.plateau_state(js.report(js.report(p.init(), 2.0), 3.0))
    >>> print(f"{info.best:.1f}", int(info.num_bad), int(info.evals_since_best))
    2.0 1 1
    """
    infos = {where: _info(_unwrap(s)) for where, s in _found(opt_state, "plateau_state")}
    return next(iter(infos.values())) if len(infos) == 1 else infos


@jax.jit
def _info(s: PlateauState) -> PlateauInfo:
    v = _unpack(s)
    worst = jnp.where(v["maximize"] != 0, -jnp.inf, jnp.inf).astype(v["best"].dtype)
    has_best = v["evals_since_best"] < v["num_evals"]
    return PlateauInfo(lr=_lr(v), scale=v["scale"], best=jnp.where(has_best, v["best"], worst),
                       num_bad=v["num_bad"], cooldown_left=v["cooldown_left"],
                       num_reductions=v["num_reductions"], num_evals=v["num_evals"],
                       evals_since_best=v["evals_since_best"])


def should_stop(opt_state: Any, patience: int | None = None) -> jax.Array:
    """Early stopping: true once more than ``patience`` evaluations brought no improvement.

    Counts evaluations since the best one (improvement as the plateau defines
    it, with its threshold), so with ``patience=5`` it is true at the 6th
    evaluation in a row without improvement, the same reading of "patience" as
    the plateau's own. Without ``patience`` it uses the ``stop_patience`` given
    to ``js.plateau``. With several plateaus, true if any says stop. Jittable.

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
    found = [_unwrap(s) for _, s in _found(opt_state, "should_stop")]
    if patience is not None:
        limit = check.integer("should_stop", "patience", patience, min=0)
        return jnp.any(jnp.stack([s.evals_since_best > limit for s in found]))
    limits = [s.stop_patience for s in found]
    if not any(check.is_tracer(x) for x in limits) and all(int(x) < 0 for x in limits):
        raise ValueError("should_stop: give `patience`, or build the plateau with "
                         "stop_patience=...: js.plateau(..., stop_patience=20).")
    return jnp.any(jnp.stack([(s.stop_patience >= 0) & (s.evals_since_best > s.stop_patience)
                              for s in found]))
