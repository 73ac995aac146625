"""Per-group schedules (param_groups, layerwise_decay).

References are written from the docstrings' formulas in float64 NumPy, never by calling
the schedules under test. The optimizer tests check the learning rate each group really
got through SGD update magnitudes (``delta = -lr * grad``) and through the
``inject_hyperparams`` state of each ``multi_transform`` group.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from catalogue import r_linear
from flax import nnx
from flax.training import train_state

import jaxsched as js

X64 = bool(jax.config.jax_enable_x64)
FLOAT = np.float64 if X64 else np.float32
RTOL = 1e-12 if X64 else 2e-6


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
