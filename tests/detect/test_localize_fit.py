"""A tiny localizer overfits a few scenes; evaluation against torchvision IoU; weights round trip."""

from __future__ import annotations

import torch
from torchvision.ops import box_iou

from cnnkit.detect.localize import build_localizer
from cnnkit.detect.localize_fit import (
    LocalizeFitConfig,
    evaluate,
    fit,
    load_localizer,
    save_localizer,
)
from cnnkit.detect.sample import DetectionSet, Targets

NAMES = ("centre", "top_left", "top_right", "bottom_right", "bottom_left")
SPEC = "INPUT(1x32x32) -> [CONV(16, k=3, p=1) -> BN -> RELU -> POOL(2)]*2 -> FC(2)"


def _scenes(n: int, seed: int = 0) -> DetectionSet:
    """Bright squares (class 0) and grey bars (class 1) on black 32x32 scenes, one in three empty."""
    g = torch.Generator().manual_seed(seed)
    images = torch.zeros(n, 1, 32, 32, dtype=torch.uint8)
    targets = []
    for k in range(n):
        if k % 3 == 2:
            targets.append(Targets(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long), torch.zeros(0, 5, 2)))
            continue
        c = k % 2
        w, h = (10, 10) if c == 0 else (16, 6)
        x, y = (int(torch.randint(0, 32 - s + 1, (1,), generator=g)) for s in (w, h))
        images[k, 0, y : y + h, x : x + w] = 255 if c == 0 else 120
        x1, y1, x2, y2 = float(x), float(y), float(x + w), float(y + h)
        marks = torch.tensor([[[(x1 + x2) / 2, (y1 + y2) / 2], [x1, y1], [x2, y1], [x2, y2], [x1, y2]]])
        targets.append(Targets(torch.tensor([[x1, y1, x2, y2]]), torch.tensor([c]), marks))
    return DetectionSet(images, targets, ("square", "bar"), NAMES)


def test_tiny_model_overfits_a_few_scenes(tmp_path) -> None:
    torch.manual_seed(0)
    data = _scenes(12)
    model = build_localizer(SPEC, num_classes=2, num_landmarks=5, image_size=(32, 32), hidden=64)
    history = fit(model, data, LocalizeFitConfig(epochs=150, batch_size=12, lr=5e-3, flip=False, shift=0))
    assert history[-1]["loss"] < 0.2 * history[0]["loss"]
    figures = evaluate(model, data)
    assert figures["p_object_accuracy"] == 1.0 and figures["class_accuracy"] == 1.0
    assert figures["mean_iou"] > 0.85 and figures["landmark_error_px"] < 1.5

    # evaluate's IoU and landmark error against torchvision and the explicit distance
    found = model.predict(data.images)
    rows = [i for i, t in enumerate(data.targets) if len(t)]
    ious = [float(box_iou(found.boxes[i : i + 1], data.targets[i].boxes)[0, 0]) for i in rows]
    assert abs(figures["mean_iou"] - sum(ious) / len(ious)) < 1e-5
    dist = [((found.landmarks[i] - data.targets[i].landmarks[0]) ** 2).sum(-1).sqrt().mean() for i in rows]
    assert abs(figures["landmark_error_px"] - float(torch.stack(dist).mean())) < 1e-4

    path = tmp_path / "model.safetensors"
    save_localizer(model, str(path), architecture=SPEC, image_size=(32, 32), classes=data.classes,
                   landmark_names=NAMES)
    loaded, meta = load_localizer(str(path))
    assert meta["classes"] == ["square", "bar"]
    assert torch.equal(loaded.predict(data.images).boxes, found.boxes)


def test_a_localizer_under_the_old_header_key_is_named_older(tmp_path) -> None:
    import json

    import pytest
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from cnnkit.errors import RunError

    path = tmp_path / "model.safetensors"
    net = build_localizer("quicknet", num_classes=3, num_landmarks=5, image_size=(32, 32))
    save_localizer(net, str(path), architecture="quicknet", image_size=(32, 32), classes=["a", "b", "c"],
                   landmark_names=[f"p{i}" for i in range(5)])
    with safe_open(str(path), framework="pt") as handle:
        header = handle.metadata()
    assert set(header) == {"cnnkit_localize"}  # its own key, as every run kind has
    old = tmp_path / "old.safetensors"  # as cnnkit wrote localizers before: under "cnnkit"
    save_file(load_file(str(path)), str(old), metadata={"cnnkit": header["cnnkit_localize"]})
    assert json.loads(header["cnnkit_localize"])["format"].startswith("cnnkit-localizer/")
    with pytest.raises(RunError, match="localizer of an older cnnkit; train it again"):
        load_localizer(str(old))
