"""A typed user script that calls every public name of jaxsched, jaxsched.pytorch and
jaxsched.hf. ``tests/test_typing.py`` checks it with mypy (zero errors) and CI also runs
pyright on it; nothing here runs at import time."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxsched as js
from jaxsched import hf
from jaxsched import pytorch as pt


def curves() -> list[js.Schedule]:
    return [
        js.constant(0.1),
        js.linear(start=0.0, end=1e-3, steps=500),
        js.cosine(start=1e-3, end=1e-5, steps=9_000, exponent=1.0),
        js.polynomial(start=1e-3, end=0.0, steps=100, power=2.0),
        js.exponential(start=0.1, gamma=0.5, period=10, staircase=True, end=1e-4),
        js.multistep(start=0.1, milestones=[30, 60], gamma=0.1),
        js.piecewise_constant(values=[0.1, 0.01], boundaries=[100]),
        js.interpolate(knots=[(0, 0.0), (10, 1.0)], shape="cosine"),
        js.inverse_sqrt(peak=1e-3, warmup_steps=100, timescale=None),
        js.cyclic(start=0.01, peak=0.1, up_steps=10, down_steps=20, policy="triangular2",
                  gamma=1.0),
    ]


def compositions(s: js.Schedule) -> list[js.Schedule]:
    return [
        js.join(schedules=[s, js.constant(0.1)], boundaries=[100]),
        js.repeat(schedule=s, period=100, period_mult=2, cycle_decay=0.5),
        js.warmup(schedule=s, steps=10, start=0.0),
        js.clip(schedule=s, min=0.0, max=1.0),
        js.per_epoch(schedule=s, steps_per_epoch=100, fractional=False),
        js.wrap(fn=optax.linear_schedule(1.0, 0.0, 10), name="optax_linear"),
        s * 0.5 + js.constant(1e-5),
    ]


def recipes() -> list[js.Schedule]:
    return [
        js.warmup_cosine(peak=3e-4, warmup_steps=0.05, total_steps=1_000, start=0.0, end=1e-6,
                         exponent=1.0),
        js.warmup_linear(peak=3e-4, warmup_steps=50, total_steps=1_000, start=0.0, end=0.0),
        js.warmup_constant(peak=3e-4, warmup_steps=50, start=0.0),
        js.warmup_polynomial(peak=3e-4, warmup_steps=50, total_steps=1_000, power=2.0),
        js.wsd(peak=3e-4, total_steps=1_000, warmup_steps=50, decay_steps=0.2, start=0.0,
               end=0.0, shape="1-sqrt"),
        js.one_cycle(peak=0.1, total_steps=1_000, pct_start=0.3, div_factor=25.0,
                     final_div_factor=1e4, shape="cosine", three_phase=False),
        js.one_cycle_momentum(total_steps=1_000, pct_start=0.3, base_momentum=0.85,
                              max_momentum=0.95),
        js.sgdr(peak=1e-3, period=100, period_mult=2, end=1e-5, cycle_decay=0.5,
                warmup_steps=10),
    ]


def replans(s: js.Schedule) -> list[js.Schedule]:
    return [
        js.extend(schedule=s, at=100, total_steps=2_000),
        js.cooldown(schedule=s, at=100, steps=50, end=0.0, shape="linear"),
        js.restart(schedule=s, at=100, new=js.constant(1e-4), warmup_steps=10),
        js.integer(schedule=js.linear(1.0, 8.0, 70), rounding="nearest"),
        js.batch_ramp(start=1, end=8, steps=100, increment=1),
        js.scale_by_batch(schedule=s, batch=js.batch_ramp(8, 64, 100, 8), base_batch=64,
                          rule="sqrt"),
    ]


def stateful() -> list[js.StatefulSchedule]:
    base = js.warmup_constant(1e-3, warmup_steps=10)
    return [
        js.plateau(base, mode="min", factor=0.5, patience=3, threshold=1e-4,
                   threshold_mode="rel", cooldown=0, min_lr=1e-6, eps=1e-8, every=1,
                   axis_name=None, stop_patience=None, rel_margin="abs_best", nonfinite="bad"),
        pt.ReduceLROnPlateau(lr=0.1, mode="min", factor=0.1, patience=10),
    ]


def compatibility() -> list[js.Schedule]:
    out: list[js.Schedule] = [
        pt.StepLR(lr=0.1, step_size=30, gamma=0.1),
        pt.MultiStepLR(lr=0.1, milestones=[30, 80], gamma=0.1),
        pt.ConstantLR(lr=0.1, factor=0.5, total_iters=5),
        pt.LinearLR(lr=0.1, start_factor=0.5, end_factor=1.0, total_iters=5),
        pt.ExponentialLR(lr=0.1, gamma=0.99),
        pt.PolynomialLR(lr=0.1, total_iters=100, power=1.0),
        pt.CosineAnnealingLR(lr=0.1, T_max=100, eta_min=0.0),
        pt.CosineAnnealingWarmRestarts(lr=0.1, T_0=10, T_mult=2, eta_min=0.0),
        pt.LambdaLR(lr=0.1, lr_lambda=lambda t: 0.95**t),
        pt.MultiplicativeLR(lr=0.1, lr_lambda=lambda t: 0.95),
        pt.CyclicLR(base_lr=0.01, max_lr=0.1, step_size_up=100),
        pt.OneCycleLR(max_lr=0.1, total_steps=1_000),
        pt.OneCycleMomentum(total_steps=1_000),
        pt.SequentialLR(schedulers=[pt.ConstantLR(0.1), pt.ExponentialLR(0.1, 0.9)],
                        milestones=[5]),
        pt.ChainedScheduler(schedulers=[pt.ConstantLR(0.1), pt.ExponentialLR(0.1, 0.9)]),
        hf.get_constant_schedule(lr=1e-3),
        hf.get_constant_schedule_with_warmup(lr=1e-3, num_warmup_steps=10),
        hf.get_linear_schedule_with_warmup(lr=1e-3, num_warmup_steps=10, num_training_steps=100),
        hf.get_cosine_schedule_with_warmup(lr=1e-3, num_warmup_steps=10, num_training_steps=100,
                                           num_cycles=0.5),
        hf.get_cosine_with_hard_restarts_schedule_with_warmup(
            lr=1e-3, num_warmup_steps=10, num_training_steps=100, num_cycles=2),
        hf.get_cosine_with_min_lr_schedule_with_warmup(
            lr=1e-3, num_warmup_steps=10, num_training_steps=100, min_lr=1e-5),
        hf.get_cosine_with_min_lr_schedule_with_warmup_lr_rate(
            lr=1e-3, num_warmup_steps=10, num_training_steps=100, min_lr_rate=0.1),
        hf.get_polynomial_decay_schedule_with_warmup(
            lr=1e-3, num_warmup_steps=10, num_training_steps=100, lr_end=1e-7, power=1.0),
        hf.get_inverse_sqrt_schedule(lr=1e-3, num_warmup_steps=10),
        hf.get_wsd_schedule(lr=1e-3, num_warmup_steps=10, num_decay_steps=20,
                            num_training_steps=100),
    ]
    out.append(hf.get_scheduler("cosine", 1e-3, num_warmup_steps=10, num_training_steps=100))
    return out


def tools(s: js.Schedule, params: dict[str, jax.Array]) -> None:
    values: np.ndarray = js.evaluate(s, 100)
    lr: jax.Array = s(jnp.arange(10))
    config = s.to_config()
    again = js.from_config(config)
    parsed = js.parse(repr(s))
    text = str(js.describe(s, 1_000, compare=None, count=None))
    js.plot(s, 1_000, None, compare=[again, parsed], log=False)
    del values, lr, text
    try:
        js.parse("cosin(1.0, 0.0, 10)")
    except js.ParseError as e:
        print(e.message)

    tx = optax.inject_hyperparams(optax.adamw)(learning_rate=s, weight_decay=1e-2)
    opt_state = tx.init(params)
    print(js.current_lr(opt_state, s), js.hyperparams(opt_state, s))
    reduced = js.plateau(s, patience=2)
    opt_state = js.migrate(opt_state, optax.inject_hyperparams(optax.adamw)(learning_rate=reduced),
                           params)
    opt_state = js.report(opt_state, 0.5)
    print(js.current_lr(opt_state), js.plateau_state(opt_state))
    print(js.should_stop(opt_state, patience=10))
    chain = optax.chain(optax.adamw(1e-3), js.reduce_on_plateau(factor=0.5, patience=5))
    groups: js.ParamGroups = js.param_groups(
        params, {"head": (r"head", 10.0), "body": (r"body", js.layerwise_decay(0.8, 2, 1))},
        default=s)
    del chain, groups

    def loss_fn(p: dict[str, jax.Array], batch: jax.Array) -> jax.Array:
        return jnp.sum((p["head"] * batch) ** 2)

    result: js.FinderResult = js.lr_finder(loss_fn, params, jnp.ones((20, 3)),
                                           optimizer=optax.sgd, num_steps=20)
    print(result.suggestion, js.__version__)
