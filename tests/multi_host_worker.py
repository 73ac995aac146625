"""One process of the two-process tests in ``test_multi_host.py`` (never imported by pytest).

    python tests/multi_host_worker.py PHASE PROCESS_ID NUM_PROCESSES COORDINATOR DIR

joins a CPU cluster with ``jax.distributed`` (gloo collectives) and trains a
linear model data-parallel over the global mesh, three times side by side, each
with its own ``js.plateau`` fed the validation loss in one way:

* ``shard_map``: the host's local loss, ``js.report(..., axis_name='data')``;
* ``global``: the mean of a globally sharded loss under plain ``jax.jit``;
* ``local``: the host's own loss, not averaged (the mistake; hosts diverge).

Each host holds a different validation shard, so the local losses differ.
``PHASE`` is ``full`` (train ``EVALS`` evaluations, save a checkpoint with
orbax after ``SAVE_AT``) or ``resume`` (restore that checkpoint in fresh
processes and train on to ``EVALS``). Each process writes
``DIR/PHASE-PROCESS_ID.json``: per way, one ``row()`` per evaluation.
"""

from __future__ import annotations

import json
import os
import sys

import jax

jax.config.update("jax_cpu_collectives_implementation", "gloo")

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from jax.sharding import Mesh, NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

import jaxsched as js  # noqa: E402

EVALS, SAVE_AT, STEPS_PER_EVAL, BATCH, VAL = 10, 4, 4, 16, 32
PEAK, WARMUP, FACTOR, PATIENCE, THRESHOLD, STOP = 0.3, 4, 0.5, 0, 0.02, 2
WAYS = ("shard_map", "global", "local")
TRUE_W = np.asarray([1.0, -2.0, 0.5, 3.0], np.float32)


def make_tx() -> optax.GradientTransformation:
    lr = js.plateau(js.warmup_constant(PEAK, warmup_steps=WARMUP), factor=FACTOR,
                    patience=PATIENCE, threshold=THRESHOLD, stop_patience=STOP)
    return optax.inject_hyperparams(optax.adam)(learning_rate=lr)


def batch(step: int, rows: slice) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``rows`` of global batch ``step``: every host draws the same global batch."""
    rng = np.random.default_rng([7, step])
    x = rng.normal(size=(BATCH, 4)).astype(np.float32)
    y = (x @ TRUE_W + 0.3 * rng.normal(size=BATCH)).astype(np.float32)
    return x[rows], y[rows]


def validation(host: int) -> tuple[np.ndarray, np.ndarray]:
    """This host's shard: its own noise level, so each host's local loss differs."""
    rng = np.random.default_rng([11, host])
    x = rng.normal(size=(VAL, 4)).astype(np.float32)
    y = (x @ TRUE_W + (0.2 + 0.6 * host) * rng.normal(size=VAL)).astype(np.float32)
    return x, y


def loss_fn(params: dict, x: jax.Array, y: jax.Array) -> jax.Array:
    return jnp.mean((x @ params["w"] + params["b"] - y) ** 2)


def local_copy(x: jax.Array) -> np.ndarray:
    """This host's copy of a replicated global array."""
    return np.asarray(x.addressable_data(0))


def row(opt_state, **extra) -> dict:
    """What a host logs after one evaluation; every value read through the jaxsched API."""
    info = js.plateau_state(opt_state)
    return {"lr": float(js.current_lr(opt_state)), "scale": float(info.scale),
            "best": float(info.best), "num_bad": int(info.num_bad),
            "num_reductions": int(info.num_reductions), "num_evals": int(info.num_evals),
            "stop": bool(js.should_stop(opt_state)),
            **{f"hp/{k}": float(v) for k, v in jax.device_get(js.hyperparams(opt_state)).items()},
            **extra}


def main(phase: str, pid: int, n: int, coordinator: str, directory: str) -> None:
    jax.distributed.initialize(coordinator_address=coordinator, num_processes=n, process_id=pid)
    mesh = Mesh(np.asarray(jax.devices()), ("data",))
    data, replicated = NamedSharding(mesh, P("data")), NamedSharding(mesh, P())
    per_host = BATCH // n
    rows = slice(pid * per_host, (pid + 1) * per_host)
    tx = make_tx()

    def init() -> tuple[dict, object]:
        params = {"w": jnp.zeros(4), "b": jnp.zeros(())}
        return params, tx.init(params)

    fresh = jax.jit(init, out_shardings=replicated)
    states = {way: fresh() for way in WAYS}

    @jax.jit
    def train_step(params, opt_state, x, y):
        grads = jax.grad(loss_fn)(params, x, y)  # the mean over the global batch
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    @jax.jit
    def validate_global(params, opt_state, x, y):
        loss = loss_fn(params, x, y)  # x, y span every host: a global mean
        return js.report(opt_state, loss), loss

    def validate_local(params, opt_state, x, y):
        loss = loss_fn(params, x, y)  # this device's shard only
        return js.report(opt_state, loss, axis_name="data"), jax.lax.pmean(loss, "data")

    validate_shard_map = jax.jit(jax.shard_map(
        validate_local, mesh=mesh, in_specs=(P(), P(), P("data"), P("data")),
        out_specs=(P(), P())))

    host_val = validation(pid)
    val = tuple(jax.make_array_from_process_local_data(data, a) for a in host_val)

    ckpt_dir = os.path.join(directory, "ckpt")
    import orbax.checkpoint as ocp

    first = 0
    if phase == "resume":
        saved = {way: states[way] for way in ("shard_map", "global")}
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, saved)
        with ocp.StandardCheckpointer() as ckpt:
            restored = ckpt.restore(ckpt_dir, abstract)
        states.update({way: tuple(restored[way]) for way in restored})
        del states["local"]
        first = SAVE_AT

    records = {way: [] for way in states}
    if phase == "resume":  # the restored state, before training on
        for way, (_, opt_state) in states.items():
            records[way].append(row(opt_state, eval=SAVE_AT, restored=True))
    for e in range(first, EVALS):
        for way, (params, opt_state) in states.items():
            for step in range(e * STEPS_PER_EVAL, (e + 1) * STEPS_PER_EVAL):
                x, y = (jax.make_array_from_process_local_data(data, a) for a in batch(step, rows))
                params, opt_state = train_step(params, opt_state, x, y)
            w, b = local_copy(params["w"]), local_copy(params["b"])
            local_val = float(np.mean((host_val[0] @ w + b - host_val[1]) ** 2))
            if way == "shard_map":
                opt_state, val_loss = validate_shard_map(params, opt_state, *val)
            elif way == "global":
                opt_state, val_loss = validate_global(params, opt_state, *val)
            else:
                opt_state, val_loss = js.report(opt_state, local_val), local_val
            states[way] = (params, opt_state)
            records[way].append(row(opt_state, eval=e + 1, val_loss=float(val_loss),
                                    local_val=local_val, w=w.tolist(), b=float(b)))
        if phase == "full" and e + 1 == SAVE_AT:
            with ocp.StandardCheckpointer() as ckpt:
                ckpt.save(ckpt_dir, {way: states[way] for way in ("shard_map", "global")})
                ckpt.wait_until_finished()
    with open(os.path.join(directory, f"{phase}-{pid}.json"), "w") as f:
        json.dump(records, f)
    jax.distributed.shutdown()


if __name__ == "__main__":
    phase, pid, n, coordinator, directory = sys.argv[1:]
    if phase not in ("full", "resume"):
        print(f"multi_host_worker: PHASE must be 'full' or 'resume', got {phase!r}", file=sys.stderr)
        sys.exit(2)
    main(phase, int(pid), int(n), coordinator, directory)
