"""Draw docs/img/detect/faces-astronaut.png (and faces-more.png): faces found in bundled photos.

Trains the small face / non-face CNN of :mod:`cnnkit.detect.facefind` on scikit-image's LFW
subset with hard-negative mining from bundled photos without people, converts it to a fully
convolutional net and slides it over an image pyramid of scikit-image's astronaut (grey),
then NMS. faces-more.png runs the same finder on the cameraman (scikit-image) and Grace
Hopper (matplotlib's sample data): harder, smaller or larger faces, shown as they come out.
None of the three photos is trained or mined on; their face boxes below were drawn by hand
and serve only to count true and false detections in the printout.

    python docs/make_face_demo.py [--out-dir docs/img/detect] [--seed 0] [--threshold 0.98]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from matplotlib.cbook import get_sample_data
from skimage import data
from torchvision.ops import box_iou

from cnnkit.atomic import save_figure
from cnnkit.detect.facefind import draw_detections, find_faces, grey, train_face_finder

FACES = {  # hand-drawn face boxes (xyxy pixels), for counting only
    "astronaut (scikit-image)": [185, 75, 285, 185],
    "cameraman (scikit-image)": [195, 95, 275, 195],
    "Grace Hopper (matplotlib)": [150, 140, 325, 315],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default=str(Path(__file__).parent / "img" / "detect"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3, help="hard-negative mining rounds")
    parser.add_argument("--threshold", type=float, default=0.98, help="face probability to keep a window")
    args = parser.parse_args()
    start = time.perf_counter()
    finder = train_face_finder(seed=args.seed, mining_rounds=args.rounds)
    print(f"trained in {time.perf_counter() - start:.1f} s, window stride {finder.net.stride} px")
    for line in finder.history:
        print(" ", line)
    photos = {
        "astronaut (scikit-image)": grey(data.astronaut()),
        "cameraman (scikit-image)": grey(data.camera()),
        "Grace Hopper (matplotlib)": grey(plt.imread(get_sample_data("grace_hopper.jpg"))),
    }
    found = {}
    for name, photo in photos.items():
        start = time.perf_counter()
        found[name] = find_faces(finder, photo, threshold=args.threshold)
        boxes = ", ".join(f"{[round(v) for v in b]} {s:.3f}" for b, s in
                          zip(found[name].boxes.tolist(), found[name].scores.tolist()))
        hit = box_iou(found[name].boxes, torch.tensor([FACES[name]], dtype=torch.float32))[:, 0] >= 0.3
        print(f"{name}: {len(found[name])} boxes in {time.perf_counter() - start:.2f} s, face found: "
              f"{bool(hit.any())}, false: {int((~hit).sum())}: {boxes}")
    out = Path(args.out_dir)
    names = list(photos)
    fig, ax = plt.subplots(figsize=(7, 7))
    draw_detections(ax, photos[names[0]], found[names[0]],
                    title=f"{names[0]}: face probability >= {args.threshold} after NMS")
    save_figure(out / "faces-astronaut.png", fig, dpi=80, bbox_inches="tight")
    fig, axes = plt.subplots(1, 2, figsize=(12, 6.5))
    for ax, name in zip(axes, names[1:]):
        draw_detections(ax, photos[name], found[name], title=name)
    save_figure(out / "faces-more.png", fig, dpi=70, bbox_inches="tight")
    print(f"wrote {out / 'faces-astronaut.png'} and {out / 'faces-more.png'}")


if __name__ == "__main__":
    main()
