"""Draw schedules: a PNG with matplotlib (an optional extra) or a chart in the terminal.

matplotlib is imported only when a PNG is drawn, so ``import jaxsched`` never
loads it. Long runs are drawn from their min/max envelope per bucket of steps,
so a short cycle over a million steps still shows its full swing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._describe import check_steps, resolve, sample

_MARKERS = "*o+x%@"
_BRAILLE_BITS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))  # [dx][dy]


def shorten(text: str, width: int = 60) -> str:
    """``text`` cut to ``width`` characters with ``...``."""
    return text if len(text) <= width else text[:width - 3] + "..."


def _series(schedules: Any, steps: int, labels: Sequence[str] | None, fn: str):
    items = list(schedules) if isinstance(schedules, list | tuple) else [schedules]
    if not items:
        raise ValueError(f"{fn}: needs at least one schedule.")
    if labels is not None and len(labels) != len(items):
        raise ValueError(f"{fn}: needs one label per schedule, got {len(labels)} labels for "
                         f"{len(items)} schedules.")
    n = check_steps(steps, fn)
    out = []
    for i, item in enumerate(items):
        s, text, _ = resolve(item, fn)
        x, y, _ = sample(s, n)
        out.append((labels[i] if labels is not None else text, x, y))
    return n, out


def envelope(x: np.ndarray, y: np.ndarray, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``4 * buckets`` points keeping each bucket's first, min, max and last value."""
    if len(x) <= 4 * buckets:
        return x, y
    edges = np.linspace(0, len(x), buckets + 1).astype(np.int64)
    starts = edges[:-1]
    keep = [starts, edges[1:] - 1]
    keep.append(starts + _arg_reduce(np.argmin, y, edges))
    keep.append(starts + _arg_reduce(np.argmax, y, edges))
    idx = np.unique(np.concatenate(keep))
    return x[idx], y[idx]


def _arg_reduce(fn, y: np.ndarray, edges: np.ndarray) -> np.ndarray:
    width = int(np.max(np.diff(edges)))
    padded = np.full((len(edges) - 1, width), np.nan)
    for i, (a, b) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        padded[i, :b - a] = y[a:b]
    filled = np.where(np.isnan(padded), np.inf if fn is np.argmin else -np.inf, padded)
    return fn(filled, axis=1)


