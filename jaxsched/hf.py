"""Hugging Face's ``transformers.optimization`` schedules, value for value.

Each name is the ``transformers`` function, minus the optimizer, with the peak
learning rate (the optimizer's ``lr``) as the first argument and the other
arguments named as there. ``s(t)`` equals ``optimizer.param_groups[0]['lr']``
after ``t`` calls of ``scheduler.step()`` (HF's ``LambdaLR`` multiplies ``lr``
by a function of the step), for every ``t``, including past
``num_training_steps``::

    from jaxsched import hf
    lr = hf.get_cosine_schedule_with_warmup(3e-4, num_warmup_steps=500,
                                            num_training_steps=10_000)
    print(lr)    # get_cosine_schedule_with_warmup(lr=0.0003, num_warmup_steps=500, ...)

Every schedule prints as that call and compares, pickles and saves like any
jaxsched schedule. Those that match a core recipe evaluate it; the cosine
family and WSD keep HF's own formulas (periodic past the end, ``max(1, .)``
guards), stated in each docstring. Arguments for which HF divides by zero or
silently produces odd curves are rejected at construction.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from . import _anneal as shape
from . import _checks as check
from ._curves import constant, inverse_sqrt, linear
from ._join import join
from ._recipes import warmup_constant, warmup_linear, warmup_polynomial
from ._schedule import Recipe, Schedule, hyper, schedule_class, static
from ._steps import const, divide, fl, imax, is_int, reached, since

__all__ = [
    "get_scheduler",
    "get_constant_schedule",
    "get_constant_schedule_with_warmup",
    "get_cosine_schedule_with_warmup",
    "get_cosine_with_hard_restarts_schedule_with_warmup",
    "get_cosine_with_min_lr_schedule_with_warmup",
    "get_cosine_with_min_lr_schedule_with_warmup_lr_rate",
    "get_inverse_sqrt_schedule",
    "get_linear_schedule_with_warmup",
    "get_polynomial_decay_schedule_with_warmup",
    "get_wsd_schedule",
]

_TYPES = ("linear", "cosine", "1-sqrt")


def _ramp(t: jax.Array, w: int) -> jax.Array:
    """HF's warmup factor ``t / max(1, w)``."""
    return fl(t) / max(1, w)


def _cos2(m: jax.Array, span: int) -> jax.Array:
    """``cos(pi * m / span) ** 2`` for ``0 <= m < span``, written as
    ``sin(pi * (span - 2 m) / (2 span)) ** 2``: ``span - 2 m`` is exact, so values near
    zero keep their relative precision (``1 + cos`` would cancel in float32)."""
    if jnp.issubdtype(m.dtype, jnp.unsignedinteger):  # span - 2 m < 0 must not wrap
        m = m.astype(jnp.int32)  # m < span < 2**30 (see _as_fraction)
    return shape.sin_squared(math.pi * fl(span - 2 * m) / (2 * span))


_SCALES = (1, 2, 4, 5, 8, 10, 16, 20, 25, 32, 50, 64, 100, 1000)


def _as_fraction(c: Any, k: jax.Array, span: int) -> tuple[int, int] | None:
    """``c`` as ``n / s`` with small ints (``num_cycles`` such as 0.5, 2, 1.3) when
    ``(n + 1) * s * span`` is exact in the step's arithmetic (int32, or the float's
    integers), else None."""
    if not isinstance(c, float):
        return None
    exact = 2**30 if is_int(k) else 2 ** (jnp.finfo(k.dtype).nmant + 1)
    for s in _SCALES:
        n = round(s * c)
        if abs(n - s * c) <= 1e-9 * max(1.0, s * c):
            return (n, s) if (n + 1) * s * span < exact else None
    return None


def _rem(k: jax.Array, period: int) -> jax.Array:
    """``k % period`` for ``k >= 0``, exact for float steps too (``divide``'s fmod)."""
    return divide(k, period)[1]


def _since(t: jax.Array, start: int) -> jax.Array:
    """``t - start`` for ``t >= start``; a negative ``start`` (HF's shifted count) adds."""
    return since(t, start) if start >= 0 else t + (-start)


