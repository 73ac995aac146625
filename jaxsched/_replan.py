"""Re-plan a run from a checkpoint: extend it, cool it down, or restart the schedule.

Each re-planned schedule keeps the schedule the run followed (``schedule``) and
the step the run reached (``at``, the optimizer's step count at the checkpoint)
and switches to a new course from there:
``lr(t) = schedule(t)`` for ``t < switch``, else ``tail(t - switch)``. Steps
before the switch evaluate exactly the old schedule's program, so they are
identical to it bit for bit; a tail that starts from the LR reached reads it
as ``schedule(switch)`` in the same program, so it is continuous there and
follows traced hyperparameters (a ``vmap`` over peak learning rates).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from . import _checks as check
from ._curves import DECAYS, constant, polynomial
from ._join import join, warmup
from ._schedule import Schedule, as_schedule, hyper, is_stateful, schedule_class, shift, static
from ._steps import as_step, float_dtype, host_step, reached, since

_DECAY_CURVES = (*DECAYS.values(), polynomial)  # start -> end over steps


def _old(fn: str, name: str, value: Any) -> Schedule:
    """Field checker: the schedule the run followed (a plateau must be re-planned inside)."""
    if is_stateful(value):
        raise TypeError(f"{fn}: `{name}` is a stateful schedule (a plateau): its LR depends on "
                        f"the metrics it was fed, so re-plan its base instead, e.g. "
                        f"js.plateau({fn}(p.schedule, ...), ...) with the same plateau settings.")
    return as_schedule(value, fn, name)


def _step(at: int) -> jax.Array:
    """``at`` as a scalar step the way ``schedule(at)`` would see it (int when it fits).

    Behind an optimization barrier: XLA would otherwise fold ``schedule(at)`` into a
    constant computed with exact division, while ``schedule(t)`` at run time divides
    by a rounded reciprocal, and the two could differ in the last bits.
    """
    try:  # the dtype rule of a call from the host: int32, else uint32 (int64/uint64 with x64)
        step = as_step(host_step(at, "re-plan"), "re-plan")
    except ValueError:  # beyond every integer step: only a float can stand for it
        step = jnp.asarray(float(at), float_dtype())
    return lax.optimization_barrier(step)


def _value_at(s: Schedule, step: int) -> jax.Array:
    """``s`` at the static step ``step``, inside a trace. A re-plan answers from the side of
    its switch that ``step`` is on, so a re-plan of a re-plan evaluates each level once
    (evaluating both sides, as ``_eval`` must for a traced step, would double the program
    at every level)."""
    if isinstance(s, _Replan):
        switch = s._switch()
        if step < switch:
            return _value_at(s.schedule, step)
        lr = _value_at(s.schedule, switch) if s._from_lr else None
        return _value_at(s._tail(lr), step - switch)
    return s._eval(_step(step))


class _Replan(Schedule):
    """A schedule followed until a switch step, then a new course (the tail)."""

    def _switch(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def _tail(self, lr_switch: Any) -> Schedule:  # pragma: no cover - abstract
        """The course from the switch step on, counted from 0; ``lr_switch`` is the old
        schedule's value at the switch step (None where the tail does not use it)."""
        raise NotImplementedError

    _from_lr = True  # whether the tail starts from the LR reached

    def _resume_step(self) -> int:
        """The step the run resumes at: the optimizer's count at the checkpoint."""
        return self.at

    def _course(self, offset: int = 0) -> list[tuple[int, Schedule]]:
        switch = self._switch()
        kept = [(start, piece) for start, piece in self.schedule._course(offset)
                if start < offset + switch]
        lr = _REACHED if self._from_lr else None
        return [*kept, *self._tail(lr)._course(offset + switch)]

    def _eval(self, t: jax.Array) -> jax.Array:
        switch = self._switch()
        old = self.schedule._eval(t)
        lr = _value_at(self.schedule, switch) if self._from_lr else None
        new = self._tail(lr)._eval(since(t, switch))
        return jnp.where(reached(t, switch), new, old)


# ----------------------------------------------------------------- extend
class _Reached(check.Deferred):
    """Stands for "the LR the run reached" where a re-planned tail starts from it."""

    def __repr__(self) -> str:
        return "<the LR reached>"


_REACHED = _Reached()


@dataclasses.dataclass(frozen=True)
class _Plan:
    """How ``extend`` continues: from ``switch`` on, ``decay`` (re-timed) after an optional
    hold at ``hold`` until ``decay_from``; ``fresh``: the decay restarts from the LR reached."""

    switch: int
    decay: Schedule
    fresh: bool
    hold: Any = None
    decay_from: int = 0


