"""A collapsed embedding or an unusable tau is said at training and refused by verify/enroll/identify
(issue 13, item 5: a 3-epoch run reported tau 0.0000 and verify called one person "different")."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnnkit.errors import RunError
from cnnkit.faces.collapse import SPREAD_MIN, TAU_MIN, check_usable, spread, unusable_reason
from cnnkit.faces.embed import build_embedder
from cnnkit.faces.run import EmbedderMetadata, load_embedder, save_embedder

Cli = Callable[[list[object]], tuple[int, str, str]]  # the run_cli fixture (tests/conftest.py)
Error = Callable[[list[object]], str]  # the cli_error fixture
TRUNK = "INPUT(1x8x8) -> CONV(4, k=3, p=1) -> RELU"


def _png(path: Path, pixels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels.astype(np.uint8), mode="L").save(path)
    return path


def _saved_run(path: Path, *, tau: float, spread_value: float | None) -> Path:
    net = build_embedder(TRUNK, dim=4, image_size=(8, 8), generator=torch.Generator().manual_seed(0))
    meta = EmbedderMetadata(backbone=TRUNK, dim=4, input_shape=(1, 8, 8), mean=[0.5], std=[0.25], tau=tau,
                            tau_rule="accuracy", identities=("a", "b"), spread=spread_value)
    path.mkdir(parents=True)
    save_embedder(path, net, meta)
    return path


def test_spread_is_the_median_distance_of_different_pairs() -> None:
    d = torch.tensor([0.1, 0.7, 0.2, 1.5, 0.4, 3.0])
    same = torch.tensor([True, False, True, False, False, True])
    assert spread(d, same) == pytest.approx(float(np.median([0.7, 1.5, 0.4])))
    assert np.isnan(spread(d[same], same[same]))  # no different pair: unknown


def test_unusable_reason_rules() -> None:
    assert unusable_reason(tau=0.8, spread=1.2) is None
    assert unusable_reason(tau=0.8, spread=None) is None  # runs from before the spread was recorded
    assert "collapsed" in unusable_reason(tau=0.8, spread=SPREAD_MIN / 2)
    assert "collapsed" in unusable_reason(tau=0.0, spread=7e-5)  # the collapse is the cause to name
    assert "tau" in unusable_reason(tau=TAU_MIN / 2, spread=1.0)
    assert "tau" in unusable_reason(tau=-0.5, spread=None)  # accepts nothing: every distance is >= 0
    assert "tau" in unusable_reason(tau=float("nan"), spread=1.0)
    assert unusable_reason(tau=None, spread=1.0) is None  # a tau the user gives is theirs
    with pytest.raises(RunError, match=r"runs/x: the embedding has collapsed.*--epochs"):
        check_usable("runs/x", tau=0.0, spread=1e-5)
    with pytest.raises(RunError, match=r"give --tau T .*or train again"):
        check_usable("runs/x", tau=0.0, spread=1.0)


@pytest.fixture(scope="module")
def collapsed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, Path]:
    """A run trained on people whose every image is the same grey: every embedding is the same
    point, every distance 0, as a collapsed embedding makes them. Returns (run, stdout, folder)."""
    from cnnkit.cli.app import main

    folder = tmp_path_factory.mktemp("grey")
    for k in range(10):  # 10 people: 2 go to the test
        for n in range(4):
            _png(folder / f"P{k}" / f"P{k}_{n + 1:04d}.png", np.full((8, 8), 128))
    out = tmp_path_factory.mktemp("runs") / "grey"
    text = io.StringIO()
    with contextlib.redirect_stdout(text), pytest.raises(SystemExit) as stop:
        main(["faces", "train", TRUNK, "--data", f"folder:{folder}", "--image-size", "8", "--epochs", "1",
              "--p", "3", "--k", "2", "--dim", "4", "--pairs", "10", "--out", str(out)])
    assert not stop.value.code
    return out, text.getvalue(), folder


def test_training_warns_when_the_embedding_collapsed(collapsed: tuple[Path, str, Path]) -> None:
    run, out, _ = collapsed
    last = out.strip().splitlines()[-1]
    assert last.startswith("warning: the embedding has collapsed") and "--epochs" in last
    assert load_embedder(run).metadata.spread == 0.0  # every image embeds to the same point
    assert "the embedding has collapsed" in (run / "report.md").read_text()
    assert any("collapsed" in n for n in json.loads((run / "metrics.json").read_text())["notes"])


def test_verify_enroll_identify_refuse_a_collapsed_run(collapsed: tuple[Path, str, Path], tmp_path: Path,
                                                       cli_error: Error, run_cli: Cli) -> None:
    run, _, folder = collapsed
    a, b = folder / "P0" / "P0_0001.png", folder / "P0" / "P0_0002.png"
    for tau in ([], ["--tau", "0.5"]):  # another tau cannot rescue an embedding that maps everyone to one point
        line = cli_error(["faces", "verify", run, a, b, *tau])
        assert f"{run}: the embedding has collapsed" in line and "--epochs" in line
        line = cli_error(["faces", "enroll", run, "-g", folder, "-o", tmp_path / "g.json", *tau])
        assert "collapsed" in line
    assert not (tmp_path / "g.json").exists()
    from cnnkit.faces.gallery import enroll, save_gallery

    loaded = load_embedder(run)
    save_gallery(enroll(torch.eye(4)[:2], torch.tensor([0, 1]), ["a", "b"], tau=0.5,
                        model_fingerprint=loaded.fingerprint), tmp_path / "old.json")
    line = cli_error(["faces", "identify", run, "-g", tmp_path / "old.json", a])
    assert "collapsed" in line
    code, out, _ = run_cli(["faces", "eval", run])
    assert code == 0 and "note: the embedding has collapsed" in out  # eval still scores it, and says so


def test_a_run_with_a_zero_tau_is_refused_unless_a_tau_is_given(tmp_path: Path, cli_error: Error,
                                                                 run_cli: Cli) -> None:
    run = _saved_run(tmp_path / "run", tau=0.0, spread_value=None)  # an older run: no spread recorded
    rng = np.random.default_rng(0)
    a = _png(tmp_path / "a.png", rng.integers(0, 256, (8, 8)))
    b = _png(tmp_path / "b.png", rng.integers(0, 256, (8, 8)))
    line = cli_error(["faces", "verify", run, a, b])
    assert "tau 0 is unusable" in line and "give --tau T" in line
    code, out, _ = run_cli(["faces", "verify", run, a, b, "--tau", "0.5", "--json"])
    assert code == 0 and json.loads(out)["tau"] == 0.5
    gallery = tmp_path / "people"
    _png(gallery / "x" / "1.png", rng.integers(0, 256, (8, 8)))
    _png(gallery / "y" / "1.png", rng.integers(0, 256, (8, 8)))
    assert "tau 0 is unusable" in cli_error(["faces", "enroll", run, "-g", gallery, "-o", tmp_path / "g.json"])
    code, _, _ = run_cli(["faces", "enroll", run, "-g", gallery, "-o", tmp_path / "g.json", "--tau", "0.5"])
    assert code == 0
    code, out, _ = run_cli(["faces", "identify", run, "-g", tmp_path / "g.json", a])
    assert code == 0 and out.startswith(f"{a}:")


def test_quiet_training_still_warns_of_a_collapse_on_stderr(collapsed: tuple[Path, str, Path], tmp_path: Path,
                                                            run_cli: Cli) -> None:
    _, _, folder = collapsed
    code, out, err = run_cli(["faces", "train", TRUNK, "--data", f"folder:{folder}",
                              "--image-size", "8", "--epochs", "1", "--p", "3", "--k", "2", "--dim", "4", "--pairs", "10",
                              "-q", "--out", tmp_path / "run"])
    assert code == 0 and len(out.splitlines()) == 1 and "ROC AUC" in out
    assert err.startswith("warning: the embedding has collapsed")