def _half_cosine(t: jax.Array, start: int, span: int, num_cycles: Any) -> jax.Array:
    """HF's ``0.5 * (1 + cos(pi * num_cycles * 2 * k / span))`` at ``k = t - start``,
    unclamped in ``k`` (for ``t < start`` the value is unspecified: callers mask it).

    When ``num_cycles = n / s`` for small ints and the step is an int, the phase
    ``n k / (s span)`` is reduced modulo 1 in integer arithmetic: exact at any step and
    precise near zero (float32 would otherwise lose the digits of small values).
    """
    frac = _as_fraction(num_cycles, t, span)
    if frac is not None:
        n, s = frac
        period = s * span
        if is_int(t):
            k = _rem(_since(t, start), period)
        else:  # reduce before subtracting: past 2**24 a float t - start would round
            k = _rem(_rem(t, period) + (period - start % period), period)
        return _cos2(_rem(k * n, period), period)
    k = _since(t, start)
    if isinstance(num_cycles, float) and num_cycles == 0.5 and not (is_int(k) and span > imax(k)):
        # One half-wave, too long for the integer phase: (1 + cos(pi k / span)) / 2 =
        # sin(pi / 2 * (span - k) / span) ** 2 for every k, with span - k exact; sin**2 is
        # even, so |span - k| (no unsigned wrap-around past the end).
        c = const(k, span)
        return jnp.sin(fl(jnp.where(k <= c, c - k, k - c)) * (math.pi / 2 / span)) ** 2
    # A traced or irregular num_cycles: the phase num_cycles * k / span has period 1, so reduce
    # num_cycles * k modulo span first (cos never sees a large argument), then take
    # (1 + cos(2 pi x)) / 2 = sin(pi (span - 2 r) / (2 span)) ** 2, which does not cancel near 0.
    r = jnp.remainder(num_cycles * fl(k), span)
    return shape.sin_squared(math.pi * (span - 2.0 * r) / (2 * span))


def _warmed(t: jax.Array, w: int, warm: jax.Array, after: jax.Array) -> jax.Array:
    return after if w == 0 else jnp.where(reached(t, w), after, warm)


# --------------------------------------------------------------------- constant, linear
@schedule_class
class get_constant_schedule(Recipe):  # noqa: N801 - transformers' name
    """The constant ``lr``: ``lr(t) = lr``, ``js.constant(lr)``.

    Args:
      lr: the optimizer's learning rate, the value at every step, a real number >= 0
        (may be traced).

    >>> from jaxsched import hf
    >>> print(f"{hf.get_constant_schedule(0.1)(1000):.2f}")
    0.10
    """

    lr: Any = hyper(check.lr)

    def _build(self) -> Schedule:
        return constant(self.lr)


@schedule_class
class get_constant_schedule_with_warmup(Recipe):  # noqa: N801
    """Linear warmup from 0 to ``lr`` over ``num_warmup_steps``, then ``lr``.

    ``lr(t) = lr * t / max(1, num_warmup_steps)`` for ``t < num_warmup_steps``,
    then ``lr``: ``js.warmup_constant(lr, num_warmup_steps)``.

    Args:
      lr: the optimizer's learning rate (the peak), a real number >= 0 (may be traced);
        pass the number, not the optimizer.
      num_warmup_steps: the linear warmup's length in steps, an int >= 0.

    >>> from jaxsched import hf
    >>> s = hf.get_constant_schedule_with_warmup(0.1, num_warmup_steps=10)
    >>> print(f"{s(5):.3f} {s(10):.3f}")
    0.050 0.100
    """

    lr: Any = hyper(check.lr)
    num_warmup_steps: int = static(check.nonneg_int)

    def _build(self) -> Schedule:
        return warmup_constant(self.lr, self.num_warmup_steps)


@schedule_class
class get_linear_schedule_with_warmup(Recipe):  # noqa: N801
    """Linear warmup from 0 to ``lr``, then linear decay to 0 at ``num_training_steps``.

    ``lr(t) = lr * t / max(1, w)`` for ``t < w``, else
    ``lr * max(0, (n - t) / max(1, n - w))`` (``w = num_warmup_steps``,
    ``n = num_training_steps``): ``js.warmup_linear(lr, w, n)``, 0 after ``n``.
    HF's quirk, reproduced: with ``w >= n`` the warmup runs to its end and the
    LR then drops to 0.

    Args:
      lr: the optimizer's learning rate (the peak), a real number >= 0 (may be traced);
        pass the number, not the optimizer.
      num_warmup_steps: the linear warmup's length in steps, an int >= 0.
      num_training_steps: the whole run's length in steps, warmup included, a
        positive int.

    >>> from jaxsched import hf
    >>> s = hf.get_linear_schedule_with_warmup(0.1, num_warmup_steps=10, num_training_steps=110)
    >>> print(f"{s(5):.3f} {s(60):.3f} {s(200):.3f}")
    0.050 0.050 0.000
    """

    lr: Any = hyper(check.lr)
    num_warmup_steps: int = static(check.nonneg_int)
    num_training_steps: int = static(check.positive_int)

    def _build(self) -> Schedule:
        w, n = self.num_warmup_steps, self.num_training_steps
        if w < n:
            return warmup_linear(self.lr, w, n)
        return join([linear(0.0, self.lr, w), constant(0.0)], [w])