def _extend_plan(schedule: Schedule, at: int, total: int) -> _Plan:
    fn = "extend"
    pieces = schedule._course()
    start, last = pieces[-1]
    if not isinstance(last, _DECAY_CURVES):
        raise ValueError(
            f"{fn}: `schedule` must end in a decay (linear, cosine, polynomial or 1-sqrt from "
            f"a start to an end over a number of steps, alone or as the last piece of a "
            f"join/warmup/recipe) to be re-planned to total_steps={total}; it ends in "
            f"{last!r}. To decay from step {at} instead, use js.cooldown(schedule, at={at}, "
            f"steps=..., end=..., shape=...).")
    horizon = start + last.steps
    if at >= horizon:
        raise ValueError(f"{fn}: at={at} is at or after the end of the schedule's final decay "
                         f"(step {horizon}): nothing is left to extend; to decay further from "
                         f"there use js.cooldown(schedule, at={at}, steps=..., end=...).")
    if at >= start:  # inside the decay: the same decay from the LR reached, to the same end
        return _Plan(at, dataclasses.replace(last, steps=total - at), fresh=True)
    if len(pieces) > 1 and isinstance(pieces[-2][1], constant):  # a hold (WSD's stable phase)
        hold_start, hold = pieces[-2]
        decay_from = total - last.steps
        switch = max(at, hold_start)
        if decay_from < switch:
            raise ValueError(
                f"{fn}: total_steps={total} leaves {total - switch} steps after step {switch}, "
                f"fewer than the {last.steps} steps of the decay that follows the hold; to "
                f"decay now use js.cooldown(schedule, at={at}, steps={total - at}, ...).")
        if last.start is _REACHED:  # a cooldown branched from the hold starts at its value
            last = dataclasses.replace(last, start=hold.value)
        return _Plan(switch, last, fresh=False, hold=hold.value, decay_from=decay_from)
    if total <= start:
        raise ValueError(f"{fn}: total_steps={total} ends before the schedule's final decay "
                         f"begins (step {start}); needs total_steps > {start}.")
    # A decay that itself starts from the LR reached (a re-planned run) does so again.
    return _Plan(start, dataclasses.replace(last, steps=total - start),
                 fresh=last.start is _REACHED)


@schedule_class
class extend(_Replan):
    """The schedule a run follows once its length changes to ``total_steps`` at step ``at``.

    ``lr(t) = schedule(t)`` for ``t < at``; after that the schedule's final decay
    (its last piece: a ``linear``, ``cosine``, ``polynomial`` or ``1-sqrt`` decay
    from ``start`` to ``end``, alone or ending a join, warmup or recipe, ending at
    step ``H``) is re-planned to end at ``total_steps`` instead of ``H``. With
    ``D`` the step the decay begins and ``n = H - D`` its length:

    * ``D <= at < H`` (the run is decaying): from ``at``, the same decay (same
      curve, exponent or power) from ``lr0 = schedule(at)`` to ``end`` over
      ``total_steps - at`` steps, e.g. for a cosine
      ``end + (lr0 - end) * (1 + cos(pi * (t - at) / (total_steps - at))) / 2``;
    * ``at < D`` and the decay follows a constant hold (WSD's stable phase): the
      hold lasts until ``total_steps - n`` and the decay keeps its ``n`` steps;
    * ``at < D`` otherwise (still warming up): the decay starts at ``D`` as
      planned and runs over ``total_steps - D`` steps (a ``warmup_cosine`` becomes
      the same recipe with the new ``total_steps``).

    The new schedule is identical to ``schedule`` before ``at`` and continuous
    at ``at``. ``total_steps < H`` shortens the run by the same rules, and a run
    already re-planned (by ``extend``, ``cooldown`` or ``restart``) can be
    re-planned again: its last decay is the one re-planned.

    Args:
      schedule: the schedule the run followed.
      at: the step the run reached (the checkpoint's step count), an int >= 0.
      total_steps: the new length of the run, an int > ``at``.

    Returns:
      A schedule; ``repr`` reads back with ``js.parse`` and it saves with ``to_config``.

    Raises:
      ValueError: if ``schedule`` does not end in one of those decays, ``at`` is
        past its end, ``total_steps <= at``, or the new length leaves no room for
        the decay.
      TypeError: for a non-int ``at``/``total_steps`` or a plateau ``schedule``.

    >>> import jaxsched as js
    >>> old = js.warmup_cosine(1.0, warmup_steps=10, total_steps=110)
    >>> new = js.extend(old, at=60, total_steps=210)
    >>> print(f"{old(60):.6f} {new(60):.6f} {new(135):.6f} {new(210):.6f}")
    0.500000 0.500000 0.250000 0.000000
    """

    schedule: Schedule = hyper(_old)
    at: int = static(check.nonneg_int)
    total_steps: int = static(check.positive_int)

    def _check(self) -> None:
        if self.total_steps <= self.at:
            raise ValueError(f"extend: needs at < total_steps, got at={self.at}, "
                             f"total_steps={self.total_steps}.")
        _ = self._plan  # refuses a schedule that has no final decay to re-plan

    @functools.cached_property
    def _plan(self) -> _Plan:
        return _extend_plan(self.schedule, self.at, self.total_steps)

    @property
    def _from_lr(self) -> bool:  # type: ignore[override]
        return self._plan.fresh

    def _switch(self) -> int:
        return self._plan.switch

    def _tail(self, lr_switch: Any) -> Schedule:
        plan = self._plan
        if plan.fresh:
            return dataclasses.replace(plan.decay, start=lr_switch)
        if plan.decay_from > plan.switch:
            return join([constant(plan.hold), plan.decay], [plan.decay_from - plan.switch])
        return plan.decay

    def _horizon(self) -> int:
        return self.total_steps


