"""The LR range test and one-cycle with Flax linen and ``TrainState``, AdamW this time.

A linen MLP classifies scikit-learn's digits. ``js.lr_finder`` sweeps AdamW's
learning rate from 1e-5 to 1 on a copy of the parameters; then two
``flax.training.train_state.TrainState``\\ s train from the same parameters with

    tx = optax.inject_hyperparams(optax.adamw)(learning_rate=schedule, weight_decay=1e-4)

one with ``js.one_cycle(peak=suggestion)``, one with a constant LR (default: a
tenth of the suggestion, a common AdamW setting). The schedule is part of
``state.opt_state``, so each epoch logs ``js.current_lr(state, schedule)``: the
LR the next update will use (the schedule at the step count in the state).

    pip install -e ".[examples]"
    python examples/linen_trainstate.py
"""

from __future__ import annotations

import argparse
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from _data import data_args, digits, epoch_batches, stacked_batches
from flax.training.train_state import TrainState

import jaxsched as js


class MLP(nn.Module):
    hidden: int = 128

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        return nn.Dense(10)(nn.relu(nn.Dense(self.hidden)(x)))


def make_loss(model: nn.Module) -> Any:
    def loss_fn(params: Any, batch: dict[str, jax.Array]) -> jax.Array:
        logits = model.apply({"params": params}, batch["x"])
        return optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]).mean()

    return loss_fn


def adamw(learning_rate: Any) -> optax.GradientTransformation:
    return optax.adamw(learning_rate, weight_decay=1e-4)


def fit(state: TrainState, schedule: js.Schedule, loss_fn: Any, data: tuple, *, epochs: int,
        batch_size: int, seed: int, label: str) -> tuple[TrainState, list[float]]:
    """Trains the ``TrainState``; returns it and ``js.current_lr`` after each epoch."""

    @jax.jit
    def step(state: TrainState, batch: dict[str, jax.Array]) -> tuple[TrainState, jax.Array]:
        loss, grads = jax.value_and_grad(loss_fn)(state.params, batch)
        return state.apply_gradients(grads=grads), loss

    x_train, y_train = data
    rng = np.random.default_rng(seed)
    lrs = []
    for epoch in range(1, epochs + 1):
        losses = []
        for idx in epoch_batches(rng, len(x_train), batch_size):
            state, loss = step(state, {"x": x_train[idx], "y": y_train[idx]})
            losses.append(loss)
        lrs.append(float(js.current_lr(state, schedule)))
        print(f"  {label:<9} epoch {epoch}/{epochs}  train_loss "
              f"{float(jnp.mean(jnp.stack(losses))):.4f}  lr {lrs[-1]:.2e}")
    return state, lrs


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--epochs", type=int, default=5, help="epochs of each training run")
    parser.add_argument("--batch-size", type=int, default=32, help="images per update")
    data_args(parser)
    parser.add_argument("--finder-steps", type=int, default=100,
                        help="updates of the LR range test, from LR 1e-5 to 1")
    parser.add_argument("--baseline-lr", type=float, default=None,
                        help="the constant LR of the baseline; None: the finder's suggestion / 10")
    args = parser.parse_args(argv)

    x_train, x_val, y_train, y_val = digits(args.seed, args.limit)
    model = MLP(args.hidden)
    params = model.init(jax.random.key(args.seed), x_train[:1])["params"]
    loss_fn = make_loss(model)

    batches = stacked_batches(x_train, y_train, args.finder_steps, args.batch_size, args.seed)
    result = js.lr_finder(loss_fn, params, batches, optimizer=adamw, start_lr=1e-5,
                          end_lr=1.0, num_steps=args.finder_steps)
    print(result)
    if result.suggestion is None:
        raise SystemExit("the finder found no LR at which the loss falls; widen the sweep")
    peak = float(f"{result.suggestion:.2g}")
    baseline_lr = peak / 10 if args.baseline_lr is None else args.baseline_lr

    total = args.epochs * (len(x_train) // args.batch_size)
    schedules = {"one-cycle": js.one_cycle(peak=peak, total_steps=total),
                 "constant": js.constant(baseline_lr)}
    out: dict[str, Any] = {"finder": result, "peak": peak, "baseline_lr": baseline_lr}
    for label, schedule in schedules.items():
        print(f"\n{label}: {schedule}")
        tx = optax.inject_hyperparams(optax.adamw)(learning_rate=schedule, weight_decay=1e-4)
        state = TrainState.create(apply_fn=model.apply, params=params, tx=tx)
        state, lrs = fit(state, schedule, loss_fn, (x_train, y_train), epochs=args.epochs,
                         batch_size=args.batch_size, seed=args.seed, label=label)
        logits = state.apply_fn({"params": state.params}, x_val)
        out[label] = {"val_acc": float(jnp.mean(jnp.argmax(logits, -1) == y_val)), "lrs": lrs,
                      "steps": int(state.step)}
    print(f"\nfinal val_acc  one-cycle (peak {peak:.3g}): {out['one-cycle']['val_acc']:.4f}   "
          f"constant ({baseline_lr:.3g}): {out['constant']['val_acc']:.4f}")
    return out


if __name__ == "__main__":
    main()
