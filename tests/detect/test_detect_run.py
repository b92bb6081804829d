"""Detection run directories: save/load round trip, metadata errors, the --data resolver,
letterboxing and mapping boxes back to a file's pixels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from cnnkit.detect.coco_json import write_coco
from cnnkit.detect.data import DataOptions, parse_data, resolve_data, split_set
from cnnkit.detect.run import (
    DetectorMetadata,
    load_detector,
    save_detector,
)
from cnnkit.detect.run_train import letterbox, predict_files
from cnnkit.detect.sample import DetectionSet, Targets
from cnnkit.detect.yolo_folder import write_yolo
from cnnkit.detect.yolo_model import build_yolo
from cnnkit.errors import DataError, RunError
from cnnkit.train.run import RunDir

SPEC = "INPUT(1x32x32) -> [CONV(8, k=3, p=1) -> BN -> RELU -> POOL(2)]*3 -> FC(2)"


def _squares(n: int, size: int = 32, seed: int = 0) -> DetectionSet:
    """Bright 10x10 squares (class 0) and grey 14x7 bars (class 1) on black."""
    g = torch.Generator().manual_seed(seed)
    images = torch.zeros(n, 1, size, size, dtype=torch.uint8)
    targets = []
    for k in range(n):
        c = int(torch.randint(0, 2, (1,), generator=g))
        w, h = (10, 10) if c == 0 else (14, 7)
        x = int(torch.randint(0, size - w + 1, (1,), generator=g))
        y = int(torch.randint(0, size - h + 1, (1,), generator=g))
        images[k, 0, y : y + h, x : x + w] = 255 if c == 0 else 128
        targets.append(Targets(torch.tensor([[x, y, x + w, y + h]], dtype=torch.float32), torch.tensor([c])))
    return DetectionSet(images, targets, ("square", "bar"))


def _detector_run(path: Path) -> tuple[Path, torch.nn.Module]:
    """A detector with random (non-default) weights and buffers, saved as a run."""
    torch.manual_seed(3)
    det = build_yolo(SPEC, num_classes=2, anchors=[(10, 10), (14, 7)], image_size=(32, 32))
    with torch.no_grad():
        for p in det.parameters():
            p.add_(0.1 * torch.randn_like(p))
        det.mean.fill_(0.2)
        det.std.fill_(0.3)
        det.head.bn.running_mean.uniform_(-0.5, 0.5)
    run = RunDir.create(path)
    run.write_config({"data": "scenes"})
    save_detector(run, det, DetectorMetadata.describe(det, backbone=SPEC, classes=("square", "bar"),
                                                      image_size=(32, 32)))
    return path, det.eval()


def test_round_trip_gives_identical_outputs_and_predictions(tmp_path: Path) -> None:
    path, det = _detector_run(tmp_path / "run")
    loaded = load_detector(path)
    images = _squares(4).images
    with torch.no_grad():
        assert torch.equal(loaded.detector(loaded.detector.normalize(images)), det(det.normalize(images)))
    a = det.predict(images, conf_threshold=0.0)
    b = loaded.detector.predict(images, conf_threshold=0.0)
    for x, y in zip(a, b):
        assert all(torch.equal(x[k], y[k]) for k in ("boxes", "scores", "labels"))
    assert loaded.classes == ("square", "bar")
    assert loaded.metadata.anchors == [[10.0, 10.0], [14.0, 7.0]]
    assert torch.allclose(loaded.detector.mean, torch.tensor([0.2]))
    assert not loaded.detector.training


def test_metadata_is_json_not_pickle(tmp_path: Path) -> None:
    path, _ = _detector_run(tmp_path / "run")
    from safetensors import safe_open

    with safe_open(str(path / "model.safetensors"), framework="pt") as f:
        meta = json.loads(f.metadata()["cnnkit_detect"])
    assert meta["backbone"] == SPEC and meta["grid"] == 4 and meta["image_size"] == [32, 32]
    assert meta["in_channels"] == 1 and meta["classes"] == ["square", "bar"]


def _rewrite_metadata(path: Path, change: dict) -> None:
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path / "model.safetensors"), framework="pt") as f:
        meta = json.loads(f.metadata()["cnnkit_detect"])
    meta.update(change)
    save_file(load_file(str(path / "model.safetensors")), str(path / "model.safetensors"),
              metadata={"cnnkit_detect": json.dumps(meta)})


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "no run directory"),
        ("empty", "not a run directory"),
        ("unfinished", "did not finish"),
        ("corrupt", "corrupt"),
        ("classifier", "classifier run"),
        ("foreign", "no cnnkit metadata"),
        ("garbled", "unreadable detector metadata"),
        ("future", "upgrade cnnkit"),
        ("anchors", "do not fit"),
    ],
)
def test_bad_runs_give_run_errors(tmp_path: Path, setup: str, message: str) -> None:
    path = tmp_path / "run"
    if setup == "missing":
        pass
    elif setup == "empty":
        path.mkdir()
    elif setup == "unfinished":
        path.mkdir()
        (path / "config.json").write_text("{}")
    elif setup in ("corrupt", "classifier", "foreign", "garbled"):
        path.mkdir()
        if setup == "corrupt":
            (path / "model.safetensors").write_bytes(b"\x00" * 40)
        else:
            meta = {"classifier": {"cnnkit": '{"architecture": "quicknet"}'}, "foreign": {"x": "1"},
                    "garbled": {"cnnkit_detect": "{not json"}}[setup]
            save_file({"w": torch.zeros(2)}, str(path / "model.safetensors"), metadata=meta)
    else:
        _detector_run(path)
        _rewrite_metadata(path, {"format_version": 99} if setup == "future" else {"anchors": [[10, 10]]})
    with pytest.raises(RunError, match=message):
        load_detector(path)


def test_parse_data_forms_and_errors() -> None:
    assert parse_data("scenes") == ("scenes", None)
    assert parse_data("yolo:/x/y") == ("yolo", Path("/x/y"))
    assert parse_data("coco:a.json")[0] == "coco"
    for bad in ("scene", "yolo:", "voc:/x", "scenes:3"):
        with pytest.raises(DataError, match="give scenes, yolo:PATH"):
            parse_data(bad)
    with pytest.raises(DataError, match="did you mean 'scenes'"):
        parse_data("scenez")


def test_split_set_is_seeded_disjoint_and_complete() -> None:
    data = _squares(20)
    a = split_set(data, val_fraction=0.2, test_fraction=0.1, seed=5)
    b = split_set(data, val_fraction=0.2, test_fraction=0.1, seed=5)
    assert (len(a.train), len(a.val), len(a.test)) == (14, 4, 2)
    assert torch.equal(a.val.images, b.val.images)
    rows = {tuple(x.flatten().tolist()) for part in (a.train, a.val, a.test) for x in part.images}
    assert len(rows) == len({tuple(x.flatten().tolist()) for x in data.images})
    with pytest.raises(DataError, match="3 or more"):
        split_set(_squares(2), val_fraction=0.1, test_fraction=0.1, seed=0)


def test_yolo_and_coco_folders_resolve(tmp_path: Path) -> None:
    data = _squares(10)
    write_yolo(data, tmp_path / "one")
    splits = resolve_data(f"yolo:{tmp_path / 'one'}", DataOptions(val_fraction=0.2, test_fraction=0.2, seed=1))
    assert (len(splits.train), len(splits.val), len(splits.test)) == (6, 2, 2)
    assert splits.train.classes == ("square", "bar")
    for name, part in (("train", data.subset(range(6))), ("val", data.subset([6, 7]))):
        write_yolo(part, tmp_path / "split" / name)
    pre = resolve_data(f"yolo:{tmp_path / 'split'}")
    assert len(pre.train) == 6 and len(pre.val) == 2 and len(pre.test) == 2
    assert torch.equal(pre.val.images, data.images[6:8])
    assert any("validation split is the test split" in n for n in pre.test.notes)
    coco = write_coco(data, tmp_path / "coco")
    whole = resolve_data(f"coco:{coco}", DataOptions(seed=0))
    assert len(whole.train) + len(whole.val) + len(whole.test) == 10
    with pytest.raises(DataError, match="does not exist"):
        resolve_data(f"coco:{tmp_path / 'nope.json'}")


def test_letterbox_scales_centres_and_maps_back(tmp_path: Path) -> None:
    # a 60 (wide) x 30 image with a white block at x 10..30, y 5..15 -> 32x32: scale 32/60, y offset 8
    pixels = torch.zeros(30, 60, dtype=torch.uint8)
    pixels[5:15, 10:30] = 255
    Image.fromarray(pixels.numpy(), mode="L").save(tmp_path / "wide.png")
    boxed, original, scale, (ox, oy) = letterbox(tmp_path / "wide.png", channels=1, size=(32, 32))
    assert boxed.shape == (1, 32, 32) and torch.equal(original[0], pixels)
    assert scale == pytest.approx(32 / 60) and (ox, oy) == (0, 8)
    assert boxed[0, :8].max() == 0 and boxed[0, 24:].max() == 0  # black bands above and below
    bright = (boxed[0] > 128).nonzero()
    assert bright[:, 0].min() == 8 + round(5 * scale) and bright[:, 1].min() == round(10 * scale)


def test_predict_files_maps_boxes_to_file_pixels_and_reports_bad_files(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    path, _ = _detector_run(tmp_path / "run")
    loaded = load_detector(path)
    fixed = {"boxes": torch.tensor([[4.0, 12.0, 20.0, 20.0]]), "scores": torch.tensor([0.9]),
             "labels": torch.tensor([1])}
    monkeypatch.setattr(loaded.detector, "predict", lambda images, **kw: [dict(fixed)])
    Image.new("L", (60, 30)).save(tmp_path / "wide.png")
    (tmp_path / "bad.png").write_bytes(b"not an image")
    results = predict_files(loaded, [tmp_path / "wide.png", tmp_path / "bad.png", tmp_path / "gone.png"],
                            tmp_path / "out")
    good, bad, gone = results
    s, oy = 32 / 60, 8
    expected = torch.tensor([[4 / s, (12 - oy) / s, 20 / s, (20 - oy) / s]])
    assert torch.allclose(good.boxes, expected, atol=1e-4)
    assert good.output is not None and good.output.is_file()
    assert good.lines()[1].startswith("  bar 0.90 at (8, 8, 38, 22)")
    assert not bad.ok and "not an image" in bad.error and "no such file" in gone.error
    assert bad.lines() == [f"{tmp_path / 'bad.png'}: error: {bad.error}"]


def test_predict_files_draws_each_object_once_unless_per_class_nms(tmp_path: Path) -> None:
    path, det = _detector_run(tmp_path / "run")
    loaded = load_detector(path)
    Image.fromarray(_squares(1, seed=4).images[0, 0].numpy()).save(tmp_path / "scene.png")
    from torchvision.ops import box_iou

    agnostic = predict_files(loaded, [tmp_path / "scene.png"], tmp_path / "a", conf=0.0)[0]
    per_class = predict_files(loaded, [tmp_path / "scene.png"], tmp_path / "b", conf=0.0, class_agnostic=False)[0]
    want = det.predict(_squares(1, seed=4).images, conf_threshold=0.0, iou_threshold=0.45, class_agnostic=True)[0]
    assert len(agnostic.boxes) > 1 and torch.equal(agnostic.labels, want["labels"])
    assert torch.allclose(agnostic.boxes, want["boxes"], atol=1e-4)  # a 32x32 file: no letterbox
    ious = box_iou(agnostic.boxes, agnostic.boxes).fill_diagonal_(0)
    assert bool((ious <= 0.45).all())  # no two drawn boxes cover one object
    assert len(per_class.boxes) > len(agnostic.boxes)  # this random detector names some boxes twice
