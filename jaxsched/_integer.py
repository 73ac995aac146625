"""Integer-valued schedules: batch-size and gradient-accumulation ramps, and the LR that follows.

Called, an integer schedule returns int32 (also under x64: optax's step counters
are int32, and ``optax.MultiSteps`` joins the schedule's value with them in a
``lax.cond`` whose branches must agree on dtypes). Inside a composition
(``join``, ``*``, ``scale_by_batch``) it gives the same integers as floats, so
``2 * ramp`` is an ordinary float schedule; wrap a composition in ``integer``
to get ints back.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from . import _checks as check
from ._lookup import segment
from ._schedule import (
    Schedule,
    as_schedule,
    hyper,
    latest,
    schedule_class,
    schedule_field,
    static,
)
from ._steps import finish, fl


class _IntSchedule(Schedule):
    """A schedule whose values are integers (abstract): ``_ints(t)`` gives them as int32."""

    def _ints(self, t: jax.Array) -> jax.Array:  # pragma: no cover - abstract
        raise NotImplementedError

    def _finish(self, t: jax.Array) -> jax.Array:
        return finish(self._ints(t), t, jnp.int32)

    def _eval(self, t: jax.Array) -> jax.Array:
        return fl(self._ints(t))


_ROUND = {
    "nearest": lambda v: jnp.floor(v + 0.5),
    "floor": jnp.floor,
    "ceil": jnp.ceil,
}


@schedule_class
class integer(_IntSchedule):
    """``schedule`` rounded to integers: an int32-valued schedule.

    ``n(t) = round(schedule(t))`` with ``rounding`` ``'nearest'`` (halves up:
    ``floor(v + 0.5)``), ``'floor'`` or ``'ceil'``. The rounding applies to the
    float value, so prefer ``'nearest'`` where a curve should land on integers
    (``linear(1, 8, 7)(3)`` is 3.9999998 in float32); ``batch_ramp`` counts in
    exact integer arithmetic.

    Args:
      schedule: a schedule, a jnp-traceable function of the step, or a number.
      rounding: ``'nearest'``, ``'floor'`` or ``'ceil'``.

    Returns:
      A schedule whose value is an int32 array shaped like the step.

    Raises:
      ValueError: if ``rounding`` is not one of the three names.
      TypeError: if ``schedule`` is not a schedule, function or number.

    >>> import optax, jaxsched as js
    >>> k = js.integer(js.linear(1.0, 4.0, 6))
    >>> print(k(2), k(3), k(6))
    2 3 4
    >>> acc = optax.MultiSteps(optax.sgd(0.1), every_k_schedule=k)
    """

    schedule: Schedule = hyper(schedule_field)
    rounding: str = static(check.one_of(*_ROUND), default="nearest")

    def _ints(self, t: jax.Array) -> jax.Array:
        return _ROUND[self.rounding](self.schedule._eval(t)).astype(jnp.int32)

    def _horizon(self) -> Any:
        return self.schedule._horizon()


@schedule_class
class batch_ramp(_IntSchedule):
    """A batch-size (or accumulation) ramp from ``start`` to ``end`` in steps of ``increment``.

    With ``n = (end - start) / increment`` increments spread evenly over ``steps``:
    ``b(t) = start + increment * floor(n * min(t, steps) / steps)``, so ``b`` takes
    each of its ``n + 1`` values for about ``steps / n`` steps and is ``end`` from
    ``steps`` on. This is Megatron-LM's ``--rampup-batch-size start increment
    samples`` counted in optimizer steps (a fractional ``t`` counts as
    ``floor(t)``). Values are int32, decided in exact
    integer arithmetic (a static table of the steps where each increment lands,
    ``ceil(k * steps / n)``), so the ramp drives ``optax.MultiSteps`` directly.

    Args:
      start: the first value, a positive int.
      end: the last value, an int ``>= start`` with ``end - start`` a multiple of
        ``increment``.
      steps: the ramp's length in steps (a positive int, at least ``n``).
      increment: how much each increment adds, a positive int.

    Returns:
      An int32-valued schedule.

    Raises:
      ValueError: for a non-positive value, ``end < start``, ``end - start`` not
        a multiple of ``increment``, or more increments than ``steps``.
      TypeError: for a non-int argument.

    >>> import jaxsched as js
    >>> b = js.batch_ramp(32, 128, steps=300, increment=32)
    >>> print(b(0), b(99), b(100), b(200), b(300))
    32 32 64 96 128
    """

    start: int = static(check.positive_int)
    end: int = static(check.positive_int)
    steps: int = static(check.positive_int)
    increment: int = static(check.positive_int, default=1)

    def _check(self) -> None:
        start, end, inc, steps = self.start, self.end, self.increment, self.steps
        if end < start:
            raise ValueError(f"batch_ramp: needs end >= start, got start={start}, end={end}.")
        if (end - start) % inc:
            raise ValueError(f"batch_ramp: needs end - start to be a multiple of increment, got "
                             f"start={start}, end={end}, increment={inc} ({end - start} % {inc} "
                             f"= {(end - start) % inc}).")
        n = (end - start) // inc
        if n > steps:
            raise ValueError(f"batch_ramp: needs at most one increment per step, got {n} "
                             f"increments ({start} to {end} by {inc}) in steps={steps}; use a "
                             f"larger increment or more steps.")

    @property
    def _bounds(self) -> tuple[int, ...]:
        n = (self.end - self.start) // self.increment
        return tuple(-(-k * self.steps // n) for k in range(1, n + 1))

    def _ints(self, t: jax.Array) -> jax.Array:
        if not jnp.issubdtype(t.dtype, jnp.integer):
            t = jnp.floor(t)  # a fractional step counts as the step it is in
        return self.start + self.increment * segment(t, self._bounds)

    def _horizon(self) -> Any:
        return self.steps if self.end > self.start else None


def _batch_schedule(fn: str, name: str, value: Any) -> Schedule:
    """Field checker: a schedule of the batch size (a number is refused: that is no ramp)."""
    if check.concrete_number(value) is not None:
        raise TypeError(f"{fn}: `{name}` must be a schedule of the batch size "
                        f"(e.g. js.batch_ramp(...)), got {value!r}.")
    return as_schedule(value, fn, name, numbers="refuse")


@schedule_class
class scale_by_batch(Schedule):
    """A learning rate rescaled as the batch grows: linear or square-root scaling.

    ``lr(t) = schedule(t) * (batch(t) / base_batch) ** p`` with ``p = 1`` for
    ``rule='linear'`` (Goyal et al., SGD) or ``p = 1/2`` for ``rule='sqrt'``
    (Adam-family optimizers). ``schedule`` is the LR tuned at ``base_batch``;
    ``batch`` may count samples or accumulation steps, as long as ``base_batch``
    counts the same thing. Both see the same step: under ``optax.MultiSteps``
    that is the number of updates applied, for the ramp and the LR alike.

    Args:
      schedule: the learning rate at ``base_batch``: a schedule, a jnp-traceable
        function of the step, or a number.
      batch: the batch size (or accumulation count) at each step, e.g. a
        ``batch_ramp``.
      base_batch: the batch size ``schedule`` was tuned for, a positive int.
      rule: ``'linear'`` or ``'sqrt'``.

    Returns:
      A float schedule.

    Raises:
      TypeError: if ``batch`` is not a schedule or function, or ``base_batch`` is not an int.
      ValueError: for a non-positive ``base_batch`` or an unknown ``rule``.

    >>> import jaxsched as js
    >>> b = js.batch_ramp(64, 256, steps=200, increment=64)
    >>> lr = js.scale_by_batch(js.constant(0.1), b, base_batch=256, rule="sqrt")
    >>> print(f"{lr(0):.6f} {lr(200):.6f}")
    0.050000 0.100000
    """

    schedule: Schedule = hyper(schedule_field)
    batch: Schedule = hyper(_batch_schedule)
    base_batch: int = static(check.positive_int)
    rule: str = static(check.one_of("linear", "sqrt"), default="linear")

    def _eval(self, t: jax.Array) -> jax.Array:
        ratio = fl(self.batch._eval(t)) / fl(self.base_batch)
        return self.schedule._eval(t) * (ratio if self.rule == "linear" else jnp.sqrt(ratio))

    def _horizon(self) -> Any:
        return latest(self.schedule._horizon(), self.batch._horizon())
