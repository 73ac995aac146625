"""Section 2: joins and piecewise-constant schedules with K = 1 .. 1024 pieces.

For each K: ns/step (``jit(vmap)`` over n = 1,000,000 int32 steps), trace,
lower and compile time, and program size (lines of the lowered StableHLO and of
XLA's optimized HLO), for

* ``join``: K cosine pieces of different lengths and heights, as
  ``js.join`` vs ``optax.join_schedules`` of ``optax.cosine_decay_schedule``s vs
  a fused table lookup (boundary search + gathered ``cos``);
* ``piecewise_constant``: K values, as ``js.piecewise_constant`` vs
  ``optax.piecewise_constant_schedule`` (boundaries and scale factors) vs a
  fused table lookup.

optax evaluates every piece at every step, so its throughput is measured only
up to K = 256 (``--full``: up to 1024); its build at K = 1024 is still measured.
The fused search counts the boundaries passed (``sum(t >= b)``) for K <= 32 and
uses ``jnp.searchsorted`` (its default method) above.

The *ablation* times every lookup strategy and every join dispatch path of
jaxsched against each other (forced with ``jaxsched._lookup.forced``), for a
vector of steps (``jit(vmap)`` over n int32 steps: ns/step) and for a scalar step
inside a ``lax.scan`` (ns/iteration), all contenders of one K in one interleaved
run:

* ``lookup``: the segment lookup of a join of K cosines (one family, gathered
  parameters): ``select`` (a chain of K - 1 selects of the index), ``count``
  (compare-and-count), ``buckets`` (radix buckets) and ``search`` (binary search);
* ``pc lookup``: the same for ``piecewise_constant`` (``select`` chains the values);
* ``dispatch 1 family``: K cosines, ``gather`` (one evaluation with gathered
  parameters) vs ``select`` (every piece evaluated, then a select chain);
* ``dispatch 3 families``: K pieces cycling through linear, constant and
  exponential: ``select`` vs ``all`` (each family once with gathered parameters,
  then one select). A ``lax.switch`` path for scalar steps was measured here and
  removed: it lost to ``all`` at every K where it ran (RESULTS.md).

The contender jaxsched picks by default is marked with ``*`` in the table.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxsched as js
from jaxsched import _lookup

from . import _harness as h

SECTION = "joins"
KS = (1, 4, 16, 64, 256, 1024)
QUICK_KS = (1, 4, 16, 64)
OPTAX_MAX_K = 256  # largest K whose optax throughput the default run measures
OPTAX_BUILD_BUDGET_S = 30.0  # skip an optax build predicted (linearly in K) to take longer
# The targets.
JOIN_K = 256
MAX_VS_SINGLE = 3.0
MIN_SPEEDUP = 20.0
BUILD_K = 1024
MAX_BUILD_MS = 150.0
FLAT_FROM = 16
MAX_HLO_GROWTH = 1.25  # "flat": at most 25% more lines at K=1024 than at K=16


def lengths(k: int, n: int) -> list[int]:
    """K piece lengths summing to ``n``, varying in a 1..7 pattern."""
    w = np.array([1 + (i * 5) % 7 for i in range(k)], np.float64)
    out = np.maximum(1, np.floor(w / w.sum() * n)).astype(np.int64)
    out[-1] += n - out.sum()
    if out[-1] < 1:
        raise ValueError(f"joins: cannot split {n} steps into {k} pieces.")
    return [int(v) for v in out]


def _search(bounds: np.ndarray) -> Callable[[jax.Array], jax.Array]:
    tab = np.asarray(bounds, np.int32)
    if tab.size == 0:
        return lambda t: jnp.zeros_like(t)
    if tab.size <= 32:
        return lambda t: jnp.sum(t[..., None] >= jnp.asarray(tab), axis=-1, dtype=jnp.int32)
    return lambda t: jnp.searchsorted(jnp.asarray(tab), t, side="right").astype(jnp.int32)


def join_case(k: int, n: int, scale: float = 1.0) -> dict[str, Callable[[Any], Any]]:
    """K cosines of different lengths and heights (the first ``scale``) over ``n`` steps:
    jaxsched, optax and fused."""
    lens = lengths(k, n)
    bounds = np.cumsum(lens)[:-1].astype(np.int64)
    heights = [scale * 0.995**i for i in range(k)]
    ours = js.join([js.cosine(a, 0.1 * a, ln) for a, ln in zip(heights, lens, strict=True)],
                   [int(b) for b in bounds])
    theirs = optax.join_schedules(
        [optax.cosine_decay_schedule(a, ln, alpha=0.1) for a, ln in zip(heights, lens,
                                                                         strict=True)],
        [int(b) for b in bounds])
    starts = np.concatenate([[0], bounds]).astype(np.int32)
    length = np.asarray(lens, np.float32)
    hi = np.asarray(heights, np.float32)
    lo = (0.1 * np.asarray(heights)).astype(np.float32)
    search = _search(bounds)

    def fused(t: jax.Array) -> jax.Array:
        i = search(t)
        local = t - jnp.asarray(starts)[i]
        n_i = jnp.asarray(length)[i]
        p = jnp.minimum(local.astype(jnp.float32), n_i) / n_i
        lo_i = jnp.asarray(lo)[i]
        return lo_i + (jnp.asarray(hi)[i] - lo_i) * (0.5 * (1.0 + jnp.cos(math.pi * p)))

    return {"jaxsched": ours, "optax": theirs, "fused": fused}


def pc_case(k: int, n: int, scale: float = 1.0) -> dict[str, Callable[[Any], Any]]:
    """K values over ``n`` steps, ``scale`` times powers of two (so that optax's products
    of scale factors are exact): jaxsched, optax and fused."""
    bounds = [int(b) for b in np.cumsum(lengths(k, n))[:-1]]
    exps = [(3 * i) % 11 for i in range(k)]
    values = [scale * 2.0 ** -e for e in exps]
    ours = js.piecewise_constant(values, bounds)
    scales = {b: 2.0 ** (exps[i] - exps[i + 1]) for i, b in enumerate(bounds)}
    theirs = optax.piecewise_constant_schedule(values[0], scales)
    table = np.asarray(values, np.float32)
    search = _search(np.asarray(bounds))
    return {"jaxsched": ours, "optax": theirs,
            "fused": lambda t: jnp.asarray(table)[search(t)]}


CASES = {"join": join_case, "piecewise_constant": pc_case}


def run(quick: bool = False, full: bool = False) -> list[dict[str, Any]]:
    """One row per (case, K, contender)."""
    n = 100_000 if quick else 1_000_000
    ks = QUICK_KS if quick else KS
    reps = 3 if quick else 9
    optax_max = 10**9 if full else (64 if quick else OPTAX_MAX_K)
    x = h.steps(n)
    rows: list[dict[str, Any]] = []
    for case, make in CASES.items():
        optax_s_per_piece = 0.0
        for k in ks:
            h.progress(f"  joins: {case} K={k}")
            fns = make(k, n)
            if optax_s_per_piece * k > OPTAX_BUILD_BUDGET_S:
                del fns["optax"]
                rows.append({"section": SECTION, "name": case, "contender": "optax", "K": k,
                             "n_steps": n, "ns_per_step": None,
                             "note": f"skipped: build predicted > {OPTAX_BUILD_BUDGET_S:g} s"})
            slow = k >= 64  # optax evaluates all K pieces: one call is enough per rep
            number = {"jaxsched": 1 if quick else 5, "fused": 1 if quick else 5,
                      "optax": 1 if (quick or slow) else 5}
            build_only = ("optax",) if k > optax_max else ()
            new = h.compare(SECTION, case, fns, x, reps, number, {"K": k},
                            build_times=1 if quick else 3, build_only=build_only)
            for r in new:
                if r["contender"] == "optax":
                    optax_s_per_piece = r["trace_compile_ms"] / 1e3 / k
            rows += new
    return rows + ablation(quick)


def _rows(rows: list[dict[str, Any]]) -> dict[tuple[str, int, str], dict[str, Any]]:
    return {(r["name"], r["K"], r["contender"]): r for r in rows
            if r["section"] == SECTION and "mode" not in r}


def summarize(rows: list[dict[str, Any]]) -> tuple[list[h.Line], list[h.Target]]:
    """Table lines per (case, K) and the section's targets."""
    got = _rows(rows)
    lines: list[h.Line] = []
    cases = sorted({name for name, _, _ in got}, key=list(CASES).index)
    for case in cases:
        ks = sorted({k for name, k, _ in got if name == case})
        for metric, unit, key in (("ns/step", "ns/step", "ns_per_step"),
                                  ("build", "trace+compile ms", "trace_compile_ms"),
                                  ("HLO", "compiled HLO lines", "compiled_hlo_lines")):
            for k in ks:
                vals = {c: got.get((case, k, c), {}).get(key) for c in h.CONTENDERS}
                lines.append(h.Line(SECTION, f"{case} K={k} {metric}", unit, vals["jaxsched"],
                                    vals["optax"], vals["fused"]))
    targets = _targets(got, lines)
    ab_lines, ab_targets = summarize_ablation(rows)
    return lines + ab_lines, targets + ab_targets


