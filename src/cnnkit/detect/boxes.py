"""Boxes: IoU, and the two box encodings the detectors train on.

Every box here is ``Tensor[K, 4]`` in ``(x1, y1, x2, y2)`` pixels (x to the right, y
down) unless a name says otherwise. IoU is torchvision.ops.box_iou and every change of
format is torchvision.ops.box_convert; this module adds input checks with clear
messages and the encodings:

- **YOLO** (:func:`encode_yolo` / :func:`decode_yolo`, the YOLO detector's targets and
  outputs): per box, the grid cell (row i, column j) holding its centre and
  ``(t_x, t_y, t_w, t_h)`` with ``t_x = cx / cell_w - j``, ``t_y = cy / cell_h - i`` (the
  centre's offset inside the cell, 0..1) and ``t_w = log(w / anchor_w)``,
  ``t_h = log(h / anchor_h)``. The network outputs raw numbers p; the box it means is
  ``cx = (j + sigmoid(p_x)) * cell_w``, ``w = anchor_w * exp(p_w)`` (likewise y, h), so the
  loss compares ``sigmoid(p_x)`` with ``t_x`` and ``p_w`` with ``t_w``.
- **Lecture** (:func:`encode_bxbyhw` / :func:`decode_bxbyhw`): ``(b_x, b_y, b_h, b_w)``,
  the centre as a fraction of the cell (0..1) and the full height and width in cell units
  (they may exceed 1 when a box is larger than its cell). With ``grid=1`` the cell is the
  whole image, which is the localization target ``y = [p_c, b_x, b_y, b_h, b_w, c...]``.

Degenerate boxes (zero width or height) are passed to torchvision unchanged: their IoU
with a real box is 0, and the IoU of two zero-area boxes is NaN (0 / 0).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision import ops

from cnnkit.errors import DataError, ShapeError

__all__ = ["check_boxes", "decode_bxbyhw", "decode_yolo", "encode_bxbyhw", "encode_yolo", "iou"]

# exp(10) ~ 22000 anchors: bounds the size of an untrained network's boxes.
_MAX_LOG_SIZE = 10.0
# A zero-width box (a sliver left by clipping) would have log size -inf.
_MIN_SIZE = 1e-6


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


# --------------------------------------------------------------------------- IoU
def iou(a: Tensor, b: Tensor) -> Tensor:
    """IoU of every box in ``a`` (K, 4) with every box in ``b`` (M, 4): (K, M), in [0, 1].

    torchvision.ops.box_iou; empty inputs give an empty (K, M) matrix.
    """
    check_boxes(a, name="a")
    check_boxes(b, name="b")
    return ops.box_iou(a, b)


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


def _in_cells(
    boxes: Tensor, image_size: tuple[int, int], grid: int | tuple[int, int]
) -> tuple[Tensor, Tensor, Tensor]:
    """Boxes (K, 4) xyxy pixels -> ``(centres, sizes, cells)``: centres (K, 2) (x, y) in
    cell widths and heights, sizes (K, 2) (w, h) in pixels, cells (K, 2) int64 (row, col)."""
    height, width = _size(image_size)
    rows, cols = _grid(grid)
    cxcywh = ops.box_convert(boxes, "xyxy", "cxcywh")
    gx, gy = cxcywh[:, 0] / (width / cols), cxcywh[:, 1] / (height / rows)
    # A centre on the far image edge belongs to the last cell, not to one past it.
    col = gx.floor().long().clamp(0, cols - 1)
    row = gy.floor().long().clamp(0, rows - 1)
    return torch.stack([gx, gy], dim=1), cxcywh[:, 2:], torch.stack([row, col], dim=1)


# --------------------------------------------------------------------------- YOLO
def encode_yolo(
    boxes: Tensor, anchors: Tensor, *, image_size: tuple[int, int], grid: int | tuple[int, int]
) -> tuple[Tensor, Tensor]:
    """Boxes (K, 4) xyxy pixels and the anchor each one is assigned (K, 2) (w, h) pixels ->
    ``(t, cells)``: t (K, 4) = (t_x, t_y, t_w, t_h) as in the module docstring, cells (K, 2)
    int64 (row, col) of the cell holding each centre.

    The YOLO detector's targets (:func:`cnnkit.detect.yolo_target.assign_targets`). Sizes
    below 1e-6 px count as 1e-6, so a zero-width box still has a finite ``t_w``. The boxes
    are not checked here (the data set checked them once; this runs every training step).
    """
    centres, sizes, cells = _in_cells(boxes, image_size, grid)
    offsets = centres - cells.flip(1).to(centres.dtype)  # (x, y) - (col, row)
    return torch.cat([offsets, torch.log(sizes.clamp(min=_MIN_SIZE) / anchors)], dim=1), cells


def decode_yolo(pred: Tensor, anchors: Tensor, image_size: tuple[int, int]) -> Tensor:
    """The boxes a YOLO output means: ``pred`` (N, rows, cols, B, 4 + ...) raw numbers with
    (p_x, p_y, p_w, p_h) first, ``anchors`` (B, 2) (w, h) pixels -> (N, rows, cols, B, 4)
    xyxy pixels, not clipped to the (H, W) image.

    ``cx = (j + sigmoid(p_x)) * cell_w``, ``w = anchor_w * exp(p_w)`` (likewise y, h), with
    ``p_w, p_h`` capped at 10 so an untrained network's boxes stay finite.
    """
    _, rows, cols, _, _ = pred.shape
    height, width = image_size
    j = torch.arange(cols, device=pred.device, dtype=pred.dtype).view(1, 1, cols, 1)
    i = torch.arange(rows, device=pred.device, dtype=pred.dtype).view(1, rows, 1, 1)
    cx = (j + torch.sigmoid(pred[..., 0])) * (width / cols)  # (N, rows, cols, B)
    cy = (i + torch.sigmoid(pred[..., 1])) * (height / rows)
    size = anchors.to(pred.dtype) * torch.exp(pred[..., 2:4].clamp(max=_MAX_LOG_SIZE))  # (N, rows, cols, B, 2)
    return ops.box_convert(torch.cat([torch.stack([cx, cy], dim=-1), size], dim=-1), "cxcywh", "xyxy")


# --------------------------------------------------------------------------- lecture
def encode_bxbyhw(
    boxes: Tensor, *, image_size: tuple[int, int], grid: int | tuple[int, int] = 1
) -> tuple[Tensor, Tensor]:
    """Boxes (K, 4) xyxy pixels -> the lecture's ``(b_x, b_y, b_h, b_w)`` (K, 4) and the
    cells (K, 2) int64 (row, col) holding the centres.

    b_x, b_y: the centre inside its cell, 0..1 (0 = left/top edge of the cell); b_h, b_w:
    the full height and width in cell heights and widths. With the default ``grid=1``
    these are fractions of the image (the single-object localization target).
    """
    check_boxes(boxes)
    height, width = _size(image_size)
    rows, cols = _grid(grid)
    centres, sizes, cells = _in_cells(boxes, image_size, grid)
    offsets = centres - cells.flip(1).to(centres.dtype)
    values = torch.stack(
        [offsets[:, 0], offsets[:, 1], sizes[:, 1] / (height / rows), sizes[:, 0] / (width / cols)], dim=1
    )
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
    height, width = _size(image_size)
    rows, cols = _grid(grid)
    cell_h, cell_w = height / rows, width / cols
    if cells is None:
        cells = torch.zeros(2, dtype=torch.long)
    cells = cells.to(values.dtype)
    cx = (cells[..., 1] + values[..., 0]) * cell_w
    cy = (cells[..., 0] + values[..., 1]) * cell_h
    cxcywh = torch.stack([cx, cy, values[..., 3] * cell_w, values[..., 2] * cell_h], dim=-1)
    return ops.box_convert(cxcywh, "cxcywh", "xyxy")
