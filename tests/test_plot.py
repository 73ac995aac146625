"""The terminal chart, the matplotlib plot and ``docs/make_plots.py``."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from catalogue import r_cosine, r_linear

import jaxsched as js
from jaxsched._plot import chart, envelope

_BITS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))


def _dots(lines: list[str], x0: int) -> set[tuple[int, int]]:
    """Pixel (column, row) of every braille dot in the chart rows, from column ``x0`` on."""
    out = set()
    for r, line in enumerate(lines):
        for c, ch in enumerate(line[x0:]):
            bits = ord(ch) - 0x2800
            if 0 < bits <= 0xFF:
                for dx in range(2):
                    for dy in range(4):
                        if bits & _BITS[dx][dy]:
                            out.add((2 * c + dx, 4 * r + dy))
    return out


def test_braille_chart_draws_the_reference_curve():
    n, width, height = 1000, 50, 12
    ref = r_cosine(1.0, 0.1, 1000)(np.arange(n))
    text = chart(js.cosine(1.0, 0.1, 1000), n, width=width, height=height)
    lines = text.splitlines()
    rows = lines[1:1 + height]
    x0 = rows[0].index("┤") + 1
    dots = _dots(rows, x0)
    pw, ph = 2 * width, 4 * height
    lo, hi = ref.min(), ref.max()
    for c in range(pw):
        seg = ref[(np.arange(n) * pw // n) == c]
        for v in (seg.min(), seg.max()):
            r = int(np.rint((1 - (v - lo) / (hi - lo)) * (ph - 1)))
            assert (c, r) in dots, (c, r)
    # a decreasing curve: the topmost dot of each column never rises
    tops = [min(r for cc, r in dots if cc == c) for c in range(pw)]
    assert tops == sorted(tops)
    assert rows[0].split("┤")[0].strip() == f"{hi:.3g}"
    assert rows[-1].split("┤")[0].strip() == f"{lo:.3g}"


def test_ascii_chart_of_a_ramp():
    text = chart(js.linear(0.0, 1.0, 100), 100, width=20, height=5, ascii=True)
    lines = text.splitlines()
    assert lines[0] == "linear(start=0.0, end=1.0, steps=100)"
    rows = lines[1:6]
    x0 = rows[0].index("+") + 1
    assert rows[0].split("+")[0].strip() == "0.99"  # max over steps 0..99
    assert rows[-1].split("+")[0].strip() == "0"
    heights = []
    for c in range(20):
        marked = [r for r, line in enumerate(rows) if len(line) > x0 + c and line[x0 + c] == "*"]
        assert marked, c
        heights.append(min(marked))
    assert heights == sorted(heights, reverse=True)  # rising from bottom-left to top-right
    assert heights[0] == 4 and heights[-1] == 0
    assert lines[6].strip() == "++---------+--------+"
    assert lines[7].split() == ["0", "50", "99", "(step)"]
    assert all(ord(ch) < 128 for ch in text)


def test_compare_markers_legend_and_overlap():
    a = js.linear(0.0, 1.0, 100)
    text = chart([a, a, js.constant(0.5)], 100, width=30, height=6, labels=["a", "b", "c"])
    lines = text.splitlines()
    assert lines[:4] == ["* a", "o b", "+ c", "# overlap"]
    body = "".join(lines[4:10])
    assert "#" in body and "+" in body
    assert "*" not in body.replace("*", "") and "o" not in body  # a and b coincide everywhere


def test_log_scale_labels():
    n = 100
    s = js.exponential(1.0, 0.9)
    ref = 0.9 ** np.arange(n, dtype=np.float64)
    lines = chart(s, n, width=30, height=7, log=True).splitlines()
    assert lines[0].endswith("(log scale)")
    assert float(lines[1].split("┤")[0]) == pytest.approx(ref.max(), rel=1e-2)
    assert float(lines[7].split("┤")[0]) == pytest.approx(ref.min(), rel=1e-2)
    assert float(lines[4].split("┤")[0]) == pytest.approx(np.sqrt(ref.max() * ref.min()),
                                                          rel=5e-2)


def test_chart_with_fewer_steps_than_columns_has_no_gaps():
    lines = chart(js.constant(0.1), 7, width=30, height=4, ascii=True).splitlines()
    assert lines[1].endswith("+" + "*" * 30)


def test_chart_line_widths():
    text = chart(js.sgdr(1.0, 50), 500, width=40, height=8)
    for line in text.splitlines()[1:-1]:
        assert len(line) <= 40 + 2 + len("3.84e-06")


def test_chart_errors():
    with pytest.raises(ValueError, match="chart: a log scale needs positive values"):
        chart(js.constant(0.0), 10, log=True)
    with pytest.raises(ValueError, match="chart: needs width >= 10 and height >= 3"):
        chart(js.constant(1.0), 10, width=5)
    with pytest.raises(ValueError, match="chart: needs one label per schedule"):
        chart([js.constant(1.0)], 10, labels=["a", "b"])


def test_envelope_keeps_each_bucket_extremes():
    rng = np.random.default_rng(0)
    y = rng.normal(size=10_000)
    x = np.arange(10_000)
    px, py = envelope(x, y, 100)
    assert len(px) <= 400 and np.all(np.diff(px) > 0)
    buckets = y.reshape(100, 100)
    for b in range(100):
        sel = (px >= 100 * b) & (px < 100 * (b + 1))
        assert py[sel].max() == buckets[b].max() and py[sel].min() == buckets[b].min()
        assert 100 * b in px and 100 * b + 99 in px


# ----------------------------------------------------------------- matplotlib
def test_plot_returns_figure_with_reference_values(tmp_path):
    pytest.importorskip("matplotlib")
    n = 300
    path = tmp_path / "lr.png"
    fig = js.plot(js.linear(0.0, 1e-3, 200), n, path, compare=[js.cosine(1e-3, 0.0, 300)],
                  dpi=50)
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert len(lines) == 2
    np.testing.assert_array_equal(lines[0].get_xdata(), np.arange(n))
    np.testing.assert_allclose(lines[0].get_ydata(), r_linear(0.0, 1e-3, 200)(np.arange(n)),
                               rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(lines[1].get_ydata(), r_cosine(1e-3, 0.0, 300)(np.arange(n)),
                               rtol=1e-5, atol=1e-10)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["linear(start=0.0, end=0.001, steps=200)",
                      "cosine(start=0.001, end=0.0, steps=300)"]
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (400, 200)  # figsize (8, 4) at 50 dpi


def test_plot_options():
    pytest.importorskip("matplotlib")
    fig = js.plot("warmup_cosine(1, 10, 100)", 100, log=True, labels=["lr"], title="t")
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and ax.get_title() == "t"
    assert ax.get_legend() is None
    fig = js.plot(js.cosine(1.0, 0.0, 10), 10)
    assert fig.axes[0].get_title() == "cosine(start=1.0, end=0.0, steps=10)"


def test_plot_into_axes():
    # importorskip("matplotlib") alone leaves matplotlib.figure unimported unless an earlier
    # test in the same process imported it: the test failed or passed with the test order
    figure = pytest.importorskip("matplotlib.figure")
    fig = figure.Figure()
    ax = fig.add_subplot()
    assert js.plot(js.constant(1.0), 10, ax=ax) is fig
    assert len(ax.get_lines()) == 1


def test_plot_long_run_is_decimated_but_keeps_extremes():
    pytest.importorskip("matplotlib")
    s = js.cyclic(0.1, 1.0, 5)
    fig = js.plot(s, 200_000)
    y = fig.axes[0].get_lines()[0].get_ydata()
    assert len(y) <= 4 * 4096
    assert y.max() == pytest.approx(1.0) and y.min() == pytest.approx(0.1)


def test_plot_without_matplotlib(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"plot: drawing needs matplotlib, an optional "
                                          r"dependency; install it with: pip install matplotlib"):
        js.plot(js.constant(1.0), 10)


def test_import_does_not_load_matplotlib():
    code = "import sys, jaxsched; print('matplotlib' in sys.modules)"
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.stdout.strip() == "False", out.stderr


def test_make_plots_script(tmp_path):
    pytest.importorskip("matplotlib")
    script = Path(__file__).resolve().parents[1] / "docs" / "make_plots.py"
    spec = importlib.util.spec_from_file_location("make_plots", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path = module.main(tmp_path / "schedules.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(module.SCHEDULES) == 6
