"""Transfer learning: start from a trained run or torchvision weights, train on a new dataset.

    from cnnkit.train.transfer import finetune

    result = finetune("runs/fmnist", "digits", freeze=4, per_class=10, out="runs/digits-ft")
    result = finetune("resnet18", "folder:photos", pretrained="DEFAULT", freeze="all",
                      input_shape=(3, 64, 64), epochs=5)
    result.test_accuracy, result.config.transfer        # what was done, as in config.json

What :func:`finetune` does (see docs/transfer.md):

1. loads the starting model (:mod:`cnnkit.train.transfer_source`): a run directory (:func:`cnnkit.train.run.load_run`) or a zoo
   model with torchvision weights (:func:`cnnkit.nn.pretrained.load_torchvision_weights`,
   ``"DEFAULT"`` or another weights name through the torch hub cache, or a local file);
2. loads the target dataset converted to the starting model's input shape (channels and
   size), optionally keeps ``per_class`` labelled training examples per class
   (:func:`cnnkit.data.sources.few_shot`, seeded), and normalizes it with the *source's*
   mean and std, so the frozen layers see inputs on the scale they were trained on;
3. replaces the classifier for the target's classes (seeded) and freezes the lower layers
   (:mod:`cnnkit.train.freeze`);
4. trains with the preset's settings but a learning rate of ``LR_FACTOR`` times the
   preset's, and writes a normal run directory whose config.json carries a ``transfer``
   record (source, freeze choice, per_class, normalization), so ``cnnkit eval``,
   ``cnnkit predict`` and ``--resume`` work on it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnkit.data.tensordata import Splits
from cnnkit.errors import CnnkitError, DataError, ModelError, RunError
from cnnkit.train.config import TrainConfig
from cnnkit.train.freeze import FreezeReport
from cnnkit.train.freeze import freeze as freeze_layers
from cnnkit.train.transfer_source import Source, load_source

__all__ = [
    "LR_FACTOR",
    "MIN_STEPS_PER_EPOCH",
    "NORMALIZATIONS",
    "Prepared",
    "finetune",
    "load_target",
    "make_config",
    "prepare",
    "rebuild_start",
    "resume_finetune",
]

LR_FACTOR = 0.1  # fine-tuning's default learning rate is this times the preset's
MIN_STEPS_PER_EPOCH = (
    4  # few-shot sets: the default batch shrinks so an epoch has this many steps
)
NORMALIZATIONS = ("source", "target")
_RESERVED = ("model", "data", "input_shape", "num_classes", "in_channels", "transfer")


def load_target(
    data: str,
    source: Source,
    config: TrainConfig,
    *,
    per_class: int | None,
    normalization: str,
) -> Splits:
    """The target dataset in the source's input shape, few-shot if asked, normalized as chosen."""
    from cnnkit.data.sources import dataset_entry, few_shot, load_dataset
    from cnnkit.train.prepare import derive_seed

    if normalization not in NORMALIZATIONS:
        raise CnnkitError(
            f"normalization must be 'source' or 'target', got {normalization!r}"
        )
    kind = dataset_entry(data).kind
    if kind != source.kind:
        raise DataError(
            f"{data} holds {kind} samples but the starting model was trained on {source.kind}s; "
            f"fine-tune it on a dataset of {source.kind}s"
        )
    splits = load_dataset(
        data,
        val_fraction=config.val_fraction,
        seed=config.seed,
        input_shape=source.input_shape,
        limit=config.limit,
    )
    train = splits.train
    if per_class is not None:
        gen = torch.Generator().manual_seed(derive_seed(config.seed, "few-shot"))
        train = few_shot(train, per_class, generator=gen)
    info = splits.info
    if normalization == "source":
        info = dataclasses.replace(info, mean=tuple(source.mean), std=tuple(source.std))
    return Splits(
        train=train,
        val=splits.val,
        test=splits.test,
        info=info,
        notes=list(splits.notes),
    )


