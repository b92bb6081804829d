"""Bad settings of `cnnkit interpret` commands end in one `error:` line (exit 2) before any
work: output paths that are not .png files, numbers an optimizer cannot use, options that
exclude each other, and SPLIT:N references whose N is not an index."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from cnnkit.cli.app import main
from cnnkit.errors import CnnkitError
from cnnkit.interpret.adversarial import pgd
from cnnkit.interpret.dream import dream, load_dream_image
from cnnkit.interpret.maximize import make_settings
from cnnkit.interpret.subject import Subject


def _error(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The one error line of a CLI call that must fail with status 2."""
    with pytest.raises(SystemExit) as stop:
        main([*args, "--device", "cpu"])
    out = capsys.readouterr()
    assert stop.value.code == 2 and out.out == "", out
    assert out.err.startswith("error: ") and out.err.count("\n") == 1, out.err
    return out.err


def _ok(args: list[str]) -> None:
    """Run a CLI call that must succeed (main may end in SystemExit(0))."""
    try:
        main([*args, "--device", "cpu"])
    except SystemExit as stop:
        assert stop.code in (0, None)


@pytest.mark.parametrize("name", ["f.jpg", "f", "folder"])
def test_out_must_name_a_png_file(digits_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                  name: str) -> None:
    (tmp_path / "folder").mkdir()
    target = tmp_path / name
    err = _error(["interpret", "filters", str(digits_run), "-o", str(target)], capsys)
    assert "-o/--out" in err and ".png" in err
    assert target.is_dir() or not target.exists()  # no PNG bytes under another name
    # checked while parsing: the source is not even opened
    err = _error(["interpret", "filters", str(tmp_path / "no-run"), "-o", str(target)], capsys)
    assert "-o/--out" in err


def test_a_png_out_in_any_case_is_written(digits_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "Filters.PNG"
    _ok(["interpret", "filters", str(digits_run), "-o", str(target)])
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


DREAM = ["interpret", "dream", "{run}", "test:0", "--layer", "features.relu2", "--steps", "1", "--octaves", "1"]


@pytest.mark.parametrize(
    ("extra", "option"),
    [
        (["--octave-scale", "nan"], "--octave-scale"),
        (["--octave-scale", "1"], "--octave-scale"),
        (["--size", "0"], "--size"),  # 0 is not "the default size"
        (["--size", "7"], "--size"),
        (["--lr", "inf"], "--lr"),
        (["--lr", "0"], "--lr"),
        (["--octaves", "0"], "--octaves"),
    ],
)
def test_dream_numbers(digits_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                       extra: list[str], option: str) -> None:
    out = tmp_path / "d.png"
    args = [a.format(run=digits_run) for a in DREAM]
    err = _error([*args, *extra, "-o", str(out)], capsys)
    assert err.startswith(f"error: {option} must be") and not out.exists(), err


def test_maximize_numbers_and_exclusive_options(digits_run: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "m.png"
    base = ["interpret", "maximize", str(digits_run), "--steps", "2", "-o", str(out)]
    for lr in ("inf", "nan", "0", "-1"):
        assert _error([*base, "--class", "0", "--lr", lr], capsys).startswith("error: --lr must be")
    err = _error([*base, "--class", "0", "--channel", "3"], capsys)
    assert "--class and --channel exclude each other" in err
    assert not out.exists()
    # --channel keeps its meaning with --layer, and defaults to every channel there
    _ok([*base, "--layer", "features.relu1", "--channel", "3", "--prior", "pixels"])
    assert out.is_file()


def test_adversarial_step_size_and_eval(digits_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "a.png"
    base = ["interpret", "adversarial", str(digits_run)]
    for size in ("0", "-2", "inf", "300"):
        err = _error([*base, "test:0", "--step-size", size, "-o", str(out)], capsys)
        assert err.startswith("error: --step-size must be"), err
    assert "--eval" in _error([*base, "--eval", "0"], capsys)
    assert "draws no picture" in _error([*base, "--eval", "3", "-o", str(out)], capsys)
    assert not out.exists()
    for option in (["--steps", "5"], ["--step-size", "1"]):  # fgsm would ignore them
        err = _error([*base, "test:0", "--method", "fgsm", *option, "-o", str(out)], capsys)
        assert "are for --method pgd" in err, err
    assert not out.exists()
    _ok([*base, "test:0", "--method", "fgsm", "-o", str(out)])
    assert out.is_file()


@pytest.mark.parametrize("ref", ["test:abc", "test:-1", "test:1.5", "test:", "val:x"])
def test_split_references_need_a_whole_index(digits_run: Path, digits_subject: Subject,
                                             capsys: pytest.CaptureFixture[str], ref: str) -> None:
    split = ref.split(":")[0]
    size = len(digits_subject.dataset_split(split))
    err = _error(["interpret", "features", str(digits_run), ref], capsys)
    assert "no such file" not in err
    assert f"must be a whole number from 0 to {size - 1}" in err
    with pytest.raises(CnnkitError, match="whole number"):
        digits_subject.read_image(ref)


def test_library_checks_match_the_cli(digits_subject: Subject) -> None:
    pixels = torch.rand(1, 1, 16, 16)
    for settings in ({"octave_scale": math.nan}, {"lr": math.inf}, {"steps": 0}):
        with pytest.raises(CnnkitError, match="must be"):
            dream(digits_subject, pixels, layer="features.relu2", **settings)
    with pytest.raises(CnnkitError, match="^size must be"):
        load_dream_image(digits_subject, "test:0", size=0)
    for lr in (math.inf, math.nan, 0.0):
        with pytest.raises(CnnkitError, match="lr must be"):
            make_settings(lr=lr)
    with pytest.raises(CnnkitError, match="^step_size must be"):
        pgd(digits_subject, pixels, 0, eps=8, step_size=0)


def test_a_large_image_prints_no_pillow_warning(digits_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Above Pillow's pixel limit (lowered here so the file stays small) the only line on
    stderr is cnnkit's conversion note."""
    import warnings

    from PIL import Image

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    image = tmp_path / "large.png"
    Image.new("L", (40, 40), 90).save(image)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _ok(["interpret", "features", str(digits_run), str(image), "-o", str(tmp_path / "f.png")])
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]
    err = capsys.readouterr().err
    assert err.startswith("note: ") and err.count("\n") == 1 and "Warning" not in err, err
