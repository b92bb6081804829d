"""``cnnkit models``: list the zoo with default inputs and parameter counts."""

from __future__ import annotations

from typing import Any

import typer

__all__ = ["register", "zoo_rows"]


def zoo_rows(family: str | None = None) -> list[dict[str, Any]]:
    """One dict per zoo model: name, family, input ("3x224x224"), params, torchvision, description.

    Parameter counts are for the default ``num_classes``. Models are built on the meta
    device: shapes only, no memory and no initialization cost, so VGG-19 costs nothing.
    """
    import torch

    from cnnkit.errors import ModelError
    from cnnkit.nn.build import list_models

    entries = list_models()
    if family is not None:
        families = sorted({e.family for e in entries})
        entries = [e for e in entries if e.family == family.lower()]
        if not entries:
            from cnnkit.errors import did_you_mean

            raise ModelError(
                f"no model family {family!r}{did_you_mean(family, families)}; "
                f"families: {', '.join(families)}"
            )
    rows = []
    for entry in entries:
        with torch.device("meta"):
            model = entry.builder()
        rows.append(
            {
                "name": entry.name,
                "family": entry.family,
                "input": "x".join(str(s) for s in entry.input_shape),
                "params": sum(p.numel() for p in model.parameters()),
                "torchvision": entry.torchvision_name,
                "description": entry.description,
            }
        )
    return rows


def _print_table(rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    from cnnkit.cli.common import console, plain_output

    if plain_output():
        width = max(len(r["name"]) for r in rows)
        print(f"{'name':<{width}}  {'family':<9}  {'input':<12}  {'parameters':>12}  description")
        for r in rows:
            print(
                f"{r['name']:<{width}}  {r['family']:<9}  {r['input']:<12}  "
                f"{r['params']:>12,}  {r['description']}"
            )
        return
    table = Table(title="cnnkit model zoo (parameters for the default num_classes)")
    for column, justify in (("name", "left"), ("family", "left"), ("default input", "left"),
                            ("parameters", "right"), ("description", "left")):  # fmt: skip
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        table.add_row(r["name"], r["family"], r["input"], f"{r['params']:,}", r["description"])
    console.print(table)


def register(app: typer.Typer) -> None:
    @app.command("models")
    def models(
        family: str = typer.Option(None, "--family", "-f", help="Only this family, e.g. resnet or vgg."),
        as_json: bool = typer.Option(False, "--json", help="Print the list as JSON for programs."),
    ) -> None:
        """List the model zoo: name, family, default input, parameters, description.

        Parameter counts are for each model's default number of classes (1000 for the
        ImageNet models, 10 for the small ones). Build any of them with
        `cnnkit summary NAME` or cnnkit.build("NAME", num_classes=..., in_channels=...).

        \b
        Examples:
          cnnkit models
          cnnkit models --family resnet
          cnnkit models --json > zoo.json
        """
        from cnnkit.cli.common import print_json

        rows = zoo_rows(family)
        if as_json:
            print_json(rows)
        else:
            _print_table(rows)
