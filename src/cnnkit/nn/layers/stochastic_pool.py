"""Stochastic pooling (Zeiler and Fergus, 2013). STUB: being written."""

from __future__ import annotations

from torch import nn


class StochasticPool2d(nn.Module):
    def __init__(self, kernel_size: int | tuple[int, ...], stride: int | tuple[int, ...] | None = None) -> None:
        super().__init__()
        raise NotImplementedError


class StochasticPool1d(StochasticPool2d):
    pass


class StochasticPool3d(StochasticPool2d):
    pass
