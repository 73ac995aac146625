"""js.plateau / js.reduce_on_plateau: PyTorch's decisions, carried in the optimizer state.

Every expected value comes from hand-computed traces or from ``Rules`` below, a
float64 Python re-implementation of ``torch.optim.lr_scheduler.ReduceLROnPlateau``
written from its documentation (plus this library's two documented deviations,
each switchable), and, when torch is installed, from torch itself.
"""

from __future__ import annotations

import functools
import json
import math
import os
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax import lax

import jaxsched as js
from jaxsched._plateau import PlateauState, ReduceOnPlateauState

HERE = Path(__file__).parent
INF = math.inf


# ----------------------------------------------------------------- the reference
class Rules:
    """ReduceLROnPlateau's ``step(metric)`` in float64 Python.

    ``pytorch_margin=True`` is PyTorch's relative margin ``best * (1 -/+ threshold)``;
    False is jaxsched's ``threshold * |best|``. NaN/inf metrics are bad evaluations
    (PyTorch agrees except for -inf in 'min' / +inf in 'max' mode).
    """

    def __init__(self, lr=1.0, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0.0, eps=1e-8, pytorch_margin=False):
        self.lr, self.mode, self.factor, self.patience = lr, mode, factor, patience
        self.threshold, self.threshold_mode, self.cooldown = threshold, threshold_mode, cooldown
        self.min_lr, self.eps, self.pytorch_margin = min_lr, eps, pytorch_margin
        self.best = INF if mode == "min" else -INF
        self.num_bad = self.cooldown_counter = self.num_reductions = 0
        self.since_best = 0

    def better(self, a: float) -> bool:
        if not math.isfinite(a):
            return False
        if math.isinf(self.best):  # nothing seen yet
            return True
        b, t = self.best, self.threshold
        sign = 1.0 if self.mode == "min" else -1.0
        if self.threshold_mode == "abs":
            bar = b - sign * t
        elif self.pytorch_margin:
            bar = b * (1.0 - sign * t)
        else:
            bar = b - sign * t * abs(b)
        return a < bar if self.mode == "min" else a > bar

    def step(self, a: float) -> float:
        if self.better(a):
            self.best, self.num_bad, self.since_best = a, 0, 0
        else:
            self.num_bad += 1
            self.since_best += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad = 0
        if self.num_bad > self.patience:
            new = max(self.lr * self.factor, self.min_lr)
            if self.lr - new > self.eps:
                self.lr = new
                self.num_reductions += 1
            self.cooldown_counter = self.cooldown
            self.num_bad = 0
        return self.lr


def ref_trace(metrics, **kw):
    r = Rules(**kw)
    return [r.step(float(m)) for m in metrics]


# ----------------------------------------------------------------- running reports
PAD = 16


@jax.jit
def _reports(state, metrics):
    def body(s, m):
        s = js.report(s, m)
        i = js.plateau_state(s)
        return s, (i.lr, i.best, i.num_bad, i.cooldown_left, i.num_reductions, i.evals_since_best)

    return lax.scan(body, state, metrics)


_batched_reports = jax.jit(jax.vmap(_reports))


def trace(p, metrics):
    """LRs (and the final state) after each ``js.report`` of ``metrics``, one compile."""
    ms = np.full(PAD, np.nan, np.float32)
    ms[:len(metrics)] = metrics
    final, out = _reports(p.init(), jnp.asarray(ms))
    return np.asarray(out[0])[:len(metrics)].tolist(), out, len(metrics)


_report = jax.jit(js.report)


def state_after(p, metrics):
    s = p.init()
    for m in metrics:
        s = _report(s, jnp.float32(m))
    return s


# ----------------------------------------------------------------- hand-computed traces
HAND = [
    # (id, plateau kwargs, metrics, expected LR after each report)
    ("flat", dict(factor=0.5, patience=2), [1.0] * 8, [1, 1, 1, .5, .5, .5, .25, .25]),
    ("improving", dict(factor=0.5, patience=0), [5, 4, 3, 2, 1], [1] * 5),
    ("worsening", dict(factor=0.5, patience=1), [1, 2, 3, 4, 5, 6], [1, 1, .5, .5, .25, .25]),
    # 0.95 is not 10% below 1; 0.89 is; 0.85 is not 10% below 0.89; 0.7 is
    ("noisy_rel", dict(factor=0.5, patience=1, threshold=0.1), [1.0, 0.95, 0.89, 0.85, 0.9, 0.7],
     [1, 1, 1, 1, .5, .5]),
    # |best| margin: -1.05 is not below -1.1; -1.2 is; -1.25, -1.3 are not below -1.32
    ("negative", dict(factor=0.5, patience=1, threshold=0.1), [-1.0, -1.05, -1.2, -1.25, -1.3],
     [1, 1, 1, 1, .5]),
    ("negative_flat", dict(factor=0.5, patience=1), [-1.0] * 6, [1, 1, .5, .5, .25, .25]),
    # PyTorch's margin: best * 0.9 is above best when best < 0: a flat negative metric
    # "improves" forever and never reduces
    ("negative_flat_pytorch", dict(factor=0.5, patience=1, rel_margin="pytorch"), [-1.0] * 6,
     [1] * 6),
    ("nan_inf", dict(factor=0.5, patience=1), [1, np.nan, np.nan, 0.5, INF, -INF, np.nan],
     [1, 1, .5, .5, .5, .25, .25]),
    ("max_rel", dict(mode="max", factor=0.5, patience=1, threshold=0.1),
     [0.5, 0.52, 0.56, 0.6, 0.61, 0.62], [1, 1, 1, 1, .5, .5]),
    ("max_abs", dict(mode="max", factor=0.5, patience=0, threshold=1.0, threshold_mode="abs"),
     [1, 2.5, 3, 3.5, 5], [1, 1, .5, .25, .25]),  # 3.5 > 2.5 + 1 is false: strict
    ("min_abs", dict(factor=0.5, patience=0, threshold=0.5, threshold_mode="abs"),
     [10, 9.6, 9.4, 9.0, 8.9], [1, .5, .5, .25, .125]),
    ("cooldown", dict(factor=0.5, patience=0, cooldown=2), [1.0] * 8,
     [1, .5, .5, .5, .25, .25, .25, .125]),
    # best still updates in cooldown (0.5), the reduction waits for cooldown to end
    ("cooldown_best", dict(factor=0.5, patience=0, cooldown=2), [1, 2, 0.5, 3, 3],
     [1, .5, .5, .5, .25]),
    ("min_lr", dict(factor=0.1, patience=0, min_lr=0.05), [1.0] * 5, [1, .1, .05, .05, .05]),
    ("eps", dict(factor=0.5, patience=0, eps=0.3), [1.0] * 5, [1, .5, .5, .5, .5]),
]


