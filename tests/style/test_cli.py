"""`cnnkit style` end to end at 32 px with random VGG19 weights, and its errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

Call = Callable[[list[object]], tuple[int, str, str]]  # the run_cli fixture (tests/conftest.py)
SPEC = "INPUT(3x32x32) -> [CONV(8, k=3, p=same) -> RELU -> POOL(2)]*3 -> FC(10)"


@pytest.mark.slow  # about 5 s: VGG19's random initialization is most of it
def test_end_to_end_with_random_weights(run_cli: Call, pictures: dict[str, Path], offline: Path, tmp_path: Path) -> None:
    out = tmp_path / "result.png"
    code, stdout, stderr = run_cli(["style", pictures["content"], pictures["style"], "-o", out, "--size", "32",
                                "--steps", "4", "--allow-random-weights"])  # fmt: skip
    assert code == 0, stderr
    assert Image.open(out).size == (32, 21) and Image.open(out).mode == "RGB"
    assert "warning:" in stderr and "RANDOM weights" in stderr  # never silent
    assert "step 4/4" in stderr  # plain progress lines when not on a terminal
    assert "content conv4_2; style conv1_1:0.2" in stdout
    assert f"wrote {out} (32x21)" in stdout


def test_json_output(run_cli: Call, pictures: dict[str, Path], offline: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.png"
    code, stdout, stderr = run_cli(["style", pictures["content"], pictures["style"], "-o", out, "--size", "32",
                                "--steps", "3", "--model", SPEC, "--allow-random-weights", "--json", "--quiet", "--beta", "1e6",
                                "--init", "noise", "--optimizer", "adam", "--tv", "0.5"])  # fmt: skip
    assert code == 0, stderr
    data = json.loads(stdout)
    assert data["pretrained"] is False and data["beta"] == 1e6 and data["beta_from_balance"] is False
    assert data["optimizer"] == "adam" and data["init"] == "noise" and data["tv"] == 0.5
    assert data["final"]["total"] < data["start"]["total"]
    assert "step" not in stderr  # --quiet


def test_offline_without_permission_is_one_line(run_cli: Call, pictures: dict[str, Path], offline: Path,
                                                tmp_path: Path) -> None:  # fmt: skip
    code, stdout, stderr = run_cli(["style", pictures["content"], pictures["style"], "-o", tmp_path / "x.png"])
    assert code == 2 and stdout == ""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no pretrained weights for vgg19")
    assert not (tmp_path / "x.png").exists()


def test_bad_inputs(run_cli: Call, pictures: dict[str, Path], tmp_path: Path) -> None:
    fake = tmp_path / "fake.jpg"
    fake.write_bytes(b"\x00not a jpeg")
    common = ["-o", tmp_path / "x.png", "--model", "quicknet", "--allow-random-weights", "--size", "32"]
    code, _, stderr = run_cli(["style", fake, pictures["style"], *common])
    assert code == 2 and "fake.jpg: not an image" in stderr
    code, _, stderr = run_cli(["style", pictures["content"], pictures["style"], *common, "--style-layers", "conv9_1"])
    assert code == 2 and "no layer 'conv9_1'" in stderr and "did you mean" in stderr
    code, _, stderr = run_cli(["style", pictures["content"], pictures["style"], "-o", tmp_path / "x.jpg"])
    assert code == 2 and "must name a .png file" in stderr
    code, _, stderr = run_cli(["style", pictures["content"], pictures["style"], *common, "--init", "zeros"])
    assert code == 2 and "zeros" in stderr  # click's own choice error


def test_help_has_examples(run_cli: Call) -> None:
    code, stdout, _ = run_cli(["style", "--help"])
    assert code == 0
    assert "cnnkit style photo.jpg starry_night.jpg -o out.png" in stdout
    assert "--allow-random-weights" in stdout and "--preserve-color" in stdout


def test_real_entry_point(pictures: dict[str, Path], offline: Path, tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    from cnnkit.cli.app import main

    with pytest.raises(SystemExit) as stop:
        main(["style", str(pictures["content"]), str(pictures["style"]), "-o", str(tmp_path / "x.png")])
    assert stop.value.code == 2
    assert capsys.readouterr().err.startswith("error: no pretrained weights for vgg19")
