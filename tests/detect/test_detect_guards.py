"""``cnnkit detect``: bad input fails in one line before any work (QA fixes).

Inputs are never overwritten by ``predict`` pictures, --threads and float options are
bounded and finite, sliver and oversized images are handled, and a spec trunk with the
wrong channel count says so.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from PIL import Image

from cnnkit.errors import CnnkitError, DataError, ShapeError

Cli = Callable[[list[object]], tuple[int, str, str]]  # the run_cli fixture (tests/conftest.py)
Error = Callable[[list[object]], str]  # the cli_error fixture (tests/conftest.py)
SCENES = ["--scenes", "4", "--val-scenes", "2", "--test-scenes", "2", "--canvas", "48"]


def test_predict_refuses_to_draw_over_an_input_before_loading_the_run(tmp_path: Path, cli_error: Error) -> None:
    photo = tmp_path / "cat.png"
    Image.new("RGB", (20, 10), (200, 10, 10)).save(photo)
    before = photo.read_bytes()
    # the run does not exist: the -o check must come first, before the run is read
    line = cli_error(["detect", "predict", tmp_path / "no-run", photo, "-o", tmp_path])
    assert "would overwrite the input file" in line and "another folder with -o" in line
    assert photo.read_bytes() == before


def test_picture_paths_never_repeat_and_never_hit_an_input(tmp_path: Path) -> None:
    from cnnkit.detect.run_train import picture_paths

    inputs = [tmp_path / "a.png", tmp_path / "a.jpg", tmp_path / "a-1.png", tmp_path / "sub" / "a.gif"]
    targets = picture_paths(inputs, tmp_path / "out")
    assert len(set(targets)) == len(targets) == 4
    assert all(t.parent == tmp_path / "out" and t.suffix == ".png" for t in targets)
    with pytest.raises(CnnkitError, match="would overwrite the input file"):
        picture_paths([tmp_path / "x.jpg", tmp_path / "x.png"], tmp_path)  # x.jpg's picture is x.png


@pytest.mark.parametrize("command", [
    ["detect", "eval", "RUN", "--threads", "100000"],
    ["detect", "train", *SCENES, "--out", "OUT", "--threads", "100000"],
    ["detect", "train", *SCENES, "--out", "OUT", "--threads", "-1"],
    ["detect", "train", *SCENES, "--out", "OUT", "--lr", "inf"],
    ["detect", "train", *SCENES, "--out", "OUT", "--lr", "0"],
    ["detect", "train", *SCENES, "--out", "OUT", "--ema", "nan"],
    ["detect", "train", *SCENES, "--out", "OUT", "--val-fraction", "inf"],
    ["detect", "predict", "RUN", "x.png", "-o", "OUT", "--conf", "nan"],
])  # fmt: skip
def test_bad_numbers_fail_in_one_line_before_any_work(command: list[str], tmp_path: Path, cli_error: Error) -> None:
    out = tmp_path / "out"
    args = [str(out) if a == "OUT" else str(tmp_path / "no-run") if a == "RUN" else a for a in command]
    line = cli_error(args)
    option = command[-2]
    assert option in line
    assert not out.exists()  # and nothing on stdout (cli_error): no data was made


@pytest.mark.parametrize("size", [(1, 1), (1, 5000), (5000, 1)])
def test_tiny_and_sliver_images_draw_without_warnings(size: tuple[int, int], tmp_path: Path) -> None:
    from cnnkit.atomic import save_figure
    from cnnkit.detect.draw import draw_detections

    h, w = size
    image = torch.zeros(1, h, w, dtype=torch.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any matplotlib warning fails the test
        fig = draw_detections(image, torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64), classes=["a"],
                              scores=torch.zeros(0), title="a-long-file-name.png: 0 objects")
        path = save_figure(tmp_path / "p.png", fig, dpi=100)
    with Image.open(path) as saved:
        assert min(saved.size) >= 100  # the figure keeps a usable size whatever the image's shape


def test_letterbox_calls_an_oversized_image_too_large(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cnnkit.detect.run_train import letterbox

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow refuses above 2x this, warns above 1x
    Image.new("L", (30, 30)).save(tmp_path / "bomb.png")
    with pytest.raises(DataError, match="refused as too large to decode safely") as info:
        letterbox(tmp_path / "bomb.png", channels=1, size=(16, 16))
    assert "damaged" not in str(info.value) and "\n" not in str(info.value)
    Image.new("L", (15, 10)).save(tmp_path / "big.png")  # 150 pixels: Pillow only warns
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        boxed, original, _, _ = letterbox(tmp_path / "big.png", channels=1, size=(16, 16))
    assert tuple(boxed.shape) == (1, 16, 16) and tuple(original.shape) == (1, 10, 15)


def test_spec_trunk_with_other_channels_names_the_channels() -> None:
    from cnnkit.detect.yolo_model import build_yolo

    spec = "INPUT(3x48x48) -> [CONV(8, k=3, p=1) -> BN -> RELU -> POOL(2)]*3 -> FC(10)"
    with pytest.raises(ShapeError) as info:
        build_yolo(spec, num_classes=2, anchors=[[8.0, 8.0]], image_size=(48, 48), in_channels=1)
    message = str(info.value)
    assert "3-channel images but the scenes have 1 channel" in message and "scene size" not in message
    # a trunk whose channels fit but whose size does not still gets the size advice
    small = "INPUT(1x8x8) -> CONV(4, k=3) -> FC(2)"
    with pytest.raises(ShapeError, match="cannot take 1x2x2 images.*fits the scene size"):
        build_yolo(small, num_classes=2, anchors=[[2.0, 2.0]], image_size=(2, 2), in_channels=1)


def test_a_backbone_that_cannot_take_the_scenes_leaves_no_run_folder(tmp_path: Path, run_cli: Cli) -> None:
    out = tmp_path / "det"
    spec = "INPUT(3x48x48) -> [CONV(8, k=3, p=1) -> BN -> RELU -> POOL(2)]*3 -> FC(10)"
    code, _, err = run_cli(["detect", "train", spec, *SCENES, "--epochs", "1", "--out", str(out)])  # the scenes are made first
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: "), err
    assert "3-channel images but the scenes have 1 channel" in err
    assert not out.exists()  # the folder is made only once the detector is built
