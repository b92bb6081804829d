"""A run is self-contained: it keeps its architecture and an absolute data reference, so it
works when copied elsewhere, evaluated from another directory, or resumed after its spec
file changed; when its data folder has moved it says so and how to point at it."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from PIL import Image


SPEC = "INPUT(1x16x16) -> CONV(6, k=3, p=same) -> BN -> RELU -> POOL -> CONV(8, k=3) -> RELU -> GAP -> FC"
EDITED = "INPUT(1x16x16) -> CONV(12, k=5) -> RELU -> GAP -> FC"
TRAIN = ["--epochs", "2", "--batch-size", "8", "--augment", "none", "--lr", "0.05", "--seed", "3"]


def image_folder(root: Path, *, per_class: int = 14) -> Path:
    """Three classes of 16x16 grey pictures: a bright bar at the top, middle or bottom."""
    gen = torch.Generator().manual_seed(0)
    for c, name in enumerate(("top", "middle", "bottom")):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = torch.randint(0, 60, (16, 16), generator=gen)
            pixels[2 + 5 * c : 5 + 5 * c, :] += 180
            Image.fromarray(pixels.clamp(0, 255).to(torch.uint8).numpy()).save(root / name / f"{i}.png")
    return root


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    work = tmp_path / "work"
    image_folder(work / "shapes")
    (work / "my.spec").write_text(SPEC)
    monkeypatch.chdir(work)
    return work


def test_a_copied_run_evaluates_from_another_directory_after_its_spec_changed(
    workdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: Callable
) -> None:
    code, out, err = run_cli(["train", "my.spec", "--data", "folder:shapes", *TRAIN, "--out", "runs/s", "--json"])
    assert code == 0, err
    trained = json.loads(out)["test"]

    config = json.loads((workdir / "runs/s/config.json").read_text())
    assert config["model"] == SPEC  # the architecture itself, not the file's name
    assert config["data"] == f"folder:{workdir / 'shapes'}"  # absolute

    (workdir / "my.spec").write_text(EDITED)  # the user edits the spec afterwards
    shutil.copytree(workdir / "runs/s", tmp_path / "elsewhere/s")  # docs/runs.md: a run can be copied
    monkeypatch.chdir(tmp_path / "elsewhere")
    code, out, err = run_cli(["eval", "s", "--json"])
    assert code == 0, err
    evaluated = json.loads(out)
    assert evaluated["accuracy"] == trained["accuracy"] and evaluated["num_samples"] == trained["num_samples"]


def test_moved_data_is_named_with_the_option_that_points_at_it(
    workdir: Path, run_cli: Callable, cli_error: Callable
) -> None:
    code, out, err = run_cli(["train", "my.spec", "--data", "folder:shapes", *TRAIN, "--out", "runs/s", "--json"])
    assert code == 0, err
    trained = json.loads(out)["test"]
    (workdir / "shapes").rename(workdir / "moved")

    line = cli_error(["eval", "runs/s"])
    assert line == (f"error: the data of runs/s was at {workdir / 'shapes'}, which is not there any more "
                    "(moved or deleted?); point at it with --data folder:NEW_PATH (data= in Python)")
    assert "not there any more" in cli_error(["interpret", "saliency", "runs/s", "test:0"])

    code, out, err = run_cli(["eval", "runs/s", "--data", "folder:moved", "--json"])
    assert code == 0, err
    assert json.loads(out)["accuracy"] == trained["accuracy"]


def test_resume_after_the_spec_file_was_edited(workdir: Path, run_cli: Callable, ctrl_c_at_epoch: Callable) -> None:
    with ctrl_c_at_epoch(2):
        code, _, err = run_cli(["train", "my.spec", "--data", "folder:shapes", *TRAIN, "--out", "runs/i"])
    assert code == 130 and "continue with: cnnkit train --resume runs/i" in err

    (workdir / "my.spec").write_text(EDITED)
    code, out, err = run_cli(["train", "--resume", "runs/i"])
    assert code == 0, err  # before: "the checkpoint ... belongs to another run"
    assert [json.loads(line)["epoch"] for line in (workdir / "runs/i/metrics.jsonl").read_text().splitlines()] == [1, 2]


def test_a_run_whose_data_moved_resumes_with_data_pointing_at_the_new_place(
    workdir: Path, run_cli: Callable, cli_error: Callable, ctrl_c_at_epoch: Callable
) -> None:
    with ctrl_c_at_epoch(2):
        code, _, _ = run_cli(["train", "my.spec", "--data", "folder:shapes", *TRAIN, "--out", "runs/m"])
    assert code == 130
    (workdir / "shapes").rename(workdir / "moved")

    line = cli_error(["train", "--resume", "runs/m"])
    assert line == (f"error: the data of runs/m was at {workdir / 'shapes'}, which is not there any more (moved or "
                    "deleted?); point at it with `cnnkit train --resume runs/m --data folder:NEW_PATH` (data= in Python)")
    code, out, err = run_cli(["train", "--resume", "runs/m", "--data", "folder:moved"])
    assert code == 0, err
    assert json.loads((workdir / "runs/m/config.json").read_text())["data"] == f"folder:{workdir / 'moved'}"
    (workdir / "moved").rename(workdir / "gone")  # interpret has no --data: its message names what works instead
    line = cli_error(["interpret", "saliency", "runs/m", "test:0"])
    assert line == (f"error: the data of runs/m was at {workdir / 'moved'}, which is not there any more (moved or "
                    "deleted?); move it back, or give image files instead of test:N (`cnnkit eval runs/m --data ...` "
                    "evaluates on the data's new place)")
