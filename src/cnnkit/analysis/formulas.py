"""Explain one layer: the textbook formulas with this layer's own numbers substituted.

::

    >>> print(cnnkit.explain_layer("resnet18", (3, 224, 224), "conv1"))

covers the output size ``floor((n + 2p - d(f-1) - 1)/s) + 1`` per spatial dimension, the
parameter count ``(f*f*c_in/groups + 1)*c_out`` (or ``inputs*outputs + outputs``), the MACs
and the receptive field ``r_out = r_in + (f-1)*d*j_in``, ``j_out = j_in*s``,
``start_out = start_in + ((f-1)*d/2 - p)*j_in``. Every result printed is checked against
the traced model; a mismatch would be reported in the text rather than hidden.
"""

from __future__ import annotations

import math

from torch import nn

from cnnkit.analysis.geometry import WindowGeometry, geometry_of
from cnnkit.analysis.receptive import DimField, Field
from cnnkit.analysis.render import count, per_dim, shape
from cnnkit.analysis.summary import LayerRow, LayerTable, summary

__all__ = ["explain_layer", "explain_row"]

_DIM_NAMES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


def _g(value: float) -> str:
    return f"{value:g}"


def _window(module: nn.Module) -> str:
    """The kernel area as a formula for this layer's rank: f (1-D), f*f (2-D), f*f*f (3-D)."""
    return "*".join("f" * len(module.kernel_size))


def _checked(value: int, actual: int) -> str:
    return count(value) if value == actual else f"{count(value)} (but torch reports {count(actual)}!)"


def explain_layer(
    model_or_name: nn.Module | str | LayerTable,
    input_shape: tuple[int, ...] | None = None,
    layer: str | int = 0,
) -> str:
    """Text explaining ``layer`` (qualified name, unique suffix such as "conv2", or row index).

    ``model_or_name`` is a module, a zoo name, a spec, or an existing :class:`LayerTable`.
    Unknown layers raise CnnkitError with a did-you-mean suggestion.
    """
    table = model_or_name if isinstance(model_or_name, LayerTable) else summary(model_or_name, input_shape)
    return explain_row(table.find(layer))


def explain_row(row: LayerRow) -> str:
    """The explanation of one row of a :class:`LayerTable`."""
    lines = [f"{row.name} ({row.kind}): input {shape(row.input_shape)} -> output {shape(row.output_shape)}"]
    rank = len(row.input_field.spatial) if row.input_field and not row.input_field.is_global else 0
    module = row.module
    geometry = geometry_of(module, rank) if module is not None and rank else None
    if geometry is not None and row.input_shape is not None:
        lines += _output_size(geometry, row, rank)
    lines += _parameters(module, row)
    lines += _macs(module, row)
    lines += _receptive(geometry, row, rank)
    return "\n".join(lines)


def _output_size(geo: WindowGeometry, row: LayerRow, rank: int) -> list[str]:
    assert row.input_shape is not None
    if geo.kind == "deconv":
        out = ["", "Output size (transposed): n_out = (n - 1)*s - 2p + d*(f - 1) + output_padding + 1"]
    else:
        rounding = "ceil" if geo.ceil_mode else "floor"
        out = ["", f"Output size: n_out = {rounding}((n + 2p - d*(f - 1) - 1)/s) + 1"]
    names = _DIM_NAMES.get(rank, tuple(f"dim{j}" for j in range(rank)))
    sizes = {(row.input_shape[-rank + i], row.output_shape[-rank + i], geo.kernel[i], geo.stride[i],
              geo.dilation[i], geo.padding_left[i], geo.padding_right[i]) for i in range(rank)}
    labels = [(" = ".join(names), 0)] if len(sizes) == 1 and rank > 1 else list(zip(names, range(rank)))
    for name, i in labels:
        n = row.input_shape[-rank + i]
        k, s, d = geo.kernel[i], geo.stride[i], geo.dilation[i]
        pl, pr = geo.padding_left[i], geo.padding_right[i]
        actual = row.output_shape[-rank + i]
        result = _checked(geo.output_size(n, i), actual)
        pads = f"2*{pl}" if pl == pr else f"{pl} + {pr}"
        if geo.kind == "deconv":
            op = geo.output_padding[i]
            out.append(f"  {name}: ({n} - 1)*{s} - 2*{pl} + {d}*({k} - 1) + {op} + 1 = {result}")
        else:
            inner = n + pl + pr - d * (k - 1) - 1
            rounding = "ceil" if geo.ceil_mode else "floor"
            out.append(
                f"  {name}: {rounding}(({n} + {pads} - {d}*({k} - 1) - 1)/{s}) + 1"
                f" = {rounding}({inner}/{s}) + 1 = {result}"
            )
    return out


