"""Neural style transfer speed (issue 7): cnnkit against a plain PyTorch script, side by side.

Target: 256 px, 200 L-BFGS steps; cnnkit's time at most 2x the plain implementation's.

Both sides do the same work: VGG19 (the same weights), content at conv4_2, style at
conv1_1..conv5_1 with lambda 0.2, the lecture's costs, beta from the same balance rule,
L-BFGS with one forward/backward pass per step and pixels clamped after each step. The
plain side is written out below as a newcomer would (a loop over vgg19.features, Gram
matrices with matmul); cnnkit's side is ``cnnkit.style.style_transfer`` with the network
opened beforehand (building the network is not timed on either side).

Each measurement runs in its own process, so its memory is its own: on the CPU the peak
resident set during the run (VmHWM, reset just before it) and how far that is above the
resident set at the start (the network is loaded by then); on a GPU
torch.cuda.max_memory_allocated. Runs alternate (cnnkit, plain, cnnkit, ...) so a busy
machine slows both alike.

    .venv/bin/python benchmarks/style_transfer.py                     # 256 px, 200 steps, CPU
    .venv/bin/python benchmarks/style_transfer.py --device cuda --repeats 3
    .venv/bin/python benchmarks/style_transfer.py --size 128 --steps 20   # a quick check

Without --weights, VGG19 keeps random weights (seeded): the time per step is the same as
with ImageNet weights.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import Tensor, nn

CONTENT_INDEX = 22  # vgg19.features[22]: the ReLU after conv4_2
STYLE_INDICES = (1, 6, 11, 20, 29)  # the ReLUs after conv1_1, conv2_1, conv3_1, conv4_1, conv5_1
BALANCE = 30.0  # cnnkit's DEFAULT_BALANCE; beta = BALANCE * R_content / R_style on both sides


# ---- the plain implementation ------------------------------------------------------------
def plain_style_transfer(net: nn.Sequential, content: Tensor, style: Tensor, steps: int) -> tuple[Tensor, float]:
    """Gatys et al. by hand. ``net``: torchvision's vgg19.features; images (1, 3, H, W) in [0, 1]."""
    mean = torch.tensor([0.485, 0.456, 0.406], device=content.device).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], device=content.device).view(1, 3, 1, 1)
    wanted = {CONTENT_INDEX, *STYLE_INDICES}

    def features(img: Tensor) -> dict[int, Tensor]:
        x, out = (img - mean) / std, {}
        for i, layer in enumerate(net):
            x = layer(x)
            if i in wanted:
                out[i] = x
            if i == max(wanted):
                break
        return out

    def gram(a: Tensor) -> Tensor:
        _, c, h, w = a.shape
        f = a.view(c, h * w)
        return f @ f.t() / (h * w)  # per position, so style and result sizes may differ

    with torch.no_grad():
        target_content = features(content)[CONTENT_INDEX]
        target_grams = {i: gram(a) for i, a in features(style).items() if i in STYLE_INDICES}
    lam = 1.0 / len(STYLE_INDICES)
    r_content = 0.5 * target_content.pow(2).sum().item()
    r_style = sum(lam * (g.pow(2).sum() / (2 * g.shape[0]) ** 2).item() for g in target_grams.values())
    beta = BALANCE * r_content / r_style
    scale = r_content + beta * r_style

    img = content.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([img], lr=1, max_iter=1, tolerance_grad=0, tolerance_change=0, history_size=50)
    last = [0.0]

    def closure() -> Tensor:
        opt.zero_grad()
        acts = features(img)
        j_content = 0.5 * (acts[CONTENT_INDEX] - target_content).pow(2).sum()
        j_style = sum(
            lam * (gram(acts[i]) - target_grams[i]).pow(2).sum() / (2 * acts[i].shape[1]) ** 2 for i in STYLE_INDICES
        )
        loss = j_content + beta * j_style
        last[0] = loss.item()
        (loss / scale).backward()
        return loss / scale

    for _ in range(steps):
        opt.step(closure)
        with torch.no_grad():
            img.clamp_(0, 1)
    return img.detach(), last[0]


# ---- one measurement (a child process) -----------------------------------------------------
def rss_mib(field: str = "VmRSS") -> float:
    """The process's resident memory now (VmRSS) or its high-water mark (VmHWM), in MiB."""
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith(field + ":"))
    return int(line.split()[1]) / 1024  # kB