# --------------------------------------------------------------------- cosines
@schedule_class
class get_cosine_schedule_with_warmup(Recipe):  # noqa: N801
    """Linear warmup from 0 to ``lr``, then a cosine of ``num_cycles`` waves.

    ``lr(t) = lr * t / max(1, w)`` for ``t < w``, else
    ``lr * 0.5 * (1 + cos(pi * num_cycles * 2 * p))``,
    ``p = (t - w) / max(1, n - w)``. With the default ``num_cycles=0.5`` this is
    ``js.warmup_cosine(lr, w, n)`` up to ``n``; HF does not clamp ``p``, so past
    ``num_training_steps`` the LR rises again (the cosine goes on), and that is
    reproduced. Decay to a floor with ``get_cosine_with_min_lr_schedule_with_warmup``.

    Args:
      lr: the optimizer's learning rate (the peak), a real number >= 0 (may be traced);
        pass the number, not the optimizer.
      num_warmup_steps: the linear warmup's length in steps, an int >= 0.
      num_training_steps: the whole run's length in steps, warmup included, a
        positive int.
      num_cycles: the number of cosine waves after the warmup, a real number >= 0;
        the default 0.5 is a half wave from ``lr`` down to 0.

    >>> from jaxsched import hf
    >>> s = hf.get_cosine_schedule_with_warmup(0.1, num_warmup_steps=10, num_training_steps=110)
    >>> print(f"{s(5):.3f} {s(60):.3f} {s(110):.3f} {s(160):.3f}")
    0.050 0.050 0.000 0.050
    """

    lr: Any = hyper(check.lr)
    num_warmup_steps: int = static(check.nonneg_int)
    num_training_steps: int = static(check.positive_int)
    num_cycles: Any = hyper(check.nonneg, default=0.5, specialize=True)

    def _horizon(self) -> int:
        return self.num_training_steps  # planned; HF's cosine goes on past it (describe warns)

    def _eval(self, t: jax.Array) -> jax.Array:
        w, n = self.num_warmup_steps, self.num_training_steps
        factor = _half_cosine(t, w, max(1, n - w), self.num_cycles)
        return self.lr * _warmed(t, w, _ramp(t, w), jnp.maximum(0.0, factor))


@schedule_class
class get_cosine_with_hard_restarts_schedule_with_warmup(Recipe):  # noqa: N801
    """Linear warmup, then ``num_cycles`` cosine decays from ``lr`` to 0, each
    restarting at ``lr``; 0 from ``num_training_steps`` on.

    ``lr(t) = lr * t / max(1, w)`` for ``t < w``; with
    ``p = (t - w) / max(1, n - w)``: ``lr * 0.5 * (1 + cos(pi * ((num_cycles * p) % 1)))``
    while ``p < 1``, then 0. The core equivalent (for an integer ``num_cycles``
    dividing ``n - w``) is ``js.warmup(js.repeat(js.cosine(lr, 0.0, k), k), w)``
    with ``k = (n - w) // num_cycles``, until ``n``.

    Args:
      lr: the optimizer's learning rate (the peak), a real number >= 0 (may be traced);
        pass the number, not the optimizer.
      num_warmup_steps: the linear warmup's length in steps, an int >= 0.
      num_training_steps: the whole run's length in steps, warmup included, a
        positive int.
      num_cycles: the number of decays from ``lr`` to 0 after the warmup, each
        restarting at ``lr``, a real number >= 0; default 1.0.

    >>> from jaxsched import hf
    >>> s = hf.get_cosine_with_hard_restarts_schedule_with_warmup(
    ...     0.1, num_warmup_steps=0, num_training_steps=100, num_cycles=2)
    >>> print(f"{s(25):.3f} {s(50):.3f} {s(75):.3f} {s(100):.3f}")
    0.050 0.100 0.050 0.000
    """

    lr: Any = hyper(check.lr)
    num_warmup_steps: int = static(check.nonneg_int)
    num_training_steps: int = static(check.positive_int)
    num_cycles: Any = hyper(check.nonneg, default=1.0, specialize=True)

    def _horizon(self) -> int:
        return self.num_training_steps  # 0 from there on

    def _eval(self, t: jax.Array) -> jax.Array:
        w, n = self.num_warmup_steps, self.num_training_steps
        span, k = max(1, n - w), since(t, w)
        frac = _as_fraction(self.num_cycles, k, span)
        if frac is not None and frac[1] == 1:  # an int num_cycles: restarts decided in ints
            # cos(pi m / span / 2) ** 2 = cos(pi m / (2 span)) ** 2
            m = _rem(_rem(k, span) * frac[0], span)
            factor = _cos2(m, 2 * span)
        else:  # HF's float arithmetic: (num_cycles * p) % 1
            frac = jnp.remainder(self.num_cycles * (fl(k) / span), 1.0)
            factor = jnp.maximum(0.0, 0.5 * (1.0 + jnp.cos(math.pi * frac)))
        factor = jnp.where(reached(t, w + span), 0.0, factor)
        return self.lr * _warmed(t, w, _ramp(t, w), factor)


