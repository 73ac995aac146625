"""Reduce-on-plateau carried in the optimizer state.

``plateau`` is a stateful schedule for ``optax.inject_hyperparams``: the
learning rate is ``schedule(count) * scale`` and ``scale`` drops by ``factor`` when
a monitored metric stops improving. ``reduce_on_plateau`` is the same logic as
a gradient transformation that scales the updates. Both keep their state in
the optimizer state (a ``NamedTuple`` of two small arrays), so it is jitted,
checkpointed and sharded with the rest of ``opt_state``.

The metric arrives as ``value=`` on ``tx.update`` or through ``js.report``
(``_opt_state``), which finds every plateau state inside any optimizer state
and advances it with ``advance`` below.
The decision rules travel inside the state as arrays, so ``report`` needs
nothing but the state, and a restored checkpoint continues with the rules it
was saved with (as PyTorch's ``state_dict`` does).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from collections.abc import Iterator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax
from jax.typing import ArrayLike

from . import _checks as check
from ._schedule import Schedule, StatefulSchedule, as_schedule, hyper, schedule_class, static
from ._steps import float_dtype

_INT_MAX = int(np.iinfo(np.int32).max)
_MODES = ("min", "max")
_THRESHOLD_MODES = ("rel", "abs")
_REL_MARGINS = ("abs_best", "pytorch")
_NONFINITE = ("bad", "pytorch")


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
    "torch_compare",  # 1 for nonfinite='pytorch': PyTorch's comparisons, best starts at +-inf
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

    ints: jax.Array  # shape=(len(INT_FIELDS),), dtype=int32
    floats: jax.Array  # shape=(len(FLOAT_FIELDS),), dtype=float32 (float64 under x64)


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
                every: Any, axis_name: Any, stop_patience: Any, rel_margin: Any,
                nonfinite: Any = "bad", zero_factor: bool = False) -> dict:
    """The plateau rules validated in ``fn``'s words (shared by ``plateau``,
    ``reduce_on_plateau`` and ``pt.ReduceLROnPlateau``); ``floor`` is ``(its name, value)``."""
    out = {
        "mode": check.choice(fn, "mode", mode, _MODES),
        "factor": check.number(fn, "factor", factor, min=0.0, min_open=not zero_factor,
                               max=1.0, max_open=True),
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
        "nonfinite": check.choice(fn, "nonfinite", nonfinite, _NONFINITE),
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
        check.warn(f"{fn}: stop_patience={sp} is less than 2 * patience={2 * p}: training "
                   "may stop before a reduction of the learning rate has had time to help.")
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
        "torch_compare": p.nonfinite == "pytorch",
        "factor": p.factor, "threshold": p.threshold, "min_lr": p.min_lr, "eps": p.eps,
    }


# --------------------------------------------------------------------- the schedule
@schedule_class
class plateau(StatefulSchedule):
    """A learning rate that drops by ``factor`` when a metric stops improving.

    A stateful schedule for ``optax.inject_hyperparams``. The learning rate of
    update ``t`` is ``lr(t) = max(s(t) * scale, min(min_lr, s(t)))``: ``s`` is ``schedule``,
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
    (as PyTorch's ``state_dict`` does); ``schedule``, ``every`` and ``axis_name``
    are read from this object.

    Args:
      schedule: the learning rate before reductions: a schedule or a float.
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
      nonfinite: ``'bad'`` (NaN or inf metrics are bad evaluations and never the
        best) or ``'pytorch'`` (PyTorch's comparisons as they are: the best starts
        at +inf in 'min' mode, so a ``-inf`` metric becomes the best and nothing
        improves after it, and with ``threshold=1`` in 'rel' mode ``inf * 0`` is
        NaN, so nothing ever improves). ``pt.ReduceLROnPlateau`` uses it.

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

    schedule: Any = hyper()
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
    nonfinite: str = static(default="bad", kw_only=True)

    def __post_init__(self) -> None:
        fn = "plateau"
        base = self.schedule
        if isinstance(base, plateau):
            raise TypeError("plateau: `schedule` is already a plateau; nest schedules, not "
                            "plateaus.")
        base = as_schedule(base, fn, "schedule", numbers="keep")
        object.__setattr__(self, "schedule", base if isinstance(base, Schedule)
                           else check.lr(fn, "schedule", base))
        checked = check_rules(
            fn, mode=self.mode, factor=self.factor, patience=self.patience,
            threshold=self.threshold, threshold_mode=self.threshold_mode,
            cooldown=self.cooldown, floor=("min_lr", self.min_lr), eps=self.eps,
            every=self.every, axis_name=self.axis_name, stop_patience=self.stop_patience,
            rel_margin=self.rel_margin, nonfinite=self.nonfinite)
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    # optax's StatefulSchedule protocol: init(), update(state, **extra), __call__(state, **extra)
    def init(self) -> PlateauState:
        """The state before the first update: scale 1, no best, counters at 0."""
        values = dict.fromkeys(INT_FIELDS + FLOAT_FIELDS, 0)
        count = jnp.asarray(_START.get(), jnp.int32)  # 0 but in js.migrate
        values.update(_rules(self), scale=1.0, count=count, base_lr=self._base(count))
        like = PlateauState(jnp.zeros(0, jnp.int32), jnp.zeros(0, float_dtype()))
        return _pack(like, values)

    def update(self, state: PlateauState, *, value: ArrayLike | None = None,
               **extra_args: Any) -> PlateauState:
        """Advances ``state`` by one optimizer update, feeding ``value`` if given."""
        del extra_args
        return self._step(state, None if value is None
                          else metric(value, "plateau", self.axis_name))

    def _step(self, state: PlateauState, m: jax.Array | None) -> PlateauState:
        """One update, feeding a metric already averaged and cast by ``metric``."""
        _check_state(state, "plateau")
        v = _unpack(state)
        v["count"] = _inc(v["count"])
        v["base_lr"] = self._base(v["count"])
        if m is not None:
            v = _feed(v, m, self.every)
        return _pack(state, v)

    def __call__(self, state: PlateauState, **extra_args: Any) -> jax.Array:
        """The learning rate of the next update: ``max(base * scale, min(min_lr, base))``."""
        del extra_args
        _check_state(state, "plateau")
        return _lr(_unpack(state))

    def _base(self, count: jax.Array) -> jax.Array:
        if isinstance(self.schedule, Schedule):
            return self.schedule(count).astype(float_dtype())
        return jnp.asarray(self.schedule, float_dtype())

    def _preview(self) -> tuple[Schedule, str]:
        """What can be shown before training: the base schedule, and why only it."""
        base = self.schedule if isinstance(self.schedule, Schedule) else as_schedule(
            self.schedule, "plateau", "schedule")
        return base, ("a plateau's reductions depend on the metric: shown is its "
                      "schedule, the LR before any reduction")



def from_rules(base: Any, rules: dict[str, Any]) -> plateau:
    """A plateau from rules that ``check_rules`` validated already, in the words of another
    constructor (``reduce_on_plateau``, ``pt.ReduceLROnPlateau``): each argument is
    validated once, and its message names the function the user called."""
    fields = {f.name: f.default for f in dataclasses.fields(plateau)}
    unknown = set(rules) - set(fields)
    if unknown:  # a caller's bug, not the user's: every rule must be a plateau field
        raise TypeError(f"from_rules: not plateau fields: {sorted(unknown)}.")
    fields.update(rules, schedule=base)
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

    Args:
      mode: ``'min'`` (the metric is a loss, the default) or ``'max'`` (an accuracy).
      factor: the multiplier of the scale at each reduction, a real number in (0, 1);
        default 0.1.
      patience: evaluations without improvement tolerated, an int >= 0; the next one
        reduces; default 10.
      threshold: the improvement margin, a real number >= 0 (relative or absolute,
        see ``threshold_mode``); default 1e-4.
      threshold_mode: ``'rel'`` (the margin is ``threshold * |best|``, the default)
        or ``'abs'`` (the margin is ``threshold``).
      cooldown: evaluations ignored after a reduction, an int >= 0; default 0.
      min_scale: the floor of the scale, a real number >= 0; default 0.0.
      eps: reductions that change the scale by ``eps`` or less are skipped, a real
        number >= 0; default 1e-8.
      every: metrics passed as ``value=`` averaged per decision, a positive int;
        default 1.
      axis_name: a mapped axis (``pmap``/``shard_map``) the ``value=`` metric is
        averaged over, or None (the default).
      stop_patience: evaluations without improvement after which
        ``js.should_stop(opt_state)`` is true, an int >= 0, or None (never).
      rel_margin: ``'abs_best'`` (margin ``threshold * |best|``, the default) or
        ``'pytorch'`` (PyTorch's ``best * (1 -/+ threshold)``).

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
    floor = checked.pop("min_scale")  # the plateau's min_lr, on a base of 1.0
    rule = from_rules(1.0, {**checked, "min_lr": floor})

    def init_fn(params: Any) -> ReduceOnPlateauState:
        del params
        return ReduceOnPlateauState(*rule.init())

    def update_fn(updates: Any, state: ReduceOnPlateauState, params: Any = None, *,
                  value: ArrayLike | None = None, **extra_args: Any) -> tuple[Any, Any]:
        del params, extra_args
        scale = _lr(_unpack(state))
        m = None if value is None else metric(value, fn, rule.axis_name)
        new_state = rule._step(state, m)
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


def metric(value: Any, fn: str, axis_name: Any) -> jax.Array:
    """``value`` checked as a scalar metric, in float32/64, averaged over ``axis_name``."""
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


def _best_so_far(v: dict[str, jax.Array]) -> tuple[jax.Array, jax.Array]:
    """Whether a best metric was seen, and the "none yet" value: +inf ('min'), -inf ('max')."""
    none = jnp.where(v["maximize"] != 0, -jnp.inf, jnp.inf).astype(v["best"].dtype)
    return v["evals_since_best"] < v["num_evals"], none


def _decide(v: dict[str, jax.Array], m: jax.Array) -> dict[str, jax.Array]:
    """One evaluation of metric ``m``: PyTorch's ReduceLROnPlateau.step, in arrays.

    Returns the entries that change.
    """
    has_best, start = _best_so_far(v)
    torch = v["torch_compare"] != 0
    # PyTorch's best starts at +inf ('min') or -inf ('max'); ours waits for a finite metric.
    best = jnp.where(torch & ~has_best, start, v["best"])
    thr, signed = v["threshold"], v["signed_margin"] != 0
    low = jnp.where(v["abs_threshold"] != 0, best - thr,
                    jnp.where(signed, best * (1 - thr), best - thr * jnp.abs(best)))
    high = jnp.where(v["abs_threshold"] != 0, best + thr,
                     jnp.where(signed, best * (1 + thr), best + thr * jnp.abs(best)))
    beats = jnp.where(v["maximize"] != 0, m > high, m < low)
    better = jnp.where(torch, beats, jnp.isfinite(m) & (beats | ~has_best))

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


# --------------------------------------------------------------------- for _opt_state
# What the state walkers (``_opt_state``, ``_migrate``) ask of a plateau state: they
# find the states, this module knows what is inside them.
@jax.jit  # one compiled call when used eagerly, once per epoch
def advance(s: PlateauState, m: jax.Array) -> PlateauState:
    """``s`` after one evaluation of metric ``m`` (one ``js.report``)."""
    v = _unpack(s)
    return _pack(s, {**v, **_decide(v, m.astype(v["best"].dtype))})


@jax.jit
def info(s: PlateauState) -> PlateauInfo:
    """``s`` read for logging; ``best`` is -/+inf until the first finite metric."""
    v = _unpack(s)
    has_best, worst = _best_so_far(v)
    return PlateauInfo(lr=_lr(v), scale=v["scale"], best=jnp.where(has_best, v["best"], worst),
                       num_bad=v["num_bad"], cooldown_left=v["cooldown_left"],
                       num_reductions=v["num_reductions"], num_evals=v["num_evals"],
                       evals_since_best=v["evals_since_best"])


# the decisions made so far; the rest of a state is the step, its base LR and the rules
_DECISIONS = ("num_bad", "cooldown_left", "num_reductions", "num_evals", "evals_since_best",
              "metric_count", "metric_nonfinite", "scale", "best", "metric_sum")


def carry_decisions(old: PlateauState, new: PlateauState) -> PlateauState:
    """``new`` (step, base LR and rules) with the decisions of ``old`` (scale, best, counters)."""
    o, n = _unpack(old), _unpack(new)
    return _pack(new, {**n, **{k: o[k] for k in _DECISIONS}})


_START: contextvars.ContextVar[Any] = contextvars.ContextVar("jaxsched_plateau_start", default=0)


@contextlib.contextmanager
def starting_at(step: ArrayLike) -> Iterator[None]:
    """Within it, ``plateau.init()`` starts at update ``step`` (for ``js.migrate``)."""
    token = _START.set(step)
    try:
        yield
    finally:
        _START.reset(token)
