"""Shared blocks, checked against torchvision's own blocks with the same weights."""

from __future__ import annotations

import importlib

import pytest
import torch

from cnnkit.nn.layers import BasicBlock, Bottleneck, DenseBlock, Inception, MlpConv, Transition

# import_module: torchvision.models.googlenet is also the name of a builder function
tv_densenet = importlib.import_module("torchvision.models.densenet")
tv_googlenet = importlib.import_module("torchvision.models.googlenet")
tv_resnet = importlib.import_module("torchvision.models.resnet")


def _randomize_norms(module: torch.nn.Module) -> None:
    """BN at its defaults is the identity in eval mode; random stats make a mismatch visible."""
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.normal_(0, 0.1)
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)


def _same_output(ours: torch.nn.Module, theirs: torch.nn.Module, x: torch.Tensor) -> None:
    _randomize_norms(theirs)
    ours.load_state_dict(theirs.state_dict())  # strict: same names and shapes
    ours.eval()
    theirs.eval()
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x))


@pytest.mark.parametrize("stride", [1, 2])
def test_basic_block_matches_torchvision(stride: int) -> None:
    down = None
    if stride != 1:
        down = torch.nn.Sequential(torch.nn.Conv2d(8, 16, 1, stride=2, bias=False), torch.nn.BatchNorm2d(16))
    theirs = tv_resnet.BasicBlock(8, 16 if down else 8, stride=stride, downsample=down)
    ours = BasicBlock(8, 16 if down else 8, stride=stride)
    _same_output(ours, theirs, torch.randn(2, 8, 9, 9))


def test_bottleneck_matches_torchvision() -> None:
    down = torch.nn.Sequential(torch.nn.Conv2d(16, 32, 1, stride=2, bias=False), torch.nn.BatchNorm2d(32))
    theirs = tv_resnet.Bottleneck(16, 8, stride=2, downsample=down)
    _same_output(Bottleneck(16, 8, stride=2), theirs, torch.randn(2, 16, 8, 8))


def test_inception_matches_torchvision() -> None:
    theirs = tv_googlenet.Inception(12, 4, 3, 5, 2, 6, 7)
    ours = Inception(12, 4, 3, 5, 2, 6, 7, wide_kernel=3)
    _same_output(ours, theirs, torch.randn(2, 12, 7, 7))
    assert ours.out_channels == 4 + 5 + 6 + 7


def test_paper_inception_uses_5x5_and_keeps_size() -> None:
    block = Inception(12, 4, 3, 5, 2, 6, 7).eval()
    assert block.branch3[1].conv.kernel_size == (5, 5)
    assert block(torch.randn(1, 12, 9, 11)).shape == (1, 22, 9, 11)


def test_dense_block_and_transition_match_torchvision() -> None:
    theirs = tv_densenet._DenseBlock(num_layers=3, num_input_features=8, bn_size=2, growth_rate=4, drop_rate=0)
    ours = DenseBlock(8, num_layers=3, growth_rate=4, bn_size=2)
    _same_output(ours, theirs, torch.randn(2, 8, 6, 6))
    assert ours.out_channels == 8 + 3 * 4
    _same_output(Transition(20, 10), tv_densenet._Transition(20, 10), torch.randn(2, 20, 6, 6))


def test_mlpconv_is_conv_then_1x1_convs() -> None:
    block = MlpConv(3, (8, 6, 4), kernel_size=3, padding=1)
    convs = [m for m in block if isinstance(m, torch.nn.Conv2d)]
    assert [c.kernel_size for c in convs] == [(3, 3), (1, 1), (1, 1)]
    assert [c.out_channels for c in convs] == [8, 6, 4]
    out = block(torch.randn(2, 3, 5, 5))
    assert out.shape == (2, 4, 5, 5) and (out >= 0).all()  # ends in a ReLU
