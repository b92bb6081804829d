"""Filters: the weights come straight from the conv module, the pictures hold exactly those
weights (checked pixel by pixel against the explicit tiling formula), errors are one line."""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from cnnkit.cli.app import app, main
from cnnkit.data.tensordata import DatasetInfo
from cnnkit.errors import CnnkitError
from cnnkit.interpret.filters import (
    filter_summary,
    filter_view,
    filter_weights,
    filters_figure,
    first_conv_name,
)
from cnnkit.interpret.subject import Subject, open_subject, subject_from_model
from cnnkit.nn.base import CnnModel

runner = CliRunner()


def tiny_rgb_subject() -> Subject:
    """3x8x8 input; convs 3->4 (3x3), 4->6 (3x3), 6->5 (1x1); a linear head of 3 classes."""
    torch.manual_seed(0)
    features = nn.Sequential(OrderedDict(
        conv1=nn.Conv2d(3, 4, 3), relu1=nn.ReLU(), conv2=nn.Conv2d(4, 6, 3), relu2=nn.ReLU(),
        conv3=nn.Conv2d(6, 5, 1), pool=nn.AdaptiveAvgPool2d(1),
    ))
    head = nn.Sequential(OrderedDict(flatten=nn.Flatten(), fc=nn.Linear(5, 3)))
    info = DatasetInfo("tiny", "image", (3, 8, 8), ("a", "b", "c"), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    return subject_from_model(CnnModel(features, head), info, name="tiny")


def drawn(fig: Any) -> np.ndarray:
    """The array behind the one image the figure draws (NaN where masked)."""
    array = fig.axes[0].get_images()[0].get_array()
    return np.ma.filled(np.ma.asarray(array).astype(float), np.nan)


def test_weights_equal_the_module_and_are_a_copy() -> None:
    subject = tiny_rgb_subject()
    features = subject.model.features
    assert first_conv_name(subject) == "features.conv1"
    torch.testing.assert_close(filter_weights(subject), features.conv1.weight)
    w = filter_weights(subject, "features.conv2")
    torch.testing.assert_close(w, features.conv2.weight)
    w.zero_()  # editing the result must not touch the model
    assert features.conv2.weight.abs().sum() > 0
    assert filter_weights(subject, "features.conv3").shape == (5, 6, 1, 1)


@pytest.mark.parametrize(
    ("layer", "message"),
    [("features.relu1", "ReLU, not a 2-D convolution"), ("head.fc", "choose one of: features.conv1"),
     ("features.conv9", "did you mean")],
)
def test_bad_layers(layer: str, message: str) -> None:
    with pytest.raises(CnnkitError, match=message):
        filter_weights(tiny_rgb_subject(), layer)


def test_model_without_convolutions() -> None:
    info = DatasetInfo("flat", "image", (1, 2, 2), ("a", "b"), (0.5,), (0.5,))
    model = CnnModel(nn.Sequential(nn.Flatten()), nn.Sequential(nn.Linear(4, 2)))
    with pytest.raises(CnnkitError, match="no convolution layers"):
        filter_weights(subject_from_model(model, info))


def test_view_follows_the_shape() -> None:
    assert filter_view(torch.zeros(4, 3, 3, 3), rgb_input=True) == "rgb"
    assert filter_view(torch.zeros(4, 3, 3, 3), rgb_input=False) == "channels"
    assert filter_view(torch.zeros(8, 1, 5, 5), rgb_input=False) == "grid"  # grey input or depthwise
    assert filter_view(torch.zeros(8, 6, 1, 1), rgb_input=False) == "matrix"


def test_rgb_tiles_are_each_filter_scaled_around_zero() -> None:
    w = filter_weights(tiny_rgb_subject())  # (4, 3, 3, 3)
    image = drawn(filters_figure(w, model="tiny", layer="features.conv1", rgb_input=True))
    assert image.shape == (7, 7, 3)  # 4 filters -> 2 x 2 tiles of 3x3 with 1-pixel gaps
    for k in range(4):
        r, c = divmod(k, 2)
        tile = image[r * 4: r * 4 + 3, c * 4: c * 4 + 3]
        expected = (w[k] / (2 * w[k].abs().max()) + 0.5).permute(1, 2, 0).numpy()
        np.testing.assert_allclose(tile, expected, rtol=1e-6, atol=1e-6)
        assert np.isclose(tile, 0).any() or np.isclose(tile, 1).any()  # the largest |w| reaches an end
    assert np.all(image[3] == 1.0) and np.all(image[:, 3] == 1.0)  # white gaps


def test_deep_layer_grid_rows_filters_columns_inputs_and_capping() -> None:
    w = torch.randn(20, 18, 2, 3, generator=torch.Generator().manual_seed(1))
    fig = filters_figure(w, model="m", layer="block.conv", max_filters=5)
    image = drawn(fig)
    assert image.shape == (5 * 3 - 1, 16 * 4 - 1)  # 5 filters x the first 16 inputs
    for r, c in [(0, 0), (4, 15), (2, 7)]:
        np.testing.assert_allclose(image[r * 3: r * 3 + 2, c * 4: c * 4 + 3], w[r, c].numpy(), rtol=1e-6)
    assert np.isnan(image[2, :]).all() and np.isnan(image[:, 3]).all()  # gaps are blank
    limit = float(w[:5, :16].abs().max())
    assert fig.axes[0].get_images()[0].get_clim() == pytest.approx((-limit, limit))  # one shared, centred scale
    assert "first 5 of 20 filters x first 16 of 18 input channels" in fig._suptitle.get_text()
    assert "20x18x2x3" in fig._suptitle.get_text()


def test_one_by_one_kernels_are_a_matrix_and_grey_filters_a_grid() -> None:
    w = torch.randn(7, 5, 1, 1, generator=torch.Generator().manual_seed(2))
    np.testing.assert_allclose(drawn(filters_figure(w, model="m", layer="c")), w[:, :, 0, 0].numpy(), rtol=1e-6)
    grey = torch.randn(6, 1, 3, 3, generator=torch.Generator().manual_seed(3))
    image = drawn(filters_figure(grey, model="m", layer="c"))
    assert image.shape == (7, 11)  # 6 filters -> 2 rows of 3, near square with no blank tile
    np.testing.assert_allclose(image[4:7, 8:11], grey[5, 0].numpy(), rtol=1e-6)


def test_summary_numbers() -> None:
    w = torch.randn(3, 2, 3, 3, generator=torch.Generator().manual_seed(4))
    data = filter_summary(w)
    assert data["shape"] == [3, 2, 3, 3]
    assert data["filter_norms"] == pytest.approx([float((w[i] ** 2).sum().sqrt()) for i in range(3)], rel=1e-5)
    assert data["min"] == pytest.approx(float(w.min())) and data["max"] == pytest.approx(float(w.max()))


def test_cli_writes_png_and_json(digits_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "f.png"
    result = runner.invoke(app, ["interpret", "filters", str(digits_run), "-o", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    deep = tmp_path / "deep.png"
    result = runner.invoke(app, ["interpret", "filters", str(digits_run), "--layer", "features.conv2",
                                 "--max-filters", "4", "-o", str(deep), "--json", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    weight = open_subject(digits_run).model.features.conv2.weight
    assert data["layer"] == "features.conv2" and data["shape"] == list(weight.shape) and data["view"] == "channels"
    assert data["filter_norms"] == pytest.approx(weight.flatten(1).norm(dim=1).tolist(), rel=1e-5)
    assert data["pictures"] == [str(deep)] and deep.exists()


def test_cli_error_is_one_line(digits_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["interpret", "filters", str(digits_run), "--layer", "features.bn1", "--device", "cpu"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: features.bn1 is a BatchNorm2d") and err.count("\n") == 1
