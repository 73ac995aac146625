"""Shared test setup: make ``tests/`` importable (the catalogue), keep JAX on the CPU, and check
the two markers of this suite.

- ``no_x64_rerun("why")``: the test does not depend on the float dtype (repr, config, pickle,
  trace counts, error text), so ``test_x64.py`` does not run it again under ``JAX_ENABLE_X64=1``.
  Every other test of the modules listed in ``test_x64.RUNS`` is re-run; the reason is required.
- ``heavy(seconds=..., group=...)``: a test that takes seconds (a subprocess, a training loop).
  These are dealt first, longest group first, over the workers of ``pytest -n 2``, so the long
  ones start early and side by side and the short ones fill in around them, instead of one
  long test finishing alone at the end.
"""

import os
import sys

import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")
sys.path.insert(0, os.path.dirname(__file__))


def pytest_collection_modifyitems(config, items):
    for item in items:
        mark = item.get_closest_marker("no_x64_rerun")
        if mark is not None:
            reason = mark.kwargs.get("reason", mark.args[0] if mark.args else "")
            if not isinstance(reason, str) or not reason.strip():
                raise pytest.UsageError(
                    f"{item.nodeid}: @pytest.mark.no_x64_rerun needs a reason, "
                    f"e.g. @pytest.mark.no_x64_rerun(\"repr and pickle only\").")
    _heavy_first(config, items)


def _heavy_first(config, items):
    """Deal the ``heavy`` tests, longest first, over the first batches pytest-xdist hands out.

    xdist's default ``--dist load`` sends each worker a first batch of consecutive tests
    (a quarter of its share), then feeds whichever worker is free. Putting every heavy test
    at the front would land them all in worker 0's batch; instead the heavy tests are dealt in
    groups (``group=``, by default their module, so that module-scoped fixtures such as a
    subprocess run once) to the batch with the fewest heavy seconds so far, at its front. The
    other tests keep their order.
    """
    groups: dict[str, list] = {}
    light = []
    for item in items:
        mark = item.get_closest_marker("heavy")
        if mark is None:
            light.append(item)
        else:
            groups.setdefault(mark.kwargs.get("group", item.module.__name__), []).append(item)
    if not groups:
        return

    def seconds(group):
        return sum(item.get_closest_marker("heavy").kwargs.get("seconds", 5) for item in group)

    workers = getattr(config, "workerinput", {}).get("workercount", 1)
    batch = max(2, len(items) // workers // 4)
    fronts, load = [[] for _ in range(workers)], [0.0] * workers
    for group in sorted(groups.values(), key=seconds, reverse=True):
        w = min(range(workers), key=lambda w: load[w])
        fronts[w] += group
        load[w] += seconds(group)
    ordered = []
    for front in fronts:
        fill = max(batch - len(front), 0)
        ordered += front + light[:fill]
        light = light[fill:]
    items[:] = ordered + light
