"""Re-runs the value tests with ``jax_enable_x64`` on, in a subprocess.

JAX's x64 flag must be set before anything is traced, so it is never toggled
inside this process: the float64 run is a separate pytest invocation whose
tolerances tighten to 1e-12 (each module reads ``jax.config.jax_enable_x64``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
# Calling-convention tests (pickle, repr, retracing, optax plumbing) are dtype-independent and
# run only in the main process; every test that compares values runs here again.
SKIP = ["inject_hyperparams", "pickle", "no_retrace", "config_round_trip", "pytree", "repr",
        "stateful", "finite_nonnegative"]
MODULES = ["test_catalogue.py", "test_steps.py", "test_optax_parity.py", "test_join.py",
           "test_recipes.py", "test_pytorch.py",
           "test_hf.py", "test_plateau.py", "test_finder.py", "test_groups.py"]


def test_value_tests_pass_under_x64():
    modules = [str(HERE / m) for m in MODULES if (HERE / m).exists()]
    env = {**os.environ, "JAX_ENABLE_X64": "1", "JAX_PLATFORMS": "cpu"}
    env.pop("PYTEST_XDIST_WORKER", None)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", *modules, "-q", "-x", "-p", "no:cacheprovider",
         "-p", "no:xdist", "-k", " and ".join(f"not {k}" for k in SKIP)],
        cwd=HERE.parent, env=env, capture_output=True, text=True, timeout=1500)
    tail = proc.stdout[-3000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, tail
    assert " passed" in proc.stdout and " failed" not in proc.stdout, tail
