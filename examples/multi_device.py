"""Data-parallel training on 8 CPU devices: sharded batches, a schedule plus a plateau.

JAX can split the host CPU into several devices, but only if told before it
starts: this script appends ``--xla_force_host_platform_device_count=8`` to
``XLA_FLAGS`` at its very top, before ``import jax`` (setting it after JAX has
initialised has no effect). On a machine with accelerators the same code runs
on a ``Mesh`` of real devices.

A ``jax.sharding.Mesh`` over the 8 devices has one axis, ``'data'``. Each batch
is split along it (``NamedSharding(mesh, P('data'))``); the parameters and the
optimizer state are replicated (``P()``). The train step is a plain
``jax.jit``: the loss is the mean over the global batch, and XLA inserts the
cross-device reductions. The learning rate is

    js.plateau(js.warmup_constant(3e-2, warmup_steps=...), factor=0.5, patience=1)

inside ``optax.inject_hyperparams(optax.adamw)``, so its state is part of the
replicated optimizer state. Once per epoch the validation loss is fed to it
with ``js.report``, in one of two ways (``--metric``):

* ``global`` (default): under ``jax.jit`` on the sharded validation set, the
  mean loss is already the global mean; ``js.report(opt_state, val_loss)``.
* ``shard_map``: inside ``jax.shard_map`` each device sees only its shard and
  computes a local loss; ``js.report(opt_state, local_loss, axis_name='data')``
  averages it over the devices (``lax.pmean``) before deciding.

Either way every device takes the same decision; the script checks that the
copies of the LR (and of the whole plateau state) on the 8 devices agree.

    python examples/multi_device.py
    python examples/multi_device.py --metric shard_map
"""

from __future__ import annotations

import os

_DEVICES = 8
_FLAG = "--xla_force_host_platform_device_count"
if _FLAG not in os.environ.get("XLA_FLAGS", ""):  # must happen before JAX starts
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_FLAG}={_DEVICES}".strip()

import argparse  # noqa: E402
from typing import Any  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from _data import MLP, data_args, digits, epoch_batches  # noqa: E402
from flax import nnx  # noqa: E402
from jax.sharding import Mesh, NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

import jaxsched as js  # noqa: E402


