"""IDX files and the MNIST-family sources, on small files the tests write."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torchvision.datasets.mnist import read_image_file, read_label_file

from cnnkit.data import idx, mnist, paths
from cnnkit.data.idx import IDX_STEMS, read_idx, write_idx
from cnnkit.data.sources import load_dataset
from cnnkit.errors import DataError


def write_set(folder: Path, *, n_train: int = 30, n_test: int = 12, gz: bool = True, seed: int = 0) -> dict:
    """Four small MNIST-style files with random pixels and labels 0..9."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": (np.arange(n_train) % 10).astype(np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": (np.arange(n_test) % 10).astype(np.uint8),
    }
    for key, stem in IDX_STEMS.items():
        write_idx(folder / (stem + (".gz" if gz else "")), arrays[key])
    return arrays


@settings(max_examples=25, deadline=None)
@given(shape=st.lists(st.integers(1, 6), min_size=1, max_size=3), gz=st.booleans())
def test_idx_roundtrip_matches_torchvision_reader(tmp_path_factory: pytest.TempPathFactory, shape: list[int], gz: bool) -> None:
    folder = tmp_path_factory.mktemp("idx")
    array = np.random.default_rng(len(shape)).integers(0, 256, shape, dtype=np.uint8)
    path = write_idx(folder / ("a.idx.gz" if gz else "a.idx"), array)
    np.testing.assert_array_equal(read_idx(path), array)
    raw = write_idx(folder / "ref.idx", array)
    if len(shape) == 3:  # torchvision's own IDX reader as the reference
        assert torch.equal(read_image_file(str(raw)), torch.from_numpy(array))
    if len(shape) == 1:
        assert torch.equal(read_label_file(str(raw)), torch.from_numpy(array).long())


def test_truncated_and_damaged_files_name_the_file(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "t.idx", np.zeros((4, 5, 5), np.uint8))
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(DataError, match=r"t\.idx has .*truncated"):
        read_idx(path)
    gz = write_idx(tmp_path / "t.idx.gz", np.zeros((4, 5, 5), np.uint8))
    gz.write_bytes(gz.read_bytes()[:-10])
    with pytest.raises(DataError, match=r"t\.idx\.gz is corrupt or truncated"):
        read_idx(gz)
    junk = tmp_path / "junk.idx"
    junk.write_bytes(b"hello world")
    with pytest.raises(DataError, match=r"junk\.idx is not an IDX file"):
        read_idx(junk)


def test_checksum_mismatch_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_idx(tmp_path / "x.gz", np.ones((2, 3), np.uint8))
    monkeypatch.setitem(idx.KNOWN_SHA256, "test/x", "0" * 64)
    with pytest.raises(DataError, match=r"x\.gz fails its SHA-256 check"):
        read_idx(path, checksum_key="test/x")


@pytest.fixture
def no_checksums(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small fake Fashion-MNIST files cannot match the real files' SHA-256."""
    monkeypatch.setattr(idx, "KNOWN_SHA256", {})


@pytest.mark.usefixtures("no_checksums")
def test_fashion_mnist_from_cnnkit_data(isolated_data: Path) -> None:
    arrays = write_set(isolated_data / "fashion-mnist")
    splits = load_dataset("fashion-mnist", val_fraction=0.2, seed=3)
    assert len(splits.train) + len(splits.val) == 30 and len(splits.val) == 6
    assert torch.equal(splits.test.x[:, 0], torch.from_numpy(arrays["test_images"]))
    assert splits.info.classes[0] == "T-shirt/top" and splits.info.flip_ok
    assert splits.info.source == str(isolated_data / "fashion-mnist")


def test_real_checksums_reject_other_files(isolated_data: Path) -> None:
    write_set(isolated_data / "fashion-mnist")
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz fails its SHA-256 check"):
        load_dataset("fashion-mnist")


def test_lookup_order_data_folder_before_system(isolated_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    system = tmp_path / "usr-share"
    write_set(system, seed=1)
    monkeypatch.setattr(paths, "SYSTEM_FASHION_MNIST", system)
    assert mnist.locate("fashion-mnist") == system
    write_set(isolated_data / "FashionMNIST" / "raw", gz=False)  # torchvision's layout, uncompressed
    assert mnist.locate("fashion-mnist") == isolated_data / "FashionMNIST" / "raw"


def test_mnist_torchvision_layout(isolated_data: Path) -> None:
    arrays = write_set(isolated_data / "MNIST" / "raw", gz=False)
    splits = load_dataset("mnist", val_fraction=0.0)
    assert torch.equal(splits.train.x[:, 0], torch.from_numpy(arrays["train_images"]))
    assert splits.info.classes == tuple("0123456789") and not splits.info.flip_ok


def test_missing_offline_names_every_way(isolated_data: Path) -> None:
    with pytest.raises(DataError) as err:
        load_dataset("fashion-mnist", download=False)
    text = str(err.value)
    assert "apt-get install dataset-fashion-mnist" in text
    assert str(isolated_data) in text and "$CNNKIT_DATA" in text
    assert "\n" not in text


def test_failed_download_is_one_clear_error(isolated_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.datasets as tvd

    def offline(*args: object, **kwargs: object) -> None:
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried mirror, got: no network")

    monkeypatch.setattr(tvd, "MNIST", offline)
    with pytest.raises(DataError, match=r"download failed \(Error downloading train-images-idx3-ubyte\.gz\); to get it, run once"):
        load_dataset("mnist")


@pytest.mark.usefixtures("no_checksums")
def test_corrupt_member_of_a_set_is_named(isolated_data: Path) -> None:
    write_set(isolated_data / "fashion-mnist")
    victim = isolated_data / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz"
    data = bytearray(victim.read_bytes())
    data[20] ^= 0xFF  # flip bits inside the compressed stream: gzip's CRC catches it
    victim.write_bytes(bytes(data))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz"):
        load_dataset("fashion-mnist")


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(), reason="dataset-fashion-mnist not installed")
def test_real_debian_fashion_mnist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(paths, "SYSTEM_FASHION_MNIST", Path("/usr/share/datasets/fashion-mnist"))
    raw = mnist.load("fashion-mnist", download=False)  # verifies every file's SHA-256
    assert raw.train.x.shape == (60000, 1, 28, 28) and raw.test.x.shape == (10000, 1, 28, 28)
    assert torch.bincount(raw.train.y).tolist() == [6000] * 10
    with gzip.open("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz") as handle:
        assert torch.equal(raw.test.y, torch.from_numpy(np.frombuffer(handle.read()[8:], np.uint8).astype(np.int64)))
