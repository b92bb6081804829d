"""Create a network from a zoo name or an architecture spec.

``build("resnet18", num_classes=10)`` calls the zoo builder; ``build("INPUT(1x28x28) ->
CONV(8, k=3) -> RELU -> FC(10)")`` parses the spec. A path to a text file holding a
spec works too. Everywhere cnnkit takes a model it takes any of the three.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from cnnkit.errors import ModelError
from cnnkit.nn.registry import MODELS, Entry

__all__ = [
    "SPEC_FILE_SUFFIXES",
    "build",
    "build_trunk",
    "default_input_shape",
    "is_zoo_name",
    "list_models",
    "looks_like_spec",
    "model_entry",
    "read_spec_text",
]

SPEC_FILE_SUFFIXES = {".spec", ".txt", ".cnn"}


def _load_zoo() -> None:
    import cnnkit.nn.zoo  # noqa: F401  (registers every builder)


def looks_like_spec(name_or_spec: str) -> bool:
    """True when the text is an architecture spec rather than a zoo name."""
    return any(mark in name_or_spec for mark in ("->", "(", "\n", "[")) or (
        Path(name_or_spec).suffix.lower() in SPEC_FILE_SUFFIXES
    )


def read_spec_text(name_or_spec: str) -> str:
    """The spec text itself, reading it from a file when given a path to one."""
    path = Path(name_or_spec)
    if path.suffix.lower() in SPEC_FILE_SUFFIXES and "->" not in name_or_spec:
        try:
            return path.read_text(encoding="utf-8")
        except OSError as err:
            raise ModelError(f"cannot read spec file {name_or_spec!r}: {err.strerror}") from None
    return name_or_spec


def build(name_or_spec: str, **kwargs: Any) -> nn.Module:
    """Build a model by zoo name (keyword arguments go to its builder) or from a spec.

    For a spec, the accepted keyword arguments are those of :func:`cnnkit.from_spec`
    (``input_shape``, ``num_classes``).
    """
    if looks_like_spec(name_or_spec):
        from cnnkit.nn.spec import from_spec

        allowed = {"input_shape", "num_classes"}
        unknown = sorted(set(kwargs) - allowed)
        if unknown:
            raise ModelError(
                f"a spec model does not take {', '.join(unknown)}; "
                "write those settings in the spec itself"
            )
        return from_spec(read_spec_text(name_or_spec), **kwargs)
    _load_zoo()
    return MODELS.create(name_or_spec, **kwargs)


def build_trunk(name_or_spec: str | nn.Module, *, in_channels: int, purpose: str) -> nn.Module:
    """The convolutional trunk (``.features``) of a zoo name or spec, or of a given model
    (a module without ``.features`` is taken as the trunk itself), for a new head.

    A spec is built as written; a zoo name gets ``in_channels``. ``purpose`` names the head
    in the error for a model without a trunk, e.g. "a detection head".
    """
    if not isinstance(name_or_spec, str):
        return getattr(name_or_spec, "features", name_or_spec)
    kwargs = {} if looks_like_spec(name_or_spec) else {"in_channels": in_channels}
    trunk = getattr(build(name_or_spec, **kwargs), "features", None)
    if not isinstance(trunk, nn.Module):
        raise ModelError(f"{name_or_spec} has no .features trunk to put {purpose} on")
    return trunk


def model_entry(name: str) -> Entry[Any]:
    """The registry entry of a zoo model (description, default input shape, ...)."""
    _load_zoo()
    return MODELS.get(name)


def is_zoo_name(name: str) -> bool:
    """True when ``name`` is a zoo model (the zoo registers itself on first use)."""
    _load_zoo()
    return name in MODELS


def list_models() -> list[Entry[Any]]:
    """Every zoo entry, in registration order."""
    _load_zoo()
    return list(MODELS)


def default_input_shape(name_or_spec: str, model: nn.Module | None = None) -> tuple[int, ...]:
    """The input shape (without batch) a zoo model or spec model expects by default."""
    if looks_like_spec(name_or_spec):
        shape = getattr(model, "input_shape", None)
        if shape is None:
            raise ModelError("this spec has no INPUT(...) shape; pass --input, e.g. --input 3x32x32")
        return tuple(shape)
    return model_entry(name_or_spec).input_shape
