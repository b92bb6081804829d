"""CnnModel: features + head, and reset_classifier on linear and convolutional heads."""

from __future__ import annotations

import torch
from torch import nn

from cnnkit.nn.base import CnnModel


def _linear_model() -> CnnModel:
    features = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
    head = nn.Sequential(nn.Flatten(), nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 5))
    return CnnModel(features, head)


def test_forward_is_head_of_features() -> None:
    model = _linear_model()
    x = torch.randn(2, 1, 8, 8)
    torch.testing.assert_close(model(x), model.head(model.features(x)))
    assert model.num_classes == 5


def test_reset_classifier_replaces_only_the_last_linear() -> None:
    model = _linear_model()
    hidden = model.head[1].weight.clone()
    model.reset_classifier(3)
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 3)
    assert model.num_classes == 3
    torch.testing.assert_close(model.head[1].weight, hidden)  # earlier layers untouched


def test_reset_classifier_on_a_convolutional_head() -> None:
    # Network-in-Network style: the classifier is a 1x1 convolution, then global pooling.
    head = nn.Sequential(nn.Conv2d(4, 10, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    model = CnnModel(nn.Conv2d(3, 4, 3), head)
    model.reset_classifier(7)
    assert model(torch.randn(1, 3, 9, 9)).shape == (1, 7)
    assert model.num_classes == 7
