"""Each layer keyword: its defaults, its torch module, and the rank chosen by INPUT.

References are torch's own modules and functionals (F.pad + conv for padding modes,
ConvTranspose2d for DECONV, avg_pool2d, adaptive pooling).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import cnnkit
from cnnkit.nn.spec import Layer, Repeat, from_spec, parse_spec

# torch notes that padding='same' with an even kernel copies the input; expected here.
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")


def _only(model: nn.Module, cls: type[nn.Module]) -> nn.Module:
    found = [m for m in model.modules() if isinstance(m, cls)]
    assert len(found) == 1, found
    return found[0]


def test_bare_defaults() -> None:
    model = from_spec("INPUT -> CONV -> POOL -> FC -> FC")
    assert model.input_shape == (3, 32, 32)
    conv = model.features.conv1
    assert (conv.out_channels, conv.kernel_size, conv.padding) == (32, (3, 3), "same")
    pool = model.features.pool1
    assert isinstance(pool, nn.MaxPool2d) and (pool.kernel_size, pool.stride) == ((2, 2), (2, 2))
    assert (model.head.fc1.out_features, model.head.fc2.out_features) == (128, 10)


def test_written_arguments_use_the_grammar_defaults() -> None:
    conv = from_spec("INPUT -> CONV(16)").features.conv1
    assert (conv.out_channels, conv.kernel_size, conv.stride, conv.padding) == (16, (3, 3), (1, 1), (0, 0))
    conv = from_spec("INPUT -> CONV()").features.conv1  # empty parentheses are bare
    assert conv.padding == "same"
    conv = from_spec(
        "INPUT -> CONV(8, kernel=5, stride=2, padding=1, dilation=1, groups=1, padding_mode=replicate, bias=false)"
    ).features.conv1
    assert (conv.kernel_size, conv.stride, conv.padding, conv.padding_mode) == ((5, 5), (2, 2), (1, 1), "replicate")
    assert conv.bias is None
    conv = from_spec("INPUT -> CONV(8, k=3x5, s=1x2, p=valid)").features.conv1
    assert (conv.kernel_size, conv.stride, conv.padding) == ((3, 5), (1, 2), (0, 0))


def test_input_shape_fills_a_bare_input() -> None:
    model = from_spec("INPUT -> FC", input_shape=(1, 28, 28), num_classes=5)
    assert model.input_shape == (1, 28, 28)
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 5)


def test_num_classes_overrides_only_the_last_fc() -> None:
    model = from_spec("INPUT(1x4x4) -> [FC -> RELU]*2 -> FC(1000)", num_classes=7)
    assert [m.out_features for m in model.modules() if isinstance(m, nn.Linear)] == [128, 128, 7]
    model = from_spec("INPUT(1x4x4) -> [FC]*3", num_classes=4)  # the last repetition is the last FC
    assert [m.out_features for m in model.modules() if isinstance(m, nn.Linear)] == [128, 128, 4]
    model = from_spec("INPUT(1x4x4) -> FC -> [FC(3)]*0")
    assert model.output_shape == (10,)


@pytest.mark.parametrize(("word", "mode"), [("zero", "zeros"), ("replicate", "replicate"),
                                            ("reflect", "reflect"), ("circular", "circular")])  # fmt: skip
def test_padding_modes_match_explicit_padding(word: str, mode: str) -> None:
    conv = from_spec(f"INPUT(2x6x7) -> CONV(3, k=3, p=2, mode={word})").features.conv1
    assert conv.padding_mode == mode
    x = torch.randn(2, 2, 6, 7)
    pad_mode = "constant" if mode == "zeros" else mode
    expected = F.conv2d(F.pad(x, (2, 2, 2, 2), mode=pad_mode), conv.weight, conv.bias)
    torch.testing.assert_close(conv(x), expected)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("mode", ["zero", "reflect", "circular", "replicate"])
def test_same_padding_keeps_the_size(k: int, mode: str) -> None:
    model = from_spec(f"INPUT(1x7x6) -> CONV(2, k={k}, p=same, d=2, mode={mode})")
    assert model.output_shape == (2, 7, 6)
    assert model(torch.randn(2, 1, 7, 6)).shape == (2, 2, 7, 6)


def test_one_dimensional_signals() -> None:
    model = from_spec("INPUT(1x40) -> CONV(4, k=5) -> BN -> RELU -> POOL -> GAP -> FC(3)")
    assert isinstance(model.features.conv1, nn.Conv1d)
    assert isinstance(model.features.bn1, nn.BatchNorm1d)
    assert isinstance(model.features.pool1, nn.MaxPool1d)
    assert isinstance(model.features.pool2, nn.AdaptiveAvgPool1d)
    assert model.layer_shapes["pool1"] == (4, 18)  # (40 - 5 + 1) // 2
    assert model(torch.randn(2, 1, 40)).shape == (2, 3)


def test_three_dimensional_volumes() -> None:
    model = from_spec("INPUT(1x4x8x8) -> CONV(2, k=3, p=1) -> BN -> AVGPOOL(2) -> DECONV(2) -> FC(2)")
    assert isinstance(model.features.conv1, nn.Conv3d)
    assert isinstance(model.features.bn1, nn.BatchNorm3d)
    assert isinstance(model.features.pool1, nn.AvgPool3d)
    assert isinstance(model.features.deconv1, nn.ConvTranspose3d)
    assert model.layer_shapes["deconv1"] == (2, 4, 8, 8)
    assert model(torch.randn(2, 1, 4, 8, 8)).shape == (2, 2)


def test_deconv_matches_conv_transpose() -> None:
    model = from_spec("INPUT(3x5x5) -> DECONV(4, k=3, s=2, p=1, op=1, d=1)")
    deconv = model.features.deconv1
    reference = nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1)
    reference.load_state_dict(deconv.state_dict())
    x = torch.randn(2, 3, 5, 5)
    torch.testing.assert_close(model(x), reference(x))
    assert model.output_shape == (4, 10, 10) == tuple(reference(x).shape[1:])


def test_pool_kinds() -> None:
    x = torch.randn(2, 3, 9, 9)
    avg = from_spec("INPUT(3x9x9) -> POOL(3, s=2, p=1, type=avg)")
    torch.testing.assert_close(avg(x), F.avg_pool2d(x, 3, stride=2, padding=1))
    mx = from_spec("INPUT(3x9x9) -> MAXPOOL(3, s=1)")
    torch.testing.assert_close(mx(x), F.max_pool2d(x, 3, stride=1))
    for text, reference in [
        ("GAP", x.mean(dim=(2, 3), keepdim=True)),
        ("POOL(global)", x.mean(dim=(2, 3), keepdim=True)),
        ("GMP", x.amax(dim=(2, 3), keepdim=True)),
        ("POOL(global, type=max)", x.amax(dim=(2, 3), keepdim=True)),
    ]:
        torch.testing.assert_close(from_spec(f"INPUT(3x9x9) -> {text}")(x), reference)


def test_stochastic_pool_builds() -> None:
    from cnnkit.nn.layers.stochastic_pool import StochasticPool2d

    try:
        StochasticPool2d(2)
    except NotImplementedError:
        pytest.skip("cnnkit.nn.layers.stochastic_pool is still a stub")
    for text in ("POOL(type=stochastic)", "STOCHPOOL(3, s=2)"):
        model = from_spec(f"INPUT(2x8x8) -> {text}")
        pool = _only(model, StochasticPool2d)
        model.eval()
        assert model(torch.rand(2, 2, 8, 8)).shape == (2, *model.output_shape)
        del pool


def test_activations_and_head_layers() -> None:
    model = from_spec(
        "INPUT(2x4x4) -> LEAKYRELU(0.2) -> ELU(alpha=0.5) -> SELU -> GELU -> SILU -> SIGMOID -> TANH"
        " -> FLATTEN -> FC(6, bias=false) -> BN -> DROPOUT(0.25) -> RELU -> FC(3) -> SOFTMAX"
    )
    f, h = model.features, model.head
    assert f.leakyrelu1.negative_slope == 0.2 and f.elu1.alpha == 0.5
    assert [type(m) for m in f] == [nn.LeakyReLU, nn.ELU, nn.SELU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh]
    assert h.fc1.bias is None
    assert isinstance(h.bn1, nn.BatchNorm1d) and h.bn1.num_features == 6
    assert h.dropout1.p == 0.25
    model.eval()
    probabilities = model(torch.randn(2, 2, 4, 4))
    torch.testing.assert_close(probabilities.sum(dim=1), torch.ones(2))


def test_surface_syntax_is_forgiving() -> None:
    text = """
    input(1x8x8)   # lower case, comments, line breaks
      → conv(4, K=3, Mode="reflect", P=1)
      -> Relu -> maxpool(2) -> fc(3)
    """
    model = from_spec(text)
    assert model.features.conv1.padding_mode == "reflect"
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 3)


def test_parse_spec_returns_a_located_tree() -> None:
    spec = parse_spec("INPUT(1x28x28) -> [CONV(8, k=5) -> RELU -> POOL?]*2 ->\n  FC(10)")
    first, group, last = spec.items
    assert isinstance(first, Layer) and first.options["shape"] == (1, 28, 28)
    assert isinstance(group, Repeat) and group.count == 2 and (group.line, group.column) == (1, 19)
    conv, relu, pool = group.body
    assert isinstance(conv, Layer) and conv.kind == "CONV" and conv.options["kernel"] == 5
    assert conv.options["filters"] == 8 and conv.source == "CONV(8, k=5)" and (conv.line, conv.column) == (1, 20)
    assert isinstance(pool, Layer) and pool.optional and pool.options["type"] == "max"
    assert isinstance(last, Layer) and (last.line, last.column) == (2, 3) and last.options["units"] == 10
    assert [layer.kind for layer in spec.layers()] == ["INPUT", "CONV", "RELU", "POOL", "FC"]


def test_alias_keywords_resolve_to_one_pool_kind() -> None:
    spec = parse_spec("INPUT -> AVGPOOL(3) -> GAP -> GMP -> STOCHPOOL")
    kinds = [(layer.kind, layer.options["type"]) for layer in spec.layers()[1:]]
    assert kinds == [("POOL", "avg"), ("POOL", "avg"), ("POOL", "max"), ("POOL", "stochastic")]


def test_public_api_and_build() -> None:
    assert cnnkit.from_spec is from_spec
    model = cnnkit.build("INPUT(1x8x8) -> CONV(4) -> RELU -> FC", num_classes=3)
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 3)
