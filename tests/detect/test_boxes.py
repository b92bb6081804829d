"""Boxes: IoU against torchvision.ops, the input checks, and the YOLO and lecture encodings."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torchvision import ops

from cnnkit.detect import boxes as B
from cnnkit.errors import DataError, ShapeError


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


def test_box_checks_say_what_is_wrong() -> None:
    with pytest.raises(ShapeError, match=r"\(K, 4\)"):
        B.iou(torch.zeros(3), torch.zeros(1, 4))
    with pytest.raises(ShapeError, match="floating"):
        B.iou(torch.zeros(1, 4, dtype=torch.long), torch.zeros(1, 4))
    with pytest.raises(DataError, match=r"a\[1\].*x2 < x1.*box_convert"):
        B.iou(torch.tensor([[0.0, 0, 1, 1], [5.0, 0, 2, 1]]), torch.zeros(1, 4))
    with pytest.raises(DataError, match="NaN"):
        B.iou(torch.tensor([[0.0, 0.0, float("nan"), 1.0]]), torch.zeros(1, 4))


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


def _dense(t: torch.Tensor, cells: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """One output grid (1, rows, cols, K, 4) holding box k's raw numbers in its own cell and
    anchor slot k: the offsets back through the logit, the log sizes as they are."""
    pred = torch.zeros(1, *grid, len(t), 4, dtype=t.dtype)
    raw = torch.cat([torch.logit(t[:, :2]), t[:, 2:]], dim=1)
    for k, (row, col) in enumerate(cells.tolist()):
        pred[0, row, col, k] = raw[k]
    return pred


@settings(max_examples=60, deadline=None)
@given(boxes=boxes_in_image(), grid=st.sampled_from([1, 4, 7, (3, 5)]),
       anchor=st.tuples(st.floats(2, 80), st.floats(2, 80)))
def test_yolo_encode_decode_round_trip(boxes: torch.Tensor, grid, anchor) -> None:
    anchors = torch.tensor([anchor], dtype=torch.float64).expand(len(boxes), 2)
    t, cells = B.encode_yolo(boxes, anchors, image_size=SIZE, grid=grid)
    assert t.shape == (len(boxes), 4) and cells.shape == (len(boxes), 2)
    assert ((t[:, :2] >= 0) & (t[:, :2] <= 1)).all() and torch.isfinite(t).all()
    rows_cols = (grid, grid) if isinstance(grid, int) else grid
    back = B.decode_yolo(_dense(t, cells, rows_cols), anchors.contiguous(), SIZE)
    got = back[0, cells[:, 0], cells[:, 1], torch.arange(len(boxes))]
    # An offset of exactly 0 or 1 (a centre on a cell edge) has an infinite logit, which
    # sigmoid maps back exactly; the rest round-trips to float64 precision.
    torch.testing.assert_close(got, boxes, atol=1e-9, rtol=1e-9)


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
    expected = [40 / 32 - 1, 30 / 24 - 1, math.log(16 / 8), math.log(12 / 24)]
    torch.testing.assert_close(t[0], torch.tensor(expected), atol=1e-6, rtol=0)


def test_yolo_encoding_of_a_zero_width_box_is_finite() -> None:
    # A sliver left by clipping: its size counts as 1e-6 px, not log(0).
    t, _ = B.encode_yolo(torch.tensor([[5.0, 5.0, 5.0, 9.0]]), torch.tensor([[4.0, 4.0]]), image_size=SIZE, grid=4)
    torch.testing.assert_close(t[0, 2:], torch.tensor([math.log(1e-6 / 4), math.log(4 / 4)]))


def test_yolo_decoding_by_hand() -> None:
    g = torch.Generator().manual_seed(1)
    pred = torch.randn(1, 3, 3, 2, 7, generator=g)
    anchors = torch.tensor([[5.0, 9.0], [12.0, 4.0]])
    boxes = B.decode_yolo(pred, anchors, (30, 60))  # H 30, W 60: cells 20 wide, 10 high
    assert boxes.shape == (1, 3, 3, 2, 4)
    i, j, b = 2, 1, 1
    tx, ty, tw, th = pred[0, i, j, b, :4].tolist()
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    cx, cy = (j + sig(tx)) * 20, (i + sig(ty)) * 10
    w, h = 12 * math.exp(tw), 4 * math.exp(th)
    torch.testing.assert_close(boxes[0, i, j, b], torch.tensor([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]))
    # Sizes are capped at exp(10) anchors, so an untrained output stays finite.
    huge = B.decode_yolo(torch.full((1, 1, 1, 1, 4), 1e4), torch.tensor([[1.0, 1.0]]), (8, 8))
    assert torch.isfinite(huge).all()
    torch.testing.assert_close(huge[0, 0, 0, 0, 2] - huge[0, 0, 0, 0, 0], torch.tensor(math.exp(10)))


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
    # YOLO: a centre on the far corner goes to the last cell at offset 1; one on an inner
    # corner starts the next cell at offset 0.
    far = torch.tensor([[120.0, 90.0, 136.0, 102.0]])  # centre (128, 96), hanging off the image
    inner = torch.tensor([[0.0, 0.0, 128.0, 96.0]])  # centre (64, 48)
    t, cells = B.encode_yolo(torch.cat([far, inner]), torch.tensor([[16.0, 12.0]]), image_size=SIZE, grid=4)
    assert cells.tolist() == [[3, 3], [2, 2]]
    torch.testing.assert_close(t[:, :2], torch.tensor([[1.0, 1.0], [0.0, 0.0]]))


def test_encoding_errors() -> None:
    box = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    with pytest.raises(ShapeError, match="grid"):
        B.encode_yolo(box, torch.ones(1, 2), image_size=SIZE, grid=(0, 4))
    with pytest.raises(ShapeError, match="grid"):
        B.encode_bxbyhw(box, image_size=SIZE, grid=0)
    with pytest.raises(ShapeError, match="image_size"):
        B.encode_bxbyhw(box, image_size=(0, 10))
