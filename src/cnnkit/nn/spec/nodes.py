"""The spec's syntax tree: small dataclasses that remember where they came from.

``parse_spec`` returns a :class:`Spec`. Its ``items`` are :class:`Layer` and
:class:`Repeat` nodes in text order; a layer's ``options`` hold every argument of its
kind, checked and with defaults filled in (see ``schema.py``), so the builder never
looks at raw text again. Lines and columns are 1-based.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

from cnnkit.nn.spec.lexer import TokenValue

__all__ = ["Arg", "Item", "Layer", "Repeat", "Spec", "Value", "expanded_size"]


@dataclass(frozen=True)
class Value:
    """One argument value. ``kind`` is 'int', 'float', 'word', 'shape' or 'string'."""

    kind: str
    text: str
    value: TokenValue
    line: int
    column: int


@dataclass(frozen=True)
class Arg:
    """``key=value`` or a positional value (``key`` is None)."""

    key: str | None  # lower-cased keyword as written, before alias resolution
    value: Value
    line: int
    column: int


@dataclass
class Layer:
    """One layer call such as ``CONV(64, k=5)``, maybe marked optional with ``?``.

    ``kind`` is the canonical layer name ('CONV', 'POOL', ...; MAXPOOL becomes POOL
    with ``options['type'] == 'max'``). ``bare`` is True when no arguments were given
    (``CONV`` or ``CONV()``), which selects the pattern defaults. ``source`` is the
    call's own text with whitespace squeezed, for error messages.
    """

    name: str  # as written, e.g. 'maxpool'
    kind: str
    args: list[Arg]
    options: dict[str, Any]
    optional: bool
    bare: bool
    source: str
    line: int
    column: int


@dataclass
class Repeat:
    """``[ body ]*count``, maybe marked optional with ``?``; ``count`` may be 0."""

    body: list[Item]
    count: int
    optional: bool
    source: str
    line: int
    column: int


Item = Union[Layer, Repeat]


@dataclass
class Spec:
    """A parsed spec: the text and its items (the first is always the INPUT layer)."""

    text: str
    items: list[Item] = field(default_factory=list)

    def layers(self) -> list[Layer]:
        """Every layer node in text order, looking inside repeats (each node once)."""
        found: list[Layer] = []

        def walk(items: list[Item]) -> None:
            for item in items:
                if isinstance(item, Layer):
                    found.append(item)
                else:
                    walk(item.body)

        walk(self.items)
        return found


def expanded_size(items: list[Item]) -> int:
    """How many layers the items stand for once every repeat is written out."""
    return sum(1 if isinstance(i, Layer) else i.count * expanded_size(i.body) for i in items)
