"""A minimal training loop for the YOLO-style detector, and its mAP.

The whole :class:`DetectionSet` stays in memory as uint8; each step slices a batch, moves it
to the device, augments images and boxes together (horizontal flip, integer translation),
assigns targets and takes one optimizer step (AdamW, one-cycle learning rate). The run
directory machinery (weights, metrics, plots) is the CLI's business, not this loop's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.optim.swa_utils import AveragedModel

from cnnkit.detect.boxes import decode_yolo
from cnnkit.detect.sample import DetectionSet, Targets
from cnnkit.detect.yolo_loss import YoloLossWeights, yolo_loss
from cnnkit.detect.yolo_model import YoloDetector
from cnnkit.detect.yolo_target import assign_targets, ignore_by_prediction
from cnnkit.errors import DataError

__all__ = ["FitConfig", "augment", "evaluate_map", "fit", "weight_ema"]

_MIN_KEPT = 0.4  # a shifted box keeps its label if at least this fraction of its area stays in view


@dataclass(frozen=True)
class FitConfig:
    """Training settings (units in the comments)."""

    epochs: int = 10
    batch_size: int = 32
    lr: float = 3e-3  # peak learning rate of the one-cycle schedule
    weight_decay: float = 5e-4
    flip: bool = True  # mirror a random half of each batch (boxes mirrored too)
    shift: int = 4  # pixels: translate each image by a random integer in [-shift, shift] per axis
    ignore_threshold: float = 0.5  # IoU; see cnnkit.detect.yolo_target
    ignore_rule: Literal["predictions", "anchors"] = "predictions"  # which form of the ignore rule
    loss: YoloLossWeights = field(default_factory=YoloLossWeights)
    seed: int = 0
    grad_clip: float = 10.0
    # the weights' exponential moving average: its horizon 1 / (1 - decay) as a fraction of all
    # the run's steps (0: off); a fraction, not a decay, so short and long runs average alike
    ema_horizon: float = 0.0


def weight_ema(model: torch.nn.Module, decay: float, *, ramp_steps: float) -> AveragedModel:
    """An exponential moving average of ``model``'s parameters and float buffers (BN statistics).

    After step t the average moves toward the current weights by 1 - d_t, with
    d_t = decay * (1 - exp(-t / ramp_steps)): the average follows the fast-changing early
    weights closely and settles to ``decay`` later (YOLOv5's ramp). Integer buffers (BN's
    batch counters) are copied. ``averaged.update_parameters(model)`` after each step;
    ``averaged.module`` is the averaged network.
    """
    def update(averaged: list[Tensor], current: list[Tensor], count: Tensor) -> None:
        d = decay * (1.0 - math.exp(-float(count) / ramp_steps))
        for avg, now in zip(averaged, current):
            if avg.is_floating_point():
                avg.lerp_(now, 1.0 - d)
            else:
                avg.copy_(now)

    return AveragedModel(model, multi_avg_fn=update, use_buffers=True)


def augment(images: Tensor, targets: list[Targets], *, flip: bool, shift: int,
            generator: torch.Generator) -> tuple[Tensor, list[Targets]]:
    """Flip and translate uint8/float images (N, C, H, W) and their boxes alike.

    Pixels shifted in from outside are 0 (black). Boxes are shifted, clipped to the image,
    and dropped when less than 40% of their area is left in view.
    """
    n, _, height, width = images.shape
    out, moved = images, list(targets)
    if flip:
        mirror = torch.rand(n, generator=generator) < 0.5
        if bool(mirror.any()):
            out = out.clone()
            out[mirror.to(out.device)] = out[mirror.to(out.device)].flip(-1)
            for k in mirror.nonzero().flatten().tolist():
                b = moved[k].boxes
                boxes = torch.stack([width - b[:, 2], b[:, 1], width - b[:, 0], b[:, 3]], dim=1)
                moved[k] = Targets(boxes, moved[k].labels, None)
    if shift > 0:
        d = torch.randint(-shift, shift + 1, (n, 2), generator=generator).tolist()  # (dx, dy) per image
        padded = F.pad(out, (shift, shift, shift, shift))
        out = torch.stack([padded[k, :, shift - dy : shift - dy + height, shift - dx : shift - dx + width]
                           for k, (dx, dy) in enumerate(d)])
        for k, (dx, dy) in enumerate(d):
            b = moved[k].boxes
            if not len(b):
                continue
            area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
            b = b + torch.tensor([dx, dy, dx, dy], dtype=b.dtype, device=b.device)
            b = torch.stack([b[:, 0].clamp(0, width), b[:, 1].clamp(0, height),
                             b[:, 2].clamp(0, width), b[:, 3].clamp(0, height)], dim=1)
            seen = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
            keep = seen >= _MIN_KEPT * area
            moved[k] = Targets(b[keep], moved[k].labels[keep], None)
    return out, moved


def fit(
    detector: YoloDetector,
    data: DetectionSet,
    config: FitConfig | None = None,
    *,
    val: DetectionSet | None = None,
    device: torch.device | str = "cpu",
    log: Callable[[dict[str, float]], None] | None = None,
) -> list[dict[str, float]]:
    """Train ``detector`` on ``data`` in place; returns one record per epoch.

    Records hold the mean loss parts (``loss``, ``box``, ``obj``, ``noobj``, ``cls``), ``seconds``,
    ``epoch`` and, with ``val``, ``map50`` on it. ``log`` is called with each record. With
    ``config.ema_horizon`` the validation scores the averaged weights, and they are what ``detector``
    holds at the end.
    Before training, the detector's ``mean``/``std`` are set from the training images.
    """
    cfg = config or FitConfig()
    if len(data) == 0:
        raise DataError("the detection training set is empty; give it at least one image")
    if data.images.shape[1] != detector.mean.numel():
        raise DataError(
            f"the images have {data.images.shape[1]} channels but the detector was built for "
            f"{detector.mean.numel()}; build it with in_channels={data.images.shape[1]}"
        )
    if not 0.0 <= cfg.ema_horizon <= 1.0:
        raise DataError(f"ema_horizon must be between 0 (off) and 1 (the whole run), got {cfg.ema_horizon}")
    if cfg.ignore_rule not in ("predictions", "anchors"):
        raise DataError(f"ignore_rule must be 'predictions' or 'anchors', got {cfg.ignore_rule!r}")
    device = torch.device(device)
    detector.to(device)
    gen = torch.Generator().manual_seed(cfg.seed)
    with torch.no_grad():
        pixels = data.images.float().div(255).transpose(0, 1).reshape(data.images.shape[1], -1)
        detector.mean.copy_(pixels.mean(dim=1))
        detector.std.copy_(pixels.std(dim=1).clamp(min=1e-3))
    steps_per_epoch = -(-len(data) // cfg.batch_size)
    total_steps = cfg.epochs * steps_per_epoch
    opt = torch.optim.AdamW(detector.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=total_steps,
                                                pct_start=0.15)
    # made after mean/std are set, so the average starts from the same normalization
    averaged = None
    if cfg.ema_horizon:
        horizon = max(1.0, cfg.ema_horizon * total_steps)  # steps
        averaged = weight_ema(detector, 1.0 - 1.0 / horizon, ramp_steps=horizon)
    history: list[dict[str, float]] = []
    for epoch in range(1, cfg.epochs + 1):
        detector.train()
        start = time.perf_counter()
        sums: dict[str, float] = {}
        order = torch.randperm(len(data), generator=gen)
        for step in range(steps_per_epoch):
            rows = order[step * cfg.batch_size : (step + 1) * cfg.batch_size]
            images = data.images[rows].to(device)
            targets = [data.targets[int(r)].to(device) for r in rows]
            images, targets = augment(images, targets, flip=cfg.flip, shift=cfg.shift, generator=gen)
            by_anchor = cfg.ignore_rule == "anchors"
            assigned = assign_targets(targets, detector.anchors, grid=detector.grid, image_size=data.image_size,
                                      ignore_threshold=cfg.ignore_threshold if by_anchor else None)
            pred = detector(detector.normalize(images))
            if not by_anchor:
                boxes = decode_yolo(pred.detach(), detector.anchors, data.image_size)
                assigned.ignore |= ignore_by_prediction(boxes, targets, cfg.ignore_threshold) & ~assigned.positive
            parts = yolo_loss(pred, assigned, cfg.loss)
            opt.zero_grad(set_to_none=True)
            parts["loss"].backward()
            torch.nn.utils.clip_grad_norm_(detector.parameters(), cfg.grad_clip)
            opt.step()
            sched.step()
            if averaged is not None:
                averaged.update_parameters(detector)
            for key, value in parts.items():
                sums[key] = sums.get(key, 0.0) + float(value.detach())
        record = {"epoch": float(epoch), **{k: v / steps_per_epoch for k, v in sums.items()},
                  "seconds": time.perf_counter() - start}
        if val is not None:
            record["map50"] = evaluate_map(detector if averaged is None else averaged.module, val)["map_50"]
        history.append(record)
        if log is not None:
            log(record)
    if averaged is not None:
        detector.load_state_dict(averaged.module.state_dict())
    detector.eval()
    return history


def evaluate_map(detector: YoloDetector, data: DetectionSet, *, conf_threshold: float = 0.01,
                 iou_threshold: float = 0.45, max_detections: int = 100) -> dict[str, float]:
    """mAP of ``detector`` on ``data`` (:func:`cnnkit.detect.evaluate.detection_map`: torchmetrics
    with the faster_coco_eval backend).

    Returns ``map`` (COCO mAP@[.5:.95]), ``map_50`` and ``map_75`` (NaN when ``data`` holds no
    object). A low confidence threshold keeps the whole precision-recall curve, and every class
    above it is scored (``multi_label``), as COCO-style evaluation does.
    """
    from cnnkit.detect.evaluate import detection_map

    found = detector.predict(data.images, conf_threshold=conf_threshold, iou_threshold=iou_threshold,
                             max_detections=max_detections, multi_label=True)
    result = detection_map(found, data.targets, data.classes, max_detections=max_detections)
    return {key: float("nan") if result[key] is None else float(result[key]) for key in ("map", "map_50", "map_75")}
