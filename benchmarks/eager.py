"""The eager path at scale: ``lr(step)`` outside ``jit``, over many distinct schedules.

``python -m benchmarks.eager [--n 5000] [--json PATH]``. One question per block:

* does a new value of a known structure compile? (compiles counted from JAX's
  monitoring events; the first call of a new structure is timed for contrast);
* how much does the process grow (RSS) over ``--n`` distinct-valued cosines, each
  called once eagerly (target: under 30 MB for 5,000);
* how long is a warm eager call (median of 2,000; optax's un-jitted
  ``warmup_cosine_decay_schedule`` for reference).

With ``--baseline`` it also measures the old per-value cache (one ``jax.jit`` per
schedule value) on ``--baseline-n`` schedules: compile time and RSS per program.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import jax
import numpy as np

import jaxsched as js

_compiles = [0]


def _listen(event: str, duration: float, **kwargs) -> None:
    if event == "/jax/core/compile/backend_compile_duration":
        _compiles[0] += 1


def rss_mb() -> float:
    """Resident set size of this process in MB (Linux ``/proc``)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    import os

    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def warm_call_us(fn, step, reps: int = 2000) -> float:
    fn(step)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn(step)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.eager", description=__doc__)
    parser.add_argument("--n", type=int, default=5000, help="distinct schedules (default 5000)")
    parser.add_argument("--json", metavar="PATH", help="write the measurements as JSON")
    parser.add_argument("--baseline", action="store_true",
                        help="also measure one compiled program per value (the old cache)")
    parser.add_argument("--baseline-n", type=int, default=100)
    args = parser.parse_args(argv)
    jax.monitoring.register_event_duration_secs_listener(_listen)
    step = np.int32(500)
    out: dict = {"backend": jax.default_backend(), "n": args.n}

    # 1. New value of a known structure vs a new structure.
    js.cosine(1.0, 0.0, 10_000)(step)
    before, t0 = _compiles[0], time.perf_counter()
    js.cosine(0.7, 0.1, 10_000)(step)
    out["new_value_ms"] = (time.perf_counter() - t0) * 1e3
    out["new_value_compiles"] = _compiles[0] - before
    before, t0 = _compiles[0], time.perf_counter()
    js.cosine(0.7, 0.1, 10_001)(step)
    out["new_structure_ms"] = (time.perf_counter() - t0) * 1e3
    out["new_structure_compiles"] = _compiles[0] - before

    # 2. RSS over n distinct-valued cosines, each called once (kept alive, as in a sweep).
    keep = []
    base, before = rss_mb(), _compiles[0]
    t0 = time.perf_counter()
    for i in range(args.n):
        s = js.cosine(1e-3 * (1 + i / args.n), 1e-6 * i, 10_000)
        s(step)
        keep.append(s)
    out["sweep_s"] = time.perf_counter() - t0
    out["sweep_rss_mb"] = rss_mb() - base
    out["sweep_compiles"] = _compiles[0] - before

    # 3. Warm eager call.
    import optax

    wc = js.warmup_cosine(1e-3, 100, 10_000, end=1e-5)
    out["warm_cosine_us"] = warm_call_us(js.cosine(1.0, 0.0, 10_000), step)
    out["warm_warmup_cosine_us"] = warm_call_us(wc, step)
    ox = optax.warmup_cosine_decay_schedule(0.0, 1e-3, 100, 10_000, 1e-5)
    out["optax_unjitted_warmup_cosine_us"] = warm_call_us(ox, step, reps=300)

    if args.baseline:  # one jit per value, as the old cache did
        base, before, t0 = rss_mb(), _compiles[0], time.perf_counter()
        programs = []
        for i in range(args.baseline_n):
            f = jax.jit(js.cosine(2.0 + i, 0.0, 10_000)._trace)
            f(step)
            programs.append(f)
        out["baseline_ms_per_value"] = (time.perf_counter() - t0) * 1e3 / args.baseline_n
        out["baseline_mb_per_value"] = (rss_mb() - base) / args.baseline_n
        out["baseline_compiles"] = _compiles[0] - before

    for k, v in out.items():
        print(f"{k:34s} {v:.3f}" if isinstance(v, float) else f"{k:34s} {v}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return out


if __name__ == "__main__":
    sys.exit(main() and 0)
