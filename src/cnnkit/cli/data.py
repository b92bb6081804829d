"""``cnnkit datasets``: the named datasets, where each is found, and one dataset's details."""

from __future__ import annotations

from typing import Any

import typer

__all__ = ["dataset_rows", "register", "show_dataset"]


def dataset_rows() -> list[dict[str, Any]]:
    """One dict per dataset: name, kind, input ("1x28x28"), classes, where, description."""
    from cnnkit.data.sources import availability, list_datasets

    rows = []
    for entry in list_datasets():
        rows.append(
            {
                "name": entry.name,
                "kind": entry.kind,
                "input": "x".join(str(s) for s in entry.input_shape) or "auto",  # folder: chosen from its images
                "classes": entry.num_classes or None,
                "where": availability(entry.name) if entry.name != "folder:PATH" else "your folder",
                "description": entry.description,
            }
        )
    return rows


def show_dataset(name: str, *, input_shape: tuple[int, ...] | None, download: bool) -> dict[str, Any]:
    """Load ``name`` and describe it: split sizes, shape, classes, normalization, source."""
    from cnnkit.data.sources import load_dataset

    splits = load_dataset(name, input_shape=input_shape, download=download)
    info = splits.info
    return {
        "name": info.name,
        "kind": info.kind,
        "input": "x".join(str(s) for s in info.input_shape),
        "train": len(splits.train),
        "val": len(splits.val),
        "test": len(splits.test),
        "classes": list(info.classes),
        "mean": list(info.mean),
        "std": list(info.std),
        "flip_ok": info.flip_ok,
        "storage": str(splits.train.dtype).replace("torch.", ""),
        "source": info.source,
        "notes": list(splits.notes),
    }


def _print_list(rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    from cnnkit.cli.common import console, plain_output

    if plain_output():
        print(f"{'name':<14}  {'kind':<6}  {'input':<11}  {'where':<48}  description")
        for r in rows:
            print(f"{r['name']:<14}  {r['kind']:<6}  {r['input']:<11}  {r['where']:<48}  {r['description']}")
        return
    table = Table(title="cnnkit datasets (default first; --show NAME for details)")
    for column in ("name", "kind", "input", "where", "description"):
        table.add_column(column)
    for r in rows:
        table.add_row(r["name"], r["kind"], r["input"], r["where"], r["description"])
    console.print(table)


def _print_show(data: dict[str, Any]) -> None:
    lines = [
        f"dataset   {data['name']} ({data['kind']}, {data['storage']})",
        f"input     {data['input']}",
        f"splits    train {data['train']:,}  val {data['val']:,}  test {data['test']:,}",
        f"classes   {len(data['classes'])}: {', '.join(data['classes'])}",
        f"mean/std  {', '.join(f'{m:.4f}' for m in data['mean'])} / {', '.join(f'{s:.4f}' for s in data['std'])}",
        f"flips     {'keep the label' if data['flip_ok'] else 'off by default (they may change the label)'}",
        f"source    {data['source']}",
    ]
    print("\n".join(lines + [f"note      {n}" for n in data["notes"]]))


def register(app: typer.Typer) -> None:
    @app.command("datasets")
    def datasets(
        show: str = typer.Option(None, "--show", "-s", help="Load this dataset and print its splits, classes and shape."),
        input_shape: str = typer.Option(None, "--input", "-i", help="With --show: convert to this shape, e.g. 1x28x28."),
        offline: bool = typer.Option(False, "--offline", help="With --show: never download; fail if not on disk."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON for programs."),
    ) -> None:
        """List the datasets cnnkit can train on and where each one is found.

        Fashion-MNIST is read from $CNNKIT_DATA (or ~/.cache/cnnkit/data), then from
        /usr/share/datasets/fashion-mnist (apt-get install dataset-fashion-mnist), else
        downloaded. MNIST and CIFAR-10 download on first use; digits, mnist1d and volumes
        work offline. folder:PATH reads your own images, one sub-folder per class.

        Examples:

        \b
          cnnkit datasets
          cnnkit datasets --show fashion-mnist
          cnnkit datasets --show digits --input 1x28x28
          cnnkit datasets --show folder:~/pictures/pets --input 3x64x64
          cnnkit datasets --json
        """
        from cnnkit.cli.common import parse_shape, print_json

        if input_shape is not None and show is None:
            raise typer.BadParameter("--input goes with --show NAME", param_hint="--input")
        if show is None:
            rows = dataset_rows()
            print_json(rows) if as_json else _print_list(rows)
            return
        shape = parse_shape(input_shape) if input_shape else None
        data = show_dataset(show, input_shape=shape, download=not offline)
        print_json(data) if as_json else _print_show(data)