def _targets(got: dict[tuple[str, int, str], dict[str, Any]], lines: list[h.Line]
             ) -> list[h.Target]:
    def val(k: int, contender: str, key: str, case: str = "join") -> Any:
        return got.get((case, k, contender), {}).get(key)

    targets = []
    single, big = val(1, "jaxsched", "ns_per_step"), val(JOIN_K, "jaxsched", "ns_per_step")
    theirs = val(JOIN_K, "optax", "ns_per_step")
    noise = (val(1, "jaxsched", "iqr_rel") or 0.0) + (val(JOIN_K, "jaxsched", "iqr_rel") or 0.0)
    if single and big:
        r = big / single
        st = h.status(r, MAX_VS_SINGLE, noise=noise)
        targets.append(h.Target(f"join of {JOIN_K} cosines <= {MAX_VS_SINGLE:g}x a single cosine",
                                f"{big:.2f} vs {single:.2f} ns/step = {r:.2f}x", st))
        _mark(lines, f"join K={JOIN_K} ns/step", f"<={MAX_VS_SINGLE:g}x K=1", st)
    if big and theirs:
        r = theirs / big
        st = h.status(r, MIN_SPEEDUP, higher=True)
        targets.append(h.Target(f"join of {JOIN_K} cosines >= {MIN_SPEEDUP:g}x faster than optax",
                                f"{theirs:.1f} vs {big:.2f} ns/step = {r:.1f}x", st))
        line = next((ln for ln in lines if ln.name == f"join K={JOIN_K} ns/step"), None)
        if line is not None:
            line.target += f", >={MIN_SPEEDUP:g}x faster than optax"
            line.status = _worst(line.status, st)
    build = val(BUILD_K, "jaxsched", "trace_compile_ms")
    if build is not None:
        parts = (f"trace {val(BUILD_K, 'jaxsched', 'trace_ms'):.0f} + lower "
                 f"{val(BUILD_K, 'jaxsched', 'lower_ms'):.0f} + compile "
                 f"{val(BUILD_K, 'jaxsched', 'compile_ms'):.0f}")
        st = h.status(build, MAX_BUILD_MS)
        theirs_build = val(BUILD_K, "optax", "trace_compile_ms")
        vs = f"; optax {theirs_build / 1e3:.2f} s" if theirs_build else ""
        targets.append(h.Target(f"trace+compile of a {BUILD_K}-piece join < {MAX_BUILD_MS:g} ms",
                                f"{build:.0f} ms ({parts}){vs}", st))
        _mark(lines, f"join K={BUILD_K} build", f"<{MAX_BUILD_MS:g} ms", st)
    lo_c, hi_c = (val(FLAT_FROM, "jaxsched", "compiled_hlo_lines"),
                  val(BUILD_K, "jaxsched", "compiled_hlo_lines"))
    lo_l, hi_l = val(FLAT_FROM, "jaxsched", "hlo_lines"), val(BUILD_K, "jaxsched", "hlo_lines")
    if lo_c and hi_c and lo_l and hi_l:
        g_c, g_l = hi_c / lo_c, hi_l / lo_l
        st = _worst(h.status(g_c, MAX_HLO_GROWTH), h.status(g_l, MAX_HLO_GROWTH))
        opt_lo, opt_hi = (val(FLAT_FROM, "optax", "compiled_hlo_lines"),
                          val(BUILD_K, "optax", "compiled_hlo_lines"))
        vs = f"; optax {opt_lo} -> {opt_hi}" if opt_lo and opt_hi else ""
        targets.append(h.Target(
            f"join HLO size flat from K={FLAT_FROM} to K={BUILD_K} (<= {MAX_HLO_GROWTH:g}x)",
            f"compiled HLO {lo_c} -> {hi_c} lines ({g_c:.2f}x), StableHLO {lo_l} -> {hi_l} "
            f"lines ({g_l:.2f}x){vs}", st))
        _mark(lines, f"join K={BUILD_K} HLO", f"<={MAX_HLO_GROWTH:g}x K={FLAT_FROM}", st)
    return targets


