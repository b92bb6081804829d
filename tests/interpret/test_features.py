"""Feature maps: equal to running the submodules by hand, 'all' picks every convolution in
order (with the activation after it), the picture holds those maps, errors are one line."""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from typer.testing import CliRunner

from cnnkit.cli.app import app, main
from cnnkit.data.tensordata import DatasetInfo
from cnnkit.errors import CnnkitError, ShapeError
from cnnkit.interpret.features import (
    FeatureLayer,
    channel_stats,
    conv_feature_layers,
    feature_maps,
    features_figure,
    resolve_layers,
    top_channels,
)
from cnnkit.interpret.subject import Subject, open_subject, subject_from_model
from cnnkit.nn.base import CnnModel
from cnnkit.nn.capture import capture

runner = CliRunner()
INFO = DatasetInfo("tiny", "image", (1, 8, 8), ("a", "b", "c"), (0.3,), (0.2,))


def tiny_subject() -> Subject:
    """1x8x8 -> conv1 bn1 relu1 pool1 -> conv2 (no activation) pool2 -> block(conv, GELU) -> fc."""
    torch.manual_seed(0)
    features = nn.Sequential(OrderedDict(
        conv1=nn.Conv2d(1, 4, 3, padding=1), bn1=nn.BatchNorm2d(4), relu1=nn.ReLU(), pool1=nn.MaxPool2d(2),
        conv2=nn.Conv2d(4, 6, 3, padding=1), pool2=nn.MaxPool2d(2),
        block=nn.Sequential(OrderedDict(conv=nn.Conv2d(6, 5, 1), act=nn.GELU())),
    ))
    with torch.no_grad():  # BN statistics that are not the identity
        features.bn1.running_mean.uniform_(-0.5, 0.5)
        features.bn1.running_var.uniform_(0.5, 2.0)
        features.bn1.weight.uniform_(0.5, 1.5)
        features.bn1.bias.uniform_(-0.2, 0.2)
    head = nn.Sequential(OrderedDict(flatten=nn.Flatten(), fc=nn.Linear(5 * 2 * 2, 3)))
    return subject_from_model(CnnModel(features, head), INFO, name="tiny")


