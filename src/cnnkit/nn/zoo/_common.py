"""Argument checks and finishing steps every zoo builder shares."""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from cnnkit.errors import ModelError
from cnnkit.nn.base import CnnModel

_GLOBAL_AVG_POOL = {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d, 3: nn.AdaptiveAvgPool3d}


def check_positive(model: str, argument: str, value: object, *, example: str = "10") -> int:
    """Return ``value`` when it is an int >= 1, else raise a ModelError that says what to pass."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ModelError(
            f"{model}: {argument} must be a positive integer, got {value!r}; "
            f"pass e.g. {argument}={example}"
        )
    return value


def check_common(model: str, num_classes: object, in_channels: object) -> tuple[int, int]:
    """Validate the two arguments every builder takes; returns them as ints."""
    return (
        check_positive(model, "num_classes", num_classes),
        check_positive(model, "in_channels", in_channels, example="3"),
    )


def finish(model: CnnModel, name: str, weights: str | None = None) -> CnnModel:
    """Tag the model with its zoo name and load pretrained weights when asked.

    ``zoo_name`` lets :func:`cnnkit.nn.pretrained.load_torchvision_weights` find the
    torchvision architecture without being told.
    """
    model.zoo_name = name
    if weights is not None:
        from cnnkit.nn.pretrained import load_torchvision_weights

        load_torchvision_weights(model, weights, arch=name)
    return model


def pooled_head(
    channels: int,
    num_classes: int,
    *,
    rank: int = 2,
    dropout: float | None = None,
    classifier: str = "fc",
) -> nn.Sequential:
    """Global average pooling, flatten, optional dropout, then the linear classifier.

    (N, channels, *spatial) -> (N, num_classes), for 1-D, 2-D or 3-D feature maps. The
    module names (avgpool, flatten, dropout, ``classifier``) follow torchvision's, so
    pretrained state dicts map onto them by prefix alone.
    """
    layers: list[tuple[str, nn.Module]] = [
        ("avgpool", _GLOBAL_AVG_POOL[rank](1)),
        ("flatten", nn.Flatten()),
    ]
    if dropout is not None:
        layers.append(("dropout", nn.Dropout(p=dropout)))
    layers.append((classifier, nn.Linear(channels, num_classes)))
    return nn.Sequential(OrderedDict(layers))
