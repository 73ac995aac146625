"""Composition in time: join, repeat, warmup, clip, per_epoch.

``join`` is table-driven: the segment is found in integer arithmetic on a static
table (``_lookup.segment``), and pieces of the same *family* (same class, same
non-scalar settings, e.g. K cosines of different lengths and heights) share a
single evaluation with their scalar parameters gathered by segment index. The
cost grows with the number of distinct families, not with the number of pieces.
A join of a few pieces (up to ``SELECT_MAX`` boundaries) evaluates each piece and
selects instead, which is cheaper there (``dispatch``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import _anneal as shape
from . import _checks as check
from ._anneal import anneal
from ._lookup import SELECT_MAX, forced_dispatch, segment, select, table
from ._schedule import (
    Schedule,
    hyper,
    schedule_class,
    schedule_field,
    schedule_list,
    shift,
    static,
)
from ._steps import divide, fl, float_dtype, imax, is_int, reached, since, stack


# ----------------------------------------------------------------- families
@dataclasses.dataclass(frozen=True)
class _Family:
    """Pieces of a join that share one evaluation: ``members`` are piece indices."""

    template: Schedule
    members: tuple[int, ...]


def _family_key(piece: Schedule) -> Any:
    cls = type(piece)
    if cls._gather:
        fixed = []
        for f in dataclasses.fields(piece):
            value = getattr(piece, f.name)
            fixed.append((f.name, value is None) if f.name in cls._gather else (f.name, value))
        key = (cls, tuple(fixed))
    else:
        key = (cls, piece)
    try:
        hash(key)
    except TypeError:  # traced or unhashable settings: a family of its own
        key = (cls, id(piece))
    return key


def _families(pieces: tuple[Schedule, ...]) -> tuple[_Family, ...]:
    groups: dict[Any, list[int]] = {}
    for i, piece in enumerate(pieces):
        groups.setdefault(_family_key(piece), []).append(i)
    return tuple(_Family(pieces[m[0]], tuple(m)) for m in groups.values())


def _gathered(family: _Family, pieces: tuple[Schedule, ...], index: jax.Array,
              t: jax.Array) -> Schedule:
    """The family's template with each scalar field replaced by ``table[index]``."""
    if len(family.members) == 1:
        return family.template
    cls = type(family.template)
    obj = object.__new__(cls)
    for f in dataclasses.fields(cls):
        value = getattr(family.template, f.name)
        if f.name in cls._gather and value is not None:
            column = [getattr(pieces[m], f.name) for m in family.members]
            value = _column(column, t)[index]
        object.__setattr__(obj, f.name, value)
    return obj


def _column(values: list[Any], t: jax.Array) -> jax.Array:
    if all(isinstance(v, int) for v in values):
        if is_int(t) and max(values) <= imax(t):
            return jnp.asarray(values, dtype=t.dtype)
        return jnp.asarray(values, dtype=float_dtype())
    return stack(values)


# ----------------------------------------------------------------- join
def dispatch(families: int, bounds: int) -> str:
    """The path ``join`` takes to evaluate its pieces (one of ``_lookup.DISPATCHES``).

    ``select``: every piece, then a select chain; ``gather``: one family evaluated once
    with its parameters gathered by segment; ``all``: each family so, then one select.
    """
    how = forced_dispatch()
    # Up to SELECT_MAX boundaries, evaluating every piece beats gathering parameters, for
    # one family (K = 4 cosines: 0.42 vs 0.62 ns/step for a vector, 20.3 vs 23.3 ns for a
    # scalar step in a scan; at K = 8 the scalar step, what a train step evaluates, still
    # prefers it: 22.0 vs 23.9) and for several (K = 8, three families: 0.68 vs 1.74).
    if how == "select" or (how is None and bounds <= SELECT_MAX):
        return "select"
    # One family: gathered parameters beat evaluating each piece from there on (K = 16
    # cosines: 1.01 vs 1.51 ns/step, 25.5 vs 33.7 ns for a scalar step).
    if families == 1 and how in (None, "gather"):
        return "gather"
    return "all"


