"""js.current_lr, js.hyperparams and js.migrate through every kind of optimizer state.

Expected values are hand-computed from ``linear(1, 0, 10)`` (1.0, 0.9, 0.8, 0.7
at steps 0-3) and checked against what SGD actually applies: with a gradient
of 1, the update of the next step is ``-lr``, so "the LR the next update will
use" is tested against the update itself.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from flax.training.train_state import TrainState

import jaxsched as js

LR = js.linear(1.0, 0.0, 10)  # 1.0, 0.9, 0.8, 0.7, ...
# the plateau kinds are told 1.0 twice before step 2 (patience 0: the second cuts by 0.5)
WANT = {"plain": [1.0, 0.9, 0.8, 0.7], "plain_no_inject": [1.0, 0.9, 0.8, 0.7],
        "plateau": [1.0, 0.9, 0.4, 0.35], "reduce_on_plateau": [1.0, 0.9, 0.4, 0.35]}


def _tx(kind):
    """An SGD optimizer of each kind, and the ``schedules=`` that reads it."""
    if kind == "plain":
        return optax.inject_hyperparams(optax.sgd)(learning_rate=LR), LR
    if kind == "plain_no_inject":
        return optax.sgd(LR), LR
    if kind == "plateau":
        return optax.inject_hyperparams(optax.sgd)(
            learning_rate=js.plateau(LR, factor=0.5, patience=0)), None
    return optax.chain(optax.sgd(LR), js.reduce_on_plateau(factor=0.5, patience=0)), LR


class _Model(nnx.Module):
    def __init__(self):
        self.w = nnx.Param(jnp.zeros(1))
        self.z = nnx.Param(jnp.zeros(1))


class _Run:
    """One optimizer inside one kind of container, advanced by a gradient of 1."""

    def __init__(self, kind, container):
        tx, self.schedules = _tx(kind)
        self.container, self.k = container, 1
        params = {"w": jnp.zeros(1), "z": jnp.zeros(1)}
        if container == "chain":
            tx = optax.chain(optax.clip_by_global_norm(100.0), tx)
        elif container == "multisteps":
            tx, self.k = optax.MultiSteps(tx, every_k_schedule=2), 2
        elif container == "multi_transform":
            tx = optax.multi_transform({"body": tx, "frozen": optax.set_to_zero()},
                                       {"w": "body", "z": "frozen"})
            self.schedules = None if self.schedules is None else {"body": self.schedules}
        if container == "trainstate":
            self.state = TrainState.create(apply_fn=None, params=params, tx=tx)
        elif container == "nnx":
            self.model = _Model()
            self.state = nnx.Optimizer(self.model, tx, wrt=nnx.Param)
        else:
            self.tx, self.params, self.state = tx, params, tx.init(params)

    def w(self):
        if self.container == "trainstate":
            return float(self.state.params["w"][0])
        if self.container == "nnx":
            return float(self.model.w[...][0])
        return float(self.params["w"][0])

    def micro_step(self):
        grads = {"w": jnp.ones(1), "z": jnp.ones(1)}
        if self.container == "trainstate":
            self.state = self.state.apply_gradients(grads=grads)
        elif self.container == "nnx":
            self.state.update(self.model, nnx.State({k: nnx.Param(v) for k, v in grads.items()}))
        else:
            u, self.state = self.tx.update(grads, self.state, self.params)
            self.params = optax.apply_updates(self.params, u)

    def report(self, metric):
        self.state = js.report(self.state, metric)  # in place for nnx, and returned


@pytest.mark.parametrize("container", ["chain", "multisteps", "multi_transform", "trainstate",
                                       "nnx"])
@pytest.mark.parametrize("kind", list(WANT))
def test_current_lr_is_the_next_updates_lr(kind, container):
    run = _Run(kind, container)
    got, applied = [], []
    for step in range(4):
        if step == 2 and kind in ("plateau", "reduce_on_plateau"):
            run.report(1.0)
            run.report(1.0)
        for _ in range(run.k):  # MultiSteps: the LR advances once per k micro-steps
            got.append(float(js.current_lr(run.state, run.schedules)))
            before = run.w()
            run.micro_step()
        applied.append(before - run.w())  # the last micro-step applies the update
    want = np.repeat(WANT[kind], run.k)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    np.testing.assert_allclose(applied, WANT[kind], rtol=1e-6)


def test_current_lr_jitted_and_keyed_by_group():
    tx = optax.multi_transform(
        {"body": optax.inject_hyperparams(optax.sgd)(learning_rate=LR),
         "head": optax.sgd(js.constant(0.3))}, {"w": "body", "z": "head"})
    params = {"w": jnp.zeros(1), "z": jnp.zeros(1)}
    state = tx.init(params)
    for _ in range(2):
        _, state = tx.update(params, state, params)
    f = jax.jit(lambda s: js.current_lr(s, {"body": LR, "head": js.constant(0.3)}))
    got = jax.device_get(f(state))
    assert got == pytest.approx({"body/learning_rate": 0.8, "head/learning_rate": 0.3})
    with pytest.raises(ValueError, match=r"`learning_rate` of group 'body' follows a schedule "
                                         r"under optax.inject_hyperparams.*schedules=\{'body': "
                                         r"\{'learning_rate': schedule\}\}"):
        js.current_lr(state)


# ----------------------------------------------------------------- hyperparams
WD = js.cosine(0.1, 0.0, 10)


def _adamw_state(n):
    tx = optax.inject_hyperparams(optax.adamw)(learning_rate=LR, weight_decay=WD, b1=0.8)
    params = jnp.zeros(2)
    state = tx.init(params)
    for _ in range(n):
        _, state = tx.update(jnp.ones(2), state, params)
    return state


def test_hyperparams_of_inject_hyperparams():
    state = _adamw_state(3)
    got = jax.device_get(js.hyperparams(state, {"learning_rate": LR, "weight_decay": WD}))
    wd3 = 0.05 * (1 + np.cos(np.pi * 3 / 10))
    assert got == pytest.approx({"learning_rate": 0.7, "weight_decay": wd3})
    assert all(isinstance(v, np.ndarray) and v.shape == () for v in got.values())
    assert float(got["learning_rate"]) == pytest.approx(0.7)
    full = js.hyperparams(state, {"learning_rate": LR, "weight_decay": WD}, constants=True)
    assert set(full) == {"learning_rate", "weight_decay", "b1", "b2", "eps", "eps_root"}
    assert float(full["b1"]) == pytest.approx(0.8)
    with pytest.raises(ValueError, match=r"`weight_decay` follows a schedule .* pass the "
                                         r"schedule: js.hyperparams\(opt_state, schedules="
                                         r"\{'weight_decay': schedule\}\)"):
        js.hyperparams(state, LR)
    # current_lr needs the learning rate's schedule only
    assert float(js.current_lr(state, LR)) == pytest.approx(0.7)


def test_hyperparams_jitted_matches_eager():
    state = _adamw_state(2)
    f = jax.jit(lambda s: js.hyperparams(s, {"learning_rate": LR, "weight_decay": WD}))
    jitted, eager = jax.device_get(f(state)), jax.device_get(js.hyperparams(
        state, {"learning_rate": LR, "weight_decay": WD}))
    assert jitted == pytest.approx(eager)
    assert jitted["learning_rate"] == pytest.approx(0.8)


def test_hyperparams_without_inject_read_the_count():
    tx = optax.adamw(LR, weight_decay=0.01)
    params = jnp.zeros(2)
    state = tx.init(params)
    for _ in range(3):
        _, state = tx.update(jnp.ones(2), state, params)
    got = js.hyperparams(state, {"learning_rate": LR, "weight_decay": 0.01})
    assert jax.device_get(got) == pytest.approx({"learning_rate": 0.7, "weight_decay": 0.01})
    # a constant LR keeps no count
    state = optax.sgd(0.1).init(params)
    with pytest.raises(ValueError, match=r"hyperparams: no step count in tuple to evaluate the schedules at"):
        js.hyperparams(state, LR)


def test_hyperparams_groups_come_from_labels():
    tx = optax.multi_transform(
        {"body": optax.inject_hyperparams(optax.adamw)(learning_rate=LR, weight_decay=WD),
         "head": optax.chain(optax.sgd(js.constant(0.5)),
                             js.reduce_on_plateau(factor=0.5, patience=0))},
        {"w": "body", "z": "head"})
    params = {"w": jnp.zeros(1), "z": jnp.zeros(1)}
    state = tx.init(params)
    _, state = tx.update(params, state, params)
    state = js.report(js.report(state, 1.0), 1.0)
    got = jax.device_get(js.hyperparams(
        state, {"body": {"learning_rate": LR, "weight_decay": WD}, "head": js.constant(0.5)}))
    wd1 = 0.05 * (1 + np.cos(np.pi / 10))
    assert got == pytest.approx({"body/learning_rate": 0.9, "body/weight_decay": wd1,
                                 "head/learning_rate": 0.25, "head/plateau/scale": 0.5,
                                 "head/plateau/num_reductions": 1})
    with pytest.raises(ValueError, match=r"`schedules` mixes group labels \['body'\] and "
                                         r"hyperparameter names \['weight_decay'\]"):
        js.hyperparams(state, {"body": LR, "weight_decay": WD})


def test_hyperparams_of_a_plateau():
    tx = optax.inject_hyperparams(optax.sgd)(learning_rate=js.plateau(LR, factor=0.5,
                                                                      patience=0))
    state = tx.init(jnp.zeros(1))
    _, state = tx.update(jnp.ones(1), state)
    state = js.report(js.report(state, 1.0), 1.0)
    got = jax.device_get(js.hyperparams(state))
    assert got == pytest.approx({"learning_rate": 0.45, "plateau/scale": 0.5,
                                 "plateau/num_reductions": 1})
    # the plateau object may be given: the state is read all the same
    assert jax.device_get(js.hyperparams(state, tx_lr := js.plateau(LR))) == pytest.approx(got)
    # ... but not for an optimizer that does not hold its state
    with pytest.raises(TypeError, match=r"stateful schedule .* not in the state"):
        js.hyperparams(optax.sgd(LR).init(jnp.zeros(1)), tx_lr)


class _Halving:
    """optax's stateful-schedule protocol, not a js.plateau: the LR halves every update."""

    def init(self):
        return jnp.zeros((), jnp.int32)

    def update(self, state, **extra_args):
        return state + 1

    def __call__(self, state, **extra_args):
        return 1.0 / 2.0**state


