"""Training, evaluating and applying a detection run (what ``cnnkit detect train|eval|predict`` do).

- :func:`train_run`: data -> k-means anchors -> :func:`build_yolo` -> :func:`fit` (one
  line and one metrics.jsonl record per epoch) -> model.safetensors -> test evaluation ->
  report.md, pr_curve.png, predictions.png.
- :func:`evaluate`: predictions at a low confidence (0.01, so the whole precision-recall
  curve counts, every class scored) and :func:`cnnkit.detect.evaluate.detection_map` on them.
- :func:`predict_files`: image files of any size, letterboxed to the run's size; boxes are
  mapped back to the file's own pixels.

Threads: ``threads=0`` (the default) keeps torch's own setting, every core: on the quiet
2-core CPU two threads train these detectors 1.9x faster than one. On a CPU shared with other
jobs, one thread can be faster (the threads wait for each other). The previous setting is
restored afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from cnnkit.detect.data import DataOptions, resolve_data
from cnnkit.detect.run import (
    PR_CURVE,
    PREDICTIONS,
    REPORT,
    DetectorMetadata,
    LoadedDetector,
    save_detector,
)
from cnnkit.detect.sample import DetectionSet
from cnnkit.detect.yolo_model import YoloDetector
from cnnkit.errors import CnnkitError, DataError
from cnnkit.numbers import check_range
from cnnkit.train.device import check_threads, choose_device, torch_threads
from cnnkit.train.run import RunDir

__all__ = [
    "EVAL_CONF",
    "NMS_IOU",
    "SHOWN_SCENES",
    "SHOW_CONF",
    "FileDetections",
    "TrainSettings",
    "check_settings_numbers",
    "evaluate",
    "images_per_second",
    "letterbox",
    "picture_paths",
    "predict_files",
    "predictions_figure",
    "report_text",
    "train_run",
    "write_outputs",
]

EVAL_CONF = 0.01  # confidence floor for mAP: low, so the curve reaches high recall
NMS_IOU = 0.45
SHOW_CONF = 0.25  # confidence floor of the boxes drawn in predictions.png
SHOWN_SCENES = 8


@dataclass(frozen=True)
class TrainSettings:
    """Everything ``cnnkit detect train`` needs besides the output folder."""

    backbone: str = "quicknet"
    data: str = "scenes"
    data_options: DataOptions = field(default_factory=DataOptions)
    epochs: int = 12
    batch_size: int = 32
    lr: float = 3e-3
    anchors: int = 5
    grid: int | None = None  # None: the trunk's own grid (12x12 for quicknet on 96x96 scenes)
    head_width: int = 64
    ema_horizon: float = 0.1  # see FitConfig.ema_horizon
    seed: int = 0
    threads: int = 0  # 0: torch's default (every core)
    device: str = "auto"  # where training runs (auto: cuda, mps, cpu); inference speed is measured on the CPU
    command: str = ""


def train_run(out: str | Path, settings: TrainSettings, *, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train a detector into the new run directory ``out``; returns the test evaluation dict
    (see :func:`evaluate`) plus ``train_seconds`` and ``images_per_second``."""
    from cnnkit.detect.anchors import kmeans_anchors
    from cnnkit.detect.data import known_side
    from cnnkit.detect.yolo_fit import FitConfig, fit
    from cnnkit.detect.yolo_model import build_yolo, check_backbone
    from cnnkit.nn.build import looks_like_spec, model_entry, read_spec_text

    if settings.epochs < 1 or settings.batch_size < 1 or settings.anchors < 1:
        raise CnnkitError("epochs, batch size and anchors must be at least 1; fix the options")
    check_settings_numbers(settings)
    from cnnkit.data.reference import absolute_reference

    settings = replace(settings, data=absolute_reference(settings.data))  # the run works from anywhere
    device = choose_device(settings.device)  # an unavailable device fails before any work
    backbone = read_spec_text(settings.backbone) if looks_like_spec(settings.backbone) else settings.backbone
    if not looks_like_spec(backbone):
        model_entry(backbone)  # an unknown zoo name fails now, not after the data is made
    RunDir.check_free(out, resumable=False)  # a folder that already holds a run fails now
    side = known_side(settings.data, settings.data_options)
    if side is not None:  # a trunk that cannot take the images fails now, not after loading them
        check_backbone(backbone, (side, side))
    splits = resolve_data(settings.data, settings.data_options)
    train, val, test = splits.train, splits.val, splits.test
    log(f"data {settings.data}: {len(train)} train, {len(val)} val, {len(test)} test images of "
        f"{train.image_size[0]}x{train.image_size[1]}, {train.num_classes} classes")
    for note in dict.fromkeys(train.notes + test.notes):
        log(f"  note: {note}")
    fitted = kmeans_anchors(train, settings.anchors, seed=settings.seed)
    log(f"anchors (k-means, avg IoU {fitted.avg_iou:.3f}): "
        + ", ".join(f"{w:.0f}x{h:.0f}" for w, h in fitted.anchors.tolist()))
    detector = build_yolo(backbone, num_classes=train.num_classes, anchors=fitted.anchors,
                          image_size=train.image_size, in_channels=int(train.images.shape[1]),
                          grid=settings.grid, head_width=settings.head_width,
                          generator=torch.Generator().manual_seed(settings.seed))
    run = RunDir.create(out, resumable=False)  # only now: a failure above leaves no empty folder
    fit_config = FitConfig(epochs=settings.epochs, batch_size=settings.batch_size, lr=settings.lr, seed=settings.seed,
                           ema_horizon=settings.ema_horizon)
    config = {
        "kind": "detect", "command": settings.command, **_settings_dict(settings), "backbone": backbone,
        "fit": asdict(fit_config), "anchors_wh": fitted.anchors.tolist(), "anchor_avg_iou": fitted.avg_iou,
        "grid_used": detector.grid, "image_size": list(train.image_size), "classes": list(train.classes),
    }
    run.write_config(config)

    def record(rec: dict[str, float]) -> None:
        line = {k: (int(v) if k == "epoch" else round(v, 6)) for k, v in rec.items()}
        run.append_metrics(line)
        log(f"epoch {line['epoch']}/{settings.epochs}: loss {rec['loss']:.4f} (box {rec['box']:.3f}, "
            f"obj {rec['obj']:.3f}, noobj {rec['noobj']:.3f}, cls {rec['cls']:.3f}) "
            f"val mAP@0.5 {rec.get('map50', float('nan')):.3f}  {rec['seconds']:.1f}s")

    started = time.perf_counter()
    with torch_threads(settings.threads):
        fit(detector, train, fit_config, val=val, log=record, device=device)
        train_seconds = time.perf_counter() - started
        detector.to("cpu")
        meta = DetectorMetadata.describe(detector, backbone=backbone, classes=train.classes,
                                         image_size=train.image_size)
        save_detector(run, detector, meta)
        result = evaluate(detector, test, train.classes)
        # the picture shows each object once, under its best class (as `detect predict` does)
        shown = detector.predict(test.images[:SHOWN_SCENES], conf_threshold=SHOW_CONF, iou_threshold=NMS_IOU,
                                 class_agnostic=True)
        result["images_per_second"] = images_per_second(detector, test.images)
        result["threads"] = torch.get_num_threads()
    result["train_seconds"] = train_seconds
    write_outputs(run, result, shown, test, train.classes, settings.command)
    log(f"test mAP@0.5 {_fmt(result['map_50'])}, mAP@[.5:.95] {_fmt(result['map'])}; "
        f"{result['images_per_second']:.0f} images/s; trained in {train_seconds:.0f}s; wrote {run.path}")
    return result


