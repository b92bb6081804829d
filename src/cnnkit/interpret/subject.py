"""The model being looked into, with what it takes to feed it and to show its inputs.

Every interpretation method works on a :class:`Subject`: a trained image classifier in
eval mode plus its :class:`~cnnkit.data.tensordata.DatasetInfo` (input shape, class names,
normalization). :func:`open_subject` makes one from

- a run directory written by ``cnnkit train`` / ``cnnkit finetune`` (the usual case), or
- a zoo name with torchvision weights (``resnet18`` + ``IMAGENET1K_V1`` or a local
  ``.pth``/``.safetensors`` file), which brings ImageNet's classes and normalization.

Three tensor formats meet here, and every method says which one it takes:

- *stored*: uint8 (C, H, W) or (N, C, H, W), 0..255, as :func:`load_image` returns;
- *input*: float32 (N, C, H, W), normalized, what the model sees;
- *pixels*: float32 (N, C, H, W) in [0, 1], what a person sees (for plotting).
"""

from __future__ import annotations

import logging

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from cnnkit.data.tensordata import DatasetInfo, TensorSplit
from cnnkit.errors import CnnkitError, ModelError, RunError, ShapeError, did_you_mean

__all__ = [
    "SPLIT_NAMES",
    "Subject",
    "conv_layer_names",
    "describe",
    "open_subject",
    "subject_from_model",
]

SPLIT_NAMES = ("train", "val", "test")


