"""Re-planning a run from a checkpoint: extend, cooldown, restart.

Every re-planned schedule must equal the old one bit for bit before the resume
step, be continuous at it (float32 precision) and follow the documented rule
after it; the expected values are hand-computed in float64 NumPy, except where a
re-plan is documented to equal a recipe (a cooldown from a stable phase is a ``wsd``,
an extension during the warmup is the recipe with the new length): those compare
with that recipe. Eager, jit,
vmap, int32/float steps, pickling and config round trips of representative
instances run in ``test_catalogue.py`` (entries ``extend_*``, ``cooldown_*``,
``restart*``).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from catalogue import ENTRIES

import jaxsched as js

X64 = bool(jax.config.jax_enable_x64)
RTOL = 1e-12 if X64 else 2e-6
F32 = 1e-12 if X64 else 1.2e-7  # continuity: within a float32 rounding of the LR reached


def close(got, want, rtol=RTOL):
    np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=rtol, atol=1e-30)


def wc(t, peak=3e-4, w=100, total=10_000, end=3e-6):
    """warmup_cosine(peak, w, total, end=end) in float64."""
    t = np.asarray(t, np.float64)
    p = np.clip(t - w, 0, total - w) / (total - w)
    return np.where(t < w, peak * t / w, end + (peak - end) * 0.5 * (1 + np.cos(np.pi * p)))


OLD = js.warmup_cosine(3e-4, warmup_steps=100, total_steps=10_000, end=3e-6)
AT = 5_000
LR0 = wc(AT)  # 1.5385606e-4, hand-computed: 3e-6 + 2.97e-4 * (1 + cos(pi * 4900 / 9900)) / 2


# ----------------------------------------------------------------- identical before `at`
def _comparable(entry):
    return not isinstance(entry.schedule, js.wrap)


@pytest.mark.parametrize("entry", [e for e in ENTRIES if _comparable(e)], ids=lambda e: e.id)
def test_identical_before_at_for_every_schedule(entry):
    old = entry.schedule
    t = jnp.arange(0, 400, dtype=jnp.int32)
    # Under jit, as in a train step (schedules closed over): bit for bit. Eager calls pass
    # float hyperparameters as arguments (one program per structure), where XLA may fuse
    # two different programs to within an ulp of each other.
    want = np.asarray(jax.jit(old)(t))
    for new in (js.cooldown(old, 173, 50, shape="cosine"),
                js.restart(old, 173, js.constant(0.01), warmup_steps=5)):
        got = np.asarray(jax.jit(new)(t))
        np.testing.assert_array_equal(got[:173], want[:173], err_msg=repr(new))
        if isinstance(new, js.cooldown):  # continuous at `at`, to a float32 rounding
            close(got[173], want[173], rtol=F32 * 4)


@pytest.mark.parametrize("mode", ["eager", "jit", "vmap", "float"])
def test_identical_before_at_in_every_mode(mode):
    news = [js.extend(OLD, AT, 20_000), js.extend(OLD, 50, 20_000), js.cooldown(OLD, AT, 700),
            js.restart(OLD, AT, js.cosine(1e-4, 0.0, 100))]
    for new in news:
        t = np.arange(max(0, new.at - 300), new.at + 3)  # up to and past each one's `at`
        run = {"eager": lambda s, t=t: s(jnp.asarray(t, jnp.int32)),
               "jit": lambda s, t=t: jax.jit(s)(jnp.asarray(t, jnp.int32)),
               "vmap": lambda s, t=t: jax.jit(jax.vmap(s))(jnp.asarray(t, jnp.int32)),
               "float": lambda s, t=t: jax.jit(s)(jnp.asarray(t, float))}[mode]
        got, want = np.asarray(run(new)), np.asarray(run(OLD))
        n = new.at - t[0]
        assert n > 0
        np.testing.assert_array_equal(got[:n], want[:n], err_msg=repr(new))


# ----------------------------------------------------------------- cooldown
@pytest.mark.parametrize("shape, f", [
    ("linear", lambda p: 1 - p),
    ("cosine", lambda p: 0.5 * (1 + np.cos(np.pi * p))),
    ("1-sqrt", lambda p: 1 - np.sqrt(p)),
])
def test_cooldown_shapes(shape, f):
    s = js.cooldown(OLD, at=AT, steps=1000, end=1e-5, shape=shape)
    t = np.asarray([0, 99, 100, AT - 1, AT, AT + 1, AT + 250, AT + 640, AT + 999, AT + 1000,
                    AT + 5000, 2**31 - 1])
    p = np.clip(t - AT, 0, 1000) / 1000
    want = np.where(t < AT, wc(t), 1e-5 + (LR0 - 1e-5) * f(p))
    for steps in (jnp.asarray(t, jnp.int32), jnp.asarray(t, float)):
        close(jax.jit(s)(steps)[:-1], want[:-1])
    close(s(jnp.asarray(t, jnp.int32))[-1], 1e-5)  # huge int32 steps hold the end
    assert abs(float(s(AT)) - LR0) <= F32 * LR0 * 2  # continuous at `at`
    assert s(AT - 1) == OLD(AT - 1)


def test_cooldown_from_a_stable_phase_is_wsd():
    """Branching a decay from a WSD run's stable phase gives the WSD schedule of that length."""
    stable = js.warmup_constant(1e-3, warmup_steps=100)
    for at, steps, shape in ((1000, 200, "1-sqrt"), (2500, 500, "cosine"), (100, 50, "linear")):
        got = js.cooldown(stable, at, steps, end=1e-5, shape=shape)
        want = js.wsd(1e-3, at + steps, 100, steps, end=1e-5, shape=shape)
        t = jnp.arange(at + steps + 10)
        # lr(at) - end is rounded in float32 here and in float64 by wsd: equal to the peak's ulps
        np.testing.assert_allclose(np.asarray(got(t), np.float64), np.asarray(want(t), np.float64),
                                   rtol=4 * F32, atol=4 * F32 * 1e-3)


