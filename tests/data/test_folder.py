"""folder:PATH datasets: layouts, conversion and every error a user can cause."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnnkit.data.images import load_image
from cnnkit.data.sources import load_dataset
from cnnkit.errors import DataError


def make_folder(root: Path, classes: dict[str, int], *, seed: int = 0) -> None:
    """Class folders with PNG/JPEG images of mixed sizes and colour modes."""
    rng = np.random.default_rng(seed)
    for name, count in classes.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            h, w = int(rng.integers(10, 40)), int(rng.integers(10, 40))
            image = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
            if i % 3 == 1:
                image = image.convert("L")
            suffix = ".jpg" if i % 2 else ".png"
            image.save(root / name / f"{i}{suffix}")


def test_flat_layout_carves_test_and_val(tmp_path: Path) -> None:
    make_folder(tmp_path, {"cat": 10, "dog": 10})
    (tmp_path / "cat" / "notes.txt").write_text("not an image: skipped")
    (tmp_path / ".hidden").mkdir()
    splits = load_dataset(f"folder:{tmp_path}", val_fraction=0.25, input_shape=(3, 16, 16))
    assert splits.info.classes == ("cat", "dog")
    assert (len(splits.train), len(splits.val), len(splits.test)) == (12, 4, 4)
    assert splits.train.x.shape[1:] == (3, 16, 16) and splits.train.x.dtype == torch.uint8
    assert not splits.info.flip_ok and splits.info.kind == "image"
    # Every stored sample is exactly what load_image makes of one of the files.
    files = sorted((tmp_path / "cat").glob("*.*g")) + sorted((tmp_path / "dog").glob("*.*g"))
    reference = torch.stack([load_image(f, input_shape=(3, 16, 16)) for f in files])
    for x in splits.test.x:
        assert (reference == x).flatten(1).all(1).any()


def test_default_shape_and_train_test_layout(tmp_path: Path) -> None:
    make_folder(tmp_path / "train", {"a": 4, "b": 4})
    make_folder(tmp_path / "test", {"a": 2, "b": 1}, seed=1)
    splits = load_dataset(f"folder:{tmp_path}", val_fraction=0.0)
    # the rule of cnnkit.data.natural_shape: colour (some images are RGB), the median shorter side
    train_files = sorted(p for p in (tmp_path / "train").rglob("*") if p.suffix in (".png", ".jpg"))
    sides = sorted(min(Image.open(p).size) for p in train_files)
    side = sides[(len(sides) - 1) // 2]  # the lower median
    assert splits.info.input_shape == (3, side, side)
    assert any(note.startswith(f"images as 3x{side}x{side} (colour; the median shorter side") for note in splits.notes)
    assert len(splits.train) == 8 and len(splits.test) == 3
    assert splits.test.y.tolist() == [0, 0, 1]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda root: None, "no such folder"),
        (lambda root: root.mkdir(), "no class sub-folders"),
        (lambda root: (make_folder(root, {"a": 2}), (root / "b").mkdir()), r"class folder .*b has no images"),
        (lambda root: make_folder(root, {"only": 3}), "only one class"),
        (lambda root: (make_folder(root, {"a": 2, "b": 2}), (root / "b" / "broken.png").write_bytes(b"\x89PNG junk")),
         r"broken\.png: (not an image|damaged)"),
    ],
)
def test_folder_errors_name_the_path(tmp_path: Path, setup, message: str) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "pets"
    setup(root)
    with pytest.raises(DataError, match=message):
        load_dataset(f"folder:{root}")


def test_test_class_unknown_to_train(tmp_path: Path) -> None:
    make_folder(tmp_path / "train", {"a": 2, "b": 2})
    make_folder(tmp_path / "test", {"a": 1, "c": 1})
    with pytest.raises(DataError, match="test/c is not a class in train/"):
        load_dataset(f"folder:{tmp_path}")


def test_over_the_memory_limit_streams_instead_of_failing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_folder(tmp_path, {"a": 3, "b": 3})
    monkeypatch.setenv("CNNKIT_MAX_DATA_GB", "0.00001")
    splits = load_dataset(f"folder:{tmp_path}", input_shape=(3, 64, 64))
    assert type(splits.train).__name__ == "FileSplit" and splits.train.sample_shape == (3, 64, 64)
    assert any("streaming" in note and "CNNKIT_MAX_DATA_GB" in note for note in splits.notes)


@pytest.mark.parametrize("streamed", [False, True])
def test_skip_bad_leaves_unreadable_images_out_and_names_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, streamed: bool
) -> None:
    # Issue 13 item 15: one corrupt file stopped the whole folder dataset.
    make_folder(tmp_path, {"a": 6, "b": 6})
    (tmp_path / "a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (tmp_path / "b" / "empty.jpg").write_bytes(b"")
    if streamed:
        monkeypatch.setenv("CNNKIT_MAX_DATA_GB", "0.00001")
    with pytest.raises(DataError, match=r"broken\.png.*or pass --skip-bad"):  # streamed: its mean/std sample
        load_dataset(f"folder:{tmp_path}", input_shape=(3, 16, 16), val_fraction=0.0)
    splits = load_dataset(f"folder:{tmp_path}", input_shape=(3, 16, 16), val_fraction=0.0, skip_bad=True)
    assert len(splits.train) + len(splits.test) == 12  # the readable files, all of them
    kept = {Path(p).name for part in (splits.train, splits.test) for p in getattr(part, "paths", ())}
    assert not kept & {"broken.png", "empty.jpg"}
    note = next(n for n in splits.notes if n.startswith("skipped"))
    assert note.startswith("skipped 2 unreadable images (--skip-bad): a/broken.png (")
    assert "b/empty.jpg (" in note


def test_skip_bad_says_when_a_whole_class_is_unreadable(tmp_path: Path) -> None:
    make_folder(tmp_path, {"a": 3})
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.png").write_bytes(b"nope")
    with pytest.raises(DataError, match="no image of class b can be read"):
        load_dataset(f"folder:{tmp_path}", skip_bad=True)



def test_grey_images_stay_grey_and_large_ones_are_capped(tmp_path: Path) -> None:
    from cnnkit.data.natural_shape import MAX_SIDE

    for name, value in (("dark", 30), ("light", 220)):  # 28x28 grey, as MNIST-like PNGs are
        (tmp_path / "digits" / name).mkdir(parents=True)
        for i in range(5):
            Image.new("L", (28, 28), value + i).save(tmp_path / "digits" / name / f"{i}.png")
    grey = load_dataset(f"folder:{tmp_path / 'digits'}", val_fraction=0.0)
    assert grey.info.input_shape == (1, 28, 28)  # before: 3x64x64, grey digits upscaled to RGB
    for name in ("a", "b"):
        (tmp_path / "photos" / name).mkdir(parents=True)
        for i in range(4):
            Image.new("RGB", (640, 480), (i, 2 * i, 3)).save(tmp_path / "photos" / name / f"{i}.jpg")
    photos = load_dataset(f"folder:{tmp_path / 'photos'}", val_fraction=0.0)
    assert photos.info.input_shape == (3, MAX_SIDE, MAX_SIDE)
    assert any(f"the median shorter side, 480 px, capped at {MAX_SIDE}" in n for n in photos.notes)
