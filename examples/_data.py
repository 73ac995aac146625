"""Helpers shared by the examples: the digits data, an NNX MLP, a progress bar, a plot.

Not part of jaxsched. The examples import it as ``from _data import ...``, which
works when they run as scripts (``python examples/train.py``: the script's folder
is on ``sys.path``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx


def data_args(parser: argparse.ArgumentParser, hidden: int = 128) -> None:
    """Adds the options every example shares: ``--hidden``, ``--limit`` and ``--seed``."""
    parser.add_argument("--hidden", type=int, default=hidden, help="hidden units of the MLP")
    parser.add_argument("--limit", type=int, default=None,
                        help="use only the first LIMIT images, for a quick smoke run; "
                             "None: all 1797")
    parser.add_argument("--seed", type=int, default=0, help="model, split and shuffle seed")


def digits(seed: int = 0, limit: int | None = None) -> tuple[np.ndarray, ...]:
    """scikit-learn's 8x8 digits (1797 images, 10 classes), split 75/25, stratified.

    Returns ``x_train, x_val, y_train, y_val``; pixels scaled to [0, 1], float32
    images of 64 pixels and int32 labels. ``limit`` keeps the first images only.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    if limit:
        x, y = x[:limit], y[:limit]
    x = (x / 16.0).astype(np.float32)
    return tuple(train_test_split(x, y.astype(np.int32), test_size=0.25, random_state=seed,
                                  stratify=y))


def epoch_batches(rng: np.random.Generator, n: int, batch_size: int) -> Iterator[np.ndarray]:
    """Index arrays of one shuffled epoch; the incomplete last batch is dropped (one shape,
    one compilation, and exactly ``n // batch_size`` steps per epoch)."""
    order = rng.permutation(n)
    for i in range(n // batch_size):
        yield order[i * batch_size:(i + 1) * batch_size]


def stacked_batches(x: np.ndarray, y: np.ndarray, num_steps: int, batch_size: int,
                    seed: int = 0) -> dict[str, np.ndarray]:
    """``num_steps`` shuffled batches stacked on a leading axis: the ``batches`` that
    ``js.lr_finder`` expects (``{"x": (num_steps, batch_size, 64), "y": ...}``)."""
    rng = np.random.default_rng(seed)
    per_epoch = len(x) // batch_size
    epochs = -(-num_steps // per_epoch)
    idx = np.concatenate([np.stack(list(epoch_batches(rng, len(x), batch_size)))
                          for _ in range(epochs)])[:num_steps]
    return {"x": x[idx], "y": y[idx]}


class MLP(nnx.Module):
    """64 pixels -> ``hidden`` ReLU units -> 10 logits."""

    def __init__(self, hidden: int, rngs: nnx.Rngs):
        self.hidden = nnx.Linear(64, hidden, rngs=rngs)
        self.out = nnx.Linear(hidden, 10, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.out(nnx.relu(self.hidden(x)))


def loss_and_accuracy(model: MLP, x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Mean softmax cross-entropy of ``model`` on ``(x, y)``, and its accuracy."""
    logits = model(x)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    return loss, jnp.mean(jnp.argmax(logits, -1) == y)


evaluate = nnx.jit(loss_and_accuracy)  # (loss, accuracy) on held-out data, compiled


class Progress:
    """A one-line progress bar on stderr, redrawn in place with ``\\r``.

    Drawn only when the stream is a terminal (``enabled=None``), so that logs
    redirected to a file hold the per-epoch lines without the bar's redraws.
    """

    def __init__(self, total: int, label: str = "", width: int = 30, stream: Any = None,
                 enabled: bool | None = None):
        self.total, self.label, self.width = total, label, width
        self.stream = sys.stderr if stream is None else stream
        self.enabled = self.stream.isatty() if enabled is None else enabled

    def update(self, done: int, note: str = "") -> None:
        if not self.enabled:
            return
        filled = self.width * done // max(self.total, 1)
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {done}/{self.total} {note}")
        self.stream.flush()

    def clear(self) -> None:
        if not self.enabled:
            return
        self.stream.write("\r" + " " * (self.width + len(self.label) + 40) + "\r")
        self.stream.flush()


def plot_run(path: str, hyperparams: dict[str, np.ndarray], losses: np.ndarray,
             title: str = "") -> None:
    """A PNG: one panel per hyperparameter, then the training loss, against the step."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 3 + 2 * len(hyperparams)), layout="constrained")
    *axes, ax_loss = fig.subplots(len(hyperparams) + 1, 1, sharex=True)
    steps = np.arange(len(losses))
    for i, (ax, (name, values)) in enumerate(zip(axes, hyperparams.items(), strict=True)):
        ax.plot(steps, values, color=f"C{i}")
        ax.set_ylabel(name.replace("learning_rate", "learning rate"), fontsize="small")
    ax_loss.plot(steps, losses, color="0.7", linewidth=0.8, label="per step")
    window = max(1, len(losses) // 50)
    if window > 1:
        smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
        ax_loss.plot(steps[window - 1:], smooth, color="C1", label=f"mean of {window}")
        ax_loss.legend(fontsize="small")
    ax_loss.set_yscale("log")
    ax_loss.set_ylabel("training loss")
    ax_loss.set_xlabel("step")
    for ax in (*axes, ax_loss):
        ax.grid(True, alpha=0.3)
    if title:
        axes[0].set_title(title, fontsize="small")
    fig.savefig(path, dpi=110)