# ----------------------------------------------------------------- cooldown
@schedule_class
class cooldown(_Replan):
    """The schedule followed until step ``at``, then a decay from the LR reached to ``end``.

    WSD's "branch a decay from a stable checkpoint": ``lr(t) = schedule(t)`` for
    ``t < at``; from ``at``, with ``lr0 = schedule(at)`` and
    ``p = min(t - at, steps) / steps``, ``lr(t) = end + (lr0 - end) * f(p)`` where
    ``f(p) = 1 - p`` (``shape='linear'``), ``(1 + cos(pi * p)) / 2`` (``'cosine'``)
    or ``1 - sqrt(p)`` (``'1-sqrt'``, Hägele et al., 2024); ``end`` from
    ``at + steps`` on. Identical to ``schedule`` before ``at``, continuous at ``at``.

    Args:
      schedule: the schedule the run followed.
      at: the step the decay starts (the checkpoint's step count), an int >= 0.
      steps: the length of the decay, a positive int.
      end: the LR at the end of the decay (>= 0).
      shape: ``'linear'``, ``'cosine'`` or ``'1-sqrt'``.

    Returns:
      A schedule; ``repr`` reads back with ``js.parse`` and it saves with ``to_config``.

    Raises:
      ValueError: for a negative ``at``, a non-positive ``steps``, a negative
        ``end`` or an unknown ``shape``.
      TypeError: for a non-int ``at``/``steps`` or a plateau ``schedule``.

    >>> import jaxsched as js
    >>> stable = js.warmup_constant(1.0, warmup_steps=10)
    >>> s = js.cooldown(stable, at=100, steps=100, shape="1-sqrt")
    >>> print(f"{s(99):.6f} {s(100):.6f} {s(125):.6f} {s(200):.6f}")
    1.000000 1.000000 0.500000 0.000000
    """

    schedule: Schedule = hyper(_old)
    at: int = static(check.nonneg_int)
    steps: int = static(check.positive_int)
    end: Any = hyper(check.lr, default=0.0)
    shape: str = static(check.one_of(*DECAYS), default="linear")

    def _switch(self) -> int:
        return self.at

    def _tail(self, lr_switch: Any) -> Schedule:
        return DECAYS[self.shape](lr_switch, self.end, self.steps)

    def _horizon(self) -> int:
        return self.at + self.steps


# ----------------------------------------------------------------- restart
@schedule_class
class restart(_Replan):
    """The schedule followed until step ``at``, then ``new`` counted from ``at``.

    For fine-tuning from a checkpoint while the optimizer keeps its moments:
    ``lr(t) = schedule(t)`` for ``t < at``, else ``new(t - at)``. With
    ``warmup_steps > 0``, a linear ramp from the LR reached, ``schedule(at)``, to
    ``new(0)`` comes first and ``new`` starts after it (``js.warmup(new,
    warmup_steps, start=schedule(at))``), so the LR is continuous at ``at``;
    without it the LR jumps to ``new(0)`` unless ``new`` starts where the run is.

    Args:
      schedule: the schedule the run followed.
      at: the step the new schedule starts (the checkpoint's step count), an int >= 0.
      new: the schedule to follow from ``at``, counted from 0 there.
      warmup_steps: steps of a linear ramp from ``schedule(at)`` to ``new(0)``, an int >= 0.

    Returns:
      A schedule; ``repr`` reads back with ``js.parse`` and it saves with ``to_config``.

    Raises:
      ValueError: for a negative ``at`` or ``warmup_steps``.
      TypeError: for non-int step counts, or a plateau ``schedule``/``new``.

    >>> import jaxsched as js
    >>> old = js.cosine(1.0, 0.0, 100)
    >>> s = js.restart(old, at=50, new=js.linear(0.2, 0.0, 20))
    >>> print(f"{s(49):.6f} {s(50):.6f} {s(60):.6f}")
    0.515705 0.200000 0.100000
    >>> s = js.restart(old, at=50, new=js.constant(0.1), warmup_steps=10)
    >>> print(f"{s(50):.6f} {s(55):.6f} {s(60):.6f}")
    0.500000 0.300000 0.100000
    """

    schedule: Schedule = hyper(_old)
    at: int = static(check.nonneg_int)
    new: Schedule = hyper(_old)
    warmup_steps: int = static(check.nonneg_int, default=0)

    @property
    def _from_lr(self) -> bool:  # type: ignore[override]
        return self.warmup_steps > 0

    def _switch(self) -> int:
        return self.at

    def _tail(self, lr_switch: Any) -> Schedule:
        if self.warmup_steps == 0:
            return self.new
        return warmup(self.new, self.warmup_steps, start=lr_switch)

    def _horizon(self) -> int | float | None:
        return shift(self.new._horizon(), self.at + self.warmup_steps)
