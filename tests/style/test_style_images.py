"""Reading pictures of any mode and size, writing PNGs, and keeping the content's colours."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from cnnkit.errors import CnnkitError, DataError
from cnnkit.style.color import preserve_color, rgb_to_ycbcr, ycbcr_to_rgb
from cnnkit.style.images import fit_size, read_pixels, save_png


@given(w=st.integers(1, 4000), h=st.integers(1, 4000), size=st.integers(1, 1024))
def test_fit_size_keeps_the_aspect_ratio(w: int, h: int, size: int) -> None:
    out_h, out_w = fit_size(w, h, size)
    assert max(out_h, out_w) == size
    assert abs(out_h - h * size / max(w, h)) <= 0.5 + 1e-9 or out_h == 1
    assert abs(out_w - w * size / max(w, h)) <= 0.5 + 1e-9 or out_w == 1


def _picture(tmp_path: Path, mode: str, size: tuple[int, int] = (60, 30)) -> Path:
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    if mode == "P":
        image = rgb.convert("P")
    elif mode == "I;16":
        image = Image.fromarray(rng.integers(0, 65536, (size[1], size[0]), dtype=np.uint16))
    else:
        image = rgb.convert(mode)
    path = tmp_path / f"picture-{mode.replace(';', '')}.png"
    image.save(path)
    return path


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "P", "LA", "I;16"])
@pytest.mark.parametrize("channels", [3, 1])
def test_any_mode_reads_as_pixels(tmp_path: Path, mode: str, channels: int) -> None:
    pixels = read_pixels(_picture(tmp_path, mode), size=40, channels=channels)
    assert pixels.shape == (1, channels, 20, 40) and pixels.dtype == torch.float32
    assert 0 <= float(pixels.min()) and float(pixels.max()) <= 1


def test_pixels_match_pillows_resize(tmp_path: Path) -> None:
    path = _picture(tmp_path, "RGB", (64, 32))
    expected = np.asarray(Image.open(path).resize((32, 16), Image.Resampling.BILINEAR), dtype=np.float32) / 255
    got = read_pixels(path, size=32)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(got, expected, atol=1 / 255 + 1e-6)


def test_tall_pictures_and_tensors(tmp_path: Path) -> None:
    assert read_pixels(_picture(tmp_path, "RGB", (30, 60)), size=32).shape == (1, 3, 32, 16)
    grey = torch.randint(0, 256, (1, 50, 100), dtype=torch.uint8)
    assert read_pixels(grey, size=40, channels=3).shape == (1, 3, 20, 40)
    assert read_pixels(torch.rand(3, 20, 20), size=20, channels=1).shape == (1, 1, 20, 20)


def test_not_an_image_is_a_clear_error(tmp_path: Path) -> None:
    text = tmp_path / "notes.png"
    text.write_text("this is not a picture")
    with pytest.raises(DataError, match="notes.png: not an image"):
        read_pixels(text, size=32)
    with pytest.raises(DataError, match="no such file"):
        read_pixels(tmp_path / "missing.jpg", size=32)
    with pytest.raises(DataError, match="not a file"):
        read_pixels(tmp_path, size=32)


def test_too_elongated_for_the_size(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="at least 16"):
        read_pixels(_picture(tmp_path, "RGB", (200, 20)), size=64)


def test_save_png_round_trip(tmp_path: Path) -> None:
    pixels = torch.rand(1, 3, 9, 13)
    path = save_png(pixels, tmp_path / "sub" / "out.png")
    back = np.asarray(Image.open(path), dtype=np.float32) / 255
    np.testing.assert_allclose(back, pixels[0].permute(1, 2, 0).numpy(), atol=0.5 / 255 + 1e-6)
    assert Image.open(save_png(torch.rand(1, 1, 5, 5), tmp_path / "grey.png")).mode == "L"
    with pytest.raises(CnnkitError, match=".png"):
        save_png(pixels, tmp_path / "out.jpg")


def test_ycbcr_matches_pillow_and_inverts() -> None:
    rng = np.random.default_rng(1)
    array = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
    pil = np.asarray(Image.fromarray(array).convert("YCbCr"), dtype=np.float64)  # JPEG's YCbCr, offset 128
    pixels = torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).double() / 255
    ycc = rgb_to_ycbcr(pixels)[0].permute(1, 2, 0).numpy() * 255 + np.array([0, 128, 128])
    np.testing.assert_allclose(ycc, pil, atol=1.0)  # Pillow rounds to integers
    torch.testing.assert_close(ycbcr_to_rgb(rgb_to_ycbcr(pixels)), pixels)


def test_preserve_color_takes_luma_from_result_and_chroma_from_content() -> None:
    g = torch.Generator().manual_seed(0)
    content = 0.25 + 0.5 * torch.rand(1, 3, 6, 6, generator=g, dtype=torch.float64)
    result = 0.4 + 0.2 * torch.rand(1, 3, 6, 6, generator=g, dtype=torch.float64)  # no clamping happens
    mixed = rgb_to_ycbcr(preserve_color(result, content))
    torch.testing.assert_close(mixed[:, 0], rgb_to_ycbcr(result)[:, 0])
    torch.testing.assert_close(mixed[:, 1:], rgb_to_ycbcr(content)[:, 1:])
    with pytest.raises(CnnkitError, match="grey model"):
        preserve_color(torch.rand(1, 1, 4, 4), torch.rand(1, 1, 4, 4))
