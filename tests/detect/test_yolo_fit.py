"""Augmentation keeps boxes on their objects; a tiny detector overfits a few synthetic scenes."""

from __future__ import annotations

import pytest
import torch
from torchmetrics.detection import MeanAveragePrecision

from cnnkit.detect.sample import DetectionSet, Targets
from cnnkit.detect.yolo_fit import FitConfig, augment, evaluate_map, fit, weight_ema
from cnnkit.detect.yolo_model import build_yolo
from cnnkit.errors import DataError

TRUNK = "INPUT(1x32x32) -> [CONV(16, k=3, p=1) -> BN -> RELU -> POOL(2)]*3 -> FC(2)"


def _scenes(n: int, size: int = 32, seed: int = 0) -> DetectionSet:
    """Two classes: bright 10x10 squares and grey 14x7 bars, two objects per black scene."""
    g = torch.Generator().manual_seed(seed)
    images = torch.zeros(n, 1, size, size, dtype=torch.uint8)
    targets = []
    for k in range(n):
        boxes, labels = [], []
        for _ in range(2):
            c = int(torch.randint(0, 2, (1,), generator=g))
            w, h = (10, 10) if c == 0 else (14, 7)
            x = int(torch.randint(0, size - w + 1, (1,), generator=g))
            y = int(torch.randint(0, size - h + 1, (1,), generator=g))
            images[k, 0, y : y + h, x : x + w] = 255 if c == 0 else 128
            boxes.append([x, y, x + w, y + h])
            labels.append(c)
        targets.append(Targets(torch.tensor(boxes, dtype=torch.float32), torch.tensor(labels)))
    return DetectionSet(images, targets, ("square", "bar"))


def test_flip_and_shift_move_boxes_with_the_pixels() -> None:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(1, 256, (6, 1, 24, 32), dtype=torch.uint8, generator=g)
    targets = [Targets(torch.tensor([[4.0, 5.0, 14.0, 12.0], [20.0, 2.0, 31.0, 22.0]]), torch.tensor([0, 1]))
               for _ in range(6)]
    for flip, shift in [(True, 0), (False, 3), (True, 3)]:
        out, moved = augment(images, targets, flip=flip, shift=shift, generator=g)
        assert out.shape == images.shape and out.dtype == torch.uint8
        for k in range(6):
            for box, label in zip(moved[k].boxes.long().tolist(), moved[k].labels.tolist()):
                x1, y1, x2, y2 = box
                src = targets[k].boxes[label].long().tolist()
                crop = images[k, 0, src[1] : src[3], src[0] : src[2]]
                got = out[k, 0, y1:y2, x1:x2]
                if got.shape != crop.shape:  # clipped at the border: the visible part is a sub-block
                    continue
                assert torch.equal(got, crop) or torch.equal(got, crop.flip(-1))
    _, kept = augment(images, targets, flip=False, shift=0, generator=g)
    assert all(torch.equal(a.boxes, b.boxes) for a, b in zip(kept, targets))


def test_shift_drops_boxes_mostly_out_of_view() -> None:
    images = torch.zeros(40, 1, 16, 16, dtype=torch.uint8)
    targets = [Targets(torch.tensor([[0.0, 0.0, 4.0, 4.0]]), torch.tensor([0])) for _ in range(40)]
    _, moved = augment(images, targets, flip=False, shift=3, generator=torch.Generator().manual_seed(1))
    for t in moved:
        if len(t):
            area = (t.boxes[0, 2] - t.boxes[0, 0]) * (t.boxes[0, 3] - t.boxes[0, 1])
            assert area >= 0.4 * 16 and (t.boxes >= 0).all()
    assert any(len(t) == 0 for t in moved) and any(len(t) == 1 for t in moved)


