"""The LR range test: sweep the learning rate up while training, watch the loss.

``lr_finder`` trains a copy of the parameters for ``num_steps`` updates with a
learning rate that grows from ``start_lr`` to ``end_lr`` (Smith, 2017; the
fastai / torch-lr-finder recipe), records the loss of every step, smooths it,
stops once it diverges and suggests a learning rate. The whole sweep is one
compiled program: a ``lax.scan`` inside one ``jax.jit``, with no Python loop
per step and nothing donated, so the caller's parameters are left as they were.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from . import _checks as check
from ._steps import float_dtype

_MODES = ("exp", "linear")
MIN_STEPS = 10


@dataclasses.dataclass(frozen=True, eq=False)
class FinderResult:
    """What ``lr_finder`` measured, and the learning rates it suggests.

    ``print(result)`` gives a short summary; ``result.plot(path)`` draws the
    loss against the learning rate.

    Attributes:
      lrs: float64 array ``(num_steps,)``, the learning rate of each step.
      losses: float64 array ``(num_steps,)``, ``loss_fn`` at the parameters
        before step ``i``'s update (so it reflects the learning rates of steps
        ``0 .. i-1``); NaN after the divergence step.
      smoothed: the bias-corrected exponential moving average of ``losses``;
        NaN after the divergence step.
      suggestion: the learning rate where the smoothed loss falls fastest
        against ``log(lr)``, or None when it never falls (see ``lr_finder``).
      min_loss_lr: the learning rate of the lowest smoothed loss (fastai's
        "minimum" suggestion is a tenth of it), or None if step 0 diverged.
      diverged_at: the step at which the loss diverged, or None.
      mode: ``'exp'`` or ``'linear'``, the spacing of ``lrs``.
    """

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    suggestion: float | None
    min_loss_lr: float | None
    diverged_at: int | None
    mode: str

    @property
    def num_valid(self) -> int:
        """The number of steps before divergence (all of them if it never diverged)."""
        return len(self.lrs) if self.diverged_at is None else self.diverged_at

    def __repr__(self) -> str:
        return (f"FinderResult(num_steps={len(self.lrs)}, mode={self.mode!r}, "
                f"suggestion={_opt(self.suggestion)}, min_loss_lr={_opt(self.min_loss_lr)}, "
                f"diverged_at={self.diverged_at})")

    def __str__(self) -> str:
        n, lrs = len(self.lrs), self.lrs
        lines = [f"LR range test: {n} steps, lr {lrs[0]:.3g} -> {lrs[-1]:.3g} ({self.mode})"]
        if self.diverged_at is None:
            lines.append(f"  no divergence; final smoothed loss {self.smoothed[-1]:.4g}")
        else:
            k = self.diverged_at
            lines.append(f"  diverged at step {k} (lr {lrs[k]:.3g}), loss {self.losses[k]:.4g}")
        if self.min_loss_lr is not None:
            i = int(np.nanargmin(self.smoothed[:self.num_valid]))
            lines.append(f"  lowest smoothed loss {self.smoothed[i]:.4g} at lr "
                         f"{self.min_loss_lr:.3g} (a tenth: {self.min_loss_lr / 10:.3g})")
        if self.suggestion is not None:
            lines.append(f"  steepest descent at lr {self.suggestion:.3g}  <- suggestion")
        else:
            lines.append("  suggestion: none (the smoothed loss never fell between the first "
                         "and last steps looked at; try a lower start_lr or more steps)")
        return "\n".join(lines)

    def plot(self, path: str | os.PathLike | None = None, *, log: bool = True, ax: Any = None,
             dpi: int = 120) -> Any:
        """Plots the loss (raw and smoothed) against the learning rate; saves it if ``path``.

        Steps after the divergence are not drawn; the suggestion and the
        divergence point are marked.

        Args:
          path: where to save the figure (the suffix picks the format); None
            only returns it.
          log: a log scale for the learning rate.
          ax: draw into these matplotlib axes instead of a new figure.
          dpi: resolution of the saved file.

        Returns:
          The matplotlib ``Figure``.

        Raises:
          ImportError: if matplotlib is not installed (``pip install matplotlib``).
        """
        from ._plot import figure

        fig, ax = figure("FinderResult.plot", ax, (7, 4))
        end = min(self.num_valid + 1, len(self.lrs))  # the divergence step is drawn too
        lrs, raw, smooth = self.lrs[:end], self.losses[:end], self.smoothed[:end]
        finite = np.isfinite(raw)
        ax.plot(lrs[finite], raw[finite], color="0.7", linewidth=1, label="loss")
        ax.plot(lrs, smooth, color="C0", linewidth=2, label="smoothed loss")
        if self.suggestion is not None:
            ax.axvline(self.suggestion, color="C2", linestyle="--",
                       label=f"suggestion {self.suggestion:.2g}")
        if self.min_loss_lr is not None:
            ax.axvline(self.min_loss_lr, color="C1", linestyle=":",
                       label=f"min loss {self.min_loss_lr:.2g}")
        if self.diverged_at is not None:
            k = self.diverged_at
            ax.plot([self.lrs[k]], [self.smoothed[k]], "rx", markersize=8,
                    label=f"diverged at step {k}")
        shown = smooth[np.isfinite(smooth)]
        if shown.size:
            lo, hi = float(shown.min()), float(shown.max())
            pad = 0.05 * (hi - lo) or 0.05 * abs(hi) or 0.05
            ax.set_ylim(lo - pad, hi + pad)
        if log:
            ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("loss")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
        if path is not None:
            fig.savefig(path, dpi=dpi)
        return fig


def _opt(x: float | None) -> str:
    return "None" if x is None else f"{x:.4g}"


def lr_finder(
    loss_fn: Callable[[Any, Any], jax.Array],
    params: Any,
    batches: Any,
    *,
    optimizer: Callable[[Any], optax.GradientTransformation],
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_steps: int = 100,
    mode: str = "exp",
    smooth: float = 0.05,
    diverge: float = 4.0,
    single_batch: bool = False,
) -> FinderResult:
    """Runs the LR range test: trains with a growing learning rate and records the loss.

    Step ``i`` (``0 <= i < N``, ``N = num_steps``) uses the learning rate
    ``lr_i = start_lr * (end_lr / start_lr) ** (i / (N - 1))`` (``mode='exp'``)
    or ``start_lr + (end_lr - start_lr) * i / (N - 1)`` (``'linear'``): it
    records ``loss_i = loss_fn(params_i, batch_i)`` and updates the parameters
    with ``optimizer(lr_i)``. The smoothed loss is the bias-corrected moving
    average ``a_i = (1 - smooth) * a_{i-1} + smooth * loss_i``,
    ``s_i = a_i / (1 - (1 - smooth) ** (i + 1))`` (``smooth=1``: no smoothing).
    The sweep diverges at the first step where ``loss_i`` is NaN or inf or
    ``s_i - best > (diverge - 1) * |best|`` with ``best = min(s_0 .. s_i)``
    (that is ``s_i > diverge * best`` for positive losses); from then on the
    parameters are frozen, no more gradients are computed and the losses read
    NaN.

    ``suggestion`` is the LR of the steepest descent of ``s`` against
    ``log(lr)`` (``np.gradient``) among steps ``N // 10 <= i < V - N // 20``,
    where ``V`` is the number of steps before divergence (skipping the noisy
    start and the run-up to divergence, as torch-lr-finder's defaults 10 and 5
    do for 100 steps); None if ``s`` never falls there. ``min_loss_lr`` is the
    LR of the lowest ``s_i``, ``i < V``.

    Everything runs inside one ``jax.jit`` holding a ``lax.scan``; the compiled
    program is cached per ``(loss_fn, optimizer, single_batch)`` and the shapes,
    so another sweep with other LRs does not recompile. Nothing is donated:
    ``params`` and ``batches`` are only read.

    Args:
      loss_fn: ``loss_fn(params, batch) -> scalar loss``, jnp-traceable.
      params: the initial parameters (any pytree of float arrays).
      batches: one batch per step, stacked: a pytree whose leaves all have a
        leading axis of length ``num_steps`` (step ``i`` gets
        ``jax.tree.map(lambda b: b[i], batches)``). With ``single_batch=True``,
        one batch (any pytree) used at every step, e.g. a full-batch problem.
      optimizer: a factory ``lr -> optax.GradientTransformation``, such as
        ``lambda lr: optax.sgd(lr, momentum=0.9)`` or ``optax.adam``; it is
        called with a traced scalar LR, once per trace.
      start_lr: the first learning rate, > 0.
      end_lr: the last learning rate, > start_lr.
      num_steps: the number of updates, >= 10.
      mode: ``'exp'`` (geometric spacing, the usual choice) or ``'linear'``.
      smooth: the weight of the newest loss in the moving average, in (0, 1].
      diverge: the divergence factor, > 1.
      single_batch: ``batches`` is one batch reused at every step.

    Returns:
      A ``FinderResult`` (``lrs``, ``losses``, ``smoothed``, ``suggestion``,
      ``min_loss_lr``, ``diverged_at``; ``print`` it for a summary and
      ``.plot(path)`` it).

    Raises:
      ValueError: for arguments outside the ranges above, or leaves of
        ``batches`` without a leading axis of length ``num_steps``.
      TypeError: if ``optimizer`` is not a factory of gradient transformations,
        or ``loss_fn`` does not return a real scalar.

    >>> import jax.numpy as jnp, optax, jaxsched as js
    >>> loss = lambda w, h: 1.0 + 0.5 * jnp.sum(h * w ** 2)  # curvatures h = 1 and 4
    >>> r = js.lr_finder(loss, jnp.ones(2), jnp.array([1.0, 4.0]), single_batch=True,
    ...                  optimizer=lambda lr: optax.sgd(lr, momentum=0.9),
    ...                  start_lr=1e-4, end_lr=10.0, num_steps=40)
    >>> # momentum SGD is stable for lr < 2 * (1 + 0.9) / 4 = 0.95
    >>> print(f"suggestion {r.suggestion:.4f}, diverged at lr {r.lrs[r.diverged_at]:.2f}")
    suggestion 0.0113, diverged at lr 1.70
    """
    fn = "lr_finder"
    if not callable(loss_fn):
        raise TypeError(f"{fn}: `loss_fn` must be a function (params, batch) -> scalar loss, "
                        f"got {type(loss_fn).__name__}.")
    _check_optimizer(fn, optimizer)
    start_lr = check.number(fn, "start_lr", start_lr, min=0.0, min_open=True)
    end_lr = check.number(fn, "end_lr", end_lr, min=0.0, min_open=True)
    if not end_lr > start_lr:
        raise ValueError(f"{fn}: needs end_lr > start_lr (the sweep goes up), got "
                         f"start_lr={start_lr!r}, end_lr={end_lr!r}.")
    num_steps = check.integer(fn, "num_steps", num_steps, min=MIN_STEPS)
    mode = check.choice(fn, "mode", mode, _MODES)
    smooth = check.number(fn, "smooth", smooth, min=0.0, min_open=True, max=1.0)
    diverge = check.number(fn, "diverge", diverge, min=1.0, min_open=True)
    single_batch = check.flag(fn, "single_batch", single_batch)
    if not single_batch:
        _check_batches(fn, batches, num_steps)

    lrs = _sweep_lrs(start_lr, end_lr, num_steps, mode)
    static = {"loss_fn": loss_fn, "optimizer": optimizer, "single_batch": single_batch}
    try:
        hash((loss_fn, optimizer))
        sweep = functools.partial(_sweep, **static)  # compiled once per (functions, shapes)
    except TypeError:  # unhashable callables: compile for this call only
        sweep = jax.jit(functools.partial(_sweep_impl, **static))
    losses, smoothed, diverged = sweep(params, batches, jnp.asarray(lrs, float_dtype()),
                                       smooth, diverge)
    losses = np.asarray(losses, np.float64)
    smoothed = np.asarray(smoothed, np.float64)
    for array in (lrs, losses, smoothed):  # a frozen result: its arrays are read-only too
        array.setflags(write=False)
    diverged = np.asarray(diverged)
    diverged_at = int(np.argmax(diverged)) if diverged.any() else None
    valid = num_steps if diverged_at is None else diverged_at
    return FinderResult(
        lrs=lrs, losses=losses, smoothed=smoothed,
        suggestion=_steepest(lrs, smoothed, valid, num_steps // 10, num_steps // 20),
        min_loss_lr=float(lrs[np.nanargmin(smoothed[:valid])]) if valid else None,
        diverged_at=diverged_at, mode=mode)


def _check_optimizer(fn: str, optimizer: Any) -> None:
    example = "lambda lr: optax.sgd(lr, momentum=0.9)"
    if isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(f"{fn}: `optimizer` must be a factory lr -> GradientTransformation "
                        f"(the finder sets the LR), got a GradientTransformation; pass e.g. "
                        f"`{example}`.")
    if not callable(optimizer):
        raise TypeError(f"{fn}: `optimizer` must be a factory lr -> GradientTransformation, "
                        f"e.g. `{example}`, got {type(optimizer).__name__}.")


def _check_batches(fn: str, batches: Any, num_steps: int) -> None:
    pairs = jax.tree_util.tree_flatten_with_path(batches)[0]
    if not pairs:
        raise ValueError(f"{fn}: `batches` holds no arrays; pass one batch per step stacked "
                         "along a leading axis, or one batch with single_batch=True.")
    for path, leaf in pairs:
        shape = tuple(np.shape(leaf))
        if not shape or shape[0] != num_steps:
            where = "batches" + jax.tree_util.keystr(path)
            raise ValueError(
                f"{fn}: every leaf of `batches` needs a leading axis of length "
                f"num_steps={num_steps} (one batch per step), got shape {shape} at {where}; "
                "to use one batch at every step, pass single_batch=True.")


def _sweep_lrs(start: float, end: float, n: int, mode: str) -> np.ndarray:
    frac = np.arange(n, dtype=np.float64) / (n - 1)
    if mode == "exp":
        return start * (end / start) ** frac
    return start + (end - start) * frac


def _steepest(lrs: np.ndarray, smoothed: np.ndarray, valid: int, skip_start: int,
              skip_end: int) -> float | None:
    lo, hi = skip_start, valid - skip_end
    if valid < 2 or hi - lo < 1:
        return None
    slope = np.gradient(smoothed[:valid], np.log(lrs[:valid]))
    i = lo + int(np.argmin(slope[lo:hi]))
    return float(lrs[i]) if slope[i] < 0 else None


def _scalar_loss(loss_fn: Callable, params: Any, batch: Any) -> jax.Array:
    loss = loss_fn(params, batch)
    shape, dtype = jnp.shape(loss), jnp.result_type(loss)
    if shape != () or not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"lr_finder: `loss_fn` must return a real scalar, got an array of "
                        f"shape {shape} and dtype {dtype}; reduce it (e.g. its mean) first.")
    return loss


def _sweep_impl(params: Any, batches: Any, lrs: jax.Array, smooth: jax.Array,
                diverge: jax.Array, *, loss_fn: Callable, optimizer: Callable,
                single_batch: bool) -> tuple:
    ftype = lrs.dtype
    smooth = jnp.asarray(smooth, ftype)
    diverge = jnp.asarray(diverge, ftype)
    beta = 1 - smooth
    grad_fn = jax.value_and_grad(functools.partial(_scalar_loss, loss_fn))
    opt_state = optimizer(lrs[0]).init(params)
    nan = jnp.full((), jnp.nan, ftype)

    def live(carry: tuple, lr: jax.Array, batch: Any) -> tuple:
        params, opt_state, avg, best, _, i = carry
        loss, grads = grad_fn(params, batch)
        loss = loss.astype(ftype)
        updates, opt_state = optimizer(lr).update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        avg = beta * avg + smooth * loss
        smoothed = avg / (1 - beta ** (i + 1).astype(ftype))
        best = jnp.where(smoothed < best, smoothed, best)
        diverged = (~jnp.isfinite(smoothed)
                    | (smoothed - best > (diverge - 1) * jnp.abs(best)))
        return (params, opt_state, avg, best, diverged, i + 1), (loss, smoothed)

    def body(carry: tuple, xs: tuple) -> tuple:
        lr, batch = xs
        if single_batch:
            batch = batches
        frozen = lambda carry, lr, batch: (carry, (nan, nan))
        carry, (loss, smoothed) = lax.cond(carry[4], frozen, live, carry, lr, batch)
        return carry, (loss, smoothed, carry[4])

    zero = jnp.zeros((), ftype)
    init = (params, opt_state, zero, jnp.full((), jnp.inf, ftype), jnp.zeros((), bool),
            jnp.zeros((), jnp.int32))
    _, (losses, smoothed, diverged) = lax.scan(body, init, (lrs, None if single_batch
                                                            else batches))
    return losses, smoothed, diverged


_sweep = jax.jit(_sweep_impl, static_argnames=("loss_fn", "optimizer", "single_batch"))
