"""load_identities: class datasets with selectors, identity folders, and LFW (never downloaded)."""

from __future__ import annotations

from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch
from face_folders import make_folder, write_png
from hypothesis import given
from hypothesis import strategies as st
from sklearn.utils import Bunch

from cnnkit.data.convert import convert_images
from cnnkit.data.sources import load_dataset
from cnnkit.errors import DataError
from cnnkit.faces.identity_sources import (
    format_class_selector,
    load_identities,
    other_classes,
    parse_class_selector,
)

# --- class selectors ---------------------------------------------------------------


def test_selectors_parse() -> None:
    assert parse_class_selector("0-6", 10) == (0, 1, 2, 3, 4, 5, 6)
    assert parse_class_selector("7,8,9", 10) == (7, 8, 9)
    assert parse_class_selector(" 9, 0-2 ,5", 10) == (0, 1, 2, 5, 9)


@given(st.sets(st.integers(0, 9), min_size=1))
def test_selector_text_round_trips(classes: set[int]) -> None:
    text = format_class_selector(sorted(classes))
    assert parse_class_selector(text, 10) == tuple(sorted(classes))


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("", "fashion-mnist: empty class selector after ':'; e.g. fashion-mnist:0-6 or fashion-mnist:7,8,9"),
        ("a", "cannot read class selector part 'a'; use numbers and ranges"),
        ("1-", "cannot read class selector part '1-'"),
        ("0,,2", "cannot read class selector part ''"),
        ("6-2", "class range '6-2' runs backwards; write it low-high, e.g. 2-6"),
        ("7-10", "class 10 does not exist; classes are numbered 0-9"),
        ("1-3,2", "class 2 is selected twice in '1-3,2'"),
    ],
)
def test_bad_selectors(selector: str, message: str) -> None:
    with pytest.raises(DataError) as err:
        parse_class_selector(selector, 10, dataset="fashion-mnist")
    assert message in str(err.value)


def test_other_classes() -> None:
    assert other_classes("Fashion-MNIST:0-6") == "fashion-mnist:7-9"
    assert other_classes("digits:0,2,4,6,8") == "digits:1,3,5,7,9"
    with pytest.raises(DataError, match="selects every class"):
        other_classes("digits:0-9")
    with pytest.raises(DataError, match="selects no classes"):
        other_classes("digits")


# --- class datasets ----------------------------------------------------------------


def test_digits_selection_matches_load_dataset() -> None:
    reference = load_dataset("digits", val_fraction=0.0)
    for split, part in (("train", reference.train), ("test", reference.test)):
        data = load_identities("digits:0-2,5", split=split)
        mask = torch.isin(part.y, torch.tensor([0, 1, 2, 5]))
        assert torch.equal(data.images, part.x[mask])
        assert data.names == ("0", "1", "2", "5") and data.source == "digits:0-2,5"
        assert [data.names[k] for k in data.identities.tolist()] == [str(c) for c in part.y[mask].tolist()]
    same = load_identities("digits", classes=[5, 0, 1, 2])
    assert same.source == "digits:0-2,5" and len(same) == int(torch.isin(reference.train.y, torch.tensor([0, 1, 2, 5])).sum())


def test_conversion_and_per_identity() -> None:
    native = load_identities("digits:3,4")
    data = load_identities("digits:3,4", image_size=16, channels=3)
    assert torch.equal(data.images, convert_images(native.images, (3, 16, 16)))
    small = load_identities("digits:3,4", per_identity=5, seed=1)
    assert small.counts().tolist() == [5, 5]
    # The kept images are real rows of the full set, in their original order.
    rows = [next(r for r in range(len(native)) if torch.equal(native.images[r], img)) for img in small.images]
    assert rows == sorted(rows) and [native.identities[r].item() for r in rows] == small.identities.tolist()
    assert torch.equal(load_identities("digits:3,4", per_identity=5, seed=1).images, small.images)


def test_fashion_mnist_seen_and_unseen_classes_match_load_dataset() -> None:
    from cnnkit.data import mnist

    if mnist.locate("fashion-mnist") is None:
        pytest.skip("Fashion-MNIST is not on disk (apt install dataset-fashion-mnist)")
    reference = load_dataset("fashion-mnist", val_fraction=0.0, download=False)
    seen = load_identities("fashion-mnist:0-6", download=False)
    unseen = load_identities("fashion-mnist:7,8,9", split="test", download=False)
    train_counts = torch.bincount(reference.train.y, minlength=10)
    test_counts = torch.bincount(reference.test.y, minlength=10)
    assert seen.counts().tolist() == train_counts[:7].tolist() and len(seen) == int(train_counts[:7].sum())
    assert unseen.counts().tolist() == test_counts[7:].tolist()
    assert seen.names == reference.info.classes[:7] and unseen.names == ("Sneaker", "Bag", "Ankle boot")
    assert unseen.source == "fashion-mnist:7-9" and seen.image_shape == (1, 28, 28)
    assert torch.equal(unseen.images, reference.test.x[reference.test.y >= 7])
    assert torch.equal(unseen.identities, reference.test.y[reference.test.y >= 7] - 7)


