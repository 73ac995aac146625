"""Data-parallel training over several processes (hosts) with a warmup then a plateau.

A multi-host JAX job is one process per host, joined by ``jax.distributed``;
``jax.devices()`` then lists every device of every host, and one
``Mesh(jax.devices(), ('data',))`` spans them all. Each process loads the same
digits data and the same shuffled order, puts *its* rows of every global batch
on its devices (``jax.make_array_from_process_local_data``), and runs the same
jitted step: the loss is the mean over the global batch, XLA inserts the
cross-host reductions. Parameters and the optimizer state are replicated.

The learning rate is a linear warmup, then ``js.plateau`` on the validation
loss. Each host holds a different shard of the validation set, so its own loss
differs; the plateau must see the loss averaged over all hosts, or the hosts
cut the LR at different epochs. ``--metric`` picks how:

* ``global``: under ``jax.jit`` the mean over the globally sharded validation
  set is already the global mean; ``js.report(opt_state, val_loss)``.
* ``shard_map``: each device computes its local loss and
  ``js.report(opt_state, loss, axis_name='data')`` averages it (``pmean``).

Every epoch the script gathers each host's copy of the plateau state and checks
that they are identical. Only process 0 prints, writes the log and the PNG.
With ``--checkpoint DIR`` every epoch is saved with orbax (parameters and the
optimizer state, the plateau's included); a rerun with the same ``DIR``
resumes from the last epoch saved and continues the same LR trajectory.

    python examples/multi_host.py --processes 2      # two processes on this machine's CPU
    python examples/multi_host.py --process-id 0 --num-processes 2 --coordinator host0:1234
    python examples/multi_host.py                    # on each host of a TPU pod
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from _data import MLP, data_args, digits, epoch_batches, plot_run
from flax import nnx
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

import jaxsched as js


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    cluster = parser.add_argument_group("cluster (none of these on a TPU pod)")
    cluster.add_argument("--processes", type=int, default=None, metavar="N",
                         help="start N processes on this machine (CPU, gloo collectives) and "
                              "run the job in them")
    cluster.add_argument("--process-id", type=int, default=None,
                         help="this process's index in an existing cluster, 0 to N-1")
    cluster.add_argument("--num-processes", type=int, default=None,
                         help="the number of processes in the cluster")
    cluster.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                         help="address of process 0, reachable from every process")
    parser.add_argument("--epochs", type=int, default=8, help="epochs to train in all")
    parser.add_argument("--batch-size", type=int, default=64,
                        help="the global batch, split over all devices of all hosts")
    data_args(parser, hidden=64)
    parser.add_argument("--peak", type=float, default=2e-2, help="LR after the warmup")
    parser.add_argument("--warmup-epochs", type=int, default=1,
                        help="epochs of linear warmup from 0 to --peak")
    parser.add_argument("--factor", type=float, default=0.5,
                        help="the plateau multiplies the LR by this on each reduction")
    parser.add_argument("--patience", type=int, default=1,
                        help="epochs without improvement before a reduction")
    parser.add_argument("--threshold", type=float, default=1e-2,
                        help="relative improvement of the validation loss that counts")
    parser.add_argument("--metric", choices=["global", "shard_map"], default="global",
                        help="average the validation loss over hosts by a global jit mean "
                             "or by axis_name under shard_map")
    parser.add_argument("--checkpoint", default=None, metavar="DIR",
                        help="save every epoch here with orbax; resume from it if it holds one; "
                             "None: no checkpoints")
    parser.add_argument("--log", default=None, metavar="PATH",
                        help="append one JSON line per epoch here (process 0); None: no log")
    parser.add_argument("--out", default="multi_host.png",
                        help="PNG of the LR and the loss (process 0); '' for none")
    args = parser.parse_args(argv)
    given = [a is not None for a in (args.process_id, args.num_processes, args.coordinator)]
    if any(given) and not all(given):
        parser.error("--process-id, --num-processes and --coordinator go together")
    if args.processes is not None and (any(given) or args.processes < 1):
        parser.error("--processes N needs N >= 1 and no --process-id/--coordinator")
    return args


def launch(n: int, argv: list[str]) -> int:
    """Runs this script in ``n`` local processes joined over a free port; kills all if one
    fails. Returns the first non-zero exit code, or 0."""
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}  # all processes on this machine's CPU
    procs = [subprocess.Popen([sys.executable, os.path.abspath(__file__), *argv,
                               "--process-id", str(i), "--num-processes", str(n),
                               "--coordinator", f"localhost:{port}"], env=env)
             for i in range(n)]
    try:
        while True:
            codes = [p.poll() for p in procs]
            failed = [c for c in codes if c not in (None, 0)]
            if failed or all(c == 0 for c in codes):
                return failed[0] if failed else 0
            time.sleep(0.1)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()


def join_cluster(args: argparse.Namespace) -> None:
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU only; else unused
    if args.coordinator is None:
        try:  # a TPU pod (or a SLURM/MPI cluster) tells each process who it is
            jax.distributed.initialize()
        except (ValueError, RuntimeError) as e:
            raise SystemExit(f"no cluster found ({e}).\nTry it on this machine with "
                             "--processes 2, or give --process-id, --num-processes and "
                             "--coordinator.") from None
    else:
        jax.distributed.initialize(coordinator_address=args.coordinator,
                                   num_processes=args.num_processes, process_id=args.process_id)


def host_copies_agree(tree: Any) -> bool:
    """True if every host holds the same values in the replicated arrays of ``tree``."""
    mine = np.concatenate([np.asarray(x.addressable_data(0), np.float64).ravel()
                           for x in jax.tree.leaves(tree)])
    every = multihost_utils.process_allgather(mine)  # one row per host
    return bool(np.all(every == every[0]))


def train(args: argparse.Namespace) -> dict[str, Any]:
    hosts, host = jax.process_count(), jax.process_index()
    say = print if host == 0 else (lambda *a, **k: None)
    mesh = Mesh(np.asarray(jax.devices()), ("data",))
    data, replicated = NamedSharding(mesh, P("data")), NamedSharding(mesh, P())
    n_dev = jax.device_count()
    if args.batch_size % n_dev:
        raise SystemExit(f"--batch-size must be a multiple of the {n_dev} devices")
    per_host = args.batch_size // hosts

    x_train, x_val, y_train, y_val = digits(args.seed, args.limit)
    keep = len(x_val) // n_dev * n_dev // hosts  # equal shards: local means average exactly
    mine = slice(host * keep, (host + 1) * keep)  # this host's validation shard
    val = tuple(jax.make_array_from_process_local_data(data, a[mine]) for a in (x_val, y_val))
    steps_per_epoch = len(x_train) // args.batch_size

    graphdef, params = nnx.split(MLP(args.hidden, nnx.Rngs(args.seed)))
    lr = js.plateau(js.warmup_constant(args.peak, warmup_steps=args.warmup_epochs
                                       * steps_per_epoch),
                    factor=args.factor, patience=args.patience, threshold=args.threshold,
                    min_lr=args.peak * 1e-3)
    tx = optax.inject_hyperparams(optax.adamw)(learning_rate=lr, weight_decay=1e-4)
    params = jax.device_put(jax.tree.map(np.asarray, params), replicated)  # same on all hosts
    opt_state = jax.jit(tx.init, out_shardings=replicated)(params)

    def metrics(params: Any, x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
        logits = nnx.merge(graphdef, params)(x)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        return loss, jnp.mean(jnp.argmax(logits, -1) == y)

    @jax.jit
    def train_step(params: Any, opt_state: Any, x: jax.Array, y: jax.Array) -> tuple:
        used = js.current_lr(opt_state)
        (loss, _), grads = jax.value_and_grad(metrics, has_aux=True)(params, x, y)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss, used

    if args.metric == "global":
        @jax.jit
        def validate(params: Any, opt_state: Any, x: jax.Array, y: jax.Array) -> tuple:
            loss, acc = metrics(params, x, y)  # a mean over every host's shard
            return js.report(opt_state, loss), loss, acc
    else:
        def local_validate(params: Any, opt_state: Any, x: jax.Array, y: jax.Array) -> tuple:
            loss, acc = metrics(params, x, y)  # this device's shard only
            opt_state = js.report(opt_state, loss, axis_name="data")  # pmean, then decide
            return opt_state, jax.lax.pmean(loss, "data"), jax.lax.pmean(acc, "data")

        validate = jax.jit(jax.shard_map(local_validate, mesh=mesh,
                                         in_specs=(P(), P(), P("data"), P("data")),
                                         out_specs=(P(), P(), P())))

    first, manager = 0, None
    if args.checkpoint:
        import orbax.checkpoint as ocp

        manager = ocp.CheckpointManager(os.path.abspath(args.checkpoint),
                                        options=ocp.CheckpointManagerOptions(max_to_keep=2))
        if manager.latest_step() is not None:
            first = manager.latest_step()
            target = jax.tree.map(ocp.utils.to_shape_dtype_struct,
                                  {"params": params, "opt_state": opt_state})
            restored = manager.restore(first, args=ocp.args.StandardRestore(target))
            params, opt_state = restored["params"], restored["opt_state"]

    say(f"{hosts} processes, {n_dev} devices, mesh {dict(mesh.shape)}; global batch "
        f"{args.batch_size} = {per_host} per process; {steps_per_epoch} steps per epoch; "
        f"metric: {args.metric}\nlearning rate: {lr}"
        + (f"\nresumed from epoch {first} ({args.checkpoint})" if first else "") + "\n")
    step_lrs, step_losses, history = [], [], []
    for epoch in range(first + 1, args.epochs + 1):
        rng = np.random.default_rng([args.seed, epoch])  # the same order on every host
        losses = []
        for idx in epoch_batches(rng, len(x_train), args.batch_size):
            rows = idx[host * per_host:(host + 1) * per_host]  # this host's part of the batch
            x, y = (jax.make_array_from_process_local_data(data, a[rows])
                    for a in (x_train, y_train))
            params, opt_state, loss, used = train_step(params, opt_state, x, y)
            losses.append(loss)
            step_lrs.append(used)
        opt_state, val_loss, val_acc = validate(params, opt_state, *val)
        info = js.plateau_state(opt_state)
        row = {"epoch": epoch, "train_loss": float(jnp.mean(jnp.stack(losses))),
               "val_loss": float(val_loss), "val_acc": float(val_acc),
               "lr": float(js.current_lr(opt_state)), "scale": float(info.scale),
               "best": float(info.best), "num_bad": int(info.num_bad),
               "reductions": int(info.num_reductions),
               "hosts_agree": host_copies_agree((info, opt_state))}
        history.append(row)
        step_losses.extend(losses)
        if manager is not None:
            manager.save(epoch, args=ocp.args.StandardSave({"params": params,
                                                            "opt_state": opt_state}))
        if args.log and host == 0:
            with open(args.log, "a") as f:
                f.write(json.dumps(row) + "\n")
        say(f"epoch {epoch}/{args.epochs}  train_loss {row['train_loss']:.4f}  "
            f"val_loss {row['val_loss']:.4f}  val_acc {row['val_acc']:.4f}  "
            f"lr {row['lr']:.2e}  reductions {row['reductions']}  "
            + ("(same on all hosts)" if row["hosts_agree"] else "HOSTS DISAGREE"), flush=True)
    if manager is not None:
        manager.wait_until_finished()
        manager.close()
    agree = all(r["hosts_agree"] for r in history) and host_copies_agree((params, opt_state))
    say(f"\nparameters and optimizer state identical on all {hosts} hosts: {agree}")
    if args.out and host == 0 and history:
        plot_run(args.out, {"learning_rate": np.asarray(jnp.stack(step_lrs))},
                 np.asarray(jnp.stack(step_losses)), title=f"{hosts} processes: {lr}")
        say(f"wrote {args.out}")
    return {"history": history, "all_agree": agree, "hosts": hosts, "first_epoch": first + 1}


def main(argv: list[str] | None = None) -> dict[str, Any] | int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    if args.processes is not None:
        rest = [a for i, a in enumerate(argv) if not (
            a == "--processes" or a.startswith("--processes=")
            or (i > 0 and argv[i - 1] == "--processes"))]
        return launch(args.processes, rest)
    join_cluster(args)
    try:
        return train(args)
    finally:
        jax.distributed.shutdown()


if __name__ == "__main__":
    result = main()
    sys.exit(result if isinstance(result, int) else 0)