def _min_rate(fn: str, lr: Any, min_lr: Any, min_lr_rate: Any) -> None:
    if min_lr is not None and min_lr_rate is not None:
        raise ValueError(f"{fn}: give one of `min_lr` and `min_lr_rate`, not both; got "
                         f"min_lr={min_lr!r}, min_lr_rate={min_lr_rate!r}.")
    if min_lr is None and min_lr_rate is None:
        raise ValueError(f"{fn}: give `min_lr` (the floor) or `min_lr_rate` (the floor as a "
                         "fraction of lr).")
    if min_lr is not None and isinstance(lr, float) and isinstance(min_lr, float):
        if lr <= 0.0 or min_lr > lr:
            raise ValueError(f"{fn}: needs 0 <= min_lr <= lr (HF uses min_lr / lr), got "
                             f"lr={lr!r}, min_lr={min_lr!r}.")


@dataclasses.dataclass(frozen=True, repr=False, eq=True)
class _CosineToFloor(Recipe):
    """What HF's two min-lr cosines share: their arguments, the floor check and the decay
    ``lr * max(0, c * (1 - r) + r)``; they differ in the warmup and in where ``p`` counts from."""

    lr: Any = hyper(check.lr)
    num_warmup_steps: int = static(check.nonneg_int)
    num_training_steps: int = static(check.positive_int)
    num_cycles: Any = hyper(check.nonneg, default=0.5, specialize=True)
    min_lr: Any = hyper(check.optional(check.lr), default=None)
    min_lr_rate: Any = hyper(check.optional(check.unit_interval), default=None)
    _offset: ClassVar[int] = 0  # p = (t - w + _offset) / max(1, n - w)

    def _check(self) -> None:
        _min_rate(type(self).__name__, self.lr, self.min_lr, self.min_lr_rate)

    def _warm(self, t: jax.Array) -> jax.Array:
        return _ramp(t, self.num_warmup_steps)

    def _horizon(self) -> int:
        return self.num_training_steps  # planned; HF's cosine goes on past it (describe warns)

    def _eval(self, t: jax.Array) -> jax.Array:
        w, n = self.num_warmup_steps, self.num_training_steps
        floor = self.lr * self.min_lr_rate if self.min_lr is None else self.min_lr
        c = _half_cosine(t, w - self._offset, max(1, n - w), self.num_cycles)
        # HF's lr * max(0, c * (1 - r) + r), r = floor / lr, anchored at the floor: nothing
        # cancels near it, and it is exactly min_lr (lr * min_lr_rate) where c is 0.
        decay = floor + (self.lr - floor) * jnp.maximum(c, 0.0)
        return _warmed(t, w, self.lr * self._warm(t), decay)


