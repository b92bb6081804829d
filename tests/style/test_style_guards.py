"""``cnnkit style``: bad numbers, outputs, images and weights fail in one line before the
optimization (QA fixes)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from cnnkit.errors import CnnkitError, DataError
from cnnkit.style.extractor import FeatureExtractor

Error = Callable[[list[object]], str]  # the cli_error fixture (tests/conftest.py)
QUICK = ["--model", "quicknet", "--allow-random-weights", "--size", "32", "--steps", "1", "--quiet"]


@pytest.mark.parametrize("option", [
    ["--alpha", "inf"], ["--alpha", "nan"], ["--beta", "inf"], ["--balance", "inf"], ["--tv", "-1"],
    ["--lr", "0"], ["--lr", "inf"],
])  # fmt: skip
def test_bad_numbers_fail_before_any_image_is_read(option: list[str], tmp_path: Path, cli_error: Error) -> None:
    missing = tmp_path / "missing.png"  # read only after the numbers are checked
    line = cli_error(["style", missing, missing, "-o", tmp_path / "s.png", *QUICK, *option])
    assert option[0] in line
    assert not (tmp_path / "s.png").exists()


def test_explicit_lr_zero_is_an_error_and_none_means_the_default(tiny: FeatureExtractor,
                                                                   pictures: dict[str, Path]) -> None:
    from cnnkit.style import style_transfer
    from cnnkit.style.transfer import ADAM_LR

    args = (pictures["content"], pictures["style"])
    with pytest.raises(CnnkitError, match="^lr must be a finite number > 0, got 0"):
        style_transfer(*args, extractor=tiny, size=24, steps=1, lr=0.0)
    assert style_transfer(*args, extractor=tiny, size=24, steps=1).settings["lr"] == 1.0
    assert style_transfer(*args, extractor=tiny, size=24, steps=1, optimizer="adam").settings["lr"] == ADAM_LR


def test_bad_outputs_fail_before_any_image_is_read(tmp_path: Path, cli_error: Error,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "missing.png"
    folder = tmp_path / "folder.png"
    folder.mkdir()
    line = cli_error(["style", missing, missing, "-o", folder, *QUICK])
    assert "is a folder" in line
    a_file = tmp_path / "file"
    a_file.write_text("x")
    line = cli_error(["style", missing, missing, "-o", a_file / "deeper" / "s.png", *QUICK])
    assert "is a file, not a folder" in line
    from cnnkit.data import images as dataimages

    monkeypatch.setattr(dataimages.os, "access", lambda *_args, **_kw: False)  # a read-only folder
    line = cli_error(["style", missing, missing, "-o", tmp_path / "new" / "s.png", *QUICK])
    assert "cannot write in" in line


def test_output_in_a_new_folder_is_still_accepted(tmp_path: Path) -> None:
    from cnnkit.style.images import check_output

    assert check_output(tmp_path / "a" / "b" / "s.png") == tmp_path / "a" / "b" / "s.png"


def test_oversized_image_is_refused_in_one_line(tmp_path: Path, cli_error: Error,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from cnnkit.style.images import image_size, read_pixels

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 400)  # Pillow refuses above 2x this, warns above 1x
    Image.new("RGB", (40, 40)).save(tmp_path / "bomb.png")
    with pytest.raises(DataError, match="refused as too large to decode safely"):
        image_size(tmp_path / "bomb.png")
    line = cli_error(["style", tmp_path / "bomb.png", tmp_path / "bomb.png", "-o", tmp_path / "s.png", *QUICK])
    assert "refused as too large" in line
    Image.new("RGB", (25, 20)).save(tmp_path / "big.png")  # 500 pixels: Pillow only warns
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert tuple(read_pixels(tmp_path / "big.png", size=20).shape) == (1, 3, 16, 20)


def test_an_image_given_as_weights_is_one_line(pictures: dict[str, Path], tmp_path: Path, cli_error: Error) -> None:
    line = cli_error(["style", pictures["content"], pictures["style"], "-o", tmp_path / "s.png",
                            "--model", "quicknet", "--weights", pictures["content"], "--size", "32"])
    assert "not a weights file" in line and "weights_only" not in line