def test_cooldown_vmap_over_peak():
    """Traced hyperparameters flow through: a sweep of peaks re-planned in one vmap."""
    def lr(peak):
        return js.cooldown(js.warmup_cosine(peak, 100, 10_000, end=3e-6), AT, 1000)(AT + 500)
    peaks = np.asarray([1e-4, 3e-4, 1e-3])
    got = jax.vmap(lr)(jnp.asarray(peaks))
    want = [0.5 * wc(AT, peak=p) for p in peaks]  # halfway down a linear decay to 0
    close(got, want)


# ----------------------------------------------------------------- extend
def test_extend_the_issue_example():
    """Resuming a 10k-step warmup_cosine at step 5000 with a 20k horizon: a fresh cosine
    over 20k steps would jump; the re-planned schedule continues from lr(5000)."""
    fresh = js.warmup_cosine(3e-4, 100, 20_000, end=3e-6)
    assert float(fresh(AT)) / LR0 > 1.4  # the jump the issue reports
    s = js.extend(OLD, at=AT, total_steps=20_000)
    t = np.asarray([AT - 1, AT, AT + 1, 7_500, 12_500, 19_999, 20_000, 30_000])
    p = np.clip(t - AT, 0, 15_000) / 15_000
    want = np.where(t < AT, wc(t), 3e-6 + (LR0 - 3e-6) * 0.5 * (1 + np.cos(np.pi * p)))
    close(s(jnp.asarray(t)), want)
    close(s(jnp.asarray(t, float)), want)
    assert abs(float(s(AT)) - LR0) <= 2 * F32 * LR0


def test_extend_shortens_too():
    s = js.extend(OLD, at=AT, total_steps=6_000)
    t = np.asarray([AT, AT + 500, 6_000, 8_000])
    p = np.clip(t - AT, 0, 1_000) / 1_000
    close(s(jnp.asarray(t)), 3e-6 + (LR0 - 3e-6) * 0.5 * (1 + np.cos(np.pi * p)))


