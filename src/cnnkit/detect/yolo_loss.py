"""The YOLO-style loss: objectness, box and class terms over the grid.

With ``p`` the predictions (N, S, S, B, 5 + n), ``t`` the :class:`YoloTargets`, sums over
every slot (image, row, column, anchor) and division by the batch size N:

- ``obj``   = sum over positives of BCE(p_obj, 1)
- ``noobj`` = lambda_noobj * sum over negatives (neither positive nor ignored) of BCE(p_obj, 0)
- ``box``   = lambda_coord * sum over positives of
  (sigmoid(p_tx) - t_x)^2 + (sigmoid(p_ty) - t_y)^2 + (p_tw - t_w)^2 + (p_th - t_h)^2
- ``cls``   = sum over positives of cross-entropy(p_classes, label)

Box loss choice: squared error on the sigmoid offsets and on the log sizes (YOLOv2/v3's
parametrization) rather than GIoU. Each coordinate gets its own gradient from the first step,
the four terms are on comparable scales (offsets in cells, sizes in log units, so a
large box is not weighted more than a small one), and the exact targets make the perfect
prediction a zero loss, which the tests use. BCE is taken with logits for stability.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from cnnkit.detect.yolo_target import YoloTargets

__all__ = ["YoloLossWeights", "yolo_loss"]


@dataclass(frozen=True)
class YoloLossWeights:
    """Weights of the loss parts."""

    lambda_coord: float = 5.0  # box term (YOLOv1's value: few positives, localization matters)
    lambda_noobj: float = 0.5  # negatives' objectness: there are S*S*B of them, most slots
    lambda_obj: float = 1.0  # positives' objectness
    lambda_cls: float = 1.0  # class cross-entropy on positives


def yolo_loss(pred: Tensor, targets: YoloTargets, weights: YoloLossWeights | None = None) -> dict[str, Tensor]:
    """Loss of ``pred`` (N, S, S, B, 5 + n) against ``targets``.

    Returns ``{"loss": total, "box": ..., "obj": ..., "noobj": ..., "cls": ...}``, each a
    scalar tensor, every part already weighted (so the parts add up to ``loss``); the total
    carries the gradient, the parts are for the progress bar.
    """
    w = weights or YoloLossWeights()
    n = max(int(pred.shape[0]), 1)
    pos, neg = targets.positive, targets.negative
    obj_logit = pred[..., 4]  # (N, S, S, B)

    obj = F.binary_cross_entropy_with_logits(obj_logit[pos], torch.ones_like(obj_logit[pos]), reduction="sum")
    noobj = F.binary_cross_entropy_with_logits(obj_logit[neg], torch.zeros_like(obj_logit[neg]), reduction="sum")

    p = pred[pos]  # (P, 5 + n)
    t = targets.box[pos]  # (P, 4)
    xy_err = (torch.sigmoid(p[:, :2]) - t[:, :2]).pow(2).sum()
    wh_err = (p[:, 2:4] - t[:, 2:4]).pow(2).sum()
    cls = F.cross_entropy(p[:, 5:], targets.labels[pos], reduction="sum") if len(p) else p.sum() * 0

    parts = {
        "box": w.lambda_coord * (xy_err + wh_err) / n,
        "obj": w.lambda_obj * obj / n,
        "noobj": w.lambda_noobj * noobj / n,
        "cls": w.lambda_cls * cls / n,
    }
    return {"loss": parts["box"] + parts["obj"] + parts["noobj"] + parts["cls"], **parts}
