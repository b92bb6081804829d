"""Batched augmentation (cnnkit.data.augment) against a per-image torchvision.transforms.v2 loop.

Augments Fashion-MNIST's 60,000 28x28 training images (random ones when the dataset is
not on disk) in batches of 512, as the trainer does, and the same work image by image
with torchvision.transforms.v2, which is what a DataLoader pipeline would run. The
per-image loop is timed on a subset (it is slow) and reported as images per second.

    python benchmarks/augment_speed.py [--threads 1] [--loop-images 5000]
"""

from __future__ import annotations

import argparse
import platform
import time

import torch
from torchvision.transforms import v2

from cnnkit.data.augment import Augment, AugmentConfig
from cnnkit.data.tensordata import DatasetInfo


def _images() -> tuple[torch.Tensor, DatasetInfo, str]:
    from cnnkit.data.sources import load_dataset
    from cnnkit.errors import DataError

    try:
        splits = load_dataset("fashion-mnist", val_fraction=0.0, download=False)
        return splits.info.normalize(splits.train.x), splits.info, "fashion-mnist"
    except DataError:
        info = DatasetInfo("random", "image", (1, 28, 28), tuple("0123456789"), (0.286,), (0.353,), flip_ok=True)
        raw = torch.randint(0, 256, (60000, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
        return info.normalize(raw), info, "random uint8 images (fashion-mnist not on disk)"


def _per_image_pipeline(config: AugmentConfig) -> v2.Compose:
    """The same augmentation written the usual per-image way."""
    fill = float(config.fill[0] if isinstance(config.fill, tuple) else config.fill)
    steps: list[v2.Transform] = [v2.RandomCrop(28, padding=config.crop_padding, fill=fill)]
    if config.flip:
        steps.append(v2.RandomHorizontalFlip())
    if config.rotate or config.scale:
        steps.append(v2.RandomAffine(degrees=config.rotate, scale=(1 - config.scale, 1 + config.scale), fill=fill))
    if config.cutout:
        side = config.cutout / 28
        steps.append(v2.RandomErasing(p=1.0, scale=(side * side, side * side), ratio=(1.0, 1.0), value=fill))
    return v2.Compose(steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave torch's default)")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--loop-images", type=int, default=5000, help="images for the (slow) per-image loop")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    x, info, what = _images()
    print(f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}")
    print(f"data: {what}, {x.shape[0]:,} images {tuple(x.shape[1:])}, batch {args.batch_size}\n")
    print(f"{'level':<7} {'cnnkit batched img/s':>21} {'v2 per-image img/s':>19} {'ratio':>7}")
    for level in ("light", "strong"):
        config = AugmentConfig.for_dataset(info, level)
        aug = Augment(config)
        gen = torch.Generator().manual_seed(0)
        aug(x[: args.batch_size], gen)  # warm-up
        start = time.perf_counter()
        for s in range(0, x.shape[0], args.batch_size):
            aug(x[s : s + args.batch_size], gen)
        batched = x.shape[0] / (time.perf_counter() - start)

        pipeline = _per_image_pipeline(config)
        torch.manual_seed(0)
        subset = x[: args.loop_images]
        start = time.perf_counter()
        for image in subset:
            pipeline(image)
        looped = subset.shape[0] / (time.perf_counter() - start)
        print(f"{level:<7} {batched:>21,.0f} {looped:>19,.0f} {batched / looped:>6.1f}x")
        print(f"        {config}")


if __name__ == "__main__":
    main()
