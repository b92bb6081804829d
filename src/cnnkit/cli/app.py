"""The ``cnnkit`` command: a Typer app whose commands live one group per module.

``main()`` is the console-script entry point. It turns every :class:`CnnkitError`, every
usage error (a bad option value, an unknown command), a path that cannot be read or
written and memory running out into a one-line ``error: ...`` on stderr with exit status
2 (``--debug`` shows the traceback instead), so that nothing a user does ends in a raw
traceback; Ctrl-C prints one line and exits 130. Anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import errno
import logging
import math
import re
import signal
import sys
import time
from collections.abc import Callable
from typing import Any, NoReturn

import typer

try:  # typer >= 0.24 carries its own copy of click
    from typer._click import exceptions as click_exceptions
except ImportError:  # older typer uses click itself
    from click import exceptions as click_exceptions

from cnnkit.errors import CnnkitError

__all__ = ["app", "installed_version", "main"]

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


def installed_version() -> str:
    """cnnkit's version: the installed distribution's (importlib.metadata), else
    ``cnnkit.__version__`` when running from a source tree that is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cnnkit")
    except PackageNotFoundError:
        import cnnkit

        return str(getattr(cnnkit, "__version__", "unknown"))


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"cnnkit {installed_version()}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print cnnkit's version and exit."
    ),
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
    """Run the CLI; a user's mistake ends in one ``error: ...`` line and exit status 2.

    Typer runs without its standalone mode, so that usage errors, Ctrl-C and the
    exceptions below all end here: usage errors and CnnkitError -> 2, Ctrl-C -> 130,
    ``typer.Exit(n)`` -> n. With ``--debug`` a CnnkitError, path or memory error shows
    its traceback instead.
    """
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    restore = _catch_interrupts_once()
    notes = _NoteHandler()
    library = logging.getLogger("cnnkit")
    library.addHandler(notes)
    level = library.level
    library.setLevel(logging.INFO)
    try:
        code = _run(args, debug)
    finally:
        library.removeHandler(notes)
        library.setLevel(level)
        restore()
    sys.exit(code)  # as typer's standalone mode did, also for 0


def _run(args: list[str], debug: bool) -> int:
    """The app's exit status (0, typer.Exit's code), or exit with a one-line message."""
    from cnnkit.cli.common import Interrupted

    try:
        code = app(args=args, prog_name="cnnkit", standalone_mode=False)
    except Interrupted as stop:
        _fail(str(stop), 130)
    except KeyboardInterrupt:  # outside a command (typer turns one inside into exit code 130)
        _fail("interrupted", 130)
    except (click_exceptions.ClickException, typer.Abort) as err:
        _click_failure(err)
    except CnnkitError as err:
        if debug:
            raise
        _fail(f"error: {_as_flags(err)}", 2)
    except (OSError, MemoryError, RuntimeError) as err:
        line = _environment_error_line(err)
        if line is None or debug:
            raise  # a genuine bug keeps its traceback
        _fail(line, 2)
    if code == 130:  # typer's answer to a Ctrl-C inside a command
        _fail("interrupted", 130)
    return code if isinstance(code, int) and not isinstance(code, bool) else 0  # typer.Exit(n)


