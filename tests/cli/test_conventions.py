"""One CLI convention per concept, on every command (docs/cli.md): this walks every command
of the real app and checks its options, and every command's --help."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
import typer

from cnnkit.cli.app import _register_commands, app

# Commands by what they do (a command not listed in ALL fails the test: classify it).
RUN_WRITERS = {"train", "finetune", "detect train", "detect localize", "faces train"}
PROGRESS = RUN_WRITERS | {"style"}  # commands that print progress (epochs, steps) as they go
MODEL_RUNNERS = RUN_WRITERS | {
    "eval", "predict", "style", "interpret layers", "interpret filters", "interpret features", "interpret saliency",
    "interpret maximize", "interpret dream", "interpret fool", "interpret adversarial", "detect eval",
    "detect predict", "faces eval", "faces verify", "faces enroll", "faces identify",
}  # fmt: skip
TRAINERS = {"train", "finetune", "detect train", "detect localize", "faces train"}
RANDOM = TRAINERS | {"style", "explain-conv", "interpret saliency", "interpret maximize", "interpret dream",
                     "interpret fool", "interpret adversarial", "faces eval"}  # fmt: skip
CLASSIFIER_USERS = {"train", "eval", "predict"}  # flip TTA where a classifier is evaluated
ALL = MODEL_RUNNERS | RANDOM | {"models", "summary", "datasets"}


def commands() -> Iterator[tuple[str, object]]:
    _register_commands()
    root = typer.main.get_command(app)

    def walk(command: object, path: list[str]) -> Iterator[tuple[str, object]]:
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name, sub in subcommands.items():
                yield from walk(sub, [*path, name])
        else:
            yield " ".join(path), command

    yield from walk(root, [])


COMMANDS = dict(commands())


def options(name: str) -> dict[str, object]:
    """--long-name -> the click option."""
    found = {}
    for param in COMMANDS[name].params:  # type: ignore[attr-defined]
        if param.param_type_name == "option":
            for opt in [*param.opts, *param.secondary_opts]:
                if opt.startswith("--"):
                    found[opt] = param
    return found


def test_every_command_is_classified() -> None:
    assert set(COMMANDS) == ALL, set(COMMANDS) ^ ALL


@pytest.mark.parametrize("name", sorted(RUN_WRITERS))
def test_run_writers_take_out_and_name_neither_required(name: str) -> None:
    opts = options(name)
    for flag, short in (("--out", "-o"), ("--name", "-n")):
        assert flag in opts, f"{name} has no {flag}"
        assert short in opts[flag].opts and not opts[flag].required, (name, flag)


@pytest.mark.parametrize("name", sorted(ALL))
def test_every_command_has_json(name: str) -> None:
    assert "--json" in options(name), name


@pytest.mark.parametrize("name", sorted(PROGRESS))
def test_commands_with_progress_have_quiet(name: str) -> None:
    opts = options(name)
    assert "--quiet" in opts and "-q" in opts["--quiet"].opts, name


@pytest.mark.parametrize("name", sorted(MODEL_RUNNERS))
def test_commands_that_run_a_model_take_device_auto_by_default(name: str) -> None:
    opts = options(name)
    assert "--device" in opts, name
    assert opts["--device"].default in ("auto", None), (name, opts["--device"].default)  # None: the config's auto


@pytest.mark.parametrize("name", sorted(TRAINERS))
def test_trainers_take_threads_and_seed(name: str) -> None:
    assert {"--threads", "--seed"} <= set(options(name)), name


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_random_commands_take_seed(name: str) -> None:
    assert "--seed" in options(name), name


@pytest.mark.parametrize("name", sorted(CLASSIFIER_USERS))
def test_flip_tta_wherever_a_classifier_is_evaluated(name: str) -> None:
    assert "--tta" in options(name), name


def test_finetune_takes_flips_like_train() -> None:
    assert "--flips" in options("finetune") and "--flips" in options("train")


def test_an_option_has_the_same_short_flag_everywhere() -> None:
    shorts: dict[str, dict[str, str]] = {}
    for name in COMMANDS:
        for flag, param in options(name).items():
            short = ",".join(sorted(o for o in param.opts if not o.startswith("--")))  # type: ignore[attr-defined]
            shorts.setdefault(flag, {})[name] = short
    differing = {flag: where for flag, where in shorts.items() if len(set(where.values())) > 1}
    assert not differing, differing


@pytest.mark.parametrize("name", sorted(ALL))
def test_help_says_each_default_once(name: str, run_cli: Callable) -> None:
    code, out, _ = run_cli([*name.split(), "--help"])
    assert code == 0 and "Usage:" in out
    flat = " ".join(out.split())
    assert not re.search(r"\[default: ([^\]]+)\]\.?\s*\[default: \1\]", flat), flat
    usage = out.split("\n\n")[0]
    assert "[[" not in usage, usage  # an optional argument's metavar in brackets shows twice


def test_version(run_cli: Callable) -> None:
    from importlib.metadata import version

    code, out, _ = run_cli(["--version"])
    assert code == 0 and out.strip() == f"cnnkit {version('cnnkit')}"