def check_settings_numbers(settings: TrainSettings) -> None:
    """CnnkitError for a non-finite or out-of-range float setting or thread count (an ``inf``
    learning rate trains to NaN weights without a word), before any data is made."""
    check_range("--lr", settings.lr, 0, strict=True)
    check_range("--ema", settings.ema_horizon, 0, 1)
    options = settings.data_options
    check_range("--val-fraction", options.val_fraction, 0, 1, strict=True)
    check_range("--test-fraction", options.test_fraction, 0, 1, strict=True)
    check_threads(settings.threads)


def _settings_dict(settings: TrainSettings) -> dict[str, Any]:
    data = asdict(settings)
    data["data_options"] = settings.data_options.to_dict()
    return data


def evaluate(detector: YoloDetector, data: DetectionSet, classes: Sequence[str]) -> dict[str, Any]:
    """``detection_map`` dict for ``data``: predictions at confidence >= 0.01 for every class
    (``multi_label``, as COCO-style evaluation scores a detector), per-class NMS at IoU 0.45,
    at most 100 per image."""
    from cnnkit.detect.evaluate import detection_map

    if tuple(data.classes) != tuple(classes):
        raise DataError(f"the data's classes {list(data.classes)} differ from the run's {list(classes)}; "
                        "evaluate on data with the classes the detector was trained on")
    found = detector.predict(data.images, conf_threshold=EVAL_CONF, iou_threshold=NMS_IOU, multi_label=True)
    found = [{k: v.cpu() for k, v in f.items()} for f in found]  # beside the targets, wherever the detector ran
    return detection_map(found, data.targets, classes)


