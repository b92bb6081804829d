"""Boxes: IoU, the match rule, NMS, clipping, and the two box encodings.

Every box here is ``Tensor[K, 4]`` in ``(x1, y1, x2, y2)`` pixels (x to the right, y
down) unless a name says otherwise. IoU and NMS are torchvision.ops; this module adds
input checks with clear messages, the lecture's conventions, and the encodings a grid
detector trains on.

Degenerate boxes (zero width or height) are passed to torchvision unchanged, so they
behave as torchvision defines: their IoU with a real box is 0, and the IoU of two
zero-area boxes is NaN (0 / 0), which :func:`is_match` counts as no match.

Two encodings, each with an exact inverse:

- **YOLO** (:func:`encode_yolo` / :func:`decode_yolo`): per box, the grid cell holding its
  centre and ``(tx, ty, tw, th)`` with ``sigmoid(tx)`` the centre's offset inside the cell
  (0..1, in cell widths), and ``tw = log(w / anchor_w)``, ``th = log(h / anchor_h)``.
- **Lecture** (:func:`encode_bxbyhw` / :func:`decode_bxbyhw`): ``(b_x, b_y, b_h, b_w)``,
  the centre as a fraction of the cell (0..1) and the full height and width in cell units
  (they may exceed 1 when a box is larger than its cell). With ``grid=1`` the cell is the
  whole image, which is the localization target ``y = [p_c, b_x, b_y, b_h, b_w, c...]``.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision import ops

from cnnkit.errors import CnnkitError, DataError, ShapeError

# sigmoid(t) only reaches 0 or 1 at infinity: centre offsets are kept this far inside the
# cell before the logit, so a centre on a cell edge encodes to a finite number.
_OFFSET_EPS = 1e-6


# --------------------------------------------------------------------------- checks
def check_boxes(boxes: Tensor, *, name: str = "boxes") -> Tensor:
    """Return ``boxes`` if it is a floating (K, 4) xyxy tensor with x1 <= x2 and y1 <= y2.

    Raises ShapeError for a wrong shape or dtype and DataError for inverted or
    non-finite coordinates, each saying how to fix it.
    """
    if not isinstance(boxes, Tensor):
        raise ShapeError(f"{name} must be a torch.Tensor of shape (K, 4), got {type(boxes).__name__}")
    if boxes.dim() != 2 or boxes.shape[1] != 4:
        raise ShapeError(
            f"{name} must have shape (K, 4) as (x1, y1, x2, y2), got {tuple(boxes.shape)};"
            " reshape with boxes.reshape(-1, 4)"
        )
    if not boxes.is_floating_point():
        raise ShapeError(f"{name} must be a floating tensor, got {boxes.dtype}; use boxes.float()")
    if boxes.numel():
        if not torch.isfinite(boxes).all():
            raise DataError(f"{name} contain NaN or infinite coordinates; drop or fix those boxes")
        bad = (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
        if bad.any():
            i = int(bad.nonzero()[0])
            raise DataError(
                f"{name}[{i}] = {[round(float(v), 3) for v in boxes[i]]} has x2 < x1 or y2 < y1;"
                " boxes must be (x1, y1, x2, y2) -- convert other formats with"
                " torchvision.ops.box_convert"
            )
    return boxes


def _check_vector(values: Tensor, count: int, *, name: str, integer: bool = False) -> None:
    if not isinstance(values, Tensor) or values.dim() != 1 or values.shape[0] != count:
        shape = tuple(values.shape) if isinstance(values, Tensor) else type(values).__name__
        raise ShapeError(f"{name} must have shape ({count},), one per box, got {shape}")
    if integer and values.is_floating_point():
        raise ShapeError(f"{name} must be an integer tensor of class indices, got {values.dtype}; use .long()")


def _check_threshold(value: float, *, name: str) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise CnnkitError(f"{name} must be between 0 and 1, got {value}")
    return value


# --------------------------------------------------------------------------- IoU, areas
def iou(a: Tensor, b: Tensor) -> Tensor:
    """IoU of every box in ``a`` (K, 4) with every box in ``b`` (M, 4): (K, M), in [0, 1].

    torchvision.ops.box_iou; empty inputs give an empty (K, M) matrix.
    """
    check_boxes(a, name="a")
    check_boxes(b, name="b")
    return ops.box_iou(a, b)


def is_match(iou_values: Tensor, threshold: float = 0.5) -> Tensor:
    """A prediction is correct when ``IoU >= threshold`` (0.5 by default): bool, same shape.

    (The lecture notes print ``<=``; a detection is right when it overlaps enough.)
    NaN IoUs, from two zero-area boxes, are not matches.
    """
    return iou_values >= _check_threshold(threshold, name="threshold")


def box_area(boxes: Tensor) -> Tensor:
    """Area of each box, (K, 4) -> (K,) in square pixels (0 for degenerate boxes)."""
    return ops.box_area(check_boxes(boxes))


def clip_boxes(boxes: Tensor, image_size: tuple[int, int]) -> Tensor:
    """Clip (K, 4) boxes to an image of ``image_size = (H, W)``: 0 <= x <= W, 0 <= y <= H.

    A box wholly outside the image becomes a zero-area box on its edge; drop those with
    ``box_area(b) > 0`` (torchvision.ops.remove_small_boxes does the same).
    """
    check_boxes(boxes)
    height, width = _size(image_size)
    return ops.clip_boxes_to_image(boxes, (height, width))


# --------------------------------------------------------------------------- NMS
def nms(boxes: Tensor, scores: Tensor, *, iou_threshold: float = 0.5) -> Tensor:
    """Class-agnostic non-max suppression: indices (int64) of the kept boxes, best first.

    Repeatedly keep the highest-scoring remaining box and drop every remaining box whose
    IoU with it is above ``iou_threshold``, until no candidates remain (every box picked
    on the way is kept). torchvision.ops.nms: a box at exactly the threshold survives.
    """
    check_boxes(boxes)
    _check_vector(scores, len(boxes), name="scores")
    return ops.nms(boxes, scores, _check_threshold(iou_threshold, name="iou_threshold"))


def batched_nms(boxes: Tensor, scores: Tensor, labels: Tensor, *, iou_threshold: float = 0.5) -> Tensor:
    """Per-class NMS (boxes of different labels never suppress each other): kept indices.

    boxes (K, 4), scores (K,), labels (K,) int64; torchvision.ops.batched_nms. The result
    is sorted by decreasing score.
    """
    check_boxes(boxes)
    _check_vector(scores, len(boxes), name="scores")
    _check_vector(labels, len(boxes), name="labels", integer=True)
    return ops.batched_nms(boxes, scores, labels, _check_threshold(iou_threshold, name="iou_threshold"))


def select_detections(
    boxes: Tensor,
    scores: Tensor,
    labels: Tensor | None = None,
    *,
    score_threshold: float = 0.5,
    iou_threshold: float = 0.5,
    max_detections: int | None = 100,
) -> Tensor:
    """The lecture's procedure: drop scores below ``score_threshold``, then NMS per class.

    With ``labels=None`` the NMS is class-agnostic. Returns indices into the inputs,
    best first, at most ``max_detections`` of them (None keeps all).
    """
    check_boxes(boxes)
    _check_vector(scores, len(boxes), name="scores")
    if labels is not None:
        _check_vector(labels, len(boxes), name="labels", integer=True)
    if max_detections is not None and max_detections < 1:
        raise CnnkitError(f"max_detections must be at least 1 (or None for all), got {max_detections}")
    candidates = (scores >= _check_threshold(score_threshold, name="score_threshold")).nonzero().flatten()
    thr = _check_threshold(iou_threshold, name="iou_threshold")
    if labels is None:
        kept = ops.nms(boxes[candidates], scores[candidates], thr)
    else:
        kept = ops.batched_nms(boxes[candidates], scores[candidates], labels[candidates], thr)
    kept = candidates[kept]
    return kept if max_detections is None else kept[:max_detections]


# --------------------------------------------------------------------------- grids
def _size(image_size: tuple[int, int]) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in image_size)
    except (TypeError, ValueError):
        raise ShapeError(f"image_size must be (H, W), got {image_size!r}") from None
    if height < 1 or width < 1:
        raise ShapeError(f"image_size must be positive (H, W), got {image_size!r}")
    return height, width


def _grid(grid: int | tuple[int, int]) -> tuple[int, int]:
    rows, cols = (grid, grid) if isinstance(grid, int) else tuple(grid)
    if int(rows) < 1 or int(cols) < 1:
        raise ShapeError(f"grid must be S or (rows, cols) with at least 1 cell each way, got {grid!r}")
    return int(rows), int(cols)


def _cell_size(image_size: tuple[int, int], grid: int | tuple[int, int]) -> tuple[float, float]:
    """(cell height, cell width) in pixels."""
    height, width = _size(image_size)
    rows, cols = _grid(grid)
    return height / rows, width / cols


def grid_cells(grid: int | tuple[int, int]) -> Tensor:
    """Every cell's (row, col) index, int64 (rows, cols, 2): broadcasts against a dense
    grid output in :func:`decode_yolo` / :func:`decode_bxbyhw`."""
    rows, cols = _grid(grid)
    r, c = torch.meshgrid(torch.arange(rows), torch.arange(cols), indexing="ij")
    return torch.stack([r, c], dim=-1)


def _centres(boxes: Tensor, image_size: tuple[int, int], grid: int | tuple[int, int]) -> tuple[Tensor, ...]:
    """Per box: the cell (row, col) holding its centre, the centre in cell units, and the
    size (h, w) in pixels."""
    check_boxes(boxes)
    cell_h, cell_w = _cell_size(image_size, grid)
    rows, cols = _grid(grid)
    cx = (boxes[:, 0] + boxes[:, 2]) / 2 / cell_w  # (K,) in cell widths
    cy = (boxes[:, 1] + boxes[:, 3]) / 2 / cell_h
    # A centre on the far image edge belongs to the last cell, not to one past it.
    col = cx.floor().long().clamp(0, cols - 1)
    row = cy.floor().long().clamp(0, rows - 1)
    cells = torch.stack([row, col], dim=1)  # (K, 2)
    return cells, cx, cy, boxes[:, 3] - boxes[:, 1], boxes[:, 2] - boxes[:, 0]


def _from_centre(cx: Tensor, cy: Tensor, w: Tensor, h: Tensor) -> Tensor:
    """Pixel centre and size, any shape (...), -> boxes (..., 4) xyxy."""
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)


# --------------------------------------------------------------------------- encodings
def encode_yolo(
    boxes: Tensor, anchors: Tensor, *, image_size: tuple[int, int], grid: int | tuple[int, int]
) -> tuple[Tensor, Tensor]:
    """Boxes (K, 4) xyxy pixels and their assigned anchors (K, 2) (w, h) pixels ->
    ``(t, cells)``: t (K, 4) = (tx, ty, tw, th) and cells (K, 2) int64 (row, col).

    ``sigmoid(tx)`` is the centre's x offset inside its cell in cell widths (likewise ty in
    cell heights), kept within 1e-6 of the cell edges so the logit is finite; ``tw =
    log(w / anchor_w)``, ``th = log(h / anchor_h)``, so boxes need positive width and height.
    """
    cells, cx, cy, h, w = _centres(boxes, image_size, grid)
    anchors = _check_anchors(anchors, len(boxes))
    if len(boxes) and ((w <= 0) | (h <= 0)).any():
        raise DataError(
            "encode_yolo needs boxes with positive width and height (log-space size); drop zero-area boxes first"
        )
    ox = (cx - cells[:, 1]).clamp(_OFFSET_EPS, 1 - _OFFSET_EPS)
    oy = (cy - cells[:, 0]).clamp(_OFFSET_EPS, 1 - _OFFSET_EPS)
    tw, th = torch.log(w / anchors[:, 0]), torch.log(h / anchors[:, 1])
    t = torch.stack([torch.logit(ox), torch.logit(oy), tw, th], dim=1)
    return t, cells


def decode_yolo(
    t: Tensor, anchors: Tensor, cells: Tensor, *, image_size: tuple[int, int], grid: int | tuple[int, int]
) -> Tensor:
    """Inverse of :func:`encode_yolo`: t (..., 4), anchors (..., 2) (w, h) pixels and cells
    (..., 2) (row, col), broadcast together, -> boxes (..., 4) xyxy pixels.

    Dense decoding of a whole grid works by broadcasting, e.g. t (N, B, S, S, 4) with
    anchors ``A.view(B, 1, 1, 2)`` and cells ``grid_cells(S)`` (S, S, 2).
    """
    cell_h, cell_w = _cell_size(image_size, grid)
    cells = cells.to(t.dtype)
    cx = (cells[..., 1] + torch.sigmoid(t[..., 0])) * cell_w
    cy = (cells[..., 0] + torch.sigmoid(t[..., 1])) * cell_h
    w = anchors[..., 0] * torch.exp(t[..., 2])
    h = anchors[..., 1] * torch.exp(t[..., 3])
    return _from_centre(cx, cy, w, h)


def encode_bxbyhw(
    boxes: Tensor, *, image_size: tuple[int, int], grid: int | tuple[int, int] = 1
) -> tuple[Tensor, Tensor]:
    """Boxes (K, 4) xyxy pixels -> the lecture's ``(b_x, b_y, b_h, b_w)`` (K, 4) and the
    cells (K, 2) int64 (row, col) holding the centres.

    b_x, b_y: the centre inside its cell, 0..1 (0 = left/top edge of the cell); b_h, b_w:
    the full height and width in cell heights and widths. With the default ``grid=1``
    these are fractions of the image (the single-object localization target).
    """
    cells, cx, cy, h, w = _centres(boxes, image_size, grid)
    cell_h, cell_w = _cell_size(image_size, grid)
    values = torch.stack([cx - cells[:, 1], cy - cells[:, 0], h / cell_h, w / cell_w], dim=1)
    return values, cells


def decode_bxbyhw(
    values: Tensor,
    cells: Tensor | None = None,
    *,
    image_size: tuple[int, int],
    grid: int | tuple[int, int] = 1,
) -> Tensor:
    """Inverse of :func:`encode_bxbyhw`: values (..., 4) = (b_x, b_y, b_h, b_w) and cells
    (..., 2) (row, col), broadcast together, -> boxes (..., 4) xyxy pixels.
    ``cells=None`` means cell (0, 0), the only one when ``grid=1``."""
    if values.shape[-1:] != (4,):
        raise ShapeError(f"values must end in 4 numbers (b_x, b_y, b_h, b_w), got shape {tuple(values.shape)}")
    cell_h, cell_w = _cell_size(image_size, grid)
    if cells is None:
        cells = torch.zeros(2, dtype=torch.long)
    cells = cells.to(values.dtype)
    cx = (cells[..., 1] + values[..., 0]) * cell_w
    cy = (cells[..., 0] + values[..., 1]) * cell_h
    return _from_centre(cx, cy, values[..., 3] * cell_w, values[..., 2] * cell_h)


def _check_anchors(anchors: Tensor, count: int) -> Tensor:
    shaped = isinstance(anchors, Tensor) and anchors.dim() == 2 and anchors.shape[1] == 2
    if not shaped or anchors.shape[0] not in (1, count):
        shape = tuple(anchors.shape) if isinstance(anchors, Tensor) else type(anchors).__name__
        raise ShapeError(f"anchors must have shape ({count}, 2) as (w, h) pixels, one per box, got {shape}")
    if anchors.numel() and (anchors <= 0).any():
        raise DataError("anchor widths and heights must be positive pixels")
    return anchors.to(torch.get_default_dtype()) if not anchors.is_floating_point() else anchors
