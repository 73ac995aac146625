"""Every public schedule against its float64 reference, in every calling mode.

Modes: eager on arrays, ``jit``, ``vmap`` over scalar steps, int32 / int64 /
float steps, Python and NumPy scalars, 2-D step arrays, and huge int32 steps.
Run with x64 off (the default) and on (``test_x64.py`` re-runs this module in a
subprocess with ``JAX_ENABLE_X64=1``).
"""

from __future__ import annotations

import pickle

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from catalogue import ENTRIES, Entry, steps_for

import jaxsched as js

X64 = bool(jax.config.jax_enable_x64)
FLOAT = np.float64 if X64 else np.float32
RTOL = 1e-12 if X64 else 2e-6


def assert_close(got, ref, what=""):
    got = np.asarray(got, np.float64)
    ref = np.asarray(ref, np.float64)
    scale = max(1e-30, float(np.max(np.abs(ref))) if ref.size else 1.0)
    np.testing.assert_allclose(got, ref, rtol=RTOL, atol=RTOL * scale, err_msg=what)


ids = [e.id for e in ENTRIES]


@pytest.fixture(params=ENTRIES, ids=ids)
def entry(request) -> Entry:
    return request.param


def test_eager_int32_array(entry):
    t = steps_for(entry)
    out = entry.schedule(jnp.asarray(t, jnp.int32))
    assert out.dtype == FLOAT and out.shape == t.shape
    assert_close(out, entry.ref(t), entry.id)


def test_jit_array(entry):
    t = steps_for(entry)
    assert_close(jax.jit(entry.schedule)(jnp.asarray(t)), entry.ref(t), entry.id)


def test_vmap_scalar_steps(entry):
    t = steps_for(entry)
    out = jax.jit(jax.vmap(entry.schedule))(jnp.asarray(t, jnp.int32))
    assert out.shape == t.shape
    assert_close(out, entry.ref(t), entry.id)


def test_float_steps(entry):
    t = steps_for(entry)
    out = jax.jit(entry.schedule)(jnp.asarray(t, FLOAT))
    assert out.dtype == FLOAT
    assert_close(out, entry.ref(t), entry.id)


def test_int64_steps(entry):
    # With x64 on, jnp int64 steps; with it off, the NumPy int64 arrays users pass
    # (JAX narrows them to int32, which holds every step a schedule can be asked for).
    t = steps_for(entry)
    steps = jnp.asarray(t, jnp.int64) if X64 else t.astype(np.int64)
    out = entry.schedule(steps)
    assert_close(out, entry.ref(t), entry.id)


def test_scalar_step_kinds(entry):
    b = entry.bounds[0] if entry.bounds else 17
    for step in (b, np.int64(b), np.int32(b), jnp.int32(b), float(b), np.float32(b),
                 jnp.asarray(b, jnp.uint32)):
        out = entry.schedule(step)
        assert out.shape == () and out.dtype == FLOAT, (entry.id, type(step))
        assert_close(out, entry.ref(np.asarray([b]))[0], f"{entry.id} at {step!r}")


def test_unsigned_and_list_steps(entry):
    t = steps_for(entry)
    assert_close(entry.schedule(jnp.asarray(t, jnp.uint32)), entry.ref(t), entry.id)
    assert_close(entry.schedule(t[:20].tolist()), entry.ref(t[:20]), entry.id)


def test_2d_steps(entry):
    t = steps_for(entry)[:60].reshape(6, 10)
    out = jax.jit(entry.schedule)(jnp.asarray(t, jnp.int32))
    assert out.shape == (6, 10)
    assert_close(out, entry.ref(t), entry.id)


def test_huge_int32_steps(entry):
    # Past float32's exact integers: boundaries must still be decided exactly.
    t = np.asarray([2**24 - 1, 2**24, 2**24 + 1, 2**30 + 3, 2**31 - 2, 2**31 - 1], np.int64)
    out = jax.jit(entry.schedule)(jnp.asarray(t, jnp.int32))
    assert np.all(np.isfinite(np.asarray(out)))
    assert_close(out, entry.ref(t), entry.id)


def test_negative_steps_count_as_zero(entry):
    out = entry.schedule(jnp.asarray([-5, -1, 0], jnp.int32))
    assert_close(out, entry.ref(np.zeros(3, np.int64)), entry.id)


def test_finite_nonnegative(entry):
    out = np.asarray(entry.schedule(jnp.arange(0, 5000, 7)))
    assert np.all(np.isfinite(out)) and np.all(out >= 0)


@pytest.mark.no_x64_rerun("counts traces; no value is compared")
def test_no_retrace_across_steps(entry):
    @jax.jit
    @chex.assert_max_traces(n=1)
    def f(step):
        return entry.schedule(step)

    for step in (0, 1, 50, 1000):
        f(jnp.int32(step))
    chex.clear_trace_counter()


@pytest.mark.no_x64_rerun("attribute check only")
def test_not_a_stateful_schedule(entry):
    # optax.inject_hyperparams treats objects with init/update as stateful schedules.
    assert not hasattr(entry.schedule, "init") and not hasattr(entry.schedule, "update")


@pytest.mark.no_x64_rerun("repr, hash and pickle; the one value check compares a copy with its original")
def test_repr_eq_hash_pickle(entry):
    s = entry.schedule
    text = repr(s)
    assert "<" not in text or entry.id == "wrap_optax"
    if entry.id == "wrap_optax":  # a Python function pickles only if importable by name
        return
    again = pickle.loads(pickle.dumps(s))
    assert again == s and hash(again) == hash(s) and repr(again) == text
    assert_close(again(jnp.arange(50)), s(jnp.arange(50)))


@pytest.mark.no_x64_rerun("the config is JSON of Python values; no value is computed")
def test_config_round_trip(entry):
    if entry.id == "wrap_optax":
        with pytest.raises(TypeError, match="no config form"):
            entry.schedule.to_config()
        return
    import json

    config = json.loads(json.dumps(entry.schedule.to_config()))
    assert js.from_config(config) == entry.schedule


def test_pytree_round_trip_and_jit_argument(entry):
    s = entry.schedule
    leaves, treedef = jax.tree_util.tree_flatten(s)
    assert jax.tree_util.tree_unflatten(treedef, leaves) == s
    t = jnp.arange(0, 300, 11)
    out = jax.jit(lambda sched, t: sched(t))(s, t)
    assert_close(out, s(t))


def test_inject_hyperparams_adamw(entry):
    tx = optax.inject_hyperparams(optax.adamw)(learning_rate=entry.schedule, weight_decay=1e-2)
    params = {"w": jnp.ones(3)}
    state = tx.init(params)

    @jax.jit
    def step(params, state):
        grads = jax.tree_util.tree_map(jnp.ones_like, params)
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    lrs = []
    for _ in range(4):
        params, state = step(params, state)
        lrs.append(float(state.hyperparams["learning_rate"]))
    # Update k (zero-based) uses, and records, the schedule at step k (optax's count).
    ref = entry.ref(np.arange(0, 4))
    np.testing.assert_allclose(lrs, ref, rtol=1e-5, atol=1e-7 * max(1.0, np.abs(ref).max()))
    assert np.all(np.isfinite(np.asarray(params["w"])))