@pytest.mark.parametrize("make, kwargs, want", [
    (js.warmup_cosine, {"end": 1e-5}, lambda w, total: js.warmup_cosine(1e-3, w, total, end=1e-5)),
    (js.warmup_linear, {}, lambda w, total: js.warmup_linear(1e-3, w, total)),
    (js.warmup_polynomial, {"power": 2.0, "end": 0.0},
     lambda w, total: js.warmup_polynomial(1e-3, w, total, power=2.0, end=0.0)),
])
def test_extend_during_warmup_is_the_recipe_with_the_new_length(make, kwargs, want):
    old = make(1e-3, 200, 1_000, **kwargs)
    for total in (3_000, 500):
        got, expected = js.extend(old, at=150, total_steps=total), want(200, total)
        t = jnp.arange(total + 20)
        np.testing.assert_array_equal(np.asarray(got(t))[:150], np.asarray(old(t))[:150])
        close(got(t), np.asarray(expected(t), np.float64))


def test_extend_wsd_lengthens_the_stable_phase():
    old = js.wsd(1e-3, 1000, 100, 100, end=1e-5, shape="1-sqrt")
    for at, total in ((50, 3_000), (500, 3_000), (500, 700), (100, 200)):
        got = js.extend(old, at, total)
        expected = js.wsd(1e-3, total, 100, 100, end=1e-5, shape="1-sqrt")
        t = jnp.arange(total + 10)
        np.testing.assert_array_equal(np.asarray(got(t)), np.asarray(expected(t)))


def test_extend_a_cooldown_from_its_hold_moves_the_cooldown():
    branched = js.cooldown(js.warmup_constant(1.0, 10), at=100, steps=20, shape="cosine")
    got = js.extend(branched, at=50, total_steps=300)
    want = js.wsd(1.0, 300, 10, 20, shape="cosine")
    t = jnp.arange(320)
    close(got(t), np.asarray(want(t), np.float64))


def test_extend_wsd_inside_its_decay_restarts_the_decay_from_the_lr_reached():
    old = js.wsd(1.0, 100, 10, 10, shape="linear")
    s = js.extend(old, at=95, total_steps=200)  # lr(95) = 0.5, then linear to 0 over 105
    close(s(jnp.asarray([94, 95, 150, 200])), [0.6, 0.5, 0.5 * (1 - 55 / 105), 0.0])


def test_extend_nested_join_and_repeat_of_recipe():
    """The final decay is found through joins, warmups and recipes."""
    old = js.join([js.constant(0.1), js.warmup(js.cosine(1.0, 0.0, 100), steps=20)], [50])
    s = js.extend(old, at=120, total_steps=370)  # cosine began at 70: inside it at 120
    lr0 = 0.5 * (1 + math.cos(math.pi * 50 / 100))
    t = np.asarray([119, 120, 245, 370])
    close(s(jnp.asarray(t)), [0.5 * (1 + math.cos(math.pi * 49 / 100)), lr0,
                              lr0 * 0.5 * (1 + math.cos(math.pi * 125 / 250)), 0.0])
    again = js.extend(s, at=200, total_steps=500)  # re-plan a re-planned run
    lr1 = float(s(200))
    close(again(jnp.asarray([200, 350])), [lr1, lr1 * 0.5 * (1 + math.cos(math.pi * 150 / 300))])


# ----------------------------------------------------------------- restart
def test_restart_counts_the_new_schedule_from_at():
    new = js.warmup_cosine(1e-4, 10, 1_000)
    s = js.restart(OLD, AT, new)
    t = np.asarray([AT - 1, AT, AT + 5, AT + 10, AT + 505, AT + 1_000])
    close(s(jnp.asarray(t)), [wc(AT - 1), 0.0, 0.5e-4, 1e-4, 0.5e-4, 0.0])


