"""``summary(model, input_shape)``: a table of every layer's shape, parameters, cost and field.

::

    >>> table = cnnkit.summary("resnet18")          # zoo name, spec text or nn.Module
    >>> table.totals.macs                             # per sample
    >>> print(table.to_markdown())
    >>> table.find("conv1").rf_size

One row per call of a leaf module (a module without children), plus rows for the work a
model's ``forward`` does outside modules: residual additions (``add``), concatenations
(``cat``), ``torch.flatten`` and functional pooling or convolution. Numbers come from one
real forward pass at batch 1 under ``torch.no_grad`` in eval mode (the model's train/eval
flags are restored afterwards); see :mod:`cnnkit.analysis.trace`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

import torch
from torch import nn

from cnnkit.analysis.receptive import Field
from cnnkit.analysis.trace import Tracer, TraceRow
from cnnkit.errors import CnnkitError, ModelError, ShapeError, SpecError

__all__ = ["LayerRow", "LayerTable", "Number", "PerDim", "Totals", "summary"]

Number = float | int
PerDim = Number | tuple[Number, ...]


def _compact(values: tuple[float, ...]) -> PerDim:
    """(11.0, 11.0) -> 11; (7.0, 3.5) -> (7, 3.5): one number when every dim agrees."""
    tidy = tuple(int(v) if float(v).is_integer() else round(v, 4) for v in values)
    return tidy[0] if len(set(tidy)) == 1 else tidy


@dataclass
class LayerRow:
    """One layer call. Shapes exclude the batch; counts are per sample.

    ``rf_size``, ``rf_jump`` and ``rf_start`` are one number when equal along every spatial
    dimension, else a tuple (H, W) / (D, H, W). ``rf_jump`` is None once the spatial layout
    is gone (after flatten); all three are None for tensors not derived from the input.
    Repeated calls of one module appear as ``name#2``, ``name#3``.
    """

    index: int
    name: str
    kind: str
    input_shape: tuple[int, ...] | None
    output_shape: tuple[int, ...]
    params_trainable: int
    params_frozen: int
    macs: int
    rf_size: PerDim | None
    rf_jump: PerDim | None
    rf_start: PerDim | None
    neurons: int
    connections: int
    field: Field | None = dc_field(default=None, repr=False, compare=False)
    input_field: Field | None = dc_field(default=None, repr=False, compare=False)
    module: nn.Module | None = dc_field(default=None, repr=False, compare=False)

    @property
    def params(self) -> int:
        return self.params_trainable + self.params_frozen

    def to_dict(self) -> dict[str, Any]:
        keys = (
            "index", "name", "kind", "input_shape", "output_shape", "params_trainable",
            "params_frozen", "macs", "rf_size", "rf_jump", "rf_start", "neurons", "connections",
        )
        out = {k: getattr(self, k) for k in keys}
        for k in ("input_shape", "output_shape", "rf_size", "rf_jump", "rf_start"):
            if isinstance(out[k], tuple):
                out[k] = list(out[k])
        return out


@dataclass
class Totals:
    """Whole-model figures. Bytes use the parameters' dtype; activations are every row's
    output plus the input, kept at ``batch_size`` (what a training step stores)."""

    input_shape: tuple[int, ...]
    batch_size: int
    params_trainable: int
    params_frozen: int
    macs: int
    param_bytes: int
    activation_bytes: int

    @property
    def params(self) -> int:
        return self.params_trainable + self.params_frozen

    def to_dict(self) -> dict[str, Any]:
        return {
            "input_shape": list(self.input_shape),
            "batch_size": self.batch_size,
            "params_trainable": self.params_trainable,
            "params_frozen": self.params_frozen,
            "params_total": self.params,
            "macs": self.macs,
            "param_bytes": self.param_bytes,
            "activation_bytes": self.activation_bytes,
        }


@dataclass
class LayerTable:
    """The rows of :func:`summary` and their totals; renders as text, markdown, JSON, rich."""

    title: str
    rows: list[LayerRow]
    totals: Totals

    def find(self, layer: str | int) -> LayerRow:
        """A row by index, qualified name, or a unique name suffix ("conv2", "layer1.0.add")."""
        if isinstance(layer, int) or (isinstance(layer, str) and layer.strip().isdigit()):
            i = int(layer)
            if not 0 <= i < len(self.rows):
                raise CnnkitError(
                    f"layer index {i} is out of range; this model has rows 0 to {len(self.rows) - 1}"
                )
            return self.rows[i]
        from cnnkit.names import resolve_layer

        by_name = {r.name: r for r in self.rows}
        return by_name[resolve_layer(str(layer), by_name, where=self.title, listing="`cnnkit summary`")]

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "rows": [r.to_dict() for r in self.rows],
            "totals": self.totals.to_dict(),
        }

    def to_markdown(self) -> str:
        from cnnkit.analysis.render import table_markdown

        return table_markdown(self)

    def __str__(self) -> str:
        from cnnkit.analysis.render import table_text

        return table_text(self)

    def __rich__(self) -> Any:
        from cnnkit.analysis.render import table_rich

        return table_rich(self)


def _row(index: int, raw: TraceRow) -> LayerRow:
    f = raw.field
    return LayerRow(
        index=index,
        name=raw.name,
        kind=raw.kind,
        input_shape=raw.input_shape,
        output_shape=raw.output_shape,
        params_trainable=raw.params_trainable,
        params_frozen=raw.params_frozen,
        macs=raw.macs,
        rf_size=_compact(tuple(d.size for d in f.dims)) if f and f.dims else None,
        rf_jump=None if not f or not f.dims or f.is_global else _compact(tuple(d.jump for d in f.dims)),
        rf_start=_compact(tuple(d.start for d in f.dims)) if f and f.dims else None,
        neurons=math.prod(raw.output_shape),
        connections=raw.connections,
        field=f,
        input_field=raw.input_field,
        module=raw.module,
    )


def _spec_title(text: str, limit: int = 96) -> str:
    """The spec on one line (comments dropped), shortened to ``limit`` characters."""
    flat = " ".join(line.split("#", 1)[0].strip() for line in text.splitlines())
    flat = " ".join(flat.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _resolve(model: nn.Module | str, input_shape: tuple[int, ...] | None) -> tuple[nn.Module, tuple[int, ...], str]:
    if input_shape is not None:
        from cnnkit.nn.spec.shapes import channels_last_hint

        # said here, before a bare INPUT takes 32 channels and fails layers later
        hint = channels_last_hint(tuple(input_shape))
        if hint:
            raise ShapeError(f"input shape {'x'.join(map(str, input_shape))} looks channels last: {hint}")
    if isinstance(model, str):
        from cnnkit.nn.build import build, default_input_shape, looks_like_spec

        built = build(model)
        title = _spec_title(model) if looks_like_spec(model) else model
        own = getattr(built, "input_shape", None)
        if looks_like_spec(model) and input_shape is not None and own is not None and tuple(own) != tuple(input_shape):
            # a bare INPUT takes its size from --input (FC widths follow); an explicit one
            # refuses, and then the built model simply runs on the other size
            try:
                built = build(model, input_shape=tuple(input_shape))
            except SpecError:
                pass
        if input_shape is None:
            input_shape = tuple(default_input_shape(model, built))
        return built, tuple(input_shape), title
    if not isinstance(model, nn.Module):
        raise ModelError(f"summary() takes an nn.Module, a zoo name or a spec, not {type(model).__name__}")
    if input_shape is None:
        input_shape = getattr(model, "input_shape", None)
        if input_shape is None:
            raise ModelError(
                f"{type(model).__name__} does not say its input shape; "
                "pass one without the batch, e.g. summary(model, (3, 224, 224))"
            )
    return model, tuple(int(s) for s in input_shape), type(model).__name__


def _default_shape(model: nn.Module | str, net: nn.Module) -> tuple[int, ...] | None:
    """The input shape the model expects by default, when it says."""
    if isinstance(model, str):
        from cnnkit.nn.build import default_input_shape

        return tuple(default_input_shape(model, net))
    shape = getattr(net, "input_shape", None)
    return tuple(shape) if shape is not None else None


def summary(
    model: nn.Module | str,
    input_shape: tuple[int, ...] | None = None,
    *,
    batch_size: int = 1,
) -> LayerTable:
    """Analyse ``model`` on inputs of ``input_shape`` (C, H, W), (C, L) or (C, D, H, W).

    A string is built with :func:`cnnkit.build` (zoo name or spec); the input shape then
    defaults to the model's own. ``batch_size`` only scales the activation memory.
    Raises ShapeError when the input does not fit the network.
    """
    net, shape, title = _resolve(model, input_shape)
    default = _default_shape(model, net)
    if len(shape) < 2 or any(s < 1 for s in shape):
        raise ShapeError(
            f"input shape {'x'.join(map(str, shape))} needs channels and at least one spatial "
            "size, e.g. 3x224x224 (images), 1x40 (signals) or 1x16x32x32 (volumes)"
        )
    if batch_size < 1:
        raise CnnkitError(f"batch size must be at least 1, got {batch_size}")
    reference = next(net.parameters(), None)
    if reference is None:
        reference = next(net.buffers(), None)
    device = reference.device if reference is not None else torch.device("cpu")
    dtype = reference.dtype if reference is not None and reference.is_floating_point() else torch.float32
    generator = torch.Generator().manual_seed(0)
    x = torch.rand((1, *shape), generator=generator).to(device=device, dtype=dtype)

    modes = {m: m.training for m in net.modules()}
    net.eval()  # batch 1 must work with batch norm, and no running statistics may change
    tracer = Tracer(net)
    try:
        tracer.run(x)
    except ShapeError as err:
        if default is not None and default != shape:
            hint = f"; try the model's default input {'x'.join(map(str, default))} or a similar size"
        else:
            hint = "; give an input the network accepts (channels first, no batch), e.g. --input 3x224x224"
        raise ShapeError(f"{err}{hint}") from err.__cause__
    finally:
        for m, mode in modes.items():
            m.training = mode

    rows = [_row(i, r) for i, r in enumerate(tracer.rows)]
    params = {id(p): p for p in net.parameters()}.values()
    element = torch.finfo(dtype).bits // 8
    activations = sum(r.neurons for r in rows) + math.prod(shape)
    totals = Totals(
        input_shape=shape,
        batch_size=batch_size,
        params_trainable=sum(p.numel() for p in params if p.requires_grad),
        params_frozen=sum(p.numel() for p in params if not p.requires_grad),
        macs=sum(r.macs for r in rows),
        param_bytes=sum(p.numel() * p.element_size() for p in params),
        activation_bytes=activations * element * batch_size,
    )
    return LayerTable(title=title, rows=rows, totals=totals)
