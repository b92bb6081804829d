"""The ``cnnkit`` command: a Typer app whose commands live one group per module.

``main()`` is the console-script entry point. It turns every :class:`CnnkitError`
into its one-line message on stderr with exit status 2 (``--debug`` shows the
traceback instead), so that nothing a user does ends in a raw traceback.
"""

from __future__ import annotations

import sys

import typer

from cnnkit.errors import CnnkitError

app = typer.Typer(
    name="cnnkit",
    help=(
        "A workbench for convolutional neural networks: design a network by name or\n"
        "in a short grammar, see every layer's shape, parameters, cost and receptive\n"
        "field, work one convolution through by hand, train on real data, and use\n"
        "the trained run: look inside it, detect objects, match faces, transfer style.\n\n"
        "\b\n"
        "Examples:\n"
        "  cnnkit models\n"
        "  cnnkit summary resnet18 --input 3x224x224\n"
        "  cnnkit summary 'INPUT(1x28x28) -> [CONV(32, k=3) -> RELU -> POOL(2)]*2 -> FC(10)'\n"
        "  cnnkit summary --lecture\n"
        "  cnnkit explain-conv\n"
        "  cnnkit datasets\n"
        "  cnnkit train                      # quicknet on Fashion-MNIST, about a minute\n"
        "  cnnkit eval runs/fashion-mnist-quicknet-1\n"
        "  cnnkit finetune runs/fashion-mnist-quicknet-1 --data digits --per-class 10\n"
        "  cnnkit predict runs/fashion-mnist-quicknet-1 photo.png\n"
        "  cnnkit interpret saliency runs/fashion-mnist-quicknet-1 test:0\n"
        "  cnnkit detect train --out runs/scenes\n"
        "  cnnkit faces train --data fashion-mnist:0-6 --out runs/faces\n"
        "  cnnkit style content.png style.png -o out.png\n\n"
        "Add --debug before the command to see tracebacks."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
) -> None:
    """Global options (the --debug flag is read by main())."""


def _register_commands() -> None:
    # Each module adds its commands; heavy imports (torch) happen inside the commands,
    # so `cnnkit --help` stays fast.
    from cnnkit.cli import (
        data,
        detect,
        evaluate,
        explain_conv,
        faces,
        finetune,
        interpret,
        models,
        style,
        summary,
        train,
    )

    for module in (models, summary, explain_conv, data, train, finetune, evaluate, interpret, detect, faces, style):
        module.register(app)


_register_commands()


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; exit 2 with a one-line message on any user error."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        # Standalone mode: Typer prints usage errors itself and exits with status 2.
        app(args=args, prog_name="cnnkit")
    except CnnkitError as err:
        if debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
