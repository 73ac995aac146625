"""Composition: table-driven joins, families, huge steps, plain callables, traced hyperparameters."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from catalogue import (
    r_cosine,
    r_exponential,
    r_join,
    r_linear,
    r_piecewise_constant,
    r_warmup_then,
)

import jaxsched as js

X64 = bool(jax.config.jax_enable_x64)

RTOL = 1e-12 if jax.config.jax_enable_x64 else 2e-6


def cosines(k: int):
    lengths = [10 + (i * 7) % 23 for i in range(k)]
    pieces = [js.cosine(1.0 / (i + 1), 0.1 / (i + 1), n) for i, n in enumerate(lengths)]
    refs = [r_cosine(1.0 / (i + 1), 0.1 / (i + 1), n) for i, n in enumerate(lengths)]
    bounds = [int(b) for b in np.cumsum(lengths)[:-1]]
    return pieces, refs, bounds


def test_join_of_1024_cosines_is_one_family_and_exact():
    pieces, refs, bounds = cosines(1024)
    s = js.join(pieces, bounds)
    assert len(s._families) == 1
    t = np.unique(np.concatenate([np.arange(0, bounds[-1] + 50, 13),
                                  [b + d for b in bounds for d in (-1, 0, 1)]]))
    got = np.asarray(jax.jit(s)(jnp.asarray(t, jnp.int32)))
    np.testing.assert_allclose(got, r_join(refs, bounds)(t), rtol=RTOL, atol=RTOL)


def test_families_group_by_class_and_static_settings():
    pieces = [js.cosine(1.0, 0.0, 10), js.linear(0.0, 1.0, 5), js.cosine(0.5, 0.1, 30),
              js.cosine(0.5, 0.1, 30, exponent=2.0), js.linear(1.0, 0.0, 9), js.constant(0.1)]
    s = js.join(pieces, [10, 15, 45, 75, 84])
    members = sorted(f.members for f in s._families)
    assert members == [(0, 2), (1, 4), (3,), (5,)]


def hlo_lines(s) -> int:
    return len(jax.jit(jax.vmap(s)).lower(jnp.zeros(1000, jnp.int32)).as_text().splitlines())


def test_program_size_does_not_grow_with_pieces():
    # Tables are constants. Up to 32 boundaries a compare-and-count is used (smaller still);
    # past that only the unrolled binary search adds a step per doubling of K.
    sizes = {k: hlo_lines(js.join(*cosines(k)[::2])) for k in (16, 64, 1024)}
    assert sizes[1024] <= sizes[64] + 8, sizes
    pc = {k: hlo_lines(js.piecewise_constant([1.0 / (i + 1) for i in range(k)],
                                             list(range(1, k)))) for k in (16, 64, 1024)}
    assert pc[1024] <= pc[64] + 8, pc


def test_optax_join_grows_with_pieces():
    # The reason for the table: optax's program grows linearly in K.
    def optax_join(k):
        pieces, _, bounds = cosines(k)
        return js.wrap(optax.join_schedules(
            [optax.cosine_decay_schedule(p.start, p.steps, p.end / p.start) for p in pieces],
            bounds))
    assert hlo_lines(optax_join(64)) > 4 * hlo_lines(optax_join(4))


def test_scalar_jit_evaluates_each_family_once():
    # Many pieces of several families: each family once with gathered parameters, then one
    # select (a lax.switch lost to this in the ablation of benchmarks/joins.py).
    kinds = [js.linear(0.0, 1.0, 10), js.cosine(1.0, 0.0, 20), js.exponential(0.5, 0.9)]
    many = js.join([kinds[i % 3] for i in range(12)], [10 * (i + 1) for i in range(11)])
    jaxpr = str(jax.make_jaxpr(many)(jnp.int32(3)))
    assert "cond[" not in jaxpr and "select_n" in jaxpr
    # The cosine family runs once: its sin**2 (jnp.sin, or in float32 a polynomial whose
    # last coefficient appears once per evaluation).
    from jax.extend import core

    from jaxsched._anneal import _SIN2

    def marks(jx):
        for sub in core.subjaxprs(jx):
            yield from marks(sub)
        for eqn in jx.eqns:
            yield eqn.primitive.name == "sin" or any(
                isinstance(v, core.Literal) and v.val == np.float32(_SIN2[-1])
                for v in eqn.invars)

    assert sum(marks(jax.make_jaxpr(many)(jnp.int32(3)).jaxpr)) == 1
    np.testing.assert_allclose([float(jax.jit(many)(jnp.int32(t))) for t in (5, 15, 25, 40)],
                               [0.5, float(r_cosine(1.0, 0.0, 20)(5)), 0.5 * 0.9**5, 1.0],
                               rtol=1e-5)
    # A few pieces: a select chain (no control flow, which costs more than a few flops).
    s = js.join(kinds, [10, 30])
    assert "cond[" not in str(jax.make_jaxpr(s)(jnp.int32(3)))
    np.testing.assert_allclose([float(jax.jit(s)(jnp.int32(t))) for t in (5, 10, 29, 30, 40)],
                               [0.5, 1.0, float(r_cosine(1.0, 0.0, 20)(19)), 0.5, 0.5 * 0.9**10],
                               rtol=1e-5)


def test_boundaries_beyond_int32_with_int32_steps():
    s = js.join([js.constant(1.0), js.constant(0.5)], [3_000_000_000])
    assert float(jax.jit(s)(jnp.int32(2**31 - 1))) == 1.0
    pc = js.piecewise_constant([1.0, 0.5, 0.25], [2**31 - 1, 5_000_000_000])
    out = jax.jit(pc)(jnp.asarray([2**31 - 2, 2**31 - 1], jnp.int32))
    np.testing.assert_array_equal(np.asarray(out), [1.0, 0.5])


def test_python_int_constants_never_overflow_in_the_trace():
    # optax.linear_schedule(..., transition_steps=3_000_000_000) raises OverflowError under jit.
    s = js.linear(1.0, 0.0, 3_000_000_000)
    out = jax.jit(s)(jnp.asarray([0, 1_500_000_000, 2**31 - 1], jnp.int32))
    np.testing.assert_allclose(np.asarray(out), [1.0, 0.5, 1 - (2**31 - 1) / 3e9], rtol=1e-6)
    w = js.warmup(js.constant(1.0), 4_000_000_000)
    assert float(jax.jit(w)(jnp.int32(2**31 - 1))) == pytest.approx((2**31 - 1) / 4e9, rel=1e-6)
    r = js.repeat(js.linear(1.0, 0.0, 10), period=3_000_000_000)
    assert float(jax.jit(r)(jnp.int32(2**31 - 1))) == 0.0


def test_exact_boundary_past_float32_integers():
    b = 2**24 + 1  # not representable in float32
    s = js.join([js.constant(1.0), js.constant(0.5)], [b])
    out = jax.jit(s)(jnp.asarray([b - 1, b, b + 1], jnp.int32))
    np.testing.assert_array_equal(np.asarray(out), [1.0, 0.5, 0.5])
    m = js.multistep(1.0, [b], gamma=0.5)
    np.testing.assert_array_equal(np.asarray(m(jnp.asarray([b - 1, b], jnp.int32))), [1.0, 0.5])
    r = js.repeat(js.piecewise_constant([1.0, 0.0], [b - 1]), period=b)
    np.testing.assert_array_equal(np.asarray(r(jnp.asarray([b - 2, b - 1, b, 2 * b], jnp.int32))),
                                  [1.0, 0.0, 1.0, 1.0])


def test_plain_callables_are_wrapped_everywhere():
    opt = optax.linear_schedule(0.0, 1.0, 10)
    s = js.join([opt, lambda t: 1.0 - 0.01 * t, 0.2], [10, 20])
    assert isinstance(s.schedules[0], js.wrap) and s.schedules[2] == js.constant(0.2)
    np.testing.assert_allclose(np.asarray(s(jnp.asarray([5, 10, 15, 25]))), [0.5, 1.0, 0.95, 0.2],
                               rtol=1e-6)
    assert float(js.repeat(opt, 10)(15)) == pytest.approx(0.5)
    assert float(js.warmup(opt, 4)(2)) == pytest.approx(0.0)
    assert float(js.clip(opt, min=0.3)(1)) == pytest.approx(0.3)
    assert float((opt * js.constant(2.0))(5)) == pytest.approx(1.0)  # via __rmul__
    assert float((js.constant(2.0) * opt)(5)) == pytest.approx(1.0)


def test_operators_with_scalars_keep_order_and_print():
    c = js.cosine(1.0, 0.0, 10)
    assert repr(0.5 * c) == "0.5 * cosine(start=1.0, end=0.0, steps=10)"
    assert repr(c * 0.5 + 0.1) == "cosine(start=1.0, end=0.0, steps=10) * 0.5 + 0.1"
    assert repr((c + 0.1) * 2) == "(cosine(start=1.0, end=0.0, steps=10) + 0.1) * 2.0"
    assert 0.5 * c == 0.5 * c and 0.5 * c != c * 0.5


@pytest.mark.parametrize("build", [
    lambda p: js.cosine(p, 0.0, 100),
    lambda p: js.warmup_cosine(p, 10, 100),
    lambda p: js.join([js.linear(0.0, p, 10), js.cosine(p, 0.0, 40), js.cosine(0.5 * p, 0.0, 40)],
                      [10, 50]),
    lambda p: js.one_cycle(p, 100),
    lambda p: js.sgdr(p, 30, period_mult=2),
    lambda p: js.exponential(p, 0.97, period=5, staircase=True),
    lambda p: js.piecewise_constant([p, 0.5 * p], [40]),
])
def test_vmap_over_a_sweep_of_peaks(build):
    peaks = jnp.asarray([1e-3, 3e-3, 1e-2])
    steps = jnp.asarray([0, 5, 10, 45, 60, 99])
    swept = jax.jit(jax.vmap(lambda p: build(p)(steps)))(peaks)
    # Every schedule above is linear in its peak: the sweep is peak * the unit curve.
    unit = np.asarray(build(1.0)(steps), np.float64)
    np.testing.assert_allclose(np.asarray(swept), np.asarray(peaks)[:, None] * unit, rtol=1e-5,
                               atol=1e-9)


def test_grad_with_respect_to_hyperparameters():
    g = jax.grad(lambda p: js.cosine(p, 0.0, 100)(30))(1.0)
    assert float(g) == pytest.approx(0.5 * (1 + np.cos(np.pi * 0.3)), rel=1e-6)
    g = jax.grad(lambda p: js.warmup_cosine(p, 10, 110, end=1e-4)(60))(2.0)
    assert float(g) == pytest.approx(0.5, rel=1e-5)
    g = jax.grad(lambda gamma: js.exponential(1.0, gamma)(3))(0.5)
    assert float(g) == pytest.approx(3 * 0.25, rel=1e-6)
    g = jax.grad(lambda p: js.join([js.linear(0.0, p, 10), js.cosine(p, 0.0, 10)], [10])(15))(1.0)
    assert np.isfinite(float(g)) and float(g) == pytest.approx(0.5, rel=1e-5)


def test_warmup_ramps_to_the_wrapped_schedule_start():
    inner = js.join([js.constant(0.4), js.linear(0.4, 0.0, 10)], [5])
    s = js.warmup(inner, 8, start=0.1)
    ref = r_join([r_linear(0.1, 0.4, 8), r_join([lambda t: np.full(np.shape(t), 0.4),
                                                 r_linear(0.4, 0.0, 10)], [5])], [8])
    t = np.arange(30)
    np.testing.assert_allclose(np.asarray(s(t)), ref(t), rtol=RTOL, atol=1e-7)


def test_nested_compositions_deep():
    inner = js.join([js.warmup_cosine(1.0, 5, 25), js.constant(0.2)], [25])
    s = js.clip(js.per_epoch(js.repeat(inner, period=40, cycle_decay=0.5), steps_per_epoch=2)
                * js.linear(1.0, 0.5, 400), max=0.9)
    inner_ref = r_join([r_warmup_then(1.0, 5, 0.0, r_cosine(1.0, 0.0, 20)),
                        lambda t: np.full(np.shape(t), 0.2)], [25])

    def ref(t):
        epoch = np.asarray(t, np.int64) // 2
        cyc, local = epoch // 40, epoch % 40
        return np.minimum(0.5**cyc * inner_ref(local) * r_linear(1.0, 0.5, 400)(t), 0.9)

    t = np.arange(0, 500, 3)
    np.testing.assert_allclose(np.asarray(jax.jit(s)(t)), ref(t), rtol=RTOL, atol=1e-7)
    assert eval(repr(s), {**vars(js)}) == s  # the repr is the code that built it


def test_piecewise_constant_many_pieces_matches_reference():
    k = 1000
    values = [1.0 / (i + 1) for i in range(k)]
    bounds = [3 * (i + 1) for i in range(k - 1)]
    s = js.piecewise_constant(values, bounds)
    t = np.arange(0, 3 * k + 10)
    np.testing.assert_allclose(np.asarray(jax.jit(s)(t)), r_piecewise_constant(values, bounds)(t),
                               rtol=RTOL)


def test_evaluate_compiles_once_per_schedule():
    from jaxsched._schedule import _compiled

    s = js.warmup_cosine(1.0, 3, 10)
    before = _compiled.cache_info()
    a = js.evaluate(s, 12)
    b = js.evaluate(js.warmup_cosine(1.0, 3, 10), np.arange(12))  # equal value: same cache entry
    after = _compiled.cache_info()
    assert after.misses == before.misses + 1 and after.hits == before.hits + 1
    assert isinstance(a, np.ndarray) and a.shape == (12,)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(js.evaluate(lambda t: 0.1 * t, 3), [0.0, 0.1, 0.2], rtol=1e-6)


@pytest.mark.parametrize("kind", ["uniform", "ragged", "clustered", "near_int32_max", "sparse"])
def test_segment_lookup_is_exact(kind):
    from jaxsched._lookup import segment

    rng = np.random.default_rng(0)
    if kind == "uniform":
        bounds = np.arange(1, 2000) * 5
    elif kind == "ragged":
        bounds = np.cumsum(rng.integers(1, 50, size=700))
    elif kind == "clustered":  # many short pieces, then a few very long ones: binary search
        bounds = np.concatenate([np.arange(1, 200), [10**6, 10**8, 10**9]])
    elif kind == "near_int32_max":
        bounds = 2**31 - 1 - np.arange(100)[::-1] * 3
    else:
        bounds = np.cumsum(rng.integers(1, 10**7, size=64))
    bounds = tuple(int(b) for b in bounds)
    probes = np.unique(np.concatenate([
        [0, 1, 2**31 - 1], np.asarray(bounds) - 1, bounds, np.asarray(bounds) + 1,
        rng.integers(0, bounds[-1] + 10, size=2000)]))
    probes = probes[(probes >= 0) & (probes <= 2**31 - 1)]
    got = np.asarray(jax.jit(lambda t: segment(t, bounds))(jnp.asarray(probes, jnp.int32)))
    np.testing.assert_array_equal(got, np.searchsorted(np.asarray(bounds), probes, side="right"))
    # Negative int32 steps (before every boundary) and uint32 steps up to 2**32 - 1.
    low = np.asarray([-(2**31), -5, -1], np.int32)
    np.testing.assert_array_equal(np.asarray(jax.jit(lambda t: segment(t, bounds))(low)), 0)
    wide = np.unique(np.concatenate([probes, [2**31, 2**32 - 2, 2**32 - 1]])).astype(np.uint32)
    got = np.asarray(jax.jit(lambda t: segment(t, bounds))(jnp.asarray(wide, jnp.uint32)))
    np.testing.assert_array_equal(got, np.searchsorted(np.asarray(bounds), wide, side="right"))


@pytest.mark.parametrize("how", ["select", "count", "buckets", "search"])
def test_every_forced_lookup_is_exact(how):
    # The ablation in benchmarks/joins.py forces each strategy: each must give the same
    # segments as NumPy for every integer step, including past the last boundary.
    from jaxsched._lookup import forced, segment

    bounds = tuple(int(b) for b in np.cumsum(np.random.default_rng(1).integers(1, 50, 40)))
    probes = np.unique(np.concatenate([[0, 2**31 - 1], np.asarray(bounds) - 1, bounds,
                                       np.asarray(bounds) + 1]))
    with forced(lookup=how):
        got = np.asarray(jax.jit(lambda t: segment(t, bounds))(jnp.asarray(probes, jnp.int32)))
    np.testing.assert_array_equal(got, np.searchsorted(np.asarray(bounds), probes, side="right"))


@pytest.mark.parametrize("how", ["select", "gather", "all"])
def test_every_forced_dispatch_gives_the_same_values(how):
    from jaxsched._lookup import forced

    kinds = [(js.linear(0.0, 1.0, 10), r_linear(0.0, 1.0, 10)),
             (js.cosine(1.0, 0.0, 20), r_cosine(1.0, 0.0, 20)),
             (js.exponential(0.5, 0.9), r_exponential(0.5, 0.9))]
    mixed = [kinds[i % 3] for i in range(12)]
    cosines = [(js.cosine(1.0 / (i + 1), 0.0, 10 + i), r_cosine(1.0 / (i + 1), 0.0, 10 + i))
               for i in range(12)]
    bounds = [10 * (i + 1) for i in range(11)]
    steps = jnp.arange(0, 130, dtype=jnp.int32)
    for pairs in (mixed, cosines):  # every path against the float64 references
        s = js.join([p for p, _ in pairs], bounds)
        want = r_join([r for _, r in pairs], bounds)(np.arange(130))
        with forced(dispatch=how):
            vec = np.asarray(jax.jit(jax.vmap(lambda t, s=s: s(t)))(steps))
            one = [float(jax.jit(lambda t, s=s: s(t))(jnp.int32(t))) for t in (0, 9, 10, 125)]
        np.testing.assert_allclose(vec, want, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(one, want[[0, 9, 10, 125]], rtol=1e-5, atol=1e-7)


def test_forced_refuses_unknown_strategies():
    from jaxsched._lookup import forced

    with pytest.raises(ValueError, match="forced: `lookup` must be one of select, count, "
                                         "buckets, search, got 'linear'"):
        with forced(lookup="linear"):
            pass
