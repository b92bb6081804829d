"""Flip TTA applies to images only: signals and volumes skip it (never fail after training),
and a model of the wrong rank for signals or volumes is told which zoo model fits."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from tinydata import tiny_splits

from cnnkit.data.tensordata import DatasetInfo, Splits, TensorSplit
from cnnkit.errors import ModelError
from cnnkit.nn.build import build
from cnnkit.train.prepare import check_fits
from cnnkit.train.trainer import train

SIGNAL_CNN = "INPUT(1x16) -> CONV(4, k=3) -> RELU -> GAP -> FC"
QUIET = {"batch_size": 32, "augment": "none", "progress": False, "quiet": True}


def signal_splits(n: int = 64) -> Splits:
    """float32 signals (n, 1, 16), 2 classes; flip_ok True so only the kind can stop TTA."""
    gen = torch.Generator().manual_seed(0)

    def split(count: int) -> TensorSplit:
        return TensorSplit(torch.randn(count, 1, 16, generator=gen), torch.randint(0, 2, (count,), generator=gen))

    info = DatasetInfo(
        name="waves", kind="signal", input_shape=(1, 16), classes=("a", "b"),
        mean=(0.0,), std=(1.0,), flip_ok=True, source="made in a test",
    )  # fmt: skip
    return Splits(train=split(n), val=split(16), test=split(32), info=info)


def test_preset_tta_on_signals_is_skipped_silently(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the fast preset turns tta_flip on for every run; the user never asked for it
    result = train(SIGNAL_CNN, signal_splits(), out=tmp_path / "run", epochs=1, **dict(QUIET, quiet=False))
    assert result.config.tta_flip is True
    assert result.test is not None and result.test_tta is None
    assert (tmp_path / "run" / "report.md").is_file()  # finished, not failed after training
    assert "TTA" not in capsys.readouterr().err


def test_asked_tta_on_signals_says_it_is_skipped(capsys: pytest.CaptureFixture[str]) -> None:
    result = train(SIGNAL_CNN, signal_splits(), epochs=1, tta_flip=True, flips=True, **dict(QUIET, quiet=False))
    assert result.test_tta is None
    notes = [line for line in capsys.readouterr().err.splitlines() if "TTA" in line]
    assert len(notes) == 1 and "images only" in notes[0] and "--flips" not in notes[0]


def test_flips_note_only_for_images(capsys: pytest.CaptureFixture[str]) -> None:
    no_flip = dataclasses.replace(signal_splits(), info=dataclasses.replace(signal_splits().info, flip_ok=False))
    train(SIGNAL_CNN, no_flip, epochs=1, **dict(QUIET, quiet=False))
    assert "pass --flips" not in capsys.readouterr().err
    train("INPUT(1x8x8) -> CONV(4, k=3) -> RELU -> GAP -> FC", tiny_splits(), epochs=1, **dict(QUIET, quiet=False))
    assert "pass --flips" in capsys.readouterr().err  # images whose mirror may change the label


@pytest.mark.parametrize(
    ("kind", "shape", "zoo"), [("signal", (1, 40), "cnn1d"), ("volume", (1, 16, 32, 32), "cnn3d")]
)
def test_a_2d_model_on_signals_or_volumes_suggests_the_model_of_their_rank(kind: str, shape: tuple[int, ...], zoo: str) -> None:
    info = DatasetInfo(name="d", kind=kind, input_shape=shape, classes=("a", "b"), mean=(0.0,), std=(1.0,), flip_ok=False, source="test")  # type: ignore[arg-type]
    with pytest.raises(ModelError) as caught:
        check_fits(build("quicknet", in_channels=1, num_classes=2), info, "quicknet")
    assert zoo in str(caught.value) and "--input" not in str(caught.value)


def test_an_image_that_does_not_fit_still_suggests_input() -> None:
    info = dataclasses.replace(tiny_splits().info, input_shape=(1, 2, 2))
    with pytest.raises(ModelError, match="pass --input"):
        check_fits(build("lenet5", num_classes=3), info, "lenet5")
