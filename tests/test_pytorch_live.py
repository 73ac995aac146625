"""``jaxsched.pytorch`` and ``jaxsched.hf`` against the real libraries, on generated configurations.

Skipped unless torch (and, for the Hugging Face part, transformers) is installed; CI installs
the CPU build. Same recording contract as ``tests/reference``: value ``t`` is the optimizer's
LR after ``t`` scheduler steps. Configurations that PyTorch refuses, or on which it divides by
zero while stepping, must be refused by jaxsched at construction.

Schedules are evaluated through one ``jax.jit`` taking the schedule as a pytree argument:
examples that differ only in float hyperparameters share a compilation.
"""

from __future__ import annotations

import os
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

torch = pytest.importorskip("torch")
hypothesis = pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from torch.optim import lr_scheduler as L  # noqa: E402

import jaxsched as js  # noqa: E402
from jaxsched import pytorch as pt  # noqa: E402

X64 = jax.config.jax_enable_x64
RTOL = 1e-12 if X64 else 1e-6
# A fixed sample in CI; JAXSCHED_LIVE_EXAMPLES=500 draws that many fresh ones per test.
_EXAMPLES = os.environ.get("JAXSCHED_LIVE_EXAMPLES")
SETTINGS = settings(max_examples=int(_EXAMPLES or 25), deadline=None, derandomize=not _EXAMPLES,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
pytestmark = pytest.mark.heavy(seconds=4)  # a few seconds of torch and hypothesis each
EVAL = jax.jit(lambda s, t: s(t))


def run_torch(make, lr, n, metrics=None):
    """PyTorch's LRs (and momenta) for ``n`` steps, or the exception it raised."""
    p = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    opt = torch.optim.SGD([p], lr=lr, momentum=0.9)
    lrs, moms = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            sched = make(opt)
            for t in range(n):
                lrs.append(opt.param_groups[0]["lr"])
                moms.append(opt.param_groups[0]["momentum"])
                if t == n - 1:
                    break  # the next step() records nothing (and OneCycleLR may refuse it)
                opt.step()
                sched.step() if metrics is None else sched.step(metrics[t])
        except (ValueError, ZeroDivisionError) as e:
            return e, None
    return np.asarray(lrs, np.float64), np.asarray(moms, np.float64)


def check(schedule, expected, what, atol=1e-7, scale=0.0, static=False):
    """Every value, 1e-6 relative (1e-12 under x64), absolute ``atol`` times the schedule's
    scale near zero: the largest of its values and the LR-valued arguments (a recorded
    prefix can be far below the values the formula works with, e.g. eta_min > lr).

    ``static``: evaluate with the hyperparameters as constants (the schedule closed over),
    not traced: HF's ``num_cycles`` is exact only then (a traced float32 1.3 is 1.29999995).
    """
    steps = jnp.arange(expected.size)
    got = schedule(steps) if static else EVAL(schedule, steps)
    got = np.asarray(got, np.float64)
    peak = max(np.max(np.abs(expected)), scale, 1e-30)
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=(0.1 * RTOL if X64 else atol) * peak,
                               err_msg=what)


def compare(make_torch, make_jax, lr, n, what, atol=1e-7, scale=0.0):
    expected, moms = run_torch(make_torch, lr, n)
    if isinstance(expected, Exception):
        with pytest.raises((ValueError, TypeError)):
            make_jax()
        return None
    s = make_jax()
    check(s, expected, what, atol, max(scale, lr))
    return s, moms


# Float hyperparameters that a schedule raises to the power t are drawn on a dyadic grid:
# float32 rounds 0.97 to 0.97000003, an error that gamma ** t multiplies by t (jaxsched's own
# ExponentialLR keeps gamma in float64 on the host; the core's cyclic 'exp_range' does not yet).
lrs = st.sampled_from([1.0, 0.1, 0.05, 3e-4])
steps = st.integers(1, 60)
gammas = st.integers(40, 68).map(lambda k: k / 64)
decays = st.integers(8, 64).map(lambda k: k / 64)  # in (0, 1]
# CyclicLR's scale must stay in [0, 1] (PyTorch's docs): a growing gamma ** t makes the LR
# the small difference of large terms, e.g. a negative LR, and float32 loses its digits.
scales = st.integers(40, 64).map(lambda k: k / 64)