@schedule_class
class join(Schedule):
    """Pieces joined in time: piece ``i`` runs from ``boundaries[i-1]`` and sees
    the step counted from there.

    ``lr(t) = schedules[i](t - boundaries[i-1])`` for
    ``boundaries[i-1] <= t < boundaries[i]`` (with ``boundaries[-1] = 0``), the
    contract of ``optax.join_schedules``. At ``t == boundaries[i-1]`` the piece
    ``i`` takes over at its local step 0. Plain numbers become ``constant`` and
    plain functions of the step are wrapped.

    The segment is found in integer arithmetic on a static table, and pieces of
    one family are evaluated once with gathered parameters, so a join of 1024
    cosines compiles to the same program as a join of 16 and costs about 1 ns per
    step on CPU (``python -m benchmarks --only joins``).

    Args:
      schedules: the pieces in time order, at least one: schedules, jnp-traceable
        functions of the step (wrapped) or numbers (made constant).
      boundaries: the steps where the next piece takes over, strictly increasing ints
        >= 1 (static), ``len(schedules) - 1`` of them.

    >>> import jaxsched as js
    >>> s = js.join([js.linear(0.0, 1.0, 10), js.cosine(1.0, 0.0, 90)], [10])
    >>> print(f"{s(5):.2f} {s(10):.2f} {s(55):.2f}")
    0.50 1.00 0.50
    """

    schedules: Sequence[Any] = hyper(schedule_list)
    boundaries: Sequence[int] = static(check.sorted_ints(1))

    def _check(self) -> None:
        if len(self.boundaries) != len(self.schedules) - 1:
            raise ValueError(f"join: needs len(boundaries) == len(schedules) - 1, got "
                             f"{len(self.boundaries)} boundaries for {len(self.schedules)} "
                             "schedules.")

    def _horizon(self) -> int | float | None:
        return shift(self.schedules[-1]._horizon(), self.boundaries[-1] if self.boundaries else 0)

    def _course(self, offset: int = 0) -> list[tuple[int, Schedule]]:
        return [p for start, piece in zip((0, *self.boundaries), self.schedules, strict=True)
                for p in piece._course(offset + start)]

    def _handoffs(self) -> tuple[int, ...]:
        out = list(self.boundaries)
        for start, piece in zip((0, *self.boundaries), self.schedules, strict=True):
            out += [start + b for b in piece._handoffs()]
        return tuple(out)

    @functools.cached_property
    def _families(self) -> tuple[_Family, ...]:
        return _families(self.schedules)

    @functools.cached_property
    def _text(self) -> str:
        return Schedule.__repr__(self)

    def __repr__(self) -> str:
        # jax.jit and vmap take str(fn) of a callable object as its debug name: for a join
        # of 1024 pieces that repr was 57 of 122 ms of tracing. Computed once per value.
        return self._text

    def _eval(self, t: jax.Array) -> jax.Array:
        pieces, bounds = self.schedules, self.boundaries
        if len(pieces) == 1:
            return pieces[0]._eval(t)
        families = self._families
        how = dispatch(len(families), len(bounds))
        if how == "select":
            # Few pieces of several kinds: evaluate each, select (what vmap would do anyway).
            values = [pieces[0]._eval(t)]
            values += [piece._eval(since(t, b)) for b, piece in zip(bounds, pieces[1:],
                                                                     strict=True)]
            return select(t, bounds, values)
        # Unsigned: an int index is wrapped for negative values before every gather.
        seg = segment(t, bounds).astype(jnp.uint32)
        starts = table(t, (0, *bounds))
        local = t - starts[seg]
        if how == "gather":
            return _gathered(families[0], pieces, seg, t)._eval(local)
        family_of = np.zeros(len(pieces), np.int32)
        rank_of = np.zeros(len(pieces), np.int32)
        for f, fam in enumerate(families):
            for r, m in enumerate(fam.members):
                family_of[m], rank_of[m] = f, r
        fid = jnp.asarray(family_of)[seg]
        rank = jnp.asarray(rank_of)[seg]
        # Every family once, with gathered parameters, then one select. No lax.switch for a
        # scalar step: it lost to this path at every K where it ran (3 cheap families,
        # scan: 42.5 vs 24.6 ns at K=16, 33.5 vs 25.0 at K=64, in the ablation of commit
        # cb80fa0, which removed it).
        values = [_gathered(fam, pieces, rank, t)._eval(local) * jnp.ones(local.shape,
                                                                         float_dtype())
                  for fam in families]
        return lax.select_n(fid, *values)


