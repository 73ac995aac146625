"""Per-group schedules (param_groups, layerwise_decay) and integer schedules (batch ramps).

References are written from the docstrings' formulas in float64 NumPy / Python ints,
never by calling the schedules under test. The optimizer tests check the learning
rate each group really got through SGD update magnitudes (``delta = -lr * grad``)
and through the ``inject_hyperparams`` state of each ``multi_transform`` group.
"""

from __future__ import annotations

import json
import pickle

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from flax.training import train_state

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


def r_linear(a: float, b: float, n: int):
    return lambda t: a + (b - a) * np.minimum(np.asarray(t, np.float64), n) / n


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
    with pytest.raises(ValueError, match=r"scale_by_batch: `base_batch` must be a positive int, got 0"):
        js.scale_by_batch(js.constant(0.1), ramp, base_batch=0)
    with pytest.raises(ValueError, match=r"scale_by_batch: `rule` must be one of 'linear', 'sqrt', "
                                         r"got 'square'"):
        js.scale_by_batch(js.constant(0.1), ramp, base_batch=8, rule="square")


# ----------------------------------------------------------------- param_groups: rules
def _tree():
    z = np.zeros(3, np.float32)
    return {"embed": {"table": z}, "blocks_0": {"w": z, "bias": z}, "blocks_1": {"w": z, "bias": z},
            "blocks_2": {"w": z, "bias": z}, "head": {"w": z, "bias": z}}


BASE = js.linear(1.0, 0.0, 10)


def test_multipliers_own_schedules_and_default():
    groups = js.param_groups(_tree(), {
        "embed": (r"embed/.*", 0.1),
        "head": (r"head/.*", 10.0),
        "bias": (r".*/bias", js.constant(1e-3)),
    }, default=BASE)
    assert list(groups.schedules) == ["embed", "head", "bias", "default"]
    assert groups.labels["embed"]["table"] == "embed"
    # First match wins: head/bias is "head", the blocks' biases are "bias".
    assert groups.labels["head"]["bias"] == "head" and groups.labels["blocks_1"]["bias"] == "bias"
    assert groups.labels["blocks_2"]["w"] == "default"
    assert groups.paths["bias"] == ("blocks_0/bias", "blocks_1/bias", "blocks_2/bias")
    assert groups.paths["default"] == ("blocks_0/w", "blocks_1/w", "blocks_2/w")
    t = np.arange(0, 13)
    base = r_linear(1.0, 0.0, 10)(t)
    for g, want in [("embed", 0.1 * base), ("head", 10.0 * base),
                    ("bias", np.full(t.shape, 1e-3)), ("default", base)]:
        np.testing.assert_allclose(np.asarray(groups.schedules[g](jnp.asarray(t)), np.float64),
                                   want, rtol=RTOL, atol=1e-7, err_msg=g)
    assert repr(groups.schedules["embed"]) == "0.1 * linear(start=1.0, end=0.0, steps=10)"
    assert groups.schedules["default"] is BASE
    assert "embed: 1 leaf, 0.1 * linear(" in repr(groups)


def test_layerwise_decay_follows_beit():
    # BEiT: embeddings depth L + 1, block i depth L - i, head and the rest depth 0.
    decay, L = 0.75, 3
    groups = js.param_groups(_tree(), {
        "embed": (r"embed/.*", js.layerwise_decay(decay, num_layers=L, layer=-1)),
        "blocks": (r"blocks_(?P<layer>\d+)/.*", js.layerwise_decay(decay, num_layers=L)),
    }, default=0.5)
    assert list(groups.schedules) == ["embed", "blocks/0", "blocks/1", "blocks/2", "default"]
    assert groups.labels["blocks_2"]["bias"] == "blocks/2" and groups.labels["head"]["w"] == "default"
    want = {"embed": 0.5 * decay**4, "blocks/0": 0.5 * decay**3, "blocks/1": 0.5 * decay**2,
            "blocks/2": 0.5 * decay, "default": 0.5}
    for g, v in want.items():
        np.testing.assert_allclose(float(groups.schedules[g](7)), v, rtol=RTOL, err_msg=g)


def test_layer_index_from_the_first_group_and_list_of_patterns():
    groups = js.param_groups(_tree(), {
        "blocks": ([r"blocks_(\d+)/w", r"blocks_(\d+)/bias"], js.layerwise_decay(0.5, 3)),
    }, default=BASE, default_group="rest")
    assert set(groups.schedules) == {"blocks/0", "blocks/1", "blocks/2", "rest"}
    np.testing.assert_allclose(float(groups.schedules["blocks/0"](0)), 0.125, rtol=RTOL)


