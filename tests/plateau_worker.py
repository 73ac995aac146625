"""Subprocess side of the plateau tests (a fresh process; several host devices).

``python tests/plateau_worker.py restore DIR``: restores the optimizer state that
``test_plateau.py`` saved mid-run (orbax and ``flax.serialization``), continues
training and prints the learning rates as JSON.

``python tests/plateau_worker.py multidevice``: needs
``XLA_FLAGS=--xla_force_host_platform_device_count=8``; trains under
``jax.shard_map`` with a different local metric on each device, with and
without ``axis_name``, and prints each device's plateau state as JSON.
"""

from __future__ import annotations

import json
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

import jaxsched as js

# ----------------------------------------------------------------- checkpoint run
SAVE_AT, TOTAL, REPORT_EVERY = 20, 40, 5


def make_tx() -> optax.GradientTransformation:
    lr = js.plateau(js.warmup_constant(0.05, warmup_steps=6), factor=0.5, patience=1,
                    cooldown=1, min_lr=1e-3)
    return optax.chain(optax.clip_by_global_norm(1.0),
                       optax.inject_hyperparams(optax.adamw)(learning_rate=lr))


def init_params() -> dict:
    return {"w": jnp.zeros(4), "b": jnp.zeros(())}


def _batch(step: jax.Array) -> tuple[jax.Array, jax.Array]:
    key = jax.random.fold_in(jax.random.key(0), step)
    x = jax.random.normal(key, (16, 4))
    y = x @ jnp.asarray([1.0, -2.0, 0.5, 3.0]) + 0.5 * jax.random.normal(jax.random.key(1), (16,))
    return x, y


def _loss(params: dict, x: jax.Array, y: jax.Array) -> jax.Array:
    return jnp.mean((x @ params["w"] + params["b"] - y) ** 2)


@jax.jit
def train_step(params: dict, opt_state, step: jax.Array):
    tx = make_tx()
    loss, grads = jax.value_and_grad(_loss)(params, *_batch(step))
    updates, opt_state = tx.update(grads, opt_state, params, value=loss)
    params = optax.apply_updates(params, updates)
    # A validation metric every REPORT_EVERY steps: a noisy, flattening curve.
    val = 1.0 / (1.0 + step.astype(jnp.float32)) + 0.01 * jnp.sin(step.astype(jnp.float32))
    opt_state = lax.cond((step + 1) % REPORT_EVERY == 0, lambda s: js.report(s, val),
                         lambda s: s, opt_state)
    return params, opt_state


def run(params: dict, opt_state, start: int, stop: int) -> tuple[dict, object, list[float]]:
    """Steps ``start .. stop-1``; returns the LR the next update uses after each step."""
    lrs = []
    for step in range(start, stop):
        params, opt_state = train_step(params, opt_state, jnp.asarray(step, jnp.int32))
        lrs.append(float(js.current_lr(opt_state)))
    return params, opt_state, lrs


def restore(directory: str) -> dict:
    import orbax.checkpoint as ocp
    from flax import serialization

    tx = make_tx()
    params = init_params()
    target = {"params": params, "opt_state": tx.init(params)}
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
    from_orbax = ocp.StandardCheckpointer().restore(os.path.join(directory, "orbax"), abstract)
    with open(os.path.join(directory, "state.msgpack"), "rb") as f:
        from_msgpack = serialization.from_bytes(target, f.read())
    out = {}
    for name, saved in (("orbax", from_orbax), ("msgpack", from_msgpack)):
        _, _, lrs = run(saved["params"], saved["opt_state"], SAVE_AT, TOTAL)
        out[name] = lrs
    return out


# ----------------------------------------------------------------- multi-device run
def multidevice() -> dict:
    from jax.sharding import Mesh
    from jax.sharding import PartitionSpec as P

    n = jax.device_count()
    mesh = Mesh(np.asarray(jax.devices()), ("data",))
    rng = np.random.default_rng(0)
    # Per device and step: its own noisy metric, so devices disagree on plateaus.
    local = jnp.asarray(1.0 + rng.normal(0.0, 0.3, (n, 30)), jnp.float32)
    out = {"devices": n}
    for feed in ("value", "report"):
        for synced in (True, False):
            axis = "data" if synced else None
            lr = js.plateau(0.1, factor=0.5, patience=2, axis_name=axis)
            tx = optax.inject_hyperparams(optax.sgd)(learning_rate=lr)
            params = jnp.zeros(3)
            opt_state = tx.init(params)

            def train(params, opt_state, metrics, axis=axis, tx=tx, feed=feed):
                # metrics: this device's (1, 30) slice; params and state start replicated.
                def step(carry, m):
                    params, opt_state = carry
                    grads = lax.pmean(jnp.ones_like(params) * m, "data")
                    if feed == "value":
                        updates, opt_state = tx.update(grads, opt_state, params, value=m)
                    else:
                        updates, opt_state = tx.update(grads, opt_state, params)
                        opt_state = js.report(opt_state, m, axis_name=axis)
                    params = optax.apply_updates(params, updates)
                    return (params, opt_state), js.current_lr(opt_state)

                (params, opt_state), lrs = lax.scan(step, (params, opt_state), metrics[0])
                stacked = jax.tree.map(lambda a: a[None], (params, opt_state))
                return stacked, lrs[None]

            fn = jax.jit(jax.shard_map(train, mesh=mesh, in_specs=(P(), P(), P("data")),
                                       out_specs=(P("data"), P("data")), check_vma=False))
            (params, states), lrs = fn(params, opt_state, local)
            info = jax.vmap(js.plateau_state)(states)
            out[f"{feed}/{'synced' if synced else 'local'}"] = {
                "lrs": np.asarray(lrs).tolist(),
                "params": np.asarray(params).tolist(),
                "info": {k: np.asarray(v).tolist() for k, v in info._asdict().items()},
                "leaves_identical": all(
                    bool(np.all(np.asarray(x) == np.asarray(x)[:1]))
                    for x in jax.tree.leaves(states)),
            }
    out["mean_metric"] = np.asarray(local.mean(0)).tolist()
    return out


if __name__ == "__main__":
    mode = sys.argv[1]
    result = restore(sys.argv[2]) if mode == "restore" else multidevice()
    print(json.dumps(result))
