"""Named recipes: the schedules people ask for by name, built from curves and joins.

A recipe keeps its own arguments (so it prints, compares and saves as the call
that built it) and delegates evaluation to the composition it builds.
"""

from __future__ import annotations

import functools
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
    exponent: Any = hyper(check.positive, default=1.0)

    def _check(self) -> None:
        _check_total("warmup_cosine", self.warmup_steps, self.total_steps)

    def _build(self) -> Schedule:
        w = self._warmup
        return _warm(cosine(self.peak, self.end, self.total_steps - w, self.exponent), w,
                     self.start)


@schedule_class
class warmup_linear(_RunRecipe):
    """Linear warmup from ``start`` to ``peak``, then linear decay to ``end`` at ``total_steps``.

    With ``start=end=0`` equals Hugging Face's ``get_linear_schedule_with_warmup``.

    ``warmup_steps`` may be a fraction of ``total_steps`` (a float in (0, 1)): it is
    resolved at construction to ``math.ceil(warmup_steps * total_steps)`` steps, Hugging
    Face's rule for ``warmup_ratio``, and the repr keeps the fraction as written.

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

    With ``start=0`` equals ``optax.warmup_constant_schedule`` and Hugging Face's
    ``get_constant_schedule_with_warmup``.

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
    the warmup. With ``start=0`` equals Hugging Face's
    ``get_polynomial_decay_schedule_with_warmup(lr_end=end, power=power)``.

    ``warmup_steps`` may be a fraction of ``total_steps`` (a float in (0, 1)): it is
    resolved at construction to ``math.ceil(warmup_steps * total_steps)`` steps, Hugging
    Face's rule for ``warmup_ratio``, and the repr keeps the fraction as written.

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
    power: Any = hyper(check.positive, default=1.0)

    def _check(self) -> None:
        _check_total("warmup_polynomial", self.warmup_steps, self.total_steps)

    def _build(self) -> Schedule:
        w = self._warmup
        curve = polynomial(self.peak, self.end, self.total_steps - w, self.power)
        return _warm(curve, w, self.start)




@schedule_class
class wsd(Recipe):
    """Warmup-stable-decay: linear warmup to ``peak``, hold it, then a short decay to ``end``.

    Phases: ``[0, w)`` linear ``start -> peak``; ``[w, w + stable_steps)`` constant
    ``peak``; then ``decay_steps`` of ``decay`` (``'linear'``, ``'cosine'`` or
    ``'1-sqrt'``: ``end + (peak - end) * (1 - sqrt(p))``, ``p`` the fraction of the
    decay done), then ``end``. The recipe of MiniCPM / "Scaling Laws and
    Compute-Optimal Training Beyond Fixed Training Durations" (Hägele et al., 2024).
    With ``start=end`` it equals Hugging Face's ``get_wsd_schedule`` (linear warmup,
    ``min_lr_ratio=end/peak``), which warms up from the floor.

    >>> import jaxsched as js
    >>> s = js.wsd(1.0, warmup_steps=10, stable_steps=80, decay_steps=10)
    >>> print(f"{s(5):.2f} {s(50):.2f} {s(95):.2f} {s(100):.2f}")
    0.50 1.00 0.50 0.00
    """

    peak: Any = hyper(check.lr)
    warmup_steps: int = static(check.nonneg_int)
    stable_steps: int = static(check.nonneg_int)
    decay_steps: int = static(check.positive_int)
    end: Any = hyper(check.lr, default=0.0)
    decay: str = static(check.one_of(*DECAYS), default="linear")
    start: Any = hyper(check.lr, default=0.0)

    def _build(self) -> Schedule:
        phases = ((self.warmup_steps, lambda n: linear(self.start, self.peak, n)),
                  (self.stable_steps, lambda n: constant(self.peak)),
                  (self.decay_steps, lambda n: DECAYS[self.decay](self.peak, self.end, n)))
        pieces, bounds, at = [], [], 0
        for length, make in phases:
            if length:
                if pieces:
                    bounds.append(at)
                pieces.append(make(length))
                at += length
        return join(pieces, bounds)


_ANNEAL = {"cos": cosine, "linear": linear}


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


def _one_cycle_build(anneal: str, total: int, up: int, three_phase: bool,
                     low: Any, high: Any, last: Any) -> Schedule:
    curve = _ANNEAL[anneal]
    if three_phase:
        return join([curve(low, high, up), curve(high, low, up), curve(low, last, total - 2 * up)],
                    [up, 2 * up])
    return join([curve(low, high, up), curve(high, last, total - up)], [up])


@schedule_class
class one_cycle(_OneCycleShape):
    """The 1cycle policy (Smith & Topin, 2018): up from ``peak / div_factor`` to ``peak``, then
    down to ``peak / (div_factor * final_div_factor)`` at ``total_steps``.

    With ``u = int(pct_start * total_steps)``: ``[0, u)`` anneals
    ``initial -> peak``, then ``[u, total_steps)`` anneals ``peak -> final``
    (``anneal='cos'`` or ``'linear'``), and ``final`` holds afterwards.
    ``three_phase=True``: ``initial -> peak`` on ``[0, u)``, ``peak -> initial`` on
    ``[u, 2u)``, ``initial -> final`` on ``[2u, total_steps)``.
    Equals ``optax.cosine_onecycle_schedule(total_steps, peak, pct_start, div_factor,
    final_div_factor)`` for ``anneal='cos'``. PyTorch's ``OneCycleLR`` ends its phases one
    step earlier (at ``pct_start * total_steps - 1``): ``jaxsched.pytorch.OneCycleLR``
    reproduces that convention.

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
    anneal: str = static(check.one_of(*_ANNEAL), default="cos")
    three_phase: bool = static(check.flag, default=False)

    def _build(self) -> Schedule:
        initial = self.peak / self.div_factor
        return _one_cycle_build(self.anneal, self.total_steps, self._up, self.three_phase,
                                initial, self.peak, initial / self.final_div_factor)