# One-argument lambdas: (PyTorch's Python version, the jnp-traceable version).
def lambdas():
    def pow_(a):
        return (lambda e: a**e), (lambda e: a**e)

    def inv(a):
        return (lambda e: 1.0 / (1 + a * e)), (lambda e: 1.0 / (1 + a * e))

    def warm(w):
        return (lambda e: min(1.0, (e + 1) / w)), (lambda e: jnp.minimum(1.0, (e + 1) / w))

    def every(k):
        return (lambda e: 0.5 if e % k == 0 else 1.0), (lambda e: jnp.where(e % k == 0, 0.5, 1.0))

    return st.one_of(gammas.map(pow_), st.integers(1, 8).map(lambda k: inv(k / 8)),
                     st.integers(1, 20).map(warm), st.integers(1, 7).map(every))


# --------------------------------------------------------------------- single schedulers
def simple():
    """(PyTorch name, kwargs for PyTorch, kwargs for jaxsched) of a scheduler on the optimizer's lr."""
    return st.one_of(
        st.tuples(st.just("StepLR"), st.fixed_dictionaries({"step_size": st.integers(1, 12),
                                                            "gamma": gammas})),
        st.tuples(st.just("MultiStepLR"), st.fixed_dictionaries({
            "milestones": st.lists(st.integers(0, 40), max_size=5), "gamma": gammas})),
        st.tuples(st.just("ConstantLR"), st.fixed_dictionaries({"factor": decays,
                                                                "total_iters": st.integers(0, 20)})),
        st.tuples(st.just("LinearLR"), st.fixed_dictionaries({
            "start_factor": decays, "end_factor": decays | st.just(0.0),
            "total_iters": st.integers(0, 25)})),
        st.tuples(st.just("ExponentialLR"), st.fixed_dictionaries({"gamma": gammas})),
        st.tuples(st.just("PolynomialLR"), st.fixed_dictionaries({
            "total_iters": st.integers(0, 30), "power": st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0])})),
        st.tuples(st.just("CosineAnnealingLR"), st.fixed_dictionaries({
            "T_max": st.integers(1, 25), "eta_min": st.sampled_from([0.0, 1e-4, 0.01, 0.2])})),
        st.tuples(st.just("CosineAnnealingWarmRestarts"), st.fixed_dictionaries({
            "T_0": st.integers(1, 12), "T_mult": st.integers(1, 3),
            "eta_min": st.sampled_from([0.0, 1e-3, 0.02])})),
        st.tuples(st.just("LambdaLR"), st.fixed_dictionaries({"lr_lambda": lambdas()})),
        st.tuples(st.just("MultiplicativeLR"), st.fixed_dictionaries({"lr_lambda": lambdas()})),
    )


def torch_sched(opt, name, kw):
    kw = {k: (v[0] if k == "lr_lambda" else v) for k, v in kw.items()}
    return getattr(L, name)(opt, **kw)


def jax_sched(lr, name, kw):
    kw = {k: (v[1] if k == "lr_lambda" else v) for k, v in kw.items()}
    return getattr(pt, name)(lr, **kw)


# PolynomialLR in float32: the core's polynomial computes 1 - t/n with a rounded 1/n (see
# tests/test_pytorch.py); about two ulps of the peak near the end.
def tolerance(names):
    return 1e-6 if "PolynomialLR" in names else 1e-7


def scale(specs):
    return max([kw.get("eta_min", 0.0) for _, kw in specs], default=0.0)


@SETTINGS
@given(lr=lrs, spec=simple(), n=steps)
def test_single_schedulers(lr, spec, n):
    name, kw = spec
    compare(lambda opt: torch_sched(opt, name, kw), lambda: jax_sched(lr, name, kw), lr, n,
            f"{name}{kw}", tolerance([name]), scale([spec]))


@SETTINGS
@given(lr=lrs, specs=st.lists(simple(), min_size=1, max_size=3), data=st.data())
def test_sequential(lr, specs, data):
    ms = sorted(data.draw(st.lists(st.integers(0, 25), min_size=len(specs) - 1,
                                   max_size=len(specs) - 1)))
    n = (ms[-1] if ms else 0) + data.draw(st.integers(1, 30))

    def make_torch(opt):
        return L.SequentialLR(opt, [torch_sched(opt, *s) for s in specs], ms)

    compare(make_torch, lambda: pt.SequentialLR([jax_sched(lr, *s) for s in specs], ms), lr, n,
            f"{specs} {ms}", tolerance([s[0] for s in specs]), scale(specs))


