"""`cnnkit train`: examples in --help, a tiny real run (bundled digits), resume, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnnkit.cli.app import main

TINY = ["--data", "digits", "--limit", "120", "--epochs", "1", "--batch-size", "32", "--augment", "none"]


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), captured.out, captured.err


def ok(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    try:
        main(args)
    except SystemExit as stop:  # typer's standalone mode may exit 0
        assert not stop.code, capsys.readouterr().err
    captured = capsys.readouterr()
    return captured.out, captured.err


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["train", "--help"], capsys)
    assert code == 0
    assert "Examples:" in out and "cnnkit train --resume runs/" in out and "torchrun --nproc-per-node" in out


def test_train_json_then_resume_finished_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "digits"
    out, err = ok(["train", *TINY, "--out", str(out_dir), "--json", "--seed", "2"], capsys)
    result = json.loads(out)
    assert result["run_dir"] == str(out_dir)
    assert result["classes"] == [str(d) for d in range(10)]
    assert 0.0 <= result["test_accuracy"] <= 1.0 and result["config"]["seed"] == 2
    assert result["config"]["input_shape"] is None and len(result["metrics"]) == 1
    assert (out_dir / "report.md").is_file()

    out, err = ok(["train", "--resume", str(out_dir)], capsys)
    assert f"run: {out_dir}" in out and "test accuracy:" in out
    assert json.loads((out_dir / "config.json").read_text())["seed"] == 2


def test_plain_progress_lines_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, err = ok(["train", "INPUT(1x8x8) -> CONV(4, k=3) -> RELU -> GAP -> FC", *TINY, "--name", str(tmp_path / "n")], capsys)
    assert "epoch 1/1  loss" in err and "img/s" in err
    assert "test accuracy:" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--optimizer", "adamm"], "did you mean 'adamw'"),
        (["--preset", "fastest"], "unknown preset 'fastest'"),
        (["--input", "axb"], "is not a shape"),
        (["--out", "x", "--name", "y"], "either --out PATH or --name NAME"),
    ],
)
def test_user_errors_are_one_line(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["train", *TINY, *args], capsys)
    assert code == 2
    assert message in err and "Traceback" not in err


def test_resume_of_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["train", "--resume", str(tmp_path / "none")], capsys)
    assert code == 2 and "nothing to resume" in err
