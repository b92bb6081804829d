"""Users' detection data: YOLO text labels and COCO json, read into and written from a
:class:`~cnnkit.detect.sample.DetectionSet`.

YOLO layout (as Ultralytics uses it)::

    ROOT/images/<name>.png|jpg|...      the images (sub-folders allowed)
    ROOT/labels/<name>.txt              one line per object: class cx cy w h (0..1 of the
                                        image), optionally followed by P keypoints x y [v]
    ROOT/classes.txt or ROOT/data.yaml  class names: one a line, or data.yaml's ``names:``
                                        (a [list], a block list or an "id: name" mapping);
                                        ``kpt_shape: [P, 2|3]`` when lines carry keypoints

An image without a label file has no objects. COCO: one instances json with ``images``
(id, file_name, width, height), ``annotations`` (id, image_id, category_id, bbox
[x, y, w, h] pixels, optional keypoints [x, y, v, ...]) and ``categories`` (id, name,
optional keypoints names); category ids map to class indices in id order; crowd
annotations are skipped.

Resizing: every image becomes ``image_size`` (default: the first image's size). ``resize=
"letterbox"`` (default) scales it to fit, keeping its aspect ratio, and centres it on
black; ``"stretch"`` resizes width and height independently. Boxes and keypoints follow.
Boxes may poke out of the image by up to ``tolerance`` pixels (then they are clipped);
more than that, a box with no size, an unknown class, a missing image or a malformed line
is a DataError naming the file and line (YOLO) or the annotation id (COCO).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from cnnkit.detect.sample import DetectionSet, Targets
from cnnkit.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
RESIZE_MODES = ("letterbox", "stretch")


# --- box formats ----------------------------------------------------------------------------


def yolo_to_xyxy(cxcywh: Tensor, width: float, height: float) -> Tensor:
    """(K, 4) normalized ``(cx, cy, w, h)`` -> (K, 4) ``(x1, y1, x2, y2)`` pixels."""
    cx, cy, w, h = cxcywh.unbind(-1)
    return torch.stack(
        [
            (cx - w / 2) * width,
            (cy - h / 2) * height,
            (cx + w / 2) * width,
            (cy + h / 2) * height,
        ],
        -1,
    )


def xyxy_to_yolo(boxes: Tensor, width: float, height: float) -> Tensor:
    """(K, 4) ``(x1, y1, x2, y2)`` pixels -> (K, 4) normalized ``(cx, cy, w, h)``."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    return torch.stack(
        [
            (x1 + x2) / 2 / width,
            (y1 + y2) / 2 / height,
            (x2 - x1) / width,
            (y2 - y1) / height,
        ],
        -1,
    )


# --- one object, checked --------------------------------------------------------------------


@dataclass
class _Raw:
    """One image as read: its path, native size and objects in its own pixels."""

    path: Path
    width: int
    height: int
    boxes: list[list[float]]
    labels: list[int]
    points: list[list[list[float]]]


