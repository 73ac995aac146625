"""PyTorch's ``torch.optim.lr_scheduler``, value for value.

One constructor per PyTorch scheduler, with PyTorch's class name and keyword
arguments minus the optimizer; where PyTorch reads the optimizer's learning
rate, the first argument is ``lr``. For every ``t``, including past the end of
the schedule, ``s(t)`` equals ``optimizer.param_groups[0]['lr']`` after ``t``
calls of ``scheduler.step()``, i.e. the LR of the ``(t+1)``-th
``optimizer.step()``. Optax passes the update count, so a scheduler that
PyTorch steps once per *update* ports directly::

    from jaxsched import pytorch as pt
    lr = pt.OneCycleLR(max_lr=0.1, total_steps=10_000)
    tx = optax.inject_hyperparams(optax.sgd)(learning_rate=lr, momentum=lr.momentum)

One that PyTorch steps once per *epoch* is wrapped with
``js.per_epoch(pt.StepLR(...), steps_per_epoch=len(loader))``.

Each constructor returns a schedule that prints as the PyTorch call
(``StepLR(lr=0.1, step_size=30)``) and evaluates the jaxsched core composition
it maps to; PyTorch's behaviour is reproduced as it is, not as its docs
idealize it, and every such quirk is named in the class docstring. Arguments
PyTorch accepts but mishandles later (a ``ZeroDivisionError`` at some step, a
negative LR) are rejected at construction. ``ReduceLROnPlateau`` is a
``js.StatefulSchedule`` run by a ``js.plateau`` with PyTorch's rules (feed metrics
with ``js.report``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
from jax import lax

from . import _anneal as shape
from . import _checks as check
from ._anneal import interpolate
from ._curves import (
    constant,
    cosine,
    cyclic,
    exponential,
    linear,
    multistep,
    piecewise_constant,
    polynomial,
)
from ._join import join, repeat
from ._plateau import check_rules, from_rules
from ._schedule import (
    Recipe,
    Schedule,
    StatefulSchedule,
    check_traceable,
    hyper,
    schedule_class,
    static,
)
from ._steps import divide, fl, float_dtype, is_int, tmin

__all__ = [
    "ChainedScheduler",
    "ConstantLR",
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "CyclicLR",
    "ExponentialLR",
    "LambdaLR",
    "LinearLR",
    "MultiStepLR",
    "MultiplicativeLR",
    "OneCycleLR",
    "OneCycleMomentum",
    "PolynomialLR",
    "ReduceLROnPlateau",
    "SequentialLR",
    "StepLR",
]


# --------------------------------------------------------------------- field checkers
def _in_open_0_1(fn: str, name: str, value: Any) -> Any:
    return check.number(fn, name, value, min=0.0, max=1.0, min_open=True,
                        allowed="in (0, 1] (PyTorch divides by it)")


def _function(fn: str, name: str, value: Any) -> Callable:
    if isinstance(value, Schedule) or not callable(value):
        raise TypeError(f"{fn}: `{name}` must be a jnp-traceable function of an int, got "
                        f"{value!r}.")
    check_traceable(value, fn, name)
    return value


def _sorted_milestones(fn: str, name: str, values: Any) -> tuple[int, ...]:
    return check.boundaries(fn, name, values, strict=False)


def _milestones(fn: str, name: str, values: Any) -> tuple[int, ...]:
    if isinstance(values, str) or not isinstance(values, list | tuple):
        raise TypeError(f"{fn}: `{name}` must be a list of ints, got {values!r}.")
    return tuple(sorted(check.integer(fn, f"{name}[{i}]", v) for i, v in enumerate(values)))


# --------------------------------------------------------------------- helpers
def _apply(f: Callable, t: jax.Array) -> jax.Array:
    """``f`` applied to each step of ``t`` (a user function sees one scalar step, as in PyTorch)."""
    return jnp.vectorize(lambda k: jnp.asarray(f(k)).astype(float_dtype()))(t)


def _loop_bound(t: jax.Array) -> jax.Array:
    """The step as a signed int loop bound (float steps count whole steps)."""
    if not is_int(t):
        return jnp.floor(t).astype(jnp.int32)
    if jnp.issubdtype(t.dtype, jnp.unsignedinteger):
        signed = jnp.int64 if t.dtype.itemsize == 8 else jnp.int32
        return jnp.minimum(t, jnp.iinfo(signed).max).astype(signed)
    return t


def _fold(t: jax.Array, lo: int, init: Any, body: Callable) -> jax.Array:
    """``x = body(k, x)`` for ``k = lo .. t`` from ``x = init``: O(t) work per step."""

    def one(n: jax.Array) -> jax.Array:
        x0 = jnp.asarray(init(), float_dtype())
        # Iterate i in [lo - 1, n) and use k = i + 1, so that n = int max cannot overflow.
        return lax.fori_loop(jnp.asarray(lo - 1, n.dtype), n,
                             lambda i, x: body(i + 1, x).astype(x.dtype), x0)

    return jnp.vectorize(one)(_loop_bound(t))


def _product(f: Callable, t: jax.Array, lo: int) -> jax.Array:
    """``prod_{k=lo..t} f(k)`` (1 when empty), by a loop of ``t`` iterations."""
    return _fold(t, lo, lambda: 1.0, lambda k, x: x * jnp.asarray(f(k)).astype(x.dtype))


def _same_lr(fn: str, schedulers: tuple[Any, ...]) -> None:
    lrs = [s.lr for s in schedulers]
    if all(isinstance(v, float) for v in lrs):
        for i, v in enumerate(lrs[1:], 1):
            if v != lrs[0]:
                raise ValueError(
                    f"{fn}: every scheduler must have the same `lr` (in PyTorch they share one "
                    f"optimizer), got lr={lrs[0]!r} for schedulers[0] and lr={v!r} for "
                    f"schedulers[{i}].")


# --------------------------------------------------------------------- base
class _Torch(Recipe):
    """A PyTorch scheduler driven by the optimizer's ``lr``.

    Besides its closed form (``_build``), each class states PyTorch's own step
    rule, used where PyTorch composes schedulers on one shared LR
    (``ChainedScheduler``) or restarts one at a milestone (``SequentialLR``).
    """

    # True when every step multiplies the shared LR by a factor that does not depend
    # on it: then a chain of such schedulers is the product of their factors.
    _multiplicative: ClassVar[bool] = True

    def _factor(self) -> Schedule:
        """The schedule divided by ``lr`` (the same scheduler with ``lr=1``)."""
        return dataclasses.replace(self, lr=1.0)

    def _torch_init(self, x: jax.Array) -> jax.Array:
        """The shared LR after this scheduler's construction (PyTorch's initial step)."""
        return x

    def _torch_step(self, x: jax.Array, e: jax.Array) -> jax.Array:  # pragma: no cover
        """The shared LR after ``step()`` brings this scheduler to epoch ``e >= 1``."""
        raise NotImplementedError

    def _restart(self, head: Schedule, at: int) -> Schedule:
        """This scheduler as ``SequentialLR`` starts it at a milestone (``_update_lr(0)``),
        after ``head`` was in charge up to step ``at``."""
        return self


# --------------------------------------------------------------------- stepwise decays
@schedule_class
class StepLR(_Torch):
    """Multiplies the LR by ``gamma`` every ``step_size`` steps.

    ``lr(t) = lr * gamma ** (t // step_size)``: ``js.exponential(lr, gamma,
    period=step_size, staircase=True)``.

    Differences from PyTorch, all in validation: ``step_size`` must be a
    positive int (PyTorch fails with ``ZeroDivisionError`` at the first step for
    0 and behaves like ``abs(step_size)`` for negative values), and ``gamma``
    must be > 0 (PyTorch takes 0 or a negative gamma, giving zero or negative LRs).

    Args:
      lr: the optimizer's learning rate (PyTorch's initial ``lr``), a real number >= 0
        (may be traced); pass the number, not the optimizer.
      step_size: the steps between two multiplications by ``gamma``, a positive int.
      gamma: the multiplier every ``step_size`` steps, a real number > 0; default 0.1.

    >>> from jaxsched import pytorch as pt
    >>> s = pt.StepLR(0.1, step_size=30)
    >>> s
    StepLR(lr=0.1, step_size=30)
    >>> print(f"{s(29):.4f} {s(30):.4f} {s(60):.4f}")
    0.1000 0.0100 0.0010
    """

    lr: Any = hyper(check.lr)
    step_size: int = static(check.positive_int)
    gamma: Any = hyper(check.positive, default=0.1, specialize=True)

    def _build(self) -> Schedule:
        return exponential(self.lr, self.gamma, period=self.step_size, staircase=True)

    def _torch_step(self, x: jax.Array, e: jax.Array) -> jax.Array:
        return jnp.where(e % self.step_size == 0, x * self.gamma, x)


@schedule_class
class MultiStepLR(_Torch):
    """Multiplies the LR by ``gamma`` at each milestone.

    ``lr(t) = lr * gamma ** n(t)``, ``n(t)`` the number of milestones ``<= t``
    counted with repetition: ``js.multistep(lr, milestones, gamma)``, or
    ``js.piecewise_constant`` when a milestone repeats.

    PyTorch's quirks, reproduced: milestones may come in any order (they are
    sorted, so the schedule compares equal whatever the order); a milestone
    listed ``k`` times multiplies by ``gamma ** k`` (``[2, 2, 5]`` gives
    ``gamma ** 2`` at step 2); a milestone 0 applies to the very first value.
    Negative milestones, which PyTorch silently ignores, are rejected, and so is
    ``gamma <= 0``.

    Args:
      lr: the optimizer's learning rate, a real number >= 0 (may be traced).
      milestones: the steps where ``gamma`` is applied, ints >= 0 in any order; a
        repeated milestone applies ``gamma`` once per repetition.
      gamma: the multiplier at each milestone, a real number > 0; default 0.1.

    >>> from jaxsched import pytorch as pt
    >>> s = pt.MultiStepLR(0.1, milestones=[30, 80])
    >>> print(f"{s(29):.3f} {s(30):.3f} {s(80):.4f}")
    0.100 0.010 0.0010
    """

    lr: Any = hyper(check.lr)
    milestones: Sequence[int] = static(_milestones)
    gamma: Any = hyper(check.positive, default=0.1, specialize=True)

    def _build(self) -> Schedule:
        counts = Counter(self.milestones)
        bounds = sorted(counts)
        if all(c == 1 for c in counts.values()):
            return multistep(self.lr, bounds, self.gamma)
        values, k = [self.lr], 0
        for b in bounds:
            k += counts[b]
            values.append(self.lr * self.gamma**k)
        return piecewise_constant(values, bounds)

    def _count(self, e: jax.Array) -> jax.Array:
        counts = Counter(self.milestones)
        n = jnp.zeros(jnp.shape(e), jnp.int32)
        for m, c in counts.items():
            n = n + jnp.where(e == m, c, 0)
        return n

    def _torch_init(self, x: jax.Array) -> jax.Array:
        return x * self.gamma ** fl(self._count(jnp.zeros((), jnp.int32)))

    def _torch_step(self, x: jax.Array, e: jax.Array) -> jax.Array:
        return x * self.gamma ** fl(self._count(e))


@schedule_class
class ConstantLR(_Torch):
    """``lr * factor`` for the first ``total_iters`` steps, then ``lr``.

    ``lr(t) = lr * factor`` for ``t < total_iters``, else ``lr(t) = lr``:
    ``js.piecewise_constant([lr * factor, lr], [total_iters])``.

    PyTorch's quirks, reproduced: with ``total_iters=0`` the factor is applied
    at construction and never undone, so the LR is ``lr * factor`` forever.
    ``factor`` must be in (0, 1]: PyTorch accepts 0 but then divides by zero at
    step ``total_iters``. ``total_iters`` must be an int >= 0.

    Args:
      lr: the optimizer's learning rate, a real number >= 0 (may be traced).
      factor: the multiplier of ``lr`` during the first ``total_iters`` steps, a real
        number in (0, 1]; default 1/3.
      total_iters: how many steps the factor applies, an int >= 0; default 5 (0: the
        factor applies forever, PyTorch's quirk).

    >>> from jaxsched import pytorch as pt
    >>> s = pt.ConstantLR(0.1, factor=0.5, total_iters=4)
    >>> print(f"{s(3):.3f} {s(4):.3f}")
    0.050 0.100
    """

    lr: Any = hyper(check.lr)
    factor: Any = hyper(_in_open_0_1, default=1.0 / 3)
    total_iters: int = static(check.nonneg_int, default=5)

    def _build(self) -> Schedule:
        if self.total_iters == 0:
            return constant(self.lr * self.factor)
        return piecewise_constant([self.lr * self.factor, self.lr], [self.total_iters])

    def _torch_init(self, x: jax.Array) -> jax.Array:
        return x * self.factor

    def _torch_step(self, x: jax.Array, e: jax.Array) -> jax.Array:
        return jnp.where(e == self.total_iters, x * (1.0 / self.factor), x)

    def _restart(self, head: Schedule, at: int) -> Schedule:
        # PyTorch restarts it from its closed form, which with total_iters=0 is the plain lr.
        return constant(self.lr) if self.total_iters == 0 else self


@schedule_class
class LinearLR(_Torch):
    """The LR scaled by a factor moving linearly from ``start_factor`` to ``end_factor``
    over ``total_iters`` steps, then held.

    ``lr(t) = lr * (start_factor + (end_factor - start_factor) * min(t, total_iters) /
    total_iters)``: ``js.linear(lr * start_factor, lr * end_factor, total_iters)``.

    PyTorch's quirks, reproduced: with ``total_iters=0`` the LR is
    ``lr * start_factor`` forever (its closed form would divide by zero; its
    step rule never moves). Validation as PyTorch (``start_factor`` in (0, 1],
    ``end_factor`` in [0, 1]) plus ``total_iters`` an int >= 0 (PyTorch takes
    negative values and then holds ``start_factor``).

    Args:
      lr: the optimizer's learning rate, a real number >= 0 (may be traced).
      start_factor: the multiplier of ``lr`` at step 0, a real number in (0, 1];
        default 1/3.
      end_factor: the multiplier reached at ``total_iters`` and held, in [0, 1];
        default 1.0.
      total_iters: the steps the factor moves over, an int >= 0; default 5 (0: the LR
        is ``lr * start_factor`` forever).

    >>> from jaxsched import pytorch as pt
    >>> s = pt.LinearLR(0.1, start_factor=0.1, total_iters=10)
    >>> print(f"{s(0):.3f} {s(5):.3f} {s(10):.3f}")
    0.010 0.055 0.100
    """

    lr: Any = hyper(check.lr)
    start_factor: Any = hyper(_in_open_0_1, default=1.0 / 3)
    end_factor: Any = hyper(check.unit_interval, default=1.0)
    total_iters: int = static(check.nonneg_int, default=5)

    def _build(self) -> Schedule:
        if self.total_iters == 0:
            return constant(self.lr * self.start_factor)
        return linear(self.lr * self.start_factor, self.lr * self.end_factor, self.total_iters)

    def _torch_init(self, x: jax.Array) -> jax.Array:
        return x * self.start_factor

    def _torch_step(self, x: jax.Array, e: jax.Array) -> jax.Array:
        n, a, b = self.total_iters, self.start_factor, self.end_factor
        if n == 0:
            return x
        denom = n * a + fl(jnp.minimum(e, n) - 1) * (b - a)
        return jnp.where(e > n, x, x * (1.0 + (b - a) / denom))

    def _restart(self, head: Schedule, at: int) -> Schedule:
        if self.total_iters == 0:
            raise ValueError("SequentialLR: LinearLR(total_iters=0) cannot start at a milestone "
                             "after step 0: PyTorch divides by zero there (ZeroDivisionError).")
        return self


@schedule_class
class ExponentialLR(_Torch):
    """Multiplies the LR by ``gamma`` every step: ``lr(t) = lr * gamma ** t``.

    ``js.exponential(lr, gamma)``. ``gamma`` must be > 0 (PyTorch accepts 0 and
    negative values, giving zero or sign-flipping LRs).

    Args:
      lr: the optimizer's learning rate, a real number >= 0 (may be traced).
      gamma: the multiplier per step, a real number > 0 (no default, as in PyTorch).

    >>> from jaxsched import pytorch as pt
    >>> print(f"{pt.ExponentialLR(0.1, gamma=0.9)(2):.4f}")
    0.0810
    """

    lr: Any = hyper(check.lr)
    gamma: Any = hyper(check.positive, specialize=True)

    def _build(self) -> Schedule:
        return exponential(self.lr, self.gamma)

    def _torch_step(self, x: jax.Array, e: jax.Array) -> jax.Array:
        return x * self.gamma


@schedule_class
class PolynomialLR(_Torch):
    """Polynomial decay to zero over ``total_iters`` steps, then zero.

    ``lr(t) = lr * (1 - min(t, total_iters) / total_iters) ** power``:
    ``js.polynomial(lr, 0.0, total_iters, power)``.

    PyTorch's quirks, reproduced: ``total_iters=0`` or ``power=0`` give the
    constant ``lr``. ``total_iters`` must be an int >= 0 (PyTorch also takes
    negative values, as a constant) and ``power`` >= 0.

    Args:
      lr: the optimizer's learning rate, a real number >= 0 (may be traced).
      total_iters: the steps of the decay to zero, an int >= 0; default 5 (0: the
        constant ``lr``).
      power: the power of the remaining fraction, a real number >= 0; default 1.0
        (linear; 0 is the constant ``lr``).

    >>> from jaxsched import pytorch as pt
    >>> s = pt.PolynomialLR(0.1, total_iters=10, power=2.0)
    >>> print(f"{s(5):.4f} {s(10):.4f} {s(20):.4f}")
    0.0250 0.0000 0.0000
    """

    lr: Any = hyper(check.lr)
    total_iters: int = static(check.nonneg_int, default=5)
    power: Any = hyper(check.nonneg, default=1.0, specialize=True)

    def _build(self) -> Schedule:
        n = self.total_iters
        if n == 0 or (isinstance(self.power, float) and self.power == 0.0):
            return constant(self.lr)
        return polynomial(self.lr, 0.0, n, self.power)  # a traced power 0 gives lr too (0**0)

    def _torch_step(self, x: jax.Array, e: jax.Array) -> jax.Array:
        n = self.total_iters
        if n == 0:
            return x
        k = jnp.minimum(e, n)
        ratio = (fl(n - k) / fl(n - k + 1)) ** self.power  # PyTorch's (1 - k/n) / (1 - (k-1)/n)
        return jnp.where(e > n, x, x * ratio)

    def _restart(self, head: Schedule, at: int) -> Schedule:
        if self.total_iters == 0:
            raise ValueError("SequentialLR: PolynomialLR(total_iters=0) cannot start at a "
                             "milestone after step 0: PyTorch divides by zero there "
                             "(ZeroDivisionError).")
        return self


# --------------------------------------------------------------------- cosines
@schedule_class
class CosineAnnealingLR(_Torch):
    """Cosine annealing from ``lr`` to ``eta_min`` over ``T_max`` steps, and back up.

    ``lr(t) = eta_min + (lr - eta_min) * (1 + cos(pi * t / T_max)) / 2`` for
    every ``t``: PyTorch does not stop at ``T_max``, its recursive update
    follows the cosine with period ``2 * T_max`` (with ``T_max=1`` the LR
    alternates ``lr, eta_min, lr, ...``). Built as
    ``js.repeat(js.join([js.cosine(lr, eta_min, T_max), js.cosine(eta_min, lr, T_max)],
    [T_max]), 2 * T_max)``; ``js.cosine(lr, eta_min, T_max)`` is the same up to
    ``T_max`` and then holds ``eta_min``, which is usually what a recipe meant.

    PyTorch's update is recursive and drifts from the closed form by a few
    ulps (about 4e-15). ``eta_min > lr`` is accepted (the LR rises first), as
    in PyTorch. ``T_max`` must be a positive int: PyTorch accepts 0 and divides
    by zero at the first step.

    Args:
      lr: the optimizer's learning rate, the value at step 0, a real number >= 0
        (may be traced).
      T_max: the steps from ``lr`` down to ``eta_min`` (half of PyTorch's period), a
        positive int.
      eta_min: the bottom of the cosine, a real number >= 0; default 0.0.

    >>> from jaxsched import pytorch as pt
    >>> s = pt.CosineAnnealingLR(0.1, T_max=10)
    >>> print(f"{s(5):.3f} {s(10):.3f} {s(15):.3f} {s(20):.3f}")
    0.050 0.000 0.050 0.100
    """

    lr: Any = hyper(check.lr)
    T_max: int = static(check.positive_int)  # noqa: N815 - PyTorch's name
    eta_min: Any = hyper(check.lr, default=0.0)
    _multiplicative: ClassVar[bool] = False

    def _build(self) -> Schedule:
        n, hi, lo = self.T_max, self.lr, self.eta_min
        return repeat(join([cosine(hi, lo, n), cosine(lo, hi, n)], [n]), period=2 * n)

    def _horizon(self) -> int:
        return self.T_max  # planned; PyTorch's cosine then rises again (describe warns)

    def _torch_step(self, x: jax.Array, e: jax.Array) -> jax.Array:
        n, lo = self.T_max, self.eta_min
        at_floor = (e - 1 + n) % (2 * n) == 0  # PyTorch's (e - 1 - T_max) % (2 T_max) == 0
        rise = x + (self.lr - lo) * (1.0 - math.cos(math.pi / n)) / 2.0
        # PyTorch's ratio (1 + cos(pi e / n)) / (1 + cos(pi (e - 1) / n)), with
        # 1 + cos(pi k / n) = 2 sin(pi (n - k) / (2 n))**2 and n - k exact: no cancellation
        # near the floor, where float32 would lose digits that the recursion then carries.
        def half(k: jax.Array) -> jax.Array:
            return shape.sin_squared(math.pi * fl(n - k % (2 * n)) / (2 * n))

        ratio = half(e) / jnp.where(at_floor, 1.0, half(e - 1))
        return jnp.where(at_floor, rise, ratio * (x - lo) + lo)


@schedule_class
class CosineAnnealingWarmRestarts(_Torch):
    """Cosine annealing from ``lr`` to ``eta_min``, restarting after ``T_0``, then
    ``T_0 * T_mult``, ``T_0 * T_mult**2``, ... steps (SGDR).

    ``lr(t) = eta_min + (lr - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2``, ``T_cur`` the
    steps since the last restart and ``T_i`` the current cycle length:
    ``js.sgdr(lr, period=T_0, period_mult=T_mult, end=eta_min)``, built as
    ``js.repeat(js.cosine(lr, eta_min, T_0), T_0, T_mult)`` so that
    ``eta_min > lr`` works as in PyTorch. Validation as PyTorch (``T_0`` a
    positive int, ``T_mult`` an int >= 1).

    Args:
      lr: the optimizer's learning rate, the value after each restart, a real number
        >= 0 (may be traced).
      T_0: the first cycle's length in steps, a positive int.
      T_mult: how many times longer each cycle is than the one before, an int >= 1;
        default 1.
      eta_min: the bottom of each cosine, a real number >= 0; default 0.0.

    >>> from jaxsched import pytorch as pt
    >>> s = pt.CosineAnnealingWarmRestarts(0.1, T_0=10, T_mult=2)
    >>> print(f"{s(5):.3f} {s(10):.3f} {s(20):.3f} {s(30):.3f}")
    0.050 0.100 0.050 0.100
    """

    lr: Any = hyper(check.lr)
    T_0: int = static(check.positive_int)  # noqa: N815 - PyTorch's name
    T_mult: int = static(check.positive_int, default=1)  # noqa: N815
    eta_min: Any = hyper(check.lr, default=0.0)
    _multiplicative: ClassVar[bool] = False

    def _build(self) -> Schedule:
        return repeat(cosine(self.lr, self.eta_min, self.T_0), self.T_0, self.T_mult)

    def _torch_init(self, x: jax.Array) -> jax.Array:
        return self._eval(jnp.zeros((), jnp.int32))

    def _torch_step(self, x: jax.Array, e: jax.Array) -> jax.Array:
        return self._eval(e)  # PyTorch sets it from the closed form, ignoring the shared LR


# --------------------------------------------------------------------- functions of the step
@schedule_class
class LambdaLR(_Torch):
    """``lr(t) = lr * lr_lambda(t)``.

    ``lr_lambda`` receives the step as a scalar int array and must be
    jnp-traceable (``jnp.where`` instead of ``if``, ``jnp.cos`` instead of
    ``math.cos``, ``jnp.minimum`` instead of ``min``); one that is not is
    rejected at construction with the tracing error. The core equivalent is
    ``lr * js.wrap(lr_lambda)``. Its repr shows the function's name and it has
    no config form.

    Args:
      lr: the optimizer's learning rate, a real number >= 0 (may be traced).
      lr_lambda: a jnp-traceable function of the step (a scalar int array) giving the
        multiplier of ``lr`` at that step.

    >>> import jax.numpy as jnp
    >>> from jaxsched import pytorch as pt
    >>> s = pt.LambdaLR(0.1, lambda e: jnp.minimum(1.0, (e + 1) / 10))
    >>> print(f"{s(0):.3f} {s(4):.3f} {s(50):.3f}")
    0.010 0.050 0.100
    """

    lr: Any = hyper(check.lr)
    lr_lambda: Callable[[jax.Array], Any] = static(_function)
    _multiplicative: ClassVar[bool] = False

    def _eval(self, t: jax.Array) -> jax.Array:
        return self.lr * _apply(self.lr_lambda, t)

    def _torch_init(self, x: jax.Array) -> jax.Array:
        return self.lr * _apply(self.lr_lambda, jnp.zeros((), jnp.int32))

    def _torch_step(self, x: jax.Array, e: jax.Array) -> jax.Array:
        return self.lr * _apply(self.lr_lambda, e)  # absolute: overwrites the shared LR


@schedule_class
class MultiplicativeLR(_Torch):
    """Multiplies the LR by ``lr_lambda(k)`` at every step ``k >= 1``.

    ``lr(t) = lr * prod_{k=1..t} lr_lambda(k)``. ``lr_lambda`` must be
    jnp-traceable (see ``LambdaLR``). There is no closed form for an arbitrary
    function, so ``s(t)`` runs a loop of ``t`` iterations: fine for a few
    thousand steps, slow for millions (if the factor is a constant ``gamma``,
    use ``ExponentialLR``; if it has a closed-form product, ``LambdaLR``).

    In ``SequentialLR`` PyTorch does not restart it at its milestone: it goes
    on multiplying the LR the previous scheduler left, by ``lr_lambda(0)``,
    ``lr_lambda(1)``, ...; that is reproduced.

    Args:
      lr: the optimizer's learning rate, a real number >= 0 (may be traced).
      lr_lambda: a jnp-traceable function of the step ``k`` (a scalar int array) giving
        the factor the LR is multiplied by at step ``k >= 1``.

    >>> from jaxsched import pytorch as pt
    >>> s = pt.MultiplicativeLR(1.0, lambda e: 0.5)
    >>> print(f"{s(0):.3f} {s(3):.3f}")
    1.000 0.125
    """

    lr: Any = hyper(check.lr)
    lr_lambda: Callable[[jax.Array], Any] = static(_function)

    def _eval(self, t: jax.Array) -> jax.Array:
        return self.lr * _product(self.lr_lambda, t, 1)

    def _torch_step(self, x: jax.Array, e: jax.Array) -> jax.Array:
        return x * _apply(self.lr_lambda, e)

    def _restart(self, head: Schedule, at: int) -> Schedule:
        return _carried(head, at, self.lr_lambda)


@schedule_class
class _carried(Schedule):
    """``head(at) * prod_{k=0..t} rate(k)``: a MultiplicativeLR started mid-sequence."""

    head: Any = hyper()
    at: int = static()
    rate: Callable = static()

    def _eval(self, t: jax.Array) -> jax.Array:
        start = self.head._eval(jnp.asarray(self.at, t.dtype))
        return start * _product(self.rate, t, 0)


# --------------------------------------------------------------------- composition
_COMPOSABLE = (StepLR, MultiStepLR, ConstantLR, LinearLR, ExponentialLR, PolynomialLR,
               CosineAnnealingLR, CosineAnnealingWarmRestarts, LambdaLR, MultiplicativeLR)


def _members(fn: str, name: str, values: Any) -> tuple[_Torch, ...]:
    if isinstance(values, str) or not isinstance(values, list | tuple):
        raise TypeError(f"{fn}: `{name}` must be a list of jaxsched.pytorch schedulers, got "
                        f"{values!r}.")
    if not values:
        raise ValueError(f"{fn}: `{name}` must not be empty.")
    for i, s in enumerate(values):
        if not isinstance(s, _COMPOSABLE):
            names = ", ".join(c.__name__ for c in _COMPOSABLE)
            raise TypeError(
                f"{fn}: `{name}[{i}]` must be one of the jaxsched.pytorch schedulers {names}; "
                f"got {type(s).__name__}. (CyclicLR, OneCycleLR, ReduceLROnPlateau and nested "
                "SequentialLR/ChainedScheduler set the LR in ways this mapping does not "
                "reproduce inside a composition; to join core schedules use js.join, to "
                "multiply them use `*`.)")
    return tuple(values)


@schedule_class
class SequentialLR(_Torch):
    """Schedulers one after another: ``schedulers[i]`` runs from ``milestones[i-1]``.

    ``lr(t) = schedulers[i](t - milestones[i-1])`` for
    ``milestones[i-1] <= t < milestones[i]`` (``milestones[-1] = 0``):
    ``js.join(schedulers, milestones)``: at each milestone PyTorch restarts the
    next scheduler from the base LR at its own step 0, which is ``join``'s
    contract. All schedulers must have the same ``lr`` (in PyTorch they share
    one optimizer). ``milestones`` must be sorted ints >= 0 (PyTorch does not
    check the order but relies on it).

    PyTorch's quirks, reproduced: a milestone 0 means the first scheduler is
    never used, and a repeated milestone skips a scheduler; a ``ConstantLR``
    with ``total_iters=0`` started at a milestone runs at the plain ``lr`` (it
    applies its factor only when built at step 0); a ``MultiplicativeLR``
    started at a milestone continues from the LR the previous scheduler left
    (see ``MultiplicativeLR``). ``LinearLR``/``PolynomialLR`` with
    ``total_iters=0`` after a milestone > 0 are rejected (PyTorch divides by
    zero there).

    Args:
      schedulers: the ``jaxsched.pytorch`` schedulers in time order, a non-empty list,
        all with the same ``lr`` (``StepLR``, ``MultiStepLR``, ``ConstantLR``,
        ``LinearLR``, ``ExponentialLR``, ``PolynomialLR``, ``CosineAnnealingLR``,
        ``CosineAnnealingWarmRestarts``, ``LambdaLR``, ``MultiplicativeLR``).
      milestones: the steps where the next scheduler takes over, sorted ints >= 0,
        ``len(schedulers) - 1`` of them.

    >>> from jaxsched import pytorch as pt
    >>> s = pt.SequentialLR([pt.LinearLR(0.1, start_factor=0.1, total_iters=5),
    ...                      pt.CosineAnnealingLR(0.1, T_max=45)], milestones=[5])
    >>> print(f"{s(0):.3f} {s(5):.3f} {s(50):.3f}")
    0.010 0.100 0.000
    """

    schedulers: Sequence[Any] = hyper(_members)
    milestones: Sequence[int] = static(_sorted_milestones)
    _multiplicative: ClassVar[bool] = False

    def _check(self) -> None:
        if len(self.milestones) != len(self.schedulers) - 1:
            raise ValueError(f"SequentialLR: needs len(milestones) == len(schedulers) - 1, got "
                             f"{len(self.milestones)} milestones for {len(self.schedulers)} "
                             "schedulers.")
        _same_lr("SequentialLR", self.schedulers)
        _ = self._inner  # a piece that cannot restart raises now, not at the first call

    @property
    def lr(self) -> Any:
        return self.schedulers[0].lr

    def _build(self) -> Schedule:
        starts = (0, *self.milestones)
        ends = (*self.milestones, None)
        pieces: list[Schedule] = []
        bounds: list[int] = []
        for sub, start, end in zip(self.schedulers, starts, ends, strict=True):
            if end is not None and end <= start:
                continue  # never in charge
            if pieces:
                head = pieces[0] if len(pieces) == 1 else join(pieces, bounds)
                pieces.append(sub._restart(head, start - 1))
                bounds.append(start)
            else:
                pieces.append(sub)
        return pieces[0] if len(pieces) == 1 else join(pieces, bounds)


@schedule_class
class ChainedScheduler(_Torch):
    """Schedulers stepped together on one LR: each applies its own update in turn.

    For multiplicative schedulers (every one here except ``CosineAnnealingLR``,
    ``CosineAnnealingWarmRestarts`` and ``LambdaLR``) that is the product of
    their factors: ``lr(t) = lr * prod_i (schedulers[i](t) / lr)``, evaluated in closed
    form (the core's ``a * b``). With one of the other three PyTorch's result
    depends on the order: ``CosineAnnealingLR`` recursively pulls the LR
    towards ``eta_min`` and, past ``T_max``, adds its restart increment;
    ``LambdaLR`` and ``CosineAnnealingWarmRestarts`` overwrite the LR, erasing
    the factors before them and keeping only the last step's factor of those
    after them. That is reproduced by running PyTorch's step rules in a loop
    of ``t`` iterations per evaluation (O(t): fine for thousands of steps, slow
    for millions; in float32 the recursion accumulates rounding, up to about
    one ulp of the largest LR per step). All schedulers must have the same ``lr``.

    Args:
      schedulers: the ``jaxsched.pytorch`` schedulers stepped together, a non-empty
        list, all with the same ``lr``, applied in this order (the kinds
        ``SequentialLR`` takes).

    >>> from jaxsched import pytorch as pt
    >>> s = pt.ChainedScheduler([pt.ConstantLR(0.1, factor=0.5, total_iters=4),
    ...                          pt.ExponentialLR(0.1, gamma=0.9)])
    >>> print(f"{s(0):.4f} {s(2):.4f} {s(4):.4f}")
    0.0500 0.0405 0.0656
    """

    schedulers: Sequence[Any] = hyper(_members)
    _multiplicative: ClassVar[bool] = False

    def _check(self) -> None:
        _same_lr("ChainedScheduler", self.schedulers)

    @property
    def lr(self) -> Any:
        return self.schedulers[0].lr

    def _build(self) -> Schedule:
        subs = self.schedulers
        if len(subs) == 1:
            return subs[0]
        if all(s._multiplicative for s in subs):
            out = subs[0]._factor()
            for s in subs[1:]:
                out = out * s._factor()
            return out * self.lr
        return _chain(subs)


@schedule_class
class _chain(Schedule):
    """ChainedScheduler by PyTorch's step rules: ``x_t = step_n(...step_1(x_{t-1}, t)...)``."""

    schedulers: Sequence[Any] = hyper()

    def _eval(self, t: jax.Array) -> jax.Array:
        subs = self.schedulers

        def init() -> jax.Array:
            x = jnp.asarray(subs[0].lr, float_dtype())
            for s in subs:
                x = s._torch_init(x)
            return x

        def body(e: jax.Array, x: jax.Array) -> jax.Array:
            for s in subs:
                x = s._torch_step(x, e)
            return x

        return _fold(t, 1, init, body)


# --------------------------------------------------------------------- cyclic
@schedule_class
class _cycle_scale(Schedule):
    """``fn(t // period + 1)`` (``by='cycle'``, PyTorch's 1-based cycle) or ``fn(t)``."""

    fn: Callable = static()
    period: int = static()
    by: str = static()

    def _eval(self, t: jax.Array) -> jax.Array:
        if self.by == "cycle":
            c, _ = divide(t, self.period)
            return _apply(self.fn, c + 1)
        return _apply(self.fn, t)


@schedule_class
class CyclicLR(Recipe):
    """The cyclical learning rate of PyTorch's ``CyclicLR`` (Smith, 2017).

    ``lr(t) = base_lr + (max_lr - base_lr) * h(t) * s(t)``, ``h`` the triangle wave of
    ``js.cyclic`` (0 at the bottom, 1 at the top) and ``s`` the height's scale:
    ``js.cyclic(base_lr, max_lr, step_size_up, step_size_down, policy=mode, gamma=gamma)``:
    a cycle rises from ``base_lr`` to ``max_lr`` in ``step_size_up`` steps and
    falls back in ``step_size_down`` (default ``step_size_up``); the height is
    scaled by 1 (``'triangular'``), ``0.5 ** cycle`` (``'triangular2'``) or
    ``gamma ** t`` (``'exp_range'``). With ``scale_fn`` the height is scaled by
    ``scale_fn(c)`` instead, ``c`` the 1-based cycle number (``scale_mode='cycle'``)
    or the step (``'iterations'``); ``scale_fn`` must be jnp-traceable, and
    ``mode`` and ``gamma`` are then ignored, as is ``scale_mode`` without
    ``scale_fn`` (all as in PyTorch). PyTorch ignores the optimizer's LR here,
    so there is no ``lr`` argument.

    ``.momentum`` (with ``cycle_momentum=True``, the default) is the schedule
    PyTorch writes into ``momentum`` (or Adam's ``betas[0]``): the same cycle
    inverted, from ``max_momentum`` down to ``base_momentum`` and back. Step
    sizes must be positive ints (PyTorch divides by zero for 0 and takes floats).

    Args:
      base_lr: the bottom of each cycle (the value at step 0), a real number >= 0 (may
        be traced).
      max_lr: the top of each cycle, a real number >= 0 (may be traced).
      step_size_up: the steps of the rise, a positive int; default 2000.
      step_size_down: the steps of the fall, a positive int; the default None uses
        ``step_size_up``.
      mode: how the height changes per cycle: ``'triangular'`` (the default, it does
        not), ``'triangular2'`` (halved each cycle) or ``'exp_range'`` (times
        ``gamma ** t``); ignored with ``scale_fn``.
      gamma: the per-step multiplier of ``'exp_range'``, a real number > 0; default 1.0.
      scale_fn: a jnp-traceable function scaling the height instead of ``mode``, or
        None (the default).
      scale_mode: what ``scale_fn`` receives: ``'cycle'`` (the 1-based cycle number,
        the default) or ``'iterations'`` (the step).
      cycle_momentum: if True (the default), ``.momentum`` cycles inversely between
        ``max_momentum`` and ``base_momentum``; if False it is None.
      base_momentum: the momentum at the top of the LR cycle, a real number >= 0;
        default 0.8.
      max_momentum: the momentum at the bottom of the LR cycle, a real number >= 0;
        default 0.9.

    >>> from jaxsched import pytorch as pt
    >>> s = pt.CyclicLR(0.01, 0.1, step_size_up=5)
    >>> print(f"{s(0):.3f} {s(5):.3f} {s(10):.3f}")
    0.010 0.100 0.010
    >>> print(f"{s.momentum(0):.2f} {s.momentum(5):.2f}")
    0.90 0.80
    """

    _long_rise = True
    base_lr: Any = hyper(check.lr)
    max_lr: Any = hyper(check.lr)
    step_size_up: int = static(check.positive_int, default=2000)
    step_size_down: int | None = static(check.optional(check.positive_int), default=None)
    mode: str = static(check.one_of("triangular", "triangular2", "exp_range"),
                       default="triangular")
    gamma: Any = hyper(check.positive, default=1.0, specialize=True)
    scale_fn: Callable | None = static(check.optional(_function), default=None)
    scale_mode: str = static(check.one_of("cycle", "iterations"), default="cycle")
    cycle_momentum: bool = static(check.flag, default=True)
    base_momentum: Any = hyper(check.lr, default=0.8)
    max_momentum: Any = hyper(check.lr, default=0.9)

    def _curve(self, low: Any, high: Any) -> Schedule:
        up, down = self.step_size_up, self.step_size_down
        if self.scale_fn is None:
            return cyclic(low, high, up, down, policy=self.mode, gamma=self.gamma)
        scale = _cycle_scale(self.scale_fn, up + (up if down is None else down), self.scale_mode)
        return cyclic(0.0, 1.0, up, down) * scale * (high - low) + low

    def _build(self) -> Schedule:
        return self._curve(self.base_lr, self.max_lr)

    @property
    def momentum(self) -> Schedule | None:
        """The momentum (or ``b1``) schedule PyTorch cycles; None without ``cycle_momentum``."""
        if not self.cycle_momentum:
            return None
        return self._curve(self.max_momentum, self.base_momentum)


# --------------------------------------------------------------------- one cycle
@schedule_class
class _phase(Schedule):
    """OneCycleLR's phase: anneal ``start -> end`` at ``pct = 1 - (rest - t) / length``.

    PyTorch's ``pct = (s - previous_end) / (end - previous_end)``. The phase's
    remaining steps ``rest - t`` are counted back from its end, an exact integer
    difference plus the end's fraction, and the steps done ``t + (length - rest)``
    forward, so that the shared cancellation-free annealing (``_anneal``) applies
    with ``length`` as the phase's (possibly fractional) length: exactly ``end`` on an
    integer end (the last step), in float32 too.
    """

    start: Any = hyper()
    end: Any = hyper()
    rest: float = static()
    length: float = static()
    kind: str = static()

    def _eval(self, t: jax.Array) -> jax.Array:
        whole = math.floor(self.rest)
        left = fl(whole - tmin(t, whole)) + (self.rest - whole)
        done = fl(tmin(t, whole)) + (self.length - self.rest)
        fall = shape.cosine if self.kind == "cos" else shape.linear
        return interpolate(self.start, self.end, left, done, self.length, fall)


def _torch_phases(fn: str, total: int, pct_start: float, three_phase: bool) -> list:
    """PyTorch's phases: ``(first_step, rest, length, start_key, end_key)`` for each phase
    that holds a step in ``[0, total)``.

    PyTorch ends phase ``i`` at the float step ``e_i`` (``pct_start * total - 1``,
    ``2 * pct_start * total - 2``, ``total - 1``); step ``s`` belongs to the first
    phase with ``s <= e_i`` and anneals at ``pct = (s - e_{i-1}) / (e_i - e_{i-1})``.
    """
    if three_phase:
        ends = [float(pct_start * total) - 1, float(2 * pct_start * total) - 2, total - 1]
        keys = [("initial", "max"), ("max", "initial"), ("initial", "min")]
    else:
        ends = [float(pct_start * total) - 1, total - 1]
        keys = [("initial", "max"), ("max", "min")]
    phases, first, prev = [], 0, 0.0
    for i, (end, key) in enumerate(zip(ends, keys, strict=True)):
        last = total - 1 if i == len(ends) - 1 else min(math.floor(end), total - 1)
        if last >= first:
            if end == prev:
                raise ValueError(
                    f"{fn}: pct_start * total_steps = {pct_start!r} * {total} puts a phase of "
                    f"length 0 at step {first}, where PyTorch divides by zero "
                    "(ZeroDivisionError); change pct_start or total_steps.")
            phases.append((first, end - first, end - prev, *key))
            first = last + 1
        prev = end
    return phases


class _OneCycle(Recipe):
    """Shared by OneCycleLR and OneCycleMomentum: PyTorch's phases, held after the last step."""

    def _steps(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def _values(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    _long_rise = True  # rising for pct_start of the run is the design, not a long warmup

    def _check(self) -> None:
        _ = self._phases

    @functools.cached_property
    def _phases(self) -> list:
        return _torch_phases(type(self).__name__, self._steps(), self.pct_start,
                             self.three_phase)

    def _build(self) -> Schedule:
        values = self._values()
        phases = self._phases
        pieces = [_phase(values[a], values[b], rest, length, self.anneal_strategy)
                  for _, rest, length, a, b in phases]
        if len(pieces) == 1:
            return pieces[0]
        return join(pieces, [p[0] for p in phases[1:]])

    def _eval(self, t: jax.Array) -> jax.Array:
        return self._inner._eval(tmin(t, self._steps() - 1))


@schedule_class
class OneCycleLR(_OneCycle):
    """The 1cycle policy as PyTorch's ``OneCycleLR`` computes it.

    Up from ``initial = max_lr / div_factor`` to ``max_lr``, then down to
    ``min = initial / final_div_factor`` (``three_phase``: up, back down to
    ``initial``, then down to ``min``), each phase annealed by cosine
    (``anneal_strategy='cos'``) or linearly. ``total_steps`` or
    ``epochs * steps_per_epoch`` steps in all; PyTorch ignores the optimizer's LR.

    PyTorch's phase ends sit at the float steps ``pct_start * total_steps - 1``
    (``2 * pct_start * total_steps - 2`` for the second of three) and
    ``total_steps - 1``; step ``s`` belongs to the first phase whose end is
    ``>= s`` and anneals at ``pct = (s - previous_end) / (end - previous_end)``
    (the first phase's previous end is 0): for a phase from ``a`` to ``b``,
    ``lr(t) = a + (b - a) * (1 - cos(pi * pct)) / 2`` at ``s = t`` (``'cos'``), or
    ``a + (b - a) * pct`` (``'linear'``).
    So the peak is reached one step earlier than in ``js.one_cycle`` (whose
    phases end at ``int(pct_start * total_steps)``), the last value
    (step ``total_steps - 1``) is exactly ``min``, ``pct_start=0`` starts
    just below ``max_lr`` (no warmup), and very short schedules (a handful of
    steps) may skip the peak. A configuration where PyTorch divides by zero
    (``pct_start * total_steps == 1``) is rejected.

    Past the end: PyTorch allows one more ``step()``, extrapolating the last
    phase (the cosine rises again, the linear anneal goes below zero), then
    raises ``ValueError``. A jittable schedule cannot raise, so here the LR
    **holds its final value** ``min`` from step ``total_steps - 1`` on.

    ``.momentum`` (with ``cycle_momentum=True``, the default) is the schedule
    PyTorch writes into ``momentum`` (or Adam's ``betas[0]``): ``max_momentum``
    down to ``base_momentum`` while the LR rises and back up while it falls,
    with the same phases; ``OneCycleMomentum(...)``.

    Args:
      max_lr: the top of the cycle, a real number >= 0 (may be traced).
      total_steps: the schedule's length in steps, a positive int, or None to use
        ``epochs * steps_per_epoch``.
      epochs: with ``steps_per_epoch``, the length when ``total_steps`` is None, a
        positive int.
      steps_per_epoch: optimizer updates per epoch, a positive int (with ``epochs``).
      pct_start: the rising phase's fraction of ``total_steps``, in [0, 1]; default 0.3.
      anneal_strategy: ``'cos'`` (the default) or ``'linear'`` annealing in each phase.
      cycle_momentum: if True (the default), ``.momentum`` anneals inversely between
        ``max_momentum`` and ``base_momentum``; if False it is None.
      base_momentum: the momentum at the LR's peak, a real number >= 0; default 0.85.
      max_momentum: the momentum at the start and the end, a real number >= 0;
        default 0.95.
      div_factor: the first value is ``max_lr / div_factor``, a real number > 0;
        default 25.
      final_div_factor: the last value is ``max_lr / div_factor / final_div_factor``,
        a real number > 0; default 1e4.
      three_phase: if True, rise, fall back to the first value, then anneal to the last;
        default False.

    >>> from jaxsched import pytorch as pt
    >>> s = pt.OneCycleLR(max_lr=0.1, total_steps=100)
    >>> s
    OneCycleLR(max_lr=0.1, total_steps=100)
    >>> print(f"{s(0):.4f} {s(29):.4f} {s(99):.8f} {s(500):.8f}")
    0.0040 0.1000 0.00000040 0.00000040
    >>> print(f"{s.momentum(0):.2f} {s.momentum(29):.2f}")
    0.95 0.85
    """

    max_lr: Any = hyper(check.lr)
    total_steps: int | None = static(check.optional(check.positive_int), default=None)
    epochs: int | None = static(check.optional(check.positive_int), default=None)
    steps_per_epoch: int | None = static(check.optional(check.positive_int), default=None)
    pct_start: float = static(check.unit_interval, default=0.3)
    anneal_strategy: str = static(check.one_of("cos", "linear"), default="cos")
    cycle_momentum: bool = static(check.flag, default=True)
    base_momentum: Any = hyper(check.lr, default=0.85)
    max_momentum: Any = hyper(check.lr, default=0.95)
    div_factor: Any = hyper(check.positive, default=25.0)
    final_div_factor: Any = hyper(check.positive, default=1e4)
    three_phase: bool = static(check.flag, default=False)

    def _check(self) -> None:
        if self.total_steps is None and (self.epochs is None or self.steps_per_epoch is None):
            raise ValueError("OneCycleLR: give `total_steps`, or both `epochs` and "
                             "`steps_per_epoch` (total_steps = epochs * steps_per_epoch).")
        super()._check()

    def _steps(self) -> int:
        if self.total_steps is not None:
            return self.total_steps
        return self.epochs * self.steps_per_epoch

    def _values(self) -> dict[str, Any]:
        initial = self.max_lr / self.div_factor
        return {"initial": initial, "max": self.max_lr, "min": initial / self.final_div_factor}

    @property
    def momentum(self) -> OneCycleMomentum | None:
        """The momentum (or ``b1``) schedule PyTorch anneals; None without ``cycle_momentum``."""
        if not self.cycle_momentum:
            return None
        return OneCycleMomentum(self._steps(), self.pct_start, self.anneal_strategy,
                                self.base_momentum, self.max_momentum, self.three_phase)


@schedule_class
class OneCycleMomentum(_OneCycle):
    """The momentum half of ``OneCycleLR`` (what ``OneCycleLR(...).momentum`` returns).

    ``max_momentum -> base_momentum`` while the LR rises, ``base_momentum ->
    max_momentum`` while it falls (``three_phase``: then held at
    ``max_momentum``), with ``OneCycleLR``'s phases and anneal; holds its final
    value past ``total_steps - 1``: ``m(t) = a + (b - a) * g(pct)`` with ``OneCycleLR``'s
    ``pct`` and anneal ``g``, ``a -> b`` the momentum values of each phase. For
    ``optax.inject_hyperparams(optax.sgd)(momentum=...)`` or ``(optax.adam)(b1=...)``.

    Args:
      total_steps: the schedule's length in steps, a positive int.
      pct_start: the fraction of ``total_steps`` while the LR rises, in [0, 1];
        default 0.3.
      anneal_strategy: ``'cos'`` (the default) or ``'linear'`` annealing in each phase.
      base_momentum: the low value, reached while the LR peaks, a real number >= 0;
        default 0.85.
      max_momentum: the high value, at the start and the end, a real number >= 0;
        default 0.95.
      three_phase: if True, fall, rise back, then hold ``max_momentum``; default False.

    >>> from jaxsched import pytorch as pt
    >>> m = pt.OneCycleMomentum(total_steps=100)
    >>> print(f"{m(0):.2f} {m(29):.2f} {m(99):.2f}")
    0.95 0.85 0.95
    """

    total_steps: int = static(check.positive_int)
    pct_start: float = static(check.unit_interval, default=0.3)
    anneal_strategy: str = static(check.one_of("cos", "linear"), default="cos")
    base_momentum: Any = hyper(check.lr, default=0.85)
    max_momentum: Any = hyper(check.lr, default=0.95)
    three_phase: bool = static(check.flag, default=False)

    def _steps(self) -> int:
        return self.total_steps

    def _values(self) -> dict[str, Any]:
        hi, lo = self.max_momentum, self.base_momentum
        return {"initial": hi, "max": lo, "min": hi}


# --------------------------------------------------------------------- plateau
_PT_RULES = ("mode", "factor", "patience", "threshold", "threshold_mode", "cooldown", "min_lr",
             "eps")
# The plateau rules PyTorch fixes: one metric per report, no device averaging, no early stop,
# its relative margin and its comparisons of non-finite metrics.
_PT_FIXED = {"every": 1, "axis_name": None, "stop_patience": None, "rel_margin": "pytorch",
             "nonfinite": "pytorch"}


@schedule_class
class ReduceLROnPlateau(StatefulSchedule):
    """PyTorch's ``ReduceLROnPlateau`` as a stateful schedule, decisions included.

    Feed each validation metric with ``opt_state = js.report(opt_state, metric)``
    where PyTorch calls ``scheduler.step(metric)``; the LR of update ``t`` is
    ``lr(t) = max(lr * scale, min(min_lr, lr))``, ``scale`` starting at 1 and
    multiplied by ``factor`` at each reduction. The same metric sequence
    gives the same LR sequence. It runs ``js.plateau(lr, ..., rel_margin='pytorch',
    nonfinite='pytorch')`` (with ``factor=0`` allowed, which ``js.plateau`` refuses):

    * the LR is cut after ``patience + 1`` evaluations without improvement (with
      ``patience=0`` every bad evaluation cuts), then ``cooldown`` evaluations
      are ignored;
    * ``threshold_mode='rel'`` uses PyTorch's bar ``best * (1 - threshold)``
      ('min'), which lies *above* ``best`` once ``best < 0``: with negative
      metrics a flat or slightly worse value counts as an improvement. That is
      PyTorch's behaviour, kept here; ``js.plateau``'s default
      (``rel_margin='abs_best'``) fixes it;
    * a cut is applied only if it changes the LR by more than ``eps`` (so with
      the default ``eps=1e-8`` reductions stop near 1e-8), and never below
      ``min_lr``;
    * PyTorch's comparisons exactly, non-finite values included: NaN metrics
      are bad evaluations; a ``-inf`` metric in 'min' mode (``+inf`` in 'max')
      becomes the best, after which nothing improves; with ``threshold=1.0`` in
      'rel' mode the first bar is ``inf * 0 = NaN``, so nothing ever improves
      (``js.plateau`` keeps its safer rule: ``nonfinite='bad'``).

    ``factor`` must be in [0, 1) (PyTorch also takes negative values and 1, which
    make no sense: refused), and ``min_lr`` one number (a one-element list is
    accepted: jaxsched schedules one LR; use ``optax.multi_transform`` for several
    groups). The LR and the comparisons are in float32 (float64 under x64).

    Args:
      lr: the optimizer's learning rate before any reduction, a real number >= 0 (may
        be traced).
      mode: ``'min'`` (the metric is a loss, the default) or ``'max'`` (an accuracy).
      factor: the multiplier of the LR at each reduction, a real number in [0, 1);
        default 0.1.
      patience: evaluations without improvement tolerated, an int >= 0; the next one
        reduces; default 10.
      threshold: the improvement margin, a real number >= 0; default 1e-4.
      threshold_mode: ``'rel'`` (PyTorch's bar ``best * (1 -/+ threshold)``, the
        default) or ``'abs'`` (``best -/+ threshold``).
      cooldown: evaluations ignored after a reduction, an int >= 0; default 0.
      min_lr: the LR floor, a real number >= 0 (or a list of one); default 0.0.
      eps: reductions that change the LR by ``eps`` or less are skipped, a real
        number >= 0; default 1e-8.

    >>> import jax.numpy as jnp, optax, jaxsched as js
    >>> from jaxsched import pytorch as pt
    >>> tx = optax.inject_hyperparams(optax.sgd)(
    ...     learning_rate=pt.ReduceLROnPlateau(0.1, factor=0.5, patience=1))
    >>> state = tx.init(jnp.zeros(3))
    >>> for loss in [1.0, 1.0, 1.0, 1.0]:
    ...     state = js.report(state, loss)
    >>> print(f"{js.current_lr(state):.3f}")
    0.050
    """

    lr: Any = hyper()
    mode: str = static(default="min")
    factor: Any = hyper(default=0.1)
    patience: int = static(default=10)
    threshold: Any = hyper(default=1e-4)
    threshold_mode: str = static(default="rel")
    cooldown: int = static(default=0)
    min_lr: Any = hyper(default=0.0)
    eps: Any = hyper(default=1e-8)

    def __post_init__(self) -> None:
        fn = "ReduceLROnPlateau"
        object.__setattr__(self, "lr", check.lr(fn, "lr", self.lr))
        min_lr = self.min_lr
        if isinstance(min_lr, list | tuple):
            if len(min_lr) != 1:
                raise ValueError(f"{fn}: `min_lr` must be a number (or a list of one: a "
                                 f"jaxsched schedule drives one LR), got {list(min_lr)!r}.")
            min_lr = min_lr[0]
        rules = check_rules(fn, mode=self.mode, factor=self.factor, patience=self.patience,
                            threshold=self.threshold, threshold_mode=self.threshold_mode,
                            cooldown=self.cooldown, floor=("min_lr", min_lr), eps=self.eps,
                            zero_factor=True, **_PT_FIXED)
        for name in _PT_RULES:
            object.__setattr__(self, name, rules[name])

    @functools.cached_property
    def _plateau(self) -> Any:
        """The plateau that runs it, from the fields validated once at construction."""
        return from_rules(self.lr, {**{name: getattr(self, name) for name in _PT_RULES},
                                    **_PT_FIXED})

    def init(self) -> Any:
        """The state before the first update (a ``PlateauState``)."""
        return self._plateau.init()

    def update(self, state: Any, **extra_args: Any) -> Any:
        """Advances the state by one update, feeding ``value=`` as a metric if given."""
        return self._plateau.update(state, **extra_args)

    def __call__(self, state: Any, **extra_args: Any) -> jax.Array:
        """The learning rate of the next update."""
        return self._plateau(state, **extra_args)

    def _preview(self) -> tuple[Schedule, str]:
        return self._plateau._preview()


def __dir__() -> list[str]:
    return list(__all__)
