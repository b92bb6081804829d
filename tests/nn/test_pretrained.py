"""Loading torchvision checkpoints into zoo models, all offline.

Each round trip builds torchvision's model with weights=None, saves its state dict
to a file, loads that file into the cnnkit model through the name mapping and checks
that both give the same output in eval mode. Nothing is downloaded: the network is
replaced by a function that fails, and the torch hub cache points into tmp_path.
"""

from __future__ import annotations

import urllib.error
from pathlib import Path

import pytest
import torch
import torchvision

import cnnkit
from cnnkit.errors import ModelError
from cnnkit.nn.pretrained import (
    PRETRAINED_CONFIGS,
    adapt_first_conv,
    hub_cache_path,
    load_torchvision_weights,
    pretrained_config,
)

TORCHVISION_BACKED = [e.name for e in cnnkit.list_models() if e.torchvision_name]
SLOW = {n for n in TORCHVISION_BACKED if n.startswith("vgg")}  # ~3.5 s each: 133M+ parameters


def _torchvision(name: str, **kwargs: object) -> torch.nn.Module:
    """torchvision's model with random weights and random BN statistics, in eval mode."""
    if name == "googlenet":  # the real checkpoint carries the aux heads; ours drops them
        kwargs = {"aux_logits": True, "init_weights": True, **kwargs}
    model = torchvision.models.get_model(name, weights=None, **kwargs)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.normal_(0, 0.1)
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return model.eval()


def _same_output(ours: torch.nn.Module, theirs: torch.nn.Module, x: torch.Tensor, y: torch.Tensor | None = None) -> None:
    with torch.no_grad():
        torch.testing.assert_close(ours.eval()(x), theirs(x if y is None else y), rtol=1e-4, atol=1e-5)