@dataclass
class Subject:
    """A trained image classifier ready for interpretation.

    ``model`` is in eval mode and float32, with every in-place activation turned into an
    out-of-place one (hooks and attribution methods must see unmodified layer outputs).
    ``name`` is short, for picture titles; ``path`` is the run directory (None for a
    zoo model with torchvision weights).
    """

    model: nn.Module
    info: DatasetInfo
    name: str
    path: Path | None = None
    config: dict[str, Any] | None = None  # the run's config.json (None for a zoo model)
    _splits: dict[str, TensorSplit] = field(default_factory=dict, repr=False)  # loaded once

    # ---- what the model expects -------------------------------------------------------
    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) without the batch."""
        c, h, w = self.info.input_shape
        return (c, h, w)

    @property
    def classes(self) -> tuple[str, ...]:
        return self.info.classes

    @property
    def num_classes(self) -> int:
        return self.info.num_classes

    @property
    def device(self) -> torch.device:
        # Skips tensors on "meta": style transfer releases the layers it never runs that way.
        return next((p.device for p in self.model.parameters() if not p.is_meta), torch.device("cpu"))

    # ---- converting between the three formats ---------------------------------------
    def load_image(self, path: str | Path) -> Tensor:
        """An image file of any size and colour mode -> stored uint8 (C, H, W), converted
        as the model's input shape says (DataError naming the file when it cannot be read).

        A conversion is never silent: a line such as "photo.jpg: 640x480 RGB, converted to
        1x28x28 grey" goes to the ``cnnkit`` logger at level INFO (the CLI prints it on
        stderr as a note; a Python caller sees it by configuring logging).
        """
        from cnnkit.data.images import load_image

        image = load_image(path, input_shape=self.input_shape)
        note = _conversion_note(path, self.input_shape)
        if note:
            _log.info(note)
        return image

    def read_image(self, ref: str | Path) -> tuple[Tensor, int | None]:
        """An image reference -> (stored uint8 (C, H, W), true class index or None).

        ``ref`` is an image file, or ``test:N`` / ``val:N`` / ``train:N`` for the N-th
        image (0-based) of that split of the run's own dataset, whose label comes along.
        """
        text = str(ref)
        split, colon, number = text.partition(":")
        # "test:..." is a split reference unless a file of that name exists
        if split in SPLIT_NAMES and colon and not Path(text).exists():
            part = self.dataset_split(split)
            index = int(number) if number.isascii() and number.isdigit() else -1  # "abc", "-1", "1.5": none
            if not 0 <= index < len(part):
                raise CnnkitError(
                    f"{text}: N in {split}:N must be a whole number from 0 to {len(part) - 1} "
                    f"(the {split} split has {len(part)} images)"
                )
            return part.x[index], int(part.y[index])
        near = did_you_mean(split, SPLIT_NAMES) if colon and split not in SPLIT_NAMES else ""
        if near and not Path(text).exists():  # "tset:3": a misspelt split, not a missing file
            raise CnnkitError(f"{text}: no such file, and {split!r} is not a split{near}; "
                              "images of the run's dataset are test:N, val:N or train:N")
        return self.load_image(text), None

    def dataset_split(self, split: str = "test") -> TensorSplit:
        """The run's own dataset split (stored format), as `cnnkit eval` loads it."""
        if split not in SPLIT_NAMES:
            raise CnnkitError(f"unknown split {split!r}; choose one of: {', '.join(SPLIT_NAMES)}")
        if self.config is None:
            raise CnnkitError(f"{self.name} is not a run, so it has no dataset; give image files instead")
        if split in self._splits:  # several test:N references read the dataset once
            return self._splits[split]
        from cnnkit.data.reference import check_reference
        from cnnkit.data.sources import load_dataset

        reference = str(self.config.get("data") or self.info.name)
        where = self.path if self.path is not None else self.name
        check_reference(reference, run=where, fix="move it back, or give image files instead of "
                        f"{split}:N (`cnnkit eval {where} --data ...` evaluates on the data's new place)")
        splits = load_dataset(
            reference,
            val_fraction=float(self.config.get("val_fraction", 0.1)),
            seed=int(self.config.get("seed", 0)),
            input_shape=self.input_shape,
            limit=self.config.get("limit"),
        )
        for name in SPLIT_NAMES:
            self._splits[name] = getattr(splits, name)
        part = self._splits[split]
        if len(part) == 0:
            raise CnnkitError(f"the {split} split of {self.info.name} is empty; choose another split")
        return part

    def check_stored(self, x: Tensor) -> Tensor:
        """Validate a stored image or batch and return it as uint8 (N, C, H, W).

        ShapeError, saying what was expected, for the wrong rank, channels or size.
        """
        if x.dim() == 3:
            x = x.unsqueeze(0)
        expected = "x".join(map(str, self.input_shape))
        if x.dim() != 4 or tuple(x.shape[1:]) != self.input_shape:
            got = "x".join(map(str, x.shape))
            raise ShapeError(
                f"{self.name} takes images of {expected} (CxHxW), got a tensor of {got}; "
                "load files with Subject.load_image, which converts size and colour mode"
            )
        if x.dtype != torch.uint8:
            raise ShapeError(f"stored images are uint8 0..255, got {x.dtype}; use to_input for float pixels")
        return x

    def to_input(self, x: Tensor) -> Tensor:
        """Stored uint8 (C, H, W) or (N, C, H, W) -> normalized float input (N, C, H, W)
        on the model's device."""
        return self.info.normalize(self.check_stored(x).to(self.device))

    def pixels_to_input(self, pixels: Tensor) -> Tensor:
        """Pixels in [0, 1] (N, C, H, W) -> normalized input; differentiable."""
        mean, std = self._stats(pixels)
        return (pixels - mean) / std

    def input_to_pixels(self, x: Tensor) -> Tensor:
        """Normalized input (N, C, H, W) -> pixels (not clamped; clamp to show); differentiable."""
        mean, std = self._stats(x)
        return x * std + mean

    def input_bounds(self, *, device: torch.device | None = None) -> tuple[Tensor, Tensor]:
        """(low, high), each (1, C, 1, 1): the normalized values of pixel 0 and pixel 1.

        Optimizers over the input clamp to these so every image they make is a real one.
        """
        zeros = torch.zeros(1, self.input_shape[0], 1, 1, device=device or self.device)
        return self.pixels_to_input(zeros), self.pixels_to_input(zeros + 1)

    def _stats(self, like: Tensor) -> tuple[Tensor, Tensor]:
        shape = (1, -1, 1, 1)
        mean = torch.tensor(self.info.mean, device=like.device, dtype=like.dtype).view(shape)
        std = torch.tensor(self.info.std, device=like.device, dtype=like.dtype).view(shape)
        return mean, std

    # ---- predictions, classes and layers -----------------------------------------------
    @torch.no_grad()
    def probabilities(self, x: Tensor) -> Tensor:
        """Normalized input (N, C, H, W) -> softmax probabilities (N, classes)."""
        return torch.softmax(self.model(x).float(), dim=1)

    def class_index(self, target: int | str) -> int:
        """A class index (0-based, or its decimal text) or a class name (any case) -> index.

        CnnkitError naming the valid range and the closest name otherwise.
        """
        text = str(target).strip()
        lowered = [c.lower() for c in self.classes]
        # Text is a name first (folder datasets may name classes "30", "50"); a Python int
        # is always an index.
        if not isinstance(target, int) and text.lower() in lowered:
            return lowered.index(text.lower())
        if text.lstrip("-").isdigit():
            index = int(text)
            if 0 <= index < self.num_classes:
                return index
            raise CnnkitError(
                f"class {index} is out of range: {self.name} has classes 0..{self.num_classes - 1} "
                f"({_some(self.classes)})"
            )
        raise CnnkitError(
            f"{text!r} is not a class of {self.name}{did_you_mean(text, self.classes)}; "
            f"give a name or an index 0..{self.num_classes - 1} ({_some(self.classes)})"
        )

    def layer(self, name: str) -> nn.Module:
        """The module called ``name`` in ``model.named_modules()`` (e.g. ``features.stage2.conv1``),
        or by a unique ending of that name (``stage2.conv1``; see :func:`cnnkit.names.resolve_layer`).

        CnnkitError listing the candidates when several layers end so, and with the closest
        names and the convolution layers when none does.
        """
        return dict(self.model.named_modules())[self.layer_name(name)]

    def layer_name(self, name: str) -> str:
        """The full dotted name of the layer ``name`` means (see :meth:`layer`)."""
        from cnnkit.names import resolve_layer

        modules = dict(self.model.named_modules())
        if name and name in modules:
            return name
        where = f"`cnnkit interpret layers {self.path}`" if self.path else "`cnnkit interpret layers`"
        if name.strip():
            try:
                return resolve_layer(name, modules, where=self.name, listing=where)
            except CnnkitError as err:
                if "ambiguous" in str(err):
                    raise
        convs = conv_layer_names(self.model)
        where = f"`cnnkit interpret layers {self.path}`" if self.path else "`cnnkit interpret layers`"
        raise CnnkitError(
            f"{self.name} has no layer {name!r}{did_you_mean(name, [n for n in modules if n])}; "
            f"its convolutions are {_some(convs, 6)}; {where} lists every layer"
        )


