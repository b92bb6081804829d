"""load_dataset: splits, seeds, conversion, limits and the generated/bundled sources."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnnkit.data import signals1d, volumes
from cnnkit.data.sources import availability, few_shot, list_datasets, load_dataset
from cnnkit.data.tensordata import TensorSplit
from cnnkit.errors import DataError


def test_digits_values_and_fixed_test_split() -> None:
    from sklearn.datasets import load_digits

    a = load_dataset("digits", seed=0)
    b = load_dataset("digits", seed=1)
    assert len(a.train) + len(a.val) + len(a.test) == 1797
    assert len(a.test) == round(0.2 * 1797) and len(a.val) == round(0.1 * (1797 - len(a.test)))
    assert torch.equal(a.test.x, b.test.x)  # the test set does not move with the seed
    assert not torch.equal(a.val.x, b.val.x)  # the validation carve does
    # Pixel values: sklearn's 0..16 scaled to 0..255.
    all_x = torch.cat([a.train.x, a.val.x, a.test.x]).flatten(1).double()
    reference = torch.from_numpy(np.rint(load_digits().images * 255 / 16)).flatten(1)
    assert sorted(map(tuple, all_x.tolist())) == sorted(map(tuple, reference.tolist()))
    # mean/std are those of the training split.
    assert a.info.mean[0] == pytest.approx(float(a.train.x.double().mean() / 255), abs=1e-4)
    assert a.info.std[0] == pytest.approx(float((a.train.x.double() / 255).std()), abs=1e-4)


def test_same_seed_same_splits() -> None:
    a, b = load_dataset("digits", seed=5), load_dataset("digits", seed=5)
    assert all(torch.equal(getattr(a, s).x, getattr(b, s).x) for s in ("train", "val", "test"))


def test_upscale_and_channels() -> None:
    native = load_dataset("digits", seed=2)
    big = load_dataset("digits", seed=2, input_shape=(1, 28, 28))
    assert big.info.input_shape == (1, 28, 28) and big.train.x.shape[1:] == (1, 28, 28)
    reference = F.interpolate(native.train.x[:5].float(), size=(28, 28), mode="bilinear", antialias=True,
                              align_corners=False).round().clamp(0, 255).to(torch.uint8)  # fmt: skip
    assert torch.equal(big.train.x[:5], reference)
    rgb = load_dataset("digits", seed=2, input_shape=(3, 8, 8), limit=10)
    assert rgb.train.x.shape == (10, 3, 8, 8) and torch.equal(rgb.train.x[:, 0], rgb.train.x[:, 2])
    assert len(rgb.info.mean) == 3


def test_limit_keeps_a_seeded_subset() -> None:
    a = load_dataset("digits", limit=7, seed=3)
    assert (len(a.train), len(a.val), len(a.test)) == (7, 7, 7)
    assert torch.equal(a.train.x, load_dataset("digits", limit=7, seed=3).train.x)


def test_unknown_names_and_bad_arguments() -> None:
    with pytest.raises(DataError, match="did you mean 'fashion-mnist'"):
        load_dataset("fashion_mnist")
    with pytest.raises(DataError, match="val_fraction"):
        load_dataset("digits", val_fraction=1.0)
    with pytest.raises(DataError, match="limit"):
        load_dataset("digits", limit=0)
    with pytest.raises(DataError, match="C x H x W"):
        load_dataset("digits", input_shape=(1, 40))
    with pytest.raises(DataError, match="folder: needs a path"):
        load_dataset("folder:")


def test_list_and_availability(isolated_data: Path) -> None:
    names = [e.name for e in list_datasets()]
    assert names[0] == "fashion-mnist" and "folder:PATH" in names
    assert set(names) >= {"mnist", "cifar10", "digits", "mnist1d", "volumes"}
    assert "downloaded on first use" in availability("fashion-mnist")
    assert "scikit-learn" in availability("digits")


def test_few_shot_per_class() -> None:
    split = TensorSplit(torch.arange(60).view(60, 1), torch.arange(60) % 3)
    picked = few_shot(split, 4, generator=torch.Generator().manual_seed(0))
    assert torch.bincount(picked.y).tolist() == [4, 4, 4]
    assert torch.equal(picked.y, picked.x[:, 0] % 3)
    again = few_shot(split, 4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(picked.x, again.x)
    with pytest.raises(DataError, match="only 20 samples"):
        few_shot(split, 21, generator=torch.Generator())


def test_mnist1d_matches_the_package_and_caches(isolated_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mnist1d.data import get_dataset_args, make_dataset

    state = np.random.get_state()
    splits = load_dataset("mnist1d", val_fraction=0.0)
    assert np.array_equal(np.random.get_state()[1], state[1])  # global RNG left as it was
    reference = make_dataset(get_dataset_args())
    assert splits.train.x.shape == (4000, 1, 40) and splits.train.x.dtype == torch.float32
    assert np.allclose(splits.test.x[:, 0].numpy(), reference["x_test"].astype(np.float32))
    assert splits.test.y.tolist() == reference["y_test"].tolist()
    assert signals1d.cache_path().is_file()
    monkeypatch.setattr(signals1d, "generate", lambda: pytest.fail("regenerated despite the cache"))
    cached = load_dataset("mnist1d", val_fraction=0.0)
    assert torch.equal(cached.test.x, splits.test.x)


def test_volumes_deterministic_balanced_and_shaped() -> None:
    a = volumes.generate(24, shape=(1, 8, 12, 12), seed=1)
    b = volumes.generate(24, shape=(1, 8, 12, 12), seed=1)
    c = volumes.generate(24, shape=(1, 8, 12, 12), seed=2)
    assert a.x.shape == (24, 1, 8, 12, 12) and a.x.dtype == torch.uint8
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y) and not torch.equal(a.x, c.x)
    assert torch.bincount(a.y, minlength=4).tolist() == [6, 6, 6, 6]
    splits = load_dataset("volumes", limit=8, input_shape=(2, 8, 16, 16))
    assert splits.train.x.shape == (8, 2, 8, 16, 16) and splits.info.kind == "volume"
    with pytest.raises(DataError, match="D, H, W >= 8"):
        volumes.generate(4, shape=(1, 4, 16, 16))


def test_volume_solids_follow_their_formulas() -> None:
    r = torch.tensor([[5.0]])
    points = torch.tensor([[[0.0, 0.0, 5.0], [4.0, 4.0, 4.0], [0.0, 3.0, 4.5], [0.0, 0.0, 0.0], [0.0, 3.5, 0.0]]])
    assert volumes._signed_distance(points[:, :1], 0, r).item() == pytest.approx(0.0)  # on the sphere
    assert volumes._signed_distance(points[:, 1:2], 1, r).item() == pytest.approx(0.0)  # cube corner
    assert volumes._signed_distance(points[:, 2:3], 2, r).item() == pytest.approx(0.0)  # cylinder rim
    assert volumes._signed_distance(points[:, 3:4], 3, r).item() == pytest.approx(0.7 * 5 - 0.3 * 5)  # torus hole
    assert volumes._signed_distance(points[:, 4:5], 3, r).item() == pytest.approx(-1.5)  # inside the ring
    rot = volumes._random_rotations(16, torch.Generator().manual_seed(0))
    assert torch.allclose(rot @ rot.transpose(1, 2), torch.eye(3).expand(16, 3, 3), atol=1e-5)
    assert torch.allclose(torch.linalg.det(rot), torch.ones(16), atol=1e-5)


def test_a_folder_named_without_its_prefix_gets_the_prefix_suggested(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli_error  # type: ignore[no-untyped-def]
) -> None:
    # Issue 13 item 15: `--data textures` with ./textures there said only "unknown dataset".
    (tmp_path / "textures" / "a").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match=r"textures is a folder: name it folder:textures \(e\.g\. --data folder:textures\)"):
        load_dataset("textures")
    line = cli_error(["train", "--data", "textures", "--out", tmp_path / "run"])
    assert "--data folder:textures" in line
    with pytest.raises(DataError, match="choose one of"):  # no such folder: the list of names as before
        load_dataset("textures2")
