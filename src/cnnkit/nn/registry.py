"""Registries: create things by name, fail loudly on unknown or duplicate names.

A :class:`Registry` maps names to builders plus a little metadata. The model zoo
registers every builder here with :func:`register_model`; ``cnnkit.build`` looks
names up and checks keyword arguments before calling the builder, so a misspelled
argument is an error with a suggestion rather than a silent default.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from cnnkit.errors import ModelError, did_you_mean

__all__ = ["MODELS", "T", "Entry", "Registry", "register_model"]

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered builder.

    ``input_shape`` is the default input without the batch dimension, e.g. (3, 224, 224)
    for images, (1, 40) for 1-D signals, (1, 16, 32, 32) for volumes.
    """

    name: str
    builder: Callable[..., T]
    description: str
    input_shape: tuple[int, ...]
    family: str = ""
    torchvision_name: str | None = None  # the torchvision builder with the same architecture

    def accepted_arguments(self) -> list[str]:
        params = inspect.signature(self.builder).parameters.values()
        return [p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY]


class Registry(Generic[T]):
    """Name -> :class:`Entry`. Names are case-insensitive; a duplicate name is an error."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def add(self, entry: Entry[T]) -> None:
        key = entry.name.lower()
        if key in self._entries:
            raise ValueError(f"{self.kind} {entry.name!r} is registered twice")
        self._entries[key] = entry

    def get(self, name: str) -> Entry[T]:
        entry = self._entries.get(name.lower())
        if entry is None:
            hint = did_you_mean(name, self.names())
            raise ModelError(
                f"unknown {self.kind} {name!r}{hint}; `cnnkit models` lists them all"
            )
        return entry

    def create(self, name: str, **kwargs: Any) -> T:
        """Build ``name`` with keyword arguments, rejecting unknown ones with a suggestion."""
        entry = self.get(name)
        accepted = entry.accepted_arguments()
        for key in kwargs:
            if key not in accepted:
                hint = did_you_mean(key, accepted)
                raise ModelError(
                    f"{entry.name} does not take argument {key!r}{hint}; "
                    f"it takes: {', '.join(accepted) or 'nothing'}"
                )
        made = entry.builder(**kwargs)
        if hasattr(made, "__dict__"):
            # remembered so that a run directory can rebuild exactly this model
            made.builder_kwargs = dict(kwargs)
        return made

    def names(self) -> list[str]:
        return [e.name for e in self._entries.values()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)


MODELS: Registry[Any] = Registry("model")


def register_model(
    name: str,
    *,
    description: str,
    input_shape: tuple[int, ...],
    family: str = "",
    torchvision_name: str | None = None,
) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Decorator: add a zoo builder to :data:`MODELS` under ``name``."""

    def decorate(builder: Callable[..., T]) -> Callable[..., T]:
        MODELS.add(
            Entry(
                name=name,
                builder=builder,
                description=description,
                input_shape=input_shape,
                family=family,
                torchvision_name=torchvision_name,
            )
        )
        return builder

    return decorate