@SETTINGS
@given(lr=lrs, specs=st.lists(simple(), min_size=1, max_size=3), n=steps)
def test_chained(lr, specs, n):
    def make_torch(opt):
        return L.ChainedScheduler([torch_sched(opt, *s) for s in specs], optimizer=opt)

    names = [s[0] for s in specs]
    # A chain with CosineAnnealingLR runs PyTorch's recursion step by step: in float32 each
    # step may add about an ulp of the scale (eta_min + r * (lr - eta_min) cancels).
    recursive = len(names) > 1 and "CosineAnnealingLR" in names
    atol = 1e-7 * max(10, n) if recursive else tolerance(names)
    compare(make_torch, lambda: pt.ChainedScheduler([jax_sched(lr, *s) for s in specs]), lr, n,
            str(specs), atol, scale(specs))


@SETTINGS
@given(kw=st.fixed_dictionaries({
    "base_lr": st.sampled_from([1e-3, 0.01, 0.2]), "max_lr": st.sampled_from([6e-3, 0.1, 0.5]),
    "step_size_up": st.integers(1, 15), "step_size_down": st.none() | st.integers(1, 15),
    "mode": st.sampled_from(["triangular", "triangular2", "exp_range"]), "gamma": scales,
    "cycle_momentum": st.booleans(), "base_momentum": st.sampled_from([0.8, 0.85]),
    "max_momentum": st.sampled_from([0.9, 0.95])}),
    scale=st.none() | st.tuples(scales, st.sampled_from(["cycle", "iterations"])),
    n=st.integers(1, 80))
def test_cyclic(kw, scale, n):
    kw = dict(kw)
    jkw = dict(kw)
    if scale is not None:
        a, kw["scale_mode"] = scale
        jkw["scale_mode"] = kw["scale_mode"]
        kw["scale_fn"], jkw["scale_fn"] = (lambda x: a**x), (lambda x: a**x)
    out = compare(lambda opt: L.CyclicLR(opt, **kw), lambda: pt.CyclicLR(**jkw), 0.1, n, str(kw),
                  scale=max(kw["base_lr"], kw["max_lr"]))
    if out is not None and kw["cycle_momentum"]:
        check(out[0].momentum, out[1], str(kw), scale=kw["max_momentum"])


@SETTINGS
@given(kw=st.fixed_dictionaries({
    "max_lr": st.sampled_from([1.0, 0.1, 3e-3]), "total_steps": st.integers(1, 120),
    "pct_start": st.floats(0.0, 1.0), "anneal_strategy": st.sampled_from(["cos", "linear"]),
    "three_phase": st.booleans(), "div_factor": st.sampled_from([1.0, 10.0, 25.0]),
    "final_div_factor": st.sampled_from([1.0, 100.0, 1e4]), "cycle_momentum": st.booleans(),
    "base_momentum": st.sampled_from([0.8, 0.85]), "max_momentum": st.sampled_from([0.9, 0.95])}))
def test_one_cycle(kw):
    n = kw["total_steps"]
    out = compare(lambda opt: L.OneCycleLR(opt, **kw), lambda: pt.OneCycleLR(**kw), 0.1, n, str(kw),
                  scale=kw["max_lr"])
    if out is None:
        return
    s, moms = out
    if kw["cycle_momentum"]:
        check(s.momentum, moms, str(kw), scale=kw["max_momentum"])
    assert float(s(n + 5)) == float(s(n - 1))  # documented: holds its last value


# --------------------------------------------------------------------- plateau
@jax.jit
def _plateau_run(state, metrics):
    def body(s, m):
        return js.report(s, m), js.current_lr(s)

    return jax.lax.scan(body, state, metrics)[1]


# Metrics are multiples of 1/8 and NaN: exact in float32, and never within float32 rounding of
# PyTorch's bar best * (1 - threshold) unless exactly on it (decided alike in both).
metrics = st.lists(st.integers(-24, 24).map(lambda k: k / 8)
                   | st.sampled_from([float("nan"), float("inf"), float("-inf")]),
                   min_size=1, max_size=40)


