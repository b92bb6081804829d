"""Issue 13 item 15: `cnnkit predict RUN folder/` takes folders and glob patterns (the
image files in them, sorted) and writes CSV (--csv FILE, --format csv) as well as JSON."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from runfactory import make_run

from cnnkit.errors import DataError
from cnnkit.train.predict import FileError, Prediction, image_paths, predict, predictions_csv


def _images(root: Path, names: list[str]) -> list[Path]:
    paths = []
    for i, name in enumerate(names):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (8, 8), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def test_folders_and_patterns_stand_for_their_image_files_sorted(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    made = _images(photos, ["b.png", "a.jpg", "sub/c.png", ".hidden/d.png"])
    (photos / "notes.txt").write_text("not an image")
    expected = sorted([made[1], made[0], made[2]])  # sorted by path, hidden folders and non-images left out
    assert image_paths([photos]) == expected
    assert image_paths([str(photos / "*.png")]) == [made[0]]
    # "**" spans folders; like a shell, patterns do not enter hidden folders
    assert image_paths([str(photos / "**" / "*.png")]) == sorted([made[0], made[2]])
    named = [photos / "missing.png", made[0]]  # a named file stays, even a missing one
    assert image_paths(named) == named
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="a folder without image files"):
        image_paths([tmp_path / "empty"])
    with pytest.raises(DataError, match="no file matches this pattern"):
        image_paths([str(photos / "*.gif")])


def test_csv_holds_each_files_top_classes_or_its_error(tmp_path: Path) -> None:
    run, _, info = make_run(tmp_path / "run")
    good = _images(tmp_path / "in", ["x.png", "y.png"])
    results = predict(run.path, [tmp_path / "in", tmp_path / "gone.png"], topk=2)
    rows = list(csv.DictReader(io.StringIO(predictions_csv(results))))
    assert [r["file"] for r in rows] == [str(p) for p in good] + [str(tmp_path / "gone.png")]
    for row, result in zip(rows, results):
        if isinstance(result, Prediction):
            assert [row["class_1"], row["class_2"]] == [name for name, _ in result.top]
            assert [float(row["probability_1"]), float(row["probability_2"])] == pytest.approx([p for _, p in result.top], abs=1e-6)
            assert row["error"] == ""
        else:
            assert isinstance(result, FileError) and row["error"] == result.error and row["class_1"] == ""


def test_predict_cli_folder_with_csv_file_and_format(tmp_path: Path, run_cli, cli_error) -> None:  # type: ignore[no-untyped-def]
    run, _, _ = make_run(tmp_path / "run")
    made = _images(tmp_path / "in", ["b.png", "a.png"])
    table = tmp_path / "out" / "predictions.csv"
    code, out, err = run_cli(["predict", run.path, tmp_path / "in", "--csv", table])
    assert code == 0 and err == ""
    assert [line.split(":")[0] for line in out.splitlines()] == [str(made[1]), str(made[0])]  # text, sorted
    expected = predictions_csv(predict(run.path, [tmp_path / "in"]))
    assert table.read_text() == expected
    code, out, _ = run_cli(["predict", run.path, tmp_path / "in", "--format", "csv"])
    assert code == 0 and out == expected
    code, out, _ = run_cli(["predict", run.path, str(tmp_path / "in" / "*.png"), "--json"])
    assert code == 0 and [r["file"] for r in json.loads(out)] == [str(made[1]), str(made[0])]
    assert "--json and --format csv" in cli_error(["predict", run.path, made[0], "--json", "--format", "csv"])
    assert "choose one of: text, json, csv" in cli_error(["predict", run.path, made[0], "--format", "xml"])
    assert "--csv must name a .csv file" in cli_error(["predict", run.path, made[0], "--csv", tmp_path / "p.txt"])
    (tmp_path / "empty").mkdir()
    assert "a folder without image files" in cli_error(["predict", run.path, tmp_path / "empty"])
