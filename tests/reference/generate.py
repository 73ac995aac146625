"""Generate reference learning-rate trajectories from the real PyTorch and Hugging Face code.

Run it as ``python tests/reference/generate.py`` (needs ``torch`` and ``transformers``
installed; the test suite that reads the output does not). It writes two JSON files next
to this script:

* ``torch_schedulers.json``: schedulers from ``torch.optim.lr_scheduler``;
* ``hf_schedulers.json``: schedule factories from ``transformers.optimization``.

Recording contract, the same for every case: build ``p = torch.nn.Parameter(...)`` and
``opt = torch.optim.<Optimizer>([p], lr=LR, **optimizer_kwargs)``, build the scheduler, then
for ``t in range(steps)``: record ``opt.param_groups[0]["lr"]`` (and the momentum, or
``betas[0]`` for Adam, where the case has ``momentum_values``) as value ``t``, call
``opt.step()``, then ``sched.step()`` (``sched.step(metrics[t])`` for ReduceLROnPlateau).
So value ``t`` is the learning rate after ``t`` scheduler steps.

Configurations the libraries reject (at construction or while stepping) go to the
``errors`` list with the exception class name and message. Lambdas are kept as source
text (``lr_lambda_src``, ``scale_fn_src``) and evaluated with only ``math`` in scope.
Floats are stored at full float64 precision (``repr``); non-finite metric values are
written as the JSON extensions ``NaN``/``Infinity`` that Python's ``json`` reads back.

Heavy imports happen inside the functions so that importing this module (for example by
``pytest --doctest-modules``) does not require torch.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
TORCH_OUT = os.path.join(HERE, "torch_schedulers.json")
HF_OUT = os.path.join(HERE, "hf_schedulers.json")
GENERATED_BY = "tests/reference/generate.py"
METRIC_SEED = 20240611
METRIC_LEN = 100

CONTRACT = (
    "value t = opt.param_groups[0]['lr'] read after t scheduler steps: for t in range(steps): "
    "record lr (and momentum / betas[0] when momentum_values is present); opt.step(); "
    "sched.step() (sched.step(metrics[t]) for ReduceLROnPlateau)."
)

SGD = {"optimizer": "SGD", "optimizer_kwargs": {"momentum": 0.9}}
ADAM = {"optimizer": "Adam", "optimizer_kwargs": {"betas": [0.9, 0.999]}}
ADAGRAD = {"optimizer": "Adagrad", "optimizer_kwargs": {}}


# --------------------------------------------------------------------------------------
# Case specifications (plain data; no torch needed)
# --------------------------------------------------------------------------------------


def _case(scheduler, lr, kwargs, steps, opt=SGD, **extra):
    spec = {"scheduler": scheduler, "lr": float(lr), "kwargs": kwargs, "steps": int(steps)}
    spec.update(opt)
    spec.update(extra)
    return spec


def _sub(scheduler, **kwargs):
    return {"scheduler": scheduler, "kwargs": kwargs}


LAMBDA_SRCS = [
    "lambda e: 0.95 ** e",
    "lambda e: 1.0 / (1 + e)",
    "lambda e: min(1.0, (e + 1) / 10)",
    "lambda e: 1.0 if e < 10 else 0.1",
    "lambda e: 0.5 * (1.0 + math.cos(math.pi * min(e, 50) / 50))",
    "lambda e: 1.0 / math.sqrt(max(e, 1))",
]

MULTIPLICATIVE_SRCS = [
    "lambda e: 0.95",
    "lambda e: 0.9 if e % 5 == 0 else 1.0",
    "lambda e: 1.0 / (1 + e)",
    "lambda e: 1.01",
    "lambda e: 0.5 if e in (3, 7) else 1.0",
]


def metric_sequences():
    """Named metric sequences for ReduceLROnPlateau, from a seeded numpy RNG."""
    import numpy as np

    n = METRIC_LEN
    t = np.arange(n, dtype=np.float64)
    rng = np.random.default_rng(METRIC_SEED)
    seqs = {}
    seqs["noisy_decreasing"] = np.exp(-t / 30.0) + 0.05 * rng.standard_normal(n)
    seqs["noisy"] = 0.5 + 0.1 * rng.standard_normal(n)
    seqs["flat"] = np.ones(n)
    seqs["increasing"] = 0.1 + 0.01 * t + 0.002 * rng.random(n)
    seqs["decreasing"] = 1.0 / (1.0 + t)
    seqs["tiny_improvements"] = 1.0 - 1e-5 * t
    seqs["negative"] = -2.0 - 0.02 * t + 0.3 * rng.standard_normal(n)
    with_nan = np.exp(-t / 40.0) + 0.03 * rng.standard_normal(n)
    nan_idx = rng.choice(n, size=8, replace=False)
    with_nan[nan_idx] = np.nan
    with_nan[[0, 50, 51]] = np.nan
    seqs["with_nan"] = with_nan
    seqs["staircase"] = np.repeat([1.0, 0.8, 0.8, 0.5, 0.5, 0.5, 0.45, 0.2, 0.2, 0.1], n // 10)
    return {k: [float(x) for x in v] for k, v in seqs.items()}


PLATEAU_OPTIONS = [
    {},
    {"mode": "min", "factor": 0.5, "patience": 0},
    {"mode": "min", "factor": 0.5, "patience": 1},
    {"mode": "min", "factor": 0.5, "patience": 3, "cooldown": 2},
    {"mode": "max", "factor": 0.5, "patience": 2},
    {"mode": "max", "factor": 0.2, "patience": 0, "cooldown": 2},
    {"mode": "min", "threshold_mode": "abs", "threshold": 0.01, "patience": 2, "factor": 0.5},
    {"mode": "max", "threshold_mode": "abs", "threshold": 0.05, "patience": 1, "factor": 0.7},
    {"mode": "min", "threshold_mode": "rel", "threshold": 0.1, "patience": 2, "factor": 0.5},
    {"mode": "max", "threshold_mode": "rel", "threshold": 0.01, "patience": 1, "cooldown": 2,
     "factor": 0.5},
    {"mode": "min", "factor": 0.5, "patience": 0, "min_lr": 0.01},
    {"mode": "min", "factor": 0.3, "patience": 1, "min_lr": [0.005]},
    {"mode": "min", "factor": 0.5, "patience": 0, "eps": 0.02},
    {"mode": "min", "factor": 0.9, "patience": 1, "cooldown": 2, "min_lr": 0.001, "eps": 1e-3},
    {"mode": "min", "factor": 0.1, "patience": 0, "threshold": 0.0},
    {"mode": "min", "threshold_mode": "abs", "threshold": 0.0, "patience": 3, "cooldown": 0,
     "factor": 0.25},
]


def torch_case_specs():
    """Every PyTorch case as plain data (valid ones and ones expected to raise)."""
    c = []
    # StepLR
    for lr, ss, g, n in [(0.1, 3, 0.5, 50), (0.1, 1, 0.9, 60), (1.0, 7, 0.1, 120),
                         (0.05, 10, 0.5, 150), (0.1, 1, 1.0, 20), (0.01, 4, 1.5, 40),
                         (0.1, 30, 0.1, 200), (0.3, 2, 0.7, 80)]:
        c.append(_case("StepLR", lr, {"step_size": ss, "gamma": g}, n))
    c.append(_case("StepLR", 0.1, {"step_size": 0}, 5))
    c.append(_case("StepLR", 0.1, {"step_size": -2, "gamma": 0.5}, 10))
    # MultiStepLR
    for lr, ms, g, n in [(0.1, [30, 80], 0.1, 120), (0.1, [0, 3], 0.5, 20),
                         (0.1, [2, 2, 5], 0.5, 20), (0.1, [5, 2], 0.5, 20),
                         (0.1, [3, 3, 3], 0.5, 15), (0.1, [1, 2, 3, 4, 5], 0.9, 15),
                         (1.0, [10, 10, 20, 50], 0.3, 80), (0.1, [], 0.1, 10),
                         (0.1, [100], 0.1, 30), (0.1, [0], 0.5, 10), (0.1, [0, 0], 0.5, 10),
                         (0.1, [-1, 2], 0.1, 10), (0.1, [9, 1, 5, 5], 0.5, 15),
                         (0.02, [4, 8, 12], 2.0, 20)]:
        c.append(_case("MultiStepLR", lr, {"milestones": ms, "gamma": g}, n))
    # ConstantLR
    for lr, kw, n in [(0.1, {}, 12), (0.1, {"factor": 0.5, "total_iters": 0}, 10),
                      (0.1, {"factor": 0.5, "total_iters": 1}, 10),
                      (0.1, {"factor": 0.25, "total_iters": 10}, 25),
                      (0.1, {"factor": 1.0, "total_iters": 5}, 10),
                      (1.0, {"factor": 0.1, "total_iters": 50}, 80),
                      (0.05, {"factor": 0.999, "total_iters": 3}, 10),
                      (0.1, {"factor": 0.3, "total_iters": 7}, 20)]:
        c.append(_case("ConstantLR", lr, kw, n))
    c.append(_case("ConstantLR", 0.1, {"factor": 0.0, "total_iters": 4}, 10))
    c.append(_case("ConstantLR", 0.1, {"factor": 1.5}, 10))
    c.append(_case("ConstantLR", 0.1, {"factor": -0.5}, 10))
    # LinearLR
    for lr, kw, n in [(0.1, {}, 12),
                      (0.1, {"start_factor": 0.1, "end_factor": 1.0, "total_iters": 10}, 25),
                      (0.1, {"start_factor": 1.0, "end_factor": 0.1, "total_iters": 20}, 40),
                      (0.1, {"start_factor": 0.5, "end_factor": 0.5, "total_iters": 5}, 10),
                      (0.1, {"start_factor": 0.5, "end_factor": 1.0, "total_iters": 0}, 10),
                      (0.1, {"start_factor": 1.0, "end_factor": 0.0, "total_iters": 10}, 20),
                      (1.0, {"start_factor": 0.01, "end_factor": 1.0, "total_iters": 100}, 150),
                      (0.1, {"start_factor": 0.25, "end_factor": 0.75, "total_iters": 1}, 8),
                      (0.1, {"start_factor": 0.8, "end_factor": 0.2, "total_iters": 3}, 10),
                      (0.1, {"start_factor": 0.5, "end_factor": 1.0, "total_iters": -1}, 8),
                      (3e-4, {"start_factor": 1e-3, "end_factor": 1.0, "total_iters": 30}, 40)]:
        c.append(_case("LinearLR", lr, kw, n))
    for kw in [{"start_factor": 0.0}, {"start_factor": 1.5}, {"start_factor": 0.5,
               "end_factor": 1.5}, {"start_factor": 0.5, "end_factor": -0.5}]:
        c.append(_case("LinearLR", 0.1, kw, 10))
    # ExponentialLR
    for lr, g, n in [(0.1, 0.9, 60), (0.1, 0.99, 250), (1.0, 0.5, 80), (0.1, 1.0, 10),
                     (0.001, 1.01, 100), (0.05, 0.95, 120), (0.1, 0.0, 5), (0.1, -1.0, 6)]:
        c.append(_case("ExponentialLR", lr, {"gamma": g}, n))
    # PolynomialLR
    for lr, ti, pw, n in [(0.1, 5, 1.0, 10), (0.1, 0, 1.0, 8), (0.1, 0, 2.0, 8),
                          (0.1, 1, 1.0, 6), (0.1, 20, 0.5, 30), (0.1, 20, 1.0, 30),
                          (0.1, 20, 2.0, 30), (1.0, 50, 3.0, 70), (0.05, 100, 0.5, 130),
                          (0.1, 10, 0.0, 15), (0.1, 7, 1.5, 12)]:
        c.append(_case("PolynomialLR", lr, {"total_iters": ti, "power": pw}, n))
    c.append(_case("PolynomialLR", 0.1, {"total_iters": -3, "power": 1.0}, 8))
    # CosineAnnealingLR
    for lr, kw, n in [(0.1, {"T_max": 10}, 60), (0.1, {"T_max": 50}, 150),
                      (0.1, {"T_max": 1}, 20), (0.1, {"T_max": 2}, 20),
                      (0.1, {"T_max": 7, "eta_min": 0.01}, 100),
                      (0.1, {"T_max": 100, "eta_min": 0.001}, 250),
                      (1.0, {"T_max": 3, "eta_min": 0.05}, 40),
                      (0.1, {"T_max": 4, "eta_min": 0.2}, 25),
                      (0.1, {"T_max": 200}, 300), (0.02, {"T_max": 13, "eta_min": 1e-4}, 120)]:
        c.append(_case("CosineAnnealingLR", lr, kw, n))
    c.append(_case("CosineAnnealingLR", 0.1, {"T_max": 0}, 5))
    # CosineAnnealingWarmRestarts
    for lr, kw, n in [(0.1, {"T_0": 10}, 100), (0.1, {"T_0": 10, "T_mult": 2}, 160),
                      (0.1, {"T_0": 5, "T_mult": 2, "eta_min": 0.01}, 160),
                      (0.1, {"T_0": 3, "T_mult": 3}, 130),
                      (0.1, {"T_0": 2, "T_mult": 3, "eta_min": 0.001}, 90),
                      (0.1, {"T_0": 1}, 20), (0.1, {"T_0": 1, "T_mult": 2}, 70),
                      (1.0, {"T_0": 20, "T_mult": 1, "eta_min": 0.05}, 120),
                      (0.1, {"T_0": 7, "T_mult": 1, "eta_min": 0.02}, 60)]:
        c.append(_case("CosineAnnealingWarmRestarts", lr, kw, n))
    for kw in [{"T_0": 0}, {"T_0": 2.0}, {"T_0": 2, "T_mult": 0}, {"T_0": 2, "T_mult": 1.5},
               {"T_0": -1}]:
        c.append(_case("CosineAnnealingWarmRestarts", 0.1, kw, 10))
    # CyclicLR
    base = {"base_lr": 0.01, "max_lr": 0.1}
    for kw, n in [({"step_size_up": 5, "mode": "triangular", "cycle_momentum": False}, 60),
                  ({"step_size_up": 4, "step_size_down": 8, "mode": "triangular",
                    "cycle_momentum": False}, 80),
                  ({"step_size_up": 5, "mode": "triangular2", "cycle_momentum": False}, 80),
                  ({"step_size_up": 3, "step_size_down": 7, "mode": "triangular2",
                    "cycle_momentum": False}, 100),
                  ({"step_size_up": 5, "mode": "exp_range", "gamma": 0.99,
                    "cycle_momentum": False}, 100),
                  ({"step_size_up": 4, "step_size_down": 6, "mode": "exp_range", "gamma": 0.9,
                    "cycle_momentum": False}, 60),
                  ({"step_size_up": 1, "cycle_momentum": False}, 12),
                  ({"step_size_up": 1, "step_size_down": 1, "mode": "triangular2",
                    "cycle_momentum": False}, 20),
                  ({"step_size_up": 5, "mode": "triangular", "scale_mode": "iterations",
                    "cycle_momentum": False}, 30),
                  ({"step_size_up": 5, "mode": "exp_range", "gamma": 0.95,
                    "scale_mode": "cycle", "cycle_momentum": False}, 40),
                  ({"step_size_up": 5, "scale_fn_src": "lambda x: 1.0 / (2.0 ** (x - 1))",
                    "scale_mode": "cycle", "cycle_momentum": False}, 60),
                  ({"step_size_up": 5, "scale_fn_src": "lambda x: 0.99 ** x",
                    "scale_mode": "iterations", "cycle_momentum": False}, 60),
                  ({"step_size_up": 5, "mode": "triangular", "cycle_momentum": True}, 40),
                  ({"step_size_up": 3, "step_size_down": 5, "mode": "triangular2",
                    "cycle_momentum": True, "base_momentum": 0.85, "max_momentum": 0.95}, 48),
                  ({"step_size_up": 4, "mode": "exp_range", "gamma": 0.97,
                    "cycle_momentum": True, "base_momentum": 0.7, "max_momentum": 0.9}, 60),
                  ({"step_size_up": 20, "step_size_down": 10, "cycle_momentum": False}, 150)]:
        c.append(_case("CyclicLR", 0.1, {**base, **kw}, n))
    c.append(_case("CyclicLR", 0.001, {"base_lr": 0.001, "max_lr": 0.006, "step_size_up": 5,
                                       "cycle_momentum": True, "base_momentum": 0.8,
                                       "max_momentum": 0.9}, 40, ADAM))
    c.append(_case("CyclicLR", 0.5, {"base_lr": 0.2, "max_lr": 0.5, "step_size_up": 6,
                                     "step_size_down": 2, "mode": "triangular",
                                     "cycle_momentum": False}, 40))
    c.append(_case("CyclicLR", 0.1, {**base, "mode": "foo", "cycle_momentum": False}, 5))
    c.append(_case("CyclicLR", 0.1, {**base, "step_size_up": 0, "cycle_momentum": False}, 5))
    c.append(_case("CyclicLR", 0.1, {**base, "step_size_up": 5, "cycle_momentum": True}, 5,
                   ADAGRAD))
    # OneCycleLR
    for kw, opt in [({"max_lr": 0.1, "total_steps": 100}, SGD),
                    ({"max_lr": 0.1, "total_steps": 100, "anneal_strategy": "linear"}, SGD),
                    ({"max_lr": 0.1, "total_steps": 100, "three_phase": True}, SGD),
                    ({"max_lr": 0.1, "total_steps": 100, "three_phase": True,
                      "anneal_strategy": "linear"}, SGD),
                    ({"max_lr": 1.0, "epochs": 10, "steps_per_epoch": 12}, SGD),
                    ({"max_lr": 0.5, "epochs": 3, "steps_per_epoch": 7, "pct_start": 0.25,
                      "anneal_strategy": "linear", "three_phase": True}, SGD),
                    ({"max_lr": 0.1, "total_steps": 50, "pct_start": 0.1}, SGD),
                    ({"max_lr": 0.1, "total_steps": 50, "pct_start": 0.5}, SGD),
                    ({"max_lr": 0.1, "total_steps": 60, "pct_start": 0.0}, SGD),
                    ({"max_lr": 0.1, "total_steps": 60, "pct_start": 1.0}, SGD),
                    ({"max_lr": 0.1, "total_steps": 80, "div_factor": 10.0,
                      "final_div_factor": 100.0}, SGD),
                    ({"max_lr": 0.1, "total_steps": 80, "div_factor": 1.0,
                      "final_div_factor": 1.0, "anneal_strategy": "linear"}, SGD),
                    ({"max_lr": 0.01, "total_steps": 120, "pct_start": 0.4,
                      "div_factor": 100.0, "final_div_factor": 1000.0,
                      "three_phase": True}, SGD),
                    ({"max_lr": 0.1, "total_steps": 100, "cycle_momentum": False}, SGD),
                    ({"max_lr": 0.1, "total_steps": 90, "base_momentum": 0.8,
                      "max_momentum": 0.9, "three_phase": True}, SGD),
                    ({"max_lr": 0.003, "total_steps": 100, "cycle_momentum": True}, ADAM),
                    ({"max_lr": 0.003, "total_steps": 64, "cycle_momentum": True,
                      "base_momentum": 0.8, "max_momentum": 0.95, "anneal_strategy": "linear",
                      "three_phase": True}, ADAM),
                    ({"max_lr": 0.1, "total_steps": 1}, SGD),
                    ({"max_lr": 0.1, "total_steps": 2}, SGD),
                    ({"max_lr": 0.1, "total_steps": 3}, SGD),
                    ({"max_lr": 0.1, "total_steps": 4, "three_phase": True}, SGD),
                    ({"max_lr": 0.1, "total_steps": 250, "pct_start": 0.05}, SGD)]:
        c.append(_case("OneCycleLR", 0.1, kw, 0, opt))  # steps filled in at run time
    for kw in [{"max_lr": 0.1}, {"max_lr": 0.1, "total_steps": 0},
               {"max_lr": 0.1, "total_steps": 10, "pct_start": 1.5},
               {"max_lr": 0.1, "total_steps": 10, "pct_start": -0.1},
               {"max_lr": 0.1, "total_steps": 10, "anneal_strategy": "foo"},
               {"max_lr": 0.1, "epochs": 0, "steps_per_epoch": 3},
               {"max_lr": 0.1, "epochs": 3, "steps_per_epoch": 0},
               {"max_lr": 0.1, "epochs": 3}]:
        c.append(_case("OneCycleLR", 0.1, kw, 5))
    c.append(_case("OneCycleLR", 0.1, {"max_lr": 0.1, "total_steps": 10}, 5, ADAGRAD))
    # LambdaLR / MultiplicativeLR
    for i, src in enumerate(LAMBDA_SRCS):
        c.append(_case("LambdaLR", [0.1, 1.0, 0.05][i % 3], {"lr_lambda_src": src}, 80))
    for i, src in enumerate(MULTIPLICATIVE_SRCS):
        n = 40 if "1 + e" in src else 80
        c.append(_case("MultiplicativeLR", [0.1, 1.0][i % 2], {"lr_lambda_src": src}, n))
    # SequentialLR
    seq = [
        ([_sub("LinearLR", start_factor=0.1, end_factor=1.0, total_iters=5),
          _sub("CosineAnnealingLR", T_max=45)], [5], 0.1, 60),
        ([_sub("LinearLR", start_factor=0.01, end_factor=1.0, total_iters=10),
          _sub("CosineAnnealingLR", T_max=90, eta_min=0.001)], [10], 0.1, 120),
        ([_sub("ConstantLR", factor=0.5, total_iters=3), _sub("ExponentialLR", gamma=0.9),
          _sub("StepLR", step_size=3, gamma=0.5)], [4, 10], 0.1, 30),
        ([_sub("ConstantLR", factor=0.1, total_iters=2), _sub("ExponentialLR", gamma=0.9)],
         [2], 0.1, 20),
        ([_sub("ExponentialLR", gamma=0.9), _sub("StepLR", step_size=2, gamma=0.5)],
         [5], 1.0, 20),
        ([_sub("LinearLR", start_factor=0.1, total_iters=10),
          _sub("ConstantLR", factor=0.5, total_iters=5),
          _sub("CosineAnnealingWarmRestarts", T_0=5, T_mult=2)], [10, 20], 0.1, 80),
        ([_sub("LinearLR", start_factor=0.5, total_iters=4), _sub("ExponentialLR", gamma=0.8)],
         [0], 0.1, 12),
        ([_sub("LinearLR", start_factor=0.1, total_iters=10),
          _sub("ExponentialLR", gamma=0.95)], [5], 0.1, 30),
        ([_sub("LinearLR", start_factor=0.2, total_iters=5),
          _sub("MultiStepLR", milestones=[3, 8], gamma=0.5)], [5], 0.1, 25),
        ([_sub("ConstantLR", factor=0.5, total_iters=3),
          _sub("PolynomialLR", total_iters=10, power=2.0)], [3], 0.1, 20),
        ([_sub("LinearLR", start_factor=0.1, total_iters=3),
          _sub("LambdaLR", lr_lambda_src="lambda e: 0.95 ** e")], [3], 0.1, 25),
        ([_sub("StepLR", step_size=2, gamma=0.5), _sub("StepLR", step_size=3, gamma=0.1),
          _sub("ConstantLR", factor=0.5, total_iters=2)], [4, 8], 0.1, 20),
        ([_sub("LinearLR", start_factor=0.5, total_iters=3),
          _sub("CosineAnnealingLR", T_max=4, eta_min=0.01)], [3], 0.1, 30),
    ]
    for subs, ms, lr, n in seq:
        c.append(_case("SequentialLR", lr, {"schedulers": subs, "milestones": ms}, n))
    c.append(_case("SequentialLR", 0.1, {
        "schedulers": [_sub("LinearLR", total_iters=3), _sub("ExponentialLR", gamma=0.9)],
        "milestones": [3, 6]}, 10))
    # ChainedScheduler
    chained = [
        ([_sub("ConstantLR", factor=0.5, total_iters=4), _sub("ExponentialLR", gamma=0.9)],
         0.1, 30),
        ([_sub("LinearLR", start_factor=0.1, end_factor=1.0, total_iters=10),
          _sub("MultiStepLR", milestones=[5, 15], gamma=0.5)], 0.1, 30),
        ([_sub("StepLR", step_size=3, gamma=0.5), _sub("ExponentialLR", gamma=0.95)], 1.0, 30),
        ([_sub("LinearLR", start_factor=0.1, total_iters=5),
          _sub("CosineAnnealingLR", T_max=20, eta_min=0.001)], 0.1, 60),
        ([_sub("ConstantLR", factor=0.5, total_iters=3),
          _sub("LinearLR", start_factor=0.2, total_iters=6),
          _sub("ExponentialLR", gamma=0.97)], 0.1, 40),
        ([_sub("MultiplicativeLR", lr_lambda_src="lambda e: 0.9"),
          _sub("StepLR", step_size=4, gamma=0.5)], 0.1, 25),
        ([_sub("ConstantLR", factor=0.25, total_iters=0),
          _sub("ExponentialLR", gamma=0.9)], 0.1, 15),
    ]
    for subs, lr, n in chained:
        c.append(_case("ChainedScheduler", lr, {"schedulers": subs}, n))
    # ReduceLROnPlateau
    metrics = metric_sequences()
    for opts in PLATEAU_OPTIONS:
        for name, seq_vals in metrics.items():
            c.append(_case("ReduceLROnPlateau", 0.1, dict(opts), METRIC_LEN,
                           metrics=seq_vals, metrics_name=name))
    for kw in [{"factor": 1.0}, {"factor": 1.5}, {"mode": "foo"}, {"threshold_mode": "foo"}]:
        c.append(_case("ReduceLROnPlateau", 0.1, kw, 3, metrics=[1.0, 1.0, 1.0],
                       metrics_name="flat3"))
    return c


def hf_case_specs():
    """Every Hugging Face case as plain data."""
    c = []

    def add(name, lr, kwargs, steps, opt=SGD):
        c.append(_case(name, lr, kwargs, steps, opt))

    def past(n):  # about 20% past num_training_steps
        return n + max(2, (n + 4) // 5)

    add("get_constant_schedule", 0.1, {}, 30)
    add("get_constant_schedule", 3e-4, {}, 10)
    for w in [0, 1, 10]:
        add("get_constant_schedule_with_warmup", 0.1, {"num_warmup_steps": w}, 40)
    add("get_constant_schedule_with_warmup", 1e-3, {"num_warmup_steps": 25}, 40)
    for w, n in [(0, 100), (10, 100), (100, 100), (5, 50), (1, 10), (3, 7), (20, 10)]:
        add("get_linear_schedule_with_warmup", 0.1,
            {"num_warmup_steps": w, "num_training_steps": n}, past(n))
    for w, n, cyc in [(0, 100, 0.5), (10, 100, 0.5), (10, 100, 1.0), (10, 100, 2.0),
                      (0, 60, 1.0), (5, 60, 2.0), (0, 50, 0.25), (20, 120, 1.5)]:
        add("get_cosine_schedule_with_warmup", 0.1,
            {"num_warmup_steps": w, "num_training_steps": n, "num_cycles": cyc}, past(n))
    add("get_cosine_schedule_with_warmup", 0.1,
        {"num_warmup_steps": 10, "num_training_steps": 100}, past(100))
    for w, n, cyc in [(0, 100, 1), (10, 100, 1), (0, 90, 3), (10, 100, 3), (5, 40, 2)]:
        add("get_cosine_with_hard_restarts_schedule_with_warmup", 0.1,
            {"num_warmup_steps": w, "num_training_steps": n, "num_cycles": cyc}, past(n))
    add("get_cosine_with_hard_restarts_schedule_with_warmup", 0.1,
        {"num_warmup_steps": 10, "num_training_steps": 100}, past(100))
    for lr, kw in [(0.1, {"num_warmup_steps": 0, "num_training_steps": 100}),
                   (0.1, {"num_warmup_steps": 10, "num_training_steps": 100, "lr_end": 1e-4,
                          "power": 1.0}),
                   (0.1, {"num_warmup_steps": 10, "num_training_steps": 100, "lr_end": 1e-4,
                          "power": 2.0}),
                   (0.1, {"num_warmup_steps": 10, "num_training_steps": 100, "lr_end": 1e-4,
                          "power": 0.5}),
                   (1.0, {"num_warmup_steps": 5, "num_training_steps": 50, "lr_end": 0.0,
                          "power": 2.0}),
                   (0.01, {"num_warmup_steps": 0, "num_training_steps": 60, "lr_end": 0.001,
                           "power": 0.5}),
                   (0.1, {"num_warmup_steps": 20, "num_training_steps": 20, "lr_end": 1e-3}),
                   (0.1, {"num_warmup_steps": 3, "num_training_steps": 40, "lr_end": 0.05,
                          "power": 3.0})]:
        add("get_polynomial_decay_schedule_with_warmup", lr, kw,
            past(kw["num_training_steps"]))
    for w, ts, n in [(0, None, 60), (10, None, 150), (1, None, 60), (0, 5, 60), (10, 5, 150),
                     (10, 100, 200), (4, 20, 120)]:
        kw = {"num_warmup_steps": w}
        if ts is not None:
            kw["timescale"] = ts
        add("get_inverse_sqrt_schedule", 0.1, kw, n)
    for lr, kw in [(0.1, {"num_warmup_steps": 10, "num_training_steps": 100, "min_lr": 1e-3}),
                   (0.1, {"num_warmup_steps": 10, "num_training_steps": 100,
                          "min_lr_rate": 0.1}),
                   (0.1, {"num_warmup_steps": 0, "num_training_steps": 80, "num_cycles": 1.0,
                          "min_lr_rate": 0.05}),
                   (0.5, {"num_warmup_steps": 5, "num_training_steps": 60, "num_cycles": 2.0,
                          "min_lr": 0.05}),
                   (0.1, {"num_warmup_steps": 0, "num_training_steps": 50,
                          "min_lr_rate": 0.0})]:
        add("get_cosine_with_min_lr_schedule_with_warmup", lr, kw,
            past(kw["num_training_steps"]))
    for lr, kw in [(0.1, {"num_warmup_steps": 10, "num_training_steps": 100,
                          "min_lr_rate": 0.1, "warmup_lr_rate": 0.2}),
                   (0.1, {"num_warmup_steps": 10, "num_training_steps": 100, "min_lr": 1e-3}),
                   (0.1, {"num_warmup_steps": 5, "num_training_steps": 50, "num_cycles": 1.0,
                          "min_lr_rate": 0.05, "warmup_lr_rate": 0.0})]:
        add("get_cosine_with_min_lr_schedule_with_warmup_lr_rate", lr, kw,
            past(kw["num_training_steps"]))
    # get_wsd_schedule: every warmup_type x decay_type, then option variety
    types = ["linear", "cosine", "1-sqrt"]
    for i, wt in enumerate(types):
        for j, dt in enumerate(types):
            kw = {"num_warmup_steps": 10, "num_decay_steps": 20, "num_training_steps": 60,
                  "warmup_type": wt, "decay_type": dt}
            if (i + j) % 2:
                kw["min_lr_ratio"] = 0.1
            add("get_wsd_schedule", 0.1, kw, past(60))
    for kw, n in [({"num_warmup_steps": 10, "num_decay_steps": 20, "num_stable_steps": 30}, 72),
                  ({"num_warmup_steps": 10, "num_decay_steps": 20, "num_training_steps": 100,
                    "num_stable_steps": 30}, 120),
                  ({"num_warmup_steps": 0, "num_decay_steps": 30, "num_training_steps": 50,
                    "decay_type": "linear"}, 60),
                  ({"num_warmup_steps": 5, "num_decay_steps": 0, "num_training_steps": 40}, 48),
                  ({"num_warmup_steps": 5, "num_decay_steps": 20, "num_training_steps": 50,
                    "num_cycles": 1.0, "min_lr_ratio": 0.2}, 60),
                  ({"num_warmup_steps": 5, "num_decay_steps": 20, "num_training_steps": 50,
                    "num_cycles": 0.25}, 60),
                  ({"num_warmup_steps": 8, "num_decay_steps": 16, "num_stable_steps": 0,
                    "warmup_type": "cosine", "decay_type": "1-sqrt", "min_lr_ratio": 0.05}, 30),
                  ({"num_warmup_steps": 10, "num_decay_steps": 20, "num_training_steps": 20,
                    "warmup_type": "1-sqrt", "decay_type": "linear"}, 36),
                  ({"num_warmup_steps": 1, "num_decay_steps": 1, "num_stable_steps": 1,
                    "warmup_type": "cosine", "decay_type": "cosine", "min_lr_ratio": 0.5}, 6)]:
        add("get_wsd_schedule", 0.1, kw, n)
    return c


HF_ERROR_SPECS = [
    ("get_wsd_schedule", 0.1, {"num_warmup_steps": 10, "num_decay_steps": 20}),
    ("get_wsd_schedule", 0.1, {"num_warmup_steps": 10, "num_decay_steps": 20,
                               "num_training_steps": 60, "warmup_type": "exp"}),
    ("get_wsd_schedule", 0.1, {"num_warmup_steps": 10, "num_decay_steps": 20,
                               "num_training_steps": 60, "decay_type": "step"}),
    ("get_cosine_with_min_lr_schedule_with_warmup", 0.1,
     {"num_warmup_steps": 10, "num_training_steps": 100}),
    ("get_cosine_with_min_lr_schedule_with_warmup", 0.1,
     {"num_warmup_steps": 10, "num_training_steps": 100, "min_lr": 1e-3, "min_lr_rate": 0.1}),
    ("get_polynomial_decay_schedule_with_warmup", 0.1,
     {"num_warmup_steps": 10, "num_training_steps": 100, "lr_end": 0.1}),
    ("get_polynomial_decay_schedule_with_warmup", 0.1,
     {"num_warmup_steps": 10, "num_training_steps": 100, "lr_end": 0.5}),
]


# --------------------------------------------------------------------------------------
# Running cases
# --------------------------------------------------------------------------------------


def _eval_src(src):
    return eval(src, {"__builtins__": {"min": min, "max": max}, "math": math})  # noqa: S307


def _make_optimizer(spec):
    import torch

    p = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    cls = getattr(torch.optim, spec["optimizer"])
    okw = dict(spec.get("optimizer_kwargs", {}))
    if "betas" in okw:
        okw["betas"] = tuple(okw["betas"])
    return cls([p], lr=spec["lr"], **okw)


def _torch_kwargs(kwargs, opt):
    """Translate JSON kwargs into real constructor arguments."""
    kw = dict(kwargs)
    if "lr_lambda_src" in kw:
        kw["lr_lambda"] = _eval_src(kw.pop("lr_lambda_src"))
    if "scale_fn_src" in kw:
        kw["scale_fn"] = _eval_src(kw.pop("scale_fn_src"))
    if "schedulers" in kw:
        kw["schedulers"] = [_build_torch(s["scheduler"], s["kwargs"], opt)
                            for s in kw["schedulers"]]
    return kw


def _build_torch(name, kwargs, opt):
    from torch.optim import lr_scheduler

    cls = getattr(lr_scheduler, name)
    kw = _torch_kwargs(kwargs, opt)
    if name == "ChainedScheduler":
        return cls(kw["schedulers"], optimizer=opt)
    return cls(opt, **kw)


def _momentum_key(spec):
    if spec["scheduler"] not in ("CyclicLR", "OneCycleLR"):
        return None
    return "betas" if spec["optimizer"] == "Adam" else "momentum"


def _read(opt, key):
    g = opt.param_groups[0]
    if key == "betas":
        return float(g["betas"][0])
    return float(g[key])


def _err(spec, stage, exc, values, at_step=None):
    out = {k: v for k, v in spec.items() if k != "steps"}
    out["stage"] = stage
    if at_step is not None:
        out["at_step"] = at_step
        out["lr_values_before_error"] = values
    out["exception"] = type(exc).__name__
    out["message"] = str(exc)
    return out


def run_case(spec, build):
    """Run one spec. Returns ("case", dict) or ("error", dict)."""
    spec = dict(spec)
    mkey = _momentum_key(spec)
    opt = _make_optimizer(spec)
    try:
        sched = build(spec, opt)
    except Exception as exc:  # noqa: BLE001 - recorded for parity tests
        return "error", _err(spec, "construct", exc, None)
    if spec["scheduler"] == "OneCycleLR" and spec["steps"] == 0:
        spec["steps"] = int(sched.total_steps)
    metrics = spec.get("metrics")
    lrs, moms = [], []
    for t in range(spec["steps"]):
        lrs.append(_read(opt, "lr"))
        if mkey:
            moms.append(_read(opt, mkey))
        opt.step()
        try:
            if metrics is not None:
                sched.step(metrics[t])
            else:
                sched.step()
        except Exception as exc:  # noqa: BLE001
            if spec["scheduler"] == "OneCycleLR" and t == spec["steps"] - 1:
                # Should not happen: PyTorch allows total_steps scheduler steps.
                spec["final_step_error"] = f"{type(exc).__name__}: {exc}"
                break
            return "error", _err(spec, "step", exc, lrs, at_step=t)
    spec["lr_values"] = lrs
    if mkey:
        spec["momentum_values"] = moms
        spec["momentum_key"] = "betas[0]" if mkey == "betas" else "momentum"
    if spec["scheduler"] == "OneCycleLR":
        _onecycle_tail(spec, sched, opt)
    return "case", spec


def _onecycle_tail(spec, sched, opt):
    """Record what PyTorch does beyond total_steps (documentation only)."""
    spec["total_steps"] = spec["steps"]
    spec["note"] = ("lr_values holds exactly total_steps values; PyTorch allows one more "
                    "scheduler.step() (value below) and raises on the next")
    spec["lr_after_total_steps"] = _read(opt, "lr")
    opt.step()
    try:
        sched.step()
        spec["extra_step_error"] = None
    except Exception as exc:  # noqa: BLE001
        spec["extra_step_error"] = {"exception": type(exc).__name__, "message": str(exc)}


def _torch_build(spec, opt):
    return _build_torch(spec["scheduler"], spec["kwargs"], opt)


def _hf_build(spec, opt):
    from transformers import optimization

    return getattr(optimization, spec["scheduler"])(opt, **spec["kwargs"])


def _run_all(specs, build, extra_errors=()):
    cases, errors = [], []
    for spec in list(specs) + list(extra_errors):
        kind, out = run_case(spec, build)
        (cases if kind == "case" else errors).append(out)
    return cases, errors


def _meta(extra):
    import numpy
    import torch

    meta = {
        "torch": torch.__version__.split("+")[0],
        "torch_full_version": torch.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "generated_by": GENERATED_BY,
        "contract": CONTRACT,
        "float_format": "full float64 (Python repr); NaN/Infinity as Python-json extensions",
    }
    meta.update(extra)
    return meta


def _dump(path, doc):
    """Compact but diff-friendly JSON: one case per line."""
    parts = ["{\n", '"meta": ', json.dumps(doc["meta"], sort_keys=True), ",\n"]
    for key in [k for k in doc if k != "meta"]:
        items = doc[key]
        if isinstance(items, list):
            parts.append(f'"{key}": [\n')
            parts.append(",\n".join(json.dumps(x, separators=(",", ":")) for x in items))
            parts.append("\n]")
        else:
            parts.append(f'"{key}": ' + json.dumps(items, separators=(",", ":")))
        parts.append(",\n")
    parts[-1] = "\n}\n"
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(parts))
    with open(path, encoding="utf-8") as f:  # sanity: must parse back identically
        loaded = json.load(f)
    assert json.dumps(loaded, sort_keys=True) == json.dumps(doc, sort_keys=True), path


def generate_torch():
    cases, errors = _run_all(torch_case_specs(), _torch_build)
    doc = {
        "meta": _meta({
            "metric_seed": METRIC_SEED,
            "lambda_namespace": "eval with only math, min, max in scope",
        }),
        "cases": cases,
        "errors": errors,
    }
    _dump(TORCH_OUT, doc)
    return doc


def generate_hf():
    import inspect

    import transformers
    from transformers import optimization

    specs = hf_case_specs()
    errs = [_case(n, lr, kw, 5) for n, lr, kw in HF_ERROR_SPECS]
    cases, errors = _run_all(specs, _hf_build, errs)
    doc = {
        "meta": _meta({
            "transformers": transformers.__version__,
            "module": "transformers.optimization",
            "get_wsd_schedule_signature": str(inspect.signature(optimization.get_wsd_schedule)),
            "kwargs_note": "kwargs are exactly what was passed after the optimizer",
        }),
        "cases": cases,
        "errors": errors,
    }
    _dump(HF_OUT, doc)
    return doc


def _summary(doc):
    counts = {}
    for case in doc["cases"]:
        counts[case["scheduler"]] = counts.get(case["scheduler"], 0) + 1
    return counts


def main():
    warnings.simplefilter("ignore")
    for path, doc in [(TORCH_OUT, generate_torch()), (HF_OUT, generate_hf())]:
        size = os.path.getsize(path)
        print(f"{os.path.relpath(path)}: {size} bytes, {len(doc['cases'])} cases, "
              f"{len(doc['errors'])} errors")
        for name, n in sorted(_summary(doc).items()):
            print(f"  {name}: {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
