"""Detection run directories: saving and loading a trained YOLO-style detector.

``runs/NAME/`` written by ``cnnkit detect train`` holds::

    config.json        everything needed to repeat the run (command, data, backbone, settings)
    metrics.jsonl      one JSON object per epoch: loss parts and val mAP@0.5
    model.safetensors  the weights; safetensors metadata key "cnnkit_detect" holds a JSON
                       string (:class:`DetectorMetadata`): backbone name or spec text, grid,
                       head width, anchors (w, h pixels), image size, channels, classes,
                       mean and std, format version
    report.md, pr_curve.png, predictions.png   written after training (run_train.py)

Loading never unpickles: the detector is rebuilt with :func:`build_yolo` from the metadata
and the weights are loaded strictly. A classifier run (``cnnkit train``, metadata key
"cnnkit") is recognized and refused with a message saying which command to use.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from cnnkit.atomic import save_tensors
from cnnkit.detect.yolo_model import YoloDetector, build_yolo
from cnnkit.errors import CnnkitError, RunError
from cnnkit.train.run import MODEL, RunDir, check_state

__all__ = [
    "FORMAT_VERSION",
    "KIND",
    "METADATA_KEY",
    "PREDICTIONS",
    "PR_CURVE",
    "REPORT",
    "DetectorMetadata",
    "LoadedDetector",
    "load_detector",
    "read_detector_metadata",
    "save_detector",
]

FORMAT_VERSION = 1
METADATA_KEY = "cnnkit_detect"
KIND = "yolo"
REPORT = "report.md"
PR_CURVE = "pr_curve.png"
PREDICTIONS = "predictions.png"


def _version() -> str:
    from cnnkit import __version__

    return __version__


@dataclass
class DetectorMetadata:
    """What rebuilds a detector: ``build_yolo(backbone, num_classes=len(classes), anchors=...,
    image_size=..., in_channels=..., grid=..., head_width=...)``; ``mean``/``std`` (C,) on the
    0..1 scale are the detector's normalization buffers (also in the weights)."""

    backbone: str
    classes: tuple[str, ...]
    anchors: list[list[float]]
    grid: int
    head_width: int
    image_size: tuple[int, int]
    in_channels: int
    mean: list[float]
    std: list[float]
    kind: str = KIND
    cnnkit_version: str = field(default_factory=_version)
    format_version: int = FORMAT_VERSION

    @classmethod
    def describe(cls, detector: YoloDetector, *, backbone: str, classes: tuple[str, ...] | list[str],
                 image_size: tuple[int, int]) -> DetectorMetadata:
        """Metadata of ``detector`` built by ``build_yolo(backbone, ...)`` for ``image_size`` (H, W)."""
        if len(classes) != detector.num_classes:
            raise RunError(f"{len(classes)} class names for a detector of {detector.num_classes} classes")
        return cls(
            backbone=backbone, classes=tuple(classes), anchors=detector.anchors.tolist(), grid=detector.grid,
            head_width=int(detector.head.conv.out_channels), image_size=(int(image_size[0]), int(image_size[1])),
            in_channels=int(detector.mean.numel()), mean=detector.mean.tolist(), std=detector.std.tolist(),
        )

    def to_json(self) -> str:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__}
        data["classes"], data["image_size"] = list(self.classes), list(self.image_size)
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> DetectorMetadata:
        data = json.loads(text)
        return cls(
            backbone=str(data["backbone"]), classes=tuple(str(c) for c in data["classes"]),
            anchors=[[float(v) for v in row] for row in data["anchors"]], grid=int(data["grid"]),
            head_width=int(data["head_width"]), image_size=(int(data["image_size"][0]), int(data["image_size"][1])),
            in_channels=int(data["in_channels"]), mean=[float(v) for v in data["mean"]],
            std=[float(v) for v in data["std"]], kind=str(data.get("kind", KIND)),
            cnnkit_version=str(data.get("cnnkit_version", "?")), format_version=int(data["format_version"]),
        )

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.in_channels, *self.image_size)

    def build(self) -> YoloDetector:
        """A freshly initialized detector of this architecture (RunError if it cannot be built)."""
        try:
            return build_yolo(self.backbone, num_classes=len(self.classes), anchors=self.anchors,
                              image_size=self.image_size, in_channels=self.in_channels, grid=self.grid,
                              head_width=self.head_width)
        except CnnkitError as err:
            raise RunError(
                f"cannot rebuild the run's detector on {_short(self.backbone)!r}: {err}; "
                f"was it written by another cnnkit version ({self.cnnkit_version})?"
            ) from None


def _short(text: str, limit: int = 60) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 3] + "..."


def save_detector(run: RunDir | str | Path, detector: YoloDetector, metadata: DetectorMetadata) -> Path:
    """Write RUN/model.safetensors: the detector's state dict + ``metadata`` as JSON."""
    run = run if isinstance(run, RunDir) else RunDir(run)
    state = detector.state_dict()
    # fail now, not at load time, if the metadata cannot rebuild it
    check_state(metadata.build().state_dict(), state, where="the detector being saved")
    return save_tensors(run.file(MODEL), state, metadata={METADATA_KEY: metadata.to_json()})


def read_detector_metadata(path: str | Path) -> DetectorMetadata:
    """The metadata in RUN/model.safetensors; RunError for a missing, corrupt or non-detection run."""
    from cnnkit.train.run_header import read_run_header

    raw = read_run_header(path, key=METADATA_KEY)
    model = RunDir(path).file(MODEL)
    try:
        meta = DetectorMetadata.from_json(raw)
    except (ValueError, KeyError, TypeError, IndexError) as err:
        raise RunError(f"{model} has unreadable detector metadata ({err!r}); retrain or restore it") from None
    if meta.format_version != FORMAT_VERSION:
        newer = meta.format_version > FORMAT_VERSION
        raise RunError(f"{model} is in detection run format {meta.format_version} but this cnnkit reads format "
                       f"{FORMAT_VERSION}; " + ("upgrade cnnkit to load it" if newer else "retrain the detector"))
    if meta.kind != KIND:
        raise RunError(f"{model} holds a {meta.kind!r} detector; this cnnkit loads {KIND!r} detectors only")
    return meta


@dataclass
class LoadedDetector:
    """A finished detection run: ``detector`` in eval mode with its weights loaded."""

    path: Path
    detector: YoloDetector
    metadata: DetectorMetadata
    config: dict[str, Any]
    metrics: list[dict[str, Any]]

    @property
    def classes(self) -> tuple[str, ...]:
        return self.metadata.classes


def load_detector(path: str | Path, *, device: torch.device | str = "cpu") -> LoadedDetector:
    """Open a detection run: rebuild the detector from its metadata, load the weights strictly."""
    from safetensors.torch import load_file

    meta = read_detector_metadata(path)
    run = RunDir(path)
    try:
        state = load_file(str(run.file(MODEL)), device="cpu")
    except Exception as err:
        raise RunError(f"{run.file(MODEL)} is corrupt ({err}); retrain or restore it") from None
    detector = meta.build()
    check_state(detector.state_dict(), state, where=str(run.file(MODEL)))
    detector.load_state_dict(state, strict=True)
    detector.to(device).eval()
    config = run.read_config() if run.file("config.json").is_file() else {}
    return LoadedDetector(run.path, detector, meta, config, run.read_metrics())
