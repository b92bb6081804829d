"""``cnnkit interpret maximize`` and ``cnnkit interpret dream``: gradient ascent on the input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from cnnkit.cli.interpret_common import DEVICE, JSON, OUT, SEED, SOURCE, WEIGHTS

__all__ = ["register"]


def _targets(text: str) -> list[str] | None:
    """'all' -> None (every one); 'Trouser,3' -> ['Trouser', '3']."""
    if text.strip().lower() == "all":
        return None
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        from cnnkit.errors import CnnkitError

        raise CnnkitError(f"{text!r} names nothing; give a name or index, a comma list, or 'all'")
    return parts


def register(group: typer.Typer) -> None:
    """Add `maximize` and `dream` to the `cnnkit interpret` group."""

    @group.command("maximize")
    def maximize(
        source: str = SOURCE,
        target_class: str | None = typer.Option(
            None, "--class", help="Class name or index, a comma list, or 'all' (a grid of every class)."
        ),
        layer: str | None = typer.Option(None, "--layer", help="Layer whose channel(s) to excite (see `interpret layers`)."),
        channel: str | None = typer.Option(
            None, "--channel", help="With --layer only: a channel index, a comma list, or 'all' [default: all]."
        ),
        steps: int = typer.Option(200, "--steps", help="Adam steps."),
        lr: float | None = typer.Option(None, "--lr", help="Adam learning rate (default 0.05)."),
        prior: str = typer.Option(
            "auto", "--prior",
            help="data: images built from the run's dataset principal components (recognisable objects); "
            "pixels: free pixels with jitter, blur, TV, L2 and centre penalties (the features it keys on); "
            "auto: data for a run, pixels otherwise.",
        ),
        weights: str | None = WEIGHTS,
        device: str = DEVICE,
        seed: int = SEED,
        out: Path | None = OUT,
        as_json: bool = JSON,
    ) -> None:
        """Optimize images that excite a class logit or a layer's channel (activation maximization).

        \b
        Examples:
          cnnkit interpret maximize runs/quicknet-1 --class all
          cnnkit interpret maximize runs/quicknet-1 --class Trouser --prior pixels --seed 3
          cnnkit interpret maximize runs/quicknet-1 --layer features.stage3.conv2 --channel 0,5,7
        """
        from cnnkit.cli.interpret_common import finish, open_from_cli, output_path
        from cnnkit.errors import CnnkitError
        from cnnkit.interpret.maximize import (
            maximize_channels,
            maximize_classes,
            maximize_figure,
        )
        from cnnkit.interpret.plots import write
        from cnnkit.numbers import check_range

        if (target_class is None) == (layer is None):
            raise CnnkitError("give either --class C|all or --layer L (with --channel K|all), not both or neither")
        if target_class is not None and channel is not None:
            # --channel picks channels of --layer; a class logit has none
            raise CnnkitError("--class and --channel exclude each other: --channel goes with --layer L; "
                              "drop --channel, or use --layer instead of --class")
        check_range("--steps", steps, 1, integer=True)
        if lr is not None:
            check_range("--lr", lr, 0, strict=True)
        subject = open_from_cli(source, weights, device)
        options: dict[str, Any] = {"steps": steps, "prior": prior}
        if lr is not None:
            options["lr"] = lr
        if target_class is not None:
            classes = _targets(target_class)
            result = maximize_classes(subject, classes, seed=seed, **options)
            stem = "all" if classes is None else "-".join(subject.classes[i] for i in result.targets)
            stem = f"maximize-class-{_safe(stem)}"
        else:
            assert layer is not None
            wanted = _targets(channel or "all")
            channels = None if wanted is None else [_channel_number(c) for c in wanted]
            result = maximize_channels(subject, layer, channels, seed=seed, **options)
            stem = f"maximize-{_safe(layer)}-{'all' if channels is None else '-'.join(map(str, channels))}"
        written = write(maximize_figure(subject, result), output_path(out, subject, stem))
        rows = []
        for i, target in enumerate(result.targets):
            row: dict[str, Any] = {"start": round(float(result.start[i]), 4), "final": round(float(result.final[i]), 4)}
            if result.kind == "class":
                row = {"class": target, "name": subject.classes[target], "logit_start": row["start"],
                       "logit": row["final"], "probability": round(float(result.probabilities[i, target]), 4)}
            else:
                row = {"channel": target, "mean_start": row["start"], "mean": row["final"]}
            rows.append(row)
        gains = (result.final - result.start).tolist()
        what = "class logit" if result.kind == "class" else f"{layer} channel mean"
        summary = (f"{subject.name}: {len(rows)} image(s), {what} raised by {min(gains):.2f}..{max(gains):.2f} "
                   f"({result.prior} prior, {steps} steps, seed {seed})")
        data = {"model": subject.name, "kind": result.kind, "layer": result.layer, "prior": result.prior,
                "steps": steps, "seed": seed, "targets": rows}
        finish(written, summary, data, as_json)

    @group.command("dream")
    def dream(
        source: str = SOURCE,
        image: str = typer.Argument(..., help="An image file or test:N.", show_default=False),
        layer: str = typer.Option(..., "--layer", help="Layer to amplify (see `interpret layers`)."),
        octaves: int = typer.Option(4, "--octaves", help="How many sizes to dream at, small to large."),
        octave_scale: float = typer.Option(1.4, "--octave-scale", help="Size ratio between octaves."),
        steps: int = typer.Option(10, "--steps", help="Gradient steps per octave."),
        lr: float = typer.Option(0.02, "--lr", help="Mean pixel change per step (0..1 scale)."),
        size: int | None = typer.Option(
            None, "--size", help="Shorter side to dream at (default: 4x a small model's side, at most 112)."
        ),
        weights: str | None = WEIGHTS,
        device: str = DEVICE,
        seed: int = SEED,
        out: Path | None = OUT,
        as_json: bool = JSON,
    ) -> None:
        """Deep Dream: amplify what a layer sees in an image, over several octaves.

        \b
        Examples:
          cnnkit interpret dream runs/quicknet-1 test:0 --layer features.stage3.relu1
          cnnkit interpret dream runs/quicknet-1 photo.png --layer features.stage2.relu2 --size 256
          cnnkit interpret dream runs/quicknet-1 test:7 --layer features.stage3.relu1 --octaves 5 --steps 20
        """
        from cnnkit.cli.interpret_common import (
            finish,
            image_stem,
            open_from_cli,
            output_path,
        )
        from cnnkit.interpret.dream import (
            check_settings,
            dream_figure,
            load_dream_image,
        )
        from cnnkit.interpret.dream import dream as run_dream
        from cnnkit.interpret.plots import write

        check_settings(octaves=octaves, octave_scale=octave_scale, steps=steps, lr=lr, size=size)
        subject = open_from_cli(source, weights, device)
        subject.layer(layer)  # a bad name fails before the image is read
        pixels, _label = load_dream_image(subject, image, size=size)
        result = run_dream(subject, pixels, layer=layer, octaves=octaves, octave_scale=octave_scale,
                           steps=steps, lr=lr, seed=seed)
        stem = f"dream-{image_stem(image.replace(':', '-'))}-{_safe(layer)}"
        written = write(dream_figure(subject, result), output_path(out, subject, stem))
        h, w = result.pixels.shape[2:]
        summary = (f"{subject.name}: {layer} mean square {result.start:.4g} -> {result.final:.4g} "
                   f"on a {w}x{h} image, {len(result.sizes)} octaves x {steps} steps")
        data = {"model": subject.name, "image": image, "layer": layer, "size": [h, w],
                "octaves": [list(s) for s in result.sizes], "steps": steps, "lr": lr, "seed": seed,
                "objective_start": round(result.start, 6), "objective_final": round(result.final, 6)}
        finish(written, summary, data, as_json)


def _safe(text: str) -> str:
    """A file-name-safe form of a layer or class name (dots kept: features.stage3.relu1)."""
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "x"


def _channel_number(text: str) -> int:
    from cnnkit.errors import CnnkitError

    try:
        return int(text)
    except ValueError:
        raise CnnkitError(f"--channel takes a number, a comma list or 'all', got {text!r}") from None
