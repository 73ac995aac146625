"""``jaxsched.hf`` against trajectories recorded from ``transformers.optimization`` 5.23.

Reference values: ``tests/reference/hf_schedulers.json`` (recording contract in its README:
value ``t`` is the optimizer's LR after ``t`` scheduler steps, about 20% past
``num_training_steps``). Every value is compared, 1e-6 relative in float32 (absolute
``1e-7 * peak`` near zero) and 1e-12 under x64 (``tests/test_x64.py``).
"""

from __future__ import annotations

import json
import math
import pickle
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxsched as js
from jaxsched import hf

DATA = json.loads((Path(__file__).parent / "reference" / "hf_schedulers.json").read_text())
CASES = DATA["cases"]
X64 = jax.config.jax_enable_x64
RTOL = 1e-12 if X64 else 1e-6

# Configurations transformers accepts that jaxsched rejects at construction, with the reason.
REJECTED = {
    # num_training_steps < warmup + decay: HF's stable phase is -10 steps and the decay
    # starts halfway through.
    ("get_wsd_schedule", json.dumps({"num_warmup_steps": 10, "num_decay_steps": 20,
                                     "num_training_steps": 20, "warmup_type": "1-sqrt",
                                     "decay_type": "linear"}, sort_keys=True)):
        r"get_wsd_schedule: needs num_training_steps >= num_warmup_steps \+ num_decay_steps, "
        r"got 20 < 10 \+ 20 \(HF would start the decay midway\)\.",
}


def key(case):
    return case["scheduler"], json.dumps(case["kwargs"], sort_keys=True)


def build(case):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # both num_training_steps and num_stable_steps: HF warns
        return getattr(hf, case["scheduler"])(case["lr"], **case["kwargs"])


def assert_close(got, expected, peak, what=""):
    atol = 0.1 * RTOL * peak
    np.testing.assert_allclose(np.asarray(got, np.float64), np.asarray(expected, np.float64),
                               rtol=RTOL, atol=atol, err_msg=what)


@pytest.mark.parametrize("case", CASES, ids=[f"{c['scheduler']}-{i}" for i, c in enumerate(CASES)])
def test_values_match_transformers(case):
    if key(case) in REJECTED:
        with pytest.raises(ValueError, match=REJECTED[key(case)]):
            build(case)
        return
    s = build(case)
    expected = np.asarray(case["lr_values"])
    got = s(jnp.arange(expected.size))  # one compiled call per case
    assert_close(got, expected, np.max(np.abs(expected)), what=str(case["kwargs"]))


@pytest.mark.parametrize("err", DATA["errors"], ids=[e["scheduler"] for e in DATA["errors"]])
def test_recorded_errors_raise_at_construction(err):
    # transformers raises the polynomial one (num_training_steps == num_warmup_steps) only at
    # that step, with ZeroDivisionError; jaxsched raises every one when the schedule is built.
    with pytest.raises((ValueError, TypeError)):
        getattr(hf, err["scheduler"])(err["lr"], **err["kwargs"])


# --------------------------------------------------------------------- behaviour past the end
def test_cosine_rises_again_past_the_end_as_in_transformers():
    s = hf.get_cosine_schedule_with_warmup(0.1, num_warmup_steps=10, num_training_steps=110)
    t = np.asarray([110, 160, 210, 10_000_010])
    expected = 0.1 * 0.5 * (1 + np.cos(np.pi * (t - 10) / 100))
    assert_close(s(jnp.asarray(t)), expected, 0.1)


def test_hard_restarts_are_exact_at_every_restart_and_zero_after():
    s = hf.get_cosine_with_hard_restarts_schedule_with_warmup(0.1, 10, 100, num_cycles=3)
    t = np.arange(10, 130)
    frac = ((t - 10) * 3 % 90) / 90
    expected = np.where(t - 10 >= 90, 0.0, 0.05 * (1 + np.cos(np.pi * frac)))
    assert_close(s(jnp.asarray(t)), expected, 0.1)
    assert float(s(40)) == pytest.approx(0.1)  # a restart: 3 * 30 / 90 is exactly 1


