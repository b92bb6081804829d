"""predict: top-k per file, checked against the model run by hand; bad files do not stop it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from runfactory import make_run, tiny_info

from cnnkit.data.tensordata import DatasetInfo
from cnnkit.errors import CnnkitError, RunError
from cnnkit.train.predict import FileError, Prediction, predict
from cnnkit.train.run import ModelMetadata, RunDir, load_run


def _grey_png(path: Path, seed: int, size: tuple[int, int] = (8, 8)) -> np.ndarray:
    pixels = np.random.default_rng(seed).integers(0, 256, size=(size[1], size[0]), dtype=np.uint8)
    Image.fromarray(pixels, mode="L").save(path)
    return pixels


def test_matches_the_model_by_hand(tmp_path: Path) -> None:
    run, model, info = make_run(tmp_path / "run")
    arrays = [_grey_png(tmp_path / f"{i}.png", i) for i in range(3)]
    results = predict(run.path, [tmp_path / f"{i}.png" for i in range(3)], topk=2, batch_size=2)
    # reference: the same pixels normalized with the run's mean/std, through the model
    x = torch.tensor(np.stack(arrays), dtype=torch.float32).unsqueeze(1) / 255.0
    with torch.no_grad():
        probs = torch.softmax(model.eval()((x - info.mean[0]) / info.std[0]), dim=1)
    for i, result in enumerate(results):
        assert isinstance(result, Prediction) and result.ok
        assert result.file == str(tmp_path / f"{i}.png")
        order = probs[i].argsort(descending=True)[:2]
        assert [name for name, _ in result.top] == [info.classes[int(c)] for c in order]
        assert [p for _, p in result.top] == pytest.approx(probs[i, order].tolist(), abs=1e-6)


def test_bad_files_get_their_own_error(tmp_path: Path) -> None:
    run, _, _ = make_run(tmp_path / "run")
    good = tmp_path / "good.png"
    _grey_png(good, 0)
    rgba = tmp_path / "big.png"  # other mode and size: converted, not refused
    Image.new("RGBA", (40, 25), (200, 10, 10, 128)).save(rgba)
    jpeg = tmp_path / "photo.jpg"
    Image.new("RGB", (30, 50), (1, 2, 3)).save(jpeg)
    text = tmp_path / "notes.png"
    text.write_text("not an image at all")
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(good.read_bytes()[:40])
    paths = [good, tmp_path / "missing.png", rgba, text, truncated, jpeg]
    results = predict(load_run(run.path), paths, topk=10)
    assert [r.ok for r in results] == [True, False, True, False, False, True]
    assert [r.file for r in results] == [str(p) for p in paths]
    for r in results:
        if isinstance(r, FileError):
            assert "\n" not in r.error and not r.error.startswith(r.file)  # the file is named once
            assert r.line().count(r.file) == 1
            assert r.to_dict() == {"file": r.file, "top": [], "error": r.error}
            assert r.line().startswith(f"{r.file}: error: ")
        else:
            assert len(r.top) == 3  # topk is capped at the number of classes
            probs = [p for _, p in r.top]
            assert probs == sorted(probs, reverse=True) and sum(probs) == pytest.approx(1.0, abs=1e-5)


def test_line_and_json_formats() -> None:
    result = Prediction("shirt.png", [("Shirt", 0.9123), ("T-shirt/top", 0.061), ("Pullover", 0.013)])
    assert result.line() == "shirt.png: Shirt 91.2%, T-shirt/top 6.1%, Pullover 1.3%"
    assert result.to_dict() == {
        "file": "shirt.png",
        "top": [{"class": "Shirt", "probability": 0.9123}, {"class": "T-shirt/top", "probability": 0.061},
                {"class": "Pullover", "probability": 0.013}],
        "error": None,
    }


def test_rgb_run_and_refusals(tmp_path: Path) -> None:
    import cnnkit

    model = cnnkit.build("INPUT(3x8x8) -> CONV(2, k=3) -> RELU -> FC(3)")
    run, _, _ = make_run(tmp_path / "rgb", model=model, info=tiny_info(shape=(3, 8, 8)))
    grey = tmp_path / "grey.png"
    _grey_png(grey, 1, size=(16, 16))
    assert predict(run.path, [grey])[0].ok  # one channel in, three channels for the model
    with pytest.raises(CnnkitError, match="topk must be at least 1"):
        predict(run.path, [grey], topk=0)
    signal_info = DatasetInfo("waves", "signal", (1, 40), ("a", "b"), (0.0,), (1.0,))
    net = cnnkit.build("INPUT(1x40) -> CONV(2, k=3) -> RELU -> FC(2)")
    signal_run = RunDir.create(tmp_path / "sig")
    signal_run.write_config({})
    signal_run.save_model(net, ModelMetadata.describe(net, signal_info))
    with pytest.raises(RunError, match="trained on signal data.*cnnkit eval"):
        predict(signal_run.path, [grey])


def test_flip_tta_averages_the_logits_of_the_image_and_its_mirror(tmp_path: Path) -> None:
    run, model, info = make_run(tmp_path / "run")
    arrays = [_grey_png(tmp_path / f"{i}.png", i) for i in range(2)]
    x = (torch.tensor(np.stack(arrays), dtype=torch.float32).unsqueeze(1) / 255.0 - info.mean[0]) / info.std[0]
    with torch.no_grad():
        model.eval()
        probs = torch.softmax((model(x) + model(x.flip(-1))) / 2, dim=1)
    results = predict(run.path, [tmp_path / f"{i}.png" for i in range(2)], topk=1, tta_flip=True)
    for i, result in enumerate(results):
        assert result.top[0] == (info.classes[int(probs[i].argmax())], pytest.approx(float(probs[i].max()), abs=1e-6))
    plain = predict(run.path, [tmp_path / "0.png"], topk=3)  # default: as the run was evaluated (no TTA here)
    assert plain == predict(run.path, [tmp_path / "0.png"], topk=3, tta_flip=False)
