"""Smoke test of ``examples/plateau.py`` with tiny sizes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).parent.parent / "examples" / "plateau.py"


def test_plateau_example_runs(capsys):
    pytest.importorskip("sklearn")
    pytest.importorskip("flax")
    spec = importlib.util.spec_from_file_location("plateau_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    history = module.main(["--epochs", "4", "--limit", "240", "--hidden", "16",
                           "--batch-size", "60", "--warmup-epochs", "1", "--patience", "0",
                           "--stop-patience", "10", "--lr", "0.5"])
    out = capsys.readouterr().out
    assert len(history) == 4
    assert "epoch  train loss" in out and "plateau(base=warmup_constant(" in out
    # warmup over the first epoch's 3 steps, then the peak; halved on every bad epoch
    lrs = [h["lr"] for h in history]
    assert lrs[0] == pytest.approx(0.5)
    for prev, h in zip([0.5, *lrs[:-1]], history, strict=True):
        assert h["lr"] == pytest.approx(prev / 2 if h["reduced"] else prev)
    assert all(h["val_loss"] > 0 for h in history)
