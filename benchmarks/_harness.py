"""Shared machinery: compile with timings, interleaved timing, value checks, tables.

Every contender is compiled first (trace, lower and compile timed separately),
then the compiled programs are called round-robin, in a rotating order, within
each repetition, so background load on a shared machine hits all of them
alike. Reported figures are medians over the repetitions.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

CONTENDERS = ("jaxsched", "optax", "fused")
RTOL = 1e-5  # max |a - b| / max |b| allowed between contenders of one benchmark


class MismatchError(RuntimeError):
    """Two contenders of one benchmark compute different functions."""


# ----------------------------------------------------------------- environment
def environment() -> dict[str, Any]:
    """Backend, device, library versions and machine, for the JSON header."""
    import jaxsched

    device = jax.devices()[0]
    try:
        import jaxlib

        jaxlib_version = jaxlib.__version__
    except Exception:  # noqa: BLE001 - informational only
        jaxlib_version = None
    return {
        "backend": jax.default_backend(),
        "device_kind": device.device_kind,
        "device_count": jax.device_count(),
        "jax": jax.__version__,
        "jaxlib": jaxlib_version,
        "optax": optax.__version__,
        "jaxsched": jaxsched.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_average_start": _load(),
        "x64": bool(jax.config.read("jax_enable_x64")),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "argv": sys.argv[1:],
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


# ----------------------------------------------------------------- compile
@dataclasses.dataclass
class Program:
    """A compiled contender and what it cost to build."""

    call: Callable[..., Any]
    trace_ms: float
    lower_ms: float
    compile_ms: float
    hlo_lines: int  # lines of the lowered StableHLO module
    hlo_chars: int
    compiled_hlo_lines: int  # lines of the optimized HLO after XLA's passes

    def costs(self) -> dict[str, Any]:
        return {
            "trace_ms": round(self.trace_ms, 3),
            "lower_ms": round(self.lower_ms, 3),
            "compile_ms": round(self.compile_ms, 3),
            "trace_compile_ms": round(self.trace_ms + self.lower_ms + self.compile_ms, 3),
            "hlo_lines": self.hlo_lines,
            "hlo_chars": self.hlo_chars,
            "compiled_hlo_lines": self.compiled_hlo_lines,
        }


def build(fn: Callable[..., Any], *args: Any) -> Program:
    """``jax.jit(fn)`` traced, lowered and compiled for ``args``, each stage timed.

    ``fn`` must be a fresh function object (e.g. a new ``jax.vmap(...)``) so that
    no JAX cache from an earlier build hides the cost.
    """
    jitted = jax.jit(fn)
    t0 = time.perf_counter()
    traced = jitted.trace(*args)
    t1 = time.perf_counter()
    lowered = traced.lower()
    t2 = time.perf_counter()
    compiled = lowered.compile()
    t3 = time.perf_counter()
    text = lowered.as_text()
    compiled_text = compiled.as_text() or ""
    return Program(compiled, (t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3,
                   len(text.splitlines()), len(text), len(compiled_text.splitlines()))


def build_median(make: Callable[[], Callable[..., Any]], args: Sequence[Any], times: int,
                 budget_s: float = 2.0) -> Program:
    """Builds ``make()`` up to ``times`` times (a fresh function each time) and keeps the
    program with the median total build time; stops early once ``budget_s`` is spent."""
    programs: list[Program] = []
    start = time.perf_counter()
    for _ in range(max(1, times)):
        programs.append(build(make(), *args))
        if time.perf_counter() - start > budget_s:
            break
    programs.sort(key=lambda p: p.trace_ms + p.lower_ms + p.compile_ms)
    return programs[(len(programs) - 1) // 2]


# ----------------------------------------------------------------- timing
def interleaved(calls: dict[str, Callable[[], Any]], reps: int,
                number: int | dict[str, int] = 1) -> dict[str, list[float]]:
    """Seconds per call of each zero-argument callable, ``reps`` samples each.

    Each repetition calls every contender ``number`` times (or ``number[name]``
    times; the sample is the mean), blocking on each result, visiting the
    contenders in an order that rotates from one repetition to the next.
    """
    names = list(calls)
    counts = number if isinstance(number, dict) else dict.fromkeys(names, number)
    for name in names:  # warm up: first-call allocations, thread pools
        jax.block_until_ready(calls[name]())
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(reps):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            fn, count = calls[name], counts.get(name, 1)
            t0 = time.perf_counter()
            for _ in range(count):
                jax.block_until_ready(fn())
            samples[name].append((time.perf_counter() - t0) / count)
    return samples


def scan_loop(lr: Any, n: int) -> Callable[[jax.Array], jax.Array]:
    """``n`` scalar evaluations of ``lr`` (a schedule, function or number) in a
    ``lax.scan`` from step ``t0``, each depending on the last: ``t0 -> sum of the values``."""
    fn = lr if callable(lr) else (lambda t: jnp.asarray(lr, jnp.float32))

    def loop(t0: jax.Array) -> jax.Array:
        def body(acc: jax.Array, t: jax.Array) -> Any:
            # min(acc, 0) is 0 for learning rates >= 0: a dependence the compiler keeps.
            return acc + fn(t + jnp.minimum(acc, 0.0).astype(t.dtype)), None

        acc, _ = jax.lax.scan(body, jnp.zeros((), jnp.float32),
                              t0 + jnp.arange(n, dtype=jnp.int32))
        return acc

    return loop


def summary(samples: Sequence[float]) -> dict[str, float]:
    """Median and relative interquartile range of timing samples."""
    med = statistics.median(samples)
    if len(samples) >= 4:
        q = np.percentile(samples, [25, 75])
        iqr = float(q[1] - q[0]) / med if med else 0.0
    else:
        iqr = 0.0
    return {"median": med, "iqr_rel": iqr, "min": min(samples), "n": len(samples)}


# ----------------------------------------------------------------- values
def check_same(name: str, outputs: dict[str, Any], rtol: float = RTOL) -> float:
    """Max relative difference between contenders (vs the first); raises above ``rtol``."""
    items = [(k, np.asarray(v, np.float64)) for k, v in outputs.items()]
    ref_name, ref = items[0]
    scale = max(float(np.max(np.abs(ref))), np.finfo(np.float32).tiny)
    worst = 0.0
    for other, values in items[1:]:
        if values.shape != ref.shape:
            raise MismatchError(f"{name}: {other} returned shape {values.shape}, "
                                f"{ref_name} {ref.shape}.")
        diff = float(np.max(np.abs(values - ref))) / scale
        if not np.isfinite(diff) or diff > rtol:
            i = int(np.argmax(np.abs(values - ref)))
            raise MismatchError(
                f"{name}: {other} differs from {ref_name} by {diff:.3g} (relative to max "
                f"|{ref_name}| = {scale:.3g}) > {rtol:g}; worst at index {i}: "
                f"{values.ravel()[i]!r} vs {ref.ravel()[i]!r}. The benchmark would compare "
                "different functions.")
        worst = max(worst, diff)
    return worst


def steps(n: int) -> jax.Array:
    """The int32 step array ``0 .. n-1`` every throughput contender is mapped over."""
    return jnp.arange(n, dtype=jnp.int32)


# ----------------------------------------------------------------- one benchmark
def compare(section: str, name: str, fns: dict[str, Callable[[Any], Any]], x: jax.Array,
            reps: int, number: int | dict[str, int] = 1, extra: dict[str, Any] | None = None,
            build_times: int = 3, build_only: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Builds ``jit(vmap(fn))`` of each contender over ``x``, checks that they compute the
    same values, times them interleaved and returns one row per contender.

    Contenders in ``build_only`` are built (trace, compile, HLO size) but neither run nor
    timed: their throughput would cost too much time.
    """
    programs = {}
    for k, f in fns.items():
        times = 1 if k in build_only else build_times
        programs[k] = build_median(functools.partial(jax.vmap, f), [x], times)
    timed = {k: p for k, p in programs.items() if k not in build_only}
    diff = check_same(f"{section}/{name}", {k: p.call(x) for k, p in timed.items()})
    samples = interleaved({k: functools.partial(p.call, x) for k, p in timed.items()},
                          reps, number)
    n = int(x.shape[0])
    rows = []
    for k, p in programs.items():
        row: dict[str, Any] = {"section": section, "name": name, "contender": k,
                               **(extra or {}), "n_steps": n}
        if k in samples:
            st = summary(samples[k])
            row.update({
                "ns_per_step": round(st["median"] / n * 1e9, 4),
                "min_ns_per_step": round(st["min"] / n * 1e9, 4),
                "iqr_rel": round(st["iqr_rel"], 4), "reps": reps,
                "calls_per_rep": number.get(k, 1) if isinstance(number, dict) else number,
                "max_rel_diff": diff,
            })
        else:
            row["ns_per_step"] = None
            row["note"] = "built only: throughput not measured (too slow for this run)"
        rows.append({**row, **p.costs()})
    return rows


