"""Float32 precision up to 2**31 - 1 steps, exact end values, and curve-shaping floats as leaves.

Every curve and recipe, built for ``T`` = 10**7, 10**8 and 2**31 - 1 steps, is
evaluated once (``jit(vmap)`` over int32 steps) on a dense sample: the first
steps, the steps before and after every end of a decay, and a uniform sweep.
Against float64 NumPy references written in cancellation-free form (so that
float64 keeps its digits down to the last step): max relative error <= 1e-6
wherever the reference is >= 1e-2 * peak, no value exactly 0 where the
reference is a normal float32, and exactly the end value once a curve is done.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxsched as js
from jaxsched import hf
from jaxsched import pytorch as pt
from tests.catalogue import r_join, r_warmup

X64 = bool(jax.config.read("jax_enable_x64"))
F = np.float64 if X64 else np.float32
HORIZONS = (10**7, 10**8, 2**31 - 1)
W = 2**11  # steps per window of the sample
TINY = float(np.finfo(np.float32).tiny)


# ----------------------------------------------------------------- float64 references
def _rest(t, n):
    return (n - np.minimum(t, n)) / n


def _done(t, n):
    return np.minimum(t, n) / n


def _log1p(x):
    with np.errstate(divide="ignore"):  # log1p(-1) = -inf, and expm1(-inf) = -1: done
        return np.log1p(x)


def r_lin(a, b, n):
    if a >= b:
        return lambda t: b + (a - b) * _rest(t, n)
    return lambda t: a + (b - a) * _done(t, n)


def r_cos(a, b, n, e=1.0):
    """``b + (a - b) * ((1 + cos(pi t / n)) / 2) ** e``, via sin(pi r / 2) ** 2."""
    if a >= b:
        return lambda t: b + (a - b) * np.sin(np.pi / 2 * _rest(t, n)) ** (2 * e)
    return lambda t: a + (b - a) * -np.expm1(e * _log1p(-np.sin(np.pi / 2 * _done(t, n)) ** 2))


def r_poly(a, b, n, p):
    if a >= b:
        return lambda t: b + (a - b) * _rest(t, n) ** p
    return lambda t: a + (b - a) * -np.expm1(p * _log1p(-_done(t, n)))


def r_sqrt(a, b, n):
    """``b + (a - b) * (1 - sqrt(t / n))`` as ``(n - t) / n / (1 + sqrt(t / n))``."""
    return lambda t: b + (a - b) * _rest(t, n) / (1 + np.sqrt(_done(t, n)))


def r_hf_cosine(lr, floor, w, n):
    """HF's cosine after a linear warmup, unclamped: it rises again after ``n``."""
    def f(t):
        t = np.asarray(t, np.float64)
        c = np.sin(np.pi / 2 * (n - t) / (n - w)) ** 2  # (1 + cos(pi (t - w) / (n - w))) / 2
        return np.where(t < w, lr * t / w, floor + (lr - floor) * c)
    return f


def r_cycles(ref, period):
    return lambda t: ref(np.asarray(t, np.int64) % period)


# ----------------------------------------------------------------- cases
# id -> T -> (schedule, reference, ends (steps where a decay ends), end value or None)
def _wsd(n, decay, ref):
    w, d = n // 100, n // 5
    s = n - w - d
    return (js.wsd(1.0, w + s + d, w, d, end=0.01, shape=decay),
            r_join([r_lin(0.0, 1.0, w), lambda t: np.ones(np.shape(t)), ref(1.0, 0.01, d)],
                   [w, w + s]), (n,), 0.01)


def _one_cycle(n, anneal, three):
    up = int(0.3 * n)
    lo, last = 1.0 / 25, 1.0 / 25 / 1e4
    c = r_cos if anneal == "cos" else r_lin
    if three:
        ref = r_join([c(lo, 1.0, up), c(1.0, lo, up), c(lo, last, n - 2 * up)], [up, 2 * up])
        ends = (up, 2 * up, n)
    else:
        ref, ends = r_join([c(lo, 1.0, up), c(1.0, last, n - up)], [up]), (up, n)
    shape = "cosine" if anneal == "cos" else anneal
    return js.one_cycle(1.0, n, shape=shape, three_phase=three), ref, ends, last