@pytest.mark.parametrize("case", HAND, ids=[c[0] for c in HAND])
def test_hand_computed_traces(case):
    _, kw, metrics, expected = case
    p = js.plateau(1.0, **kw)
    got, _, _ = trace(p, metrics)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    # the reference agrees with the hand computation
    margin = kw.pop("rel_margin", "abs_best") == "pytorch"
    np.testing.assert_allclose(ref_trace(metrics, pytorch_margin=margin, **kw), expected)


def test_hand_trace_counters():
    # cooldown_best: best 0.5 (updated in cooldown), two reductions
    _, out, n = trace(js.plateau(1.0, factor=0.5, patience=0, cooldown=2), [1, 2, 0.5, 3, 3])
    lr, best, num_bad, cooldown_left, reductions, since = (np.asarray(x)[:n] for x in out)
    np.testing.assert_array_equal(best, [1, 1, 0.5, 0.5, 0.5])
    np.testing.assert_array_equal(cooldown_left, [0, 2, 1, 0, 2])
    np.testing.assert_array_equal(reductions, [0, 1, 1, 1, 2])
    np.testing.assert_array_equal(since, [0, 1, 0, 1, 2])
    np.testing.assert_array_equal(num_bad, [0, 0, 0, 0, 0])


def test_min_lr_and_eps_count_only_applied_reductions():
    info = js.plateau_state(state_after(js.plateau(1.0, factor=0.1, patience=0, min_lr=0.05),
                                        [1.0] * 6))
    assert int(info.num_reductions) == 2 and float(info.lr) == pytest.approx(0.05)
    # an eps-blocked reduction still starts the cooldown, as in PyTorch
    s = state_after(js.plateau(1.0, factor=0.5, patience=0, eps=0.3, cooldown=1), [1.0] * 4)
    info = js.plateau_state(s)
    assert int(info.num_reductions) == 1 and int(info.cooldown_left) == 1


def test_patience_zero_does_not_cut_on_improvement():
    # optax.contrib.reduce_on_plateau cuts here (its count == patience after a reset)
    got, _, _ = trace(js.plateau(1.0, patience=0), [3.0, 2.0, 1.0, 0.5])
    assert got == [1.0] * 4


def test_nan_never_becomes_best_and_state_stays_finite():
    s = state_after(js.plateau(1.0, factor=0.5, patience=1), [np.nan, INF, -INF, np.nan])
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(s))
    info = js.plateau_state(s)
    assert float(info.best) == INF  # no finite metric yet: nothing is best
    assert int(info.num_reductions) == 2
    s = js.report(s, 2.0)
    assert float(js.plateau_state(s).best) == 2.0


def test_best_before_any_metric_reads_as_worst():
    assert float(js.plateau_state(js.plateau(1.0).init()).best) == INF
    assert float(js.plateau_state(js.plateau(1.0, mode="max").init()).best) == -INF


