"""Section: what reduce-on-plateau costs inside a real, jitted training step.

The MLP of the ``train_step`` section (32 -> 256 -> 256 -> 10, batch 128,
AdamW), its train step jitted and ``lax.scan``ned over 1000 steps, the loss fed
as ``value=`` on every update. Contenders:

* ``constant (inject)``: ``inject_hyperparams(optax.adamw)`` with a float LR, the baseline;
* ``constant (plain)``: ``optax.adamw`` with a float LR, the base of the chains below;
* ``js.plateau``: ``inject_hyperparams(optax.adamw)(learning_rate=js.plateau(...))``;
* ``js.reduce_on_plateau``: ``optax.chain(optax.adamw(...), js.reduce_on_plateau(...))``;
* ``optax contrib``: ``optax.chain(optax.adamw(...), optax.contrib.reduce_on_plateau(...))``.

Reported: the median ms per 1000 steps over the repetitions (every contender
runs once per repetition, in rotating order) and the median of the per-repetition
ratios to the baseline and to optax's contrib transformation. Target: js.plateau
no slower than optax's ``contrib.reduce_on_plateau``.

On a shared CPU the plateau's cost is far below the run-to-run noise of the MLP
step, so the section also times the optimizers alone: the same update on 16
parameters with a trivial loss, 10,000 scanned steps, in ns per step ("alone");
and the same tiny update as a jitted step called from a Python loop, the usual
way to train, in us per call ("per call"): there every leaf of the optimizer
state is a buffer passed in and out of each call.

Run alone: ``python -m benchmarks.plateau [--quick]``.
"""

from __future__ import annotations

import functools
import statistics
import sys
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from jax import lax

import jaxsched as js

from . import _harness as h

SECTION = "plateau"
PEAK = 1e-3
RULES = dict(factor=0.5, patience=10, cooldown=0)

BASELINE = "constant (inject)"
OPTAX = "optax contrib"
CONTENDERS: dict[str, tuple[str, Callable[[], Any], bool]] = {
    # name: (harness column, optimizer factory, feeds value=)
    BASELINE: ("baseline", lambda: optax.inject_hyperparams(optax.adamw)(
        learning_rate=PEAK, weight_decay=1e-4), False),
    "constant (plain)": ("baseline", lambda: optax.adamw(PEAK, weight_decay=1e-4), False),
    "js.plateau": ("jaxsched", lambda: optax.inject_hyperparams(optax.adamw)(
        learning_rate=js.plateau(PEAK, threshold=1e-4, **RULES), weight_decay=1e-4), True),
    "js.reduce_on_plateau": ("jaxsched", lambda: optax.chain(
        optax.adamw(PEAK, weight_decay=1e-4),
        js.reduce_on_plateau(threshold=1e-4, **RULES)), True),
    OPTAX: ("optax", lambda: optax.chain(
        optax.adamw(PEAK, weight_decay=1e-4),
        optax.contrib.reduce_on_plateau(rtol=1e-4, atol=0.0, **RULES)), True),
}


def _isolated(make: Callable[[], Any], feed: bool, n: int) -> Callable[..., Any]:
    """``n`` updates of 16 parameters with loss ``sum(p**2)``: the optimizer's own cost."""
    tx = make()

    def train(params: jax.Array) -> Any:
        def step(carry: Any, _: Any) -> Any:
            params, state = carry
            loss = jnp.sum(params ** 2)
            extra = {"value": loss} if feed else {}
            updates, state = tx.update(2.0 * params, state, params, **extra)
            return (optax.apply_updates(params, updates), state), None

        (params, _), _ = lax.scan(step, (params, tx.init(params)), None, length=n)
        return params

    return train


def _stepper(make: Callable[[], Any], feed: bool) -> tuple[Callable[..., Any], Any]:
    """A jitted single update of 16 parameters and its initial ``(params, state)``."""
    tx = make()

    @jax.jit
    def step(params: jax.Array, state: Any) -> Any:
        loss = jnp.sum(params ** 2)
        extra = {"value": loss} if feed else {}
        updates, state = tx.update(2.0 * params, state, params, **extra)
        return optax.apply_updates(params, updates), state

    params = jnp.linspace(-1.0, 1.0, 16)
    return step, (params, tx.init(params))


def _loop(step: Callable[..., Any], carry: Any, calls: int) -> Callable[[], Any]:
    def go() -> Any:
        params, state = carry
        for _ in range(calls):
            params, state = step(params, state)
        return params

    return go


