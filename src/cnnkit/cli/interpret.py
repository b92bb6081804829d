"""``cnnkit interpret ...``: look inside a trained CNN (one sub-command per method).

The group lives here with `layers`; each family of methods registers its own commands from
its own module (interpret_look, interpret_saliency, interpret_optimize, interpret_attack).
"""

from __future__ import annotations

from typing import Optional

import typer

from cnnkit.cli.interpret_common import DEVICE, JSON, SOURCE, WEIGHTS

__all__ = ["group", "layers", "register"]

group = typer.Typer(
    help="Look inside a trained CNN: filters, feature maps, saliency, what neurons want, fooling images.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@group.command("layers")
def layers(
    source: str = SOURCE,
    weights: Optional[str] = WEIGHTS,
    device: str = DEVICE,
    as_json: bool = JSON,
) -> None:
    """List the layers you can name with --layer, with their output shapes.

    \b
    Examples:
      cnnkit interpret layers runs/quicknet-1
      cnnkit interpret layers resnet18 --weights IMAGENET1K_V1
    """
    from cnnkit.cli.common import print_json
    from cnnkit.cli.interpret_common import open_from_cli
    from cnnkit.interpret.layers import layer_table

    subject = open_from_cli(source, weights, device)
    rows = layer_table(subject)
    if as_json:
        print_json({"model": subject.name, "layers": rows})
        return
    width = max(len(r["name"]) for r in rows)
    kind_width = max(len(r["type"]) for r in rows)
    print(f"{subject.name}: input {'x'.join(map(str, subject.input_shape))}")
    for r in rows:
        shape = "x".join(map(str, r["output_shape"]))
        print(f"  {r['name']:<{width}}  {r['type']:<{kind_width}}  {shape}")


def register(app: typer.Typer) -> None:
    from cnnkit.cli import interpret_attack, interpret_look, interpret_optimize, interpret_saliency

    for module in (interpret_look, interpret_saliency, interpret_optimize, interpret_attack):
        module.register(group)
    app.add_typer(group, name="interpret")
