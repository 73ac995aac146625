"""Every construction-time error, matched by message: function, argument, value, what is allowed."""

from __future__ import annotations

import decimal
import math

import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxsched as js
from jaxsched import hf
from jaxsched import pytorch as pt

C = js.constant(0.1)

CASES = [
    # (thunk, exception, message regex)
    (lambda: js.cosine(1e-3, 0.0, 0), ValueError,
     r"cosine: `steps` must be a positive int, got 0\."),
    (lambda: js.cosine(1e-3, 0.0, 10.0), TypeError,
     r"cosine: `steps` must be a positive int, got the float 10\.0; step counts are static Python ints \(pass arguments by keyword"),
    (lambda: js.cosine(1e-3, 0.0, "10"), TypeError, r"cosine: `steps` must be a positive int, got '10'"),
    (lambda: js.cosine(1e-3, 0.0, True), TypeError, r"cosine: `steps` must be a positive int"),
    (lambda: js.cosine(-1e-3, 0.0, 10), ValueError,
     r"cosine: `start` must be a finite number >= 0, got -0\.001\."),
    (lambda: js.cosine(math.nan, 0.0, 10), ValueError, r"cosine: `start` must be finite, got nan\."),
    (lambda: js.cosine(1.0, math.inf, 10), ValueError, r"cosine: `end` must be finite, got inf\."),
    (lambda: js.cosine(1.0, 0.0, 10, exponent=0.0), ValueError,
     r"cosine: `exponent` must be > 0, got 0\.0\."),
    (lambda: js.cosine(1.0, None, 10), TypeError, r"cosine: `end` must be a real number, got None"),
    (lambda: js.cosine(jnp.ones(3), 0.0, 10), TypeError,
     r"cosine: `start` must be a scalar, got an array of shape \(3,\)"),
    # Anything that is not a real number is refused at construction, not when called.
    (lambda: js.constant(decimal.Decimal("0.1")), TypeError,
     r"constant: `value` must be a real number, got Decimal\('0\.1'\) \(Decimal\)"),
    (lambda: js.constant(object()), TypeError,
     r"constant: `value` must be a real number, got <object object at .*> \(object\)"),
    (lambda: js.cosine({1.0}, 0.0, 10), TypeError,
     r"cosine: `start` must be a real number, got \{1\.0\} \(set\)"),
    (lambda: js.constant(()), TypeError, r"constant: `value` must be a real number, got \(\)"),
    (lambda: js.constant(-0.1), ValueError, r"constant: `value` must be a finite number >= 0"),
    (lambda: js.linear(0.0, 1.0, -5), ValueError, r"linear: `steps` must be a positive int, got -5"),
    (lambda: js.polynomial(1.0, 0.0, 10, power=-1.0), ValueError, r"polynomial: `power` must be > 0"),
    (lambda: js.exponential(1.0, 0.0), ValueError, r"exponential: `gamma` must be > 0, got 0\.0"),
    (lambda: js.exponential(1.0, -0.5), ValueError, r"exponential: `gamma` must be > 0"),
    (lambda: js.exponential(1.0, 0.9, period=0), ValueError,
     r"exponential: `period` must be a positive int, got 0"),
    (lambda: js.exponential(1.0, 0.9, end=2.0), ValueError,
     r"exponential: with gamma=0\.9 < 1 .* `end` is a floor and must be <= start=1\.0, got 2\.0"),
    (lambda: js.exponential(1.0, 1.1, end=0.5), ValueError,
     r"exponential: with gamma=1\.1 > 1 .* `end` is a ceiling"),
    (lambda: js.exponential(1.0, 0.9, staircase=1), TypeError,
     r"exponential: `staircase` must be a bool, got 1"),
    (lambda: js.multistep(1.0, [30, 10]), ValueError,
     r"multistep: `milestones` must be strictly increasing, got \[30, 10\] "
     r"\(milestones\[0\]=30, milestones\[1\]=10\)"),
    (lambda: js.multistep(1.0, [10, 10]), ValueError, r"multistep: `milestones` must be strictly"),
    (lambda: js.multistep(1.0, [-1]), ValueError, r"multistep: `milestones\[0\]` must be an int >= 0"),
    (lambda: js.multistep(1.0, 10), TypeError, r"multistep: `milestones` must be a list of ints"),
    (lambda: js.piecewise_constant([1.0, 0.5], [10, 20]), ValueError,
     r"piecewise_constant: needs len\(values\) == len\(boundaries\) \+ 1, got 2 values for "
     r"2 boundaries\."),
    (lambda: js.piecewise_constant([1.0, -0.5], [10]), ValueError,
     r"piecewise_constant: `values\[1\]` must be a finite number >= 0, got -0\.5"),
    (lambda: js.interpolate([(0, 1.0)]), ValueError,
     r"interpolate: needs at least 2 knots, got 1; for a single value use constant"),
    (lambda: js.interpolate([(0, 1.0), (0, 2.0)]), ValueError,
     r"interpolate: `knot steps` must be strictly increasing"),
    (lambda: js.interpolate([0, 1.0]), TypeError, r"interpolate: `knots` must be a list of \(step, value\)"),
    (lambda: js.interpolate([(0, 1.0), (5, 0.0)], shape="cubic"), ValueError,
     r"interpolate: `shape` must be one of 'linear', 'cosine', got 'cubic'"),
    (lambda: js.inverse_sqrt(1.0, warmup_steps=0), ValueError,
     r"inverse_sqrt: with warmup_steps=0 pass `timescale`"),
    (lambda: js.inverse_sqrt(1.0, warmup_steps=10, timescale=0), ValueError,
     r"inverse_sqrt: `timescale` must be a positive int, got 0"),
    (lambda: js.cyclic(0.1, 1.0, 0), ValueError, r"cyclic: `up_steps` must be a positive int"),
    (lambda: js.cyclic(0.1, 1.0, 10, policy="tri"), ValueError,
     r"cyclic: `policy` must be one of 'triangular', 'triangular2', 'exp_range', got 'tri'"),
    (lambda: js.join([C, C], [10, 20]), ValueError,
     r"join: needs len\(boundaries\) == len\(schedules\) - 1, got 2 boundaries for 2 schedules\."),
    (lambda: js.join([C, C, C], [20, 10]), ValueError, r"join: `boundaries` must be strictly"),
    (lambda: js.join([C, C], [0]), ValueError, r"join: `boundaries\[0\]` must be a positive int, got 0"),
    (lambda: js.join([], []), ValueError, r"join: `schedules` must not be empty"),
    (lambda: js.join([C, "cosine"], [10]), TypeError,
     r"join: `schedules\[1\]` must be a schedule, a jnp-traceable function of the step or a "
     r"number, got 'cosine'"),
    (lambda: js.join(C, [10]), TypeError, r"join: `schedules` must be a list of schedules"),
    (lambda: js.repeat(C, 0), ValueError, r"repeat: `period` must be a positive int, got 0"),
    (lambda: js.repeat(C, 10, period_mult=0), ValueError, r"repeat: `period_mult` must be a positive"),
    (lambda: js.repeat(C, 10, cycle_decay=0.0), ValueError, r"repeat: `cycle_decay` must be > 0"),
    (lambda: js.warmup(C, 0), ValueError, r"warmup: `steps` must be a positive int, got 0"),
    (lambda: js.clip(C), ValueError, r"clip: give `min`, `max` or both"),
    (lambda: js.clip(C, min=0.5, max=0.1), ValueError, r"clip: needs min <= max, got min=0\.5, max=0\.1"),
    (lambda: js.per_epoch(C, 0), ValueError, r"per_epoch: `steps_per_epoch` must be a positive int"),
    (lambda: js.warmup_cosine(1e-3, 100, 100), ValueError,
     r"warmup_cosine: needs total_steps > warmup_steps \(total_steps counts the warmup\), got "
     r"total_steps=100, warmup_steps=100\."),
    (lambda: js.warmup_cosine(1e-3, -1, 100), ValueError,
     r"warmup_cosine: `warmup_steps` must be an int >= 0, got -1"),
    (lambda: js.warmup_cosine(1e-3, 10, 100, exponent=-1.0), ValueError, r"cosine: `exponent`"),
    (lambda: js.warmup_linear(1e-3, 10, 5), ValueError, r"warmup_linear: needs total_steps > warmup"),
    (lambda: js.warmup_polynomial(1e-3, 10, 50, power=0.0), ValueError,
     r"warmup_polynomial: `power` must be > 0"),
    (lambda: js.warmup_constant(-1.0, 10), ValueError, r"warmup_constant: `peak` must be a finite"),
    (lambda: js.wsd(1.0, 20, 10, 0), ValueError, r"wsd: `decay_steps` must be a positive int or a fraction in \(0, 1\), got 0"),
    (lambda: js.wsd(1.0, 30, 10, 10, shape="exp"), ValueError,
     r"wsd: `shape` must be one of 'linear', 'cosine', '1-sqrt', got 'exp'"),
    (lambda: js.one_cycle(1.0, 100, pct_start=1.0), ValueError,
     r"one_cycle: `pct_start` must be in \(0, 1\), got 1\.0"),
    (lambda: js.one_cycle(1.0, 10, pct_start=0.05), ValueError,
     r"one_cycle: int\(pct_start \* total_steps\) = int\(0\.05 \* 10\) = 0 gives phases"),
    (lambda: js.one_cycle(1.0, 100, pct_start=0.5, three_phase=True), ValueError,
     r"one_cycle: .* needs 1 <= 2 \* int\(pct_start \* total_steps\) < total_steps"),
    (lambda: js.one_cycle(1.0, 100, shape="cos"), ValueError,
     r"one_cycle: `shape` must be one of 'cosine', 'linear', got 'cos'"),
    (lambda: js.one_cycle(1.0, 100, div_factor=0.0), ValueError, r"one_cycle: `div_factor` must be > 0"),
    (lambda: js.one_cycle_momentum(100, base_momentum=-0.1), ValueError,
     r"one_cycle_momentum: `base_momentum`"),
    (lambda: js.sgdr(1.0, 10, end=2.0), ValueError, r"sgdr: needs end <= peak, got peak=1\.0, end=2\.0"),
    (lambda: js.sgdr(1.0, 10, warmup_steps=10), ValueError,
     r"sgdr: needs warmup_steps < period, got warmup_steps=10, period=10"),
    (lambda: js.wrap(3.0), TypeError, r"wrap: `fn` must be a callable step -> lr, got 3\.0"),
    (lambda: js.wrap(C), TypeError, r"wrap: `fn` is already a schedule"),
    (lambda: js.wrap(lambda t: 0.1 if t < 5 else 0.01), TypeError,
     r"wrap: `fn` must be a jnp-traceable function of the step .* failed: "
     r"TracerBoolConversionError"),
    (lambda: js.wrap(lambda t: math.exp(-t)), TypeError, r"wrap: `fn` must be a jnp-traceable"),
    (lambda: js.wrap(lambda t: "x"), TypeError, r"wrap: `fn` must be a jnp-traceable .* not a valid JAX type"),
    (lambda: js.wrap(lambda t: jnp.ones(3) * t), TypeError, r"wrap: .* not a numeric scalar"),
    (lambda: C * "x", TypeError, r"\*: `operand` must be a schedule, a jnp-traceable function of the step or a number, got 'x'"),
    (lambda: C + math.nan, ValueError, r"\+: `operand` must be finite, got nan"),
    (lambda: js.evaluate(C, -1), ValueError, r"evaluate: `steps` must be >= 0, got -1"),
    (lambda: js.evaluate(0.1, 3), TypeError, r"evaluate: `schedule` must be a schedule"),
    (lambda: js.from_config({"type": "cosin", "start": 1.0}), ValueError,
     r"from_config: config\['type'\] is the unknown schedule 'cosin' \(did you mean 'cosine'\?\)"),
    (lambda: js.from_config([1, 2]), ValueError, r"from_config: config must be a number or a dict with a 'type' key, got \[1, 2\]"),
    (lambda: js.from_config({"type": "_sqrt_decay"}), ValueError, r"the unknown schedule '_sqrt_decay'"),
]


