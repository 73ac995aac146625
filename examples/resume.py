"""Resume a run from an orbax checkpoint, extend it, then branch a cooldown.

The digits classifier of ``train.py`` trains with a warmup-cosine schedule
planned for ``--epochs`` epochs (its warmup given as 5% of the run) and is
checkpointed with orbax at the end of epoch ``--resume-epoch``, as if the job
had stopped there. Three phases, each a fresh process's worth of objects
restored from the last checkpoint:

1. the original run, up to the first checkpoint;
2. resumed and extended to ``--extend-epochs`` epochs in total:
   ``js.extend(old, at=count, total_steps=...)`` continues from the LR reached
   and decays over the new horizon (a new, longer cosine would jump up);
   checkpointed again at the end of epoch ``--cooldown-epoch``;
3. resumed once more and cooled down: ``js.cooldown(extended, at=count,
   steps=..., shape="1-sqrt")`` branches WSD's final decay from there.

``count`` is the optimizer's step count read from the restored checkpoint, and
``js.describe(new, compare=old, count=count)`` checks each re-plan before it
runs. The optimizer state keeps its structure across the re-plans (the
schedule lives in the optimizer, not in its state), so the restored state moves
into an optimizer built with the new schedule, step count and moments included.
A PNG shows the three schedules and the learning rate each update used.

    pip install -e ".[examples]"
    python examples/resume.py
"""

from __future__ import annotations

import argparse
import os
import tempfile
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
from _data import MLP, data_args, digits, epoch_batches, evaluate, loss_and_accuracy
from flax import nnx

import jaxsched as js


@nnx.jit
def train_step(model: MLP, optimizer: nnx.Optimizer, schedule: js.Schedule, x: jax.Array,
               y: jax.Array) -> tuple[jax.Array, jax.Array]:
    """One AdamW update; returns the loss and the learning rate that the update used (the
    current LR before it: ``js.current_lr`` is the LR the next update will use)."""
    used = js.current_lr(optimizer, schedule)
    (loss, _), grads = nnx.value_and_grad(loss_and_accuracy, has_aux=True)(model, x, y)
    optimizer.update(model, grads)
    return loss, used


def build(schedule: js.Schedule, hidden: int, seed: int,
          weight_decay: float) -> tuple[MLP, nnx.Optimizer]:
    """A model and its AdamW optimizer driven by ``schedule``."""
    model = MLP(hidden, nnx.Rngs(seed))
    tx = optax.inject_hyperparams(optax.adamw)(learning_rate=schedule, weight_decay=weight_decay)
    return model, nnx.Optimizer(model, tx, wrt=nnx.Param)


def reschedule(model: MLP, optimizer: nnx.Optimizer, schedule: js.Schedule,
               weight_decay: float) -> nnx.Optimizer:
    """An optimizer driven by ``schedule`` holding ``optimizer``'s state (count and moments)."""
    tx = optax.inject_hyperparams(optax.adamw)(learning_rate=schedule, weight_decay=weight_decay)
    new = nnx.Optimizer(model, tx, wrt=nnx.Param)
    nnx.update(new, nnx.state(optimizer))
    return new


def save(path: str, model: MLP, optimizer: nnx.Optimizer) -> None:
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(path, {"model": nnx.state(model), "optimizer": nnx.state(optimizer)})


def restore(path: str, model: MLP, optimizer: nnx.Optimizer) -> int:
    """Loads the checkpoint into ``model`` and ``optimizer``; returns the step count."""
    target = {"model": nnx.state(model), "optimizer": nnx.state(optimizer)}
    abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, target)
    with ocp.StandardCheckpointer() as checkpointer:
        state = checkpointer.restore(path, abstract)
    nnx.update(model, state["model"])
    nnx.update(optimizer, state["optimizer"])
    return int(optimizer.step.get_value())


def train(model: MLP, optimizer: nnx.Optimizer, schedule: js.Schedule,
          data: tuple[np.ndarray, ...], first: int, last: int, batch_size: int, seed: int,
          label: str) -> dict[str, Any]:
    """Epochs ``first+1 .. last``; each epoch's batch order depends only on the epoch, so a
    resumed run sees the batches the uninterrupted run would have seen."""
    x_train, x_val, y_train, y_val = data
    lrs, losses = [], []
    for epoch in range(first + 1, last + 1):
        rng = np.random.default_rng([seed, epoch])
        for idx in epoch_batches(rng, len(x_train), batch_size):
            loss, used = train_step(model, optimizer, schedule, x_train[idx], y_train[idx])
            losses.append(loss)
            lrs.append(used)
        _, acc = evaluate(model, x_val, y_val)
        print(f"[{label}] epoch {epoch}  val_acc {float(acc):.4f}  "
              f"next lr {float(js.current_lr(optimizer, schedule)):.3e}", flush=True)
    return {"lrs": np.asarray(jnp.stack(lrs)), "losses": np.asarray(jnp.stack(losses)),
            "val_acc": float(acc)}