# ----------------------------------------------------------------- random parity
def _random_cases(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(n):
        kind = ["walk", "ints", "negative", "crossing", "flat_noise"][i % 5]
        length = 48
        if kind == "walk":
            m = np.cumsum(rng.normal(-0.02, 0.1, length)) + 5.0
        elif kind == "ints":  # ties: exact comparisons decide
            m = rng.integers(0, 6, length).astype(float) + 1.0
        elif kind == "negative":
            m = np.cumsum(rng.normal(-0.02, 0.1, length)) - 3.0
        elif kind == "crossing":
            m = np.linspace(1.0, -1.0, length) + rng.normal(0, 0.2, length)
        else:
            m = 1.0 + rng.normal(0, 1e-3, length)
        m = m.astype(np.float32)
        if rng.random() < 0.5:
            m = -m if kind != "ints" else 8.0 - m
        exact = kind == "ints"
        kw = dict(
            mode=str(rng.choice(["min", "max"])),
            threshold_mode=str(rng.choice(["rel", "abs"])),
            threshold=float(rng.choice([0.0, 0.125, 0.5] if exact else [0.0, 1e-4, 0.01, 0.1])),
            patience=int(rng.choice([0, 1, 2, 3, 5])),
            cooldown=int(rng.choice([0, 0, 1, 2, 3])),
            factor=float(rng.choice([0.1, 0.5, 0.7])),
            min_lr=float(rng.choice([0.0, 1e-3, 0.02])),
            eps=float(rng.choice([1e-8, 1e-3])),
        )
        cases.append((float(rng.choice([1.0, 0.1])), kw, m))
    return cases


CASES = _random_cases(400)


@functools.cache
def _run_all(rel_margin):
    return _run_batch(CASES, rel_margin)


def _run_batch(cases, rel_margin):
    states = [js.plateau(base, rel_margin=rel_margin, **kw).init() for base, kw, _ in cases]
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *states)
    metrics = jnp.asarray(np.stack([m for _, _, m in cases]))
    _, out = _batched_reports(stacked, metrics)
    return [np.asarray(x) for x in out]


@pytest.mark.parametrize("rel_margin", ["abs_best", "pytorch"])
def test_parity_with_reference_over_random_sequences(rel_margin):
    lr, best, num_bad, cooldown_left, reductions, _ = _run_all(rel_margin)
    n_reduced = 0
    for i, (base, kw, m) in enumerate(CASES):
        r = Rules(lr=base, pytorch_margin=rel_margin == "pytorch", **kw)
        for t, v in enumerate(m):
            want = r.step(float(v))
            ctx = f"case {i} {kw} t={t}"
            assert lr[i, t] == pytest.approx(want, rel=1e-5), ctx
            assert best[i, t] == np.float32(r.best), ctx
            assert num_bad[i, t] == r.num_bad, ctx
            assert cooldown_left[i, t] == r.cooldown_counter, ctx
            assert reductions[i, t] == r.num_reductions, ctx
        n_reduced += r.num_reductions > 0
    assert n_reduced > len(CASES) // 2  # the cases do exercise reductions


def test_parity_with_torch():
    torch = pytest.importorskip("torch")
    cases = CASES[:150]
    lr = _run_all("pytorch")[0]
    for i, (base, kw, m) in enumerate(cases):
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base)
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **kw)
        want = []
        for v in m:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sched.step(float(v))
            want.append(opt.param_groups[0]["lr"])
        np.testing.assert_allclose(lr[i], want, rtol=1e-5, err_msg=f"case {i} {kw}")


def test_abs_best_and_pytorch_margins_agree_on_positive_metrics():
    positive = [i for i, c in enumerate(CASES) if np.all(c[2] > 0)]
    assert len(positive) > 100
    a = _run_all("abs_best")[0][positive]
    b = _run_all("pytorch")[0][positive]
    # identical decisions except where rounding of the two formulas meets a tie
    assert np.mean(np.all(a == b, axis=1)) > 0.99


# ----------------------------------------------------------------- optax plumbing
def test_is_a_stateful_schedule_for_inject_hyperparams():
    p = js.plateau(1e-3)
    assert isinstance(p, optax.schedules.StatefulSchedule)
    assert not isinstance(js.constant(1e-3), optax.schedules.StatefulSchedule)
    tx = optax.inject_hyperparams(optax.adamw)(learning_rate=p)
    s = tx.init({"w": jnp.zeros(2)})
    assert isinstance(s.hyperparams_states["learning_rate"], PlateauState)


def test_value_path_every_update_and_every():
    # every=3: the mean of 3 values per decision; decisions apply from the next update
    p = js.plateau(1.0, factor=0.5, patience=0, every=3)
    tx = optax.inject_hyperparams(optax.sgd)(learning_rate=p)
    params = jnp.zeros(())
    s = tx.init(params)
    step = jax.jit(lambda s, v: tx.update(jnp.ones(()), s, params, value=v))
    used, nxt = [], []
    for v in [1, 1, 1, 2, 2, 2, 0, 0, 3, 5]:
        u, s = step(s, jnp.float32(v))
        used.append(-float(u))
        nxt.append(float(js.current_lr(s)))
    # means: 1 (best), 2 (bad -> 0.5), 1 (not < 1: bad -> 0.25)
    assert used == [1, 1, 1, 1, 1, 1, .5, .5, .5, .25]
    assert nxt == [1, 1, 1, 1, 1, .5, .5, .5, .25, .25]
    assert int(js.plateau_state(s).num_evals) == 3


def test_every_counts_nan_in_window_as_bad():
    p = js.plateau(1.0, factor=0.5, patience=0, every=2)
    s = p.init()
    for v in [1.0, 1.0, 0.0, np.nan]:
        s = p.update(s, value=v)
        assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(s))
    info = js.plateau_state(s)
    assert float(info.best) == 1.0 and int(info.num_reductions) == 1


