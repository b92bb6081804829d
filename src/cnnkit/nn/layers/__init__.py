"""Layers the zoo and the spec grammar share. One concept per file."""

from cnnkit.nn.layers.stochastic_pool import StochasticPool1d, StochasticPool2d, StochasticPool3d

__all__ = ["StochasticPool1d", "StochasticPool2d", "StochasticPool3d"]
