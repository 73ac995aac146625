"""Smoke test of the benchmark harness: ``python -m benchmarks --quick`` runs and writes JSON.

Timing targets are not asserted: timings on a shared test machine mean nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    return subprocess.run([sys.executable, "-m", "benchmarks", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.heavy(seconds=15)
def test_quick_run_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    proc = _run("--quick", "--json", str(out))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "benchmark" in proc.stdout and "status" in proc.stdout  # the table's header

    data = json.loads(out.read_text())
    assert set(data) >= {"header", "rows", "summary", "targets", "notes"}
    header = data["header"]
    for key in ("backend", "device_kind", "jax", "optax", "jaxsched", "cpu_count", "date"):
        assert key in header, key
    assert header["backend"] == "cpu" and header["quick"] is True

    rows = data["rows"]
    sections = {r["section"] for r in rows}
    assert {"throughput", "joins", "train_step"} <= sections
    for r in rows:
        assert {"section", "name", "contender"} <= set(r), r

    timed = [r for r in rows if r["section"] in ("throughput", "joins") and r["ns_per_step"]]
    assert timed
    for r in timed:
        for key in ("ns_per_step", "trace_ms", "compile_ms", "hlo_lines", "compiled_hlo_lines",
                    "max_rel_diff"):
            assert isinstance(r[key], int | float), (key, r)
        assert r["max_rel_diff"] <= 1e-5

    names = {r["name"] for r in rows if r["section"] == "throughput"}
    assert {"cosine", "warmup_cosine", "sgdr", "one_cycle", "join3"} <= names
    assert {r["contender"] for r in rows if r["section"] == "throughput"} == {
        "jaxsched", "optax", "fused"}
    assert {r["K"] for r in rows if r["section"] == "joins"} >= {1, 16}

    train = [r for r in rows if r["section"] == "train_step"]
    assert any(r["contender"] == "baseline" for r in train)
    assert all("ms_per_1000_steps" in r and "overhead_pct" in r
               for r in train if r["contender"] in ("jaxsched", "optax"))

    for line in data["summary"]:
        assert {"section", "name", "unit", "jaxsched", "optax", "fused", "status"} <= set(line)
    for target in data["targets"]:
        assert target["status"] in ("PASS", "MISS", "MISS*", "n/a")


def test_unknown_section_is_an_error():
    proc = _run("--only", "nonsense", timeout=60)
    assert proc.returncode == 2
    assert "unknown section nonsense" in proc.stderr


def test_mismatched_contenders_are_refused():
    sys.path.insert(0, str(ROOT))
    from benchmarks import _harness as h

    same = np.linspace(0.0, 1.0, 11)
    assert h.check_same("ok", {"a": same, "b": same + 1e-7}) <= 1e-6
    with pytest.raises(h.MismatchError, match="would compare different functions"):
        h.check_same("bad", {"a": same, "b": same * 1.001})


def test_eager_benchmark_runs_and_a_new_value_does_not_compile(tmp_path):
    out = tmp_path / "eager.json"
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-m", "benchmarks.eager", "--n", "200", "--json",
                           str(out)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads(out.read_text())
    assert data["new_value_compiles"] == 0 and data["sweep_compiles"] == 0
    assert data["new_structure_compiles"] == 1
