"""A second, independent PGD on a run: is the attack figure of benchmarks/attacks.py the model's?

Written without cnnkit's attack code (only the run loading), on the correctly classified
images among the first 300 test images, eps 8/255, counting an image as fooled if any
step misclassifies it. Three variants: cross-entropy with 20 steps of 2/255, 100 steps of
0.5/255, and a margin loss (best other logit minus the true one) with 100 steps of 1/255.

    .venv/bin/python benchmarks/pgd_crosscheck.py RUN [--eps 8]
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from cnnkit.interpret import open_subject


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run")
    parser.add_argument("--eps", type=float, default=8.0, help="pixel levels of 255")
    parser.add_argument("--images", type=int, default=300)
    args = parser.parse_args()
    torch.manual_seed(0)
    subject = open_subject(args.run)
    part = subject.dataset_split("test")
    x, y = part.x[: args.images].float() / 255, part.y[: args.images]

    def logits(pixels: torch.Tensor) -> torch.Tensor:
        return subject.model(subject.pixels_to_input(pixels))

    with torch.no_grad():
        correct = logits(x).argmax(1) == y
    x, y = x[correct], y[correct]
    eps = args.eps / 255

    def pgd(steps: int, alpha: float, loss: str) -> float:
        fooled = torch.zeros(len(y), dtype=torch.bool)
        adv = (x + (torch.rand_like(x) * 2 - 1) * eps).clamp(0, 1)
        for _ in range(steps):
            adv.requires_grad_(True)
            out = logits(adv)
            if loss == "ce":
                value = F.cross_entropy(out, y)
            else:
                true = out.gather(1, y[:, None])[:, 0]
                other = out.masked_fill(F.one_hot(y, out.shape[1]).bool(), float("-inf")).max(1).values
                value = (other - true).clamp(max=5).sum()
            (grad,) = torch.autograd.grad(value, adv)
            adv = torch.minimum(torch.maximum(adv.detach() + alpha * grad.sign(), x - eps), x + eps).clamp(0, 1)
            with torch.no_grad():
                fooled |= logits(adv).argmax(1) != y
        return float(fooled.float().mean())

    print(f"{args.run}: {len(y)} correctly classified of the first {args.images} test images, eps {args.eps:g}/255")
    print(f"  cross-entropy, 20 steps of 2/255:    {pgd(20, 2 / 255, 'ce'):.1%} fooled")
    print(f"  cross-entropy, 100 steps of 0.5/255: {pgd(100, 0.5 / 255, 'ce'):.1%} fooled")
    print(f"  margin loss, 100 steps of 1/255:     {pgd(100, 1 / 255, 'margin'):.1%} fooled")


if __name__ == "__main__":
    main()