@schedule_class
class get_cosine_with_min_lr_schedule_with_warmup(_CosineToFloor):  # noqa: N801
    """Linear warmup from 0 to ``lr``, then a cosine down to a floor.

    With ``r = min_lr_rate`` (or ``min_lr / lr``): ``lr(t) = lr * t / max(1, w)``
    for ``t < w``, else ``lr * max(0, c * (1 - r) + r)``,
    ``c = 0.5 * (1 + cos(pi * num_cycles * 2 * p))``, ``p = (t - w) / max(1, n - w)``.
    With ``num_cycles=0.5`` this is ``js.warmup_cosine(lr, w, n, end=r * lr)`` up
    to ``n``; HF does not clamp ``p``, so past the end the LR rises again
    (reproduced). Give exactly one of ``min_lr`` and ``min_lr_rate``.

    Args:
      lr: the optimizer's learning rate (the peak), a real number >= 0 (may be traced);
        pass the number, not the optimizer.
      num_warmup_steps: the linear warmup's length in steps, an int >= 0.
      num_training_steps: the whole run's length in steps, warmup included, a
        positive int.
      num_cycles: the number of cosine waves after the warmup, a real number >= 0;
        the default 0.5 is a half wave from ``lr`` down to the floor.
      min_lr: the floor, a real number in [0, lr]; give it or ``min_lr_rate``.
      min_lr_rate: the floor as a fraction of ``lr``, in [0, 1]; give it or ``min_lr``.

    >>> from jaxsched import hf
    >>> s = hf.get_cosine_with_min_lr_schedule_with_warmup(
    ...     0.1, num_warmup_steps=10, num_training_steps=110, min_lr=0.01)
    >>> print(f"{s(60):.3f} {s(110):.3f}")
    0.055 0.010
    """


@schedule_class
class get_cosine_with_min_lr_schedule_with_warmup_lr_rate(_CosineToFloor):  # noqa: N801
    """``get_cosine_with_min_lr_schedule_with_warmup`` with HF's shifted steps and a
    warmup start.

    For ``t < w``: ``lr(t) = lr * (t + 1) / max(1, w)`` or, with ``warmup_lr_rate=q``,
    ``lr * (q + (1 - q) * t / max(1, w - 1))``; then ``lr * max(0, c * (1 - r) + r)``
    with ``c = 0.5 * (1 + cos(pi * num_cycles * 2 * p))``,
    ``p = (t - w + 1) / max(1, n - w)`` (unclamped: the LR rises again past the
    end, as in HF).

    Args:
      lr: the optimizer's learning rate (the peak), a real number >= 0 (may be traced);
        pass the number, not the optimizer.
      num_warmup_steps: the linear warmup's length in steps, an int >= 0.
      num_training_steps: the whole run's length in steps, warmup included, a
        positive int.
      num_cycles: the number of cosine waves after the warmup, a real number >= 0;
        the default 0.5 is a half wave from ``lr`` down to the floor.
      min_lr: the floor, a real number in [0, lr]; give it or ``min_lr_rate``.
      min_lr_rate: the floor as a fraction of ``lr``, in [0, 1]; give it or ``min_lr``.
      warmup_lr_rate: the warmup's first value as a fraction of ``lr``, in [0, 1], or
        None (the default: the warmup starts at ``lr / num_warmup_steps``).

    >>> from jaxsched import hf
    >>> s = hf.get_cosine_with_min_lr_schedule_with_warmup_lr_rate(
    ...     0.1, num_warmup_steps=10, num_training_steps=110, min_lr_rate=0.1)
    >>> print(f"{s(0):.3f} {s(109):.3f}")
    0.010 0.010
    """

    warmup_lr_rate: Any = hyper(check.optional(check.unit_interval), default=None)
    _offset = 1

    def _warm(self, t: jax.Array) -> jax.Array:
        w, q = self.num_warmup_steps, self.warmup_lr_rate
        if q is None:
            return (fl(t) + 1.0) / max(1, w)
        return q + (1.0 - q) * fl(t) / max(1, w - 1)