def run(quick: bool = False) -> list[dict[str, Any]]:
    """One row per contender: ms per 1000 steps and paired ratios."""
    n = 50 if quick else 1000
    reps = 3 if quick else 9
    mlp = h.MLP.make(quick)

    h.progress(f"  plateau: compiling {len(CONTENDERS)} training loops")
    programs = {name: h.build(h.train_loop(make(), n, feed), *mlp.args)
                for name, (_, make, feed) in CONTENDERS.items()}
    h.progress("  plateau: timing")
    samples = h.interleaved({k: functools.partial(p.call, *mlp.args)
                             for k, p in programs.items()}, reps)
    rows = []
    for name, (column, _, feed) in CONTENDERS.items():
        st = h.summary(samples[name])
        row: dict[str, Any] = {
            "section": SECTION, "name": name, "contender": column, "n_steps": n,
            "mlp": list(mlp.sizes), "batch": mlp.batch, "value_fed": feed, "reps": reps,
            "ms_per_1000_steps": round(st["median"] * 1e3 * 1000 / n, 3),
            "iqr_rel": round(st["iqr_rel"], 4),
        }
        for ref, key in ((BASELINE, "vs_constant"), (OPTAX, "vs_optax")):
            ratio, ratio_iqr = h.paired(samples[name], samples[ref])
            row[f"ratio_{key}"] = round(ratio, 4)
            row[f"ratio_{key}_iqr"] = round(ratio_iqr, 4)
        row.update(programs[name].costs())
        rows.append(row)

    h.progress("  plateau: optimizers alone")
    m = 1_000 if quick else 10_000
    p16 = jnp.linspace(-1.0, 1.0, 16)
    alone = {name: h.build(_isolated(make, feed, m), p16)
             for name, (_, make, feed) in CONTENDERS.items()}
    alone_samples = h.interleaved({k: functools.partial(p.call, p16) for k, p in alone.items()},
                                  reps)
    for row in rows:
        name = row["name"]
        st = h.summary(alone_samples[name])
        row["alone_ns_per_step"] = round(st["median"] / m * 1e9, 2)
        row["alone_iqr_rel"] = round(st["iqr_rel"], 4)
        for ref, key in ((BASELINE, "vs_constant"), (OPTAX, "vs_optax")):
            row[f"alone_ratio_{key}"] = round(h.paired(alone_samples[name],
                                                       alone_samples[ref])[0], 4)

    h.progress("  plateau: per call from Python")
    calls = 200 if quick else 2000
    loops = {}
    for name, (_, make, feed) in CONTENDERS.items():
        step, carry = _stepper(make, feed)
        jax.block_until_ready(step(*carry))
        loops[name] = _loop(step, carry, calls)
    call_samples = h.interleaved(loops, reps)
    for row in rows:
        name = row["name"]
        row["per_call_us"] = round(statistics.median(call_samples[name]) / calls * 1e6, 3)
        row["state_leaves"] = len(jax.tree.leaves(_stepper(CONTENDERS[name][1],
                                                           CONTENDERS[name][2])[1][1]))
        row["per_call_ratio_vs_optax"] = round(h.paired(call_samples[name],
                                                        call_samples[OPTAX])[0], 4)
    return rows


def summarize(rows: list[dict[str, Any]]) -> tuple[list[h.Line], list[h.Target]]:
    """Table lines (ms per 1000 steps, jaxsched next to optax's contrib) and the target."""
    got = {r["name"]: r for r in rows if r["section"] == SECTION}
    if not got:
        return [], []
    opt = got[OPTAX]["ms_per_1000_steps"]
    lines = [h.Line(SECTION, f"{name} (no plateau)", "ms/1000 steps",
                    got[name]["ms_per_1000_steps"],
                    note=f"{got[name]['ratio_vs_optax']:.2f}x optax contrib")
             for name in (BASELINE, "constant (plain)")]
    targets = []
    alone_opt = got[OPTAX]["alone_ns_per_step"]
    for name in (BASELINE, "constant (plain)"):
        lines.append(h.Line(SECTION, f"{name} (no plateau), alone", "ns/step",
                            got[name]["alone_ns_per_step"]))
    for name in ("js.plateau", "js.reduce_on_plateau"):
        lines.append(h.Line(SECTION, f"{name}, alone", "ns/step",
                            got[name]["alone_ns_per_step"], alone_opt))
    call_opt = got[OPTAX]["per_call_us"]
    for name in (BASELINE, "constant (plain)"):
        lines.append(h.Line(SECTION, f"{name} (no plateau), per call", "us/call",
                            got[name]["per_call_us"],
                            note=f"{got[name]['state_leaves']} state leaves"))
    for name in ("js.plateau", "js.reduce_on_plateau"):
        lines.append(h.Line(SECTION, f"{name}, per call", "us/call", got[name]["per_call_us"],
                            call_opt, note=f"{got[name]['state_leaves']} state leaves vs "
                                           f"{got[OPTAX]['state_leaves']}"))
    for name in ("js.plateau", "js.reduce_on_plateau"):
        r = got[name]
        pct = (r["ratio_vs_constant"] - 1.0) * 100
        ratio = r["ratio_vs_optax"]
        status = h.status(ratio, 1.0, noise=r["ratio_vs_optax_iqr"])
        lines.append(h.Line(SECTION, name, "ms/1000 steps", r["ms_per_1000_steps"], opt,
                            target="<= optax", status=status,
                            note=f"{pct:+.1f}% vs constant (inject)"))
        targets.append(h.Target(f"{name} no slower than optax.contrib.reduce_on_plateau",
                                f"{ratio:.3f}x optax (paired median), {pct:+.1f}% vs "
                                "constant LR", status))
    return lines, targets


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    rows = run(quick="--quick" in args)
    lines, targets = summarize(rows)
    print(h.table(lines))
    print()
    print(h.targets_table(targets))
    print()
    for r in rows:
        print(f"{r['name']:<22} {r['ms_per_1000_steps']:9.2f} ms/1000 steps   "
              f"x{r['ratio_vs_constant']:.3f} vs constant   x{r['ratio_vs_optax']:.3f} vs optax"
              f"   alone: {r['alone_ns_per_step']:8.1f} ns/step   "
              f"x{r['alone_ratio_vs_optax']:.3f} vs optax   per call: {r['per_call_us']:6.2f} us "
              f"x{r['per_call_ratio_vs_optax']:.3f} vs optax ({r['state_leaves']} leaves)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
