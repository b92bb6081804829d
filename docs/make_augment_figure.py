"""Draw docs/img/augment.png: Fashion-MNIST items next to their light and strong augmentations.

Each row is one training image: the original, four draws of the "light" level
(shift by up to 2 pixels, mirror) and four of "strong" (also rotation up to 10 degrees,
zoom +-10 % and a 7-pixel cutout). Uses the digits set upscaled to 28x28 when
Fashion-MNIST is not on disk.

    python docs/make_augment_figure.py [--out docs/img/augment.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from cnnkit.atomic import save_figure
from cnnkit.data.augment import Augment, AugmentConfig
from cnnkit.data.sources import load_dataset
from cnnkit.errors import DataError

ROWS, DRAWS = 6, 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).parent / "img" / "augment.png"))
    args = parser.parse_args()
    try:
        splits = load_dataset("fashion-mnist", download=False, limit=2000)
    except DataError:
        splits = load_dataset("digits", input_shape=(1, 28, 28))
    info = splits.info
    # One item of each of the first ROWS classes, so the rows differ.
    picks = [int((splits.train.y == c).nonzero()[0]) for c in range(ROWS)]
    x = info.normalize(splits.train.x[picks])  # (ROWS, 1, 28, 28) normalized
    gen = torch.Generator().manual_seed(0)
    columns = [("original", x)]
    for level in ("light", "strong"):
        aug = Augment(AugmentConfig.for_dataset(info, level))
        columns += [(f"{level} {i + 1}", aug(x, gen)) for i in range(DRAWS)]

    mean, std = info.mean[0], info.std[0]
    fig, axes = plt.subplots(ROWS, len(columns), figsize=(1.25 * len(columns), 1.35 * ROWS))
    for col, (title, images) in enumerate(columns):
        for row in range(ROWS):
            ax = axes[row, col]
            ax.imshow((images[row, 0] * std + mean).clamp(0, 1).numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(title, fontsize=9)
            if col == 0:
                ax.set_ylabel(info.classes[int(splits.train.y[picks[row]])], fontsize=8)
    fig.suptitle(f"{info.name}: batched augmentation (cnnkit.data.augment), light and strong levels", fontsize=10)
    fig.tight_layout()
    save_figure(args.out, fig, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
