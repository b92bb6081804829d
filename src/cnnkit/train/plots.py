"""The two pictures of a run: learning curves and the confusion matrix (PNG).

matplotlib is imported inside the functions (``cnnkit --help`` stays fast) and used
through ``Figure`` objects with the Agg canvas, never pyplot: no global figure state, no
display needed, safe in tests and on servers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from cnnkit.atomic import save_figure

__all__ = ["best_epoch", "confusion_counts", "write_confusion", "write_curves"]

_TRAIN = "#1f77b4"
_VAL = "#d62728"


def _series(metrics: Sequence[dict[str, Any]], key: str, *, scale: float = 1.0) -> tuple[list[int], list[float]]:
    """(epochs, values) for the records that have a finite number under ``key``."""
    xs, ys = [], []
    for index, record in enumerate(metrics, start=1):
        value = record.get(key)
        if isinstance(value, (int, float)) and math.isfinite(value):
            xs.append(int(record.get("epoch", index)))
            ys.append(float(value) * scale)
    return xs, ys


def best_epoch(metrics: Sequence[dict[str, Any]]) -> tuple[int, float] | None:
    """(epoch, val_acc) of the best validation accuracy (the first when tied), or None."""
    xs, ys = _series(metrics, "val_acc")
    if not ys:
        return None
    index = max(range(len(ys)), key=lambda i: (ys[i], -i))
    return xs[index], ys[index]


def write_curves(path: str | Path, metrics: Sequence[dict[str, Any]], *, title: str | None = None) -> Path:
    """Loss and accuracy per epoch, train and validation, as a two-panel PNG.

    ``metrics`` are metrics.jsonl records (keys epoch, train_loss, train_acc, val_loss,
    val_acc; accuracies as fractions 0..1). Missing keys are skipped; the best validation
    epoch is marked on both panels.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    fig = Figure(figsize=(11, 4.2), dpi=110, layout="constrained")
    loss_ax, acc_ax = fig.subplots(1, 2)
    best = best_epoch(metrics)
    panels = ((loss_ax, "loss", "Loss (cross-entropy)", 1.0), (acc_ax, "acc", "Accuracy", 100.0))
    for ax, key, label, scale in panels:
        for split, colour, style, marker in (("train", _TRAIN, "-", "o"), ("val", _VAL, "--", "s")):
            xs, ys = _series(metrics, f"{split}_{key}", scale=scale)
            if xs:
                name = "train" if split == "train" else "validation"
                ax.plot(xs, ys, style, color=colour, marker=marker, markersize=4, linewidth=1.6, label=name)
        if best is not None:
            mark = f"best val {best[1] * 100:.2f}% (epoch {best[0]})" if key == "acc" else "best val epoch"
            ax.axvline(best[0], color="0.5", linestyle=":", linewidth=1.2, label=mark)
        ax.set_title(label)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.margins(x=0.06)
        ax.grid(True, alpha=0.3)
    # ticks at 1-2-5 steps (never 82.5 shown as "82%"); decimals follow the visible range
    acc_ax.yaxis.set_major_locator(MaxNLocator(nbins=8, steps=[1, 2, 5, 10]))
    acc_ax.yaxis.set_major_formatter(PercentFormatter(decimals=None))
    if best is not None:
        acc_ax.plot([best[0]], [best[1] * 100], marker="*", markersize=12, color=_VAL, linestyle="none", zorder=5)
    for ax in (loss_ax, acc_ax):
        if ax.has_data():
            ax.legend(loc="best", fontsize=9)
    if not metrics:
        for ax in (loss_ax, acc_ax):
            ax.text(0.5, 0.5, "no epochs recorded", ha="center", va="center", transform=ax.transAxes)
    if title:
        fig.suptitle(title, fontsize=12)
    return save_figure(path, fig)


def confusion_counts(targets: Tensor, predictions: Tensor, num_classes: int) -> Tensor:
    """Counts (C, C), rows = true class, columns = predicted class, int64."""
    index = targets.long().cpu() * num_classes + predictions.long().cpu()
    return torch.bincount(index, minlength=num_classes * num_classes).view(num_classes, num_classes)


def write_confusion(
    path: str | Path,
    confusion: Tensor,
    classes: Sequence[str],
    *,
    title: str | None = None,
) -> Path:
    """The confusion matrix normalized per true class (each row sums to 100%), as PNG.

    ``confusion`` is (C, C) counts, rows = true class. Cells show percentages (left out
    above 25 classes, where they would not be readable); the y labels carry each class's
    sample count; the title gives the overall accuracy unless ``title`` is passed.
    """
    from matplotlib.figure import Figure

    counts = confusion.detach().to("cpu", torch.float64)
    size = counts.shape[0]
    if counts.shape != (size, size) or size != len(classes):
        raise ValueError(f"confusion must be {len(classes)}x{len(classes)}, got {tuple(counts.shape)}")
    totals = counts.sum(dim=1)
    rates = counts / totals.clamp(min=1).unsqueeze(1)  # a class with no samples stays 0
    total = int(counts.sum())
    accuracy = float(counts.diagonal().sum() / max(total, 1))

    side = min(max(5.5, 0.55 * size + 3.0), 22.0)
    fig = Figure(figsize=(side + 1.2, side), dpi=110)
    ax = fig.subplots()
    image = ax.imshow(rates.numpy() * 100, cmap="Blues", vmin=0.0, vmax=100.0)
    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03)
    bar.set_label("% of the true class")
    ax.set_xticks(range(size))
    ax.set_yticks(range(size))
    ax.set_xticklabels(list(classes), rotation=45 if size > 4 else 0, ha="right" if size > 4 else "center")
    ax.set_yticklabels([f"{name} ({int(n)})" for name, n in zip(classes, totals.tolist())])
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class (samples)")
    if size <= 25:
        font = 9 if size <= 12 else 7
        for row in range(size):
            for col in range(size):
                value = float(rates[row, col])
                if counts[row, col] == 0:
                    continue  # empty cells stay blank: the eye finds the confusions faster
                # never round a few mistakes to "0" or a near miss to "100"
                text = "<1" if value < 0.01 else f"{value * 100:.0f}"
                text = "99" if text == "100" and value < 1.0 else text
                ax.text(col, row, text, ha="center", va="center", fontsize=font,
                        color="white" if value > 0.55 else "black")
    heading = title or f"Confusion matrix (% of each true class), accuracy {accuracy * 100:.2f}% of {total:,}"
    ax.set_title(heading, fontsize=11)
    return save_figure(path, fig, bbox_inches="tight", pad_inches=0.2)
