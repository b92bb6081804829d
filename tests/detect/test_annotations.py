"""YOLO and COCO readers/writers: box conversion against torchvision, round trips, letterbox
arithmetic, and every bad annotation naming its file and line (or annotation id)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from torchvision.ops import box_convert

from cnnkit.detect.coco_json import read_coco, write_coco
from cnnkit.detect.sample import DetectionSet, Targets
from cnnkit.detect.yolo_folder import read_yolo, write_yolo, xyxy_to_yolo, yolo_to_xyxy
from cnnkit.errors import DataError

CLASSES = ("cat", "dog, big", "bird")


def _random_set(
    n: int = 3, channels: int = 1, h: int = 40, w: int = 56, marks: bool = True
) -> DetectionSet:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, channels, h, w), generator=g, dtype=torch.uint8)
    targets = []
    for i in range(n):
        k = i  # 0, 1, 2 ... objects: an image without objects too
        xy = torch.rand(k, 2, generator=g) * torch.tensor([w - 10.0, h - 10.0])
        wh = 2 + torch.rand(k, 2, generator=g) * 8
        boxes = torch.cat([xy, xy + wh], 1)
        labels = torch.randint(0, len(CLASSES), (k,), generator=g)
        points = (
            torch.rand(k, 2, 2, generator=g) * torch.tensor([w, h]) if marks else None
        )
        targets.append(Targets(boxes, labels, points))
    return DetectionSet(images, targets, CLASSES, ("a", "b") if marks else (), "test")


def _assert_same(got: DetectionSet, want: DetectionSet) -> None:
    assert got.classes == want.classes and got.landmark_names == want.landmark_names
    assert torch.equal(got.images, want.images)
    for a, b in zip(got.targets, want.targets, strict=True):
        assert torch.equal(a.labels, b.labels)
        assert torch.allclose(a.boxes, b.boxes, atol=0.5)
        if want.landmark_names:
            assert torch.allclose(a.landmarks, b.landmarks, atol=0.5)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0.05, 0.95), min_size=4, max_size=4),
    st.integers(8, 640),
    st.integers(8, 640),
)
def test_yolo_conversion_matches_box_convert(
    v: list[float], width: int, height: int
) -> None:
    norm = torch.tensor([v], dtype=torch.float64)
    scale = torch.tensor([width, height, width, height], dtype=torch.float64)
    want = box_convert(norm * scale, "cxcywh", "xyxy")
    assert torch.allclose(yolo_to_xyxy(norm, width, height), want)
    assert torch.allclose(
        xyxy_to_yolo(want, width, height), box_convert(want, "xyxy", "cxcywh") / scale
    )


@pytest.mark.parametrize("channels", [1, 3])
def test_yolo_round_trip(tmp_path: Path, channels: int) -> None:
    data = _random_set(channels=channels)
    write_yolo(data, tmp_path)
    _assert_same(read_yolo(tmp_path), data)


def test_yolo_round_trip_without_landmarks(tmp_path: Path) -> None:
    data = _random_set(marks=False)
    write_yolo(data, tmp_path)
    got = read_yolo(tmp_path)
    _assert_same(got, data)
    assert got.targets[1].landmarks is None


@pytest.mark.parametrize("channels", [1, 3])
def test_coco_round_trip(tmp_path: Path, channels: int) -> None:
    data = _random_set(channels=channels)
    _assert_same(read_coco(write_coco(data, tmp_path)), data)


def _yolo_folder(
    tmp_path: Path, lines: str, size: tuple[int, int] = (100, 50), names: str = "a\nb\n"
) -> Path:
    (tmp_path / "images").mkdir(parents=True, exist_ok=True)
    (tmp_path / "labels").mkdir(exist_ok=True)
    Image.new("RGB", size, (10, 20, 30)).save(tmp_path / "images" / "one.jpg")
    (tmp_path / "labels" / "one.txt").write_text(lines)
    (tmp_path / "classes.txt").write_text(names)
    return tmp_path


def test_letterbox_and_stretch_scale_boxes(tmp_path: Path) -> None:
    root = _yolo_folder(
        tmp_path, "1 0.5 0.5 0.2 0.4\n"
    )  # 100x50 image: box x 40..60, y 15..35
    boxed = read_yolo(root, image_size=64)  # scale 0.64, content 64x32 at y offset 16
    assert boxed.images.shape == (1, 3, 64, 64)
    assert torch.allclose(
        boxed.targets[0].boxes,
        torch.tensor([[40 * 0.64, 15 * 0.64 + 16, 60 * 0.64, 35 * 0.64 + 16]]),
    )
    assert (
        boxed.images[0, :, :16].eq(0).all() and boxed.images[0, :, 48:].eq(0).all()
    )  # black bars
    stretched = read_yolo(root, image_size=(30, 20), resize="stretch")
    assert torch.allclose(
        stretched.targets[0].boxes, torch.tensor([[8.0, 9.0, 12.0, 21.0]])
    )
    assert stretched.classes == ("a", "b") and int(stretched.targets[0].labels[0]) == 1


def test_small_overhang_is_clipped(tmp_path: Path) -> None:
    root = _yolo_folder(
        tmp_path, "0 0.1 0.5 0.208 0.5\n"
    )  # x1 = -0.4 px on a 100 px wide image
    assert read_yolo(root).targets[0].boxes[0, 0] == 0.0


def test_data_yaml_mapping_names(tmp_path: Path) -> None:
    root = _yolo_folder(tmp_path, "2 0.5 0.5 0.2 0.2\n")
    (root / "classes.txt").unlink()
    (root / "data.yaml").write_text(
        "path: .\nnames:\n  0: person\n  1: 'car'\n  2: bus  # last\nnc: 3\n"
    )
    assert read_yolo(root).classes == ("person", "car", "bus")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("0 0.5 0.5 0.2", "4 fields, expected 5"),
        ("0 0.5 0.5 0.2 0.2 0.1", "6 fields, expected 5"),
        ("0 0.5 abc 0.2 0.2", "not a number"),
        ("5 0.5 0.5 0.2 0.2", "class id 5 is not one of the 2 classes"),
        ("1.5 0.5 0.5 0.2 0.2", "class id 1.5"),
        ("0 0.5 0.5 -0.2 0.2", "no size"),
        ("0 0.5 0.5 0.2 0", "no size"),
        ("0 0.95 0.5 0.2 0.2", "outside the 100x50 image"),
        ("0 0.5 1.2 0.2 0.2", "outside"),
    ],
)
def test_yolo_bad_lines_name_file_and_line(
    tmp_path: Path, line: str, message: str
) -> None:
    root = _yolo_folder(tmp_path, f"0 0.5 0.5 0.2 0.2\n\n{line}\n")
    with pytest.raises(DataError, match=message) as err:
        read_yolo(root)
    assert f"{root / 'labels' / 'one.txt'} line 3" in str(err.value)


def test_yolo_missing_image_and_classes(tmp_path: Path) -> None:
    root = _yolo_folder(tmp_path, "0 0.5 0.5 0.2 0.2\n")
    (root / "labels" / "two.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    with pytest.raises(DataError, match="two.txt: no image"):
        read_yolo(root)
    (root / "labels" / "two.txt").unlink()
    (root / "classes.txt").unlink()
    with pytest.raises(DataError, match="no class names"):
        read_yolo(root)
    with pytest.raises(DataError, match="no images/ folder"):
        read_yolo(tmp_path / "nowhere")


def _coco(tmp_path: Path, ann: dict, *, image: bool = True) -> Path:
    if image:
        Image.new("L", (60, 40)).save(tmp_path / "a.png")
    data = {
        "images": [{"id": 7, "file_name": "a.png", "width": 60, "height": 40}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 3, "bbox": [1, 2, 10, 10]},
            {"id": 42, **ann},
        ],
        "categories": [{"id": 3, "name": "cat"}, {"id": 9, "name": "dog"}],
    }
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(data))
    return path


def test_coco_category_ids_map_in_order(tmp_path: Path) -> None:
    got = read_coco(
        _coco(tmp_path, {"image_id": 7, "category_id": 9, "bbox": [5, 5, 20.5, 10]})
    )
    assert got.classes == ("cat", "dog") and got.targets[0].labels.tolist() == [0, 1]
    assert torch.equal(
        got.targets[0].boxes, torch.tensor([[1.0, 2, 11, 12], [5, 5, 25.5, 15]])
    )
    assert got.images.shape == (1, 1, 40, 60)


@pytest.mark.parametrize(
    ("ann", "message"),
    [
        (
            {"image_id": 7, "category_id": 4, "bbox": [1, 1, 5, 5]},
            "category_id 4 is not a category",
        ),
        (
            {"image_id": 7, "category_id": 3, "bbox": [50, 1, 20, 5]},
            "outside the 60x40 image",
        ),
        ({"image_id": 7, "category_id": 3, "bbox": [5, 1, -2, 5]}, "no size"),
        ({"image_id": 7, "category_id": 3, "bbox": [5, 1, 5]}, "bbox"),
        (
            {"image_id": 8, "category_id": 3, "bbox": [1, 1, 5, 5]},
            "image_id 8 is not in the images",
        ),
    ],
)
def test_coco_bad_annotations_name_the_id(
    tmp_path: Path, ann: dict, message: str
) -> None:
    path = _coco(tmp_path, ann)
    with pytest.raises(DataError, match=message) as err:
        read_coco(path)
    assert f"{path}, annotation id 42" in str(err.value)


def test_coco_missing_image_and_bad_json(tmp_path: Path) -> None:
    path = _coco(
        tmp_path, {"image_id": 7, "category_id": 3, "bbox": [1, 1, 5, 5]}, image=False
    )
    with pytest.raises(
        DataError, match=r"image id 7: image file .*a.png does not exist"
    ):
        read_coco(path)
    path.write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        read_coco(path)
