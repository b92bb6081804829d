"""summary(): shapes, parameters and MACs against torch, torchvision's published counts and
torch's own FLOP counter."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cnnkit.analysis.summary import summary
from cnnkit.nn.build import build
from cnnkit.errors import CnnkitError, ModelError, ShapeError

torchvision = pytest.importorskip("torchvision")


def torch_macs(net: nn.Module, shape: tuple[int, ...]) -> int:
    """MACs per sample by torch's FLOP counter (it counts 2 FLOPs per multiply-add)."""
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        net(torch.rand(1, *shape))
    return counter.get_total_flops() // 2


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("alexnet", {}),
        ("vgg16", {}),
        ("resnet18", {}),
        ("resnet50", {}),
        ("googlenet", {"aux_logits": False, "init_weights": False}),
        ("densenet121", {}),
    ],
)
def test_macs_and_params_match_torchvision_metadata(name: str, kwargs: dict) -> None:
    weights = list(torchvision.models.get_model_weights(name))[0]
    with torch.device("meta"):  # no weights to initialise or download: shapes only
        net = torchvision.models.get_model(name, weights=None, **kwargs)
    table = summary(net, (3, 224, 224))
    published = weights.meta["_ops"] * 1e9  # torchvision's "GFLOPS" are multiply-adds
    assert table.totals.macs == pytest.approx(published, rel=0.01)
    assert table.totals.params == weights.meta["num_params"]
    assert sum(r.params for r in table.rows) == table.totals.params


@pytest.mark.parametrize(
    ("layer", "shape"),
    [
        (nn.Conv2d(8, 12, 3, groups=4, dilation=2, padding=1, stride=2), (8, 17, 19)),
        (nn.Conv2d(6, 6, 5, groups=6, padding="same"), (6, 9, 9)),
        (nn.Conv1d(3, 5, 7, dilation=3, stride=2), (3, 50)),
        (nn.Conv3d(2, 4, (1, 3, 3), padding=(0, 1, 1)), (2, 4, 8, 8)),
        (nn.ConvTranspose2d(4, 6, 4, stride=2, padding=1, groups=2), (4, 5, 7)),
        (nn.Linear(10, 3), (7, 10)),  # applied at each of 7 positions
    ],
    ids=["grouped-dilated", "depthwise-same", "conv1d-dilated", "conv3d", "deconv-grouped", "linear-per-position"],
)
def test_layer_macs_match_the_formula_and_torch(layer: nn.Module, shape: tuple[int, ...]) -> None:
    row = summary(layer, shape).rows[0]
    out = layer(torch.rand(1, *shape))
    assert row.output_shape == tuple(out.shape[1:])
    assert row.macs == torch_macs(layer, shape)
    if isinstance(layer, nn.Conv2d):  # the formula written out
        k = layer.kernel_size[0] * layer.kernel_size[1]
        assert row.macs == out[0].numel() * (layer.in_channels // layer.groups) * k
    assert row.params == sum(p.numel() for p in layer.parameters())


def test_rows_follow_a_real_forward_pass() -> None:
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 4, 3), nn.Flatten(), nn.Linear(4 * 14 * 14, 5),
    )
    table = summary(net, (3, 32, 32))
    x = torch.rand(1, 3, 32, 32)
    shapes = []
    for layer in net:
        x = layer(x)
        shapes.append(tuple(x.shape[1:]))
    assert [r.output_shape for r in table.rows] == shapes
    assert [r.kind for r in table.rows] == [type(m).__name__ for m in net]
    assert [r.name for r in table.rows] == [str(i) for i in range(len(net))]
    assert [r.neurons for r in table.rows] == [torch.Size(s).numel() for s in shapes]
    assert table.totals.macs == torch_macs(net, (3, 32, 32))


def test_frozen_parameters_and_memory() -> None:
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    for p in net[0].parameters():
        p.requires_grad_(False)
    table = summary(net, (1, 8, 8), batch_size=16)
    assert table.rows[0].params_frozen == 40 and table.rows[0].params_trainable == 0
    assert table.totals.params_frozen == 40
    assert table.totals.params_trainable == 4 * 6 * 6 * 2 + 2
    assert table.totals.param_bytes == 4 * (40 + 290)
    outputs = 144 + 144 + 144 + 2
    assert table.totals.activation_bytes == 4 * 16 * (outputs + 64)


def test_lenet_connections_are_the_papers_count() -> None:
    # LeCun et al. 1998: C1 has 156 trainable parameters and 122,304 connections
    net = nn.Sequential(nn.Conv2d(1, 6, 5))
    row = summary(net, (1, 32, 32)).rows[0]
    assert (row.params, row.connections) == (156, 122_304)


def test_train_mode_and_running_statistics_are_left_alone() -> None:
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Dropout())
    net.train()
    net[2].eval()
    before = net[1].running_mean.clone()
    summary(net, (1, 8, 8))
    assert net.training and net[1].training and not net[2].training
    assert torch.equal(net[1].running_mean, before)