@pytest.mark.parametrize("kind", ["plain", "stateful"])
def test_hyperparams_needs_the_kind_of_schedule_the_state_follows(kind):
    halving = _Halving()
    built, wrong = (LR, halving) if kind == "plain" else (halving, LR)
    tx = optax.inject_hyperparams(optax.sgd)(learning_rate=built)
    state = tx.init(jnp.zeros(1))
    for _ in range(2):
        _, state = tx.update(jnp.ones(1), state)
    # the next (third) update's LR: linear(1, 0, 10) at step 2, or 1 / 2**2
    want = {"plain": 0.8, "stateful": 0.25}[kind]
    assert jax.device_get(js.hyperparams(state, built)) == pytest.approx({"learning_rate": want})
    other = {"plain": "a stateful", "stateful": "a plain"}[kind]
    for given in (wrong, {"learning_rate": wrong}):
        with pytest.raises(TypeError, match=rf"hyperparams: `learning_rate` follows a {kind} "
                                            rf"schedule in the state, but `schedules` gives "
                                            rf"{other} one, .*; give the schedule the optimizer"):
            js.hyperparams(state, given)
    if kind == "stateful":  # a number is not the stateful schedule either
        with pytest.raises(TypeError, match=r"gives a plain one, 0.1;"):
            js.hyperparams(state, 0.1)


