"""Load torchvision's pretrained weights into cnnkit zoo models.

The zoo's torchvision-backed models (AlexNet, VGG, GoogLeNet, ResNet, DenseNet) have
the same layers as torchvision's, split into ``features`` and ``head``. A small
per-architecture config (data, not code) says how torchvision's parameter names map
onto ours, which layer is the first convolution and which is the classifier::

    model = cnnkit.build("resnet18", num_classes=10, in_channels=1)
    load_torchvision_weights(model, "IMAGENET1K_V1")    # torchvision enum name, or
    load_torchvision_weights(model, "resnet18.pth")     # a local .pth/.pt/.safetensors

Adapting to a different task: when ``num_classes`` differs from the checkpoint's,
everything but the classifier loads (the classifier keeps its fresh initialization;
so do tensors the checkpoint fills with NaN placeholders).
When ``in_channels`` differs, the first convolution's RGB filters are summed (1
channel: a grayscale image then gives exactly the response the RGB network gives to
that image copied into R, G and B) or repeated and scaled by 3 / in_channels (k
channels: the response to the same image in every channel stays the same).

Files are read with ``torch.load(weights_only=True)`` or safetensors: never unpickled.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import nn

from cnnkit.errors import ModelError, did_you_mean

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "PRETRAINED_CONFIGS",
    "LoadReport",
    "PretrainedConfig",
    "adapt_first_conv",
    "hub_cache_path",
    "load_torchvision_weights",
    "pretrained_config",
    "read_weights_file",
    "torchvision_to_cnnkit",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_FILE_SUFFIXES = {".pth", ".pt", ".bin", ".safetensors"}

# torchvision's old DenseNet checkpoints name layers "norm.1" where the module is "norm1".
_DENSENET_LEGACY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var|num_batches_tracked))$"
)


@dataclass(frozen=True)
class PretrainedConfig:
    """How one torchvision architecture's checkpoint maps onto the cnnkit model."""

    torchvision_name: str
    first_conv: str  # our name of the first convolution (adapted when in_channels differs)
    classifier: str  # our name of the classifier (skipped when num_classes differs)
    rename: tuple[tuple[str, str], ...]  # (torchvision prefix, our prefix); first match wins
    drop: tuple[str, ...] = ()  # torchvision prefixes with no counterpart (aux heads)
    mean: tuple[float, float, float] = IMAGENET_MEAN  # input normalization the weights expect
    std: tuple[float, float, float] = IMAGENET_STD


def _configs() -> dict[str, PretrainedConfig]:
    plain = (("classifier.", "head.classifier."), ("features.", "features."))
    configs = {
        "alexnet": PretrainedConfig("alexnet", "features.0", "head.classifier.6", plain),
        "densenet121": PretrainedConfig(
            "densenet121", "features.conv0", "head.classifier", plain
        ),
        # The original GoogLeNet weights expect inputs scaled to [-1, 1]; torchvision
        # converts ImageNet-normalized inputs with transform_input=True, cnnkit does not.
        "googlenet": PretrainedConfig(
            "googlenet",
            "features.conv1.conv",
            "head.fc",
            (("fc.", "head.fc."), ("", "features.")),
            drop=("aux1.", "aux2."),
            mean=(0.5, 0.5, 0.5),
            std=(0.5, 0.5, 0.5),
        ),
    }
    for depth in (18, 34, 50, 101):
        name = f"resnet{depth}"
        configs[name] = PretrainedConfig(
            name, "features.conv1", "head.fc", (("fc.", "head.fc."), ("", "features."))
        )
    for depth in (11, 13, 16, 19):
        for name in (f"vgg{depth}", f"vgg{depth}_bn"):
            configs[name] = PretrainedConfig(name, "features.0", "head.classifier.6", plain)
    return configs


PRETRAINED_CONFIGS: dict[str, PretrainedConfig] = _configs()


@dataclass(frozen=True)
class LoadReport:
    """What :func:`load_torchvision_weights` did."""

    arch: str
    source: str
    skipped: tuple[str, ...]  # our parameter names left at their fresh initialization
    adapted: tuple[str, ...]  # our parameter names whose shape was adapted (first conv)


