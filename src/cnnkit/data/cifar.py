"""CIFAR-10: 60,000 32x32 colour images in 10 classes (the python batches).

Found in ``cifar-10-batches-py/`` under the data folder, else downloaded and unpacked
there by torchvision (which checks the archive's md5). Each batch file is verified
against the md5 torchvision records, then read with a restricted unpickler that only
rebuilds numpy arrays, lists, dicts and strings: a tampered file cannot run code.
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from cnnkit.data import paths
from cnnkit.data.raw import RawData, split_from_numpy
from cnnkit.errors import DataError

__all__ = [
    "CLASSES",
    "FOLDER",
    "TEST_FILES",
    "TRAIN_FILES",
    "known_md5",
    "load",
    "locate",
    "read_batch",
]

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
FOLDER = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILES = ("test_batch",)

# The only globals a CIFAR batch pickle needs: numpy array reconstruction.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def known_md5() -> dict[str, str]:
    """File name -> md5, as torchvision records them for the CIFAR-10 python batches."""
    from torchvision.datasets import CIFAR10

    return {name: md5 for name, md5 in CIFAR10.train_list + CIFAR10.test_list}


def read_batch(path: Path, *, md5: str | None, fix: str) -> tuple[np.ndarray, np.ndarray]:
    """One batch file -> images uint8 (N, 3, 32, 32) and labels int64 (N,)."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DataError(f"cannot read {path} ({err.strerror}); {fix}") from None
    if md5 is not None and hashlib.md5(data, usedforsecurity=False).hexdigest() != md5:
        raise DataError(f"{path} fails its md5 check (damaged or truncated); {fix}")
    try:
        import io

        batch = _SafeUnpickler(io.BytesIO(data), encoding="latin1").load()
        images = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        labels = np.asarray(batch["labels"], dtype=np.int64)
    except Exception as err:  # noqa: BLE001 -- any malformed or refused pickle is a bad file
        raise DataError(f"{path} is not a CIFAR-10 batch ({err}); {fix}") from None
    if images.shape[0] != labels.shape[0]:
        raise DataError(f"{path}: {images.shape[0]} images but {labels.shape[0]} labels; {fix}")
    return images, labels


def locate(root: str | Path | None = None) -> Path | None:
    folder = paths.data_root(root) / FOLDER
    return folder if all((folder / f).is_file() for f in TRAIN_FILES + TEST_FILES) else None


def _how_to_get(root: str | Path | None) -> str:
    return (
        f"get it by running once with internet access (cnnkit downloads into "
        f"{paths.describe_root(root)}), or unpack cifar-10-python.tar.gz there so that "
        f"{paths.data_root(root) / FOLDER} holds data_batch_1..5 and test_batch"
    )


def _download(root: str | Path | None) -> None:
    from torchvision.datasets import CIFAR10

    base = paths.data_root(root)
    try:
        base.mkdir(parents=True, exist_ok=True)
        CIFAR10(root=str(base), train=True, download=True)
    except Exception as err:  # noqa: BLE001 -- offline, proxy, disk full: all end in the same advice
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"cifar10 is not on this machine and the download failed ({reason}); {_how_to_get(root)}") from None


def load(*, root: str | Path | None = None, download: bool = True, checksums: dict[str, str] | None = None) -> RawData:
    """Read CIFAR-10 (train 50,000, test 10,000; uint8 3x32x32).

    ``checksums`` replaces torchvision's md5 table (tests write small batches of their own).
    """
    folder = locate(root)
    notes = []
    if folder is None:
        if not download:
            raise DataError(f"cifar10 not found in {paths.data_root(root) / FOLDER} and downloads are off; {_how_to_get(root)}")
        _download(root)
        folder = locate(root)
        if folder is None:
            raise DataError(f"cifar10: the download finished but the batch files are missing; {_how_to_get(root)}")
        notes.append(f"downloaded cifar10 into {folder}")
    table = known_md5() if checksums is None else checksums
    fix = f"delete it and {_how_to_get(root)}"
    parts = {}
    for part, names in (("train", TRAIN_FILES), ("test", TEST_FILES)):
        loaded = [read_batch(folder / n, md5=table.get(n), fix=fix) for n in names]
        parts[part] = split_from_numpy(np.concatenate([a for a, _ in loaded]), np.concatenate([b for _, b in loaded]))
    notes.append(f"read cifar10 from {folder}")
    return RawData(
        name="cifar10", kind="image", classes=CLASSES, train=parts["train"], test=parts["test"],
        source=str(folder), flip_ok=True, notes=notes,
    )  # fmt: skip