def test_report_is_one_decision_whatever_every():
    p = js.plateau(1.0, factor=0.5, patience=0, every=3)
    s = p.update(p.init(), value=5.0)  # one value waiting in the accumulator
    s = js.report(js.report(s, 1.0), 2.0)
    info = js.plateau_state(s)
    assert int(info.num_evals) == 2 and int(info.num_reductions) == 1
    assert int(s.metric_count) == 1 and float(s.metric_sum) == 5.0


def test_update_without_value_only_advances_the_step():
    p = js.plateau(js.linear(1.0, 0.0, 10))
    s = p.init()
    for _ in range(4):
        s = p.update(s)
    assert int(s.count) == 4 and int(s.num_evals) == 0
    assert float(p(s)) == pytest.approx(0.6)


def test_bf16_params_float32_lr_and_metric_comparison():
    p = js.plateau(1.0, factor=0.5, patience=0, threshold=0.003)
    tx = optax.inject_hyperparams(optax.adam)(learning_rate=p)
    params = {"w": jnp.ones(3, jnp.bfloat16)}
    s = tx.init(params)
    f = jnp.result_type(float)  # float32, or float64 under x64: never the params' bf16
    assert s.hyperparams["learning_rate"].dtype == f
    ps = s.hyperparams_states["learning_rate"]
    assert ps.best.dtype == f and ps.scale.dtype == f
    g = {"w": jnp.ones(3, jnp.bfloat16)}
    _, s = tx.update(g, s, params, value=jnp.bfloat16(1.0))
    # 0.99609375 (exact in bf16) is below 1 - 0.003 = 0.997 in float32; in bf16 the bar
    # 0.997 rounds to 0.99609375 itself and this would be a bad evaluation and a cut
    u, s = tx.update(g, s, params, value=jnp.bfloat16(0.99609375))
    assert s.hyperparams["learning_rate"].dtype == f
    info = js.plateau_state(s)
    assert float(info.best) == 0.99609375 and int(info.num_reductions) == 0


