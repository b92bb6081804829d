"""``cnnkit faces``: bad input fails in one line before any work (QA fixes).

enroll never writes JSON over a non-.json file, --threads and float options are bounded and
finite, a test set that shares classes with the training set is refused, and scikit-learn's
retry warning does not leak when LFW cannot be downloaded.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from urllib.error import URLError

import pytest
import torch
from PIL import Image

from cnnkit.errors import CnnkitError, DataError

Error = Callable[[list[object]], str]  # the cli_error fixture (tests/conftest.py)
TINY = ["--data", "digits:0-6", "--per-identity", "10", "--epochs", "1", "--p", "3", "--k", "2", "--dim", "8",
        "--pairs", "10"]


def test_enroll_refuses_a_non_json_output_before_loading_the_run(tmp_path: Path, cli_error: Error) -> None:
    photo = tmp_path / "cat.png"
    Image.new("L", (8, 8), 120).save(photo)
    before = photo.read_bytes()
    line = cli_error(["faces", "enroll", tmp_path / "no-run", "-g", tmp_path, "-o", photo])
    assert "ending in .json" in line
    assert photo.read_bytes() == before
    folder = tmp_path / "g.json"
    folder.mkdir()
    line = cli_error(["faces", "enroll", tmp_path / "no-run", "-g", tmp_path, "-o", folder])
    assert "is a folder" in line


def test_save_gallery_writes_json_files_only(tmp_path: Path) -> None:
    from cnnkit.faces.gallery import enroll, save_gallery

    book = enroll(torch.eye(4)[:2], torch.tensor([0, 1]), ["a", "b"], tau=0.5, model_fingerprint="0" * 16)
    with pytest.raises(CnnkitError, match="ending in .json"):
        save_gallery(book, tmp_path / "photo.png")
    assert not (tmp_path / "photo.png").exists()
    assert save_gallery(book, tmp_path / "g.JSON").is_file()


@pytest.mark.parametrize("option", [
    ["--threads", "100000"], ["--threads", "-1"], ["--lr", "inf"], ["--lr", "0"], ["--margin", "inf"],
    ["--margin", "nan"], ["--target-far", "2"],
])  # fmt: skip
def test_bad_numbers_fail_in_one_line_before_any_data(option: list[str], tmp_path: Path, cli_error: Error) -> None:
    out = tmp_path / "run"
    line = cli_error(["faces", "train", *TINY, *option, "--out", out])
    assert option[0] in line
    assert not out.exists()  # and nothing on stdout (cli_error): no data was read


@pytest.mark.parametrize("tau", ["inf", "nan", "-1"])
def test_verify_and_enroll_check_tau_first(tau: str, tmp_path: Path, cli_error: Error) -> None:
    line = cli_error(["faces", "verify", tmp_path / "no-run", "a.png", "b.png", "--tau", tau])
    assert "--tau" in line
    line = cli_error(["faces", "enroll", tmp_path / "no-run", "-g", tmp_path, "-o", tmp_path / "g.json",
                            "--tau", tau])
    assert "--tau" in line


def test_test_data_sharing_training_classes_is_refused(tmp_path: Path, cli_error: Error) -> None:
    out = tmp_path / "run"
    line = cli_error(["faces", "train", *TINY, "--test-data", "digits:5-9", "--out", out])
    assert "shares classes 5,6 with --data digits:0-6" in line and "--test-data digits:7-9" in line
    assert not out.exists()  # and nothing on stdout (cli_error): no data was read


def test_check_unseen_rule() -> None:
    from cnnkit.faces.run_train import check_unseen

    check_unseen("fashion-mnist:0-6", "fashion-mnist:7-9")  # disjoint classes
    check_unseen("fashion-mnist:0-6", "mnist:0-2")  # another dataset: other identities
    check_unseen("fashion-mnist:0-6", "folder:people")  # folders are not class datasets
    with pytest.raises(DataError, match="shares class 3 with"):
        check_unseen("fashion-mnist:0-3", "Fashion-MNIST:3,8")
    with pytest.raises(DataError, match="shares classes 7,8"):
        check_unseen("digits", "digits:7,8")  # no selector: every class is trained on


def test_lfw_download_retry_warning_does_not_leak(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sklearn import datasets

    from cnnkit.faces.lfw import load_lfw

    def fetch(**options: object) -> object:
        if not options["download_if_missing"]:
            raise OSError("lfw_home is missing")
        warnings.warn("Retry downloading from url: https://example.invalid/lfw", UserWarning, stacklevel=1)
        raise URLError(OSError(101, "Network is unreachable"))

    monkeypatch.setattr(datasets, "fetch_lfw_people", fetch)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(DataError, match="could not download Labeled Faces in the Wild"):
            load_lfw(data_home=tmp_path)
    assert [str(w.message) for w in caught] == []


def test_a_trunk_that_does_not_fit_the_images_leaves_no_run_folder(tmp_path: Path, cli_error: Error) -> None:
    out = tmp_path / "run"
    line = cli_error(["faces", "train", "INPUT(3x8x8) -> CONV(4, k=3, p=1) -> RELU", *TINY, "--out", out])
    assert "cannot take 1x8x8 images" in line
    assert not out.exists()


@pytest.mark.parametrize(
    "typed, field, canonical",
    [("semi-hard", "mining", "semi_hard"), ("Batch_Hard", "mining", "batch_hard"), ("Contrastive", "loss", "contrastive"),
     ("FAR", "tau_rule", "far")],  # fmt: skip
)
def test_choices_in_any_spelling(typed: str, field: str, canonical: str) -> None:
    from cnnkit.faces.run_train import FaceTrainSettings, spelled

    assert getattr(spelled(FaceTrainSettings(**{field: typed})), field) == canonical


def test_an_unknown_mining_suggests_and_names_the_flag(cli_error) -> None:
    assert cli_error(["faces", "train", "--mining", "semihrd"]) == (
        "error: --mining 'semihrd' is not known (did you mean 'semi_hard'?); "
        "choose one of: random, batch_all, batch_hard, semi_hard"
    )
