"""``cnnkit datasets``: the list, --show on offline data, --json, and errors as one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnnkit.cli.app import main


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as done:
        code = int(done.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list_plain_and_json(capsys: pytest.CaptureFixture[str], isolated_data: Path) -> None:
    code, out, _ = run(["datasets"], capsys)
    assert code == 0 and out.splitlines()[1].startswith("fashion-mnist")
    assert "folder:PATH" in out and "bundled with scikit-learn" in out
    code, out, _ = run(["datasets", "--json"], capsys)
    rows = json.loads(out)
    assert {r["name"] for r in rows} >= {"fashion-mnist", "digits", "volumes"}


def test_show_digits_upscaled(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["datasets", "--show", "digits", "--input", "1x28x28", "--json"], capsys)
    data = json.loads(out)
    assert code == 0 and data["input"] == "1x28x28" and data["train"] + data["val"] + data["test"] == 1797
    code, out, _ = run(["datasets", "--show", "digits"], capsys)
    assert "splits    train 1,294  val 144  test 359" in out


def test_errors_are_one_line(capsys: pytest.CaptureFixture[str], isolated_data: Path) -> None:
    code, _, err = run(["datasets", "--show", "fashion-mnist", "--offline"], capsys)
    assert code == 2 and err.startswith("error: fashion-mnist not found") and err.count("\n") == 1
    code, _, err = run(["datasets", "--show", "mnits"], capsys)
    assert code == 2 and "did you mean 'mnist'" in err
    code, _, err = run(["datasets", "--input", "1x28x28"], capsys)
    assert code == 2 and "--show" in err


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["datasets", "--help"], capsys)
    assert code == 0 and "cnnkit datasets --show digits --input 1x28x28" in out