def reset_peak_rss() -> None:
    """Start the high-water mark afresh (Linux >= 4.0), so the peak is this run's own."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def worker(args: argparse.Namespace) -> None:
    import torchvision

    from cnnkit.style import FeatureExtractor, open_network, style_transfer
    from cnnkit.style.images import read_pixels

    device = torch.device(args.device)
    subject, pretrained = open_network("vgg19", weights=args.weights, allow_random_weights=True, seed=0,
                                       device=device)  # fmt: skip
    if args.which == "cnnkit":
        extractor = FeatureExtractor(subject, pretrained=pretrained)
    else:
        net = torchvision.models.vgg19(weights=None).features[: max(STYLE_INDICES) + 1]
        net.load_state_dict(subject.model.features.state_dict(), strict=False)
        net = net.to(device).eval().requires_grad_(False)
        del subject
        content = read_pixels(args.content, size=args.size).to(device)
        style = read_pixels(args.style, size=args.size).to(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    reset_peak_rss()
    before = rss_mib()
    sync()
    began = time.perf_counter()
    if args.which == "cnnkit":
        result = style_transfer(args.content, args.style, extractor=extractor, size=args.size, steps=args.steps)
        final = result.history[-2]["total"]  # the last step's loss, as the plain side reports it
    else:
        _, final = plain_style_transfer(net, content, style, args.steps)
    sync()
    seconds = time.perf_counter() - began
    peak = rss_mib("VmHWM")
    gpu = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None
    print(json.dumps({"which": args.which, "seconds": seconds, "peak_rss_mib": peak,
                      "rss_rise_mib": peak - before, "gpu_peak_mib": gpu, "final_loss": final}))  # fmt: skip


# ---- the driver ------------------------------------------------------------------------------
def pictures(folder: Path) -> tuple[Path, Path]:
    """scikit-image's bundled cat photo (content) and brick texture (style) as PNG files."""
    from PIL import Image
    from skimage import data

    content, style = folder / "chelsea.png", folder / "brick.png"
    Image.fromarray(data.chelsea()).save(content)
    Image.fromarray(data.brick()).save(style)
    return content, style


def machine(device: str) -> str:
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if device == "cuda" and torch.cuda.is_available() else ""
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {torch.get_num_threads()} torch "
            f"threads, torch {torch.__version__}, Python {platform.python_version()}{gpu}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=1, help="measurements per side (alternating)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--weights", default=None, help="a VGG19 weights file (default: random weights)")
    parser.add_argument("--which", choices=["cnnkit", "plain"], help=argparse.SUPPRESS)  # worker mode
    parser.add_argument("--content", help=argparse.SUPPRESS)
    parser.add_argument("--style", help=argparse.SUPPRESS)
    args = parser.parse_args()
    from cnnkit.style.objective import DEFAULT_BALANCE

    if BALANCE != DEFAULT_BALANCE:  # both sides must minimize the same J
        sys.exit(f"BALANCE {BALANCE} differs from cnnkit's DEFAULT_BALANCE {DEFAULT_BALANCE}; update the benchmark")
    if args.which:
        worker(args)
        return
    print(f"machine: {machine(args.device)}")
    print(f"task: {args.size} px, {args.steps} L-BFGS steps, VGG19 ({args.weights or 'random weights'}), "
          f"device {args.device}")  # fmt: skip
    results: dict[str, list[dict[str, float]]] = {"cnnkit": [], "plain": []}
    with tempfile.TemporaryDirectory() as tmp:
        content, style = pictures(Path(tmp))
        for _ in range(args.repeats):
            for which in ("cnnkit", "plain"):
                command = [sys.executable, __file__, "--which", which, "--content", str(content), "--style", str(style),
                           "--size", str(args.size), "--steps", str(args.steps), "--device", args.device]  # fmt: skip
                if args.weights:
                    command += ["--weights", args.weights]
                done = subprocess.run(command, capture_output=True, text=True, check=False)
                if done.returncode != 0:
                    sys.exit(f"{which} failed:\n{done.stderr}")
                record = json.loads(done.stdout.strip().splitlines()[-1])
                results[which].append(record)
                gpu = f", GPU peak {record['gpu_peak_mib']:.0f} MiB" if record["gpu_peak_mib"] is not None else ""
                print(f"  {which:7s} {record['seconds']:7.1f} s  peak RSS {record['peak_rss_mib']:.0f} MiB "
                      f"(+{record['rss_rise_mib']:.0f} during the run){gpu}  final loss {record['final_loss']:.4g}",
                      flush=True)  # fmt: skip
    best = {k: min(r["seconds"] for r in v) for k, v in results.items()}
    print(f"cnnkit {best['cnnkit']:.1f} s, plain {best['plain']:.1f} s (best of {args.repeats}): "
          f"ratio {best['cnnkit'] / best['plain']:.2f}x (target <= 2x)")  # fmt: skip


if __name__ == "__main__":
    main()
