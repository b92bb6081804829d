"""``cnnkit summary``: every layer's shape, parameters, MACs and receptive field.

Thin: parse the options, call :func:`cnnkit.analysis.summary.summary` (or
:func:`cnnkit.analysis.formulas.explain_row`, or the lecture tables), print the result as
a rich table on a terminal, plain text when piped, markdown or JSON on request.
"""

from __future__ import annotations

from typing import Optional

import typer

from cnnkit.cli.common import OutputFormat
from cnnkit.errors import CnnkitError

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    @app.command("summary")
    def summary_command(
        model: Optional[str] = typer.Argument(
            None, metavar="MODEL_OR_SPEC", help="A zoo name (cnnkit models), a spec in quotes, or a spec file."
        ),
        input_shape: Optional[str] = typer.Option(
            None, "--input", "-i", help="Input shape without the batch, e.g. 3x224x224 [default: the model's]."
        ),
        output_format: OutputFormat = typer.Option(
            OutputFormat.table, "--format", "-f", help="table (rich on a terminal, plain when piped), markdown or json."
        ),
        as_json: bool = typer.Option(False, "--json", help="Same as --format json."),
        explain: Optional[str] = typer.Option(
            None, "--explain", "-e", help="Explain one layer with its numbers: a name (conv2), full name or row index."
        ),
        batch_size: int = typer.Option(1, "--batch-size", "-b", min=1, help="Batch size for the activation memory figure."),
        lecture: bool = typer.Option(
            False, "--lecture", help="The lecture notes' LeNet-5 and AlexNet tables, corrected (no MODEL needed)."
        ),
    ) -> None:
        """Show each layer's output shape, parameters, MACs and receptive field.

        One row per layer call, plus residual additions and concatenations done in a
        model's forward. Counts are per sample; MACs count convolutions and linear
        layers (pooling, normalisation and activations count 0). RF is the receptive
        field size in input pixels, Jump the distance between neighbouring units' fields,
        Start the centre of the first unit's field (input pixels counted from 0).

        \b
        Examples:
          cnnkit summary resnet18
          cnnkit summary vgg16 --input 3x64x64 --format markdown
          cnnkit summary 'INPUT(1x28x28) -> [CONV(32, k=3) -> RELU -> POOL(2)]*2 -> FC(10)'
          cnnkit summary net.spec --json > layers.json
          cnnkit summary resnet18 --explain layer1.0.conv2
          cnnkit summary alexnet --explain 3 --input 3x227x227
          cnnkit summary resnet50 --batch-size 64
          cnnkit summary --lecture
        """
        from cnnkit.cli.common import console, parse_shape, plain_output, print_json

        fmt = OutputFormat.json if as_json else output_format
        if lecture:
            _check_lecture_alone(model, input_shape, explain)
            _print_lecture(fmt)
            return
        if model is None:
            raise CnnkitError(
                "give a model: a zoo name (e.g. resnet18, see `cnnkit models`), a spec in quotes, "
                "or --lecture for the lecture tables"
            )
        _check_not_other_file(model)
        from cnnkit.analysis.formulas import explain_row
        from cnnkit.analysis.render import table_text
        from cnnkit.analysis.summary import summary

        shape = parse_shape(input_shape) if input_shape is not None else None
        table = summary(model, shape, batch_size=batch_size)
        if explain is not None:
            row = table.find(explain)
            if fmt is OutputFormat.json:
                print_json({"layer": row.to_dict(), "explanation": explain_row(row)})
            else:
                typer.echo(explain_row(row))
            return
        if fmt is OutputFormat.json:
            print_json(table.to_dict())
        elif fmt is OutputFormat.markdown:
            typer.echo(table.to_markdown(), nl=False)
        else:
            text = table_text(table)
            # rich would squeeze long layer names into "features…"; plain columns stay readable
            if plain_output() or max(map(len, text.splitlines())) + 8 > console.width:
                typer.echo(text)
            else:
                console.print(table)


def _check_lecture_alone(model: str | None, input_shape: str | None, explain: str | None) -> None:
    """--lecture prints fixed tables; a model, --input or --explain beside it would be ignored."""
    extra = [f"MODEL_OR_SPEC {model!r}"] if model is not None else []
    extra += [flag for flag, value in (("--input", input_shape), ("--explain", explain)) if value is not None]
    if extra:
        raise CnnkitError(
            f"--lecture shows the lecture notes' fixed tables and takes no {' or '.join(extra)}; "
            "drop it, or drop --lecture to summarise a model"
        )


def _check_not_other_file(model: str) -> None:
    """An existing file that is neither a zoo name nor a spec file (by its suffix) cannot be
    a model: say so instead of calling its path an unknown model name."""
    from pathlib import Path

    from cnnkit.nn.build import SPEC_FILE_SUFFIXES, is_zoo_name, looks_like_spec

    path = Path(model)
    if looks_like_spec(model) or is_zoo_name(model) or not path.exists():
        return
    *first, last = sorted(SPEC_FILE_SUFFIXES)
    raise CnnkitError(
        f"{model!r} is {'a folder' if path.is_dir() else 'a file'} but not a spec file: a spec file's name "
        f"ends in {', '.join(first)} or {last} and holds a spec "
        "(docs/grammar.md); give such a file, a zoo name (`cnnkit models`) or a spec in quotes"
    )


def _print_lecture(fmt: OutputFormat) -> None:
    from cnnkit.analysis.lecture import lecture_markdown, lecture_rich, lecture_tables
    from cnnkit.cli.common import console, plain_output, print_json

    tables = lecture_tables()
    if fmt is OutputFormat.json:
        print_json([t.to_dict() for t in tables])
    elif fmt is OutputFormat.markdown or plain_output():
        typer.echo(lecture_markdown(tables))
    else:
        for view in lecture_rich(tables):
            console.print(view)