# ----------------------------------------------------------------- an MLP train step
@dataclasses.dataclass
class MLP:
    """A small regression problem: an MLP (ReLU, mean squared error) on random data."""

    sizes: tuple[int, ...]
    batch: int
    params: list[tuple[jax.Array, jax.Array]]
    x: jax.Array
    y: jax.Array

    @classmethod
    def make(cls, quick: bool = False) -> MLP:
        """32 -> 256 -> 256 -> 10, batch 128 (``quick``: 32 -> 64 -> 64 -> 10, batch 32)."""
        sizes = (32, 64, 64, 10) if quick else (32, 256, 256, 10)
        batch = 32 if quick else 128
        key, kx, ky = jax.random.split(jax.random.key(0), 3)
        params = []
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            key, sub = jax.random.split(key)
            params.append((jax.random.normal(sub, (a, b)) / np.sqrt(a), jnp.zeros(b)))
        return cls(sizes, batch, params, jax.random.normal(kx, (batch, sizes[0])),
                   jax.random.normal(ky, (batch, sizes[-1])))

    @property
    def args(self) -> tuple[Any, jax.Array, jax.Array]:
        return self.params, self.x, self.y


def mlp_loss(params: Any, x: jax.Array, y: jax.Array) -> jax.Array:
    for w, b in params[:-1]:
        x = jax.nn.relu(x @ w + b)
    w, b = params[-1]
    return jnp.mean((x @ w + b - y) ** 2)


