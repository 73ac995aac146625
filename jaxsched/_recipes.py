"""Named recipes: the schedules people ask for by name, built from curves and joins.

A recipe keeps its own arguments (so it prints, compares and saves as the call
that built it) and delegates evaluation to the composition it builds.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from . import _checks as check
from ._curves import DECAYS, constant, cosine, linear, polynomial
from ._join import join, repeat, warmup
from ._schedule import Recipe, Schedule, hyper, schedule_class, static


class _RunRecipe(Recipe):
    """A recipe that knows the length of the run: ``warmup_steps`` may be a fraction of it."""

    @property
    def _warmup(self) -> int:
        return check.resolve_steps(self.warmup_steps, self.total_steps)


def _check_total(fn: str, warmup_steps: int | float, total_steps: int) -> None:
    w = check.resolve_steps(warmup_steps, total_steps)
    if total_steps <= w:
        written = (f"{warmup_steps!r} (math.ceil({warmup_steps!r} * {total_steps}) = {w} steps)"
                   if isinstance(warmup_steps, float) else f"{w}")
        raise ValueError(f"{fn}: needs total_steps > warmup_steps (total_steps counts the "
                         f"warmup), got total_steps={total_steps}, warmup_steps={written}.")


def _warm(curve: Schedule, warmup_steps: int, start: Any) -> Schedule:
    return curve if warmup_steps == 0 else warmup(curve, warmup_steps, start)


@schedule_class
class interpolate(Recipe):
    """Interpolation between knots ``[(step, value), ...]``, held flat outside them.

    Between knots ``(s0, v0)`` and ``(s1, v1)``, with ``p = (t - s0) / (s1 - s0)``:
    ``lr(t) = v0 + (v1 - v0) * p`` (``shape='linear'``) or
    ``lr(t) = v1 + (v0 - v1) * (1 + cos(pi * p)) / 2`` (``shape='cosine'``); the first
    knot's value before it and the last knot's value from the last knot on.
    Knot steps are static, strictly increasing ints and the values are plain
    numbers (scale the whole curve by a traced factor to sweep it). Built as a ``join``
    of one ``linear`` or ``cosine`` per segment.

    Args:
      knots: ``(step, value)`` pairs, at least 2, with strictly increasing int steps
        >= 0 and plain-number values >= 0 (static); the value is held before the first
        and after the last knot.
      shape: how each segment blends its two knots: ``'linear'`` (the default) or
        ``'cosine'`` (a half cosine, flat at both knots).

    >>> import jaxsched as js
    >>> s = js.interpolate([(0, 0.0), (10, 1.0), (30, 0.0)])
    >>> print(f"{s(5):.2f} {s(20):.2f} {s(40):.2f}")
    0.50 0.50 0.00
    """

    knots: Sequence[tuple[int, float]] = static()
    shape: str = static(check.one_of("linear", "cosine"), default="linear")

    def _check(self) -> None:
        fn = "interpolate"
        if not isinstance(self.knots, list | tuple) or not all(
                isinstance(k, list | tuple) and len(k) == 2 for k in self.knots):
            raise TypeError(f"{fn}: `knots` must be a list of (step, value) pairs, "
                            f"got {self.knots!r}.")
        if len(self.knots) < 2:
            raise ValueError(f"{fn}: needs at least 2 knots, got {len(self.knots)}; "
                             "for a single value use constant(value).")
        steps = check.boundaries(fn, "knot steps", [k[0] for k in self.knots])
        values = [check.lr(fn, f"knots[{i}] value", k[1]) for i, k in enumerate(self.knots)]
        if not all(isinstance(v, float) for v in values):
            raise TypeError(f"{fn}: knot values must be plain numbers (they are static); "
                            "to sweep a traced peak, multiply: peak * interpolate(...).")
        object.__setattr__(self, "knots", tuple(zip(steps, values, strict=True)))

    def _build(self) -> Schedule:
        steps = [k[0] for k in self.knots]
        curve = cosine if self.shape == "cosine" else linear
        pieces = [curve(v0, v1, s1 - s0)
                  for (s0, v0), (s1, v1) in zip(self.knots, self.knots[1:], strict=False)]
        if steps[0] > 0:  # the first knot's value before it
            return join([constant(self.knots[0][1]), *pieces], steps[:-1])
        return join(pieces, steps[1:-1])


@schedule_class
class warmup_cosine(_RunRecipe):
    """Linear warmup from ``start`` to ``peak``, then cosine decay to ``end`` at ``total_steps``.

    ``lr(t) = start + (peak - start) * t / warmup_steps`` for ``t < warmup_steps``, then
    ``cosine(peak, end, total_steps - warmup_steps, exponent)(t - warmup_steps)``.
    ``total_steps`` includes the warmup. Equals
    ``optax.warmup_cosine_decay_schedule(start, peak, warmup_steps, total_steps, end, exponent)``
    and, with ``start=end=0``, Hugging Face's ``get_cosine_schedule_with_warmup``.

    ``warmup_steps`` may be a fraction of ``total_steps`` (a float in (0, 1)): it is
    resolved at construction to ``math.ceil(warmup_steps * total_steps)`` steps, Hugging
    Face's rule for ``warmup_ratio``, and the repr keeps the fraction as written.

    Args:
      peak: the value at the end of the warmup, a real number >= 0 (may be traced).
      warmup_steps: the warmup's length: an int >= 0 in steps, or a float in (0, 1)
        for a fraction of ``total_steps`` (static).
      total_steps: the whole run's length in steps, warmup included, an int >
        the warmup (static).
      start: the warmup's first value, >= 0 (may be traced); default 0.0.
      end: the floor the cosine reaches at ``total_steps`` and holds, >= 0 (may be
        traced); default 0.0.
      exponent: the power of the cosine factor, a real number > 0 (may be traced); the
        default 1.0 is the plain cosine (see ``js.cosine``).

    >>> import jaxsched as js
    >>> s = js.warmup_cosine(peak=1.0, warmup_steps=10, total_steps=110)
    >>> print(f"{s(5):.2f} {s(10):.2f} {s(60):.2f} {s(110):.2f}")
    0.50 1.00 0.50 0.00
    >>> s = js.warmup_cosine(peak=1.0, warmup_steps=0.05, total_steps=200)  # 10 steps
    >>> s
    warmup_cosine(peak=1.0, warmup_steps=0.05, total_steps=200)
    >>> print(f"{s(5):.2f} {s(10):.2f}")
    0.50 1.00
    """

    peak: Any = hyper(check.lr)
    warmup_steps: int | float = static(check.steps_or_fraction)
    total_steps: int = static(check.positive_int)
    start: Any = hyper(check.lr, default=0.0)
    end: Any = hyper(check.lr, default=0.0)
    exponent: Any = hyper(check.positive, default=1.0, specialize=True)

    def _check(self) -> None:
        _check_total("warmup_cosine", self.warmup_steps, self.total_steps)

    def _build(self) -> Schedule:
        w = self._warmup
        return _warm(cosine(self.peak, self.end, self.total_steps - w, self.exponent), w,
                     self.start)


@schedule_class
class warmup_linear(_RunRecipe):
    """Linear warmup from ``start`` to ``peak``, then linear decay to ``end`` at ``total_steps``.

    With ``w = warmup_steps`` and ``T = total_steps``:
    ``lr(t) = start + (peak - start) * t / w`` for ``t < w``, then
    ``lr(t) = end + (peak - end) * (T - t) / (T - w)`` for ``w <= t < T``, and ``end``
    from ``T`` on. ``total_steps`` includes the warmup.
    With ``start=end=0`` equals Hugging Face's ``get_linear_schedule_with_warmup``.

    ``warmup_steps`` may be a fraction of ``total_steps`` (a float in (0, 1)): it is
    resolved at construction to ``math.ceil(warmup_steps * total_steps)`` steps, Hugging
    Face's rule for ``warmup_ratio``, and the repr keeps the fraction as written.

    Args:
      peak: the value at the end of the warmup, a real number >= 0 (may be traced).
      warmup_steps: the warmup's length: an int >= 0 in steps, or a float in (0, 1)
        for a fraction of ``total_steps`` (static).
      total_steps: the whole run's length in steps, warmup included, an int >
        the warmup (static).
      start: the warmup's first value, >= 0 (may be traced); default 0.0.
      end: the value reached at ``total_steps`` and held, >= 0 (may be traced);
        default 0.0.

    >>> import jaxsched as js
    >>> s = js.warmup_linear(peak=1.0, warmup_steps=10, total_steps=110)
    >>> print(f"{s(5):.2f} {s(60):.2f} {s(110):.2f}")
    0.50 0.50 0.00
    """

    peak: Any = hyper(check.lr)
    warmup_steps: int | float = static(check.steps_or_fraction)
    total_steps: int = static(check.positive_int)
    start: Any = hyper(check.lr, default=0.0)
    end: Any = hyper(check.lr, default=0.0)

    def _check(self) -> None:
        _check_total("warmup_linear", self.warmup_steps, self.total_steps)

    def _build(self) -> Schedule:
        w = self._warmup
        return _warm(linear(self.peak, self.end, self.total_steps - w), w, self.start)


@schedule_class
class warmup_constant(Recipe):
    """Linear warmup from ``start`` to ``peak`` over ``warmup_steps``, then ``peak``.

    ``lr(t) = start + (peak - start) * t / warmup_steps`` for ``t < warmup_steps``,
    else ``lr(t) = peak``.
    With ``start=0`` equals ``optax.warmup_constant_schedule`` and Hugging Face's
    ``get_constant_schedule_with_warmup``.

    Args:
      peak: the value reached at the end of the warmup and held, a real number >= 0
        (may be traced).
      warmup_steps: the warmup's length in steps, an int >= 0 (static); 0 is the
        constant ``peak``.
      start: the warmup's first value, >= 0 (may be traced); default 0.0.

    >>> import jaxsched as js
    >>> s = js.warmup_constant(1.0, warmup_steps=4)
    >>> print(f"{s(1):.2f} {s(4):.2f} {s(1000):.2f}")
    0.25 1.00 1.00
    """

    peak: Any = hyper(check.lr)
    warmup_steps: int = static(check.nonneg_int)
    start: Any = hyper(check.lr, default=0.0)

    def _build(self) -> Schedule:
        return _warm(constant(self.peak), self.warmup_steps, self.start)


@schedule_class
class warmup_polynomial(_RunRecipe):
    """Linear warmup from ``start`` to ``peak``, then polynomial decay to ``end``.

    ``lr(t) = end + (peak - end) * (1 - (t - w) / (total_steps - w)) ** power`` after
    the warmup of ``w = warmup_steps`` steps (``end`` from ``total_steps`` on). With
    ``start=0`` equals Hugging Face's
    ``get_polynomial_decay_schedule_with_warmup(lr_end=end, power=power)``.

    ``warmup_steps`` may be a fraction of ``total_steps`` (a float in (0, 1)): it is
    resolved at construction to ``math.ceil(warmup_steps * total_steps)`` steps, Hugging
    Face's rule for ``warmup_ratio``, and the repr keeps the fraction as written.

    Args:
      peak: the value at the end of the warmup, a real number >= 0 (may be traced).
      warmup_steps: the warmup's length: an int >= 0 in steps, or a float in (0, 1)
        for a fraction of ``total_steps`` (static).
      total_steps: the whole run's length in steps, warmup included, an int >
        the warmup (static).
      start: the warmup's first value, >= 0 (may be traced); default 0.0.
      end: the value reached at ``total_steps`` and held, >= 0 (may be traced);
        default 0.0.
      power: the power of the decay's remaining fraction, a real number > 0 (may be
        traced); the default 1.0 is linear.

    >>> import jaxsched as js
    >>> s = js.warmup_polynomial(1.0, warmup_steps=10, total_steps=20, power=2.0)
    >>> print(f"{s(15):.4f}")
    0.2500
    """

    peak: Any = hyper(check.lr)
    warmup_steps: int | float = static(check.steps_or_fraction)
    total_steps: int = static(check.positive_int)
    start: Any = hyper(check.lr, default=0.0)
    end: Any = hyper(check.lr, default=0.0)
    power: Any = hyper(check.positive, default=1.0, specialize=True)

    def _check(self) -> None:
        _check_total("warmup_polynomial", self.warmup_steps, self.total_steps)

    def _build(self) -> Schedule:
        w = self._warmup
        curve = polynomial(self.peak, self.end, self.total_steps - w, self.power)
        return _warm(curve, w, self.start)




@schedule_class
class wsd(_RunRecipe):
    """Warmup-stable-decay: linear warmup to ``peak``, hold it, then a short decay to ``end``.

    With ``w = warmup_steps``, ``d = decay_steps`` and ``T = total_steps``:
    ``lr(t) = start + (peak - start) * t / w`` on ``[0, w)``; ``lr(t) = peak`` on
    ``[w, T - d)`` (the stable phase, as long as the run leaves it);
    ``lr(t) = end + (peak - end) * f(p)`` on ``[T - d, T)``, ``p = (t - T + d) / d`` the
    fraction of the decay done and ``f(p) = 1 - p`` (``shape='linear'``),
    ``(1 + cos(pi * p)) / 2`` (``'cosine'``) or ``1 - sqrt(p)`` (``'1-sqrt'``); then
    ``end``. The recipe of MiniCPM / "Scaling Laws and Compute-Optimal Training Beyond
    Fixed Training Durations" (Hägele et al., 2024). With ``start=end`` it equals Hugging
    Face's ``get_wsd_schedule`` (linear warmup, ``min_lr_ratio=end/peak``), which warms up
    from the floor.

    Args:
      peak: the value held in the stable phase.
      total_steps: the whole run's length, warmup and decay included.
      warmup_steps: the warmup's length: an int >= 0, or a float in (0, 1) for a
        fraction of ``total_steps`` (``math.ceil(fraction * total_steps)`` steps).
      decay_steps: the final decay's length: a positive int, or a fraction of the run.
      start: the value at step 0 (the warmup's first value).
      end: the value the decay ends at, held afterwards.
      shape: the decay's shape: ``'linear'``, ``'cosine'`` or ``'1-sqrt'``.

    Raises:
      ValueError: if ``total_steps < warmup_steps + decay_steps``.

    >>> import jaxsched as js
    >>> s = js.wsd(1.0, total_steps=100, warmup_steps=10, decay_steps=10)
    >>> print(f"{s(5):.2f} {s(50):.2f} {s(95):.2f} {s(100):.2f}")
    0.50 1.00 0.50 0.00
    """

    peak: Any = hyper(check.lr)
    total_steps: int = static(check.positive_int)
    warmup_steps: int | float = static(check.steps_or_fraction)
    decay_steps: int | float = static(check.steps_or_fraction)
    start: Any = hyper(check.lr, default=0.0)
    end: Any = hyper(check.lr, default=0.0)
    shape: str = static(check.one_of(*DECAYS), default="linear")

    @property
    def _decay(self) -> int:
        return check.resolve_steps(self.decay_steps, self.total_steps)

    def _check(self) -> None:
        w, d, n = self._warmup, self._decay, self.total_steps
        if d < 1:
            raise ValueError(f"wsd: `decay_steps` must be a positive int or a fraction in (0, 1),"
                             f" got {self.decay_steps!r}.")
        if n < w + d:
            raise ValueError(f"wsd: needs total_steps >= warmup_steps + decay_steps (the stable "
                             f"phase fills the rest), got total_steps={n}, warmup_steps={w}, "
                             f"decay_steps={d}.")

    def _build(self) -> Schedule:
        w, d = self._warmup, self._decay
        phases = ((w, lambda n: linear(self.start, self.peak, n)),
                  (self.total_steps - w - d, lambda n: constant(self.peak)),
                  (d, lambda n: DECAYS[self.shape](self.peak, self.end, n)))
        pieces, bounds, at = [], [], 0
        for length, make in phases:
            if length:
                if pieces:
                    bounds.append(at)
                pieces.append(make(length))
                at += length
        return join(pieces, bounds)


_SHAPES = {"cosine": cosine, "linear": linear}


class _OneCycleShape(Recipe):
    """What ``one_cycle`` and ``one_cycle_momentum`` share: the phase length, checked once."""

    _long_rise = True  # rising for pct_start of the run is the design, not a long warmup
    total_steps: int
    pct_start: float
    three_phase: bool

    def _check(self) -> None:
        _ = self._up

    @functools.cached_property
    def _up(self) -> int:
        """``int(pct_start * total_steps)``: the length of the rising phase."""
        up = int(self.pct_start * self.total_steps)
        need = 2 * up if self.three_phase else up
        if up < 1 or need >= self.total_steps:
            raise ValueError(
                f"{type(self).__name__}: int(pct_start * total_steps) = int({self.pct_start!r} "
                f"* {self.total_steps}) = {up} gives phases of length < 1; needs 1 <= "
                f"{'2 * ' if self.three_phase else ''}int(pct_start * total_steps) < total_steps.")
        return up


def _one_cycle_build(shape: str, total: int, up: int, three_phase: bool,
                     low: Any, high: Any, last: Any) -> Schedule:
    curve = _SHAPES[shape]
    if three_phase:
        return join([curve(low, high, up), curve(high, low, up), curve(low, last, total - 2 * up)],
                    [up, 2 * up])
    return join([curve(low, high, up), curve(high, last, total - up)], [up])


@schedule_class
class one_cycle(_OneCycleShape):
    """The 1cycle policy (Smith & Topin, 2018): up from ``peak / div_factor`` to ``peak``, then
    down to ``peak / (div_factor * final_div_factor)`` at ``total_steps``.

    With ``u = int(pct_start * total_steps)``, ``T = total_steps``,
    ``initial = peak / div_factor``, ``final = initial / final_div_factor`` and
    ``f(a, b, p) = a + (b - a) * g(p)``, ``g(p) = (1 - cos(pi * p)) / 2``
    (``shape='cosine'``) or ``p`` (``'linear'``):
    ``lr(t) = f(initial, peak, t / u)`` on ``[0, u)``,
    ``lr(t) = f(peak, final, (t - u) / (T - u))`` on ``[u, T)``, and ``final`` from ``T``
    on. ``three_phase=True``: ``f(initial, peak, t / u)`` on ``[0, u)``,
    ``f(peak, initial, (t - u) / u)`` on ``[u, 2u)``,
    ``f(initial, final, (t - 2u) / (T - 2u))`` on ``[2u, T)``.
    Equals ``optax.cosine_onecycle_schedule(total_steps, peak, pct_start, div_factor,
    final_div_factor)`` for ``shape='cosine'``. PyTorch's ``OneCycleLR`` ends its phases one
    step earlier (at ``pct_start * total_steps - 1``): ``jaxsched.pytorch.OneCycleLR``
    reproduces that convention.

    Args:
      peak: the top of the cycle, reached at step ``int(pct_start * total_steps)``, a
        real number >= 0 (may be traced).
      total_steps: the whole run's length in steps, a positive int (static).
      pct_start: the rising phase's fraction of ``total_steps`` (floored to whole
        steps), a float in (0, 1); default 0.3.
      div_factor: ``start = peak / div_factor``, a real number > 0 (may be traced);
        default 25.
      final_div_factor: the final value is ``start / final_div_factor``, a real number
        > 0 (may be traced); default 1e4.
      shape: the curve of each phase: ``'cosine'`` (the default) or ``'linear'``.
      three_phase: if True, rise, fall back to ``start``, then anneal to the final
        value; default False (rise, then anneal).

    >>> import jaxsched as js
    >>> s = js.one_cycle(peak=1.0, total_steps=100, pct_start=0.3)
    >>> print(f"{s(0):.3f} {s(30):.3f} {s(100):.6f}")
    0.040 1.000 0.000004
    """

    peak: Any = hyper(check.lr)
    total_steps: int = static(check.positive_int)
    pct_start: float = static(check.fraction, default=0.3)
    div_factor: Any = hyper(check.positive, default=25.0)
    final_div_factor: Any = hyper(check.positive, default=1e4)
    shape: str = static(check.one_of(*_SHAPES), default="cosine")
    three_phase: bool = static(check.flag, default=False)

    def _build(self) -> Schedule:
        initial = self.peak / self.div_factor
        return _one_cycle_build(self.shape, self.total_steps, self._up, self.three_phase,
                                initial, self.peak, initial / self.final_div_factor)


@schedule_class
class one_cycle_momentum(_OneCycleShape):
    """The momentum (or Adam ``b1``) curve that goes with ``one_cycle``: the inverse shape.

    ``max_momentum -> base_momentum`` while the LR rises, ``base_momentum ->
    max_momentum`` while it falls (``three_phase``: then held at ``max_momentum``).
    Same phase lengths and ``shape`` as ``one_cycle(total_steps, pct_start)``: with
    ``u``, ``T``, ``f`` as there, ``m(t) = f(max_momentum, base_momentum, t / u)`` on
    ``[0, u)``, ``m(t) = f(base_momentum, max_momentum, (t - u) / (T - u))`` on
    ``[u, T)`` and ``max_momentum`` from ``T`` on (``three_phase``: the rise on
    ``[u, 2u)``, then ``max_momentum``).
    Use it with ``optax.inject_hyperparams(optax.sgd)(momentum=...)`` or ``(optax.adam)(b1=...)``.

    Args:
      total_steps: the whole run's length in steps, a positive int (static); the same
        as ``one_cycle``'s.
      pct_start: the fraction of ``total_steps`` during which the LR rises (the
        momentum falls), floored to whole steps, a float in (0, 1); default 0.3.
      base_momentum: the low value, reached while the LR peaks, a real number >= 0
        (may be traced); default 0.85.
      max_momentum: the high value, at step 0 and at the end, a real number >= 0 (may
        be traced); default 0.95.
      shape: the curve of each phase: ``'cosine'`` (the default) or ``'linear'``.
      three_phase: if True, fall, rise back to ``max_momentum``, then hold it, as
        ``one_cycle(three_phase=True)``; default False.

    >>> import jaxsched as js
    >>> m = js.one_cycle_momentum(total_steps=100)
    >>> print(f"{m(0):.2f} {m(30):.2f} {m(100):.2f}")
    0.95 0.85 0.95
    """

    total_steps: int = static(check.positive_int)
    pct_start: float = static(check.fraction, default=0.3)
    base_momentum: Any = hyper(check.lr, default=0.85)
    max_momentum: Any = hyper(check.lr, default=0.95)
    shape: str = static(check.one_of(*_SHAPES), default="cosine")
    three_phase: bool = static(check.flag, default=False)

    def _build(self) -> Schedule:
        hi, lo = self.max_momentum, self.base_momentum
        return _one_cycle_build(self.shape, self.total_steps, self._up, self.three_phase,
                                hi, lo, hi)


@schedule_class
class sgdr(Recipe):
    """Cosine annealing with warm restarts (SGDR, Loshchilov & Hutter, 2017).

    Cycle ``i`` lasts ``L_i = period * period_mult ** i`` steps and has the top
    ``top_i = end + (peak - end) * cycle_decay ** i``. With ``u`` the step within the
    cycle and ``w_i`` the cycle's warmup (``warmup_steps`` stretched with the cycle):
    ``lr(t) = end + (top_i - end) * u / w_i`` while ``u < w_i`` (a linear warmup from
    ``end``), then ``lr(t) = end + (top_i - end) * (1 + cos(pi * (u - w_i) / (L_i - w_i))) / 2``.
    The floor ``end`` is never decayed (timm's ``cycle_decay``). With
    ``warmup_steps=0, cycle_decay=1`` equals PyTorch's
    ``CosineAnnealingWarmRestarts(T_0=period, T_mult=period_mult, eta_min=end)`` stepped
    per update.

    Args:
      peak: the top of the first cycle (the value at step 0 without warmup).
      period: the first cycle's length, a positive int.
      period_mult: each cycle is this many times longer than the one before (int >= 1).
      end: the floor every cycle decays to (<= peak).
      cycle_decay: the multiplier of each cycle's height over the floor, > 0.
      warmup_steps: the warmup at the start of the first cycle (< period).

    >>> import jaxsched as js
    >>> s = js.sgdr(1.0, period=100, period_mult=2)
    >>> print(f"{s(50):.2f} {s(100):.2f} {s(200):.2f}")
    0.50 1.00 0.50
    """

    peak: Any = hyper(check.lr)
    period: int = static(check.positive_int)
    period_mult: int = static(check.positive_int, default=1)
    end: Any = hyper(check.lr, default=0.0)
    cycle_decay: Any = hyper(check.positive, default=1.0)
    warmup_steps: int = static(check.nonneg_int, default=0)

    def _check(self) -> None:
        peak, end = self.peak, self.end
        if isinstance(peak, float) and isinstance(end, float) and end > peak:
            raise ValueError(f"sgdr: needs end <= peak, got peak={peak!r}, end={end!r}.")
        if self.warmup_steps >= self.period:
            raise ValueError(f"sgdr: needs warmup_steps < period, got warmup_steps="
                             f"{self.warmup_steps}, period={self.period}.")

    def _build(self) -> Schedule:
        height = self.peak - self.end
        w = self.warmup_steps
        cycle = _warm(cosine(height, 0.0, self.period - w), w, 0.0)
        restarts = repeat(cycle, self.period, self.period_mult, self.cycle_decay)
        if isinstance(self.end, float) and self.end == 0.0:
            return restarts
        return restarts + self.end
