"""The small interface every cnnkit model shares.

A :class:`CnnModel` is a plain ``nn.Module`` split into two parts:

- ``features``: the convolutional trunk, (N, C, *spatial) -> (N, C', *spatial')
- ``head``: everything after it, ending in the classifier, (N, C', *spatial') -> (N, classes)

Interpretation picks layers out of ``features``, transfer learning freezes them and
calls :meth:`reset_classifier`, embeddings replace the head. The classifier is the
last ``nn.Linear`` in the head, or the last convolution when the network has no
linear layer (Network in Network ends in a 1x1 convolution).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["CnnModel"]

_CONV_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


class CnnModel(nn.Module):
    """``forward(x) = head(features(x))``. Subclasses may override ``forward``."""

    features: nn.Module
    head: nn.Module
    zoo_name: str | None = None  # the registry name, set by zoo builders (pretrained loading uses it)
    builder_kwargs: dict[str, Any] | None = None  # set by cnnkit.build: the arguments it was built with

    def __init__(self, features: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.features = features
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    @property
    def num_classes(self) -> int:
        layer = self._classifier_slot()[2]
        return layer.out_features if isinstance(layer, nn.Linear) else layer.out_channels

    def _classifier_slot(self) -> tuple[nn.Module, str, nn.Module]:
        """(parent module, attribute name, layer) of the classifier."""
        found: tuple[nn.Module, str, nn.Module] | None = None
        for linear_only in (True, False):
            for parent in self.head.modules():
                for attr, child in parent.named_children():
                    if isinstance(child, nn.Linear) or (
                        not linear_only and isinstance(child, _CONV_TYPES)
                    ):
                        found = (parent, attr, child)
            if found is not None:
                return found
        raise TypeError(f"{type(self).__name__} has no linear or convolutional classifier")

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier with a freshly initialized one for ``num_classes`` outputs."""
        if num_classes < 1:
            raise ValueError(f"num_classes must be at least 1, got {num_classes}")
        parent, attr, old = self._classifier_slot()
        new: nn.Module
        if isinstance(old, nn.Linear):
            new = nn.Linear(old.in_features, num_classes, bias=old.bias is not None)
        else:
            assert isinstance(old, _CONV_TYPES)
            new = type(old)(
                old.in_channels,
                num_classes,
                kernel_size=old.kernel_size,  # type: ignore[arg-type]
                stride=old.stride,  # type: ignore[arg-type]
                padding=old.padding,  # type: ignore[arg-type]
                bias=old.bias is not None,
            )
        new.to(device=old.weight.device, dtype=old.weight.dtype)
        setattr(parent, attr, new)
