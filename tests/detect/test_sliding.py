"""Sliding windows: the convolutional form against the classifier on explicit crops, the
naive windows, hand-computed window boxes, and NMS against torchvision."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision.ops import nms

import cnnkit
from cnnkit.detect.sliding import (
    conv_windows,
    naive_windows,
    pyramid,
    to_fully_conv,
    window_boxes,
    windows_to_detections,
)
from cnnkit.errors import ModelError, ShapeError
from cnnkit.nn.base import CnnModel

SPECS = [
    # (spec, expected total stride)
    ("INPUT(1x25x25) -> CONV(6, k=3) -> RELU -> POOL -> CONV(8, k=3) -> RELU -> POOL -> FC(2)", 4),
    ("INPUT(1x13x11) -> CONV(5, k=3) -> RELU -> POOL -> FC(9) -> RELU -> DROPOUT -> FC(3)", 2),
    (("INPUT(3x19x17) -> CONV(4, k=3, s=2) -> RELU -> CONV(6, k=2) -> BN -> RELU -> POOL(3, s=3)"
     " -> FC(7) -> BN -> TANH -> FC(5) -> SOFTMAX"), 6),
    ("INPUT(2x12x12) -> CONV(8, k=3) -> LEAKYRELU -> AVGPOOL(2) -> CONV(4, k=2, d=2) -> GAP -> FC(3)", 2),
    ("INPUT(1x10x14) -> CONV(4, k=3) -> ELU -> GMP -> FC(6) -> FC(2)", 1),
]


def _randomize_bn(model: nn.Module) -> None:
    """Non-trivial running statistics, so a BatchNorm left in training mode would show."""
    for mod in model.modules():
        if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
            mod.running_mean.normal_()
            mod.running_var.uniform_(0.5, 2.0)
            mod.weight.data.normal_()
            mod.bias.data.normal_()


@pytest.mark.parametrize(("spec", "stride"), SPECS)
def test_score_map_cells_equal_classifier_on_crops(spec: str, stride: int) -> None:
    torch.manual_seed(0)
    model = cnnkit.from_spec(spec).eval()
    _randomize_bn(model)
    net = to_fully_conv(model)
    c, h, w = model.input_shape
    assert (net.stride, net.window, net.exact) == (stride, (h, w), True)
    with torch.no_grad():
        x = torch.rand(2, c, h, w)
        # on a classifier-size input the map is one cell holding the classifier's output
        torch.testing.assert_close(net(x)[:, :, 0, 0], model(x), atol=1e-5, rtol=1e-5)
        big = torch.rand(1, c, h + 2 * stride + 3, w + 3 * stride + 1)  # sizes that are not multiples
        smap = net(big)[0]
        rows, cols = (big.shape[2] - h) // stride + 1, (big.shape[3] - w) // stride + 1
        assert smap.shape == (model.output_shape[0], rows, cols)
        for i in range(rows):
            for j in range(cols):
                crop = big[:, :, i * stride : i * stride + h, j * stride : j * stride + w]
                torch.testing.assert_close(smap[:, i, j], model(crop)[0], atol=1e-5, rtol=1e-5)


def test_original_model_untouched_and_still_training_mode() -> None:
    model = cnnkit.from_spec(SPECS[1][0])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    to_fully_conv(model)
    assert model.training
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])


@pytest.mark.parametrize(("spec", "stride"), SPECS[:3])
def test_naive_and_convolutional_windows_agree_over_a_pyramid(spec: str, stride: int) -> None:
    torch.manual_seed(1)
    model = cnnkit.from_spec(spec).eval()
    net = to_fully_conv(model)
    c, h, w = model.input_shape
    image = torch.rand(c, 3 * h + 1, 2 * w + 5)
    scales = (1.0, 0.8, 0.55)
    s_naive, b_naive = naive_windows(model, image, window=(h, w), stride=stride, scales=scales, batch_size=7)
    s_conv, b_conv = conv_windows(net, image, scales=scales)
    torch.testing.assert_close(s_conv, s_naive, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(b_conv, b_naive)


def test_window_boxes_map_back_to_original_pixels() -> None:
    image = torch.zeros(1, 60, 100)  # H = 60, W = 100
    levels = pyramid(image, [0.5, 0.33], min_size=(10, 10))
    # 0.5: 30 x 50, factors exactly 2; 0.33: round(19.8) = 20 rows, round(33) = 33 columns
    assert [tuple(img.shape) for img, _, _ in levels] == [(1, 30, 50), (1, 20, 33)]
    assert levels[1][1:] == pytest.approx((100 / 33, 3.0))
    boxes = window_boxes(5, 9, window=(10, 10), stride=5, sx=2.0, sy=2.0)
    assert boxes.shape == (45, 4)
    # row 1, column 2 of the grid: resized (10, 5, 20, 15) -> original (20, 10, 40, 30)
    assert boxes[1 * 9 + 2].tolist() == [20.0, 10.0, 40.0, 30.0]
    small = window_boxes(3, 5, window=(10, 10), stride=5, sx=100 / 33, sy=3.0)
    torch.testing.assert_close(small[5 + 4], torch.tensor([20 * 100 / 33, 5 * 3.0, 30 * 100 / 33, 15 * 3.0]))
    # the naive windows produce exactly those grids, scale by scale
    model = cnnkit.from_spec("INPUT(1x10x10) -> CONV(2, k=3) -> FC(2)").eval()
    _, got = naive_windows(model, image, window=(10, 10), stride=5, scales=[0.5, 0.33, 0.05])
    torch.testing.assert_close(got, torch.cat([boxes, window_boxes(3, 5, window=(10, 10), stride=5,
                                                                    sx=100 / 33, sy=3.0)]))


def test_window_box_covers_the_pixels_the_classifier_saw() -> None:
    """A one-pixel-bright image: only windows whose box holds that pixel see it."""
    model = cnnkit.from_spec("INPUT(1x8x8) -> CONV(1, k=1, bias=false) -> FC(1, bias=false)").eval()
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(1.0)  # the score is the window's pixel sum
    image = torch.zeros(1, 30, 40)
    image[0, 17, 23] = 1.0
    scores, boxes = naive_windows(model, image, window=(8, 8), stride=1)  # the net's own stride
    inside = (boxes[:, 0] <= 23) & (23 < boxes[:, 2]) & (boxes[:, 1] <= 17) & (17 < boxes[:, 3])
    torch.testing.assert_close(scores[:, 0], inside.float())
    conv_scores, _ = conv_windows(to_fully_conv(model), image)
    torch.testing.assert_close(conv_scores[:, 0], inside.float())


def test_padded_trunk_converts_but_is_not_exact() -> None:
    model = cnnkit.from_spec("INPUT(1x12x12) -> CONV -> RELU -> POOL -> FC(3)").eval()  # bare CONV: p=same
    net = to_fully_conv(model)
    assert not net.exact and net.stride == 2
    x = torch.rand(1, 1, 12, 12)
    with torch.no_grad():  # still exact on a window-size input
        torch.testing.assert_close(net(x)[:, :, 0, 0], model(x), atol=1e-5, rtol=1e-5)


def test_adaptive_pools_identity_and_divisible() -> None:
    features = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU())  # 14x14 -> 12x12
    for pool, stride in ((nn.AdaptiveAvgPool2d(12), 1), (nn.AdaptiveMaxPool2d(4), 3), (nn.AdaptiveAvgPool2d(3), 4)):
        model = CnnModel(features, nn.Sequential(pool, nn.Flatten(), nn.Linear(3 * pool.output_size ** 2, 2))).eval()
        net = to_fully_conv(model, input_shape=(1, 14, 14))
        assert net.stride == stride
        big = torch.rand(1, 1, 14 + 2 * stride, 14 + stride)
        with torch.no_grad():
            smap = net(big)[0]
            assert smap.shape[1:] == (3, 2)
            crop = big[:, :, 2 * stride : 2 * stride + 14, stride : stride + 14]
            torch.testing.assert_close(smap[:, 2, 1], model(crop)[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    ("model", "shape", "match"),
    [
        (CnnModel(nn.Sequential(nn.Conv2d(1, 2, 3), nn.AdaptiveAvgPool2d(5)), nn.Sequential(nn.Flatten(), nn.Linear(50, 2))),
         (1, 14, 14), "uneven windows"),
        (CnnModel(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Upsample(scale_factor=2)), nn.Sequential(nn.Flatten(), nn.Linear(8, 2))),
         (1, 4, 4), r"features\.1 \(Upsample\).*convertible: Conv2d"),
        (CnnModel(nn.Sequential(nn.Conv2d(1, 2, 3)), nn.Sequential(nn.Linear(2, 2))), (1, 4, 4), "exactly one Flatten"),
        (CnnModel(nn.Sequential(nn.Conv2d(1, 2, 3)), nn.Sequential(nn.Flatten(), nn.LayerNorm(8), nn.Linear(8, 2))),
         (1, 4, 4), r"head\.1 \(LayerNorm\)"),
        (CnnModel(nn.Sequential(nn.Conv2d(1, 2, 3)), nn.Sequential(nn.Flatten())), (1, 4, 4), "without a Linear"),
        (CnnModel(nn.Sequential(nn.Conv2d(1, 2, 3)), nn.Sequential(nn.Flatten(), nn.Linear(8, 2))), None, "input_shape"),
        (CnnModel(nn.Sequential(nn.Conv2d(1, 2, (3, 3), stride=(1, 2))), nn.Sequential(nn.Flatten(), nn.Linear(4, 2))),
         (1, 4, 5), "square strides"),
        (cnnkit.from_spec("INPUT(1x32) -> CONV(4, k=3) -> FC(2)"), (1, 32), "input_shape"),
    ],
)
def test_unconvertible_models_give_clear_errors(model: nn.Module, shape: tuple[int, ...] | None, match: str) -> None:
    with pytest.raises(ModelError, match=match):
        to_fully_conv(model, input_shape=shape)


def test_small_image_is_a_shape_error() -> None:
    net = to_fully_conv(cnnkit.from_spec(SPECS[0][0]))
    with pytest.raises(ShapeError, match="at least 25x25"):
        net(torch.rand(1, 1, 20, 40))


def test_detections_are_torchvision_nms_per_class() -> None:
    gen = torch.Generator().manual_seed(3)
    xy = torch.rand(200, 2, generator=gen) * 50
    boxes = torch.cat([xy, xy + 10 + torch.rand(200, 2, generator=gen) * 20], dim=1)
    logits = torch.randn(200, 3, generator=gen) * 3
    found = windows_to_detections(logits, boxes, threshold=0.4, iou=0.3, max_detections=1000)
    probs = logits.softmax(1)
    for cls in (1, 2):  # class 0 is the background
        sel = probs[:, cls] > 0.4
        keep = nms(boxes[sel], probs[sel, cls], 0.3)
        mine = found.labels == cls
        torch.testing.assert_close(found.boxes[mine], boxes[sel][keep])
        torch.testing.assert_close(found.scores[mine], probs[sel, cls][keep])
    assert not (found.labels == 0).any()
    assert torch.all(found.scores[:-1] >= found.scores[1:])  # best first


def test_nms_keeps_overlapping_boxes_of_other_classes() -> None:
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [1, 1, 11, 11], [30, 30, 40, 40.0]])
    logits = torch.tensor([[0, 5, 0], [0, 4, 0], [0, 0, 4], [0, 3, 0.0]])
    found = windows_to_detections(logits, boxes, threshold=0.5, iou=0.5)
    assert found.boxes.tolist() == [[0, 0, 10, 10], [1, 1, 11, 11], [30, 30, 40, 40]]
    assert found.labels.tolist() == [1, 2, 1]
    only_two = windows_to_detections(logits, boxes, threshold=0.5, iou=0.5, classes=[2])
    assert only_two.labels.tolist() == [2]
    with pytest.raises(ShapeError, match="indices below 3"):
        windows_to_detections(logits, boxes, classes=[3])
