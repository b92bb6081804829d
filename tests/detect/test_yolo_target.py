"""Target assignment on hand-made cases: centre cell, best anchor, offsets, ignore rule, collisions."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torchvision.ops import box_iou

from cnnkit.detect.sample import Targets
from cnnkit.detect.anchors import shape_iou
from cnnkit.detect.yolo_target import assign_targets, ignore_by_prediction


def _t(boxes: list[list[float]], labels: list[int]) -> Targets:
    return Targets(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), torch.tensor(labels, dtype=torch.long))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.5, 50.0), min_size=4, max_size=4))
def test_shape_iou_is_the_centred_overlap(sizes: list[float]) -> None:
    w, h, aw, ah = sizes
    inter = min(w, aw) * min(h, ah)
    expected = inter / (w * h + aw * ah - inter)
    got = shape_iou(torch.tensor([[w, h]]), torch.tensor([[aw, ah]]))
    assert got.item() == pytest.approx(expected, rel=1e-5)


def test_box_goes_to_the_cell_of_its_centre_with_exact_offsets() -> None:
    anchors = torch.tensor([[8.0, 8.0], [20.0, 10.0]])
    # 32x32 image, 4x4 grid: cells of 8 px. Centre (13, 27) -> column 1, row 3.
    box = [8.0, 22.0, 18.0, 32.0]  # 10 x 10
    got = assign_targets([_t([box], [1])], anchors, grid=4, image_size=(32, 32))
    assert got.positive.sum() == 1
    # best anchor by torchvision's box_iou on boxes centred at a common point
    shapes = torch.tensor([[-5.0, -5.0, 5.0, 5.0]])
    best = int(box_iou(shapes, torch.cat([-anchors / 2, anchors / 2], 1)).argmax())
    assert got.positive[0, 3, 1, best]
    assert got.labels[0, 3, 1, best] == 1
    tx, ty, tw, th = got.box[0, 3, 1, best].tolist()
    assert tx == pytest.approx(13 / 8 - 1)
    assert ty == pytest.approx(27 / 8 - 3)
    assert tw == pytest.approx(math.log(10 / anchors[best, 0].item()))
    assert th == pytest.approx(math.log(10 / anchors[best, 1].item()))
    assert (got.labels[~got.positive] == -1).all()


def test_best_anchor_follows_the_box_shape() -> None:
    anchors = torch.tensor([[10.0, 10.0], [24.0, 6.0], [6.0, 24.0]])
    wide, tall, square = [0.0, 0.0, 22.0, 7.0], [20.0, 0.0, 26.0, 26.0], [40.0, 40.0, 50.0, 50.0]
    got = assign_targets([_t([wide, tall, square], [0, 0, 0])], anchors, grid=8, image_size=(64, 64))
    _, i, j, b = got.positive.nonzero(as_tuple=True)
    cells = {(int(r), int(c)): int(a) for r, c, a in zip(i, j, b)}
    assert cells == {(0, 1): 1, (1, 2): 2, (5, 5): 0}


def test_far_edge_centre_goes_to_the_last_cell() -> None:
    anchors = torch.tensor([[4.0, 4.0]])
    got = assign_targets([_t([[30.0, 30.0, 32.0, 32.0]], [0])], anchors, grid=4, image_size=(32, 32))
    assert got.positive[0, 3, 3, 0]


def test_ignore_rule_marks_near_best_anchors_only() -> None:
    # box 10x10: anchor 0 exact (IoU 1), anchor 1 11x9 (IoU 90/109 = 0.83), anchor 2 30x5 (IoU 0.25)
    anchors = torch.tensor([[10.0, 10.0], [11.0, 9.0], [30.0, 5.0]])
    t = [_t([[0.0, 0.0, 10.0, 10.0]], [0])]
    got = assign_targets(t, anchors, grid=2, image_size=(32, 32), ignore_threshold=0.5)
    assert got.positive[0, 0, 0].tolist() == [True, False, False]
    assert got.ignore[0, 0, 0].tolist() == [False, True, False]
    assert got.ignore.sum() == 1
    assert got.negative.sum() == 2 * 2 * 3 - 2
    higher = assign_targets(t, anchors, grid=2, image_size=(32, 32), ignore_threshold=0.9)
    assert not higher.ignore.any()
    off = assign_targets(t, anchors, grid=2, image_size=(32, 32), ignore_threshold=None)
    assert not off.ignore.any()


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_collision_keeps_the_larger_box(order: tuple[int, int]) -> None:
    anchors = torch.tensor([[10.0, 10.0]])
    small, large = [2.0, 2.0, 8.0, 8.0], [0.0, 0.0, 12.0, 12.0]  # both centred in cell (0, 0)
    boxes, labels = [small, large], [0, 1]
    got = assign_targets([_t([boxes[k] for k in order], [labels[k] for k in order])], anchors, grid=2,
                         image_size=(32, 32))
    assert got.positive.sum() == 1 and got.dropped == 1
    assert got.labels[0, 0, 0, 0] == 1
    assert got.box[0, 0, 0, 0, 2].item() == pytest.approx(math.log(12 / 10))


def test_batch_and_empty_images() -> None:
    anchors = torch.tensor([[8.0, 8.0]])
    targets = [_t([], []), _t([[16.0, 0.0, 24.0, 8.0]], [2])]
    got = assign_targets(targets, anchors, grid=4, image_size=(32, 32))
    assert not got.positive[0].any()
    assert got.positive[1, 0, 2, 0] and got.labels[1, 0, 2, 0] == 2
    none = assign_targets([_t([], [])], anchors, grid=4, image_size=(32, 32))
    assert not none.positive.any() and none.box.shape == (1, 4, 4, 1, 4)


def test_non_square_image_uses_separate_cell_sizes() -> None:
    anchors = torch.tensor([[8.0, 8.0]])
    # 32 high, 64 wide, grid 4: cells are 16 px wide, 8 px high; centre (40, 12) -> row 1, column 2
    got = assign_targets([_t([[36.0, 8.0, 44.0, 16.0]], [0])], anchors, grid=4, image_size=(32, 64))
    assert got.positive[0, 1, 2, 0]
    assert got.box[0, 1, 2, 0, :2].tolist() == pytest.approx([40 / 16 - 2, 12 / 8 - 1])


def test_ignore_by_prediction_against_box_iou() -> None:
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(2, 3, 3, 2, 2, generator=g) * 20
    pred = torch.cat([xy, xy + 4 + torch.rand(2, 3, 3, 2, 2, generator=g) * 10], dim=-1)
    targets = [_t([[0.0, 0.0, 10.0, 10.0], [12.0, 5.0, 30.0, 20.0]], [0, 1]), _t([], [])]
    got = ignore_by_prediction(pred, targets, 0.3)
    expected = box_iou(pred[0].reshape(-1, 4), targets[0].boxes).amax(1).reshape(3, 3, 2) > 0.3
    assert torch.equal(got[0], expected)
    assert expected.any() and not got[1].any()
