"""Issue 13 item 15: ``skip_bad`` travels from the training options to the folder reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from cnnkit.train.config import TrainConfig
from cnnkit.train.prepare import load_splits


def test_the_training_option_skips_unreadable_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for i in range(4):
            Image.fromarray(rng.integers(0, 256, (12, 12), dtype=np.uint8)).save(tmp_path / name / f"{i}.png")
    (tmp_path / "b" / "cut.png").write_bytes((tmp_path / "b" / "0.png").read_bytes()[:40])  # truncated
    config = TrainConfig(data=f"folder:{tmp_path}", input_shape=(1, 8, 8), skip_bad=True)
    splits = load_splits(config, config.model)
    assert len(splits.train) + len(splits.val) + len(splits.test) == 8
    assert any(note.startswith("skipped 1 unreadable image (--skip-bad): b/cut.png (") for note in splits.notes)
    assert TrainConfig.from_dict(config.to_dict()).skip_bad  # stored with the run, so eval reads the same files
