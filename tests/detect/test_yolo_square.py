"""A YOLO folder whose first image is not square is letterboxed to a square (the detector needs
a square grid) and trains; images without a label file are counted in a note; a trunk that
cannot take the images fails before any image is loaded."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from PIL import Image

from cnnkit.detect.data import DataOptions, resolve_data

Cli = Callable[[list[object]], tuple[int, str, str]]  # the run_cli fixture (tests/conftest.py)
Error = Callable[[list[object]], str]  # the cli_error fixture
SPEC = "INPUT(1x32x32) -> [CONV(8, k=3, p=1) -> BN -> RELU -> POOL(2)]*3 -> FC(2)"


def _folder(root: Path, sizes: list[tuple[int, int]], unlabelled: int = 0) -> Path:
    """YOLO folder: image k of (width, height) ``sizes[k]`` with one centred box 20% x 25% of it;
    the last ``unlabelled`` images get no label file."""
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    (root / "classes.txt").write_text("square\n")
    for k, (w, h) in enumerate(sizes):
        Image.new("L", (w, h), color=40 + k).save(root / "images" / f"{k:02d}.png")
        if k < len(sizes) - unlabelled:
            (root / "labels" / f"{k:02d}.txt").write_text("0 0.5 0.5 0.2 0.25\n")
    return root


def test_landscape_first_image_gives_square_letterboxed_images(tmp_path: Path) -> None:
    root = _folder(tmp_path / "set", [(60, 40)] * 4 + [(30, 60)] * 2)
    splits = resolve_data(f"yolo:{root}", DataOptions(val_fraction=0.2, test_fraction=0.2))
    whole = [*splits.train.targets, *splits.val.targets, *splits.test.targets]
    assert splits.train.image_size == splits.val.image_size == (60, 60) and len(whole) == 6
    # letterbox by hand: scale min(60/w, 60/h) = 1, centred; box (cx, cy, w, h) = (.5, .5, .2, .25)
    landscape = torch.tensor([[30 - 6, 10 + 20 - 5, 30 + 6, 10 + 20 + 5]], dtype=torch.float32)
    portrait = torch.tensor([[15 + 15 - 3, 30 - 7.5, 15 + 15 + 3, 30 + 7.5]], dtype=torch.float32)
    boxes = sorted((t.boxes for t in whole), key=lambda b: b[0, 0].item())
    assert all(torch.allclose(b, landscape) for b in boxes[:4])
    assert all(torch.allclose(b, portrait) for b in boxes[4:])
    assert any("60x60" in n and "square" in n and "--image-size" in n for n in splits.train.notes)


def test_the_square_side_is_the_median_longer_side_capped_like_every_folder(tmp_path: Path) -> None:
    from cnnkit.data.natural_shape import MAX_SIDE

    root = _folder(tmp_path / "set", [(40, 30), (60, 50), (50, 20), (80, 70), (300, 200)])  # longer sides 40 .. 300
    splits = resolve_data(f"yolo:{root}", DataOptions(val_fraction=0.2, test_fraction=0.2))
    assert splits.train.image_size == (60, 60)  # the median of 40, 50, 60, 80, 300 (before: the first image's 40)
    assert splits.train.images.shape[1] == 1  # grey files stay grey
    assert any("the median longer side, 60 px" in n and "--image-size" in n for n in splits.train.notes)
    big = _folder(tmp_path / "big", [(640, 480)] * 3)
    assert resolve_data(f"yolo:{big}", DataOptions(val_fraction=0.34, test_fraction=0.34)).train.image_size == (MAX_SIDE,) * 2


def test_images_without_label_file_are_counted_once(tmp_path: Path, run_cli: Cli) -> None:
    root = _folder(tmp_path / "set", [(40, 40)] * 8, unlabelled=3)
    code, out, err = run_cli(["detect", "train", SPEC, "--data", f"yolo:{root}", "--epochs", "1", "--anchors", "1",
                              "--batch-size", "4", "--out", tmp_path / "run"])
    assert code == 0, err
    notes = [line for line in out.splitlines() if "no label file" in line]
    assert len(notes) == 1 and "3 of 8 images" in notes[0] and "background" in notes[0], out


def test_landscape_folder_trains_with_the_default_size(tmp_path: Path, run_cli: Cli) -> None:
    root = _folder(tmp_path / "set", [(64, 48)] * 6)
    code, out, err = run_cli(["detect", "train", SPEC, "--data", f"yolo:{root}", "--epochs", "1", "--anchors", "1",
                              "--batch-size", "4", "--out", tmp_path / "run"])
    assert code == 0, err
    assert "images of 64x64" in out and "note: 6 images letterbox-resized to 64x64" in out


def test_a_trunk_too_coarse_for_the_images_fails_before_loading(tmp_path: Path, cli_error: Error) -> None:
    # the folder does not even exist: the trunk check must come first
    line = cli_error(["detect", "train", SPEC, "--data", f"yolo:{tmp_path / 'nothing'}", "--image-size", "12",
                      "--out", tmp_path / "run"])
    assert "too coarse" in line and "12x12" in line
    assert not (tmp_path / "run").exists()


def test_a_run_keeps_its_folder_absolute_and_says_when_it_moved(tmp_path: Path, run_cli: Cli, cli_error: Error,
                                                                 monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import json

    monkeypatch.chdir(tmp_path)
    _folder(tmp_path / "set", [(40, 40)] * 8)
    code, _, err = run_cli(["detect", "train", SPEC, "--data", "yolo:set", "--epochs", "1", "--anchors", "1",
                            "--batch-size", "4", "--out", "run"])
    assert code == 0, err
    assert json.loads((tmp_path / "run" / "config.json").read_text())["data"] == f"yolo:{tmp_path / 'set'}"
    monkeypatch.chdir(tmp_path.parent)  # another directory: the run still finds its data
    code, out, err = run_cli(["detect", "eval", tmp_path / "run", "--json"])
    assert code == 0, err
    (tmp_path / "set").rename(tmp_path / "moved")
    line = cli_error(["detect", "eval", tmp_path / "run"])
    assert f"was at {tmp_path / 'set'}, which is not there any more" in line and "--data yolo:NEW_PATH" in line