_log = logging.getLogger(__name__)  # notes about converted image files (cnnkit.cli.app prints them)


def _conversion_note(path: str | Path, input_shape: tuple[int, int, int]) -> str | None:
    """'x.png: 64x64 RGBA, converted to 1x28x28 grey' when the file is not already the
    model's size and mode, else None (reads only the file's header)."""
    from PIL import Image

    from cnnkit.data.images import quiet_size_warning

    channels, height, width = input_shape
    with quiet_size_warning(), Image.open(path) as opened:
        (w, h), mode = opened.size, opened.mode
    same_mode = mode == ("L" if channels == 1 else "RGB")
    if (w, h) == (width, height) and same_mode:
        return None
    kind = "grey" if channels == 1 else "RGB"
    return f"{path}: {w}x{h} {mode}, converted to {channels}x{height}x{width} {kind} as the model expects"


def conv_layer_names(model: nn.Module) -> list[str]:
    """Names of the convolution layers, in the order they are registered (input to output)."""
    kinds = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
    return [name for name, module in model.named_modules() if isinstance(module, kinds)]


def _some(names: tuple[str, ...] | list[str], limit: int = 10) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _out_of_place(model: nn.Module) -> nn.Module:
    for module in model.modules():
        if getattr(module, "inplace", False) is True:
            module.inplace = False  # type: ignore[assignment]
    return model


