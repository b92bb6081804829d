"""Detection scenes made of real object images: Fashion-MNIST items (and digits) on a canvas.

Every scene is a grey ``(1, H, W)`` uint8 canvas (96x96 by default) holding a few real
28x28 object images, each cropped to its ink, resized to a random scale and aspect ratio
and pasted at a random place, over a cluttered background (a brightness gradient, soft
blobs and faint fragments of other items) plus pixel noise.

What a scene carries (see :class:`cnnkit.detect.sample.DetectionSet`):

- ``boxes``: float32 (K, 4) ``(x1, y1, x2, y2)`` pixel edges, tight: the extent of the
  pasted object's pixels brighter than :data:`INK_LEVEL` (the object mask); a box whose
  object is partly covered by a later object keeps the whole object's extent;
- ``labels``: int64 (K,): 0..9 the Fashion-MNIST classes; with ``digits=True`` also
  10..19 for the handwritten digits ("digit 0" .. "digit 9");
- ``landmarks``: float32 (K, 5, 2) ``(x, y)``: :data:`LANDMARK_NAMES` = centre, then the
  box corners clockwise from the top left.

Objects are pasted opaquely (mask pixels replace the canvas), later ones over earlier
ones; a new object is placed only where its box has IoU <= ``max_overlap`` with every
earlier box and covers at most ``max_cover`` of any of them (so each stays identifiable).
All randomness comes from one ``torch.Generator`` seeded by ``seed``.

Digits come from MNIST when it is on disk, else from scikit-learn's bundled 8x8 digits
upscaled to 28x28 (antialiased bilinear); the set's ``notes`` say which.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from cnnkit.detect.sample import DetectionSet, DetectionSplits, Targets
from cnnkit.errors import DataError

LANDMARK_NAMES = ("centre", "top_left", "top_right", "bottom_right", "bottom_left")
INK_LEVEL = (
    24  # an object pixel brighter than this belongs to the object (mask and box)
)
SOURCE_SIDE = 28  # every pool image is 28x28 (8x8 digits are upscaled to it)
TRIES = 24  # placements tried per object before it is left out of a crowded scene
# Global source ids (offset + index in that file), so splits can be checked for shared objects.
ID_OFFSETS = {"fashion-train": 0, "fashion-test": 60_000, "mnist-train": 100_000,
              "mnist-test": 160_000, "sklearn-digits": 200_000}  # fmt: skip


@dataclass
class ObjectPool:
    """Source objects for scenes: ``images`` uint8 (M, 1, 28, 28), ``labels`` int64 (M,)
    (scene class indices), ``ids`` int64 (M,) global source ids (see :data:`ID_OFFSETS`)."""

    images: Tensor
    labels: Tensor
    ids: Tensor

    def __post_init__(self) -> None:
        if (
            self.images.dim() != 4
            or self.images.shape[1] != 1
            or self.images.dtype != torch.uint8
        ):
            raise DataError(
                f"pool images must be uint8 (M, 1, H, W), got {self.images.dtype} {tuple(self.images.shape)}"
            )
        if not len(self.images) == len(self.labels) == len(self.ids):
            raise DataError("pool images, labels and ids must have the same length")
        ink = self.images[:, 0] > INK_LEVEL  # (M, h, w)
        if not bool(ink.flatten(1).any(1).all()):
            raise DataError(
                f"every pool image needs pixels brighter than {INK_LEVEL} (an object to crop)"
            )
        # The ink's bounding box per image, as [row0, row1) and [col0, col1): crops are taken from it.
        rows, cols = ink.any(2), ink.any(1)  # (M, h), (M, w)
        self.ink_box = torch.stack(
            [_first(rows), _last(rows), _first(cols), _last(cols)], 1
        )

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def concat(self, other: ObjectPool) -> ObjectPool:
        return ObjectPool(torch.cat([self.images, other.images]), torch.cat([self.labels, other.labels]),
                          torch.cat([self.ids, other.ids]))  # fmt: skip


def _first(mask: Tensor) -> Tensor:
    return mask.to(torch.uint8).argmax(1)


def _last(mask: Tensor) -> Tensor:
    return mask.shape[1] - mask.flip(1).to(torch.uint8).argmax(1)


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


def _background(n: int, h: int, w: int, g: torch.Generator, blobs: int) -> Tensor:
    """(n, h, w) float backgrounds: a base level, a linear gradient in a random direction and
    up to ``blobs`` soft Gaussian blobs; all scenes at once."""
    ys = torch.arange(h, dtype=torch.float32).view(1, h, 1) / h
    xs = torch.arange(w, dtype=torch.float32).view(1, 1, w) / w
    base = torch.rand(n, 1, 1, generator=g) * 30.0
    angle = torch.rand(n, 1, 1, generator=g) * (2 * math.pi)
    slope = torch.rand(n, 1, 1, generator=g) * 40.0  # grey levels across the canvas
    ramp = (xs - 0.5) * angle.cos() + (
        ys - 0.5
    ) * angle.sin()  # (n, h, w), about -0.7..0.7
    out = base + 20.0 + slope * ramp
    centres = torch.rand(n, blobs, 2, generator=g)  # (n, B, 2) as fractions (y, x)
    sigma = (0.06 + 0.14 * torch.rand(n, blobs, generator=g)) * min(
        h, w
    )  # (n, B) pixels
    amp = torch.rand(n, blobs, generator=g) * 70.0 - 25.0  # bright and dark blobs
    amp = amp * (
        torch.rand(n, blobs, generator=g) < 0.6
    )  # about 60 % of blob slots used
    for b in range(blobs):  # a Gaussian is separable: (n, h, 1) x (n, 1, w) per blob
        s2 = (2 * sigma[:, b] ** 2).view(n, 1, 1)
        gy = torch.exp(-((ys * h - centres[:, b, 0].view(n, 1, 1) * h) ** 2) / s2)
        gx = torch.exp(-((xs * w - centres[:, b, 1].view(n, 1, 1) * w) ** 2) / s2)
        out = out + amp[:, b].view(n, 1, 1) * gy * gx
    return out.clamp(0.0, 255.0)


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
    canvases = _background(n, h, w, g, blobs)  # (n, h, w)
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
            _paste_fragment(img, pool, int(frag_pick[i, j]), frag[i, j].tolist())
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


def _taper(n: int) -> Tensor:
    """(n,) sin(pi * (k + 1) / (n + 1)): 1 in the middle, falling towards 0 at both ends."""
    return torch.sin(torch.arange(1, n + 1, dtype=torch.float32) * (math.pi / (n + 1)))


def _paste_fragment(img: Tensor, pool: ObjectPool, index: int, r: list[float]) -> None:
    """A faint piece of a pool item (a third to two thirds of it, 0.2-0.45 of its brightness,
    resized 0.6-1.6x) blended into the background with ``max`` so it reads as texture."""
    h, w = img.shape
    side = SOURCE_SIDE
    fh, fw = int(side * (0.33 + 0.33 * r[0])), int(side * (0.33 + 0.33 * r[1]))
    top, left = int(r[2] * (side - fh)), int(r[3] * (side - fw))
    zoom = 0.6 + r[4]
    ph, pw = max(2, min(h, round(fh * zoom))), max(2, min(w, round(fw * zoom)))
    piece = pool.images[index : index + 1, :, top : top + fh, left : left + fw].float()
    piece = F.interpolate(
        piece, size=(ph, pw), mode="bilinear", antialias=True, align_corners=False
    )[0, 0]
    # A sine taper: the piece fades out towards its edges (a smudge, not a tile).
    piece = piece * (_taper(ph)[:, None] * _taper(pw)[None, :])
    y0, x0 = int(r[5] * (h - ph + 1)), int(r[6] * (w - pw + 1))
    region = img[y0 : y0 + ph, x0 : x0 + pw]
    torch.maximum(region, region + piece * (0.2 + 0.25 * r[0]) - 10.0, out=region)


# --- the named pools and the three splits -------------------------------------------------


def _digit_pools(
    root: str | Path | None, val_fraction: float, seed: int
) -> tuple[list[ObjectPool], str]:
    """(train, val, test) digit pools with labels 10..19: MNIST if on disk, else sklearn's 8x8."""
    from cnnkit.data import mnist

    if mnist.locate("mnist", root) is not None:
        raw = mnist.load("mnist", root=root, download=False)
        train = ObjectPool(
            raw.train.x,
            raw.train.y + 10,
            torch.arange(len(raw.train.y)) + ID_OFFSETS["mnist-train"],
        )
        test = ObjectPool(
            raw.test.x,
            raw.test.y + 10,
            torch.arange(len(raw.test.y)) + ID_OFFSETS["mnist-test"],
        )
        note = f"digits: MNIST from {raw.source}"
    else:
        from cnnkit.data import digits

        raw = digits.load()
        x = F.interpolate(raw.train.x.float(), size=(SOURCE_SIDE, SOURCE_SIDE), mode="bilinear",
                          antialias=True, align_corners=False).round().clamp(0, 255).to(torch.uint8)  # fmt: skip
        every = ObjectPool(
            x, raw.train.y + 10, torch.arange(len(x)) + ID_OFFSETS["sklearn-digits"]
        )
        order = torch.randperm(
            len(every), generator=torch.Generator().manual_seed(1234)
        )
        n_test = round(0.2 * len(every))  # a fixed test part, whatever the seed
        test, train = _subset(every, order[:n_test]), _subset(every, order[n_test:])
        note = "digits: MNIST is not on disk, so scikit-learn's 8x8 digits upscaled to 28x28 (blurrier than MNIST)"
    train, val = _split_off(train, val_fraction, seed)
    return [train, val, test], note