@schedule_class
class one_cycle_momentum(_OneCycleShape):
    """The momentum (or Adam ``b1``) curve that goes with ``one_cycle``: the inverse shape.

    ``max_momentum -> base_momentum`` while the LR rises, ``base_momentum ->
    max_momentum`` while it falls (``three_phase``: then held at ``max_momentum``).
    Same phase lengths and ``anneal`` as ``one_cycle(total_steps, pct_start)``.
    Use it with ``optax.inject_hyperparams(optax.sgd)(momentum=...)`` or ``(optax.adam)(b1=...)``.

    >>> import jaxsched as js
    >>> m = js.one_cycle_momentum(total_steps=100)
    >>> print(f"{m(0):.2f} {m(30):.2f} {m(100):.2f}")
    0.95 0.85 0.95
    """

    total_steps: int = static(check.positive_int)
    pct_start: float = static(check.fraction, default=0.3)
    base_momentum: Any = hyper(check.lr, default=0.85)
    max_momentum: Any = hyper(check.lr, default=0.95)
    anneal: str = static(check.one_of(*_ANNEAL), default="cos")
    three_phase: bool = static(check.flag, default=False)

    def _build(self) -> Schedule:
        hi, lo = self.max_momentum, self.base_momentum
        return _one_cycle_build(self.anneal, self.total_steps, self._up, self.three_phase,
                                hi, lo, hi)


@schedule_class
class sgdr(Recipe):
    """Cosine annealing with warm restarts (SGDR, Loshchilov & Hutter, 2017).

    Cycle ``i`` lasts ``period * period_mult ** i`` steps: an optional linear
    warmup from ``end`` over the first ``warmup_steps`` (stretched with the cycle),
    then a cosine from ``end + (start - end) * decay ** i`` down to ``end``. The
    floor ``end`` is never decayed (timm's ``cycle_decay``). With
    ``warmup_steps=0, decay=1`` equals PyTorch's ``CosineAnnealingWarmRestarts(T_0=period,
    T_mult=period_mult, eta_min=end)`` stepped per update.

    >>> import jaxsched as js
    >>> s = js.sgdr(1.0, period=100, period_mult=2)
    >>> print(f"{s(50):.2f} {s(100):.2f} {s(200):.2f}")
    0.50 1.00 0.50
    """

    start: Any = hyper(check.lr)
    period: int = static(check.positive_int)
    period_mult: int = static(check.positive_int, default=1)
    end: Any = hyper(check.lr, default=0.0)
    decay: Any = hyper(check.positive, default=1.0)
    warmup_steps: int = static(check.nonneg_int, default=0)

    def _check(self) -> None:
        start, end = self.start, self.end
        if isinstance(start, float) and isinstance(end, float) and end > start:
            raise ValueError(f"sgdr: needs end <= start, got start={start!r}, end={end!r}.")
        if self.warmup_steps >= self.period:
            raise ValueError(f"sgdr: needs warmup_steps < period, got warmup_steps="
                             f"{self.warmup_steps}, period={self.period}.")

    def _build(self) -> Schedule:
        height = self.start - self.end
        w = self.warmup_steps
        cycle = _warm(cosine(height, 0.0, self.period - w), w, 0.0)
        restarts = repeat(cycle, self.period, self.period_mult, self.decay)
        if isinstance(self.end, float) and self.end == 0.0:
            return restarts
        return restarts + self.end
