"""The Gram ("style") matrix of a layer's activations.

For one image and one layer with activations a (n_C channels on an n_H x n_W grid),

    G[k, k'] = sum over i, j of a[i, j, k] * a[i, j, k']

is large when channels k and k' fire together at the same places, whatever those places
are: it keeps which features co-occur (texture, colour, stroke) and forgets where they are
(layout). Two images with the same Gram matrices at several layers share a style.

This is the plain sum the lecture defines, without normalization; the style cost
(:mod:`cnnkit.style.costs`) divides by (2 n_H n_W n_C)^2 itself.
"""

from __future__ import annotations

import torch
from torch import Tensor

from cnnkit.errors import ShapeError

__all__ = ["gram_matrix"]


def gram_matrix(activations: Tensor) -> Tensor:
    """Activations (N, C, H, W) -> Gram matrices (N, C, C), G[n] = A[n] @ A[n]^T where
    A[n] is image n's activations flattened to (C, H*W). Differentiable; same dtype."""
    if activations.dim() != 4:
        shape = "x".join(map(str, activations.shape))
        raise ShapeError(
            f"a Gram matrix needs activations of shape (N, C, H, W), got {shape}; "
            "choose a convolutional layer (its output has channels and a grid)"
        )
    n, c, h, w = activations.shape
    flat = activations.reshape(n, c, h * w)  # (N, C, H*W)
    return torch.bmm(flat, flat.transpose(1, 2))  # (N, C, C)