# ----------------------------------------------------------------- repeat
def _cycle_starts(period: int, mult: int, limit: int) -> tuple[int, ...]:
    """Start steps of cycles 1, 2, ... (cycle i lasts period * mult**i) up to ``limit``."""
    starts, start, length = [], period, period * mult
    while start <= limit:
        starts.append(start)
        start, length = start + length, length * mult
    return tuple(starts)


@schedule_class
class repeat(Schedule):
    """Restarts: ``schedule`` played over and over, cycle ``i`` lasting
    ``period * period_mult ** i`` steps and scaled by ``cycle_decay ** i``.

    With ``period_mult > 1`` cycle ``i`` plays ``schedule`` stretched in time by
    ``period_mult ** i`` (local step divided by it), so a cosine over ``period``
    steps spans the whole longer cycle, as in SGDR / ``CosineAnnealingWarmRestarts``.
    Cycle boundaries are decided in integer arithmetic.

    With ``p = period``, ``m = period_mult`` and cycle ``i`` starting at step
    ``S_i = p * (1 + m + ... + m ** (i - 1))`` (``S_0 = 0``):
    ``lr(t) = cycle_decay ** i * schedule((t - S_i) / m ** i)`` for
    ``S_i <= t < S_i + p * m ** i`` (with ``m = 1``: ``i = t // p`` and
    ``schedule(t % p)``, in integers).

    Args:
      schedule: the schedule played in each cycle, seeing the step within the cycle
        (a schedule, a jnp-traceable function of the step or a number).
      period: the first cycle's length in steps, a positive int (static).
      period_mult: how many times longer each cycle is than the one before, an int
        >= 1 (static); the default 1 keeps every cycle ``period`` long.
      cycle_decay: the multiplier of each cycle's height (cycle ``i`` is scaled by
        ``cycle_decay ** i``), a real number > 0 (may be traced); default 1.0.

    >>> import jaxsched as js
    >>> s = js.repeat(js.linear(1.0, 0.0, 10), period=10, period_mult=2, cycle_decay=0.5)
    >>> print(f"{s(5):.2f} {s(10):.2f} {s(20):.2f} {s(30):.2f}")
    0.50 0.50 0.25 0.25
    """

    schedule: Schedule = hyper(schedule_field)
    period: int = static(check.positive_int)
    period_mult: int = static(check.positive_int, default=1)
    cycle_decay: Any = hyper(check.positive, default=1.0)

    def _eval(self, t: jax.Array) -> jax.Array:
        p, m = self.period, self.period_mult
        if m == 1:
            i, inner = divide(t, p)
        else:
            limit = imax(t) if is_int(t) else 2**62
            starts = _cycle_starts(p, m, limit)
            i = segment(t, starts)
            start_tab = table(t, (0, *starts))
            local = t - start_tab[i]
            inner = fl(local) / fl(m) ** fl(i)
        value = self.schedule._eval(inner)
        if isinstance(self.cycle_decay, float) and self.cycle_decay == 1.0:
            return value
        return value * self.cycle_decay ** fl(i)


# ----------------------------------------------------------------- warmup, clip, per_epoch
@schedule_class
class warmup(Schedule):
    """A linear ramp from ``start`` to ``schedule(0)`` over ``steps``, then ``schedule``.

    ``lr(t) = start + (schedule(0) - start) * t / steps`` for ``t < steps``, else
    ``schedule(t - steps)``: the wrapped schedule starts at its own step 0 when
    the warmup ends.

    Args:
      schedule: the schedule that follows the warmup, starting at its own step 0 when
        the warmup ends (a schedule, a jnp-traceable function of the step or a number).
      steps: the warmup's length in steps, a positive int (static).
      start: the warmup's first value, a real number >= 0 (may be traced); default 0.0.

    >>> import jaxsched as js
    >>> s = js.warmup(js.cosine(1.0, 0.0, 100), steps=10)
    >>> print(f"{s(5):.2f} {s(10):.2f} {s(60):.2f}")
    0.50 1.00 0.50
    """

    schedule: Schedule = hyper(schedule_field)
    steps: int = static(check.positive_int)
    start: Any = hyper(check.lr, default=0.0)

    def _horizon(self) -> int | float | None:
        return shift(self.schedule._horizon(), self.steps)

    def _handoffs(self) -> tuple[int, ...]:
        return tuple(self.steps + b for b in self.schedule._handoffs())

    def _course(self, offset: int = 0) -> list[tuple[int, Schedule]]:
        return [(offset, self), *self.schedule._course(offset + self.steps)]

    def _eval(self, t: jax.Array) -> jax.Array:
        target = self.schedule._eval(jnp.zeros((), t.dtype))
        ramp = anneal(self.start, target, t, self.steps, shape.linear, hold=False)
        return jnp.where(reached(t, self.steps), self.schedule._eval(since(t, self.steps)), ramp)


