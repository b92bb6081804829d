"""Before the loop: load the data a model needs, build the model for the data, make the optimizer.

Which input shape the data is converted to:

1. ``config.input_shape`` when given (``--input 3x64x64``);
2. else a spec's explicit ``INPUT(CxHxW)`` (so ``digits`` 8x8 become 1x28x28 for a 28x28 spec);
3. else the data's own shape: a bare ``INPUT`` takes it, and zoo models train at the
   data's resolution with ``in_channels`` (and LeNet's ``input_size``) set to fit.
"""

from __future__ import annotations

import hashlib
from typing import Any

import torch
from torch import nn

from cnnkit.data.tensordata import DatasetInfo, Splits
from cnnkit.errors import CnnkitError, ModelError
from cnnkit.train.config import TrainConfig

__all__ = [
    "MIN_BATCH",
    "MIN_STEPS_PER_EPOCH",
    "build_model",
    "check_fits",
    "derive_seed",
    "fit_batch_to_data",
    "head_note",
    "load_splits",
    "make_optimizer",
    "model_name",
    "spec_as_trained",
    "spec_input_shape",
    "target_input_shape",
]

# A batch of a whole small set gives one optimizer step an epoch, and a few epochs of that
# learn nothing; the batch shrinks so that every epoch takes at least this many steps.
MIN_STEPS_PER_EPOCH = 16
# ... but not below this many samples a step: batch norm needs a few samples to normalize over,
# and a tiny set (43 images) then takes 5 steps of 8 rather than 21 of 2.
MIN_BATCH = 8


def derive_seed(seed: int, *parts: object) -> int:
    """A 63-bit seed from ``seed`` and labels (e.g. "shuffle", epoch, rank), stable across runs.

    Every epoch's randomness is drawn from generators seeded this way, so a resumed run
    reproduces the uninterrupted one without saving generator states, under DDP too.
    """
    text = "/".join(str(p) for p in (seed, *parts)).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "little") >> 1


def spec_input_shape(model: str) -> tuple[int, ...] | None:
    """The explicit ``INPUT(...)`` shape of spec text, None for a bare INPUT or a zoo name."""
    from cnnkit.nn.build import looks_like_spec, read_spec_text

    if not looks_like_spec(model):
        return None
    from cnnkit.nn.spec import parse_spec

    first = parse_spec(read_spec_text(model)).items[0]
    shape = first.options.get("shape")  # type: ignore[union-attr]
    return tuple(shape) if shape else None


def target_input_shape(config: TrainConfig, model: str | nn.Module) -> tuple[int, ...] | None:
    """The shape to convert the data to (None: keep the data's own)."""
    if config.input_shape is not None:
        return tuple(config.input_shape)
    if isinstance(model, str):
        return spec_input_shape(model)
    shape = getattr(model, "input_shape", None)
    return tuple(shape) if shape is not None else None


def load_splits(config: TrainConfig, model: str | nn.Module) -> Splits:
    """Load ``config.data`` with its validation split carved by ``config.seed``."""
    from cnnkit.data.sources import load_dataset

    return load_dataset(
        config.data,
        val_fraction=config.val_fraction,
        seed=config.seed,
        input_shape=target_input_shape(config, model),
        limit=config.limit,
        skip_bad=config.skip_bad,
    )


