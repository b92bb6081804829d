"""detection_map against torchmetrics and against COCO's 101-point AP written out here.

(Named test_detection_map.py, not test_evaluate.py: tests/train/test_evaluate.py already
has that module name and the tests folders are not packages.)
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from torchmetrics.detection import MeanAveragePrecision

from cnnkit.detect.evaluate import detection_map, pr_curve_figure
from cnnkit.detect.sample import Targets
from cnnkit.errors import CnnkitError, DataError, ShapeError

CLASSES = ("shirt", "shoe", "bag")


def box(x: float, y: float, w: float = 10.0, h: float = 10.0) -> list[float]:
    return [x, y, x + w, y + h]


def target(boxes: list[list[float]], labels: list[int]) -> Targets:
    return Targets(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), torch.tensor(labels, dtype=torch.long))


def pred(boxes: list[list[float]], scores: list[float], labels: list[int]) -> dict[str, torch.Tensor]:
    return {
        "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        "scores": torch.tensor(scores, dtype=torch.float32),
        "labels": torch.tensor(labels, dtype=torch.long),
    }


def coco_ap(hits: list[bool], n_gt: int) -> float:
    """COCO AP from detections ranked by score (True = true positive): precision made
    non-increasing from the right, then read at recall 0, 0.01, ..., 1 (0 past the end)."""
    tp = np.cumsum(hits)
    fp = np.cumsum([not h for h in hits])
    recall = tp / n_gt
    precision = tp / np.maximum(tp + fp, 1)
    envelope = np.maximum.accumulate(precision[::-1])[::-1] if len(hits) else precision
    total = 0.0
    for r in np.linspace(0, 1, 101):
        i = np.searchsorted(recall, r, side="left")
        total += envelope[i] if i < len(recall) else 0.0
    return total / 101


def torchmetrics_reference(preds, targets, **kwargs) -> dict:
    metric = MeanAveragePrecision(backend="faster_coco_eval", iou_type="bbox", **kwargs)
    metric.update(preds, [{"boxes": t.boxes, "labels": t.labels} for t in targets])
    return metric.compute()


def test_perfect_predictions_score_one() -> None:
    targets = [target([box(5, 5), box(40, 30, 20, 12)], [0, 1]), target([box(60, 60, 15, 30)], [2])]
    preds = [pred([box(5, 5), box(40, 30, 20, 12)], [0.9, 0.8], [0, 1]), pred([box(60, 60, 15, 30)], [0.7], [2])]
    result = detection_map(preds, targets, CLASSES)
    assert result["map_50"] == 1.0 and result["map"] == 1.0
    assert all(c["ap_50"] == 1.0 and c["ap"] == 1.0 for c in result["per_class"].values())
    assert result["mean_iou"] == 1.0 and result["matched"] == 3
    assert (result["images"], result["targets"], result["predictions"]) == (2, 3, 3)


def test_one_of_two_found_gives_coco_101_point_ap() -> None:
    targets = [target([box(0, 0), box(50, 50)], [0, 0])]
    preds = [pred([box(0, 0)], [0.9], [0])]
    result = detection_map(preds, targets, CLASSES)
    expected = coco_ap([True], 2)
    assert expected == pytest.approx(51 / 101)  # recall 0.5: levels 0..0.50 have precision 1
    assert result["map_50"] == pytest.approx(expected)
    assert result["per_class"]["shirt"]["ap_50"] == pytest.approx(expected)
    assert result["mar_100"] == pytest.approx(0.5)
    assert result["per_class"]["shoe"]["ap_50"] is None  # no ground truth: no AP


def test_ranked_hits_and_misses_against_the_written_out_ap() -> None:
    # Three objects in two images; five detections, ranked: hit, miss, hit, miss, hit.
    targets = [target([box(0, 0), box(30, 0)], [0, 0]), target([box(0, 40)], [0])]
    preds = [
        pred([box(0, 0), box(70, 70), box(30, 1)], [0.9, 0.8, 0.7], [0, 0, 0]),
        pred([box(60, 10), box(0, 41)], [0.6, 0.5], [0, 0]),
    ]
    result = detection_map(preds, targets, CLASSES)
    expected = coco_ap([True, False, True, False, True], 3)
    assert result["map_50"] == pytest.approx(expected, abs=1e-6)
    assert result["map_50"] == pytest.approx(float(torchmetrics_reference(preds, targets)["map_50"]), abs=1e-6)


def test_map_over_iou_thresholds_counts_thresholds_met() -> None:
    # One detection with IoU 0.82: a hit at 0.50, 0.55, ..., 0.80 (7 of 10 thresholds).
    gt = box(0, 0, 100, 10)
    found = box(0, 0, 82, 10)
    result = detection_map([pred([found], [0.9], [1])], [target([gt], [1])], CLASSES)
    assert result["mean_iou"] == pytest.approx(0.82)
    assert result["map_50"] == pytest.approx(1.0)
    assert result["map"] == pytest.approx(0.7)


def test_per_class_ap_matches_torchmetrics_class_metrics() -> None:
    g = torch.Generator().manual_seed(0)
    targets, preds = [], []
    for _ in range(4):
        xy = torch.rand(5, 2, generator=g) * 80
        gt = torch.cat([xy, xy + 12], dim=1)
        labels = torch.randint(0, 3, (5,), generator=g)
        jitter = gt + torch.randn(5, 4, generator=g) * 2.5
        extra = torch.cat([torch.rand(2, 2, generator=g) * 80] * 2, dim=1) + torch.tensor([0.0, 0, 9, 9])
        targets.append(Targets(gt, labels))
        preds.append({
            "boxes": torch.cat([jitter, extra]),
            "scores": torch.rand(7, generator=g),
            "labels": torch.cat([labels, torch.randint(0, 3, (2,), generator=g)]),
        })
    result = detection_map(preds, targets, CLASSES)
    at_50 = torchmetrics_reference(preds, targets, iou_thresholds=[0.5], class_metrics=True)
    coco = torchmetrics_reference(preds, targets, class_metrics=True)
    for k, c in enumerate(at_50["classes"].tolist()):
        name = CLASSES[c]
        assert result["per_class"][name]["ap_50"] == pytest.approx(float(at_50["map_per_class"][k]), abs=1e-6)
        assert result["per_class"][name]["ap"] == pytest.approx(float(coco["map_per_class"][k]), abs=1e-6)
    assert result["map"] == pytest.approx(float(coco["map"]), abs=1e-6)
    assert result["map_50"] == pytest.approx(float(coco["map_50"]), abs=1e-6)
    # Matches at IoU 0.5 are COCO's: their count is COCO's recall at 0.5 times the objects.
    counts = torch.bincount(torch.cat([t.labels for t in targets]), minlength=3)
    recall = at_50["mar_100_per_class"].tolist()
    expected = sum(round(r * int(counts[c])) for r, c in zip(recall, at_50["classes"].tolist()))
    assert result["matched"] == expected > 0


def test_mean_iou_uses_greedy_matching_by_score() -> None:
    gt = target([box(0, 0)], [0])
    # Two detections of one object: the higher score takes it, the other is a miss.
    preds = [pred([box(0, 0, 10, 8), box(0, 0, 10, 9)], [0.9, 0.6], [0, 0])]
    result = detection_map(preds, [gt], CLASSES)
    assert result["matched"] == 1 and result["mean_iou"] == pytest.approx(0.8)
    # A detection of the wrong class matches nothing.
    result = detection_map([pred([box(0, 0)], [0.9], [1])], [gt], CLASSES)
    assert result["matched"] == 0 and result["mean_iou"] is None and result["map_50"] == 0.0


def test_images_without_predictions_or_targets() -> None:
    empty_t, empty_p = target([], []), pred([], [], [])
    result = detection_map([empty_p, pred([box(0, 0)], [0.9], [0]), empty_p],
                           [empty_t, target([box(0, 0)], [0]), target([box(20, 20)], [0])], CLASSES)
    assert result["map_50"] == pytest.approx(coco_ap([True], 2))
    nothing = detection_map([empty_p, empty_p], [empty_t, empty_t], CLASSES)
    assert nothing["map_50"] is None and nothing["map"] is None and nothing["mean_iou"] is None
    assert nothing["pr_curve"]["precision"] == {}
    # Predictions but no ground truth anywhere: COCO has nothing to average.
    only_preds = detection_map([pred([box(0, 0)], [0.9], [0])], [empty_t], CLASSES)
    assert only_preds["map_50"] is None and only_preds["predictions"] == 1


def test_pr_curve_and_figure(tmp_path) -> None:
    targets = [target([box(0, 0), box(50, 50), box(20, 70)], [0, 0, 1])]
    preds = [pred([box(0, 0), box(80, 0), box(50, 50), box(20, 70)], [0.9, 0.8, 0.7, 0.6], [0, 0, 0, 1])]
    result = detection_map(preds, targets, CLASSES)
    curve = result["pr_curve"]
    assert len(curve["recall"]) == 101 and set(curve["precision"]) == {"shirt", "shoe"}
    shirt = np.array(curve["precision"]["shirt"])
    assert np.all(np.diff(shirt) <= 1e-12)  # interpolated precision never rises with recall
    assert shirt.mean() == pytest.approx(result["per_class"]["shirt"]["ap_50"])
    assert shirt[0] == 1.0 and shirt[-1] == pytest.approx(2 / 3)
    figure = pr_curve_figure(result)
    assert isinstance(figure, Figure) and len(figure.axes[0].get_legend().get_texts()) == 2
    figure.savefig(tmp_path / "pr.png")
    assert (tmp_path / "pr.png").stat().st_size > 1000


def test_bad_inputs_say_what_to_do() -> None:
    gt = [target([box(0, 0)], [0])]
    with pytest.raises(CnnkitError, match="2 prediction entries but 1 images"):
        detection_map([pred([], [], [])] * 2, gt, CLASSES)
    with pytest.raises(CnnkitError, match="label 5 but only 3 classes"):
        detection_map([pred([box(0, 0)], [0.9], [5])], gt, CLASSES)
    with pytest.raises(CnnkitError, match="has no 'scores'"):
        detection_map([{"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}], gt, CLASSES)
    with pytest.raises(ShapeError, match=r"scores must have shape \(1,\)"):
        detection_map([pred([box(0, 0)], [0.9, 0.8], [0])], gt, CLASSES)
    with pytest.raises(DataError, match="x2 < x1"):
        detection_map([pred([[10.0, 0, 0, 10]], [0.9], [0])], gt, CLASSES)
    with pytest.raises(CnnkitError, match="non-empty list of class names"):
        detection_map([pred([box(0, 0)], [0.9], [0])], gt, ())
    with pytest.raises(CnnkitError, match="no images"):
        detection_map([], [], CLASSES)
    with pytest.raises(CnnkitError, match="detection_map returns"):
        pr_curve_figure({})
