"""Reduce the learning rate on a validation plateau: Flax NNX on scikit-learn's digits.

An MLP classifies the 8x8 digit images that ship with scikit-learn. The learning
rate warms up linearly for two epochs, then holds, and is halved whenever the
validation loss has not improved for ``--patience`` epochs: one object,

    js.plateau(js.warmup_constant(lr, warmup_steps), factor=0.5, patience=2, ...)

passed to ``optax.inject_hyperparams(optax.adamw)``. Its state lives in the
optimizer state; once per epoch ``js.report(optimizer, val_loss)`` feeds it the
validation loss (inside ``nnx.jit``, updating the ``nnx.Optimizer`` in place),
``js.current_lr`` reads the LR for the log and ``js.should_stop`` ends training
once the loss has not improved for ``--stop-patience`` epochs.

    pip install -e ".[examples]"
    python examples/plateau.py --epochs 40
"""

from __future__ import annotations

import argparse
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import jaxsched as js


class MLP(nnx.Module):
    def __init__(self, hidden: int, rngs: nnx.Rngs):
        self.hidden = nnx.Linear(64, hidden, rngs=rngs)
        self.out = nnx.Linear(hidden, 10, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.out(nnx.relu(self.hidden(x)))


def _loss(model: MLP, x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
    logits = model(x)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    return loss, jnp.mean(jnp.argmax(logits, -1) == y)


@nnx.jit
def train_step(model: MLP, optimizer: nnx.Optimizer, x: jax.Array, y: jax.Array) -> jax.Array:
    (loss, _), grads = nnx.value_and_grad(_loss, has_aux=True)(model, x, y)
    optimizer.update(model, grads)
    return loss


@nnx.jit
def validate(model: MLP, optimizer: nnx.Optimizer, x: jax.Array, y: jax.Array) -> Any:
    loss, acc = _loss(model, x, y)
    js.report(optimizer, loss)  # advances the plateau inside the optimizer, in place
    return loss, acc


def _data(seed: int, limit: int | None) -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    if limit:
        x, y = x[:limit], y[:limit]
    x = (x / 16.0).astype(np.float32)
    return tuple(train_test_split(x, y.astype(np.int32), test_size=0.25, random_state=seed,
                                  stratify=y))


def main(argv: list[str] | None = None) -> list[dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--warmup-epochs", type=int, default=2)
    parser.add_argument("--patience", type=int, default=2)
    parser.add_argument("--stop-patience", type=int, default=8)
    parser.add_argument("--limit", type=int, default=None,
                        help="use only the first LIMIT images (for a quick smoke run)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    x_train, x_val, y_train, y_val = _data(args.seed, args.limit)
    steps_per_epoch = math.ceil(len(x_train) / args.batch_size)
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
        order = rng.permutation(len(x_train))
        losses = []
        for i in range(steps_per_epoch):
            idx = order[i * args.batch_size:(i + 1) * args.batch_size]
            losses.append(train_step(model, optimizer, x_train[idx], y_train[idx]))
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
