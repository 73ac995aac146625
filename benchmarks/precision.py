"""Section: the precision a float32 curve reaches, jaxsched against optax.

Each curve runs for ``T`` = 10^7, 10^8 and 2^31 - 1 steps, evaluated with
``jit(vmap)`` over int32 steps in float32 on a dense sample: the first ``W`` steps,
the ``W`` steps before every end of a decay (where optax's ``1 + cos`` cancels and
every false zero lies) and ``W`` steps spread uniformly (``W = 2**20``; ``2**12``
with ``--quick``). Each value is compared with a float64 NumPy reference of the
curve's formula (written in cancellation-free form, so that float64 keeps its
digits down to the last step):

* ``max rel err``: ``max |x - ref| / ref`` over the steps where ``ref >= 1e-2 * peak``;
* ``false zeros``: steps where the float32 value is exactly 0 while the reference
  is a normal float32 number (``>= 1.2e-38``).

Target (issue 10): every jaxsched curve ``<= 1e-6`` with no false zeros.
Run alone: ``python -m benchmarks.precision [--quick]``.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxsched as js

from . import _harness as h

SECTION = "precision"
HORIZONS = (10**7, 10**8, 2**31 - 1)
MAX_REL_ERR = 1e-6
FLOOR = 1e-2  # errors are measured where the value is >= FLOOR * peak
TINY = float(np.finfo(np.float32).tiny)


@dataclasses.dataclass
class Case:
    name: str
    jaxsched: Callable[[int], Any]  # T -> schedule
    optax: Callable[[int], Any] | None
    ref: Callable[[int], Callable[[np.ndarray], np.ndarray]]  # T -> float64 step -> lr
    ends: Callable[[int], tuple[int, ...]]  # T -> steps where a decay ends


# ----------------------------------------------------------------- float64 references
def _clamp(t: np.ndarray, n: int) -> np.ndarray:
    return np.minimum(t, n) / n


def _rest(t: np.ndarray, n: int) -> np.ndarray:
    return (n - np.minimum(t, n)) / n  # exact integer difference, then one rounding


def r_cosine(start: float, end: float, exponent: float = 1.0):
    return lambda n: lambda t: end + (start - end) * np.sin(np.pi / 2 * _rest(t, n)) ** (
        2 * exponent)


def r_linear(start: float, end: float):
    return lambda n: lambda t: end + (start - end) * _rest(t, n)


def r_polynomial(start: float, end: float, power: float):
    return lambda n: lambda t: end + (start - end) * _rest(t, n) ** power


def r_warmup_cosine(peak: float, frac_w: float):
    def make(n: int):
        w = int(frac_w * n)

        def f(t):
            after = peak * np.sin(np.pi / 2 * _rest(np.maximum(t - w, 0), n - w)) ** 2
            return np.where(t < w, peak * t / max(w, 1), after)
        return f
    return make


def r_one_cycle(peak: float, div: float = 25.0, final_div: float = 1e4, pct: float = 0.3):
    def make(n: int):
        up, lo = int(pct * n), peak / div
        last = lo / final_div

        def f(t):
            rise = lo + (peak - lo) * np.sin(np.pi / 2 * _clamp(t, up)) ** 2
            fall = last + (peak - last) * np.sin(np.pi / 2 * _rest(np.maximum(t - up, 0),
                                                                   n - up)) ** 2
            return np.where(t < up, rise, fall)
        return f
    return make


def r_wsd_sqrt(peak: float, frac_w: float, frac_d: float):
    def make(n: int):
        w, d = int(frac_w * n), int(frac_d * n)
        s = n - w - d

        def f(t):
            k = np.clip(t - w - s, 0, d)
            p, left = k / d, (d - k) / d
            decay = peak * left / (1 + np.sqrt(p))  # 1 - sqrt(p), cancellation-free
            return np.where(t < w, peak * t / w, np.where(t < w + s, peak, decay))
        return f
    return make


def r_sgdr(start: float, cycles: int):
    def make(n: int):
        period = n // cycles
        return lambda t: start * np.sin(np.pi / 2 * (period - t % period) / period) ** 2
    return make


def cases() -> list[Case]:
    """The curves: every one with an optax equivalent, and jaxsched's own recipes."""
    ends = lambda n: (n,)  # noqa: E731
    return [
        Case("cosine", lambda n: js.cosine(1.0, 0.0, n),
             lambda n: optax.cosine_decay_schedule(1.0, n, alpha=0.0), r_cosine(1.0, 0.0), ends),
        Case("cosine exponent=2", lambda n: js.cosine(1.0, 0.0, n, exponent=2.0),
             lambda n: optax.cosine_decay_schedule(1.0, n, alpha=0.0, exponent=2.0),
             r_cosine(1.0, 0.0, 2.0), ends),
        Case("warmup_cosine", lambda n: js.warmup_cosine(1.0, n // 100, n),
             lambda n: optax.warmup_cosine_decay_schedule(0.0, 1.0, n // 100, n, 0.0),
             r_warmup_cosine(1.0, 0.01), ends),
        Case("linear", lambda n: js.linear(1.0, 0.0, n),
             lambda n: optax.linear_schedule(1.0, 0.0, n), r_linear(1.0, 0.0), ends),
        Case("linear (rise)", lambda n: js.linear(1e-3, 1.0, n),
             lambda n: optax.linear_schedule(1e-3, 1.0, n), r_linear(1e-3, 1.0), ends),
        Case("polynomial power=2", lambda n: js.polynomial(1.0, 0.0, n, power=2.0),
             lambda n: optax.polynomial_schedule(1.0, 0.0, 2.0, n),
             r_polynomial(1.0, 0.0, 2.0), ends),
        Case("polynomial power=0.5", lambda n: js.polynomial(1.0, 0.0, n, power=0.5),
             lambda n: optax.polynomial_schedule(1.0, 0.0, 0.5, n),
             r_polynomial(1.0, 0.0, 0.5), ends),
        Case("one_cycle", lambda n: js.one_cycle(1.0, n),
             lambda n: optax.cosine_onecycle_schedule(n, 1.0), r_one_cycle(1.0),
             lambda n: (int(0.3 * n), n)),
        Case("wsd 1-sqrt", lambda n: js.wsd(1.0, n, n // 100, n // 5, shape="1-sqrt"),
             None, r_wsd_sqrt(1.0, 0.01, 0.2), ends),
        Case("sgdr", lambda n: js.sgdr(1.0, period=n // 4), None, r_sgdr(1.0, 4),
             lambda n: tuple(k * (n // 4) for k in range(1, 5))),
    ]


# ----------------------------------------------------------------- measurement
def sample(n: int, ends: tuple[int, ...], width: int) -> np.ndarray:
    """The steps measured: the start, the ``width`` steps before each end (and 2 after),
    and ``width`` spread uniformly over ``[0, n]``; int32-safe, sorted, unique."""
    parts = [np.arange(0, min(width, n)), np.linspace(0, n, width).astype(np.int64)]
    parts += [np.arange(max(0, e - width), e + 2) for e in ends]
    steps = np.unique(np.concatenate(parts))
    return steps[steps <= 2**31 - 1]


def errors(values: np.ndarray, ref: np.ndarray) -> tuple[float, int]:
    """``(max rel err where ref >= FLOOR * peak, false zeros)`` of float32 ``values``."""
    values = np.asarray(values, np.float64)
    big = ref >= FLOOR * ref.max()
    rel = float(np.max(np.abs(values[big] - ref[big]) / ref[big]))
    return rel, int(np.sum((values == 0) & (ref >= TINY)))


def measure(fn: Callable[[Any], Any], ref: np.ndarray, steps: np.ndarray) -> tuple[float, int]:
    values = jax.jit(jax.vmap(fn))(jnp.asarray(steps, jnp.int32))
    return errors(np.asarray(values), ref)


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Measures every case at every horizon; one row per (case, contender, T)."""
    if jax.config.read("jax_enable_x64"):
        raise RuntimeError("precision: measures float32 curves; run without JAX_ENABLE_X64.")
    width = 2**12 if quick else 2**20
    rows: list[dict[str, Any]] = []
    for case in cases():
        h.progress(f"  precision: {case.name}")
        for n in HORIZONS:
            steps = sample(n, case.ends(n), width)
            ref = case.ref(n)(steps.astype(np.float64))
            contenders = {"jaxsched": case.jaxsched(n)}
            if case.optax is not None:
                contenders["optax"] = case.optax(n)
            for who, fn in contenders.items():
                rel, zeros = measure(fn, ref, steps)
                rows.append({"section": SECTION, "name": case.name, "contender": who, "T": n,
                             "n_steps": int(steps.size), "max_rel_err": rel,
                             "false_zeros": zeros})
    return rows


# ----------------------------------------------------------------- report
def _by_case(rows: list[dict[str, Any]]) -> dict[str, dict[tuple[str, int], dict[str, Any]]]:
    out: dict[str, dict[tuple[str, int], dict[str, Any]]] = {}
    for r in rows:
        if r["section"] == SECTION:
            out.setdefault(r["name"], {})[(r["contender"], r["T"])] = r
    return out


def _cells(group: dict[tuple[str, int], dict[str, Any]]) -> list[str]:
    def worst(who: str) -> str:
        errs = [group[(who, n)]["max_rel_err"] for n in HORIZONS if (who, n) in group]
        return f"{max(errs):.1e}" if errs else "-"

    def zeros(who: str) -> str:
        counts = [group.get((who, n), {}).get("false_zeros") for n in HORIZONS]
        return "-" if None in counts else " / ".join(f"{c:,}" for c in counts)

    return [worst("optax"), worst("jaxsched"), zeros("optax"), zeros("jaxsched")]


HEAD = ["curve", "max rel err optax", "max rel err jaxsched", "false zeros optax",
        "false zeros jaxsched"]


def report(rows: list[dict[str, Any]]) -> str:
    """The precision table (max over the three horizons; zeros at T = 1e7 / 1e8 / 2^31-1)."""
    body = [[name, *_cells(group)] for name, group in _by_case(rows).items()]
    note = ("max rel err where lr >= 1e-2 * peak, worst of T = 1e7, 1e8, 2^31-1; false "
            "zeros at T = 1e7 / 1e8 / 2^31-1 (float32, int32 steps, jit(vmap))")
    return f"precision: {note}\n" + h._grid(HEAD, body, right=range(1, 5))


def markdown(rows: list[dict[str, Any]]) -> str:
    """The same table in Markdown, for RESULTS.md."""
    out = ["| " + " | ".join(HEAD) + " |", "|---|--:|--:|--:|--:|"]
    for name, group in _by_case(rows).items():
        out.append("| " + " | ".join([name, *_cells(group)]) + " |")
    return "\n".join(out)


def summarize(rows: list[dict[str, Any]]) -> tuple[list[h.Line], list[h.Target]]:
    """No timing lines (the table is ``report``); the section's target."""
    ours = [r for r in rows if r["section"] == SECTION and r["contender"] == "jaxsched"]
    worst = max((r["max_rel_err"] for r in ours), default=math.nan)
    zeros = sum(r["false_zeros"] for r in ours)
    ok = worst <= MAX_REL_ERR and zeros == 0
    target = h.Target(f"every jaxsched curve: max rel err <= {MAX_REL_ERR:g} where lr >= "
                      f"{FLOOR:g} * peak, no false zeros (float32, T up to 2^31-1)",
                      f"worst {worst:.1e}, {zeros} false zeros over {len(ours)} curves x T",
                      "PASS" if ok else "MISS")
    return [], [target]


def main(argv: list[str] | None = None) -> int:
    rows = run(quick="--quick" in (argv if argv is not None else sys.argv[1:]))
    print(report(rows))
    _, targets = summarize(rows)
    print(h.targets_table(targets))
    return 0


if __name__ == "__main__":
    sys.exit(main())