def test_layer_groups_carry_their_index_past_ten_layers():
    # Paths come in key order (layers_10 before layers_2); the groups come by layer index,
    # each with decay ** (L - i), and label_fn gives another tree of the model the same names.
    L, z = 12, np.zeros(2, np.float32)
    params = {f"layers_{i}": {"w": z} for i in range(L)} | {"stem": z, "head": {"w": z}}
    groups = js.param_groups(params, {
        "layers": (r"layers_(\d+)/.*", js.layerwise_decay(0.5, num_layers=L)),
        "stem": (r"stem", js.layerwise_decay(0.5, num_layers=L, layer=-1)),
    }, default=js.constant(1.0))
    assert list(groups.schedules) == [f"layers/{i}" for i in range(L)] + ["stem", "default"]
    for i in range(L):
        assert groups.paths[f"layers/{i}"] == (f"layers_{i}/w",)
        np.testing.assert_allclose(float(groups.schedules[f"layers/{i}"](3)), 0.5 ** (L - i),
                                   rtol=RTOL, err_msg=str(i))
    np.testing.assert_allclose(float(groups.schedules["stem"](3)), 0.5 ** (L + 1), rtol=RTOL)
    grads = {"layers_11": {"w": z}, "stem": z, "head": {"w": z}}  # a tree with fewer layers
    assert groups.label_fn(grads) == {"layers_11": {"w": "layers/11"}, "stem": "stem",
                                      "head": {"w": "default"}}


def test_default_none_when_every_leaf_has_its_own_schedule():
    groups = js.param_groups({"a": np.zeros(2), "b": np.zeros(2)},
                             {"a": ("a", js.constant(0.1)), "b": ("b", js.constant(0.2))}, None)
    assert list(groups.schedules) == ["a", "b"]


def test_param_groups_errors():
    tree = _tree()
    with pytest.raises(ValueError, match=r"param_groups: rule 'emb' \(pattern 'emb'\) matches no "
                                         r"parameter; patterns must match the whole \"/\"-joined "
                                         r"path, and paths look like 'blocks_0/bias', "
                                         r"'blocks_0/w', .* \(9 in all\)"):
        js.param_groups(tree, {"emb": ("emb", 0.1)}, default=BASE)
    with pytest.raises(TypeError, match=r"param_groups: rule 'head' must map to a schedule, a "
                                        r"multiplier of `default` \(a number\), "
                                        r"js.layerwise_decay\(...\) or a dict of "
                                        r"hyperparameters, got 'x10'"):
        js.param_groups(tree, {"head": ("head/.*", "x10")}, default=BASE)
    with pytest.raises(TypeError, match=r"rule 'head' must map to a schedule.*got "
                                        r"GradientTransformationExtraArgs"):
        js.param_groups(tree, {"head": ("head/.*", optax.sgd(0.1))}, default=BASE)
    with pytest.raises(TypeError, match=r"param_groups: `rules` must be a dict"):
        js.param_groups(tree, [("head", "head/.*", 10.0)], default=BASE)
    with pytest.raises(TypeError, match=r"param_groups: rule 'head' must be a \(pattern, value\) "
                                        r"pair, got 'head/.\*'"):
        js.param_groups(tree, {"head": "head/.*"}, default=BASE)
    with pytest.raises(ValueError, match=r"param_groups: rule 'head': 'head/\(' is not a valid "
                                         r"regular expression"):
        js.param_groups(tree, {"head": ("head/(", 10.0)}, default=BASE)
    with pytest.raises(ValueError, match=r"param_groups: 7 parameters match no rule \(e.g. "
                                         r"'blocks_0/bias'\) and `default` is None"):
        js.param_groups(tree, {"head": ("head/.*", js.constant(0.1))}, default=None)
    with pytest.raises(ValueError, match=r"param_groups: rule 'head' is a multiplier \(10.0\) of "
                                         r"`default`, which is None"):
        js.param_groups(tree, {"head": ("head/.*", 10.0), "rest": (".*", js.constant(0.1))},
                        default=None)
    with pytest.raises(ValueError, match=r"param_groups: `rules\['head'\]` must be a multiplier "
                                         r">= 0, got -1.0"):
        js.param_groups(tree, {"head": ("head/.*", -1.0)}, default=BASE)
    with pytest.raises(ValueError, match=r"rule 'blocks' takes the layer index from the path, so "
                                         r"its pattern 'blocks_.*' needs a group"):
        js.param_groups(tree, {"blocks": ("blocks_.*", js.layerwise_decay(0.5, 3))}, default=BASE)
    with pytest.raises(ValueError, match=r"rule 'blocks' captured the layer index '2' from "
                                         r"'blocks_2/bias'; it must be an int in \[0, num_layers\) "
                                         r"= \[0, 2\)"):
        js.param_groups(tree, {"blocks": (r"blocks_(\d)/.*", js.layerwise_decay(0.5, 2))},
                        default=BASE)
    with pytest.raises(ValueError, match=r"the default group's name 'head' is also a rule's group"):
        js.param_groups(tree, {"head": ("head/.*", 10.0)}, default=BASE, default_group="head")
    with pytest.raises(TypeError, match=r"group names must be non-empty strs without '/'"):
        js.param_groups(tree, {"a/b": ("head/.*", 10.0)}, default=BASE)
    with pytest.raises(ValueError, match=r"param_groups: `params` has no leaves"):
        js.param_groups({}, {}, default=BASE)
    with pytest.raises(TypeError, match=r"param_groups: rule 'head': hyperparameter names must be "
                                        r"identifiers such as 'weight_decay', got 3"):
        js.param_groups(tree, {"head": ("head/.*", {3: 0.0})}, default=BASE)
    with pytest.raises(TypeError, match=r"param_groups: `rules\['head'\]\['weight_decay'\]` must "
                                        r"be a real number, got 'none'"):
        js.param_groups(tree, {"head": ("head/.*", {"weight_decay": "none"})}, default=BASE)
    with pytest.raises(ValueError, match=r"layerwise_decay: `decay` must be > 0, got 0.0"):
        js.layerwise_decay(0.0, 3)
    with pytest.raises(ValueError, match=r"layerwise_decay: `layer` must be in \[-1, num_layers\] "
                                         r"= \[-1, 3\], got 4"):
        js.layerwise_decay(0.5, 3, layer=4)
    groups = js.param_groups(tree, {"head": ("head/.*", 10.0)}, default=BASE)
    with pytest.raises(TypeError, match=r"param_groups.transform: `make_optimizer` must be an "
                                        r"optimizer factory such as optax.adamw"):
        groups.transform(optax.sgd(0.1))


