"""Smoke tests of the examples with small sizes, checking what they print and return.

``train.py``, ``resume.py``, ``plateau.py``, ``one_cycle_with_finder.py`` and
``linen_trainstate.py`` run in this process (``main(argv)``); ``multi_device.py``
runs in a subprocess, since it must set ``XLA_FLAGS`` before JAX starts
(``multi_host.py`` is tested in ``test_multi_host.py``). Every example's
``--help`` is checked in this process. Expected learning rates come from
the closed forms of the schedules (float64 NumPy), not from the schedules.
"""

from __future__ import annotations

import importlib.util
import io
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("flax")

# Most run a short training loop (seconds each): dealt first under pytest-xdist.
pytestmark = pytest.mark.heavy(seconds=2)
EXAMPLES = Path(__file__).parent.parent / "examples"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def load():
    sys.path.insert(0, str(EXAMPLES))  # the examples import their helpers as `_data`
    modules = {}

    def load(name):
        if name not in modules:
            spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module  # flax.linen's dataclasses look their module up
            spec.loader.exec_module(module)
            modules[name] = module
        return modules[name]

    yield load
    sys.path.remove(str(EXAMPLES))
    for name in modules:
        sys.modules.pop(f"example_{name}", None)


def warmup_cosine_ref(t, peak, warmup, total):
    t = np.asarray(t, np.float64)
    cos = 0.5 * peak * (1 + np.cos(np.pi * np.clip(t - warmup, 0, total - warmup) / (total - warmup)))
    return np.where(t < warmup, peak * t / warmup, cos)


def one_cycle_ref(t, peak, total, pct=0.3, div=25.0, final_div=1e4):
    """Cosine one-cycle: initial -> peak over int(pct * total) steps, then -> final."""
    up = int(pct * total)
    initial, final = peak / div, peak / div / final_div
    t = np.asarray(t, np.float64)
    rise = final_or(initial, peak, t / up)
    fall = final_or(peak, final, np.clip((t - up) / (total - up), 0, 1))
    return np.where(t < up, rise, fall)


def final_or(a, b, frac):
    return b + (a - b) * 0.5 * (1 + np.cos(np.pi * frac))


