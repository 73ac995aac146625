"""``js.describe`` and the ``jaxsched`` command (plot / describe / table)."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from catalogue import r_cosine, r_linear

import jaxsched as js
from jaxsched import _describe
from jaxsched.__main__ import main

X64 = bool(jax.config.jax_enable_x64)
WC = "warmup_cosine(peak=3e-4, warmup_steps=2000, total_steps=100000)"


def r_warmup_cosine(peak, w, total, start=0.0, end=0.0):
    lin, cos = r_linear(start, peak, w), r_cosine(peak, end, total - w)
    return lambda t: np.where(np.asarray(t) < w, lin(t), cos(np.maximum(np.asarray(t) - w, 0)))


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ----------------------------------------------------------------- describe
def test_describe_values_match_formula():
    n = 100_000
    d = js.describe(js.parse(WC), n)
    ref = r_warmup_cosine(3e-4, 2000, 100_000)(np.arange(n))
    assert d.start == 0.0
    assert d.peak == pytest.approx(ref.max(), rel=1e-6) and d.peak_step == 2000
    assert d.warmup_end == 2000
    assert d.final == pytest.approx(ref[-1], abs=1e-10)
    assert d.min == 0.0 and d.min_step == 0
    assert d.horizon == 100_000
    assert d.warnings == ()
    assert d.steps == n and d.schedule == WC.replace("3e-4", "0.0003")


def test_describe_str_is_a_table():
    text = str(js.describe(js.warmup_cosine(1.0, 10, 100), 100))
    lines = text.splitlines()
    assert lines[0] == "warmup_cosine(peak=1.0, warmup_steps=10, total_steps=100)"
    assert lines[1] == "over 100 steps (0 .. 99)"
    assert lines[2].split() == ["start", "0", "step", "0"]
    assert lines[3].split() == ["peak", "1", "step", "10"]
    assert lines[4].split() == ["warmup", "ends", "step", "10", "10%", "of", "training"]
    assert lines[5].split()[0] == "final" and lines[5].split()[-1] == "99"
    assert lines[-1] == "warnings: none"


def test_warning_reaches_zero_before_the_end():
    d = js.describe(js.cosine(1e-3, 0.0, 9000), 10_000)
    assert d.zero_from == 9000
    assert any(w.startswith("the LR reaches 0 at step 9000 of 10000 and stays there: the last "
                            "1000 steps (10%) train with lr = 0; set a floor") for w in d.warnings)


def test_no_zero_warning_with_a_floor_or_for_a_warmup_from_zero():
    d = js.describe(js.warmup_cosine(1e-3, 100, 1000, end=1e-5), 2000)
    assert d.zero_from is None and not any("reaches 0" in w for w in d.warnings)
    assert d.start == 0.0


def test_warning_schedule_ends_before_steps():
    d = js.describe(js.wsd(1e-3, 1000, 100, 200, end=1e-5), 2000)
    assert d.horizon == 1000
    assert any(w.startswith("the schedule ends at step 1000 of 2000: its final value 1e-05 is "
                            "held for the last 1000 steps (50%)") for w in d.warnings)


def test_warning_horizon_after_steps():
    d = js.describe(js.cosine(1e-3, 1e-5, 20_000), 10_000)
    ref = r_cosine(1e-3, 1e-5, 20_000)(np.arange(10_000))
    assert d.final == pytest.approx(ref[-1], rel=1e-5)
    assert d.horizon == 20_000
    [w] = d.warnings
    assert w.startswith("the schedule's horizon is step 20000, after training ends at step "
                        "10000: it never reaches its final value (1e-05) and ends at 0.000505")
    assert "T_max" in w


def test_warning_long_warmup_but_not_for_one_cycle():
    d = js.describe(js.warmup_cosine(1.0, 3000, 10_000), 10_000)
    assert d.warmup_end == 3000
    assert d.warnings == ("the warmup takes 3000 steps, 30% of training (over 25%); warmups "
                          "are usually 1-10%",)
    d = js.describe(js.one_cycle(0.1, 1000), 1000)
    assert d.warmup_end == 300 and d.warnings == ()


def test_warning_jump_between_joined_pieces():
    d = js.describe(js.join([js.linear(0.0, 1e-3, 500), js.cosine(3e-4, 0.0, 9500)], [500]),
                    10_000)
    [w] = d.warnings
    assert w == ("jump at step 500 between joined pieces: the LR goes from 0.000998 to 0.0003; "
                 "start the next piece where the previous one ends")
    smooth = js.join([js.linear(0.0, 1e-3, 500), js.cosine(1e-3, 0.0, 9500)], [500])
    assert js.describe(smooth, 10_000).warnings == ()


def test_jump_found_inside_compositions():
    inner = js.join([js.constant(1.0), js.constant(0.1)], [100])
    d = js.describe(js.warmup(inner, steps=50) * 0.5, 1000)
    assert [w.split(":")[0] for w in d.warnings] == ["jump at step 150 between joined pieces"]
    d = js.describe(js.per_epoch(inner, steps_per_epoch=3), 1000)
    assert [w.split(":")[0] for w in d.warnings] == ["jump at step 300 between joined pieces"]
    # staircases drop on purpose: not joins, no warning
    assert js.describe(js.multistep(1.0, [100, 200]), 1000).warnings == ()


def test_many_jumps_are_summarised():
    s = js.join([js.constant(1.0 if i % 2 else 0.1) for i in range(8)],
                [100 * (i + 1) for i in range(7)])
    d = js.describe(s, 1000)
    assert len(d.warnings) == 4 and d.warnings[-1] == "4 more jumps between joined pieces"


def test_non_finite_warning():
    s = js.wrap(lambda t: 1.0 / (t - 5).astype(float) ** 2, name="spike")
    d = js.describe(s, 10)
    assert "the LR is not finite (NaN or inf) at step 5" in d.warnings


def test_describe_plateau_describes_its_base():
    d = js.describe(js.plateau(js.warmup_constant(1e-3, 100)), 1000)
    assert d.schedule.startswith("plateau(") and d.peak_step == 100
    assert "shown is its schedule, the LR before any reduction" in d.notes[0]
    assert "note: a plateau's reductions depend on the metric" in str(d)


def test_describe_accepts_text():
    assert js.describe("cosine(1, 0, 100)", 50).final == pytest.approx(
        r_cosine(1.0, 0.0, 100)(np.asarray([49]))[0], rel=1e-6)


def test_describe_rejects_bad_steps():
    with pytest.raises(ValueError, match=r"describe: `steps` must be a positive int, got 0"):
        js.describe(js.constant(1.0), 0)
    with pytest.raises(TypeError, match=r"describe: `steps` must be a positive int"):
        js.describe(js.constant(1.0), 10.0)
    with pytest.raises(TypeError, match=r"describe: `schedule` must be a schedule"):
        js.describe(3, 10)


def test_sampled_path_refines_exact_steps(monkeypatch):
    monkeypatch.setattr(_describe, "DENSE_MAX", 1000)
    monkeypatch.setattr(_describe, "SAMPLES", 101)
    d = js.describe(js.warmup_constant(1.0, 1234), 10_000)
    assert (d.peak_step, d.warmup_end) == (1234, 1234)
    d = js.describe(js.linear(1.0, 0.0, 7777), 10_000)
    assert d.zero_from == 7777 and d.min_step == 7777
    assert any("sampled" in n or "evenly spaced" in n for n in d.notes)


def test_horizon_from_structure():
    def h(s):
        return s._horizon()

    assert h(js.warmup_cosine(1.0, 10, 1000)) == 1000
    assert h(js.wsd(1.0, 100, 10, 40)) == 100
    assert h(js.one_cycle(1.0, 777)) == 777
    assert h(js.join([js.linear(0.0, 1.0, 10), js.cosine(1.0, 0.0, 90)], [10])) == 100
    assert h(js.warmup_constant(1.0, 10)) is None
    assert h(js.join([js.cosine(1.0, 0.0, 90), js.constant(0.1)], [90])) is None
    assert h(js.multistep(1.0, [10, 20])) is None
    assert h(js.sgdr(1.0, 100)) == math.inf
    assert h(js.cosine(1.0, 0.0, 90) * js.exponential(1.0, 0.99)) == math.inf
    assert h(js.cosine(1.0, 0.0, 90) * 0.5 + js.constant(0.1)) == 90
    assert h(js.per_epoch(js.cosine(1.0, 0.0, 90), steps_per_epoch=100)) == 9000
    assert h(js.interpolate([(0, 0.0), (50, 1.0), (80, 0.0)])) == 80
    assert h(js.clip(js.linear(1.0, 0.0, 30), min=0.1)) == 30


# ----------------------------------------------------------------- CLI: describe
def test_cli_describe(capsys):
    code, out, err = run(capsys, "describe", WC, "--steps", "100000")
    assert code == 0 and err == ""
    assert out == str(js.describe(js.parse(WC), 100_000)) + "\n"
    assert "peak         0.0003       step 2000" in out


def test_cli_steps_notation(capsys):
    for steps in ("1e5", "100_000", "100000"):
        code, out, _ = run(capsys, "describe", WC, "-n", steps)
        assert code == 0 and "over 100000 steps" in out


@pytest.mark.parametrize("argv,message", [
    (["describe", "cosin(1.0, 0.0, 100)", "--steps", "10"],
     "jaxsched: error: unknown schedule 'cosin' (did you mean 'cosine'?) (at column 1: "
     "'cosin')\n"),
    (["describe", "cosine(1.0, 0.0, 0)", "--steps", "10"],
     "jaxsched: error: cosine: `steps` must be a positive int, got 0 (at column 18: '0')\n"),
    (["describe", "__import__('os').system('ls')", "--steps", "10"],
     "jaxsched: error: only jaxsched constructors can be called, e.g. cosine(...) or "
     "js.cosine(...) (at column 1: '__import__('os').system')\n"),
    (["plot", "constant(0.0)", "--steps", "10", "--log"],
     "jaxsched: error: chart: a log scale needs positive values; the schedule is never > 0.\n"),
])
def test_cli_bad_spec_is_one_line(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err == message


@pytest.mark.skipif(X64, reason="x64 steps go up to 2**63 - 1")
def test_cli_steps_beyond_int32(capsys):
    code, out, err = run(capsys, "describe", "cosine(1.0, 0.0, 100)", "--steps", str(2**40))
    assert code == 2 and out == ""
    assert err == ("jaxsched: error: describe: `steps` must be <= 2147483648 (int32 steps); set "
                   f"JAX_ENABLE_X64=1 for longer runs, got {2**40}.\n")


@pytest.mark.parametrize("argv,fragment", [
    (["describe", "cosine(1, 0, 10)"], "the following arguments are required: --steps"),
    (["describe", "cosine(1, 0, 10)", "--steps", "0"], "expected a positive int, got '0'"),
    (["describe", "cosine(1, 0, 10)", "--steps", "ten"], "expected a positive int, got 'ten'"),
    (["describe", "cosine(1, 0, 10)", "--steps", "1.5"], "expected a positive int, got '1.5'"),
    (["table", "cosine(1, 0, 10)", "--steps", "10", "--every", "-1"], "expected a positive int"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    ([], "the following arguments are required: COMMAND"),
])
def test_cli_bad_arguments_exit_2(capsys, argv, fragment):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert fragment in err and "Traceback" not in err


def test_cli_help_and_version(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "plot" in out and "describe" in out and "table" in out
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"jaxsched {js.__version__}"


# ----------------------------------------------------------------- CLI: table
def test_cli_table(capsys):
    code, out, err = run(capsys, "table", "cosine(1e-3, 1e-5, 10)", "--steps", "12", "--every",
                         "3")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "step,lr"
    steps = [int(line.split(",")[0]) for line in lines[1:]]
    assert steps == [0, 3, 6, 9, 11]
    got = np.asarray([float(line.split(",")[1]) for line in lines[1:]])
    ref = r_cosine(1e-3, 1e-5, 10)(np.asarray(steps))
    np.testing.assert_allclose(got, ref, rtol=2e-6)
    # each value is printed exactly: it reads back as the same float32
    values = js.evaluate(js.cosine(1e-3, 1e-5, 10), np.asarray(steps))
    assert np.array_equal(got.astype(values.dtype), values)


def test_cli_table_default_every(capsys):
    code, out, _ = run(capsys, "table", "linear(0, 1, 100)", "--steps", "100")
    assert code == 0
    assert [int(line.split(",")[0]) for line in out.splitlines()[1:]] == list(range(0, 100, 5)) \
        + [99]


# ----------------------------------------------------------------- CLI: plot
def test_cli_plot_terminal(capsys):
    code, out, err = run(capsys, "plot", WC, "--steps", "100000")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "warmup_cosine(peak=0.0003, warmup_steps=2000, total_steps=100000)"
    assert len(lines) == 1 + 15 + 2
    assert lines[1].startswith(" 0.0003 ┤") and lines[15].startswith("      0 ┤")
    assert lines[-1].split() == ["0", "50000", "99999", "(step)"]
    assert any("\u2800" < ch <= "\u28ff" for ch in out)


def test_cli_plot_compare_and_options(capsys):
    code, out, _ = run(capsys, "plot", "one_cycle(0.1, 1000)", "--steps", "1000", "--compare",
                       "warmup_cosine(0.1, 100, 1000)", "constant(0.05)", "--log", "--width",
                       "40", "--height", "10")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "* one_cycle(peak=0.1, total_steps=1000)"
    assert lines[1] == "o warmup_cosine(peak=0.1, warmup_steps=100, total_steps=1000)"
    assert lines[2] == "+ constant(value=0.05)"
    assert lines[3] == "# overlap  (log scale)"
    assert len(lines) == 4 + 10 + 2


def test_cli_plot_png(capsys, tmp_path):
    path = tmp_path / "lr.png"
    code, out, err = run(capsys, "plot", WC, "--steps", "1000", "-o", str(path), "--compare",
                         "constant(1e-4)")
    assert code == 0 and out == f"wrote {path}\n" and err == ""
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_plot_png_without_matplotlib(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    code, _, err = run(capsys, "plot", WC, "--steps", "10", "-o", str(tmp_path / "x.png"))
    assert code == 2
    assert err == ("jaxsched: error: drawing needs matplotlib, an optional dependency; install "
                   "it with: pip install matplotlib\n")


# ----------------------------------------------------------------- specs from files
def test_spec_from_json_and_yaml(capsys, tmp_path):
    s = js.join([js.linear(0.0, 3e-4, 20), js.cosine(3e-4, 3e-6, 80)], [20])
    (tmp_path / "lr.json").write_text(json.dumps(s.to_config()))
    (tmp_path / "lr.yml").write_text(
        "type: warmup_cosine\npeak: 3e-4\nwarmup_steps: 20\ntotal_steps: 100\nend: 1.5E-6\n")
    (tmp_path / "train.yaml").write_text(
        "model: {width: 3}\noptim:\n  lr:\n    type: cosine\n    start: 1e-3\n    end: 0\n"
        "    steps: 50\n  text: 'cosine(1, 0, 10)'\n")
    (tmp_path / "lr.txt").write_text("cosine(1, 0, 10)\n")
    cases = [
        (str(tmp_path / "lr.json"), s),
        ("@" + str(tmp_path / "lr.json"), s),
        (str(tmp_path / "lr.yml"), js.warmup_cosine(3e-4, 20, 100, end=1.5e-6)),
        (str(tmp_path / "train.yaml") + "#optim.lr", js.cosine(1e-3, 0.0, 50)),
        (str(tmp_path / "train.yaml") + "#optim.text", js.cosine(1.0, 0.0, 10)),
        ("@" + str(tmp_path / "lr.txt"), js.cosine(1.0, 0.0, 10)),
    ]
    for spec, expected in cases:
        code, out, err = run(capsys, "describe", spec, "--steps", "100")
        assert (code, err) == (0, ""), (spec, err)
        assert out.splitlines()[0] == repr(expected)


def test_spec_file_errors(capsys, tmp_path, monkeypatch):
    (tmp_path / "bad.json").write_text('{"type": "cosine",')
    (tmp_path / "bad.yaml").write_text("type: [cosine\n")
    (tmp_path / "cfg.json").write_text('{"type": "cosine", "start": 1.0, "end": 0.0, '
                                       '"steps": 0}')
    (tmp_path / "nested.yaml").write_text("optim: {lr: {type: constant, value: 1}}\n")
    (tmp_path / "list.json").write_text("[1, 2]")
    cases = [
        ("@/nonexistent/x.json", "cannot read /nonexistent/x.json: No such file or directory"),
        (str(tmp_path / "bad.json"), "invalid JSON: Expecting property name enclosed in double "
                                     "quotes (line 1, column 19)"),
        (str(tmp_path / "bad.yaml"), "invalid YAML:"),
        (str(tmp_path / "cfg.json"), "cosine: `steps` must be a positive int, got 0."),
        (str(tmp_path / "nested.yaml"), "expected a schedule config (a dict with a 'type' key), "
                                        "got a dict with keys optim; pick an entry with"),
        (str(tmp_path / "nested.yaml") + "#optim.rate", "no entry 'optim.rate' (at 'rate'; "
                                                        "keys: lr)"),
        (str(tmp_path / "list.json"), "expected a schedule config (a dict with a 'type') or "
                                      "schedule text, got list"),
    ]
    for spec, fragment in cases:
        code, out, err = run(capsys, "describe", spec, "--steps", "10")
        assert code == 2 and out == "", spec
        assert err.startswith("jaxsched: error: ") and err.count("\n") == 1, err
        assert fragment in err, err
    monkeypatch.setitem(sys.modules, "yaml", None)
    code, _, err = run(capsys, "describe", str(tmp_path / "nested.yaml"), "--steps", "10")
    assert code == 2 and "reading YAML needs pyyaml: pip install pyyaml" in err


# ----------------------------------------------------------------- as a program
def _env():
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env.pop("JAX_ENABLE_X64", None)
    return env


def test_python_dash_m_describe_is_fast():
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "jaxsched", "describe", WC, "--steps", "100000"],
                          capture_output=True, text=True, env=_env(), timeout=120)
    elapsed = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr
    assert "warnings: none" in proc.stdout
    assert elapsed < 30  # typically ~2 s: import jax, one compile, 1e5 values


def test_program_bad_spec_no_traceback():
    proc = subprocess.run([sys.executable, "-m", "jaxsched", "plot", "cosine(1, 0, ", "-n", "10"],
                          capture_output=True, text=True, env=_env(), timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("jaxsched: error: invalid syntax")
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1


@pytest.mark.skipif(shutil.which("jaxsched") is None, reason="console script not installed")
def test_console_script():
    proc = subprocess.run(["jaxsched", "table", "constant(0.5)", "-n", "3", "-k", "1"],
                          capture_output=True, text=True, env=_env(), timeout=120)
    assert proc.returncode == 0 and proc.stdout == "step,lr\n0,0.5\n1,0.5\n2,0.5\n"


def test_cli_unwritable_output_and_deep_specs(capsys, tmp_path):
    code, out, err = run(capsys, "plot", WC, "-n", "10", "-o", str(tmp_path / "missing" / "lr.png"))
    assert code == 2 and out == ""
    assert err == (f"jaxsched: error: cannot write {tmp_path / 'missing' / 'lr.png'}: No such file "
                   "or directory\n")
    deep_json = tmp_path / "deep.json"
    deep_json.write_text("[" * 100_000 + "]" * 100_000)
    code, _, err = run(capsys, "describe", str(deep_json), "-n", "10")
    assert code == 2 and err == f"jaxsched: error: {deep_json}: invalid JSON: nested too deeply\n"
    deep_yaml = tmp_path / "deep.yaml"
    deep_yaml.write_text("a: " + "[" * 5_000 + "]" * 5_000)
    code, _, err = run(capsys, "describe", str(deep_yaml), "-n", "10")
    assert code == 2 and err.startswith("jaxsched: error: ") and err.count("\n") == 1
    deep_config = tmp_path / "deep_config.json"  # parses as JSON, too deep to build
    deep_config.write_text('{"type": "clip", "min": 0.0, "schedule": ' * 5_000
                           + '{"type": "constant", "value": 1.0}' + "}" * 5_000)
    code, _, err = run(capsys, "describe", str(deep_config), "-n", "10")
    assert code == 2 and err.startswith("jaxsched: error: ") and err.count("\n") == 1


def test_describe_warns_for_pytorch_and_hf_forms():
    from jaxsched import hf
    from jaxsched import pytorch as pt

    d = js.describe(pt.CosineAnnealingLR(1e-3, T_max=9000), 10_000)
    assert d.horizon == 9000
    assert d.warnings == ("the schedule's planned course ends at step 9000 of 10000 (at 0), but "
                          "it does not hold there: the LR moves again, up to 3.009e-05 by step "
                          "9999; set its length (T_max, num_training_steps) to 10000",)
    d = js.describe(hf.get_cosine_schedule_with_warmup(1e-3, 100, 9000), 10_000)
    assert d.horizon == 9000 and len(d.warnings) == 1
    assert d.warnings[0].startswith("the schedule's planned course ends at step 9000 of 10000")
    # one-cycle's long rise is its design: no "warmup over 25%" warning, as for js.one_cycle
    assert js.describe(pt.OneCycleLR(0.1, total_steps=1000, pct_start=0.4), 1000).warnings == ()
    d = js.describe(hf.get_cosine_with_hard_restarts_schedule_with_warmup(1e-3, 100, 9000), 10_000)
    assert any(w.startswith("the schedule ends at step 9000 of 10000") for w in d.warnings)
