"""AlexNet (Krizhevsky, Sutskever and Hinton, 2012), in torchvision's single-GPU layout.

    features: conv 11x11/4 (64) - pool 3/2 - conv 5x5 (192) - pool 3/2 -
              conv 3x3 (384) - conv 3x3 (256) - conv 3x3 (256) - pool 3/2
    head:     adaptive avg pool to 6x6 - dropout - FC 4096 - dropout - FC 4096 - FC classes

The adaptive pool makes the head independent of the input size, so inputs from 63x63
up work (224x224 is the design size). torchvision's layout has 64-192-384-256-256
filters rather than the paper's two-GPU 96-256-384-384-256, and no local response
normalization. Parameter names match torchvision's (``classifier`` becomes
``head.classifier``) so its ImageNet weights load.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from cnnkit.nn.base import CnnModel
from cnnkit.nn.registry import register_model
from cnnkit.nn.zoo._common import check_common, finish

__all__ = ["alexnet"]


def _head(in_features: int, pooled: int, num_classes: int, dropout: float) -> nn.Sequential:
    """(N, in_features, H, W) -> adaptive pool to pooled x pooled -> flatten -> MLP -> (N, classes).

    Dropout comes before each of the two big FC layers, where most parameters are.
    """
    return nn.Sequential(
        OrderedDict(
            avgpool=nn.AdaptiveAvgPool2d((pooled, pooled)),
            flatten=nn.Flatten(),
            classifier=nn.Sequential(
                nn.Dropout(p=dropout),
                nn.Linear(in_features * pooled * pooled, 4096),
                nn.ReLU(inplace=True),
                nn.Dropout(p=dropout),
                nn.Linear(4096, 4096),
                nn.ReLU(inplace=True),
                nn.Linear(4096, num_classes),
            ),
        )
    )


@register_model(
    "alexnet",
    description="AlexNet: five convs (11x11 first), three FC layers, dropout (2012)",
    input_shape=(3, 224, 224),
    family="alexnet",
    torchvision_name="alexnet",
)
def alexnet(
    *,
    num_classes: int = 1000,
    in_channels: int = 3,
    dropout: float = 0.5,
    weights: str | None = None,
) -> CnnModel:
    """AlexNet: (N, in_channels, H, W) with H, W >= 63 -> (N, num_classes).

    ``weights``: a torchvision weights name ("IMAGENET1K_V1", "DEFAULT") or a local
    .pth/.safetensors file; see :func:`cnnkit.nn.pretrained.load_torchvision_weights`.
    """
    num_classes, in_channels = check_common("alexnet", num_classes, in_channels)
    features = nn.Sequential(
        nn.Conv2d(in_channels, 64, kernel_size=11, stride=4, padding=2),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(64, 192, kernel_size=5, padding=2),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(192, 384, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
    )
    head = _head(256, 6, num_classes, dropout)
    return finish(CnnModel(features, head), "alexnet", weights)
