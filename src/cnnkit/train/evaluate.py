"""Evaluate a classifier on a split: accuracy, loss, per-class accuracy, confusion.

    result = evaluate(model, splits.test, splits.info, batch_size=1024, device="cpu")
    result.accuracy            # fraction correct, 0..1
    result.confusion           # int64 (C, C): rows = true class, columns = predicted
    result.per_class_accuracy  # [C] fraction of each true class predicted right (nan if absent)

The split holds stored values (uint8 images or float signals), in memory or, for a
:class:`~cnnkit.data.filesplit.FileSplit`, streamed from disk; each batch is moved to the
device and normalized with ``info.normalize`` there. With ``tta_flip`` the logits of
each image and of its mirror image are averaged (images only).

Under DDP pass ``shard=(rank, world)``: each process evaluates every world-th sample and
the sums (loss, confusion) are all-reduced, so every process returns the full-set figures;
``predictions`` then hold only this process's samples.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnkit.data.filesplit import FileSplit
from cnnkit.data.loader import eval_batches
from cnnkit.data.tensordata import DatasetInfo, TensorSplit
from cnnkit.errors import CnnkitError

__all__ = ["EvalResult", "evaluate"]


@dataclass
class EvalResult:
    """Figures for one split. ``loss`` is the mean plain cross-entropy (no smoothing)."""

    accuracy: float
    loss: float
    per_class_accuracy: list[float]
    confusion: Tensor  # int64 (C, C), rows = true class
    predictions: Tensor  # int64 (N,), predicted class per sample (this process's shard)
    num_samples: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (no predictions; nan per-class entries become None)."""
        return {
            "accuracy": self.accuracy,
            "loss": self.loss,
            "per_class_accuracy": [None if math.isnan(a) else a for a in self.per_class_accuracy],
            "confusion": self.confusion.tolist(),
            "num_samples": self.num_samples,
            "seconds": self.seconds,
        }


@torch.no_grad()
def evaluate(
    model: nn.Module,
    split: TensorSplit | FileSplit,
    info: DatasetInfo,
    *,
    batch_size: int = 1024,
    device: torch.device | str | None = None,
    tta_flip: bool = False,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    shard: tuple[int, int] = (0, 1),
) -> EvalResult:
    """Run ``model`` over ``split`` in eval mode; restores the model's train/eval mode after.

    Args:
        model: maps (N, *info.input_shape) floats to (N, C) logits.
        split: stored samples ``x`` (N, ...) and labels ``y`` int64 (N,).
        info: classes and normalization of the data.
        batch_size: samples per forward pass.
        device: where to run (default: where the model's parameters are).
        tta_flip: also run the horizontally mirrored images and average the logits.
        amp_dtype: run the forward pass under autocast in this dtype (e.g. torch.bfloat16).
        channels_last: feed 4-D batches in NHWC memory layout.
        shard: (rank, world) under DDP; sums are all-reduced across processes.
    """
    if tta_flip and info.kind != "image":
        raise CnnkitError(f"flip test-time augmentation needs images, but {info.name} holds {info.kind}s; drop --tta")
    if device is None:
        first = next(model.parameters(), None)
        device = first.device if first is not None else torch.device("cpu")
    device = torch.device(device)
    rank, world = shard
    num_classes = info.num_classes
    was_training = model.training
    model.eval()
    start = time.perf_counter()

    confusion = torch.zeros(num_classes * num_classes, dtype=torch.int64, device=device)
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    predictions = []
    for x_part, y_part in eval_batches(split, batch_size=batch_size, shard=shard):
        xb = info.normalize(x_part.to(device, non_blocking=True))
        yb = y_part.to(device, non_blocking=True)
        logits = _forward(model, xb, device, amp_dtype, channels_last)
        if tta_flip:
            logits = (logits + _forward(model, xb.flip(-1), device, amp_dtype, channels_last)) / 2
        loss_sum += F.cross_entropy(logits, yb, reduction="sum").double()
        pred = logits.argmax(dim=1)
        confusion += torch.bincount(yb * num_classes + pred, minlength=num_classes * num_classes)
        predictions.append(pred)
    model.train(was_training)

    if world > 1:
        from cnnkit.train import distributed

        distributed.all_reduce_sum(confusion)
        distributed.all_reduce_sum(loss_sum)
    confusion = confusion.view(num_classes, num_classes).cpu()
    total = int(confusion.sum())
    correct = int(confusion.diag().sum())
    per_class = [
        float(confusion[c, c]) / float(row) if (row := int(confusion[c].sum())) else float("nan")
        for c in range(num_classes)
    ]
    return EvalResult(
        accuracy=correct / total if total else float("nan"),
        loss=float(loss_sum) / total if total else float("nan"),
        per_class_accuracy=per_class,
        confusion=confusion,
        predictions=torch.cat(predictions).cpu() if predictions else torch.zeros(0, dtype=torch.int64),
        num_samples=total,
        seconds=time.perf_counter() - start,
    )


def _forward(
    model: nn.Module, x: Tensor, device: torch.device, amp_dtype: torch.dtype | None, channels_last: bool
) -> Tensor:
    """Logits as float32 (N, C)."""
    if channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.autocast(device.type, dtype=amp_dtype or torch.bfloat16, enabled=amp_dtype is not None):
        out = model(x)
    return out.float()
