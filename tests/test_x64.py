"""Re-runs the value tests with ``jax_enable_x64`` on, in subprocesses.

JAX's x64 flag must be set before anything is traced, so it is never toggled
inside this process: each float64 run is a separate pytest invocation whose
tolerances tighten to 1e-12 (each module reads ``jax.config.jax_enable_x64``).

Every test of these modules runs again, except those marked
``@pytest.mark.no_x64_rerun("reason")`` (repr, config, pickle, trace counts,
error text: nothing that depends on the float dtype). The modules are split in
three runs (``RUNS``: two of similar length and a short one of step-dtype tests), so
that ``pytest -n 2`` runs them side by side.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
RUNS = {  # id: (CPU seconds, the modules)
    "catalogue": (60, ["test_catalogue.py"]),
    "joins_compat_plateau": (65, ["test_optax_parity.py", "test_join.py", "test_recipes.py",
                             "test_pytorch.py", "test_hf.py", "test_plateau.py", "test_finder.py",
                             "test_groups.py", "test_integer.py", "test_replan.py"]),
    # The step-dtype tests whose behaviour changes under x64 (int64/uint64 steps held natively,
    # uint32 constants): the sweep of every dtype over every schedule would cost 150 s of CPU
    # here for what the float32 run already checks. And the float64 branch of sin_squared.
    "steps": (25, ["test_steps.py::test_integer_steps_beyond_int32_are_exact_or_refused_never_wrapped",
                   "test_steps.py::test_uint32_steps_with_constants_beyond_int32",
                   "test_steps.py::test_the_issue_cases_at_float_step_2_28",
                   "test_precision.py::test_sin_squared_matches_float64_over_the_quarter_wave"]),
}


@pytest.mark.parametrize("modules", [pytest.param(m, id=k, marks=pytest.mark.heavy(seconds=s, group=k))
                                     for k, (s, m) in RUNS.items()])
def test_value_tests_pass_under_x64(modules):
    paths = [HERE / m.split("::")[0] for m in modules]
    assert all(p.exists() for p in paths), [str(p) for p in paths if not p.exists()]
    paths = [f"{HERE / m.split('::')[0]}{m[len(m.split('::')[0]):]}" for m in modules]
    env = {**os.environ, "JAX_ENABLE_X64": "1", "JAX_PLATFORMS": "cpu"}
    env.pop("PYTEST_XDIST_WORKER", None)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", *map(str, paths), "-q", "-x", "-p", "no:cacheprovider",
         "-p", "no:xdist", "-m", "not no_x64_rerun"],
        cwd=HERE.parent, env=env, capture_output=True, text=True, timeout=1500)
    tail = proc.stdout[-3000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, tail
    assert " passed" in proc.stdout and " failed" not in proc.stdout, tail