def make_config(
    preset: str | None, overrides: dict[str, Any], *, train_size: int | None = None
) -> TrainConfig:
    """The preset, with the learning rate scaled by LR_FACTOR unless ``lr`` is given.

    With ``train_size`` (known once the data is loaded) and no ``batch_size`` given, the
    batch is capped so that an epoch takes at least MIN_STEPS_PER_EPOCH steps (10 examples
    per class of 10 classes: batches of 25 rather than one step of 100).
    """
    for key in overrides:
        if key in _RESERVED:
            raise CnnkitError(
                f"finetune sets {key!r} itself (from the source and the target data); drop it"
            )
    base = TrainConfig.from_preset(preset)
    values = dict(overrides)
    values.setdefault(
        "lr", round(base.lr * LR_FACTOR, 12)
    )  # 0.04, not 0.04000000000000001
    if train_size is not None and "batch_size" not in overrides:
        values["batch_size"] = max(
            1, min(base.batch_size, train_size // MIN_STEPS_PER_EPOCH)
        )
    return base.replace(**values)


@dataclass
class Prepared:
    """Everything the trainer needs for a fine-tuning run."""

    model: nn.Module
    splits: Splits
    config: TrainConfig
    source: Source
    freeze: FreezeReport


def prepare(
    source: str | Path,
    data: str,
    *,
    preset: str | None = "fast",
    freeze: int | str | None = None,
    freeze_until: str | None = None,
    pretrained: str | None = None,
    per_class: int | None = None,
    normalization: str = "source",
    input_shape: tuple[int, ...] | None = None,
    **overrides: Any,
) -> Prepared:
    """Load the source and the target, replace the classifier, freeze; see :func:`finetune`."""
    src = load_source(source, pretrained=pretrained, input_shape=input_shape)
    config = make_config(
        preset, overrides
    )  # validates the options before the data loads
    splits = load_target(
        data, src, config, per_class=per_class, normalization=normalization
    )
    config = make_config(preset, overrides, train_size=len(splits.train))

    model = src.model
    torch.manual_seed(config.seed)  # the new classifier's initial weights
    model.reset_classifier(splits.info.num_classes)  # type: ignore[operator]
    report = freeze_layers(
        model, input_shape=src.input_shape, layers=freeze, until=freeze_until
    )
    if (
        report.trainable_parameters == 0
    ):  # pragma: no cover - the classifier always trains
        raise ModelError("nothing left to train after freezing; freeze fewer layers")

    record = {
        "source": src.record,
        "freeze": freeze,
        "freeze_until": freeze_until,
        "pretrained": pretrained,
        "per_class": per_class,
        "train_size": len(splits.train),
        "normalization": normalization,
        "mean": list(splits.info.mean),
        "std": list(splits.info.std),
        "lr_factor": None if "lr" in overrides else LR_FACTOR,
        "preset": preset,
        "overrides": {k: v for k, v in overrides.items()},
        "frozen": report.to_dict(),
    }
    from cnnkit.data.reference import absolute_reference

    config = config.replace(input_shape=src.input_shape, transfer=record, data=absolute_reference(data))
    return Prepared(model, splits, config, src, report)


def finetune(
    source: str | Path,
    data: str,
    *,
    freeze: int | str | None = None,
    freeze_until: str | None = None,
    pretrained: str | None = None,
    per_class: int | None = None,
    normalization: str = "source",
    input_shape: tuple[int, ...] | None = None,
    preset: str | None = "fast",
    out: str | Path | None = None,
    progress: bool | None = None,
    quiet: bool = False,
    command: str | None = None,
    **overrides: Any,
) -> Any:
    """Fine-tune ``source`` on dataset ``data``; returns the trainer's TrainResult.

    Args:
        source: a run directory, or a zoo model name (then ``pretrained`` is required).
        data: the target dataset name or folder:PATH; converted to the source's input shape.
        freeze: weighted layers to freeze (a number) or "all" (all but the classifier).
        freeze_until: freeze up to and including this module instead (e.g. "features.stage2").
        pretrained: for a zoo model: a torchvision weights name ("DEFAULT") or a local file.
        per_class: keep only this many labelled training examples per class (seeded).
        normalization: "source" (default: the source's mean/std) or "target" (the target's).
        input_shape: for a zoo model, the shape to convert the data to (default: the zoo's).
        preset: the preset the settings start from; its learning rate is scaled by LR_FACTOR.
        out: the run directory to write (None: nothing written).
        **overrides: TrainConfig fields, e.g. ``epochs=20, lr=0.01, seed=3, limit=500``.
    """
    from cnnkit.train.trainer import train

    ready = prepare(
        source, data, preset=preset, freeze=freeze, freeze_until=freeze_until, pretrained=pretrained,
        per_class=per_class, normalization=normalization, input_shape=input_shape, **overrides,
    )  # fmt: skip
    return train(
        ready.model, ready.splits, config=ready.config, out=out, progress=progress, quiet=quiet,
        command=command, builder_kwargs=ready.source.builder_kwargs,
    )  # fmt: skip


def resume_finetune(
    out: str | Path,
    *,
    progress: bool | None = None,
    quiet: bool = False,
    command: str | None = None,
    more: int | None = None,
    more_lr: float | None = None,
) -> Any:
    """Continue a fine-tuning run from its last checkpoint (or, with ``more``, a finished one
    for more epochs): :func:`cnnkit.train.trainer.train` with ``resume=True``, after checking
    that ``out`` is a fine-tuning run."""
    from cnnkit.train.run import RunDir
    from cnnkit.train.trainer import train

    run = RunDir(out)
    if not run.file("config.json").is_file():
        raise RunError(f"nothing to resume in {run.path}: it has no config.json; start a new run")
    if not run.read_config().get("transfer"):
        raise RunError(f"{run.path} is not a fine-tuning run; continue it with `cnnkit train --resume {run.path}`")
    return train(out=out, resume=True, progress=progress, quiet=quiet, command=command, more=more, more_lr=more_lr)


def rebuild_start(config: TrainConfig) -> Prepared:
    """The starting point of the fine-tuning run ``config`` (its ``transfer`` record), rebuilt
    exactly as the first time, for the trainer to load the run's checkpoint over it. The
    source (a run directory or torchvision weights) must still be there."""
    record = config.transfer
    if not record:
        raise RunError("not a fine-tuning configuration (it has no transfer record)")
    source = record["source"]
    shape = source.get("input_shape") if source.get("type") == "zoo" else None
    return prepare(
        source["source"], config.data, preset=record.get("preset"), freeze=record.get("freeze"),
        freeze_until=record.get("freeze_until"), pretrained=record.get("pretrained"),
        per_class=record.get("per_class"), normalization=record.get("normalization", "source"),
        input_shape=tuple(shape) if shape else None, **record.get("overrides", {}),
    )  # fmt: skip
