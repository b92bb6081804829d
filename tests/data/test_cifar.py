"""CIFAR-10 batches: the reader on small files in the real format, checked against torchvision."""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from cnnkit.data import cifar
from cnnkit.data.sources import load_dataset
from cnnkit.errors import DataError


def write_batches(root: Path, per_batch: int = 4) -> dict[str, str]:
    """Six tiny batch files shaped like the real ones; returns name -> md5."""
    folder = root / cifar.FOLDER
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    sums = {}
    for i, name in enumerate(cifar.TRAIN_FILES + cifar.TEST_FILES):
        batch = {
            "batch_label": f"batch {i}",
            "labels": [int(v) for v in rng.integers(0, 10, per_batch)],
            "data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            "filenames": [f"img{j}.png" for j in range(per_batch)],
        }
        data = pickle.dumps(batch, protocol=2)
        (folder / name).write_bytes(data)
        sums[name] = hashlib.md5(data).hexdigest()
    return sums


def test_reader_matches_torchvision(isolated_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from torchvision.datasets import CIFAR10

    sums = write_batches(isolated_data)
    raw = cifar.load(checksums=sums, download=False)
    assert raw.train.x.shape == (20, 3, 32, 32) and raw.test.x.shape == (4, 3, 32, 32)
    monkeypatch.setattr(CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(CIFAR10, "_load_meta", lambda self: None)
    reference = CIFAR10(str(isolated_data), train=True, download=False)
    assert torch.equal(raw.train.x, torch.from_numpy(reference.data).permute(0, 3, 1, 2))  # (N, H, W, C) there
    assert raw.train.y.tolist() == list(reference.targets)


def test_md5_mismatch_names_the_file(isolated_data: Path) -> None:
    sums = write_batches(isolated_data)
    sums["data_batch_3"] = "0" * 32
    with pytest.raises(DataError, match="data_batch_3 fails its md5 check"):
        cifar.load(checksums=sums, download=False)


def test_real_md5_table_rejects_foreign_files(isolated_data: Path) -> None:
    write_batches(isolated_data)
    with pytest.raises(DataError, match="data_batch_1 fails its md5 check"):
        load_dataset("cifar10", download=False)


class _Evil:
    def __reduce__(self) -> tuple:
        return (os.system, ("echo pwned > /dev/null",))


def test_pickled_code_is_refused(isolated_data: Path) -> None:
    sums = write_batches(isolated_data)
    path = isolated_data / cifar.FOLDER / "test_batch"
    path.write_bytes(pickle.dumps({"data": _Evil(), "labels": [0]}, protocol=2))
    sums["test_batch"] = hashlib.md5(path.read_bytes()).hexdigest()
    with pytest.raises(DataError, match=r"test_batch is not a CIFAR-10 batch \(refusing to load .*system"):
        cifar.load(checksums=sums, download=False)


def test_missing_offline(isolated_data: Path) -> None:
    with pytest.raises(DataError, match=r"cifar10 not found .* downloads are off; get it by running once with internet"):
        load_dataset("cifar10", download=False)
