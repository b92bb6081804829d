"""The detection data contract: images with their boxes, classes and landmarks.

Every detection source (generated scenes, YOLO text labels, COCO json) loads into a
:class:`DetectionSet`; training, evaluation, the writers and the pictures read it.

Formats (fixed here, relied on everywhere):

- ``images``: uint8 (N, C, H, W), 0..255, every image the same size (sources resize or
  letterbox users' images to one size and scale the boxes with them);
- ``boxes``: float32 (K, 4) per image, ``(x1, y1, x2, y2)`` in pixels of that image, with
  ``0 <= x1 < x2 <= W`` and ``0 <= y1 < y2 <= H`` (x to the right, y down; a box covering
  the whole image is ``(0, 0, W, H)``);
- ``labels``: int64 (K,), class indices into ``classes``;
- ``landmarks``: float32 (K, P, 2) ``(x, y)`` pixels, the points named by
  ``landmark_names`` in that order (P = 0 when a source has none).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from cnnkit.errors import DataError

__all__ = ["DetectionSet", "DetectionSplits", "Targets"]


@dataclass
class Targets:
    """The objects of one image: boxes (K, 4) xyxy pixels, labels (K,), landmarks (K, P, 2)."""

    boxes: Tensor
    labels: Tensor
    landmarks: Tensor | None = None

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def to(self, device: torch.device | str) -> Targets:
        marks = None if self.landmarks is None else self.landmarks.to(device)
        return Targets(self.boxes.to(device), self.labels.to(device), marks)


@dataclass
class DetectionSet:
    """Images of one size with their objects; ``targets[i]`` belongs to ``images[i]``."""

    images: Tensor
    targets: list[Targets]
    classes: tuple[str, ...]
    landmark_names: tuple[str, ...] = ()
    source: str = ""
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.images.dim() != 4 or self.images.dtype != torch.uint8:
            raise DataError(
                f"detection images must be uint8 (N, C, H, W), got {self.images.dtype} {tuple(self.images.shape)}"
            )
        if len(self.targets) != len(self.images):
            raise DataError(f"{len(self.images)} images but {len(self.targets)} target lists")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def image_size(self) -> tuple[int, int]:
        """(H, W) of every image."""
        return int(self.images.shape[2]), int(self.images.shape[3])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def subset(self, index: Tensor | list[int]) -> DetectionSet:
        rows = [int(i) for i in index]
        return DetectionSet(
            self.images[rows], [self.targets[i] for i in rows], self.classes,
            self.landmark_names, self.source, list(self.notes),
        )

    def all_boxes(self) -> Tensor:
        """Every box of every image, (sum K, 4), e.g. for anchor k-means."""
        boxes = [t.boxes for t in self.targets if len(t)]
        return torch.cat(boxes) if boxes else torch.zeros(0, 4)


@dataclass
class DetectionSplits:
    """train / val / test of one detection dataset (the same classes and image size)."""

    train: DetectionSet
    val: DetectionSet
    test: DetectionSet
