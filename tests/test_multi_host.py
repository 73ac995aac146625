"""Multi-host training with real processes: two ``jax.distributed`` processes on localhost.

``multi_host_worker.py`` runs in two processes joined over a free port (gloo
CPU collectives; ``jax.distributed`` is never initialised in the pytest
process). Each host has a different validation shard, so its local loss
differs; with the metric averaged over the hosts (``axis_name`` under
``shard_map``, or a global array under ``jit``) both hosts must log the same
learning rate, plateau state and early-stopping flag, bit for bit, and these
must follow PyTorch's rule applied in float64 to the averaged losses. A run
restored from an orbax checkpoint in fresh processes must continue exactly as
the uninterrupted run. ``examples/multi_host.py --processes 2`` is smoke-tested.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).parent
ROOT = HERE.parent
# Pairs of jax.distributed processes (tens of seconds): dealt first under pytest-xdist.
pytestmark = pytest.mark.heavy(seconds=25)
WORKER = HERE / "multi_host_worker.py"
sys.path.insert(0, str(HERE))
import multi_host_worker as W  # noqa: E402  (constants only: importing it starts nothing)

AVERAGED = ("shard_map", "global")
PER_HOST = ("local_val",)  # the only logged field allowed to differ between hosts


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def env() -> dict[str, str]:
    out = {**os.environ, "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    out.pop("XLA_FLAGS", None)
    return out


def run_processes(commands: list[list[str]], logs: Path, timeout: float = 120) -> list[str]:
    """Runs the commands at once; returns their outputs. If one fails or time runs out,
    kills the others (a partner would wait in a collective forever) and fails."""
    logs.mkdir(parents=True, exist_ok=True)
    files = [open(logs / f"out{i}.txt", "w+") for i in range(len(commands))]  # noqa: SIM115
    procs = [subprocess.Popen(c, stdout=f, stderr=subprocess.STDOUT, env=env(), cwd=ROOT)
             for c, f in zip(commands, files, strict=True)]
    deadline, failure = time.monotonic() + timeout, None
    try:
        while failure is None and any(p.poll() is None for p in procs):
            bad = [i for i, p in enumerate(procs) if p.poll() not in (None, 0)]
            if bad:
                failure = f"process {bad[0]} exited with {procs[bad[0]].returncode}"
            elif time.monotonic() > deadline:
                failure = f"timed out after {timeout} s"
            time.sleep(0.05)
        if failure is None and any(p.returncode for p in procs):
            failure = f"exit codes {[p.returncode for p in procs]}"
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        outputs = []
        for f in files:
            f.seek(0)
            outputs.append(f.read())
            f.close()
    if failure:
        raise RuntimeError(failure + "\n" + "\n".join(f"--- process {i}:\n{o[-3000:]}"
                                                     for i, o in enumerate(outputs)))
    return outputs


def worker_pair(phase: str, directory: Path, phases: tuple[str, str] | None = None) -> None:
    coordinator = f"localhost:{free_port()}"
    phases = phases or (phase, phase)
    run_processes([[sys.executable, str(WORKER), ph, str(i), "2", coordinator, str(directory)]
                   for i, ph in enumerate(phases)], directory / f"logs-{phase}")


@pytest.fixture(scope="session")
def records(tmp_path_factory):
    """``records[phase][host][way]``: the rows each host logged, one per evaluation.

    Under pytest-xdist the two runs happen once, in whichever worker comes first; the
    others wait on a lock and read the same files (the base temp's parent is per run).
    """
    if "PYTEST_XDIST_WORKER" not in os.environ:
        d = tmp_path_factory.mktemp("multi_host")
    else:
        d = tmp_path_factory.getbasetemp().parent / "multi_host"
    d.mkdir(exist_ok=True)
    with open(d.parent / "multi_host.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (d / "done").exists():
            worker_pair("full", d)
            worker_pair("resume", d)
            (d / "done").touch()
    return {phase: [json.loads((d / f"{phase}-{i}.json").read_text()) for i in range(2)]
            for phase in ("full", "resume")}


def shared(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in PER_HOST} for r in rows]


def reference(val_losses: list[float]) -> list[dict]:
    """js.plateau's rule (PyTorch's, margin threshold * |best|) in float64 on the metrics."""
    best, bad, since, scale, out = math.inf, 0, 0, 1.0, []
    for e, m in enumerate(val_losses, 1):
        if best == math.inf or m < best - W.THRESHOLD * abs(best):
            best, bad, since = m, 0, 0
        else:
            bad, since = bad + 1, since + 1
        if bad > W.PATIENCE:
            scale, bad = scale * W.FACTOR, 0
        base = W.PEAK * min(e * W.STEPS_PER_EVAL / W.WARMUP, 1.0)
        out.append({"lr": base * scale, "scale": scale, "best": best, "num_bad": bad,
                    "stop": since > W.STOP})
    return out


@pytest.mark.parametrize("way", AVERAGED)
def test_hosts_log_identical_values(records, way):
    host0, host1 = (r[way] for r in records["full"])
    assert len(host0) == len(host1) == W.EVALS
    # each host's own validation loss differs from the other's at every evaluation ...
    assert all(a["local_val"] != b["local_val"] for a, b in zip(host0, host1, strict=True))
    # ... yet lr, scale, best, num_bad, stop, the metric seen and the weights are identical
    assert shared(host0) == shared(host1)


@pytest.mark.parametrize("way", AVERAGED)
def test_decisions_follow_the_averaged_metric(records, way):
    rows = records["full"][0][way]
    losses = [r["val_loss"] for r in rows]
    # the metric seen is the mean of the two hosts' (equal-sized) shards
    mean = [(a["local_val"] + b["local_val"]) / 2
            for a, b in zip(*(r[way] for r in records["full"]), strict=True)]
    np.testing.assert_allclose(losses, mean, rtol=1e-5)
    want = reference(losses)
    for got, ref in zip(rows, want, strict=True):
        assert got["scale"] == ref["scale"] and got["num_bad"] == ref["num_bad"]
        assert got["stop"] == ref["stop"]
        assert got["lr"] == pytest.approx(ref["lr"], rel=1e-6)
        assert got["best"] == pytest.approx(ref["best"], rel=1e-6)
    assert rows[-1]["num_reductions"] >= 1 and rows[-1]["scale"] < 1.0  # the plateau acted


def test_shard_map_and_global_jit_agree(records):
    a, b = (records["full"][0][way] for way in AVERAGED)
    np.testing.assert_allclose([r["val_loss"] for r in a], [r["val_loss"] for r in b], rtol=1e-5)
    assert [r["scale"] for r in a] == [r["scale"] for r in b]


def test_unaveraged_metric_makes_hosts_diverge(records):
    """The control: each host reporting its own loss cuts its LR at other steps."""
    host0, host1 = (r["local"] for r in records["full"])
    for host in (host0, host1):  # each host acted on its own loss, by the rule in float64
        want = reference([r["local_val"] for r in host])
        assert [r["scale"] for r in host] == pytest.approx([w["scale"] for w in want])
    assert [r["scale"] for r in host0] != [r["scale"] for r in host1]


@pytest.mark.parametrize("host", [0, 1])
@pytest.mark.parametrize("way", AVERAGED)
def test_restored_checkpoint_continues_identically(records, way, host):
    full, resumed = records["full"][host][way], records["resume"][host][way]
    restored, after = resumed[0], resumed[1:]
    assert restored["restored"] and restored["eval"] == W.SAVE_AT
    saved = full[W.SAVE_AT - 1]
    assert {k: restored[k] for k in ("lr", "scale", "best", "num_bad", "num_reductions",
                                     "num_evals", "stop")} == {
        k: saved[k] for k in ("lr", "scale", "best", "num_bad", "num_reductions",
                              "num_evals", "stop")}
    assert after == full[W.SAVE_AT:]  # LRs, plateau state, metrics and weights, bit for bit
    assert len(after) == W.EVALS - W.SAVE_AT


def test_launcher_kills_the_partner_of_a_failed_process(tmp_path):
    """Process 1 fails at once; process 0 would wait for it: it must be killed, not orphaned."""
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="process 1 exited with 2"):
        worker_pair("full", tmp_path, phases=("full", "no-such-phase"))
    assert time.monotonic() - start < 60


# ----------------------------------------------------------------- examples/multi_host.py
EXAMPLE = ROOT / "examples" / "multi_host.py"


@pytest.fixture(scope="module")
def example():
    sys.path.insert(0, str(EXAMPLE.parent))  # the example imports its helpers as `_data`
    spec = importlib.util.spec_from_file_location("example_multi_host", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # defines functions only; nothing joins a cluster
    yield module
    sys.path.remove(str(EXAMPLE.parent))


def test_example_help_describes_every_flag(example, capsys):
    with pytest.raises(SystemExit) as exit_:
        example.parse(["--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for flag in ("--processes", "--process-id", "--num-processes", "--coordinator", "--epochs",
                 "--batch-size", "--metric", "--checkpoint", "--log", "--out"):
        assert flag in text
    assert text.count("(default:") >= 15


def test_example_cluster_flags_go_together(example, capsys):
    with pytest.raises(SystemExit):
        example.parse(["--process-id", "0"])
    assert "--process-id, --num-processes and --coordinator go together" in capsys.readouterr().err


def test_example_two_processes(tmp_path):
    """``--processes 2`` with tiny sizes: process 0 alone prints, logs and plots, the hosts
    agree, the LR follows the plateau rule on the logged losses, checkpoints are written."""
    log, png, ckpt = tmp_path / "log.jsonl", tmp_path / "run.png", tmp_path / "ckpt"
    cmd = [sys.executable, str(EXAMPLE), "--processes", "2", "--epochs", "2", "--limit", "400",
           "--hidden", "16", "--batch-size", "32", "--metric", "shard_map", "--patience", "0",
           "--threshold", "0.5", "--checkpoint", str(ckpt), "--log", str(log), "--out", str(png)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env(), cwd=tmp_path, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=150)
    finally:  # the launcher and the processes it started share its process group
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, out[-3000:]
    assert out.count("2 processes, 2 devices, mesh {'data': 2}") == 1  # process 0 only
    assert out.count("(same on all hosts)") == 2 and "HOSTS DISAGREE" not in out
    assert "identical on all 2 hosts: True" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2] and all(r["hosts_agree"] for r in rows)
    best, bad, scale = math.inf, 0, 1.0
    for r in rows:  # warmup over epoch 1, then the peak; patience 0, threshold 0.5
        if best == math.inf or r["val_loss"] < best * 0.5:
            best, bad = r["val_loss"], 0
        else:
            bad += 1
        if bad > 0:
            scale, bad = scale * 0.5, 0
        assert r["scale"] == scale and r["lr"] == pytest.approx(2e-2 * scale, rel=1e-6)
    assert sorted(p.name for p in ckpt.iterdir() if p.name.isdigit()) == ["1", "2"]
