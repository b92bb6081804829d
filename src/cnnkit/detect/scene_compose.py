"""Scene composition: real object images pasted on a cluttered canvas, with their boxes,
labels and landmarks (what a scene carries: see :mod:`cnnkit.detect.scenes`).

Each object is an ink crop of a pool image (:mod:`cnnkit.detect.scene_pools`), resized to a
random scale and aspect ratio and pasted at a random place over the background of
:mod:`cnnkit.detect.scene_background`, then pixel noise is added. Objects are pasted opaquely
(mask pixels replace the canvas), later ones over earlier ones; a new object is placed only
where its box has IoU <= ``max_overlap`` with every earlier box and covers at most
``max_cover`` of any of them (so each stays identifiable). All randomness comes from one
``torch.Generator`` seeded by ``seed``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from cnnkit.detect.scene_background import paste_fragment, random_backgrounds
from cnnkit.detect.scene_pools import INK_LEVEL, ObjectPool
from cnnkit.detect.sample import DetectionSet, Targets
from cnnkit.errors import DataError

__all__ = ["LANDMARK_NAMES", "TRIES", "Composition", "compose_scenes"]

LANDMARK_NAMES = ("centre", "top_left", "top_right", "bottom_right", "bottom_left")
TRIES = 24  # placements tried per object before it is left out of a crowded scene


@dataclass
class Composition:
    """Scenes and where their objects came from: ``object_ids[i]`` (K_i,) aligns with
    ``scenes.targets[i]``; ``clutter_ids[i]`` are the pool ids the clutter fragments used."""

    scenes: DetectionSet
    object_ids: list[Tensor]
    clutter_ids: list[Tensor]


def _canvas_size(canvas: int | tuple[int, int]) -> tuple[int, int]:
    h, w = (
        (canvas, canvas)
        if isinstance(canvas, int)
        else (int(canvas[0]), int(canvas[1]))
    )
    if min(h, w) < 16:
        raise DataError(f"canvas must be at least 16x16 pixels, got {h}x{w}")
    return h, w


def _check_range(
    name: str, pair: tuple[float, float], low: float, high: float
) -> tuple[float, float]:
    a, b = float(pair[0]), float(pair[1])
    if not low <= a <= b <= high:
        raise DataError(
            f"{name} must be (min, max) with {low} <= min <= max <= {high}, got {pair}"
        )
    return a, b


def _resized(pool: ObjectPool, index: int, height: int, width: int) -> Tensor:
    """The ink crop of pool image ``index`` resized to (height, width), float 0..255."""
    r0, r1, c0, c1 = pool.ink_box[index].tolist()
    crop = pool.images[index : index + 1, :, r0:r1, c0:c1].float()
    out = F.interpolate(
        crop, size=(height, width), mode="bilinear", antialias=True, align_corners=False
    )
    return out[0, 0].round().clamp(0.0, 255.0)


def _class_balanced(
    pool: ObjectPool, shape: tuple[int, int], g: torch.Generator
) -> Tensor:
    """Pool indices of ``shape``: a class drawn uniformly, then an item of it (a pool with
    55,000 clothes and 1,400 digits still gives every class the same share of objects)."""
    order = torch.argsort(pool.labels, stable=True)
    present, counts = torch.unique_consecutive(pool.labels[order], return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    which = torch.randint(len(present), shape, generator=g)
    within = (
        (torch.rand(shape, generator=g) * counts[which])
        .long()
        .clamp(max=counts[which] - 1)
    )
    return order[starts[which] + within]


def _iou_cover(box: list[float], placed: list[list[float]]) -> tuple[float, float]:
    """The largest IoU of ``box`` with any placed box, and the largest share of either box covered."""
    worst_iou, worst_cover = 0.0, 0.0
    area = (box[2] - box[0]) * (box[3] - box[1])
    for other in placed:
        iw = min(box[2], other[2]) - max(box[0], other[0])
        ih = min(box[3], other[3]) - max(box[1], other[1])
        if iw <= 0 or ih <= 0:
            continue
        inter = iw * ih
        other_area = (other[2] - other[0]) * (other[3] - other[1])
        worst_iou = max(worst_iou, inter / (area + other_area - inter))
        worst_cover = max(worst_cover, inter / min(area, other_area))
    return worst_iou, worst_cover


def _landmarks(boxes: Tensor) -> Tensor:
    """(K, 4) xyxy -> (K, 5, 2): centre, top_left, top_right, bottom_right, bottom_left."""
    x1, y1, x2, y2 = boxes.unbind(1)
    pts = [((x1 + x2) / 2, (y1 + y2) / 2), (x1, y1), (x2, y1), (x2, y2), (x1, y2)]
    return torch.stack([torch.stack(p, 1) for p in pts], 1)


def compose_scenes(
    pool: ObjectPool,
    n: int,
    *,
    seed: int = 0,
    classes: tuple[str, ...],
    canvas: int | tuple[int, int] = 96,
    objects: tuple[int, int] = (1, 4),
    one_object: bool = False,
    empty: float | None = None,
    scale: tuple[float, float] = (0.22, 0.5),
    aspect: tuple[float, float] = (0.7, 1.4),
    max_overlap: float = 0.3,
    max_cover: float = 0.4,
    clutter: tuple[int, int] = (0, 3),
    blobs: int = 3,
    noise: float = 5.0,
    background: float | None = None,
    source: str = "scenes",
) -> Composition:
    """``n`` scenes from ``pool``: images uint8 (n, 1, H, W) with boxes, labels and landmarks.

    canvas: side (or (H, W)) in pixels. objects: (min, max) objects per scene.
    one_object: exactly one object per scene (localization), or none with probability
    ``empty`` (default 0.1 in that mode, else 0: scenes with zero objects on purpose).
    scale: (min, max) of an object's longer side as a fraction of the canvas's shorter side.
    aspect: (min, max) width/height stretch applied to the crop (log-uniform).
    max_overlap / max_cover: placement bounds (IoU with, and covered share of, earlier boxes).
    background: None for a random gradient with blobs, or a flat grey level (e.g. 0: clean
    scenes whose only bright pixels are objects, for checks). clutter: (min, max) faint
    fragments of pool items in the background. blobs: Gaussian
    blob slots (bright or dark). noise: std of the Gaussian pixel noise in grey levels.
    """
    if n < 0:
        raise DataError(f"number of scenes must be >= 0, got {n}")
    h, w = _canvas_size(canvas)
    lo, hi = (1, 1) if one_object else (int(objects[0]), int(objects[1]))
    if not 0 <= lo <= hi <= 32:
        raise DataError(
            f"objects must be (min, max) with 0 <= min <= max <= 32, got {objects}"
        )
    empty = (0.1 if one_object else 0.0) if empty is None else float(empty)
    _check_range("empty", (empty, empty), 0.0, 1.0)
    s_lo, s_hi = _check_range("scale", scale, 0.05, 1.0)
    a_lo, a_hi = _check_range("aspect", aspect, 0.2, 5.0)
    c_lo, c_hi = _check_range("clutter", clutter, 0, 64)
    if len(pool) == 0:
        raise DataError("the object pool is empty; give it at least one image")
    if int(pool.labels.max()) >= len(classes) or int(pool.labels.min()) < 0:
        raise DataError(f"pool labels run {int(pool.labels.min())}..{int(pool.labels.max())} but there are "
                        f"{len(classes)} class names; give one name per label")  # fmt: skip
    g = torch.Generator().manual_seed(int(seed))
    # Every random number is drawn here, in a fixed order, so a seed fixes the scenes.
    counts = torch.randint(lo, hi + 1, (n,), generator=g) * (
        torch.rand(n, generator=g) >= empty
    )
    picks = _class_balanced(pool, (n, max(hi, 1)), g)
    sides = (s_lo + (s_hi - s_lo) * torch.rand(n, max(hi, 1), generator=g)) * min(h, w)
    stretch = torch.exp(
        math.log(a_lo)
        + (math.log(a_hi) - math.log(a_lo)) * torch.rand(n, max(hi, 1), generator=g)
    )
    spots = torch.rand(n, max(hi, 1), TRIES, 2, generator=g)
    n_frag = torch.randint(int(c_lo), int(c_hi) + 1, (n,), generator=g)
    frag = torch.rand(n, max(int(c_hi), 1), 7, generator=g)
    frag_pick = torch.randint(len(pool), (n, max(int(c_hi), 1)), generator=g)
    canvases = random_backgrounds(n, h, w, g, blobs)  # (n, h, w)
    if (
        background is not None
    ):  # the random draws above still happen: the seed fixes the objects
        canvases.fill_(float(background))
    noise_field = torch.randn(n, h, w, generator=g) * noise

    targets, object_ids, clutter_ids = [], [], []
    for i in range(n):
        img = canvases[i]
        clutter_ids.append(frag_pick[i, : int(n_frag[i])].clone())
        for j in range(int(n_frag[i])):
            paste_fragment(img, pool, int(frag_pick[i, j]), frag[i, j].tolist())
        boxes: list[list[float]] = []
        kept: list[int] = []
        for j in range(int(counts[i])):
            k = int(picks[i, j])
            r0, r1, c0, c1 = pool.ink_box[k].tolist()
            root_a = math.sqrt(float(stretch[i, j]))  # width x root_a, height / root_a
            ch, cw = (r1 - r0) / root_a, (c1 - c0) * root_a
            f = float(sides[i, j]) / max(ch, cw)
            ph, pw = max(2, min(h, round(ch * f))), max(2, min(w, round(cw * f)))
            patch = _resized(pool, k, ph, pw)
            mask = patch > INK_LEVEL
            if not bool(mask.any()):
                continue
            rows, cols = (
                mask.any(1).nonzero().flatten(),
                mask.any(0).nonzero().flatten(),
            )
            t, b, left, right = (
                int(rows[0]),
                int(rows[-1]) + 1,
                int(cols[0]),
                int(cols[-1]) + 1,
            )
            patch, mask = (
                patch[t:b, left:right],
                mask[t:b, left:right],
            )  # tight to the mask
            bh, bw = b - t, right - left
            for u, v in spots[i, j].tolist():
                y0, x0 = int(u * (h - bh + 1)), int(v * (w - bw + 1))
                box = [float(x0), float(y0), float(x0 + bw), float(y0 + bh)]
                iou, cover = _iou_cover(box, boxes)
                if iou <= max_overlap and cover <= max_cover:
                    region = img[y0 : y0 + bh, x0 : x0 + bw]
                    region[mask] = patch[
                        mask
                    ]  # opaque paste: the mask replaces what is under it
                    boxes.append(box)
                    kept.append(k)
                    break
        box_t = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
        ids = torch.tensor(kept, dtype=torch.int64)
        targets.append(Targets(box_t, pool.labels[ids].clone(), _landmarks(box_t)))
        object_ids.append(pool.ids[ids].clone())
        clutter_ids[-1] = pool.ids[clutter_ids[-1]]
    images = (
        (canvases + noise_field).round().clamp(0, 255).to(torch.uint8).unsqueeze(1)
    )  # (n, 1, h, w)
    scenes = DetectionSet(images, targets, tuple(classes), LANDMARK_NAMES, source, [])
    return Composition(scenes, object_ids, clutter_ids)
