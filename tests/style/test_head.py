"""Releasing the layers style transfer never runs (cnnkit.style.head)."""

from __future__ import annotations

import copy

import pytest
import torch
import torchvision
from torch import nn

from cnnkit.errors import ShapeError
from cnnkit.style import FeatureExtractor, open_network
from cnnkit.style.extractor import run_to_layers
from cnnkit.style.head import is_released, release_head

CPU = torch.device("cpu")


def _leaf_tensors(module: nn.Module) -> int:
    return sum(t.numel() for t in [*module.parameters(), *module.buffers()])


def test_vgg_loses_exactly_its_classifier_and_keeps_every_feature_map() -> None:
    torch.manual_seed(0)
    model = torchvision.models.vgg11(weights=None).eval()
    reference = copy.deepcopy(model)
    released = release_head(model, (3, 224, 224), CPU)
    assert set(released) == {"classifier.0", "classifier.3", "classifier.6"}
    assert is_released(model.classifier) and not is_released(model.features)
    live = sum(t.numel() for t in model.parameters() if not t.is_meta)
    assert live == _leaf_tensors(reference.features)
    convs = {name: m for name, m in model.named_modules() if isinstance(m, nn.Conv2d)}
    x = torch.rand(1, 3, 80, 96)
    with torch.no_grad():
        ours = run_to_layers(model, convs, x)
        theirs = run_to_layers(reference, {n: dict(reference.named_modules())[n] for n in convs}, x)
    for name in convs:
        torch.testing.assert_close(ours[name], theirs[name])


class HeadFirst(nn.Module):
    """The head is registered before the trunk, and one branch is never called."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 3)
        self.unused = nn.Conv2d(8, 8, 3)
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.norm = nn.BatchNorm2d(8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.norm(self.conv(x)).mean(dim=(2, 3)))


def test_head_registered_first_and_never_called_branches_are_released() -> None:
    model = HeadFirst().eval()
    assert set(release_head(model, (3, 16, 16), CPU)) == {"fc", "unused"}
    assert not is_released(model.conv) and not is_released(model.norm)  # norm's buffers too
    assert next(p.device for p in model.parameters() if not p.is_meta) == CPU


def test_a_probe_that_fails_releases_nothing() -> None:
    # A fixed-size head: at the 128 px probe the flattened size is wrong.
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * 200 * 200, 2)).eval()
    assert release_head(model, (3, 200, 200), CPU) == ()
    assert not is_released(model)


def test_open_network_releases_unless_asked_to_keep_the_head() -> None:
    spec = "INPUT(3x32x32) -> CONV(4, k=3, p=same) -> RELU -> POOL(2) -> CONV(4, k=3, p=same) -> RELU -> FC(10)"
    trimmed, _ = open_network(spec, allow_random_weights=True, seed=0)
    kept, _ = open_network(spec, allow_random_weights=True, seed=0, keep_head=True)
    linears = [n for n, m in kept.model.named_modules() if isinstance(m, nn.Linear)]
    assert linears and all(is_released(dict(trimmed.model.named_modules())[n]) for n in linears)
    assert not is_released(kept.model)
    assert trimmed.device == CPU
    with torch.no_grad():
        assert kept.model(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    extractor = FeatureExtractor(trimmed)
    with pytest.raises(ShapeError, match="after the last feature map"):
        extractor(torch.rand(1, 3, 32, 32), [linears[-1]])
    assert set(extractor(torch.rand(1, 3, 32, 32), ["conv2_1"])) == {"conv2_1"}
