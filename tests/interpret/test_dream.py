"""Deep Dream: any size in, same size out, the layer's activation grows, errors are clear."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from torch import nn
from typer.testing import CliRunner

from cnnkit.cli.app import app, main
from cnnkit.data.tensordata import DatasetInfo
from cnnkit.errors import CnnkitError
from cnnkit.interpret.dream import dream, dream_figure, load_dream_image, octave_sizes
from cnnkit.interpret.maximize import layer_output
from cnnkit.interpret.subject import Subject, subject_from_model
from cnnkit.nn.base import CnnModel

runner = CliRunner()


def tiny_subject() -> Subject:
    """A random 1x12x12 conv net with an adaptive pooling head (any input size)."""
    torch.manual_seed(0)
    features = nn.Sequential()
    features.add_module("conv1", nn.Conv2d(1, 6, 3, padding=1))
    features.add_module("relu1", nn.ReLU())
    features.add_module("conv2", nn.Conv2d(6, 8, 3, padding=1))
    features.add_module("relu2", nn.ReLU())
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3))
    info = DatasetInfo("tiny", "image", (1, 12, 12), ("a", "b", "c"), (0.3,), (0.4,))
    return subject_from_model(CnnModel(features, head), info, name="tiny")


def mean_square(subject: Subject, layer: str, pixels: torch.Tensor) -> float:
    with torch.no_grad():
        return float(layer_output(subject.model, subject.layer(layer), subject.pixels_to_input(pixels)).pow(2).mean())


def test_dream_keeps_size_and_raises_the_layer_norm() -> None:
    subject = tiny_subject()
    pixels = torch.rand(1, 1, 30, 41, generator=torch.Generator().manual_seed(0))
    result = dream(subject, pixels, layer="features.relu2", octaves=3, steps=6, seed=1)
    assert result.pixels.shape == pixels.shape and result.original.shape == pixels.shape
    assert result.pixels.min() >= 0 and result.pixels.max() <= 1
    assert result.sizes[-1] == (30, 41) and len(result.sizes) == 3
    assert result.start == pytest.approx(mean_square(subject, "features.relu2", pixels), rel=1e-5)
    assert result.final == pytest.approx(mean_square(subject, "features.relu2", result.pixels), rel=1e-5)
    assert result.final > 1.5 * result.start
    assert len(result.history) == 3 * 6
    assert dream_figure(subject, result) is not None


def test_dream_is_deterministic_under_seed() -> None:
    subject = tiny_subject()
    pixels = torch.rand(1, 20, 20, generator=torch.Generator().manual_seed(3))  # (C, H, W) works too
    a = dream(subject, pixels, layer="features.conv1", steps=3, seed=2)
    b = dream(subject, pixels, layer="features.conv1", steps=3, seed=2)
    c = dream(subject, pixels, layer="features.conv1", steps=3, seed=9)
    assert torch.equal(a.pixels, b.pixels) and not torch.equal(a.pixels, c.pixels)


def test_dream_errors(digits_subject: Subject) -> None:
    subject = tiny_subject()
    with pytest.raises(CnnkitError, match="no layer"):
        dream(subject, torch.rand(1, 1, 12, 12), layer="features.relu7")
    with pytest.raises(CnnkitError, match=r"shape \(N, 1, H, W\)"):
        dream(subject, torch.rand(1, 3, 12, 12), layer="features.relu1")
    with pytest.raises(CnnkitError, match="octave_scale must be a finite number > 1"):
        dream(subject, torch.rand(1, 1, 12, 12), layer="features.relu1", octave_scale=1.0)
    # a flatten + linear head needs the model's 16x16; the features do not
    big = torch.rand(1, 1, 40, 40)
    assert dream(digits_subject, big, layer="features.relu2", steps=1, octaves=1).pixels.shape == big.shape
    with pytest.raises(CnnkitError, match="cannot run on a 40x40 image"):
        dream(digits_subject, big, layer="head.fc1", steps=1, octaves=1)


@settings(max_examples=50, deadline=None)
@given(st.integers(8, 300), st.integers(8, 300), st.integers(1, 6), st.floats(1.1, 2.0), st.integers(1, 64))
def test_octave_sizes(h: int, w: int, octaves: int, scale: float, smallest: int) -> None:
    sizes = octave_sizes(h, w, octaves=octaves, scale=scale, smallest=smallest)
    assert sizes[-1] == (h, w) and 1 <= len(sizes) <= octaves
    assert all(a[0] <= b[0] and a[1] <= b[1] for a, b in itertools.pairwise(sizes))
    assert all(min(s) >= min(smallest, h, w) for s in sizes)
    k = len(sizes) - 1  # the smallest kept octave is scale**k smaller
    assert sizes[0] == (round(h / scale**k), round(w / scale**k))


def test_load_dream_image_keeps_aspect(digits_subject: Subject, tmp_path: Path) -> None:
    photo = tmp_path / "wide.png"
    Image.new("RGB", (90, 60), (200, 30, 30)).save(photo)
    pixels, label = load_dream_image(digits_subject, str(photo), size=32)
    assert pixels.shape == (1, 1, 32, 48) and label is None
    pixels, label = load_dream_image(digits_subject, "test:2")
    assert pixels.shape == (1, 1, 64, 64) and label is not None  # 4x the 16x16 model


def test_cli_png_json_and_errors(digits_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "dream.png"
    args = ["interpret", "dream", str(digits_run), "test:0", "--layer", "features.relu2", "--steps", "3",
            "--size", "40", "-o", str(out), "--device", "cpu"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads(runner.invoke(app, [*args, "--json"]).output)
    assert data["size"] == [40, 40] and data["octaves"][-1] == [40, 40]
    assert data["objective_final"] > data["objective_start"] > 0
    for extra, message in [(["--layer", "features.relu9"], "did you mean"),
                           (["--layer", "head.fc1"], "cannot run on a 40x40")]:
        with pytest.raises(SystemExit) as stop:
            main(["interpret", "dream", str(digits_run), "test:0", *extra, "--size", "40", "--steps", "1",
                  "-o", str(out), "--device", "cpu"])
        assert stop.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, err


def test_octaves_go_below_the_input_size_of_a_large_model() -> None:
    """A 224x224 model dreaming at 224 still gets its smaller octaves (down to a quarter)."""
    torch.manual_seed(0)
    features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    info = DatasetInfo("big", "image", (3, 224, 224), ("a", "b"), (0.5,) * 3, (0.25,) * 3)
    subject = subject_from_model(CnnModel(features, head), info, name="big")
    pixels = torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    result = dream(subject, pixels, layer="features.1", octaves=4, octave_scale=1.4, steps=1, seed=0)
    expected = [(round(224 / 1.4**k),) * 2 for k in (3, 2, 1, 0)]  # 82, 114, 160, 224
    assert result.sizes == expected