def subject_from_model(
    model: nn.Module,
    info: DatasetInfo,
    *,
    name: str = "model",
    path: Path | None = None,
    config: dict[str, Any] | None = None,
) -> Subject:
    """Wrap an in-memory image classifier: a copy of it in eval mode, float32, with frozen
    weights and no in-place activations (the caller's model is left as it was, so it can
    go on training)."""
    if info.kind != "image" or len(info.input_shape) != 3:
        raise RunError(
            f"{name} was trained on {info.kind} data ({info.name}); interpretation pictures are "
            "made for image models (input CxHxW)"
        )
    model = _out_of_place(copy.deepcopy(model).float().eval())
    for p in model.parameters():
        p.requires_grad_(False)  # methods differentiate w.r.t. the input only
    return Subject(model, info, name, path, config)


def open_subject(
    source: str | Path, *, weights: str | None = None, device: str | torch.device = "cpu", features_only: bool = False
) -> Subject:
    """A run directory, or a zoo name plus torchvision ``weights`` -> :class:`Subject`.

    ``weights`` is a torchvision weights name (``IMAGENET1K_V1``, ``DEFAULT``; downloaded
    once into the torch hub cache) or a local checkpoint file; it is only for zoo names.
    ``features_only``: a weights file may hold the convolutional trunk alone (the head
    then stays random: for methods that read feature maps only, such as style transfer).
    """
    text = str(source)
    path = Path(text).expanduser()
    if path.is_dir():
        if weights is not None:
            raise CnnkitError("--weights is for zoo names; a run directory brings its own weights")
        from cnnkit.train.run import load_run

        run = load_run(path, device=device)
        return subject_from_model(run.model, run.info, name=path.name, path=path, config=run.config)
    if weights is None:
        hint = "a run directory (runs/NAME from `cnnkit train`)"
        if path.suffix or "/" in text:
            raise RunError(f"no run directory at {text}; give {hint}")
        raise RunError(
            f"{text!r} is not a run directory; give {hint}, or a zoo name with "
            "--weights IMAGENET1K_V1 (or a weights file): an untrained network has nothing to show"
        )
    return _pretrained_subject(text, weights, device, features_only)


def _pretrained_subject(arch: str, weights: str, device: str | torch.device, features_only: bool = False) -> Subject:
    from cnnkit.nn.build import build, default_input_shape
    from cnnkit.nn.pretrained import load_torchvision_weights, pretrained_config

    config = pretrained_config(arch)  # ModelError for models without torchvision weights
    model = build(arch)
    load_torchvision_weights(model, weights, arch=arch, features_only=features_only)
    info = DatasetInfo(
        name="imagenet",
        kind="image",
        input_shape=tuple(default_input_shape(arch, model)),
        classes=tuple(_imagenet_classes()),
        mean=config.mean,
        std=config.std,
        source=f"torchvision {config.torchvision_name} {weights}",
    )
    if model.num_classes != len(info.classes):  # type: ignore[attr-defined]
        raise ModelError(f"{arch} with {weights} has {model.num_classes} outputs, not ImageNet's 1000")  # type: ignore[attr-defined]
    return subject_from_model(model.to(device), info, name=f"{arch} ({weights})")


def _imagenet_classes() -> list[str]:
    from torchvision.models._meta import _IMAGENET_CATEGORIES

    return list(_IMAGENET_CATEGORIES)


def describe(subject: Subject) -> dict[str, Any]:
    """JSON-able summary of a subject (for --json outputs)."""
    return {
        "model": subject.name,
        "path": str(subject.path) if subject.path else None,
        "input_shape": list(subject.input_shape),
        "classes": list(subject.classes),
    }
