"""`cnnkit eval` and `cnnkit predict` through main(): output, JSON, exit statuses."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import cnnkit
from cnnkit.cli.app import main
from cnnkit.data.tensordata import DatasetInfo
from cnnkit.train.run import ModelMetadata, RunDir

sys.path.insert(0, str(Path(__file__).parents[1] / "train"))
from runfactory import make_run

DIGITS_SPEC = "INPUT(1x8x8) -> CONV(8, k=3) -> BN -> RELU -> POOL(2) -> FC(10)"
CONFIG = {"model": DIGITS_SPEC, "data": "digits", "seed": 3, "val_fraction": 0.2, "limit": 120, "eval_batch_size": 32}


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = 0
    try:
        main(args)
    except SystemExit as stop:
        code = int(stop.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def _digits_run(path: Path) -> tuple[RunDir, torch.nn.Module, DatasetInfo]:
    """An (untrained, seeded) digits model with the digits dataset's own info."""
    from cnnkit.data.sources import load_dataset

    torch.manual_seed(0)
    model = cnnkit.build(DIGITS_SPEC).eval()
    info = load_dataset("digits", seed=3, val_fraction=0.2, input_shape=(1, 8, 8), limit=120).info
    run = RunDir.create(path)
    run.write_config(CONFIG)
    run.save_model(model, ModelMetadata.describe(model, info))
    return run, model, info


def test_eval_matches_a_hand_computed_evaluation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cnnkit.data.sources import load_dataset

    run, model, info = _digits_run(tmp_path / "digits-run")
    code, out, _ = _cli(["eval", str(run.path), "--json", "--device", "cpu", "--amp", "off"], capsys)
    assert code == 0
    data = json.loads(out)
    # reference: the same seeded split, normalized with the run's info, argmax by hand
    test = load_dataset("digits", seed=3, val_fraction=0.2, input_shape=(1, 8, 8), limit=120).test
    with torch.no_grad():
        pred = model(info.normalize(test.x)).argmax(dim=1)
    assert data["num_samples"] == len(test)
    assert data["accuracy"] == pytest.approx(float((pred == test.y).float().mean()))
    reference = np.zeros((10, 10), dtype=np.int64)
    np.add.at(reference, (test.y.numpy(), pred.numpy()), 1)
    assert np.array_equal(np.array(data["confusion"]), reference)
    assert sum(row["samples"] for row in data["per_class"]) == len(test)
    assert Path(data["plot"]) == run.path / "eval-digits-test.png" and Path(data["plot"]).stat().st_size > 5000


def test_eval_text_output_and_val_split(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run, _, _ = _digits_run(tmp_path / "r")
    plot = tmp_path / "val.png"
    code, out, _ = _cli(["eval", str(run.path), "--split", "val", "--plot", str(plot)], capsys)
    assert code == 0 and plot.is_file()
    assert "(val split," in out and "accuracy " in out
    assert "confusion matrix (rows = true class, columns = predicted class):" in out
    assert f"confusion plot: {plot}" in out


def test_eval_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run, _, _ = _digits_run(tmp_path / "r")
    folder = tmp_path / "two"
    for name in ("a", "b"):
        (folder / name).mkdir(parents=True)
        for i in range(4):
            Image.new("L", (8, 8), 40 * i).save(folder / name / f"{i}.png")
    code, _, err = _cli(["eval", str(run.path), "--data", f"folder:{folder}"], capsys)
    assert code == 2 and "has 2 classes but the model" in err and err.count("\n") == 1
    code, _, err = _cli(["eval", str(run.path), "--split", "dev"], capsys)
    assert code == 2 and "unknown split 'dev'" in err
    code, _, err = _cli(["eval", str(run.path), "--amp", "fp8"], capsys)
    assert code == 2 and "unknown amp mode 'fp8'" in err
    code, _, err = _cli(["eval", str(tmp_path / "none")], capsys)
    assert code == 2 and err.startswith("error: no run directory")


def test_predict_lines_json_and_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run, _, _ = make_run(tmp_path / "run")
    good = tmp_path / "good.png"
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8), mode="L").save(good)
    code, out, err = _cli(["predict", str(run.path), str(good), "--topk", "2"], capsys)
    assert code == 0 and err == ""
    line = out.strip()
    assert line.startswith(f"{good}: ") and line.count("%") == 2

    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 definitely not a jpeg")
    code, out, err = _cli(["predict", str(run.path), str(bad), str(good), str(tmp_path / "gone.png")], capsys)
    assert code == 1
    assert out.strip().startswith(f"{good}: ") and out.count("\n") == 1  # the good file is still predicted
    assert err.count("\n") == 2 and f"{bad}: error:" in err and "gone.png: error:" in err

    code, out, _ = _cli(["predict", str(run.path), str(good), str(bad), "--json"], capsys)
    assert code == 1
    data = json.loads(out)
    assert [d["file"] for d in data] == [str(good), str(bad)]
    assert len(data[0]["top"]) == 3 and data[0]["error"] is None
    assert set(data[0]["top"][0]) == {"class", "probability"}
    assert data[1]["top"] == [] and "not an image" in data[1]["error"]


def test_predict_unusable_run_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _cli(["predict", str(tmp_path / "nope"), "x.png"], capsys)
    assert code == 2 and err.startswith("error: no run directory") and err.count("\n") == 1


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("eval", "predict"):
        code, out, _ = _cli([command, "--help"], capsys)
        assert code == 0 and f"cnnkit {command} runs/fmnist" in out
