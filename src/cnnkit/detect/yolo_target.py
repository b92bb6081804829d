"""Target assignment for the YOLO-style detector: which cell and anchor answers for each object.

For a ground-truth box with centre (cx, cy) and size (w, h), in an H x W image cut into an
S x S grid (cells of ``H/S`` by ``W/S`` pixels):

- its cell is the one holding the centre: row ``i = floor(cy / (H/S))``, column
  ``j = floor(cx / (W/S))`` (a centre on the far edge goes to the last cell);
- its anchor is the one whose shape overlaps it best: IoU of the box and each anchor with
  both placed at the same centre (:func:`cnnkit.detect.anchors.shape_iou`);
- targets there: ``tx = cx / (W/S) - j`` and ``ty = cy / (H/S) - i`` (0..1 inside the cell),
  ``tw = log(w / anchor_w)``, ``th = log(h / anchor_h)`` (:func:`cnnkit.detect.boxes.encode_yolo`),
  objectness 1, the class;
- ignore rule (after YOLOv2/v3), two forms. Anchor form (:func:`assign_targets`): the other
  anchors of that cell whose centred IoU with the box exceeds ``ignore_threshold`` are
  neither positive nor negative, so the objectness loss does not push down an anchor that
  fits the object almost as well; a function of the labels alone. Prediction form
  (:func:`ignore_by_prediction`, YOLOv3's own): any slot whose *predicted* box overlaps a
  ground-truth box by more than the threshold. The anchor form leaves an ignored slot free
  to predict anything, with any class, which per-class NMS then keeps as a false positive;
  the prediction form only spares slots whose box is already on an object, so ``fit`` uses
  it by default.
- collisions: when two boxes fall on the same cell and pick the same anchor, the one with
  the larger area keeps the slot (ties: the first in the image's list); the other is dropped
  for that step and counted in ``YoloTargets.dropped``. Small objects are the ones YOLO
  misses anyway, and a large object dropped would leave big, obvious false negatives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torchvision.ops import box_convert, box_iou

from cnnkit.detect.anchors import shape_iou
from cnnkit.detect.boxes import encode_yolo
from cnnkit.detect.sample import Targets

__all__ = ["YoloTargets", "assign_targets", "ignore_by_prediction"]


@dataclass
class YoloTargets:
    """Targets on the grid for a batch of N images, S x S cells, B anchors.

    ``box`` (N, S, S, B, 4): tx, ty (0..1 offset in the cell), tw, th (log size / anchor),
    meaningful where ``positive``; ``positive`` (N, S, S, B) bool; ``ignore`` (N, S, S, B)
    bool, never set where ``positive``; ``labels`` (N, S, S, B) int64, -1 where not positive;
    ``dropped``: how many boxes lost a collision.
    """

    box: Tensor
    positive: Tensor
    ignore: Tensor
    labels: Tensor
    dropped: int = 0

    @property
    def negative(self) -> Tensor:
        """(N, S, S, B) bool: slots whose objectness target is 0."""
        return ~(self.positive | self.ignore)


def assign_targets(
    targets: Sequence[Targets],
    anchors: Tensor,
    *,
    grid: int,
    image_size: tuple[int, int],
    ignore_threshold: float | None = 0.5,
) -> YoloTargets:
    """Place every ground-truth box of ``targets`` (one per image, xyxy pixels) on the S x S grid.

    ``anchors`` (B, 2) w, h pixels; ``image_size`` (H, W). Returns :class:`YoloTargets` on
    the anchors' device. ``ignore_threshold=None`` turns the anchor form of the ignore rule off.
    """
    device = anchors.device
    anchors = anchors.float()
    n, s, b = len(targets), int(grid), int(anchors.shape[0])
    box = torch.zeros(n, s, s, b, 4, device=device)
    positive = torch.zeros(n, s, s, b, dtype=torch.bool, device=device)
    ignore = torch.zeros(n, s, s, b, dtype=torch.bool, device=device)
    labels = torch.full((n, s, s, b), -1, dtype=torch.long, device=device)
    counts = [len(t) for t in targets]
    if sum(counts) == 0:
        return YoloTargets(box, positive, ignore, labels, 0)

    gt = torch.cat([t.boxes.reshape(-1, 4) for t in targets]).to(device).float()  # (K, 4) xyxy
    cls = torch.cat([t.labels.reshape(-1) for t in targets]).to(device).long()  # (K,)
    image = torch.repeat_interleave(torch.arange(n, device=device), torch.tensor(counts, device=device))
    wh = box_convert(gt, "xyxy", "cxcywh")[:, 2:].clamp(min=1e-6)  # (K, 2)
    ious = shape_iou(wh, anchors)  # (K, B)
    best = ious.argmax(dim=1)  # (K,)
    encoded, cells = encode_yolo(gt, anchors[best], image_size=image_size, grid=s)  # (K, 4), (K, 2)
    row, col = cells.unbind(1)

    # Collisions: order by slot, larger area first inside a slot; keep each slot's first box.
    slot = ((image * s + row) * s + col) * b + best
    area = wh[:, 0] * wh[:, 1]
    order = torch.argsort(-area, stable=True)
    order = order[torch.argsort(slot[order], stable=True)]
    first = torch.ones_like(order, dtype=torch.bool)
    first[1:] = slot[order][1:] != slot[order][:-1]
    keep = order[first]

    # Ignore: near-best anchors in the cell of every box (dropped boxes included: they are real objects).
    near = ious > (2.0 if ignore_threshold is None else ignore_threshold)  # (K, B); IoU <= 1 < 2
    near[torch.arange(len(best), device=device), best] = False
    k_idx, a_idx = near.nonzero(as_tuple=True)
    ignore[image[k_idx], row[k_idx], col[k_idx], a_idx] = True

    k = keep
    where = (image[k], row[k], col[k], best[k])
    positive[where] = True
    labels[where] = cls[k]
    box[where] = encoded[k]
    ignore &= ~positive
    return YoloTargets(box, positive, ignore, labels, int(len(order) - len(keep)))


def ignore_by_prediction(pred_boxes: Tensor, targets: Sequence[Targets], threshold: float = 0.5) -> Tensor:
    """(N, S, S, B) bool: slots whose predicted box, (N, S, S, B, 4) xyxy pixels, has IoU above
    ``threshold`` with some ground-truth box of its image (YOLOv3's ignore rule)."""
    flat = pred_boxes.detach().reshape(pred_boxes.shape[0], -1, 4)
    mask = torch.zeros(flat.shape[:2], dtype=torch.bool, device=flat.device)
    for k, t in enumerate(targets):
        if len(t):
            mask[k] = box_iou(flat[k], t.boxes.to(flat.device).float()).amax(dim=1) > threshold
    return mask.view(pred_boxes.shape[:-1])
