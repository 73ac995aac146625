"""js.lr_finder: the LR range test, against problems whose answer is known.

The main reference is least squares with a Hessian of known spectrum: plain
gradient descent multiplies the error along eigenvector ``j`` by
``1 - lr * lambda_j`` at every step, so the loss of every step has a closed
form (computed here in float64 NumPy) and the sweep diverges only once the LR
passes ``2 / lambda_max``. The smoothing, divergence rule and suggestion are
re-implemented in float64 from the docstring.
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxsched as js

SGD = optax.sgd  # plain gradient descent: the factory takes the LR as its first argument
BATCH_IS_LOSS = lambda w, b: b + 0.0 * w  # the loss is the batch: a chosen sequence of losses


# ----------------------------------------------------------------- references
def ema(losses, smooth=0.05):
    """The bias-corrected moving average of the docstring, in float64."""
    beta, avg, out = 1.0 - smooth, 0.0, []
    for i, loss in enumerate(losses):
        avg = beta * avg + smooth * loss
        out.append(avg / (1.0 - beta ** (i + 1)))
    return np.asarray(out)


def first_divergence(smoothed, diverge=4.0):
    best = np.inf
    for i, s in enumerate(smoothed):
        best = min(best, s)
        if not np.isfinite(s) or s - best > (diverge - 1.0) * abs(best):
            return i
    return None


def steepest(lrs, smoothed, valid, n):
    """The suggestion rule of the docstring: min slope over [n // 10, valid - n // 20)."""
    x, s = np.log(lrs[:valid]), smoothed[:valid]
    best_i, best_slope = None, 0.0
    for i in range(n // 10, valid - n // 20):
        if i == 0:
            slope = (s[1] - s[0]) / (x[1] - x[0])
        elif i == valid - 1:
            slope = (s[i] - s[i - 1]) / (x[i] - x[i - 1])
        else:  # np.gradient's second-order formula on an uneven grid
            h0, h1 = x[i] - x[i - 1], x[i + 1] - x[i]
            slope = (h0 ** 2 * s[i + 1] - h1 ** 2 * s[i - 1] + (h1 ** 2 - h0 ** 2) * s[i]) / (
                h0 * h1 * (h0 + h1))
        if slope < best_slope:
            best_i, best_slope = i, slope
    return None if best_i is None else lrs[best_i]


class LeastSquares:
    """``L(w) = 0.5 * mean((X w - y)^2)`` with ``H = X^T X / n = V diag(lam) V^T``.

    The noise in ``y`` is orthogonal to the columns of ``X``, so the loss is
    ``floor + 0.5 * sum_j lam_j * e_j^2`` with ``e = V^T (w - w*)`` exactly.
    """

    def __init__(self, n=64, d=8, lam_min=0.1, lam_max=1.0, seed=0):
        rng = np.random.default_rng(seed)
        self.lam = np.geomspace(lam_max, lam_min, d)
        q, _ = np.linalg.qr(rng.normal(size=(n, n)))
        self.v, _ = np.linalg.qr(rng.normal(size=(d, d)))
        self.x = np.sqrt(n) * (q[:, :d] * np.sqrt(self.lam)) @ self.v.T
        self.w_star = rng.normal(size=d)
        noise = 0.5 * q[:, d:] @ rng.normal(size=n - d)
        self.y = self.x @ self.w_star + noise
        self.floor = 0.5 * noise @ noise / n
        self.w0 = np.zeros(d)

    @staticmethod
    def loss(w, batch):
        x, y = batch
        return 0.5 * jnp.mean((x @ w - y) ** 2)

    def batch(self):
        return jnp.asarray(self.x, jnp.float32), jnp.asarray(self.y, jnp.float32)

    def gd_losses(self, lrs):
        """The loss before each step of gradient descent with these LRs, in closed form."""
        e = self.v.T @ (self.w0 - self.w_star)
        out = []
        for lr in lrs:
            out.append(self.floor + 0.5 * np.sum(self.lam * e ** 2))
            e = e * (1.0 - lr * self.lam)
        return np.asarray(out)


@pytest.fixture(scope="module")
def problem():
    p = LeastSquares()
    np.testing.assert_allclose(np.linalg.eigvalsh(p.x.T @ p.x / 64), np.sort(p.lam), rtol=1e-10)
    return p


def run(problem, **kwargs):
    kwargs = {"optimizer": SGD, "single_batch": True, **kwargs}
    return js.lr_finder(problem.loss, jnp.asarray(problem.w0, jnp.float32), problem.batch(),
                        **kwargs)


# ----------------------------------------------------------------- the sweep
@pytest.mark.parametrize("mode", ["exp", "linear"])
def test_learning_rates_of_the_sweep(problem, mode):
    r = run(problem, start_lr=1e-4, end_lr=0.5, num_steps=30, mode=mode)
    want = np.geomspace(1e-4, 0.5, 30) if mode == "exp" else np.linspace(1e-4, 0.5, 30)
    np.testing.assert_allclose(r.lrs, want, rtol=1e-12)
    assert r.lrs.dtype == np.float64 and r.mode == mode


def test_least_squares_matches_the_closed_form(problem):
    """A coarse sweep (LR x1.34 per step): float32 stays close to exact arithmetic, so
    every loss, the smoothed curve, the divergence step and both suggestions are the
    closed form's."""
    lam_max = problem.lam.max()
    r = run(problem, start_lr=1.2e-3, end_lr=100.0, num_steps=40)
    want = problem.gd_losses(r.lrs)
    smoothed = ema(want)
    k = first_divergence(smoothed)
    assert r.diverged_at == k == 34
    np.testing.assert_allclose(r.losses[:k + 1], want[:k + 1], rtol=2e-3)
    np.testing.assert_allclose(r.smoothed[:k + 1], smoothed[:k + 1], rtol=2e-3)
    assert np.isnan(r.losses[k + 1:]).all() and np.isnan(r.smoothed[k + 1:]).all()
    assert r.num_valid == k
    # No divergence while every LR used was stable: the loss before step k reflects the
    # updates of steps 0 .. k-1, so the last of them must have been above 2 / lambda_max.
    assert r.lrs[k - 1] > 2.0 / lam_max
    # the suggestion lies in the stable range, and is the closed form's steepest descent
    assert 1.2e-3 < r.suggestion < 2.0 / lam_max
    assert r.suggestion == pytest.approx(steepest(r.lrs, smoothed, k, 40), rel=1e-12)
    assert r.min_loss_lr == pytest.approx(r.lrs[np.argmin(smoothed[:k])], rel=1e-12)


def test_least_squares_divergence_bracket(problem):
    """A fine sweep (LR x1.04 per step). Below 2 / lambda_max every mode shrinks, so the
    loss (hence the smoothed loss) never rises: no divergence can be reported before an
    update used an LR above 2 / lambda_max. Above it, the top mode grows by
    (lr * lambda_max - 1) ** 2 per step in loss; the first step at which exact
    arithmetic (the float64 closed form) crosses the threshold bounds the report from
    above, because by then GD had shrunk the top mode far below one float32 ulp of the
    weights (by prod |1 - lr_i lambda_max| ~ exp(-pi^2 / 4 / log(1.04)) ~ 1e-28) and
    rounding can only re-seed it, larger, which makes the blow-up come sooner."""
    lam_max = problem.lam.max()
    r = run(problem, start_lr=1e-3, end_lr=100.0, num_steps=300)
    crossing = int(np.argmax(r.lrs > 2.0 / lam_max))
    exact = first_divergence(ema(problem.gd_losses(r.lrs)))
    assert crossing < r.diverged_at <= exact
    assert r.lrs[r.diverged_at - 1] > 2.0 / lam_max
    # how late, in LR: the growth factor must first overcome the shrinkage
    assert r.lrs[r.diverged_at] / (2.0 / lam_max) < r.lrs[exact] / (2.0 / lam_max) < 8
    assert 1e-3 < r.suggestion < 2.0 / lam_max
    assert np.isfinite(r.losses[:r.num_valid]).all()


def test_stacked_batches_are_used_one_per_step_and_smoothed():
    """The loss is the batch itself (zero gradient): losses == batches, smoothed == EMA."""
    n = 25
    values = np.linspace(1.0, 1.5, n)
    loss = lambda w, b: b["v"] + 0.0 * jnp.sum(w)
    r = js.lr_finder(loss, jnp.zeros(3), {"v": jnp.asarray(values, jnp.float32)}, optimizer=SGD,
                     num_steps=n, smooth=0.2)
    np.testing.assert_allclose(r.losses, values, rtol=1e-6)
    np.testing.assert_allclose(r.smoothed, ema(values, 0.2), rtol=1e-6)
    assert r.diverged_at is None and r.num_valid == n
    assert r.suggestion is None  # the loss only rises
    assert r.min_loss_lr == pytest.approx(r.lrs[0])
    assert "suggestion: none" in str(r) and "no divergence" in str(r)


def test_smooth_one_is_no_smoothing():
    values = np.asarray([3.0, 2.0, 2.5, 1.0, 1.5, 0.5, 0.7, 0.2, 0.3, 0.25, 0.2, 0.1])
    r = js.lr_finder(BATCH_IS_LOSS, jnp.zeros(()), jnp.asarray(values, jnp.float32), optimizer=SGD,
                     num_steps=len(values), smooth=1.0)
    np.testing.assert_allclose(r.smoothed, values, rtol=1e-6)
    assert r.diverged_at is None


@pytest.mark.parametrize("values, diverge, want", [
    ([1.0] * 5 + [3.9] * 10, 4.0, None),  # never more than 4x the best
    ([1.0] * 5 + [4.2] * 10, 4.0, 8),  # the smoothed loss passes 4.0 after a few steps
    ([1.0] * 5 + [20.0] * 10, 4.0, 5),  # smoothed 10.65 > 4
    ([1.0] * 5 + [6.0] * 10, 4.0, 6),  # smoothed 3.54, then 4.78
    ([1.0] * 5 + [20.0] * 10, 20.0, None),  # the smoothed loss stays below 20
    ([-2.0] * 5 + [0.5] * 10, 2.0, 7),  # negative best: s - best > (d - 1) * |best|: s > 0
    ([-2.0] * 5 + [-0.5] * 10, 2.0, None),
    ([1.0] * 4 + [np.nan] + [1.0] * 10, 4.0, 4),  # NaN diverges at once
    ([1.0] * 4 + [np.inf] + [1.0] * 10, 4.0, 4),
])
def test_divergence_rule(values, diverge, want):
    values = np.asarray(values)
    r = js.lr_finder(BATCH_IS_LOSS, jnp.zeros(()), jnp.asarray(values, jnp.float32), optimizer=SGD,
                     num_steps=len(values), smooth=0.5, diverge=diverge)
    assert r.diverged_at == want
    if np.isfinite(values).all():
        assert first_divergence(ema(values, 0.5), diverge) == want
    if want is not None:
        assert np.isnan(r.losses[want + 1:]).all()
        np.testing.assert_allclose(r.losses[:want], values[:want])


def test_no_gradient_is_computed_after_divergence():
    calls = []
    data = jnp.asarray([1.0, 4.0])

    def loss(w, h):
        jax.debug.callback(lambda: calls.append(1))
        return 1.0 + 0.5 * jnp.sum(h * w ** 2)

    r = js.lr_finder(loss, jnp.ones(2), data, single_batch=True, optimizer=SGD,
                     start_lr=1e-2, end_lr=100.0, num_steps=40)
    jax.effects_barrier()
    assert r.diverged_at is not None and r.diverged_at < 39
    assert len(calls) == r.diverged_at + 1


# ----------------------------------------------------------------- one program, pure
def test_one_trace_per_loss_and_optimizer():
    """The sweep is one scan: loss_fn is traced once, not once per step, and a second
    sweep with other LRs reuses the compiled program."""
    traces = {"loss": 0, "opt": 0}

    def loss(w, b):
        traces["loss"] += 1
        return jnp.mean((b[0] @ w - b[1]) ** 2)

    def optimizer(lr):
        traces["opt"] += 1
        return optax.sgd(lr, momentum=0.9)

    rng = np.random.default_rng(1)
    batches = (rng.normal(size=(50, 8, 3)).astype(np.float32),
               rng.normal(size=(50, 8)).astype(np.float32))
    js.lr_finder(loss, jnp.zeros(3), batches, optimizer=optimizer, num_steps=50)
    assert traces["loss"] == 1
    opt_calls = traces["opt"]
    js.lr_finder(loss, jnp.zeros(3), batches, optimizer=optimizer, num_steps=50,
                 start_lr=1e-5, end_lr=1.0, smooth=0.1, diverge=3.0)
    assert traces == {"loss": 1, "opt": opt_calls}


def test_unhashable_callables_work():
    class Loss:  # defines __eq__ without __hash__: unhashable, cannot be a static jit argument
        def __eq__(self, other):
            return isinstance(other, Loss)

        __hash__ = None

        def __call__(self, w, b):
            return 1.0 + 0.5 * jnp.sum(b * w ** 2)

    r = js.lr_finder(Loss(), jnp.ones(2), jnp.asarray([1.0, 4.0]), single_batch=True,
                     optimizer=SGD, start_lr=1e-3, end_lr=10.0, num_steps=20)
    np.testing.assert_allclose(r.losses[0], 3.5)
    assert r.diverged_at is not None


def test_params_and_batches_are_left_untouched():
    params = {"w": jnp.ones((4, 2)), "b": jnp.zeros(2)}
    before = jax.tree.map(np.array, params)
    batches = (jnp.ones((20, 5, 4)), jnp.ones((20, 5, 2)))
    loss = lambda p, b: jnp.mean((b[0] @ p["w"] + p["b"] - b[1]) ** 2)
    r = js.lr_finder(loss, params, batches, optimizer=optax.adam, num_steps=20,
                     start_lr=1e-3, end_lr=1.0)
    assert np.isfinite(r.losses[0])
    for leaf, old in zip(jax.tree.leaves(params), jax.tree.leaves(before), strict=True):
        assert not leaf.is_deleted()  # nothing was donated
        np.testing.assert_array_equal(np.asarray(leaf), old)
    assert not batches[0].is_deleted()
    # the result holds measurements only, as host arrays: no trained parameters
    for value in vars(r).values():
        assert not isinstance(value, jax.Array)
    with pytest.raises(ValueError, match="read-only"):
        r.losses[0] = 0.0


# ----------------------------------------------------------------- a network
@pytest.fixture(scope="module")
def digits():
    sklearn = pytest.importorskip("sklearn.datasets")
    x, y = sklearn.load_digits(return_X_y=True)
    return (x / 16.0).astype(np.float32), y.astype(np.int32)


def test_small_network_on_digits(digits):
    x, y = digits
    steps, batch = 50, 32
    idx = np.random.default_rng(0).permutation(len(x))[:steps * batch].reshape(steps, batch)
    k1, k2 = jax.random.split(jax.random.key(0))
    params = {"w1": jax.random.normal(k1, (64, 32)) / 8.0, "b1": jnp.zeros(32),
              "w2": jax.random.normal(k2, (32, 10)) / np.sqrt(32), "b2": jnp.zeros(10)}

    def loss(p, b):
        h = jax.nn.relu(b["x"] @ p["w1"] + p["b1"])
        logits = h @ p["w2"] + p["b2"]
        return optax.softmax_cross_entropy_with_integer_labels(logits, b["y"]).mean()

    r = js.lr_finder(loss, params, {"x": x[idx], "y": y[idx]},
                     optimizer=lambda lr: optax.sgd(lr, momentum=0.9),
                     start_lr=1e-2, end_lr=100.0, num_steps=steps)
    assert r.diverged_at is not None  # momentum SGD at lr 100 cannot train this net
    valid = r.num_valid
    assert np.isfinite(r.losses[:valid]).all() and np.isfinite(r.smoothed[:valid]).all()
    assert abs(r.losses[0] - np.log(10)) < 0.5  # an untrained 10-way classifier
    assert np.nanmin(r.smoothed) < 0.85 * r.smoothed[0]  # it learned during the sweep
    assert 1e-2 <= r.suggestion <= 100.0 and 1e-2 <= r.min_loss_lr <= 100.0
    assert r.suggestion < r.lrs[r.diverged_at]
    text = str(r)
    assert text.startswith(f"LR range test: {steps} steps, lr 0.01 -> 100 (exp)")
    assert f"diverged at step {r.diverged_at}" in text and f"{r.suggestion:.3g}" in text


# ----------------------------------------------------------------- result
def test_plot_writes_a_png(problem, tmp_path):
    pytest.importorskip("matplotlib")
    r = run(problem, start_lr=1.2e-3, end_lr=100.0, num_steps=40)
    path = tmp_path / "finder.png"
    fig = r.plot(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "learning rate"
    assert any("suggestion" in t.get_text() for t in ax.get_legend().get_texts())
    assert r.plot(log=False).axes[0].get_xscale() == "linear"


def test_plot_without_matplotlib(problem, monkeypatch):
    r = run(problem, start_lr=1e-3, end_lr=1.0, num_steps=10)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"FinderResult.plot: drawing needs matplotlib.*pip install matplotlib"):
        r.plot()


def test_repr_and_summary(problem):
    r = run(problem, start_lr=1.2e-3, end_lr=100.0, num_steps=40)
    assert repr(r) == (f"FinderResult(num_steps=40, mode='exp', suggestion={r.suggestion:.4g}, "
                       f"min_loss_lr={r.min_loss_lr:.4g}, diverged_at=34)")
    lines = str(r).splitlines()
    assert lines[0] == "LR range test: 40 steps, lr 0.0012 -> 100 (exp)"
    assert lines[1].startswith(f"  diverged at step 34 (lr {r.lrs[34]:.3g})")
    assert f"at lr {r.min_loss_lr:.3g} (a tenth: {r.min_loss_lr / 10:.3g})" in lines[2]
    assert lines[3] == f"  steepest descent at lr {r.suggestion:.3g}  <- suggestion"


def test_divergence_at_step_zero():
    loss = lambda w, b: jnp.sum(w) * jnp.nan
    r = js.lr_finder(loss, jnp.ones(2), jnp.zeros(()), single_batch=True, optimizer=SGD,
                     num_steps=10)
    assert r.diverged_at == 0 and r.num_valid == 0
    assert r.suggestion is None and r.min_loss_lr is None
    assert "diverged at step 0" in str(r)


# ----------------------------------------------------------------- errors
LOSS = lambda w, b: jnp.sum(w * b)
W = jnp.ones(2)
ONE = jnp.ones(2)


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"start_lr": 0.0}, ValueError, r"lr_finder: `start_lr` must be > 0, got 0\.0\."),
    ({"start_lr": -1.0}, ValueError, r"lr_finder: `start_lr` must be > 0, got -1\.0\."),
    ({"end_lr": float("inf")}, ValueError, r"lr_finder: `end_lr` must be finite, got inf\."),
    ({"start_lr": 1.0, "end_lr": 0.5}, ValueError,
     r"lr_finder: needs end_lr > start_lr \(the sweep goes up\), got start_lr=1\.0, end_lr=0\.5\."),
    ({"start_lr": 1.0, "end_lr": 1.0}, ValueError, r"lr_finder: needs end_lr > start_lr"),
    ({"num_steps": 9}, ValueError, r"lr_finder: `num_steps` must be an int >= 10, got 9\."),
    ({"num_steps": 50.0}, TypeError, r"lr_finder: `num_steps` must be an int >= 10, got the float"),
    ({"mode": "log"}, ValueError, r"lr_finder: `mode` must be one of 'exp', 'linear', got 'log'\."),
    ({"smooth": 0.0}, ValueError, r"lr_finder: `smooth` must be in \(0, 1\], got 0\.0\."),
    ({"smooth": 1.5}, ValueError, r"lr_finder: `smooth` must be in \(0, 1\], got 1\.5\."),
    ({"diverge": 1.0}, ValueError, r"lr_finder: `diverge` must be > 1, got 1\.0\."),
    ({"single_batch": 1}, TypeError, r"lr_finder: `single_batch` must be a bool, got 1\."),
    ({"optimizer": optax.sgd(0.1)}, TypeError,
     r"lr_finder: `optimizer` must be a factory lr -> GradientTransformation \(the finder sets "
     r"the LR\), got a GradientTransformation; pass e\.g\. `lambda lr: optax\.sgd\(lr, momentum=0\.9\)`"),
    ({"optimizer": "adam"}, TypeError,
     r"lr_finder: `optimizer` must be a factory lr -> GradientTransformation, .*got str\."),
])
def test_argument_errors(kwargs, exc, match):
    kwargs = {"optimizer": SGD, "single_batch": True, "num_steps": 10, **kwargs}
    with pytest.raises(exc, match=match):
        js.lr_finder(LOSS, W, ONE, **kwargs)