def _subset(pool: ObjectPool, index: Tensor) -> ObjectPool:
    index = index.sort().values
    return ObjectPool(pool.images[index], pool.labels[index], pool.ids[index])


def _split_off(
    pool: ObjectPool, fraction: float, seed: int
) -> tuple[ObjectPool, ObjectPool]:
    """(rest, held-out ``fraction``), a seeded random split of the pool's images."""
    order = torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed))
    n_val = max(1, round(fraction * len(pool)))
    return _subset(pool, order[n_val:]), _subset(pool, order[:n_val])


def scene_pools(
    *,
    seed: int = 0,
    val_fraction: float = 0.1,
    digits: bool = False,
    root: str | Path | None = None,
    download: bool = False,
) -> tuple[tuple[ObjectPool, ObjectPool, ObjectPool], tuple[str, ...], list[str]]:
    """Disjoint (train, val, test) object pools, the class names and notes.

    Fashion-MNIST train images minus a seeded ``val_fraction`` -> train; that held-out part
    -> val; the Fashion-MNIST test set -> test. With ``digits`` the same for the digits.
    """
    from cnnkit.data import mnist

    if not 0.0 < val_fraction < 1.0:
        raise DataError(f"val_fraction must be in (0, 1), got {val_fraction}")
    raw = mnist.load("fashion-mnist", root=root, download=download)
    train = ObjectPool(
        raw.train.x,
        raw.train.y,
        torch.arange(len(raw.train.y)) + ID_OFFSETS["fashion-train"],
    )
    test = ObjectPool(
        raw.test.x,
        raw.test.y,
        torch.arange(len(raw.test.y)) + ID_OFFSETS["fashion-test"],
    )
    train, val = _split_off(train, val_fraction, seed)
    pools = [train, val, test]
    classes = tuple(mnist.FASHION_CLASSES)
    note = (
        f"objects: Fashion-MNIST from {raw.source}; train scenes use its train images less a held-out "
        f"{val_fraction:.0%} (val scenes), test scenes its test images"
    )
    notes = [note]
    if digits:
        digit_pools, note = _digit_pools(root, val_fraction, seed)
        pools = [p.concat(d) for p, d in zip(pools, digit_pools)]
        classes += tuple(f"digit {d}" for d in range(10))
        notes.append(note)
    return (pools[0], pools[1], pools[2]), classes, notes


