"""write_png: the pixels Pillow reads back are the ones written, grey or RGB; bad input is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnnkit.data.images import write_png
from cnnkit.errors import DataError


@pytest.mark.parametrize(("channels", "mode"), [(1, "L"), (3, "RGB")])
def test_round_trip(tmp_path: Path, channels: int, mode: str) -> None:
    image = torch.randint(0, 256, (channels, 7, 11), dtype=torch.uint8)
    path = write_png(image, tmp_path / "deep" / "x.png")  # parent folders are made
    with Image.open(path) as read:
        assert read.mode == mode and read.size == (11, 7)
        array = np.asarray(read)
    expected = image[0].numpy() if channels == 1 else image.permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(array, expected)


@pytest.mark.parametrize("bad", [torch.zeros(3, 4, 4), torch.zeros(2, 4, 4, dtype=torch.uint8), torch.zeros(4, 4, dtype=torch.uint8)])
def test_refuses_what_is_not_a_uint8_grey_or_rgb_image(tmp_path: Path, bad: torch.Tensor) -> None:
    with pytest.raises(DataError, match="uint8 \\(1 or 3, H, W\\)"):
        write_png(bad, tmp_path / "x.png")
