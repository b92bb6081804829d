"""folder: datasets over the memory limit: streamed FileSplits give the in-memory batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnnkit.data.convert import channel_stats
from cnnkit.data.filesplit import FileSplit, num_workers
from cnnkit.data.loader import batches, eval_batches
from cnnkit.data.sources import load_dataset
from cnnkit.data.tensordata import TensorSplit
from cnnkit.errors import DataError

SHAPE = (3, 8, 8)
TINY_LIMIT = "0.000001"  # about 1 KiB: a few 3x8x8 images


def make_pngs(root: Path, per_class: int = 12, classes: int = 3) -> None:
    """``classes`` class folders of random PNGs of mixed sizes (written by the test)."""
    rng = np.random.default_rng(7)
    for c in range(classes):
        (root / f"class{c}").mkdir(parents=True)
        for i in range(per_class):
            h, w = int(rng.integers(6, 20)), int(rng.integers(6, 20))
            Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(root / f"class{c}" / f"{i}.png")


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "pics"
    make_pngs(root)
    return root


def both(folder: Path, monkeypatch: pytest.MonkeyPatch, **kw):  # type: ignore[no-untyped-def]
    """The same folder loaded into memory and streamed (tiny limit)."""
    memory = load_dataset(f"folder:{folder}", input_shape=SHAPE, **kw)
    monkeypatch.setenv("CNNKIT_MAX_DATA_GB", TINY_LIMIT)
    streamed = load_dataset(f"folder:{folder}", input_shape=SHAPE, **kw)
    monkeypatch.delenv("CNNKIT_MAX_DATA_GB")
    return memory, streamed


def test_streaming_is_chosen_only_above_the_limit(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    memory, streamed = both(folder, monkeypatch)
    assert isinstance(memory.train, TensorSplit)
    for part in (streamed.train, streamed.val, streamed.test):
        assert isinstance(part, FileSplit) and part.sample_shape == SHAPE and part.dtype == torch.uint8
    # Same carve of the same files: sizes and labels agree with the in-memory load.
    for name in ("train", "val", "test"):
        assert torch.equal(getattr(memory, name).y, getattr(streamed, name).y)
    # Streamed samples decode to exactly the in-memory tensors.
    assert torch.equal(streamed.train.read().x, memory.train.x)
    assert streamed.info.input_shape == SHAPE and streamed.info.classes == memory.info.classes


@pytest.mark.parametrize("workers", ["0", "2"])
@pytest.mark.parametrize("shard", [(0, 1), (1, 2)])
def test_batches_match_in_memory_order_and_cover_each_sample_once(
    folder: Path, monkeypatch: pytest.MonkeyPatch, workers: str, shard: tuple[int, int]
) -> None:
    memory, streamed = both(folder, monkeypatch)
    monkeypatch.setenv("CNNKIT_DATA_WORKERS", workers)
    options = dict(batch_size=5, shuffle=True, shard=shard)
    got = list(batches(streamed.train, generator=torch.Generator().manual_seed(3), **options))
    want = list(batches(memory.train, generator=torch.Generator().manual_seed(3), **options))
    assert len(got) == len(want)
    for (xs, ys), (xm, ym) in zip(got, want, strict=True):
        assert xs.dtype == torch.uint8 and ys.dtype == torch.int64 and xs.shape[1:] == SHAPE
        assert torch.equal(xs, xm) and torch.equal(ys, ym)
    # Every rank's share once per epoch; both ranks together cover the split once.
    rows = torch.cat([x for x, _ in got]).flatten(1)
    assert len(rows) == len(streamed.train) // shard[1]
    assert len(torch.unique(rows, dim=0)) == len(rows)


def test_epochs_are_deterministic_under_the_seed_and_differ_between_epochs(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CNNKIT_MAX_DATA_GB", TINY_LIMIT)
    train = load_dataset(f"folder:{folder}", input_shape=SHAPE).train

    def labels(seed: int) -> torch.Tensor:
        run = batches(train, batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(seed))
        return torch.cat([y for _, y in run])

    assert torch.equal(labels(1), labels(1))
    assert not torch.equal(labels(1), labels(2))
    assert sorted(labels(1).tolist()) == sorted(train.y.tolist())  # each sample once


def test_eval_batches_keep_every_sample(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    memory, streamed = both(folder, monkeypatch)
    for shard in [(0, 1), (0, 2), (1, 2)]:
        got = torch.cat([x for x, _ in eval_batches(streamed.train, batch_size=4, shard=shard)])
        assert torch.equal(got, memory.train.x[shard[0] :: shard[1]])


def test_mean_std_come_from_a_seeded_sample_of_files(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    memory, streamed = both(folder, monkeypatch)
    # Fewer files than the sample size: every training file is measured, as in memory.
    assert streamed.info.mean == memory.info.mean and streamed.info.std == memory.info.std
    part = streamed.train.sample(5, seed=9)
    assert torch.equal(part.x, streamed.train.sample(5, seed=9).x) and len(part) == 5
    assert channel_stats(part.x, 255.0) != channel_stats(memory.train.x, 255.0)


def test_pinning_follows_the_device_and_workers_are_bounded(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CNNKIT_MAX_DATA_GB", TINY_LIMIT)
    train = load_dataset(f"folder:{folder}", input_shape=SHAPE).train
    assert train.to("cuda").device.type == "cuda" and train.device.type == "cpu"  # no copy, no CUDA needed
    monkeypatch.delenv("CNNKIT_DATA_WORKERS", raising=False)
    assert 1 <= num_workers() <= 4
    monkeypatch.setenv("CNNKIT_DATA_WORKERS", "many")
    with pytest.raises(DataError, match="CNNKIT_DATA_WORKERS"):
        num_workers()


def test_a_streamed_folder_trains_end_to_end(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cnnkit.train.trainer import train

    monkeypatch.setenv("CNNKIT_MAX_DATA_GB", TINY_LIMIT)
    spec = "INPUT(3x8x8) -> CONV(4, k=3, p=same) -> RELU -> POOL -> FC(8) -> RELU -> FC"
    result = train(
        spec, f"folder:{folder}", epochs=1, batch_size=8, augment="none", progress=False, quiet=True, seed=1
    )
    record = result.metrics[-1]
    assert record["epoch"] == 1 and np.isfinite(record["train_loss"]) and record["val_acc"] is not None
    assert result.test is not None and result.test.num_samples == 7  # 20 % of 36 files


@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_file_corrupted_after_loading_is_a_one_line_error(
    folder: Path, monkeypatch: pytest.MonkeyPatch, workers: str
) -> None:
    """Inside a DataLoader worker, PyTorch wraps the error in a multi-line report; the
    user still gets our one line naming the file."""
    _, streamed = both(folder, monkeypatch)
    broken = Path(streamed.train.paths[0])
    broken.write_bytes(b"not a png any more")
    monkeypatch.setenv("CNNKIT_DATA_WORKERS", workers)
    with pytest.raises(DataError) as info:
        for _ in batches(streamed.train, batch_size=8, shuffle=False):
            pass
    message = str(info.value)
    assert "\n" not in message and broken.name in message