@pytest.mark.parametrize("batches, match", [
    (jnp.ones((64, 2)), r"lr_finder: every leaf of `batches` needs a leading axis of length "
     r"num_steps=10 \(one batch per step\), got shape \(64, 2\) at batches; to use one batch "
     r"at every step, pass single_batch=True\."),
    ({"x": jnp.ones((10, 2)), "y": jnp.ones(())}, r"got shape \(\) at batches\['y'\]"),
    ((jnp.ones((10, 2)), jnp.ones((9, 2))), r"got shape \(9, 2\) at batches\[1\]"),
    ({}, r"lr_finder: `batches` holds no arrays"),
])
def test_batch_shape_errors(batches, match):
    with pytest.raises(ValueError, match=match):
        js.lr_finder(LOSS, W, batches, optimizer=SGD, num_steps=10)


def test_loss_must_be_a_scalar():
    with pytest.raises(TypeError, match=r"lr_finder: `loss_fn` must return a real scalar, got "
                                         r"an array of shape \(2,\)"):
        js.lr_finder(lambda w, b: w * b, W, ONE, optimizer=SGD, num_steps=10, single_batch=True)
    with pytest.raises(TypeError, match=r"lr_finder: `loss_fn` must be a function"):
        js.lr_finder(None, W, ONE, optimizer=SGD, num_steps=10, single_batch=True)
