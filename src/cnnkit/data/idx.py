"""IDX files (the MNIST family's format): read, check and find them.

An IDX file is a tiny header followed by raw bytes::

    0x00 0x00 <type> <ndim>   type 0x08 = unsigned byte
    ndim big-endian uint32 sizes
    prod(sizes) values

Files may be gzip-compressed (``.gz``); gzip checks its own CRC, so a damaged ``.gz``
is caught while reading. Every file is also checked for a header that matches its
length (a truncated file fails), and, where cnnkit knows it, for the SHA-256 of its
uncompressed content (the same for every copy, however it was compressed).
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from pathlib import Path

import numpy as np

from cnnkit.errors import DataError

__all__ = [
    "IDX_STEMS",
    "KNOWN_SHA256",
    "find_idx",
    "has_idx_set",
    "read_idx",
    "read_idx_set",
    "write_idx",
]

# SHA-256 of the *uncompressed* Fashion-MNIST files. Computed from Debian's package files
# (whose .gz wrappers were recompressed, so their .gz md5s differ from torchvision's
# FashionMNIST.resources while the content inside is the same 70,000 images).
KNOWN_SHA256: dict[str, str] = {
    "fashion-mnist/train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "fashion-mnist/train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "fashion-mnist/t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "fashion-mnist/t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}

IDX_STEMS = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def find_idx(folder: Path, stem: str) -> Path | None:
    """``folder/stem`` (uncompressed, faster) or ``folder/stem.gz``, whichever exists."""
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def has_idx_set(folder: Path) -> bool:
    """True when all four MNIST-style files are in ``folder`` (raw or .gz)."""
    return all(find_idx(folder, stem) is not None for stem in IDX_STEMS.values())


def _read_bytes(path: Path, fix: str) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                return handle.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"{path} is corrupt or truncated ({err}); {fix}") from None


def read_idx(path: str | Path, *, checksum_key: str | None = None, fix: str = "delete it and get it again") -> np.ndarray:
    """Read one IDX file (raw or .gz) into a uint8 array of the shape its header states.

    ``checksum_key`` names an entry of :data:`KNOWN_SHA256` to verify the content
    against. ``fix`` is the advice appended to every error (what the user should do).
    Raises DataError naming the file when it is damaged, truncated or not IDX.
    """
    path = Path(path)
    data = _read_bytes(path, fix)
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{path} is not an IDX file (bad header); {fix}")
    dtype_code, ndim = data[2], data[3]
    if dtype_code != 0x08:
        raise DataError(f"{path} holds IDX type 0x{dtype_code:02x}; cnnkit reads unsigned bytes (0x08) only")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path} is truncated (header cut short); {fix}")
    sizes = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(sizes, dtype=np.int64))
    if len(data) != expected:
        raise DataError(
            f"{path} has {len(data):,} bytes but its header {sizes} needs {expected:,} "
            f"(truncated or damaged); {fix}"
        )
    if checksum_key is not None and checksum_key in KNOWN_SHA256:
        digest = hashlib.sha256(data).hexdigest()
        if digest != KNOWN_SHA256[checksum_key]:
            raise DataError(f"{path} fails its SHA-256 check (damaged or a different file); {fix}")
    # copy: frombuffer over bytes is read-only, and torch wants writable memory
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(sizes).copy()


def write_idx(path: str | Path, array: np.ndarray) -> Path:
    """Write a uint8 array as an IDX file (``.gz`` when the name ends so). For tests and tools."""
    path = Path(path)
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + array.tobytes()
    if path.suffix == ".gz":
        payload = gzip.compress(payload, mtime=0)
    path.write_bytes(payload)
    return path


def read_idx_set(folder: Path, *, prefix: str | None = None, fix: str) -> dict[str, np.ndarray]:
    """The four files of an MNIST-style folder: train/test images (N, H, W) and labels (N,).

    ``prefix`` (e.g. "fashion-mnist") selects the checksums to verify. Checks that image
    and label counts agree.
    """
    arrays = {}
    for key, stem in IDX_STEMS.items():
        path = find_idx(folder, stem)
        if path is None:
            raise DataError(f"{folder / stem}[.gz] is missing; {fix}")
        arrays[key] = read_idx(path, checksum_key=f"{prefix}/{stem}" if prefix else None, fix=fix)
    for part in ("train", "test"):
        images, labels = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
            raise DataError(
                f"{folder}: {part} images {images.shape} and labels {labels.shape} do not match; {fix}"
            )
    return arrays