@pytest.fixture()
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private, empty torch hub cache and no network. Returns the hub directory."""

    def no_network(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch" / "hub"


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in TORCHVISION_BACKED]
)
def test_torchvision_checkpoint_gives_the_same_output(name: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    theirs = _torchvision(name)
    path = tmp_path / f"{name}.pth"
    torch.save(theirs.state_dict(), path)
    ours = cnnkit.build(name)
    report = load_torchvision_weights(ours, path)
    assert report.skipped == () and report.adapted == ()
    _same_output(ours, theirs, torch.randn(2, 3, 64, 64))


@pytest.mark.parametrize("name", TORCHVISION_BACKED)
def test_config_names_the_real_first_conv_and_classifier(name: str) -> None:
    config = pretrained_config(name)
    with torch.device("meta"):
        model = cnnkit.build(name, num_classes=7)
    layers = dict(model.named_modules())
    assert isinstance(layers[config.first_conv], torch.nn.Conv2d)
    assert layers[config.first_conv] is next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    assert layers[config.classifier] is model._classifier_slot()[2]


def test_builder_weights_keyword_loads_all_but_a_different_classifier(tmp_path: Path) -> None:
    theirs = _torchvision("resnet18")
    path = tmp_path / "resnet18.pth"
    torch.save(theirs.state_dict(), path)
    ours = cnnkit.build("resnet18", num_classes=10, weights=str(path))
    assert ours.num_classes == 10
    with torch.no_grad():
        x = torch.randn(1, 3, 64, 64)
        torch.testing.assert_close(ours.eval().features(x), torch.nn.Sequential(*list(theirs.children())[:-2])(x))
    report = load_torchvision_weights(ours, path)
    assert report.skipped == ("head.fc.weight", "head.fc.bias")


def test_nan_placeholders_are_skipped(tmp_path: Path) -> None:
    state = _torchvision("resnet18").state_dict()
    state["fc.weight"] = torch.full_like(state["fc.weight"], float("nan"))  # as in VGG16_FEATURES
    path = tmp_path / "features_only.pth"
    torch.save(state, path)
    model = cnnkit.build("resnet18")
    report = load_torchvision_weights(model, path)
    assert report.skipped == ("head.fc.weight",) and torch.isfinite(model.head.fc.weight).all()


def test_features_only_file_loads_only_when_asked(tmp_path: Path) -> None:
    theirs = _torchvision("vgg11")
    trunk = {f"features.{k}": v for k, v in theirs.features.state_dict().items()}
    path = tmp_path / "trunk.pth"
    torch.save(trunk, path)
    with pytest.raises(ModelError, match="missing keys"):
        load_torchvision_weights(cnnkit.build("vgg11"), path)
    model = cnnkit.build("vgg11")
    report = load_torchvision_weights(model, path, features_only=True)
    head = [k for k in model.state_dict() if not k.startswith("features.")]
    assert sorted(report.skipped) == sorted(head) and head
    x = torch.randn(1, 3, 32, 32)
    torch.testing.assert_close(model.eval().features(x), theirs.eval().features(x))


def test_grayscale_first_conv_sums_the_rgb_filters(tmp_path: Path) -> None:
    theirs = _torchvision("resnet18")
    path = tmp_path / "resnet18.pth"
    torch.save(theirs.state_dict(), path)
    ours = cnnkit.build("resnet18", in_channels=1)
    assert load_torchvision_weights(ours, path).adapted == ("features.conv1.weight",)
    gray = torch.randn(2, 1, 64, 64)
    # a gray image copied into R, G and B must give the RGB network's answer
    _same_output(ours, theirs, gray, gray.repeat(1, 3, 1, 1))


def test_six_channels_repeat_and_rescale(tmp_path: Path) -> None:
    theirs = _torchvision("alexnet")
    path = tmp_path / "alexnet.safetensors"
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in theirs.state_dict().items()}, str(path))
    ours = cnnkit.build("alexnet", in_channels=6)
    load_torchvision_weights(ours, path)
    gray = torch.randn(1, 1, 64, 64)
    _same_output(ours, theirs, gray.repeat(1, 6, 1, 1), gray.repeat(1, 3, 1, 1))


def test_adapt_first_conv_shapes() -> None:
    weight = torch.randn(4, 3, 5, 5)
    assert adapt_first_conv(weight, 3) is weight
    torch.testing.assert_close(adapt_first_conv(weight, 1), weight.sum(1, keepdim=True))
    two = adapt_first_conv(weight, 2)
    torch.testing.assert_close(two, weight[:, :2] * 1.5)
    assert adapt_first_conv(torch.randn(2, 3, 3, 3, 3), 4).shape == (2, 4, 3, 3, 3)  # 3-D convs too


def test_densenet_legacy_key_names_are_renamed(tmp_path: Path) -> None:
    theirs = _torchvision("densenet121")
    legacy = {}
    for key, value in theirs.state_dict().items():  # "norm1" -> "norm.1", as in the real checkpoint
        for part in ("norm1", "norm2", "conv1", "conv2"):
            if ".denselayer" in key and f".{part}." in key:
                key = key.replace(f".{part}.", f".{part[:-1]}.{part[-1]}.")
        legacy[key] = value
    assert "features.denseblock1.denselayer1.norm.1.weight" in legacy
    path = tmp_path / "densenet121.pth"
    torch.save(legacy, path)
    ours = cnnkit.build("densenet121")
    load_torchvision_weights(ours, path)
    _same_output(ours, theirs, torch.randn(1, 3, 64, 64))


def test_our_own_state_dict_loads_too(tmp_path: Path) -> None:
    source = cnnkit.build("googlenet")
    path = tmp_path / "ours.pth"
    torch.save({"state_dict": source.state_dict()}, path)  # wrapped, as training checkpoints are
    target = cnnkit.build("googlenet")
    load_torchvision_weights(target, path)
    _same_output(target, source.eval(), torch.randn(1, 3, 64, 64))


def test_offline_without_cache_says_where_to_put_the_file(offline: Path) -> None:
    model = cnnkit.build("resnet18")
    expected = offline / "checkpoints" / "resnet18-f37072fd.pth"
    with pytest.raises(ModelError, match="could not download") as info:
        load_torchvision_weights(model, "IMAGENET1K_V1")
    assert str(expected) in str(info.value) and "--weights FILE" in str(info.value)
    with pytest.raises(ModelError, match="could not download"):
        cnnkit.build("googlenet", num_classes=10, weights="DEFAULT")


def test_cached_file_is_used_without_network(offline: Path) -> None:
    theirs = _torchvision("resnet18")
    url = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url
    cache = hub_cache_path(url)
    assert cache.parent == offline / "checkpoints"
    cache.parent.mkdir(parents=True)
    torch.save(theirs.state_dict(), cache)
    ours = cnnkit.build("resnet18", weights="default")
    _same_output(ours, theirs, torch.randn(1, 3, 64, 64))


def test_unknown_weights_name_suggests_one(offline: Path) -> None:
    with pytest.raises(ModelError, match="did you mean 'IMAGENET1K_V1'"):
        load_torchvision_weights(cnnkit.build("resnet18"), "IMAGENET1K_V")


@pytest.mark.parametrize("name", ["lenet5", "resnet20", "cnn1d"])
def test_models_without_torchvision_weights_are_refused(name: str) -> None:
    with pytest.raises(ModelError, match="has no torchvision weights"):
        load_torchvision_weights(cnnkit.build(name), "DEFAULT")
    assert name not in PRETRAINED_CONFIGS


def test_wrong_architecture_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "resnet18.pth"
    torch.save(_torchvision("resnet18").state_dict(), path)
    with pytest.raises(ModelError, match="do not fit resnet34: .*missing keys"):
        load_torchvision_weights(cnnkit.build("resnet34"), path)


def test_missing_and_corrupt_files(tmp_path: Path) -> None:
    model = cnnkit.build("resnet18")
    with pytest.raises(ModelError, match="not found"):
        load_torchvision_weights(model, tmp_path / "nope.pth")
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="cannot read weights file"):
        load_torchvision_weights(model, corrupt)
    not_a_state = tmp_path / "list.pth"
    torch.save([1, 2, 3], not_a_state)
    with pytest.raises(ModelError, match="does not hold a state dict"):
        load_torchvision_weights(model, not_a_state)
