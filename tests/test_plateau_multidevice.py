"""Data parallel: with ``axis_name`` every device keeps the same plateau state and LR.

Runs ``tests/plateau_worker.py multidevice`` in a subprocess with 8 host CPU
devices (``XLA_FLAGS`` must be set before JAX starts). Each device is fed a
different local metric under ``jax.shard_map``; with ``axis_name`` the metric is
averaged over the devices before each decision, without it each device decides
alone and their learning rates drift apart.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).parent
pytestmark = pytest.mark.heavy(seconds=2)  # an 8-device subprocess


@pytest.fixture(scope="module")
def result():
    env = {**os.environ, "JAX_PLATFORMS": "cpu",
           "XLA_FLAGS": (os.environ.get("XLA_FLAGS", "")
                         + " --xla_force_host_platform_device_count=8").strip()}
    env.pop("JAX_ENABLE_X64", None)
    out = subprocess.run([sys.executable, str(HERE / "plateau_worker.py"), "multidevice"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _reference_lrs(metrics, lr=0.1, factor=0.5, patience=2):
    """PyTorch's rules (float64) on one metric sequence: the LR after each evaluation."""
    best, bad, out = np.inf, 0, []
    for m in metrics:
        if best == np.inf or m < best - 1e-4 * abs(best):
            best, bad = m, 0
        else:
            bad += 1
        if bad > patience:
            lr, bad = lr * factor, 0
        out.append(lr)
    return np.asarray(out)


@pytest.mark.parametrize("feed", ["value", "report"])
def test_axis_name_keeps_devices_identical(result, feed):
    assert result["devices"] == 8
    synced = result[f"{feed}/synced"]
    assert synced["leaves_identical"]  # every leaf of the state (and the params)
    lrs = np.asarray(synced["lrs"])
    assert np.all(lrs == lrs[:1])
    # ... and the decisions are those of the device-averaged metric
    want = _reference_lrs(result["mean_metric"])
    np.testing.assert_allclose(lrs[0], want, rtol=1e-6)
    assert len(set(synced["info"]["num_reductions"])) == 1


@pytest.mark.parametrize("feed", ["value", "report"])
def test_without_axis_name_devices_diverge(result, feed):
    local = result[f"{feed}/local"]
    assert not local["leaves_identical"]
    lrs = np.asarray(local["lrs"])
    assert len({tuple(r) for r in lrs.tolist()}) > 1
    assert len(set(local["info"]["num_reductions"])) > 1