def plot(path: str, phases: list[dict[str, Any]], spe: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax_loss) = plt.subplots(2, 1, figsize=(8, 6), sharex=True,
                                      gridspec_kw={"height_ratios": [2, 1]})
    colors = ["tab:gray", "tab:blue", "tab:orange"]
    for phase, color in zip(phases, colors, strict=True):
        s, horizon = phase["schedule"], phase["horizon"]
        steps = np.arange(phase["from"], horizon + 1)  # each plan from where it took over
        ax.plot(steps, js.evaluate(s, steps), color=color, lw=1.2, label=phase["name"])
        ran = np.arange(phase["from"], phase["from"] + len(phase["lrs"]))
        ax.plot(ran, phase["lrs"], "o", ms=3, mfc="none", color=color)
        ax_loss.plot(ran, phase["losses"], color=color, lw=0.8)
        if phase["from"]:
            ax.axvline(phase["from"], color=color, lw=0.6, ls=":")
    ax.set_ylabel("learning rate (lines: plans, dots: used)")
    ax.legend(fontsize=7, loc="upper right")
    ax_loss.set_ylabel("train loss")
    ax_loss.set_xlabel(f"step ({spe} per epoch)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10, help="epochs of the run as first planned")
    parser.add_argument("--resume-epoch", type=int, default=5,
                        help="the epoch at whose end the first checkpoint is taken")
    parser.add_argument("--extend-epochs", type=int, default=20,
                        help="epochs of the run once extended")
    parser.add_argument("--cooldown-epoch", type=int, default=14,
                        help="the epoch at whose end the second checkpoint is taken "
                             "and the cooldown starts")
    parser.add_argument("--cooldown-epochs", type=int, default=2, help="epochs of the cooldown")
    parser.add_argument("--peak", type=float, default=3e-3, help="peak LR of the warmup-cosine")
    parser.add_argument("--batch-size", type=int, default=32, help="images per update")
    data_args(parser)
    parser.add_argument("--weight-decay", type=float, default=1e-4, help="AdamW's weight decay")
    parser.add_argument("--ckpt-dir", default=None,
                        help="where to write the checkpoints; None: a new temporary folder")
    parser.add_argument("--out", default="resume.png", help="where to write the PNG; '' for none")
    args = parser.parse_args(argv)
    if not 0 < args.resume_epoch < args.cooldown_epoch < args.extend_epochs:
        parser.error("needs 0 < --resume-epoch < --cooldown-epoch < --extend-epochs")

    data = digits(args.seed, args.limit)
    spe = len(data[0]) // args.batch_size
    ckpt_dir = os.path.abspath(args.ckpt_dir or tempfile.mkdtemp(prefix="jaxsched_resume_"))
    hp = (args.hidden, args.seed, args.weight_decay)

    # 1. The original run, stopped at the end of epoch --resume-epoch.
    old = js.warmup_cosine(args.peak, warmup_steps=0.05, total_steps=args.epochs * spe)
    print(f"planned: {old}\n")
    model, optimizer = build(old, *hp)
    first = train(model, optimizer, old, data, 0, args.resume_epoch, args.batch_size, args.seed,
                  "original")
    save(os.path.join(ckpt_dir, "a"), model, optimizer)

    # 2. Resume and extend: continue from the LR reached, decay over the new horizon.
    model, optimizer = build(old, *hp)
    count = restore(os.path.join(ckpt_dir, "a"), model, optimizer)
    extended = js.extend(old, at=count, total_steps=args.extend_epochs * spe)
    print(f"\nresumed at step {count}")
    print(js.describe(extended, extended.total_steps, compare=old, count=count), "\n")
    optimizer = reschedule(model, optimizer, extended, args.weight_decay)
    second = train(model, optimizer, extended, data, args.resume_epoch, args.cooldown_epoch,
                   args.batch_size, args.seed, "extended")
    save(os.path.join(ckpt_dir, "b"), model, optimizer)

    # 3. Resume again and branch a cooldown from there.
    model, optimizer = build(extended, *hp)
    count2 = restore(os.path.join(ckpt_dir, "b"), model, optimizer)
    cooled = js.cooldown(extended, at=count2, steps=args.cooldown_epochs * spe, shape="1-sqrt")
    end = count2 + cooled.steps
    print(f"\nresumed at step {count2}")
    print(js.describe(cooled, end, compare=extended, count=count2), "\n")
    optimizer = reschedule(model, optimizer, cooled, args.weight_decay)
    third = train(model, optimizer, cooled, data, args.cooldown_epoch,
                  args.cooldown_epoch + args.cooldown_epochs, args.batch_size, args.seed,
                  "cooldown")

    phases = [{"name": f"planned: {old}", "schedule": old, "horizon": old.total_steps,
               "from": 0, **first},
              {"name": f"extended at step {count}", "schedule": extended,
               "horizon": extended.total_steps, "from": count, **second},
              {"name": f"cooled down from step {count2}", "schedule": cooled, "horizon": end,
               "from": count2, **third}]
    if args.out:
        plot(args.out, phases, spe)
    print(f"\nfinal val_acc {third['val_acc']:.4f} after {end} steps"
          + (f"; wrote {args.out}" if args.out else ""))
    return {"steps_per_epoch": spe, "counts": (count, count2), "schedules": (old, extended, cooled),
            "lrs": np.concatenate([first["lrs"], second["lrs"], third["lrs"]]),
            "phases": phases, "val_acc": third["val_acc"], "ckpt_dir": ckpt_dir,
            "out": args.out}


if __name__ == "__main__":
    main()
