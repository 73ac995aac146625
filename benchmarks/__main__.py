"""``python -m benchmarks``: jaxsched vs optax vs hand-written fused ``jnp``, side by side.

Sections (``--only`` picks some, comma-separated):

* ``throughput``: ns/step of every schedule with an optax equivalent, jit+vmap over
  1,000,000 steps;
* ``joins``: joins of K cosines and piecewise-constant schedules, K = 1 .. 1024:
  ns/step, trace and compile time, HLO size;
* ``train_step``: a jitted MLP train step scanned over 1000 steps, constant LR vs
  each schedule through ``optax.inject_hyperparams``;
* ``plateau``: reduce-on-plateau against ``optax.contrib.reduce_on_plateau``;
* ``precision``: float32 max relative error and false zeros of each curve against a
  float64 reference, jaxsched vs optax, at T = 1e7, 1e8, 2**31 - 1 (its own table).

Prints a table of medians and ratios and the issue's targets (PASS / MISS;
MISS* is a miss smaller than the timing noise) and, with ``--json PATH``, writes
every measurement with the backend, versions and machine.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import sys
import time
import traceback
from typing import Any

SECTIONS = ("throughput", "joins", "train_step", "plateau", "precision")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="jaxsched vs optax vs a hand-written fused jnp expression.")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes and few repetitions (a smoke run, < 40 s; timings "
                             "are not meaningful)")
    parser.add_argument("--full", action="store_true",
                        help="also measure optax's throughput for joins of 1024 pieces "
                             "(several extra seconds per call)")
    parser.add_argument("--json", metavar="PATH", help="write all measurements as JSON")
    parser.add_argument("--markdown", metavar="PATH",
                        help="write the tables in Markdown (for RESULTS.md)")
    parser.add_argument("--only", metavar="SECTION",
                        help=f"comma-separated sections to run, of: {', '.join(SECTIONS)}")
    args = parser.parse_args(argv)
    if args.only:
        chosen = [s.strip() for s in args.only.split(",") if s.strip()]
        unknown = [s for s in chosen if s not in SECTIONS]
        if unknown or not chosen:
            parser.error(f"--only: unknown section {', '.join(unknown) or repr(args.only)}; "
                         f"choose from {', '.join(SECTIONS)}.")
        args.sections = chosen
    else:
        args.sections = list(SECTIONS)
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    from . import _harness as h  # imports jax: after argument parsing, so --help is fast

    start = time.perf_counter()
    header = h.environment()
    header.update({"quick": args.quick, "full": args.full, "sections": args.sections})
    print(f"jaxsched benchmarks: backend={header['backend']} ({header['device_kind']}), "
          f"jax {header['jax']}, optax {header['optax']}, jaxsched {header['jaxsched']}, "
          f"{header['cpus_usable']} usable CPUs, load {header['load_average_start']}"
          f"{', QUICK (timings not meaningful)' if args.quick else ''}", flush=True)

    rows: list[dict[str, Any]] = []
    lines: list[h.Line] = []
    targets: list[h.Target] = []
    notes: list[str] = []
    reports: list[tuple[str, str]] = []  # sections with a table of their own: (text, markdown)
    failed = False
    for section in args.sections:
        t0 = time.perf_counter()
        module = importlib.import_module(f".{section}", __package__)
        h.progress(f"[{section}]")
        try:
            kwargs: dict[str, Any] = {"quick": args.quick}
            if "full" in inspect.signature(module.run).parameters:
                kwargs["full"] = args.full
            section_rows = list(module.run(**kwargs))
        except Exception as e:  # noqa: BLE001 - report, go on with the other sections
            failed = True
            traceback.print_exc()
            note = f"{section}: FAILED ({e.__class__.__name__}: {e})"
            print(f"note: {note}", flush=True)
            notes.append(note)
            continue
        rows += section_rows
        section_lines, section_targets = module.summarize(section_rows)
        lines += section_lines
        targets += section_targets
        if hasattr(module, "report"):
            reports.append((module.report(section_rows), module.markdown(section_rows)))
        h.progress(f"[{section}] {time.perf_counter() - t0:.1f} s")

    header["elapsed_s"] = round(time.perf_counter() - start, 1)
    header["load_average_end"] = h._load()
    if lines:
        print()
        print(h.table(lines))
    for text, _ in reports:
        print()
        print(text)
    if targets:
        print()
        print(h.targets_table(targets))
    for note in notes:
        print(f"note: {note}")
    print(f"\n{len(rows)} measurements in {header['elapsed_s']:.0f} s; medians; "
          "ratios are jaxsched / the other (lower is better for jaxsched); "
          "MISS* = missed by less than the timing noise.")
    if args.json:
        out = {"header": header, "rows": rows, "summary": [ln.as_dict() for ln in lines],
               "targets": [t.__dict__ for t in targets], "notes": notes}
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1, default=_json_default)
            f.write("\n")
        print(f"wrote {args.json}")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(_markdown(header, lines, targets, notes, [md for _, md in reports]))
        print(f"wrote {args.markdown}")
    return 1 if failed else 0


def _markdown(header: dict[str, Any], lines: list[Any], targets: list[Any],
              notes: list[str], reports: list[str] = ()) -> str:
    from . import _harness as h

    out = [f"Backend `{header['backend']}` ({header['device_kind']}), {header['cpu_model']}, "
           f"{header['cpus_usable']} usable CPUs, load average {header['load_average_start']} at "
           f"start; jax {header['jax']}, optax {header['optax']}, jaxsched "
           f"{header['jaxsched']}; {header['date']}; {header['elapsed_s']:.0f} s.", "",
           h.markdown(lines), ""]
    for md in reports:
        out += [md, ""]
    if targets:
        out += ["| target | measured | status |", "|---|---|---|"]
        out += [f"| {t.target} | {t.measured} | {t.status} |" for t in targets]
        out.append("")
    out += [f"Note: {n}" for n in notes]
    return "\n".join(out) + "\n"


def _json_default(value: Any) -> Any:
    try:
        import numpy as np

        if isinstance(value, np.generic | np.ndarray):
            return value.tolist()
    except ImportError:  # pragma: no cover
        pass
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
