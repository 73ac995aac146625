"""Integer schedules: integer, batch_ramp and scale_by_batch (``jaxsched/_integer.py``).

References are written from the docstrings' formulas in Python ints and float64 NumPy,
never by calling the schedules under test; the MultiSteps tests check the updates
optax.MultiSteps really applies.
"""

from __future__ import annotations

import json
import pickle

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from catalogue import r_linear

import jaxsched as js

X64 = bool(jax.config.jax_enable_x64)
FLOAT = np.float64 if X64 else np.float32
RTOL = 1e-12 if X64 else 2e-6


# ----------------------------------------------------------------- references
def r_batch(start: int, end: int, steps: int, inc: int):
    """start + inc * floor(n * min(t, steps) / steps) in exact integers; fractional t floored."""
    n = (end - start) // inc

    def f(t):
        t = np.floor(np.asarray(t, np.float64)).astype(np.int64)
        return start + inc * ((n * np.minimum(t, steps)) // steps)
    return f


RAMPS = [
    (js.batch_ramp(32, 128, steps=300, increment=32), r_batch(32, 128, 300, 32), [100, 200, 300]),
    (js.batch_ramp(1, 8, steps=7), r_batch(1, 8, 7, 1), list(range(1, 8))),
    # 7 increments over 100 steps: landing steps ceil(100 k / 7) are not evenly spaced.
    (js.batch_ramp(64, 512, steps=100, increment=64), r_batch(64, 512, 100, 64),
     [15, 29, 43, 58, 72, 86, 100]),
    # 60 increments: a table past the small-table path.
    (js.batch_ramp(4, 244, steps=1000, increment=4), r_batch(4, 244, 1000, 4),
     [-(-1000 * k // 60) for k in range(1, 61)]),
    (js.batch_ramp(16, 16, steps=10), r_batch(16, 16, 10, 1), []),
]


def ramp_steps(bounds):
    near = [b + d for b in bounds for d in (-1, 0, 1)]
    return np.unique(np.asarray([s for s in [*range(0, 320, 7), *near, 1001, 123_457, 2**31 - 1]
                                 if s >= 0], np.int64))


@pytest.fixture(params=range(len(RAMPS)), ids=[repr(r[0]) for r in RAMPS])
def ramp(request):
    return RAMPS[request.param]


# ----------------------------------------------------------------- integer schedules
def test_batch_ramp_values_int32_eager_jit_vmap(ramp):
    s, ref, bounds = ramp
    t = ramp_steps(bounds)
    want = ref(t)
    for out in (s(jnp.asarray(t, jnp.int32)), jax.jit(s)(jnp.asarray(t, jnp.int32)),
                jax.jit(jax.vmap(s))(jnp.asarray(t, jnp.int32))):
        assert out.dtype == jnp.int32 and out.shape == t.shape
        np.testing.assert_array_equal(np.asarray(out), want)


def test_batch_ramp_scalar_step_types(ramp):
    s, ref, bounds = ramp
    for b in [*bounds, 0, 5]:
        for step in (b, np.int64(b), np.int32(b), jnp.int32(b), float(b), np.float32(b)):
            out = s(step)
            assert out.shape == () and out.dtype == jnp.int32, type(step)
            assert int(out) == int(ref(b)), (b, type(step))


def test_batch_ramp_fractional_steps_count_as_their_floor(ramp):
    s, ref, bounds = ramp
    t = np.asarray([b - 0.5 for b in bounds if b > 0] + [0.25, 3.75], np.float64)
    out = s(jnp.asarray(t, FLOAT))
    np.testing.assert_array_equal(np.asarray(out), ref(t))
    np.testing.assert_array_equal(np.asarray(out), ref(np.floor(t)))


@pytest.mark.parametrize("s, ref", [
    (RAMPS[0][0], RAMPS[0][1]),
    (js.integer(js.linear(1.0, 4.0, 6)), lambda t: np.floor(1.0 + 3.0 * np.minimum(t, 6) / 6 + 0.5)),
], ids=["batch_ramp", "integer"])
def test_integer_schedules_validate_the_step_like_every_schedule(s, ref):
    # The step is validated once, in Schedule._trace, for float and int schedules alike.
    name = type(s).__name__
    with pytest.raises(TypeError, match=rf"{name}: the step must be a number or array, got a "
                                        r"schedule\."):
        s(js.constant(1.0))
    with pytest.raises(TypeError, match=rf"{name}: the step must be an int or float array, got "
                                        r"dtype bool\."):
        s(np.asarray([True]))
    out = s([-3, 0, 2, 3, 250])  # a list; a negative step is step 0
    assert out.dtype == jnp.int32
    np.testing.assert_array_equal(np.asarray(out), ref(np.asarray([0, 0, 2, 3, 250])))


@pytest.mark.parametrize("rounding,ref", [("nearest", lambda v: np.floor(v + 0.5)),
                                          ("floor", np.floor), ("ceil", np.ceil)])
def test_integer_rounds_the_float_values(rounding, ref):
    # 0.25 + t (exact in float32) and 0.5 + 0.5 t (halves): every rounding mode is decided.
    for base, r_base in [(js.linear(0.25, 10.25, 10), r_linear(0.25, 10.25, 10)),
                         (js.linear(0.5, 5.5, 10), r_linear(0.5, 5.5, 10))]:
        k = js.integer(base, rounding=rounding)
        t = np.arange(0, 14)
        want = ref(r_base(t)).astype(np.int64)
        for out in (k(jnp.asarray(t)), jax.jit(k)(jnp.asarray(t, jnp.int32)),
                    jax.vmap(k)(jnp.asarray(t, FLOAT))):
            assert out.dtype == jnp.int32
            np.testing.assert_array_equal(np.asarray(out), want)


def test_integer_of_a_composition_and_back():
    ramp = js.batch_ramp(1, 4, steps=6)
    doubled = 2 * ramp  # arithmetic on an integer schedule is an ordinary float schedule
    t = np.arange(8)
    assert doubled(jnp.asarray(t)).dtype == FLOAT
    np.testing.assert_array_equal(np.asarray(doubled(jnp.asarray(t))), 2.0 * r_batch(1, 4, 6, 1)(t))
    back = js.integer(doubled)
    assert back(jnp.asarray(t)).dtype == jnp.int32
    np.testing.assert_array_equal(np.asarray(back(jnp.asarray(t))), 2 * r_batch(1, 4, 6, 1)(t))
    joined = js.integer(js.join([ramp, js.constant(8.0)], [10]))
    np.testing.assert_array_equal(np.asarray(joined(jnp.asarray([0, 9, 10, 11]))), [1, 4, 8, 8])


def test_integer_schedule_values_round_trip():
    ramp = js.batch_ramp(32, 256, steps=700, increment=32)
    values = [ramp, js.integer(js.linear(1.0, 8.0, 70), rounding="ceil"),
              js.integer(js.warmup_constant(4.0, 10)),
              js.scale_by_batch(js.warmup_cosine(1e-3, 10, 700), ramp, base_batch=256, rule="sqrt"),
              js.scale_by_batch(0.1, ramp, 64)]
    for s in values:
        text = repr(s)
        assert js.parse(text) == s and repr(js.parse(text)) == text
        assert js.from_config(json.loads(json.dumps(s.to_config()))) == s
        again = pickle.loads(pickle.dumps(s))
        assert again == s and hash(again) == hash(s)
        leaves, tree = jax.tree.flatten(s)
        assert jax.tree.unflatten(tree, leaves) == s
    assert repr(ramp) == "batch_ramp(start=32, end=256, steps=700, increment=32)"
    assert repr(values[1]) == ("integer(schedule=linear(start=1.0, end=8.0, steps=70), "
                               "rounding='ceil')")


def test_integer_schedules_do_not_retrace_across_steps():
    ramp = js.batch_ramp(32, 256, steps=700, increment=32)
    for s in (ramp, js.integer(js.linear(1.0, 8.0, 70)), js.scale_by_batch(0.1, ramp, 64)):
        @jax.jit
        @chex.assert_max_traces(n=1)
        def f(step, s=s):
            return s(step)

        for t in (0, 5, 350, 10**6):
            f(jnp.int32(t))
        chex.clear_trace_counter()


def test_integer_schedules_horizon_in_describe():
    ramp = js.batch_ramp(32, 256, steps=700, increment=32)
    assert js.describe(ramp, 1000).horizon == 700
    assert js.describe(js.integer(js.linear(1.0, 8.0, 70)), 100).horizon == 70
    lr = js.scale_by_batch(js.warmup_cosine(1e-3, 10, 900), ramp, base_batch=256)
    assert js.describe(lr, 1000).horizon == 900


@pytest.mark.parametrize("rule,power", [("linear", 1.0), ("sqrt", 0.5)])
def test_scale_by_batch_values(rule, power):
    ramp = js.batch_ramp(64, 512, steps=100, increment=64)
    lr = js.scale_by_batch(js.linear(0.1, 0.01, 150), ramp, base_batch=256, rule=rule)
    t = np.concatenate([np.arange(0, 160), [14, 15, 16, 99, 100, 101, 10**6]])
    want = r_linear(0.1, 0.01, 150)(t) * (r_batch(64, 512, 100, 64)(t) / 256.0) ** power
    for out in (lr(jnp.asarray(t)), jax.jit(lr)(jnp.asarray(t, jnp.int32)),
                jax.vmap(lr)(jnp.asarray(t, FLOAT))):
        assert out.dtype == FLOAT
        np.testing.assert_allclose(np.asarray(out, np.float64), want, rtol=RTOL, atol=0)


def test_scale_by_batch_sweeps_a_traced_peak_under_vmap():
    ramp = js.batch_ramp(8, 32, steps=30, increment=8)
    peaks = jnp.asarray([0.1, 0.2, 0.4], FLOAT)
    got = jax.vmap(lambda p: js.scale_by_batch(js.constant(p), ramp, 32, rule="sqrt")(12))(peaks)
    want = np.asarray([0.1, 0.2, 0.4]) * np.sqrt(r_batch(8, 32, 30, 8)(12) / 32.0)
    np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=RTOL)


# ----------------------------------------------------------------- MultiSteps
def _multisteps_reference(ks, lrs, grads):
    """Hand-run gradient accumulation: update u averages ks[u] micro-gradients, applies -lrs[u]."""
    w, u, window, trace, applied = 0.0, 0, [], [], []
    for i, g in enumerate(grads):
        window.append(g)
        if len(window) == ks[u]:
            w -= lrs[u] * np.mean(window)
            applied.append(i)
            u, window = u + 1, []
        trace.append(w)
    return np.asarray(trace), applied


def test_batch_ramp_drives_multisteps_without_a_cast():
    # Accumulation 1, 1, 2, 2, 3, 3, ... (batch_ramp(1, 3, steps=4)): updates land after
    # micro-steps 0, 1, 3, 5, 8, 11, 14, 17.
    k = js.batch_ramp(1, 3, steps=4)
    lr = js.scale_by_batch(js.linear(0.1, 0.05, 10), k, base_batch=2)
    tx = optax.MultiSteps(optax.inject_hyperparams(optax.sgd)(learning_rate=lr),
                          every_k_schedule=k)
    params = {"w": jnp.zeros((), FLOAT)}
    state = tx.init(params)
    update = jax.jit(tx.update)
    grads = [float(i + 1) for i in range(20)]
    ws, applied, seen_k = [], [], []
    for i, g in enumerate(grads):
        seen_k.append(int(k(state.gradient_step)))
        upd, state = update({"w": jnp.asarray(g, FLOAT)}, state, params)
        params = optax.apply_updates(params, upd)
        if bool(tx.has_updated(state)) and float(upd["w"]) != 0:
            applied.append(i)
        ws.append(float(params["w"]))
    ks = [1 + (2 * min(u, 4)) // 4 for u in range(10)]  # start + floor(n min(u, steps) / steps)
    lrs = [(0.1 + (0.05 - 0.1) * min(u, 10) / 10) * ks[u] / 2 for u in range(10)]
    want, want_applied = _multisteps_reference(ks, lrs, grads)
    assert applied == want_applied == [0, 1, 3, 5, 8, 11, 14, 17]
    assert int(state.gradient_step) == 8
    np.testing.assert_allclose(ws, want, rtol=1e-12 if X64 else 1e-5)
    # The LR the last update used, as the inner inject_hyperparams state holds it.
    np.testing.assert_allclose(float(state.inner_opt_state.hyperparams["learning_rate"]), lrs[7],
                               rtol=RTOL)


def test_integer_linear_ramp_drives_multisteps():
    k = js.integer(js.linear(1.0, 4.0, 3))  # 1, 2, 3, 4, 4, ...
    tx = optax.MultiSteps(optax.sgd(1.0), every_k_schedule=k)
    params = {"w": jnp.zeros((), FLOAT)}
    state = tx.init(params)
    applied = []
    for i in range(14):
        upd, state = jax.jit(tx.update)({"w": jnp.ones((), FLOAT)}, state, params)
        if float(upd["w"]) != 0:
            applied.append(i)
    assert applied == [0, 2, 5, 9, 13]


# ----------------------------------------------------------------- integer validation
@pytest.mark.parametrize("kwargs,err,match", [
    (dict(start=64, end=32, steps=10), ValueError, r"batch_ramp: needs end >= start, got start=64"),
    (dict(start=32, end=100, steps=10, increment=32), ValueError,
     r"batch_ramp: needs end - start to be a multiple of increment, got start=32, end=100, "
     r"increment=32 \(68 % 32 = 4\)"),
    (dict(start=1, end=20, steps=10), ValueError,
     r"batch_ramp: needs at most one increment per step, got 19 increments"),
    (dict(start=0, end=8, steps=10), ValueError, r"batch_ramp: `start` must be a positive int, got 0"),
    (dict(start=1, end=8, steps=10, increment=0), ValueError,
     r"batch_ramp: `increment` must be a positive int, got 0"),
    (dict(start=1.0, end=8, steps=10), TypeError,
     r"batch_ramp: `start` must be a positive int, got the float 1.0"),
])
def test_batch_ramp_errors(kwargs, err, match):
    with pytest.raises(err, match=match):
        js.batch_ramp(**kwargs)


def test_integer_and_scale_by_batch_errors():
    with pytest.raises(ValueError, match=r"integer: `rounding` must be one of 'nearest', 'floor', "
                                         r"'ceil', got 'up'"):
        js.integer(js.constant(1.0), rounding="up")
    with pytest.raises(TypeError, match=r"integer: `schedule` must be a schedule"):
        js.integer("8")
    ramp = js.batch_ramp(8, 32, steps=30, increment=8)
    with pytest.raises(TypeError, match=r"scale_by_batch: `batch` must be a schedule of the batch "
                                        r"size \(e.g. js.batch_ramp\(...\)\), got 64"):
        js.scale_by_batch(js.constant(0.1), 64, base_batch=32)
    with pytest.raises(TypeError, match=r"scale_by_batch: `batch` got an optax optimizer"):
        js.scale_by_batch(js.constant(0.1), optax.sgd(0.1), base_batch=32)
    with pytest.raises(ValueError, match=r"scale_by_batch: `base_batch` must be a positive int, got 0"):
        js.scale_by_batch(js.constant(0.1), ramp, base_batch=0)
    with pytest.raises(ValueError, match=r"scale_by_batch: `rule` must be one of 'linear', 'sqrt', "
                                         r"got 'square'"):
        js.scale_by_batch(js.constant(0.1), ramp, base_batch=8, rule="square")
