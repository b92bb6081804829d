"""Convolutional vs naive sliding windows on the same image and classifier (issue 5, section 3).

Target: one forward pass of the fully convolutional form is at least 10x faster than
cropping and classifying every window, at the same window stride (the trunk's total stride)
and the same pyramid scales, with the same scores (max abs difference printed).

The classifier is the face finder's spec (1x25x25, stride 4) with random weights (timing and
equality do not depend on training); the image is scikit-image's astronaut in grey, 512x512.

    .venv/bin/python benchmarks/sliding_windows.py [--repeats 3] [--threads 2] [--batch 1024]
"""

from __future__ import annotations

import argparse
import time

import torch
from skimage import data

import cnnkit
from cnnkit.detect.facefind import DEFAULT_SCALES, FACE_SPEC, grey
from cnnkit.detect.sliding import conv_windows, naive_windows, to_fully_conv


def _best(fn, repeats: int) -> tuple[float, tuple[torch.Tensor, torch.Tensor]]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out  # type: ignore[return-value]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="1 gives steady numbers on a shared 2-core CPU")
    parser.add_argument("--batch", type=int, default=1024, help="crops per forward pass (naive)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = cnnkit.from_spec(FACE_SPEC).eval()
    net = to_fully_conv(model)
    image = grey(data.astronaut())  # (1, 512, 512) float
    scales = DEFAULT_SCALES
    conv_windows(net, image, scales=scales)  # warm up both paths
    naive_windows(model, image, window=net.window, stride=net.stride, scales=scales[-3:], batch_size=args.batch)
    t_conv, (s_conv, b_conv) = _best(lambda: conv_windows(net, image, scales=scales), args.repeats)
    t_naive, (s_naive, b_naive) = _best(
        lambda: naive_windows(model, image, window=net.window, stride=net.stride, scales=scales, batch_size=args.batch),
        args.repeats,
    )
    assert torch.equal(b_conv, b_naive), "the two paths scored different windows"
    print(f"image 512x512 grey, window {net.window[0]}x{net.window[1]}, stride {net.stride}, "
          f"{len(scales)} scales {scales[0]:.2f}..{scales[-1]:.3f}, {len(b_conv)} windows, "
          f"{args.threads} threads, best of {args.repeats}")
    print(f"naive (crop + classify, batches of {args.batch}): {t_naive * 1000:8.1f} ms")
    print(f"convolutional (one pass per scale):        {t_conv * 1000:8.1f} ms")
    print(f"speed-up: {t_naive / t_conv:.1f}x (target >= 10x)")
    print(f"max abs difference of the scores (logits): {(s_conv - s_naive).abs().max().item():.2e}")


if __name__ == "__main__":
    main()
