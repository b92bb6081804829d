"""`cnnkit interpret saliency` through main(): pictures, default names, JSON numbers, errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnnkit.cli.app import main
from cnnkit.interpret.subject import Subject


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = 0
    try:
        main(args)
    except SystemExit as stop:
        code = int(stop.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_writes_png_and_prints_prediction(digits_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "grad.png"
    code, stdout, err = _cli(["interpret", "saliency", str(digits_run), "test:0", "test:1", "-o", str(out)], capsys)
    assert code == 0, err
    assert f"wrote {out}" in stdout and "test:1: predicted" in stdout
    assert Image.open(out).size[0] > 300


def test_all_methods_default_output_name(digits_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    shutil.copytree(digits_run, run)  # the fixture is read-only; default pictures go into the run
    code, _, err = _cli(["interpret", "saliency", str(run), "test:2", "--method", "all"], capsys)
    assert code == 0, err
    assert (run / "interpret" / "saliency-test-2.png").is_file()
    code, _, err = _cli(["interpret", "saliency", str(run), "test:2", "--method", "occlusion"], capsys)
    assert code == 0, err
    assert (run / "interpret" / "occlusion-test-2.png").is_file()


def test_json_numbers_match_the_model(digits_run: Path, digits_subject: Subject, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    args = ["interpret", "saliency", str(digits_run), "test:5", "--method", "gradcam", "--target", "3",
            "--json", "-o", str(tmp_path / "cam.png")]
    code, stdout, err = _cli(args, capsys)
    assert code == 0, err
    data = json.loads(stdout)
    image, truth = digits_subject.read_image("test:5")
    probs = digits_subject.probabilities(digits_subject.to_input(image))[0]
    (entry,) = data["images"]
    (cam,) = entry["maps"]
    assert entry["true"] == truth and cam["target"] == 3 and cam["method"] == "gradcam"
    assert cam["predicted"] == int(probs.argmax())
    assert cam["probability"] == pytest.approx(float(probs.max()), abs=1e-6)
    assert cam["target_probability"] == pytest.approx(float(probs[3]), abs=1e-6)
    assert data["pictures"] == [str(tmp_path / "cam.png")]


def test_image_file_of_another_size_is_converted(digits_run: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "eight.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(path)
    code, stdout, err = _cli(["interpret", "saliency", str(digits_run), str(path), "-m", "smoothgrad",
                              "-o", str(tmp_path / "s.png")], capsys)
    assert code == 0, err
    assert "wrote" in stdout


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--target", "12"], "out of range"),
        (["--target", "shoe"], "not a class"),
        (["--method", "gradcam", "--layer", "features.nope"], "no layer"),
        (["--method", "gradiant"], "did you mean 'gradient'"),
        (["--method", "occlusion", "--layer", "features"], "add --method gradcam"),
    ],
)
def test_bad_options_are_one_line_errors(digits_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         extra: list[str], message: str) -> None:
    code, _, err = _cli(["interpret", "saliency", str(digits_run), "test:0", *extra, "-o", str(tmp_path / "x.png")],
                        capsys)
    assert code == 2
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.png").exists()


def test_wrong_image_size_tensor_is_a_shape_error(digits_subject: Subject) -> None:
    from cnnkit.errors import ShapeError
    from cnnkit.interpret.attribution import saliency

    with pytest.raises(ShapeError, match="takes images of 1x16x16"):
        saliency(digits_subject, torch.zeros(3, 16, 16, dtype=torch.uint8))


def test_baseline_and_ig_samples_are_checked_before_any_work(digits_run: Path, cli_error) -> None:
    line = cli_error(["interpret", "saliency", digits_run, "test:0", "--method", "occlusion", "--baseline", "grey"])
    assert "baseline 'grey' is not known" in line and "auto, black, mean, blur" in line
    line = cli_error(["interpret", "saliency", digits_run, "test:0", "--ig-samples", "0"])
    assert "--ig-samples" in line


def test_baseline_reaches_the_json(digits_run: Path, tmp_path: Path, run_cli) -> None:
    code, out, err = run_cli(["interpret", "saliency", digits_run, "test:0", "--method", "occlusion", "--baseline",
                              "Mean", "--json", "-o", tmp_path / "o.png"])
    assert code == 0, err
    assert json.loads(out)["images"][0]["maps"][0]["baseline"] == "image mean"
