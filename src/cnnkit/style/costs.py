"""The costs neural style transfer minimizes (Gatys et al., 2015; the lecture's notation).

For a generated image G, a content image C and a style image S, with a^[l](X) the
activations (n_C channels on an n_H x n_W grid) of layer l for image X:

- content cost at one layer l (the *same* layer for C and G):
  J_content(C, G) = 1/2 * || a^[l](C) - a^[l](G) ||^2   (sum of squares over every element);
- style cost at one layer l, with Gram matrices G^[l] (:func:`~cnnkit.style.gram.gram_matrix`):
  J_style^[l](S, G) = || G^[l](S) - G^[l](G) ||_F^2 / (2 n_H n_W n_C)^2;
- style cost over several layers: J_style(S, G) = sum_l lambda^[l] * J_style^[l](S, G);
- an optional total-variation cost J_tv(G): the sum of squared differences between
  horizontally and vertically neighbouring pixels (pixels in [0, 1]), which smooths noise.

The whole objective is J(G) = alpha * J_content + beta * J_style + tv * J_tv.

Style and generated images may differ in size. A Gram matrix is a sum over positions, so
each is divided by its own n_H * n_W before they are compared and the cost is divided by
(2 n_C)^2: ||G(S)/M_S - G(G)/M_G||^2 / (2 n_C)^2, with M = n_H * n_W. When M_S == M_G this
is exactly the formula above.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from torch import Tensor

from cnnkit.errors import ShapeError
from cnnkit.style.gram import gram_matrix


def content_cost(content: Tensor, generated: Tensor) -> Tensor:
    """1/2 * sum((content - generated)^2) for two activations of the same shape -> scalar."""
    if content.shape != generated.shape:
        raise ShapeError(
            f"content cost needs activations of the same shape, got {tuple(content.shape)} and "
            f"{tuple(generated.shape)}; the generated image must have the content image's size"
        )
    return 0.5 * (content - generated).pow(2).sum()


@dataclass(frozen=True)
class StyleTarget:
    """A style image's Gram matrix at one layer, computed once: ``gram`` (N, C, C) is the
    plain sum over the ``positions`` = n_H * n_W grid cells of that layer."""

    gram: Tensor
    positions: int

    @classmethod
    def from_activations(cls, activations: Tensor) -> StyleTarget:
        """Activations (N, C, H, W) -> their target (the Gram matrix without a graph)."""
        gram = gram_matrix(activations.detach())
        return cls(gram, int(activations.shape[2] * activations.shape[3]))

    def reference_cost(self) -> Tensor:
        """The style cost of an image whose activations are all zero: ||G/M||^2 / (2 n_C)^2.
        A scale for this layer's cost (see :func:`cnnkit.style.transfer.auto_beta`)."""
        channels = self.gram.shape[-1]
        return (self.gram / self.positions).pow(2).sum() / (2 * channels) ** 2


def layer_style_cost(target: StyleTarget | Tensor, generated: Tensor) -> Tensor:
    """Style cost at one layer -> scalar.

    ``target``: a :class:`StyleTarget`, or the style image's activations (N, C, H, W);
    ``generated``: the generated image's activations (N, C, H', W') at the same layer.
    """
    if isinstance(target, Tensor):
        target = StyleTarget.from_activations(target)
    gram = gram_matrix(generated)  # (N, C, C)
    if gram.shape != target.gram.shape:
        raise ShapeError(
            f"style cost needs the same number of channels and images, got Gram matrices "
            f"{tuple(target.gram.shape)} and {tuple(gram.shape)}"
        )
    channels = gram.shape[-1]
    positions = generated.shape[2] * generated.shape[3]
    diff = target.gram / target.positions - gram / positions
    return diff.pow(2).sum() / (2 * channels) ** 2


def style_cost(
    targets: Mapping[str, StyleTarget], generated: Mapping[str, Tensor], weights: Mapping[str, float]
) -> Tensor:
    """sum over layers l of weights[l] * layer_style_cost(targets[l], generated[l]) -> scalar."""
    total: Tensor | None = None
    for name, weight in weights.items():
        part = weight * layer_style_cost(targets[name], generated[name])
        total = part if total is None else total + part
    if total is None:
        raise ValueError("style_cost needs at least one layer")
    return total


def total_variation(pixels: Tensor) -> Tensor:
    """Pixels (N, C, H, W) -> sum of squared differences of vertical and horizontal
    neighbours (a scalar; 0 for a flat image)."""
    dy = pixels[:, :, 1:, :] - pixels[:, :, :-1, :]
    dx = pixels[:, :, :, 1:] - pixels[:, :, :, :-1]
    return dy.pow(2).sum() + dx.pow(2).sum()


def reference_content_cost(content: Tensor) -> Tensor:
    """The content cost of an image whose activations are all zero: 1/2 ||a(C)||^2."""
    return 0.5 * content.detach().pow(2).sum()


__all__ = [
    "StyleTarget",
    "content_cost",
    "layer_style_cost",
    "reference_content_cost",
    "style_cost",
    "total_variation",
]