def test_linear_with_warmup_longer_than_training_keeps_warming_then_drops():
    s = hf.get_linear_schedule_with_warmup(0.1, num_warmup_steps=20, num_training_steps=10)
    assert_close(s(jnp.asarray([10, 19, 20, 30])), [0.05, 0.095, 0.0, 0.0], 0.1)


def test_wsd_with_both_lengths_warns_and_uses_stable_steps():
    with pytest.warns(UserWarning, match="num_stable_steps is used") as caught:
        s = hf.get_wsd_schedule(0.1, 10, 20, num_training_steps=100, num_stable_steps=30)
    assert caught[0].filename == __file__  # the caller's line, not jaxsched's
    assert float(s(59)) < 0.1 and float(s(60)) == pytest.approx(0.0, abs=1e-9)


def test_cosine_schedules_stay_precise_near_zero_in_float32():
    # 1 + cos(x) near x = pi loses digits in float32; the phase is reduced in integers.
    s = hf.get_cosine_schedule_with_warmup(1.0, 0, 1000, num_cycles=2.0)
    t = np.asarray([249, 250, 251, 749, 750])
    expected = 0.5 * (1 + np.cos(4 * np.pi * t / 1000))
    np.testing.assert_allclose(np.asarray(s(jnp.asarray(t)), np.float64), expected,
                               rtol=1e-5, atol=1e-12)


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "uint32", "int32", "float32"])
def test_cosines_give_the_same_values_for_unsigned_steps(dtype):
    # HF's phase m = k % period * n % period enters sin(pi (period - 2 m) / (2 period)):
    # with an unsigned step, period - 2 m wrapped (0.00663 instead of 3.05e-5 at step 45).
    s = hf.get_cosine_schedule_with_warmup(1.0, 10, 100, num_cycles=1.3)
    h = hf.get_cosine_with_hard_restarts_schedule_with_warmup(1.0, 10, 100, num_cycles=3)
    t = np.arange(0, 121)
    p = np.maximum(t - 10, 0) / 90
    want = np.where(t < 10, t / 10, np.maximum(0, 0.5 * (1 + np.cos(np.pi * 1.3 * 2 * p))))
    want_h = np.where(t < 10, t / 10, np.where(
        t >= 100, 0.0, 0.5 * (1 + np.cos(np.pi * ((3 * p) % 1)))))
    steps = jnp.asarray(t, dtype)
    np.testing.assert_allclose(np.asarray(s(steps), np.float64), want, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(np.asarray(h(steps), np.float64), want_h, rtol=1e-5, atol=1e-9)
    assert float(s(jnp.asarray(45, dtype))) == pytest.approx(3.0459e-4, rel=1e-3)


# --------------------------------------------------------------------- validation
ERRORS = [
    (lambda: hf.get_linear_schedule_with_warmup(0.1, 10, 0), ValueError,
     r"get_linear_schedule_with_warmup: `num_training_steps` must be a positive int, got 0\."),
    (lambda: hf.get_cosine_schedule_with_warmup(0.1, -1, 100), ValueError,
     r"get_cosine_schedule_with_warmup: `num_warmup_steps` must be an int >= 0, got -1\."),
    (lambda: hf.get_cosine_schedule_with_warmup(0.1, 10, 100.0), TypeError,
     r"`num_training_steps` must be a positive int, got the float 100.0"),
    (lambda: hf.get_cosine_with_min_lr_schedule_with_warmup(0.1, 10, 100, min_lr=0.2), ValueError,
     r"needs 0 <= min_lr <= lr \(HF uses min_lr / lr\), got lr=0.1, min_lr=0.2\."),
    (lambda: hf.get_cosine_with_min_lr_schedule_with_warmup(0.1, 10, 100, min_lr_rate=1.5),
     ValueError, r"`min_lr_rate` must be in \[0, 1\], got 1.5\."),
    (lambda: hf.get_polynomial_decay_schedule_with_warmup(0.1, 10, 100, power=0.0), ValueError,
     r"`power` must be > 0, got 0.0\."),
    (lambda: hf.get_inverse_sqrt_schedule(0.1, 10, timescale=0), ValueError,
     r"get_inverse_sqrt_schedule: `timescale` must be a positive int, got 0\."),
    (lambda: hf.get_wsd_schedule(0.1, 10, 20, 60, min_lr_ratio=1.5), ValueError,
     r"get_wsd_schedule: `min_lr_ratio` must be in \[0, 1\], got 1.5\."),
]


@pytest.mark.parametrize("make, exc, message", ERRORS, ids=[m for _, _, m in ERRORS])
def test_validation_messages(make, exc, message):
    with pytest.raises(exc, match=message):
        make()


# --------------------------------------------------------------------- calling conventions
REPRS = [
    (hf.get_constant_schedule(0.1), "get_constant_schedule(lr=0.1)"),
    (hf.get_linear_schedule_with_warmup(3e-4, 500, 10_000),
     "get_linear_schedule_with_warmup(lr=0.0003, num_warmup_steps=500, num_training_steps=10000)"),
    (hf.get_cosine_schedule_with_warmup(0.1, 10, 100, num_cycles=2.0),
     "get_cosine_schedule_with_warmup(lr=0.1, num_warmup_steps=10, num_training_steps=100, num_cycles=2.0)"),
    (hf.get_cosine_with_min_lr_schedule_with_warmup(0.1, 10, 100, min_lr=1e-3),
     "get_cosine_with_min_lr_schedule_with_warmup(lr=0.1, num_warmup_steps=10, num_training_steps=100, min_lr=0.001)"),
    (hf.get_inverse_sqrt_schedule(0.1, 100), "get_inverse_sqrt_schedule(lr=0.1, num_warmup_steps=100)"),
    (hf.get_wsd_schedule(0.1, 10, 20, num_training_steps=100, decay_type="1-sqrt"),
     "get_wsd_schedule(lr=0.1, num_warmup_steps=10, num_decay_steps=20, num_training_steps=100, decay_type='1-sqrt')"),
]


@pytest.mark.parametrize("s, text", REPRS, ids=[t for _, t in REPRS])
@pytest.mark.no_x64_rerun("repr, parse, config and pickle only")
def test_repr_reads_like_the_transformers_call_and_config_round_trip(s, text):
    assert repr(s) == text
    assert js.parse(text) == s
    assert js.from_config(s.to_config()) == s
    assert pickle.loads(pickle.dumps(s)) == s


def test_inject_hyperparams_adamw_in_a_jitted_step():
    lr = hf.get_cosine_schedule_with_warmup(1e-3, num_warmup_steps=5, num_training_steps=20)
    tx = optax.inject_hyperparams(optax.adamw)(learning_rate=lr, weight_decay=0.01)
    params = jnp.ones(3)
    state = tx.init(params)

    @jax.jit
    def step(params, state):
        updates, state = tx.update(params, state, params)
        return optax.apply_updates(params, updates), state

    for _ in range(8):
        params, state = step(params, state)
    assert float(state.hyperparams["learning_rate"]) == pytest.approx(float(lr(7)), rel=1e-6)


def test_vmap_over_a_sweep_of_peaks():
    peaks = jnp.asarray([1e-3, 3e-3])
    out = jax.vmap(lambda p: hf.get_wsd_schedule(p, 10, 20, 60, warmup_type="cosine")(25))(peaks)
    np.testing.assert_allclose(np.asarray(out), np.asarray(peaks), rtol=1e-6)


@pytest.mark.parametrize("step", [2**24 + 1, 2**31 - 1])
def test_huge_steps(step):
    s = hf.get_inverse_sqrt_schedule(0.1, 100)
    assert_close(s(jnp.int32(step)), 0.1 / math.sqrt(step / 100), 0.1)
    assert float(hf.get_wsd_schedule(0.1, 10, 20, 60, min_lr_ratio=0.1)(jnp.int32(step))) == \
        pytest.approx(0.01, rel=1e-6)


def test_get_scheduler_dispatches_by_transformers_names():
    lr, w, n = 0.1, 10, 110
    cases = {
        "linear": hf.get_linear_schedule_with_warmup(lr, w, n),
        "cosine": hf.get_cosine_schedule_with_warmup(lr, w, n),
        "cosine_with_restarts": hf.get_cosine_with_hard_restarts_schedule_with_warmup(lr, w, n),
        "polynomial": hf.get_polynomial_decay_schedule_with_warmup(lr, w, n),
        "constant": hf.get_constant_schedule(lr),
        "constant_with_warmup": hf.get_constant_schedule_with_warmup(lr, w),
        "inverse_sqrt": hf.get_inverse_sqrt_schedule(lr, w),
    }
    for name, expected in cases.items():
        assert hf.get_scheduler(name, lr, num_warmup_steps=w, num_training_steps=n) == expected
    assert hf.get_scheduler("cosine_with_min_lr", lr, w, n, {"min_lr": 0.01}) == \
        hf.get_cosine_with_min_lr_schedule_with_warmup(lr, w, n, min_lr=0.01)
    assert hf.get_scheduler("cosine_warmup_with_min_lr", lr, w, n, {"min_lr_rate": 0.1}) == \
        hf.get_cosine_with_min_lr_schedule_with_warmup_lr_rate(lr, w, n, min_lr_rate=0.1)
    assert hf.get_scheduler("warmup_stable_decay", lr, w, n, {"num_decay_steps": 20}) == \
        hf.get_wsd_schedule(lr, w, 20, num_training_steps=n)
    p = hf.get_scheduler("reduce_lr_on_plateau", lr, scheduler_specific_kwargs={"patience": 3})
    assert p == js.pytorch.ReduceLROnPlateau(lr, patience=3)
    with pytest.raises(ValueError, match=r"get_scheduler: 'cosine' requires `num_warmup_steps`"):
        hf.get_scheduler("cosine", lr)
    with pytest.raises(ValueError, match=r"get_scheduler: 'linear' requires `num_training_steps`"):
        hf.get_scheduler("linear", lr, num_warmup_steps=w)
    with pytest.raises(ValueError, match=r"get_scheduler: `name` must be one of .*got 'greedy' "
                                         r"\('greedy' adapts to the loss"):
        hf.get_scheduler("greedy", lr)


def test_get_scheduler_accepts_every_transformers_name():
    transformers = pytest.importorskip("transformers")
    from transformers.optimization import TYPE_TO_SCHEDULER_FUNCTION

    names = {t.value for t in transformers.SchedulerType} - {"greedy"}
    for name in names:
        s = hf.get_scheduler(name, 0.1, num_warmup_steps=10, num_training_steps=110,
                             scheduler_specific_kwargs={"num_decay_steps": 20}
                             if name == "warmup_stable_decay" else
                             {"min_lr_rate": 0.1} if "min_lr" in name else None)
        if name == "reduce_lr_on_plateau":
            assert isinstance(s, js.pytorch.ReduceLROnPlateau)
        else:  # transformers' name maps to the schedule transformers itself picks
            theirs = TYPE_TO_SCHEDULER_FUNCTION[transformers.SchedulerType(name)].__name__
            assert type(s).__name__ == theirs, name
            assert 0.0 < float(s(50)) <= 0.1 * (1 + 1e-6), name


def test_wsd_with_phases_beyond_int32_evaluates():
    # A warmup of 2**33 steps: int32 steps never leave it (no OverflowError on every call).
    s = hf.get_wsd_schedule(0.1, num_warmup_steps=2**33, num_decay_steps=10,
                            num_training_steps=2**33 + 100)
    np.testing.assert_allclose(np.asarray(s(jnp.asarray([0, 5, 2**31 - 1], jnp.int32))),
                               0.1 * np.asarray([0, 5, 2**31 - 1]) / 2**33, rtol=1e-6)
