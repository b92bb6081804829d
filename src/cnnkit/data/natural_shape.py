"""The input shape chosen from a user's own images when no one names one.

One rule for every command that reads a folder of images (``train``/``eval`` with
``folder:PATH``, ``faces train`` with ``folder:PATH``, ``detect train`` with ``yolo:PATH``
or ``coco:PATH``):

- **channels**: 1 when every sampled image is greyscale (Pillow modes ``1``, ``L``, ``LA``,
  ``I``, ``I;16``, ``F``), else 3 (colour; an alpha channel is dropped);
- **size**: a square whose side is the median of the sampled images' shorter sides (the
  side a cover-resize and centre crop keeps whole; for a letterbox, which keeps the longer
  side whole, the longer sides: ``keep="longer"``), at most :data:`MAX_SIDE` pixels (a size
  a 2-core CPU trains at in minutes; larger photos are scaled down). 28x28 digits stay
  28x28, 250x250 LFW faces become 128x128.

Each command's own option overrides it (``--input CxHxW``, ``--image-size N``). At most
:data:`SAMPLE` files are looked at, spread evenly over the list, and only their headers are
read (Pillow opens lazily), so a folder of thousands of photos costs milliseconds.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

__all__ = ["GREY_MODES", "MAX_SIDE", "SAMPLE", "NaturalShape", "natural_shape"]

MAX_SIDE = 128  # the largest side chosen by default
SAMPLE = 200  # images looked at
GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"})


@dataclass(frozen=True)
class NaturalShape:
    """The chosen ``shape`` (C, S, S) and a ``note`` saying how (for the command's note line)."""

    shape: tuple[int, int, int]
    note: str


def natural_shape(
    paths: Sequence[Path], *, max_side: int = MAX_SIDE, option: str = "--input", keep: str = "shorter"
) -> NaturalShape:
    """The (C, S, S) shape for images ``paths`` by the rule above; ``option`` is the flag that
    overrides it, named in the note. Files Pillow cannot open are skipped (the loader reports
    them); with none readable the result is 3 x ``max_side`` x ``max_side``."""
    if not paths:
        return NaturalShape((3, max_side, max_side), f"images as 3x{max_side}x{max_side} (no images to measure)")
    step = max(1, len(paths) // SAMPLE)
    sides: list[int] = []
    grey = True
    for path in list(paths)[::step][:SAMPLE]:
        try:
            with Image.open(path) as image:
                sides.append(min(image.size) if keep == "shorter" else max(image.size))
                grey = grey and image.mode in GREY_MODES
        except (OSError, UnidentifiedImageError, ValueError):
            continue
    if not sides:
        return NaturalShape((3, max_side, max_side), f"images as 3x{max_side}x{max_side} (none could be measured)")
    median = int(statistics.median_low(sides))
    side = max(1, min(median, max_side))
    channels = 1 if grey else 3
    colour = "grey" if grey else "colour"
    how = f"the median {keep} side, {median} px" + (f", capped at {max_side}" if median > max_side else "")
    return NaturalShape(
        (channels, side, side),
        f"images as {channels}x{side}x{side} ({colour}; {how}, of {len(sides)} images); {option} to choose another",
    )
