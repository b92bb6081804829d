"""Decoding the YOLO-style output into boxes, scores and labels.

For anchor b of the cell in row i, column j, in an H x W image with an S x S grid:

    cx = (j + sigmoid(tx)) * W / S        w = anchor_w * exp(tw)
    cy = (i + sigmoid(ty)) * H / S        h = anchor_h * exp(th)

(:func:`cnnkit.detect.boxes.decode_yolo`, with tw, th capped at 10 for untrained outputs);
score = sigmoid(objectness) * softmax(class logits)[c]. By default c is the most likely class
(one label per anchor, as YOLOv2 does: what a picture should show). With ``multi_label=True``
every class whose score passes the threshold gives its own detection of the same box: that is
how detectors are scored for mAP (YOLOv5's validation, the per-class scoring of RetinaNet and
torchvision's detectors), because a box whose right class is only the second guess still adds
recall for that class, at the low confidence it deserves, instead of being lost. Boxes below
``conf_threshold`` go; the rest go through per-class NMS (``torchvision.ops.batched_nms``),
and the ``max_detections`` best are kept.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.ops import batched_nms, clip_boxes_to_image

from cnnkit.detect.boxes import decode_yolo

__all__ = ["decode"]


def decode(
    pred: Tensor,
    anchors: Tensor,
    image_size: tuple[int, int],
    *,
    conf_threshold: float = 0.25,
    iou_threshold: float = 0.45,
    max_detections: int = 100,
    class_agnostic: bool = False,
    multi_label: bool = False,
) -> list[dict[str, Tensor]]:
    """Detections per image from ``pred`` (N, S, S, B, 5 + n), ``anchors`` (B, 2) w, h pixels.

    ``class_agnostic=True`` runs one NMS over all classes, so one object cannot come out
    twice under two class names (per-class NMS, the default, keeps both). ``multi_label=True``
    scores every class of every anchor (for mAP; see the module docstring).

    Returns N dicts: ``boxes`` (K, 4) float xyxy pixels clipped to the (H, W) image,
    ``scores`` (K,) in 0..1, best first, and ``labels`` (K,) int64; K <= max_detections.
    """
    pred = pred.detach().float()
    n = pred.shape[0]
    boxes = clip_boxes_to_image(decode_yolo(pred, anchors, image_size), image_size).reshape(n, -1, 4)
    obj = torch.sigmoid(pred[..., 4]).reshape(n, -1)  # (N, S*S*B)
    probs = torch.softmax(pred[..., 5:], dim=-1).reshape(n, obj.shape[1], -1)  # (N, S*S*B, n_classes)
    found: list[dict[str, Tensor]] = []
    for k in range(n):
        if multi_label:
            all_scores = obj[k].unsqueeze(1) * probs[k]  # (S*S*B, n_classes)
            slot, c = (all_scores >= conf_threshold).nonzero(as_tuple=True)
            b, s = boxes[k][slot], all_scores[slot, c]
        else:
            prob, label = probs[k].max(dim=-1)
            score = obj[k] * prob
            keep = score >= conf_threshold
            b, s, c = boxes[k][keep], score[keep], label[keep]
        # degenerate boxes (clipped away to nothing) cannot be matched to anything
        sound = (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
        b, s, c = b[sound], s[sound], c[sound]
        groups = torch.zeros_like(c) if class_agnostic else c
        chosen = batched_nms(b, s, groups, iou_threshold)[:max_detections]  # sorted by score, best first
        found.append({"boxes": b[chosen], "scores": s[chosen], "labels": c[chosen]})
    return found
