"""Train a Flax NNX classifier on scikit-learn's digits with a jaxsched schedule.

An MLP learns the 8x8 digit images that ship with scikit-learn. The learning
rate comes from ``--schedule``, any schedule written as jaxsched code (read by
``js.parse``, which evaluates nothing); by default a linear warmup over the first
5% of the steps and a cosine decay to 0, sized to the run:

    js.warmup_cosine(peak=3e-3, warmup_steps=total // 20, total_steps=total)

It drives ``optax.inject_hyperparams(optax.adamw)``, and ``js.hyperparams``
reads every scheduled hyperparameter from the optimizer state (the LR the next
update will use; a plateau's scale and reductions too), inside the jitted step
and once per epoch, for the log. The script prints ``js.describe`` of the
schedule over the run (warnings included), one line per epoch on stdout (and,
only when stderr is a terminal, a progress bar within the epoch on stderr),
and writes a PNG of each hyperparameter and the loss against the step. A
``js.plateau(...)`` schedule is fed the validation loss each epoch.

    pip install -e ".[examples]"
    python examples/train.py
    python examples/train.py --epochs 10 --schedule "one_cycle(peak=0.01, total_steps=420)"
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from _data import (
    MLP,
    Progress,
    data_args,
    digits,
    epoch_batches,
    evaluate,
    loss_and_accuracy,
    plot_run,
)
from flax import nnx

import jaxsched as js


def make_train_step(lr: Any) -> Any:
    """The jitted step for schedule ``lr``: one AdamW update, its loss and hyperparameters."""

    @nnx.jit
    def train_step(model: MLP, optimizer: nnx.Optimizer, x: jax.Array,
                   y: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
        used = js.hyperparams(optimizer, lr)  # read before the update: the ones it uses
        (loss, _), grads = nnx.value_and_grad(loss_and_accuracy, has_aux=True)(model, x, y)
        optimizer.update(model, grads)
        return loss, used

    return train_step


def default_schedule(peak: float, total_steps: int) -> js.Schedule:
    return js.warmup_cosine(peak=peak, warmup_steps=max(1, total_steps // 20),
                            total_steps=total_steps)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        epilog="A progress bar is drawn on stderr only when stderr is a terminal; the line per "
               "epoch goes to stdout either way.")
    parser.add_argument("--schedule", metavar="SPEC", default=None,
                        help="a jaxsched schedule as code, e.g. \"cosine(start=0.003, end=0.0, "
                             "steps=840)\"; None: warmup_cosine sized to the run, peak --peak")
    parser.add_argument("--epochs", type=int, default=20, help="epochs to train")
    parser.add_argument("--batch-size", type=int, default=32, help="images per update")
    parser.add_argument("--peak", type=float, default=3e-3,
                        help="peak LR of the default schedule")
    data_args(parser)
    parser.add_argument("--weight-decay", type=float, default=1e-4, help="AdamW's weight decay")
    parser.add_argument("--out", default="train.png", help="where to write the PNG; '' for none")
    args = parser.parse_args(argv)

    x_train, x_val, y_train, y_val = digits(args.seed, args.limit)
    steps_per_epoch = len(x_train) // args.batch_size
    total = args.epochs * steps_per_epoch
    lr = js.parse(args.schedule) if args.schedule else default_schedule(args.peak, total)
    print(f"{len(x_train)} training / {len(x_val)} validation images, {steps_per_epoch} steps "
          f"per epoch, {total} steps\n")
    print(js.describe(lr, total), "\n")

    model = MLP(args.hidden, nnx.Rngs(args.seed))
    tx = optax.inject_hyperparams(optax.adamw)(learning_rate=lr, weight_decay=args.weight_decay)
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    is_plateau = isinstance(lr, js.plateau)
    train_step = make_train_step(lr)
    rng = np.random.default_rng(args.seed)
    step_hps, step_losses, history = [], [], []
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        bar = Progress(steps_per_epoch, f"epoch {epoch}/{args.epochs}")
        losses = []
        for i, idx in enumerate(epoch_batches(rng, len(x_train), args.batch_size)):
            loss, used = train_step(model, optimizer, x_train[idx], y_train[idx])
            losses.append(loss)
            step_hps.append(used)
            if i % 8 == 7 or i == steps_per_epoch - 1:
                bar.update(i + 1, f"loss {float(loss):.4f}")
        bar.clear()
        val_loss, val_acc = evaluate(model, x_val, y_val)
        if is_plateau:
            js.report(optimizer, val_loss)
        losses = np.asarray(jnp.stack(losses))
        step_losses.append(losses)
        hp = {k: v.item() for k, v in jax.device_get(js.hyperparams(optimizer, lr)).items()}
        row = {"epoch": epoch, "step": epoch * steps_per_epoch,
               "train_loss": float(losses.mean()), "val_loss": float(val_loss),
               "val_acc": float(val_acc), "lr": hp.pop("learning_rate"), **hp}
        history.append(row)
        others = "".join(f"  {k} {v:.4g}" for k, v in hp.items())
        print(f"epoch {epoch}/{args.epochs}  train_loss {row['train_loss']:.4f}  "
              f"val_acc {row['val_acc']:.4f}  lr {row['lr']:.2e}{others}", flush=True)
    seconds = time.perf_counter() - start

    hps = {k: np.asarray(jnp.stack([h[k] for h in step_hps])) for k in step_hps[0]}
    lrs, losses = hps["learning_rate"], np.concatenate(step_losses)
    if args.out:
        plot_run(args.out, hps, losses, title=str(lr))
    print(f"\n{total} steps in {seconds:.1f} s; final val_acc {history[-1]['val_acc']:.4f}"
          + (f"; wrote {args.out}" if args.out else ""))
    return {**history[-1], "history": history, "lrs": lrs, "hyperparams": hps, "losses": losses,
            "schedule": lr, "seconds": seconds, "out": args.out}


if __name__ == "__main__":
    main()
