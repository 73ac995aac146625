"""Segment lookup: which piece of a static table of step boundaries a step falls in.

One question, answered for joins, staircases, piecewise constants, knots and
restart cycles: given sorted static int ``bounds``, how many of them has the step
``t`` reached? ``select`` answers it with a chain of selects over values already
computed; ``segment`` returns the index, found with integer compares on a static
table, so that it is exact for every integer step. Which strategy runs for a given
size is decided by the ablation in ``benchmarks/joins.py`` (numbers in
``benchmarks/RESULTS.md``); each threshold below names the measurement behind it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._steps import float_dtype, imax, is_int, reached, stack

# The numbers are from the ablation in benchmarks/joins.py (benchmarks/RESULTS.md, CPU).
# Up to this many boundaries, a chain of selects over the values beats an index plus a
# gather: piecewise_constant, vector of steps, K = 9 pieces 0.25 vs 0.53 ns/step (count);
# at K = 16 it still wins for vectors (0.45 vs 0.65) but loses for a scalar step in a scan
# (19.4 vs 12.8 ns), so the chain stops at 8.
SELECT_MAX = 8
# Up to this many boundaries, a fused compare-and-count is as fast as the radix buckets
# (join of K = 8 cosines: 0.77 vs 0.77 ns/step for a vector, 21.1 vs 21.1 ns for a scalar
# step in a scan). At K = 16 count still wins for a vector (1.09 vs 1.60) and ties for a
# scalar (24.1 vs 24.4); the buckets take over there so that a join compiles to one program
# size for every K from 16 (the "flat from K = 16"); from K = 32 they win (1.01 vs
# 1.06, 26.0 vs 27.6).
COUNT_MAX = 8


LOOKUPS = ("select", "count", "buckets", "search")
DISPATCHES = ("select", "gather", "all")
# Set only by ``forced`` (the ablation in benchmarks/joins.py); the library never sets it.
_FORCED: dict[str, str | None] = {"lookup": None, "dispatch": None}


@contextlib.contextmanager
def forced(*, lookup: str | None = None, dispatch: str | None = None):
    """Forces a lookup strategy and/or a join dispatch path for what is traced inside.

    For the ablation in ``benchmarks/joins.py`` only: the size thresholds below pick
    the strategy everywhere else. A forced strategy that cannot apply (``gather`` for
    pieces of several families, ``buckets`` for a
    float step or clustered boundaries) falls back to the default choice.

    Args:
      lookup: one of ``LOOKUPS``, or None for the default.
      dispatch: one of ``DISPATCHES``, or None for the default.

    Raises:
      ValueError: for a name that is not a strategy.
    """
    for kind, name, allowed in (("lookup", lookup, LOOKUPS), ("dispatch", dispatch, DISPATCHES)):
        if name is not None and name not in allowed:
            raise ValueError(f"forced: `{kind}` must be one of {', '.join(allowed)}, "
                             f"got {name!r}.")
    saved = dict(_FORCED)
    _FORCED.update(lookup=lookup, dispatch=dispatch)
    try:
        yield
    finally:
        _FORCED.update(saved)


def forced_dispatch() -> str | None:
    """The join dispatch path forced by ``forced``, or None."""
    return _FORCED["dispatch"]


def select(t: jax.Array, bounds: Sequence[int], values: Sequence[Any]) -> jax.Array:
    """``values[i]`` where ``t`` has reached ``i`` of the sorted ``bounds``: a select chain.

    ``values`` has one more entry than ``bounds`` (``values[0]`` before the first
    boundary); entries are scalars or arrays broadcastable against ``t``.
    """
    out = jnp.asarray(values[0])
    for b, v in zip(bounds, values[1:], strict=True):
        out = jnp.where(reached(t, b), v, out)
    return out


def pick(t: jax.Array, bounds: tuple[int, ...], values: Sequence[Any]) -> jax.Array:
    """``values[segment(t, bounds)]``: a select chain for few boundaries, else one gather."""
    how = _FORCED["lookup"]
    if how == "select" or (how is None and len(bounds) <= SELECT_MAX):
        return select(t, bounds, values)
    return stack(values)[segment(t, bounds).astype(jnp.uint32)]  # unsigned: no wrap


def table(t: jax.Array, values: tuple[int, ...]) -> jax.Array:
    """A static sorted table of step boundaries in ``t``'s dtype.

    Entries beyond an integer dtype's range can never be reached by ``t`` and are
    dropped, so lookups stay exact (int32 steps up to 2**31 - 1).
    """
    if is_int(t):
        top = imax(t)
        return jnp.asarray([v for v in values if v <= top], dtype=t.dtype)
    return jnp.asarray(values, dtype=float_dtype())


def segment(t: jax.Array, bounds: tuple[int, ...]) -> jax.Array:
    """The number of ``bounds`` that ``t`` has reached: the index of its segment.

    The strategy is ``lookup(bounds, ...)``'s: a compare-and-count for few boundaries,
    else (integer steps) a radix table (``_Buckets``: one gather plus a few compares),
    else a binary search.
    """
    tab = table(t, bounds)
    k = tab.shape[0]
    if k == 0:
        return jnp.zeros(t.shape, jnp.int32)
    bounds = tuple(bounds[:k])
    how = lookup(bounds, is_int(t))
    if how == "select":
        return select(t, bounds, list(range(k + 1))).astype(jnp.int32)
    if how == "count":
        return jnp.sum(t[..., None] >= tab, axis=-1, dtype=jnp.int32)
    if how == "buckets":
        return _buckets(bounds).lookup(t)
    return jnp.searchsorted(tab, t, side="right", method="scan_unrolled").astype(jnp.int32)


def lookup(bounds: tuple[int, ...], int_step: bool) -> str:
    """The strategy ``segment`` uses for ``bounds`` (one of ``LOOKUPS``)."""
    how = _FORCED["lookup"]
    if how == "select":
        return "select"
    if how == "count" or (how is None and len(bounds) <= COUNT_MAX):
        return "count"
    if int_step and how in (None, "buckets") and _buckets(bounds) is not None:
        return "buckets"
    return "search"


@dataclasses.dataclass(frozen=True)
class _Buckets:
    """A radix index over sorted int boundaries, exact for every integer step.

    Steps are cut into ``2**shift``-wide buckets from the first boundary ``lo``;
    ``base[j]`` counts the boundaries before bucket ``j``, and no bucket holds more
    than ``width`` boundaries, so ``segment(t) = base[j] + #{b in bucket j: b <= t}``.
    The ``width`` boundaries that may lie in bucket ``j`` are stored in row ``j`` of a
    second table, so every gather is indexed by ``j`` alone (no gather depends on
    another: 0.57 against 1.67 ns/step for 255 boundaries, ``benchmarks/joins.py``); the
    rows are gathered column by column, as 1-D gathers, which XLA fuses with the rest of
    the step (a 2-D gather materialised its indices in a pass of their own).
    """

    lo: int
    shift: int
    base: np.ndarray
    width: int
    bounds: tuple[int, ...]

    def lookup(self, t: jax.Array) -> jax.Array:
        k = len(self.bounds)
        top = imax(t)
        # Past the last boundary the row is padded with the dtype's max: counted only at
        # t == max, where every real boundary is passed too, so min(count, k) is exact.
        ext = np.append(np.asarray(self.bounds, np.int64), top)
        rows = ext[np.minimum(self.base[:, None] + np.arange(self.width), k)]
        above = t >= self.lo
        offset = jnp.where(above, t - jnp.asarray(self.lo, t.dtype), 0)
        j = jnp.minimum(offset >> self.shift, self.base.shape[0] - 1).astype(jnp.uint32)
        count = jnp.asarray(self.base, jnp.int32)[j]
        for column in rows.T:  # 1-D gathers: a [n, width] one materialises its indices
            count = count + (t >= jnp.asarray(column, t.dtype)[j]).astype(jnp.int32)
        return jnp.where(above, jnp.minimum(count, k), 0)


# Buckets per boundary tried, sparsest first: more buckets mean fewer compares per lookup
# and a larger (still small) table. Not ablated: for every join of the benchmark the first
# density already gives one boundary per bucket.
DENSITIES = (4, 8, 16)
# A bucket holding more boundaries than this (clustered boundaries: many short pieces,
# then long ones) costs more compares than a binary search. Not ablated (see DENSITIES);
# the binary search is otherwise kept only for float steps and such clusters: it never won
# for a vector of int steps (K = 1024 cosines: 4.76 vs 1.03 ns/step for the buckets).
WIDTH_MAX = 4


@functools.lru_cache(maxsize=128)
def _buckets(bounds: tuple[int, ...]) -> _Buckets | None:
    lo, hi, k = bounds[0], bounds[-1], len(bounds)
    arr = np.asarray(bounds, np.int64)
    best = None
    for density in DENSITIES:
        shift = max(0, int(np.ceil(np.log2(max(1, hi - lo + 1) / (density * k)))))
        n = ((hi - lo) >> shift) + 1
        base = np.searchsorted(arr, lo + (np.arange(n, dtype=np.int64) << shift), side="left")
        width = int(np.diff(np.append(base, k)).max())
        if best is None or width < best.width:
            best = _Buckets(lo, shift, base.astype(np.int32), width, bounds)
        if width == 1:
            break
    return best if best.width <= WIDTH_MAX else None
