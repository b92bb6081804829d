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

    report = (out_dir / "report.md").read_bytes()
    code, out, err = run(["train", "--resume", str(out_dir)], capsys)  # finished: nothing to resume
    assert code == 2 and out == "" and err.count("\n") == 1
    assert f"has finished after 1 epochs; to train it for more epochs: cnnkit train --resume {out_dir} --more N" in err
    assert (out_dir / "report.md").read_bytes() == report

    out, err = ok(["train", "--resume", str(out_dir), "--more", "1"], capsys)  # one more epoch
    assert f"run: {out_dir}" in out and "test accuracy:" in out
    config = json.loads((out_dir / "config.json").read_text())
    assert config["seed"] == 2 and config["epochs"] == 2
    assert [(m["after_epoch"], m["epochs"], m["lr"]) for m in config["more"]] == [(1, 1, config["lr"] / 10)]
    assert [json.loads(line)["epoch"] for line in (out_dir / "metrics.jsonl").read_text().splitlines()] == [1, 2]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--more", "2"], "--more continues a finished run: give it with --resume RUN"),
        (["--resume", "RUN", "--more", "2", "--epochs", "3"], "drop --epochs"),
        (["--resume", "RUN", "--epochs", "3"], "drop --epochs"),
    ],
)
def test_more_needs_resume_and_nothing_else(args: list[str], message: str, cli_error, tmp_path: Path) -> None:
    assert message in cli_error([a.replace("RUN", str(tmp_path)) for a in ["train", *args]])


def test_plain_progress_lines_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, err = ok(["train", "INPUT(1x8x8) -> CONV(4, k=3) -> RELU -> GAP -> FC", *TINY, "--out", str(tmp_path / "n")], capsys)
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


def test_signals_with_the_presets_tta_train_and_resume(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the fast preset turns flip TTA on; for signals it is skipped, not an error after training
    out_dir = tmp_path / "m1d"
    out, err = ok(["train", "cnn1d", "--data", "mnist1d", "--limit", "128", "--epochs", "1", "--flips", "--out", str(out_dir)], capsys)
    assert "test accuracy:" in out and "TTA" not in out + err
    out, err = ok(["train", "--resume", str(out_dir), "--more", "1"], capsys)  # one more epoch
    assert "test accuracy:" in out and "TTA" not in out + err
    out, err = ok(["eval", str(out_dir)], capsys)  # eval's default TTA follows the same rule
    assert "accuracy" in out and "TTA" not in out + err


def test_default_model_on_signals_suggests_cnn1d(capsys: pytest.CaptureFixture[str]) -> None:
    # volumes -> cnn3d: tests/train/test_tta_kinds.py (loading volumes takes seconds)
    code, _, err = run(["train", "--data", "mnist1d", "--limit", "64", "--epochs", "1"], capsys)
    assert code == 2 and err.count("\n") == 1
    assert "cnnkit train cnn1d --data mnist1d" in err and "pass --input" not in err


@pytest.mark.parametrize("name", ["../../escape", "a/b", "..", "sub\\dir"])
def test_name_is_a_name_not_a_path(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(["train", *TINY, "--name", name], capsys)
    assert code == 2 and err.startswith("error: --name") and "--out" in err
    assert list(tmp_path.iterdir()) == []  # nothing written, inside runs/ or outside


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--epochs", "3"], ["--epochs"]),
        (["--lr", "0.1", "--out", "elsewhere"], ["--lr", "--out"]),
        (["--preset", "fast"], ["--preset"]),  # typed, even if equal to the default
        (["--no-tta"], ["--tta"]),
    ],
)
def test_resume_with_other_options_is_an_error(extra: list[str], named: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["train", "--resume", str(tmp_path / "run"), *extra], capsys)
    assert code == 2 and err.startswith("error: --resume") and err.count("\n") == 1
    assert all(flag in err for flag in named)


def test_resume_with_model_or_data_names_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["train", "quicknet", "--data", "digits", "--resume", str(tmp_path / "run")], capsys)
    # --data may go with --resume (to point at moved folder data), a model may not
    assert code == 2 and "drop MODEL_OR_SPEC (" in err and "--data" not in err


def test_ctrl_c_says_how_to_continue(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from cnnkit.train import trainer

    def interrupted_after_an_epoch(*args: object, out: Path, **kwargs: object) -> None:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "checkpoint.safetensors").write_bytes(b"")
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "train", interrupted_after_an_epoch)
    out_dir = tmp_path / "run"
    code, out, err = run(["train", *TINY, "--out", str(out_dir)], capsys)
    assert code == 130 and out == ""
    assert err == f"interrupted; continue with: cnnkit train --resume {out_dir}\n"
    code, out, err = run(["train", "--resume", str(out_dir)], capsys)  # interrupted again
    assert code == 130 and err == f"interrupted; continue with: cnnkit train --resume {out_dir}\n"


def test_ctrl_c_before_a_checkpoint_says_nothing_was_saved(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from cnnkit.train import trainer

    def interrupted_at_once(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "train", interrupted_at_once)
    code, _, err = run(["train", *TINY, "--out", str(tmp_path / "run")], capsys)
    assert code == 130 and err.startswith("interrupted") and "--resume" not in err and err.count("\n") == 1
