"""Where fine-tuning starts: a trained run directory or a zoo model with torchvision weights.

:func:`load_source` returns a :class:`Source`: the model with its weights (and its original
classifier), the input shape and normalization it was trained with, the cnnkit.build
arguments that rebuild it, and a JSON record of where it came from for config.json.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from cnnkit.errors import CnnkitError, ModelError, RunError, did_you_mean

__all__ = ["Source", "load_source"]


@dataclass
class Source:
    """A starting model with its weights, and how it expects its inputs."""

    model: nn.Module  # a CnnModel with its original classifier
    input_shape: tuple[int, ...]  # one sample without the batch, e.g. (1, 28, 28)
    kind: str  # image, signal or volume
    mean: tuple[float, ...]  # the normalization it was trained with, per channel
    std: tuple[float, ...]
    builder_kwargs: dict[
        str, Any
    ]  # cnnkit.build arguments beyond num_classes (e.g. in_channels)
    record: dict[str, Any]  # JSON: where it came from, for config.json

    def describe(self) -> str:
        r = self.record
        if r["type"] == "run":
            return f"run {r['source']} ({r['architecture']} trained on {r['dataset']}, {r['classes']} classes)"
        return f"{r['source']} with torchvision weights {r['pretrained']}"


def load_source(
    source: str | Path,
    *,
    pretrained: str | None = None,
    input_shape: tuple[int, ...] | None = None,
) -> Source:
    """A run directory, or a zoo model name with ``pretrained`` weights ("DEFAULT" or a file).

    Raises RunError for a missing or unusable run, ModelError for an unknown model, a zoo
    model without ``pretrained``, or weights that cannot be had (offline, bad file).
    """
    from cnnkit.nn.build import is_zoo_name, list_models

    text = str(source)
    if Path(text).is_dir():
        if pretrained is not None:
            raise CnnkitError(
                "--pretrained is for zoo models; a run directory brings its own weights"
            )
        if input_shape is not None:
            raise CnnkitError(
                "--input is for zoo models; the data is converted to the run's own input shape"
            )
        return _run_source(text)
    if is_zoo_name(text):
        return _zoo_source(text, pretrained, input_shape)
    if "/" in text or "\\" in text or text.startswith("."):
        raise RunError(
            f"no run directory at {text}; give the folder `cnnkit train` wrote, e.g. runs/NAME"
        )
    from cnnkit.nn.pretrained import PRETRAINED_CONFIGS

    raise ModelError(
        f"{text!r} is neither a run directory nor a zoo model{did_you_mean(text, [e.name for e in list_models()])}; give "
        f"runs/NAME from `cnnkit train`, or one of {', '.join(PRETRAINED_CONFIGS)} with --pretrained"
    )


def _run_source(path: str) -> Source:
    from cnnkit.train.run import load_run

    run = load_run(path)
    kwargs = {
        k: v for k, v in run.metadata.builder_kwargs.items() if k != "num_classes"
    }
    arch = run.metadata.architecture
    return Source(
        model=run.model,
        input_shape=tuple(run.input_shape),
        kind=run.info.kind,
        mean=run.info.mean,
        std=run.info.std,
        builder_kwargs=kwargs,
        record={
            "type": "run",
            "source": os.path.abspath(path),  # the run still finds it from another directory
            "architecture": arch if len(arch) <= 60 else "spec",
            "dataset": run.info.name,
            "classes": run.info.num_classes,
        },
    )


def _zoo_source(
    name: str, pretrained: str | None, input_shape: tuple[int, ...] | None
) -> Source:
    from cnnkit.nn.build import build, model_entry
    from cnnkit.nn.pretrained import load_torchvision_weights, pretrained_config

    config = pretrained_config(
        name
    )  # ModelError for a zoo model without torchvision weights
    if pretrained is None:
        raise ModelError(
            f"fine-tuning {name} needs weights: --pretrained DEFAULT (torchvision's, downloaded once "
            f"or taken from the torch hub cache) or --pretrained FILE; to train it from scratch use "
            f"`cnnkit train {name}`"
        )
    shape = (
        tuple(input_shape)
        if input_shape is not None
        else tuple(model_entry(name).input_shape)
    )
    if len(shape) != 3:
        raise CnnkitError(
            f"--input for {name} must be an image shape CxHxW, got {'x'.join(map(str, shape))}"
        )
    channels = shape[0]
    model = build(name, in_channels=channels)
    loaded = load_torchvision_weights(model, pretrained, arch=name)
    # ImageNet statistics; with another channel count (first conv adapted) their average.
    mean, std = config.mean, config.std
    if channels != len(mean):
        mean = (sum(mean) / len(mean),) * channels
        std = (sum(std) / len(std),) * channels
    return Source(
        model=model,
        input_shape=shape,
        kind="image",
        mean=tuple(mean),
        std=tuple(std),
        builder_kwargs={"in_channels": channels},
        record={
            "type": "zoo",
            "source": name,
            "pretrained": str(pretrained),
            "adapted": list(loaded.adapted),
            "input_shape": list(shape),
        },
    )