# ----------------------------------------------------------------- terminal
def chart(schedules: Any, steps: int, *, labels: Sequence[str] | None = None,
          width: int = 60, height: int = 15, log: bool = False, ascii: bool = False) -> str:
    """A plain-text chart of one or more schedules over ``steps`` steps.

    One schedule is drawn with braille dots (2 x 4 per character); several, or
    ``ascii=True``, with one marker character per schedule (``* o + x``) and
    ``#`` where they overlap, with a legend. The y axis is labelled with the
    max, middle and min values (log scale with ``log=True``; values <= 0 then
    sit on the bottom line), the x axis with steps.

    >>> import jaxsched as js
    >>> print(js._plot.chart(js.linear(0.0, 1.0, 100), 100, width=20, height=4, ascii=True))
    linear(start=0.0, end=1.0, steps=100)
    0.99 +                ****
    0.66 +          *******
         |   ********
       0 +****
         ++---------+--------+
          0        50       99  (step)
    """
    fn = "chart"
    if width < 10 or height < 3:
        raise ValueError(f"{fn}: needs width >= 10 and height >= 3, got {width}x{height}.")
    n, series = _series(schedules, steps, labels, fn)
    ys = np.concatenate([y[np.isfinite(y)] for _, _, y in series])
    if log:
        ys = ys[ys > 0]
        if ys.size == 0:
            raise ValueError(f"{fn}: a log scale needs positive values; the schedule is "
                             "never > 0.")
    if ys.size == 0:
        raise ValueError(f"{fn}: the schedule has no finite values to draw.")
    lo, hi = float(ys.min()), float(ys.max())
    if hi == lo:
        lo, hi = (hi / 10, hi * 10) if log else ((0.0, hi) if hi > 0 else (hi - 1.0, hi + 1.0))
    braille = len(series) == 1 and not ascii
    sx, sy = (2, 4) if braille else (1, 1)
    pw, ph = width * sx, height * sy

    def row(v: np.ndarray) -> np.ndarray:
        v = np.asarray(v, np.float64)
        if log:
            with np.errstate(divide="ignore", invalid="ignore"):
                t = (np.log(np.where(v > 0, v, lo)) - math.log(lo)) / (math.log(hi) - math.log(lo))
            t = np.where(v > 0, t, 0.0)
        else:
            t = (v - lo) / (hi - lo)
        t = np.nan_to_num(np.clip(t, 0.0, 1.0))
        return np.rint((1.0 - t) * (ph - 1)).astype(np.int64)

    cells = [[0] * width for _ in range(height)]  # braille bits, or a bitmask of series
    for k, (_, x, y) in enumerate(series):
        col = np.minimum(x * pw // n, pw - 1)  # non-decreasing: x is sorted
        edges = np.searchsorted(col, np.arange(pw + 1))
        prev = None
        for c in range(pw):
            a, b = edges[c], edges[c + 1]
            sel = y[a:b] if b > a else y[max(a - 1, 0):max(a, 1)]  # fewer steps than columns
            sel = sel[np.isfinite(sel)]
            if sel.size == 0:
                continue
            bottom, top, last = row(np.asarray([sel.min(), sel.max(), sel[-1]]))
            if prev is not None:  # join to the previous column: jumps show as vertical lines
                top, bottom = min(top, prev), max(bottom, prev)
            prev = int(last)
            for py in range(int(top), int(bottom) + 1):
                cell = cells[py // sy]
                if braille:
                    cell[c // 2] |= _BRAILLE_BITS[c % 2][py % 4]
                else:
                    cell[c] |= 1 << k

    def glyph(bits: int) -> str:
        if braille:
            return chr(0x2800 + bits) if bits else " "
        if not bits:
            return " "
        if bits & (bits - 1):
            return "#"
        return _MARKERS[(bits.bit_length() - 1) % len(_MARKERS)]

    def value_at(r: float) -> float:
        t = 1.0 - r / (ph - 1)
        return math.exp(math.log(lo) + t * (math.log(hi) - math.log(lo))) if log \
            else lo + t * (hi - lo)

    mid = (height - 1) // 2
    ylabels = {0: f"{hi:.3g}", height - 1: f"{lo:.3g}",
               mid: f"{value_at(mid * sy + (sy - 1) / 2):.3g}"}
    lw = max(len(t) for t in ylabels.values())
    vbar, tick, corner, hbar, xtick = ("|", "+", "+", "-", "+") if ascii else \
        ("│", "┤", "└", "─", "┬")
    lines = []
    if len(series) == 1:
        scale = "  (log scale)" if log else ""
        lines.append(shorten(series[0][0], max(width + lw + 2, 100)) + scale)
    else:
        for k, (label, _, _) in enumerate(series):
            lines.append(f"{_MARKERS[k % len(_MARKERS)]} {shorten(label, max(width + lw, 98))}")
        lines.append("# overlap" + ("  (log scale)" if log else ""))
    for r in range(height):
        text = "".join(glyph(b) for b in cells[r]).rstrip()
        if r in ylabels:
            lines.append(f"{ylabels[r]:>{lw}} {tick}{text}")
        else:
            lines.append(f"{'':>{lw}} {vbar}{text}")
    xt = [0, width // 2, width - 1]
    axis = [hbar] * width
    for c in xt:
        axis[c] = xtick
    lines.append(f"{'':>{lw}} {corner}{''.join(axis)}")
    mid_step = str((width // 2) * n // width)
    label_line = [" "] * width
    label_line[:1] = "0"
    at = min(max(width // 2 - len(mid_step) // 2, 2), width - len(mid_step))
    label_line[at:at + len(mid_step)] = mid_step
    last = str(n - 1)
    label_line[max(width - len(last), at + len(mid_step) + 1):] = last
    lines.append(f"{'':>{lw}}  {''.join(label_line)}  (step)")
    return "\n".join(line.rstrip() for line in lines)


# ----------------------------------------------------------------- PNG
def figure(fn: str, ax: Any, size: tuple[float, float]) -> tuple[Any, Any]:
    """``(figure, axes)``: new ones of ``size`` inches, or ``ax`` and its figure.

    matplotlib is imported here, only when something is drawn.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError(f"{fn}: drawing needs matplotlib, an optional dependency; install "
                          "it with: pip install matplotlib") from e
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=size, layout="constrained")
    return fig, fig.add_subplot()


def plot(schedule: Any, steps: int, path: str | None = None, *, compare: Sequence[Any] = (),
         labels: Sequence[str] | None = None, log: bool = False, title: str | None = None,
         ax: Any = None, dpi: int = 120) -> Any:
    """Plots the learning rate against the step with matplotlib; saves a PNG if ``path``.

    Args:
      schedule: a schedule, its text, a ``plateau`` (its base is drawn) or a
        jnp-traceable function of the step; or a list of them.
      steps: the number of training steps N (steps ``0 .. N-1`` are drawn).
      path: where to save the figure (the suffix picks the format: .png, .svg,
        .pdf); None only returns it.
      compare: more schedules to draw on the same axes.
      labels: legend labels, one per schedule (default: their text, shortened).
      log: log scale for the learning rate.
      title: the axes title (default: the schedule's text when there is one).
      ax: draw into these matplotlib axes instead of a new figure.
      dpi: resolution of the saved file.

    Returns:
      The matplotlib ``Figure``.

    Raises:
      ImportError: if matplotlib is not installed (``pip install matplotlib``).
    """
    fig, ax = figure("plot", ax, (8, 4))
    items = list(schedule) if isinstance(schedule, list | tuple) else [schedule]
    items += list(compare)
    n, series = _series(items, steps, labels, "plot")
    for label, x, y in series:
        px, py = envelope(x, y, 4096)
        ax.plot(px, py, label=shorten(label, 60), linewidth=1.5)
    ax.set_xlim(0, max(n - 1, 1))
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate")
    if log:
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize="small")
    if title is None and len(series) == 1:
        title = shorten(series[0][0], 90)
    if title:
        ax.set_title(title, fontsize="small")
    if path is not None:
        fig.savefig(path, dpi=dpi)
    return fig
