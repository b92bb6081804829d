"""The YOLO-style detector, re-exported from its parts.

- :mod:`cnnkit.detect.yolo_model`: :class:`YoloDetector` and :func:`build_yolo` (trunk + head);
- :mod:`cnnkit.detect.yolo_target`: :func:`assign_targets` (cell, anchor, ignore rule, collisions);
- :mod:`cnnkit.detect.yolo_loss`: :func:`yolo_loss` and its weights;
- :mod:`cnnkit.detect.yolo_decode`: :func:`decode` (boxes, scores, threshold, per-class NMS);
- :mod:`cnnkit.detect.yolo_fit`: :func:`fit` (a minimal loop) and :func:`evaluate_map`.

Example::

    from cnnkit.detect.yolo import FitConfig, build_yolo, evaluate_map, fit

    det = build_yolo("quicknet", num_classes=2, anchors=[(16, 16), (32, 24)],
                     image_size=(96, 96), in_channels=1)
    fit(det, train_set, FitConfig(epochs=20))
    evaluate_map(det, test_set)["map_50"]
    det.predict(images)  # [{"boxes": (K, 4) xyxy, "scores": (K,), "labels": (K,)}, ...]
"""

from __future__ import annotations

from cnnkit.detect.yolo_decode import decode
from cnnkit.detect.yolo_fit import FitConfig, augment, evaluate_map, fit
from cnnkit.detect.yolo_loss import YoloLossWeights, yolo_loss
from cnnkit.detect.yolo_model import YoloDetector, build_yolo
from cnnkit.detect.yolo_target import YoloTargets, assign_targets, ignore_by_prediction

__all__ = [
    "FitConfig",
    "YoloDetector",
    "YoloLossWeights",
    "YoloTargets",
    "assign_targets",
    "augment",
    "build_yolo",
    "decode",
    "evaluate_map",
    "fit",
    "ignore_by_prediction",
    "yolo_loss",
]