def test_hyperparams_muon_reports_both_learning_rates():
    adam_lr = js.linear(2.0, 0.0, 10)
    params = {"w": jnp.zeros((3, 3)), "b": jnp.zeros(3)}
    grads = {"w": jnp.ones((3, 3)), "b": jnp.ones(3)}
    tx = optax.contrib.muon(LR, adam_learning_rate=adam_lr)
    state = tx.init(params)
    _, state = tx.update(grads, state, params)
    got = jax.device_get(js.hyperparams(state, {"muon": LR, "adam": adam_lr}))
    assert got == pytest.approx({"muon/learning_rate": 0.9, "adam/learning_rate": 1.8})
    tx = optax.inject_hyperparams(optax.contrib.muon)(learning_rate=LR,
                                                      adam_learning_rate=adam_lr)
    state = tx.init(params)
    _, state = tx.update(grads, state, params)
    got = js.hyperparams(state, {"learning_rate": LR, "adam_learning_rate": adam_lr})
    assert jax.device_get(got) == pytest.approx({"learning_rate": 0.9,
                                                 "adam_learning_rate": 1.8})
    assert js.current_lr(state, {"learning_rate": LR, "adam_learning_rate": adam_lr}).keys() \
        == {"learning_rate", "adam_learning_rate"}


