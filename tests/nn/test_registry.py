"""The registry: create by name, reject unknown names and arguments with suggestions."""

from __future__ import annotations

import pytest

from cnnkit.errors import ModelError
from cnnkit.nn.registry import Entry, Registry


def _builder(*, num_classes: int = 10, in_channels: int = 3) -> tuple[int, int]:
    return (num_classes, in_channels)


@pytest.fixture()
def registry() -> Registry[tuple[int, int]]:
    reg: Registry[tuple[int, int]] = Registry("model")
    reg.add(Entry("tinynet", _builder, "a test builder", (3, 8, 8)))
    return reg


def test_create_passes_keyword_arguments(registry: Registry[tuple[int, int]]) -> None:
    assert registry.create("tinynet", num_classes=4, in_channels=1) == (4, 1)
    assert registry.create("TinyNet") == (10, 3)  # names are case-insensitive


def test_unknown_name_suggests_the_closest(registry: Registry[tuple[int, int]]) -> None:
    with pytest.raises(ModelError, match=r"unknown model 'tinynt' \(did you mean 'tinynet'\?\)"):
        registry.get("tinynt")


def test_unknown_argument_suggests_the_closest(registry: Registry[tuple[int, int]]) -> None:
    with pytest.raises(ModelError, match=r"'num_clases' \(did you mean 'num_classes'\?\)"):
        registry.create("tinynet", num_clases=3)


def test_duplicate_name_is_rejected(registry: Registry[tuple[int, int]]) -> None:
    with pytest.raises(ValueError, match="registered twice"):
        registry.add(Entry("TINYNET", _builder, "again", (3, 8, 8)))


def test_membership_and_listing(registry: Registry[tuple[int, int]]) -> None:
    assert "tinynet" in registry and "other" not in registry
    assert registry.names() == ["tinynet"] and len(registry) == 1


def test_created_models_remember_their_arguments() -> None:
    from torch import nn

    reg: Registry[nn.Module] = Registry("model")

    def linear(*, width: int = 4) -> nn.Module:
        return nn.Linear(2, width)

    reg.add(Entry("lin", linear, "a linear layer", (2,)))
    assert reg.create("lin", width=7).builder_kwargs == {"width": 7}