def _checked_box(
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


def _image_size(path: Path, where: str) -> tuple[int, int]:
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


# --- YOLO -----------------------------------------------------------------------------------


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
    box = _checked_box(box, width, height, tolerance, where)
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
) -> DetectionSet:
    """A YOLO-layout folder -> DetectionSet of uint8 (N, C, H, W) images and xyxy pixel boxes.

    image_size: (H, W) or a side; None keeps the first image's size. channels: 1 or 3; None
    picks 1 when every image is greyscale, else 3. tolerance: pixels a box may overhang.
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
    for path in image_paths:
        width, height = _image_size(path, str(path))
        label = labels_dir / path.relative_to(base / "images").with_suffix(".txt")
        raw = _Raw(path, width, height, [], [], [])
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
    return _assemble(raws, classes, names, image_size, resize, channels, f"yolo:{base}")


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


# --- COCO -----------------------------------------------------------------------------------


def read_coco(
    json_path: str | Path,
    *,
    images_dir: str | Path | None = None,
    image_size: int | tuple[int, int] | None = None,
    resize: str = "letterbox",
    channels: int | None = None,
    tolerance: float = 1.0,
) -> DetectionSet:
    """A COCO instances json -> DetectionSet (images in ``images_dir``; default: ``images/``
    beside the json if it exists, else the json's folder). Options as :func:`read_yolo`."""
    path = Path(json_path).expanduser()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(
            f"{path} does not exist; give the path of a COCO instances json"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(
            f"{path}: not valid JSON ({err}); fix or regenerate the file"
        ) from None
    if not isinstance(data, dict) or not all(
        isinstance(data.get(k), list) for k in ("images", "annotations", "categories")
    ):
        raise DataError(
            f"{path}: a COCO file needs 'images', 'annotations' and 'categories' lists"
        )
    folder = Path(images_dir).expanduser() if images_dir is not None else (
        path.parent / "images" if (path.parent / "images").is_dir() else path.parent)  # fmt: skip
    try:
        cats = sorted(data["categories"], key=lambda c: int(c["id"]))
        cat_index = {int(c["id"]): i for i, c in enumerate(cats)}
        classes = tuple(str(c["name"]) for c in cats)
    except (KeyError, TypeError, ValueError):
        raise DataError(
            f"{path}: every category needs an integer 'id' and a 'name'"
        ) from None
    kp_names = tuple(str(n) for n in cats[0].get("keypoints", [])) if cats else ()
    raws: dict[int, _Raw] = {}
    for entry in data["images"]:
        try:
            image_id, name = int(entry["id"]), str(entry["file_name"])
        except (KeyError, TypeError, ValueError):
            raise DataError(
                f"{path}: image entry {entry!r} needs an integer 'id' and a 'file_name'"
            ) from None
        width, height = _image_size(folder / name, f"{path}, image id {image_id}")
        raws[image_id] = _Raw(folder / name, width, height, [], [], [])
    for ann in data["annotations"]:
        ann_id = ann.get("id", "?") if isinstance(ann, dict) else "?"
        where = f"{path}, annotation id {ann_id}"
        if not isinstance(ann, dict) or ann.get("iscrowd", 0):
            continue
        try:
            image_id, cat_id = int(ann["image_id"]), int(ann["category_id"])
            x, y, w, h = (float(v) for v in ann["bbox"])
        except (KeyError, TypeError, ValueError):
            raise DataError(
                f"{where}: needs image_id, category_id and bbox [x, y, w, h] as numbers"
            ) from None
        if image_id not in raws:
            raise DataError(
                f"{where}: image_id {image_id} is not in the images list; add the image entry"
            )
        if cat_id not in cat_index:
            raise DataError(f"{where}: category_id {cat_id} is not a category (ids: "
                            f"{', '.join(str(k) for k in cat_index)}); fix the id or add the category")  # fmt: skip
        raw = raws[image_id]
        raw.boxes.append(
            _checked_box([x, y, x + w, y + h], raw.width, raw.height, tolerance, where)
        )
        raw.labels.append(cat_index[cat_id])
        kp = [float(v) for v in ann.get("keypoints", [])]
        if len(kp) != 3 * len(kp_names):
            raise DataError(
                f"{where}: {len(kp) // 3} keypoints but the categories name {len(kp_names)}"
            )
        raw.points.append([[kp[3 * p], kp[3 * p + 1]] for p in range(len(kp_names))])
    if not raws:
        raise DataError(f"{path}: the images list is empty")
    return _assemble(
        list(raws.values()),
        classes,
        kp_names,
        image_size,
        resize,
        channels,
        f"coco:{path}",
    )


# --- resizing into one DetectionSet ---------------------------------------------------------


def _assemble(raws: list[_Raw], classes: tuple[str, ...], landmark_names: tuple[str, ...],
              image_size: int | tuple[int, int] | None, resize: str, channels: int | None,
              source: str) -> DetectionSet:  # fmt: skip
    """Load, resize and stack every image; scale boxes (and keypoints) the same way."""
    from PIL import Image

    if resize not in RESIZE_MODES:
        raise DataError(
            f"resize must be one of {', '.join(RESIZE_MODES)}, got {resize!r}"
        )
    if image_size is None:
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
    notes = [
        f"{len(raws)} images {resize}-resized to {out_h}x{out_w}"
        + (", centred on black" if resize == "letterbox" else "")
    ]
    return DetectionSet(images, targets, classes, landmark_names, source, notes)


def _mode(path: Path) -> str:
    from PIL import Image

    with Image.open(path) as im:
        return im.mode


# --- writers --------------------------------------------------------------------------------


def _save_png(image: Tensor, path: Path) -> None:
    """(C, H, W) uint8 -> PNG (grey for C = 1)."""
    from PIL import Image

    pixels = image.detach().to("cpu")
    array = (
        pixels[0].numpy()
        if pixels.shape[0] == 1
        else pixels.permute(1, 2, 0).contiguous().numpy()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format="PNG")


def _image_name(i: int, count: int) -> str:
    return f"{i:0{max(6, len(str(count)))}d}.png"


def write_yolo(dataset: DetectionSet, folder: str | Path) -> Path:
    """Write ``dataset`` in the YOLO layout: images/NNNNNN.png, labels/NNNNNN.txt (class cx cy
    w h [+ x y per landmark], 0..1, 6 decimals), classes.txt and data.yaml (names, kpt_shape,
    landmark_names). Returns the folder. Metadata files are written atomically."""
    from cnnkit.atomic import write_text

    out = Path(folder).expanduser()
    h, w = dataset.image_size
    for i, (image, target) in enumerate(zip(dataset.images, dataset.targets)):
        name = _image_name(i, len(dataset))
        _save_png(image, out / "images" / name)
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


def write_coco(
    dataset: DetectionSet, folder: str | Path, *, json_name: str = "instances.json"
) -> Path:
    """Write ``dataset`` as COCO: images/NNNNNN.png and ``json_name`` (bbox [x, y, w, h] pixels,
    category ids 1..C in class order, keypoints [x, y, 2, ...] with the landmark names in the
    categories). Returns the json's path (written atomically)."""
    from cnnkit.atomic import write_json

    out = Path(folder).expanduser()
    h, w = dataset.image_size
    images, annotations = [], []
    for i, (image, target) in enumerate(zip(dataset.images, dataset.targets)):
        name = _image_name(i, len(dataset))
        _save_png(image, out / "images" / name)
        images.append({"id": i + 1, "file_name": name, "width": w, "height": h})
        for k in range(len(target)):
            x1, y1, x2, y2 = target.boxes[k].tolist()
            ann = {"id": len(annotations) + 1, "image_id": i + 1, "category_id": int(target.labels[k]) + 1,
                   "bbox": [round(x1, 3), round(y1, 3), round(x2 - x1, 3), round(y2 - y1, 3)],
                   "area": round((x2 - x1) * (y2 - y1), 3), "iscrowd": 0}  # fmt: skip
            if dataset.landmark_names and target.landmarks is not None:
                flat = [
                    [round(x, 3), round(y, 3), 2]
                    for x, y in target.landmarks[k].tolist()
                ]
                ann["keypoints"] = [v for p in flat for v in p]
                ann["num_keypoints"] = len(flat)
            annotations.append(ann)
    categories = [
        {"id": c + 1, "name": name, "supercategory": "object"}
        for c, name in enumerate(dataset.classes)
    ]
    if dataset.landmark_names:
        for cat in categories:
            cat["keypoints"] = list(dataset.landmark_names)
    return write_json(
        out / json_name,
        {"images": images, "annotations": annotations, "categories": categories},
    )
