"""Reading the content and style pictures, and writing the result.

Pictures of any format, size and colour mode (RGB, grey, RGBA laid on white, palette,
16-bit ...) are read by :func:`cnnkit.data.images.load_image`, which already handles modes,
EXIF orientation and damaged files. Here they are scaled, aspect ratio kept, so that the
longer side is ``size`` pixels, and turned into float pixels (1, C, H, W) in [0, 1] with
C the network's input channels (3, or 1 for a grey model).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from cnnkit.data.images import check_png_path, quiet_size_warning
from cnnkit.errors import CnnkitError, DataError

__all__ = [
    "MIN_SIDE",
    "check_output",
    "fit_size",
    "image_size",
    "luma",
    "read_pixels",
    "save_png",
    "to_uint8",
]

MIN_SIDE = 16  # below this a VGG's five poolings leave nothing to compare
_ROTATED = {5, 6, 7, 8}  # EXIF orientations that swap width and height


def fit_size(width: int, height: int, size: int) -> tuple[int, int]:
    """(height, width) scaled so that the longer side is ``size`` (aspect ratio kept,
    each side at least 1 pixel)."""
    if size < 1:
        raise CnnkitError(f"--size must be a positive number of pixels, got {size}")
    scale = size / max(width, height)
    return max(1, round(height * scale)), max(1, round(width * scale))


def check_output(path: str | Path) -> Path:
    """Refuse, before any work, an output the result could not be written to (see
    :func:`cnnkit.data.images.check_png_path`)."""
    return check_png_path(path, "-o")


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of an image file as it will stand upright, from its header.

    DataError naming the file when it is missing or not an image.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file; check the path" if not path.exists()
                        else f"{path}: not a file (a folder?); give an image file")  # fmt: skip
    try:
        with quiet_size_warning(), Image.open(path) as opened:
            width, height = opened.size
            orientation = opened.getexif().get(0x0112, 1)
    except UnidentifiedImageError:
        raise DataError(f"{path}: not an image Pillow can read (PNG, JPEG, BMP, GIF, TIFF, WebP ...)") from None
    except Image.DecompressionBombError as err:  # worded as cnnkit.data.images.load_image words it
        raise DataError(f"{path}: refused as too large to decode safely ({err}); scale it down first") from None
    except (OSError, ValueError, SyntaxError) as err:
        raise DataError(f"{path}: damaged image ({err}); re-export or replace the file") from None
    return (height, width) if orientation in _ROTATED else (width, height)


def read_pixels(image: str | Path | Tensor, *, size: int, channels: int = 3) -> Tensor:
    """An image file, or a tensor (C, H, W) / (1, C, H, W) (uint8 0..255 or float 0..1)
    -> float32 pixels (1, channels, H, W) in [0, 1] with the longer side ``size``."""
    if isinstance(image, Tensor):
        return _tensor_pixels(image, size=size, channels=channels)
    from cnnkit.data.images import load_image

    width, height = image_size(image)
    h, w = fit_size(width, height, size)
    _check_side(h, w, image)
    with quiet_size_warning():
        stored = load_image(image, input_shape=(channels, h, w))  # uint8 (C, h, w)
    return stored.unsqueeze(0).float() / 255.0


def _tensor_pixels(image: Tensor, *, size: int, channels: int) -> Tensor:
    x = image.unsqueeze(0) if image.dim() == 3 else image
    if x.dim() != 4 or x.shape[0] != 1 or x.shape[1] not in (1, 3):
        raise DataError(f"an image tensor must be (C, H, W) or (1, C, H, W) with C = 1 or 3, got {tuple(image.shape)}")
    x = x.float() / 255.0 if image.dtype == torch.uint8 else x.float()
    if x.shape[1] != channels:  # grey -> RGB by copying; RGB -> grey by ITU-R 601 luma
        x = x.expand(-1, 3, -1, -1) if channels == 3 else luma(x)
    h, w = fit_size(int(x.shape[3]), int(x.shape[2]), size)
    _check_side(h, w, "the image tensor")
    if (h, w) != tuple(x.shape[2:]):
        x = F.interpolate(x, size=(h, w), mode="bilinear", antialias=True, align_corners=False)
    return x.clamp(0, 1).contiguous()


def _check_side(h: int, w: int, what: object) -> None:
    if min(h, w) < MIN_SIDE:
        raise DataError(
            f"{what}: at this --size it becomes {w}x{h} pixels; the shorter side must be at least "
            f"{MIN_SIDE}, so give a larger --size or a less elongated picture"
        )


def luma(pixels: Tensor) -> Tensor:
    """RGB pixels (N, 3, H, W) -> luma (N, 1, H, W), ITU-R 601 weights (as Pillow's "L")."""
    weights = torch.tensor([0.299, 0.587, 0.114], device=pixels.device, dtype=pixels.dtype)
    return (pixels * weights.view(1, 3, 1, 1)).sum(dim=1, keepdim=True)


def to_uint8(pixels: Tensor) -> Tensor:
    """Pixels (1, C, H, W) or (C, H, W) in [0, 1] -> uint8 (H, W, C) on the CPU, for Pillow."""
    x = pixels[0] if pixels.dim() == 4 else pixels
    return (x.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu()


def save_png(pixels: Tensor, path: str | Path) -> Path:
    """Write pixels (1, C, H, W) in [0, 1] as a PNG (RGB or grey), atomically."""
    from cnnkit.data.images import write_png

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise CnnkitError(f"{path}: the result is written as PNG; give a file name ending in .png")
    return write_png(to_uint8(pixels).permute(2, 0, 1), path)
