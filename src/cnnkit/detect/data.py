"""The ``--data`` resolver of the detection commands: a text -> train / val / test splits.

Accepted forms:

- ``scenes``: generated scenes (:func:`cnnkit.detect.scenes.make_scene_splits`) of
  ``scenes`` training, ``val_scenes`` validation and ``test_scenes`` test canvases of side
  ``canvas``; the same ``seed`` gives the same scenes, and the splits never share a source
  object.
- ``yolo:PATH``: a YOLO-layout folder (:func:`cnnkit.detect.yolo_folder.read_yolo`). When
  PATH holds ``train/`` (and ``val/``, optionally ``test/``) sub-folders, each in the YOLO
  layout, those are the splits; otherwise the one folder is split at random (seeded):
  ``val_fraction`` and ``test_fraction`` of the images go to val and test.
- ``coco:PATH``: a COCO instances json (:func:`cnnkit.detect.coco_json.read_coco`), split
  like a single YOLO folder; or a folder holding ``train.json`` and ``val.json``
  (optionally ``test.json``), each read with the images next to it.

A missing test split is the validation split (a note says so). Every split is letterboxed to
one square (the detector needs a square grid): ``image_size`` on a side, or by default the
first training image's longer side (a note says so when that image is not square).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from cnnkit.detect.sample import DetectionSet, DetectionSplits
from cnnkit.errors import DataError

__all__ = ["KINDS", "DataOptions", "known_side", "parse_data", "resolve_data", "split_set"]

KINDS = ("scenes", "yolo", "coco")


@dataclass(frozen=True)
class DataOptions:
    """What a ``--data`` text needs besides itself (only ``scenes`` uses the scene counts)."""

    scenes: int = 3000
    val_scenes: int = 200
    test_scenes: int = 500
    canvas: int = 96
    seed: int = 0
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    image_size: int | None = None  # side for yolo/coco images [default: the first training image's size]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DataOptions:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


def parse_data(text: str) -> tuple[str, Path | None]:
    """``"scenes"`` -> ("scenes", None); ``"yolo:PATH"`` / ``"coco:PATH"`` -> (kind, Path)."""
    kind, sep, rest = text.partition(":")
    kind = kind.strip().lower()
    if kind == "scenes" and not rest:
        return "scenes", None
    if kind in ("yolo", "coco") and sep and rest.strip():
        return kind, Path(rest.strip()).expanduser()
    from cnnkit.errors import did_you_mean

    raise DataError(
        f"unknown detection data {text!r}{did_you_mean(kind, KINDS)}; give scenes, yolo:PATH "
        "(a YOLO-layout folder) or coco:PATH (a COCO instances json)"
    )


def known_side(text: str, options: DataOptions) -> int | None:
    """The side of the square images ``text`` will give, when it is known before loading
    (``scenes``: the canvas; yolo:/coco: with ``image_size``), else None (it comes from the files)."""
    kind, _ = parse_data(text)
    return options.canvas if kind == "scenes" else options.image_size


def resolve_data(text: str, options: DataOptions | None = None) -> DetectionSplits:
    """Load the train / val / test splits that ``text`` names (see the module docstring)."""
    opts = options or DataOptions()
    kind, path = parse_data(text)
    if kind == "scenes":
        from cnnkit.detect.scenes import make_scene_splits

        for name in ("scenes", "val_scenes", "test_scenes"):
            if getattr(opts, name) < 1:
                raise DataError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(opts, name)}")
        return make_scene_splits(opts.scenes, opts.val_scenes, opts.test_scenes, seed=opts.seed,
                                 canvas=opts.canvas)
    assert path is not None
    if not path.exists():
        raise DataError(f"{path} does not exist; give the dataset folder (yolo:) or json file (coco:)")
    size = None if opts.image_size is None else (opts.image_size, opts.image_size)
    parts = _presplit(kind, path, size)
    if parts is not None:
        return parts
    whole = _read(kind, path, path, size)
    return split_set(whole, val_fraction=opts.val_fraction, test_fraction=opts.test_fraction, seed=opts.seed)


def _read(kind: str, path: Path, where: Path, size: tuple[int, int] | None,
          channels: int | None = None) -> DetectionSet:
    from cnnkit.detect.coco_json import read_coco
    from cnnkit.detect.yolo_folder import read_yolo

    if kind == "yolo":
        if not path.is_dir():
            raise DataError(f"{where} is not a folder; yolo: needs a folder with images/ and labels/")
        return read_yolo(path, image_size=size, channels=channels, square=True)
    if path.is_dir():
        raise DataError(f"{where} is a folder without train.json and val.json; give coco:FILE.json")
    return read_coco(path, image_size=size, channels=channels, square=True)


def _presplit(kind: str, path: Path, size: tuple[int, int] | None) -> DetectionSplits | None:
    """The splits of a folder that already has them, else None."""
    if not path.is_dir():
        return None
    if kind == "yolo":
        found = {name: path / name for name in ("train", "val", "test") if (path / name / "images").is_dir()}
    else:
        found = {name: path / f"{name}.json" for name in ("train", "val", "test") if (path / f"{name}.json").is_file()}
    if "train" not in found:
        return None
    if "val" not in found:
        raise DataError(f"{path} has a train split but no val split; add {'val/' if kind == 'yolo' else 'val.json'}")
    train = _read(kind, found["train"], found["train"], size)
    same = train.image_size
    val = _read(kind, found["val"], found["val"], same, train.images.shape[1])
    if "test" in found:
        test = _read(kind, found["test"], found["test"], same, train.images.shape[1])
    else:
        test = val.subset(range(len(val)))
        test.notes.append("no test split: the validation split is the test split")
    for name, part in (("val", val), ("test", test)):
        if part.classes != train.classes:
            raise DataError(
                f"{found.get(name, path)}: classes {list(part.classes)} differ from the training split's "
                f"{list(train.classes)}; every split needs the same class list"
            )
    return DetectionSplits(train, val, test)


def split_set(data: DetectionSet, *, val_fraction: float, test_fraction: float, seed: int) -> DetectionSplits:
    """Split one set at random (``torch.Generator`` seeded with ``seed``): at least one image
    each goes to val and test, the rest (at least one) to train."""
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise DataError(
            f"val and test fractions must be in (0, 1) with a sum below 1, got {val_fraction} and {test_fraction}"
        )
    n = len(data)
    if n < 3:
        raise DataError(f"{data.source or 'the dataset'} has {n} images; splitting off val and test needs 3 or more")
    n_val = max(1, round(n * val_fraction))
    n_test = max(1, round(n * test_fraction))
    if n_val + n_test >= n:
        n_val, n_test = 1, 1
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    parts = [sorted(order[:n_test]), sorted(order[n_test : n_test + n_val]), sorted(order[n_test + n_val :])]
    test, val, train = (data.subset(p) for p in parts)
    note = f"split {n} images at random (seed {seed}): {len(train)} train, {len(val)} val, {len(test)} test"
    for part in (train, val, test):
        part.notes.append(note)
    return DetectionSplits(train, val, test)
