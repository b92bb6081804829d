"""The chosen layers' activations for an image, in one forward pass.

Layers are named two ways:

- **lecture names** ``convB_K``: the K-th convolution of block B, where a block is a run of
  convolutions at one resolution (a pooling or strided layer, which shrinks the maps to
  at most 0.6 of their size, starts the next; an unpadded convolution does not). For VGG19 these are the names of Gatys et al. (``conv1_1`` ... ``conv5_4``); any
  other CNN gets them the same way. As in Gatys's network, a lecture name means the
  activation right after that convolution (its ReLU) when its block has one, else the
  convolution's own output (see :func:`cnnkit.interpret.features.conv_feature_layers`);
- **module names** from ``model.named_modules()`` (``features.21``, ``features.stage2.relu1``;
  ``cnnkit interpret layers`` lists them): that module's output.

The default layers follow Gatys et al.: content at ``conv4_2`` (the second convolution of
the second-to-last block), style at the first convolution of each block (``conv1_1``,
``conv2_1``, ... ``conv5_1``, at most five), all style layers weighted equally.

The forward pass stops as soon as every requested layer has produced its output, so the
classifier head never runs and any image size works.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from cnnkit.errors import CnnkitError, ShapeError, did_you_mean
from cnnkit.interpret.features import conv_feature_layers
from cnnkit.interpret.subject import Subject
from cnnkit.nn.capture import capture as nn_capture
from cnnkit.style.head import is_released

__all__ = [
    "MAX_STYLE_LAYERS",
    "NEW_BLOCK",
    "PROBE_SIDE",
    "FeatureExtractor",
    "LayerMap",
    "layer_map",
    "run_to_layers",
]

PROBE_SIDE = 128  # the probe pass that groups convolutions into blocks runs at most this size
MAX_STYLE_LAYERS = 5
# A convolution starts a new block when its output is at most this share of the block's
# size: a pooling or stride 2 halves it, an unpadded 3x3 convolution only trims 2 pixels.
NEW_BLOCK = 0.6


def run_to_layers(model: nn.Module, modules: dict[str, nn.Module], x: Tensor) -> dict[str, Tensor]:
    """{name: first output} of ``modules`` from ``model(x)``, which stops once all are in
    (:func:`cnnkit.nn.capture.capture`); outputs keep their autograd graph.

    ShapeError when the network cannot run that far on an image of this size.
    """
    try:
        return nn_capture(model, modules, x, stop_early=True)[1]
    except RuntimeError as err:  # a layer past a fixed-size part, or an image too small
        size = "x".join(map(str, x.shape[2:]))
        raise ShapeError(
            f"the network cannot run on a {size} image up to the chosen layers ({str(err).splitlines()[0]}); "
            "choose earlier layers or a larger --size"
        ) from None


@dataclass(frozen=True)
class LayerMap:
    """Lecture names -> module names, and the default layers, for one model."""

    aliases: dict[str, str]  # 'conv4_2' -> 'features.27' (the module whose output is used)
    default_content: str
    default_style: tuple[str, ...]


def layer_map(subject: Subject) -> LayerMap:
    """Group the model's 2-D convolutions into blocks by output size (one probe pass at up
    to 128x128) and name them convB_K. CnnkitError for a model without convolutions."""
    model = subject.model
    bands = conv_feature_layers(model)
    if not bands:
        raise CnnkitError(f"{subject.name} has no 2-D convolutions; style transfer needs a CNN")
    modules = dict(model.named_modules())
    channels, height, width = subject.input_shape
    probe = torch.zeros(1, channels, min(height, PROBE_SIDE), min(width, PROBE_SIDE), device=subject.device)
    wanted = {b.conv: modules[b.conv] for b in bands if b.conv is not None}
    with torch.no_grad():
        outputs = run_to_layers(model, wanted, probe)
    aliases: dict[str, str] = {}
    blocks: list[list[str]] = []  # lecture names, block by block
    block_side = 0  # the longer output side of the current block's first convolution
    for band in bands:
        out = outputs.get(band.conv or "")
        if out is None or out.dim() != 4:
            continue  # not reached by a forward pass (an unused branch)
        side = max(out.shape[2:])
        if not blocks or side <= NEW_BLOCK * block_side:
            blocks.append([])
            block_side = side
        name = f"conv{len(blocks)}_{len(blocks[-1]) + 1}"
        blocks[-1].append(name)
        aliases[name] = band.shown
    if not blocks:
        raise CnnkitError(f"no convolution of {subject.name} is reached by a forward pass")
    content_block = blocks[max(0, len(blocks) - 2)]
    content = content_block[1] if len(content_block) > 1 else content_block[0]
    style = tuple(block[0] for block in blocks[:MAX_STYLE_LAYERS])
    return LayerMap(aliases, content, style)


class FeatureExtractor:
    """A frozen network that returns the activations of named layers for pixel images.

    ``extractor(pixels, names)``: pixels float (N, C, H, W) in [0, 1] (normalized here as
    the network expects) -> {name: activations (N, C_l, H_l, W_l)}, differentiable w.r.t.
    the pixels. ``names`` are lecture or module names (see the module doc).
    """

    def __init__(self, subject: Subject, *, pretrained: bool = True) -> None:
        self.subject = subject
        self.pretrained = pretrained
        self.layers = layer_map(subject)
        self._modules = dict(subject.model.named_modules())

    @property
    def name(self) -> str:
        return self.subject.name

    @property
    def channels(self) -> int:
        return self.subject.input_shape[0]

    @property
    def device(self) -> torch.device:
        return self.subject.device

    def resolve(self, name: str) -> str:
        """A lecture or module name -> the module name whose output it means.

        CnnkitError with the closest names and the lecture names otherwise.
        """
        text = name.strip()
        if text in self.layers.aliases:
            return self.layers.aliases[text]
        if text and text in self._modules:
            return text
        if text and any(n.endswith("." + text) for n in self._modules):  # a unique ending, as everywhere
            from cnnkit.names import resolve_layer

            return resolve_layer(text, self._modules, where=self.name, listing="`cnnkit interpret layers`")
        choices = [*self.layers.aliases, *(n for n in self._modules if n)]
        names = list(self.layers.aliases)
        shown = ", ".join(names) if len(names) <= 20 else ", ".join(names[:20]) + ", ..."
        raise CnnkitError(
            f"{self.name} has no layer {text!r}{did_you_mean(text, choices)}; give a lecture name "
            f"({shown}) or a module name (`cnnkit interpret layers` lists them)"
        )

    def __call__(self, pixels: Tensor, names: Sequence[str]) -> dict[str, Tensor]:
        if pixels.dim() != 4 or pixels.shape[1] != self.channels:
            raise ShapeError(
                f"{self.name} takes pixels of shape (N, {self.channels}, H, W), got {tuple(pixels.shape)}"
            )
        resolved = {name: self.resolve(name) for name in names}
        modules = {module: self._modules[module] for module in resolved.values()}
        for name, module in resolved.items():
            if is_released(modules[module]):
                raise ShapeError(
                    f"layer {name!r} comes after the last feature map of {self.name} (it outputs no "
                    "channels and grid); choose a convolutional layer, e.g. conv4_2"
                )
        found = run_to_layers(self.subject.model, modules, self.subject.pixels_to_input(pixels))
        out: dict[str, Tensor] = {}
        for name, module in resolved.items():
            act = found.get(module)
            if act is None:
                raise CnnkitError(f"layer {name!r} was not reached by a forward pass; choose another layer")
            if act.dim() != 4:
                raise ShapeError(
                    f"layer {name!r} outputs shape {tuple(act.shape)}; choose a convolutional layer "
                    "(its output has channels and a grid), e.g. conv4_2"
                )
            out[name] = act
        return out