def _parameters(module: nn.Module | None, row: LayerRow) -> list[str]:
    if module is None:
        return ["", "Parameters: 0 (an operation in the model's forward, not a layer)"]
    actual = sum(p.numel() for p in module.parameters(recurse=False))
    has_bias = getattr(module, "bias", None) is not None
    bias = " + 1" if has_bias else ""
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        f = "*".join(map(str, module.kernel_size))
        value = (math.prod(module.kernel_size) * module.in_channels // module.groups + int(has_bias)) * module.out_channels
        return ["", f"Parameters: ({_window(module)}*c_in/groups{bias})*c_out",
                f"  = ({f}*{module.in_channels}/{module.groups}{bias})*{module.out_channels} = {_checked(value, actual)}"]
    if isinstance(module, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
        f = "*".join(map(str, module.kernel_size))
        value = module.in_channels * math.prod(module.kernel_size) * (module.out_channels // module.groups)
        value += module.out_channels if has_bias else 0
        tail = f" + {module.out_channels}" if has_bias else ""
        return ["", f"Parameters: c_in*{_window(module)}*(c_out/groups) + c_out (biases)",
                f"  = {module.in_channels}*{f}*({module.out_channels}/{module.groups}){tail} = {_checked(value, actual)}"]
    if isinstance(module, nn.Linear):
        i, o = module.in_features, module.out_features
        value = i * o + (o if has_bias else 0)
        tail = f" + {o}" if has_bias else ""
        return ["", "Parameters: inputs*outputs + outputs (one bias per output unit)",
                f"  = {i}*{o}{tail} = {_checked(value, actual)}"]
    parts = [f"{name} {shape(tuple(p.shape))}" for name, p in module.named_parameters(recurse=False)]
    if not parts:
        return ["", "Parameters: 0"]
    return ["", f"Parameters: {' + '.join(parts)} = {count(actual)}"]


def _macs(module: nn.Module | None, row: LayerRow) -> list[str]:
    out_elems = "*".join(map(str, row.output_shape))
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        k = "*".join(map(str, module.kernel_size))
        text = f"({out_elems}) * ({module.in_channels}/{module.groups}) * ({k})"
        formula = f"output elements * (c_in/groups) * {_window(module)}"
    elif isinstance(module, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
        k = "*".join(map(str, module.kernel_size))
        text = f"({'*'.join(map(str, row.input_shape or ()))}) * ({module.out_channels}/{module.groups}) * ({k})"
        formula = f"input elements * (c_out/groups) * {_window(module)}"
    elif isinstance(module, nn.Linear):
        text = f"({out_elems}) * {module.in_features}"
        formula = "outputs * inputs"
    elif row.macs:
        return ["", f"MACs: {count(row.macs)}"]
    else:
        return ["", "MACs: 0 (pooling, normalisation, activations and additions are not counted)"]
    return ["", f"MACs: {formula}", f"  = {text} = {count(row.macs)}"]


def _receptive(geo: WindowGeometry | None, row: LayerRow, rank: int) -> list[str]:
    f_in, f_out = row.input_field, row.field
    if f_out is None or f_in is None:
        return ["", "Receptive field: none (this tensor does not come from the input)"]
    if f_out.is_global:
        return ["", "Receptive field: the spatial layout is gone, so each unit sees the union of all",
                f"  positions' fields: size {per_dim(row.rf_size)}, centred at {per_dim(row.rf_start)}"]
    if geo is None:
        if row.module is None and row.kind in ("add", "sub", "mul", "cat", "stack"):
            return ["", "Receptive field: the union of the fields of the tensors it combines:",
                    f"  r = {per_dim(row.rf_size)}, j = {per_dim(row.rf_jump)}, start = {per_dim(row.rf_start)}"]
        if f_in.dims == f_out.dims:
            return ["", f"Receptive field: unchanged: r = {per_dim(row.rf_size)}, j = {per_dim(row.rf_jump)},"
                        f" start = {per_dim(row.rf_start)}"]
        return ["", "Receptive field: the union of its inputs' fields (or resampled):",
                f"  r = {per_dim(row.rf_size)}, j = {per_dim(row.rf_jump)}, start = {per_dim(row.rf_start)}"]
    if geo.kind == "deconv":
        return ["", "Receptive field (transposed: j_out = j_in/s; r grows by the widest input span):",
                f"  r = {per_dim(row.rf_size)}, j = {per_dim(row.rf_jump)}, start = {per_dim(row.rf_start)}"]
    out = ["", "Receptive field: r_out = r_in + (f-1)*d*j_in;  j_out = j_in*s;"
               "  start_out = start_in + ((f-1)*d/2 - p)*j_in"]
    names = _DIM_NAMES.get(rank, tuple(f"dim{j}" for j in range(rank)))
    dims = _distinct_dims(geo, f_in, f_out, names)
    for label, i in dims:
        a, b = f_in.dims[i], f_out.dims[i]
        k, s, d, p = geo.kernel[i], geo.stride[i], geo.dilation[i], geo.padding_left[i]
        out.append(
            f"  {label}: r = {_g(a.size)} + ({k}-1)*{d}*{_g(a.jump)} = {_g(b.size)};"
            f"  j = {_g(a.jump)}*{s} = {_g(b.jump)};"
            f"  start = {_g(a.start)} + (({k}-1)*{d}/2 - {p})*{_g(a.jump)} = {_g(b.start)}"
        )
    return out


def _distinct_dims(
    geo: WindowGeometry, f_in: Field, f_out: Field, names: tuple[str, ...]
) -> list[tuple[str, int]]:
    """One line for all dims when they are identical (square), else one per dim."""

    def key(i: int) -> tuple[DimField, DimField, int, int, int, int]:
        return (f_in.dims[i], f_out.dims[i], geo.kernel[i], geo.stride[i], geo.dilation[i],
                geo.padding_left[i])

    if len({key(i) for i in range(len(names))}) == 1:
        return [(" = ".join(names) if len(names) > 1 else names[0], 0)]
    return [(n, i) for i, n in enumerate(names)]
