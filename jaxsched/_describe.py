"""See a schedule before training: its key values and the mistakes it likely holds.

``describe`` evaluates the schedule on steps ``0 .. N-1`` (all of them up to
``DENSE_MAX`` steps; beyond that an even sample of ``SAMPLES`` steps refined
around every point it reports) and reads the schedule's structure for its
planned horizon and the boundaries between joined pieces.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from ._schedule import Schedule, as_schedule, evaluate, is_stateful
from ._spec import parse

DENSE_MAX = 1 << 22  # steps evaluated one by one (about 0.3 s on a CPU)
SAMPLES = 1 << 20  # evenly spaced steps evaluated beyond that
ZERO_TAIL = 1e-3  # a zero tail longer than this fraction of training is a mistake
WARMUP_FRACTION = 0.25


# ----------------------------------------------------------------- inputs
def resolve(schedule: Any, fn: str) -> tuple[Schedule, str, str | None]:
    """``(schedule, its text, a note)`` for a schedule, its text, a stateful schedule
    (shown by its stateless part, e.g. a plateau's base) or a function of the step."""
    if isinstance(schedule, str):
        schedule = parse(schedule)
    if is_stateful(schedule) and callable(getattr(schedule, "_preview", None)):
        base, note = schedule._preview()
        return base, repr(schedule), note
    s = as_schedule(schedule, fn, "schedule", numbers="refuse")
    return s, repr(s), None


def check_steps(steps: Any, fn: str) -> int:
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer):
        raise TypeError(f"{fn}: `steps` must be a positive int (the number of training steps),"
                        f" got {steps!r}.")
    steps = int(steps)
    if steps < 1:
        raise ValueError(f"{fn}: `steps` must be a positive int, got {steps}.")
    top = int(np.iinfo(np.int64 if jax.config.jax_enable_x64 else np.int32).max)
    if steps - 1 > top:
        raise ValueError(f"{fn}: `steps` must be <= {top + 1} (int32 steps); set "
                         f"JAX_ENABLE_X64=1 for longer runs, got {steps}.")
    return steps


def values_at(schedule: Schedule, steps: np.ndarray) -> np.ndarray:
    """The schedule at integer ``steps``, as float64."""
    return np.asarray(evaluate(schedule, np.asarray(steps)), np.float64)


