"""Batched augmentation: shapes, ranges, determinism, and each operation against a reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnkit.data.augment import (
    Augment,
    AugmentConfig,
    _shift_by_gather,
    _shift_by_groups,
    rotate_zoom,
)
from cnnkit.data.tensordata import DatasetInfo
from cnnkit.errors import DataError

FILL = -0.5


def batch(shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed)) + 1.0  # values in [1, 2): never FILL


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def shifted_reference(x: np.ndarray, offsets: tuple[int, ...], fill: float) -> np.ndarray:
    """One sample (C, *S) shifted: output i reads input i + offset, outside reads ``fill``."""
    pad = max(abs(o) for o in offsets) if offsets else 0
    padded = np.pad(x, [(0, 0)] + [(pad, pad)] * (x.ndim - 1), constant_values=fill)
    window = (slice(None),) + tuple(slice(pad + o, pad + o + s) for o, s in zip(offsets, x.shape[1:]))
    return padded[window]


def test_all_off_is_identity() -> None:
    x = batch((3, 1, 8, 8))
    assert Augment(AugmentConfig())(x, gen()) is x


@pytest.mark.parametrize(
    "config",
    [
        AugmentConfig(crop_padding=2, fill=FILL),
        AugmentConfig(flip=True, fill=FILL),
        AugmentConfig(rotate=15, scale=0.2, fill=FILL),
        AugmentConfig(cutout=4, fill=FILL),
        AugmentConfig(crop_padding=3, flip=True, rotate=10, scale=0.1, cutout=5, fill=(FILL, FILL, FILL)),
    ],
)
def test_shape_range_and_determinism(config: AugmentConfig) -> None:
    x = batch((16, 3, 12, 10))
    aug = Augment(config)
    a, b, c = aug(x, gen(7)), aug(x, gen(7)), aug(x, gen(8))
    assert a.shape == x.shape and a.dtype == x.dtype
    assert torch.equal(a, b) and not torch.equal(a, c)
    # Every output is the input, the fill, or (bilinear) a blend of them: never outside their range.
    assert a.min() >= FILL - 1e-5 and a.max() <= x.max() + 1e-5


def test_flip_really_flips() -> None:
    x = batch((64, 2, 5, 7))
    y = Augment(AugmentConfig(flip=True))(x, gen(1))
    flipped = [torch.equal(y[i], torch.flip(x[i], dims=[-1])) for i in range(64)]
    kept = [torch.equal(y[i], x[i]) for i in range(64)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 10 < sum(flipped) < 54  # about half


@settings(max_examples=40, deadline=None)
@given(
    spatial=st.lists(st.integers(1, 9), min_size=1, max_size=3),
    pad=st.integers(1, 3),
    seed=st.integers(0, 50),
)
def test_translation_is_an_integer_shift_with_fill(spatial: list[int], pad: int, seed: int) -> None:
    x = batch((6, 2, *spatial), seed)
    y = Augment(AugmentConfig(crop_padding=pad, fill=FILL))(x, gen(seed))
    shifts = [tuple(o) for o in np.ndindex(*([2 * pad + 1] * len(spatial)))]
    for i in range(6):
        matches = [
            s for s in shifts
            if np.array_equal(y[i].numpy(), shifted_reference(x[i].numpy(), tuple(v - pad for v in s), FILL))
        ]  # fmt: skip
        assert matches, f"sample {i} is not an integer shift of its input"


@settings(max_examples=40, deadline=None)
@given(spatial=st.lists(st.integers(1, 9), min_size=1, max_size=3), pad=st.integers(1, 4), seed=st.integers(0, 50))
def test_both_shift_implementations_agree(spatial: list[int], pad: int, seed: int) -> None:
    x = batch((7, 3, *spatial), seed)
    offsets = torch.randint(-pad, pad + 1, (7, len(spatial)), generator=gen(seed))
    fill = torch.tensor([FILL, 0.0, 3.0]).view(1, 3, *([1] * len(spatial)))
    assert torch.equal(_shift_by_gather(x, offsets, fill), _shift_by_groups(x, offsets, pad, fill))


def test_rotation_by_zero_and_zoom_one_is_identity() -> None:
    x = batch((4, 3, 9, 13))
    y = rotate_zoom(x, torch.zeros(4), torch.ones(4), FILL)
    assert torch.allclose(y, x, atol=1e-5)


def test_quarter_turn_matches_rot90() -> None:
    x = batch((2, 1, 6, 6))
    y = rotate_zoom(x, torch.full((2,), math.pi / 2), torch.ones(2), FILL)
    assert torch.allclose(y, torch.rot90(x, k=1, dims=(-2, -1)), atol=1e-5)  # counter-clockwise


def test_zoom_out_brings_fill_in_from_outside() -> None:
    x = batch((1, 1, 8, 8))
    y = rotate_zoom(x, torch.zeros(1), torch.full((1,), 0.5), FILL)
    assert torch.allclose(y[0, 0, 0], torch.full((8,), FILL))  # the border now comes from outside
    assert y[0, 0, 4, 4] > 1.0


def test_cutout_blanks_one_square_at_most() -> None:
    x = batch((32, 1, 12, 12))
    y = Augment(AugmentConfig(cutout=4, fill=FILL))(x, gen(3))
    for i in range(32):
        rows, cols = torch.nonzero(y[i, 0] == FILL, as_tuple=True)
        assert 0 < rows.numel() <= 16
        assert rows.max() - rows.min() < 4 and cols.max() - cols.min() < 4
        assert rows.numel() == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)  # a rectangle


def test_signals_and_volumes() -> None:
    signal = batch((5, 1, 40))
    out = Augment(AugmentConfig(crop_padding=3, cutout=5, fill=0.0))(signal, gen())
    assert out.shape == signal.shape
    volume = batch((3, 1, 6, 8, 8))
    out = Augment(AugmentConfig(crop_padding=1, flip=True, cutout=2, fill=FILL))(volume, gen())
    assert out.shape == volume.shape
    with pytest.raises(DataError, match="images .* only"):
        Augment(AugmentConfig(rotate=5))(volume, gen())


def test_for_dataset_levels() -> None:
    info = DatasetInfo("fashion-mnist", "image", (1, 28, 28), tuple("abcdefghij"), (0.25,), (0.5,), flip_ok=True)
    light = AugmentConfig.for_dataset(info, "light")
    assert light.flip and light.crop_padding > 0 and light.fill == (-0.5,)  # raw black, normalized
    assert AugmentConfig.for_dataset(info, "none").is_identity
    strong = AugmentConfig.for_dataset(info, "strong")
    assert strong.rotate > 0 and strong.scale > 0 and strong.cutout > 0
    digits = DatasetInfo("digits", "image", (1, 8, 8), tuple("0123456789"), (0.3,), (0.3,), flip_ok=False)
    assert not AugmentConfig.for_dataset(digits, "strong").flip
    signal = DatasetInfo("mnist1d", "signal", (1, 40), tuple("0123456789"), (0.0,), (1.0,))
    cfg = AugmentConfig.for_dataset(signal, "strong")
    assert not (cfg.flip or cfg.rotate or cfg.scale)
    with pytest.raises(DataError, match="none, light or strong"):
        AugmentConfig.for_dataset(info, "heavy")  # type: ignore[arg-type]


def test_bad_config_and_input() -> None:
    with pytest.raises(DataError):
        AugmentConfig(scale=1.5)
    with pytest.raises(DataError, match="normalized float batch"):
        Augment(AugmentConfig(flip=True))(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), gen())
