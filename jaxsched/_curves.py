"""Primitive curves: the building blocks every recipe is joined from.

Each curve is a frozen dataclass whose ``_eval`` is a few ``jnp`` lines. In the
formulas, ``t`` is the zero-based step (negative steps count as 0). A finite
curve holds its end value after its ``steps``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from . import _anneal as shape
from . import _checks as check
from ._anneal import anneal
from ._lookup import pick
from ._schedule import Schedule, hyper, schedule_class, static
from ._steps import divide, fl, float_dtype, reached, since


@schedule_class
class constant(Schedule):
    """A constant learning rate: ``lr(t) = value``.

    Args:
      value: the learning rate at every step, a real number >= 0 (or a traced scalar).

    >>> import jaxsched as js
    >>> print(f"{js.constant(0.1)(1000):.2f}")
    0.10
    """

    value: Any = hyper(check.lr)
    _gather = ("value",)

    def _horizon(self) -> None:
        return None

    def _eval(self, t: jax.Array) -> jax.Array:
        return jnp.asarray(self.value)


@schedule_class
class linear(Schedule):
    """Linear interpolation from ``start`` to ``end`` over ``steps``, then ``end``.

    ``lr(t) = start + (end - start) * min(t, steps) / steps``.
    Equals ``optax.linear_schedule(start, end, steps)``, computed without cancellation
    (see ``_anneal``): a decay as ``end + (start - end) * (steps - t) / steps``, exactly
    ``end`` from ``steps`` on.

    Args:
      start: the value at step 0, a real number >= 0 (may be traced).
      end: the value reached at ``steps`` and held from then on, >= 0 (may be traced);
        ``end < start`` decays, ``end > start`` rises.
      steps: the length of the course in steps, a positive int (static).

    >>> import jaxsched as js
    >>> print(f"{js.linear(0.0, 1.0, 10)(5):.2f}")
    0.50
    """

    start: Any = hyper(check.lr)
    end: Any = hyper(check.lr)
    steps: int = static(check.positive_int)
    _gather = ("start", "end", "steps")

    def _horizon(self) -> int:
        return self.steps

    def _eval(self, t: jax.Array) -> jax.Array:
        return anneal(self.start, self.end, t, self.steps, shape.linear)


@schedule_class
class cosine(Schedule):
    """Cosine annealing from ``start`` to the floor ``end`` over ``steps``, then ``end``.

    ``lr(t) = end + (start - end) * (0.5 * (1 + cos(pi * min(t, steps) / steps))) ** exponent``.
    Equals ``optax.cosine_decay_schedule(start, steps, alpha=end / start, exponent)``,
    computed as ``end + (start - end) * sin(pi / 2 * (steps - t) / steps) ** (2 * exponent)``
    so that nothing cancels near the end (see ``_anneal``); exactly ``end`` from ``steps``
    on. The floor ``end`` is required: pass ``end=0.0`` to decay to zero on purpose.
    ``exponent`` is a float hyperparameter like ``start`` (it may be traced, e.g. vmapped).

    Args:
      start: the value at step 0, a real number >= 0 (may be traced).
      end: the floor reached at ``steps`` and held from then on, >= 0 (may be traced);
        required, pass ``0.0`` to decay to zero.
      steps: the length of the decay in steps, a positive int (static).
      exponent: the power the cosine factor ``(1 + cos(pi t / steps)) / 2`` is raised to,
        a real number > 0 (may be traced); the default 1.0 is the plain cosine, larger
        values decay faster early on (optax's ``exponent``).

    >>> import jaxsched as js
    >>> s = js.cosine(1.0, 0.0, 100)
    >>> print(f"{s(50):.6f} {s(100):.6f} {s(200):.6f}")
    0.500000 0.000000 0.000000
    """

    start: Any = hyper(check.lr)
    end: Any = hyper(check.lr)
    steps: int = static(check.positive_int)
    exponent: Any = hyper(check.positive, default=1.0, specialize=True)
    _gather = ("start", "end", "steps")

    def _horizon(self) -> int:
        return self.steps

    def _eval(self, t: jax.Array) -> jax.Array:
        return anneal(self.start, self.end, t, self.steps, *shape.cosine_power(self.exponent))


@schedule_class
class polynomial(Schedule):
    """Polynomial decay from ``start`` to ``end`` over ``steps``, then ``end``.

    ``lr(t) = end + (start - end) * (1 - min(t, steps) / steps) ** power``.
    Equals ``optax.polynomial_schedule(start, end, power, steps)``, with the remaining
    fraction taken from exact integer differences (see ``_anneal``): exactly ``end``
    from ``steps`` on. ``power`` is a float hyperparameter (it may be traced).

    Args:
      start: the value at step 0, a real number >= 0 (may be traced).
      end: the value reached at ``steps`` and held from then on, >= 0 (may be traced).
      steps: the length of the decay in steps, a positive int (static).
      power: the power of the remaining fraction ``1 - t / steps``, a real number > 0
        (may be traced); the default 1.0 is a linear decay, 2.0 a quadratic one.

    >>> import jaxsched as js
    >>> print(f"{js.polynomial(1.0, 0.0, 10, power=2.0)(5):.4f}")
    0.2500
    """

    start: Any = hyper(check.lr)
    end: Any = hyper(check.lr)
    steps: int = static(check.positive_int)
    power: Any = hyper(check.positive, default=1.0, specialize=True)
    _gather = ("start", "end", "steps")

    def _horizon(self) -> int:
        return self.steps

    def _eval(self, t: jax.Array) -> jax.Array:
        return anneal(self.start, self.end, t, self.steps, *shape.polynomial(self.power))


@schedule_class
class exponential(Schedule):
    """Exponential decay (or growth): ``lr(t) = start * gamma ** (t / period)``.

    With ``staircase=True`` the exponent is ``floor(t / period)`` (decided in
    integer arithmetic for integer steps). ``end``, if given, bounds the value:
    a floor when ``gamma < 1``, a ceiling when ``gamma > 1``.
    Equals ``optax.exponential_decay(start, period, gamma, staircase=staircase, end_value=end)``.

    Args:
      start: the value at step 0, a real number >= 0 (may be traced).
      gamma: the multiplier per ``period`` steps, a real number > 0 (may be traced):
        < 1 decays, > 1 grows.
      period: the steps over which the value is multiplied by ``gamma`` once, a
        positive int (static); the default 1 multiplies every step.
      staircase: if True, floor the exponent ``t / period`` so the value changes only
        every ``period`` steps; the default False decays smoothly.
      end: an optional bound, >= 0: a floor when ``gamma < 1``, a ceiling when
        ``gamma > 1``; the default None is unbounded.

    >>> import jaxsched as js
    >>> s = js.exponential(1.0, 0.5, period=10, staircase=True)
    >>> print(f"{s(9):.3f} {s(10):.3f} {s(25):.3f}")
    1.000 0.500 0.250
    """

    start: Any = hyper(check.lr)
    gamma: Any = hyper(check.positive, specialize=True)
    period: int = static(check.positive_int, default=1)
    staircase: bool = static(check.flag, default=False)
    end: Any = hyper(check.optional(check.lr), default=None)
    _gather = ("start", "gamma", "period", "end")

    def _check(self) -> None:
        start, gamma, end = self.start, self.gamma, self.end
        if all(isinstance(v, float) for v in (start, gamma, end)):
            if gamma < 1.0 and end > start:
                raise ValueError(f"exponential: with gamma={gamma!r} < 1 the values decay, so "
                                 f"`end` is a floor and must be <= start={start!r}, got {end!r}.")
            if gamma > 1.0 and end < start:
                raise ValueError(f"exponential: with gamma={gamma!r} > 1 the values grow, so "
                                 f"`end` is a ceiling and must be >= start={start!r}, got {end!r}.")

    def _eval(self, t: jax.Array) -> jax.Array:
        period, gamma = self.period, self.gamma
        if not self.staircase:
            k = fl(t) / fl(period)
        elif isinstance(period, int):
            k, _ = divide(t, period)
        else:  # gathered by a join: a column of step counts
            k = t // period
        # exp(k log gamma) rather than gamma ** k: one transcendental instead of pow's two.
        log_gamma = math.log(gamma) if isinstance(gamma, float) else jnp.log(gamma)
        value = self.start * jnp.exp(fl(k) * log_gamma)
        if self.end is None:
            return value
        if isinstance(gamma, float):
            return jnp.maximum(value, self.end) if gamma < 1.0 else jnp.minimum(value, self.end)
        return jnp.where(gamma < 1.0, jnp.maximum(value, self.end), jnp.minimum(value, self.end))


@schedule_class
class multistep(Schedule):
    """Multiplies by ``gamma`` at each milestone.

    ``lr(t) = start * gamma ** n(t)``, ``n(t)`` the number of milestones ``<= t``.

    The count is found in integer arithmetic (a select chain for up to 8 milestones,
    else one table lookup, ``_lookup.pick``), so the cost hardly grows with the number
    of milestones.
    Equals PyTorch's ``MultiStepLR`` (stepped once per update).

    Args:
      start: the value before the first milestone, a real number >= 0 (may be traced).
      milestones: the steps where ``gamma`` is applied, strictly increasing ints >= 0
        (static).
      gamma: the multiplier at each milestone, a real number > 0 (may be traced);
        default 0.1.

    >>> import jaxsched as js
    >>> s = js.multistep(1.0, [10, 20], gamma=0.1)
    >>> print(f"{s(9):.2f} {s(10):.2f} {s(20):.3f}")
    1.00 0.10 0.010
    """

    start: Any = hyper(check.lr)
    milestones: Sequence[int] = static(check.sorted_ints())
    gamma: Any = hyper(check.positive, default=0.1, specialize=True)

    def _horizon(self) -> None:
        return None

    def _eval(self, t: jax.Array) -> jax.Array:
        n = len(self.milestones)
        if isinstance(self.start, float) and isinstance(self.gamma, float):
            values = [self.start * self.gamma**i for i in range(n + 1)]  # exact, on the host
        else:
            values = list(self.start * self.gamma ** jnp.arange(n + 1, dtype=float_dtype()))
        return pick(t, self.milestones, values)


@schedule_class
class piecewise_constant(Schedule):
    """Piecewise-constant values.

    ``lr(t) = values[i]`` for ``boundaries[i-1] <= t < boundaries[i]``.

    Needs ``len(values) == len(boundaries) + 1``. A select chain for up to 8
    boundaries, else one table lookup and one gather (``_lookup.pick``).

    Args:
      values: the value of each piece, a list of real numbers >= 0 (each may be
        traced), one more than ``boundaries``.
      boundaries: the steps where the next piece takes over, strictly increasing ints
        >= 0 (static).

    >>> import jaxsched as js
    >>> s = js.piecewise_constant([1.0, 0.5, 0.1], [100, 200])
    >>> print(f"{s(99):.1f} {s(100):.1f} {s(250):.1f}")
    1.0 0.5 0.1
    """

    values: Sequence[Any] = hyper(check.lrs)
    boundaries: Sequence[int] = static(check.sorted_ints())

    def _check(self) -> None:
        if len(self.values) != len(self.boundaries) + 1:
            raise ValueError(f"piecewise_constant: needs len(values) == len(boundaries) + 1, got "
                             f"{len(self.values)} values for {len(self.boundaries)} boundaries.")

    def _horizon(self) -> None:
        return None

    def _eval(self, t: jax.Array) -> jax.Array:
        return pick(t, self.boundaries, self.values)


@schedule_class
class inverse_sqrt(Schedule):
    """Linear warmup to ``peak``, then inverse-square-root decay.

    ``lr(t) = peak * t / warmup_steps`` for ``t < warmup_steps``, else
    ``peak * sqrt(timescale / (t - warmup_steps + timescale))``; ``timescale``
    defaults to ``warmup_steps``, giving the Transformer's
    ``peak * sqrt(warmup_steps / t)``. Equals Hugging Face's
    ``get_inverse_sqrt_schedule`` with the same ``timescale``.

    Args:
      peak: the value at the end of the warmup, a real number >= 0 (may be traced).
      warmup_steps: the warmup's length in steps, an int >= 0 (static); 0 means no
        warmup (then ``timescale`` is required).
      timescale: the decay's scale in steps, a positive int (static): the LR halves
        after ``3 * timescale`` steps of decay; the default None uses ``warmup_steps``.

    >>> import jaxsched as js
    >>> s = js.inverse_sqrt(1.0, warmup_steps=100)
    >>> print(f"{s(50):.3f} {s(100):.3f} {s(400):.3f}")
    0.500 1.000 0.500
    """

    peak: Any = hyper(check.lr)
    warmup_steps: int = static(check.nonneg_int)
    timescale: int | None = static(check.optional(check.positive_int), default=None)

    def _check(self) -> None:
        if self.timescale is None and self.warmup_steps == 0:
            raise ValueError("inverse_sqrt: with warmup_steps=0 pass `timescale` (a positive "
                             "int): the decay peak * sqrt(timescale / (t + timescale)) needs "
                             "a scale.")

    def _eval(self, t: jax.Array) -> jax.Array:
        w = self.warmup_steps
        ts = fl(self.timescale if self.timescale is not None else w)
        decay = self.peak * jnp.sqrt(ts / (fl(since(t, w)) + ts))
        if w == 0:
            return decay
        return jnp.where(reached(t, w), decay, self.peak * fl(t) / fl(w))


@schedule_class
class cyclic(Schedule):
    """Cyclical learning rate between ``start`` and ``peak`` (Smith, 2017).

    A cycle is ``up_steps`` steps rising from ``start`` to ``peak`` then
    ``down_steps`` (default: ``up_steps``) falling back. With cycle index
    ``c = t // (up + down)`` and position ``x = t - c * (up + down)``:
    ``lr(t) = start + (peak - start) * h(x) * s``, ``h = x / up`` while ``x <= up``
    else ``(up + down - x) / down``, and ``s`` is 1 (``policy='triangular'``),
    ``0.5 ** c`` (``'triangular2'``) or ``gamma ** t`` (``'exp_range'``).
    Equals PyTorch's ``CyclicLR`` (``scale_mode`` as PyTorch picks for each mode).

    Args:
      start: the value at the bottom of each cycle (step 0).
      peak: the value at the top of each cycle.
      up_steps: the length of the rise, a positive int.
      down_steps: the length of the fall (default: ``up_steps``).
      policy: how the height changes from cycle to cycle: ``'triangular'`` (it
        does not), ``'triangular2'`` (halved every cycle) or ``'exp_range'``
        (times ``gamma ** t``).
      gamma: the per-step multiplier of ``'exp_range'``, > 0.

    >>> import jaxsched as js
    >>> s = js.cyclic(0.1, 1.0, up_steps=10)
    >>> print(f"{s(0):.2f} {s(5):.2f} {s(10):.2f} {s(15):.2f} {s(20):.2f}")
    0.10 0.55 1.00 0.55 0.10
    """

    _long_rise = True
    start: Any = hyper(check.lr)
    peak: Any = hyper(check.lr)
    up_steps: int = static(check.positive_int)
    down_steps: int | None = static(check.optional(check.positive_int), default=None)
    policy: str = static(check.one_of("triangular", "triangular2", "exp_range"),
                         default="triangular")
    gamma: Any = hyper(check.positive, default=1.0, specialize=True)

    def _eval(self, t: jax.Array) -> jax.Array:
        up = self.up_steps
        down = self.down_steps if self.down_steps is not None else up
        total = up + down
        c, x = divide(t, total)
        h = jnp.where(x <= up, fl(x) / up, fl(total - x) / down)
        if self.policy == "triangular2":
            h = h * 0.5 ** fl(c)
        elif self.policy == "exp_range":
            gamma = self.gamma
            log_gamma = math.log(gamma) if isinstance(gamma, float) else jnp.log(gamma)
            h = h * jnp.exp(fl(t) * log_gamma)  # gamma ** t drifts in float32 as t grows
        return self.start + (self.peak - self.start) * h


@schedule_class
class _sqrt_decay(Schedule):
    """``end + (start - end) * (1 - sqrt(min(t, steps) / steps))``: WSD's "1-sqrt" cooldown,
    computed as ``(steps - t) / steps / (1 + sqrt(t / steps))`` so that nothing cancels."""

    start: Any = hyper(check.lr)
    end: Any = hyper()
    steps: int = static()
    _gather = ("start", "end", "steps")

    def _eval(self, t: jax.Array) -> jax.Array:
        return anneal(self.start, self.end, t, self.steps, shape.one_minus_sqrt, shape.sqrt_done)

    def _horizon(self) -> int:
        return self.steps


# The decay shapes a recipe or a re-plan names: start -> end over steps.
DECAYS = {"linear": linear, "cosine": cosine, "1-sqrt": _sqrt_decay}
