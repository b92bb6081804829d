"""Deep Dream: amplify whatever a layer already sees in an image.

Gradient *ascent* on the mean square of the layer's activation, with respect to the image
pixels (float (N, C, H, W) in [0, 1], clamped after every step), over several *octaves*:
the image is first processed small (coarse patterns), then at larger and larger sizes,
each time carrying up the detail added so far. Each step

1. rolls the image by a random shift (``jitter``) so the pattern does not lock onto the
   pixel grid, and rolls the gradient back;
2. takes a *normalized* step: ``lr * grad / mean(|grad|)``, i.e. ``lr`` is the mean pixel
   change per step, whatever the layer's scale.

The forward pass stops at the chosen layer, so any image size works for a layer in the
convolutional ``features``; a layer in a head that needs a fixed size gets a clear error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from cnnkit.errors import CnnkitError
from cnnkit.interpret import regularize as R
from cnnkit.interpret.maximize import layer_output
from cnnkit.interpret.subject import Subject
from cnnkit.numbers import check_range

__all__ = [
    "MAX_ASPECT",
    "Dream",
    "check_settings",
    "default_size",
    "dream",
    "dream_figure",
    "load_dream_image",
    "octave_sizes",
]


@dataclass
class Dream:
    """``pixels`` and ``original``: (N, C, H, W) in [0, 1], same size; ``history``: the
    objective (mean square activation) after each step, all octaves in order; ``sizes``:
    the (H, W) of each octave processed, small to large."""

    pixels: Tensor
    original: Tensor
    history: list[float]
    start: float
    final: float
    layer: str
    sizes: list[tuple[int, int]] = field(default_factory=list)


def check_settings(*, octaves: int = 4, octave_scale: float = 1.4, steps: int = 10, lr: float = 0.02,
                   size: int | None = None) -> None:
    """CnnkitError naming the option for a setting :func:`dream` cannot use (the CLI calls
    this before any work): whole ``octaves`` and ``steps`` >= 1, a finite ``octave_scale``
    > 1 (each octave that much larger), a finite ``lr`` > 0 and, when given, a whole
    ``size`` >= 8 pixels. None (not 0) means the default size."""
    check_range("--octaves", octaves, 1, integer=True)
    check_range("--octave-scale", octave_scale, 1, strict=True)
    check_range("--steps", steps, 1, integer=True)
    check_range("--lr", lr, 0, strict=True)
    if size is not None:
        check_range("--size", size, 8, integer=True)


def octave_sizes(height: int, width: int, *, octaves: int, scale: float, smallest: int) -> list[tuple[int, int]]:
    """(H, W) per octave, small to large, ending at (height, width); octaves whose shorter
    side would fall below ``smallest`` are dropped (the network needs some input)."""
    check_settings(octaves=octaves, octave_scale=scale)
    sizes = []
    for k in range(octaves - 1, -1, -1):
        h, w = round(height / scale**k), round(width / scale**k)
        if min(h, w) >= min(smallest, height, width):
            sizes.append((h, w))
    return sizes


MAX_ASPECT = 8  # longer side / shorter side: beyond this the octaves become strips


def _smallest_octave(subject: Subject) -> int:
    """The shortest side an octave may have: a quarter of the model's input side, but at
    least 16 px (or the input side, for models smaller than that). Convolutional features
    run on smaller images than the model was built for, and the small octaves are where
    Deep Dream grows its large-scale patterns."""
    side = min(subject.input_shape[1:])
    return max(side // 4, min(16, side))


def _objective(subject: Subject, layer: str, pixels: Tensor) -> Tensor:
    module = subject.layer(layer)
    try:
        out = layer_output(subject.model, module, subject.pixels_to_input(pixels))
    except RuntimeError as err:  # a fixed-size head, or an image too small for the network
        size = "x".join(map(str, pixels.shape[2:]))
        need = "x".join(map(str, subject.input_shape[1:]))
        raise CnnkitError(
            f"layer {layer!r} cannot run on a {size} image (the model was built for {need}; "
            f"{str(err).splitlines()[0][:120]}); choose a layer in features, or a size of {need}"
        ) from None
    return out.float().pow(2).mean()


def dream(
    subject: Subject,
    pixels: Tensor,
    *,
    layer: str,
    octaves: int = 4,
    octave_scale: float = 1.4,
    steps: int = 10,
    lr: float = 0.02,
    jitter: int = 4,
    seed: int = 0,
) -> Dream:
    """Dream on ``pixels`` (N, C, H, W) or (C, H, W) in [0, 1], any H and W.

    Returns a :class:`Dream` whose ``pixels`` have the input's shape (with batch).
    """
    if pixels.dim() == 3:
        pixels = pixels.unsqueeze(0)
    channels = subject.input_shape[0]
    if pixels.dim() != 4 or pixels.shape[1] != channels:
        raise CnnkitError(
            f"dream takes pixels of shape (N, {channels}, H, W) for {subject.name}, got {tuple(pixels.shape)}; "
            "load files with Subject.load_image"
        )
    check_settings(octaves=octaves, octave_scale=octave_scale, steps=steps, lr=lr)
    height, width = pixels.shape[2:]
    if max(height, width) > MAX_ASPECT * min(height, width):
        raise CnnkitError(
            f"a {width}x{height} image is too elongated to dream on (more than {MAX_ASPECT}:1); crop it first"
        )
    layer = subject.layer_name(layer)  # a unique suffix names it; a bad name fails before any work
    original = pixels.detach().float().clamp(0, 1).to(subject.device)
    height, width = original.shape[2:]
    sizes = octave_sizes(height, width, octaves=octaves, scale=octave_scale, smallest=_smallest_octave(subject))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        start = float(_objective(subject, layer, original))
    history: list[float] = []
    detail = torch.zeros_like(original)
    image = original
    for h, w in sizes:
        base = F.interpolate(original, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
        detail = F.interpolate(detail, size=(h, w), mode="bilinear", align_corners=False)
        image = (base + detail).clamp(0, 1)
        for _ in range(steps):
            dy, dx = R.random_shift(jitter, generator=generator)
            shifted = R.roll(image, dy, dx).requires_grad_(True)
            value = _objective(subject, layer, shifted)
            (grad,) = torch.autograd.grad(value, shifted)
            grad = R.roll(grad, -dy, -dx)
            image = (image + lr * grad / (grad.abs().mean() + 1e-12)).clamp(0, 1).detach()
            history.append(float(value.detach()))
        detail = image - base  # what the dream added at this size, carried to the next
    with torch.no_grad():
        final = float(_objective(subject, layer, image))
    return Dream(image.cpu(), original.cpu(), history, start, final, layer, sizes)


def default_size(subject: Subject) -> int:
    """Shorter side to dream at without --size: 4x a small model's side (a 28x28 dream is a
    few blobs), capped at 112, never below the model's own side."""
    side = min(subject.input_shape[1:])
    return max(side, min(4 * side, 112))