def train_loop(tx: Any, n: int, feed: bool = False,
               out: Callable[[Any], Any] = lambda state: ()) -> Callable[..., Any]:
    """``(params, x, y) -> (final loss, out(final optimizer state))`` after ``n`` train
    steps of ``tx`` in a ``lax.scan``; ``feed`` passes the loss as ``value=`` to the update."""

    def train(params: Any, x: jax.Array, y: jax.Array) -> Any:
        def step(carry: Any, _: Any) -> Any:
            params, state = carry
            loss, grads = jax.value_and_grad(mlp_loss)(params, x, y)
            extra = {"value": loss} if feed else {}
            updates, state = tx.update(grads, state, params, **extra)
            return (optax.apply_updates(params, updates), state), loss

        (params, state), losses = jax.lax.scan(step, (params, tx.init(params)), None, length=n)
        return losses[-1], out(state)

    return train


def paired(samples: Sequence[float], reference: Sequence[float]) -> tuple[float, float]:
    """Median and relative interquartile range of the per-repetition ratios
    ``samples[i] / reference[i]`` (both timed in the same repetition)."""
    ratios = [a / b for a, b in zip(samples, reference, strict=True)]
    st = summary(ratios)
    return st["median"], st["iqr_rel"]


# ----------------------------------------------------------------- report
@dataclasses.dataclass
class Line:
    """One line of the printed table: a benchmark, its medians and its target."""

    section: str
    name: str
    unit: str
    jaxsched: float | None = None
    optax: float | None = None
    fused: float | None = None
    target: str = ""
    status: str = ""  # PASS, MISS, MISS* (within timing noise) or "" (no target)
    note: str = ""
    ratios: bool = True  # False where a ratio means nothing (percentages)

    def ratio(self, other: str) -> float | None:
        value = getattr(self, other)
        if not self.ratios or self.jaxsched is None or value in (None, 0):
            return None
        return self.jaxsched / value

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["ratio_vs_optax"] = _round(self.ratio("optax"))
        d["ratio_vs_fused"] = _round(self.ratio("fused"))
        for k in CONTENDERS:
            d[k] = _round(d[k])
        return d