@pytest.mark.heavy(seconds=3)
def test_metric_compared_in_float64_under_x64():
    code = (
        "import jax.numpy as jnp, jaxsched as js\n"
        "p = js.plateau(1.0, patience=0, threshold=0.0, threshold_mode='abs')\n"
        "s = js.report(js.report(p.init(), 1.0), 1.0 - 1e-12)\n"
        "print(s.best.dtype, s.scale.dtype, int(s.num_reductions), repr(float(s.best)))\n")
    env = {**os.environ, "JAX_ENABLE_X64": "1", "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["float64", "float64", "0", repr(1.0 - 1e-12)]


def test_metric_must_be_a_scalar():
    with pytest.raises(ValueError, match=r"report: the metric must be a scalar, got an array "
                                         r"of shape \(3,\)"):
        js.report(js.plateau(1.0).init(), jnp.ones(3))


def test_unbound_axis_name_is_an_error():
    p = js.plateau(1.0, axis_name="data")
    with pytest.raises(ValueError, match=r"plateau: axis_name='data' is not bound here"):
        p.update(p.init(), value=1.0)
    with pytest.raises(ValueError, match=r"report: axis_name='batch' is not bound"):
        js.report(p.init(), 1.0, axis_name="batch")


def test_axis_name_under_vmap_averages_the_metric():
    p = js.plateau(1.0, factor=0.5, patience=0, axis_name="i")
    states = jax.vmap(lambda _: p.init())(jnp.arange(4))

    def feed(s, v):
        return p.update(p.update(s, value=v), value=v + 1.0)

    out = jax.jit(jax.vmap(feed, axis_name="i"))(states, jnp.asarray([0.0, 1.0, 2.0, 3.0]))
    # means 1.5 then 2.5: one bad evaluation, one cut, on every member
    np.testing.assert_array_equal(np.asarray(out.best), [1.5] * 4)
    np.testing.assert_array_equal(np.asarray(out.scale), [0.5] * 4)


@pytest.mark.no_x64_rerun("error text only")
def test_calling_with_a_step_explains_the_stateful_api():
    with pytest.raises(TypeError, match=r"plateau: expected a PlateauState, got int\. A plateau "
                                        r"is a stateful schedule"):
        js.plateau(1e-3)(100)


def test_no_retracing_across_reports():
    p = js.plateau(1.0, patience=1)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def f(s, m):
        return js.report(s, m)

    s = p.init()
    for m in [3.0, 2.0, 2.0, 2.0, 1.0]:
        s = f(s, m)
    # other rules, same structure: the rules are arrays, so still no retrace
    s2 = f(js.plateau(0.5, patience=3, factor=0.3, mode="max").init(), 1.0)
    assert int(s2.num_evals) == 1


# ----------------------------------------------------------------- reduce_on_plateau
def test_reduce_on_plateau_matches_plateau_through_inject():
    base = 0.1
    a = optax.inject_hyperparams(optax.sgd)(learning_rate=js.plateau(base, factor=0.5,
                                                                      patience=1))
    b = optax.chain(optax.sgd(base), js.reduce_on_plateau(factor=0.5, patience=1))
    params = jnp.asarray([1.0, -2.0])
    sa, sb = a.init(params), b.init(params)
    pa = pb = params
    for v in [3.0, 2.0, 2.5, 2.5, 1.0, 1.0, 1.0, 1.0]:
        g = jnp.asarray([0.5, 1.0])
        ua, sa = a.update(g, sa, pa, value=v)
        ub, sb = b.update(g, sb, pb, value=v)
        np.testing.assert_allclose(ua, ub, rtol=1e-6)
        pa, pb = optax.apply_updates(pa, ua), optax.apply_updates(pb, ub)
    assert int(js.plateau_state(sb).num_reductions) == 2
    assert isinstance(sb[1], ReduceOnPlateauState)


def test_reduce_on_plateau_min_scale_and_report():
    tx = optax.chain(optax.sgd(1.0), js.reduce_on_plateau(factor=0.1, patience=0,
                                                          min_scale=0.05))
    s = tx.init(jnp.zeros(()))
    for m in [1.0] * 5:
        s = js.report(s, m)
    assert float(js.plateau_state(s).lr) == pytest.approx(0.05)
    u, s = tx.update(jnp.ones(()), s)  # value= is optional
    assert float(u) == pytest.approx(-0.05)


def test_reduce_on_plateau_keeps_update_dtype():
    tx = js.reduce_on_plateau()
    g = {"w": jnp.ones(2, jnp.bfloat16)}
    u, _ = tx.update(g, tx.init(g), value=1.0)
    assert u["w"].dtype == jnp.bfloat16


# ----------------------------------------------------------------- finding states
def _adamw_plateau(**kw):
    return optax.inject_hyperparams(optax.adamw)(learning_rate=js.plateau(0.1, **kw))


def test_report_and_current_lr_through_nestings():
    params = {"a": jnp.ones(2), "b": jnp.ones(3)}
    inner = _adamw_plateau(factor=0.5, patience=0)
    txs = {
        "chain": optax.chain(optax.clip_by_global_norm(1.0), optax.chain(inner)),
        "multisteps": optax.MultiSteps(inner, every_k_schedule=2),
        "masked": optax.chain(optax.masked(inner, {"a": True, "b": False})),
    }
    for name, tx in txs.items():
        s = tx.init(params)
        s = js.report(js.report(s, 1.0), 1.0)  # second is bad: cut to 0.05
        assert float(js.current_lr(s)) == pytest.approx(0.05), name
        assert int(js.plateau_state(s).num_reductions) == 1, name


def test_multi_transform_gives_one_lr_per_branch():
    tx = optax.multi_transform(
        {"p": _adamw_plateau(factor=0.5, patience=0),
         "c": optax.inject_hyperparams(optax.sgd)(learning_rate=0.3)},
        {"a": "p", "b": "c"})
    s = tx.init({"a": jnp.ones(2), "b": jnp.ones(2)})
    s = js.report(js.report(s, 1.0), 2.0)
    lrs = js.current_lr(s)
    assert isinstance(lrs, dict) and len(lrs) == 2
    assert sorted(float(v) for v in lrs.values()) == pytest.approx([0.05, 0.3])


def test_current_lr_without_plateau_needs_the_schedule():
    sched = js.linear(1.0, 0.0, 10)
    tx = optax.inject_hyperparams(optax.sgd)(learning_rate=sched)
    params = jnp.zeros(())
    s = tx.init(params)
    for _ in range(3):
        _, s = tx.update(jnp.ones(()), s, params)
    # the state holds the LR of the last update (t=2), not the next one: no silent 0.8
    assert float(s.hyperparams["learning_rate"]) == pytest.approx(0.8)
    with pytest.raises(ValueError, match=r"pass the schedule: js.current_lr\(opt_state, "
                                         r"schedules=lr\)"):
        js.current_lr(s)
    assert float(js.current_lr(s, sched)) == pytest.approx(0.7)  # the next update's (t=3)
    # with a reduce_on_plateau in the chain: multiplied by its scale
    tx = optax.chain(optax.inject_hyperparams(optax.sgd)(learning_rate=0.2),
                     js.reduce_on_plateau(factor=0.5, patience=0))
    s = js.report(js.report(tx.init(params), 1.0), 1.0)
    assert float(js.current_lr(s)) == pytest.approx(0.1)


def test_current_lr_is_the_next_updates_lr_after_report():
    base = js.linear(1.0, 0.5, 10)
    tx = optax.inject_hyperparams(optax.sgd)(learning_rate=js.plateau(base, factor=0.5,
                                                                      patience=0))
    params = jnp.zeros(())
    s = tx.init(params)
    for _ in range(4):
        _, s = tx.update(jnp.ones(()), s, params)
    s = js.report(js.report(s, 1.0), 1.0)
    want = (1.0 - 0.5 * 4 / 10) * 0.5  # base(4) * scale
    assert float(js.current_lr(s)) == pytest.approx(want)
    assert float(s.hyperparams["learning_rate"]) == pytest.approx(1.0 - 0.5 * 3 / 10)  # stale
    u, s = tx.update(jnp.ones(()), s, params)
    assert -float(u) == pytest.approx(want)


def test_errors_when_nothing_is_found():
    s = optax.adam(1e-3).init(jnp.zeros(2))
    for f in (js.report, ):
        with pytest.raises(ValueError, match=r"report: no plateau state in tuple"):
            f(s, 1.0)
    with pytest.raises(ValueError, match=r"current_lr: no learning rate in tuple"):
        js.current_lr(s)
    with pytest.raises(ValueError, match=r"plateau_state: no plateau state"):
        js.plateau_state(s)
    s = optax.chain(optax.adam(1e-3), js.reduce_on_plateau()).init(jnp.zeros(2))
    with pytest.raises(ValueError, match=r"holds js.reduce_on_plateau scale"):
        js.current_lr(s)


# ----------------------------------------------------------------- training loops
def _data(n=64, d=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = (x @ rng.normal(size=d) + 0.3 * rng.normal(size=n)).astype(np.float32)
    return jnp.asarray(x), jnp.asarray(y)


def _mse(params, x, y):
    return jnp.mean((x @ params["w"] + params["b"] - y) ** 2)


def _params(d=4):
    return {"w": jnp.zeros(d), "b": jnp.zeros(())}


def _expected_lrs(values, base_fn, factor, patience, n):
    """LR of updates 0..n-1 when update t's value decides from update t+1 on."""
    r = Rules(lr=1.0, factor=factor, patience=patience, eps=0.0)
    out, scale = [], 1.0
    for t in range(n):
        out.append(base_fn(t) * scale)
        scale = r.step(float(values[t]))
    return np.asarray(out), r.num_reductions


def test_jit_scan_train_loop_with_value():
    x, y = _data()
    peak, warm, n = 0.05, 5, 80
    lr = js.plateau(js.warmup_constant(peak, warmup_steps=warm), factor=0.5, patience=2, eps=0.0)
    tx = optax.inject_hyperparams(optax.adamw)(learning_rate=lr, weight_decay=1e-4)

    @jax.jit
    def train(params):
        def step(carry, t):
            params, s = carry
            idx = (t * 16 + jnp.arange(16)) % x.shape[0]
            loss, g = jax.value_and_grad(_mse)(params, x[idx], y[idx])
            u, s = tx.update(g, s, params, value=loss)
            return (optax.apply_updates(params, u), s), (loss, s.hyperparams["learning_rate"])

        return lax.scan(step, (params, tx.init(params)), jnp.arange(n))

    (_, s), (losses, used) = train(_params())
    want, k = _expected_lrs(np.asarray(losses), lambda t: peak * min(t / warm, 1.0), 0.5, 2, n)
    assert k >= 2
    np.testing.assert_allclose(np.asarray(used), want, rtol=1e-5)
    assert int(js.plateau_state(s).num_reductions) == k


def test_jit_scan_epochs_with_report():
    x, y = _data()
    xv, yv = _data(32, seed=1)
    lr = js.plateau(0.2, factor=0.5, patience=1, eps=0.0)
    tx = optax.inject_hyperparams(optax.adamw)(learning_rate=lr)
    epochs, steps = 12, 4

    @jax.jit
    def train(params):
        def epoch(carry, e):
            def step(carry, t):
                params, s = carry
                g = jax.grad(_mse)(params, x, y)
                u, s = tx.update(g, s, params)
                return (optax.apply_updates(params, u), s), s.hyperparams["learning_rate"]

            (params, s), used = lax.scan(step, carry, jnp.arange(steps))
            val = _mse(params, xv, yv)
            s = js.report(s, val)
            return (params, s), (val, used, js.current_lr(s))

        return lax.scan(epoch, (params, tx.init(params)), jnp.arange(epochs))

    _, (vals, used, nxt) = train(_params())
    r = Rules(lr=0.2, factor=0.5, patience=1, eps=0.0)
    want_next = [r.step(float(v)) for v in np.asarray(vals)]
    np.testing.assert_allclose(np.asarray(nxt), want_next, rtol=1e-6)
    want_used = np.repeat([0.2] + want_next[:-1], steps).reshape(epochs, steps)
    np.testing.assert_allclose(np.asarray(used), want_used, rtol=1e-6)
    assert r.num_reductions >= 1


def test_flax_train_state():
    from flax.training import train_state

    x, y = _data()
    xv, yv = _data(32, seed=1)
    tx = optax.inject_hyperparams(optax.adamw)(
        learning_rate=js.plateau(0.3, factor=0.5, patience=0, eps=0.0))
    ts = train_state.TrainState.create(apply_fn=_mse, params=_params(), tx=tx)

    @jax.jit
    def epoch(ts):
        for _ in range(3):
            ts = ts.apply_gradients(grads=jax.grad(_mse)(ts.params, x, y))
        val = _mse(ts.params, xv, yv)
        return js.report(ts, val), val

    r = Rules(lr=0.3, factor=0.5, patience=0, eps=0.0)
    for _ in range(8):
        ts, val = epoch(ts)
        assert type(ts) is train_state.TrainState
        assert float(js.current_lr(ts)) == pytest.approx(r.step(float(val)), rel=1e-6)
    assert r.num_reductions >= 1


def test_nnx_optimizer_value_and_report():
    from flax import nnx

    class Model(nnx.Module):
        def __init__(self, rngs):
            self.lin = nnx.Linear(4, 1, rngs=rngs)

        def __call__(self, x):
            return self.lin(x)[:, 0]

    x, y = _data()
    model = Model(nnx.Rngs(0))
    lr = js.plateau(0.05, factor=0.5, patience=1, eps=0.0)
    opt = nnx.Optimizer(model, optax.inject_hyperparams(optax.adam)(learning_rate=lr),
                        wrt=nnx.Param)

    @nnx.jit
    def step(model, opt, t):
        idx = (t * 8 + jnp.arange(8)) % x.shape[0]
        loss, g = nnx.value_and_grad(lambda m: jnp.mean((m(x[idx]) - y[idx]) ** 2))(model)
        opt.update(model, g, value=loss)
        return loss

    r = Rules(lr=0.05, factor=0.5, patience=1, eps=0.0)
    for t in range(40):
        loss = step(model, opt, jnp.int32(t))
        assert float(js.current_lr(opt)) == pytest.approx(r.step(float(loss)), rel=1e-6)
    assert r.num_reductions >= 1

    # js.report updates an nnx.Optimizer in place (eagerly and under nnx.jit) and returns it
    before = int(js.plateau_state(opt).num_evals)
    assert js.report(opt, 1e9) is opt
    nnx.jit(lambda opt, v: js.report(opt, v))(opt, jnp.float32(1e9))
    assert int(js.plateau_state(opt).num_evals) == before + 2
    r.step(1e9)
    assert float(js.current_lr(opt)) == pytest.approx(r.step(1e9), rel=1e-6)


# ----------------------------------------------------------------- early stopping
def test_should_stop():
    p = js.plateau(1.0, patience=10)
    s = p.init()
    for i, m in enumerate([1.0, 0.5, 0.6, 0.7, 0.8, 0.4, 0.5, 0.5, 0.5]):
        s = js.report(s, m)
        since = [0, 0, 1, 2, 3, 0, 1, 2, 3][i]
        assert bool(js.should_stop(s, 2)) == (since > 2)
    with pytest.raises(ValueError, match=r"should_stop: give `patience`, or build the plateau "
                                         r"with stop_patience"):
        js.should_stop(s)
    with pytest.raises(ValueError, match=r"should_stop: `patience` must be an int >= 0, got -1"):
        js.should_stop(s, -1)


def test_should_stop_with_stop_patience_jitted():
    p = js.plateau(1.0, patience=1, stop_patience=3)
    tx = optax.inject_hyperparams(optax.sgd)(learning_rate=p)
    s = tx.init(jnp.zeros(()))
    f = jax.jit(lambda s, m: (js.report(s, m), js.should_stop(js.report(s, m))))
    stops = []
    for m in [1.0, 2.0, 2.0, 2.0, 2.0, 2.0]:
        s, stop = f(s, m)
        stops.append(bool(stop))
    assert stops == [False, False, False, False, True, True]


def test_stop_patience_shorter_than_two_patiences_warns():
    with pytest.warns(UserWarning, match=r"plateau: stop_patience=5 is less than 2 \* "
                                         r"patience=6") as caught:
        js.plateau(1.0, patience=3, stop_patience=5)
    # Attributed to the line that built it, not to a frame inside jaxsched; also through
    # reduce_on_plateau (a function, one frame fewer than the class's generated __init__).
    with pytest.warns(UserWarning) as more:
        js.reduce_on_plateau(patience=3, stop_patience=5)
    assert [w.filename for w in [*caught, *more]] == [__file__] * 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        js.plateau(1.0, patience=3, stop_patience=6)


# ----------------------------------------------------------------- value API
@pytest.mark.no_x64_rerun("repr, config, pickle and equality only")
def test_repr_config_equality_pickle():
    p = js.plateau(js.warmup_constant(1e-3, warmup_steps=500), factor=0.5, patience=3,
                   min_lr=1e-6)
    assert repr(p) == ("plateau(schedule=warmup_constant(peak=0.001, warmup_steps=500), factor=0.5, "
                       "patience=3, min_lr=1e-06)")
    assert repr(js.plateau(0.1)) == "plateau(schedule=0.1)"
    q = js.plateau(0.1, mode="max", threshold_mode="abs", axis_name=("a", "b"), every=4,
                   rel_margin="pytorch", cooldown=2)
    assert repr(q) == ("plateau(schedule=0.1, mode='max', threshold_mode='abs', cooldown=2, every=4, "
                       "axis_name=['a', 'b'], rel_margin='pytorch')")
    for x in (p, q):
        assert js.from_config(json.loads(json.dumps(x.to_config()))) == x
        assert pickle.loads(pickle.dumps(x)) == x
        assert eval(repr(x), {"plateau": js.plateau, "warmup_constant": js.warmup_constant}) == x
    assert p == js.plateau(js.warmup_constant(1e-3, warmup_steps=500), factor=0.5, patience=3,
                           min_lr=1e-6)
    assert hash(p) == hash(js.plateau(js.warmup_constant(1e-3, warmup_steps=500), factor=0.5,
                                      patience=3, min_lr=1e-6))
    assert p != js.plateau(js.warmup_constant(1e-3, warmup_steps=500), factor=0.5, patience=4,
                           min_lr=1e-6)


VALIDATION = [
    (dict(factor=1.0), ValueError, r"plateau: `factor` must be in \(0, 1\), got 1\.0\."),
    (dict(factor=0.0), ValueError, r"plateau: `factor` must be in \(0, 1\), got 0\.0\."),
    (dict(patience=-1), ValueError, r"plateau: `patience` must be an int >= 0, got -1\."),
    (dict(patience=2.0), TypeError, r"plateau: `patience` must be an int >= 0, got the float"),
    (dict(cooldown=-2), ValueError, r"plateau: `cooldown` must be an int >= 0, got -2\."),
    (dict(threshold=-0.1), ValueError, r"plateau: `threshold` must be >= 0, got -0\.1\."),
    (dict(mode="minimum"), ValueError,
     r"plateau: `mode` must be one of 'min', 'max', got 'minimum'\."),
    (dict(threshold_mode="relative"), ValueError,
     r"plateau: `threshold_mode` must be one of 'rel', 'abs', got 'relative'\."),
    (dict(min_lr=-1e-6), ValueError, r"plateau: `min_lr` must be a finite number >= 0, got"),
    (dict(eps=-1.0), ValueError, r"plateau: `eps` must be >= 0, got -1\.0\."),
    (dict(every=0), ValueError, r"plateau: `every` must be a positive int, got 0\."),
    (dict(stop_patience=-1), ValueError, r"plateau: `stop_patience` must be an int >= 0"),
    (dict(rel_margin="torch"), ValueError,
     r"plateau: `rel_margin` must be one of 'abs_best', 'pytorch', got 'torch'\."),
    (dict(axis_name=3), TypeError, r"plateau: `axis_name` must be None, a mapped axis name"),
]


@pytest.mark.parametrize("kw,exc,match", VALIDATION)
def test_validation(kw, exc, match):
    with pytest.raises(exc, match=match):
        js.plateau(1e-3, **kw)


def test_validation_of_base_and_reduce_on_plateau():
    with pytest.raises(ValueError, match=r"plateau: `schedule` must be a finite number >= 0, got "
                                         r"-0\.1"):
        js.plateau(-0.1)
    with pytest.raises(TypeError, match=r"plateau: `schedule` must be a schedule, a jnp-traceable function of the step or a number, got 'x'"):
        js.plateau("x")
    with pytest.raises(TypeError, match=r"plateau: `schedule` is already a plateau"):
        js.plateau(js.plateau(0.1))
    with pytest.raises(ValueError, match=r"reduce_on_plateau: `min_scale` must be a finite "
                                         r"number >= 0, got -0\.5"):
        js.reduce_on_plateau(min_scale=-0.5)
    with pytest.raises(ValueError, match=r"reduce_on_plateau: `factor` must be in \(0, 1\), "
                                         r"got 2\.0"):
        js.reduce_on_plateau(factor=2.0)
    with pytest.warns(UserWarning, match=r"reduce_on_plateau: stop_patience=1"):
        js.reduce_on_plateau(patience=1, stop_patience=1)


def test_plain_callable_base_is_wrapped():
    p = js.plateau(optax.linear_schedule(1.0, 0.0, 10))
    s = p.init()
    for _ in range(5):
        s = p.update(s)
    assert float(p(s)) == pytest.approx(0.5)


# ----------------------------------------------------------------- checkpoint round trip
@pytest.mark.heavy(seconds=6)
def test_checkpoint_round_trip_in_a_fresh_process(tmp_path):
    import orbax.checkpoint as ocp
    from flax import serialization

    sys.path.insert(0, str(HERE))
    import plateau_worker as w

    tx = w.make_tx()
    params = w.init_params()
    state = tx.init(params)
    params, state, _ = w.run(params, state, 0, w.SAVE_AT)
    ckpt = ocp.StandardCheckpointer()
    ckpt.save(tmp_path / "orbax", {"params": params, "opt_state": state})
    ckpt.wait_until_finished()
    (tmp_path / "state.msgpack").write_bytes(
        serialization.to_bytes({"params": params, "opt_state": state}))
    # in-process round trip first
    target = {"params": w.init_params(), "opt_state": tx.init(w.init_params())}
    back = serialization.from_bytes(target, (tmp_path / "state.msgpack").read_bytes())
    chex.assert_trees_all_equal(back["opt_state"], state)
    _, final, lrs = w.run(params, state, w.SAVE_AT, w.TOTAL)
    info = js.plateau_state(final)
    assert int(info.num_reductions) >= 2 and int(js.plateau_state(state).num_evals) >= 2

    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, str(HERE / "plateau_worker.py"), "restore",
                          str(tmp_path)], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    restored = json.loads(out.stdout.strip().splitlines()[-1])
    assert restored["orbax"] == lrs
    assert restored["msgpack"] == lrs


def test_reduce_on_plateau_axis_name():
    tx = js.reduce_on_plateau(factor=0.5, patience=0, axis_name="i")
    with pytest.raises(ValueError, match=r"reduce_on_plateau: axis_name='i' is not bound"):
        tx.update(jnp.ones(()), tx.init(jnp.zeros(())), value=1.0)
    states = jax.vmap(tx.init)(jnp.zeros(2))

    def two(s, v):
        _, s = tx.update(jnp.ones(()), s, value=v)
        return tx.update(jnp.ones(()), s, value=v + 1.0)

    (u, s) = jax.jit(jax.vmap(two, axis_name="i"))(states, jnp.asarray([0.0, 2.0]))
    np.testing.assert_array_equal(np.asarray(s.best), [1.0, 1.0])  # means 1, then 2
    np.testing.assert_array_equal(np.asarray(s.scale), [0.5, 0.5])