# ----------------------------------------------------------------- train.py
def test_train_default_schedule(load, tmp_path, capsys):
    train = load("train")
    out = tmp_path / "train.png"
    r = train.main(["--epochs", "3", "--limit", "600", "--hidden", "32", "--out", str(out)])
    text = capsys.readouterr().out
    spe = 450 // 32  # 600 images, 25% held out, 32 per batch, last partial batch dropped
    total = 3 * spe
    assert r["val_acc"] > 0.5  # ten classes: chance is 0.1
    assert out.read_bytes()[:8] == PNG
    assert repr(r["schedule"]) == (f"warmup_cosine(peak=0.003, warmup_steps={max(1, total // 20)}, "
                                   f"total_steps={total})")
    # each update used the schedule's value at its step ...
    want = warmup_cosine_ref(np.arange(total), 3e-3, max(1, total // 20), total)
    np.testing.assert_allclose(r["lrs"], want, rtol=1e-5, atol=1e-9)
    assert r["losses"].shape == (total,) and np.isfinite(r["losses"]).all()
    # ... and each epoch line prints the LR the next update will use, from js.hyperparams
    lines = re.findall(r"^epoch (\d+)/3  train_loss ([\d.]+)  val_acc ([\d.]+)  lr (\S+)$",
                       text, re.M)
    assert [int(e) for e, *_ in lines] == [1, 2, 3]
    for (epoch, loss, acc, lr), row in zip(lines, r["history"], strict=True):
        step = int(epoch) * spe
        assert float(lr) == pytest.approx(warmup_cosine_ref(step, 3e-3, max(1, total // 20),
                                                            total), rel=5e-3, abs=1e-10)
        assert float(acc) == pytest.approx(row["val_acc"], abs=1e-4)
        assert float(loss) == pytest.approx(row["train_loss"], abs=1e-4)
    assert "warnings: none" in text  # js.describe of the schedule over the run


def test_train_schedule_from_the_command_line(load, tmp_path, capsys):
    train = load("train")
    r = train.main(["--epochs", "2", "--limit", "600", "--hidden", "32", "--out", "",
                    "--schedule", "one_cycle(peak=0.01, total_steps=28)"])
    assert repr(r["schedule"]) == "one_cycle(peak=0.01, total_steps=28)"
    np.testing.assert_allclose(r["lrs"], one_cycle_ref(np.arange(28), 0.01, 28), rtol=1e-5)
    assert r["val_acc"] > 0.3
    assert "one_cycle(peak=0.01, total_steps=28)" in capsys.readouterr().out


def test_train_feeds_a_plateau_schedule(load, capsys):
    """A plateau given as --schedule is fed the validation loss once per epoch."""
    train = load("train")
    r = train.main(["--epochs", "4", "--limit", "300", "--hidden", "16", "--out", "",
                    "--schedule", "plateau(schedule=0.05, factor=0.5, patience=0, threshold=10.0)"])
    # threshold=10 (relative): no epoch improves enough, so every evaluation after the
    # first one halves the LR
    assert [h["lr"] for h in r["history"]] == pytest.approx([0.05, 0.025, 0.0125, 0.00625])
    # every hyperparameter js.hyperparams reads is logged per epoch and recorded per step
    assert [h["plateau/scale"] for h in r["history"]] == pytest.approx([1, 0.5, 0.25, 0.125])
    assert [h["plateau/num_reductions"] for h in r["history"]] == [0, 1, 2, 3]
    assert set(r["hyperparams"]) == {"learning_rate", "plateau/scale", "plateau/num_reductions"}
    assert "lr 2.50e-02  plateau/num_reductions 1  plateau/scale 0.5" in capsys.readouterr().out


def test_train_bad_schedule_text(load):
    train = load("train")
    with pytest.raises(ValueError, match="cosine"):
        train.main(["--epochs", "1", "--limit", "200", "--out", "", "--schedule",
                    "cosine(start=0.1, end=0.0, steps=0)"])


def test_progress_bar(load):
    data = load("_data")
    stream = io.StringIO()
    bar = data.Progress(10, "epoch 1/2", width=10, stream=stream, enabled=True)
    bar.update(3, "loss 1.0")
    assert stream.getvalue() == "\repoch 1/2 [###.......] 3/10 loss 1.0"
    bar.clear()
    assert stream.getvalue().endswith("\r")
    quiet = io.StringIO()  # not a terminal: nothing is drawn
    data.Progress(10, stream=quiet).update(3)
    assert quiet.getvalue() == ""


def test_progress_bar_only_on_a_terminal(load, capsys):
    """On a terminal the bar is drawn; redirected, the epoch lines alone are printed."""
    data = load("_data")

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    tty = Terminal()
    data.Progress(4, "epoch 1/1", width=4, stream=tty).update(2)
    assert tty.getvalue() == "\repoch 1/1 [##..] 2/4 "
    train = load("train")  # under pytest stderr is captured, not a terminal
    train.main(["--epochs", "1", "--limit", "200", "--hidden", "8", "--out", ""])
    out, err = capsys.readouterr()
    assert "[#" not in err and "\r" not in err + out
    assert re.search(r"^epoch 1/1  train_loss [\d.]+  val_acc [\d.]+  lr \S+$", out, re.M)


# ----------------------------------------------------------------- --help of every example
def help_entries(text):
    """The options of an argparse help text: ``(flag, metavar or '', help on one line)``."""
    entries = []
    for line in text.splitlines():
        if line.startswith("  -"):
            head, _, help_ = line.strip().partition("  ")
            entries.append([head, help_.strip()])
        elif entries and entries[-1] and re.match(r" {3,}\S", line):
            entries[-1][1] = f"{entries[-1][1]} {line.strip()}".strip()
        else:
            entries.append(None)  # a heading or a blank line ends the entry
    return [(*(head.split(" ", 1) + [""])[:2], help_) for head, help_ in filter(None, entries)]


@pytest.mark.parametrize("name", ["train", "plateau", "resume", "one_cycle_with_finder",
                                  "linen_trainstate", "multi_device", "multi_host"])
def test_help_shows_every_flag_with_its_default(load, name, capsys, monkeypatch):
    """``--help`` (in this process: the parser runs before any work) describes every flag
    and shows its default; the description is the docstring's first line."""
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", ""))  # undone after the test:
    module = load(name)  # multi_device.py sets it on import
    with pytest.raises(SystemExit) as exit_:
        module.main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert module.__doc__.splitlines()[0] in text
    usage = set(re.findall(r"\[(--[\w-]+)", text.split("\n\n")[0]))
    entries = [e for e in help_entries(text) if e[0] != "-h,"]
    assert {flag for flag, _, _ in entries} == usage and len(usage) >= 7
    for flag, _, help_ in entries:
        m = re.fullmatch(r"(\S.*\S) \(default: ([^()]+)\)", help_)
        assert m, f"{name}.py --help: {flag} lacks a description or a default: {help_!r}"
        assert len(m[1].split()) >= 2, (flag, help_)


# ----------------------------------------------------------------- plateau.py
def test_plateau_example(load, capsys):
    plateau = load("plateau")
    # lr 2 overshoots: some epochs do not improve, so the plateau must cut the LR
    history = plateau.main(["--epochs", "5", "--limit", "240", "--hidden", "16",
                            "--batch-size", "60", "--warmup-epochs", "1", "--patience", "0",
                            "--stop-patience", "10", "--lr", "2.0"])
    out = capsys.readouterr().out
    assert len(history) == 5
    assert "180 training / 60 validation images, 3 steps per epoch" in out
    assert "epoch  train loss" in out
    assert ("plateau(schedule=warmup_constant(peak=2.0, warmup_steps=3), factor=0.5, patience=0, "
            "min_lr=1e-05, stop_patience=10)") in out
    # warmup over the first epoch's 3 steps, then the peak, halved on every bad epoch: the
    # LRs the run used against PyTorch's rule in float64 on the losses it saw
    lrs = [h["lr"] for h in history]
    want = plateau_lrs([h["val_loss"] for h in history], 2.0)
    assert lrs == pytest.approx(want, rel=1e-6)
    assert min(want) < 2.0  # at least one reduction happened
    assert all(h["val_loss"] > 0 for h in history)
    rows = re.findall(r"^ +(\d+) +([\d.]+) +([\d.]+) +([\d.]+) +(\S+)", out, re.M)
    assert [int(r[0]) for r in rows] == [1, 2, 3, 4, 5]
    for (_, _, val_loss, _, lr), h in zip(rows, history, strict=True):
        assert float(val_loss) == pytest.approx(h["val_loss"], abs=1e-4)
        assert float(lr) == pytest.approx(h["lr"], rel=1e-2)


def test_plateau_example_stops_early(load, capsys):
    plateau = load("plateau")
    # lr 5 diverges at once: no epoch after the first improves, so with stop_patience=1
    # training ends after epoch 3 (the first plus two without improvement)
    # stop_patience < 2 * patience is what this run wants; plateau says so, once.
    with pytest.warns(UserWarning, match="stop_patience=1 is less than 2 \\* patience=10"):
        history = plateau.main(["--epochs", "6", "--limit", "240", "--hidden", "16",
                                "--batch-size", "60", "--warmup-epochs", "1", "--patience",
                                "5", "--stop-patience", "1", "--lr", "5.0"])
    out = capsys.readouterr().out
    assert "stopping: no improvement for 2 epochs" in out
    assert len(history) < 6


# ----------------------------------------------------------------- resume.py
def test_resume_extend_cooldown(load, tmp_path, capsys):
    resume = load("resume")
    out = tmp_path / "resume.png"
    r = resume.main(["--epochs", "4", "--resume-epoch", "2", "--extend-epochs", "6",
                     "--cooldown-epoch", "4", "--cooldown-epochs", "1", "--limit", "300",
                     "--hidden", "16", "--ckpt-dir", str(tmp_path / "ckpt"), "--out", str(out)])
    text = capsys.readouterr().out
    spe = 225 // 32  # 300 images, 25% held out, 32 per batch
    assert r["steps_per_epoch"] == spe and r["counts"] == (2 * spe, 4 * spe)  # restored counts
    assert (tmp_path / "ckpt" / "a").is_dir() and (tmp_path / "ckpt" / "b").is_dir()
    assert out.read_bytes()[:8] == PNG
    old, extended, cooled = r["schedules"]
    assert repr(old) == "warmup_cosine(peak=0.003, warmup_steps=0.05, total_steps=28)"
    assert repr(extended) == f"extend(schedule={old!r}, at=14, total_steps=42)"
    assert repr(cooled) == f"cooldown(schedule={extended!r}, at=28, steps=7, shape='1-sqrt')"
    # each update used the planned value at its step, across two restores and two re-plans:
    # warmup over ceil(0.05 * 28) = 2 steps, a cosine over 26; from step 14 a cosine from the
    # LR reached to 0 over 28 steps; from step 28 a 1-sqrt decay to 0 over 7 steps
    t = np.arange(35)
    lr14 = warmup_cosine_ref(14, 3e-3, 2, 28)
    lr28 = lr14 * 0.5 * (1 + np.cos(np.pi * 14 / 28))
    want = np.where(t < 14, warmup_cosine_ref(t, 3e-3, 2, 28),
                    np.where(t < 28, lr14 * 0.5 * (1 + np.cos(np.pi * (t - 14) / 28)),
                             lr28 * (1 - np.sqrt(np.clip(t - 28, 0, 7) / 7))))
    np.testing.assert_allclose(r["lrs"], want, rtol=1e-5, atol=1e-9)
    assert abs(lr14 - 1.6809e-3) < 1e-7 and abs(lr28 - 8.404e-4) < 1e-7  # as printed below
    assert "resumes at step 14: lr 0.001681 -> 0.001681" in text
    assert "resumes at step 28: lr 0.0008404 -> 0.0008404" in text
    assert text.count("warnings: none") == 2  # js.describe(new, compare=old, count=count)
    assert r["val_acc"] > 0.2  # ten classes: chance is 0.1


# ----------------------------------------------------------------- finder examples
def test_one_cycle_with_finder(load, tmp_path, capsys):
    example = load("one_cycle_with_finder")
    out = tmp_path / "finder.png"
    r = example.main(["--epochs", "2", "--limit", "600", "--hidden", "32", "--finder-steps", "40",
                      "--out", str(out)])
    text = capsys.readouterr().out
    finder = r["finder"]
    assert len(finder.lrs) == 40 and out.read_bytes()[:8] == PNG
    assert text.startswith("LR range test: 40 steps, lr 0.0001 -> 10 (exp)")
    assert r["peak"] == pytest.approx(finder.suggestion, rel=0.05)  # rounded to 2 digits
    assert 1e-4 < r["peak"] < 10 and r["baseline_lr"] == r["peak"]
    spe = 450 // 32
    want = one_cycle_ref([spe, 2 * spe], r["peak"], 2 * spe)  # the next update's LR
    np.testing.assert_allclose(r["one-cycle"]["lrs"], want, rtol=1e-5)
    assert r["constant"]["lrs"] == pytest.approx([r["peak"]] * 2)
    for run in ("one-cycle", "constant"):
        assert r[run]["val_acc"] > 0.3
    line = re.search(r"final val_acc  one-cycle \(peak \S+\): ([\d.]+)   constant \(\S+\): ([\d.]+)",
                     text)
    assert line and float(line[1]) == pytest.approx(r["one-cycle"]["val_acc"], abs=1e-4)


def test_linen_trainstate(load, capsys):
    example = load("linen_trainstate")
    r = example.main(["--epochs", "2", "--limit", "600", "--hidden", "32", "--finder-steps", "40"])
    text = capsys.readouterr().out
    assert text.startswith("LR range test: 40 steps, lr 1e-05 -> 1 (exp)")
    assert 1e-5 < r["peak"] < 1 and r["baseline_lr"] == pytest.approx(r["peak"] / 10)
    spe = 450 // 32
    assert r["one-cycle"]["steps"] == r["constant"]["steps"] == 2 * spe  # TrainState.step
    want = one_cycle_ref([spe, 2 * spe], r["peak"], 2 * spe)  # the next update's LR
    np.testing.assert_allclose(r["one-cycle"]["lrs"], want, rtol=1e-5)
    assert r["constant"]["lrs"] == pytest.approx([r["peak"] / 10] * 2)
    assert min(r["one-cycle"]["val_acc"], r["constant"]["val_acc"]) > 0.3
    assert "constant: constant(value=" in text


# ----------------------------------------------------------------- multi_device.py
WORKER = """
import json, sys
sys.path.insert(0, {examples!r})
import multi_device
args = ["--epochs", "4", "--limit", "600", "--hidden", "32", "--peak", "0.05", "--patience", "0",
        "--threshold", "0.5"]
out = {{m: multi_device.main(args + ["--metric", m]) for m in ("global", "shard_map")}}
print("RESULT " + json.dumps(out))
"""


@pytest.fixture(scope="module")
def multi_device():
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env.pop("XLA_FLAGS", None)  # the example sets it itself
    env.pop("JAX_ENABLE_X64", None)
    proc = subprocess.run([sys.executable, "-c", WORKER.format(examples=str(EXAMPLES))],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT "):]), proc.stdout


def plateau_lrs(val_losses, lr, factor=0.5, patience=0, threshold=1e-4):
    """PyTorch's ReduceLROnPlateau (mode 'min', relative threshold) in float64."""
    best, bad, out = math.inf, 0, []
    for m in val_losses:
        if best == math.inf or m < best - threshold * abs(best):
            best, bad = m, 0
        else:
            bad += 1
        if bad > patience:
            lr, bad = lr * factor, 0
        out.append(lr)
    return out


@pytest.mark.heavy(seconds=4)  # the first one pays for the 8-device subprocess
@pytest.mark.parametrize("metric", ["global", "shard_map"])
def test_multi_device(multi_device, metric):
    results, stdout = multi_device
    r = results[metric]
    assert r["devices"] == 8 and r["param_sharding"] in ("P()", "PartitionSpec()")
    assert r["all_agree"]
    for row in r["history"]:
        assert row["lr_copies"] == 8 and row["agree"] and len(row["lr_values"]) == 1
    # the plateau saw the printed (device-averaged) validation losses; with a 50% relative
    # threshold some epochs count as improvements and some do not
    val = [row["val_loss"] for row in r["history"]]
    want = plateau_lrs(val, 0.05, threshold=0.5)
    assert 0.05 > want[-1]
    assert [row["lr"] for row in r["history"]] == pytest.approx(want, rel=1e-6)
    assert r["val_acc"] > 0.3
    assert f"metric: {metric}" in stdout
    assert "(same on 8 devices; reductions" in stdout
    assert "identical on all 8 devices: True" in stdout


def test_multi_device_metric_paths_agree(multi_device):
    """The global mean under jit and the pmean of equal shards under shard_map are the
    same number, so both runs take the same decisions."""
    results, _ = multi_device
    a, b = results["global"]["history"], results["shard_map"]["history"]
    np.testing.assert_allclose([x["val_loss"] for x in a], [x["val_loss"] for x in b], rtol=1e-5)
    assert [x["lr"] for x in a] == [x["lr"] for x in b]
