"""Type checkers see every constructor's real parameters (``dataclass_transform``)."""

import os
import pathlib
import subprocess
import sys

HERE = pathlib.Path(__file__).parent
SCRIPT = HERE / "typecheck" / "user_script.py"


def mypy(path: pathlib.Path, cache: pathlib.Path) -> subprocess.CompletedProcess:
    # --follow-imports=silent: jaxsched's own modules are analysed for their types, and only
    # the user's file is reported (what a user of an installed jaxsched sees).
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--follow-imports=silent", "--ignore-missing-imports",
         "--no-error-summary", "--cache-dir", str(cache), "--python-version", "3.11",
         str(path)], capture_output=True, text=True, timeout=300,
        env=dict(os.environ, MYPY_FORCE_COLOR="0"))


def test_mypy_sees_constructors_and_flags_a_misspelt_keyword(tmp_path_factory):
    cache = tmp_path_factory.mktemp("mypy_cache")
    ok = mypy(SCRIPT, cache)
    assert ok.returncode == 0 and ok.stdout.strip() == "", ok.stdout + ok.stderr
    bad = tmp_path_factory.mktemp("typos") / "typos.py"
    bad.write_text("import jaxsched as js\n"
                   "from jaxsched import pytorch as pt\n"
                   "a = js.warmup_cosine(peak=1e-3, warmup=100, total_steps=1000)\n"
                   "b = pt.StepLR(0.1, step_sise=30)\n"
                   "c = js.cosine(1.0, 0.0)\n")
    out = mypy(bad, cache)
    assert out.returncode == 1
    assert 'Unexpected keyword argument "warmup" for "warmup_cosine"' in out.stdout
    assert 'Unexpected keyword argument "step_sise" for "StepLR"' in out.stdout
    assert 'Missing positional argument "steps" in call to "cosine"' in out.stdout