class _NoteHandler(logging.Handler):
    """What the library logs (logger ``cnnkit``, INFO and up) as ``note: ...`` or
    ``warning: ...`` lines on stderr, the stream of the moment (tests swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        kind = "note" if record.levelno < logging.WARNING else "warning"
        print(f"{kind}: {record.getMessage()}", file=sys.stderr)


def _as_flags(err: CnnkitError) -> str:
    """The message with a ConfigError's parameter named as the flag a user typed
    ("batch_size must be ..." -> "--batch-size must be ...")."""
    from cnnkit.errors import ConfigError

    text = str(err)
    parameter = getattr(err, "parameter", None) if isinstance(err, ConfigError) else None
    if parameter:
        flag = "--" + parameter.replace("_", "-")
        text = re.sub(rf"(?<![\w-]){re.escape(parameter)}(?![\w-])", flag, text, count=1)
    return text


def _catch_interrupts_once() -> Callable[[], None]:
    """Let one Ctrl-C raise KeyboardInterrupt, but not a second copy of it within a second
    (`timeout -s INT` signals the process and its group, so it gets two), which would cut
    the clean-up and the "interrupted" line short with a traceback. Returns a function
    that puts the previous handler back."""
    last = [float("-inf")]

    def on_interrupt(signum: int, frame: Any) -> None:
        now = time.monotonic()
        if now - last[0] < 1.0:
            return
        last[0] = now
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGINT, on_interrupt)
    except ValueError:  # signals can be set in the main thread only
        return lambda: None
    # None: the handler was not set from Python; Python's own is the closest to put back
    return lambda: signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)  # type: ignore[func-returns-value]


def _fail(line: str, status: int) -> NoReturn:
    print(line, file=sys.stderr)
    sys.exit(status)


def _click_failure(err: Exception) -> NoReturn:
    """Typer/click's own errors as one line: usage errors (exit 2) say where --help is."""
    if isinstance(err, click_exceptions.NoArgsIsHelpError):
        err.show()  # the help text, as `cnnkit` alone and `cnnkit interpret` have always shown
        sys.exit(err.exit_code)
    if isinstance(err, typer.Abort):
        if isinstance(err.__context__, KeyboardInterrupt):  # older click's answer to Ctrl-C
            _fail("interrupted", 130)
        _fail("error: aborted", 1)
    assert isinstance(err, click_exceptions.ClickException)
    message = _nonfinite_message(err) or err.format_message()
    message = " ".join(message.split()).rstrip(".")
    if isinstance(err, click_exceptions.UsageError):
        command = err.ctx.command_path if err.ctx is not None else "cnnkit"
        message += f"; see {command} --help"
    _fail(f"error: {message}", err.exit_code)


def _nonfinite_message(err: Exception) -> str | None:
    """For a number option given nan or inf, a message saying so (typer's range check
    would call nan "not greater than or equal to 0"). None for any other error."""
    if not isinstance(err, click_exceptions.BadParameter):
        return None
    details = getattr(err.__cause__, "errors", None)  # typer's pydantic ValidationError
    if not callable(details):
        return None
    for detail in details():
        raw = detail.get("input")
        try:
            number = float(raw)
        except (TypeError, ValueError):
            continue
        if not math.isfinite(number):
            names = " / ".join(f"'{opt}'" for opt in err.param.opts) if err.param is not None else "an option"
            return f"Invalid value for {names}: {raw!r} is not a finite number; give a finite number"
    return None


# The OSErrors that mean "this path cannot be used", with what to do about each.
_PATH_ADVICE = {
    errno.ENOENT: "check the path; an output's folder must be one that can be created",
    errno.EACCES: "choose a path you may read or write",
    errno.EPERM: "choose a path you may read or write",
    errno.EISDIR: "give a file name, not a folder",
    errno.ENOTDIR: "a part of the path is a file, not a folder; fix the path",
    errno.EROFS: "the file system is read-only; choose a writable place",
    errno.ENOSPC: "the disk is full; free some space or choose another place",
    errno.ENAMETOOLONG: "choose a shorter path",
}


def _environment_error_line(err: BaseException) -> str | None:
    """One line for a path that cannot be read or written, or for memory running out;
    None for anything else (a bug, which keeps its traceback)."""
    if isinstance(err, OSError) and err.filename is not None and err.errno in _PATH_ADVICE:
        reason = err.strerror or type(err).__name__
        return f"error: cannot use {_user_path(err)!r}: {reason}; {_PATH_ADVICE[err.errno]}"
    if _is_out_of_memory(err):
        return "error: out of memory; use a smaller input size, batch size or model"
    return None


def _user_path(err: OSError) -> str:
    """The path in question: a rename's destination when there is one (cnnkit.atomic
    already reports the file asked for, not its temporary file)."""
    return str(err.filename2 if err.filename2 is not None else err.filename)


def _is_out_of_memory(err: BaseException) -> bool:
    if isinstance(err, MemoryError):
        return True
    torch = sys.modules.get("torch")  # only loaded when a command used it
    oom = getattr(torch, "OutOfMemoryError", None) if torch is not None else None
    if oom is not None and isinstance(err, oom):
        return True
    text = str(err).lower()
    return isinstance(err, RuntimeError) and any(
        phrase in text for phrase in ("can't allocate memory", "cannot allocate memory", "out of memory")
    )
