"""Issue 13 item 15: ``skip_bad`` travels from the training options to the folder reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from cnnkit.train.config import TrainConfig
from cnnkit.train.prepare import load_splits


def _folder(root: Path) -> None:
    """Two classes of four 12x12 PNGs each, and one truncated PNG in b/."""
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(rng.integers(0, 256, (12, 12), dtype=np.uint8)).save(root / name / f"{i}.png")
    (root / "b" / "cut.png").write_bytes((root / "b" / "0.png").read_bytes()[:40])


def test_the_training_option_skips_unreadable_files(tmp_path: Path) -> None:
    _folder(tmp_path)
    config = TrainConfig(data=f"folder:{tmp_path}", input_shape=(1, 8, 8), skip_bad=True)
    splits = load_splits(config, config.model)
    assert len(splits.train) + len(splits.val) + len(splits.test) == 8
    assert any(note.startswith("skipped 1 unreadable image (--skip-bad): b/cut.png (") for note in splits.notes)
    assert TrainConfig.from_dict(config.to_dict()).skip_bad  # stored with the run, so eval reads the same files


def test_a_run_trained_with_skip_bad_evaluates_on_the_same_files(tmp_path: Path) -> None:
    from cnnkit.train.predict import evaluate_run
    from cnnkit.train.trainer import train

    _folder(tmp_path / "data")
    spec = "INPUT(1x8x8) -> CONV(4, k=3) -> RELU -> GAP -> FC"
    result = train(spec, f"folder:{tmp_path / 'data'}", out=tmp_path / "run", epochs=1, batch_size=2, skip_bad=True,
                   device="cpu", quiet=True)
    assert result.config.skip_bad
    evaluation = evaluate_run(tmp_path / "run", split="train")  # would stop at cut.png without the run's skip_bad
    assert evaluation.result.num_samples == len(load_splits(result.config, spec).train)


def test_eval_takes_skip_bad_as_its_error_advises(tmp_path: Path, run_cli, cli_error) -> None:  # type: ignore[no-untyped-def]
    import json

    (tmp_path / "clean").mkdir()
    _folder(tmp_path / "clean")
    (tmp_path / "clean" / "b" / "cut.png").unlink()
    _folder(tmp_path / "bad")
    code, _, err = run_cli(["train", "INPUT(1x8x8) -> CONV(4, k=3) -> RELU -> GAP -> FC", "--data",
                            f"folder:{tmp_path / 'clean'}", "--epochs", "1", "--out", tmp_path / "run", "-q"])
    assert code == 0, err
    line = cli_error(["eval", tmp_path / "run", "--data", f"folder:{tmp_path / 'bad'}"])
    assert "or pass --skip-bad" in line
    code, out, err = run_cli(["eval", tmp_path / "run", "--data", f"folder:{tmp_path / 'bad'}", "--skip-bad", "--json"])
    assert code == 0, err
    assert json.loads(out)["num_samples"] >= 1
