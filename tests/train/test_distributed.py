"""Two CPU processes under torchrun (gloo) train like one process with the same global batch.

The model has no batch norm and no dropout and augmentation is off: then DDP's averaged
gradient over two shards of 16 equals the single process's gradient over the batch of
32 they make up (the loader interleaves the shards so they do), and only float summation
order differs. With batch norm each process would normalize with its own shard's
statistics and the runs would agree only approximately.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from tinydata import NO_BN_CNN, tiny_splits

from cnnkit.train import distributed
from cnnkit.train.trainer import train

OPTIONS = dict(epochs=2, batch_size=32, lr=0.05, augment="none", amp="off", progress=False, quiet=True, seed=1)

SCRIPT = """
import sys, torch
sys.path.insert(0, {tests!r})
torch.set_num_threads(1)
from tinydata import NO_BN_CNN, tiny_splits
from cnnkit.train import distributed
from cnnkit.train.trainer import train
result = train(NO_BN_CNN, tiny_splits(256, 64, 64), out=sys.argv[1], **{options!r})
assert result.metrics[-1]["epoch"] == 2
"""


def test_helpers_are_single_process_no_ops() -> None:
    t = torch.tensor([3.0])
    assert distributed.all_reduce_sum(t) is t and t.item() == 3.0
    assert (distributed.rank(), distributed.world_size(), distributed.is_main()) == (0, 1, True)
    assert not distributed.is_distributed()
    distributed.barrier()


@pytest.mark.slow
def test_two_processes_match_one(tmp_path: Path) -> None:
    script = tmp_path / "ddp.py"
    script.write_text(textwrap.dedent(SCRIPT.format(tests=str(Path(__file__).parent), options=OPTIONS)))
    out = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", str(script), str(out)]
    done = subprocess.run(command, env=env, timeout=240, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]

    single = train(NO_BN_CNN, tiny_splits(256, 64, 64), **OPTIONS)
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    for ddp, one in zip(records, single.metrics):
        for key in ("train_loss", "val_loss"):
            assert ddp[key] == pytest.approx(one[key], rel=1e-4)
        for key in ("train_acc", "val_acc"):
            assert ddp[key] == pytest.approx(one[key], abs=1.5 / 64)  # at most a sample near the boundary

    from cnnkit.train.run import load_run

    loaded = load_run(out)
    for a, b in zip(loaded.model.state_dict().values(), single.model.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-5)
    assert (out / "report.md").is_file()