@pytest.mark.parametrize(
    ("text", "options", "message"),
    [
        ("fashon-mnist", {}, "unknown identity source 'fashon-mnist' (did you mean 'fashion-mnist'?)"),
        ("volumes", {}, "choose one of fashion-mnist, mnist, cifar10, digits"),
        ("digits:0-2", {"classes": [3, 4]}, "digits:0-2 and classes=[3, 4] disagree"),
        ("digits:4", {}, "digits:4: only one identity"),
        ("digits", {"split": "val"}, "split must be 'train' or 'test', got 'val'"),
        ("digits", {"min_faces_per_person": 5}, "min_faces_per_person= applies to lfw only"),
        ("digits", {"channels": 2}, "channels must be 1 (grey) or 3 (colour), got 2"),
        ("digits", {"image_size": (0, 8)}, "image_size must be a positive size or (height, width)"),
        ("digits", {"per_identity": 0}, "per_identity must be at least 1 image"),
        ("digits:0,1", {"per_identity": 1, "require_pairs": True}, "identity 0 has a single image but pairs need two"),
        ("lfw:1-3", {}, "lfw takes no class selection"),
        ("folder:", {}, "folder: needs a path"),
    ],
)
def test_bad_requests(text: str, options: dict[str, object], message: str) -> None:
    with pytest.raises(DataError) as err:
        load_identities(text, **options)  # type: ignore[arg-type]
    assert message in str(err.value)


# --- folder:PATH -------------------------------------------------------------------


def test_folder_reads_every_identity(tmp_path: Path) -> None:
    values = make_folder(tmp_path, {"Bob_Lee": 2, "Ada": 3, "Cy": 1})
    (tmp_path / "Ada" / "notes.txt").write_text("not an image")
    write_png(tmp_path / "Ada" / ".hidden.png", 7)
    write_png(tmp_path / ".thumbs" / "x.png", 7)
    write_png(tmp_path / "loose.png", 7)
    data = load_identities(f"folder:{tmp_path}", image_size=8, channels=1)
    assert data.names == ("Ada", "Bob_Lee", "Cy") and data.source == f"folder:{tmp_path}"
    assert data.counts().tolist() == [3, 2, 1] and data.image_shape == (1, 8, 8)
    for k, name in enumerate(data.names):
        pixels = data.images_of(k)
        assert torch.equal(pixels, torch.tensor(values[name], dtype=torch.uint8).view(-1, 1, 1, 1).expand(-1, 1, 8, 8))
    assert data.paths is not None and [Path(p).name for p in data.paths[:3]] == ["Ada_0001.png", "Ada_0002.png", "Ada_0003.png"]
    assert any("1 identities have a single image (no same-identity pairs): Cy" in n for n in data.notes)
    assert any("1 image files directly in" in n for n in data.notes)
    natural = load_identities(f"folder:{tmp_path}")  # nothing given: the data's own (cnnkit.data.natural_shape)
    assert natural.image_shape == (1, 8, 8) and torch.equal(natural.images, data.images)
    assert any(n.startswith("images as 1x8x8 (grey; the median shorter side, 8 px") for n in natural.notes)
    colour = load_identities(f"folder:{tmp_path}", channels=3, image_size=16)  # asked for: the grey value repeated
    assert colour.image_shape == (3, 16, 16) and int(colour.images[0].min()) == int(colour.images[0].max()) == values["Ada"][0]


