"""folder:PATH -- a user's own images, one sub-folder per class.

Layouts understood::

    PATH/cat/*.jpg  PATH/dog/*.png ...                 test and validation carved with seeds
    PATH/train/cat/...  PATH/test/cat/...              the given test split is kept

Files whose suffix is not an image type (README.txt, .DS_Store ...) and hidden files
are skipped; an image that cannot be read stops loading with an error naming it, unless
``skip_bad`` is set: then every file is decoded once beforehand, the unreadable ones are
left out, and a note gives their count and the first few names with the reasons.
Every image is converted with :func:`cnnkit.data.images.load_image` (colour mode,
cover-resize and centre crop) to the input shape: the model's when it asks for one,
else the one :mod:`cnnkit.data.natural_shape` chooses from the images (their own
channels; the median shorter side, at most 128), said in a note. The whole set is held in memory as uint8 when it fits the limit of
:func:`cnnkit.data.convert.max_bytes` (8 GiB, ``$CNNKIT_MAX_DATA_GB``); a bigger set
stays on disk as :class:`~cnnkit.data.filesplit.FileSplit` parts whose batches
DataLoader workers decode while the model trains. Horizontal flips are off by default (``flip_ok`` is
False): a folder may hold text or digits; turn flips on in the trainer's augmentation
when your classes are mirror-symmetric.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import torch

from cnnkit.data.convert import max_bytes, nbytes
from cnnkit.data.filesplit import FileSplit
from cnnkit.data.images import IMAGE_SUFFIXES
from cnnkit.data.natural_shape import natural_shape
from cnnkit.data.raw import RawData
from cnnkit.errors import DataError

__all__ = ["CLASS_FOLDER", "NAMED_BAD_FILES", "FolderTerms", "is_image_file", "load", "scan"]

NAMED_BAD_FILES = 3  # the skipped-files note names this many


class FolderTerms(NamedTuple):
    """How a folder of labelled images is described in its error messages, and how deep its
    images may lie: a class dataset (:data:`CLASS_FOLDER`) or people (LFW's layout)."""

    unit: str  # what one sub-folder holds: "class", "identity"
    layout: str  # "one sub-folder per class"
    how_to: str  # a fix for a folder without sub-folders; "{root}" is filled in
    need_two: str  # why one sub-folder is not enough
    recursive: bool = True  # images anywhere below a sub-folder, or only directly in it


CLASS_FOLDER = FolderTerms(
    "class", "one sub-folder per class", "put each class's images in its own sub-folder, e.g. {root}/cat/1.jpg",
    "a classifier needs at least two class folders",
)


def is_image_file(path: Path) -> bool:
    """A non-hidden file with an image suffix (README.txt, .DS_Store ... are not)."""
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def scan(root: Path, terms: FolderTerms = CLASS_FOLDER) -> dict[str, list[Path]]:
    """Sub-folder name -> its sorted image paths, for every non-hidden sub-folder of ``root``.

    DataError naming the folder when ``root`` is missing or not a folder, has no
    sub-folders, has one without images, or has only one.
    """
    where = f"folder:{root}"
    if not root.exists():
        raise DataError(f"{where}: no such folder; give a folder with {terms.layout}")
    if not root.is_dir():
        raise DataError(f"{where}: not a folder; give a folder with {terms.layout}")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise DataError(f"{where}: no {terms.unit} sub-folders; {terms.how_to.format(root=root)}")
    found = {
        folder.name: sorted(p for p in (folder.rglob("*") if terms.recursive else folder.iterdir()) if is_image_file(p))
        for folder in folders
    }
    empty = [name for name, files in found.items() if not files]
    if empty:
        raise DataError(
            f"{where}: {terms.unit} folder {root / empty[0]} has no images "
            f"({', '.join(sorted(IMAGE_SUFFIXES))}); add images or remove the folder"
        )
    if len(found) < 2:
        raise DataError(f"{where}: only one {terms.unit} ({next(iter(found))}); {terms.need_two}")
    return found


def _files(files: list[tuple[Path, int]], shape: tuple[int, ...]) -> FileSplit:
    labels = torch.tensor([label for _, label in files], dtype=torch.int64)
    return FileSplit(tuple(path for path, _ in files), labels, shape)


def _drop_unreadable(root: Path, split: FileSplit, classes: tuple[str, ...]) -> tuple[FileSplit, list[str]]:
    """``split`` without its unreadable files, and one 'cat/3.png (reason)' per file left out."""
    kept, bad = split.without_unreadable()
    emptied = sorted(set(split.y.tolist()) - set(kept.y.tolist()))  # classes that had files, now none
    if emptied:
        raise DataError(f"folder:{root}: no image of class {classes[emptied[0]]} can be read; "
                        f"fix its files or remove the folder")  # fmt: skip
    return kept, [f"{path.relative_to(root) if path.is_relative_to(root) else path} ({reason})" for path, reason in bad]


def load(path: str | Path, *, input_shape: tuple[int, ...] | None = None, skip_bad: bool = False) -> RawData:
    """Read every image under ``path`` into uint8 (N, C, H, W) train (and test) splits,
    or, when they would pass the memory limit, keep them as streamed FileSplits.
    ``skip_bad``: leave unreadable files out (said in a note) instead of stopping."""
    root = Path(path).expanduser()
    if input_shape is not None and (len(input_shape) != 3 or input_shape[0] not in (1, 3)):
        raise DataError(f"folder datasets need an input shape 1xHxW or 3xHxW, got {'x'.join(map(str, input_shape))}")
    split_dirs = (root / "train").is_dir() and (root / "test").is_dir()
    train_scan = scan(root / "train" if split_dirs else root)
    classes = tuple(train_scan)
    index = {name: i for i, name in enumerate(classes)}
    train_files = [(f, index[name]) for name, files in train_scan.items() for f in files]
    notes: list[str] = []
    if input_shape is not None:
        shape = tuple(input_shape)
    else:  # the data's own channels and a size chosen from it (cnnkit.data.natural_shape)
        chosen = natural_shape([f for f, _ in train_files])
        shape = chosen.shape
        notes.append(chosen.note)
    test = None
    if split_dirs:
        test_scan = scan(root / "test")
        unknown = sorted(set(test_scan) - set(classes))
        if unknown:
            raise DataError(f"folder:{root}: test/{unknown[0]} is not a class in train/; use the same class folders in both")
        test_files = [(f, index[name]) for name, files in test_scan.items() for f in files]
        test = _files(test_files, shape)
    train = _files(train_files, shape)
    if skip_bad:
        train, bad = _drop_unreadable(root, train, classes)
        if test is not None:
            test, bad_test = _drop_unreadable(root, test, classes)
            bad += bad_test
        if bad:
            more = f", ... ({len(bad) - NAMED_BAD_FILES} more)" if len(bad) > NAMED_BAD_FILES else ""
            notes.append(f"skipped {len(bad)} unreadable image{'s' if len(bad) > 1 else ''} (--skip-bad): "
                         f"{', '.join(bad[:NAMED_BAD_FILES])}{more}")  # fmt: skip
    need = nbytes(len(train) + (len(test) if test is not None else 0), shape, 1)
    if need > max_bytes():
        note = (
            f"streaming {len(train)} training images in {len(classes)} classes from {root}: "
            f"{need / 2**30:.1f} GiB would pass the {max_bytes() / 2**30:.1f} GiB memory limit ($CNNKIT_MAX_DATA_GB)"
        )
        return RawData(f"folder:{root}", "image", classes, train, test, str(root), flip_ok=False, notes=[note, *notes])
    return RawData(
        name=f"folder:{root}",
        kind="image",
        classes=classes,
        train=train.read(),
        test=test.read() if test is not None else None,
        source=str(root),
        flip_ok=False,
        notes=[f"read {len(train)} training images in {len(classes)} classes from {root}", *notes],
    )
