"""The errors a user can cause, each with a message that says what to do.

Everything a user can get wrong (a malformed spec, an unknown model name, an input
that does not fit a network) raises a :class:`CnnkitError`. The CLI prints the
message alone and exits with status 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "CnnkitError",
    "ConfigError",
    "DataError",
    "ModelError",
    "RunError",
    "ShapeError",
    "SpecError",
    "did_you_mean",
]


class CnnkitError(Exception):
    """Base class of every error a user can cause. The message is one line."""


class SpecError(CnnkitError):
    """A malformed architecture spec, or one whose shapes do not work.

    When the error points into the text, ``line`` and ``column`` are 1-based and
    ``str(err)`` shows the offending line with a caret under the spot.
    """

    def __init__(
        self,
        message: str,
        *,
        text: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.message = message
        self.text = text
        self.line = line
        self.column = column
        super().__init__(self._render())

    def _render(self) -> str:
        if self.line is None or self.column is None:
            return self.message
        where = f"spec line {self.line}, column {self.column}: {self.message}"
        if self.text is None:
            return where
        lines = self.text.splitlines() or [""]
        source = lines[self.line - 1] if 0 < self.line <= len(lines) else ""
        caret = " " * (self.column - 1) + "^"
        return f"{where}\n  {source}\n  {caret}"


class ConfigError(CnnkitError):
    """A setting out of range, or not one of its choices. ``parameter`` is the setting's
    Python name ("batch_size"); the message names it so, and the CLI, which knows the
    setting as a flag, shows ``--batch-size`` instead."""

    def __init__(self, message: str, *, parameter: str | None = None) -> None:
        super().__init__(message)
        self.parameter = parameter


class ModelError(CnnkitError):
    """An unknown model name, a bad builder argument, or an input the model cannot take."""


class ShapeError(CnnkitError):
    """An input shape that a network or layer cannot process."""


class DataError(CnnkitError):
    """A dataset that is missing, corrupt or malformed."""


class RunError(CnnkitError):
    """A run directory that is missing, incomplete or from an incompatible version."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ' (did you mean X?)' for the closest choice, or '' when none is close."""
    close = difflib.get_close_matches(name.lower(), [c.lower() for c in choices], n=1, cutoff=0.6)
    if not close:
        return ""
    original = {c.lower(): c for c in choices}[close[0]]
    return f" (did you mean {original!r}?)"
