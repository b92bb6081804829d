"""explain_layer: the substituted formulas give torch's numbers; the window geometry's output
size is torch's for any convolution or pooling (hypothesis)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from cnnkit.analysis.formulas import explain_layer
from cnnkit.analysis.geometry import geometry_of
from cnnkit.errors import CnnkitError


def _net() -> nn.Sequential:
    net = nn.Sequential()
    net.add_module("conv1", nn.Conv2d(3, 96, 11, stride=4))
    net.add_module("relu1", nn.ReLU())
    net.add_module("pool1", nn.MaxPool2d(3, stride=2, ceil_mode=True))
    net.add_module("conv2", nn.Conv2d(96, 32, 5, padding=2, groups=4, dilation=2))
    net.add_module("deconv", nn.ConvTranspose2d(32, 8, 4, stride=2, padding=1))
    net.add_module("flatten", nn.Flatten())
    net.add_module("fc", nn.Linear(8 * 46 * 46, 10))
    return net


def _run(net: nn.Module, shape: tuple[int, ...], upto: str) -> torch.Tensor:
    x = torch.rand(1, *shape)
    for name, layer in net.named_children():
        x = layer(x)
        if name == upto:
            return x
    raise AssertionError(upto)


def test_conv_explanation_has_torchs_numbers() -> None:
    net = _net()
    text = explain_layer(net, (3, 227, 227), "conv1")
    out = _run(net, (3, 227, 227), "conv1")
    assert out.shape[1:] == (96, 55, 55)
    params = sum(p.numel() for p in net.conv1.parameters())
    assert "floor((227 + 2*0 - 1*(11 - 1) - 1)/4) + 1 = floor(216/4) + 1 = 55" in text
    assert f"(11*11*3/1 + 1)*96 = {params:,}" in text
    assert f"= {out[0].numel() * 3 * 121:,}" in text
    assert "r = 1 + (11-1)*1*1 = 11;  j = 1*4 = 4;  start = 0 + ((11-1)*1/2 - 0)*1 = 5" in text
    assert "but torch reports" not in text


@pytest.mark.parametrize("layer", ["pool1", "conv2", "deconv", "fc", "relu1", 2])
def test_every_kind_agrees_with_torch(layer: str | int) -> None:
    net = _net()
    text = explain_layer(net, (3, 227, 227), layer)
    assert "but torch reports" not in text  # each formula result was checked against the model
    name = layer if isinstance(layer, str) else "pool1"
    out = _run(net, (3, 227, 227), name)
    assert f"-> output {'x'.join(map(str, out.shape[1:]))}" in text
    params = sum(p.numel() for p in getattr(net, name).parameters())
    assert f"= {params:,}" in text or params == 0


def test_linear_and_grouped_forms() -> None:
    net = _net()
    fc = explain_layer(net, (3, 227, 227), "fc")
    n_in = 8 * 46 * 46
    assert f"{n_in}*10 + 10 = {n_in * 10 + 10:,}" in fc
    conv2 = explain_layer(net, (3, 227, 227), "conv2")
    assert f"(5*5*96/4 + 1)*32 = {sum(p.numel() for p in net.conv2.parameters()):,}" in conv2
    assert "ceil(" in explain_layer(net, (3, 227, 227), "pool1")


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_kernel_area_is_written_for_the_layers_rank(rank: int) -> None:
    # one f per kernel dimension, as torch's kernel_size has; the numbers are torch's
    conv = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[rank](2, 4, 3)
    deconv = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}[rank](4, 2, 2, stride=2)
    net = nn.Sequential(conv, deconv)
    shape = (2, *[8] * rank)
    window = "*".join(["f"] * rank)
    text = explain_layer(net, shape, "0")
    assert len(conv.kernel_size) == rank
    assert f"Parameters: ({window}*c_in/groups + 1)*c_out" in text
    assert f"MACs: output elements * (c_in/groups) * {window}\n" in text
    assert f"= {sum(p.numel() for p in conv.parameters()):,}" in text
    names = {1: ["L"], 2: ["H = W"], 3: ["D = H = W"]}[rank]
    assert all(f"  {n}: floor((8 + 2*0" in text for n in names)
    text = explain_layer(net, shape, "1")
    assert f"Parameters: c_in*{window}*(c_out/groups) + c_out (biases)" in text
    assert f"MACs: input elements * (c_out/groups) * {window}\n" in text
    assert "but torch reports" not in text


def test_unknown_layer_suggests_a_name() -> None:
    with pytest.raises(CnnkitError, match="did you mean 'conv2'"):
        explain_layer(_net(), (3, 227, 227), "cnv2")
    with pytest.raises(CnnkitError, match="out of range"):
        explain_layer(_net(), (3, 227, 227), 99)


@st.composite
def windows(draw: st.DrawFn) -> tuple[nn.Module, int]:
    k, s, d = draw(st.integers(1, 6)), draw(st.integers(1, 4)), draw(st.integers(1, 3))
    kind = draw(st.sampled_from(["conv", "same", "max", "avg", "deconv"]))
    if kind == "conv":
        module: nn.Module = nn.Conv1d(1, 1, k, stride=s, padding=draw(st.integers(0, 4)), dilation=d)
    elif kind == "same":
        module = nn.Conv1d(1, 1, k, padding="same", dilation=d)
    elif kind == "max":
        module = nn.MaxPool1d(k, stride=s, padding=draw(st.integers(0, k // 2)), dilation=d,
                              ceil_mode=draw(st.booleans()))
    elif kind == "avg":
        module = nn.AvgPool1d(k, stride=s, padding=draw(st.integers(0, k // 2)), ceil_mode=draw(st.booleans()))
    else:
        p = draw(st.integers(0, d * (k - 1)))
        op = draw(st.integers(0, max(s, d) - 1))
        module = nn.ConvTranspose1d(1, 1, k, stride=s, padding=p, dilation=d, output_padding=op)
    return module, draw(st.integers(1, 40))


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@settings(max_examples=150, deadline=None)
@given(case=windows())
def test_output_size_formula_is_torchs(case: tuple[nn.Module, int]) -> None:
    module, n = case
    geometry = geometry_of(module, 1)
    assert geometry is not None
    expected = geometry.output_size(n, 0)
    try:
        out = module(torch.rand(1, 1, n))
    except RuntimeError:
        assert expected < 1  # torch refuses exactly when the formula leaves nothing
        return
    assert out.shape[-1] == expected
