"""`cnnkit models`: the zoo table, its JSON form and its errors."""

from __future__ import annotations

import json

import pytest
import torch
import torchvision
from typer.testing import CliRunner

import cnnkit
from cnnkit.cli.app import app, main

runner = CliRunner()


def test_plain_table_lists_every_model_with_its_parameter_count() -> None:
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.strip()}
    for entry in cnnkit.list_models():
        line = lines[entry.name]
        assert entry.family in line and "x".join(map(str, entry.input_shape)) in line
    # resnet18's count as torchvision itself reports it
    expected = sum(p.numel() for p in torchvision.models.resnet18(weights=None).parameters())
    assert f"{expected:,}" in lines["resnet18"]


def test_json_counts_equal_a_real_build() -> None:
    result = runner.invoke(app, ["models", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert set(rows) == {entry.name for entry in cnnkit.list_models()}
    for name in ("lenet5", "nin", "resnet20", "cnn1d", "cnn3d", "googlenet"):
        model = cnnkit.build(name)  # on the CPU, with real tensors
        assert rows[name]["params"] == sum(p.numel() for p in model.parameters())
    assert rows["lenet5"]["input"] == "1x32x32" and rows["cnn3d"]["input"] == "1x16x32x32"
    assert rows["resnet50"]["torchvision"] == "resnet50" and rows["nin"]["torchvision"] is None


def test_family_filter() -> None:
    result = runner.invoke(app, ["models", "--family", "resnet", "--json"])
    names = [row["name"] for row in json.loads(result.output)]
    assert names == ["resnet18", "resnet34", "resnet50", "resnet101", "resnet20"]


def test_unknown_family_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["models", "--family", "resnt"])
    assert exit_info.value.code == 2
    assert "did you mean 'resnet'" in capsys.readouterr().err


def test_help_has_examples() -> None:
    result = runner.invoke(app, ["models", "--help"])
    assert result.exit_code == 0
    assert "Examples:" in result.output and "cnnkit models --json" in result.output


def test_counting_leaves_no_meta_default_device() -> None:
    runner.invoke(app, ["models", "--json"])
    assert torch.empty(1).device.type == "cpu"


def test_docs_table_agrees_with_the_zoo() -> None:
    from pathlib import Path

    docs = Path(__file__).resolve().parents[2] / "docs" / "zoo.md"
    rows = {}
    for line in docs.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 5 and cells[2].replace(",", "").isdigit():
            rows[cells[0]] = (cells[1], int(cells[2].replace(",", "")))
    assert set(rows) == {entry.name for entry in cnnkit.list_models()}
    for entry in cnnkit.list_models():
        with torch.device("meta"):
            model = cnnkit.build(entry.name)
        shape = "x".join(map(str, entry.input_shape))
        assert rows[entry.name] == (shape, sum(p.numel() for p in model.parameters())), entry.name
