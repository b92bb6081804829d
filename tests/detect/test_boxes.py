"""Boxes: IoU and NMS against torchvision.ops, the match rule, and the encodings."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torchvision import ops

from cnnkit.detect import boxes as B
from cnnkit.errors import CnnkitError, DataError, ShapeError


def random_boxes(n: int, *, size: float = 100.0, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * size
    wh = torch.rand(n, 2, generator=g) * size / 2 + 1
    return torch.cat([xy, xy + wh], dim=1)


# --------------------------------------------------------------------------- IoU
def test_iou_matches_torchvision_and_the_formula() -> None:
    a, b = random_boxes(5, seed=1), random_boxes(7, seed=2)
    assert torch.equal(B.iou(a, b), ops.box_iou(a, b))
    # One pair written out: intersection / union.
    x = torch.tensor([[0.0, 0.0, 4.0, 2.0]])
    y = torch.tensor([[2.0, 0.0, 6.0, 2.0]])
    assert B.iou(x, y).item() == pytest.approx(4 / (8 + 8 - 4))


def test_iou_of_empty_inputs_is_an_empty_matrix() -> None:
    a = random_boxes(3)
    assert B.iou(torch.zeros(0, 4), a).shape == (0, 3)
    assert B.iou(a, torch.zeros(0, 4)).shape == (3, 0)
    assert B.iou(torch.zeros(0, 4), torch.zeros(0, 4)).shape == (0, 0)


def test_degenerate_boxes_behave_as_in_torchvision() -> None:
    flat = torch.tensor([[5.0, 5.0, 5.0, 9.0], [1.0, 1.0, 1.0, 1.0]])
    real = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    got = B.iou(flat, real)
    assert torch.equal(got, ops.box_iou(flat, real))
    assert torch.equal(got, torch.zeros(2, 1))
    both = B.iou(flat, flat)  # 0 / 0
    assert torch.equal(torch.isnan(both), torch.isnan(ops.box_iou(flat, flat)))
    assert not B.is_match(both).any()
    assert torch.equal(B.box_area(flat), torch.zeros(2))


def test_match_rule_is_iou_at_least_the_threshold() -> None:
    values = torch.tensor([0.4999, 0.5, 0.5001, 0.7, 0.75])
    assert B.is_match(values).tolist() == [False, True, True, True, True]
    assert B.is_match(values, 0.75).tolist() == [False, False, False, False, True]
    # Exactly 0.5 from real boxes: [0,0,2,1] vs [0,0,1,1] share 1 of 2.
    exact = B.iou(torch.tensor([[0.0, 0.0, 2.0, 1.0]]), torch.tensor([[0.0, 0.0, 1.0, 1.0]]))
    assert exact.item() == 0.5 and B.is_match(exact).item()
    with pytest.raises(CnnkitError, match="between 0 and 1"):
        B.is_match(values, 1.5)


def test_box_checks_say_what_is_wrong() -> None:
    with pytest.raises(ShapeError, match=r"\(K, 4\)"):
        B.iou(torch.zeros(3), torch.zeros(1, 4))
    with pytest.raises(ShapeError, match="floating"):
        B.iou(torch.zeros(1, 4, dtype=torch.long), torch.zeros(1, 4))
    with pytest.raises(DataError, match=r"a\[1\].*x2 < x1.*box_convert"):
        B.iou(torch.tensor([[0.0, 0, 1, 1], [5.0, 0, 2, 1]]), torch.zeros(1, 4))
    with pytest.raises(DataError, match="NaN"):
        B.box_area(torch.tensor([[0.0, 0.0, float("nan"), 1.0]]))


def test_area_and_clip_match_torchvision() -> None:
    boxes = torch.tensor([[-5.0, -5.0, 20.0, 8.0], [30.0, 2.0, 40.0, 12.0], [2.0, 3.0, 6.0, 7.0]])
    assert torch.equal(B.box_area(boxes), ops.box_area(boxes))
    clipped = B.clip_boxes(boxes, (10, 25))  # (H, W)
    assert torch.equal(clipped, ops.clip_boxes_to_image(boxes, (10, 25)))
    assert clipped[0].tolist() == [0.0, 0.0, 20.0, 8.0]
    assert B.box_area(clipped)[1].item() == 0.0  # wholly outside: zero area on the edge


# --------------------------------------------------------------------------- NMS
def test_nms_matches_torchvision_including_empty() -> None:
    boxes = random_boxes(40, size=50, seed=3)
    scores = torch.rand(40, generator=torch.Generator().manual_seed(4))
    for thr in (0.3, 0.5, 0.7):
        assert torch.equal(B.nms(boxes, scores, iou_threshold=thr), ops.nms(boxes, scores, thr))
    empty = B.nms(torch.zeros(0, 4), torch.zeros(0))
    assert empty.shape == (0,) and empty.dtype == torch.int64


def test_batched_nms_matches_torchvision_and_keeps_classes_apart() -> None:
    boxes = random_boxes(30, size=40, seed=5)
    scores = torch.rand(30, generator=torch.Generator().manual_seed(6))
    labels = torch.randint(0, 3, (30,), generator=torch.Generator().manual_seed(7))
    assert torch.equal(
        B.batched_nms(boxes, scores, labels, iou_threshold=0.5), ops.batched_nms(boxes, scores, labels, 0.5)
    )
    # Two identical boxes: one survives class-agnostic NMS, both survive per class.
    same = torch.tensor([[0.0, 0.0, 10.0, 10.0]] * 2)
    s = torch.tensor([0.9, 0.8])
    assert B.nms(same, s).tolist() == [0]
    assert B.batched_nms(same, s, torch.tensor([0, 1])).tolist() == [0, 1]
    assert B.batched_nms(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.long)).numel() == 0


def test_nms_with_degenerate_boxes_matches_torchvision() -> None:
    boxes = torch.tensor([[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 5.0, 5.0]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    assert torch.equal(B.nms(boxes, scores), ops.nms(boxes, scores, 0.5))


def test_nms_keeps_every_pick_not_only_one_box() -> None:
    # Two separate objects, each with a duplicate: the lecture's loop keeps one per object.
    boxes = torch.tensor([[0.0, 0, 10, 10], [1.0, 1, 11, 11], [50.0, 50, 60, 60], [51.0, 50, 61, 60]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.95])
    assert B.nms(boxes, scores).tolist() == [3, 0]


def test_select_detections_thresholds_then_suppresses_per_class() -> None:
    boxes = torch.tensor([[0.0, 0, 10, 10], [1.0, 1, 11, 11], [0.0, 0, 10, 10], [50.0, 50, 60, 60]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.4])
    labels = torch.tensor([0, 0, 1, 0])
    assert B.select_detections(boxes, scores, labels, score_threshold=0.5).tolist() == [0, 2]
    assert B.select_detections(boxes, scores, score_threshold=0.3).tolist() == [0, 3]
    assert B.select_detections(boxes, scores, labels, score_threshold=0.0, max_detections=1).tolist() == [0]
    with pytest.raises(ShapeError, match=r"scores must have shape \(4,\)"):
        B.select_detections(boxes, scores[:2])
    with pytest.raises(ShapeError, match="integer"):
        B.select_detections(boxes, scores, labels.float())


# --------------------------------------------------------------------------- encodings
SIZE = (96, 128)  # (H, W)


@st.composite
def boxes_in_image(draw: st.DrawFn) -> torch.Tensor:
    n = draw(st.integers(0, 6))
    rows = []
    for _ in range(n):
        x1 = draw(st.floats(0, SIZE[1] - 2, allow_nan=False))
        y1 = draw(st.floats(0, SIZE[0] - 2, allow_nan=False))
        x2 = draw(st.floats(x1 + 1, SIZE[1], allow_nan=False))
        y2 = draw(st.floats(y1 + 1, SIZE[0], allow_nan=False))
        rows.append([x1, y1, x2, y2])
    return torch.tensor(rows, dtype=torch.float64).reshape(-1, 4)


@settings(max_examples=60, deadline=None)
@given(boxes=boxes_in_image(), grid=st.sampled_from([1, 4, 7, (3, 5)]),
       anchor=st.tuples(st.floats(2, 80), st.floats(2, 80)))
def test_yolo_encode_decode_round_trip(boxes: torch.Tensor, grid, anchor) -> None:
    anchors = torch.tensor([anchor], dtype=torch.float64).expand(len(boxes), 2)
    t, cells = B.encode_yolo(boxes, anchors, image_size=SIZE, grid=grid)
    assert t.shape == (len(boxes), 4) and cells.shape == (len(boxes), 2)
    assert torch.isfinite(t).all()
    back = B.decode_yolo(t, anchors, cells, image_size=SIZE, grid=grid)
    # Offsets are kept 1e-6 cell inside the edges: at most ~1e-4 px away.
    torch.testing.assert_close(back, boxes, atol=1e-3, rtol=0)


@settings(max_examples=60, deadline=None)
@given(boxes=boxes_in_image(), grid=st.sampled_from([1, 3, 8, (4, 6)]))
def test_lecture_encode_decode_round_trip(boxes: torch.Tensor, grid) -> None:
    values, cells = B.encode_bxbyhw(boxes, image_size=SIZE, grid=grid)
    if len(boxes):
        assert (values[:, :2] >= 0).all() and (values[:, :2] <= 1).all()
    back = B.decode_bxbyhw(values, cells, image_size=SIZE, grid=grid)
    torch.testing.assert_close(back, boxes, atol=1e-9, rtol=1e-9)


def test_yolo_encoding_by_hand() -> None:
    # 128x96 image, 4x4 grid: cells 32 wide, 24 tall. Box centre (40, 30), size 16x12.
    box = torch.tensor([[32.0, 24.0, 48.0, 36.0]])
    anchor = torch.tensor([[8.0, 24.0]])
    t, cells = B.encode_yolo(box, anchor, image_size=SIZE, grid=4)
    assert cells.tolist() == [[1, 1]]  # (row, col)
    expected = [math.log(0.25 / 0.75), math.log(0.25 / 0.75), math.log(2.0), math.log(0.5)]
    torch.testing.assert_close(t[0], torch.tensor(expected), atol=1e-5, rtol=0)


def test_lecture_encoding_by_hand() -> None:
    box = torch.tensor([[32.0, 24.0, 48.0, 36.0]])  # centre (40, 30), w 16, h 12
    whole, cells = B.encode_bxbyhw(box, image_size=SIZE)  # grid=1: fractions of the image
    torch.testing.assert_close(whole[0], torch.tensor([40 / 128, 30 / 96, 12 / 96, 16 / 128]))
    assert cells.tolist() == [[0, 0]]
    per_cell, cells = B.encode_bxbyhw(box, image_size=SIZE, grid=4)
    torch.testing.assert_close(per_cell[0], torch.tensor([0.25, 0.25, 0.5, 0.5]))
    assert cells.tolist() == [[1, 1]]
    # Decoding without cells uses cell (0, 0), the whole image when grid=1.
    torch.testing.assert_close(B.decode_bxbyhw(whole, image_size=SIZE), box)


def test_centre_on_the_far_edge_belongs_to_the_last_cell() -> None:
    box = torch.tensor([[120.0, 0.0, 128.0, 96.0]])  # centre x 124 in an 8-wide grid of 16 px
    _, cells = B.encode_bxbyhw(box, image_size=SIZE, grid=8)
    assert cells.tolist() == [[4, 7]]
    edge = torch.tensor([[0.0, 0.0, 32.0, 24.0]])  # centre exactly on a cell corner
    t, cells = B.encode_yolo(edge, torch.tensor([[32.0, 24.0]]), image_size=SIZE, grid=4)
    assert cells.tolist() == [[0, 0]] and torch.isfinite(t).all()
    torch.testing.assert_close(B.decode_yolo(t, torch.tensor([[32.0, 24.0]]), cells, image_size=SIZE, grid=4), edge,
                               atol=1e-3, rtol=0)


def test_dense_decode_broadcasts_over_a_grid() -> None:
    anchors = torch.tensor([[10.0, 20.0], [30.0, 15.0]])  # B = 2
    t = torch.zeros(1, 2, 3, 3, 4)  # (N, B, S, S, 4): offsets 0.5, sizes = anchors
    boxes = B.decode_yolo(t, anchors.view(2, 1, 1, 2), B.grid_cells(3), image_size=(60, 90), grid=3)
    assert boxes.shape == (1, 2, 3, 3, 4)
    # Anchor 1, row 2, col 0: centre (15, 50), size 30 x 15.
    assert boxes[0, 1, 2, 0].tolist() == [0.0, 42.5, 30.0, 57.5]


def test_encoding_errors() -> None:
    box = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    with pytest.raises(ShapeError, match=r"anchors must have shape \(1, 2\)"):
        B.encode_yolo(box, torch.ones(3), image_size=SIZE, grid=4)
    with pytest.raises(DataError, match="positive width and height"):
        B.encode_yolo(torch.tensor([[5.0, 5.0, 5.0, 9.0]]), torch.ones(1, 2), image_size=SIZE, grid=4)
    with pytest.raises(ShapeError, match="grid"):
        B.encode_bxbyhw(box, image_size=SIZE, grid=0)
    with pytest.raises(ShapeError, match="image_size"):
        B.encode_bxbyhw(box, image_size=(0, 10))