def test_hyperparams_bad_input():
    state = _adamw_state(0)
    with pytest.raises(TypeError, match=r"hyperparams: `schedules\['learning_rate'\]` must be "
                                        r"a schedule, a function of the step or a number, "
                                        r"got 'fast'"):
        js.hyperparams(state, {"learning_rate": "fast"})
    with pytest.raises(ValueError, match=r"hyperparams: nothing scheduled in tuple"):
        js.hyperparams(optax.adam(1e-3).init(jnp.zeros(1)))


# ----------------------------------------------------------------- migrate
PARAMS = {"w": jnp.arange(3.0)}
GRADS = [{"w": jnp.asarray([1.0, -2.0, 0.5]) * (i + 1)} for i in range(4)]


def _train(tx, state, grads):
    for g in grads:
        _, state = tx.update(g, state, PARAMS)
    return state


def _through_orbax(state, tmp_path):
    import orbax.checkpoint as ocp

    path = tmp_path / "ckpt"
    with ocp.StandardCheckpointer() as ckpt:
        ckpt.save(path, state)
        ckpt.wait_until_finished()
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, state)
        return ckpt.restore(path, abstract)


def _moments(state):
    leaves = [x for x in jax.tree.leaves(state, is_leaf=lambda x: isinstance(
        x, optax.ScaleByAdamState)) if isinstance(x, optax.ScaleByAdamState)]
    (adam,) = leaves
    return adam


def _same_moments(a, b):
    a, b = _moments(a), _moments(b)
    assert int(a.count) == int(b.count)
    for x, y in zip(jax.tree.leaves((a.mu, a.nu)), jax.tree.leaves((b.mu, b.nu)), strict=True):
        np.testing.assert_array_equal(x, y)


def test_migrate_plain_to_plateau_and_back_through_orbax(tmp_path):
    plain = optax.inject_hyperparams(optax.adam)(learning_rate=LR)
    plat = optax.inject_hyperparams(optax.adam)(learning_rate=js.plateau(LR, factor=0.5,
                                                                         patience=0))
    old = _train(plain, plain.init(PARAMS), GRADS[:3])
    restored = _through_orbax(old, tmp_path)
    new = js.migrate(restored, plat, PARAMS)
    assert jax.tree.structure(new) == jax.tree.structure(plat.init(PARAMS))
    assert int(new.count) == 3 and int(js.plateau_state(new).num_evals) == 0
    assert float(js.current_lr(new)) == pytest.approx(0.7)  # LR(3): the run goes on
    _same_moments(old, new)
    # the next update is the one the old optimizer would have made (scale 1)
    u_old, _ = plain.update(GRADS[3], old, PARAMS)
    u_new, new = plat.update(GRADS[3], new, PARAMS)
    np.testing.assert_allclose(u_new["w"], u_old["w"], rtol=1e-6)

    # and back: the plateau (cut once) is dropped, the count and moments stay
    new = js.report(js.report(new, 1.0), 1.0)
    assert float(js.current_lr(new)) == pytest.approx(0.3)  # LR(4) * 0.5
    back = js.migrate(_through_orbax(new, tmp_path / "2"), plain, PARAMS)
    assert jax.tree.structure(back) == jax.tree.structure(plain.init(PARAMS))
    assert int(back.count) == 4 and int(back.hyperparams_states["learning_rate"].count) == 4
    assert float(js.current_lr(back, LR)) == pytest.approx(0.6)
    _same_moments(new, back)


def test_migrate_to_a_new_schedule_and_optimizer_shape(tmp_path):
    longer = js.linear(1.0, 0.0, 20)
    old_tx = optax.adam(LR)  # no inject_hyperparams: the count is ScaleByScheduleState's
    new_tx = optax.chain(optax.clip_by_global_norm(1e3),
                         optax.inject_hyperparams(optax.adam)(learning_rate=longer))
    old = _train(old_tx, old_tx.init(PARAMS), GRADS[:3])
    new = js.migrate(_through_orbax(old, tmp_path), new_tx, PARAMS)
    assert float(js.current_lr(new, longer)) == pytest.approx(0.85)  # longer(3)
    _same_moments(old, new)
    # the update equals adam's with these moments at LR 0.85, written out in float64
    u, _ = new_tx.update(GRADS[3], new, PARAMS)
    g = np.asarray(GRADS[3]["w"], np.float64)
    mu = 0.9 * np.asarray(_moments(old).mu["w"], np.float64) + 0.1 * g
    nu = 0.999 * np.asarray(_moments(old).nu["w"], np.float64) + 0.001 * g * g
    want = -0.85 * (mu / (1 - 0.9**4)) / (np.sqrt(nu / (1 - 0.999**4)) + 1e-8)
    np.testing.assert_allclose(u["w"], want, rtol=1e-5)


