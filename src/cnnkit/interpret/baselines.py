"""What "nothing here" means for integrated gradients and occlusion: the baseline image.

A baseline is what the input is compared with: integrated gradients integrate along the
path from the baseline to the image, occlusion covers a square with the baseline's pixels
there. Black is neutral only where the data's background is black (MNIST, Fashion-MNIST);
on a photo a black square is a new, dark object, so the map shows where the model
dislikes black rather than what it needs. Three choices:

=========  ==============================================================================
black      every pixel 0
mean       each channel of the image set to that channel's mean (a flat patch of the
           image's own average colour)
blur       the image blurred with a Gaussian of sigma = shorter side / 8 (3.5 px at 28x28,
           28 px at 224x224): colours stay, edges and textures go
auto       black when the image's border is mostly dark (its median border pixel under
           0.1: an object on a black background, as in MNIST, even where a trouser leg
           touches the edge), else blur (a photo)
=========  ==============================================================================
"""

from __future__ import annotations

import torch
from torch import Tensor

from cnnkit.errors import CnnkitError
from cnnkit.interpret.regularize import gaussian_blur

__all__ = [
    "BASELINES",
    "DARK_BORDER",
    "baseline_pixels",
    "blur_sigma",
    "check_baseline",
    "describe_baseline",
    "resolve_baseline",
]

BASELINES = ("auto", "black", "mean", "blur")
DARK_BORDER = 0.1  # median border pixel (0..1) under which black counts as the background


def check_baseline(name: str) -> str:
    """The baseline ``name`` spells (any case: 'Blur' -> 'blur'); CnnkitError listing the
    choices for anything else."""
    from cnnkit.names import pick_choice

    return pick_choice(str(name).strip(), BASELINES, what="baseline")


def blur_sigma(height: int, width: int) -> float:
    """The blur baseline's sigma in pixels: an eighth of the shorter side."""
    return min(height, width) / 8


def resolve_baseline(name: str, pixels: Tensor) -> list[str]:
    """The baseline each image of pixels (N, C, H, W) in [0, 1] gets: ``name``, or for
    'auto' black when the median of the image's one-pixel border (channels averaged)
    is under :data:`DARK_BORDER`, else blur."""
    name = check_baseline(name)
    if name != "auto":
        return [name] * len(pixels)
    grey = pixels.mean(1)  # (N, H, W)
    border = torch.cat([grey[:, 0, :], grey[:, -1, :], grey[:, :, 0], grey[:, :, -1]], dim=1)
    return ["black" if float(b) < DARK_BORDER else "blur" for b in border.median(1).values]


def baseline_pixels(kinds: list[str], pixels: Tensor) -> Tensor:
    """Baselines (N, C, H, W) in pixel space [0, 1] for pixels (N, C, H, W), one kind per
    image ('black', 'mean' or 'blur', as :func:`resolve_baseline` gives)."""
    h, w = pixels.shape[2:]
    out = torch.empty_like(pixels)
    for i, kind in enumerate(kinds):
        image = pixels[i : i + 1]
        if kind == "black":
            out[i] = 0
        elif kind == "mean":
            out[i] = image.mean(dim=(2, 3), keepdim=True).expand_as(image)[0]
        elif kind == "blur":
            out[i] = gaussian_blur(image, blur_sigma(h, w))[0]
        else:
            raise CnnkitError(f"unknown baseline {kind!r}; choose one of: {', '.join(BASELINES[1:])}")
    return out


def describe_baseline(kind: str, height: int, width: int) -> str:
    """'black', 'image mean', 'blur sigma 3.5': what a picture title says."""
    if kind == "blur":
        return f"blur sigma {blur_sigma(height, width):.3g}"
    return "image mean" if kind == "mean" else kind