@pytest.mark.parametrize("thunk,exc,message", CASES, ids=[str(i) for i in range(len(CASES))])
def test_error_message(thunk, exc, message):
    with pytest.raises(exc, match=message):
        thunk()


def test_step_type_errors():
    with pytest.raises(TypeError, match=r"cosine: the step must be an int or float array, got dtype bool"):
        js.cosine(1.0, 0.0, 10)(True)
    with pytest.raises(TypeError, match=r"constant: the step must be a number or array, got a schedule"):
        C(C)
    with pytest.raises(TypeError, match=r"complex"):
        C(jnp.asarray(1 + 2j))


def test_numpy_and_jax_scalars_are_accepted_and_normalised():
    s = js.cosine(np.float32(0.5), jnp.asarray(0.0), np.int64(10))
    assert s == js.cosine(float(np.float32(0.5)), 0.0, 10)
    assert isinstance(s.steps, int) and isinstance(s.end, float)
    assert js.cosine(1, 0, 10) == js.cosine(1.0, 0.0, 10)
    assert repr(js.cosine(1, 0, 10)) == "cosine(start=1.0, end=0.0, steps=10)"


def test_optax_silently_degrades_but_we_refuse():
    # optax turns a non-positive transition into a constant with only a log line.
    assert float(optax.linear_schedule(1.0, 0.0, 0)(5)) == 1.0
    with pytest.raises(ValueError, match="linear: `steps` must be a positive int"):
        js.linear(1.0, 0.0, 0)


