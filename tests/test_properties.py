"""Property tests: random valid constructions are finite, non-negative, continuous where
their pieces are, and determined by their repr."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from catalogue import r_cosine, r_join, r_linear, r_polynomial
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxsched as js

lrs = st.floats(0.0, 10.0, allow_nan=False, allow_infinity=False)
pos_lrs = st.floats(1e-6, 10.0)
lengths = st.integers(1, 5000)
STEPS = jnp.asarray(np.concatenate([np.arange(0, 300), [999, 5000, 2**24 + 1, 2**31 - 1]]),
                    jnp.int32)
SETTINGS = settings(max_examples=40, deadline=None)
pytestmark = pytest.mark.heavy(seconds=3)


@st.composite
def curves(draw):
    kind = draw(st.sampled_from(["constant", "linear", "cosine", "polynomial", "exponential",
                                 "multistep", "inverse_sqrt", "cyclic", "warmup_cosine", "wsd",
                                 "one_cycle", "sgdr", "interpolate"]))
    a, b = draw(lrs), draw(lrs)
    n = draw(lengths)
    if kind == "constant":
        return js.constant(a)
    if kind == "linear":
        return js.linear(a, b, n)
    if kind == "cosine":
        return js.cosine(a, b, n, exponent=draw(st.floats(0.1, 4.0)))
    if kind == "polynomial":
        return js.polynomial(a, b, n, power=draw(st.floats(0.1, 4.0)))
    if kind == "exponential":
        gamma = draw(st.floats(0.01, 0.999))
        return js.exponential(max(a, b), gamma, period=draw(st.integers(1, 100)),
                              staircase=draw(st.booleans()), end=min(a, b))
    if kind == "multistep":
        ms = sorted(set(draw(st.lists(st.integers(0, 10_000), min_size=1, max_size=50))))
        return js.multistep(a, ms, gamma=draw(st.floats(0.01, 1.0)))
    if kind == "inverse_sqrt":
        return js.inverse_sqrt(a, warmup_steps=n, timescale=draw(st.none() | lengths))
    if kind == "cyclic":
        return js.cyclic(min(a, b), max(a, b), n, draw(st.none() | lengths),
                         policy=draw(st.sampled_from(["triangular", "triangular2", "exp_range"])),
                         gamma=draw(st.floats(0.9, 1.0)))
    if kind == "warmup_cosine":
        w = draw(st.integers(0, n))
        return js.warmup_cosine(a, w, n + 1, start=b, end=min(a, b))
    if kind == "wsd":
        w, stable = draw(st.integers(0, 100)), draw(st.integers(0, 100))
        return js.wsd(a, w + stable + n, w, n, end=b,
                      shape=draw(st.sampled_from(["linear", "cosine", "1-sqrt"])))
    if kind == "one_cycle":
        total = draw(st.integers(10, 5000))
        return js.one_cycle(a, total, pct_start=draw(st.floats(0.1, 0.45)),
                            shape=draw(st.sampled_from(["cosine", "linear"])),
                            three_phase=draw(st.booleans()))
    if kind == "sgdr":
        return js.sgdr(max(a, b), n, period_mult=draw(st.integers(1, 3)), end=min(a, b),
                       cycle_decay=draw(st.floats(0.1, 1.0)))
    knots = sorted(set(draw(st.lists(st.integers(0, 10_000), min_size=2, max_size=20))))
    if len(knots) < 2:
        knots = [0, 1]
    return js.interpolate([(k, draw(lrs)) for k in knots],
                          shape=draw(st.sampled_from(["linear", "cosine"])))


@st.composite
def schedules(draw, depth=2):
    if depth == 0 or draw(st.booleans()):
        return draw(curves())
    op = draw(st.sampled_from(["join", "repeat", "warmup", "clip", "per_epoch", "mul", "add"]))
    inner = draw(schedules(depth=depth - 1))
    if op == "join":
        pieces = [inner] + draw(st.lists(schedules(depth=depth - 1), min_size=1, max_size=3))
        bounds = sorted(set(draw(st.lists(st.integers(1, 3000), min_size=len(pieces) - 1,
                                          max_size=len(pieces) - 1, unique=True))))
        return js.join(pieces, bounds)
    if op == "repeat":
        return js.repeat(inner, draw(lengths), period_mult=draw(st.integers(1, 3)),
                         cycle_decay=draw(st.floats(0.1, 1.0)))
    if op == "warmup":
        return js.warmup(inner, draw(lengths), start=draw(lrs))
    if op == "clip":
        lo = draw(lrs)
        return js.clip(inner, min=lo, max=lo + draw(lrs))
    if op == "per_epoch":
        return js.per_epoch(inner, draw(st.integers(1, 500)), fractional=draw(st.booleans()))
    other = draw(st.floats(0.0, 3.0) | schedules(depth=depth - 1))
    return inner * other if op == "mul" else inner + other


@SETTINGS
@given(schedules())
def test_random_schedules_are_finite_and_nonnegative(s):
    out = np.asarray(s(STEPS))
    assert out.shape == STEPS.shape
    assert np.all(np.isfinite(out)), repr(s)
    assert np.all(out >= 0), repr(s)


@SETTINGS
@given(schedules())
def test_repr_determines_the_schedule(s):
    again = eval(repr(s), {name: getattr(js, name) for name in js.__all__})
    assert again == s and hash(again) == hash(s) and repr(again) == repr(s)
    np.testing.assert_array_equal(np.asarray(again(STEPS)), np.asarray(s(STEPS)))


@SETTINGS
@given(st.lists(st.tuples(pos_lrs, st.integers(1, 400), st.sampled_from(["lin", "cos", "poly"])),
                min_size=1, max_size=12))
def test_join_is_continuous_where_its_pieces_are(spec):
    # Chain pieces so each starts where the previous ends: the join must then be continuous.
    values = [spec[0][0]] + [v for v, _, _ in spec]
    pieces, refs, bounds, at = [], [], [], 0
    for i, (_, n, kind) in enumerate(spec):
        a, b = values[i], values[i + 1]
        make, ref = {"lin": (js.linear, r_linear), "cos": (js.cosine, r_cosine),
                     "poly": (js.polynomial, r_polynomial)}[kind]
        pieces.append(make(a, b, n))
        refs.append(ref(a, b, n))
        if i:
            bounds.append(at)
        at += n
    s = js.join(pieces, bounds)
    t = np.arange(0, at + 5)
    out = np.asarray(s(jnp.asarray(t)), np.float64)
    np.testing.assert_allclose(out, r_join(refs, bounds)(t), rtol=3e-6, atol=3e-6 * max(values))
    max_slope = max(abs(values[i + 1] - values[i]) * (np.pi / 2) / n
                    for i, (_, n, _) in enumerate(spec))
    assert np.max(np.abs(np.diff(out))) <= max_slope * (1 + 1e-4) + 1e-5 * max(values)