def load_dream_image(subject: Subject, ref: str, *, size: int | None = None) -> tuple[Tensor, int | None]:
    """An image file or ``test:N`` -> (pixels (1, C, H, W) in [0, 1], true class or None).

    The shorter side becomes ``size`` (default :func:`default_size`), aspect ratio kept
    for files; ``test:N`` images (the model's size) are upscaled bilinearly.
    """
    from pathlib import Path

    from cnnkit.data.images import load_image

    check_settings(size=size)
    size = default_size(subject) if size is None else size  # an explicit 0 is an error, not the default
    channels = subject.input_shape[0]
    path = Path(ref)
    if path.is_file():
        h, w = _file_size(path)
        scale = size / min(h, w)
        shape = (channels, max(1, round(h * scale)), max(1, round(w * scale)))
        return load_image(path, input_shape=shape).float().unsqueeze(0) / 255.0, None
    stored, label = subject.read_image(ref)  # test:N, or a clear error for a missing file
    pixels = stored.float().unsqueeze(0) / 255.0
    h, w = pixels.shape[2:]
    scale = size / min(h, w)
    target = (max(1, round(h * scale)), max(1, round(w * scale)))
    if target != (h, w):
        pixels = F.interpolate(pixels, size=target, mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)
    return pixels, label


def _file_size(path: Any) -> tuple[int, int]:
    """(H, W) of an image file after EXIF rotation; the model's size when unreadable
    (load_image then reports what is wrong with the file)."""
    try:
        from PIL import Image, ImageOps

        from cnnkit.data.images import quiet_size_warning

        with quiet_size_warning(), Image.open(path) as opened:
            w, h = (ImageOps.exif_transpose(opened) or opened).size
        return h, w
    except Exception:  # noqa: BLE001 - load_image gives the one-line reason
        return 1, 1


def dream_figure(subject: Subject, result: Dream, *, title: str | None = None) -> Any:
    """The input and the dream side by side (first image of the batch)."""
    from cnnkit.interpret.plots import figure, show_image

    h, w = result.pixels.shape[2:]
    fig, axes = figure(1, 2, cell=3.2 * max(1.0, min(1.6, w / max(h, 1))))
    show_image(axes[0, 0], result.original[0], title=f"input {w}x{h}")
    gain = result.final / result.start if result.start > 0 else float("inf")
    show_image(axes[0, 1], result.pixels[0], title=f"dream: {result.layer}\nmean square x{gain:.1f}")
    octaves = len(result.sizes)
    fig.suptitle(title or f"{subject.name}: Deep Dream, {octaves} octave{'s' * (octaves != 1)}", fontsize=11)
    return fig
