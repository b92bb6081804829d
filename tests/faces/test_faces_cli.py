"""``cnnkit faces train | eval | verify | enroll | identify`` end to end on scikit-learn's digits."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from PIL import Image
from sklearn.metrics import roc_auc_score

from cnnkit.cli.app import main
from cnnkit.faces.identity_sources import load_identities
from cnnkit.faces.run import load_embedder

Cli = Callable[[list[object]], tuple[int, str, str]]  # the run_cli fixture (tests/conftest.py)
TRAIN = ["--data", "digits:0-6", "--per-identity", "40", "--epochs", "2", "--p", "7", "--k", "4",
         "--dim", "16", "--pairs", "60", "--seed", "1", "--lr", "0.01"]  # lr: 2 epochs spread the embedding


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("faces") / "run"
    with pytest.raises(SystemExit) as stop:  # typer's standalone mode exits 0
        main(["faces", "train", *TRAIN, "--out", str(out)])
    assert not stop.value.code
    return out


@pytest.fixture(scope="module")
def probes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """Two PNGs of each unseen digit 7, 8, 9 (test images), as files."""
    folder = tmp_path_factory.mktemp("probes")
    unseen = load_identities("digits:7-9", split="test")
    files: dict[str, list[Path]] = {}
    for k, name in enumerate(unseen.names):
        rows = (unseen.identities == k).nonzero().flatten()[:2]
        files[name] = []
        for r in rows.tolist():
            path = folder / f"{name}_{r}.png"
            Image.fromarray(unseen.images[r, 0].numpy()).save(path)
            files[name].append(path)
    return files


def test_train_writes_a_complete_run(trained: Path) -> None:
    for name in ("config.json", "metrics.jsonl", "model.safetensors", "metrics.json", "report.md", "roc.png",
                 "distances.png"):
        assert (trained / name).is_file(), name
    loaded = load_embedder(trained)
    assert loaded.metadata.identities == tuple(str(d) for d in range(7))
    assert loaded.metadata.input_shape == (1, 8, 8) and loaded.tau > 0
    assert len(loaded.metrics) == 2 and "val_auc" in loaded.metrics[0]
    result = json.loads((trained / "metrics.json").read_text())
    assert result["source"] == "digits:7-9" and result["tau"] == pytest.approx(loaded.tau)
    assert 0 <= result["pair_classifier"]["auc"] <= 1  # the lecture's pair classifier, on stored embeddings
    assert "ROC AUC" in (trained / "report.md").read_text()


def test_eval_auc_matches_sklearn_on_the_runs_own_embeddings(trained: Path, run_cli: Cli) -> None:
    code, out, _ = run_cli(["faces", "eval", str(trained), "--pairs", "50", "--json"])
    assert code == 0
    result = json.loads(out)
    # recompute from scratch: the same pairs (seeded), our own embeddings, scikit-learn's AUC
    from cnnkit.faces.run_train import eval_pairs

    loaded = load_embedder(trained)
    test = load_identities("digits:7-9", split="test")
    pairs = eval_pairs(test, 50, 1)
    emb = loaded.net.embed(test.images)
    d = (emb[pairs.i] - emb[pairs.j]).pow(2).sum(1)
    assert result["auc"] == pytest.approx(roc_auc_score(pairs.same.numpy(), (-d).numpy()), abs=1e-9)
    assert result["accuracy"] == pytest.approx(float(((d <= loaded.tau) == pairs.same).float().mean()))
    assert 0 <= result["one_shot"]["accuracy"] <= 1


def test_verify_decides_by_the_squared_distance_and_tau(trained: Path, probes: dict[str, list[Path]],
                                                         run_cli: Cli) -> None:
    a, b = probes["7"][0], probes["8"][0]
    code, out, _ = run_cli(["faces", "verify", str(trained), str(a), str(b), "--json"])
    assert code == 0
    answer = json.loads(out)
    loaded = load_embedder(trained)
    from cnnkit.data.images import load_image

    ea, eb = (loaded.net.embed(load_image(p, input_shape=(1, 8, 8)).unsqueeze(0))[0] for p in (a, b))
    assert answer["distance"] == pytest.approx(float((ea - eb).pow(2).sum()), rel=1e-5)
    assert answer["same"] == (answer["distance"] <= loaded.tau)
    code, out, _ = run_cli(["faces", "verify", str(trained), str(a), str(a), "--tau", "0"])
    assert code == 0 and "d = 0 <= tau 0: same identity" in out  # an image is always itself


def test_enroll_then_identify_finds_the_enrolled_images(trained: Path, probes: dict[str, list[Path]],
                                                        tmp_path: Path, run_cli: Cli) -> None:
    people = tmp_path / "people"
    for name, files in probes.items():
        (people / f"digit{name}").mkdir(parents=True)
        (people / f"digit{name}" / "a.png").write_bytes(files[0].read_bytes())
    code, out, _ = run_cli(["faces", "enroll", str(trained), "--gallery", str(people), "-o", str(tmp_path / "g.json")])
    assert code == 0 and "enrolled 3 identities" in out
    enrolled = [files[0] for files in probes.values()]
    code, out, _ = run_cli(["faces", "identify", str(trained), "--gallery", str(tmp_path / "g.json"), "--json",
                        *map(str, enrolled)])
    assert code == 0
    rows = json.loads(out)
    assert [r["identity"] for r in rows] == ["digit7", "digit8", "digit9"]  # each image is its own nearest
    assert all(r["distance"] == pytest.approx(0.0, abs=1e-6) for r in rows)
    code, out, err = run_cli(["faces", "identify", str(trained), "--gallery", str(tmp_path / "g.json"),
                          str(probes["9"][1]), str(tmp_path / "missing.png")])
    assert code == 1 and "missing.png: error: no such file" in err and str(probes["9"][1]) in out


def test_wrong_runs_galleries_and_inputs_exit_2(trained: Path, probes: dict[str, list[Path]], tmp_path: Path,
                                                run_cli: Cli) -> None:
    code, _, err = run_cli(["faces", "eval", str(tmp_path / "none")])
    assert code == 2 and "no run directory" in err and len(err.splitlines()) == 1
    code, _, err = run_cli(["detect", "eval", str(trained)])
    assert code == 2 and "face embedding run" in err
    (tmp_path / "bad.png").write_bytes(b"not an image")
    code, _, err = run_cli(["faces", "verify", str(trained), str(tmp_path / "bad.png"), str(probes["7"][0])])
    assert code == 2 and "bad.png" in err and len(err.splitlines()) == 1
    # a gallery enrolled with another model is refused
    from cnnkit.faces.gallery import enroll, save_gallery

    save_gallery(enroll(torch.eye(16)[:2], torch.tensor([0, 1]), ["a", "b"], tau=0.5, model_fingerprint="0" * 16),
                 tmp_path / "other.json")
    code, _, err = run_cli(["faces", "identify", str(trained), "--gallery", str(tmp_path / "other.json"),
                        str(probes["7"][0])])
    assert code == 2 and "another model" in err
    code, _, err = run_cli(["faces", "train", "--mining", "hardest", "--out", str(tmp_path / "x")])
    assert code == 2 and "mining" in err and not (tmp_path / "x").exists()
    code, _, err = run_cli(["faces", "train", "--data", "digits", "--out", str(tmp_path / "y")])
    assert code == 2 and "none unseen" in err


def test_train_follows_the_run_conventions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: Cli) -> None:
    """Neither --out nor --name: runs/DATA-faces-N; -q prints only the result line; --json only JSON."""
    monkeypatch.chdir(tmp_path)
    tiny = ["--data", "digits:0-6", "--per-identity", "10", "--epochs", "1", "--p", "3", "--k", "2", "--dim", "8",
            "--pairs", "10", "--device", "cpu"]
    code, out, _ = run_cli(["faces", "train", *tiny, "-q"])
    run = Path("runs/digits-0-6-faces-1")
    result = json.loads((run / "metrics.json").read_text())
    assert code == 0 and out == f"{run}: ROC AUC {result['auc']:.4f}, one-shot identification " \
                                 f"{result['one_shot']['accuracy']:.3f}\n"
    code, out, _ = run_cli(["faces", "train", *tiny, "--name", "mine", "--json"])
    printed = json.loads(out)  # nothing but the JSON on stdout
    assert code == 0 and printed["run"] == str(Path("runs/mine"))
    assert printed["auc"] == json.loads(Path("runs/mine/metrics.json").read_text())["auc"]
    assert json.loads(Path("runs/mine/config.json").read_text())["device"] == "cpu"


def test_enroll_json_and_device_choice(trained: Path, probes: dict[str, list[Path]], tmp_path: Path,
                                       run_cli: Cli, cli_error: Callable[[list[object]], str]) -> None:
    people = tmp_path / "people"
    for name in ("7", "8"):
        (people / name).mkdir(parents=True)
        (people / name / "a.png").write_bytes(probes[name][0].read_bytes())
    (people / "0").mkdir()
    (people / "0" / "a.png").write_bytes(probes["9"][0].read_bytes())  # named like a training digit
    code, out, _ = run_cli(["faces", "enroll", trained, "-g", people, "-o", tmp_path / "g.json", "--json",
                            "--device", "cpu"])
    assert code == 0
    assert json.loads(out) == {"gallery": str(tmp_path / "g.json"), "identities": ["0", "7", "8"], "images": 3,
                               "tau": load_embedder(trained).tau, "trained_identities": ["0"]}
    line = cli_error(["faces", "verify", trained, probes["7"][0], probes["8"][0], "--device", "tpu"])
    assert "unknown device 'tpu'" in line
