"""The small, non-torchvision zoo models: LeNet-5, NiN, ResNet-20, cnn1d, cnn3d."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import cnnkit
from cnnkit.errors import ModelError


def conv_params(f: int, c_in: int, c_out: int) -> int:
    return (f * f * c_in + 1) * c_out  # weights plus one bias per filter


def fc_params(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out  # one bias per output


@pytest.mark.parametrize("variant", ["modern", "original"])
def test_lenet5_parameter_count_is_the_formula(variant: str) -> None:
    model = cnnkit.build("lenet5", in_channels=3, num_classes=10, variant=variant)
    per_layer = {name: sum(p.numel() for p in m.parameters()) for name, m in model.named_modules()}
    assert per_layer["features.conv1"] == conv_params(5, 3, 6) == 456
    assert per_layer["features.conv2"] == conv_params(5, 6, 16) == 2416
    assert per_layer["head.fc1"] == fc_params(400, 120) == 48120
    assert per_layer["head.fc2"] == fc_params(120, 84)
    assert per_layer["head.fc3"] == fc_params(84, 10)
    assert per_layer[""] == 456 + 2416 + 48120 + fc_params(120, 84) + fc_params(84, 10)


def test_lenet5_variants_use_the_right_layers() -> None:
    modern = cnnkit.build("lenet5")
    original = cnnkit.build("lenet5", variant="original")
    assert isinstance(modern.features.pool1, nn.MaxPool2d) and isinstance(modern.features.act1, nn.ReLU)
    assert isinstance(original.features.pool1, nn.AvgPool2d) and isinstance(original.features.act1, nn.Tanh)
    with pytest.raises(ModelError, match="variant must be one of"):
        cnnkit.build("lenet5", variant="1989")


@settings(max_examples=25, deadline=None)
@given(height=st.integers(1, 40), width=st.integers(1, 40))
def test_lenet5_input_size_matches_the_output_size_formula(height: int, width: int) -> None:
    def side(n: int) -> int:  # floor((n - f) / s) + 1 four times: conv 5, pool 2, conv 5, pool 2
        for f, s in ((5, 1), (2, 2), (5, 1), (2, 2)):
            n = (n - f) // s + 1 if n >= f else 0
        return n

    if side(height) < 1 or side(width) < 1:
        with pytest.raises(ModelError, match="too small"):
            cnnkit.build("lenet5", input_size=(height, width))
        return
    model = cnnkit.build("lenet5", input_size=(height, width)).eval()
    assert model.head.fc1.in_features == 16 * side(height) * side(width)
    with torch.no_grad():
        assert model(torch.randn(1, 1, height, width)).shape == (1, 10)


def test_lenet5_on_mnist_sized_input() -> None:
    model = cnnkit.build("lenet5", input_size=28)
    assert model.head.fc1.in_features == 16 * 4 * 4
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_nin_has_no_fully_connected_layer() -> None:
    model = cnnkit.build("nin", num_classes=7)
    assert not any(isinstance(m, nn.Linear) for m in model.modules())
    classifier = model.head.classifier
    assert isinstance(classifier, nn.Conv2d) and classifier.kernel_size == (1, 1)
    assert classifier.out_channels == 7 and model.num_classes == 7
    # mlpconv: each block is a kxk conv followed by 1x1 convs
    kernels = [m.kernel_size for m in model.features.block1 if isinstance(m, nn.Conv2d)]
    assert kernels == [(5, 5), (1, 1), (1, 1)]


def test_resnet20_size_and_option_b_shortcuts() -> None:
    model = cnnkit.build("resnet20")
    assert 265_000 < sum(p.numel() for p in model.parameters()) < 280_000  # paper: 0.27M
    # 6n + 2 = 20 weighted layers: 19 3x3 convs + the FC; the 2 projections are extra
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert sum(c.kernel_size == (3, 3) for c in convs) == 19
    assert sum(c.kernel_size == (1, 1) for c in convs) == 2
    assert model.head.fc.in_features == 64


def test_resnet20_works_on_mnist() -> None:
    model = cnnkit.build("resnet20", in_channels=1).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_cnn1d_and_cnn3d_shapes() -> None:
    signal = cnnkit.build("cnn1d").eval()
    volume = cnnkit.build("cnn3d", num_classes=3).eval()
    with torch.no_grad():
        assert signal.features(torch.randn(2, 1, 40)).shape == (2, 128, 10)
        assert signal(torch.randn(2, 1, 40)).shape == (2, 10)
        assert volume.features(torch.randn(1, 1, 16, 32, 32)).shape == (1, 64, 4, 8, 8)
        assert volume(torch.randn(1, 1, 16, 32, 32)).shape == (1, 3)
