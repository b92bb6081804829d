"""curves.png and confusion.png: valid PNGs of sensible size, counts checked against sklearn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from sklearn.metrics import confusion_matrix

from cnnkit.train.plots import (
    best_epoch,
    confusion_counts,
    write_confusion,
    write_curves,
)


def _metrics(epochs: int) -> list[dict]:
    return [
        {"epoch": e, "train_loss": 2.0 / e, "train_acc": 1 - 0.5 / e, "val_loss": 2.1 / e + 0.01 * e,
         "val_acc": 0.9 - abs(e - 4) * 0.02}
        for e in range(1, epochs + 1)
    ]


def _open_png(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB"))


def test_curves_png(tmp_path: Path) -> None:
    path = write_curves(tmp_path / "curves.png", _metrics(8), title="a run")
    pixels = _open_png(path)
    height, width, _ = pixels.shape
    assert 900 <= width <= 2000 and 350 <= height <= 900 and width > height  # two panels side by side
    assert pixels.std() > 10  # something was drawn
    # the validation colour (red) appears: the val lines are there
    red = (pixels[..., 0] > 180) & (pixels[..., 1] < 80) & (pixels[..., 2] < 80)
    assert red.sum() > 200


@pytest.mark.parametrize("records", [[], [{"epoch": 1, "train_loss": 1.0}], [{"epoch": 1, "val_acc": float("nan")}]])
def test_curves_with_missing_values(tmp_path: Path, records: list[dict]) -> None:
    _open_png(write_curves(tmp_path / "c.png", records))


def test_best_epoch() -> None:
    assert best_epoch(_metrics(8)) == (4, 0.9)
    assert best_epoch([{"epoch": 1, "val_acc": 0.5}, {"epoch": 2, "val_acc": 0.5}]) == (1, 0.5)  # first of a tie
    assert best_epoch([{"epoch": 1, "train_acc": 0.5}]) is None


@pytest.mark.filterwarnings("ignore:A single label was found")
@settings(max_examples=30, deadline=None)
@given(st.integers(1, 12), st.lists(st.tuples(st.integers(0, 11), st.integers(0, 11)), min_size=1, max_size=60))
def test_confusion_counts_match_sklearn(classes: int, pairs: list[tuple[int, int]]) -> None:
    y = torch.tensor([a % classes for a, _ in pairs])
    p = torch.tensor([b % classes for _, b in pairs])
    counts = confusion_counts(y, p, classes)
    reference = confusion_matrix(y.numpy(), p.numpy(), labels=list(range(classes)))
    assert np.array_equal(counts.numpy(), reference)
    assert int(counts.sum()) == len(pairs)


@pytest.mark.parametrize("classes", [2, 10, 30])
def test_confusion_png(tmp_path: Path, classes: int) -> None:
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, classes, (500,), generator=g)
    p = torch.where(torch.rand(500, generator=g) < 0.8, y, torch.randint(0, classes, (500,), generator=g))
    names = [f"class {i}" for i in range(classes)]
    pixels = _open_png(write_confusion(tmp_path / "c.png", confusion_counts(y, p, classes), names))
    height, width, _ = pixels.shape
    assert 500 <= height <= 2600 and 500 <= width <= 3000
    assert pixels.std() > 10


def test_bigger_matrices_get_bigger_pictures(tmp_path: Path) -> None:
    sizes = []
    for classes in (3, 20):
        eye = torch.eye(classes, dtype=torch.long) * 5
        pixels = _open_png(write_confusion(tmp_path / f"{classes}.png", eye, [str(i) for i in range(classes)]))
        sizes.append(pixels.shape[0])
    assert sizes[1] > sizes[0]


def test_confusion_rejects_wrong_shapes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must be 3x3"):
        write_confusion(tmp_path / "c.png", torch.zeros(2, 2), ["a", "b", "c"])
    # a class without samples is drawn, not divided by zero
    counts = torch.tensor([[3, 1, 0], [0, 0, 0], [0, 1, 2]])
    _open_png(write_confusion(tmp_path / "c.png", counts, ["a", "b", "c"]))