def test_tiny_detector_overfits_a_few_scenes() -> None:
    torch.manual_seed(0)
    data = _scenes(4)
    det = build_yolo(TRUNK, num_classes=2, anchors=[(10, 10), (14, 7)], image_size=(32, 32), head_width=32)
    history = fit(det, data, FitConfig(epochs=150, batch_size=4, lr=1e-2, flip=False, shift=0))
    assert history[-1]["loss"] < 0.1 * history[0]["loss"]
    metric = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", backend="faster_coco_eval")
    metric.update(det.predict(data.images, conf_threshold=0.01),
                  [{"boxes": t.boxes, "labels": t.labels} for t in data.targets])
    assert float(metric.compute()["map_50"]) == 1.0
    assert evaluate_map(det, data)["map_50"] == 1.0
    # learnt statistics of the training images
    assert det.mean.item() == pytest.approx(data.images.float().div(255).mean().item(), rel=1e-5)


def test_fit_checks_its_inputs() -> None:
    data = _scenes(2)
    det = build_yolo("quicknet", num_classes=2, anchors=[(10, 10)], image_size=(32, 32), in_channels=3)
    with pytest.raises(DataError, match="in_channels=1"):
        fit(det, data, FitConfig(epochs=1))
    det = build_yolo(TRUNK, num_classes=2, anchors=[(10, 10)], image_size=(32, 32))
    with pytest.raises(DataError, match="ignore_rule"):
        fit(det, data, FitConfig(epochs=1, ignore_rule="nearest"))  # type: ignore[arg-type]
    history = fit(det, data, FitConfig(epochs=2, batch_size=2, ignore_rule="anchors"), val=data)
    assert len(history) == 2 and set(history[0]) >= {"loss", "box", "obj", "noobj", "cls", "map50", "seconds"}


def test_weight_ema_follows_its_formula_with_the_ramp() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(2, 1), torch.nn.BatchNorm1d(1))
    averaged = weight_ema(model, 0.9, ramp_steps=3.0)
    expected = {k: v.clone().double() for k, v in model.state_dict().items() if v.is_floating_point()}
    g = torch.Generator().manual_seed(0)
    for step in range(6):
        with torch.no_grad():  # a fake optimizer step and new BN statistics
            for p in model.parameters():
                p.add_(torch.randn(p.shape, generator=g))
            model[1].running_mean.add_(1.0)
            model[1].num_batches_tracked += 1
        averaged.update_parameters(model)
        if step == 0:  # the first update copies the weights
            expected = {k: model.state_dict()[k].clone().double() for k in expected}
        else:  # d_t = decay * (1 - exp(-t / ramp)), t = updates before this one
            d = 0.9 * (1 - torch.exp(torch.tensor(-step / 3.0, dtype=torch.float64)))
            expected = {k: d * v + (1 - d) * model.state_dict()[k].double() for k, v in expected.items()}
    got = averaged.module.state_dict()
    for key, value in expected.items():
        assert torch.allclose(got[key].double(), value, atol=1e-6), key
    assert int(got["1.num_batches_tracked"]) == 6  # integer buffers are copied


def test_fit_with_ema_leaves_the_averaged_weights_in_the_detector(monkeypatch: pytest.MonkeyPatch) -> None:
    import cnnkit.detect.yolo_fit as yolo_fit

    made = []

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        made.append(weight_ema(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(yolo_fit, "weight_ema", spy)
    torch.manual_seed(0)
    data = _scenes(4)
    det = build_yolo(TRUNK, num_classes=2, anchors=[(10, 10), (14, 7)], image_size=(32, 32), head_width=32)
    history = fit(det, data, FitConfig(epochs=150, batch_size=4, lr=1e-2, flip=False, shift=0, ema_horizon=0.05))
    assert history[-1]["loss"] < 0.1 * history[0]["loss"]
    assert len(made) == 1 and int(made[0].n_averaged) == 150  # one update per step
    final, averaged = det.state_dict(), made[0].module.state_dict()
    assert all(torch.equal(final[k], averaged[k]) for k in final)
    assert evaluate_map(det, data)["map_50"] == 1.0
    with pytest.raises(DataError, match="ema_horizon"):
        fit(det, data, FitConfig(epochs=1, ema_horizon=1.5))
