"""Run one forward pass and record every layer: shapes, parameters, MACs, receptive fields.

Two instruments watch the same forward pass (batch 1, ``torch.no_grad``, eval mode):

- forward hooks on every module: a row per call of a leaf module (one without children),
  with its input and output shapes, its own parameters and its MACs;
- a ``TorchFunctionMode`` that sees every torch function the forward calls. It carries a
  receptive :class:`~cnnkit.analysis.receptive.Field` along with every activation tensor,
  so fields stay right through work done outside modules: residual additions, channel
  concatenations, ``torch.flatten`` or functional pooling in a ``forward``. Such ops, when
  called outside any leaf module, get rows of their own (named after the module whose
  ``forward`` called them, e.g. ``layer1.0.add``).

Spatial dimensions are the trailing ones of the input (channels first). A failure inside
the forward pass becomes a :class:`~cnnkit.errors.ShapeError` naming the layer.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from cnnkit.analysis import costs, receptive
from cnnkit.analysis.geometry import module_field
from cnnkit.analysis.ops import (
    CONV_OPS, GLOBAL_OPS, MERGE_OPS, POOL_OPS, RESHAPE_OPS, WINDOW_OPS, functional_conv, functional_pool,
)
from cnnkit.analysis.receptive import Field
from cnnkit.errors import ShapeError

__all__ = ["TraceRow", "Tracer"]


@dataclass
class TraceRow:
    """One recorded call: a leaf module or a functional op outside modules."""

    name: str
    kind: str
    input_shape: tuple[int, ...] | None
    output_shape: tuple[int, ...]
    params_trainable: int
    params_frozen: int
    macs: int
    connections: int
    field: Field | None
    input_field: Field | None
    module: nn.Module | None


def _tensors(value: Any) -> Iterator[torch.Tensor]:
    """Tensors in an argument structure (tensors, lists/tuples of them, dict values)."""
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)


def _contains(shape: tuple[int, ...], part: tuple[int, ...]) -> bool:
    """True when ``part`` occurs as consecutive entries of ``shape``."""
    n = len(part)
    return n > 0 and any(shape[i : i + n] == part for i in range(len(shape) - n + 1))


class Tracer(TorchFunctionMode):
    """Records rows and receptive fields during one forward pass of ``model``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.names = {m: name for name, m in model.named_modules()}
        self.rows: list[TraceRow] = []
        self._fields: dict[int, tuple[weakref.ref[torch.Tensor], Field]] = {}
        self._stack: list[tuple[str, nn.Module, tuple[int, ...] | None]] = []
        self._leaf_depth = 0
        self._calls: dict[str, int] = {}
        self._counted: set[int] = set()

    # -- fields attached to tensors (by id, verified through a weak reference) --
    def field_of(self, tensor: torch.Tensor) -> Field | None:
        entry = self._fields.get(id(tensor))
        if entry is None or entry[0]() is not tensor:
            return None
        return entry[1]

    def set_field(self, tensor: torch.Tensor, field: Field) -> None:
        self._fields[id(tensor)] = (weakref.ref(tensor), field)

    # -- the forward pass --
    def run(self, x: torch.Tensor) -> None:
        self.set_field(x, Field.of_input(tuple(x.shape[2:])))
        handles = []
        for module in self.names:
            handles.append(module.register_forward_pre_hook(self._enter))
            handles.append(module.register_forward_hook(self._leave))
        try:
            with torch.no_grad(), self:
                self.model(x)
        except (RuntimeError, ValueError, IndexError, TypeError, AssertionError) as err:
            raise self._shape_error(x, err) from err
        finally:
            for handle in handles:
                handle.remove()

    def _shape_error(self, x: torch.Tensor, err: Exception) -> ShapeError:
        where = self._stack[-1] if self._stack else None  # the innermost unfinished module
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        given = "x".join(map(str, x.shape[1:]))
        if where is None:
            return ShapeError(f"input {given} does not fit the network: {first}")
        name, module, in_shape = where
        got = "x".join(map(str, in_shape)) if in_shape else "?"
        return ShapeError(
            f"input {given} does not fit the network: layer {name or '(model)'} "
            f"({type(module).__name__}) got {got} and failed: {first}"
        )

    def _is_leaf(self, module: nn.Module) -> bool:
        if module._modules:
            return False
        if type(module) is nn.Sequential:
            return False  # an empty Sequential (a spec's head without FC) passes x through: no row
        # a childless custom model is traced op by op; a bare torch layer is one row
        return module is not self.model or type(module).__module__.startswith(("torch.", "torchvision."))

    def _enter(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        first = next(_tensors(args), None)
        shape = tuple(first.shape[1:]) if first is not None else None
        self._stack.append((self.names.get(module, ""), module, shape))
        if self._is_leaf(module):
            self._leaf_depth += 1

    def _leave(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        name, _, in_shape = self._stack.pop()
        if not self._is_leaf(module):
            return
        self._leaf_depth -= 1
        x = next(_tensors(args), None)
        y = next(_tensors(output), None)
        if y is None:
            return
        out_shape = tuple(y.shape[1:])
        in_field = self.field_of(x) if x is not None else None
        field = None
        if in_field is not None and isinstance(module, nn.Linear) and not in_field.is_global \
                and _contains(out_shape[:-1], in_field.spatial):
            field = in_field  # a per-position linear layer on channels-last maps (ConvNeXt)
            self.set_field(y, field)
        elif in_field is not None:
            field = module_field(module, in_field, out_shape[-len(in_field.spatial):] if in_field.spatial else ())
            field = field or self.field_of(y) or self._generic([in_field], y, x=x)
            self.set_field(y, field)
        trainable = frozen = 0
        for p in module.parameters(recurse=False):
            if id(p) in self._counted:  # a module called twice counts its weights once
                continue
            self._counted.add(id(p))
            if p.requires_grad:
                trainable += p.numel()
            else:
                frozen += p.numel()
        macs = costs.module_macs(module, in_shape or (), out_shape)
        self.rows.append(
            TraceRow(
                name=self._unique(name),
                kind=type(module).__name__,
                input_shape=in_shape,
                output_shape=out_shape,
                params_trainable=trainable,
                params_frozen=frozen,
                macs=macs,
                connections=costs.module_connections(module, macs, out_shape),
                field=field,
                input_field=in_field,
                module=module,
            )
        )

    def _unique(self, name: str) -> str:
        """Repeated calls of one module (or op) get '#2', '#3', ... appended."""
        count = self._calls.get(name, 0) + 1
        self._calls[name] = count
        return name if count == 1 else f"{name}#{count}"

    # -- every torch function --
    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        raw = getattr(func, "__name__", "")
        # F.max_pool2d reaches us as _max_pool2d; dunder methods keep their name
        name = raw if raw.startswith("__") else raw.lstrip("_")
        inputs = [(t, f) for t in _tensors((args, kwargs)) if (f := self.field_of(t)) is not None]
        outputs = list(_tensors(out))
        if inputs and outputs:
            for y in outputs:
                self.set_field(y, self._op_field(name, args, kwargs, inputs, y))
            if self._leaf_depth == 0:
                self._op_row(name, args, inputs, outputs[0])
        return out

    def _op_field(self, name: str, args: Any, kwargs: Any, inputs: list[Any], y: torch.Tensor) -> Field:
        x, field = inputs[0]
        if name in CONV_OPS and not field.is_global and y.dim() == x.dim():
            return functional_conv(field, tuple(y.shape[2:]), args, kwargs)
        if name in POOL_OPS and not field.is_global and y.dim() == x.dim():
            return functional_pool(name, field, tuple(y.shape[2:]), args, kwargs)
        if name == "pad" and not field.is_global and y.dim() == x.dim():
            widths = list(args[1] if len(args) > 1 else kwargs["pad"])
            rank = len(field.spatial)
            left = [widths[2 * (rank - 1 - i)] if 2 * (rank - 1 - i) < len(widths) else 0 for i in range(rank)]
            return receptive.pad(field, tuple(y.shape[-rank:]), left)
        if name in GLOBAL_OPS:
            return receptive.union([receptive.make_global(f) for _, f in inputs])
        return self._generic([f for _, f in inputs], y, reshape=name in RESHAPE_OPS, x=x)

    @staticmethod
    def _generic(
        fields: list[Field], y: torch.Tensor, *, reshape: bool = False,
        x: torch.Tensor | None = None,
    ) -> Field:
        """Elementwise-like ops keep the field; layout changes make it global."""
        if any(f.is_global for f in fields):
            return receptive.union(fields)
        shape = tuple(y.shape[1:])
        keep = [f for f in fields if _contains(shape, f.spatial)]
        if keep:
            return receptive.union(keep)
        rank = len(fields[0].spatial)
        same_rank = x is not None and y.dim() == x.dim()
        if reshape or not same_rank or rank == 0:
            return receptive.union([receptive.make_global(f) for f in fields])
        return receptive.resample(fields[0], tuple(y.shape[-rank:]))

    def _op_row(self, name: str, args: Any, inputs: list[Any], y: torch.Tensor) -> None:
        distinct = {id(t) for t, _ in inputs}
        if name in MERGE_OPS and len(distinct) >= 2:
            kind = MERGE_OPS[name]
        elif name in RESHAPE_OPS and y.dim() == 2 and inputs[0][0].dim() > 2:
            kind = "flatten"
        elif name in WINDOW_OPS or name in GLOBAL_OPS:
            kind = name
        else:
            return
        out_shape = tuple(y.shape[1:])
        macs = 0
        weight = args[1] if len(args) > 1 and isinstance(args[1], torch.Tensor) else None
        if weight is not None and name in CONV_OPS:
            macs = costs.conv_macs(tuple(weight.shape), out_shape)
        elif weight is not None and name == "linear":
            macs = costs.linear_macs(tuple(weight.shape), out_shape)
        owner = self._stack[-1][0] if self._stack else ""
        x, in_field = inputs[0]
        trainable = frozen = 0
        for p in _tensors(args):  # weights a forward passes to F.conv2d / F.linear itself
            if isinstance(p, nn.Parameter) and id(p) not in self._counted:
                self._counted.add(id(p))
                trainable += p.numel() if p.requires_grad else 0
                frozen += 0 if p.requires_grad else p.numel()
        self.rows.append(
            TraceRow(
                name=self._unique(f"{owner}.{kind}" if owner else kind),
                kind=kind,
                input_shape=tuple(x.shape[1:]),
                output_shape=out_shape,
                params_trainable=trainable,
                params_frozen=frozen,
                macs=macs,
                connections=macs,
                field=self.field_of(y),
                input_field=in_field,
                module=None,
            )
        )