def test_folder_errors_name_the_folder_or_file(tmp_path: Path) -> None:
    def error(path: Path, **options: object) -> str:
        with pytest.raises(DataError) as err:
            load_identities(f"folder:{path}", image_size=8, **options)  # type: ignore[arg-type]
        assert "\n" not in str(err.value)
        return str(err.value)

    assert "no such folder" in error(tmp_path / "missing")
    (tmp_path / "file.txt").write_text("x")
    assert "not a folder" in error(tmp_path / "file.txt")
    (tmp_path / "bare").mkdir()
    assert error(tmp_path / "bare") == (
        f"folder:{tmp_path / 'bare'}: no identity sub-folders; put each person's images in a folder of their own, "
        f"e.g. {tmp_path / 'bare'}/Ada_Lovelace/Ada_Lovelace_0001.jpg"
    )
    make_folder(tmp_path / "one", {"Ada": 2})
    assert "only one identity (Ada); verification and recognition need at least two identity folders" in error(tmp_path / "one")
    make_folder(tmp_path / "empty", {"Ada": 2, "Bob": 2})
    (tmp_path / "empty" / "Cy").mkdir()
    (tmp_path / "empty" / "Cy" / "readme.md").write_text("x")
    assert f"identity folder {tmp_path / 'empty' / 'Cy'} has no images" in error(tmp_path / "empty")
    make_folder(tmp_path / "bad", {"Ada": 2, "Bob": 2})
    (tmp_path / "bad" / "Bob" / "Bob_0003.jpg").write_bytes(b"not a jpeg at all")
    message = error(tmp_path / "bad")
    assert message.startswith(f"folder:{tmp_path / 'bad'}: {tmp_path / 'bad' / 'Bob' / 'Bob_0003.jpg'}: not an image Pillow can read")
    make_folder(tmp_path / "single", {"Ada": 2, "Bob": 1, "Cy": 1})
    assert (
        f"folder:{tmp_path / 'single'}: identity Bob has a single image (Bob_0001.png) but pairs need two of each; "
        "add an image to it or remove the folder (1 more identities have one image)"
    ) == error(tmp_path / "single", require_pairs=True)
    assert "classes= does not apply to folder:" in error(tmp_path / "single", classes=[1])


# --- lfw (never downloads) ---------------------------------------------------------


def _offline_fetch(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """scikit-learn's own cache check, then the URLError urlretrieve raises without a network."""
    from sklearn import datasets

    real = datasets.fetch_lfw_people
    calls: list[bool] = []

    def fetch(**options: object) -> object:
        calls.append(bool(options["download_if_missing"]))
        if options["download_if_missing"]:
            raise URLError(OSError(101, "Network is unreachable"))
        return real(**options)

    monkeypatch.setattr(datasets, "fetch_lfw_people", fetch)
    return calls


def test_lfw_offline_fails_in_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _offline_fetch(monkeypatch)
    with pytest.raises(DataError) as err:
        load_identities("lfw", data_home=tmp_path)
    message = str(err.value)
    assert calls == [False, True] and "\n" not in message
    assert message.startswith(f"lfw: could not download Labeled Faces in the Wild (~200 MB) into {tmp_path / 'lfw_home'} (")
    assert "Network is unreachable" in message
    assert "run once with internet access" in message and "or give folder:PATH of an LFW-style folder" in message
    calls.clear()
    with pytest.raises(DataError, match="not in scikit-learn's cache .* and downloading is off; run once with internet access"):
        load_identities("lfw", data_home=tmp_path, download=False)
    assert calls == [False]


def test_lfw_cached_faces_become_uint8(monkeypatch: pytest.MonkeyPatch) -> None:
    from sklearn import datasets

    rng = np.random.default_rng(0)
    grey = rng.random((5, 6, 4), dtype=np.float32)
    colour = rng.random((5, 6, 4, 3), dtype=np.float32)
    names = np.array(["Ada Lovelace", "Alan Turing"])
    target = np.array([1, 0, 1, 1, 0])
    seen: dict[str, object] = {}

    def fetch(**options: object) -> Bunch:
        seen.update(options)
        return Bunch(images=colour if options["color"] else grey, target=target, target_names=names)

    monkeypatch.setattr(datasets, "fetch_lfw_people", fetch)
    data = load_identities("lfw")
    assert seen["min_faces_per_person"] == 2 and seen["resize"] == 0.5 and seen["download_if_missing"] is False
    assert data.source == "lfw" and data.names == ("Ada Lovelace", "Alan Turing") and data.paths is None
    assert torch.equal(data.images, torch.from_numpy(np.rint(grey * 255).astype(np.uint8))[:, None])
    assert data.identities.tolist() == target.tolist()
    rgb = load_identities("lfw", channels=3, min_faces_per_person=3, resize=0.25)
    assert seen["min_faces_per_person"] == 3 and seen["resize"] == 0.25 and seen["color"] is True
    assert torch.equal(rgb.images, torch.from_numpy(np.rint(colour * 255).astype(np.uint8)).permute(0, 3, 1, 2))
    assert load_identities("lfw", image_size=(3, 2)).image_shape == (1, 3, 2)


def test_lfw_too_restrictive(monkeypatch: pytest.MonkeyPatch) -> None:
    from sklearn import datasets

    def fetch(**options: object) -> Bunch:
        raise ValueError(f"min_faces_per_person={options['min_faces_per_person']} is too restrictive")

    monkeypatch.setattr(datasets, "fetch_lfw_people", fetch)
    with pytest.raises(DataError, match="lfw: min_faces_per_person=900 is too restrictive; choose a smaller min_faces_per_person"):
        load_identities("lfw", min_faces_per_person=900)
