"""How long the slow interpretation commands take, and Grad-CAM against pytorch-grad-cam.

    .venv/bin/pip install --target benchmarks/.peers --no-deps grad-cam ttach opencv-python-headless
    .venv/bin/python benchmarks/interpret_speed.py --run runs/fashion-mnist-quicknet-1 --repeats 3

1. Whole commands, each a fresh process as a user runs them (median of ``--repeats``):
   ``interpret maximize RUN --layer features.stage2.conv2 --channel 0,5,7,10`` and
   ``interpret saliency RUN test:0 test:1 test:12 --method all`` (issue 13 item 19).
2. Grad-CAM alone, in one process on the same model, layer, images and threads: cnnkit's
   ``saliency_maps(..., method="gradcam")`` against pytorch-grad-cam's ``GradCAM`` (the
   peer, installed under benchmarks/.peers only: never a cnnkit dependency). The maps are
   compared too (Pearson correlation per image, after both are brought to the input size).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

PEERS = Path(__file__).resolve().parent / ".peers"


def command_seconds(args: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "cnnkit", *args], check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def gradcam_comparison(run: str, layer: str, count: int, repeats: int, threads: int) -> dict[str, float]:
    import torch
    import torch.nn.functional as F

    sys.path.insert(0, str(PEERS))
    try:
        from pytorch_grad_cam import GradCAM
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    except ImportError:
        sys.exit(f"pytorch-grad-cam is not installed: see the command at the top of {__file__}")

    from cnnkit.interpret.attribution import saliency_maps
    from cnnkit.interpret.subject import open_subject

    torch.set_num_threads(threads)
    subject = open_subject(run)
    images = torch.stack([subject.read_image(f"test:{i}")[0] for i in range(count)])  # uint8 (N, C, H, W)
    x = subject.pixels_to_input(images.float() / 255.0)
    with torch.no_grad():
        predicted = subject.model(x).argmax(1).tolist()

    def ours() -> torch.Tensor:
        return torch.stack([a.map for a in saliency_maps(subject, images, method="gradcam", layer=layer)])

    cam = GradCAM(model=subject.model, target_layers=[subject.layer(layer)])
    targets = [ClassifierOutputTarget(c) for c in predicted]

    def peer() -> torch.Tensor:
        # the subject's weights are frozen: the input must need a gradient for the layer's to exist
        return torch.from_numpy(cam(input_tensor=x.clone().requires_grad_(True), targets=targets))

    timings: dict[str, list[float]] = {"cnnkit": [], "pytorch-grad-cam": []}
    for _ in range(repeats):
        for name, work in (("cnnkit", ours), ("pytorch-grad-cam", peer)):
            started = time.perf_counter()
            maps = work()
            timings[name].append(time.perf_counter() - started)
            if name == "cnnkit":
                mine = maps
            else:
                theirs = maps
    size = images.shape[-2:]
    mine = F.interpolate(mine.unsqueeze(1).float(), size=size, mode="bilinear").squeeze(1)
    theirs = F.interpolate(theirs.unsqueeze(1).float(), size=size, mode="bilinear").squeeze(1)
    flat_a, flat_b = mine.flatten(1), theirs.flatten(1)
    a, b = flat_a - flat_a.mean(1, keepdim=True), flat_b - flat_b.mean(1, keepdim=True)
    corr = (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(1e-12)
    return {
        "cnnkit_s": statistics.median(timings["cnnkit"]),
        "peer_s": statistics.median(timings["pytorch-grad-cam"]),
        "min_correlation": float(corr.min()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="a Fashion-MNIST quicknet run (cnnkit train)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the Grad-CAM comparison")
    args = parser.parse_args()

    print("whole commands (fresh process each, median of", args.repeats, "):")
    for label, cli in (
        ("maximize 4 channels", ["interpret", "maximize", args.run, "--layer", "features.stage2.conv2",
                                 "--channel", "0,5,7,10", "-o", "/tmp/bench-maximize.png"]),
        ("saliency --method all, 3 images", ["interpret", "saliency", args.run, "test:0", "test:1", "test:12",
                                             "--method", "all", "-o", "/tmp/bench-saliency.png"]),
        ("python -c 'import torch' (floor)", None),
    ):  # fmt: skip
        if cli is None:
            times = []
            for _ in range(args.repeats):
                started = time.perf_counter()
                subprocess.run([sys.executable, "-c", "import torch"], check=True)
                times.append(time.perf_counter() - started)
            seconds = statistics.median(times)
        else:
            seconds = command_seconds(cli, args.repeats)
        print(f"  {label:<36} {seconds:6.2f} s")

    for count in (3, 64):
        found = gradcam_comparison(args.run, "features.stage3", count, args.repeats, args.threads)
        print(f"Grad-CAM on {count} images (features.stage3, {args.threads} thread(s)): cnnkit {found['cnnkit_s'] * 1000:.1f} ms, "
              f"pytorch-grad-cam {found['peer_s'] * 1000:.1f} ms, ratio {found['cnnkit_s'] / found['peer_s']:.2f}x; "
              f"maps agree to correlation >= {found['min_correlation']:.4f}")  # fmt: skip


if __name__ == "__main__":
    main()
