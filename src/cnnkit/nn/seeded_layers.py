"""Random layers drawing from an explicit ``torch.Generator`` (dropout, stochastic pooling).

Dropout draws its masks from torch's global random state, which library code must not
seed (``torch.manual_seed`` would change every other user of it). :func:`seed_stochastic_layers`
makes dropout and stochastic pooling draw from generators the caller owns; with the initial
weights drawn from one as well (``build_embedder(..., generator=)``), a seed alone decides a
training run: same seed, same weights on the CPU.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cnnkit.errors import ModelError

__all__ = ["SeededDropout", "seed_stochastic_layers"]


class SeededDropout(nn.Module):
    """Dropout whose masks come from ``generator`` (a CPU generator): element-wise like
    ``nn.Dropout``, or whole channels (dims after the first two are 1) like ``nn.Dropout2d``.
    In eval mode, or with p = 0, it passes the input through."""

    def __init__(self, p: float, generator: torch.Generator, *, channels: bool = False) -> None:
        super().__init__()
        self.p, self.generator, self.channels = float(p), generator, channels

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        shape = (*x.shape[:2], *([1] * (x.dim() - 2))) if self.channels else x.shape
        keep = torch.rand(shape, generator=self.generator) >= self.p  # drawn on the CPU: one stream on any device
        return x * keep.to(x.device, x.dtype) / (1.0 - self.p)


def seed_stochastic_layers(module: nn.Module, generator: torch.Generator,
                           pool_generator: torch.Generator | None = None) -> int:
    """Make the random layers inside ``module`` draw from generators: every dropout layer is
    replaced by a :class:`SeededDropout` on ``generator`` (a CPU generator; dropout has no
    parameters, so the state dict is unchanged), and stochastic pooling layers get
    ``pool_generator`` (on the device the module runs on; default ``generator``). Returns
    how many layers were seeded."""
    from cnnkit.nn.layers.stochastic_pool import StochasticPool1d, StochasticPool2d, StochasticPool3d

    seeded = 0
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, (nn.AlphaDropout, nn.FeatureAlphaDropout)):
                raise ModelError(f"{type(child).__name__} cannot draw from a seed; use plain dropout")
            if isinstance(child, nn.Dropout):
                setattr(parent, name, SeededDropout(child.p, generator))
            elif isinstance(child, (nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)):
                setattr(parent, name, SeededDropout(child.p, generator, channels=True))
            elif isinstance(child, (StochasticPool1d, StochasticPool2d, StochasticPool3d)):
                child.generator = pool_generator if pool_generator is not None else generator
            else:
                continue
            seeded += 1
    return seeded
