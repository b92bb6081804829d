"""How long ``cnnkit.summary`` takes on ResNet-50 at 3x224x224, against a plain forward pass.

summary() runs one real forward pass at batch 1 with hooks on every module and a torch
function mode that carries receptive fields along; this prints the overhead of that
bookkeeping. Target: under 2 s on a 2-core CPU.

    python benchmarks/summary_speed.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import cnnkit
from cnnkit.analysis.summary import summary


def _median_seconds(fn, repeats: int) -> float:  # type: ignore[no-untyped-def]
    fn()  # warm-up: first-call allocations and lazy imports
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    model = cnnkit.build("resnet50").eval()
    x = torch.rand(1, 3, 224, 224)

    def plain() -> None:
        with torch.no_grad():
            model(x)

    def analysed() -> None:
        summary(model, (3, 224, 224))

    t_plain = _median_seconds(plain, args.repeats)
    t_summary = _median_seconds(analysed, args.repeats)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, median of {args.repeats}")
    print(f"resnet50 3x224x224 plain forward (batch 1, no_grad): {t_plain * 1000:8.1f} ms")
    print(f"resnet50 3x224x224 cnnkit.summary:                   {t_summary * 1000:8.1f} ms")
    print(f"ratio summary / forward: {t_summary / t_plain:.2f}x")


if __name__ == "__main__":
    main()
