"""``cnnkit interpret filters`` and ``cnnkit interpret features``: what the network learned.

Thin glue: open the subject, call cnnkit.interpret.filters / .features for tensors and a
figure, write the PNG, print one line (or JSON).
"""

from __future__ import annotations

from pathlib import Path

import typer

from cnnkit.cli.interpret_common import DEVICE, JSON, OUT, SOURCE, WEIGHTS

__all__ = ["IMAGE", "register"]

IMAGE = typer.Argument(..., help="An image file, or test:N / val:N / train:N from the run's dataset.",
                       show_default=False)


def _safe(name: str) -> str:
    """A layer name (or several joined by ',') as part of a file name."""
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "layer"


def register(group: typer.Typer) -> None:
    """Add `filters` and `features` to the `cnnkit interpret` group."""

    @group.command("filters")
    def filters(
        source: str = SOURCE,
        layer: str | None = typer.Option(
            None, "--layer", help="A convolution layer by name (default: the first one; see `interpret layers`)."
        ),
        max_filters: int | None = typer.Option(
            None, "--max-filters", min=1, help="Draw at most N filters (default: 64; 16 rows for deeper layers)."
        ),
        weights: str | None = WEIGHTS,
        device: str = DEVICE,
        out: Path | None = OUT,
        as_json: bool = JSON,
    ) -> None:
        """Draw a convolution layer's filters (its weights) as a picture.

        The first layer: one tile per filter (RGB for colour models, each filter scaled
        around zero so grey = 0; a blue-white-red map for grey models). A deeper layer:
        rows are output filters, columns input channels (the first 16), one shared
        blue-white-red scale; 1x1 kernels as an output x input heat matrix.

        \b
        Examples:
          cnnkit interpret filters runs/quicknet-1
          cnnkit interpret filters runs/quicknet-1 --layer features.stage2.conv1 --max-filters 8
          cnnkit interpret filters resnet18 --weights IMAGENET1K_V1 -o conv1.png
          cnnkit interpret filters runs/quicknet-1 --json
        """
        from cnnkit.cli.interpret_common import (
            finish,
            open_from_cli,
            output_path,
        )
        from cnnkit.interpret.filters import (
            filter_summary,
            filter_view,
            filter_weights,
            filters_figure,
            first_conv_name,
        )
        from cnnkit.interpret.plots import write

        subject = open_from_cli(source, weights, device)
        name = layer or first_conv_name(subject)
        w = filter_weights(subject, name)
        rgb_input = name == first_conv_name(subject) and subject.input_shape[0] == 3
        fig = filters_figure(w, model=subject.name, layer=name, rgb_input=rgb_input, max_filters=max_filters)
        path = write(fig, output_path(out, subject, "filters" if layer is None else f"filters-{_safe(name)}"))
        shape = "x".join(map(str, w.shape[1:]))
        summary = f"{name}: {w.shape[0]} filters of {shape}, weights {float(w.min()):.3g}..{float(w.max()):.3g}"
        data = {"model": subject.name, "layer": name, "view": filter_view(w, rgb_input=rgb_input), **filter_summary(w)}
        finish(path, summary, data, as_json)

    @group.command("features")
    def features(
        source: str = SOURCE,
        image: str = IMAGE,
        layer: str = typer.Option(
            "all", "--layer", help="'all' (every convolution, after its activation), a layer name, or names joined by ','."
        ),
        max_channels: int | None = typer.Option(
            None, "--max-channels", min=1, help="Most active maps per layer (default: 8 with several layers, 32 with one)."
        ),
        weights: str | None = WEIGHTS,
        device: str = DEVICE,
        out: Path | None = OUT,
        as_json: bool = JSON,
    ) -> None:
        """Show what each layer sees in one image: its feature maps, input to output.

        With --layer all (the default) there is one band per convolution, showing the
        activation right after it (the ReLU) when its block has one, else the convolution's
        own output. Each band shows the channels with the highest mean activation, each
        map on its own 0..max scale.

        \b
        Examples:
          cnnkit interpret features runs/quicknet-1 test:0
          cnnkit interpret features runs/quicknet-1 shoe.png --layer features.stage1.relu1
          cnnkit interpret features runs/quicknet-1 test:7 --max-channels 4 -o maps.png
          cnnkit interpret features runs/quicknet-1 test:0 --json
        """
        from cnnkit.cli.interpret_common import (
            finish,
            image_stem,
            open_from_cli,
            output_path,
        )
        from cnnkit.interpret.features import (
            channel_stats,
            feature_maps,
            features_figure,
            resolve_layers,
        )
        from cnnkit.interpret.plots import class_label, write

        subject = open_from_cli(source, weights, device)
        bands = resolve_layers(subject, layer)
        stored, true_class = subject.read_image(image)
        maps = feature_maps(subject, stored, layer)
        x = subject.to_input(stored)
        probs = subject.probabilities(x)[0].cpu()
        predicted = int(probs.argmax())
        count = max_channels or (8 if len(bands) > 1 else 32)

        truth = f"true {subject.classes[true_class]} · " if true_class is not None else ""
        fig = features_figure(
            subject.input_to_pixels(x)[0].cpu(), maps, bands, max_channels=count,
            title=f"{subject.name} · feature maps of {image}",
            input_title=f"input {image} · {truth}predicted {class_label(subject.classes, probs)}",
        )
        stem = f"features-{image_stem(image)}" + ("" if layer == "all" else f"-{_safe(layer)}")
        path = write(fig, output_path(out, subject, stem))
        summary = (f"predicted {class_label(subject.classes, probs)}"
                   + (f" (true {subject.classes[true_class]})" if true_class is not None else "")
                   + f"; {len(bands)} layer{'s' if len(bands) != 1 else ''}: "
                   + " ... ".join(dict.fromkeys(f"{b.shown} {'x'.join(map(str, maps[b.shown].shape))}"
                                                for b in (bands[0], bands[-1]))))
        data = {
            "model": subject.name,
            "image": image,
            "true_class": true_class,
            "predicted": predicted,
            "predicted_name": subject.classes[predicted],
            "probability": round(float(probs[predicted]), 6),
            "layers": [
                {"conv": b.conv, "shown": b.shown, "shape": list(maps[b.shown].shape),
                 "top_channels": channel_stats(maps[b.shown], count)}
                for b in bands
            ],
        }
        finish(path, summary, data, as_json)