# ----------------------------------------------------------------- with optimizers
def _sgd_deltas_match(before, after, grads, lr_of_path, what):
    """Each leaf moved by -lr * grad, with the LR its group should have at that step."""
    flat_b = jax.tree_util.tree_flatten_with_path(before)[0]
    flat_a = jax.tree.leaves(after)
    flat_g = jax.tree.leaves(grads)
    assert len(flat_b) == len(flat_a) == len(flat_g)
    for (path, b), a, g in zip(flat_b, flat_a, flat_g, strict=True):
        name = jax.tree_util.keystr(path, simple=True, separator="/").removesuffix("/value")
        want = np.asarray(b, np.float64) - lr_of_path(name) * np.asarray(g, np.float64)
        np.testing.assert_allclose(np.asarray(a, np.float64), want, rtol=2e-5, atol=1e-7,
                                   err_msg=f"{what}: {name}")


def _depth_multiplier(path: str, decay: float, layers: int) -> float:
    if path.startswith("embed/"):
        return decay ** (layers + 1)
    if path.startswith("layers/"):
        return decay ** (layers - int(path.split("/")[1]))
    return 1.0


class _Net(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.embed = nnx.Linear(3, 4, rngs=rngs)
        self.layers = nnx.List([nnx.Linear(4, 4, rngs=rngs) for _ in range(2)])
        self.head = nnx.Linear(4, 2, rngs=rngs)

    def __call__(self, x):
        h = self.embed(x)
        for layer in self.layers:
            h = nnx.tanh(layer(h))
        return self.head(h)


def test_nnx_optimizer_gives_each_group_its_lr():
    decay = 0.5
    model = _Net(nnx.Rngs(0))
    groups = js.param_groups(model, {
        "embed": (r"embed/.*", js.layerwise_decay(decay, 2, layer=-1)),
        "layers": (r"layers/(\d+)/.*", js.layerwise_decay(decay, 2)),
    }, default=js.linear(0.1, 0.0, 10))
    assert list(groups.schedules) == ["embed", "layers/0", "layers/1", "default"]
    assert groups.paths["layers/1"] == ("layers/1/bias", "layers/1/kernel")
    opt = nnx.Optimizer(model, groups.transform(optax.sgd), wrt=nnx.Param)
    assert set(opt.opt_state.inner_states) == set(groups.schedules)
    x = jnp.linspace(-1.0, 1.0, 15, dtype=FLOAT).reshape(5, 3)

    def loss(m):
        return jnp.mean((m(x) - 0.3) ** 2)

    step = nnx.jit(lambda m, o, g: o.update(m, g))
    for k in range(4):
        grads = nnx.grad(loss)(model)
        before = jax.tree.map(np.asarray, nnx.state(model, nnx.Param))
        step(model, opt, grads)
        lr_k = 0.1 * (1 - k / 10)  # linear(0.1, 0.0, 10) at update k
        _sgd_deltas_match(before, nnx.state(model, nnx.Param), grads,
                          lambda p, lr_k=lr_k: lr_k * _depth_multiplier(p, decay, 2), f"step {k}")
        for g, inner in opt.opt_state.inner_states.items():
            got = float(inner.inner_state.hyperparams["learning_rate"][...])
            mult = {"embed": decay**3, "layers/0": decay**2, "layers/1": decay, "default": 1.0}[g]
            np.testing.assert_allclose(got, lr_k * mult, rtol=RTOL, err_msg=g)


class _LinenNet(nn.Module):
    @nn.compact
    def __call__(self, x):
        h = nn.Dense(4, name="embed")(x)
        h = nn.tanh(nn.Dense(4, name="block_0")(h))
        return nn.Dense(2, name="head")(h)


MULT = {"embed": 0.1, "head": 10.0, "default": 1.0}


def test_train_state_multipliers_and_partition_labels():
    model = _LinenNet()
    x = jnp.linspace(-1.0, 1.0, 15, dtype=FLOAT).reshape(5, 3)
    params = model.init(jax.random.key(0), x)["params"]
    lr = js.warmup_cosine(0.2, warmup_steps=2, total_steps=6)
    groups = js.param_groups(params, {"embed": (r"embed/.*", 0.1), "head": (r"head/.*", 10.0),
                                      "bias": (r".*/bias", js.constant(0.05))}, default=lr)
    assert groups.labels == {"embed": {"kernel": "embed", "bias": "embed"},
                             "block_0": {"kernel": "default", "bias": "bias"},
                             "head": {"kernel": "head", "bias": "head"}}
    state = train_state.TrainState.create(apply_fn=model.apply, params=params,
                                          tx=groups.transform(optax.sgd))

    def lr_ref(k):  # warmup 0 -> 0.2 over 2 steps, cosine to 0 over 4
        return 0.2 * k / 2 if k < 2 else 0.1 * (1 + np.cos(np.pi * min(k - 2, 4) / 4))

    @jax.jit
    def grads_of(state):
        return jax.grad(lambda p: jnp.mean((state.apply_fn({"params": p}, x) - 0.3) ** 2))(
            state.params)

    for k in range(5):
        grads = grads_of(state)
        new = state.apply_gradients(grads=grads)

        def lr_of(path, k=k):
            group = groups.labels[path.split("/")[0]][path.split("/")[1]]
            return 0.05 if group == "bias" else lr_ref(k) * MULT[group]

        _sgd_deltas_match(state.params, new.params, grads, lr_of, f"step {k}")
        state = new
    # The same groups through optax.partition and the labels pytree.
    inject = optax.inject_hyperparams(optax.sgd)
    tx = optax.partition({g: inject(learning_rate=s) for g, s in groups.schedules.items()},
                         groups.labels)
    ones = jax.tree.map(jnp.ones_like, params)
    opt_state = tx.init(params)
    for _ in range(3):
        _, opt_state = tx.update(ones, opt_state, params)
    upd, _ = tx.update(ones, opt_state, params)  # update 3
    np.testing.assert_allclose(np.asarray(upd["head"]["kernel"]), -10.0 * lr_ref(3), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(upd["block_0"]["kernel"]), -lr_ref(3), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(upd["block_0"]["bias"]), -0.05, rtol=RTOL)


def test_transform_passes_shared_hyperparams_to_every_group():
    params = {"a": jnp.ones(2, FLOAT), "b": jnp.ones(2, FLOAT)}
    groups = js.param_groups(params, {"a": ("a", 2.0)}, default=js.constant(0.1))
    tx = groups.transform(optax.adamw, weight_decay=js.linear(0.1, 0.0, 10))
    state = tx.init(params)
    for _ in range(3):
        _, state = tx.update(jax.tree.map(jnp.ones_like, params), state, params)
    for g, lr in [("a", 0.2), ("default", 0.1)]:
        hp = state.inner_states[g].inner_state.hyperparams
        np.testing.assert_allclose(float(hp["learning_rate"]), lr, rtol=RTOL)
        np.testing.assert_allclose(float(hp["weight_decay"]), 0.1 * (1 - 2 / 10), rtol=RTOL)


def test_a_group_without_weight_decay():
    # AdamW with zero gradients moves each leaf by -lr * weight_decay * param only.
    params = {"w": jnp.full((2,), 2.0, FLOAT), "bias": jnp.full((2,), 2.0, FLOAT),
              "head": {"w": jnp.full((2,), 2.0, FLOAT)}}
    groups = js.param_groups(params, {
        "no_decay": (r".*bias", {"weight_decay": 0.0}),
        "head": (r"head/.*", {"learning_rate": 10.0, "weight_decay": js.constant(0.5)}),
    }, default=js.linear(0.1, 0.0, 10))
    assert groups.hyperparams == {"no_decay": {"weight_decay": 0.0},
                                  "head": {"weight_decay": js.constant(0.5)}, "default": {}}
    assert groups.schedules["no_decay"] == js.linear(0.1, 0.0, 10)
    tx = groups.transform(optax.adamw, weight_decay=0.2)
    state = tx.init(params)
    zeros = jax.tree.map(jnp.zeros_like, params)
    for k in range(3):
        upd, state = tx.update(zeros, state, params)
        lr = 0.1 * (1 - k / 10)
        np.testing.assert_allclose(np.asarray(upd["w"]), -lr * 0.2 * 2.0, rtol=1e-5)
        np.testing.assert_allclose(np.asarray(upd["bias"]), 0.0, atol=0)
        np.testing.assert_allclose(np.asarray(upd["head"]["w"]), -10 * lr * 0.5 * 2.0, rtol=1e-5)


def test_layer_decay_and_no_weight_decay_together():
    groups = js.param_groups(_tree(), {
        "blocks_nd": (r"blocks_(\d+)/bias", {"learning_rate": js.layerwise_decay(0.5, 3),
                                             "weight_decay": 0.0}),
        "blocks": (r"blocks_(\d+)/.*", js.layerwise_decay(0.5, 3)),
    }, default=js.constant(1.0))
    assert groups.labels["blocks_1"] == {"w": "blocks/1", "bias": "blocks_nd/1"}
    for i in range(3):
        assert groups.hyperparams[f"blocks_nd/{i}"] == {"weight_decay": 0.0}
        assert groups.hyperparams[f"blocks/{i}"] == {}
        for g in (f"blocks_nd/{i}", f"blocks/{i}"):
            np.testing.assert_allclose(float(groups.schedules[g](3)), 0.5 ** (3 - i), rtol=RTOL)


@pytest.mark.parametrize("make", [
    lambda: js.plateau(js.constant(1.0), factor=0.5, patience=0),
    lambda: js.pytorch.ReduceLROnPlateau(1.0, factor=0.5, patience=0),  # any StatefulSchedule
], ids=["js.plateau", "pt.ReduceLROnPlateau"])
def test_a_plateau_group_reduces_alone(make):
    params = {"a": jnp.zeros(2, FLOAT), "b": jnp.zeros(2, FLOAT)}
    groups = js.param_groups(params, {"a": ("a", make())}, default=js.constant(0.1))
    tx = groups.transform(optax.sgd)
    state = tx.init(params)
    state = js.report(js.report(state, 1.0), 2.0)  # one bad epoch, patience 0: halve
    upd, _ = tx.update(jax.tree.map(jnp.ones_like, params), state, params)
    np.testing.assert_allclose(np.asarray(upd["a"]), -0.5, rtol=RTOL)
    np.testing.assert_allclose(np.asarray(upd["b"]), -0.1, rtol=RTOL)


def test_a_stateful_default_serves_unmatched_leaves_but_not_multipliers():
    params = {"a": jnp.zeros(2, FLOAT), "b": jnp.zeros(2, FLOAT)}
    pt_plateau = js.pytorch.ReduceLROnPlateau(0.1)
    groups = js.param_groups(params, {"a": ("a", js.constant(1.0))}, default=pt_plateau)
    assert groups.schedules == {"a": js.constant(1.0), "default": pt_plateau}
    with pytest.raises(ValueError, match="rule 'a' is a multiplier \\(0.5\\) of `default`, "
                                         "which is a stateful schedule"):
        js.param_groups(params, {"a": ("a", 0.5)}, default=pt_plateau)
