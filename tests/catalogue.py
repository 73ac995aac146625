"""An instance of every public schedule with an independent float64 NumPy reference.

Each reference is written from the formula in the schedule's docstring, with
segment/cycle decisions in exact integer arithmetic (NumPy int64 / Python ints),
never by calling jaxsched. ``ENTRIES`` drives the invariant tests in
``test_catalogue.py``; the reference functions are reused by other test modules.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import optax

import jaxsched as js

Ref = Callable[[np.ndarray], np.ndarray]


# ----------------------------------------------------------------- references
def r_constant(v: float) -> Ref:
    return lambda t: np.full(np.shape(t), v, np.float64)


def r_linear(a: float, b: float, n: int) -> Ref:
    return lambda t: a + (b - a) * np.minimum(t, n) / n


def r_cosine(a: float, b: float, n: int, exponent: float = 1.0) -> Ref:
    return lambda t: b + (a - b) * (0.5 * (1 + np.cos(np.pi * np.minimum(t, n) / n))) ** exponent


def r_polynomial(a: float, b: float, n: int, power: float = 1.0) -> Ref:
    return lambda t: b + (a - b) * (1 - np.minimum(t, n) / n) ** power


def r_sqrt_decay(a: float, b: float, n: int) -> Ref:
    return lambda t: b + (a - b) * (1 - np.sqrt(np.minimum(t, n) / n))


def r_exponential(a, gamma, period=1, staircase=False, end=None) -> Ref:
    def f(t):
        k = (np.asarray(t, np.int64) // period) if staircase else np.asarray(t, np.float64) / period
        with np.errstate(over="ignore"):
            v = a * gamma ** np.asarray(k, np.float64)
        if end is not None:
            v = np.maximum(v, end) if gamma < 1 else np.minimum(v, end)
        return v
    return f


def exact(t) -> np.ndarray:
    """Steps as int64 (integer input) or float64 (fractional steps, e.g. stretched cycles)."""
    t = np.asarray(t)
    return t.astype(np.int64) if np.issubdtype(t.dtype, np.integer) else t.astype(np.float64)


def count_reached(t: np.ndarray, bounds) -> np.ndarray:
    """How many of ``bounds`` are <= t, by direct comparison (exact in int64)."""
    t = exact(t)
    return (sum((t >= b).astype(np.int64) for b in bounds) if bounds
            else np.zeros(t.shape, np.int64))


def r_multistep(a, milestones, gamma=0.1) -> Ref:
    return lambda t: a * gamma ** count_reached(t, milestones).astype(np.float64)


def r_piecewise_constant(values, bounds) -> Ref:
    return lambda t: np.asarray(values, np.float64)[count_reached(t, bounds)]


def r_interpolate(knots, kind="linear") -> Ref:
    steps = [k[0] for k in knots]
    vals = [k[1] for k in knots]

    def f(t):
        t = np.asarray(t, np.int64)
        out = np.empty(t.shape, np.float64)
        for idx, ti in np.ndenumerate(t):
            if ti <= steps[0]:
                out[idx] = vals[0]
                continue
            if ti >= steps[-1]:
                out[idx] = vals[-1]
                continue
            i = max(j for j in range(len(steps) - 1) if steps[j] <= ti)
            p = (ti - steps[i]) / (steps[i + 1] - steps[i])
            v0, v1 = vals[i], vals[i + 1]
            out[idx] = (v0 + (v1 - v0) * p if kind == "linear"
                        else v1 + (v0 - v1) * 0.5 * (1 + np.cos(np.pi * p)))
        return out
    return f


def r_inverse_sqrt(peak, w, timescale=None) -> Ref:
    ts = timescale if timescale is not None else w

    def f(t):
        t = np.asarray(t, np.float64)
        return np.where(t < w, peak * t / max(w, 1), peak * np.sqrt(ts / (np.maximum(t - w, 0) + ts)))
    return f


def r_cyclic(low, high, up, down=None, mode="triangular", gamma=1.0) -> Ref:
    down = up if down is None else down
    total = up + down

    def f(t):
        ti = np.asarray(t, np.int64)
        c, x = ti // total, ti % total
        h = np.where(x <= up, x / up, (total - x) / down)
        if mode == "triangular2":
            h = h * 0.5 ** c.astype(np.float64)
        elif mode == "exp_range":
            h = h * gamma ** ti.astype(np.float64)
        return low + (high - low) * h
    return f


def r_join(refs: list[Ref], bounds) -> Ref:
    starts = [0, *bounds]

    def f(t):
        t = exact(t)
        seg = count_reached(t, bounds)
        out = np.empty(t.shape, np.float64)
        for i, ref in enumerate(refs):
            mask = seg == i
            if mask.any():
                out[mask] = ref(t[mask] - starts[i])
        return out
    return f


def r_repeat(ref: Ref, period: int, mult: int = 1, decay: float = 1.0) -> Ref:
    def f(t):
        t = np.asarray(t, np.int64)
        out = np.empty(t.shape, np.float64)
        for idx, ti in np.ndenumerate(t):
            i, start, length = 0, 0, period
            if mult == 1:  # equal cycles: the cycle index in closed form (exact in ints);
                i = int(ti) // period  # a loop would take 10^8 turns at step 2**31 - 1
                start = i * period
            while ti >= start + length:
                start, length, i = start + length, length * mult, i + 1
            local = (ti - start) / mult**i if mult > 1 else ti - start
            out[idx] = decay**i * float(ref(np.asarray([local]))[0])
        return out
    return f


def r_warmup(ref: Ref, n: int, start: float = 0.0) -> Ref:
    def f(t):
        t = np.asarray(t, np.int64)
        target = float(ref(np.zeros(1))[0])
        return np.where(t < n, start + (target - start) * np.minimum(t, n) / n,
                        ref(np.maximum(t - n, 0)))
    return f


def r_warmup_then(peak, w, start, ref_after: Ref) -> Ref:
    if w == 0:
        return ref_after
    return r_join([r_linear(start, peak, w), ref_after], [w])


def r_one_cycle(peak, total, pct=0.3, div=25.0, final_div=1e4, anneal="cos", three=False) -> Ref:
    up = int(pct * total)
    init = peak / div
    final = init / final_div
    c = r_cosine if anneal == "cos" else r_linear
    if three:
        return r_join([c(init, peak, up), c(peak, init, up), c(init, final, total - 2 * up)],
                      [up, 2 * up])
    return r_join([c(init, peak, up), c(peak, final, total - up)], [up])


def r_one_cycle_momentum(total, pct=0.3, base=0.85, mx=0.95, anneal="cos", three=False) -> Ref:
    up = int(pct * total)
    c = r_cosine if anneal == "cos" else r_linear
    if three:
        return r_join([c(mx, base, up), c(base, mx, up), c(mx, mx, total - 2 * up)],
                      [up, 2 * up])
    return r_join([c(mx, base, up), c(base, mx, total - up)], [up])


def r_sgdr(start, period, mult=1, end=0.0, decay=1.0, w=0) -> Ref:
    height = start - end
    cycle = r_warmup_then(height, w, 0.0, r_cosine(height, 0.0, period - w))
    rep = r_repeat(cycle, period, mult, decay)
    return lambda t: rep(t) + end


def r_batch_ramp(start: int, end: int, steps: int, inc: int = 1) -> Ref:
    """start + inc * floor(n * min(t, steps) / steps), n = (end - start) / inc, in exact ints."""
    n = (end - start) // inc
    return lambda t: start + inc * ((n * np.minimum(np.floor(exact(t)).astype(np.int64), steps))
                                    // steps)


def r_switch(ref_old: Ref, at: int, tail: Callable[[float], Ref]) -> Ref:
    """``ref_old`` before ``at``, then ``tail(lr0)`` counted from ``at``, lr0 = ref_old(at)."""
    lr0 = float(ref_old(np.asarray([at], np.int64))[0])
    return r_join([ref_old, tail(lr0)], [at])


# ----------------------------------------------------------------- entries
@dataclasses.dataclass(frozen=True)
class Entry:
    id: str
    schedule: js.Schedule
    ref: Ref
    bounds: tuple[int, ...] = ()   # steps where something changes: tested at b-1, b, b+1
    horizon: int = 400             # steps 0..horizon are tested densely-ish


def _e(id_, schedule, ref, bounds=(), horizon=400):
    return Entry(id_, schedule, ref, tuple(bounds), horizon)


_optax_cos = optax.cosine_decay_schedule(0.5, 40, alpha=0.2)
_cos3 = [js.cosine(1.0, 0.1, 30), js.cosine(0.5, 0.0, 50), js.cosine(0.8, 0.2, 20)]

ENTRIES: list[Entry] = [
    _e("constant", js.constant(0.1), r_constant(0.1)),
    _e("linear_up", js.linear(0.0, 1e-3, 100), r_linear(0.0, 1e-3, 100), [100]),
    _e("linear_down", js.linear(2.0, 0.5, 37), r_linear(2.0, 0.5, 37), [37]),
    _e("cosine", js.cosine(1e-3, 1e-5, 200), r_cosine(1e-3, 1e-5, 200), [200]),
    _e("cosine_exp2", js.cosine(1.0, 0.0, 77, exponent=2.0), r_cosine(1.0, 0.0, 77, 2.0), [77]),
    _e("polynomial", js.polynomial(1.0, 0.1, 90, power=2.0), r_polynomial(1.0, 0.1, 90, 2.0), [90]),
    _e("polynomial_sqrt", js.polynomial(1.0, 0.0, 64, power=0.5),
       r_polynomial(1.0, 0.0, 64, 0.5), [64]),
    _e("exponential", js.exponential(1.0, 0.99), r_exponential(1.0, 0.99)),
    _e("exponential_stair", js.exponential(1.0, 0.5, period=25, staircase=True),
       r_exponential(1.0, 0.5, 25, True), [25, 50, 75, 100]),
    _e("exponential_floor", js.exponential(1.0, 0.9, period=3, end=0.2),
       r_exponential(1.0, 0.9, 3, False, 0.2)),
    _e("exponential_growth", js.exponential(1e-4, 1.1, end=1.0),
       r_exponential(1e-4, 1.1, 1, False, 1.0)),
    _e("multistep", js.multistep(0.1, [30, 80, 150], gamma=0.3),
       r_multistep(0.1, [30, 80, 150], 0.3), [30, 80, 150]),
    _e("multistep_at0", js.multistep(1.0, [0, 5]), r_multistep(1.0, [0, 5]), [5]),
    _e("piecewise_constant", js.piecewise_constant([1.0, 0.5, 0.25, 0.0], [10, 100, 300]),
       r_piecewise_constant([1.0, 0.5, 0.25, 0.0], [10, 100, 300]), [10, 100, 300]),
    _e("piecewise_constant_many", js.piecewise_constant([1.0 / (i + 1) for i in range(40)],
                                                         [7 * (i + 1) for i in range(39)]),
       r_piecewise_constant([1.0 / (i + 1) for i in range(40)], [7 * (i + 1) for i in range(39)]),
       [7 * (i + 1) for i in range(39)]),
    _e("interpolate_linear", js.interpolate([(0, 0.0), (50, 1.0), (120, 0.1), (200, 0.1)]),
       r_interpolate([(0, 0.0), (50, 1.0), (120, 0.1), (200, 0.1)]), [50, 120, 200]),
    _e("interpolate_cosine", js.interpolate([(10, 0.5), (60, 1.0), (300, 0.0)], shape="cosine"),
       r_interpolate([(10, 0.5), (60, 1.0), (300, 0.0)], "cosine"), [10, 60, 300]),
    _e("inverse_sqrt", js.inverse_sqrt(1e-3, warmup_steps=40), r_inverse_sqrt(1e-3, 40), [40]),
    _e("inverse_sqrt_timescale", js.inverse_sqrt(1.0, warmup_steps=0, timescale=100),
       r_inverse_sqrt(1.0, 0, 100)),
    _e("inverse_sqrt_both", js.inverse_sqrt(1.0, warmup_steps=20, timescale=7),
       r_inverse_sqrt(1.0, 20, 7), [20]),
    _e("cyclic", js.cyclic(0.1, 1.0, 20), r_cyclic(0.1, 1.0, 20), [20, 40, 60]),
    _e("cyclic_asym_tri2", js.cyclic(0.01, 0.1, 10, 30, policy="triangular2"),
       r_cyclic(0.01, 0.1, 10, 30, "triangular2"), [10, 40, 50, 80]),
    _e("cyclic_exp_range", js.cyclic(0.01, 0.1, 15, policy="exp_range", gamma=0.995),
       r_cyclic(0.01, 0.1, 15, None, "exp_range", 0.995), [15, 30]),
    _e("join", js.join([js.linear(0.0, 1e-3, 50), js.constant(1e-3), js.cosine(1e-3, 1e-5, 200)],
                       [50, 100]),
       r_join([r_linear(0.0, 1e-3, 50), r_constant(1e-3), r_cosine(1e-3, 1e-5, 200)], [50, 100]),
       [50, 100, 300]),
    _e("join_one_family", js.join(_cos3, [30, 80]),
       r_join([r_cosine(1.0, 0.1, 30), r_cosine(0.5, 0.0, 50), r_cosine(0.8, 0.2, 20)], [30, 80]),
       [30, 80, 100]),
    _e("join_nested", js.join([js.join(_cos3, [30, 80]), js.linear(0.0, 1.0, 20),
                               js.join([js.constant(0.3), js.exponential(0.3, 0.9)], [10])],
                              [100, 120]),
       r_join([r_join([r_cosine(1.0, 0.1, 30), r_cosine(0.5, 0.0, 50), r_cosine(0.8, 0.2, 20)],
                      [30, 80]), r_linear(0.0, 1.0, 20),
               r_join([r_constant(0.3), r_exponential(0.3, 0.9)], [10])], [100, 120]),
       [30, 80, 100, 120, 130]),
    _e("join_of_recipes", js.join([js.warmup_cosine(1.0, 10, 60), js.one_cycle(0.5, 100)], [60]),
       r_join([r_warmup_then(1.0, 10, 0.0, r_cosine(1.0, 0.0, 50)), r_one_cycle(0.5, 100)], [60]),
       [10, 60, 90, 160]),
    _e("repeat", js.repeat(js.linear(1.0, 0.0, 25), period=25),
       r_repeat(r_linear(1.0, 0.0, 25), 25), [25, 50, 75]),
    _e("repeat_mult_decay", js.repeat(js.cosine(1.0, 0.1, 20), period=20, period_mult=2, cycle_decay=0.7),
       r_repeat(r_cosine(1.0, 0.1, 20), 20, 2, 0.7), [20, 60, 140, 300]),
    _e("repeat_of_join", js.repeat(js.join([js.linear(0.0, 1.0, 5), js.cosine(1.0, 0.0, 15)], [5]),
                                   period=20),
       r_repeat(r_join([r_linear(0.0, 1.0, 5), r_cosine(1.0, 0.0, 15)], [5]), 20), [5, 20, 25]),
    _e("warmup", js.warmup(js.cosine(1.0, 0.0, 100), steps=30, start=0.1),
       r_warmup(r_cosine(1.0, 0.0, 100), 30, 0.1), [30, 130]),
    _e("warmup_of_join", js.warmup(js.join(_cos3, [30, 80]), steps=15),
       r_warmup(r_join([r_cosine(1.0, 0.1, 30), r_cosine(0.5, 0.0, 50), r_cosine(0.8, 0.2, 20)],
                       [30, 80]), 15), [15, 45, 95]),
    _e("clip", js.clip(js.cyclic(0.0, 1.0, 10), min=0.2, max=0.8),
       lambda t: np.clip(r_cyclic(0.0, 1.0, 10)(t), 0.2, 0.8), [10, 20]),
    _e("per_epoch", js.per_epoch(js.multistep(1.0, [3, 5], 0.5), steps_per_epoch=17),
       lambda t: r_multistep(1.0, [3, 5], 0.5)(np.asarray(t, np.int64) // 17), [51, 85]),
    _e("per_epoch_smooth", js.per_epoch(js.exponential(1.0, 0.5), steps_per_epoch=10,
                                        fractional=True),
       lambda t: 0.5 ** (np.asarray(t, np.float64) / 10)),
    _e("product", js.cosine(1.0, 0.0, 100) * js.multistep(1.0, [50], 0.5),
       lambda t: r_cosine(1.0, 0.0, 100)(t) * r_multistep(1.0, [50], 0.5)(t), [50, 100]),
    _e("scaled_sum", 0.5 * js.linear(0.0, 1.0, 10) + 0.25,
       lambda t: 0.5 * r_linear(0.0, 1.0, 10)(t) + 0.25, [10]),
    _e("wrap_optax", js.wrap(_optax_cos, name="optax_cos"), r_cosine(0.5, 0.1, 40), [40]),
    _e("warmup_cosine", js.warmup_cosine(3e-4, warmup_steps=20, total_steps=220, end=3e-6),
       r_warmup_then(3e-4, 20, 0.0, r_cosine(3e-4, 3e-6, 200)), [20, 220]),
    _e("warmup_cosine_nowarm", js.warmup_cosine(1.0, 0, 100, start=0.0, end=0.1),
       r_cosine(1.0, 0.1, 100), [100]),
    _e("warmup_linear", js.warmup_linear(1.0, 10, 110, start=0.1, end=0.05),
       r_warmup_then(1.0, 10, 0.1, r_linear(1.0, 0.05, 100)), [10, 110]),
    _e("warmup_constant", js.warmup_constant(1e-3, 25), r_warmup_then(1e-3, 25, 0.0,
                                                                      r_constant(1e-3)), [25]),
    _e("warmup_polynomial", js.warmup_polynomial(1.0, 10, 60, end=0.01, power=2.0),
       r_warmup_then(1.0, 10, 0.0, r_polynomial(1.0, 0.01, 50, 2.0)), [10, 60]),
    _e("wsd_linear", js.wsd(1.0, 100, 10, 40, end=0.01),
       r_join([r_linear(0.0, 1.0, 10), r_constant(1.0), r_linear(1.0, 0.01, 40)], [10, 60]),
       [10, 60, 100]),
    _e("wsd_cosine", js.wsd(1.0, 90, 0, 40, shape="cosine"),
       r_join([r_constant(1.0), r_cosine(1.0, 0.0, 40)], [50]), [50, 90]),
    _e("wsd_sqrt", js.wsd(2.0, 35, 5, 30, start=0.5, end=0.1, shape="1-sqrt"),
       r_join([r_linear(0.5, 2.0, 5), r_sqrt_decay(2.0, 0.1, 30)], [5]), [5, 35]),
    _e("one_cycle", js.one_cycle(0.1, 200), r_one_cycle(0.1, 200), [60, 200]),
    _e("one_cycle_linear3", js.one_cycle(1.0, 150, pct_start=0.25, div_factor=10.0,
                                         final_div_factor=100.0, shape="linear",
                                         three_phase=True),
       r_one_cycle(1.0, 150, 0.25, 10.0, 100.0, "linear", True), [37, 74, 150]),
    _e("one_cycle_momentum", js.one_cycle_momentum(200), r_one_cycle_momentum(200), [60, 200]),
    _e("one_cycle_momentum3", js.one_cycle_momentum(100, 0.4, 0.8, 0.9, "linear", True),
       r_one_cycle_momentum(100, 0.4, 0.8, 0.9, "linear", True), [40, 80, 100]),
    _e("sgdr", js.sgdr(1.0, 50), r_sgdr(1.0, 50), [50, 100, 150]),
    _e("sgdr_full", js.sgdr(1.0, 20, period_mult=2, end=0.05, cycle_decay=0.5, warmup_steps=4),
       r_sgdr(1.0, 20, 2, 0.05, 0.5, 4), [4, 20, 28, 60, 140, 300]),
    _e("scale_by_batch_sqrt", js.scale_by_batch(js.warmup_cosine(1.0, 10, 200),
                                                js.batch_ramp(32, 256, 150, increment=32), 128,
                                                rule="sqrt"),
       lambda t: (r_warmup_then(1.0, 10, 0.0, r_cosine(1.0, 0.0, 190))(t)
                  * np.sqrt(r_batch_ramp(32, 256, 150, 32)(t) / 128)),
       [10, 22, 43, 65, 86, 108, 129, 150, 200]),
    _e("scale_by_batch_linear", js.scale_by_batch(js.constant(0.1), js.batch_ramp(1, 8, 7), 4),
       lambda t: 0.1 * r_batch_ramp(1, 8, 7)(t) / 4, range(1, 8)),
]

# re-planned runs: extend, cooldown, restart
_wc = r_warmup_then(1.0, 20, 0.0, r_cosine(1.0, 0.01, 200))
_hold = r_join([r_constant(0.5), r_polynomial(0.5, 0.05, 100, 2.0)], [50])
_cool = r_join([r_constant(1.0), r_linear(1.0, 0.0, 30)], [30])
ENTRIES += [
    _e("extend_decaying", js.extend(js.warmup_cosine(1.0, 20, 220, end=0.01), 120, 420),
       r_switch(_wc, 120, lambda lr0: r_cosine(lr0, 0.01, 300)), [20, 120, 420]),
    _e("extend_warming", js.extend(js.warmup_linear(1.0, 40, 140), 10, 300),
       r_join([r_linear(0.0, 1.0, 40), r_linear(1.0, 0.0, 260)], [40]), [10, 40, 300]),
    _e("extend_wsd_hold", js.extend(js.wsd(1.0, 80, 10, 20, shape="1-sqrt"), 30, 200),
       r_join([r_linear(0.0, 1.0, 10), r_constant(1.0), r_sqrt_decay(1.0, 0.0, 20)], [10, 180]),
       [10, 30, 180, 200]),
    _e("extend_join_poly", js.extend(js.join([js.constant(0.5),
                                              js.polynomial(0.5, 0.05, 100, power=2.0)], [50]),
                                     100, 250),
       r_switch(_hold, 100, lambda lr0: r_polynomial(lr0, 0.05, 150, 2.0)), [50, 100, 250]),
    _e("cooldown_linear", js.cooldown(js.warmup_constant(1.0, 10), at=60, steps=40, end=0.1),
       r_join([r_linear(0.0, 1.0, 10), r_constant(1.0), r_linear(1.0, 0.1, 40)], [10, 60]),
       [10, 60, 100]),
    _e("cooldown_cosine_repeat", js.cooldown(js.repeat(js.linear(1.0, 0.2, 25), 25), at=70,
                                             steps=50, shape="cosine"),
       r_switch(r_repeat(r_linear(1.0, 0.2, 25), 25), 70, lambda lr0: r_cosine(lr0, 0.0, 50)),
       [25, 50, 70, 120]),
    _e("cooldown_sqrt_one_cycle", js.cooldown(js.one_cycle(1.0, 200), at=100, steps=60,
                                              end=0.01, shape="1-sqrt"),
       r_switch(r_one_cycle(1.0, 200), 100, lambda lr0: r_sqrt_decay(lr0, 0.01, 60)),
       [60, 100, 160]),
    _e("restart", js.restart(js.cosine(1.0, 0.0, 100), 50, js.warmup_cosine(0.5, 10, 110)),
       r_join([r_cosine(1.0, 0.0, 100), r_warmup_then(0.5, 10, 0.0, r_cosine(0.5, 0.0, 100))],
              [50]), [50, 60, 160]),
    _e("restart_ramp_nested", js.restart(js.cooldown(js.constant(1.0), 30, 30), at=45,
                                         new=js.constant(0.2), warmup_steps=15),
       r_join([_cool, r_linear(0.5, 0.2, 15), r_constant(0.2)], [45, 60]), [30, 45, 60]),
]

BY_ID = {e.id: e for e in ENTRIES}


def steps_for(entry: Entry) -> np.ndarray:
    """Dense-ish steps, every boundary +-1, and a few large steps."""
    near = [b + d for b in entry.bounds for d in (-1, 0, 1)]
    steps = np.concatenate([np.arange(0, entry.horizon, 3), near,
                            [entry.horizon, 1_000, 12_345, 100_003]])
    return np.unique(np.asarray([s for s in steps if s >= 0], np.int64))
