"""Trainer throughput against a plain PyTorch loop: same model, batch size, data, machine.

Trains the default model (quicknet) on Fashion-MNIST for one epoch three ways, one after
the other, repeated in turn (A B C A B C ...) so that machine noise hits all of them:

  A  plain loop, fp32, contiguous tensors (what a first hand-written loop does)
  B  plain loop with cnnkit's runtime choices on this machine (bf16 autocast and
     channels_last when the CPU has AMX/AVX512-BF16), i.e. the same arithmetic
  C  cnnkit's trainer (cnnkit.train.trainer.train), images/s from its metrics

Prints images/s (median over the repeats) and the ratios C/A and C/B. Issue 3 asks that
the trainer be at least as fast as a plain loop (C/B >= 1: cnnkit adds no overhead; C/A
also shows what its defaults gain).

    .venv/bin/python benchmarks/trainer_throughput.py [--repeats 3] [--batch-size 512]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _baseline import train_epochs  # noqa: E402

import cnnkit  # noqa: E402
from cnnkit.data.sources import load_dataset  # noqa: E402
from cnnkit.train.device import resolve_runtime  # noqa: E402
from cnnkit.train.trainer import train  # noqa: E402


def plain(splits, batch_size: int, *, fast_math: bool, device: torch.device) -> float:  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    model = cnnkit.build("quicknet", num_classes=10, in_channels=1)
    mean, std = splits.info.mean[0], splits.info.std[0]
    seconds = train_epochs(model, splits.train.x, splits.train.y, epochs=1, batch_size=batch_size, lr=0.1,
                           mean=mean, std=std, autocast=fast_math, channels_last=fast_math, device=device)
    return (len(splits.train) // batch_size) * batch_size / seconds


def trainer(splits, batch_size: int) -> float:  # type: ignore[no-untyped-def]
    result = train("quicknet", splits, epochs=1, batch_size=batch_size, augment="light",
                   augment_options={"crop_padding": 0}, tta_flip=False, quiet=True, progress=False)
    return float(result.metrics[-1]["images_per_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=512)
    args = parser.parse_args()
    splits = load_dataset("fashion-mnist")
    runtime = resolve_runtime("auto", amp="auto", channels_last="auto", spatial_dims=2)
    fast_math = runtime.amp_dtype is not None
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load {os.getloadavg()[0]:.2f}; "
          f"runtime: {runtime.describe()}; {len(splits.train):,} training images, batch {args.batch_size}")
    rates: dict[str, list[float]] = {"A": [], "B": [], "C": []}
    for i in range(args.repeats):
        rates["A"].append(plain(splits, args.batch_size, fast_math=False, device=runtime.device))
        rates["B"].append(plain(splits, args.batch_size, fast_math=fast_math, device=runtime.device))
        rates["C"].append(trainer(splits, args.batch_size))
        print(f"  round {i + 1}: " + "  ".join(f"{k} {v[-1]:,.0f} img/s" for k, v in rates.items()), flush=True)
    med = {k: statistics.median(v) for k, v in rates.items()}
    print(f"A plain loop, fp32:                {med['A']:8,.0f} img/s")
    print(f"B plain loop, cnnkit's runtime:    {med['B']:8,.0f} img/s")
    print(f"C cnnkit trainer:                  {med['C']:8,.0f} img/s")
    print(f"ratio C/B (same arithmetic): {med['C'] / med['B']:.2f}x   ratio C/A: {med['C'] / med['A']:.2f}x")


if __name__ == "__main__":
    main()
