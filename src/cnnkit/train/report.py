"""report.md: one page that says how a run went, readable on GitHub or in a terminal.

:func:`write_report` is the last thing a training run does: it writes curves.png and
confusion.png (via plots.py) and report.md beside them, from the test evaluation, the
metrics of every epoch and the configuration.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from torch import Tensor, nn

from cnnkit.atomic import write_text
from cnnkit.data.tensordata import DatasetInfo
from cnnkit.train.prepare import MIN_BATCH  # the smallest batch the trainer picks itself
from cnnkit.train.plots import best_epoch, write_confusion, write_curves
from cnnkit.train.run import CONFUSION, CURVES, REPORT, RunDir, unwrap

__all__ = ["CHANCE_FACTOR", "FEW_STEPS", "EvalLike", "chance_note", "model_label", "write_report"]


class EvalLike(Protocol):
    """What the report needs from ``cnnkit.train.evaluate.EvalResult``."""

    accuracy: float  # fraction 0..1
    loss: float
    per_class_accuracy: list[float]  # fraction per class, in class order
    confusion: Tensor  # (C, C) counts, rows = true class
    num_samples: int
    seconds: float


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.2f}%"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)} min {rest:.0f} s"


def model_label(config: dict[str, Any], model: nn.Module | None) -> str:
    """A one-line name for the model: the zoo name, or 'spec model' for spec text."""
    from cnnkit.nn.build import looks_like_spec

    inner = unwrap(model) if model is not None else None
    zoo = getattr(inner, "zoo_name", None)
    if isinstance(zoo, str):
        return zoo
    text = str(config.get("model", ""))
    if isinstance(getattr(inner, "spec", None), str) or (text and looks_like_spec(text)):
        return "spec model"
    return text or "model"


# "No better than chance": the test accuracy at most this many times 1 / classes.
CHANCE_FACTOR = 1.2
FEW_STEPS = 100  # fewer optimizer steps than this in a whole run rarely learn anything


def chance_note(accuracy: float, num_classes: int, config: dict[str, Any], metrics: Sequence[dict[str, Any]]) -> str | None:
    """A warning with the likely cause when ``accuracy`` (0..1) is no better than chance
    (1 / ``num_classes``); None otherwise. ``metrics`` are the run's per-epoch records
    (``step``: optimizer steps so far, ``val_loss``), ``config`` the TrainConfig as a dict."""
    chance = 1.0 / num_classes
    if num_classes < 2 or accuracy > CHANCE_FACTOR * chance:
        return None
    steps = int(metrics[-1].get("step", 0)) if metrics else 0
    losses = [r.get("val_loss") for r in metrics if isinstance(r.get("val_loss"), (int, float))]
    lr = float(config.get("lr", 0.0))
    # a loss that grew, or that never came near a guess's (ln classes), points at the step size
    blown = losses and (not all(map(math.isfinite, losses)) or losses[-1] > 2 * losses[0]
                        or min(losses) > 3 * math.log(num_classes))
    if blown:
        cause = (f"the validation loss grew to {losses[-1]:.4g}, so the learning rate {lr:g} is likely "
                 f"too high: train again with --lr {lr / 10:.3g}")  # fmt: skip
    elif steps and steps < FEW_STEPS:
        smaller = " or use a smaller --batch-size" if int(config.get("batch_size") or 0) > MIN_BATCH else ""
        cause = (f"it took only {steps} optimizer steps (batch size {config.get('batch_size')}): "
                 f"train longer with --epochs{smaller}")  # fmt: skip
    else:
        cause = "check that the labels match the images (`cnnkit data show`) and that the model fits the data"
    return f"warning: test accuracy {accuracy:.1%} is no better than chance ({chance:.1%} for {num_classes} classes); {cause}"


def _per_class_rows(result: EvalLike, classes: Sequence[str]) -> list[str]:
    counts = result.confusion.detach().cpu().long()
    rows = ["| Class | Samples | Accuracy | Most often mistaken for |", "|---|---:|---:|---|"]
    for index, name in enumerate(classes):
        row = counts[index].clone()
        total = int(row.sum())
        row[index] = -1  # ignore the correct predictions when looking for the worst mix-up
        worst = int(row.argmax()) if len(classes) > 1 else index
        wrong = int(counts[index, worst]) if worst != index else 0
        mixup = f"{classes[worst]} ({wrong})" if wrong > 0 else "-"
        accuracy = result.per_class_accuracy[index] if total else None
        rows.append(f"| {name} | {total:,} | {_pct(accuracy)} | {mixup} |")
    return rows


def _transfer_summary(transfer: dict[str, Any]) -> str:
    """'runs/fmnist (quicknet on fashion-mnist), 2 of 6 weighted layers frozen, 10 per class'."""
    source = transfer.get("source") or {}
    where = source.get("source", "?")
    trained = ", ".join(str(source[k]) for k in ("architecture", "dataset") if source.get(k))
    text = f"{where}" + (f" ({trained.replace(', ', ' on ')})" if trained else "")
    frozen = transfer.get("frozen") or {}
    if frozen.get("weighted_layers"):
        text += f", {len(frozen.get('frozen_layers', []))} of {frozen['weighted_layers']} weighted layers frozen"
    if transfer.get("per_class"):
        text += f", {transfer['per_class']} labelled examples per class"
    return text


def write_report(
    run: RunDir | str | Path,
    *,
    test: EvalLike,
    info: DatasetInfo,
    config: dict[str, Any],
    metrics: Sequence[dict[str, Any]] | None = None,
    tta: EvalLike | None = None,
    model: nn.Module | None = None,
    command: str | None = None,
    device: str = "",
    split_sizes: dict[str, int] | None = None,
    train_seconds: float | None = None,
    images_per_s: float | None = None,
    date: datetime | None = None,
    plots: bool = True,
    notes: Sequence[str] = (),
) -> Path:
    """Write report.md (and, with ``plots``, curves.png and confusion.png) into ``run``.

    Args:
        test: the evaluation on the test split (``tta``: the same with flip TTA, if run).
        info: the dataset's info (class names, source).
        config: the TrainConfig as a dict (shown in full; ``model``/``data`` name the run).
        metrics: per-epoch records; default: the run's metrics.jsonl.
        model: the trained model, for its name and parameter count.
        command: the command line that started the run (shown verbatim).
        split_sizes: e.g. {"train": 54000, "val": 6000, "test": 10000}.
        notes: lines the run printed as notes (an adapted batch size, a resized last
            layer, skipped unreadable files), listed under the results.
        train_seconds / images_per_s: default to the sum of the epochs' ``seconds`` and
            the mean of their ``images_per_s``.

    Returns the path of report.md.
    """
    run = run if isinstance(run, RunDir) else RunDir(run)
    records = list(run.read_metrics() if metrics is None else metrics)
    label = model_label(config, model)
    heading = f"{run.path.name}: {label} on {info.name}"
    if plots:
        write_curves(run.file(CURVES), records, title=heading)
        write_confusion(
            run.file(CONFUSION), test.confusion, info.classes,
            title=f"{info.name} test set: accuracy {test.accuracy * 100:.2f}% of {test.num_samples:,} (cells: % of each true class)",
        )
    if train_seconds is None:
        train_seconds = sum(float(r.get("seconds", 0.0)) for r in records)
    if images_per_s is None:
        speeds = [float(r["images_per_s"]) for r in records if isinstance(r.get("images_per_s"), (int, float))]
        images_per_s = sum(speeds) / len(speeds) if speeds else None
    best = best_epoch(records)
    stamp = (date or datetime.now().astimezone()).strftime("%Y-%m-%d %H:%M %Z").strip()

    lines = [f"# {heading}", ""]
    lines.append(f"Trained {stamp}" + (f" on {device}" if device else "") + ".")
    if command:
        lines += ["", "```bash", command, "```"]
    lines += ["", "| Result | Value |", "|---|---|"]
    lines.append(f"| Test accuracy | **{_pct(test.accuracy)}** ({test.num_samples:,} samples) |")
    if tta is not None:
        lines.append(f"| Test accuracy, flip test-time augmentation | {_pct(tta.accuracy)} |")
    lines.append(f"| Test loss | {test.loss:.4f} |")
    if best is not None:
        lines.append(f"| Best validation accuracy | {_pct(best[1])} at epoch {best[0]} of {len(records)} |")
    lines.append(f"| Training time | {_duration(train_seconds)} ({len(records)} epochs) |")
    if images_per_s:
        lines.append(f"| Training throughput | {images_per_s:,.0f} samples/s |")
    if test.seconds > 0:
        lines.append(f"| Test evaluation | {_duration(test.seconds)} ({test.num_samples / test.seconds:,.0f} samples/s) |")
    if model is not None:
        total = sum(p.numel() for p in model.parameters())
        lines.append(f"| Model | {label}, {total:,} parameters |")
    sizes = ", ".join(f"{k} {v:,}" for k, v in (split_sizes or {}).items())
    lines.append(f"| Dataset | {info.name}" + (f" ({sizes})" if sizes else "") + " |")
    if info.source:
        lines.append(f"| Data source | {info.source} |")
    transfer = config.get("transfer")
    if transfer:
        lines.append(f"| Fine-tuned from | {_transfer_summary(transfer)} |")
    if device:
        lines.append(f"| Device | {device} |")
    warning = chance_note(test.accuracy, len(info.classes), config, records)
    if warning:
        lines += ["", f"**{warning}**"]
    if notes:
        lines += ["", "Notes:", "", *(f"- {note}" for note in notes)]
    spec = getattr(unwrap(model), "spec", None) if model is not None else None
    if isinstance(spec, str):
        from cnnkit.train.prepare import spec_as_trained

        outputs = getattr(unwrap(model), "output_shape", None) or (len(info.classes),)
        trained = spec_as_trained(spec, int(outputs[-1]))  # FC(10) trained on 3 classes shows as FC(3)
        lines += ["", "Architecture (as trained):", "", "```", trained.strip(), "```"]
    lines += ["", "## Per-class test accuracy", "", *_per_class_rows(test, info.classes)]
    lines += ["", "## Learning curves", "", f"![loss and accuracy per epoch]({CURVES})"]
    lines += ["", "## Confusion matrix", "", f"![confusion matrix of the test set]({CONFUSION})"]
    lines += ["", "## Configuration", "", "```json", json.dumps(config, indent=2), "```", ""]
    return write_text(run.file(REPORT), "\n".join(lines))