def pretrained_config(arch: str) -> PretrainedConfig:
    """The mapping config of a torchvision-backed zoo model; ModelError for any other."""
    config = PRETRAINED_CONFIGS.get(arch.lower())
    if config is None:
        hint = did_you_mean(arch, PRETRAINED_CONFIGS)
        raise ModelError(
            f"{arch!r} has no torchvision weights{hint}; models with them: "
            f"{', '.join(PRETRAINED_CONFIGS)}"
        )
    return config


def torchvision_to_cnnkit(state: Mapping[str, torch.Tensor], config: PretrainedConfig) -> dict[str, torch.Tensor]:
    """Rename a torchvision state dict's keys to cnnkit's; unmatched keys are kept as they are."""
    renamed: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        legacy = _DENSENET_LEGACY.match(key)
        if legacy:
            key = legacy.group(1) + legacy.group(2)
        if any(key.startswith(prefix) for prefix in config.drop):
            continue
        for theirs, ours in config.rename:
            if key.startswith(theirs):
                key = ours + key[len(theirs) :]
                break
        renamed[key] = value
    return renamed


def adapt_first_conv(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    """(out, c, *k) filters -> (out, in_channels, *k): sum to 1 channel, else repeat and rescale."""
    channels = weight.shape[1]
    if in_channels == channels:
        return weight
    if in_channels == 1:
        return weight.sum(dim=1, keepdim=True)
    repeats = math.ceil(in_channels / channels)
    tiled = weight.repeat(1, repeats, *([1] * (weight.dim() - 2)))[:, :in_channels]
    return tiled * (channels / in_channels)


def load_torchvision_weights(
    model: nn.Module, source: str | os.PathLike[str], *, arch: str | None = None, features_only: bool = False
) -> LoadReport:
    """Load torchvision weights into ``model`` in place and say what was adapted.

    ``source``: a torchvision weights name of the architecture ("IMAGENET1K_V1",
    "DEFAULT", ...; downloaded once into the torch hub cache) or a path to a local
    .pth/.pt (read with weights_only=True) or .safetensors state dict, in torchvision's
    or cnnkit's parameter names. ``arch`` is the zoo name; it defaults to the
    ``zoo_name`` the zoo builders put on their models. ``features_only``: the file may
    hold the convolutional trunk (``features.``) alone, as style transfer and feature
    extraction need; every head parameter it lacks keeps its fresh initialization and is
    reported in ``skipped``.
    """
    arch = arch or getattr(model, "zoo_name", None)
    if arch is None:
        raise ModelError("cannot tell which architecture this model is; pass arch='resnet18' or similar")
    config = pretrained_config(arch)
    text = os.fspath(source)
    state = read_weights_file(Path(text)) if _is_file(text) else _download(text, config)
    ours = model.state_dict()
    if not all(key in ours for key in state):
        state = torchvision_to_cnnkit(state, config)

    adapted: list[str] = []
    first = f"{config.first_conv}.weight"
    if first in state and first in ours and state[first].shape[1] != ours[first].shape[1]:
        state[first] = adapt_first_conv(state[first], ours[first].shape[1])
        adapted.append(first)
    skipped: list[str] = []
    head = (f"{config.classifier}.weight", f"{config.classifier}.bias")
    if head[0] in state and head[0] in ours and state[head[0]].shape != ours[head[0]].shape:
        skipped = [key for key in head if key in ours]
        for key in head:
            state.pop(key, None)
    if features_only:
        skipped += [k for k in ours if not k.startswith("features.") and k not in state and k not in skipped]
    # Some entries ship placeholder NaNs (torchvision's VGG16 IMAGENET1K_FEATURES classifier).
    for key in [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]:
        if key in ours:
            skipped.append(key)
        state.pop(key)

    _check_fit(state, ours, skipped, arch, text)
    model.load_state_dict(state, strict=False)
    return LoadReport(arch, text, tuple(skipped), tuple(adapted))


def _check_fit(
    state: Mapping[str, torch.Tensor], ours: Mapping[str, torch.Tensor], skipped: list[str], arch: str, source: str
) -> None:
    """ModelError unless ``state`` fills every parameter of ``ours`` with the right shape."""
    unexpected = [key for key in state if key not in ours]
    # Checkpoints older than PyTorch 0.4 have no BN counters; BatchNorm fills them in.
    missing = [
        key for key in ours
        if key not in state and key not in skipped and not key.endswith("num_batches_tracked")
    ]  # fmt: skip
    wrong = [
        f"{key} {tuple(state[key].shape)} vs {tuple(ours[key].shape)}"
        for key in state
        if key in ours and state[key].shape != ours[key].shape
    ]
    problems = [
        f"{len(items)} {what} (e.g. {', '.join(items[:3])})"
        for what, items in (("unexpected keys", unexpected), ("missing keys", missing), ("wrong shapes", wrong))
        if items
    ]
    if problems:
        raise ModelError(
            f"weights {source!r} do not fit {arch}: {'; '.join(problems)}; "
            f"use a checkpoint of torchvision's {arch} (or one saved from this cnnkit model)"
        )


def _is_file(text: str) -> bool:
    return Path(text).suffix.lower() in _FILE_SUFFIXES or os.sep in text or Path(text).exists()


def read_weights_file(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from .safetensors or a torch.save file (weights_only=True), on the CPU."""
    if not path.is_file():
        raise ModelError(f"weights file {str(path)!r} not found; check the path")
    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file

            loaded: Any = load_file(str(path), device="cpu")
        else:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # corrupt files raise many different types; all mean the same
        # Only the type: torch's weights_only refusal is a multi-line essay about unpickling.
        raise ModelError(
            f"cannot read weights file {str(path)!r} ({type(err).__name__}): not a weights file; give a "
            "state dict saved with torch.save (.pth/.pt) or a .safetensors file"
        ) from None
    return _as_state_dict(loaded, str(path))


def _as_state_dict(loaded: Any, source: str) -> dict[str, torch.Tensor]:
    # Training checkpoints often wrap the weights: {"state_dict": {...}} or {"model": {...}}.
    if isinstance(loaded, Mapping):
        for wrapper in ("state_dict", "model"):
            if isinstance(loaded.get(wrapper), Mapping):
                loaded = loaded[wrapper]
                break
    if not isinstance(loaded, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in loaded.items()
    ):
        raise ModelError(f"{source!r} does not hold a state dict (names -> tensors); save model.state_dict()")
    return dict(loaded)


def hub_cache_path(url: str) -> Path:
    """Where torch hub keeps (and looks for) the file downloaded from ``url``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)


def _download(name: str, config: PretrainedConfig) -> dict[str, torch.Tensor]:
    """Fetch a torchvision weights entry through the torch hub cache (no download when cached)."""
    from torchvision.models import get_model_weights

    members = get_model_weights(config.torchvision_name).__members__
    entry = members.get(name.upper())
    if entry is None:
        hint = did_you_mean(name, members)
        raise ModelError(
            f"torchvision has no weights {name!r} for {config.torchvision_name}{hint}; choose one of "
            f"{', '.join(members)}, or give a path to a .pth/.safetensors file"
        )
    cache = hub_cache_path(entry.url)
    was_cached = cache.is_file()
    try:
        loaded = torch.hub.load_state_dict_from_url(
            entry.url, progress=False, check_hash=True, map_location="cpu", weights_only=True
        )
    except Exception as err:  # offline, proxy, HTTP and hash errors all end the same way
        if was_cached:
            raise ModelError(
                f"the cached weights {str(cache)!r} cannot be read ({type(err).__name__}); "
                "delete the file so it is downloaded again"
            ) from None
        # Worded for every caller: each option that takes the name also takes a file path.
        raise ModelError(
            f"could not download the {config.torchvision_name} weights {name!r} from {entry.url} "
            f"({type(err).__name__}: {err}); put that file at {str(cache)!r}, or give the path of a "
            "local copy instead of the name (--weights FILE; --pretrained FILE for cnnkit finetune; "
            "weights='path/to/file.pth' in Python)"
        ) from None
    return _as_state_dict(loaded, str(cache))
