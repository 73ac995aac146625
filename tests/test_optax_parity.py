"""Value-for-value parity with optax for every schedule the two libraries share.

Where the conventions differ (optax's join holds the last piece, ours repeats;
optax's linear one-cycle takes ``pct_final``) the test pins the difference.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxsched as js

# optax computes several schedules in float32 even under x64: compare at float32 precision.
# (Our float64 accuracy is checked against NumPy references in test_catalogue.py.)
RTOL = 3e-6


def steps_around(*bounds, top=None):
    top = top or max(bounds) + 60
    near = [b + d for b in bounds for d in (-1, 0, 1) if b + d >= 0]
    return np.unique(np.concatenate([np.arange(0, top), near])).astype(np.int32)


def optax_values(schedule, t):
    """optax's values at the steps ``t``, in one compiled call (op by op, an optax closure under
    ``vmap`` compiles each of its jnp functions separately: about ten compilations a schedule)."""
    return jax.jit(jax.vmap(schedule))(jnp.asarray(t))


PAIRS = [
    ("constant", js.constant(0.3), optax.constant_schedule(0.3), (10,)),
    ("linear", js.linear(1.0, 0.1, 50), optax.linear_schedule(1.0, 0.1, 50), (50,)),
    ("linear_begin", js.join([js.constant(0.0), js.linear(0.0, 1.0, 30)], [20]),
     optax.linear_schedule(0.0, 1.0, 30, transition_begin=20), (20, 50)),
    ("cosine", js.cosine(2e-3, 2e-3 * 0.05, 100), optax.cosine_decay_schedule(2e-3, 100, 0.05),
     (100,)),
    ("cosine_exponent", js.cosine(1.0, 0.1, 80, exponent=3.0),
     optax.cosine_decay_schedule(1.0, 80, alpha=0.1, exponent=3.0), (80,)),
    ("exponential", js.exponential(1.0, 0.5, period=10),
     optax.exponential_decay(1.0, 10, 0.5), (10, 100)),
    ("exponential_staircase_end", js.exponential(1.0, 0.5, period=7, staircase=True, end=0.05),
     optax.exponential_decay(1.0, 7, 0.5, staircase=True, end_value=0.05), (7, 14, 35)),
    ("exponential_growth", js.exponential(0.01, 1.2, period=3, end=0.5),
     optax.exponential_decay(0.01, 3, 1.2, end_value=0.5), (30,)),
    ("exponential_begin", js.join([js.constant(1.0), js.exponential(1.0, 0.9)], [15]),
     optax.exponential_decay(1.0, 1, 0.9, transition_begin=15), (15,)),
    ("polynomial", js.polynomial(1.0, 0.01, 60, power=2.0),
     optax.polynomial_schedule(1.0, 0.01, 2.0, 60), (60,)),
    ("piecewise_constant", js.piecewise_constant([1.0, 0.5, 0.05], [10, 40]),
     optax.piecewise_constant_schedule(1.0, {10: 0.5, 40: 0.1}), (10, 40)),
    ("multistep", js.multistep(0.1, [5, 30, 31], gamma=0.2),
     optax.piecewise_constant_schedule(0.1, {5: 0.2, 30: 0.2, 31: 0.2}), (5, 30, 31)),
    ("interpolate_linear", js.interpolate([(0, 1.0), (20, 2.0), (50, 0.2)]),
     optax.piecewise_interpolate_schedule("linear", 1.0, {20: 2.0, 50: 0.1}), (20, 50)),
    ("interpolate_cosine", js.interpolate([(0, 1.0), (20, 2.0), (50, 0.2)], shape="cosine"),
     optax.piecewise_interpolate_schedule("cosine", 1.0, {20: 2.0, 50: 0.1}), (20, 50)),
    ("warmup_cosine", js.warmup_cosine(1e-3, 20, 200, start=1e-5, end=1e-6),
     optax.warmup_cosine_decay_schedule(1e-5, 1e-3, 20, 200, 1e-6), (20, 200)),
    ("warmup_cosine_exponent", js.warmup_cosine(1.0, 10, 100, exponent=2.0),
     optax.warmup_cosine_decay_schedule(0.0, 1.0, 10, 100, exponent=2.0), (10, 100)),
    ("warmup_constant", js.warmup_constant(1e-3, 40, start=1e-4),
     optax.warmup_constant_schedule(1e-4, 1e-3, 40), (40,)),
    ("warmup_exponential", js.warmup(js.exponential(1.0, 0.5, period=10, staircase=True, end=0.01),
                                     steps=15, start=0.1),
     optax.warmup_exponential_decay_schedule(0.1, 1.0, 15, 10, 0.5, staircase=True,
                                             end_value=0.01), (15, 25, 115)),
    ("join", js.join([js.linear(0.0, 1.0, 10), js.cosine(1.0, 0.0, 40), js.constant(0.1)],
                     [10, 50]),
     optax.join_schedules([optax.linear_schedule(0.0, 1.0, 10), optax.cosine_decay_schedule(1.0, 40),
                           optax.constant_schedule(0.1)], [10, 50]), (10, 50)),
    ("one_cycle", js.one_cycle(0.1, 100, pct_start=0.25, div_factor=10.0, final_div_factor=100.0),
     optax.cosine_onecycle_schedule(100, 0.1, 0.25, 10.0, 100.0), (25, 100)),
    ("one_cycle_linear_three_phase",
     js.one_cycle(0.1, 100, pct_start=0.25, shape="linear", three_phase=True),
     optax.linear_onecycle_schedule(100, 0.1, pct_start=0.25, pct_final=0.5), (25, 50, 100)),
]


@pytest.mark.parametrize("name,ours,theirs,bounds", PAIRS, ids=[p[0] for p in PAIRS])
def test_matches_optax(name, ours, theirs, bounds):
    t = steps_around(*bounds)
    expected = np.asarray(optax_values(theirs, t), np.float64)
    for got in (ours(jnp.asarray(t)), jax.jit(jax.vmap(ours))(jnp.asarray(t))):
        np.testing.assert_allclose(np.asarray(got, np.float64), expected, rtol=RTOL,
                                   atol=RTOL * np.abs(expected).max(), err_msg=name)


def test_sgdr_matches_optax_within_its_cycles():
    cycle = dict(init_value=0.01, peak_value=1.0, decay_steps=50, warmup_steps=5, end_value=0.01)
    theirs = optax.sgdr_schedule([cycle] * 3)
    ours = js.sgdr(1.0, period=50, end=0.01, warmup_steps=5)
    t = steps_around(5, 50, 55, 100, 105, top=150)
    np.testing.assert_allclose(np.asarray(ours(t)), np.asarray(optax_values(theirs, t)), rtol=RTOL,
                               atol=RTOL)
    # The documented difference: optax holds the last cycle's end, sgdr keeps restarting.
    assert float(theirs(160)) == pytest.approx(0.01)
    assert float(ours(160)) == pytest.approx(float(ours(10)), rel=1e-6)


def test_linear_one_cycle_difference_is_pct_final():
    # optax's linear one-cycle returns to the initial LR at pct_final; ours at 2 * pct_start.
    ours = js.one_cycle(0.1, 100, pct_start=0.25, shape="linear", three_phase=True)
    theirs = optax.linear_onecycle_schedule(100, 0.1, pct_start=0.25, pct_final=0.6)
    assert float(ours(50)) == pytest.approx(0.1 / 25, rel=1e-6)
    assert float(theirs(60)) == pytest.approx(0.1 / 25, rel=1e-6)
    assert float(theirs(50)) != pytest.approx(float(ours(50)), rel=1e-3)


def test_wrapped_optax_schedule_composes():
    opt = optax.cosine_decay_schedule(1.0, 30)
    s = js.join([js.linear(0.0, 1.0, 10), opt], [10])
    t = np.arange(60)
    ref = np.where(t < 10, t / 10, np.asarray(optax_values(opt, np.maximum(t - 10, 0))))
    np.testing.assert_allclose(np.asarray(s(t)), ref, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("make", [optax.cosine_onecycle_schedule, optax.linear_onecycle_schedule],
                         ids=["cosine_onecycle", "linear_onecycle"])
def test_wrapped_scalar_only_optax_schedules_work_on_arrays(make, tmp_path):
    # These optax schedules compare the step against their own boundary array, so they
    # accept only scalar steps; wrap finds that at construction and maps them.
    fn = make(100, 0.1)
    s = js.wrap(fn)
    ref = np.asarray([float(fn(i)) for i in range(100)])
    np.testing.assert_allclose(js.evaluate(s, 100), ref, rtol=1e-6, atol=1e-7 * 0.1)
    np.testing.assert_allclose(np.asarray(s(jnp.arange(6).reshape(2, 3))), ref[:6].reshape(2, 3),
                               rtol=1e-6)
    np.testing.assert_allclose(np.asarray(jax.jit(s)(jnp.arange(10))), ref[:10], rtol=1e-6)
    d = js.describe(s, 100)
    assert d.peak == pytest.approx(0.1, rel=1e-6) and d.peak_step == 30
    js.plot(s, 100, str(tmp_path / "a.png"))
    js.plot(js.cosine(0.1, 0.0, 100), 100, str(tmp_path / "b.png"), compare=[s])
    assert (tmp_path / "a.png").stat().st_size > 0 and (tmp_path / "b.png").stat().st_size > 0
