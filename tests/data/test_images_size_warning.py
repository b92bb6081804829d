"""Images above Pillow's pixel limit: up to twice the limit they load without Pillow's
DecompressionBombWarning reaching the user; beyond that they are refused in one line."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from PIL import Image

from cnnkit.data.images import load_image
from cnnkit.errors import DataError

LIMIT = 1000  # a small stand-in for Image.MAX_IMAGE_PIXELS (about 89 million by default)


@pytest.fixture
def small_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", LIMIT)


def test_a_large_image_loads_without_a_warning(tmp_path: Path, small_limit: None) -> None:
    path = tmp_path / "large.png"
    Image.new("L", (40, 40), 200).save(path)  # 1600 pixels: above the limit, below twice it
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        image = load_image(path, input_shape=(1, 8, 8))
    assert tuple(image.shape) == (1, 8, 8) and int(image.min()) == int(image.max()) == 200
    # outside cnnkit Pillow still warns: the silence is local to load_image
    with pytest.warns(Image.DecompressionBombWarning), Image.open(path):
        pass


def test_a_real_bomb_is_still_refused(tmp_path: Path, small_limit: None) -> None:
    path = tmp_path / "bomb.png"
    Image.new("L", (50, 50)).save(path)  # 2500 pixels: more than twice the limit
    with pytest.raises(DataError, match="refused as too large to decode safely"):
        load_image(path, input_shape=(1, 8, 8))
