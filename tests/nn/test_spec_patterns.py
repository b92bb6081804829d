"""The lecture's layer patterns build with the documented defaults and match plain torch.

References: a hand-written ``nn.Sequential`` with the same layers (weights copied in
order, outputs compared) and the output-size formula floor((n + 2p - k) / s) + 1.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from cnnkit.nn.base import CnnModel
from cnnkit.nn.spec import SpecModel, from_spec


def _copy_weights(src: nn.Module, dst: nn.Module) -> None:
    """Copy parameters in order (names differ between the two models)."""
    src_params, dst_params = list(src.parameters()), list(dst.parameters())
    assert [p.shape for p in src_params] == [p.shape for p in dst_params]
    with torch.no_grad():
        for s, d in zip(src_params, dst_params):
            d.copy_(s)


def _assert_same_as(model: SpecModel, reference: nn.Sequential) -> None:
    _copy_weights(model, reference)
    model.eval(), reference.eval()
    x = torch.randn(2, *model.input_shape)
    torch.testing.assert_close(model(x), reference(x))
    assert tuple(model(x).shape[1:]) == model.output_shape


def _conv(cin: int, cout: int = 32) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1)  # what a bare CONV means at stride 1


def test_linear_classifier_input_fc() -> None:
    model = from_spec("INPUT -> FC")
    _assert_same_as(model, nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10)))


def test_input_conv_relu_fc() -> None:
    model = from_spec("INPUT -> CONV -> RELU -> FC")
    _assert_same_as(model, nn.Sequential(_conv(3), nn.ReLU(), nn.Flatten(), nn.Linear(32 * 32 * 32, 10)))


def test_two_conv_pool_stages_then_two_fc() -> None:
    model = from_spec("INPUT -> [CONV -> RELU -> POOL]*2 -> FC -> RELU -> FC")
    reference = nn.Sequential(
        _conv(3), nn.ReLU(), nn.MaxPool2d(2, 2),
        _conv(32), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Flatten(), nn.Linear(32 * 8 * 8, 128), nn.ReLU(), nn.Linear(128, 10),
    )  # fmt: skip
    _assert_same_as(model, reference)


def test_three_double_conv_stages_then_three_fc() -> None:
    model = from_spec("INPUT -> [CONV -> RELU -> CONV -> RELU -> POOL]*3 -> [FC -> RELU]*2 -> FC")
    layers: list[nn.Module] = []
    channels = 3
    for _ in range(3):
        layers += [_conv(channels), nn.ReLU(), _conv(32), nn.ReLU(), nn.MaxPool2d(2, 2)]
        channels = 32
    layers += [nn.Flatten(), nn.Linear(32 * 4 * 4, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10)]
    _assert_same_as(model, nn.Sequential(*layers))
    names = [n for n, _ in model.named_children()]
    assert names == ["features", "head"]
    assert list(dict(model.features.named_children())) == [
        "conv1", "relu1", "conv2", "relu2", "pool1",
        "conv3", "relu3", "conv4", "relu4", "pool2",
        "conv5", "relu5", "conv6", "relu6", "pool3",
    ]  # fmt: skip
    assert list(dict(model.head.named_children())) == ["flatten", "fc1", "relu7", "fc2", "relu8", "fc3"]


@pytest.mark.parametrize(
    ("n", "m", "k"),
    [(0, 0, 0), (1, 0, 0), (0, 1, 1), (0, 3, 0), (1, 1, 0), (2, 2, 1), (3, 3, 2), (1, 4, 0), (1, 7, 1), (2, 0, 2)],
)
def test_general_pattern_for_many_n_m_k(n: int, m: int, k: int) -> None:
    spec = f"INPUT -> [[CONV -> RELU]*{n} -> POOL?]*{m} -> [FC -> RELU]*{k} -> FC"
    model = from_spec(spec)
    mods = list(model.modules())
    convs = [x for x in mods if isinstance(x, nn.Conv2d)]
    pools = [x for x in mods if isinstance(x, nn.MaxPool2d)]
    fcs = [x for x in mods if isinstance(x, nn.Linear)]
    built_pools = min(m, int(math.log2(32)))  # a 2x2 pool fits while the side is >= 2
    assert len(convs) == n * m
    assert len(pools) == built_pools
    assert len(model.spec_notes) == m - built_pools
    assert [fc.out_features for fc in fcs] == [128] * k + [10]
    side = 32 // 2**built_pools
    channels = 32 if n * m else 3
    assert fcs[0].in_features == channels * side * side
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_skipped_pool_is_recorded_in_spec_notes() -> None:
    model = from_spec("INPUT(1x4x4) -> [CONV -> POOL?]*3 -> FC")
    assert [type(m).__name__ for m in model.features] == ["Conv2d", "MaxPool2d"] * 2 + ["Conv2d"]
    assert model.spec_notes == [
        "skipped POOL? at line 1, column 26 (after conv3): window 2 larger than input 1x1",
    ]


def test_optional_group_is_all_or_nothing_and_keeps_names_dense() -> None:
    model = from_spec("INPUT(3x4x4) -> [CONV(4, k=5) -> RELU]*1? -> CONV(4, k=3) -> RELU")
    assert list(dict(model.features.named_children())) == ["conv1", "relu1"]
    assert model.features.conv1.kernel_size == (3, 3)
    assert len(model.spec_notes) == 1
    assert "skipped [CONV(4, k=5) -> RELU]*1? at line 1, column 17" in model.spec_notes[0]
    assert "conv1 CONV(4, k=5): kernel 5" in model.spec_notes[0]


def test_optional_fc_never_leaves_a_stray_flatten() -> None:
    # An FC always fits, so FC? is built; an impossible CONV? is an error either way.
    model = from_spec("INPUT(2x3x3) -> FC(4)? -> FC(2)")
    assert list(dict(model.head.named_children())) == ["flatten", "fc1", "fc2"]


def test_lecture_alexnet_sizes_follow_the_formula() -> None:
    spec = """
    INPUT(3x227x227) -> CONV(96, k=11, s=4) -> RELU -> POOL(3, s=2)   # stage 1
    -> CONV(256, k=5, p=same) -> RELU -> POOL(3, s=2)
    -> CONV(384, k=3, p=same) -> RELU -> CONV(384, k=3, p=same) -> RELU
    -> CONV(256, k=3, p=same) -> RELU -> POOL(3, s=2)
    -> FC(4096) -> RELU -> FC(4096) -> RELU -> FC(1000) -> SOFTMAX
    """
    model = from_spec(spec)

    def out(n: int, k: int, s: int = 1, p: int = 0) -> int:
        return (n + 2 * p - k) // s + 1

    side = out(227, 11, 4)  # 55
    assert model.layer_shapes["conv1"] == (96, side, side)
    side = out(side, 3, 2)  # 27
    assert model.layer_shapes["pool1"] == (96, side, side)
    assert model.layer_shapes["conv2"] == (256, side, side)
    side = out(out(side, 3, 2), 3, 2)  # 13 -> 6
    assert model.layer_shapes["pool3"] == (256, side, side) == (256, 6, 6)
    expected_params = (
        (11 * 11 * 3 + 1) * 96 + (5 * 5 * 96 + 1) * 256 + (3 * 3 * 256 + 1) * 384
        + (3 * 3 * 384 + 1) * 384 + (3 * 3 * 384 + 1) * 256
        + (256 * 6 * 6 + 1) * 4096 + (4096 + 1) * 4096 + (4096 + 1) * 1000
    )  # fmt: skip
    assert sum(p.numel() for p in model.parameters()) == expected_params
    assert isinstance(model.head.softmax1, nn.Softmax)


def test_model_interface() -> None:
    text = "INPUT(1x12x12) -> CONV(4) -> RELU -> POOL -> FC -> RELU -> FC(7)"
    model = from_spec(text)
    assert isinstance(model, CnnModel)
    assert model.spec == text
    assert model.input_shape == (1, 12, 12)
    assert model.output_shape == (7,)
    assert model.spec_notes == []
    assert model.num_classes == 7
    x = torch.randn(2, 1, 12, 12)
    assert model.features(x).shape == (2, 4, 5, 5)
    model.reset_classifier(3)
    assert model(x).shape == (2, 3)


def test_spec_without_fc_is_fully_convolutional() -> None:
    model = from_spec("INPUT(2x8x8) -> CONV(4, k=1) -> GAP")
    assert len(model.head) == 0
    assert model.output_shape == (4, 1, 1)
    assert model(torch.randn(2, 2, 8, 8)).shape == (2, 4, 1, 1)