@SETTINGS
@given(kw=st.fixed_dictionaries({
    "mode": st.sampled_from(["min", "max"]), "factor": st.sampled_from([0.0, 0.1, 0.5, 0.9]),
    "patience": st.integers(0, 4), "threshold_mode": st.sampled_from(["rel", "abs"]),
    "threshold": st.sampled_from([0.0, 1e-4, 0.125, 1.0]), "cooldown": st.integers(0, 3),
    "min_lr": st.sampled_from([0.0, 1e-3, 0.01]), "eps": st.sampled_from([1e-8, 1e-3])}),
    lr=st.sampled_from([0.1, 1.0]), values=metrics)
def test_reduce_on_plateau(kw, lr, values):
    expected, _ = run_torch(lambda opt: L.ReduceLROnPlateau(opt, **kw), lr, len(values), values)
    tx = optax.inject_hyperparams(optax.sgd)(learning_rate=pt.ReduceLROnPlateau(lr, **kw))
    state = tx.init(jnp.zeros(2))
    got = np.asarray(_plateau_run(state, jnp.asarray(values, js.current_lr(state).dtype)), np.float64)
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=0.1 * RTOL * lr, err_msg=str(kw))


# --------------------------------------------------------------------- Hugging Face
def run_hf(name, lr, kw, n):
    transformers = pytest.importorskip("transformers")
    return run_torch(lambda opt: getattr(transformers.optimization, name)(opt, **kw), lr, n)[0]


warm = st.integers(0, 30)
train = st.integers(1, 120)
cycles = st.sampled_from([0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 1.3])


def hf_case():
    return st.one_of(
        st.tuples(st.just("get_constant_schedule_with_warmup"),
                  st.fixed_dictionaries({"num_warmup_steps": warm})),
        st.tuples(st.just("get_linear_schedule_with_warmup"),
                  st.fixed_dictionaries({"num_warmup_steps": warm, "num_training_steps": train})),
        st.tuples(st.just("get_cosine_schedule_with_warmup"), st.fixed_dictionaries({
            "num_warmup_steps": warm, "num_training_steps": train, "num_cycles": cycles})),
        st.tuples(st.just("get_cosine_with_hard_restarts_schedule_with_warmup"),
                  st.fixed_dictionaries({"num_warmup_steps": warm, "num_training_steps": train,
                                         "num_cycles": st.integers(1, 5)})),
        st.tuples(st.just("get_polynomial_decay_schedule_with_warmup"), st.fixed_dictionaries({
            "num_warmup_steps": warm, "num_training_steps": train,
            "lr_end": st.sampled_from([0.0, 1e-7, 1e-4]), "power": st.sampled_from([0.5, 1.0, 2.0])})),
        st.tuples(st.just("get_inverse_sqrt_schedule"), st.fixed_dictionaries({
            "num_warmup_steps": warm, "timescale": st.none() | st.integers(1, 50)})),
        st.tuples(st.just("get_cosine_with_min_lr_schedule_with_warmup"), st.fixed_dictionaries({
            "num_warmup_steps": warm, "num_training_steps": train, "num_cycles": cycles,
            "min_lr_rate": st.sampled_from([0.0, 0.05, 0.1])})),
        st.tuples(st.just("get_wsd_schedule"), st.fixed_dictionaries({
            "num_warmup_steps": warm, "num_decay_steps": st.integers(0, 30),
            "num_stable_steps": st.integers(0, 30),
            "warmup_type": st.sampled_from(["linear", "cosine", "1-sqrt"]),
            "decay_type": st.sampled_from(["linear", "cosine", "1-sqrt"]),
            "min_lr_ratio": st.sampled_from([0.0, 0.1, 0.5]), "num_cycles": cycles})),
    )


@SETTINGS
@given(lr=st.sampled_from([0.1, 1.0, 3e-4]), spec=hf_case(), extra=st.integers(0, 40))
def test_transformers(lr, spec, extra):
    from jaxsched import hf

    name, kw = spec
    n = kw.get("num_training_steps", 60) + extra
    if name == "get_polynomial_decay_schedule_with_warmup":
        assume(kw["num_training_steps"] > kw["num_warmup_steps"])  # HF divides by zero otherwise
    expected = run_hf(name, lr, kw, n)
    s = getattr(hf, name)(lr, **kw)
    check(s, expected, f"{name}{kw}", 1e-6 if "polynomial" in name else 1e-7, lr,
          static="num_cycles" in kw)