def _mark(lines: list[h.Line], name: str, target: str, status: str) -> None:
    for line in lines:
        if line.name == name:
            line.target, line.status = target, status


def _worst(*statuses: str) -> str:
    for s in ("MISS", "MISS*", "n/a"):
        if s in statuses:
            return s
    return "PASS" if statuses else ""


# ----------------------------------------------------------------- ablation
ABLATION_KS = (2, 4, 8, 16, 32, 64, 256, 1024)
QUICK_ABLATION_KS = (2, 16, 64)
SELECT_CAP = 256  # a select chain (lookup) grows linearly: not measured above this K
COUNT_CAP = 256  # so does compare-and-count (vector mode: about 1 s per call at K = 1024)
EVAL_ALL_CAP = 64  # evaluating every piece (select dispatch): not measured above this K
BASE = "constant"  # scalar mode: the same scan returning a constant (the loop's own cost)


def _three_families(k: int, n: int) -> js.Schedule:
    """K pieces over ``n`` steps cycling through three cheap families."""
    lens = lengths(k, n)
    pieces: list[js.Schedule] = []
    for i, ln in enumerate(lens):
        a = 0.995**i
        pieces.append((js.linear(a, 0.5 * a, ln), js.constant(0.7 * a),
                       js.exponential(a, 0.5, period=max(1, ln // 2)))[i % 3])
    return js.join(pieces, [int(b) for b in np.cumsum(lens)[:-1]])


def _cosines(k: int, n: int) -> js.Schedule:
    return join_case(k, n)["jaxsched"]


def _pc(k: int, n: int) -> js.Schedule:
    return pc_case(k, n)["jaxsched"]


# name: (schedule of (K, n), what is forced, its choices, default choice of (K, scalar))
ABLATIONS: dict[str, tuple[Callable[[int, int], js.Schedule], str, tuple[str, ...],
                           Callable[[int, bool], str]]] = {
    "lookup": (_cosines, "lookup", _lookup.LOOKUPS,
               lambda k, scalar: _lookup.lookup(_bounds(k), True)),
    "pc lookup": (_pc, "lookup", _lookup.LOOKUPS,
                  lambda k, scalar: ("select" if k - 1 <= _lookup.SELECT_MAX
                                     else _lookup.lookup(_bounds(k), True))),
    "dispatch 1 family": (_cosines, "dispatch", ("gather", "select"),
                          lambda k, scalar: _join_dispatch(1, k - 1)),
    "dispatch 3 families": (_three_families, "dispatch", ("select", "all"),
                            lambda k, scalar: _join_dispatch(min(k, 3), k - 1)),
}


def _bounds(k: int, n: int = 1_000_000) -> tuple[int, ...]:
    return tuple(int(b) for b in np.cumsum(lengths(k, n))[:-1])


def _join_dispatch(families: int, bounds: int) -> str:
    from jaxsched._join import dispatch

    return dispatch(families, bounds)


def _forced(schedule: js.Schedule, kind: str, choice: str) -> Callable[[Any], Any]:
    def fn(t: Any) -> Any:
        with _lookup.forced(**{kind: choice}):
            return schedule(t)

    return fn


def _measured(kind: str, choice: str, k: int) -> bool:
    if choice == "select" and kind == "lookup":
        return k <= SELECT_CAP
    if choice == "count":
        return k <= COUNT_CAP
    if choice == "select" and kind == "dispatch":
        return k <= EVAL_ALL_CAP
    return True


def ablation(quick: bool = False) -> list[dict[str, Any]]:
    """One row per (ablation, K, mode, strategy): ns per step or per scan iteration.

    The default choice is given for a step that is a scalar inside the trace: what
    jaxsched picks under ``vmap`` (the vector mode here) and inside a ``scan``.
    """
    n = 100_000 if quick else 1_000_000
    loop_n = 2_000 if quick else 100_000
    ks = QUICK_ABLATION_KS if quick else ABLATION_KS
    reps = 3 if quick else 7
    x = h.steps(n)
    t0 = jnp.zeros((), jnp.int32)
    rows: list[dict[str, Any]] = []
    for name, (make, kind, choices, default) in ABLATIONS.items():
        for k in ks:
            h.progress(f"  joins: ablation {name} K={k}")
            chosen = [c for c in choices if _measured(kind, c, k)]
            # a vector of steps
            vec = make(k, n)
            fns = {c: _forced(vec, kind, c) for c in chosen}
            for r in h.compare(SECTION, f"ablation {name}", fns, x, reps, 1 if quick else 3,
                               {"K": k, "mode": "vector", "default": default(k, True)},
                               build_times=1):
                rows.append(r)
            # a scalar step inside a lax.scan
            sca = make(k, loop_n)
            loops = {c: h.build(h.scan_loop(_forced(sca, kind, c), loop_n), t0) for c in chosen}
            diff = h.check_same(f"{SECTION}/ablation {name} scan",
                                {c: p.call(t0) for c, p in loops.items()})
            loops[BASE] = h.build(h.scan_loop(0.5, loop_n), t0)
            samples = h.interleaved({c: functools.partial(p.call, t0)
                                     for c, p in loops.items()}, reps)
            for c, p in loops.items():
                st = h.summary(samples[c])
                rows.append({"section": SECTION, "name": f"ablation {name}", "contender": c,
                             "K": k, "mode": "scalar", "default": default(k, True),
                             "note": "the scan of a constant: loop overhead" if c == BASE else "",
                             "n_steps": loop_n, "reps": reps,
                             "ns_per_step": round(st["median"] / loop_n * 1e9, 4),
                             "iqr_rel": round(st["iqr_rel"], 4), "max_rel_diff": diff,
                             **p.costs()})
    return rows


ABLATION_SLACK = 0.10  # the default choice may be this much slower than the best (noise)


def ablation_groups(rows: list[dict[str, Any]]
                    ) -> dict[tuple[str, str, int], dict[str, dict[str, Any]]]:
    """Ablation rows by (ablation, mode, K), then by strategy."""
    out: dict[tuple[str, str, int], dict[str, dict[str, Any]]] = {}
    for r in rows:
        if r["section"] == SECTION and "mode" in r:
            name = r["name"].removeprefix("ablation ")
            out.setdefault((name, r["mode"], r["K"]), {})[r["contender"]] = r
    return out


def summarize_ablation(rows: list[dict[str, Any]]) -> tuple[list[h.Line], list[h.Target]]:
    """One line per (ablation, mode, K): the default strategy's time, every strategy's in
    the note (``*`` the default, ``<`` the fastest), PASS when the default is within
    ``ABLATION_SLACK`` of the fastest."""
    lines, misses, total = [], [], 0
    for (name, mode, k), group in ablation_groups(rows).items():
        timed = {c: r["ns_per_step"] for c, r in group.items() if c != BASE}
        default = next(iter(group.values()))["default"]
        best = min(timed, key=timed.__getitem__)
        base = group.get(BASE, {}).get("ns_per_step")
        parts = [f"{c}{'*' if c == default else ''}{'<' if c == best else ''} {h.fmt(v)}"
                 for c, v in timed.items()]
        if base is not None:
            parts.append(f"(loop {h.fmt(base)})")
        ratio = timed[default] / timed[best] if default in timed else None
        st = h.status(ratio, 1.0 + ABLATION_SLACK)
        total += 1
        if st != "PASS":
            misses.append(f"{name} {mode} K={k}: {default} {ratio:.2f}x {best}")
        lines.append(h.Line(SECTION, f"ablation {name} {mode} K={k}",
                            "ns/iter" if mode == "scalar" else "ns/step", timed.get(default),
                            target=f"default <= {1 + ABLATION_SLACK:g}x best", status=st,
                            note=", ".join(parts)))
    if not lines:
        return [], []
    measured = f"{total - len(misses)}/{total} pass" + (
        f"; misses: {'; '.join(misses)}" if misses else "")
    return lines, [h.Target("lookup/dispatch: the default strategy is the fastest "
                            f"(within {ABLATION_SLACK:.0%})", measured,
                            "PASS" if not misses else "MISS")]


def ablation_markdown(rows: list[dict[str, Any]]) -> str:
    """The ablation as Markdown tables: one per (ablation, mode), K down, strategies across
    (``*`` the default choice, **bold** the fastest)."""
    groups = ablation_groups(rows)
    out = []
    for name, mode in dict.fromkeys((n, m) for n, m, _ in groups):
        ks = sorted(k for n, m, k in groups if (n, m) == (name, mode))
        choices = list(dict.fromkeys(c for k in ks for c in groups[(name, mode, k)]
                                     if c != BASE))
        has_base = any(BASE in groups[(name, mode, k)] for k in ks)
        unit = "ns per scan iteration" if mode == "scalar" else "ns/step"
        out += [f"**{name}, {mode} step** ({unit})", "",
                "| K | " + " | ".join(choices) + (" | loop alone |" if has_base else " |"),
                "|--:|" + "--:|" * (len(choices) + has_base)]
        for k in ks:
            g = groups[(name, mode, k)]
            timed = {c: g[c]["ns_per_step"] for c in choices if c in g}
            best = min(timed, key=timed.__getitem__)
            default = next(iter(g.values()))["default"]
            cells = []
            for c in choices:
                if c not in timed:
                    cells.append("-")
                    continue
                cell = h.fmt(timed[c]) + ("\\*" if c == default else "")
                cells.append(f"**{cell}**" if c == best else cell)
            if has_base:
                cells.append(h.fmt(g.get(BASE, {}).get("ns_per_step")))
            out.append(f"| {k} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)
