"""Initial weights drawn from an explicit ``torch.Generator``, so a seed fixes a model.

Layers initialise themselves from torch's global random generator when they are built; how
far that generator has moved by then depends on whatever ran before in the process, so the
same ``--seed`` gave different starting weights (and different runs). :func:`init_from_generator`
re-draws a built model's weights from a generator the caller owns, leaving the global one alone.

The scheme is PyTorch's own default (what ``reset_parameters`` does; quicknet, the spec
grammar and the detection heads rely on it): convolution and linear weights uniform in
+-1/sqrt(fan_in) (``kaiming_uniform_`` with a = sqrt(5)), biases uniform in +-1/sqrt(fan_in);
normalization layers scale 1, shift 0, running statistics reset. A zoo builder's own scheme
(He normal in vgg, resnet_cifar, ...) is replaced by it.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from cnnkit.errors import ModelError

__all__ = ["init_from_generator"]

_WEIGHTED = (nn.modules.conv._ConvNd, nn.Linear)
_NORMS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)


def init_from_generator(module: nn.Module, generator: torch.Generator) -> None:
    """Re-initialise every convolution, linear and normalization layer of ``module`` in place,
    drawing from ``generator`` in module order (the global generator is not touched).

    Raises ModelError for a layer with parameters of another kind, whose initial values this
    function could not make reproducible.
    """
    with torch.no_grad():
        for layer in module.modules():
            own = list(layer.parameters(recurse=False))
            if isinstance(layer, _WEIGHTED):
                nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
                if layer.bias is not None:
                    fan_in, _ = nn.init._calculate_fan_in_and_fan_out(layer.weight)
                    bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
                    nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
            elif isinstance(layer, _NORMS):
                layer.reset_parameters()  # constants only: no random draw
            elif own:
                raise ModelError(f"{type(layer).__name__} has parameters that init_from_generator cannot draw; "
                                 "use convolution, linear and normalization layers")