def image(seed: int = 1) -> Tensor:
    return torch.randint(0, 256, (1, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def test_all_picks_every_conv_in_order_with_its_activation() -> None:
    bands = conv_feature_layers(tiny_subject().model)
    assert bands == [
        FeatureLayer(shown="features.relu1", conv="features.conv1", between=("bn1",)),
        FeatureLayer(shown="features.conv2", conv="features.conv2"),  # no activation before the next conv
        FeatureLayer(shown="features.block.act", conv="features.block.conv"),
    ]
    assert bands[0].label == "features.conv1 -> bn1 -> relu1" and bands[1].label == "features.conv2"


def test_a_pool_between_conv_and_activation_is_in_the_label_with_the_pooled_size() -> None:
    """quicknet's order (conv -> pool -> bn -> relu): the band shows the pooled map, and its
    title must say the pool ran, or the shape reads as the convolution's own."""
    torch.manual_seed(0)
    features = nn.Sequential(OrderedDict(conv1=nn.Conv2d(1, 4, 3, padding=1), pool=nn.MaxPool2d(2),
                                         bn1=nn.BatchNorm2d(4), relu1=nn.ReLU()))
    head = nn.Sequential(OrderedDict(flatten=nn.Flatten(), fc=nn.Linear(4 * 4 * 4, 3)))
    subject = subject_from_model(CnnModel(features, head), INFO, name="pooled")
    bands = conv_feature_layers(subject.model)
    assert bands == [FeatureLayer(shown="features.relu1", conv="features.conv1", between=("pool", "bn1"))]
    maps = feature_maps(subject, image())
    assert maps["features.relu1"].shape == (4, 4, 4)  # pooled: half of 8x8
    fig = features_figure(torch.zeros(1, 8, 8), maps, bands)
    titles = [sub._suptitle.get_text() for sub in fig.subfigs if sub._suptitle is not None]
    assert any(t.startswith("features.conv1 -> pool -> bn1 -> relu1  ·  4x4x4") for t in titles), titles


def test_maps_equal_the_submodules_run_by_hand() -> None:
    subject = tiny_subject()
    f = subject.model.features
    stored = image()
    maps = feature_maps(subject, stored)
    assert list(maps) == ["features.relu1", "features.conv2", "features.block.act"]

    x = (stored.float()[None] / 255 - 0.3) / 0.2
    bn = f.bn1
    h1 = F.conv2d(x, f.conv1.weight, f.conv1.bias, padding=1)
    h1 = (h1 - bn.running_mean.view(1, -1, 1, 1)) / torch.sqrt(bn.running_var.view(1, -1, 1, 1) + bn.eps)
    h1 = torch.clamp(h1 * bn.weight.view(1, -1, 1, 1) + bn.bias.view(1, -1, 1, 1), min=0)
    h2 = F.conv2d(F.max_pool2d(h1, 2), f.conv2.weight, f.conv2.bias, padding=1)
    h3 = F.gelu(F.conv2d(F.max_pool2d(h2, 2), f.block.conv.weight, f.block.conv.bias))
    torch.testing.assert_close(maps["features.relu1"], h1[0])
    torch.testing.assert_close(maps["features.conv2"], h2[0])
    torch.testing.assert_close(maps["features.block.act"], h3[0])
    assert maps["features.relu1"].shape == (4, 8, 8) and maps["features.block.act"].shape == (5, 2, 2)

    named = feature_maps(subject, stored, "features.pool1, features.conv1")
    assert list(named) == ["features.pool1", "features.conv1"]
    torch.testing.assert_close(named["features.pool1"], F.max_pool2d(h1, 2)[0])
    again = feature_maps(subject, stored, ["features.pool1", "features.conv1"])
    assert all(torch.equal(named[k], again[k]) for k in named)  # deterministic


class SharedReLU(CnnModel):
    """One ReLU module used twice (as ResNet blocks do): conv1 -> relu -> conv2 -> relu."""

    def __init__(self) -> None:
        body = nn.Sequential(OrderedDict(conv1=nn.Conv2d(1, 3, 3, padding=1), relu=nn.ReLU(),
                                         conv2=nn.Conv2d(3, 2, 3, padding=1)))
        super().__init__(body, nn.Sequential(nn.Flatten(), nn.Linear(2 * 8 * 8, 3)))

    def forward(self, x: Tensor) -> Tensor:
        f = self.features
        return self.head(f.relu(f.conv2(f.relu(f.conv1(x)))))


def test_a_shared_module_is_recorded_at_its_first_call() -> None:
    torch.manual_seed(2)
    subject = subject_from_model(SharedReLU(), INFO)
    f = subject.model.features
    maps = feature_maps(subject, image(3))
    assert list(maps) == ["features.relu", "features.conv2"]
    x = subject.to_input(image(3))
    torch.testing.assert_close(maps["features.relu"], torch.relu(f.conv1(x))[0])
    # the same module's last call is the second ReLU: a different tensor
    _, last = capture(subject.model, {"r": f.relu}, x, call="last")
    torch.testing.assert_close(last["r"], torch.relu(f.conv2(torch.relu(f.conv1(x)))))


def test_top_channels_by_mean_activation() -> None:
    maps = torch.tensor([[[1.0, 1.0]], [[3.0, 0.0]], [[0.0, 0.0]], [[5.0, -1.0]]])  # means 1, 1.5, 0, 2
    assert top_channels(maps, 3).tolist() == [3, 1, 0]
    ties = torch.zeros(4, 2, 2)
    assert top_channels(ties, 4).tolist() == [0, 1, 2, 3]  # stable
    stats = channel_stats(maps, 2)
    assert stats == [{"channel": 3, "mean": 2.0, "max": 5.0}, {"channel": 1, "mean": 1.5, "max": 3.0}]


@pytest.mark.parametrize(
    ("x", "layers", "error", "message"),
    [
        (image(), "features.conv7", CnnkitError, r"has no layer 'features.conv7' \(did you mean"),
        (image(), " , ", CnnkitError, "--layer is empty"),
        (image(), "head.fc", ShapeError, "outputs 3, not feature maps"),
        (torch.zeros(3, 8, 8, dtype=torch.uint8), "all", ShapeError, "takes images of 1x8x8"),
        (torch.zeros(1, 8, 8), "all", ShapeError, "uint8"),
        (torch.zeros(2, 1, 8, 8, dtype=torch.uint8), "all", ShapeError, "one image at a time"),
    ],
)
def test_errors(x: Tensor, layers: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        feature_maps(tiny_subject(), x, layers)


def test_figure_draws_the_most_active_maps() -> None:
    subject = tiny_subject()
    stored = image()
    maps = feature_maps(subject, stored)
    bands = resolve_layers(subject, "all")
    pixels = stored.float() / 255
    fig = features_figure(pixels, maps, bands, max_channels=3, title="tiny")
    assert len(fig.subfigs) == 4  # the input, then one band per convolution
    np.testing.assert_allclose(fig.subfigs[0].axes[0].get_images()[0].get_array(), pixels[0].numpy(), rtol=1e-6)
    relu = maps["features.relu1"]
    best = int(relu.mean(dim=(1, 2)).argmax())
    drawn = fig.subfigs[1].axes[0].get_images()[0]
    np.testing.assert_allclose(drawn.get_array(), (relu[best] / relu[best].max()).numpy(), rtol=1e-6)
    assert drawn.get_interpolation() == "nearest" and drawn.get_clim() == (0, 1)
    title = fig.subfigs[1]._suptitle.get_text()
    assert "features.conv1 -> bn1 -> relu1" in title and "4x8x8" in title and "top 3 of 4" in title
    assert fig.subfigs[2].axes[0].get_images()[0].get_clim() == (-1, 1)  # a signed (raw conv) band


def test_cli_png_and_json(digits_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "maps.png"
    result = runner.invoke(app, ["interpret", "features", str(digits_run), "test:3", "-o", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    result = runner.invoke(app, ["interpret", "features", str(digits_run), "test:3", "--max-channels", "2",
                                 "-o", str(out), "--json", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    subject = open_subject(digits_run)
    stored, label = subject.read_image("test:3")
    f = subject.model.features
    _, outputs = capture(subject.model, {"relu1": f.relu1, "relu2": f.relu2}, subject.to_input(stored))
    assert [b["conv"] for b in data["layers"]] == ["features.conv1", "features.conv2"]
    assert [b["shown"] for b in data["layers"]] == ["features.relu1", "features.relu2"]
    for band, key in zip(data["layers"], ["relu1", "relu2"]):
        reference = outputs[key][0]
        assert band["shape"] == list(reference.shape)
        means = reference.mean(dim=(1, 2))
        assert [c["channel"] for c in band["top_channels"]] == means.argsort(descending=True)[:2].tolist()
        assert band["top_channels"][0]["mean"] == pytest.approx(float(means.max()), abs=1e-5)
    probs = subject.probabilities(subject.to_input(stored))[0]
    assert data["true_class"] == label and data["predicted"] == int(probs.argmax())
    assert data["probability"] == pytest.approx(float(probs.max()), abs=1e-5)


def test_cli_default_output_and_errors(digits_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for args, message in [
        (["test:99999"], "the test split has"),
        (["test:0", "--layer", "features.relu9"], "did you mean"),
    ]:
        with pytest.raises(SystemExit) as stop:
            main(["interpret", "features", str(digits_run), *args, "--device", "cpu"])
        assert stop.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1
