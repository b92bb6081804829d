"""Fooling images: they reach the confidence, stay near their noise, are seeded, and fail clearly."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from cnnkit.data.tensordata import DatasetInfo
from cnnkit.errors import CnnkitError
from cnnkit.interpret.fooling import fool, start_noise
from cnnkit.interpret.subject import Subject, subject_from_model

INFO = DatasetInfo("tiny", "image", (1, 8, 8), ("a", "b", "c"), (0.3,), (0.4,))


def tiny_subject() -> Subject:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 3))
    with torch.no_grad():
        model[3].weight.mul_(10)  # sharper logits, like a trained model's: 99% is reachable
    return subject_from_model(model, INFO, name="tiny")


def test_fooling_reaches_the_confidence_within_the_bound_on_whole_levels() -> None:
    subject = tiny_subject()
    result = fool(subject, ["a", 1, 2], confidence=0.99, steps=300, bound=64, tries=2, seed=0)
    probs = subject.probabilities(subject.pixels_to_input(result.pixels))  # recomputed independently
    for row, c in enumerate(result.classes):
        assert float(probs[row, c]) >= 0.99
    assert bool(result.reached.all())
    assert float((result.pixels - result.start).abs().max()) <= 64 / 255 + 1e-6
    assert torch.equal((result.pixels * 255).round() / 255, result.pixels)  # a real uint8 image
    assert float(result.pixels.min()) >= 0 and float(result.pixels.max()) <= 1


def test_fooling_stops_as_soon_as_the_goal_is_reached() -> None:
    subject = tiny_subject()
    loose = fool(subject, [0], confidence=0.5, steps=300, tries=1, seed=1)
    tight = fool(subject, [0], confidence=0.99, steps=300, tries=1, seed=1)
    assert 0.5 <= float(loose.confidence[0]) < 0.9  # stopped, did not push on to certainty
    assert int(loose.steps[0]) < int(tight.steps[0])


def test_fooling_is_deterministic_under_a_seed() -> None:
    subject = tiny_subject()
    first, again, other = (fool(subject, [2], steps=50, tries=1, seed=s) for s in (3, 3, 4))
    assert torch.equal(first.pixels, again.pixels)
    assert not torch.equal(first.start, other.start)


def test_start_noise_has_the_dataset_mean() -> None:
    noise = start_noise(tiny_subject(), 64, generator=torch.Generator().manual_seed(0))
    assert float(noise.max()) <= 0.6 + 1e-6
    assert float(noise.mean()) == pytest.approx(0.3, abs=0.01)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"confidence": 1.5}, "confidence"), ({"bound": 300}, "between 0 and 255"),
     ({"step_size": 0.5}, "whole number"), ({"steps": 0}, "at least 1")],
)
def test_bad_options_are_clear_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(CnnkitError, match=message):
        fool(tiny_subject(), [0], **kwargs)


def test_class_out_of_range_or_unknown_is_a_clear_error() -> None:
    with pytest.raises(CnnkitError, match="out of range"):
        fool(tiny_subject(), [3])
    with pytest.raises(CnnkitError, match="not a class"):
        fool(tiny_subject(), ["z"])


def test_cli_fools_every_class_and_prints_json(digits_run, tmp_path) -> None:
    from typer.testing import CliRunner

    from cnnkit.cli.app import app

    out = tmp_path / "fool.png"
    runner = CliRunner()
    result = runner.invoke(app, ["interpret", "fool", str(digits_run), "--class", "all", "--confidence", "0.9",
                                 "--steps", "200", "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert out.stat().st_size > 0
    assert [row["index"] for row in data["classes"]] == list(range(10))
    assert all(row["max_change"] <= 64 for row in data["classes"])
    assert all(row["confidence"] >= 0.9 for row in data["classes"] if row["reached"])
    bad = runner.invoke(app, ["interpret", "fool", str(digits_run), "--class", "10"])
    assert bad.exit_code != 0
