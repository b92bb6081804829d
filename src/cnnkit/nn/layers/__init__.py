"""Layers the zoo and the spec grammar share. One concept per file."""

from cnnkit.nn.layers.conv_bn import ConvBnReLU
from cnnkit.nn.layers.dense import DenseBlock, DenseLayer, Transition
from cnnkit.nn.layers.inception import Inception
from cnnkit.nn.layers.init import init_weights
from cnnkit.nn.layers.mlpconv import MlpConv
from cnnkit.nn.layers.residual import BasicBlock, Bottleneck, projection, residual_stage
from cnnkit.nn.layers.stochastic_pool import StochasticPool1d, StochasticPool2d, StochasticPool3d

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "ConvBnReLU",
    "DenseBlock",
    "DenseLayer",
    "Inception",
    "MlpConv",
    "StochasticPool1d",
    "StochasticPool2d",
    "StochasticPool3d",
    "Transition",
    "init_weights",
    "projection",
    "residual_stage",
]
