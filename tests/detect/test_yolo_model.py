"""The detector's layout and the builder's grid checks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnkit.detect.yolo_model import YoloDetector, build_yolo
from cnnkit.errors import ModelError, ShapeError

ANCHORS = [(12.0, 12.0), (24.0, 16.0)]


def test_output_layout_matches_the_head_channels() -> None:
    det = build_yolo("quicknet", num_classes=3, anchors=ANCHORS, image_size=(32, 32), head_width=8)
    det.eval()
    x = torch.randn(2, 1, 32, 32)
    out = det(x)
    assert det.grid == 4 and out.shape == (2, 4, 4, 2, 8)
    fmap = det.head(det.backbone(x))  # (N, B * (5 + n), S, S): anchor-major channels
    n, i, j, b, f = 1, 2, 3, 1, 6
    assert out[n, i, j, b, f] == fmap[n, b * 8 + f, i, j]


def test_objectness_starts_low() -> None:
    det = build_yolo("quicknet", num_classes=2, anchors=ANCHORS, image_size=(32, 32))
    det.eval()
    obj = torch.sigmoid(det(torch.zeros(1, 1, 32, 32))[..., 4])
    assert obj.max() < 0.05


def test_stride_conv_makes_the_grid_coarser() -> None:
    det = build_yolo("quicknet", num_classes=2, anchors=ANCHORS, image_size=(96, 96), grid=6)
    assert det.grid == 6 and det(torch.zeros(1, 1, 96, 96)).shape == (1, 6, 6, 2, 7)
    with pytest.raises(ShapeError, match="divides 12"):
        build_yolo("quicknet", num_classes=2, anchors=ANCHORS, image_size=(96, 96), grid=5)


def test_spec_and_module_trunks() -> None:
    spec = "INPUT(3x32x32) -> [CONV(8, k=3, p=1) -> RELU -> POOL(2)]*2 -> FC(2)"
    det = build_yolo(spec, num_classes=1, anchors=ANCHORS, image_size=(32, 32), in_channels=3)
    assert det.grid == 8 and det(torch.zeros(1, 3, 32, 32)).shape == (1, 8, 8, 2, 6)
    trunk = nn.Sequential(nn.Conv2d(1, 4, 3, stride=4, padding=1), nn.ReLU())
    assert build_yolo(trunk, num_classes=1, anchors=ANCHORS, image_size=(16, 16)).grid == 4


def test_builder_errors() -> None:
    with pytest.raises(ShapeError, match="square"):
        build_yolo("quicknet", num_classes=2, anchors=ANCHORS, image_size=(32, 64))
    coarse = nn.Sequential(nn.Conv2d(1, 4, 3), nn.AdaptiveAvgPool2d(1))
    with pytest.raises(ShapeError, match="too coarse"):
        build_yolo(coarse, num_classes=2, anchors=ANCHORS, image_size=(32, 32))
    flat = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten())
    with pytest.raises(ShapeError, match="feature map"):
        build_yolo(flat, num_classes=2, anchors=ANCHORS, image_size=(32, 32))
    with pytest.raises(ShapeError, match="cannot take"):
        build_yolo("quicknet", num_classes=2, anchors=ANCHORS, image_size=(4, 4))
    for bad in ([(10.0,)], [(10.0, -1.0)], []):
        with pytest.raises(ModelError, match="anchor"):
            build_yolo("quicknet", num_classes=2, anchors=bad, image_size=(32, 32))
    with pytest.raises(ModelError):
        YoloDetector(nn.Identity(), num_classes=0, anchors=ANCHORS, grid=4, backbone_channels=1)


def test_wrong_input_size_is_a_shape_error() -> None:
    det = build_yolo("quicknet", num_classes=2, anchors=ANCHORS, image_size=(32, 32))
    with pytest.raises(ShapeError, match="4x4 grid"):
        det(torch.zeros(1, 1, 64, 64))


def test_predict_format_and_normalize() -> None:
    det = build_yolo("quicknet", num_classes=2, anchors=ANCHORS, image_size=(32, 32))
    images = torch.randint(0, 256, (3, 1, 32, 32), dtype=torch.uint8)
    assert torch.allclose(det.normalize(images), (images.float() / 255 - 0.5) / 0.25)
    found = det.predict(images, conf_threshold=0.0, max_detections=7, batch_size=2)
    assert det.training  # predict restores the mode
    assert len(found) == 3
    for f in found:
        assert f["boxes"].shape == (7, 4) and f["scores"].shape == (7,) and f["labels"].dtype == torch.long
        assert (f["boxes"] >= 0).all() and (f["boxes"] <= 32).all()