def images_per_second(detector: YoloDetector, images: Tensor, *, batch_size: int = 64) -> float:
    """Inference speed on ``images`` (N, C, H, W): forward, decode and NMS at confidence 0.25,
    after one warm-up batch; at most 512 images are timed."""
    images = images[:512]
    detector.predict(images[:batch_size], batch_size=batch_size)
    start = time.perf_counter()
    detector.predict(images, batch_size=batch_size)
    return len(images) / max(time.perf_counter() - start, 1e-9)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def write_outputs(run: RunDir, result: dict[str, Any], predictions: list, test: DetectionSet,
                  classes: Sequence[str], command: str) -> None:
    """report.md, pr_curve.png and predictions.png (``predictions`` of the first test scenes)."""
    from cnnkit.atomic import save_figure, write_text
    from cnnkit.detect.evaluate import pr_curve_figure

    save_figure(run.file(PR_CURVE), pr_curve_figure(result), dpi=120)
    save_figure(run.file(PREDICTIONS), predictions_figure(test, predictions, classes), dpi=110)
    write_text(run.file(REPORT), report_text(result, command=command, title=run.path.name))


def report_text(result: dict[str, Any], *, command: str, title: str) -> str:
    """The run's report.md: headline figures, per-class AP table, files."""
    lines = [f"# Detection run {title}", "", f"Command: `{command}`" if command else "", "",
             f"- test mAP@0.5: **{_fmt(result['map_50'])}**",
             f"- test mAP@[.5:.95] (COCO): {_fmt(result['map'])}",
             f"- mean IoU of matched boxes: {_fmt(result.get('mean_iou'))}",
             (f"- test images: {result['images']}, objects: {result['targets']}, "
              f"predictions (conf >= {EVAL_CONF}, every class scored): {result['predictions']}")]
    if "train_seconds" in result:
        lines.append(f"- training time: {result['train_seconds']:.1f} s")
    if "images_per_second" in result:
        lines.append(f"- inference: {result['images_per_second']:.0f} images/s "
                     f"({result.get('threads', '?')} threads, CPU, conf 0.25)")
    lines += ["", "| class | AP@0.5 | AP@[.5:.95] | objects | predictions |", "|---|---:|---:|---:|---:|"]
    for name, row in result["per_class"].items():
        lines.append(f"| {name} | {_fmt(row['ap_50'])} | {_fmt(row['ap'])} | {row['targets']} | {row['predictions']} |")
    lines += ["", (f"Pictures: [{PR_CURVE}]({PR_CURVE}), [{PREDICTIONS}]({PREDICTIONS}) "
                   "(predicted boxes at confidence >= 0.25 beside the ground truth)."), ""]
    return "\n".join(lines)


