"""Anchor k-means: planted shape clusters are recovered; avg IoU against the formula."""

from __future__ import annotations

import pytest
import torch

from cnnkit.detect.anchors import (
    AnchorFit,
    avg_iou,
    box_shapes,
    kmeans_anchors,
    shape_iou,
)
from cnnkit.detect.sample import DetectionSet, Targets
from cnnkit.errors import CnnkitError, DataError, ShapeError

# Three well-separated shapes (w, h), smallest area first: tall, wide, big square.
PLANTED = torch.tensor([[8.0, 32.0], [40.0, 12.0], [60.0, 60.0]])


def planted_boxes(per_cluster: int = 40, *, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Boxes (3 * per_cluster, 4) xyxy at random places, shapes within +-8% of PLANTED."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(3).repeat_interleave(per_cluster)
    wh = PLANTED[labels] * (1 + (torch.rand(len(labels), 2, generator=g) - 0.5) * 0.16)
    xy = torch.rand(len(labels), 2, generator=g) * 100
    perm = torch.randperm(len(labels), generator=g)
    return torch.cat([xy, xy + wh], dim=1)[perm], labels[perm]


def centred_iou_formula(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """min(w) * min(h) / (area_a + area_b - that), written out."""
    inter = torch.minimum(a[:, None, 0], b[None, :, 0]) * torch.minimum(a[:, None, 1], b[None, :, 1])
    union = (a[:, 0] * a[:, 1])[:, None] + (b[:, 0] * b[:, 1])[None, :] - inter
    return inter / union


def test_recovers_planted_clusters() -> None:
    boxes, labels = planted_boxes()
    fit = kmeans_anchors(boxes, 3, seed=1)
    assert isinstance(fit, AnchorFit)
    assert fit.anchors.shape == (3, 2)
    areas = fit.anchors.prod(dim=1)
    assert torch.all(areas[1:] >= areas[:-1])  # sorted by area
    # Each anchor is the mean shape of one planted cluster, and the assignment is the planting.
    wh = boxes[:, 2:] - boxes[:, :2]
    means = torch.stack([wh[labels == c].mean(dim=0) for c in range(3)])
    torch.testing.assert_close(fit.anchors, means)
    assert torch.equal(fit.assignment, labels)
    torch.testing.assert_close(fit.anchors, PLANTED, rtol=0.05, atol=0)


def test_avg_iou_matches_the_direct_computation() -> None:
    boxes, _ = planted_boxes(seed=3)
    fit = kmeans_anchors(boxes, 3, seed=0)
    wh = boxes[:, 2:] - boxes[:, :2]
    direct = centred_iou_formula(wh, fit.anchors).max(dim=1).values.mean().item()
    assert fit.avg_iou == pytest.approx(direct, rel=1e-5)
    assert avg_iou(wh, fit.anchors) == pytest.approx(direct, rel=1e-5)
    torch.testing.assert_close(shape_iou(wh[:5], fit.anchors), centred_iou_formula(wh[:5], fit.anchors))
    # More anchors never fit worse on these boxes, and k = N fits every box exactly.
    assert kmeans_anchors(boxes[:6], 6).avg_iou == pytest.approx(1.0)
    assert kmeans_anchors(boxes, 1).avg_iou < fit.avg_iou


def test_same_seed_same_anchors_and_a_detection_set_works() -> None:
    boxes, _ = planted_boxes(per_cluster=10, seed=5)
    g = torch.Generator().manual_seed(0)
    wh = torch.rand(30, 2, generator=g) * 40 + 2
    noisy = torch.cat([torch.zeros(30, 2), wh], dim=1)
    a = kmeans_anchors(noisy, 4, seed=7)
    b = kmeans_anchors(noisy, 4, seed=7)
    assert torch.equal(a.anchors, b.anchors)
    images = torch.zeros(2, 1, 128, 128, dtype=torch.uint8)
    targets = [Targets(boxes[:15], torch.zeros(15, dtype=torch.long)), Targets(boxes[15:], torch.zeros(15, dtype=torch.long))]
    dataset = DetectionSet(images, targets, ("thing",))
    torch.testing.assert_close(kmeans_anchors(dataset, 3).anchors, kmeans_anchors(boxes, 3).anchors)
    assert box_shapes(dataset).shape == (30, 2)


def test_zero_area_boxes_are_left_out() -> None:
    boxes, _ = planted_boxes(per_cluster=10)
    flat = torch.tensor([[5.0, 5.0, 5.0, 20.0], [1.0, 1.0, 9.0, 1.0]])
    fit = kmeans_anchors(torch.cat([boxes, flat]), 3)
    assert fit.ignored == 2 and len(fit.assignment) == len(boxes)
    torch.testing.assert_close(fit.anchors, kmeans_anchors(boxes, 3).anchors)


def test_errors_say_what_to_do() -> None:
    boxes, _ = planted_boxes(per_cluster=2)
    with pytest.raises(CnnkitError, match=r"k = 7 anchors but only 6 boxes; choose k <= 6"):
        kmeans_anchors(boxes, 7)
    with pytest.raises(DataError, match="no boxes"):
        kmeans_anchors(torch.zeros(0, 4), 3)
    with pytest.raises(DataError, match="no boxes"):
        kmeans_anchors(torch.tensor([[1.0, 1.0, 1.0, 5.0]]), 1)
    same = torch.tensor([[0.0, 0.0, 10.0, 10.0], [5.0, 5.0, 15.0, 15.0], [0.0, 0.0, 4.0, 8.0]])
    with pytest.raises(CnnkitError, match="only 2 distinct shapes"):
        kmeans_anchors(same, 3)
    with pytest.raises(CnnkitError, match="positive integer"):
        kmeans_anchors(boxes, 0)
    with pytest.raises(ShapeError, match=r"\(N, 4\)"):
        kmeans_anchors(torch.zeros(5, 2), 2)
    with pytest.raises(DataError, match="x2 < x1"):
        kmeans_anchors(torch.tensor([[10.0, 0.0, 2.0, 5.0]]), 1)
