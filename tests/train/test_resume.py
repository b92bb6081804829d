"""--resume: a run interrupted at any moment ends with the metrics of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from tinydata import SMALL_CNN, tiny_splits

from cnnkit.errors import RunError
from cnnkit.train import loop
from cnnkit.train.trainer import train

OPTIONS = dict(epochs=4, batch_size=32, lr=0.05, augment="light", progress=False, quiet=True, seed=5)
TIMING = {"seconds", "images_per_s", "eval_seconds"}


def lines(path: Path) -> list[dict]:
    records = [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in TIMING} for r in records]


def test_resume_after_an_interrupt_matches_the_uninterrupted_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = train(SMALL_CNN, tiny_splits(), out=tmp_path / "whole", **OPTIONS)

    real = loop.apply_update
    count = {"n": 0}

    def interrupted(*args, **kwargs):
        count["n"] += 1
        if count["n"] == 18:  # epoch 3 of 4, step 4 of 7
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "apply_update", interrupted)
    broken = tmp_path / "broken"
    with pytest.raises(KeyboardInterrupt):
        train(SMALL_CNN, tiny_splits(), out=broken, **OPTIONS)
    monkeypatch.undo()
    assert [r["epoch"] for r in lines(broken)] == [1, 2]
    assert not (broken / "model.safetensors").exists()

    resumed = train(data=tiny_splits(), out=broken, resume=True, quiet=True, progress=False)
    assert lines(broken) == lines(tmp_path / "whole")
    for a, b in zip(whole.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
    assert resumed.test.accuracy == whole.test.accuracy

    report = (broken / "report.md").read_bytes()
    with pytest.raises(RunError, match=r"has finished after 4 epochs; .*--resume .* --more N"):
        train(data=tiny_splits(), out=broken, resume=True, quiet=True, progress=False)  # a finished run
    assert lines(broken) == lines(tmp_path / "whole")
    assert (broken / "report.md").read_bytes() == report  # its report (and command) untouched


SCRIPT = """
import sys, time, torch
sys.path.insert(0, {tests!r})
torch.set_num_threads(1)
from tinydata import SMALL_CNN, tiny_splits
from cnnkit.train import loop
from cnnkit.train.trainer import train
out, mode = sys.argv[1], sys.argv[2]
if mode == "slow":  # give the parent time to kill it mid-epoch
    real = loop.apply_update
    def slow(*args, **kwargs):
        time.sleep(0.06)
        return real(*args, **kwargs)
    loop.apply_update = slow
options = {options!r}
if mode == "resume":
    train(data=tiny_splits(), out=out, resume=True, quiet=True, progress=False)
else:
    train(SMALL_CNN, tiny_splits(), out=out, **options)
"""


@pytest.mark.slow
def test_resume_after_kill_9_mid_epoch(tmp_path: Path) -> None:
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(SCRIPT.format(tests=str(Path(__file__).parent), options=OPTIONS)))
    env = dict(os.environ, PYTHONHASHSEED="0")
    run = lambda out, mode: [sys.executable, str(script), str(tmp_path / out), mode]  # noqa: E731

    subprocess.run(run("whole", "plain"), check=True, env=env, timeout=120)

    victim = subprocess.Popen(run("killed", "slow"), env=env)
    checkpoint = tmp_path / "killed" / "checkpoint.safetensors"
    deadline = time.monotonic() + 60
    while not checkpoint.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # into epoch 2 (7 steps of 0.06 s)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    assert victim.returncode == -signal.SIGKILL
    done = lines(tmp_path / "killed")
    assert 1 <= len(done) < 4 and not (tmp_path / "killed" / "model.safetensors").exists()

    subprocess.run(run("killed", "resume"), check=True, env=env, timeout=120)
    assert lines(tmp_path / "killed") == lines(tmp_path / "whole")
