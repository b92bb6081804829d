"""The embedding network: a convolutional trunk mapped to an L2-normalized vector.

    images (N, C, H, W) --trunk--> (N, C', h, w) --global average pool--> (N, C')
        --dropout (optional)--> --Linear--> (N, dim) --L2 normalize--> unit rows (N, dim)

Two images are compared by the squared L2 distance of their embeddings,
d = ||f(x_i) - f(x_j)||^2, which lies in [0, 4] for unit vectors.

Siamese use: a Siamese network is this one module applied to every input of a pair (or of
an anchor/positive/negative triplet), so all branches share their weights by construction.
Call ``net(torch.cat([a, p, n]))`` once, or ``net(a)``, ``net(p)``, ``net(n)`` in turn;
there is no second copy of the weights to keep in sync.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnkit.errors import ModelError, ShapeError
from cnnkit.nn.pixel_stats import PixelStats

__all__ = ["EmbeddingNet", "build_embedder"]


class EmbeddingNet(PixelStats):
    """Trunk -> global average pool -> (dropout) -> Linear(trunk_channels, dim) -> L2 norm.

    ``forward(x)``: normalized float images (N, C, H, W) -> float (N, dim), unit rows.
    ``embed(images)``: uint8 0..255 or float 0..1 images -> (N, dim), in eval mode, no grad.

    Buffers: ``mean`` and ``std`` (C,) on the 0..1 scale, used by :meth:`normalize`
    (a training loop records the training images' statistics there; they travel with the
    state dict).
    """

    def __init__(
        self,
        trunk: nn.Module,
        *,
        trunk_channels: int,
        dim: int = 128,
        dropout: float = 0.0,
        in_channels: int = 1,
    ) -> None:
        super().__init__()
        if trunk_channels < 1 or dim < 1 or in_channels < 1:
            raise ModelError("trunk_channels, dim and in_channels must be positive integers, e.g. dim=128")
        if not 0.0 <= dropout < 1.0:
            raise ModelError(f"dropout must be in [0, 1), got {dropout}; e.g. dropout=0.2 or 0 for none")
        self.dim = int(dim)
        self.in_channels = int(in_channels)
        self.trunk = trunk
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.proj = nn.Linear(trunk_channels, dim)
        self.register_pixel_stats(in_channels)

    def forward(self, x: Tensor) -> Tensor:
        """Normalized float (N, C, H, W) -> (N, dim) with unit L2 norm per row."""
        fmap = self.trunk(x)  # (N, C', h, w)
        if fmap.dim() != 4:
            raise ShapeError(
                f"the embedding trunk gave a {tuple(fmap.shape)} tensor, not a (N, C, h, w) feature map; "
                "use a convolutional trunk"
            )
        flat = self.pool(fmap).flatten(1)  # (N, C')
        return F.normalize(self.proj(self.dropout(flat)), p=2, dim=1)  # (N, dim)

    @torch.no_grad()
    def embed(self, images: Tensor, *, batch_size: int = 256) -> Tensor:
        """Embeddings (N, dim) of uint8 0..255 or float 0..1 images (N, C, H, W), computed in
        eval mode in chunks of ``batch_size``, on the module's device; the previous
        train/eval mode is restored afterwards. Returns a float tensor on that device."""
        if images.dim() != 4 or images.shape[1] != self.in_channels:
            raise ShapeError(
                f"embed takes (N, {self.in_channels}, H, W) images, got shape {tuple(images.shape)}; "
                f"convert the images to {self.in_channels} channel(s) first"
            )
        if batch_size < 1:
            raise ModelError(f"batch_size must be a positive integer, got {batch_size}")
        was_training = self.training
        self.eval()
        device = self.mean.device
        chunks: list[Tensor] = []
        try:
            for start in range(0, len(images), batch_size):
                chunk = images[start : start + batch_size].to(device)
                chunks.append(self(self.normalize(chunk)))
        finally:
            self.train(was_training)
        if not chunks:
            return torch.zeros(0, self.dim, device=device)
        return torch.cat(chunks)


def _trunk_output(trunk: nn.Module, in_channels: int, image_size: tuple[int, int], what: str) -> Tensor:
    """The trunk's output for one blank image of ``image_size`` (eval mode, no grad)."""
    was_training = trunk.training
    trunk.eval()
    try:
        with torch.no_grad():
            return trunk(torch.zeros(1, in_channels, *image_size))
    except RuntimeError as err:
        raise ShapeError(
            f"{what}'s trunk cannot take {in_channels}x{image_size[0]}x{image_size[1]} images "
            f"({str(err).splitlines()[0]}); pick a trunk that fits that image size and channel count"
        ) from None
    finally:
        trunk.train(was_training)


def build_embedder(
    name_or_spec: str | nn.Module,
    *,
    dim: int = 128,
    in_channels: int = 1,
    image_size: tuple[int, int] = (28, 28),
    dropout: float = 0.0,
    generator: torch.Generator | None = None,
) -> EmbeddingNet:
    """An :class:`EmbeddingNet` on the ``.features`` trunk of a zoo name, a spec or a module.

    With ``generator`` (a CPU generator) every parameter is drawn from it
    (:func:`cnnkit.nn.seeded_init.init_from_generator`: PyTorch's default scheme), so
    the same seed builds the same weights; without one, the builders' own initialization
    (torch's global random state).

    ``image_size`` (H, W) is the size the images will have; the trunk must turn a
    (1, in_channels, H, W) input into a (1, C', h, w) feature map (checked here, so a
    mismatch fails now with a ShapeError rather than in the middle of training).

    Example: ``build_embedder("quicknet", dim=64, image_size=(28, 28))``.
    """
    from cnnkit.nn.build import build_trunk, looks_like_spec

    if isinstance(name_or_spec, str):
        what = "the spec" if looks_like_spec(name_or_spec) else name_or_spec
    else:
        what = type(name_or_spec).__name__
    if len(tuple(image_size)) != 2 or any(int(s) < 1 for s in image_size):
        raise ShapeError(f"image_size must be (H, W) with positive sides, got {image_size!r}; e.g. (28, 28)")
    size = (int(image_size[0]), int(image_size[1]))
    trunk = build_trunk(name_or_spec, in_channels=in_channels, purpose="an embedding")
    out = _trunk_output(trunk, in_channels, size, what)
    if out.dim() != 4:
        raise ShapeError(
            f"{what}'s trunk gives a {tuple(out.shape)} tensor, not a (N, C, h, w) feature map; "
            "the embedding needs a convolutional trunk (a spec's part before its FC layers)"
        )
    net = EmbeddingNet(trunk, trunk_channels=int(out.shape[1]), dim=dim, dropout=dropout, in_channels=in_channels)
    if generator is not None:
        from cnnkit.nn.seeded_init import init_from_generator  # the one generator-driven init

        init_from_generator(net, generator)
    return net
