"""The ROC and distance-histogram figures draw what the metrics say."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from cnnkit.atomic import save_figure
from cnnkit.errors import CnnkitError
from cnnkit.faces.verify import choose_threshold, verification_metrics
from cnnkit.faces.verify_plots import distance_histogram_figure, roc_figure


@pytest.fixture(scope="module")
def pairs() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    d = np.concatenate([rng.uniform(0.0, 1.0, 30), rng.uniform(0.7, 2.0, 200)])
    y = np.concatenate([np.ones(30, bool), np.zeros(200, bool)])
    return d, y


def _labels(axes) -> list[str]:
    return [text.get_text() for text in axes.get_legend().get_texts()]


def test_roc_figure_marks_auc_eer_and_tau(pairs, tmp_path: Path) -> None:
    d, y = pairs
    tau = choose_threshold(d, y)
    m = verification_metrics(d, y, tau=tau, fars=(1e-2,))
    figure = roc_figure(m)
    axes = figure.axes[0]
    assert axes.get_xscale() == "log"
    labels = _labels(axes)
    assert f"ROC (AUC {m['auc']:.3f})" in labels
    assert any(label.startswith(f"EER {m['eer']:.3f}") for label in labels)
    assert any(label.startswith(f"tau {tau:.3g}") for label in labels)
    assert any(label.startswith(f"TAR {m['tar_at_far'][0]['tar']:.3f} at FAR 0.01") for label in labels)
    points = {line.get_label(): line.get_xydata() for line in axes.get_lines()}
    eer_point = next(xy for label, xy in points.items() if label.startswith("EER"))
    np.testing.assert_allclose(eer_point[0], [m["eer"], 1 - m["eer"]])
    star = next(xy for label, xy in points.items() if label.startswith("tau"))
    np.testing.assert_allclose(star[0], [max(m["far_at_tau"], 0.5 / 200), m["tar_at_tau"]])
    # FAR = 0 sits at the floor 1/(2 * different pairs), inside the axis.
    curve = points[f"ROC (AUC {m['auc']:.3f})"]
    assert curve[0, 0] == pytest.approx(0.5 / 200) and axes.get_xlim()[0] < curve[0, 0]
    png = save_figure(tmp_path / "roc.png", figure, dpi=60)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_roc_figure_without_tau_or_measurable_far(pairs) -> None:
    d, y = pairs
    m = verification_metrics(d, y, fars=(1e-3,))  # 200 different pairs: FAR 1e-3 not measurable
    labels = _labels(roc_figure(m).axes[0])
    assert not any(label.startswith(("tau", "TAR")) for label in labels)


def test_roc_figure_rejects_other_dicts() -> None:
    with pytest.raises(CnnkitError, match="verification_metrics"):
        roc_figure({"auc": 0.9})


def test_histograms_share_bins_and_sum_to_one(pairs, tmp_path: Path) -> None:
    d, y = pairs
    figure = distance_histogram_figure(torch.tensor(d), torch.tensor(y), 0.8, bins=12)
    axes = figure.axes[0]
    filled = [p for p in axes.patches if p.get_fill()]
    assert len(filled) == 24  # 12 bars for each kind, on the same edges
    same_bars, diff_bars = filled[:12], filled[12:]
    edges = np.histogram_bin_edges(d, bins=12)
    assert [b.get_x() for b in same_bars] == pytest.approx(list(edges[:-1]))
    assert [b.get_x() for b in diff_bars] == pytest.approx(list(edges[:-1]))
    expected_same, _ = np.histogram(d[y], bins=edges)
    assert [b.get_height() for b in same_bars] == pytest.approx(list(expected_same / y.sum()))
    assert sum(b.get_height() for b in diff_bars) == pytest.approx(1.0)
    tau_line = next(line for line in axes.get_lines() if line.get_label().startswith("tau 0.8"))
    assert tau_line.get_xdata()[0] == pytest.approx(0.8)
    accepted_same = (d[y] <= 0.8).mean()
    assert f"accepts {accepted_same:.1%} of same" in tau_line.get_label()
    save_figure(tmp_path / "hist.png", figure, dpi=60)


def test_histogram_without_tau_has_no_line(pairs) -> None:
    d, y = pairs
    assert not distance_histogram_figure(d, y).axes[0].get_lines()
