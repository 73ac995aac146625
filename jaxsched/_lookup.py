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

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._steps import float_dtype, imax, is_int, reached, stack

# Up to this many boundaries, a chain of selects over the values beats an index
# computation plus a gather on CPU (benchmarks/joins.py, "lookup ablation").
SELECT_MAX = 8
# Up to this many boundaries, a fused compare-and-count beats the radix buckets.
COUNT_MAX = 32


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
    if len(bounds) <= SELECT_MAX:
        return select(t, bounds, values)
    return stack(values)[segment(t, bounds)]


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

    Up to ``COUNT_MAX`` boundaries: a fused compare-and-count. More, with integer
    steps: a radix table (``_Buckets``) resolves the segment with one gather plus a
    few compares. Otherwise a binary search.
    """
    tab = table(t, bounds)
    k = tab.shape[0]
    if k == 0:
        return jnp.zeros(t.shape, jnp.int32)
    if k <= COUNT_MAX:
        return jnp.sum(t[..., None] >= tab, axis=-1, dtype=jnp.int32)
    if is_int(t):
        buckets = _buckets(tuple(bounds[:k]))
        if buckets is not None:
            return buckets.lookup(t, tab)
    return jnp.searchsorted(tab, t, side="right", method="scan_unrolled").astype(jnp.int32)


@dataclasses.dataclass(frozen=True)
class _Buckets:
    """A radix index over sorted int boundaries, exact for every integer step.

    Steps are cut into ``2**shift``-wide buckets from the first boundary ``lo``;
    ``base[j]`` counts the boundaries before bucket ``j``, and no bucket holds more
    than ``width`` boundaries, so ``segment(t) = base[j] + #{b in bucket j: b <= t}``.
    """

    lo: int
    shift: int
    base: np.ndarray
    width: int

    def lookup(self, t: jax.Array, tab: jax.Array) -> jax.Array:
        k = tab.shape[0]
        above = t >= self.lo
        offset = jnp.where(above, t - jnp.asarray(self.lo, t.dtype), 0)
        j = jnp.minimum(offset >> self.shift, self.base.shape[0] - 1).astype(jnp.int32)
        first = jnp.asarray(self.base, jnp.int32)[j]
        count = first
        for m in range(self.width):
            i = first + m
            count = count + ((i < k) & (t >= tab[jnp.minimum(i, k - 1)])).astype(jnp.int32)
        return jnp.where(above, count, 0)


# Buckets per boundary tried, sparsest first: more buckets mean fewer compares per lookup
# and a larger (still small) table.
DENSITIES = (4, 8, 16)
# A bucket holding more boundaries than this (clustered boundaries: many short pieces,
# then long ones) costs more compares than a binary search.
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
            best = _Buckets(lo, shift, base.astype(np.int32), width)
        if width == 1:
            break
    return best if best.width <= WIDTH_MAX else None
