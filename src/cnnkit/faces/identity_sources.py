"""Identity datasets by name: ``load_identities("fashion-mnist:0-6")`` -> IdentitySet.

Sources:

- ``fashion-mnist``, ``mnist``, ``cifar10``, ``digits`` (any image dataset of
  :func:`cnnkit.data.sources.load_dataset`): every class acts as one identity. A selector
  after a colon picks classes: ``fashion-mnist:0-6``, ``fashion-mnist:7,8,9``,
  ``digits:0-2,5``. ``split="train"`` reads the training images (all of them: no
  validation part is carved), ``split="test"`` the held-out test images, so a model
  trained on classes 0-6 can be judged on test images of the unseen classes 7-9
  (:func:`other_classes` gives that complement).
- ``folder:PATH``: one sub-folder per person (LFW's layout), see
  :mod:`cnnkit.faces.identity_folder`.
- ``lfw``: Labeled Faces in the Wild through scikit-learn, see :mod:`cnnkit.faces.lfw`.

Every set must have at least two identities. ``image_size`` / ``channels`` convert the
images (antialiased resize, 1 <-> 3 channels); ``per_identity`` keeps a seeded random
sample of at most that many images per identity (demos, tests).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import torch

from cnnkit.errors import DataError, did_you_mean
from cnnkit.faces.identities import IdentitySet

__all__ = [
    "CLASS_SOURCES",
    "FOLDER_PREFIX",
    "SPLITS",
    "class_selection",
    "format_class_selector",
    "load_identities",
    "other_classes",
    "parse_class_selector",
]

FOLDER_PREFIX = "folder:"
CLASS_SOURCES = ("fashion-mnist", "mnist", "cifar10", "digits")
SPLITS = ("train", "test")
_PART = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


def parse_class_selector(selector: str, num_classes: int, *, dataset: str = "dataset") -> tuple[int, ...]:
    """``"0-6"``, ``"7,8,9"``, ``"0-2, 5"`` -> sorted unique class indices.

    Raises DataError for malformed parts, reversed ranges, classes outside
    0..num_classes-1 and classes named twice.
    """
    example = f"e.g. {dataset}:0-6 or {dataset}:7,8,9"
    if not selector.strip():
        raise DataError(f"{dataset}: empty class selector after ':'; {example}")
    chosen: list[int] = []
    for part in selector.split(","):
        match = _PART.match(part)
        if match is None:
            raise DataError(f"{dataset}: cannot read class selector part {part.strip()!r}; use numbers and ranges, {example}")
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) is not None else low
        if high < low:
            raise DataError(f"{dataset}: class range {part.strip()!r} runs backwards; write it low-high, e.g. {high}-{low}")
        if high >= num_classes:
            raise DataError(f"{dataset}: class {high} does not exist; classes are numbered 0-{num_classes - 1}")
        for c in range(low, high + 1):
            if c in chosen:
                raise DataError(f"{dataset}: class {c} is selected twice in {selector!r}; name each class once")
            chosen.append(c)
    return tuple(sorted(chosen))


def format_class_selector(classes: Sequence[int]) -> str:
    """Sorted class indices -> the shortest selector text: (0, 1, 2, 5) -> ``"0-2,5"``."""
    parts: list[str] = []
    values = sorted(int(c) for c in classes)
    start = 0
    for k in range(1, len(values) + 1):
        if k == len(values) or values[k] != values[k - 1] + 1:
            low, high = values[start], values[k - 1]
            parts.append(str(low) if low == high else f"{low},{high}" if high == low + 1 else f"{low}-{high}")
            start = k
    return ",".join(parts)


def _split_text(text: str) -> tuple[str, str | None]:
    """``"Fashion-MNIST:0-6"`` -> ("fashion-mnist", "0-6"); no colon gives a None selector."""
    name, colon, selector = text.strip().partition(":")
    return name.strip().lower(), (selector if colon else None)


def _check_name(name: str, text: str) -> None:
    if name in CLASS_SOURCES or name == "lfw":
        return
    choices = [*CLASS_SOURCES, "lfw", "folder"]
    raise DataError(
        f"unknown identity source {text!r}{did_you_mean(name, choices)}; choose one of "
        f"{', '.join(CLASS_SOURCES)} (classes as identities, e.g. fashion-mnist:0-6), lfw, or folder:PATH (one sub-folder per person)"
    )


def class_selection(text: str) -> tuple[str, frozenset[int]]:
    """``"fashion-mnist:0-2"`` -> ("fashion-mnist", {0, 1, 2}); no selector means every class.
    DataError for lfw, folders and malformed selectors."""
    from cnnkit.data.sources import dataset_entry

    name, selector = _split_text(text)
    _check_name(name, text)
    if name == "lfw":
        raise DataError("lfw has no classes to select; class_selection needs a class dataset such as fashion-mnist:0-6")
    total = dataset_entry(name).num_classes
    chosen = parse_class_selector(selector, total, dataset=name) if selector is not None else range(total)
    return name, frozenset(chosen)


def other_classes(text: str) -> str:
    """The complement selector: ``"fashion-mnist:0-6"`` -> ``"fashion-mnist:7-9"`` (unseen classes)."""
    from cnnkit.data.sources import dataset_entry

    name, selector = _split_text(text)
    _check_name(name, text)
    if name == "lfw" or selector is None:
        raise DataError(f"{text!r} selects no classes; other_classes needs a class selection such as fashion-mnist:0-6")
    total = dataset_entry(name).num_classes
    rest = sorted(set(range(total)) - set(parse_class_selector(selector, total, dataset=name)))
    if not rest:
        raise DataError(f"{text!r} selects every class; leave some out to have unseen classes")
    return f"{name}:{format_class_selector(rest)}"


def _shape(image_size: int | Sequence[int] | None, channels: int | None, native: tuple[int, int, int]) -> tuple[int, int, int]:
    """(C, H, W) from the options, falling back to ``native`` for what is not given."""
    if channels is not None and channels not in (1, 3):
        raise DataError(f"channels must be 1 (grey) or 3 (colour), got {channels}")
    if image_size is None:
        height, width = native[1:]
    else:
        size = (image_size, image_size) if isinstance(image_size, int) else tuple(int(s) for s in image_size)
        if len(size) != 2 or min(size) < 1:
            raise DataError(f"image_size must be a positive size or (height, width), got {image_size}")
        height, width = size
    return (channels if channels is not None else native[0], height, width)


def _class_set(
    name: str, selector: str | None, classes: Sequence[int] | str | None, *, split: str,
    root: str | Path | None, download: bool,
) -> IdentitySet:  # fmt: skip
    from cnnkit.data.sources import dataset_entry, load_dataset

    total = dataset_entry(name).num_classes
    chosen = parse_class_selector(selector, total, dataset=name) if selector is not None else None
    if classes is not None:
        given = (
            parse_class_selector(classes, total, dataset=name) if isinstance(classes, str)
            else parse_class_selector(",".join(str(int(c)) for c in classes), total, dataset=name)
        )  # fmt: skip
        if chosen is not None and chosen != given:
            raise DataError(f"{name}:{selector} and classes={list(given)} disagree; give the classes once")
        chosen = given
    chosen = chosen if chosen is not None else tuple(range(total))
    splits = load_dataset(name, val_fraction=0.0, root=root, download=download)
    part = splits.train if split == "train" else splits.test
    x, y = part.x, part.y  # a named dataset is always in memory (TensorSplit)
    picked = torch.tensor(chosen, dtype=torch.int64)
    rows = torch.isin(y, picked).nonzero().flatten()
    remap = torch.full((total,), -1, dtype=torch.int64)
    remap[picked] = torch.arange(len(picked))
    names = tuple(splits.info.classes[c] for c in chosen)
    source = f"{name}:{format_class_selector(chosen)}"
    note = f"{source}: {len(rows)} {split} images of {len(chosen)} classes ({', '.join(names)}), each class one identity"
    return IdentitySet(x[rows].contiguous(), remap[y[rows]], names, source, [note], None)


def _keep_per_identity(data: IdentitySet, per_identity: int, seed: int) -> IdentitySet:
    generator = torch.Generator().manual_seed(seed)
    kept = []
    for k in data.identities.unique().tolist():
        rows = (data.identities == k).nonzero().flatten()
        kept.append(rows[torch.randperm(len(rows), generator=generator)[:per_identity]])
    return data.subset(torch.cat(kept).sort().values)


def load_identities(
    text: str,
    *,
    image_size: int | Sequence[int] | None = None,
    channels: int | None = None,
    classes: Sequence[int] | str | None = None,
    split: str = "train",
    per_identity: int | None = None,
    seed: int = 0,
    require_pairs: bool = False,
    root: str | Path | None = None,
    download: bool = True,
    min_faces_per_person: int | None = None,
    resize: float | None = None,
    data_home: str | Path | None = None,
) -> IdentitySet:
    """Load an identity dataset by name (see the module docstring) as uint8 (N, C, H, W).

    image_size: H (square) or (H, W); default: native for class datasets and lfw; for folders, cnnkit.data.natural_shape (their own channels, the median shorter side up to 128).
    channels: 1 or 3; default: native for class datasets, 3 for folders, 1 for lfw.
    classes: class indices (or selector text) for class datasets, instead of ``name:SEL``.
    split: "train" or "test" images of a class dataset.
    per_identity / seed: keep at most this many images per identity (seeded sample).
    require_pairs: refuse identities with fewer than two images (after ``per_identity``).
    root / download: the data folder and download switch of class datasets and lfw.
    min_faces_per_person / resize / data_home: lfw only (defaults 2, 0.5, scikit-learn's).
    """
    if split not in SPLITS:
        raise DataError(f"split must be 'train' or 'test', got {split!r}")
    if per_identity is not None and per_identity < 1:
        raise DataError(f"per_identity must be at least 1 image, got {per_identity}")
    lfw_only = {"min_faces_per_person": min_faces_per_person, "resize": resize, "data_home": data_home}
    given_lfw = [key for key, value in lfw_only.items() if value is not None]
    if text.strip().lower().startswith(FOLDER_PREFIX):
        from cnnkit.faces.identity_folder import load_identity_folder, natural_identity_shape

        path = text.strip()[len(FOLDER_PREFIX) :].strip()
        if not path:
            raise DataError("folder: needs a path, e.g. folder:~/faces (one sub-folder of images per person)")
        for key, value in [("classes", classes), *((k, lfw_only[k]) for k in given_lfw)]:
            if value is not None:
                raise DataError(f"{key}= does not apply to folder: sources; leave it out")
        if split != "train":
            raise DataError("split='test' applies to class datasets; split a folder with split_identities or split_within")
        shape = None  # nothing given: the data's own channels and a size chosen from it (a note says which)
        if image_size is not None or channels is not None:
            shape = _shape(image_size, channels, natural_identity_shape(path).shape)
        data = load_identity_folder(path, input_shape=shape, require_pairs=require_pairs)
    else:
        name, selector = _split_text(text)
        _check_name(name, text)
        if name == "lfw":
            from cnnkit.faces.lfw import DEFAULT_MIN_FACES, DEFAULT_RESIZE, load_lfw

            if selector is not None or classes is not None:
                raise DataError("lfw takes no class selection; choose people with min_faces_per_person")
            if split != "train":
                raise DataError("split='test' applies to class datasets; split lfw with split_identities")
            data = load_lfw(
                min_faces_per_person=min_faces_per_person if min_faces_per_person is not None else DEFAULT_MIN_FACES,
                resize=resize if resize is not None else DEFAULT_RESIZE,
                channels=channels if channels is not None else 1,
                data_home=data_home, download=download,
            )  # fmt: skip
        else:
            if given_lfw:
                raise DataError(f"{given_lfw[0]}= applies to lfw only; leave it out for {name}")
            data = _class_set(name, selector, classes, split=split, root=root, download=download)
        shape = _shape(image_size, channels, data.image_shape)
        if shape != data.image_shape:
            from cnnkit.data.convert import convert_images

            data.images = convert_images(data.images, shape)
    if per_identity is not None:
        data = _keep_per_identity(data, per_identity, seed)
    if data.identities.unique().numel() < 2:
        raise DataError(f"{data.source}: only one identity; verification and recognition need at least two")
    if require_pairs:
        counts = data.counts()
        lonely = (counts == 1).nonzero().flatten().tolist()
        if lonely:
            raise DataError(
                f"{data.source}: identity {data.names[lonely[0]]} has a single image but pairs need two of each"
                + (f" ({len(lonely) - 1} more like it)" if len(lonely) > 1 else "")
                + "; add images, raise per_identity, or drop require_pairs"
            )
    return data
