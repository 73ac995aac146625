"""Reduce the learning rate on a validation plateau: Flax NNX on scikit-learn's digits.

An MLP classifies the 8x8 digit images that ship with scikit-learn. The learning
rate warms up linearly for two epochs, then holds, and is halved whenever the
validation loss has not improved for ``--patience`` epochs: one object,

    js.plateau(js.warmup_constant(lr, warmup_steps), factor=0.5, patience=2, ...)

passed to ``optax.inject_hyperparams(optax.adamw)``. Its state lives in the
optimizer state; once per epoch ``js.report(optimizer, val_loss)`` feeds it the
validation loss (inside ``nnx.jit``, updating the ``nnx.Optimizer`` in place),
``js.current_lr`` reads the LR for the log and ``js.should_stop`` ends training
once the loss has not improved for ``--stop-patience`` epochs. The data, the MLP
and the shuffled batches come from ``_data.py``, as in the other examples.

    pip install -e ".[examples]"
    python examples/plateau.py --epochs 40
"""

from __future__ import annotations

import argparse
from typing import Any

import jax
import numpy as np
import optax
from _data import MLP, data_args, digits, epoch_batches, loss_and_accuracy
from flax import nnx

import jaxsched as js


@nnx.jit
def train_step(model: MLP, optimizer: nnx.Optimizer, x: jax.Array, y: jax.Array) -> jax.Array:
    (loss, _), grads = nnx.value_and_grad(loss_and_accuracy, has_aux=True)(model, x, y)
    optimizer.update(model, grads)
    return loss


@nnx.jit
def validate(model: MLP, optimizer: nnx.Optimizer, x: jax.Array, y: jax.Array) -> Any:
    loss, acc = loss_and_accuracy(model, x, y)
    js.report(optimizer, loss)  # advances the plateau inside the optimizer, in place
    return loss, acc


def main(argv: list[str] | None = None) -> list[dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--epochs", type=int, default=40,
                        help="epochs to train at most (training may stop early)")
    parser.add_argument("--batch-size", type=int, default=32, help="images per update")
    data_args(parser)
    parser.add_argument("--lr", type=float, default=3e-3, help="LR after the warmup")
    parser.add_argument("--warmup-epochs", type=int, default=2,
                        help="epochs of linear warmup from 0 to --lr")
    parser.add_argument("--patience", type=int, default=2,
                        help="epochs without improvement before the LR is halved")
    parser.add_argument("--stop-patience", type=int, default=8,
                        help="stop once the validation loss has not improved for more "
                             "than this many epochs")
    args = parser.parse_args(argv)

    x_train, x_val, y_train, y_val = digits(args.seed, args.limit)
    steps_per_epoch = len(x_train) // args.batch_size
    lr = js.plateau(js.warmup_constant(args.lr, warmup_steps=args.warmup_epochs * steps_per_epoch),
                    factor=0.5, patience=args.patience, min_lr=1e-5,
                    stop_patience=args.stop_patience)
    print(f"{len(x_train)} training / {len(x_val)} validation images, "
          f"{steps_per_epoch} steps per epoch\nlearning rate: {lr}\n")

    model = MLP(args.hidden, nnx.Rngs(args.seed))
    optimizer = nnx.Optimizer(
        model, optax.inject_hyperparams(optax.adamw)(learning_rate=lr, weight_decay=1e-4),
        wrt=nnx.Param)
    rng = np.random.default_rng(args.seed)
    history = []
    print(f"{'epoch':>5}  {'train loss':>10}  {'val loss':>9}  {'val acc':>7}  {'next LR':>9}")
    for epoch in range(1, args.epochs + 1):
        losses = [train_step(model, optimizer, x_train[idx], y_train[idx])
                  for idx in epoch_batches(rng, len(x_train), args.batch_size)]
        reductions = int(js.plateau_state(optimizer).num_reductions)
        val_loss, val_acc = validate(model, optimizer, x_val, y_val)
        info = js.plateau_state(optimizer)
        row = {"epoch": epoch, "train_loss": float(np.mean(losses)),
               "val_loss": float(val_loss), "val_acc": float(val_acc),
               "lr": float(js.current_lr(optimizer)),
               "reduced": int(info.num_reductions) > reductions}
        history.append(row)
        mark = "  <- LR halved" if row["reduced"] else ""
        print(f"{epoch:5d}  {row['train_loss']:10.4f}  {row['val_loss']:9.4f}  "
              f"{row['val_acc']:7.3f}  {row['lr']:9.2e}{mark}")
        if js.should_stop(optimizer):
            print(f"stopping: no improvement for {args.stop_patience + 1} epochs "
                  f"(best validation loss {float(info.best):.4f})")
            break
    return history


if __name__ == "__main__":
    main()
