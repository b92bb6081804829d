"""YOLO-style detector on generated scenes within a training-time budget (issue 5, section 6).

Target: held-out test mAP@0.5 >= 0.90 after at most 15 minutes of training on the 2-core CPU.
The number of epochs is chosen to fit the budget: one epoch is timed on a throwaway detector
over a slice of the training scenes (with the validation pass), scaled to the full set, and
the one-cycle schedule is laid out over the epochs that fit. The run goes through
``cnnkit.detect.run_train.train_run`` (a complete run directory, as ``cnnkit detect train``
writes), then inference images/s on the CPU (forward + decode + NMS, batch 64) is measured.

    .venv/bin/python benchmarks/detect_map.py [--minutes 15] [--scenes 10000] [--threads 0]
        [--backbone quicknet] [--grid 0] [--anchors 5] [--device cpu|cuda] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

import torch

from cnnkit.detect.data import DataOptions, resolve_data
from cnnkit.detect.run_train import TrainSettings, train_run
from cnnkit.train.device import torch_threads

CALIBRATION_SCENES = 256


def machine(device: str) -> str:
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if device == "cuda" and torch.cuda.is_available() else ""
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
            f"Python {platform.python_version()}{gpu}")


def seconds_per_epoch(args: argparse.Namespace) -> float:
    """Time one epoch on CALIBRATION_SCENES scenes (plus the val pass), scaled to args.scenes."""
    from cnnkit.detect.anchors import kmeans_anchors
    from cnnkit.detect.yolo_fit import FitConfig, fit
    from cnnkit.detect.yolo_model import build_yolo

    n = min(CALIBRATION_SCENES, args.scenes)
    splits = resolve_data("scenes", DataOptions(scenes=n, val_scenes=args.val_scenes, test_scenes=1,
                                                canvas=args.canvas, seed=args.seed + 100))
    anchors = kmeans_anchors(splits.train, args.anchors, seed=0).anchors
    det = build_yolo(args.backbone, num_classes=splits.train.num_classes, anchors=anchors,
                     image_size=splits.train.image_size, grid=args.grid or None)
    with torch_threads(args.threads):
        fit(det, splits.train, FitConfig(epochs=1, batch_size=args.batch_size), device=args.device)  # warm-up
        start = time.perf_counter()
        fit(det, splits.train, FitConfig(epochs=1, batch_size=args.batch_size), device=args.device)
        train_part = time.perf_counter() - start
        start = time.perf_counter()
        from cnnkit.detect.yolo_fit import evaluate_map

        evaluate_map(det, splits.val)
        val_part = time.perf_counter() - start
    return train_part * args.scenes / n + val_part


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=15.0, help="training-time budget")
    parser.add_argument("--scenes", type=int, default=10000)
    parser.add_argument("--val-scenes", type=int, default=200)
    parser.add_argument("--test-scenes", type=int, default=500)
    parser.add_argument("--canvas", type=int, default=96)
    parser.add_argument("--backbone", default="quicknet")
    parser.add_argument("--grid", type=int, default=0, help="0: the trunk's own grid")
    parser.add_argument("--anchors", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="0: every core (torch's default)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--epochs", type=int, default=None, help="skip the calibration and train this many")
    parser.add_argument("--out", type=Path, default=None, help="run directory [default: a temporary folder]")
    args = parser.parse_args()
    command = shlex.join(["python", *sys.argv])
    print(f"machine: {machine(args.device)}")
    print(f"command: {command}")
    budget = args.minutes * 60
    if args.epochs is None:
        per_epoch = seconds_per_epoch(args)
        # the last epoch must end inside the budget; 5% margin for timing noise
        epochs = max(1, int(0.95 * budget / per_epoch))
        print(f"calibration: ~{per_epoch:.1f} s per epoch of {args.scenes} scenes -> {epochs} epochs "
              f"in {args.minutes:g} min")
    else:
        epochs = args.epochs
    out = args.out or Path(tempfile.mkdtemp(prefix="detect-bench-")) / "run"
    settings = TrainSettings(
        backbone=args.backbone, data="scenes",
        data_options=DataOptions(scenes=args.scenes, val_scenes=args.val_scenes, test_scenes=args.test_scenes,
                                 canvas=args.canvas, seed=args.seed),
        epochs=epochs, batch_size=args.batch_size, lr=args.lr, anchors=args.anchors, grid=args.grid or None,
        seed=args.seed, threads=args.threads, device=args.device, command=command,
    )
    result = train_run(out, settings, log=lambda line: print(line, flush=True))
    within = result["train_seconds"] <= budget
    print()
    print(f"training time   {result['train_seconds']:.0f} s of a {budget:.0f} s budget "
          f"({'within' if within else 'OVER'} budget), {epochs} epochs, {result['threads']} thread(s), {args.device}")
    print(f"test mAP@0.5    {result['map_50']:.3f}  (target >= 0.90 on {args.test_scenes} held-out scenes)")
    print(f"test mAP@[.5:.95] {result['map']:.3f}")
    print(f"inference       {result['images_per_second']:.0f} images/s on CPU ({result['threads']} thread(s), "
          "batch 64, forward + decode + NMS)")
    print(f"run directory   {out}")


if __name__ == "__main__":
    main()