def predictions_figure(data: DetectionSet, predictions: list, classes: Sequence[str], *,
                       count: int = SHOWN_SCENES, conf: float = SHOW_CONF) -> Any:
    """Up to ``count`` scenes (no more than ``predictions`` has), each as a pair: predicted
    boxes (score >= ``conf``) | ground truth."""
    from matplotlib.figure import Figure

    from cnnkit.detect.draw import draw_on_axes

    count = min(count, len(data), len(predictions))
    cols = 4  # two scenes per row, each as prediction + truth
    rows = max(1, -(-count // 2))
    fig = Figure(figsize=(cols * 2.4, rows * 2.6), layout="constrained")
    for k in range(count):
        p = predictions[k]
        keep = p["scores"] >= conf
        ax = fig.add_subplot(rows, cols, 2 * k + 1)
        draw_on_axes(ax, data.images[k], p["boxes"][keep], p["labels"][keep], classes=classes,
                     scores=p["scores"][keep], title=f"scene {k}: predicted", empty=f"no box above {conf:g}")
        ax = fig.add_subplot(rows, cols, 2 * k + 2)
        t = data.targets[k]
        draw_on_axes(ax, data.images[k], t.boxes, t.labels, classes=classes, title=f"scene {k}: truth")
    return fig


@dataclass
class FileDetections:
    """Detections in one image file, in its own pixels; ``error`` set when it could not be read."""

    path: Path
    boxes: Tensor | None = None  # (K, 4) xyxy pixels of the original file
    scores: Tensor | None = None  # (K,)
    labels: Tensor | None = None  # (K,) int64
    classes: tuple[str, ...] = ()
    output: Path | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        if not self.ok:
            return {"file": str(self.path), "error": self.error}
        assert self.boxes is not None and self.scores is not None and self.labels is not None
        found = [{"class": self.classes[int(c)], "label": int(c), "score": round(float(s), 4),
                  "box": [round(v, 1) for v in b.tolist()]}
                 for b, s, c in zip(self.boxes, self.scores, self.labels)]
        return {"file": str(self.path), "output": str(self.output), "detections": found}

    def lines(self) -> list[str]:
        if not self.ok:
            return [f"{self.path}: error: {self.error}"]
        data = self.to_dict()
        n = len(data["detections"])
        head = f"{self.path}: {n} object{'' if n == 1 else 's'} -> {self.output}"
        return [head] + [f"  {d['class']} {d['score']:.2f} at ({', '.join(f'{v:.0f}' for v in d['box'])})"
                         for d in data["detections"]]


def letterbox(path: str | Path, *, channels: int, size: tuple[int, int]) -> tuple[Tensor, Tensor, float, tuple[int, int]]:
    """Read an image file -> (letterboxed uint8 (C, H, W) of ``size``, original uint8 (C, h, w),
    scale, (x offset, y offset)): scaled to fit keeping its aspect ratio, centred on black
    (as the YOLO/COCO readers do). A box in letterbox pixels maps back as (b - offset) / scale."""
    import numpy as np
    from PIL import Image, ImageOps, UnidentifiedImageError

    from cnnkit.data.images import _to_mode, quiet_size_warning

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file" + ("" if not path.exists() else " (a folder?)"))
    try:
        with quiet_size_warning(), Image.open(path) as opened:
            opened.load()
            image = _to_mode(ImageOps.exif_transpose(opened) or opened, channels)
    except UnidentifiedImageError:
        raise DataError(f"{path}: not an image Pillow can read (PNG, JPEG, BMP, ...)") from None
    except Image.DecompressionBombError as err:  # as cnnkit.data.images.load_image says it
        raise DataError(f"{path}: refused as too large to decode safely ({err}); scale it down first") from None
    except (OSError, ValueError, SyntaxError) as err:
        raise DataError(f"{path}: damaged or truncated image ({err})") from None
    width, height = image.size  # type: ignore[attr-defined]
    out_h, out_w = size
    scale = min(out_w / width, out_h / height)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    ox, oy = (out_w - new_w) // 2, (out_h - new_h) // 2

    def tensor(im: Any) -> Tensor:
        array = torch.from_numpy(np.array(im, dtype=np.uint8))
        return array.unsqueeze(0) if array.dim() == 2 else array.permute(2, 0, 1).contiguous()

    original = tensor(image)
    resized = tensor(image.resize((new_w, new_h), Image.Resampling.BILINEAR))  # type: ignore[attr-defined]
    boxed = torch.zeros(channels, out_h, out_w, dtype=torch.uint8)
    boxed[:, oy : oy + new_h, ox : ox + new_w] = resized
    return boxed, original, scale, (ox, oy)


def picture_paths(paths: Sequence[str | Path], out_dir: str | Path) -> list[Path]:
    """Where :func:`predict_files` draws each input: OUT_DIR/<stem>.png, or <stem>-<k>.png (k
    the input's position) when an earlier input took that name. CnnkitError, before any work,
    when OUT_DIR is a file or a picture would be written over one of the input files."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise CnnkitError(f"{out} is a file; give a folder for the pictures with -o")
    inputs = {Path(p).resolve(): Path(p) for p in paths}
    targets: list[Path] = []
    for k, raw in enumerate(paths):
        stem = Path(raw).stem
        target = out / f"{stem}.png"
        suffix = k
        while target in targets:  # two files with one stem: keep both pictures
            target = out / f"{stem}-{suffix}.png"
            suffix += 1
        if target.resolve() in inputs:
            raise CnnkitError(f"-o {out}: the picture of {raw} would overwrite the input file "
                              f"{inputs[target.resolve()]}; give another folder with -o")
        targets.append(target)
    return targets


def predict_files(loaded: LoadedDetector, paths: Sequence[str | Path], out_dir: str | Path, *,
                  conf: float = 0.25, class_agnostic: bool = True) -> list[FileDetections]:
    """Detect objects in each file; draw OUT_DIR/<stem>.png per readable file. A file that
    cannot be read gets an ``error`` and the others are still processed. ``class_agnostic``
    (the default) runs one NMS over all classes, so an object shows once, under its best
    class; False keeps the per-class NMS of mAP scoring (one box per class)."""
    from cnnkit.atomic import save_figure
    from cnnkit.detect.draw import draw_detections

    check_range("--conf", conf, 0, 1)
    targets = picture_paths(paths, out_dir)
    meta = loaded.metadata
    results = []
    for raw, target in zip(paths, targets):
        path = Path(raw)
        try:
            boxed, original, scale, (ox, oy) = letterbox(path, channels=meta.in_channels, size=meta.image_size)
        except DataError as err:
            results.append(FileDetections(path, error=str(err).removeprefix(f"{path}: ")))
            continue
        found = loaded.detector.predict(boxed.unsqueeze(0), conf_threshold=conf, iou_threshold=NMS_IOU,
                                        class_agnostic=class_agnostic)[0]
        h, w = original.shape[1:]
        boxes = (found["boxes"].cpu() - torch.tensor([ox, oy, ox, oy], dtype=torch.float32)) / scale
        boxes = torch.stack([boxes[:, 0].clamp(0, w), boxes[:, 1].clamp(0, h),
                             boxes[:, 2].clamp(0, w), boxes[:, 3].clamp(0, h)], dim=1)
        # a box wholly on the letterbox's black border has nothing left in the file: drop it
        inside = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        boxes, found = boxes[inside], {k: v.cpu()[inside] for k, v in found.items()}
        fig = draw_detections(original, boxes, found["labels"], classes=meta.classes, scores=found["scores"],
                              title=f"{path.name}: {len(boxes)} object{'' if len(boxes) == 1 else 's'}",
                              empty=f"no box above {conf:g}")
        save_figure(target, fig, dpi=100)
        results.append(FileDetections(path, boxes, found["scores"], found["labels"], meta.classes, target))
    return results
