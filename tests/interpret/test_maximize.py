"""Activation maximization: the objective really rises, seeds repeat, bad targets fail clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from cnnkit.cli.app import app, main
from cnnkit.data.tensordata import DatasetInfo
from cnnkit.errors import CnnkitError
from cnnkit.interpret.maximize import (
    layer_output,
    maximize_channels,
    maximize_classes,
    maximize_figure,
)
from cnnkit.interpret.subject import Subject, subject_from_model
from cnnkit.nn.base import CnnModel

runner = CliRunner()
CLASSES = ("zero", "one", "two")


def tiny_subject(seed: int = 0) -> Subject:
    """A random 1x12x12 conv net (adaptive pooling head) with 3 classes; no dataset."""
    torch.manual_seed(seed)
    features = nn.Sequential()
    features.add_module("conv1", nn.Conv2d(1, 6, 3, padding=1))
    features.add_module("relu1", nn.ReLU())
    features.add_module("conv2", nn.Conv2d(6, 8, 3, padding=1))
    features.add_module("relu2", nn.ReLU())
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3))
    with torch.no_grad():  # activations and logits of a trained net's scale (logits ~ +-10)
        for module in (features.conv1, features.conv2):
            module.weight.mul_(3.0)
        head[2].weight.mul_(10.0)
    info = DatasetInfo("tiny", "image", (1, 12, 12), CLASSES, (0.3,), (0.4,))
    return subject_from_model(CnnModel(features, head), info, name="tiny")


def logits_of(subject: Subject, pixels: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return subject.model(subject.pixels_to_input(pixels))


@pytest.mark.parametrize("prior", ["pixels", "data"])
def test_class_logit_rises_well_above_start(prior: str) -> None:
    subject = tiny_subject()
    data = (torch.rand(40, 1, 12, 12, generator=torch.Generator().manual_seed(1)) * 255).to(torch.uint8)
    result = maximize_classes(subject, ["two", 0], steps=60, prior=prior, data=data, lr=0.1)
    assert result.targets == [2, 0] and result.prior == prior
    assert result.pixels.shape == (2, 1, 12, 12)
    assert result.pixels.min() >= 0 and result.pixels.max() <= 1
    # the reported numbers are the model's own logits on the returned pixels
    logits = logits_of(subject, result.pixels)
    torch.testing.assert_close(result.final, logits[[0, 1], [2, 0]])
    torch.testing.assert_close(result.logits, logits)
    spread = float(logits.std())  # the scale of this random network's logits
    assert torch.all(result.final - result.start > 0.5 * spread), (result.start, result.final)
    assert result.history.shape == (60, 2)
    assert torch.all(result.history[-10:].mean(0) > result.history[:5].mean(0))


def sign_ascent_best(subject: Subject, layer: str, channels: list[int], steps: int = 100) -> torch.Tensor:
    """Reference: plain projected sign-gradient ascent on the pixels, no regularizers."""
    x = torch.full((len(channels), *subject.input_shape), 0.1, requires_grad=True)
    rows = list(range(len(channels)))
    for _ in range(steps):
        out = layer_output(subject.model, subject.layer(layer), subject.pixels_to_input(x))
        (grad,) = torch.autograd.grad(out[rows, channels].mean(dim=(1, 2)).sum(), x)
        with torch.no_grad():
            x.add_(0.05 * grad.sign()).clamp_(0, 1)
    with torch.no_grad():
        return layer_output(subject.model, subject.layer(layer), subject.pixels_to_input(x))[rows, channels].mean(dim=(1, 2))


def test_channel_mean_rises_towards_the_unregularized_optimum() -> None:
    subject = tiny_subject()
    free = {"tv": 0.0, "l2": 0.0, "centre": 0.0, "blur_every": 0, "resolution": 1.0, "jitter": 1}
    result = maximize_channels(subject, "features.conv2", [3, 5], steps=80, prior="pixels", lr=0.05, **free)
    with torch.no_grad():
        out = layer_output(subject.model, subject.layer("features.conv2"), subject.pixels_to_input(result.pixels))
    torch.testing.assert_close(result.final, out.mean(dim=(2, 3))[[0, 1], [3, 5]])
    best = sign_ascent_best(subject, "features.conv2", [3, 5])
    assert torch.all(result.final - result.start > 0.7 * (best - result.start)), (result.start, result.final, best)
    assert maximize_figure(subject, result) is not None


def test_regularized_channel_rises_on_a_trained_model(digits_subject: Subject) -> None:
    result = maximize_channels(digits_subject, "features.relu2", [0, 7, 12], steps=60, seed=1)
    assert result.prior == "data"
    assert torch.all(result.final > result.start + 0.5), (result.start, result.final)


def test_every_class_and_channel_by_default() -> None:
    subject = tiny_subject()
    assert maximize_classes(subject, steps=2).targets == [0, 1, 2]  # auto prior: no dataset -> pixels
    assert maximize_channels(subject, "features.conv1", steps=2).targets == list(range(6))


def test_deterministic_under_seed() -> None:
    subject = tiny_subject()
    a = maximize_classes(subject, [1], steps=15, seed=4)
    b = maximize_classes(subject, [1], steps=15, seed=4)
    c = maximize_classes(subject, [1], steps=15, seed=5)
    assert torch.equal(a.pixels, b.pixels) and torch.equal(a.history, b.history)
    assert not torch.equal(a.pixels, c.pixels)


def test_errors_are_clear() -> None:
    subject = tiny_subject()
    with pytest.raises(CnnkitError, match="out of range"):
        maximize_classes(subject, [3], steps=1)
    with pytest.raises(CnnkitError, match="did you mean"):
        maximize_classes(subject, ["tow"], steps=1)
    with pytest.raises(CnnkitError, match="channels 0..7"):
        maximize_channels(subject, "features.relu2", [8], steps=1)
    with pytest.raises(CnnkitError, match="no layer"):
        maximize_channels(subject, "features.relu9", [0], steps=1)
    with pytest.raises(CnnkitError, match="unknown option 'step'"):
        maximize_classes(subject, [0], step=3)
    with pytest.raises(CnnkitError, match="no dataset"):
        maximize_classes(subject, [0], prior="data", steps=1)


def test_cli_class_all_png_and_json(digits_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "classes.png"
    args = ["interpret", "maximize", str(digits_run), "--class", "all", "--steps", "30", "-o", str(out), "--device", "cpu"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["prior"] == "data" and [t["class"] for t in data["targets"]] == list(range(10))
    assert all(t["logit"] > t["logit_start"] + 1.0 for t in data["targets"])
    assert all(0 <= t["probability"] <= 1 for t in data["targets"])


def test_cli_channels_and_errors(digits_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ch.png"
    result = runner.invoke(app, ["interpret", "maximize", str(digits_run), "--layer", "features.relu2", "--channel",
                                 "0,3", "--steps", "20", "--prior", "pixels", "-o", str(out), "--json", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [t["channel"] for t in data["targets"]] == [0, 3] and out.exists()
    for args, message in [
        (["--class", "10"], "out of range"),
        (["--layer", "features.relu2", "--channel", "16"], "channels 0..15"),
        (["--layer", "features.rel2"], "did you mean"),
        (["--class", "1", "--layer", "features.relu2"], "not both"),
        (["--class", "1", "--prior", "fancy"], "unknown prior"),
    ]:
        with pytest.raises(SystemExit) as stop:
            main(["interpret", "maximize", str(digits_run), *args, "--steps", "1", "--device", "cpu", "-o", str(out)])
        assert stop.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, err


@pytest.mark.parametrize("prior", ["pixels", "data"])
def test_a_batch_gives_each_target_the_image_it_gets_alone(prior: str) -> None:
    """All targets optimized as one batch (one forward pass per step) = one at a time."""
    subject = tiny_subject()
    data = (torch.rand(40, 1, 12, 12, generator=torch.Generator().manual_seed(1)) * 255).to(torch.uint8)
    together = maximize_channels(subject, "features.conv2", [0, 5, 7], steps=25, seed=3, prior=prior, data=data)
    for i, channel in enumerate([0, 5, 7]):
        alone = maximize_channels(subject, "features.conv2", [channel], steps=25, seed=3, prior=prior, data=data)
        torch.testing.assert_close(together.pixels[i], alone.pixels[0], atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(together.history[:, i], alone.history[:, 0], atol=1e-4, rtol=1e-4)
    classes = maximize_classes(subject, [2, 0], steps=20, seed=1, prior=prior, data=data)
    torch.testing.assert_close(classes.pixels[1], maximize_classes(subject, [0], steps=20, seed=1, prior=prior,
                                                                   data=data).pixels[0], atol=1e-5, rtol=1e-4)


def test_the_ascent_runs_small_work_on_one_thread() -> None:
    subject = tiny_subject()
    seen: list[int] = []
    handle = subject.model.register_forward_hook(lambda *_: seen.append(torch.get_num_threads()))
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        maximize_classes(subject, [0, 1], steps=3)
        assert set(seen) == {1} and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)
        handle.remove()


def test_a_dim_channel_image_is_brightened_and_says_by_how_much() -> None:
    from dataclasses import replace

    from cnnkit.interpret.maximize import shown_pixels, tile_titles

    subject = tiny_subject()
    result = maximize_channels(subject, "features.conv1", [0, 1], steps=2)
    pixels = torch.full((2, 1, 12, 12), 0.9)
    pixels[1] = torch.linspace(0, 0.25, 144).view(1, 12, 12)  # a channel that barely responded
    dim = replace(result, pixels=pixels)
    shown, gains = shown_pixels(dim)
    assert torch.equal(shown[0], pixels[0]) and gains[0] == 1.0
    torch.testing.assert_close(shown[1], pixels[1] / 0.25)
    titles = tile_titles(subject, dim, gains)
    assert titles[0].startswith("ch 0\n") and titles[1].startswith("ch 1 (x4.0)\n")
    assert "brightened" in maximize_figure(subject, dim)._suptitle.get_text()