def test_residual_and_concat_rows() -> None:
    resnet = torchvision.models.resnet18()
    names = [r.name for r in summary(resnet, (3, 64, 64)).rows]
    assert sum(n.endswith(".add") for n in names) == 8  # one per basic block
    assert "layer1.0.relu#2" in names  # the block's ReLU is called twice
    table = summary(resnet, (3, 64, 64))
    assert table.find("conv1").name == "conv1"  # the shallowest of the ...conv1 layers
    with pytest.raises(CnnkitError, match="ambiguous"):
        table.find("0.conv1")  # layer1.0.conv1, layer2.0.conv1, ...
    assert "flatten" in names  # torch.flatten in ResNet.forward
    with torch.device("meta"):
        googlenet = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=False)
    rows = summary(googlenet, (3, 224, 224)).rows
    cats = [r for r in rows if r.kind == "cat"]
    assert len(cats) == 9  # one per inception module
    assert cats[0].output_shape == (256, 28, 28)


def test_too_small_input_names_the_layer() -> None:
    with torch.device("meta"):
        vgg = torchvision.models.vgg16()
    with pytest.raises(ShapeError, match=r"features\.30 \(MaxPool2d\) got 512x1x1"):
        summary(vgg, (3, 28, 28))
    with pytest.raises(ShapeError, match="conv1"):
        summary(torchvision.models.resnet18(), (1, 64, 64))  # wrong channel count


def test_bad_arguments() -> None:
    with pytest.raises(ModelError, match="input shape"):
        summary(nn.Conv2d(1, 1, 1))
    with pytest.raises(ShapeError, match="spatial"):
        summary(nn.Conv2d(1, 1, 1), (1,))
    with pytest.raises(CnnkitError, match="batch size"):
        summary(nn.Conv2d(1, 1, 1), (1, 4, 4), batch_size=0)


def test_find_and_renderings() -> None:
    net = nn.Sequential()
    net.add_module("conv1", nn.Conv2d(1, 2, 3))
    net.add_module("relu", nn.ReLU())
    net.add_module("conv2", nn.Conv2d(2, 2, 3))
    table = summary(net, (1, 9, 9))
    assert table.find("conv2").index == 2
    assert table.find(1).name == "relu" and table.find("1").name == "relu"
    with pytest.raises(CnnkitError, match="did you mean 'conv2'"):
        table.find("conv3")
    with pytest.raises(CnnkitError, match="out of range"):
        table.find(7)
    data = json.loads(json.dumps(table.to_dict()))
    assert data["rows"][0]["output_shape"] == [2, 7, 7]
    assert data["totals"]["params_total"] == 20 + 38
    md = table.to_markdown()
    assert md.startswith("| # | Layer |") and md.count("\n| ") == 4  # separator + 3 rows
    text = str(table)
    assert "conv2" in text and "Parameters: 58" in text


def test_zoo_name_and_spec_text() -> None:
    from cnnkit.nn.build import MODELS, _load_zoo

    _load_zoo()
    if "lenet5" not in MODELS:
        pytest.skip("the zoo has no lenet5 yet")
    table = summary("lenet5")
    assert table.totals.input_shape == (1, 32, 32)
    assert table.rows[-1].output_shape == (10,)
    spec = summary("INPUT(1x28x28) -> CONV(4, k=3) -> RELU -> POOL(2) -> FC(10)")
    assert spec.totals.input_shape == (1, 28, 28)
    assert spec.find("conv1").output_shape == (4, 26, 26)
    assert spec.totals.params == (9 + 1) * 4 + 4 * 13 * 13 * 10 + 10


@pytest.mark.parametrize("model", ["INPUT -> CONV -> POOL -> FC", "resnet18"])
def test_a_channels_last_input_shape_names_the_layout(model: str) -> None:
    # a bare INPUT would take 32 channels of 32x3 and fail at a window layers later
    with pytest.raises(ShapeError, match=r"input shape 32x32x3 looks channels last: shapes are CxHxW; "
                       r"did you mean 3x32x32\?"):  # fmt: skip
        summary(model, (32, 32, 3))


def test_a_spec_without_fc_has_no_empty_head_row() -> None:
    # the rows are the spec's layers (as the builder names and sizes them): an empty head adds none
    model = build("INPUT(1x28x28) -> CONV(8) -> RELU -> GAP")
    table = summary(model, (1, 28, 28))
    assert [r.name for r in table.rows] == [f"features.{n}" for n in model.layer_shapes]
    assert [r.output_shape for r in table.rows] == list(model.layer_shapes.values())
    assert table.rows[-1].output_shape == tuple(model(torch.rand(1, 1, 28, 28)).shape[1:])


class _Functional(nn.Module):
    """A model whose forward calls F.conv2d with its own parameter (no child modules)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(4, 2, 3, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(torch.nn.functional.conv2d(x, self.weight, padding=1), 1)


def test_functional_weights_are_counted_on_their_row() -> None:
    table = summary(_Functional(), (2, 6, 6))
    assert [r.kind for r in table.rows] == ["conv2d", "flatten"]
    assert table.rows[0].params == 72 and table.totals.params == 72
    assert table.rows[0].macs == torch_macs(_Functional(), (2, 6, 6))
