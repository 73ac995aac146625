"""Pick the peak LR with an LR range test, then train one-cycle; compare with a constant LR.

1. ``js.lr_finder`` trains a copy of a Flax NNX MLP on scikit-learn's digits for
   ``--finder-steps`` SGD-with-momentum updates while the LR grows from 1e-4 to
   10, all inside one compiled ``lax.scan``, and suggests the LR where the
   smoothed loss falls fastest. The model's own parameters are not touched.
2. The same model trains for ``--epochs`` epochs twice, with the same optimizer:
   one-cycle (``js.one_cycle(peak=suggestion)``, with the matching momentum
   curve ``js.one_cycle_momentum``) and a constant LR (``--baseline-lr``,
   default the suggestion itself). Both final validation accuracies are printed.

The model is used the functional NNX way: ``nnx.split`` gives the parameters
as a pytree, and one ``loss_fn(params, batch)`` serves the finder and training.

    pip install -e ".[examples]"
    python examples/one_cycle_with_finder.py
"""

from __future__ import annotations

import argparse
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from _data import MLP, data_args, digits, epoch_batches, stacked_batches
from flax import nnx

import jaxsched as js


def sgd_momentum(learning_rate: Any, momentum: Any = 0.9) -> optax.GradientTransformation:
    return optax.sgd(learning_rate, momentum=momentum)


def make_loss(graphdef: nnx.GraphDef) -> Any:
    def loss_fn(params: Any, batch: dict[str, jax.Array]) -> jax.Array:
        logits = nnx.merge(graphdef, params)(batch["x"])
        return optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]).mean()

    return loss_fn


def accuracy(graphdef: nnx.GraphDef, params: Any, x: np.ndarray, y: np.ndarray) -> float:
    logits = nnx.merge(graphdef, params)(x)
    return float(jnp.mean(jnp.argmax(logits, -1) == y))


def fit(loss_fn: Any, params: Any, tx: optax.GradientTransformation, lr: js.Schedule,
        data: tuple, *, epochs: int, batch_size: int, seed: int,
        label: str) -> tuple[Any, list[float]]:
    """Trains ``params`` with ``tx``; returns them and, after each epoch, the next LR."""

    @jax.jit
    def step(params: Any, opt_state: Any, batch: dict[str, jax.Array]) -> tuple:
        loss, grads = jax.value_and_grad(loss_fn)(params, batch)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    x_train, y_train = data
    opt_state = tx.init(params)
    rng = np.random.default_rng(seed)
    lrs = []
    for epoch in range(1, epochs + 1):
        losses = []
        for idx in epoch_batches(rng, len(x_train), batch_size):
            params, opt_state, loss = step(params, opt_state, {"x": x_train[idx],
                                                               "y": y_train[idx]})
            losses.append(loss)
        lrs.append(float(js.current_lr(opt_state, lr)))
        print(f"  {label:<9} epoch {epoch}/{epochs}  train_loss "
              f"{float(jnp.mean(jnp.stack(losses))):.4f}  lr {lrs[-1]:.2e}")
    return params, lrs


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--epochs", type=int, default=5, help="epochs of each training run")
    parser.add_argument("--batch-size", type=int, default=32, help="images per update")
    data_args(parser)
    parser.add_argument("--finder-steps", type=int, default=100,
                        help="updates of the LR range test, from LR 1e-4 to 10")
    parser.add_argument("--baseline-lr", type=float, default=None,
                        help="the constant LR of the baseline; None: the finder's suggestion")
    parser.add_argument("--out", default="lr_finder.png", help="the finder's plot; '' for none")
    args = parser.parse_args(argv)

    x_train, x_val, y_train, y_val = digits(args.seed, args.limit)
    graphdef, params = nnx.split(MLP(args.hidden, nnx.Rngs(args.seed)))
    loss_fn = make_loss(graphdef)

    batches = stacked_batches(x_train, y_train, args.finder_steps, args.batch_size, args.seed)
    result = js.lr_finder(loss_fn, params, batches, optimizer=sgd_momentum,
                          start_lr=1e-4, end_lr=10.0, num_steps=args.finder_steps)
    print(result)
    if args.out:
        result.plot(args.out)
        print(f"  plot: {args.out}")
    if result.suggestion is None:
        raise SystemExit("the finder found no LR at which the loss falls; widen the sweep")
    peak = float(f"{result.suggestion:.2g}")  # two significant digits are plenty
    baseline_lr = peak if args.baseline_lr is None else args.baseline_lr

    total = args.epochs * (len(x_train) // args.batch_size)
    one_cycle = js.one_cycle(peak=peak, total_steps=total)
    constant = js.constant(baseline_lr)
    schedules = {
        "one-cycle": (optax.inject_hyperparams(sgd_momentum)(
            learning_rate=one_cycle, momentum=js.one_cycle_momentum(total_steps=total)),
            one_cycle),
        "constant": (optax.inject_hyperparams(sgd_momentum)(learning_rate=constant), constant),
    }
    print(f"\none-cycle: {one_cycle}\nconstant:  lr {baseline_lr:.3g}, momentum 0.9")
    out: dict[str, Any] = {"finder": result, "peak": peak, "baseline_lr": baseline_lr}
    for label, (tx, lr) in schedules.items():
        trained, lrs = fit(loss_fn, params, tx, lr, (x_train, y_train), epochs=args.epochs,
                           batch_size=args.batch_size, seed=args.seed, label=label)
        out[label] = {"val_acc": accuracy(graphdef, trained, x_val, y_val), "lrs": lrs}
    print(f"\nfinal val_acc  one-cycle (peak {peak:.3g}): {out['one-cycle']['val_acc']:.4f}   "
          f"constant ({baseline_lr:.3g}): {out['constant']['val_acc']:.4f}")
    return out


if __name__ == "__main__":
    main()
