"""`cnnkit eval` refuses what would give a wrong or misnamed result: data whose classes are not
the run's, and a --plot path that is not a .png file (checked before the evaluation)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from PIL import Image

import cnnkit
from cnnkit.errors import DataError
from cnnkit.train.run import ModelMetadata, RunDir

SPEC = "INPUT(1x8x8) -> CONV(8, k=3) -> BN -> RELU -> POOL(2) -> FC(10)"
Cli = Callable[[list[object]], tuple[int, str, str]]  # the run_cli fixture (tests/conftest.py)
DIGITS = tuple(str(d) for d in range(10))  # the class names of scikit-learn's digits


def _digits_run(path: Path) -> RunDir:
    """An untrained, seeded digits model saved as a run (classes '0'..'9')."""
    from cnnkit.data.sources import load_dataset

    torch.manual_seed(0)
    model = cnnkit.build(SPEC).eval()
    info = load_dataset("digits", seed=3, val_fraction=0.2, input_shape=(1, 8, 8), limit=120).info
    assert info.classes == DIGITS
    run = RunDir.create(path)
    run.write_config({"model": SPEC, "data": "digits", "seed": 3, "val_fraction": 0.2, "limit": 120})
    run.save_model(model, ModelMetadata.describe(model, info))
    return run


def _folder(path: Path, names: tuple[str, ...]) -> Path:
    """folder:PATH data with the given class folders, four tiny grey images in each."""
    for k, name in enumerate(names):
        (path / name).mkdir(parents=True)
        for i in range(4):
            Image.new("L", (8, 8), (20 * k + 5 * i) % 256).save(path / name / f"{i}.png")
    return path


def test_other_class_names_are_refused_naming_both_lists(tmp_path: Path, run_cli: Cli) -> None:
    run = _digits_run(tmp_path / "run")
    letters = tuple("abcdefghij")  # ten classes, as many as the run has, but not its classes
    other = _folder(tmp_path / "letters", letters)
    code, out, err = run_cli(["eval", str(run.path), "--data", f"folder:{other}", "--device", "cpu"])
    assert code == 2 and out == "" and err.startswith("error: ") and err.count("\n") == 1, err
    assert "a, b, c" in err and "0, 1, 2" in err and "10 in all" in err  # both lists, shortened
    assert "the data the run was trained on" in err and "(digits" in err
    assert not list(run.path.glob("eval-*.png"))  # nothing evaluated, nothing drawn

    from cnnkit.train.predict import evaluate_run

    with pytest.raises(DataError, match="differ from those"):
        evaluate_run(run.path, data=f"folder:{other}", device="cpu")


def test_the_same_class_names_still_evaluate(tmp_path: Path, run_cli: Cli) -> None:
    run = _digits_run(tmp_path / "run")
    same = _folder(tmp_path / "mine", DIGITS)
    code, out, err = run_cli(["eval", str(run.path), "--data", f"folder:{same}", "--device", "cpu", "--json"])
    assert code == 0, err
    assert json.loads(out)["classes"] == list(DIGITS)


@pytest.mark.parametrize("plot", ["out.txt", "out", "folder"])
def test_plot_must_be_a_png_file(tmp_path: Path, run_cli: Cli, plot: str) -> None:
    run = _digits_run(tmp_path / "run")
    (tmp_path / "folder").mkdir()
    target = tmp_path / plot
    code, out, err = run_cli(["eval", str(run.path), "--plot", str(target), "--device", "cpu"])
    assert code == 2 and out == "" and err.startswith("error: --plot") and err.count("\n") == 1, err
    assert (".png" in err) and (target.is_dir() or not target.exists())
    # checked before the work: a run that does not exist is not even opened
    code, _, err = run_cli(["eval", str(tmp_path / "no-run"), "--plot", str(target)])
    assert code == 2 and err.startswith("error: --plot")