@schedule_class
class clip(Schedule):
    """``schedule`` clipped to ``[min, max]`` (either bound may be None).

    ``lr(t) = minimum(maximum(schedule(t), min), max)``, a bound that is None left out.

    Args:
      schedule: the schedule to clip (a schedule, a jnp-traceable function of the step
        or a number).
      min: the lower bound, a real number >= 0 (may be traced), or None for none.
      max: the upper bound, a real number >= ``min`` (may be traced), or None for none;
        give at least one of the two.

    >>> import jaxsched as js
    >>> s = js.clip(js.linear(1.0, 0.0, 10), min=0.2)
    >>> print(f"{s(2):.2f} {s(9):.2f}")
    0.80 0.20
    """

    schedule: Schedule = hyper(schedule_field)
    min: Any = hyper(check.optional(check.lr), default=None)
    max: Any = hyper(check.optional(check.lr), default=None)

    def _check(self) -> None:
        lo, hi = self.min, self.max
        if lo is None and hi is None:
            raise ValueError("clip: give `min`, `max` or both; with neither it does nothing.")
        if isinstance(lo, float) and isinstance(hi, float) and lo > hi:
            raise ValueError(f"clip: needs min <= max, got min={lo!r}, max={hi!r}.")

    def _horizon(self) -> int | float | None:
        return self.schedule._horizon()

    def _handoffs(self) -> tuple[int, ...]:
        return self.schedule._handoffs()

    def _resume_step(self) -> int | None:
        return self.schedule._resume_step()

    def _eval(self, t: jax.Array) -> jax.Array:
        return jnp.clip(self.schedule._eval(t), self.min, self.max)


@schedule_class
class per_epoch(Schedule):
    """Drives an epoch-indexed schedule with the step count.

    ``lr(t) = schedule(t // steps_per_epoch)``: the value changes only at epoch
    boundaries, like a PyTorch scheduler stepped once per epoch; with
    ``fractional=True``, ``schedule(t / steps_per_epoch)`` (fractional epochs). The
    optimizer passes the step, so stepping per batch instead of per epoch cannot happen.

    Args:
      schedule: an epoch-indexed schedule (e.g. ``pt.StepLR(0.1, step_size=30)``).
      steps_per_epoch: optimizer updates per epoch, a positive int.
      fractional: pass fractional epochs instead of whole ones.

    >>> import jaxsched as js
    >>> s = js.per_epoch(js.multistep(1.0, [2], gamma=0.1), steps_per_epoch=100)
    >>> print(f"{s(199):.2f} {s(200):.2f}")
    1.00 0.10
    """

    schedule: Schedule = hyper(schedule_field)
    steps_per_epoch: int = static(check.positive_int)
    fractional: bool = static(check.flag, default=False)

    def _horizon(self) -> int | float | None:
        h = self.schedule._horizon()
        return h if h is None or h == math.inf else math.ceil(h) * self.steps_per_epoch

    def _handoffs(self) -> tuple[int, ...]:
        return tuple(b * self.steps_per_epoch for b in self.schedule._handoffs())

    def _eval(self, t: jax.Array) -> jax.Array:
        n = self.steps_per_epoch
        if not self.fractional:
            epoch, _ = divide(t, n)
        else:
            epoch = fl(t) / fl(n)
        return self.schedule._eval(epoch)