def test_restart_with_a_ramp_is_continuous():
    s = js.restart(OLD, AT, js.cosine(1e-4, 0.0, 1_000), warmup_steps=100)
    t = np.asarray([AT - 1, AT, AT + 50, AT + 100, AT + 600])
    close(s(jnp.asarray(t)), [wc(AT - 1), LR0, LR0 + (1e-4 - LR0) / 2, 1e-4, 0.5e-4])


# ----------------------------------------------------------------- values
def test_reprs_read_back():
    cases = {
        js.extend(OLD, AT, 20_000): "extend(schedule=warmup_cosine(peak=0.0003, warmup_steps=100, "
                                    "total_steps=10000, end=3e-06), at=5000, total_steps=20000)",
        js.cooldown(OLD, AT, 500, shape="1-sqrt"): "cooldown(schedule=warmup_cosine(peak=0.0003, "
                                                   "warmup_steps=100, total_steps=10000, end=3e-06), "
                                                   "at=5000, steps=500, shape='1-sqrt')",
        js.restart(OLD, AT, js.constant(1e-5), warmup_steps=10):
            "restart(schedule=warmup_cosine(peak=0.0003, warmup_steps=100, total_steps=10000, "
            "end=3e-06), at=5000, new=constant(value=1e-05), warmup_steps=10)",
    }
    for s, text in cases.items():
        assert repr(s) == text
        assert js.parse(text) == s and js.from_config(s.to_config()) == s
    nested = js.restart(js.cooldown(js.extend(OLD, AT, 20_000), 15_000, 500, end=1e-6), 15_200,
                        js.repeat(js.linear(1e-5, 0.0, 10), 10), warmup_steps=3)
    assert js.parse(repr(nested)) == nested


def test_describe_horizon_of_replans():
    assert js.describe(js.extend(OLD, AT, 20_000), 20_000).horizon == 20_000
    assert js.describe(js.cooldown(OLD, AT, 700), 6_000).horizon == AT + 700
    d = js.describe(js.restart(OLD, AT, js.warmup_cosine(1e-4, 10, 1_000), warmup_steps=5), 6_005)
    assert d.horizon == AT + 5 + 1_000 and d.warnings == ()


# ----------------------------------------------------------------- bad arguments
C = js.constant(1.0)
BAD = [
    (lambda: js.cooldown(OLD, -1, 10), ValueError, r"cooldown: `at` must be an int >= 0, got -1\."),
    (lambda: js.cooldown(OLD, 10.0, 10), TypeError,
     r"cooldown: `at` must be an int >= 0, got the float 10\.0; step counts are static Python ints"),
    (lambda: js.cooldown(OLD, 10, 0), ValueError, r"cooldown: `steps` must be a positive int, got 0\."),
    (lambda: js.cooldown(OLD, 10, 10, end=-1.0), ValueError,
     r"cooldown: `end` must be a finite number >= 0, got -1\.0\."),
    (lambda: js.cooldown(OLD, 10, 10, shape="exp"), ValueError,
     r"cooldown: `shape` must be one of 'linear', 'cosine', '1-sqrt', got 'exp'\."),
    (lambda: js.cooldown("cosine(1, 0, 10)", 10, 10), TypeError,
     r"cooldown: `schedule` must be a schedule, a jnp-traceable function of the step or a number"),
    (lambda: js.cooldown(js.plateau(OLD), 10, 10), TypeError,
     r"cooldown: `schedule` is a stateful schedule \(a plateau\).*re-plan its base instead"),
    (lambda: js.extend(OLD, 100, 100), ValueError,
     r"extend: needs at < total_steps, got at=100, total_steps=100\."),
    (lambda: js.extend(OLD, 100, 0), ValueError, r"extend: `total_steps` must be a positive int, got 0\."),
    (lambda: js.extend(js.warmup_constant(1.0, 10), 100, 1000), ValueError,
     r"extend: `schedule` must end in a decay \(linear, cosine, polynomial or 1-sqrt.*it ends in "
     r"constant\(value=1\.0\)\. To decay from step 100 instead, use js\.cooldown\(schedule, at=100"),
    (lambda: js.extend(js.exponential(1.0, 0.9), 10, 1000), ValueError, r"extend: `schedule` must end in a decay"),
    (lambda: js.extend(OLD, 10_000, 20_000), ValueError,
     r"extend: at=10000 is at or after the end of the schedule's final decay \(step 10000\): nothing "
     r"is left to extend; to decay further from there use js\.cooldown\(schedule, at=10000"),
    (lambda: js.extend(js.wsd(1.0, 100, 10, 10), 50, 55), ValueError,
     r"extend: total_steps=55 leaves 5 steps after step 50, fewer than the 10 steps of the decay "
     r"that follows the hold; to decay now use js\.cooldown\(schedule, at=50, steps=5, \.\.\.\)\."),
    (lambda: js.extend(js.warmup_cosine(1.0, 100, 1000), 50, 90), ValueError,
     r"extend: total_steps=90 ends before the schedule's final decay begins \(step 100\); needs "
     r"total_steps > 100\."),
    (lambda: js.restart(OLD, 10, js.plateau(C)), TypeError, r"restart: `new` is a stateful schedule"),
    (lambda: js.restart(OLD, 10, C, warmup_steps=-1), ValueError,
     r"restart: `warmup_steps` must be an int >= 0, got -1\."),
    (lambda: js.restart(OLD, 10), TypeError, r"new"),
]


