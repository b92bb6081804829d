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

This module holds :func:`make_scene_splits` (train / val / test scenes that never share a
source object). The pieces, imported from where they live:

- :mod:`cnnkit.detect.scene_pools`: :class:`ObjectPool`, :func:`scene_pools` (the disjoint
  Fashion-MNIST / digit pools; digits from MNIST when it is on disk, else scikit-learn's
  8x8 digits upscaled), :data:`INK_LEVEL`, :data:`SOURCE_SIDE`, :data:`ID_OFFSETS`;
- :mod:`cnnkit.detect.scene_compose`: :func:`compose_scenes` (placement rules: opaque
  pastes, IoU and cover bounds; one seeded generator), :class:`Composition`,
  :data:`LANDMARK_NAMES`, :data:`TRIES`;
- :mod:`cnnkit.detect.scene_background`: the gradient, blobs and clutter fragments.
"""

from __future__ import annotations

from pathlib import Path

from cnnkit.detect.sample import DetectionSplits
from cnnkit.detect.scene_compose import compose_scenes
from cnnkit.detect.scene_pools import scene_pools
from cnnkit.errors import DataError

__all__ = ["make_scene_splits"]


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
