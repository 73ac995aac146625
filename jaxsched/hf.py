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
import warnings
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
from jax import lax

from . import _checks as check
from ._curves import constant, inverse_sqrt, linear
from ._join import join
from ._recipes import warmup_constant, warmup_linear, warmup_polynomial
from ._schedule import Recipe, Schedule, hyper, schedule_class, static
from ._steps import fl, is_int, reached, since

__all__ = [
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


def _nonneg(fn: str, name: str, value: Any) -> Any:
    return check.number(fn, name, value, min=0.0)


def _ratio(fn: str, name: str, value: Any) -> Any:
    return check.number(fn, name, value, min=0.0, max=1.0)


def _ramp(t: jax.Array, w: int) -> jax.Array:
    """HF's warmup factor ``t / max(1, w)``."""
    return fl(t) / max(1, w)


def _cos2(m: jax.Array, span: int) -> jax.Array:
    """``cos(pi * m / span) ** 2`` for ``0 <= m < span``, written as
    ``sin(pi * (span - 2 m) / (2 span)) ** 2``: ``span - 2 m`` is exact, so values near
    zero keep their relative precision (``1 + cos`` would cancel in float32)."""
    if jnp.issubdtype(m.dtype, jnp.unsignedinteger):  # span - 2 m < 0 must not wrap
        m = m.astype(jnp.int32)  # m < span < 2**30 (see _as_fraction)
    return jnp.sin(math.pi * fl(span - 2 * m) / (2 * span)) ** 2


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


def _mod(k: jax.Array, period: int) -> jax.Array:
    """``k % period`` for ``k >= 0``; exact for float steps too (fmod is exact), so a float
    step past 2**24 keeps its phase: ``cos(pi * k / span)`` would round ``k / span``."""
    return k % period if is_int(k) else lax.rem(k, jnp.asarray(period, k.dtype))


def _half_cosine(k: jax.Array, span: int, num_cycles: Any) -> jax.Array:
    """HF's ``0.5 * (1 + cos(pi * num_cycles * 2 * k / span))``, unclamped in ``k``.

    When ``num_cycles = n / s`` for small ints and the step is an int, the phase
    ``n k / (s span)`` is reduced modulo 1 in integer arithmetic: exact at any step and
    precise near zero (float32 would otherwise lose the digits of small values).
    """
    frac = _as_fraction(num_cycles, k, span)
    if frac is not None:
        n, s = frac
        period = s * span
        return _cos2(_mod(_mod(k, period) * n, period), period)
    return 0.5 * (1.0 + jnp.cos(math.pi * num_cycles * 2.0 * (fl(k) / span)))


def _warmed(t: jax.Array, w: int, warm: jax.Array, after: jax.Array) -> jax.Array:
    return after if w == 0 else jnp.where(reached(t, w), after, warm)


# --------------------------------------------------------------------- constant, linear
@schedule_class
class get_constant_schedule(Recipe):  # noqa: N801 - transformers' name
    """The constant ``lr``: ``js.constant(lr)``.

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

    >>> from jaxsched import hf
    >>> s = hf.get_cosine_schedule_with_warmup(0.1, num_warmup_steps=10, num_training_steps=110)
    >>> print(f"{s(5):.3f} {s(60):.3f} {s(110):.3f} {s(160):.3f}")
    0.050 0.050 0.000 0.050
    """

    lr: Any = hyper(check.lr)
    num_warmup_steps: int = static(check.nonneg_int)
    num_training_steps: int = static(check.positive_int)
    num_cycles: float = static(_nonneg, default=0.5)

    def _eval(self, t: jax.Array) -> jax.Array:
        w, n = self.num_warmup_steps, self.num_training_steps
        factor = _half_cosine(since(t, w), max(1, n - w), self.num_cycles)
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

    >>> from jaxsched import hf
    >>> s = hf.get_cosine_with_hard_restarts_schedule_with_warmup(
    ...     0.1, num_warmup_steps=0, num_training_steps=100, num_cycles=2)
    >>> print(f"{s(25):.3f} {s(50):.3f} {s(75):.3f} {s(100):.3f}")
    0.050 0.100 0.050 0.000
    """

    lr: Any = hyper(check.lr)
    num_warmup_steps: int = static(check.nonneg_int)
    num_training_steps: int = static(check.positive_int)
    num_cycles: float = static(_nonneg, default=1.0)

    def _eval(self, t: jax.Array) -> jax.Array:
        w, n = self.num_warmup_steps, self.num_training_steps
        span, k = max(1, n - w), since(t, w)
        frac = _as_fraction(self.num_cycles, k, span)
        if frac is not None and frac[1] == 1:  # an int num_cycles: restarts decided in ints
            # cos(pi m / span / 2) ** 2 = cos(pi m / (2 span)) ** 2
            m = _mod(_mod(k, span) * frac[0], span)
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
    num_cycles: float = static(_nonneg, default=0.5)
    min_lr: Any = hyper(check.optional(check.lr), default=None)
    min_lr_rate: Any = hyper(check.optional(_ratio), default=None)
    _offset: ClassVar[int] = 0  # p = (t - w + _offset) / max(1, n - w)

    def _check(self) -> None:
        _min_rate(type(self).__name__, self.lr, self.min_lr, self.min_lr_rate)

    def _warm(self, t: jax.Array) -> jax.Array:
        return _ramp(t, self.num_warmup_steps)

    def _eval(self, t: jax.Array) -> jax.Array:
        w, n = self.num_warmup_steps, self.num_training_steps
        r = self.min_lr_rate if self.min_lr is None else self.min_lr / self.lr
        c = _half_cosine(since(t, w) + self._offset, max(1, n - w), self.num_cycles)
        return self.lr * _warmed(t, w, self._warm(t), jnp.maximum(0.0, c * (1 - r) + r))


@schedule_class
class get_cosine_with_min_lr_schedule_with_warmup(_CosineToFloor):  # noqa: N801
    """Linear warmup from 0 to ``lr``, then a cosine down to a floor.

    With ``r = min_lr_rate`` (or ``min_lr / lr``): ``lr(t) = lr * t / max(1, w)``
    for ``t < w``, else ``lr * max(0, c * (1 - r) + r)``,
    ``c = 0.5 * (1 + cos(pi * num_cycles * 2 * p))``, ``p = (t - w) / max(1, n - w)``.
    With ``num_cycles=0.5`` this is ``js.warmup_cosine(lr, w, n, end=r * lr)`` up
    to ``n``; HF does not clamp ``p``, so past the end the LR rises again
    (reproduced). Give exactly one of ``min_lr`` and ``min_lr_rate``.

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

    For ``t < w``: ``lr * (t + 1) / max(1, w)`` or, with ``warmup_lr_rate=q``,
    ``lr * (q + (1 - q) * t / max(1, w - 1))``; then ``lr * max(0, c * (1 - r) + r)``
    with ``c = 0.5 * (1 + cos(pi * num_cycles * 2 * p))``,
    ``p = (t - w + 1) / max(1, n - w)`` (unclamped: the LR rises again past the
    end, as in HF).

    >>> from jaxsched import hf
    >>> s = hf.get_cosine_with_min_lr_schedule_with_warmup_lr_rate(
    ...     0.1, num_warmup_steps=10, num_training_steps=110, min_lr_rate=0.1)
    >>> print(f"{s(0):.3f} {s(109):.3f}")
    0.010 0.010
    """

    warmup_lr_rate: Any = hyper(check.optional(_ratio), default=None)
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
    power: float = static(check.positive, default=1.0)

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
        n = self.num_training_steps
        curve = warmup_polynomial(self.lr, self.num_warmup_steps, n, end=self.lr_end,
                                  power=self.power)
        return curve


@schedule_class
class get_inverse_sqrt_schedule(Recipe):  # noqa: N801
    """Linear warmup from 0 to ``lr``, then inverse-square-root decay.

    ``lr(t) = lr * t / max(1, w)`` for ``t < w``, else
    ``lr / sqrt((t - w + timescale) / timescale)``; ``timescale`` defaults to
    ``num_warmup_steps``, or 10,000 when that is 0 (HF's default):
    ``js.inverse_sqrt(lr, w, timescale)``.

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

    The LR is ``lr * f``. With a linear warmup and ``num_cycles=0.5`` this is
    ``js.wsd(lr, w, s, d, end=r * lr, start=r * lr, decay=decay_type)``. HF's
    quirks, reproduced: the warmup starts from ``r * lr``, not 0; ``num_cycles=1``
    climbs back to ``lr`` and then drops to the floor. If both
    ``num_training_steps`` and ``num_stable_steps`` are given, HF uses
    ``num_stable_steps`` and warns; so does this. A stable phase that would be
    negative (``num_training_steps < num_warmup_steps + num_decay_steps``),
    where HF silently starts the decay midway, is rejected.

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
    min_lr_ratio: Any = hyper(_ratio, default=0.0)
    num_cycles: float = static(_nonneg, default=0.5)

    def _check(self) -> None:
        fn = type(self).__name__
        n, s = self.num_training_steps, self.num_stable_steps
        if n is None and s is None:
            raise ValueError(f"{fn}: give `num_training_steps` or `num_stable_steps`.")
        if n is not None and s is not None:
            warnings.warn(f"{fn}: both num_training_steps and num_stable_steps are given; "
                          "num_stable_steps is used (as in transformers).", UserWarning,
                          stacklevel=4)
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
        w, s, d, r = self.num_warmup_steps, self._stable(), self.num_decay_steps, self.min_lr_ratio
        p = _ramp(t, w)
        up = {"linear": lambda: p, "cosine": lambda: 0.5 * (1.0 - jnp.cos(math.pi * p)),
              "1-sqrt": lambda: 1.0 - jnp.sqrt(jnp.maximum(1.0 - p, 0.0))}[self.warmup_type]()
        k = jnp.minimum(since(t, w + s), d)
        q = fl(k) / max(1, d)
        down = {"linear": lambda: 1.0 - q,
                "cosine": lambda: _half_cosine(k, max(1, d), self.num_cycles),
                "1-sqrt": lambda: 1.0 - jnp.sqrt(q)}[self.decay_type]()
        floor = lambda f: jnp.maximum(0.0, f * (1.0 - r) + r)  # noqa: E731
        out = jnp.where(reached(t, w + s + d), r, floor(down))
        out = jnp.where(reached(t, w + s), out, 1.0)
        return self.lr * _warmed(t, w, floor(up), out)


def __dir__() -> list[str]:
    return list(__all__)
