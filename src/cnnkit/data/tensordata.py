"""In-memory datasets: the contract between data sources, the trainer and evaluation.

Every named source (``fashion-mnist``, ``digits``, ``folder:PATH`` ...) loads into a
:class:`Splits`: three :class:`TensorSplit` parts and one :class:`DatasetInfo`.

Storage formats (chosen so a whole dataset fits in memory, and on the GPU when training
there, and batches are cheap slices):

- images: ``x`` uint8 (N, C, H, W), raw pixel values 0..255
- volumes: ``x`` uint8 (N, C, D, H, W), 0..255
- signals: ``x`` float32 (N, C, L), already on a sensible scale (no /255)
- labels: ``y`` int64 (N,), class indices 0..num_classes-1

The model sees ``(x.float() / scale - mean) / std`` per channel, where ``scale`` is 255
for uint8 storage and 1 for float storage: :meth:`DatasetInfo.normalize` does exactly
this, on whatever device the batch is on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import Tensor

if TYPE_CHECKING:
    from cnnkit.data.filesplit import FileSplit

__all__ = ["DatasetInfo", "Kind", "Splits", "TensorSplit"]

Kind = Literal["image", "signal", "volume"]


@dataclass(frozen=True)
class DatasetInfo:
    """What a model needs to know about the data: shapes, classes, normalization, augmentation.

    ``mean`` and ``std`` are per channel in model-input units (after dividing uint8 by 255).
    ``flip_ok`` says whether a horizontal flip keeps the label (true for clothes, false
    for digits and signals); augmentation defaults read it.
    """

    name: str
    kind: Kind
    input_shape: tuple[int, ...]  # without batch: (C, H, W), (C, L) or (C, D, H, W)
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    flip_ok: bool = False
    source: str = ""  # where the data came from (a path, a package), for reports

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def scale(self) -> float:
        """Divide stored values by this before normalizing (255 for uint8 storage)."""
        return 1.0 if self.kind == "signal" else 255.0

    def normalize(self, x: Tensor) -> Tensor:
        """Stored batch (N, C, ...) -> float model input on the same device.

        (x / scale - mean) / std per channel; the result is float32.
        """
        x = x.float()
        if self.scale != 1.0:
            x = x / self.scale
        shape = (1, -1) + (1,) * (x.dim() - 2)
        mean = torch.tensor(self.mean, device=x.device).view(shape)
        std = torch.tensor(self.std, device=x.device).view(shape)
        return (x - mean) / std

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("input_shape", "classes", "mean", "std"):
            data[key] = list(data[key])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetInfo:
        return cls(
            name=str(data["name"]),
            kind=data["kind"],
            input_shape=tuple(int(v) for v in data["input_shape"]),
            classes=tuple(str(c) for c in data["classes"]),
            mean=tuple(float(v) for v in data["mean"]),
            std=tuple(float(v) for v in data["std"]),
            flip_ok=bool(data.get("flip_ok", False)),
            source=str(data.get("source", "")),
        )


@dataclass
class TensorSplit:
    """One split held in memory: ``x`` (N, C, ...) in the storage format, ``y`` int64 (N,)."""

    x: Tensor
    y: Tensor

    def __post_init__(self) -> None:
        if self.x.shape[0] != self.y.shape[0]:
            raise ValueError(f"x has {self.x.shape[0]} samples but y has {self.y.shape[0]}")

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """One sample's stored shape, (C, H, W) / (C, L) / (C, D, H, W)."""
        return tuple(self.x.shape[1:])

    @property
    def dtype(self) -> torch.dtype:
        return self.x.dtype

    def to(self, device: torch.device | str) -> TensorSplit:
        return TensorSplit(self.x.to(device), self.y.to(device))

    def subset(self, index: Tensor) -> TensorSplit:
        return TensorSplit(self.x[index], self.y[index])


@dataclass
class Splits:
    """train / val / test parts of one dataset plus its :class:`DatasetInfo`.

    ``val`` is carved from the training data with a seed (never from test). A ``folder:``
    set too big for memory has :class:`~cnnkit.data.filesplit.FileSplit` parts instead
    (same interface, batches streamed from disk by :func:`cnnkit.data.loader.batches`).
    """

    train: TensorSplit | FileSplit
    val: TensorSplit | FileSplit
    test: TensorSplit | FileSplit
    info: DatasetInfo
    notes: list[str] = field(default_factory=list)  # e.g. "found under /usr/share/datasets/..."
