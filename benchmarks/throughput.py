"""Section 1: vectorized throughput of every schedule that has an optax equivalent.

Each contender is ``jax.jit(jax.vmap(fn))`` over the same int32 array of steps
``0 .. n-1`` (n = 1,000,000): the jaxsched schedule itself, the optax schedule
of the same function, and a hand-written fused ``jnp`` expression of it. The
three outputs are checked equal (to 1e-5 of the largest value) before timing.
Schedule lengths scale with ``n`` so every phase of every schedule is visited.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

import jaxsched as js

from . import _harness as h

SECTION = "throughput"
F32 = jnp.float32
# The target for every schedule of this section.
MAX_VS_OPTAX = 1.0
MAX_VS_FUSED = 1.25


@dataclasses.dataclass
class Case:
    name: str
    jaxsched: Callable[[Any], Any]
    optax: Callable[[Any], Any]
    fused: Callable[[Any], Any]
    kind: str  # "curve" (one primitive) or "composite" (a recipe or join)


def _f(t: jax.Array) -> jax.Array:
    return t.astype(F32)


def _cos01(p: jax.Array) -> jax.Array:
    """``(1 + cos(pi * p)) / 2``: 1 at p = 0, 0 at p = 1."""
    return 0.5 * (1.0 + jnp.cos(math.pi * p))


def cases(n: int) -> list[Case]:
    """The schedules, each as jaxsched, optax and a fused expression, sized for ``n`` steps."""
    out: list[Case] = []

    def add(name: str, ours: Any, theirs: Any, fused: Any, kind: str = "curve") -> None:
        out.append(Case(name, ours, theirs, fused, kind))

    add("constant", js.constant(0.3), optax.constant_schedule(0.3),
        lambda t: jnp.asarray(0.3, F32))

    s = int(0.8 * n)
    add("linear", js.linear(1.0, 0.1, s), optax.linear_schedule(1.0, 0.1, s),
        lambda t: 1.0 - 0.9 * (_f(jnp.minimum(t, s)) / s))

    add("cosine", js.cosine(1.0, 0.01, s), optax.cosine_decay_schedule(1.0, s, alpha=0.01),
        lambda t: 0.01 + 0.99 * _cos01(_f(jnp.minimum(t, s)) / s))

    def poly(t: jax.Array) -> jax.Array:
        u = 1.0 - _f(jnp.minimum(t, s)) / s
        return 0.01 + 0.99 * (u * u)

    add("polynomial", js.polynomial(1.0, 0.01, s, power=2.0),
        optax.polynomial_schedule(1.0, 0.01, 2.0, s), poly)

    every = max(1, n // 10)
    add("exponential", js.exponential(1.0, 0.5, period=every),
        optax.exponential_decay(1.0, every, 0.5),
        lambda t: jnp.exp(_f(t) * (math.log(0.5) / every)))

    add("exponential_staircase",
        js.exponential(1.0, 0.5, period=every, staircase=True, end=0.01),
        optax.exponential_decay(1.0, every, 0.5, staircase=True, end_value=0.01),
        lambda t: jnp.maximum(jnp.exp2(-_f(t // every)), 0.01))

    b1, b2, b3 = n // 4, n // 2, 3 * n // 4
    add("piecewise_constant", js.piecewise_constant([1.0, 0.5, 0.1, 0.01], [b1, b2, b3]),
        optax.piecewise_constant_schedule(1.0, {b1: 0.5, b2: 0.2, b3: 0.1}),
        lambda t: jnp.where(t < b1, 1.0, jnp.where(t < b2, 0.5, jnp.where(t < b3, 0.1, 0.01))))

    m1, m2, m3 = int(0.3 * n), int(0.6 * n), int(0.9 * n)
    add("multistep", js.multistep(1.0, [m1, m2, m3], gamma=0.1),
        optax.piecewise_constant_schedule(1.0, {m1: 0.1, m2: 0.1, m3: 0.1}),
        lambda t: jnp.where(t < m1, 1.0, jnp.where(t < m2, 0.1, jnp.where(t < m3, 0.01, 0.001))))

    k1, k2 = int(0.2 * n), int(0.7 * n)

    def interp(t: jax.Array) -> jax.Array:
        up = 0.1 + 0.9 * (_f(t) / k1)
        down = 1.0 - 0.95 * (_f(t - k1) / (k2 - k1))
        return jnp.where(t < k1, up, jnp.where(t < k2, down, 0.05))

    add("interpolate_linear", js.interpolate([(0, 0.1), (k1, 1.0), (k2, 0.05)]),
        optax.piecewise_interpolate_schedule("linear", 0.1, {k1: 10.0, k2: 0.05}), interp)

    w, total = max(1, n // 20), n
    decay = total - w

    def warm_cos(t: jax.Array) -> jax.Array:
        cos = 1e-3 + (1.0 - 1e-3) * _cos01(_f(jnp.minimum(t - w, decay)) / decay)
        return jnp.where(t < w, _f(t) / w, cos)

    add("warmup_cosine", js.warmup_cosine(1.0, w, total, end=1e-3),
        optax.warmup_cosine_decay_schedule(0.0, 1.0, w, total, 1e-3), warm_cos, "composite")

    add("warmup_constant", js.warmup_constant(1.0, w),
        optax.warmup_constant_schedule(0.0, 1.0, w),
        lambda t: _f(jnp.minimum(t, w)) / w, "composite")

    period = max(2, n // 10)
    pw = max(1, period // 20)
    cycles = -(-n // period)
    cycle = dict(init_value=0.01, peak_value=1.0, decay_steps=period, warmup_steps=pw,
                 end_value=0.01)

    def restarts(t: jax.Array) -> jax.Array:
        x = t % period
        ramp = 0.01 + 0.99 * (_f(x) / pw)
        return jnp.where(x < pw, ramp, 0.01 + 0.99 * _cos01(_f(x - pw) / (period - pw)))

    add("sgdr", js.sgdr(1.0, period=period, end=0.01, warmup_steps=pw),
        optax.sgdr_schedule([cycle] * cycles), restarts, "composite")

    up = int(0.3 * n)
    lo, hi, last = 1.0 / 25.0, 1.0, 1.0 / 25.0 / 1e4

    def one_cycle(t: jax.Array) -> jax.Array:
        rise = hi + (lo - hi) * _cos01(_f(t) / up)
        fall = last + (hi - last) * _cos01(_f(jnp.minimum(t - up, n - up)) / (n - up))
        return jnp.where(t < up, rise, fall)

    add("one_cycle", js.one_cycle(1.0, n, pct_start=0.3, div_factor=25.0,
                                  final_div_factor=1e4),
        optax.cosine_onecycle_schedule(n, 1.0, 0.3, 25.0, 1e4), one_cycle, "composite")

    j1, j2 = n // 10, 3 * n // 10
    j3 = n - j2

    def join3(t: jax.Array) -> jax.Array:
        cos = _cos01(_f(jnp.minimum(t - j2, j3)) / j3)
        return jnp.where(t < j1, _f(t) / j1, jnp.where(t < j2, 1.0, cos))

    add("join3", js.join([js.linear(0.0, 1.0, j1), js.constant(1.0), js.cosine(1.0, 0.0, j3)],
                         [j1, j2]),
        optax.join_schedules([optax.linear_schedule(0.0, 1.0, j1), optax.constant_schedule(1.0),
                              optax.cosine_decay_schedule(1.0, j3)], [j1, j2]),
        join3, "composite")
    return out


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Measures every case; one row per (schedule, contender)."""
    n = 100_000 if quick else 1_000_000
    reps, number = (5, 1) if quick else (15, 3)
    x = h.steps(n)
    rows: list[dict[str, Any]] = []
    for case in cases(n):
        h.progress(f"  throughput: {case.name}")
        fns = {"jaxsched": case.jaxsched, "optax": case.optax, "fused": case.fused}
        rows += h.compare(SECTION, case.name, fns, x, reps, number, {"kind": case.kind},
                          build_times=1 if quick else 3)
    return rows