# --------------------------------------------------------------------- polynomial, inverse sqrt
@schedule_class
class get_polynomial_decay_schedule_with_warmup(Recipe):  # noqa: N801
    """Linear warmup from 0 to ``lr``, then polynomial decay to ``lr_end`` at
    ``num_training_steps``, then ``lr_end``.

    ``lr(t) = (lr - lr_end) * (1 - (t - w) / (n - w)) ** power + lr_end`` after the
    warmup: ``js.warmup_polynomial(lr, w, n, end=lr_end, power=power)``. As in HF,
    ``lr_end`` must be below ``lr``; ``num_training_steps`` must exceed
    ``num_warmup_steps`` (HF divides by zero otherwise) and ``power`` be > 0.

    Args:
      lr: the optimizer's learning rate (the peak), a real number >= 0 (may be traced);
        pass the number, not the optimizer.
      num_warmup_steps: the linear warmup's length in steps, an int >= 0.
      num_training_steps: the whole run's length in steps, warmup included, an int >
        ``num_warmup_steps``.
      lr_end: the value reached at ``num_training_steps`` and held, a real number >= 0
        below ``lr``; default 1e-7.
      power: the power of the decay's remaining fraction, a real number > 0; default
        1.0 (linear).

    >>> from jaxsched import hf
    >>> s = hf.get_polynomial_decay_schedule_with_warmup(
    ...     1.0, num_warmup_steps=10, num_training_steps=20, lr_end=0.0, power=2.0)
    >>> print(f"{s(5):.2f} {s(15):.2f} {s(30):.2f}")
    0.50 0.25 0.00
    """

    lr: Any = hyper(check.lr)
    num_warmup_steps: int = static(check.nonneg_int)
    num_training_steps: int = static(check.positive_int)
    lr_end: Any = hyper(check.lr, default=1e-7)
    power: Any = hyper(check.positive, default=1.0, specialize=True)

    def _check(self) -> None:
        fn, w, n = type(self).__name__, self.num_warmup_steps, self.num_training_steps
        if isinstance(self.lr, float) and isinstance(self.lr_end, float) \
                and not self.lr > self.lr_end:
            raise ValueError(f"{fn}: `lr_end` must be smaller than lr, got lr_end="
                             f"{self.lr_end!r}, lr={self.lr!r}.")
        if n <= w:
            raise ValueError(f"{fn}: needs num_training_steps > num_warmup_steps (HF divides by "
                             f"zero otherwise), got num_training_steps={n}, "
                             f"num_warmup_steps={w}.")

    def _build(self) -> Schedule:
        return warmup_polynomial(self.lr, self.num_warmup_steps, self.num_training_steps,
                                 end=self.lr_end, power=self.power)


@schedule_class
class get_inverse_sqrt_schedule(Recipe):  # noqa: N801
    """Linear warmup from 0 to ``lr``, then inverse-square-root decay.

    ``lr(t) = lr * t / max(1, w)`` for ``t < w``, else
    ``lr / sqrt((t - w + timescale) / timescale)``; ``timescale`` defaults to
    ``num_warmup_steps``, or 10,000 when that is 0 (HF's default):
    ``js.inverse_sqrt(lr, w, timescale)``.

    Args:
      lr: the optimizer's learning rate (the peak), a real number >= 0 (may be traced);
        pass the number, not the optimizer.
      num_warmup_steps: the linear warmup's length in steps, an int >= 0.
      timescale: the decay's scale in steps, a positive int, or None (the default):
        ``num_warmup_steps``, or 10,000 when that is 0.

    >>> from jaxsched import hf
    >>> s = hf.get_inverse_sqrt_schedule(0.1, num_warmup_steps=100)
    >>> print(f"{s(50):.3f} {s(100):.3f} {s(400):.3f}")
    0.050 0.100 0.050
    """

    lr: Any = hyper(check.lr)
    num_warmup_steps: int = static(check.nonneg_int)
    timescale: int | None = static(check.optional(check.positive_int), default=None)

    def _build(self) -> Schedule:
        w = self.num_warmup_steps
        timescale = self.timescale if self.timescale is not None else (w or 10_000)
        return inverse_sqrt(self.lr, w, timescale=timescale)


