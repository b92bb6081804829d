"""Images with their annotated objects, shared by the YOLO and COCO readers and writers
(:mod:`cnnkit.detect.yolo_folder`, :mod:`cnnkit.detect.coco_json`).

Reading: each image becomes one ``RawImage`` (path, native size, xyxy boxes and keypoints in its
own pixels); ``checked_box`` clips a box to its image or raises a DataError naming where it
came from; ``assemble_set`` loads, resizes and stacks the images into one
:class:`~cnnkit.detect.sample.DetectionSet`. Writing: ``image_name``; PNGs go through
:func:`cnnkit.data.images.write_png`.

Resizing: every image becomes ``image_size`` (default: the first image's size; with
``square=True``, as the detector needs, the square :mod:`cnnkit.data.natural_shape` chooses
for a letterbox: the median longer side, at most 128). ``resize=
"letterbox"`` (default) scales it to fit, keeping its aspect ratio, and centres it on
black; ``"stretch"`` resizes width and height independently. Boxes and keypoints follow.
Boxes may poke out of the image by up to ``tolerance`` pixels (then they are clipped);
more than that, or a box with no size, is a DataError.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

from cnnkit.data.natural_shape import natural_shape
from cnnkit.detect.sample import DetectionSet, Targets
from cnnkit.errors import DataError

__all__ = [
    "RESIZE_MODES",
    "RawImage",
    "assemble_set",
    "checked_box",
    "image_file_size",
    "image_name",
]

RESIZE_MODES = ("letterbox", "stretch")


# --- one object, checked --------------------------------------------------------------------


@dataclass
class RawImage:
    """One image as read: its path, native size and objects in its own pixels."""

    path: Path
    width: int
    height: int
    boxes: list[list[float]]
    labels: list[int]
    points: list[list[list[float]]]


def checked_box(
    box: list[float], width: int, height: int, tolerance: float, where: str
) -> list[float]:
    """The xyxy box clipped to the image, or a DataError saying what is wrong with it."""
    x1, y1, x2, y2 = box
    if not all(math.isfinite(v) for v in box):
        raise DataError(
            f"{where}: box {box} has a non-finite number; write plain numbers"
        )
    if x2 <= x1 or y2 <= y1:
        raise DataError(f"{where}: box has no size (x1={x1:g}, y1={y1:g}, x2={x2:g}, y2={y2:g} pixels); "
                        "width and height must be positive")  # fmt: skip
    if (
        x1 < -tolerance
        or y1 < -tolerance
        or x2 > width + tolerance
        or y2 > height + tolerance
    ):
        raise DataError(f"{where}: box (x1={x1:g}, y1={y1:g}, x2={x2:g}, y2={y2:g}) lies outside the "
                        f"{width}x{height} image; fix the coordinates (up to {tolerance:g} px over the edge "
                        "is clipped)")  # fmt: skip
    clipped = [
        max(0.0, x1),
        max(0.0, y1),
        min(float(width), x2),
        min(float(height), y2),
    ]
    if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
        raise DataError(
            f"{where}: box has no size inside the image after clipping; remove or fix it"
        )
    return clipped


def image_file_size(path: Path, where: str) -> tuple[int, int]:
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise DataError(
            f"{where}: image file {path} does not exist; add it or remove its labels"
        )
    try:
        with Image.open(path) as im:
            return im.size  # (width, height)
    except (UnidentifiedImageError, OSError) as err:
        raise DataError(
            f"{where}: cannot read image {path} ({err}); replace or remove it"
        ) from None


# --- resizing into one DetectionSet ---------------------------------------------------------


def assemble_set(raws: list[RawImage], classes: tuple[str, ...], landmark_names: tuple[str, ...],
              image_size: int | tuple[int, int] | None, resize: str, channels: int | None,
              source: str, square: bool = False) -> DetectionSet:  # fmt: skip
    """Load, resize and stack every image into uint8 (N, C, H, W); scale boxes (and keypoints)
    the same way. The size is decided from the file headers, before any pixel is loaded."""
    from PIL import Image

    if resize not in RESIZE_MODES:
        raise DataError(
            f"resize must be one of {', '.join(RESIZE_MODES)}, got {resize!r}"
        )
    chosen = None
    if image_size is None and square:  # the rule of every user folder, for a letterbox (cnnkit.data.natural_shape)
        chosen = natural_shape([r.path for r in raws], option="--image-size", keep="longer")
        out_h = out_w = chosen.shape[1]
        channels = chosen.shape[0] if channels is None else channels
    elif image_size is None:
        out_h, out_w = raws[0].height, raws[0].width
    else:
        out_h, out_w = (
            (image_size, image_size) if isinstance(image_size, int) else image_size
        )
    if channels is None:
        channels = (
            1 if all(_mode(r.path) in ("L", "1", "I;16", "I") for r in raws) else 3
        )
    if channels not in (1, 3):
        raise DataError(f"channels must be 1 or 3, got {channels}")
    images = torch.zeros(len(raws), channels, out_h, out_w, dtype=torch.uint8)
    targets = []
    for i, raw in enumerate(raws):
        with Image.open(raw.path) as im:
            im = im.convert("L" if channels == 1 else "RGB")
            sx, sy = out_w / raw.width, out_h / raw.height
            if resize == "letterbox":
                sx = sy = min(sx, sy)
            new_w, new_h = max(1, round(raw.width * sx)), max(1, round(raw.height * sy))
            ox, oy = (out_w - new_w) // 2, (out_h - new_h) // 2
            if (new_w, new_h) != im.size:
                im = im.resize((new_w, new_h), Image.Resampling.BILINEAR)
            pixels = torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8).view(
                new_h, new_w, channels
            )
        images[i, :, oy : oy + new_h, ox : ox + new_w] = pixels.permute(2, 0, 1)
        scale = torch.tensor([new_w / raw.width, new_h / raw.height])
        offset = torch.tensor([float(ox), float(oy)])
        boxes = (
            torch.tensor(raw.boxes, dtype=torch.float32).reshape(-1, 2, 2) * scale
            + offset
        )
        points = torch.tensor(raw.points, dtype=torch.float32).reshape(
            len(raw.labels), len(landmark_names), 2
        )
        targets.append(Targets(boxes.reshape(-1, 4), torch.tensor(raw.labels, dtype=torch.int64),
                               points * scale + offset if landmark_names else None))  # fmt: skip
    how = f"{len(raws)} images {resize}-resized to {out_h}x{out_w}"
    how += ", centred on black" if resize == "letterbox" else ""
    notes = [how] if chosen is None else [f"{how}: {chosen.note} (the detector needs a square)"]
    return DetectionSet(images, targets, classes, landmark_names, source, notes)


def _mode(path: Path) -> str:
    from PIL import Image

    with Image.open(path) as im:
        return im.mode


# --- writing images -------------------------------------------------------------------------


def image_name(i: int, count: int) -> str:
    return f"{i:0{max(6, len(str(count)))}d}.png"