def sample(schedule: Schedule, n: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """``(steps, values, sampled)``: every step below ``DENSE_MAX``, else an even sample."""
    if n <= DENSE_MAX:
        steps = np.arange(n, dtype=np.int64)
    else:
        steps = np.unique(np.linspace(0, n - 1, SAMPLES).astype(np.int64))
    return steps, values_at(schedule, steps), n > DENSE_MAX


# ----------------------------------------------------------------- description
@dataclasses.dataclass(frozen=True)
class Description:
    """What ``describe`` found; ``str()`` gives a short table."""

    schedule: str  # the schedule's text
    steps: int  # training steps N: steps 0 .. N-1 were evaluated
    start: float  # lr at step 0
    peak: float
    peak_step: int  # first step at the peak
    warmup_end: int | None  # first step at the peak when the LR rises to it from step 0
    final: float  # lr at step N-1
    min: float
    min_step: int  # first step at the minimum
    zero_from: int | None  # the LR is 0 from this step to the end (after being positive)
    horizon: int | None  # where the schedule's planned course ends, if it has one
    warnings: tuple[str, ...]
    notes: tuple[str, ...] = ()  # how it was evaluated (sampled, plateau base)
    comparison: Comparison | None = None  # against the schedule the run followed before

    def __str__(self) -> str:
        n = self.steps
        rows = [("start", _g(self.start), "step 0"),
                ("peak", _g(self.peak), f"step {self.peak_step}")]
        if self.warmup_end is not None:
            rows.append(("warmup ends", f"step {self.warmup_end}",
                         f"{_pct(self.warmup_end, n)} of training"))
        rows += [("final", _g(self.final), f"step {n - 1}"),
                 ("min", _g(self.min), f"step {self.min_step}")]
        if self.horizon is not None:
            rel = "= steps" if self.horizon == n else ("< steps" if self.horizon < n
                                                       else "> steps")
            rows.append(("horizon", f"step {self.horizon}", rel))
        w0 = max(len(r[0]) for r in rows)
        w1 = max(len(r[1]) for r in rows)
        lines = [f"{self.schedule}", f"over {n} steps (0 .. {n - 1})"]
        lines += [f"  {a:<{w0}}  {b:<{w1}}  {c}" for a, b, c in rows]
        lines += [f"  note: {note}" for note in self.notes]
        if self.comparison is not None:
            lines += self.comparison.lines()
        if self.warnings:
            lines.append("warnings:")
            lines += [f"  - {w}" for w in self.warnings]
        else:
            lines.append("warnings: none")
        return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class Comparison:
    """How a re-planned schedule relates to the one the run followed (``describe(compare=)``)."""

    schedule: str  # the old schedule's text
    resume_step: int | None  # where the run resumes: the re-plan's `at`, else `count`
    old_lr: float | None  # the old schedule at the resume step
    new_lr: float | None  # the new schedule at the resume step
    first_difference: int | None  # first step where the two differ (None: identical)
    old_final: float  # the old schedule at step N-1

    def lines(self) -> list[str]:
        out = [f"compared with: {self.schedule}"]
        if self.resume_step is not None:
            out.append(f"  resumes at step {self.resume_step}: lr {_g(self.old_lr)} -> "
                       f"{_g(self.new_lr)}")
        same = ("identical over the run" if self.first_difference is None
                else f"identical before step {self.first_difference}")
        return [*out, f"  {same}; old final {_g(self.old_final)}"]


def _compare(s: Schedule, old: Any, n: int, grid: np.ndarray, v: np.ndarray, sampled: bool,
             count: int | None) -> tuple[Comparison | None, list[str]]:
    """The comparison with ``old`` (if given) and the warnings about the resume step."""
    at = s._resume_step()
    warnings = []
    if count is not None and at is not None and count != at:
        lr = _value_at(s, count)
        warnings.append(f"the schedule resumes at step {at} but the checkpoint's step count is "
                        f"{count}: the restored optimizer applies it from step {count}"
                        + (f" (lr {_g(lr)})" if lr is not None else "")
                        + f", so steps {min(at, count)}..{max(at, count) - 1} follow the wrong "
                        f"course; re-plan with at={count}")
    if old is None:
        return None, warnings
    o, text, _ = resolve(old, "describe")
    w = values_at(o, grid)
    diff = np.flatnonzero(w != v)
    first = None
    if diff.size:
        i = int(diff[0])
        first = int(grid[i])
        if sampled and i > 0:  # the first differing step between two sample points
            steps = np.arange(int(grid[i - 1]), first + 1, dtype=np.int64)
            first = int(steps[np.flatnonzero(values_at(o, steps) != values_at(s, steps))[0]])
    at = at if at is not None else count if count is not None else first
    old_lr = new_lr = None
    if at is not None and at < n:
        old_lr, new_lr = _value_at(o, at), _value_at(s, at)
    if at is not None and first is not None and first < at:
        warnings.append(f"the schedule differs from the old one at step {first}, before the run "
                        f"resumes at step {at}: build it from the old one with js.extend, "
                        f"js.cooldown or js.restart(old, at={at}, ...)")
    scale = max(float(np.max(np.abs(v))), float(np.max(np.abs(w))))
    if old_lr is not None and abs(new_lr - old_lr) > 1e-3 * scale:
        warnings.append(f"the LR jumps at the resume step {at}: from {_g(old_lr)} (old) to "
                        f"{_g(new_lr)}; js.extend and js.cooldown continue from the LR reached")
    return Comparison(text, at, old_lr, new_lr, first, float(w[-1])), warnings


def _g(x: float) -> str:
    return f"{x:.4g}"


def _pct(k: int, n: int) -> str:
    return f"{100.0 * k / n:.3g}%"


def describe(schedule: Any, steps: int, *, compare: Any = None,
             count: int | None = None) -> Description:
    """Key values of a schedule over ``steps`` training steps, and warnings.

    Reports the start value, the peak and its step, where the warmup ends (the
    first step at the peak, when the LR rises to it from step 0), the final
    value (at ``steps - 1``), the minimum, and warns when: the LR reaches 0 and
    stays there before the end; the schedule's planned horizon (a decay's
    ``steps``, a recipe's ``total_steps``, a join's last boundary plus its last
    piece) ends before ``steps`` (its last value is held) or after it (it never
    reaches its final value: a ``T_max`` not adjusted); the warmup is over 25%
    of training; joined pieces do not meet (a jump at a boundary).

    With ``compare`` (the schedule the run followed before a re-plan), it also
    reports the resume step (a re-planned schedule's ``at``, else ``count``), the
    LR there under both schedules and the first step where they differ, and warns
    when they differ before the resume step or the LR jumps at it. With ``count``
    (the checkpoint's step count, e.g. ``opt_state.count``) it warns when the
    re-planned schedule resumes at another step.

    Args:
      schedule: a schedule, its text (as ``parse`` reads it), a ``plateau``
        (its base is described) or a jnp-traceable function of the step.
      steps: the number of training steps N.
      compare: the schedule the run followed before, in any form ``schedule`` takes.
      count: the step count stored in the checkpoint (an int >= 0).

    Returns:
      A ``Description``; ``print`` it for a table.

    >>> import jaxsched as js
    >>> d = js.describe(js.warmup_cosine(1.0, warmup_steps=10, total_steps=100), 120)
    >>> print(f"{d.peak:.2f} {d.warmup_end} {d.horizon}")
    1.00 10 100
    >>> print(d.warnings[0])
    the LR reaches 0 at step 100 of 120 and stays there: the last 20 steps (16.7%) train \
with lr = 0; set a floor (end=...) or end the decay at step 120
    """
    s, text, note = resolve(schedule, "describe")
    n = check_steps(steps, "describe")
    if count is not None:
        count = _check_count(count)
    grid, v, sampled = sample(s, n)
    notes = [note] if note else []
    if sampled:
        notes.append(f"evaluated at {len(grid)} evenly spaced steps, refined near the "
                     "reported ones")
    dense = _Refiner(s, grid, v, sampled)

    peak_step, peak = dense.first(int(np.argmax(v)), lambda w: np.argmax(w))
    min_step, low = dense.first(int(np.argmin(v)), lambda w: np.argmin(w))
    start, final = float(v[0]), float(v[-1])
    rising = start < peak and bool(np.all(np.diff(v[:np.searchsorted(grid, peak_step) + 1])
                                          >= 0.0))
    warmup_end = peak_step if rising and peak_step > 0 else None

    zero_from = None
    positive = np.flatnonzero(v > 0)
    if final == 0.0 and positive.size:
        last = int(positive[-1])
        zero_from, _ = dense.first(last + 1, lambda w: np.flatnonzero(w > 0)[-1] + 1
                                   if np.any(w > 0) else 0, window=(last, last + 1))

    h = s._horizon()
    h = None if h is None or h == math.inf else int(h)
    warnings = []
    if not np.all(np.isfinite(v)):
        bad = int(grid[np.flatnonzero(~np.isfinite(v))[0]])
        warnings.append(f"the LR is not finite (NaN or inf) at step {bad}")
    if zero_from is not None and n - zero_from > max(1, ZERO_TAIL * n):
        k = n - zero_from
        warnings.append(f"the LR reaches 0 at step {zero_from} of {n} and stays there: the last "
                        f"{k} steps ({_pct(k, n)}) train with lr = 0; set a floor (end=...) or "
                        f"end the decay at step {n}")
    after = v[grid >= h] if h is not None and 0 < h < n else v[:0]
    at_end = _value_at(s, h) if after.size else None
    if at_end is not None and np.max(np.abs(after - at_end)) > 1e-3 * max(peak, 1e-30):
        # A periodic form (PyTorch's CosineAnnealingLR, Hugging Face's unclamped cosines):
        # past its planned end the LR moves again instead of holding.
        top = float(np.max(after))
        warnings.append(f"the schedule's planned course ends at step {h} of {n} (at "
                        f"{_g(at_end)}), but it does not hold there: the LR moves again, up to "
                        f"{_g(top)} by step {n - 1}; set its length (T_max, num_training_steps)"
                        f" to {n}")
    elif h is not None and 0 < h < n and final < peak:
        warnings.append(f"the schedule ends at step {h} of {n}: its final value {_g(final)} is "
                        f"held for the last {n - h} steps ({_pct(n - h, n)}); set its total/decay"
                        f" steps to {n} to use the whole run")
    if h is not None and h > n:
        at_h = _value_at(s, h)
        reach = f" ({_g(at_h)})" if at_h is not None else ""
        warnings.append(f"the schedule's horizon is step {h}, after training ends at step {n}: "
                        f"it never reaches its final value{reach} and ends at {_g(final)}; set "
                        f"its total/decay steps (T_max) to {n}")
    if (warmup_end is not None and warmup_end > WARMUP_FRACTION * n
            and not s._long_rise):
        warnings.append(f"the warmup takes {warmup_end} steps, {_pct(warmup_end, n)} of "
                        f"training (over {WARMUP_FRACTION:.0%}); warmups are usually 1-10%")
    warnings += _jumps(s, n, peak)
    comparison, more = _compare(s, compare, n, grid, v, sampled, count)
    return Description(text, n, start, peak, peak_step, warmup_end, final, low, min_step,
                       zero_from, h, tuple(warnings + more), tuple(notes), comparison)


def _check_count(count: Any) -> int:
    value = np.asarray(count)  # a Python int, or the optimizer's count array
    if value.shape != () or not np.issubdtype(value.dtype, np.integer):
        raise TypeError(f"describe: `count` must be an int step count (e.g. opt_state.count), "
                        f"got {count!r}.")
    if int(value) < 0:
        raise ValueError(f"describe: `count` must be an int >= 0, got {int(value)}.")
    return int(value)


def _value_at(s: Schedule, step: int) -> float | None:
    top = int(np.iinfo(np.int64 if jax.config.jax_enable_x64 else np.int32).max)
    return float(values_at(s, np.asarray([step]))[0]) if step <= top else None


def _jumps(s: Schedule, n: int, peak: float, limit: int = 3) -> list[str]:
    bounds = sorted({b for b in s._handoffs() if 3 <= b <= n - 3})
    if not bounds or peak <= 0:
        return []
    near = np.asarray([b + d for b in bounds for d in range(-3, 3)], np.int64)
    v = values_at(s, near).reshape(len(bounds), 6)  # steps b-3 .. b+2
    d = np.abs(np.diff(v, axis=1))  # d[:, 2] is the step b-1 -> b
    jump = d[:, 2]
    local = np.max(np.delete(d, 2, axis=1), axis=1)
    bad = np.flatnonzero((jump > 0.01 * peak) & (jump > 10.0 * local))
    out = [f"jump at step {bounds[i]} between joined pieces: the LR goes from "
           f"{_g(v[i, 2])} to {_g(v[i, 3])}; start the next piece where the previous one ends"
           for i in bad[:limit]]
    if len(bad) > limit:
        out.append(f"{len(bad) - limit} more jumps between joined pieces")
    return out


class _Refiner:
    """Finds exact steps from a sample by evaluating densely between sample points."""

    def __init__(self, s: Schedule, grid: np.ndarray, v: np.ndarray, sampled: bool) -> None:
        self.s, self.grid, self.v, self.sampled = s, grid, v, sampled

    def first(self, i: int, pick: Callable[[np.ndarray], Any],
              window: tuple[int, int] | None = None) -> tuple[int, float]:
        """``(step, value)`` of ``pick`` over the steps around sample ``i``."""
        grid = self.grid
        i = min(i, len(grid) - 1)
        if not self.sampled:
            return int(grid[i]), float(self.v[i])
        lo, hi = window if window is not None else (i - 1, i + 1)
        lo_step, hi_step = int(grid[max(lo, 0)]), int(grid[min(hi, len(grid) - 1)])
        steps = np.arange(lo_step, hi_step + 1, dtype=np.int64)
        w = values_at(self.s, steps)
        j = min(int(pick(w)), len(steps) - 1)
        return int(steps[j]), float(w[j])