# --------------------------------------------------------------------- wsd
@schedule_class
class get_wsd_schedule(Recipe):  # noqa: N801
    """Warmup-stable-decay as HF computes it, every warmup and decay type.

    With ``r = min_lr_ratio``, ``w = num_warmup_steps``, ``s = num_stable_steps``
    (default ``num_training_steps - w - num_decay_steps``),
    ``d = num_decay_steps``, each factor ``f`` below becomes ``max(0, f * (1 - r) + r)``:

    * ``t < w``: ``p = t / max(1, w)``, ``f = p`` (``warmup_type='linear'``),
      ``0.5 * (1 - cos(pi * p))`` (``'cosine'``) or ``1 - sqrt(1 - p)`` (``'1-sqrt'``);
    * ``t < w + s``: 1;
    * ``t < w + s + d``: ``p = (t - w - s) / max(1, d)``, ``f = 1 - p``
      (``decay_type='linear'``), ``0.5 * (1 + cos(pi * num_cycles * 2 * p))``
      (``'cosine'``) or ``1 - sqrt(p)`` (``'1-sqrt'``);
    * after: ``r``.

    The LR is ``lr(t) = lr * f``. With a linear warmup and ``num_cycles=0.5`` this is
    ``js.wsd(lr, total_steps=w + s + d, warmup_steps=w, decay_steps=d, start=r * lr,
    end=r * lr, shape=decay_type)``. HF's
    quirks, reproduced: the warmup starts from ``r * lr``, not 0; ``num_cycles=1``
    climbs back to ``lr`` and then drops to the floor. If both
    ``num_training_steps`` and ``num_stable_steps`` are given, HF uses
    ``num_stable_steps`` and warns; so does this. A stable phase that would be
    negative (``num_training_steps < num_warmup_steps + num_decay_steps``),
    where HF silently starts the decay midway, is rejected.

    Args:
      lr: the optimizer's learning rate (the peak), a real number >= 0 (may be traced);
        pass the number, not the optimizer.
      num_warmup_steps: the warmup's length in steps, an int >= 0.
      num_decay_steps: the final decay's length in steps, an int >= 0.
      num_training_steps: the whole run's length in steps, an int >=
        ``num_warmup_steps + num_decay_steps``, or None; give it or ``num_stable_steps``.
      num_stable_steps: the stable phase's length in steps, an int >= 0, or None (the
        default: the rest of ``num_training_steps``); it wins if both are given.
      warmup_type: the warmup's shape: ``'linear'`` (the default), ``'cosine'`` or
        ``'1-sqrt'``.
      decay_type: the decay's shape: ``'cosine'`` (the default), ``'linear'`` or
        ``'1-sqrt'``.
      min_lr_ratio: the floor as a fraction of ``lr`` (where the warmup starts and the
        decay ends), in [0, 1]; default 0.0.
      num_cycles: the cosine decay's number of waves, a real number >= 0; the default
        0.5 is a half wave.

    >>> from jaxsched import hf
    >>> s = hf.get_wsd_schedule(0.1, num_warmup_steps=10, num_decay_steps=20,
    ...                         num_training_steps=100)
    >>> print(f"{s(5):.3f} {s(50):.3f} {s(90):.3f} {s(100):.3f}")
    0.050 0.100 0.050 0.000
    """

    lr: Any = hyper(check.lr)
    num_warmup_steps: int = static(check.nonneg_int)
    num_decay_steps: int = static(check.nonneg_int)
    num_training_steps: int | None = static(check.optional(check.nonneg_int), default=None)
    num_stable_steps: int | None = static(check.optional(check.nonneg_int), default=None)
    warmup_type: str = static(check.one_of(*_TYPES), default="linear")
    decay_type: str = static(check.one_of(*_TYPES), default="cosine")
    min_lr_ratio: Any = hyper(check.unit_interval, default=0.0)
    num_cycles: Any = hyper(check.nonneg, default=0.5, specialize=True)

    def _check(self) -> None:
        fn = type(self).__name__
        n, s = self.num_training_steps, self.num_stable_steps
        if n is None and s is None:
            raise ValueError(f"{fn}: give `num_training_steps` or `num_stable_steps`.")
        if n is not None and s is not None:
            check.warn(f"{fn}: both num_training_steps and num_stable_steps are given; "
                       "num_stable_steps is used (as in transformers).")
        if s is None and n < self.num_warmup_steps + self.num_decay_steps:
            raise ValueError(
                f"{fn}: needs num_training_steps >= num_warmup_steps + num_decay_steps, got "
                f"{n} < {self.num_warmup_steps} + {self.num_decay_steps} (HF would start the "
                "decay midway).")

    def _stable(self) -> int:
        if self.num_stable_steps is not None:
            return self.num_stable_steps
        return self.num_training_steps - self.num_warmup_steps - self.num_decay_steps

    def _eval(self, t: jax.Array) -> jax.Array:
        w, s, d, lr = self.num_warmup_steps, self._stable(), self.num_decay_steps, self.lr
        # Each factor f from the remaining steps (an exact integer difference) where HF's
        # 1 - x would cancel: 1 - sqrt(1 - p) = p / (1 + sqrt(1 - p)), 1 - q, 1 - sqrt(q).
        left, done = shape.remaining(t, w)  # overflow-safe for w beyond the step dtype
        up = {"linear": lambda: shape.linear(done, left, max(1, w)),
              "cosine": lambda: shape.cosine(done, left, max(1, w)),
              "1-sqrt": lambda: shape.one_minus_sqrt(done, left, max(1, w))}[self.warmup_type]()
        k = since(t, w + s)
        left, done = shape.remaining(k, d)
        down = {"linear": lambda: shape.linear(left, done, max(1, d)),
                "cosine": lambda: _half_cosine(k, 0, max(1, d), self.num_cycles),
                "1-sqrt": lambda: shape.one_minus_sqrt(left, done, max(1, d))}[self.decay_type]()
        # HF's lr * max(0, f * (1 - r) + r), anchored at the floor lr * r (f >= 0 here):
        # exactly lr * r once decayed.
        floor = lr * self.min_lr_ratio
        lift = lambda f: floor + (lr - floor) * f  # noqa: E731
        out = jnp.where(reached(t, w + s + d), floor, lift(down))
        out = jnp.where(reached(t, w + s), out, lr)
        return _warmed(t, w, lift(up), out)