@pytest.mark.parametrize("make, error, match", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


# ----------------------------------------------------------------- describe and the CLI
def test_describe_compare_a_replan():
    d = js.describe(js.extend(OLD, AT, 20_000), 20_000, compare=OLD, count=AT)
    c = d.comparison
    assert c.resume_step == AT and c.schedule == repr(OLD)
    close([c.old_lr, c.new_lr], [LR0, LR0], rtol=4 * F32)
    assert c.first_difference in (AT, AT + 1)  # lr(at) itself may differ in its last bit
    close(c.old_final, 3e-6, rtol=4 * F32)
    assert d.warnings == ()
    text = str(d)
    assert f"compared with: {OLD!r}\n  resumes at step 5000: lr 0.0001539 -> 0.0001539\n" in text


def test_describe_warns_on_a_fresh_longer_schedule():
    """The mistake the issue reports: resuming with a longer cosine instead of a re-plan."""
    longer = js.warmup_cosine(3e-4, 100, 20_000, end=3e-6)
    d = js.describe(longer, 20_000, compare=OLD, count=AT)
    want = wc(AT, total=20_000)  # 2.577e-4, hand-computed as wc() with the new horizon
    close([d.comparison.old_lr, d.comparison.new_lr], [LR0, want], rtol=4 * F32)
    # The cosines part right after the warmup: at step 101 by 2e-8, below float32's
    # resolution, so in float32 the first step whose values differ is one or two later.
    a, b = (np.asarray(jax.jit(jax.vmap(s))(jnp.arange(200))) for s in (OLD, longer))
    first = int(np.argmax(a != b))
    assert first == 101 if X64 else 101 < first <= 103
    assert d.comparison.first_difference == first
    assert d.warnings == (
        f"the schedule differs from the old one at step {first}, before the run resumes at step 5000: "
        "build it from the old one with js.extend, js.cooldown or js.restart(old, at=5000, ...)",
        "the LR jumps at the resume step 5000: from 0.0001539 (old) to 0.0002577; js.extend and "
        "js.cooldown continue from the LR reached")


def test_describe_warns_when_the_count_is_not_the_resume_step():
    s = js.cooldown(OLD, AT, 1_000)
    d = js.describe(s, 6_000, count=jnp.asarray(4_800, jnp.int32))  # opt_state.count works
    assert d.comparison is None
    assert d.warnings == (
        "the schedule resumes at step 5000 but the checkpoint's step count is 4800: the restored "
        "optimizer applies it from step 4800 (lr 0.0001633), so steps 4800..4999 follow the wrong "
        "course; re-plan with at=4800",)
    assert abs(wc(4_800) - 1.633e-4) < 5e-8  # the value quoted, by hand
    assert js.describe(s, 6_000, count=AT).warnings == ()
    # Wrapped (clipped, scaled), a re-plan still knows where it resumes.
    for wrapped in (js.clip(s, min=1e-6), 2.0 * s, s * js.constant(1.0)):
        warned = js.describe(wrapped, 6_000, count=4_800).warnings
        assert any("resumes at step 5000 but the checkpoint's step count is 4800" in w
                   for w in warned), wrapped
    with pytest.raises(ValueError, match=r"describe: `count` must be an int >= 0, got -1\."):
        js.describe(s, 6_000, count=-1)
    with pytest.raises(TypeError, match=r"describe: `count` must be an int step count"):
        js.describe(s, 6_000, count=4800.0)


def test_describe_restart_reports_its_jump():
    s = js.restart(OLD, AT, js.constant(1e-5))
    d = js.describe(s, 6_000, compare=OLD)
    assert d.comparison.resume_step == AT and d.comparison.first_difference == AT
    assert d.warnings[-1].startswith("the LR jumps at the resume step 5000: from 0.0001539 (old) "
                                     "to 1e-05")


def test_cli_describe_compare_and_count(capsys):
    from jaxsched.__main__ import main

    new = "cooldown(warmup_cosine(3e-4, 100, 10000, end=3e-6), at=5000, steps=500)"
    assert main(["describe", new, "-n", "5500", "--compare",
                 "warmup_cosine(3e-4, 100, 10000, end=3e-6)", "--count", "5000"]) == 0
    out = capsys.readouterr().out
    assert "compared with: warmup_cosine(peak=0.0003, warmup_steps=100, total_steps=10000, " \
           "end=3e-06)\n  resumes at step 5000: lr 0.0001539 -> 0.0001539" in out
    assert out.rstrip().endswith("warnings: none")
    assert main(["describe", new, "-n", "5500", "--count", "0"]) == 0
    assert "checkpoint's step count is 0" in capsys.readouterr().out
    assert main(["describe", new, "-n", "5500", "--compare", "cosine(1, 0, 0)"]) == 2
    assert "cosine: `steps` must be a positive int, got 0" in capsys.readouterr().err


def test_grad_through_a_replan_with_respect_to_the_peak():
    """The LR reached is read in the same program, so gradients flow through it."""
    def lr(peak):
        return js.cooldown(js.warmup_cosine(peak, 10, 110), at=60, steps=100)(85)
    close(jax.grad(lr)(2.0), 0.5 * 0.75)  # lr = peak * cos-half(0.5) * (1 - 25/100)


def test_nested_replans_do_not_double_the_program_per_level():
    # The LR reached at a switch is read from one side of each inner switch: the program grows
    # by a bounded amount per level (it doubled per level before: 14,074 jaxpr lines at 8).
    s, sizes = js.warmup_cosine(1.0, 10, 10_000), []
    for k in range(8):
        s = js.cooldown(s, at=100 + 10 * k, steps=5_000)
        sizes.append(len(str(jax.make_jaxpr(s)(jnp.int32(5))).splitlines()))
    assert sizes[-1] < 2_000, sizes
    growth = np.diff(sizes)
    assert growth[-1] < 3 * growth[0], sizes


def test_replan_past_int32_is_continuous_at_the_switch():
    # `at` between 2**31 and 2**32 is seen as uint32, exactly as schedule(at) sees it.
    at = 2**31 + 12_345
    base = js.linear(1.0, 0.0, at + 100)
    assert float(js.cooldown(base, at, 50)(at)) == float(base(at))
