"""Every step dtype, every step value: right or refused, never wrong.

Integer steps of any dtype give the int32 values; float32 steps past 2**24 stay
in the schedule's range and agree between eager, ``jit`` and ``vmap``; integer
constants beyond int32 work with uint32 steps; steps beyond what an integer
dtype holds are passed exactly or refused, never wrapped; the eager path
compiles once per schedule structure, not per value.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from catalogue import ENTRIES, steps_for

import jaxsched as js
from jaxsched import hf
from jaxsched import pytorch as pt

X64 = bool(jax.config.jax_enable_x64)
FLOAT = np.float64 if X64 else np.float32
REF = Path(__file__).parent / "reference"


def _recorded(name: str, module) -> list[tuple[str, js.Schedule]]:
    from test_pytorch import build as build_pt

    out, seen = [], {}
    for i, case in enumerate(json.loads((REF / name).read_text())["cases"]):
        # Every HF case (their cosines reduce the phase in integer arithmetic), and a few
        # of each PyTorch scheduler (they build on the core): one compile each.
        seen[case["scheduler"]] = seen.get(case["scheduler"], 0) + 1
        if case["scheduler"] == "ReduceLROnPlateau" or (module is pt and seen[case["scheduler"]] > 3):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if module is hf:
                    s = getattr(hf, case["scheduler"])(case["lr"], **case["kwargs"])
                else:
                    s = build_pt(case["scheduler"], case["lr"], case["kwargs"])
        except (ValueError, TypeError):  # configurations jaxsched refuses (tested elsewhere)
            continue
        out.append((f"{module.__name__.split('.')[-1]}-{case['scheduler']}-{i}", s))
    return out


SCHEDULES = ([(e.id, e.schedule) for e in ENTRIES] + _recorded("hf_schedulers.json", hf)
             + _recorded("torch_schedulers.json", pt))
IDS = [i for i, _ in SCHEDULES]

INT_STEPS = np.unique(np.concatenate([np.arange(0, 600), steps_for(ENTRIES[0]),
                                      [1_000, 4_999, 5_000, 12_345, 65_535, 100_003]]))
DTYPES = {"uint8": 255, "uint16": 65_535, "uint32": None, "int64": None, "float32": None}


@pytest.mark.parametrize("name, s", SCHEDULES, ids=IDS)
def test_every_step_dtype_gives_the_int32_values(name, s):
    # One program per schedule evaluates every dtype (cheap: no compile per dtype).
    steps = {d: INT_STEPS[INT_STEPS <= top] if top else INT_STEPS for d, top in DTYPES.items()}
    args = {"int32": jnp.asarray(INT_STEPS, jnp.int32)}
    args.update({d: jnp.asarray(t, d) for d, t in steps.items() if d != "int64" or X64})
    got = jax.jit(lambda a: {d: s(t) for d, t in a.items()})(args)
    want = np.asarray(got.pop("int32"), np.float64)
    # NumPy int64 steps from the host, eagerly (JAX would narrow them to int32 without x64).
    eager = np.asarray(s(INT_STEPS.astype(np.int64)), np.float64)
    np.testing.assert_allclose(eager, want, rtol=4e-7, atol=1e-7 * np.abs(want).max(),
                               err_msg=f"{name} eager int64")
    for d, out in got.items():
        ref = want[: len(steps[d])]
        if d.startswith("float"):  # the same integers as floats: equal up to rounding
            np.testing.assert_allclose(np.asarray(out, np.float64), ref, rtol=2e-6,
                                       atol=1e-6 * np.abs(want).max(), err_msg=f"{name} {d}")
        elif X64 and ("lambda" in repr(s) or "wrap(" in repr(s)):
            # A user's function does its own arithmetic on the step: under x64, JAX divides
            # an int32 step in float32 and an int64 step in float64.
            np.testing.assert_allclose(np.asarray(out, np.float64), ref, rtol=1e-7,
                                       err_msg=f"{name} {d}")
        else:
            np.testing.assert_array_equal(np.asarray(out, np.float64), ref, err_msg=f"{name} {d}")


# Past 2**24, spaced 2 .. 256 steps apart (float32 rounds some of them to a neighbour).
BIG = np.asarray([2**24 + 2, 2**25 + 4, 2**28, 2**28 + 2**20 + 32, 2**30 + 64, 2**31 - 128,
                  2**31 + 256, 2**32 - 256], np.int64)
# One schedule per class (the recorded cases differ in arguments, not in code paths). PyTorch's
# MultiplicativeLR replays its recursion, O(t) work per step (documented): at 2**32 that is
# minutes of loop, not a test; its float steps are checked in the dtype sweep above.
ONE_EACH = [v for v in {type(s).__name__ if "-" in i else i: (i, s)
                        for i, s in SCHEDULES}.values()
            if type(v[1]).__name__ != "MultiplicativeLR"]


def _close(got, want, scale, what):
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7 * scale, err_msg=what)


@pytest.mark.parametrize("name, s", ONE_EACH, ids=[i for i, _ in ONE_EACH])
def test_float_steps_past_2_24_stay_in_range_and_agree_eager_jit_vmap(name, s):
    @jax.jit
    def run(t):
        return (s(t), jax.vmap(s)(t), s(jnp.arange(0, 20_000, dtype=jnp.int32)),
                s(t.astype(jnp.uint32)))  # the integers the floats hold, as exact ints

    t = np.asarray(BIG, FLOAT)
    array, mapped, dense, exact = (np.asarray(x, np.float64) for x in run(t))
    eager = np.asarray([s(step) for step in t], np.float64)  # one scalar program, eagerly
    scale = np.abs(dense).max()
    _close(mapped, array, scale, f"{name}: vmap against jit")
    _close(eager, array, scale, f"{name}: eager scalar steps against jit")
    # Each float is an integer (2**30 + 64 rounds to 2**30 in float32): the value there.
    _close(array, exact, scale, f"{name}: float steps against the same integers as uint32")
    values = np.concatenate([dense, exact])
    lo, hi = values.min() - 1e-6 * scale, values.max() + 1e-6 * scale
    for got in (array, eager):
        bad = (got < lo) | (got > hi) | ~np.isfinite(got)
        assert not bad.any(), (f"{name}: float steps {t[bad]} give {got[bad]}, outside "
                               f"[{lo}, {hi}], the values at integer steps")


def test_the_issue_cases_at_float_step_2_28():
    t = np.float32(2**28)  # 2**28 % 14 == 2, % 1000 == 456, % 20 == 16
    cases = [(js.cyclic(0.1, 1.0, up_steps=7), 0.1 + 0.9 * 2 / 7),
             (js.repeat(js.cosine(1.0, 0.0, 1000), period=1000),
              0.5 * (1 + np.cos(np.pi * 456 / 1000))),
             (pt.CyclicLR(0.01, 0.1, step_size_up=10), 0.01 + 0.09 * 4 / 10)]
    for s, want in cases:
        for got in (s(t), jax.jit(s)(t), jax.vmap(s)(jnp.asarray([t]))[0]):
            np.testing.assert_allclose(float(got), want, rtol=1e-6, err_msg=repr(s))


BIG_CONSTANT = 3 * 2**30  # between 2**31 and 2**32: a weak Python int cannot be parsed


@pytest.mark.parametrize("make, ref", [
    (lambda: js.multistep(1.0, [10, BIG_CONSTANT]), lambda t: 0.1 if t < BIG_CONSTANT else 0.01),
    (lambda: js.piecewise_constant([1.0, 0.5, 0.1], [10, BIG_CONSTANT]),
     lambda t: 0.5 if t < BIG_CONSTANT else 0.1),
    (lambda: js.cosine(1.0, 0.0, BIG_CONSTANT),
     lambda t: 0.5 * (1 + np.cos(np.pi * min(t, BIG_CONSTANT) / BIG_CONSTANT))),
    (lambda: js.warmup(js.constant(1.0), BIG_CONSTANT), lambda t: min(t / BIG_CONSTANT, 1.0)),
    (lambda: js.per_epoch(js.linear(1.0, 0.0, 2), BIG_CONSTANT), lambda t: 1 - (t >= BIG_CONSTANT) / 2),
    (lambda: js.join([1.0, 0.5], [BIG_CONSTANT]), lambda t: 1.0 if t < BIG_CONSTANT else 0.5),
], ids=["multistep", "piecewise_constant", "cosine", "warmup", "per_epoch", "join"])
def test_uint32_steps_with_constants_beyond_int32(make, ref):
    s = make()
    t = np.asarray([20, 2**31 + 7, BIG_CONSTANT - 1, BIG_CONSTANT, 2**32 - 1], np.uint32)
    want = np.asarray([ref(int(x)) for x in t])
    for got in (s(t), jax.jit(s)(jnp.asarray(t))):
        np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=1e-6, atol=1e-7)


STEP_KINDS = {"int": int, "np.int64": np.int64, "int64 array": lambda v: np.asarray([v], np.int64),
              "np.uint64": np.uint64, "list": lambda v: [v]}


def _tri(step: int) -> float:  # cyclic(0, 1, up_steps=4), exactly
    x = step % 8
    return x / 4 if x <= 4 else (8 - x) / 4


@pytest.mark.parametrize("kind", STEP_KINDS.values(), ids=STEP_KINDS.keys())
def test_integer_steps_beyond_int32_are_exact_or_refused_never_wrapped(kind):
    s = js.warmup_cosine(1.0, 10, 1000, end=0.1)
    c = js.cyclic(0.0, 1.0, up_steps=4)  # periodic: saturating would be wrong too
    for step in (2**31, 2**31 + 5, 2**32 - 1):
        assert np.ravel(np.asarray(s(kind(step))))[0] == pytest.approx(0.1, rel=1e-6)
        assert np.ravel(np.asarray(c(kind(step))))[0] == pytest.approx(_tri(step), abs=1e-7)
    if X64:  # int64 holds every np.int64; uint64 the rest
        for step in (2**63 - 1, 2**63 + 3, 2**64 - 1):
            if kind is np.int64 and step >= 2**63 or kind is STEP_KINDS["int64 array"] \
                    and step >= 2**63:
                continue
            assert np.ravel(np.asarray(c(kind(step))))[0] == pytest.approx(_tri(step), abs=1e-7)
        huge = 2**64
    else:
        huge = 2**32 + 5
    if kind is not np.uint64:  # below int32: a negative step counts as 0, never wrapped
        for step in (-(2**31) - 1, -(2**32) + 5, -(2**63)):
            assert np.ravel(np.asarray(s(kind(step))))[0] == 0.0
            assert np.ravel(np.asarray(c(kind(step))))[0] == 0.0
    if X64 and kind not in (int, STEP_KINDS["list"]):
        return  # no NumPy integer exceeds uint64
    with pytest.raises(ValueError, match=r"step \d+ is beyond the integer steps JAX holds"):
        s(kind(huge))


# ----------------------------------------------------------------- the eager path
class _Compiles:
    """Counts XLA compilations (JAX reports each backend compile as a monitoring event)."""

    count = 0

    def __init__(self) -> None:
        jax.monitoring.register_event_duration_secs_listener(self._event)

    @classmethod
    def _event(cls, event: str, duration: float, **kwargs) -> None:
        if event == "/jax/core/compile/backend_compile_duration":
            cls.count += 1


COMPILES = _Compiles()


def test_eager_calls_compile_once_per_structure_not_per_value():
    step = np.int32(123)
    js.warmup_cosine(1.0, 100, 1000, end=0.01)(step)  # the structure, compiled once
    before = COMPILES.count
    for i in range(25):
        s = js.warmup_cosine(1e-3 * (i + 1), 100, 1000, end=1e-5 * i)
        p = (123 - 100) / 900
        want = 1e-5 * i + (1e-3 * (i + 1) - 1e-5 * i) * 0.5 * (1 + np.cos(np.pi * p))
        assert float(s(step)) == pytest.approx(want, rel=1e-6)
    assert COMPILES.count == before, "a new value of a known structure compiled"
    js.warmup_cosine(1.0, 101, 1000)(step)  # another structure (a static field): compiles
    assert COMPILES.count > before


def test_specialised_fields_compile_per_value_and_keep_their_precision():
    # exponential takes log(gamma) on the host: float32's rounded gamma near 1 would be off.
    counts = []
    for gamma in (0.9999, 0.99991):
        s = js.exponential(1.0, gamma)
        counts.append(COMPILES.count)
        assert float(s(np.int32(100_000))) == pytest.approx(gamma**100_000, rel=2e-6)
    assert COMPILES.count > counts[1], "a new gamma (a specialised field) did not compile"


# Every field declared ``hyper(..., specialize=True)``: (constructor, arguments, that field,
# a float field of the same class that is not specialised). Recipes that pass a value on
# to a curve (warmup_cosine's exponent, the HF and PyTorch names) declare it themselves.
_HF = dict(lr=0.1, num_warmup_steps=2, num_training_steps=20)
SPECIALISED = [
    (js.cosine, dict(start=1.0, end=0.0, steps=10), "exponent", "start"),
    (js.polynomial, dict(start=1.0, end=0.0, steps=10), "power", "end"),
    (js.exponential, dict(start=1.0, gamma=0.9), "gamma", "start"),
    (js.multistep, dict(start=1.0, milestones=[3, 6]), "gamma", "start"),
    (js.cyclic, dict(start=0.1, peak=1.0, up_steps=5, policy="exp_range"), "gamma", "peak"),
    (js.warmup_cosine, dict(peak=1.0, warmup_steps=3, total_steps=10), "exponent", "peak"),
    (js.warmup_polynomial, dict(peak=1.0, warmup_steps=3, total_steps=10), "power", "end"),
    (hf.get_cosine_schedule_with_warmup, _HF, "num_cycles", "lr"),
    (hf.get_cosine_with_hard_restarts_schedule_with_warmup, _HF, "num_cycles", "lr"),
    (hf.get_cosine_with_min_lr_schedule_with_warmup, dict(_HF, min_lr_rate=0.1), "num_cycles",
     "min_lr_rate"),
    (hf.get_cosine_with_min_lr_schedule_with_warmup_lr_rate, dict(_HF, min_lr_rate=0.1),
     "num_cycles", "lr"),
    (hf.get_polynomial_decay_schedule_with_warmup, _HF, "power", "lr_end"),
    (hf.get_wsd_schedule, dict(_HF, num_decay_steps=5), "num_cycles",
     "min_lr_ratio"),
    (pt.StepLR, dict(lr=0.1, step_size=3), "gamma", "lr"),
    (pt.MultiStepLR, dict(lr=0.1, milestones=[3, 6]), "gamma", "lr"),
    (pt.ExponentialLR, dict(lr=0.1, gamma=0.9), "gamma", "lr"),
    (pt.PolynomialLR, dict(lr=0.1, total_iters=5), "power", "lr"),
    (pt.CyclicLR, dict(base_lr=0.01, max_lr=0.1, step_size_up=5, mode="exp_range"), "gamma",
     "max_lr"),
]


def test_the_specialised_fields_are_declared_on_exactly_these_classes():
    from jaxsched._schedule import _REGISTRY, _specialized_fields

    declared = {(name, f) for name, cls in _REGISTRY.items() for f in _specialized_fields(cls)}
    assert declared == {(ctor.__name__, field) for ctor, _, field, _ in SPECIALISED}


def _bumped(value: float) -> float:
    return value * 0.5 + 1e-3


@pytest.mark.parametrize("ctor, kwargs, field, plain", SPECIALISED,
                         ids=[f"{c.__name__}-{f}" for c, _, f, _ in SPECIALISED])
def test_a_specialised_value_gets_its_own_program_a_plain_float_does_not(ctor, kwargs, field,
                                                                          plain):
    base = ctor(**kwargs)
    other = ctor(**{**kwargs, field: _bumped(getattr(base, field))})
    swept = ctor(**{**kwargs, plain: _bumped(getattr(base, plain))})
    assert getattr(base, field) != getattr(other, field)
    assert other._program[0] is not base._program[0], f"a new {field} shared a program"
    assert swept._program[0] is base._program[0], f"a new {plain} got a program of its own"
    # Nested in a composition, the field is still found through its owner.
    joined = [js.join([js.constant(0.5), s], [4]) for s in (base, other)]
    assert joined[1]._program[0] is not joined[0]._program[0]
    assert js.join([js.constant(0.4), base], [4])._program[0] is joined[0]._program[0]


def test_a_field_is_specialised_by_its_declaration_not_its_name():
    import dataclasses
    from typing import Any

    from jaxsched import _checks as check
    from jaxsched._schedule import _REGISTRY, Schedule, hyper, schedule_class

    @schedule_class
    class _scaled(Schedule):  # a field named like exponential's, not declared specialised
        start: Any = hyper(check.lr)
        gamma: Any = hyper(check.positive)

        def _eval(self, t):
            return self.start * self.gamma * jnp.ones_like(t, float)

    try:
        a, b = _scaled(1.0, 0.5), _scaled(1.0, 0.25)
        assert a._program[0] is b._program[0]
        assert [float(a(np.int32(3))), float(b(np.int32(3)))] == [0.5, 0.25]
        field = {f.name: f for f in dataclasses.fields(js.exponential)}["gamma"]
        assert field.metadata["specialize"] is True
    finally:
        del _REGISTRY["_scaled"]


def test_eager_programs_are_shared_and_schedules_still_pickle():
    import pickle

    a, b = js.cosine(1.0, 0.0, 77), js.cosine(2.0, 0.5, 77)
    a(0), b(0)
    assert a._program[0] is b._program[0]
    again = pickle.loads(pickle.dumps(a))
    assert again == a and "_program" not in again.__dict__
    assert float(again(np.int32(77))) == 0.0


@pytest.mark.parametrize("num_cycles", [0.5, 1.3])
def test_hf_shifted_cosine_without_warmup_for_every_step_dtype(num_cycles):
    # The lr_rate variant counts from w - 1 = -1 here: no unsigned wrap, no float rounding.
    s = hf.get_cosine_with_min_lr_schedule_with_warmup_lr_rate(
        0.1, 0, 50, num_cycles=num_cycles, min_lr_rate=0.1)
    t = np.arange(120)
    ref = 0.1 * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * num_cycles * 2 * (t + 1) / 50)))
    for dtype in (jnp.int32, jnp.uint32, jnp.float32):
        np.testing.assert_allclose(np.asarray(s(jnp.asarray(t, dtype)), np.float64), ref,
                                   rtol=2e-6, atol=1e-8, err_msg=str(dtype))
