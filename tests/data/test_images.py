"""load_image: every colour mode and size, checked against Pillow and torchvision."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.transforms.v2.functional as TF
from PIL import Image

from cnnkit.data.images import load_image
from cnnkit.errors import DataError


def save(image: Image.Image, path: Path) -> Path:
    image.save(path)
    return path


def rgb_array(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_rgb_same_size_is_exact(tmp_path: Path) -> None:
    array = rgb_array(12, 10)
    x = load_image(save(Image.fromarray(array), tmp_path / "a.png"), input_shape=(3, 12, 10))
    assert x.dtype == torch.uint8 and torch.equal(x, torch.from_numpy(array).permute(2, 0, 1))


def test_cover_resize_and_centre_crop_match_torchvision(tmp_path: Path) -> None:
    image = Image.fromarray(rgb_array(40, 60))
    path = save(image, tmp_path / "wide.png")
    ours = load_image(path, input_shape=(3, 20, 20))
    # Reference: resize the shorter side to 20 (PIL bilinear), then centre crop 20x20.
    reference = TF.pil_to_tensor(TF.center_crop(TF.resize(image, [20], antialias=True), [20, 20]))
    assert torch.equal(ours, reference)


def test_rgb_to_grey_is_pillow_luma(tmp_path: Path) -> None:
    image = Image.fromarray(rgb_array(8, 8))
    x = load_image(save(image, tmp_path / "c.png"), input_shape=(1, 8, 8))
    assert x.shape == (1, 8, 8)
    assert torch.equal(x[0], torch.from_numpy(np.array(image.convert("L"))))


def test_grey_to_rgb_repeats(tmp_path: Path) -> None:
    grey = np.arange(64, dtype=np.uint8).reshape(8, 8)
    x = load_image(save(Image.fromarray(grey, "L"), tmp_path / "g.png"), input_shape=(3, 8, 8))
    assert all(torch.equal(x[c], torch.from_numpy(grey)) for c in range(3))


def test_transparent_pixels_become_white(tmp_path: Path) -> None:
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[..., 0] = 200
    rgba[:2, :, 3] = 255  # top half opaque red-ish, bottom half fully transparent
    x = load_image(save(Image.fromarray(rgba, "RGBA"), tmp_path / "t.png"), input_shape=(3, 4, 4))
    assert x[:, 2:].eq(255).all()
    assert x[0, :2].eq(200).all() and x[1:, :2].eq(0).all()
    la = Image.fromarray(rgba[..., [0, 3]], "LA")
    y = load_image(save(la, tmp_path / "la.png"), input_shape=(1, 4, 4))
    assert y[0, 2:].eq(255).all() and y[0, :2].eq(200).all()


def test_palette_with_transparency(tmp_path: Path) -> None:
    image = Image.new("P", (4, 4), 0)
    image.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
    image.paste(1, (0, 0, 2, 4))
    image.info["transparency"] = 0
    x = load_image(save(image, tmp_path / "p.png"), input_shape=(3, 4, 4))
    assert x[:, :, :2].flatten(1).T.tolist() == [[10, 20, 30]] * 8
    assert x[:, :, 2:].eq(255).all()


def test_sixteen_bit_grey_scales_down(tmp_path: Path) -> None:
    values = np.array([[0, 257, 65535, 32896]], dtype=np.uint16)
    path = save(Image.fromarray(values), tmp_path / "deep.png")  # saved as a 16-bit PNG
    assert Image.open(path).mode.startswith("I")
    x = load_image(path, input_shape=(1, 1, 4))
    assert x[0, 0].tolist() == [0, 1, 255, 128]


def test_float_and_cmyk_and_bilevel(tmp_path: Path) -> None:
    f = Image.fromarray(np.array([[-1.0, 0.0, 1.0]], dtype=np.float32), "F")
    assert load_image(save(f, tmp_path / "f.tiff"), input_shape=(1, 1, 3))[0, 0].tolist() == [0, 128, 255]
    cmyk = Image.fromarray(rgb_array(6, 6)).convert("CMYK")
    x = load_image(save(cmyk, tmp_path / "c.jpg"), input_shape=(3, 6, 6))
    assert x.shape == (3, 6, 6)
    bilevel = Image.fromarray(np.eye(4, dtype=bool))
    assert load_image(save(bilevel, tmp_path / "b.png"), input_shape=(1, 4, 4))[0].tolist() == (np.eye(4) * 255).tolist()


def test_jpeg_of_any_size(tmp_path: Path) -> None:
    path = save(Image.fromarray(rgb_array(300, 120)), tmp_path / "photo.jpg")
    x = load_image(path, input_shape=(1, 28, 28))
    assert x.shape == (1, 28, 28) and x.dtype == torch.uint8


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "no such file"),
        (lambda p: p.mkdir(), "not a file"),
        (lambda p: p.write_text("hello, not an image"), "not an image Pillow can read"),
    ],
)
def test_bad_files_are_named(tmp_path: Path, make, message: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bad.png"
    make(path)
    with pytest.raises(DataError, match=message) as err:
        load_image(path, input_shape=(3, 8, 8))
    assert str(path) in str(err.value)


def test_truncated_image_is_named(tmp_path: Path) -> None:
    path = save(Image.fromarray(rgb_array(64, 64)), tmp_path / "cut.jpg")
    path.write_bytes(path.read_bytes()[:400])
    with pytest.raises(DataError, match=r"cut\.jpg: damaged or truncated"):
        load_image(path, input_shape=(3, 8, 8))


def test_bad_shape() -> None:
    with pytest.raises(DataError, match="1xHxW or 3xHxW"):
        load_image("x.png", input_shape=(2, 8, 8))