def test_migrate_plateau_to_plateau_keeps_decisions_unless_reset():
    old_tx = optax.inject_hyperparams(optax.sgd)(learning_rate=js.plateau(LR, factor=0.5,
                                                                          patience=0))
    old = js.report(js.report(_train(old_tx, old_tx.init(PARAMS), GRADS[:2]), 1.0), 1.0)
    new_tx = optax.inject_hyperparams(optax.sgd)(
        learning_rate=js.plateau(js.linear(1.0, 0.0, 20), factor=0.1, patience=0))
    kept = js.migrate(old, new_tx, PARAMS)
    assert float(js.current_lr(kept)) == pytest.approx(0.9 * 0.5)  # new base(2) * old scale
    kept = js.report(kept, 2.0)  # bad again: the new factor applies
    assert float(js.current_lr(kept)) == pytest.approx(0.9 * 0.05)
    fresh = js.migrate(old, new_tx, PARAMS, reset_plateau=True)
    assert float(js.current_lr(fresh)) == pytest.approx(0.9)
    assert int(js.plateau_state(fresh).num_evals) == 0


class _LastSkip(NamedTuple):
    """A user's MultiSteps skip state: a field named like MultiSteps' own counter."""

    gradient_step: jax.Array  # the step of the last skipped update, -1 for none


def _skip_not_finite(updates, gradient_step, params):
    finite = jnp.all(jnp.asarray([jnp.all(jnp.isfinite(u)) for u in jax.tree.leaves(updates)]))
    return ~finite, _LastSkip(jnp.where(finite, -1, gradient_step).astype(jnp.int32))


def test_migrate_into_multisteps_sets_its_gradient_step_only():
    old_tx = optax.inject_hyperparams(optax.adam)(learning_rate=LR)
    old = _train(old_tx, old_tx.init(PARAMS), GRADS[:3])
    new_tx = optax.MultiSteps(optax.inject_hyperparams(optax.adam)(learning_rate=LR),
                              every_k_schedule=2, should_skip_update_fn=_skip_not_finite)
    new = js.migrate(old, new_tx, PARAMS)
    assert jax.tree.structure(new) == jax.tree.structure(new_tx.init(PARAMS))
    # MultiSteps' count of updates goes on from the step reached; its micro-step restarts
    assert (int(new.gradient_step), int(new.mini_step)) == (3, 0)
    assert int(new.inner_opt_state.count) == 3
    # the user's field of the same name is theirs: as initialised (no skip yet), not the step
    assert int(new.skip_state.gradient_step) == -1
    _same_moments(old, new)
    # and out again: the inner state is carried, MultiSteps' counters are dropped
    back = js.migrate(new, old_tx, PARAMS)
    assert int(back.count) == 3
    _same_moments(new, back)


def test_migrate_errors():
    adam = optax.adam(LR)
    old = _train(adam, adam.init(PARAMS), GRADS[:1])
    momentum = optax.inject_hyperparams(optax.sgd)(learning_rate=LR, momentum=0.9)
    with pytest.raises(ValueError, match=r"migrate: 3 leaves of the states cannot be matched: "
                                         r"new .*TraceState.trace\['w'\].*old .*mu.*strict=False"):
        js.migrate(old, momentum, PARAMS)
    new = js.migrate(old, momentum, PARAMS, strict=False)
    assert int(new.count) == 1 and float(jnp.abs(new.inner_state[0].trace["w"]).sum()) == 0
    with pytest.raises(ValueError, match=r"cannot carry .*mu\['w'\].* shape \(3,\) against "
                                         r"\(4,\)"):
        js.migrate(old, adam, {"w": jnp.zeros(4)})
    no_count = optax.sgd(0.1, momentum=0.9)
    old = _train(no_count, no_count.init(PARAMS), GRADS[:1])
    with pytest.raises(ValueError, match=r"holds no step count: pass the number of updates "
                                         r"made, js.migrate\(..., step=n\)"):
        js.migrate(old, momentum, PARAMS)
    new = js.migrate(old, momentum, PARAMS, step=5)
    assert float(js.current_lr(new, LR)) == pytest.approx(0.5)
    np.testing.assert_array_equal(new.inner_state[0].trace["w"], old[0].trace["w"])
