"""Does fine-tuning help? Fashion-MNIST features for 8x8 digits with 10 labels per class.

1. A source run: QuickNet trained on Fashion-MNIST with the fast preset (or ``--source
   RUN``, an existing run directory, to skip this minute).
2. For each seed: the same few labelled digits (``--per-class`` per class, drawn with the
   seed), upscaled to the source's 1x28x28, and
   - fine-tune: the source model, lower layers frozen (``--freeze``), a new classifier,
     the source's normalization, the fine-tuning learning rate (0.1x the preset's);
   - scratch: the same architecture freshly initialized, the target's normalization, at
     each learning rate of ``--scratch-lr`` (the fine-tuning rate and a smaller one: the
     fast preset's own 0.4 is far too high for batches of 25 and would make a straw man);
   all with the same epochs, batch size and augmentation, tested on the same 359 digits.
3. Prints each seed, the mean +- standard deviation of every arm, and each fine-tuning
   arm's difference to the best scratch arm.

    python benchmarks/transfer_digits.py [--source runs/NAME] [--seeds 5] [--per-class 10]
        [--epochs 20] [--freeze 0,2,4,all] [--scratch-lr 0.04,0.01] [--shift 0] [--threads 1]

``--freeze`` and ``--scratch-lr`` take comma-separated lists; ``--shift P`` turns on random
shifts of up to P pixels for every arm (the fast preset has none).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import torch


def _source(path: str | None, threads: int) -> str:
    if path:
        return path
    from cnnkit.train.trainer import train

    out = Path("runs") / "transfer-source"
    number = 1
    while out.exists():
        number += 1
        out = Path("runs") / f"transfer-source-{number}"
    print(
        f"pretraining quicknet on fashion-mnist (preset fast) into {out} ...",
        flush=True,
    )
    result = train(
        "quicknet", "fashion-mnist", preset="fast", out=out, progress=False, quiet=True
    )
    print(
        f"  source test accuracy {result.test_accuracy:.2%} in {result.seconds:.0f} s",
        flush=True,
    )
    return str(out)


def _scratch(ready: Any, seed: int, lr: float, common: dict[str, Any]) -> float:
    """The same architecture, freshly initialized, on the same examples (target normalization)."""
    from cnnkit.data.tensordata import Splits
    from cnnkit.train.config import TrainConfig
    from cnnkit.train.trainer import train
    from cnnkit.train.transfer import load_target

    target = load_target(
        "digits",
        ready.source,
        ready.config,
        per_class=common["per_class"],
        normalization="target",
    )
    assert torch.equal(target.train.y, ready.splits.train.y) and torch.equal(
        target.train.x, ready.splits.train.x
    )
    config = TrainConfig.from_preset(
        "fast", epochs=common["epochs"], batch_size=ready.config.batch_size, seed=seed, lr=lr,
        augment_options=ready.config.augment_options,
    )  # fmt: skip
    splits = Splits(target.train, target.val, target.test, target.info)
    result = train(
        ready.config.model, splits, config=config, progress=False, quiet=True
    )
    return float(result.test_accuracy)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source",
        help="an existing run directory (default: pretrain one, about a minute)",
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--per-class", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument(
        "--freeze",
        default="0,2,4,all",
        help="layers to freeze (comma-separated list to compare)",
    )
    parser.add_argument(
        "--scratch-lr", default="0.04,0.01", help="learning rates of the scratch arms"
    )
    parser.add_argument(
        "--shift",
        type=int,
        default=0,
        help="random shifts of up to this many pixels (all arms)",
    )
    parser.add_argument(
        "--threads", type=int, default=0, help="torch threads (0: torch's default)"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from cnnkit.train.trainer import train
    from cnnkit.train.transfer import prepare

    started = time.perf_counter()
    source = _source(args.source, args.threads)
    depths = [d.strip() for d in args.freeze.split(",")]
    rates = [float(r) for r in args.scratch_lr.split(",")]
    common = {"per_class": args.per_class, "epochs": args.epochs}
    results: dict[str, list[float]] = {f"finetune --freeze {d}": [] for d in depths}
    results.update({f"scratch --lr {r:g}": [] for r in rates})
    for seed in range(args.seeds):
        line = [f"seed {seed}:"]
        for depth in depths:
            ready = prepare(
                source, "digits", freeze=depth, per_class=args.per_class, epochs=args.epochs, seed=seed,
                augment_options={"crop_padding": args.shift},
            )  # fmt: skip
            result = train(ready.model, ready.splits, config=ready.config, progress=False, quiet=True,
                           builder_kwargs=ready.source.builder_kwargs)  # fmt: skip
            results[f"finetune --freeze {depth}"].append(float(result.test_accuracy))
            line.append(f"freeze {depth} {result.test_accuracy:.2%}")
        for rate in rates:
            results[f"scratch --lr {rate:g}"].append(
                _scratch(ready, seed, rate, common)
            )
            line.append(
                f"scratch lr {rate:g} {results[f'scratch --lr {rate:g}'][-1]:.2%}"
            )
        print("  ".join(line), flush=True)

    n_train = args.per_class * 10
    print(
        f"\ndigits, {args.per_class} labelled examples per class ({n_train} images, upscaled to 1x28x28), "
        f"{args.epochs} epochs, batch {ready.config.batch_size}, shifts {args.shift} px, fine-tuning lr "
        f"{ready.config.lr:g}, test on {len(ready.splits.test)} digits, {args.seeds} seeds; source {source}"
    )
    best = max(
        (n for n in results if n.startswith("scratch")),
        key=lambda n: statistics.mean(results[n]),
    )
    for name, accs in results.items():
        spread = statistics.stdev(accs) if len(accs) > 1 else 0.0
        text = f"{name:<24} {statistics.mean(accs):7.2%} +- {spread:.2%}"
        if name.startswith("finetune"):
            diffs = [a - b for a, b in zip(accs, results[best])]
            text += (
                f"   vs {best}: {statistics.mean(diffs) * 100:+.2f} points "
                f"(better in {sum(d > 0 for d in diffs)} of {len(diffs)} seeds)"
            )
        print(text)
    print(
        f"\nmachine: {platform.machine()} {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; {time.perf_counter() - started:.0f} s in all"
    )


if __name__ == "__main__":
    main()
