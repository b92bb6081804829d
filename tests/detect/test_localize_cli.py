"""`cnnkit detect localize`: outputs of a short run, and one-line errors for bad options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnnkit.cli.app import main
from cnnkit.detect.localize_fit import load_localizer

SMALL = ["--scenes", "24", "--test-scenes", "6", "--epochs", "1", "--canvas", "32", "--batch-size", "12"]


@pytest.mark.slow
def test_run_directory_and_picture(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as done:
        main(["detect", "localize", *SMALL, "--out", str(out)])
    assert done.value.code in (0, None)
    printed = capsys.readouterr().out
    assert "mean IoU" in printed and "landmark error" in printed and "px" in printed
    for name in ("config.json", "metrics.jsonl", "metrics.json", "model.safetensors", "predictions.png", "report.md"):
        assert (out / name).stat().st_size > 0, name
    config = json.loads((out / "config.json").read_text())
    assert config["canvas"] == 32 and config["landmark_names"][0] == "centre"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["images"] == 6 and 0.0 <= metrics["mean_iou"] <= 1.0
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1
    model, meta = load_localizer(str(out / "model.safetensors"))
    assert meta["image_size"] == [32, 32] and model.num_landmarks == 5
    assert (out / "predictions.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    runs = tmp_path / "cwd"  # without --out: runs/localize-N, as every command that writes a run
    runs.mkdir()
    monkeypatch.chdir(runs)
    with pytest.raises(SystemExit):
        main(["detect", "localize", *SMALL, "--json", "--seed", "3"])
    figures = json.loads(capsys.readouterr().out)
    assert figures["run"] == "runs/localize-1" and (runs / "runs/localize-1/predictions.png").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--epochs", "0"], "--epochs must be at least 1"),
        (["--scenes", "-3"], "--scenes must be at least 1"),
        (["--canvas", "16"], "--canvas must be 32..256"),
        (["--lr", "0"], "--lr must be in (0, 1]"),
        (["nosuch_model", "--scenes", "4", "--test-scenes", "2"], "unknown model 'nosuch_model'"),
    ],
)
def test_bad_options_give_one_line_errors(args: list[str], message: str, capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as done:
        main(["detect", "localize", *args, "--out", str(tmp_path / "r")])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert "Traceback" not in err


def test_existing_out_folder_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "keep.txt").write_text("x")
    with pytest.raises(SystemExit) as done:
        main(["detect", "localize", "--out", str(tmp_path)])
    assert done.value.code == 2 and "already holds" in capsys.readouterr().err