def summarize(rows: list[dict[str, Any]]) -> tuple[list[h.Line], list[h.Target]]:
    """Table lines (one per schedule) and the section's target."""
    by_name: dict[str, dict[str, dict[str, Any]]] = {}
    for r in rows:
        if r["section"] == SECTION:
            by_name.setdefault(r["name"], {})[r["contender"]] = r
    lines, misses = [], []
    for name, group in by_name.items():
        ns = {k: group[k]["ns_per_step"] if k in group else None for k in h.CONTENDERS}
        noise = {k: group[k]["iqr_rel"] if k in group else 0.0 for k in h.CONTENDERS}
        line = h.Line(SECTION, name, "ns/step", ns["jaxsched"], ns["optax"], ns["fused"],
                      target=f"<={MAX_VS_OPTAX:g}x opt, <={MAX_VS_FUSED:g}x fus",
                      note=group["jaxsched"].get("kind", ""))
        s1 = h.status(line.ratio("optax"), MAX_VS_OPTAX,
                      noise=noise["jaxsched"] + noise["optax"])
        s2 = h.status(line.ratio("fused"), MAX_VS_FUSED,
                      noise=noise["jaxsched"] + noise["fused"])
        line.status = _worst(s1, s2)
        if line.status != "PASS":
            misses.append(name + ("*" if line.status == "MISS*" else ""))
        lines.append(line)
    n = len(lines)
    target = h.Target(
        f"every schedule <= {MAX_VS_OPTAX:g}x optax and <= {MAX_VS_FUSED:g}x fused (ns/step)",
        f"{n - len(misses)}/{n} pass" + (f"; misses: {', '.join(misses)}" if misses else "")
        + (" (* within noise)" if any(m.endswith("*") for m in misses) else ""),
        "PASS" if not misses else ("MISS*" if all(ln.status in ("PASS", "MISS*")
                                                   for ln in lines) else "MISS"))
    return lines, [target]


def _worst(*statuses: str) -> str:
    for s in ("MISS", "MISS*", "n/a"):
        if s in statuses:
            return s
    return "PASS"
