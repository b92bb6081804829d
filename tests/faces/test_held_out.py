"""``faces eval`` scores identities the run never trained on (issue 13, item 1), and says so.

The issue's case: ``faces train --data folder:people`` tests on 2 held-out people, but
``faces eval RUN`` scored all 10 people of the folder, 8 of them training identities.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from face_folders import synthetic_set

from cnnkit.errors import DataError
from cnnkit.faces.held_out import held_out_view
from cnnkit.faces.pairs_file import IndexPairs, make_pairs

Cli = Callable[[list[object]], tuple[int, str, str]]  # the run_cli fixture (tests/conftest.py)
Error = Callable[[list[object]], str]  # the cli_error fixture
PEOPLE = [f"P{k}" for k in range(10)]


def _people(root: Path) -> Path:
    """10 people x 6 images (12x12 grey): a per-person pattern plus noise, so pairs differ."""
    rng = np.random.default_rng(0)
    for name in PEOPLE:
        base = rng.integers(0, 256, (12, 12))
        for n in range(1, 7):
            pixels = np.clip(base + rng.normal(0, 20, (12, 12)), 0, 255).astype(np.uint8)
            (root / name).mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels, mode="L").save(root / name / f"{name}_{n:04d}.png")
    return root


@pytest.fixture(scope="module")
def people_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from cnnkit.cli.app import main

    folder = _people(tmp_path_factory.mktemp("people"))
    out = tmp_path_factory.mktemp("runs") / "people"
    with pytest.raises(SystemExit) as stop:
        main(["faces", "train", "--data", f"folder:{folder}", "--image-size", "12", "--epochs", "6", "--p", "4",
              "--k", "3", "--dim", "8", "--pairs", "40", "--lr", "0.01", "--per-identity", "5", "--seed", "0",
              "--out", str(out)])
    assert not stop.value.code
    return folder, out


def _eval(run_cli: Cli, *args: object) -> dict:
    code, out, err = run_cli(["faces", "eval", *args, "--json"])
    assert code == 0, err
    return json.loads(out)


def test_eval_scores_the_runs_held_out_people_not_the_whole_folder(people_run: tuple[Path, Path], run_cli: Cli) -> None:
    _, run = people_run
    config = json.loads((run / "config.json").read_text())
    test_people, trained = config["test_identities"], set(config["train_identities"])
    assert len(test_people) == 2 and not trained & set(test_people) and len(trained) == 8
    result = _eval(run_cli, run)
    assert result["identities"] == 2 and result["one_shot"]["identities"] == 2
    # the figures train printed for its test people, not those of all 10 people
    at_train = json.loads((run / "metrics.json").read_text())
    assert (result["auc"], result["same_pairs"], result["images"]) == (at_train["auc"], at_train["same_pairs"],
                                                                     at_train["images"])
    code, text, _ = run_cli(["faces", "eval", run])
    assert code == 0 and "(2 identities, none trained on)" in text.splitlines()[0]


def test_eval_with_data_leaves_the_training_people_out_and_says_so(people_run: tuple[Path, Path],
                                                                    run_cli: Cli) -> None:
    folder, run = people_run
    result = _eval(run_cli, run, "--data", f"folder:{folder}")
    assert result["identities"] == 2
    assert any("left out 8 identities the run was trained on" in n for n in result["notes"])
    loud = _eval(run_cli, run, "--data", f"folder:{folder}", "--include-trained")
    assert loud["identities"] == 10 and any("8 of the 10 identities" in n and "overstate" in n for n in loud["notes"])
    code, text, _ = run_cli(["faces", "eval", run, "--data", f"folder:{folder}", "--include-trained"])
    assert code == 0 and "8 of them TRAINED ON" in text.splitlines()[0]


def test_a_pairs_file_with_training_people_is_refused(people_run: tuple[Path, Path], tmp_path: Path,
                                                     cli_error: Error, run_cli: Cli) -> None:
    folder, run = people_run
    config = json.loads((run / "config.json").read_text())
    a, b = config["test_identities"]
    t = config["train_identities"][0]
    unseen = tmp_path / "unseen.txt"
    unseen.write_text(f"2\n{a} 1 2\n{b} 3 4\n{a} 1 {b} 1\n{a} 2 {b} 5\n")
    mixed = tmp_path / "mixed.txt"
    mixed.write_text(f"2\n{a} 1 2\n{t} 3 4\n{a} 1 {b} 1\n{a} 2 {t} 5\n")
    line = cli_error(["faces", "eval", run, "--data", f"folder:{folder}", "--pairs-file", mixed])
    assert f"2 of 4 pairs use identities the run was trained on ({t})" in line and "--include-trained" in line
    result = _eval(run_cli, run, "--data", f"folder:{folder}", "--pairs-file", unseen)
    assert result["pairs"] == 4 and result["identities"] == 2
    loud = _eval(run_cli, run, "--data", f"folder:{folder}", "--pairs-file", mixed, "--include-trained")
    assert loud["pairs"] == 4 and any("overstate" in n for n in loud["notes"])


def test_eval_gives_the_same_result_for_the_same_seed(people_run: tuple[Path, Path], run_cli: Cli) -> None:
    folder, run = people_run
    first = _eval(run_cli, run, "--data", f"folder:{folder}", "--seed", "5")
    torch.rand(3)
    assert _eval(run_cli, run, "--data", f"folder:{folder}", "--seed", "5") == first


def test_train_refuses_test_data_holding_training_people(people_run: tuple[Path, Path], tmp_path: Path,
                                                         cli_error: Error) -> None:
    folder, _ = people_run
    line = cli_error(["faces", "train", "--data", f"folder:{folder}", "--test-data", f"folder:{folder}",
                      "--image-size", "12", "--epochs", "1", "--out", tmp_path / "x"])
    assert "holds 10 identities of --data" in line and "must be unseen" in line
    assert not (tmp_path / "x").exists()


def test_enroll_says_when_enrolled_people_were_trained_on(people_run: tuple[Path, Path], tmp_path: Path,
                                                          run_cli: Cli) -> None:
    folder, run = people_run
    trained = json.loads((run / "config.json").read_text())["train_identities"]
    gallery = tmp_path / "gallery"
    for name in (trained[0], "Stranger"):
        (gallery / name).mkdir(parents=True)
        (gallery / name / "a.png").write_bytes((folder / trained[0] / f"{trained[0]}_0001.png").read_bytes())
    code, out, err = run_cli(["faces", "enroll", run, "-g", gallery, "-o", tmp_path / "g.json", "--tau", "0.5"])
    assert code == 0, err
    assert f"note: 1 of the enrolled identities ({trained[0]}) was among the run's training identities" in out


def test_held_out_view_renumbers_pairs_to_the_same_images() -> None:
    data = synthetic_set([3, 4, 3, 5], names=("a", "b", "c", "d"), shuffle_seed=1)
    pairs = make_pairs(data, same=6, different=6, generator=torch.Generator().manual_seed(0))
    unseen = ~torch.isin(data.identities[pairs.i], torch.tensor([1])) & ~torch.isin(data.identities[pairs.j],
                                                                                   torch.tensor([1]))
    keep = IndexPairs(pairs.i[unseen], pairs.j[unseen], pairs.same[unseen], pairs.fold[unseen])
    view, renumbered, notes = held_out_view(data, {"b"}, pairs=keep)
    assert view.names == ("a", "c", "d") and notes and "left out 1 identity the run was trained on (b)" in notes[0]
    assert renumbered is not None
    # each renumbered pair shows the very images (and identities) of the original pair
    assert torch.equal(view.images[renumbered.i], data.images[keep.i])
    assert torch.equal(view.images[renumbered.j], data.images[keep.j])
    assert torch.equal(renumbered.same, keep.same)
    with pytest.raises(DataError, match="use identities the run was trained on"):
        held_out_view(data, {"b"}, pairs=pairs)
    with pytest.raises(DataError, match="1 of its 4 identities are unseen"):
        held_out_view(data, {"a", "b", "c"})
    assert held_out_view(data, {"b"}, keep={"a", "d"})[0].names == ("a", "d")



def test_a_moved_run_works_and_moved_data_is_named(people_run: tuple[Path, Path], tmp_path: Path, run_cli: Cli,
                                                   cli_error: Error) -> None:
    import shutil

    folder, run = people_run
    assert json.loads((run / "config.json").read_text())["test_source"] == f"folder:{folder}"
    copy = tmp_path / "copied-run"
    shutil.copytree(run, copy)  # a run copied elsewhere scores as the original does
    assert _eval(run_cli, copy)["auc"] == _eval(run_cli, run)["auc"]
    moved = tmp_path / "moved-people"
    shutil.copytree(folder, moved)
    shutil.rmtree(folder)
    try:
        line = cli_error(["faces", "eval", copy])
        assert f"was at {folder}, which is not there any more" in line and "--data folder:NEW_PATH" in line
    finally:
        shutil.copytree(moved, folder)  # the module's other tests use it
