"""A COCO instances json, read into and written from a
:class:`~cnnkit.detect.sample.DetectionSet`.

One json with ``images`` (id, file_name, width, height), ``annotations`` (id, image_id,
category_id, bbox [x, y, w, h] pixels, optional keypoints [x, y, v, ...]) and
``categories`` (id, name, optional keypoints names); category ids map to class indices in
id order; crowd annotations are skipped. Resizing and box tolerance: see
:mod:`cnnkit.detect.annotated_images`. A bad annotation, an unknown category or a missing
image is a DataError naming the file and the annotation (or image) id.
"""

from __future__ import annotations

import json
from pathlib import Path

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

__all__ = ["read_coco", "write_coco"]


def read_coco(
    json_path: str | Path,
    *,
    images_dir: str | Path | None = None,
    image_size: int | tuple[int, int] | None = None,
    resize: str = "letterbox",
    channels: int | None = None,
    tolerance: float = 1.0,
    square: bool = False,
) -> DetectionSet:
    """A COCO instances json -> DetectionSet (images in ``images_dir``; default: ``images/``
    beside the json if it exists, else the json's folder). Options as
    :func:`~cnnkit.detect.yolo_folder.read_yolo`."""
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
    raws: dict[int, RawImage] = {}
    for entry in data["images"]:
        try:
            image_id, name = int(entry["id"]), str(entry["file_name"])
        except (KeyError, TypeError, ValueError):
            raise DataError(
                f"{path}: image entry {entry!r} needs an integer 'id' and a 'file_name'"
            ) from None
        width, height = image_file_size(folder / name, f"{path}, image id {image_id}")
        raws[image_id] = RawImage(folder / name, width, height, [], [], [])
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
            checked_box([x, y, x + w, y + h], raw.width, raw.height, tolerance, where)
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
    return assemble_set(
        list(raws.values()),
        classes,
        kp_names,
        image_size,
        resize,
        channels,
        f"coco:{path}",
        square,
    )


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
        name = image_name(i, len(dataset))
        write_png(image, out / "images" / name)
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
