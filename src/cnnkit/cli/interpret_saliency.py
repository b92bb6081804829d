"""``cnnkit interpret saliency``: where the network looks, as maps over the input."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from cnnkit.cli.interpret_common import DEVICE, JSON, OUT, SEED, SOURCE, WEIGHTS

__all__ = ["IMAGES", "METHOD_HELP", "register"]

IMAGES = typer.Argument(..., help="Image files, or test:N / val:N / train:N of the run's data.", show_default=False)
METHOD_HELP = "gradient, smoothgrad, integrated-gradients, gradcam, occlusion, or all (one column each)."


def register(group: typer.Typer) -> None:
    """Add `saliency` to the `cnnkit interpret` group."""

    @group.command("saliency")
    def saliency_command(
        source: str = SOURCE,
        images: list[str] = IMAGES,
        method: str = typer.Option("gradient", "--method", "-m", help=METHOD_HELP),
        target: Optional[str] = typer.Option(
            None, "--target", "-t", help="Class (index or name) to explain; default: the predicted class."
        ),
        layer: Optional[str] = typer.Option(
            None, "--layer", help="Grad-CAM's layer (default: the last convolution with a spatial output)."
        ),
        baseline: str = typer.Option(
            "auto", "--baseline",
            help="What integrated gradients and occlusion compare with: black, mean (the image's mean colour), "
            "blur (the image blurred), or auto (black for an object on a dark background, else blur).",
        ),
        ig_samples: int = typer.Option(
            1, "--ig-samples", min=1,
            help="Integrated gradients averaged over N noisy copies (SmoothGrad-IG): smoother on large images.",
        ),
        out: Optional[Path] = OUT,
        weights: Optional[str] = WEIGHTS,
        device: str = DEVICE,
        seed: int = SEED,
        as_json: bool = JSON,
    ) -> None:
        """Saliency maps: which pixels the score of a class depends on.

        One row per image in one PNG: input | map | overlay for one method, or
        input | gradient | smoothgrad | IG | Grad-CAM | occlusion for --method all.
        Titles give the predicted class and its probability; maps are about the
        target class's logit (the predicted class unless --target says otherwise).

        \b
        Examples:
          cnnkit interpret saliency runs/quicknet-1 test:0
          cnnkit interpret saliency runs/quicknet-1 test:0 test:1 test:12 --method all
          cnnkit interpret saliency runs/quicknet-1 shoe.png --method gradcam --layer features.stage2.conv2
          cnnkit interpret saliency runs/quicknet-1 test:0 --method occlusion --target Sneaker --json
          cnnkit interpret saliency resnet18 --weights IMAGENET1K_V1 cat.jpg --method integrated-gradients
          cnnkit interpret saliency resnet18 --weights IMAGENET1K_V1 cat.jpg --method occlusion --baseline mean
        """
        from cnnkit.cli.interpret_common import (
            finish,
            image_stem,
            open_from_cli,
            output_path,
        )
        from cnnkit.interpret.attribution import METHODS, saliency_maps
        from cnnkit.interpret.baselines import check_baseline
        from cnnkit.interpret.plots import write
        from cnnkit.interpret.saliency_plot import saliency_figure

        methods = _methods(method, METHODS)
        baseline = check_baseline(baseline)
        subject = open_from_cli(source, weights, device)
        if target is not None:
            subject.class_index(target)  # a bad class fails before any work
        if layer is not None:
            if "gradcam" not in methods:
                from cnnkit.errors import CnnkitError

                raise CnnkitError("--layer chooses Grad-CAM's layer; add --method gradcam (or all), or leave it out")
            subject.layer(layer)
        import torch

        read = [subject.read_image(ref) for ref in images]
        stored, truths = [image for image, _ in read], [truth for _, truth in read]
        batch = torch.stack(stored)  # one batch per method: fewer, larger forward passes
        columns = [saliency_maps(subject, batch, method=m, target=target, layer=layer, seed=seed, baseline=baseline,
                                 ig_samples=ig_samples)
                   for m in methods]
        rows = [list(row) for row in zip(*columns)]  # per image: one map per method
        fig = saliency_figure(subject, stored, rows, refs=images, true_classes=truths)
        name = "saliency" if len(methods) > 1 else methods[0]
        path = write(fig, output_path(out, subject, f"{name}-{_stem(images, image_stem)}"))
        finish(path, _summary(subject, images, rows), _data(subject, images, truths, rows), as_json)


def _methods(method: str, known: tuple[str, ...]) -> list[str]:
    from cnnkit.names import pick_choice

    chosen = pick_choice(method, [*known, "all"], what="--method")  # grad-cam, Grad_CAM ... are gradcam
    return list(known) if chosen == "all" else [chosen]


def _stem(images: list[str], image_stem: Any) -> str:
    """'test-0' for one image, 'test-0-test-1' for two or three, 'test-0-and-4-more' beyond."""
    stems = [image_stem(ref) for ref in images]
    return "-".join(stems) if len(stems) <= 3 else f"{stems[0]}-and-{len(stems) - 1}-more"


def _summary(subject: Any, images: list[str], rows: list[list[Any]]) -> str:
    lines = []
    for ref, row in zip(images, rows):
        a = row[0]
        line = f"{ref}: predicted {subject.classes[a.predicted]} {float(a.probabilities[a.predicted]):.1%}"
        if a.target != a.predicted:
            line += f"; maps for {subject.classes[a.target]} {float(a.probabilities[a.target]):.1%}"
        lines.append(line)
    return "\n".join(lines)


def _data(subject: Any, images: list[str], truths: list[int | None], rows: list[list[Any]]) -> dict[str, Any]:
    from cnnkit.interpret.subject import describe

    return {
        **describe(subject),
        "images": [
            {
                "image": ref,
                "true": truth,
                "true_class": subject.classes[truth] if truth is not None else None,
                "maps": [a.summary(subject.classes) for a in row],
            }
            for ref, truth, row in zip(images, truths, rows)
        ],
    }