def make_scene_splits(
    n_train: int,
    n_val: int,
    n_test: int,
    *,
    seed: int = 0,
    digits: bool = False,
    val_fraction: float = 0.1,
    root: str | Path | None = None,
    download: bool = False,
    **scene: object,
) -> DetectionSplits:
    """train / val / test scenes that never share a source object (see :func:`scene_pools`).

    ``scene`` options go to :func:`compose_scenes` (canvas, objects, one_object, empty,
    scale, aspect, max_overlap, max_cover, clutter, blobs, noise, background); unknown ones are rejected.
    The three splits use seeds ``seed``, ``seed + 1`` and ``seed + 2``.
    """
    allowed = {"canvas", "objects", "one_object", "empty", "scale", "aspect", "max_overlap",
               "max_cover", "clutter", "blobs", "noise", "background"}  # fmt: skip
    unknown = sorted(set(scene) - allowed)
    if unknown:
        from cnnkit.errors import did_you_mean

        raise DataError(f"unknown scene option {unknown[0]!r}{did_you_mean(unknown[0], allowed)}; "
                        f"choose from {', '.join(sorted(allowed))}")  # fmt: skip
    pools, classes, notes = scene_pools(seed=seed, val_fraction=val_fraction, digits=digits, root=root,
                                        download=download)  # fmt: skip
    parts = []
    for k, (name, n, pool) in enumerate(
        zip(("train", "val", "test"), (n_train, n_val, n_test), pools)
    ):
        made = compose_scenes(
            pool, n, seed=seed + k, classes=classes, source=f"scenes:{name}", **scene
        )  # type: ignore[arg-type]
        made.scenes.notes.extend(notes)
        parts.append(made.scenes)
    return DetectionSplits(parts[0], parts[1], parts[2])