# Issue 9 §3: accepted before and failing later inside a trace; now refused at construction,
# by message, naming the argument.
CONSTRUCTION = [
    (lambda: pt.StepLR(optax.sgd(0.1), step_size=30), TypeError,
     r"StepLR: `lr` got an optax optimizer \(a GradientTransformation\); pass the learning "
     r"rate, not the optimizer"),
    (lambda: js.cosine(optax.adam(1e-3), 0.0, 100), TypeError,
     r"cosine: `start` got an optax optimizer"),
    (lambda: hf.get_cosine_schedule_with_warmup(optax.adamw(3e-4), 500, 10000), TypeError,
     r"get_cosine_schedule_with_warmup: `lr` got an optax optimizer"),
    (lambda: pt.OneCycleLR(optax.sgd(0.1), max_lr=0.1, total_steps=100), TypeError,
     r"OneCycleLR: `max_lr` given twice .* An optax optimizer was passed: jaxsched schedules "
     r"take the learning rate, not the optimizer"),
    (lambda: pt.StepLR([0.1, 0.01], step_size=10), TypeError,
     r"StepLR: `lr` must be a real number, got \[0\.1, 0\.01\] \(a list of numbers is not a "
     r"number; pass a single number\)"),
    (lambda: js.cosine([1e-3], 0.0, 10), TypeError, r"cosine: `start` must be a real number"),
    (lambda: js.plateau(js.constant(0.1), factor=[0.5]), TypeError,
     r"plateau: `factor` must be a real number, got \[0\.5\]"),
    (lambda: js.constant(js.constant(0.1)), TypeError,
     r"constant: `value` must be a number, got the schedule constant\(value=0\.1\)"),
    (lambda: js.cosine(1e-3 + 2j, 0.0, 10), TypeError,
     r"cosine: `start` must be a real number, got \(0\.001\+2j\)"),
    (lambda: js.cosine(np.complex64(1.0), 0.0, 10), TypeError,
     r"cosine: `start` must be a real number"),
    (lambda: js.cosine(1.0, 0.0, 10**400), ValueError,
     r"cosine: `steps` must be <= 2\*\*62"),
    (lambda: js.cyclic(0.1, 1.0, up_steps=2**63), ValueError,
     r"cyclic: `up_steps` must be <= 2\*\*62"),
    (lambda: js.from_config({"type": ["cosine"]}), TypeError,
     r"from_config: config\['type'\] must be a constructor name \(a str\), got \['cosine'\]"),
    (lambda: js.from_config({"type": "cosine", "start": 1.0, "end": 0.0, "stpes": 10}), TypeError,
     r"from_config: cosine: unknown argument `stpes` \(did you mean `steps`\?\)"),
    (lambda: js.from_config({"type": "cosine", "start": {"type": "constant", "value": 1.0},
                             "end": 0.0, "steps": 10}), TypeError,
     r"cosine: `start` must be a number, got the schedule constant\(value=1\.0\)"),
    (lambda: js.cosine(1.0, 0.0, stpes=10), TypeError,
     r"cosine: unknown argument `stpes` \(did you mean `steps`\?\); cosine takes start, end, "
     r"steps, exponent\."),
    (lambda: js.polynomial(1e-3, 0, 2.0, 100), TypeError,
     r"polynomial: `steps` must be a positive int, got the float 2\.0; step counts are static "
     r"Python ints \(pass arguments by keyword"),
    (lambda: js.join([js.plateau(0.1)], []), TypeError,
     r"join: `schedules\[0\]` is a stateful schedule \(plateau\)"),
]