# --------------------------------------------------------------------- by name
# transformers' SchedulerType names, as get_scheduler accepts them.
_BY_NAME: dict[str, type] = {
    "linear": get_linear_schedule_with_warmup,
    "cosine": get_cosine_schedule_with_warmup,
    "cosine_with_restarts": get_cosine_with_hard_restarts_schedule_with_warmup,
    "polynomial": get_polynomial_decay_schedule_with_warmup,
    "constant": get_constant_schedule,
    "constant_with_warmup": get_constant_schedule_with_warmup,
    "inverse_sqrt": get_inverse_sqrt_schedule,
    "cosine_with_min_lr": get_cosine_with_min_lr_schedule_with_warmup,
    "cosine_warmup_with_min_lr": get_cosine_with_min_lr_schedule_with_warmup_lr_rate,
    "warmup_stable_decay": get_wsd_schedule,
}


def get_scheduler(name: str, lr: Any, num_warmup_steps: int | None = None,
                  num_training_steps: int | None = None,
                  scheduler_specific_kwargs: dict[str, Any] | None = None) -> Any:
    """The schedule transformers' ``get_scheduler`` builds for ``name`` (``lr`` for the optimizer).

    Dispatches as transformers does: ``'constant'`` takes nothing else;
    ``'reduce_lr_on_plateau'`` passes ``scheduler_specific_kwargs`` to PyTorch's
    ``ReduceLROnPlateau`` (a stateful schedule: feed it with ``js.report``); every other
    name needs ``num_warmup_steps``; all but ``'constant_with_warmup'``,
    ``'inverse_sqrt'`` and ``'warmup_stable_decay'`` need ``num_training_steps``; and
    ``scheduler_specific_kwargs`` go to the schedule (``num_cycles``, ``lr_end``, ...).

    Args:
      name: one of transformers' ``SchedulerType`` values: ``'linear'``, ``'cosine'``,
        ``'cosine_with_restarts'``, ``'polynomial'``, ``'constant'``,
        ``'constant_with_warmup'``, ``'inverse_sqrt'``, ``'reduce_lr_on_plateau'``,
        ``'cosine_with_min_lr'``, ``'cosine_warmup_with_min_lr'``, ``'warmup_stable_decay'``.
      lr: the optimizer's learning rate (transformers takes the optimizer here).
      num_warmup_steps: warmup length, where the schedule has one.
      num_training_steps: the run's length, where the schedule needs it.
      scheduler_specific_kwargs: extra keyword arguments of the schedule.

    Raises:
      ValueError: for an unknown name (``'greedy'`` is not supported: it is not a function
        of the step), or a missing length that ``name`` needs.

    >>> from jaxsched import hf
    >>> s = hf.get_scheduler("cosine", 0.1, num_warmup_steps=10, num_training_steps=110)
    >>> s == hf.get_cosine_schedule_with_warmup(0.1, 10, 110)
    True
    """
    fn = "get_scheduler"
    extra = dict(scheduler_specific_kwargs or {})
    if name == "reduce_lr_on_plateau":
        from .pytorch import ReduceLROnPlateau

        return ReduceLROnPlateau(lr, **extra)
    if name not in _BY_NAME:
        known = ", ".join(repr(k) for k in (*_BY_NAME, "reduce_lr_on_plateau"))
        why = (" ('greedy' adapts to the loss, so it is not a function of the step)"
               if name == "greedy" else "")
        raise ValueError(f"{fn}: `name` must be one of {known}, got {name!r}{why}.")
    cls = _BY_NAME[name]
    if name == "constant":
        return cls(lr)
    if num_warmup_steps is None:
        raise ValueError(f"{fn}: {name!r} requires `num_warmup_steps`; pass it.")
    if name in ("constant_with_warmup", "inverse_sqrt"):
        return cls(lr, num_warmup_steps=num_warmup_steps, **extra)
    if name == "warmup_stable_decay":
        return cls(lr, num_warmup_steps=num_warmup_steps, num_training_steps=num_training_steps,
                   **extra)
    if num_training_steps is None:
        raise ValueError(f"{fn}: {name!r} requires `num_training_steps`; pass it.")
    return cls(lr, num_warmup_steps=num_warmup_steps, num_training_steps=num_training_steps,
               **extra)


def __dir__() -> list[str]:
    return list(__all__)
