"""Layer names, default layers and activations, checked against torchvision's VGG19."""

from __future__ import annotations

import pytest
import torch
import torchvision

from cnnkit.errors import CnnkitError
from cnnkit.nn.pretrained import IMAGENET_MEAN, IMAGENET_STD
from cnnkit.style.extractor import FeatureExtractor

# torchvision's vgg19.features: the index of each convolution, in order (its ReLU is the next one)
TORCHVISION_CONVS = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
GATYS_NAMES = [f"conv{b}_{k}" for b, n in ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4)) for k in range(1, n + 1)]


def test_vgg19_lecture_names_are_gatys_layers(vgg19: FeatureExtractor) -> None:
    """conv4_2 is the ReLU after torchvision's 10th convolution, and so on for all 16."""
    expected = {name: f"features.{index + 1}" for name, index in zip(GATYS_NAMES, TORCHVISION_CONVS)}
    assert vgg19.layers.aliases == expected
    assert vgg19.layers.default_content == "conv4_2"
    assert vgg19.layers.default_style == ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")


def test_activations_match_torchvision_vgg19(vgg19: FeatureExtractor) -> None:
    reference = torchvision.models.vgg19(weights=None).features.eval()
    reference.load_state_dict(vgg19.subject.model.features.state_dict())
    pixels = torch.rand(1, 3, 40, 48, generator=torch.Generator().manual_seed(0))
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    names = ["conv1_1", "conv4_2", "conv5_1", "features.21"]
    with torch.no_grad():
        got = vgg19(pixels, names)
        x = (pixels - mean) / std
        expected = {}
        for index, layer in enumerate(reference):
            x = layer(x)
            for name, want in (("conv1_1", 1), ("conv4_2", 22), ("conv5_1", 29), ("features.21", 21)):
                if index == want:
                    expected[name] = x.clone()  # clone: the next in-place ReLU would change it
    for name in names:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-4, atol=1e-5)
    assert (got["conv4_2"] >= 0).all() and (got["features.21"] < 0).any()  # after vs before the ReLU


def test_outputs_keep_the_graph_to_the_pixels(tiny: FeatureExtractor) -> None:
    pixels = torch.rand(1, 3, 20, 24, requires_grad=True)
    out = tiny(pixels, ["conv2_1"])["conv2_1"]
    out.sum().backward()
    assert pixels.grad is not None and pixels.grad.abs().sum() > 0


def test_small_model_defaults(tiny: FeatureExtractor) -> None:
    # two blocks of two convolutions (padded, so a block keeps its size; pools start blocks)
    assert list(tiny.layers.aliases) == ["conv1_1", "conv1_2", "conv2_1", "conv2_2"]
    assert tiny.layers.default_style == ("conv1_1", "conv2_1")
    assert tiny.layers.default_content == "conv1_2"  # 2nd conv of the second-to-last block


def test_unpadded_convolutions_stay_in_one_block() -> None:
    from cnnkit.style.network import open_network

    spec = "INPUT(3x32x32) -> [CONV(4, k=3) -> RELU]*2 -> POOL(2) -> [CONV(4, k=3) -> RELU]*2 -> FC(2)"
    subject, _ = open_network(spec, allow_random_weights=True)
    assert list(FeatureExtractor(subject).layers.aliases) == ["conv1_1", "conv1_2", "conv2_1", "conv2_2"]


def test_bad_layer_name_suggests_the_closest(vgg19: FeatureExtractor) -> None:
    with pytest.raises(CnnkitError, match=r"no layer 'conv42' \(did you mean 'conv4_2'\?\)") as err:
        vgg19.resolve("conv42")
    assert "conv1_1" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(CnnkitError, match=r"did you mean 'features\.21'"):
        vgg19.resolve("features.211")
    assert vgg19.resolve("features.7") == "features.7"


def test_wrong_pixel_shape_is_a_clear_error(tiny: FeatureExtractor) -> None:
    with pytest.raises(CnnkitError, match=r"\(N, 3, H, W\)"):
        tiny(torch.rand(1, 1, 16, 16), ["conv1_1"])


def test_a_layer_without_a_grid_is_refused(tiny: FeatureExtractor) -> None:
    names = [n for n, m in tiny.subject.model.named_modules() if isinstance(m, torch.nn.Linear)]
    with pytest.raises(CnnkitError, match="choose a convolutional layer"):
        tiny(torch.rand(1, 3, 32, 32), [names[-1]])
