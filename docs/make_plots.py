"""Draws ``docs/schedules.png``: a grid of common schedules, each titled with its text.

Run from the repository root: ``python docs/make_plots.py`` (needs matplotlib).
"""

from __future__ import annotations

import sys
from pathlib import Path

import jaxsched as js

STEPS = 10_000
SCHEDULES = [
    js.warmup_cosine(peak=3e-4, warmup_steps=500, total_steps=STEPS, end=3e-6),
    js.wsd(3e-4, 10000, 500, 2_000, shape="1-sqrt"),
    js.one_cycle(peak=0.1, total_steps=STEPS),
    js.sgdr(1e-3, period=1_000, period_mult=2, end=1e-5),
    js.cyclic(1e-4, 1e-3, up_steps=1_000, policy="triangular2"),
    js.inverse_sqrt(1e-3, warmup_steps=1_000),
]


def main(path: str | Path = Path(__file__).parent / "schedules.png") -> Path:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 9), layout="constrained")
    axes = fig.subplots(3, 2).ravel()
    for ax, schedule in zip(axes, SCHEDULES, strict=True):
        js.plot(schedule, STEPS, ax=ax, title=_wrap(repr(schedule)))
    fig.savefig(path, dpi=100)
    return Path(path)


def _wrap(text: str, width: int = 62) -> str:
    """Breaks a schedule's text after commas so that the title fits its panel."""
    lines, line = [], ""
    for part in text.split(", "):
        piece = part if not line else ", " + part
        if line and len(line) + len(piece) > width:
            lines.append(line + ",")
            line = part
        else:
            line += piece
    return "\n".join([*lines, line])


if __name__ == "__main__":
    print(main(*sys.argv[1:]))
