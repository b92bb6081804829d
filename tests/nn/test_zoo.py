"""Every zoo model: forward shapes, reset_classifier, exact torchvision parameter counts."""

from __future__ import annotations

import pytest
import torch
import torchvision

import cnnkit
from cnnkit.errors import ModelError
from cnnkit.nn.base import CnnModel

ALL = [entry.name for entry in cnnkit.list_models()]
TORCHVISION_BACKED = [e.name for e in cnnkit.list_models() if e.torchvision_name]
BIG = {"vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"}  # ~2 s to build each


def _small_input(name: str, in_channels: int | None = None) -> torch.Tensor:
    """A batch of 2 at the default shape, shrunk to 64x64 for the ImageNet models."""
    shape = list(cnnkit.default_input_shape(name))
    if in_channels is not None:
        shape[0] = in_channels
    if len(shape) == 3 and shape[1] > 64:
        shape[1:] = [64, 64]
    return torch.randn(2, *shape)


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _torchvision_on_meta(name: str, num_classes: int) -> torch.nn.Module:
    extra = {"aux_logits": False, "init_weights": False} if name == "googlenet" else {}
    with torch.device("meta"):
        return torchvision.models.get_model(name, weights=None, num_classes=num_classes, **extra)


def test_the_zoo_has_every_required_model() -> None:
    required = {"lenet5", "alexnet", "nin", "googlenet", "resnet18", "resnet34", "resnet50",
                "resnet101", "resnet20", "densenet121", "cnn1d", "cnn3d"}  # fmt: skip
    required |= {f"vgg{d}{bn}" for d in (11, 13, 16, 19) for bn in ("", "_bn")}
    assert required <= set(ALL)


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in BIG else n for n in ALL]
)
def test_forward_and_reset_classifier(name: str) -> None:
    model = cnnkit.build(name, num_classes=5)
    assert isinstance(model, CnnModel) and model.num_classes == 5
    model.eval()
    x = _small_input(name)
    with torch.no_grad():
        assert model(x).shape == (2, 5)
        model.reset_classifier(3)
        assert model.num_classes == 3 and model(x).shape == (2, 3)


@pytest.mark.parametrize("name", ["lenet5", "nin", "resnet20", "cnn1d", "cnn3d", "resnet18", "googlenet"])
def test_in_channels_changes_the_first_layer(name: str) -> None:
    kwargs = {"input_size": 32} if name == "lenet5" else {}
    model = cnnkit.build(name, num_classes=4, in_channels=2, **kwargs).eval()
    with torch.no_grad():
        assert model(_small_input(name, in_channels=2)).shape == (2, 4)


@pytest.mark.parametrize("name", TORCHVISION_BACKED)
@pytest.mark.parametrize("num_classes", [1000, 10])
def test_parameter_count_equals_torchvision(name: str, num_classes: int) -> None:
    with torch.device("meta"):
        ours = cnnkit.build(name, num_classes=num_classes)
    assert _params(ours) == _params(_torchvision_on_meta(name, num_classes))


@pytest.mark.parametrize("name", ALL)
def test_models_are_tagged_with_their_zoo_name(name: str) -> None:
    with torch.device("meta"):
        assert cnnkit.build(name).zoo_name == name


def test_misspelled_argument_suggests_the_right_one() -> None:
    with pytest.raises(ModelError, match="did you mean 'num_classes'"):
        cnnkit.build("resnet18", num_clases=10)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize(("argument", "value"), [("num_classes", 0), ("in_channels", 0), ("num_classes", 2.5)])
def test_bad_values_raise_model_error(name: str, argument: str, value: object) -> None:
    with pytest.raises(ModelError, match=f"{argument} must be a positive integer"):
        cnnkit.build(name, **{argument: value})
