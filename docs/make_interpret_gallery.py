"""Regenerate the pictures of docs/interpret.md: one of each method on a Fashion-MNIST model.

Every picture is made by the very command the guide shows, run as a user runs it
(`python -m cnnkit interpret ...`), so the gallery is also a check that they work.

    .venv/bin/python docs/make_interpret_gallery.py                 # trains runs/gallery-quicknet once (~1 min)
    .venv/bin/python docs/make_interpret_gallery.py --run runs/NAME  # or use a run you have

Pictures go to docs/img/interpret/. The run is the default model with the fast preset
(`cnnkit train --preset fast --seed 0`), the model the README's main job trains.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parent
OUT = DOCS / "img" / "interpret"
DEFAULT_RUN = Path("runs/gallery-quicknet")


def cnnkit(*args: str) -> None:
    """Run one cnnkit command, echo it with its output and time; stop on failure."""
    line = "cnnkit " + " ".join(args)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "cnnkit", *args], capture_output=True, text=True,
                          env={**os.environ, "CI": "1"})
    seconds = time.perf_counter() - start
    print(f"$ {line}   ({seconds:.1f} s)")
    print("  " + (done.stdout.strip() or "(no output)").replace("\n", "\n  "))
    if done.returncode != 0:
        sys.exit(f"failed (exit {done.returncode}): {done.stderr.strip()}")


def camera_photo(path: Path) -> Path:
    """scikit-image's bundled 'camera' photo (512x512 grey) as a PNG: a real photo input."""
    from PIL import Image
    from skimage import data

    Image.fromarray(data.camera()).save(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, default=None, help="a Fashion-MNIST run (default: train one)")
    args = parser.parse_args()
    run = args.run or DEFAULT_RUN
    if not (run / "model.safetensors").is_file():
        if args.run is not None:
            sys.exit(f"{run} is not a finished run directory")
        cnnkit("train", "--preset", "fast", "--seed", "0", "--out", str(run), "--quiet")
    OUT.mkdir(parents=True, exist_ok=True)
    r = str(run)

    cnnkit("interpret", "filters", r, "-o", str(OUT / "filters.png"))
    cnnkit("interpret", "filters", r, "--layer", "features.stage2.conv1", "--max-filters", "12",
           "-o", str(OUT / "filters-stage2.png"))
    cnnkit("interpret", "features", r, "test:9", "-o", str(OUT / "features.png"))
    cnnkit("interpret", "saliency", r, "test:0", "test:1", "test:12", "--method", "all",
           "-o", str(OUT / "saliency.png"))
    cnnkit("interpret", "maximize", r, "--class", "all", "-o", str(OUT / "maximize-classes.png"))
    cnnkit("interpret", "maximize", r, "--layer", "features.stage2.conv2", "--channel", "all",
           "-o", str(OUT / "maximize-channels.png"))
    photo = camera_photo(Path(tempfile.mkdtemp()) / "camera.png")
    cnnkit("interpret", "dream", r, str(photo), "--layer", "features.stage3.relu1",
           "--size", "224", "-o", str(OUT / "dream.png"))
    cnnkit("interpret", "fool", r, "--class", "all", "-o", str(OUT / "fool.png"))
    cnnkit("interpret", "adversarial", r, "test:0", "--eps", "8", "--method", "pgd",
           "-o", str(OUT / "adversarial.png"))
    print(f"pictures in {OUT}")


if __name__ == "__main__":
    main()
