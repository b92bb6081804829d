"""Anchor boxes by k-means on the training boxes' shapes, with distance 1 - IoU (YOLOv2).

Only shape matters for an anchor, so every box is reduced to its (w, h) and boxes are
compared as if they shared one centre. With that IoU as the similarity, a large box and a
small box of the same aspect ratio are far apart, which Euclidean k-means on (w, h) would
not respect. The fit reports the "avg IoU" figure of the YOLOv2 paper: the mean, over the
training boxes, of the IoU with their best anchor.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torchvision import ops

from cnnkit.detect.sample import DetectionSet
from cnnkit.errors import CnnkitError, DataError, ShapeError

__all__ = ["AnchorFit", "avg_iou", "box_shapes", "kmeans_anchors", "shape_iou"]


@dataclass
class AnchorFit:
    """k anchors and how well they cover the boxes they were fitted to.

    anchors: float32 (k, 2) as (w, h) pixels, sorted by area, smallest first;
    avg_iou: mean over the boxes of the IoU with their best anchor (centres aligned);
    assignment: int64 (N,) index of each used box's best anchor;
    iterations: Lloyd steps until the assignment stopped changing;
    ignored: zero-area boxes left out of the fit.
    """

    anchors: Tensor
    avg_iou: float
    assignment: Tensor
    iterations: int
    ignored: int = 0


def shape_iou(a: Tensor, b: Tensor) -> Tensor:
    """IoU of box shapes a (N, 2) and b (M, 2), each (w, h), with their centres aligned:
    (N, M). Computed by torchvision.ops.box_iou on boxes centred at the origin."""
    return ops.box_iou(_centred(a), _centred(b))


def avg_iou(wh: Tensor, anchors: Tensor) -> float:
    """Mean over boxes (N, 2) (w, h) of the best centred IoU with anchors (k, 2)."""
    if len(wh) == 0:
        raise DataError("no boxes to measure the anchors against")
    return float(shape_iou(wh, anchors).max(dim=1).values.mean())


def box_shapes(boxes: Tensor | DetectionSet) -> Tensor:
    """(w, h) of every box: boxes (N, 4) xyxy pixels, or every box of a DetectionSet -> (N, 2)."""
    if isinstance(boxes, DetectionSet):
        boxes = boxes.all_boxes()
    if not isinstance(boxes, Tensor) or boxes.dim() != 2 or boxes.shape[1] != 4:
        shape = tuple(boxes.shape) if isinstance(boxes, Tensor) else type(boxes).__name__
        raise ShapeError(f"boxes must be (N, 4) as (x1, y1, x2, y2) pixels or a DetectionSet, got {shape}")
    return (boxes[:, 2:] - boxes[:, :2]).float()


def kmeans_anchors(
    boxes: Tensor | DetectionSet, k: int, *, seed: int = 0, max_iter: int = 300
) -> AnchorFit:
    """Choose ``k`` anchor shapes from boxes (N, 4) xyxy pixels (or a DetectionSet's boxes).

    k-means with distance 1 - IoU (centres aligned): k-means++ start from a
    ``torch.Generator`` seeded with ``seed`` (the same seed gives the same anchors), then
    Lloyd steps (assign each box to its best anchor, move each anchor to the mean (w, h)
    of its boxes) until the assignment stops changing or ``max_iter`` steps.
    Zero-area boxes are left out (their IoU with anything is 0); the count is in
    ``AnchorFit.ignored``.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise CnnkitError(f"k (the number of anchors) must be a positive integer, got {k!r}")
    if max_iter < 1:
        raise CnnkitError(f"max_iter must be at least 1, got {max_iter}")
    wh = box_shapes(boxes)
    if not torch.isfinite(wh).all() or (wh < 0).any():
        raise DataError("boxes have x2 < x1, y2 < y1 or non-finite coordinates; fix them before fitting anchors")
    usable = (wh > 0).all(dim=1)
    ignored = int((~usable).sum())
    wh = wh[usable]
    if len(wh) == 0:
        raise DataError("no boxes with positive width and height to fit anchors to; check the training targets")
    if k > len(wh):
        raise CnnkitError(f"k = {k} anchors but only {len(wh)} boxes; choose k <= {len(wh)}")
    distinct = len(torch.unique(wh, dim=0))
    if k > distinct:
        raise CnnkitError(
            f"k = {k} anchors but the boxes have only {distinct} distinct shapes; choose k <= {distinct}"
        )

    generator = torch.Generator().manual_seed(seed)
    centres = _kmeanspp(wh, k, generator)
    assignment = torch.full((len(wh),), -1, dtype=torch.long)
    steps = 0
    for steps in range(1, max_iter + 1):
        sim = shape_iou(wh, centres)  # (N, k)
        new = sim.argmax(dim=1)
        if torch.equal(new, assignment):
            break
        assignment = new
        centres = _update(wh, centres, assignment, sim)

    order = (centres[:, 0] * centres[:, 1]).argsort()
    centres = centres[order]
    assignment = shape_iou(wh, centres).argmax(dim=1)
    return AnchorFit(centres, avg_iou(wh, centres), assignment, steps, ignored)


def _centred(wh: Tensor) -> Tensor:
    """(N, 2) shapes -> (N, 4) xyxy boxes centred at the origin."""
    return ops.box_convert(torch.cat([torch.zeros_like(wh), wh], dim=1), "cxcywh", "xyxy")


def _kmeanspp(wh: Tensor, k: int, generator: torch.Generator) -> Tensor:
    """k-means++: the first centre uniformly, each next one with probability proportional
    to the squared distance (1 - IoU) to the nearest chosen centre."""
    first = int(torch.randint(len(wh), (1,), generator=generator))
    centres = [wh[first]]
    nearest = 1 - shape_iou(wh, wh[first : first + 1])[:, 0]  # (N,)
    for _ in range(1, k):
        weights = nearest.clamp(min=0) ** 2
        if weights.sum() <= 0:  # shapes so close that float IoU rounds to 1: pick any
            weights = torch.ones_like(weights)
        # Shapes already chosen have distance 0; the distinct-shape check above keeps the
        # total positive while fewer than k shapes are chosen.
        pick = int(torch.multinomial(weights, 1, generator=generator))
        centres.append(wh[pick])
        nearest = torch.minimum(nearest, 1 - shape_iou(wh, wh[pick : pick + 1])[:, 0])
    return torch.stack(centres)


def _update(wh: Tensor, centres: Tensor, assignment: Tensor, sim: Tensor) -> Tensor:
    """Move each centre to the mean shape of its boxes; an anchor left with no boxes
    moves to the box that fits its current anchor worst."""
    new = centres.clone()
    best = sim.max(dim=1).values  # (N,)
    taken: set[int] = set()
    for j in range(len(centres)):
        members = assignment == j
        if members.any():
            new[j] = wh[members].mean(dim=0)
            continue
        for i in best.argsort().tolist():
            if i not in taken:
                taken.add(i)
                new[j] = wh[i]
                break
    return new