@pytest.mark.parametrize("thunk,exc,message", CONSTRUCTION,
                         ids=[str(i) for i in range(len(CONSTRUCTION))])
def test_refused_at_construction(thunk, exc, message):
    with pytest.raises(exc, match=message):
        thunk()


def test_no_misleading_positional_hint():
    with pytest.raises(TypeError) as info:
        js.polynomial(1e-3, 0, 2.0, 100)
    assert "pass 2" not in str(info.value)


def test_huge_patience_means_never_and_is_clamped_to_int32_max():
    state = js.plateau(0.1, patience=2**32, cooldown=2**40, stop_patience=2**62).init()
    assert int(state.patience) == int(state.cooldown) == 2**31 - 1
    assert int(state.stop_patience) == 2**31 - 1
    for loss in [1.0, 2.0, 3.0, 4.0]:
        state = js.report(state, loss)
    assert float(state.scale) == 1.0 and not bool(js.should_stop(state))


def test_parse_error_is_jaxsched_parse_error_without_chained_traceback():
    with pytest.raises(js.ParseError) as info:
        js.parse("cosine(1.0, 0.0, 0)")
    assert type(info.value).__module__ == "jaxsched"
    assert f"{type(info.value).__module__}.{type(info.value).__qualname__}" == "jaxsched.ParseError"
    assert info.value.__cause__ is None and info.value.__suppress_context__