def _pt_one_cycle(n, anneal):
    e1, e2 = 0.3 * n - 1, n - 1.0
    lo, last = 1.0 / 25, 1.0 / 25 / 1e4

    def ref(t):
        t = np.minimum(np.asarray(t, np.float64), e2)
        if anneal == "cos":
            rise = lo + (1.0 - lo) * np.sin(np.pi / 2 * t / e1) ** 2
            fall = last + (1.0 - last) * np.sin(np.pi / 2 * (e2 - t) / (e2 - e1)) ** 2
        else:
            rise = lo + (1.0 - lo) * t / e1
            fall = last + (1.0 - last) * (e2 - t) / (e2 - e1)
        return np.where(t <= e1, rise, fall)
    return (pt.OneCycleLR(1.0, total_steps=n, anneal_strategy=anneal), ref,
            (int(e1), n - 1), last)


def _joined(n):
    """12 cosines, alternately down and up, each done halfway through its segment: the
    gathered-parameter join, with its hand-offs and held end values."""
    k, seg = 12, n // 12
    heights = [(1.0, 0.01) if i % 2 == 0 else (0.02, 0.9) for i in range(k)]
    pieces = [js.cosine(a, b, seg // 2) for a, b in heights]
    bounds = [i * seg for i in range(1, k)]
    ref = r_join([r_cos(a, b, seg // 2) for a, b in heights], bounds)
    return js.join(pieces, bounds), ref, tuple([*bounds, k * seg]), None


CASES = {
    "linear": lambda n: (js.linear(1.0, 1e-5, n), r_lin(1.0, 1e-5, n), (n,), 1e-5),
    "linear rise": lambda n: (js.linear(1e-3, 1.0, n), r_lin(1e-3, 1.0, n), (n,), 1.0),
    "cosine": lambda n: (js.cosine(1.0, 0.0, n), r_cos(1.0, 0.0, n), (n,), 0.0),
    "cosine floor": lambda n: (js.cosine(1.0, 1e-3, n), r_cos(1.0, 1e-3, n), (n,), 1e-3),
    "cosine rise": lambda n: (js.cosine(0.0, 1.0, n), r_cos(0.0, 1.0, n), (n,), 1.0),
    "cosine exponent=2": lambda n: (js.cosine(1.0, 0.0, n, exponent=2.0),
                                    r_cos(1.0, 0.0, n, 2.0), (n,), 0.0),
    "cosine rise exponent=0.5": lambda n: (js.cosine(1e-3, 1.0, n, exponent=0.5),
                                           r_cos(1e-3, 1.0, n, 0.5), (n,), 1.0),
    "polynomial power=2": lambda n: (js.polynomial(1.0, 0.0, n, power=2.0),
                                     r_poly(1.0, 0.0, n, 2.0), (n,), 0.0),
    "polynomial power=0.5": lambda n: (js.polynomial(1.0, 1e-4, n, power=0.5),
                                       r_poly(1.0, 1e-4, n, 0.5), (n,), 1e-4),
    "polynomial rise power=3": lambda n: (js.polynomial(0.0, 1.0, n, power=3.0),
                                          r_poly(0.0, 1.0, n, 3.0), (n,), 1.0),
    "interpolate cosine": lambda n: (
        js.interpolate([(0, 0.0), (n // 10, 1.0), (n, 1e-3)], shape="cosine"),
        r_join([r_cos(0.0, 1.0, n // 10), r_cos(1.0, 1e-3, n - n // 10)], [n // 10]),
        (n // 10, n), 1e-3),
    "interpolate linear, 12 knots": lambda n: (
        js.interpolate([(i * (n // 11), 1.0 if i % 2 else 1e-2) for i in range(12)]),
        r_join([r_lin(1e-2, 1.0, n // 11) if i % 2 == 0 else r_lin(1.0, 1e-2, n // 11)
                for i in range(11)], [i * (n // 11) for i in range(1, 11)]),
        tuple(i * (n // 11) for i in range(1, 12)), 1.0),
    "warmup_cosine": lambda n: (js.warmup_cosine(1.0, n // 100, n),
                                r_join([r_lin(0.0, 1.0, n // 100),
                                        r_cos(1.0, 0.0, n - n // 100)], [n // 100]), (n,), 0.0),
    "warmup_cosine exponent=2": lambda n: (
        js.warmup_cosine(1.0, n // 100, n, end=1e-4, exponent=2.0),
        r_join([r_lin(0.0, 1.0, n // 100), r_cos(1.0, 1e-4, n - n // 100, 2.0)], [n // 100]),
        (n,), 1e-4),
    "warmup_linear": lambda n: (js.warmup_linear(1.0, n // 100, n, end=1e-5),
                                r_join([r_lin(0.0, 1.0, n // 100),
                                        r_lin(1.0, 1e-5, n - n // 100)], [n // 100]), (n,), 1e-5),
    "warmup_polynomial": lambda n: (js.warmup_polynomial(1.0, n // 100, n, power=2.0),
                                    r_join([r_lin(0.0, 1.0, n // 100),
                                            r_poly(1.0, 0.0, n - n // 100, 2.0)], [n // 100]),
                                    (n,), 0.0),
    "warmup (down)": lambda n: (js.warmup(js.constant(1e-3), n // 10, start=1.0),
                                r_warmup(lambda t: np.full(np.shape(t), 1e-3), n // 10, 1.0),
                                (n // 10,), 1e-3),
    "wsd linear": lambda n: _wsd(n, "linear", r_lin),
    "wsd cosine": lambda n: _wsd(n, "cosine", r_cos),
    "wsd 1-sqrt": lambda n: _wsd(n, "1-sqrt", r_sqrt),
    "one_cycle": lambda n: _one_cycle(n, "cos", False),
    "one_cycle linear three_phase": lambda n: _one_cycle(n, "linear", True),
    "one_cycle_momentum": lambda n: (
        js.one_cycle_momentum(n),
        r_join([r_cos(0.95, 0.85, int(0.3 * n)), r_cos(0.85, 0.95, n - int(0.3 * n))],
               [int(0.3 * n)]), (int(0.3 * n), n), 0.95),
    "sgdr": lambda n: (js.sgdr(1.0, period=n // 4), r_cycles(r_cos(1.0, 0.0, n // 4), n // 4),
                       tuple(k * (n // 4) for k in range(1, 5)), None),
    "join of 12 cosines": _joined,
    "pt.LinearLR": lambda n: (pt.LinearLR(0.1, start_factor=1.0, end_factor=1e-3, total_iters=n),
                              r_lin(0.1, 1e-4, n), (n,), 0.1 * 1e-3),
    "pt.PolynomialLR": lambda n: (pt.PolynomialLR(0.1, total_iters=n, power=2.0),
                                  r_poly(0.1, 0.0, n, 2.0), (n,), 0.0),
    "pt.CosineAnnealingLR": lambda n: (
        pt.CosineAnnealingLR(0.1, T_max=n // 2, eta_min=1e-4),
        r_cycles(r_join([r_cos(0.1, 1e-4, n // 2), r_cos(1e-4, 0.1, n // 2)], [n // 2]),
                 2 * (n // 2)), (n // 2, 2 * (n // 2)), None),
    "pt.CosineAnnealingWarmRestarts": lambda n: (
        pt.CosineAnnealingWarmRestarts(0.1, T_0=n // 3),
        r_cycles(r_cos(0.1, 0.0, n // 3), n // 3), (n // 3, 2 * (n // 3)), None),
    "pt.OneCycleLR": lambda n: _pt_one_cycle(n, "cos"),
    "pt.OneCycleLR linear": lambda n: _pt_one_cycle(n, "linear"),
    "hf cosine": lambda n: (
        hf.get_cosine_schedule_with_warmup(0.1, num_warmup_steps=n // 100, num_training_steps=n),
        r_hf_cosine(0.1, 0.0, n // 100, n), (n,), None),
    "hf cosine min_lr": lambda n: (
        hf.get_cosine_with_min_lr_schedule_with_warmup(0.1, num_warmup_steps=n // 100,
                                                       num_training_steps=n, min_lr=1e-5),
        r_hf_cosine(0.1, 1e-5, n // 100, n), (n,), None),
    "hf polynomial": lambda n: (
        hf.get_polynomial_decay_schedule_with_warmup(0.1, n // 100, n, lr_end=1e-6, power=3.0),
        r_join([r_lin(0.0, 0.1, n // 100), r_poly(0.1, 1e-6, n - n // 100, 3.0)], [n // 100]),
        (n,), 1e-6),
    "hf wsd 1-sqrt": lambda n: (
        hf.get_wsd_schedule(0.1, num_warmup_steps=n // 10, num_decay_steps=n // 5,
                            num_training_steps=n, warmup_type="1-sqrt", decay_type="1-sqrt",
                            min_lr_ratio=0.01),
        r_join([lambda t: 0.001 + 0.099 * -np.expm1(0.5 * _log1p(-_done(t, n // 10))),
                lambda t: np.full(np.shape(t), 0.1), r_sqrt(0.1, 0.001, n // 5)],
               [n // 10, n - n // 5]), (n,), 0.1 * 0.01),
    "hf wsd cosine": lambda n: (
        hf.get_wsd_schedule(0.1, num_warmup_steps=n // 10, num_decay_steps=n // 5,
                            num_training_steps=n, warmup_type="cosine"),
        r_join([r_cos(0.0, 0.1, n // 10), lambda t: np.full(np.shape(t), 0.1),
                r_cos(0.1, 0.0, n // 5)], [n // 10, n - n // 5]), (n,), 0.0),
}


def sample(n: int, ends: tuple[int, ...]) -> np.ndarray:
    """The first steps, the steps around every end, a uniform sweep and the last int32 step."""
    parts = [np.arange(W), np.linspace(0, n, W).astype(np.int64), [2**31 - 1]]
    parts += [np.arange(max(0, e - W), e + 3) for e in ends]
    steps = np.unique(np.concatenate(parts))
    return steps[steps <= 2**31 - 1]


@pytest.mark.parametrize("n", HORIZONS, ids=["1e7", "1e8", "2^31-1"])
@pytest.mark.parametrize("name", list(CASES))
def test_float32_precision_and_exact_end(name, n):
    schedule, ref, ends, end = CASES[name](n)
    steps = sample(n, ends)
    values = np.asarray(jax.jit(jax.vmap(schedule))(jnp.asarray(steps, jnp.int32)))
    expect = ref(steps)
    assert values.dtype == F
    big = expect >= 1e-2 * expect.max()
    rel = np.abs(values[big].astype(np.float64) - expect[big]) / expect[big]
    worst = int(np.argmax(rel))
    assert rel.max() <= 1e-6, (f"max rel err {rel.max():.2e} at step {steps[big][worst]}: "
                               f"{values[big][worst]!r} vs {expect[big][worst]!r}")
    false_zeros = steps[(values == 0) & (expect >= TINY)]
    assert false_zeros.size == 0, f"{false_zeros.size} false zeros, first at {false_zeros[:5]}"
    if end is not None:  # exactly the end value from the horizon on (as float32)
        done = steps >= n
        assert done.any()
        np.testing.assert_array_equal(values[done], np.full(done.sum(), end, F))


def test_gathered_join_holds_each_end_exactly():
    """Each piece of the table-driven join returns exactly its own end once done."""
    schedule, _, _, _ = _joined(12_000)
    seg = 1000
    values = np.asarray(schedule(jnp.arange(12 * seg)))
    for i in range(12):
        end = 0.01 if i % 2 == 0 else 0.9
        held = values[i * seg + seg // 2:(i + 1) * seg]
        np.testing.assert_array_equal(held, np.full(held.shape, end, F))


def test_issue_example():
    assert js.linear(1e-3, 1e-5, 1000)(1000) == F(1e-5)
    assert js.warmup_cosine(1e-3, 100, 1000, end=1e-5)(1000) == F(1e-5)
    s = hf.get_cosine_with_min_lr_schedule_with_warmup(0.1, 10, 7919, min_lr=1e-5)
    assert s(7919) == F(1e-5)  # HF's cosine is periodic: only at the end


# ----------------------------------------------------------------- curve-shaping floats as leaves
LEAVES = {
    # name: (build(value), concrete values of the swept field)
    "cosine.exponent": (lambda v: js.cosine(1.0, 0.1, 100, exponent=v), (0.5, 1.0, 2.0)),
    "cosine.exponent (rise)": (lambda v: js.cosine(0.1, 1.0, 100, exponent=v), (0.5, 1.0, 3.0)),
    "polynomial.power": (lambda v: js.polynomial(1.0, 0.0, 100, power=v), (0.5, 1.0, 2.0)),
    "warmup_cosine.exponent": (lambda v: js.warmup_cosine(1.0, 10, 110, exponent=v),
                               (1.0, 2.0, 4.0)),
    "warmup_polynomial.power": (lambda v: js.warmup_polynomial(1.0, 10, 110, power=v),
                                (0.5, 1.0, 2.0)),
    "pt.PolynomialLR.power": (lambda v: pt.PolynomialLR(0.1, total_iters=100, power=v),
                              (0.5, 1.0, 2.0)),
    "hf cosine num_cycles": (lambda v: hf.get_cosine_schedule_with_warmup(
        0.1, num_warmup_steps=10, num_training_steps=110, num_cycles=v), (0.5, 1.0, 1.3)),
    "hf hard restarts num_cycles": (lambda v: hf.get_cosine_with_hard_restarts_schedule_with_warmup(
        0.1, num_warmup_steps=10, num_training_steps=110, num_cycles=v), (1.0, 2.0, 3.0)),
    "hf min_lr num_cycles": (lambda v: hf.get_cosine_with_min_lr_schedule_with_warmup(
        0.1, num_warmup_steps=10, num_training_steps=110, min_lr_rate=0.1, num_cycles=v),
        (0.5, 1.0, 2.0)),
    "hf lr_rate num_cycles": (lambda v: hf.get_cosine_with_min_lr_schedule_with_warmup_lr_rate(
        0.1, num_warmup_steps=10, num_training_steps=110, min_lr_rate=0.1, num_cycles=v),
        (0.5, 1.0, 2.0)),
    "hf polynomial power": (lambda v: hf.get_polynomial_decay_schedule_with_warmup(
        0.1, 10, 110, power=v), (0.5, 1.0, 2.0)),
    "hf wsd num_cycles": (lambda v: hf.get_wsd_schedule(
        0.1, num_warmup_steps=10, num_decay_steps=50, num_training_steps=110, num_cycles=v),
        (0.5, 1.0, 0.75)),
}
STEPS = np.arange(0, 130, 3)


@pytest.mark.parametrize("name", list(LEAVES))
def test_float_is_a_leaf_vmapped_sweep(name):
    build, values = LEAVES[name]
    assert values[-1] in jax.tree_util.tree_leaves(build(values[-1]))
    swept = jax.vmap(lambda v: build(v)(jnp.asarray(STEPS)))(jnp.asarray(values, F))
    for row, v in zip(np.asarray(swept), values, strict=True):
        # the concrete schedule takes the host-side paths (exact integer phases): the same values
        np.testing.assert_allclose(row, np.asarray(build(v)(STEPS)), rtol=2e-6, atol=1e-8)


@pytest.mark.parametrize("name", list(LEAVES))
def test_new_float_value_does_not_retrace(name):
    build, values = LEAVES[name]
    traces = []

    @jax.jit
    def f(schedule, t):
        traces.append(1)
        return schedule(t)

    for v in values:
        np.testing.assert_allclose(np.asarray(f(build(v), jnp.asarray(STEPS))),
                                   np.asarray(build(v)(STEPS)), rtol=2e-6, atol=1e-8)
    assert len(traces) == 1


def test_swept_exponent_matches_float64_reference():
    es = (0.5, 1.0, 2.0, 3.0)
    swept = jax.vmap(lambda e: js.cosine(1.0, 0.1, 100, exponent=e)(jnp.arange(101)))(
        jnp.asarray(es, F))
    for row, e in zip(np.asarray(swept), es, strict=True):
        np.testing.assert_allclose(row, r_cos(1.0, 0.1, 100, e)(np.arange(101)), rtol=1e-6)


# ----------------------------------------------------------------- the quarter-wave sin**2
# float64 (jnp.sin) when x64 is on: test_x64 re-runs this test so.
@pytest.mark.parametrize("dtype", [jnp.float32] + ([jnp.float64] if X64 else []))
def test_sin_squared_matches_float64_over_the_quarter_wave(dtype):
    # The curves' sin**2 (a polynomial in float32, jnp.sin otherwise) against NumPy's
    # float64 sin**2 at the same (rounded) arguments: a dense grid, the smallest normal
    # arguments and both ends; symmetric in x; the value at pi/2 held beyond it.
    from jaxsched._anneal import sin_squared

    grid = np.linspace(0.0, np.pi / 2, 200_001)
    tiny = np.geomspace(1e-19, 1e-3, 2_001)
    x = np.concatenate([grid, tiny, -grid]).astype(dtype)
    got = np.asarray(jax.jit(sin_squared)(jnp.asarray(x)), np.float64)
    ref = np.sin(x.astype(np.float64)) ** 2
    normal = ref >= np.finfo(dtype).tiny  # below it the CPU flushes to zero, as jnp.sin
    assert np.all(got[normal] > 0)  # no false zeros
    assert np.max(np.abs(got - ref)[normal] / ref[normal]) <= (
        2.5e-7 if dtype == jnp.float32 else 1e-15)
    assert got[0] == 0.0 and np.max(got) <= 1.0
    if dtype == jnp.float32:  # the polynomial holds its value at pi/2 beyond it
        beyond = np.asarray(jax.jit(sin_squared)(jnp.asarray([np.pi / 2, 1.6, 3.0], dtype)))
        np.testing.assert_allclose(beyond, 1.0, rtol=1e-7)
