"""The ``jaxsched`` command: look at a schedule before training with it.

    jaxsched plot SPEC --steps N [-o lr.png] [--log] [--compare SPEC2 ...]
    jaxsched describe SPEC --steps N [--compare OLD] [--count C]
    jaxsched table SPEC --steps N [--every K]

SPEC is a schedule's text, as its ``repr`` prints it or as you would write the
call (``"warmup_cosine(peak=3e-4, warmup_steps=2000, total_steps=100000)"``),
or a file holding its config dict (``s.to_config()``): ``@path``, or a path
ending in .json, .yaml or .yml; ``path#a.b`` picks the entry ``a: {b: ...}``
of a larger config. Bad specs and arguments print one line and exit with 2.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from ._describe import check_steps, describe, resolve
from ._plot import chart, plot
from ._schedule import evaluate, from_config
from ._spec import ParseError, parse

_FILE = re.compile(r"[^()]*\.(json|ya?ml)(#[^()]*)?", re.IGNORECASE)


class UsageError(Exception):
    """A bad spec or argument: printed as one line, exit status 2."""


# ----------------------------------------------------------------- specs
def load_spec(spec: str) -> Any:
    """The schedule a SPEC names: schedule text, ``@file`` or a .json/.yaml/.yml path."""
    if spec.startswith("@"):
        path = spec[1:]
    elif _FILE.fullmatch(spec.strip()):
        path = spec.strip()
    else:
        return _parse(spec, "")
    path, _, key = path.partition("#")
    where = f"{path}: "
    try:
        content = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise UsageError(f"cannot read {path}: not a UTF-8 text file") from None
    suffix = Path(path).suffix.lower()
    if suffix in (".yaml", ".yml"):
        data = _load_yaml(content, path)
    elif suffix == ".json" or content.lstrip().startswith("{"):
        try:
            data = json.loads(content)
        except json.JSONDecodeError as e:
            raise UsageError(f"{where}invalid JSON: {e.msg} (line {e.lineno}, column "
                             f"{e.colno})") from None
        except RecursionError:
            raise UsageError(f"{where}invalid JSON: nested too deeply") from None
    else:
        data = content
    for part in filter(None, key.split(".")):
        if not isinstance(data, dict) or part not in data:
            keys = ", ".join(map(str, data)) if isinstance(data, dict) else "none"
            raise UsageError(f"{where}no entry '{key}' (at '{part}'; keys: {keys})")
        data = data[part]
    if isinstance(data, str):
        return _parse(data, where)
    if not isinstance(data, dict):
        raise UsageError(f"{where}expected a schedule config (a dict with a 'type') or "
                         f"schedule text, got {type(data).__name__}")
    if "type" not in data:
        keys = ", ".join(map(str, data)) or "none"
        raise UsageError(f"{where}expected a schedule config (a dict with a 'type' key), got "
                         f"a dict with keys {keys}; pick an entry with {path}#key")
    try:
        return from_config(data)
    except RecursionError:
        raise UsageError(f"{where}the config is nested too deeply") from None
    except Exception as e:  # noqa: BLE001 - any failure is a bad config, shown in one line
        raise UsageError(f"{where}{_one_line(e)}") from None


def _parse(text: str, where: str) -> Any:
    try:
        return parse(text)
    except ParseError as e:
        msg = e.message.removeprefix("parse: ").rstrip(".")
        raise UsageError(f"{where}{msg} (at column {e.column}: '{e.excerpt}')") from None


def _one_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    text = lines[0] if lines else type(e).__name__
    plain = isinstance(e, ValueError | TypeError | UsageError)
    return text if plain else f"{type(e).__name__}: {text}"


def _load_yaml(content: str, path: str) -> Any:
    try:
        import yaml
    except ImportError:
        raise UsageError(f"{path}: reading YAML needs pyyaml: pip install pyyaml") from None

    class Loader(yaml.SafeLoader):
        """YAML 1.2 floats: ``3e-4`` is a number (YAML 1.1 reads it as a string)."""

    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)(?:[eE][-+]?[0-9]+)?$"
                   r"|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"),
        list("-+0123456789."))
    try:
        return yaml.load(content, Loader=Loader)  # noqa: S506 - a SafeLoader subclass
    except RecursionError:
        raise UsageError(f"{path}: invalid YAML: nested too deeply") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise UsageError(f"{path}: invalid YAML: {problem}{at}") from None


# ----------------------------------------------------------------- arguments
def _count(text: str) -> int:
    """A positive int; also ``100_000`` and ``1e5``."""
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        try:
            f = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive int, got {text!r}") from None
        if not f.is_integer():
            raise argparse.ArgumentTypeError(f"expected a positive int, got {text!r}") from None
        value = int(f)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive int, got {text!r}")
    return value


def _step_count(text: str) -> int:
    """An int >= 0 (a checkpoint's step count)."""
    return 0 if text.strip() == "0" else _count(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jaxsched", description="Look at a learning-rate schedule before training.",
        epilog="SPEC: schedule text such as \"cosine(1e-3, 0.0, 10000)\", or @file / "
               "file.json / file.yaml holding its config dict (file.yaml#key picks an entry).")
    parser.add_argument("--version", action="version", version=f"jaxsched {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument("spec", metavar="SPEC", help="schedule text, @file or file.json/.yaml")
        p.add_argument("--steps", "-n", type=_count, required=True, metavar="N",
                       help="training steps: steps 0 .. N-1")
        return p

    p = command("plot", "Draw the schedule: a PNG with -o, else a chart in the terminal.")
    p.add_argument("-o", "--output", metavar="PATH", help="write an image (.png, .svg, .pdf)")
    p.add_argument("--log", action="store_true", help="log scale for the learning rate")
    p.add_argument("--compare", nargs="+", action="extend", default=[], metavar="SPEC",
                   help="more schedules to draw on the same axes")
    p.add_argument("--width", type=_count, default=60, help="terminal chart width (60)")
    p.add_argument("--height", type=_count, default=15, help="terminal chart height (15)")
    p.add_argument("--ascii", action="store_true", help="ASCII characters only")
    p.set_defaults(run=_plot)

    p = command("describe", "Start, peak, end of warmup, final and min values, and warnings.")
    p.add_argument("--compare", metavar="OLD",
                   help="the schedule the run followed before a re-plan: show both, warn on "
                        "a jump or a change before the resume step")
    p.add_argument("--count", type=_step_count, metavar="C",
                   help="the checkpoint's step count: warn if the schedule resumes elsewhere")
    p.set_defaults(run=_describe)

    p = command("table", "The values as CSV (step,lr), every K steps and at the last step.")
    p.add_argument("--every", "-k", type=_count, metavar="K",
                   help="step interval (default: N // 20)")
    p.set_defaults(run=_table)
    return parser


# ----------------------------------------------------------------- commands
def _plot(args: argparse.Namespace) -> int:
    specs = [args.spec, *args.compare]
    schedules = [load_spec(s) for s in specs]
    if args.output:
        try:
            plot(schedules, args.steps, args.output, log=args.log)
        except ImportError as e:
            raise UsageError(str(e).removeprefix("plot: ")) from None
        except OSError as e:  # a missing folder, no permission: one line, like any bad input
            raise UsageError(f"cannot write {args.output}: {e.strerror or e}") from None
        print(f"wrote {args.output}")
        return 0
    ascii = args.ascii or not _can_print("⣿─┤")
    print(chart(schedules, args.steps, width=args.width, height=args.height, log=args.log,
                ascii=ascii))
    return 0


def _describe(args: argparse.Namespace) -> int:
    old = load_spec(args.compare) if args.compare else None
    print(describe(load_spec(args.spec), args.steps, compare=old, count=args.count))
    return 0


def _table(args: argparse.Namespace) -> int:
    s, _, _ = resolve(load_spec(args.spec), "table")
    n = check_steps(args.steps, "table")
    every = args.every or max(1, n // 20)
    print("step,lr")
    chunk = 1 << 20
    for first in range(0, n, every * chunk):
        steps = np.arange(first, min(n, first + every * chunk), every, dtype=np.int64)
        if first + every * chunk >= n and steps[-1] != n - 1:
            steps = np.append(steps, n - 1)
        values = evaluate(s, steps)  # float32 (float64 under x64): printed exactly
        sys.stdout.write("".join(f"{t},{v!s}\n" for t, v in zip(steps.tolist(), values,
                                                                  strict=True)))
    return 0


def _can_print(text: str) -> bool:
    try:
        text.encode(sys.stdout.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    if argv is None and "JAX_PLATFORMS" not in os.environ:
        _use_cpu()  # a few thousand values: never worth initialising (or holding) an accelerator
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse has printed its usage line and error
        return e.code if isinstance(e.code, int) else 2
    try:
        return args.run(args)
    except (UsageError, ValueError, TypeError) as e:
        print(f"jaxsched: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `jaxsched table ... | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        return 130


def _use_cpu() -> None:
    try:
        import jax

        jax.config.update("jax_platforms", "cpu")
    except Exception:  # noqa: BLE001 - a backend is already up: use it
        pass


if __name__ == "__main__":
    sys.exit(main())
