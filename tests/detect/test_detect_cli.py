"""``cnnkit detect train | eval | predict`` end to end on a few tiny generated scenes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from cnnkit.cli.app import main
from cnnkit.detect.data import DataOptions, resolve_data
from cnnkit.detect.evaluate import detection_map
from cnnkit.detect.run import load_detector

Cli = Callable[[list[object]], tuple[int, str, str]]  # the run_cli fixture (tests/conftest.py)
SPEC = "INPUT(1x48x48) -> [CONV(8, k=3, p=1) -> BN -> RELU -> POOL(2)]*3 -> FC(10)"
SCENE_ARGS = ["--scenes", "12", "--val-scenes", "3", "--test-scenes", "4", "--canvas", "48", "--seed", "1"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("detect") / "run"
    with pytest.raises(SystemExit) as stop:  # typer's standalone mode exits 0
        main(["detect", "train", SPEC, *SCENE_ARGS, "--epochs", "2", "--anchors", "3", "--grid", "0",
              "--out", str(out)])
    assert not stop.value.code
    return out


def test_train_writes_a_complete_run(trained: Path) -> None:
    for name in ("config.json", "metrics.jsonl", "model.safetensors", "report.md", "pr_curve.png", "predictions.png"):
        assert (trained / name).is_file(), name
    records = [json.loads(line) for line in (trained / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    assert all({"loss", "box", "obj", "noobj", "cls", "map50"} <= set(r) for r in records)
    config = json.loads((trained / "config.json").read_text())
    assert config["backbone"] == SPEC and config["data"] == "scenes" and config["data_options"]["scenes"] == 12
    assert len(config["anchors_wh"]) == 3
    report = (trained / "report.md").read_text()
    assert "test mAP@0.5" in report and "mAP@[.5:.95]" in report and "images/s" in report
    assert "| T-shirt/top |" in report
    assert load_detector(trained).detector.num_anchors == 3


def test_eval_json_equals_detection_map_on_the_same_predictions(trained: Path,
                                                                run_cli: Cli) -> None:
    code, out, _ = run_cli(["detect", "eval", str(trained), "--json"])
    assert code == 0
    got = json.loads(out)
    loaded = load_detector(trained)
    test = resolve_data("scenes", DataOptions(scenes=12, val_scenes=3, test_scenes=4, canvas=48, seed=1)).test
    preds = loaded.detector.predict(test.images, conf_threshold=0.01, iou_threshold=0.45)
    expected = detection_map(preds, test.targets, test.classes)
    assert got["images"] == 4 and got["targets"] == expected["targets"]
    for key in ("map_50", "map", "map_75", "predictions"):
        assert got[key] == pytest.approx(expected[key])
    assert got["per_class"] == expected["per_class"]
    code, text, _ = run_cli(["detect", "eval", str(trained)])
    assert code == 0 and "mAP@0.5" in text and "Ankle boot" in text


def test_predict_draws_good_files_and_reports_bad_ones(trained: Path, tmp_path: Path,
                                                       run_cli: Cli) -> None:
    test = resolve_data("scenes", DataOptions(scenes=12, val_scenes=3, test_scenes=4, canvas=48, seed=1)).test
    Image.fromarray(test.images[0, 0].numpy(), mode="L").save(tmp_path / "scene.png")
    Image.fromarray(test.images[1, 0].numpy(), mode="L").resize((96, 64)).convert("RGB").save(tmp_path / "big.jpg")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG broken")
    files = [tmp_path / "scene.png", tmp_path / "broken.png", tmp_path / "missing.png", tmp_path / "big.jpg"]
    code, out, err = run_cli(["detect", "predict", str(trained), *map(str, files), "-o", str(tmp_path / "pics"),
                          "--conf", "0.0"])
    assert code == 1
    assert (tmp_path / "pics" / "scene.png").is_file() and (tmp_path / "pics" / "big.png").is_file()
    assert f"{tmp_path / 'scene.png'}: " in out and f"{tmp_path / 'big.jpg'}: " in out
    assert err.count("error:") == 2 and "broken.png: error:" in err and "missing.png: error: no such file" in err
    code, out, _ = run_cli(["detect", "predict", str(trained), str(tmp_path / "big.jpg"), "-o", str(tmp_path / "p2"),
                        "--conf", "0.0", "--json"])
    entry = json.loads(out)[0]
    assert code == 0 and entry["detections"]
    for d in entry["detections"]:  # boxes in the 96x64 file's pixels
        x1, y1, x2, y2 = d["box"]
        assert 0 <= x1 < x2 <= 96 and 0 <= y1 < y2 <= 64 and 0 <= d["score"] <= 1


def test_wrong_runs_and_bad_options_exit_2(trained: Path, tmp_path: Path, run_cli: Cli) -> None:
    classifier = tmp_path / "clf"
    classifier.mkdir()
    save_file({"w": torch.zeros(1)}, str(classifier / "model.safetensors"), metadata={"cnnkit": "{}"})
    code, _, err = run_cli(["detect", "eval", str(classifier)])
    assert code == 2 and err.startswith("error:") and "classifier run" in err and len(err.splitlines()) == 1
    code, _, err = run_cli(["detect", "eval", str(tmp_path / "nothing")])
    assert code == 2 and "no run directory" in err
    code, _, err = run_cli(["detect", "eval", str(trained), "--data", "voc:x"])
    assert code == 2 and "give scenes, yolo:PATH" in err
    code, _, err = run_cli(["detect", "train", SPEC, *SCENE_ARGS, "--out", str(trained)])
    assert code == 2 and "already holds" in err


def test_unknown_backbone_fails_before_any_data_or_folder(tmp_path: Path, run_cli: Cli) -> None:
    out = tmp_path / "run"
    code, stdout, err = run_cli(["detect", "train", "quicknett", *SCENE_ARGS, "--out", str(out)])
    assert code == 2 and "unknown model 'quicknett'" in err and len(err.splitlines()) == 1
    assert "data scenes" not in stdout and not out.exists()


@pytest.mark.parametrize("command", ["train", "eval", "predict", "localize"])
def test_help_names_each_default_once(command: str, run_cli: Cli) -> None:
    """The CLI prints ``[default: X]`` itself; an option's own help must not say it again."""
    code, out, _ = run_cli(["detect", command, "--help"])
    assert code == 0
    entries: list[str] = []  # one entry per argument or option: its first line and continuation lines
    for line in out.splitlines():
        if line.startswith("  ") and not line.startswith("   ") and line.strip():
            entries.append(line)
        elif line.startswith("   ") and entries:
            entries[-1] += " " + line.strip()
    assert len(entries) > 3
    for entry in entries:
        assert entry.count("default") <= 1, entry
    assert "[[" not in out.splitlines()[0], out.splitlines()[0]


def test_train_names_its_run_like_every_command_and_prints_json_or_one_line(
    tmp_path: Path, run_cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(["detect", "train", SPEC, *SCENE_ARGS, "--epochs", "1", "--anchors", "2", "--json"])
    assert code == 0, err
    result = json.loads(out)  # nothing but the JSON on stdout
    assert result["run"] == "runs/scenes-detect-1" and (tmp_path / result["run"] / "model.safetensors").is_file()
    loaded = load_detector(tmp_path / result["run"])
    test = resolve_data("scenes", DataOptions(scenes=12, val_scenes=3, test_scenes=4, canvas=48, seed=1)).test
    found = loaded.detector.predict(test.images, conf_threshold=0.01, iou_threshold=0.45, multi_label=True)
    assert result["map_50"] == pytest.approx(detection_map(found, test.targets, loaded.classes)["map_50"])

    code, out, err = run_cli(["detect", "train", SPEC, *SCENE_ARGS, "--epochs", "1", "--anchors", "2", "-q", "-n", "q"])
    assert code == 0 and err == ""
    assert out.count("\n") == 1 and out.startswith("runs/q: test mAP@0.5 ")