@dataclasses.dataclass
class Target:
    """One of the issue's targets and whether this run meets it."""

    target: str
    measured: str
    status: str
    note: str = ""


def status(value: float | None, limit: float, *, noise: float = 0.0, higher: bool = False
           ) -> str:
    """PASS / MISS for ``value <= limit`` (``>=`` with ``higher``); MISS* when the miss is
    smaller than the relative timing ``noise`` (the interquartile spread of the samples)."""
    if value is None:
        return "n/a"
    ok = value >= limit if higher else value <= limit
    if ok:
        return "PASS"
    gap = (limit - value) / limit if higher else (value - limit) / limit
    return "MISS*" if gap <= noise else "MISS"


def _round(x: float | None, digits: int = 4) -> float | None:
    if x is None:
        return None
    return float(f"{x:.{digits}g}")


def fmt(x: float | None) -> str:
    if x is None:
        return "-"
    if isinstance(x, int):
        return str(x)
    if x != 0 and abs(x) < 0.1:
        return f"{x:.3f}"
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def fmt_ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}x"


def table(lines: Sequence[Line]) -> str:
    """The side-by-side table: medians, ratios, target and status."""
    head = ["benchmark", "unit", "jaxsched", "optax", "fused", "vs optax", "vs fused",
            "target", "status"]
    body = [[f"{ln.section}/{ln.name}", ln.unit, fmt(ln.jaxsched), fmt(ln.optax), fmt(ln.fused),
             fmt_ratio(ln.ratio("optax")), fmt_ratio(ln.ratio("fused")), ln.target, ln.status]
            for ln in lines]
    return _grid(head, body, right=range(2, 7))


def targets_table(targets: Sequence[Target]) -> str:
    head = ["target", "measured", "status"]
    body = [[t.target, t.measured, t.status] for t in targets]
    return _grid(head, body, right=())


def _grid(head: list[str], body: list[list[str]], right: Any) -> str:
    widths = [max(len(str(r[i])) for r in [head, *body]) for i in range(len(head))]
    right = set(right)

    def render(row: list[str]) -> str:
        cells = [str(c).rjust(w) if i in right else str(c).ljust(w)
                 for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([render(head), rule, *(render(r) for r in body)])


def markdown(lines: Sequence[Line]) -> str:
    """The same table in Markdown, for RESULTS.md."""
    out = ["| benchmark | unit | jaxsched | optax | fused | vs optax | vs fused | target "
           "| status |", "|---|---|--:|--:|--:|--:|--:|---|---|"]
    for ln in lines:
        out.append(f"| {ln.section}/{ln.name} | {ln.unit} | {fmt(ln.jaxsched)} | {fmt(ln.optax)} "
                   f"| {fmt(ln.fused)} | {fmt_ratio(ln.ratio('optax'))} | "
                   f"{fmt_ratio(ln.ratio('fused'))} | {ln.target} | {ln.status} |")
    return "\n".join(out)


def progress(message: str) -> None:
    """A progress note on stderr (the tables go to stdout)."""
    print(message, file=sys.stderr, flush=True)
