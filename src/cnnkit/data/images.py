"""Read one image file of any format, size and colour mode into a model-ready uint8 tensor.

Used by ``folder:`` datasets and by ``cnnkit predict``. The conversion, step by step:

1. open with Pillow (PNG, JPEG, BMP, GIF (first frame), TIFF, WebP, PPM ...) and apply the
   EXIF orientation, so phone photos stand upright;
2. colour mode -> the wanted channels: transparent pixels (RGBA, LA, P with
   transparency) are laid on white; 16/32-bit and float greyscale (I;16, I, F) are
   scaled down to 0..255; CMYK, YCbCr, HSV ... go through RGB; 1 channel is Pillow's
   luma ("L"), 3 channels RGB;
3. size -> H x W: scale so the image *covers* H x W keeping its aspect ratio
   (antialiased bilinear), then cut the centre out. A square target from a
   non-square photo therefore loses a strip from the long side rather than squashing
   the object.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from cnnkit.errors import DataError

__all__ = [
    "IMAGE_SUFFIXES",
    "check_output_file",
    "check_png_path",
    "load_image",
    "quiet_size_warning",
    "write_png",
]

IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".pnm"}
)


@contextmanager
def quiet_size_warning() -> Iterator[None]:
    """Silence Pillow's two-line DecompressionBombWarning inside the block: Pillow decodes
    images of 1-2x its pixel limit anyway, so the warning only leaks to the terminal.
    Larger images still raise DecompressionBombError, which callers report in one line."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        yield


def _high_depth_to_l(image: object) -> object:
    """I;16 / I / F greyscale -> 8-bit "L", scaling the value range instead of clipping it."""
    from PIL import Image

    values = np.asarray(image, dtype=np.float64)
    if image.mode.startswith("I;16"):  # type: ignore[attr-defined]
        values = values / 257.0  # 0..65535 -> 0..255
    elif values.size and (values.min() < 0 or values.max() > 255):
        low, high = float(values.min()), float(values.max())
        values = (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
    return Image.fromarray(np.rint(values).clip(0, 255).astype(np.uint8), mode="L")


def _to_mode(image: object, channels: int) -> object:
    """Any Pillow image -> "L" (channels == 1) or "RGB" (channels == 3)."""
    from PIL import Image

    mode = image.mode  # type: ignore[attr-defined]
    if mode == "P" and "transparency" in image.info:  # type: ignore[attr-defined]
        image, mode = image.convert("RGBA"), "RGBA"  # type: ignore[attr-defined]
    if mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = image.convert("RGBA")  # type: ignore[attr-defined]
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image, mode = Image.alpha_composite(white, rgba).convert("RGB"), "RGB"
    if mode.startswith("I") or mode == "F":
        image, mode = _high_depth_to_l(image), "L"
    target = "L" if channels == 1 else "RGB"
    if mode != target:
        # CMYK, YCbCr, LAB, HSV, 1, P: Pillow converts through RGB; RGB -> L uses ITU-R 601 luma.
        image = image.convert("RGB").convert(target) if target == "L" else image.convert("RGB")  # type: ignore[attr-defined]
    return image


def _cover_and_crop(image: object, height: int, width: int) -> object:
    """Resize so the image covers height x width (aspect kept), then take the centre."""
    from PIL import Image

    w, h = image.size  # type: ignore[attr-defined]
    if (w, h) == (width, height):
        return image
    scale = max(width / w, height / h)
    new_w, new_h = max(width, round(w * scale)), max(height, round(h * scale))
    image = image.resize((new_w, new_h), Image.Resampling.BILINEAR)  # type: ignore[attr-defined]
    left, top = (new_w - width) // 2, (new_h - height) // 2
    return image.crop((left, top, left + width, top + height))  # type: ignore[attr-defined]


def load_image(path: str | Path, *, input_shape: tuple[int, ...]) -> Tensor:
    """Image file -> uint8 (C, H, W) for ``input_shape`` = (C, H, W), C in {1, 3}.

    Raises DataError naming the file when it is missing, not an image, or damaged.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if len(input_shape) != 3 or input_shape[0] not in (1, 3):
        raise DataError(f"images need an input shape of 1xHxW or 3xHxW, got {'x'.join(map(str, input_shape))}")
    channels, height, width = input_shape
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file; check the path")
    if not path.is_file():
        raise DataError(f"{path}: not a file (a folder?); give an image file")
    try:
        with quiet_size_warning(), Image.open(path) as opened:
            opened.load()  # decode now so truncated files fail here
            image = ImageOps.exif_transpose(opened) or opened
            image = _cover_and_crop(_to_mode(image, channels), height, width)
            array = np.array(image, dtype=np.uint8)
    except UnidentifiedImageError:
        raise DataError(f"{path}: not an image Pillow can read (PNG, JPEG, BMP, GIF, TIFF, WebP ...)") from None
    except Image.DecompressionBombError as err:
        raise DataError(f"{path}: refused as too large to decode safely ({err}); scale it down first") from None
    except (OSError, ValueError, SyntaxError) as err:
        raise DataError(f"{path}: damaged or truncated image ({err}); re-export or replace the file") from None
    tensor = torch.from_numpy(array)
    return tensor.unsqueeze(0) if tensor.dim() == 2 else tensor.permute(2, 0, 1).contiguous()  # (H, W, C) -> (C, H, W)


def check_png_path(path: str | Path, option: str) -> Path:
    """``path`` when a PNG can be written there: it ends in .png (any case), is not a folder,
    and its nearest existing folder is a folder this process may write in (missing folders
    below it are created when the PNG is written). DataError naming ``option`` (e.g.
    "-o/--out") otherwise, so a command checks its output before its work instead of
    failing after it, or writing PNG bytes under another name."""
    return check_output_file(path, option, ".png", "the picture is written as PNG", "picture")


def check_output_file(path: str | Path, option: str, suffix: str, why: str, example: str) -> Path:
    """``path`` when a ``suffix`` file (e.g. ".csv") can be written there; see
    :func:`check_png_path`. ``why`` says why the suffix matters ("the table is written as
    CSV"); ``example`` is a stem for the suggested name ("predictions")."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{option} {path} is a folder; give a file name ending in {suffix}, e.g. {path / (example + suffix)}")
    if path.suffix.lower() != suffix:
        raise DataError(f"{option} must name a {suffix} file ({why}), got {str(path)!r}; "
                        f"e.g. {path.with_suffix(suffix) if path.name not in ('', '.', '..') else example + suffix}")
    folder = path.absolute().parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise DataError(f"{option} {path}: {folder} is a file, not a folder; give a path in a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DataError(f"{option} {path}: cannot write in {folder} (permission denied); "
                        "give a path in a folder you can write to")
    return path


def write_png(image: Tensor, path: str | Path) -> Path:
    """Write a uint8 image (C, H, W), C = 1 (grey) or 3 (RGB), as a PNG file, atomically
    (a reader never sees half a file); parent folders are created. Returns the path."""
    import io

    from PIL import Image

    from cnnkit.atomic import write_bytes

    if image.dtype != torch.uint8 or image.dim() != 3 or image.shape[0] not in (1, 3):
        raise DataError(f"write_png takes a uint8 (1 or 3, H, W) image, got {image.dtype} {tuple(image.shape)}")
    pixels = image.detach().cpu()
    array = pixels[0].numpy() if pixels.shape[0] == 1 else pixels.permute(1, 2, 0).contiguous().numpy()
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return write_bytes(Path(path), buffer.getvalue())
