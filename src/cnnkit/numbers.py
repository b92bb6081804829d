"""Checks for numbers a user gives: finite, of the right kind, within bounds.

Typer's ``min=`` accepts ``inf`` (and says "greater than or equal to 0" for ``nan``), and a
learning rate of ``inf`` trains to NaN weights without a word, so every numeric setting
that reaches an optimizer, a size or a count goes through :func:`check_range`.
"""

from __future__ import annotations

import math

from cnnkit.errors import ConfigError

__all__ = ["check_range"]


def check_range(
    name: str,
    value: object,
    low: float,
    high: float | None = None,
    *,
    integer: bool = False,
    strict: bool = False,
) -> None:
    """ConfigError unless ``value`` is a finite number (a whole one when ``integer``) >=
    ``low`` (> when ``strict``) and <= ``high`` (when given).

    ``name`` is the setting's Python name (``step_size``; a flag such as ``--step-size`` is
    read as that name): the message names the parameter, and the CLI shows it as the flag
    the user typed (cnnkit.cli.app)."""
    kind = int if integer else (int, float)
    ok = isinstance(value, kind) and not isinstance(value, bool)
    if ok:
        number = float(value)  # type: ignore[arg-type]
        ok = math.isfinite(number) and (number > low if strict else number >= low) and (high is None or number <= high)
    if not ok:
        bound = f"> {low}" if strict else f">= {low}"
        if high is not None:
            bound += f" and <= {high}"
        what = "a whole number" if integer else "a finite number"
        parameter = name.lstrip("-").replace("-", "_")
        raise ConfigError(f"{parameter} must be {what} {bound}, got {value!r}", parameter=parameter)
