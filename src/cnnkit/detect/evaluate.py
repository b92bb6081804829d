"""Detection mAP through torchmetrics' MeanAveragePrecision (COCO protocol, C++ backend).

:func:`detection_map` scores a detector's predictions against the ground truth and returns
a plain, JSON-ready dict: mAP@0.5, COCO mAP@[.5:.95], per-class AP, the mean IoU of the
matched boxes, counts, and the precision-recall curves at IoU 0.5 (COCO's interpolated
precision at 101 recall levels) that :func:`pr_curve_figure` draws.

Formats:

- predictions: one entry per image, a dict or an object with ``boxes`` float (P, 4)
  xyxy pixels, ``scores`` float (P,) and ``labels`` int64 (P,);
- targets: one :class:`cnnkit.detect.sample.Targets` per image (boxes (K, 4) xyxy pixels,
  labels (K,)); dicts with ``boxes`` and ``labels`` work too.

COCO conventions apply: a class with no ground-truth box in any image has no AP (None)
and does not enter the mean; images with no boxes and no predictions are fine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from cnnkit.detect.boxes import check_boxes, iou
from cnnkit.errors import CnnkitError, ShapeError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["RECALL_LEVELS", "detection_map", "pr_curve_figure"]

RECALL_LEVELS = [i / 100 for i in range(101)]  # COCO's 101 recall thresholds


def detection_map(
    predictions: Sequence[Any],
    targets: Sequence[Any],
    classes: Sequence[str],
    *,
    max_detections: int = 100,
    match_iou: float = 0.5,
) -> dict[str, Any]:
    """mAP of ``predictions`` against ``targets`` (one entry per image each) over ``classes``.

    Returns a dict with
    ``map_50`` (mAP at IoU 0.5), ``map`` (COCO mAP averaged over IoU 0.50:0.05:0.95),
    ``map_75``, ``mar_100`` (COCO mean recall with up to ``max_detections`` per image),
    ``per_class`` ({name: {ap_50, ap, targets, predictions}}), ``mean_iou`` (mean IoU of
    the predictions matched at IoU >= ``match_iou``, COCO greedy matching by score),
    ``matched``, ``images``, ``targets``, ``predictions``, and ``pr_curve`` ({recall: 101
    levels, precision: {name: 101 values}} at IoU 0.5, classes with ground truth only).
    Undefined figures (no ground truth at all) are None.
    """
    from torchmetrics.detection import MeanAveragePrecision

    if len(predictions) != len(targets):
        raise CnnkitError(
            f"{len(predictions)} prediction entries but {len(targets)} images of targets; give one per image"
        )
    if len(targets) == 0:
        raise CnnkitError("no images to evaluate; give at least one image's predictions and targets")
    if isinstance(classes, str) or len(classes) == 0:
        raise CnnkitError(f"classes must be a non-empty list of class names, got {classes!r}")
    if max_detections < 1:
        raise CnnkitError(f"max_detections must be at least 1, got {max_detections}")
    preds = [_prediction(p, i, len(classes)) for i, p in enumerate(predictions)]
    truth = [_target(t, i, len(classes)) for i, t in enumerate(targets)]

    metric = MeanAveragePrecision(
        box_format="xyxy", iou_type="bbox", backend="faster_coco_eval", extended_summary=True,
        max_detection_thresholds=[1, 10, max_detections],
    )
    metric.update(preds, truth)
    raw = metric.compute()

    # precision: (T iou thresholds, 101 recall levels, K classes present, 4 areas, 3 max-dets);
    # area 0 is "all", the last max-det is max_detections. -1 marks "no ground truth".
    precision = raw["precision"][:, :, :, 0, -1].double()
    present = [int(c) for c in torch.atleast_1d(raw["classes"]).tolist()]
    per_class: dict[str, dict[str, Any]] = {}
    curves: dict[str, list[float]] = {}
    n_targets = torch.bincount(torch.cat([t["labels"] for t in truth]), minlength=len(classes))
    n_preds = torch.bincount(torch.cat([p["labels"] for p in preds]), minlength=len(classes))
    for index, name in enumerate(classes):
        ap_50 = ap = None
        if index in present:
            k = present.index(index)
            ap_50, ap = _mean_defined(precision[0, :, k]), _mean_defined(precision[:, :, k])
            if ap_50 is not None:
                curves[name] = precision[0, :, k].tolist()
        per_class[name] = {
            "ap_50": ap_50, "ap": ap, "targets": int(n_targets[index]), "predictions": int(n_preds[index]),
        }

    ious = _matched_ious(preds, truth, match_iou, max_detections)
    return {
        "map_50": _defined(raw["map_50"]),
        "map": _defined(raw["map"]),
        "map_75": _defined(raw["map_75"]),
        "mar_100": _defined(raw["mar_100"]),
        "per_class": per_class,
        "mean_iou": float(torch.tensor(ious).mean()) if ious else None,
        "matched": len(ious),
        "images": len(truth),
        "targets": int(n_targets.sum()),
        "predictions": int(n_preds.sum()),
        "pr_curve": {"iou": 0.5, "recall": RECALL_LEVELS, "precision": curves},
    }


def pr_curve_figure(result: dict[str, Any], *, title: str = "Precision-recall at IoU 0.5") -> Figure:
    """Draw ``detection_map(...)["pr_curve"]``: one line per class with its AP@0.5 in the
    legend. Returns a matplotlib Figure (no pyplot); save it with cnnkit.atomic.save_figure."""
    from matplotlib.figure import Figure

    curve = result.get("pr_curve") if isinstance(result, Mapping) else None
    if not curve or "precision" not in curve:
        raise CnnkitError("pr_curve_figure needs the dict that detection_map returns")
    figure = Figure(figsize=(5.5, 4.5), layout="constrained")
    axes = figure.add_subplot()
    for name, values in curve["precision"].items():
        ap = result["per_class"][name]["ap_50"]
        # COCO stores 0 past the highest recall reached: end the line there instead of
        # drawing a drop to zero, and mark the end.
        end = max((i for i, v in enumerate(values) if v > 0), default=-1) + 1
        (line,) = axes.step(curve["recall"][:end], values[:end], where="post", label=f"{name} (AP {ap:.3f})")
        if end:
            axes.plot(curve["recall"][end - 1], values[end - 1], "o", color=line.get_color(), markersize=4)
    if not curve["precision"]:
        axes.text(0.5, 0.5, "no ground-truth boxes", ha="center", va="center", transform=axes.transAxes)
    axes.set(xlim=(0, 1.02), ylim=(0, 1.02), xlabel="recall", ylabel="precision (interpolated)")
    map_50 = result.get("map_50")
    axes.set_title(title if map_50 is None else f"{title}: mAP {map_50:.3f}")
    axes.grid(alpha=0.3)
    if curve["precision"]:
        axes.legend(loc="lower left", fontsize="small", ncol=2 if len(curve["precision"]) > 6 else 1)
    return figure


# --------------------------------------------------------------------------- helpers
def _field(entry: Any, key: str, where: str) -> Any:
    if isinstance(entry, Mapping):
        if key in entry:
            return entry[key]
    elif hasattr(entry, key):
        return getattr(entry, key)
    raise CnnkitError(f"{where} has no {key!r}; give a dict or object with boxes, scores and labels")


def _labels(labels: Any, count: int, num_classes: int, where: str) -> Tensor:
    labels = torch.as_tensor(labels).detach().cpu()
    if labels.dim() != 1 or labels.shape[0] != count or labels.is_floating_point():
        raise ShapeError(
            f"{where} labels must be int64 ({count},), one per box, got {labels.dtype} {tuple(labels.shape)}"
        )
    labels = labels.long()
    if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
        worst = int(labels.max()) if labels.max() >= num_classes else int(labels.min())
        raise CnnkitError(
            f"{where} has label {worst} but only {num_classes} classes (0..{num_classes - 1}); check the class list"
        )
    return labels


def _prediction(entry: Any, i: int, num_classes: int) -> dict[str, Tensor]:
    where = f"predictions[{i}]"
    boxes = check_boxes(torch.as_tensor(_field(entry, "boxes", where)).detach().cpu().float(), name=f"{where} boxes")
    scores = torch.as_tensor(_field(entry, "scores", where)).detach().cpu().float()
    if scores.dim() != 1 or scores.shape[0] != len(boxes):
        raise ShapeError(f"{where} scores must have shape ({len(boxes)},), one per box, got {tuple(scores.shape)}")
    labels = _labels(_field(entry, "labels", where), len(boxes), num_classes, where)
    return {"boxes": boxes, "scores": scores, "labels": labels}


def _target(entry: Any, i: int, num_classes: int) -> dict[str, Tensor]:
    where = f"targets[{i}]"
    boxes = check_boxes(torch.as_tensor(_field(entry, "boxes", where)).detach().cpu().float(), name=f"{where} boxes")
    return {"boxes": boxes, "labels": _labels(_field(entry, "labels", where), len(boxes), num_classes, where)}


def _defined(value: Tensor) -> float | None:
    """torchmetrics reports -1 where a figure is undefined."""
    value = float(value)
    return None if value < 0 else value


def _mean_defined(values: Tensor) -> float | None:
    """Mean of COCO precision entries, skipping the -1 (undefined) ones, as COCOeval does."""
    defined = values[values > -1]
    return float(defined.mean()) if defined.numel() else None


def _matched_ious(
    preds: list[dict[str, Tensor]], truth: list[dict[str, Tensor]], threshold: float, max_det: int
) -> list[float]:
    """IoUs of the COCO-style matches: per image and class, predictions by decreasing score
    (at most max_det) each take the unmatched ground-truth box of highest IoU >= threshold."""
    matched: list[float] = []
    for pred, gt in zip(preds, truth):
        for label in torch.unique(pred["labels"]).tolist():
            mine = pred["labels"] == label
            gt_boxes = gt["boxes"][gt["labels"] == label]
            if not len(gt_boxes):
                continue
            order = pred["scores"][mine].argsort(descending=True, stable=True)[:max_det]
            overlaps = iou(pred["boxes"][mine][order], gt_boxes)  # (P, G)
            free = torch.ones(len(gt_boxes), dtype=torch.bool)
            for row in overlaps:
                row = torch.where(free, row.nan_to_num(0.0), torch.full_like(row, -1.0))
                best = int(row.argmax())
                if row[best] >= threshold:
                    free[best] = False
                    matched.append(float(row[best]))
    return matched
