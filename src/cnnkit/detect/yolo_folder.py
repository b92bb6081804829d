"""A YOLO-layout dataset folder, read into and written from a
:class:`~cnnkit.detect.sample.DetectionSet`; the YOLO box format (normalized cx cy w h).

Layout (as Ultralytics uses it)::

    ROOT/images/<name>.png|jpg|...      the images (sub-folders allowed)
    ROOT/labels/<name>.txt              one line per object: class cx cy w h (0..1 of the
                                        image), optionally followed by P keypoints x y [v]
    ROOT/classes.txt or ROOT/data.yaml  class names: one a line, or data.yaml's ``names:``
                                        (a [list], a block list or an "id: name" mapping);
                                        ``kpt_shape: [P, 2|3]`` when lines carry keypoints

An image without a label file has no objects (background); a note on the set says how many
there are. Resizing and box tolerance: see
:mod:`cnnkit.detect.annotated_images`. An unknown class, a missing image or a malformed
line is a DataError naming the file and line.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from torch import Tensor
from torchvision.ops import box_convert

from cnnkit.data.images import write_png
from cnnkit.detect.annotated_images import (
    RawImage,
    assemble_set,
    checked_box,
    image_file_size,
    image_name,
)
from cnnkit.detect.sample import DetectionSet
from cnnkit.errors import DataError

__all__ = [
    "IMAGE_SUFFIXES",
    "read_yolo",
    "read_yolo_classes",
    "write_yolo",
    "xyxy_to_yolo",
    "yolo_to_xyxy",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


# --- box formats ----------------------------------------------------------------------------


def yolo_to_xyxy(cxcywh: Tensor, width: float, height: float) -> Tensor:
    """(K, 4) normalized ``(cx, cy, w, h)`` -> (K, 4) ``(x1, y1, x2, y2)`` pixels."""
    scale = cxcywh.new_tensor([width, height, width, height])
    return box_convert(cxcywh, "cxcywh", "xyxy") * scale


def xyxy_to_yolo(boxes: Tensor, width: float, height: float) -> Tensor:
    """(K, 4) ``(x1, y1, x2, y2)`` pixels -> (K, 4) normalized ``(cx, cy, w, h)``."""
    scale = boxes.new_tensor([width, height, width, height])
    return box_convert(boxes, "xyxy", "cxcywh") / scale


# --- reading --------------------------------------------------------------------------------


def _yaml_value(text: str, key: str) -> list[str] | dict[int, str] | None:
    """``key:`` of a simple YAML file: an inline [a, b], a block list or an ``i: name`` block."""
    lines = text.splitlines()
    for n, line in enumerate(lines):
        m = re.match(rf"^{key}\s*:\s*(.*?)\s*(#.*)?$", line)
        if not m:
            continue
        rest = m.group(1)
        if rest.startswith("["):
            try:  # a JSON-compatible list (what write_yolo writes; names may hold commas)
                return [str(v) for v in json.loads(rest)]
            except json.JSONDecodeError:
                pass
            inner = rest.strip("[]")
            return [_unquote(v) for v in inner.split(",") if v.strip()]
        if rest:
            return [_unquote(rest)]
        items: list[str] = []
        mapping: dict[int, str] = {}
        for sub in lines[n + 1 :]:
            if not sub.strip() or sub.lstrip().startswith("#"):
                continue
            if not sub.startswith((" ", "\t", "-")):
                break
            body = sub.strip()
            if body.startswith("- "):
                items.append(_unquote(body[2:]))
            elif re.match(r"^\d+\s*:", body):
                k, v = body.split(":", 1)
                mapping[int(k)] = _unquote(v)
        return mapping if mapping else items
    return None


def _unquote(value: str) -> str:
    return value.split(" #")[0].strip().strip("'\"")


def read_yolo_classes(root: Path) -> tuple[tuple[str, ...], int, int]:
    """(class names, keypoints per object P, values per keypoint 2|3) from classes.txt or data.yaml."""
    yaml_path = next(
        (root / n for n in ("data.yaml", "dataset.yaml") if (root / n).is_file()), None
    )
    points, per_point = 0, 2
    names: tuple[str, ...] | None = None
    if yaml_path is not None:
        text = yaml_path.read_text(encoding="utf-8")
        found = _yaml_value(text, "names")
        if isinstance(found, dict):
            if sorted(found) != list(range(len(found))):
                raise DataError(
                    f"{yaml_path}: names ids must be 0..{len(found) - 1} without gaps; renumber them"
                )
            names = tuple(found[i] for i in range(len(found)))
        elif found:
            names = tuple(found)
        shape = _yaml_value(text, "kpt_shape")
        if shape:
            try:
                points, per_point = int(shape[0]), int(shape[1])  # type: ignore[index]
            except (ValueError, IndexError, KeyError):
                raise DataError(
                    f"{yaml_path}: kpt_shape must be [points, 2 or 3], got {shape}"
                ) from None
            if per_point not in (2, 3):
                raise DataError(
                    f"{yaml_path}: kpt_shape must be [points, 2 or 3], got {shape}"
                )
    if names is None and (root / "classes.txt").is_file():
        names = tuple(
            line.strip()
            for line in (root / "classes.txt").read_text(encoding="utf-8").splitlines()
            if line.strip()
        )
    if not names:
        raise DataError(
            f"{root}: no class names found; add classes.txt (one name a line) or data.yaml with names: [...]"
        )
    return names, points, per_point


def _parse_yolo_line(line: str, where: str, classes: tuple[str, ...], points: int, per_point: int,
                     width: int, height: int, tolerance: float) -> tuple[list[float], int, list[list[float]]]:  # fmt: skip
    fields = line.split()
    want = 5 + points * per_point
    if len(fields) != want:
        shape = "class cx cy w h" + (
            f" + {points} keypoints x{per_point}" if points else ""
        )
        raise DataError(f"{where}: {len(fields)} fields, expected {want} ({shape})")
    try:
        numbers = [float(v) for v in fields[1:]]
        cls_float = float(fields[0])
    except ValueError:
        raise DataError(
            f"{where}: not a number in {line.strip()!r}; each field must be a number"
        ) from None
    if cls_float != int(cls_float) or not 0 <= int(cls_float) < len(classes):
        raise DataError(f"{where}: class id {fields[0]} is not one of the {len(classes)} classes "
                        f"(0..{len(classes) - 1}); fix the id or add the class name")  # fmt: skip
    box = yolo_to_xyxy(
        torch.tensor(numbers[:4], dtype=torch.float64), width, height
    ).tolist()
    box = checked_box(box, width, height, tolerance, where)
    kp = numbers[4:]
    pts = [
        [kp[p * per_point] * width, kp[p * per_point + 1] * height]
        for p in range(points)
    ]
    return box, int(cls_float), pts


def read_yolo(
    root: str | Path,
    *,
    image_size: int | tuple[int, int] | None = None,
    resize: str = "letterbox",
    channels: int | None = None,
    tolerance: float = 1.0,
    square: bool = False,
) -> DetectionSet:
    """A YOLO-layout folder -> DetectionSet of uint8 (N, C, H, W) images and xyxy pixel boxes.

    image_size: (H, W) or a side; None keeps the first image's size, or with ``square`` makes
    the square of :mod:`cnnkit.data.natural_shape` (the median longer side, at most 128). channels: 1 or 3; None picks 1 when every image is
    greyscale, else 3. tolerance: pixels a box may overhang.
    """
    base = Path(root).expanduser()
    if not (base / "images").is_dir():
        raise DataError(
            f"{base}: no images/ folder; a YOLO dataset has images/ and labels/ side by side"
        )
    classes, points, per_point = read_yolo_classes(base)
    image_paths = sorted(
        p for p in (base / "images").rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES
    )
    labels_dir = base / "labels"
    by_stem = {p.relative_to(base / "images").with_suffix(""): p for p in image_paths}
    for label in sorted(labels_dir.rglob("*.txt")) if labels_dir.is_dir() else []:
        if label.relative_to(labels_dir).with_suffix("") not in by_stem:
            raise DataError(
                f"{label}: no image for this label file in {base / 'images'}; add the image or delete the labels"
            )
    if not image_paths:
        raise DataError(f"{base / 'images'}: no images ({', '.join(IMAGE_SUFFIXES)})")
    raws = []
    unlabelled = 0
    for path in image_paths:
        width, height = image_file_size(path, str(path))
        label = labels_dir / path.relative_to(base / "images").with_suffix(".txt")
        raw = RawImage(path, width, height, [], [], [])
        unlabelled += not label.is_file()
        if label.is_file():
            for n, line in enumerate(label.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                box, cls, pts = _parse_yolo_line(line, f"{label} line {n}", classes, points, per_point,
                                                 width, height, tolerance)  # fmt: skip
                raw.boxes.append(box)
                raw.labels.append(cls)
                raw.points.append(pts)
        raws.append(raw)
    names = _yolo_landmark_names(base, points)
    found = assemble_set(raws, classes, names, image_size, resize, channels, f"yolo:{base}", square)
    if unlabelled:  # often a forgotten labels/ copy rather than true background: say it
        found.notes.append(f"{base}: {unlabelled} of {len(raws)} images have no label file in labels/ "
                           "and count as background (no objects)")
    return found


def _yolo_landmark_names(base: Path, points: int) -> tuple[str, ...]:
    yaml_path = base / "data.yaml"
    found = (
        _yaml_value(yaml_path.read_text(encoding="utf-8"), "landmark_names")
        if yaml_path.is_file()
        else None
    )
    if isinstance(found, list) and len(found) == points:
        return tuple(found)
    return tuple(f"p{p}" for p in range(points))


# --- writing --------------------------------------------------------------------------------


def write_yolo(dataset: DetectionSet, folder: str | Path) -> Path:
    """Write ``dataset`` in the YOLO layout: images/NNNNNN.png, labels/NNNNNN.txt (class cx cy
    w h [+ x y per landmark], 0..1, 6 decimals), classes.txt and data.yaml (names, kpt_shape,
    landmark_names). Returns the folder. Metadata files are written atomically."""
    from cnnkit.atomic import write_text

    out = Path(folder).expanduser()
    h, w = dataset.image_size
    for i, (image, target) in enumerate(zip(dataset.images, dataset.targets)):
        name = image_name(i, len(dataset))
        write_png(image, out / "images" / name)
        rows = xyxy_to_yolo(target.boxes.double(), w, h)
        lines = []
        for k in range(len(target)):
            fields = [str(int(target.labels[k]))] + [
                f"{v:.6f}" for v in rows[k].tolist()
            ]
            if dataset.landmark_names and target.landmarks is not None:
                for x, y in target.landmarks[k].tolist():
                    fields += [f"{x / w:.6f}", f"{y / h:.6f}"]
            lines.append(" ".join(fields))
        (out / "labels").mkdir(parents=True, exist_ok=True)
        (out / "labels" / name).with_suffix(".txt").write_text(
            "".join(line + "\n" for line in lines), encoding="utf-8"
        )
    write_text(out / "classes.txt", "".join(c + "\n" for c in dataset.classes))
    quoted = ", ".join(json.dumps(c) for c in dataset.classes)
    yaml = [f"path: {json.dumps(str(out.resolve()))}", "train: images", "val: images", f"nc: {dataset.num_classes}",
            f"names: [{quoted}]"]  # fmt: skip
    if dataset.landmark_names:
        yaml.append(f"kpt_shape: [{len(dataset.landmark_names)}, 2]")
        yaml.append(
            f"landmark_names: [{', '.join(json.dumps(n) for n in dataset.landmark_names)}]"
        )
    write_text(out / "data.yaml", "\n".join(yaml) + "\n")
    return out
