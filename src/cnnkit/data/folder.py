"""folder:PATH -- a user's own images, one sub-folder per class.

Layouts understood::

    PATH/cat/*.jpg  PATH/dog/*.png ...                 test and validation carved with seeds
    PATH/train/cat/...  PATH/test/cat/...              the given test split is kept

Files whose suffix is not an image type (README.txt, .DS_Store ...) and hidden files
are skipped; an image that cannot be read stops loading with an error naming it.
Every image is converted with :func:`cnnkit.data.images.load_image` (colour mode,
cover-resize and centre crop) to the input shape, 3x64x64 unless a model asks for
another. The whole set is held in memory as uint8 when it fits the limit of
:func:`cnnkit.data.convert.max_bytes` (8 GiB, ``$CNNKIT_MAX_DATA_GB``); a bigger set
stays on disk as :class:`~cnnkit.data.filesplit.FileSplit` parts whose batches
DataLoader workers decode while the model trains. Horizontal flips are off by default (``flip_ok`` is
False): a folder may hold text or digits; turn flips on in the trainer's augmentation
when your classes are mirror-symmetric.
"""

from __future__ import annotations

from pathlib import Path

import torch

from cnnkit.data.convert import max_bytes, nbytes
from cnnkit.data.filesplit import FileSplit
from cnnkit.data.images import IMAGE_SUFFIXES
from cnnkit.data.raw import RawData
from cnnkit.errors import DataError

DEFAULT_SHAPE = (3, 64, 64)


def _images_in(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
    )  # fmt: skip


def scan(root: Path) -> dict[str, list[Path]]:
    """Class name -> sorted image paths, for every non-hidden sub-folder of ``root``."""
    if not root.exists():
        raise DataError(f"folder:{root}: no such folder; give a folder with one sub-folder per class")
    if not root.is_dir():
        raise DataError(f"folder:{root}: not a folder; give a folder with one sub-folder per class")
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"folder:{root}: no class sub-folders; put each class's images in its own sub-folder, e.g. {root}/cat/1.jpg")
    found = {c.name: _images_in(c) for c in classes}
    empty = [name for name, files in found.items() if not files]
    if empty:
        raise DataError(
            f"folder:{root}: class folder {root / empty[0]} has no images "
            f"({', '.join(sorted(IMAGE_SUFFIXES))}); add images or remove the folder"
        )
    if len(found) < 2:
        raise DataError(f"folder:{root}: only one class ({next(iter(found))}); a classifier needs at least two class folders")
    return found


def _files(files: list[tuple[Path, int]], shape: tuple[int, ...]) -> FileSplit:
    labels = torch.tensor([label for _, label in files], dtype=torch.int64)
    return FileSplit(tuple(path for path, _ in files), labels, shape)


def load(path: str | Path, *, input_shape: tuple[int, ...] | None = None) -> RawData:
    """Read every image under ``path`` into uint8 (N, C, H, W) train (and test) splits,
    or, when they would pass the memory limit, keep them as streamed FileSplits."""
    root = Path(path).expanduser()
    shape = tuple(input_shape) if input_shape is not None else DEFAULT_SHAPE
    if len(shape) != 3 or shape[0] not in (1, 3):
        raise DataError(f"folder datasets need an input shape 1xHxW or 3xHxW, got {'x'.join(map(str, shape))}")
    split_dirs = (root / "train").is_dir() and (root / "test").is_dir()
    train_scan = scan(root / "train" if split_dirs else root)
    classes = tuple(train_scan)
    index = {name: i for i, name in enumerate(classes)}
    train_files = [(f, index[name]) for name, files in train_scan.items() for f in files]
    test = None
    if split_dirs:
        test_scan = scan(root / "test")
        unknown = sorted(set(test_scan) - set(classes))
        if unknown:
            raise DataError(f"folder:{root}: test/{unknown[0]} is not a class in train/; use the same class folders in both")
        test_files = [(f, index[name]) for name, files in test_scan.items() for f in files]
        test = _files(test_files, shape)
    train = _files(train_files, shape)
    need = nbytes(len(train) + (len(test) if test is not None else 0), shape, 1)
    if need > max_bytes():
        note = (
            f"streaming {len(train_files)} training images in {len(classes)} classes from {root}: "
            f"{need / 2**30:.1f} GiB would pass the {max_bytes() / 2**30:.1f} GiB memory limit ($CNNKIT_MAX_DATA_GB)"
        )
        return RawData(f"folder:{root}", "image", classes, train, test, str(root), flip_ok=False, notes=[note])
    return RawData(
        name=f"folder:{root}",
        kind="image",
        classes=classes,
        train=train.read(),
        test=test.read() if test is not None else None,
        source=str(root),
        flip_ok=False,
        notes=[f"read {len(train_files)} training images in {len(classes)} classes from {root}"],
    )