def replicas_agree(tree: Any) -> bool:
    """True if every device's copy of every leaf of ``tree`` holds the same values."""
    for leaf in jax.tree.leaves(tree):
        copies = [np.asarray(s.data) for s in leaf.addressable_shards]
        if any(not np.array_equal(c, copies[0], equal_nan=True) for c in copies[1:]):
            return False
    return True


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--epochs", type=int, default=12, help="epochs to train")
    parser.add_argument("--batch-size", type=int, default=64,
                        help=f"the global batch, split over the devices (a multiple of {_DEVICES})")
    data_args(parser)
    parser.add_argument("--peak", type=float, default=3e-2,
                        help="LR after the one-epoch linear warmup")
    parser.add_argument("--patience", type=int, default=1,
                        help="epochs without improvement before the LR is halved")
    parser.add_argument("--threshold", type=float, default=1e-4,
                        help="relative improvement that resets the plateau's patience")
    parser.add_argument("--metric", choices=["global", "shard_map"], default="global",
                        help="average the validation loss over the devices by a global jit "
                             "mean or by axis_name under shard_map")
    args = parser.parse_args(argv)

    devices = jax.devices("cpu")
    if len(devices) < _DEVICES:
        raise SystemExit(f"found {len(devices)} CPU devices, need {_DEVICES}: JAX started "
                         f"before XLA_FLAGS was set; run this file as a script.")
    mesh = Mesh(np.asarray(devices[:_DEVICES]), ("data",))
    data, replicated = NamedSharding(mesh, P("data")), NamedSharding(mesh, P())
    if args.batch_size % _DEVICES:
        raise SystemExit(f"--batch-size must be a multiple of {_DEVICES}")

    x_train, x_val, y_train, y_val = digits(args.seed, args.limit)
    keep = len(x_val) // _DEVICES * _DEVICES  # equal shards, so local means average exactly
    x_val, y_val = jax.device_put((x_val[:keep], y_val[:keep]), data)
    steps_per_epoch = len(x_train) // args.batch_size
    total = args.epochs * steps_per_epoch

    graphdef, params = nnx.split(MLP(args.hidden, nnx.Rngs(args.seed)))
    lr = js.plateau(js.warmup_constant(args.peak, warmup_steps=steps_per_epoch),
                    factor=0.5, patience=args.patience, threshold=args.threshold, min_lr=1e-5)
    tx = optax.inject_hyperparams(optax.adamw)(learning_rate=lr, weight_decay=1e-4)
    params = jax.device_put(params, replicated)
    opt_state = jax.device_put(tx.init(params), replicated)

    def metrics(params: Any, x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
        logits = nnx.merge(graphdef, params)(x)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        return loss, jnp.mean(jnp.argmax(logits, -1) == y)

    @jax.jit
    def train_step(params: Any, opt_state: Any, x: jax.Array, y: jax.Array) -> tuple:
        (loss, _), grads = jax.value_and_grad(metrics, has_aux=True)(params, x, y)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    if args.metric == "global":
        @jax.jit
        def validate(params: Any, opt_state: Any, x: jax.Array, y: jax.Array) -> tuple:
            loss, acc = metrics(params, x, y)  # a mean over the whole, sharded, set
            return js.report(opt_state, loss), loss, acc
    else:
        def local_validate(params: Any, opt_state: Any, x: jax.Array, y: jax.Array) -> tuple:
            loss, acc = metrics(params, x, y)  # this device's shard only
            opt_state = js.report(opt_state, loss, axis_name="data")  # pmean, then decide
            return opt_state, jax.lax.pmean(loss, "data"), jax.lax.pmean(acc, "data")

        validate = jax.jit(jax.shard_map(local_validate, mesh=mesh,
                                         in_specs=(P(), P(), P("data"), P("data")),
                                         out_specs=(P(), P(), P())))

    print(f"{len(mesh.devices)} devices, mesh {dict(mesh.shape)}; global batch "
          f"{args.batch_size} = {args.batch_size // _DEVICES} per device; {total} steps; "
          f"metric: {args.metric}\nlearning rate: {lr}\n")
    rng = np.random.default_rng(args.seed)
    history = []
    for epoch in range(1, args.epochs + 1):
        losses = []
        for idx in epoch_batches(rng, len(x_train), args.batch_size):
            x, y = jax.device_put((x_train[idx], y_train[idx]), data)
            params, opt_state, loss = train_step(params, opt_state, x, y)
            losses.append(loss)
        opt_state, val_loss, val_acc = validate(params, opt_state, x_val, y_val)
        current = js.current_lr(opt_state)
        copies = sorted({float(s.data) for s in current.addressable_shards})
        info = js.plateau_state(opt_state)
        row = {"epoch": epoch, "train_loss": float(jnp.mean(jnp.stack(losses))),
               "val_loss": float(val_loss), "val_acc": float(val_acc), "lr": float(current),
               "lr_copies": len(current.addressable_shards), "lr_values": copies,
               "agree": replicas_agree(js.plateau_state(opt_state)) and len(copies) == 1,
               "reductions": int(info.num_reductions)}
        history.append(row)
        same = (f"same on {row['lr_copies']} devices" if row["agree"]
                else f"DEVICES DISAGREE: {copies}")
        print(f"epoch {epoch}/{args.epochs}  train_loss {row['train_loss']:.4f}  "
              f"val_loss {row['val_loss']:.4f}  val_acc {row['val_acc']:.4f}  "
              f"lr {row['lr']:.2e} ({same}; reductions {row['reductions']})")
    agree = all(r["agree"] for r in history) and replicas_agree((params, opt_state))
    print(f"\nparameters and optimizer state identical on all {_DEVICES} devices: {agree}")
    return {**history[-1], "history": history, "all_agree": agree,
            "devices": len(mesh.devices), "param_sharding": str(jax.tree.leaves(params)[0]
                                                                 .sharding.spec)}


if __name__ == "__main__":
    main()
