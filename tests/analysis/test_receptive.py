"""Receptive fields from summary() against a gradient measurement (see rf_measure.py)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from rf_measure import inside, measured_extent, positive_copy, predicted_extent
from torch import nn

from cnnkit.analysis.summary import LayerRow, summary
from cnnkit.errors import ShapeError


def _centre(row: LayerRow) -> tuple[int, ...]:
    return tuple(n // 2 for n in row.field.spatial)  # type: ignore[union-attr]


def check_output_field(net: nn.Module, shape: tuple[int, ...], row: LayerRow) -> None:
    """The field summary() gives ``row`` (the net's output) is the measured one."""
    unit = _centre(row)
    predicted = predicted_extent(row.field, unit)
    assert inside(predicted, shape[1:]), f"test set-up: field {predicted} not inside {shape}"
    assert measured_extent(positive_copy(net), shape, unit) == predicted


def check_every_prefix(net: nn.Sequential, shape: tuple[int, ...]) -> None:
    """For each layer of a Sequential, measure the sub-network that ends there."""
    table = summary(net, shape)
    assert len(table.rows) == len(net)
    for i, row in enumerate(table.rows):
        check_output_field(net[: i + 1], shape, row)


def test_plain_2d_stack_with_dilation_padding_and_rectangles() -> None:
    net = nn.Sequential(
        nn.Conv2d(2, 3, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(3, 3, 3, dilation=2, padding=2),
        nn.Conv2d(3, 3, 5, stride=2, padding=1),
        nn.AvgPool2d(3, stride=2, padding=1),
        nn.Conv2d(3, 2, (3, 5), stride=(1, 2), padding=(0, 1)),
        nn.Conv2d(2, 2, 1),
    )
    check_every_prefix(net, (2, 96, 96))
    row = summary(net, (2, 96, 96)).rows[-1]
    assert isinstance(row.rf_size, tuple)  # different along H and W


@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_padding_same_and_dilated_conv_1d() -> None:
    net = nn.Sequential(
        nn.Conv1d(1, 2, 4, padding="same"),  # even kernel: torch pads 1 left, 2 right
        nn.Conv1d(2, 2, 3, dilation=3),
        nn.MaxPool1d(3, stride=2),
        nn.Conv1d(2, 1, 5, stride=3, padding=2),
    )
    check_every_prefix(net, (1, 120))


def test_3d_stack() -> None:
    net = nn.Sequential(nn.Conv3d(1, 2, 3, padding=1), nn.MaxPool3d(2), nn.Conv3d(2, 1, (1, 3, 3), stride=(1, 2, 2)))
    check_every_prefix(net, (1, 12, 20, 20))


class Residual(nn.Module):
    """A ResNet basic block with a strided 1x1 shortcut, then one more conv."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(2, 4, 3, stride=2, padding=1)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.shortcut = nn.Conv2d(2, 4, 1, stride=2)
        self.after = nn.Conv2d(4, 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.relu(self.conv1(x)))
        out = out + self.shortcut(x)  # a functional op between modules
        return self.after(self.relu(out))


class Inception(nn.Module):
    """Four branches (1x1, 3x3, 5x5, pool) concatenated along channels, then a strided conv."""

    def __init__(self) -> None:
        super().__init__()
        self.b1 = nn.Conv2d(2, 2, 1)
        self.b3 = nn.Sequential(nn.Conv2d(2, 2, 1), nn.Conv2d(2, 2, 3, padding=1))
        self.b5 = nn.Sequential(nn.Conv2d(2, 2, 1), nn.Conv2d(2, 2, 5, padding=2))
        self.bp = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), nn.Conv2d(2, 2, 1))
        self.out = nn.Conv2d(8, 2, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.cat([self.b1(x), self.b3(x), self.b5(x), self.bp(x)], dim=1))


class Lopsided(nn.Module):
    """Two branches whose fields are offset: the union is wider than either and off-centre."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(1, 1, 3, padding=1)
        self.b = nn.Conv2d(1, 1, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shifted = self.b(F.pad(x, (0, 2, 0, 2)))  # sees pixels i..i+2
        return self.a(x) + shifted  # a sees i-1..i+1


class Functional(nn.Module):
    """Pooling and convolution called as functions in forward, plus a max of two branches."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(2, 1, 3, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.conv2d(x, self.w, stride=2, dilation=2)
        return F.avg_pool2d(torch.relu(y), 3, stride=1)


@pytest.mark.parametrize(
    ("net", "shape"),
    [(Residual(), (2, 40, 40)), (Inception(), (2, 32, 32)), (Lopsided(), (1, 16, 16)), (Functional(), (1, 40, 40))],
    ids=["residual-add", "inception-cat", "offset-branches", "functional-ops"],
)
def test_branching_and_functional_nets(net: nn.Module, shape: tuple[int, ...]) -> None:
    table = summary(net, shape)
    check_output_field(net, shape, table.rows[-1])


def test_branch_rows_exist_and_union_is_off_centre() -> None:
    table = summary(Lopsided(), (1, 16, 16))
    kinds = [r.kind for r in table.rows]
    assert "add" in kinds
    add = table.find("add")
    assert add.rf_size == 4 and add.rf_start == 0.5  # pixels i-1 .. i+2
    assert summary(Inception(), (2, 32, 32)).find("cat").rf_size == 5


def test_torchvision_resnet18_up_to_layer2() -> None:
    torchvision = pytest.importorskip("torchvision")
    full = torchvision.models.resnet18()
    trunk = nn.Sequential(full.conv1, full.bn1, full.relu, full.maxpool, full.layer1, full.layer2)
    table = summary(trunk, (3, 160, 160))
    assert table.rows[-1].rf_size == 99 and table.rows[-1].rf_jump == 8
    check_output_field(trunk, (3, 160, 160), table.rows[-1])


def test_transposed_conv_size_is_the_widest_unit() -> None:
    net = nn.Sequential(nn.Conv2d(1, 1, 3, stride=2), nn.ConvTranspose2d(1, 1, 4, stride=2, padding=1))
    shape = (1, 33, 33)
    row = summary(net, shape).rows[-1]
    assert row.rf_jump == 1  # 2 * 1/2
    centre = _centre(row)
    widths = []
    copy = positive_copy(net)
    for shift in range(2):  # one period of the stride
        unit = tuple(c + shift for c in centre)
        (lo, hi), _ = measured_extent(copy, shape, unit)
        widths.append(hi - lo + 1)
    assert max(widths) == row.rf_size


def test_flatten_makes_the_field_global() -> None:
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 6 * 6, 3))
    rows = summary(net, (1, 8, 8)).rows
    assert rows[1].rf_jump is None and rows[1].rf_size == 8  # all 6x6 fields of size 3 together
    assert rows[2].rf_size == 8


@st.composite
def stacks(draw: st.DrawFn) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for _ in range(draw(st.integers(1, 4))):
        k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
        s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        p = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
        kind = draw(st.sampled_from(["conv", "max", "avg"]))
        if kind == "conv":
            d = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
            layers.append(nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d))
        elif kind == "max":
            layers.append(nn.MaxPool2d(k, stride=s, padding=p))
        else:
            layers.append(nn.AvgPool2d(k, stride=s, padding=p))
    return layers


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layers=stacks())
def test_random_conv_pool_stacks_match_the_gradient(layers: list[nn.Module]) -> None:
    net = nn.Sequential(*layers)
    shape = (1, 48, 48)
    try:
        row = summary(net, shape).rows[-1]
    except ShapeError:
        assume(False)
        return
    unit = _centre(row)
    predicted = predicted_extent(row.field, unit)
    assume(inside(predicted, shape[1:]))
    assert measured_extent(positive_copy(net), shape, unit) == predicted
