"""The equivalences the core curves and recipes claim in their docstrings, checked against
trajectories recorded from PyTorch 2.13 and transformers (``tests/reference/*.json``).

These use the core API directly (``js.multistep``, ``js.sgdr``, ``js.warmup_cosine``...),
not ``jaxsched.pytorch``/``jaxsched.hf``: they pin what the core means.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxsched as js

REF = Path(__file__).parent / "reference"
TORCH = json.loads((REF / "torch_schedulers.json").read_text())["cases"]
HF = json.loads((REF / "hf_schedulers.json").read_text())["cases"]
RTOL = 1e-12 if jax.config.jax_enable_x64 else 2e-6


def cases(source, name, keep=lambda kw: True):
    found = [c for c in source if c["scheduler"] == name and keep(c["kwargs"])]
    assert found, name
    return pytest.mark.parametrize("case", found, ids=[str(i) for i in range(len(found))])


def check(schedule, case, upto=None):
    expected = np.asarray(case["lr_values"][:upto], np.float64)
    got = np.asarray(jax.jit(schedule)(jnp.arange(expected.size)), np.float64)
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=RTOL * case["lr"], err_msg=str(case))


@cases(TORCH, "MultiStepLR", lambda kw: sorted(set(kw["milestones"])) == kw["milestones"]
       and all(m >= 0 for m in kw["milestones"]))
def test_multistep_is_multisteplr(case):
    check(js.multistep(case["lr"], case["kwargs"]["milestones"], case["kwargs"]["gamma"]), case)


@cases(TORCH, "StepLR", lambda kw: kw["step_size"] > 0 and kw.get("gamma", 0.1) > 0)
def test_staircase_exponential_is_steplr(case):
    kw = case["kwargs"]
    check(js.exponential(case["lr"], kw.get("gamma", 0.1), period=kw["step_size"], staircase=True),
          case)


@cases(TORCH, "ExponentialLR", lambda kw: kw["gamma"] > 0)
def test_exponential_is_exponentiallr(case):
    check(js.exponential(case["lr"], case["kwargs"]["gamma"]), case)


@cases(TORCH, "PolynomialLR", lambda kw: kw.get("total_iters", 5) > 0 and kw.get("power", 1.0) > 0)
def test_polynomial_is_polynomiallr(case):
    kw = case["kwargs"]
    check(js.polynomial(case["lr"], 0.0, kw.get("total_iters", 5), kw.get("power", 1.0)), case)


@cases(TORCH, "CosineAnnealingLR", lambda kw: kw["T_max"] > 0)
def test_cosine_is_cosineannealinglr_up_to_t_max(case):
    # Past T_max PyTorch's cosine is periodic; the core holds the floor (see jaxsched.pytorch).
    kw = case["kwargs"]
    check(js.cosine(case["lr"], kw.get("eta_min", 0.0), kw["T_max"]), case, upto=kw["T_max"] + 1)


@cases(TORCH, "CosineAnnealingWarmRestarts")
def test_sgdr_is_cosineannealingwarmrestarts(case):
    kw = case["kwargs"]
    check(js.sgdr(case["lr"], kw["T_0"], kw.get("T_mult", 1), end=kw.get("eta_min", 0.0)), case)


@cases(TORCH, "CyclicLR", lambda kw: "scale_fn_src" not in kw)
def test_cyclic_is_cycliclr(case):
    kw = case["kwargs"]
    s = js.cyclic(kw["base_lr"], kw["max_lr"], kw["step_size_up"], kw.get("step_size_down"),
                  policy=kw.get("mode", "triangular"), gamma=kw.get("gamma", 1.0))
    check(s, case)
    if kw.get("cycle_momentum"):  # the momentum cycle is the same curve, inverted
        m = js.cyclic(kw.get("max_momentum", 0.9), kw.get("base_momentum", 0.8),
                      kw["step_size_up"], kw.get("step_size_down"),
                      policy=kw.get("mode", "triangular"), gamma=kw.get("gamma", 1.0))
        check(m, {**case, "lr_values": case["momentum_values"]})


@cases(HF, "get_linear_schedule_with_warmup",
       lambda kw: kw["num_training_steps"] > kw["num_warmup_steps"])
def test_warmup_linear_is_hf_linear(case):
    kw = case["kwargs"]
    check(js.warmup_linear(case["lr"], kw["num_warmup_steps"], kw["num_training_steps"]), case)


@cases(HF, "get_cosine_schedule_with_warmup", lambda kw: kw.get("num_cycles", 0.5) == 0.5)
def test_warmup_cosine_is_hf_cosine_until_the_end(case):
    kw = case["kwargs"]
    s = js.warmup_cosine(case["lr"], kw["num_warmup_steps"], kw["num_training_steps"])
    check(s, case, upto=kw["num_training_steps"] + 1)


@cases(HF, "get_constant_schedule_with_warmup")
def test_warmup_constant_is_hf_constant_with_warmup(case):
    check(js.warmup_constant(case["lr"], case["kwargs"]["num_warmup_steps"]), case)


@cases(HF, "get_polynomial_decay_schedule_with_warmup",
       lambda kw: kw["num_training_steps"] > kw["num_warmup_steps"])
def test_warmup_polynomial_is_hf_polynomial(case):
    kw = case["kwargs"]
    s = js.warmup_polynomial(case["lr"], kw["num_warmup_steps"], kw["num_training_steps"],
                             end=kw.get("lr_end", 1e-7), power=kw.get("power", 1.0))
    check(s, case)


@cases(HF, "get_inverse_sqrt_schedule")
def test_inverse_sqrt_is_hf_inverse_sqrt(case):
    kw = case["kwargs"]
    w = kw.get("num_warmup_steps", 0)
    timescale = kw.get("timescale") or w or 10_000  # HF's default
    check(js.inverse_sqrt(case["lr"], w, timescale=timescale), case)


@cases(HF, "get_wsd_schedule", lambda kw: kw.get("warmup_type", "linear") == "linear"
       and kw.get("num_cycles", 0.5) == 0.5 and kw.get("num_stable_steps") is None
       and kw["num_decay_steps"] > 0
       and kw["num_training_steps"] >= kw["num_warmup_steps"] + kw["num_decay_steps"])
def test_wsd_is_hf_wsd(case):
    kw = case["kwargs"]
    w, d = kw["num_warmup_steps"], kw["num_decay_steps"]
    stable = kw["num_training_steps"] - w - d
    floor = case["lr"] * kw.get("min_lr_ratio", 0.0)  # HF warms up from the floor too
    s = js.wsd(case["lr"], w + stable + d, w, d, start=floor, end=floor, shape=kw.get("decay_type", "cosine"))
    check(s, case)


# ----------------------------------------------------------------- lengths as fractions of the run
@pytest.mark.parametrize("make", [js.warmup_cosine, js.warmup_linear, js.warmup_polynomial])
@pytest.mark.parametrize("fraction, total, steps", [
    (0.05, 1000, 50),   # exact
    (0.25, 10, 3),      # 2.5 rounds up
    (0.07, 100, 8),     # 0.07 * 100 == 7.000000000000001 in float64: up, as in HF's TrainingArguments
    (0.5, 3, 2),
    (1e-9, 10, 1),      # any positive fraction is at least one step
])
def test_warmup_fraction_resolves_like_hf(make, fraction, total, steps):
    s = make(1e-3, fraction, total)
    assert repr(s) == f"{make.__name__}(peak=0.001, warmup_steps={fraction!r}, total_steps={total})"
    assert js.parse(repr(s)) == s and js.from_config(s.to_config()) == s
    assert s != make(1e-3, steps, total)  # what the user wrote is kept ...
    t = jnp.arange(total + 2)
    ref = np.minimum(np.arange(total + 2), steps) / steps * 1e-3  # ... and the warmup is int steps
    got = np.asarray(s(t), np.float64)
    np.testing.assert_allclose(got[:steps + 1], ref[:steps + 1], rtol=RTOL)
    np.testing.assert_array_equal(got, np.asarray(make(1e-3, steps, total)(t)))


def test_warmup_fraction_is_exact_at_the_boundary():
    s = js.warmup_cosine(2.0, 0.1, 200, end=0.5)  # 20 warmup steps, then 180 of cosine
    got = np.asarray(jax.jit(s)(jnp.asarray([19, 20, 21, 110, 200])), np.float64)
    cos = 0.5 + 1.5 * 0.5 * (1 + np.cos(np.pi * np.asarray([0, 1, 90, 180]) / 180))
    np.testing.assert_allclose(got, [2.0 * 19 / 20, *cos], rtol=RTOL)


@pytest.mark.parametrize("bad, match", [
    (1.0, r"warmup_cosine: `warmup_steps` must be an int >= 0 \(steps\) or a float in \(0, 1\) "
          r"\(a fraction of total_steps\), got 1\.0\."),
    (0.0, r"`warmup_steps` must be an int >= 0 \(steps\) or a float in \(0, 1\).*got 0\.0\."),
    (-0.5, r"got -0\.5\."),
    (2.5, r"got 2\.5\."),
])
def test_warmup_fraction_out_of_range(bad, match):
    with pytest.raises(ValueError, match=match):
        js.warmup_cosine(1.0, bad, 100)


def test_warmup_fraction_that_fills_the_run():
    with pytest.raises(ValueError, match=r"warmup_linear: needs total_steps > warmup_steps \(total_steps "
                                         r"counts the warmup\), got total_steps=100, warmup_steps=0\.995 "
                                         r"\(math\.ceil\(0\.995 \* 100\) = 100 steps\)\."):
        js.warmup_linear(1.0, 0.995, 100)