def fit_batch_to_data(config: TrainConfig, train_size: int, world: int = 1) -> tuple[TrainConfig, str | None]:
    """``config`` with a batch small enough for ``MIN_STEPS_PER_EPOCH`` steps an epoch over
    ``train_size`` samples, but at least ``MIN_BATCH`` (a multiple of ``world``, the DDP
    process count), and a note saying what changed; ``(config, None)`` when the batch
    already fits.

    The learning rate follows the batch linearly unless the user chose it
    (:meth:`TrainConfig.replace` and ``lr_reference_batch``).
    """
    fitting = max(world, train_size // MIN_STEPS_PER_EPOCH // world * world, min(MIN_BATCH, train_size) // world * world)
    if config.batch_size <= fitting:
        return config, None
    adapted = config.replace(batch_size=fitting)
    lr = (f"lr {config.lr:g} -> {adapted.lr:.3g} (scaled with the batch; --lr sets it)"
          if adapted.lr != config.lr else f"lr {config.lr:g} kept (given)")  # fmt: skip
    why = (f"so that {train_size} training samples give {train_size // fitting} steps an epoch"
           if train_size // fitting >= MIN_STEPS_PER_EPOCH else
           f"the smallest batch it picks, {train_size // fitting} steps an epoch over {train_size} training samples")
    note = f"batch size {config.batch_size} -> {fitting}, {why}; {lr}"
    return adapted, note


def _written_units(text: str) -> tuple[int, int, str] | None:
    """(offset, length, value text) of the units the spec's last FC writes out, e.g. the
    ``10`` of ``FC(10)`` or ``FC(units=10)``; None for a bare FC (its units follow the data)
    or a last FC inside a repeat (the text stands for every repetition)."""
    from cnnkit.nn.spec import parse_spec
    from cnnkit.nn.spec.nodes import Layer
    from cnnkit.nn.spec.planner import final_fc

    items = parse_spec(text).items
    layer = final_fc(items)
    if layer is None or not any(item is layer for item in items if isinstance(item, Layer)):
        return None
    for arg in layer.args:
        if arg.key in (None, "units"):
            lines = text.splitlines(keepends=True)
            offset = sum(len(line) for line in lines[: arg.value.line - 1]) + arg.value.column - 1
            return offset, len(arg.value.text), arg.value.text
    return None


def spec_as_trained(text: str, num_classes: int) -> str:
    """Spec text as the trainer builds it: the last FC's written units set to ``num_classes``
    (``FC(10)`` becomes ``FC(3)`` for 3 classes); the text unchanged when nothing differs."""
    written = _written_units(text)
    if written is None or written[2] == str(num_classes):
        return text
    offset, length, _ = written
    return text[:offset] + str(num_classes) + text[offset + length :]


def head_note(config: TrainConfig, info: DatasetInfo) -> str | None:
    """A note when :func:`build_model` sets a spec's written last-FC units to the class count
    ('the spec's last layer FC(10) is trained as FC(3): folder:textures has 3 classes')."""
    from cnnkit.nn.build import looks_like_spec, read_spec_text

    if not looks_like_spec(config.model):
        return None
    classes = config.num_classes or info.num_classes
    written = _written_units(read_spec_text(config.model))
    if written is None or written[2] == str(classes):
        return None
    return (f"the spec's last layer FC({written[2]}) is trained as FC({classes}): "
            f"{info.name} has {info.num_classes} classes")  # fmt: skip


def build_model(config: TrainConfig, info: DatasetInfo) -> tuple[nn.Module, dict[str, Any]]:
    """Build ``config.model`` for data described by ``info``; returns (model, builder kwargs).

    Uses the global torch RNG for the initial weights (the trainer seeds it first).
    """
    from cnnkit.nn.build import build, looks_like_spec, model_entry

    num_classes = config.num_classes or info.num_classes
    kwargs: dict[str, Any] = {}
    if looks_like_spec(config.model):
        from cnnkit.nn.build import read_spec_text
        from cnnkit.nn.spec import parse_spec
        from cnnkit.nn.spec.planner import final_fc

        parsed = parse_spec(read_spec_text(config.model))
        if final_fc(parsed.items) is not None:
            kwargs["num_classes"] = num_classes
        if spec_input_shape(config.model) is None:
            kwargs["input_shape"] = tuple(info.input_shape)
    else:
        accepted = model_entry(config.model).accepted_arguments()
        if "num_classes" in accepted:
            kwargs["num_classes"] = num_classes
        if "in_channels" in accepted:
            kwargs["in_channels"] = config.in_channels or info.input_shape[0]
        if "input_size" in accepted and len(info.input_shape) == 3:
            kwargs["input_size"] = list(info.input_shape[1:])  # LeNet-5 sizes its fc1 from it
    model = build(config.model, **kwargs)
    check_fits(model, info, config.model)
    return model, kwargs


def check_fits(model: nn.Module, info: DatasetInfo, name: str) -> None:
    """Run one zero sample through ``model`` (eval mode, no grad) to catch a shape mismatch early."""
    shape = "x".join(map(str, info.input_shape))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros(1, *info.input_shape))
    except (RuntimeError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelError(f"the model cannot take {info.name}'s {shape} samples ({first}); {_fit_advice(model, info)}") from None
    finally:
        model.train(was_training)
    if out.dim() != 2 or out.shape[1] < info.num_classes:
        raise ModelError(
            f"the model gives outputs of shape {tuple(out.shape[1:])} but {info.name} has "
            f"{info.num_classes} classes; it needs (N, {info.num_classes}) logits (end the spec with FC)"
        )


# Data of another kind than images needs a model of its rank; --input cannot convert it.
_MODEL_FOR_KIND = {"signal": ("cnn1d", "1-D"), "volume": ("cnn3d", "3-D")}


def _fit_advice(model: nn.Module, info: DatasetInfo) -> str:
    """What to do when ``model`` cannot take ``info``'s samples: a model of the data's rank
    for signals and volumes, else --input with the shape the model needs."""
    wanted = len(info.input_shape) - 1  # spatial dimensions: 1 signals, 2 images, 3 volumes
    if info.kind in _MODEL_FOR_KIND and _conv_rank(model) not in (None, wanted):
        zoo, rank = _MODEL_FOR_KIND[info.kind]
        return (f"{info.name} holds {info.kind}s, which need a {rank} model: "
                f"use {zoo} (cnnkit train {zoo} --data {info.name}) or a spec of {rank} layers")  # fmt: skip
    return "pass --input with the shape it needs (see `cnnkit summary MODEL`), and the data will be converted to it"


def _conv_rank(model: nn.Module) -> int | None:
    """Spatial dimensions of the model's first convolution or pooling (None: it has none)."""
    kinds = {1: (nn.Conv1d, nn.MaxPool1d, nn.AvgPool1d), 2: (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d),
             3: (nn.Conv3d, nn.MaxPool3d, nn.AvgPool3d)}  # fmt: skip
    for module in model.modules():
        for rank, types in kinds.items():
            if isinstance(module, types):
                return rank
    return None


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """SGD (Nesterov) or AdamW. Weight decay applies to weights of dim >= 2 only:
    biases and batch-norm scales are left undecayed, as is usual for CNNs."""
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    if not decay and not no_decay:
        raise CnnkitError("the model has no trainable parameters; unfreeze some layers")
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    groups = [g for g in groups if g["params"]]
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            groups, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov and config.momentum > 0
        )
    return torch.optim.AdamW(groups, lr=config.lr, betas=(config.momentum, 0.999))


def model_name(model: nn.Module) -> str:
    """The config's ``model`` for a model passed as an object: spec text or zoo name."""
    from cnnkit.train.run import unwrap

    inner = unwrap(model)
    spec = getattr(inner, "spec", None)
    if isinstance(spec, str):
        return spec
    zoo = getattr(inner, "zoo_name", None)
    return zoo if isinstance(zoo, str) else type(inner).__name__
