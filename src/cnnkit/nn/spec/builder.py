"""``from_spec``: architecture text -> a :class:`SpecModel` (a CnnModel).

    model = from_spec("INPUT(1x28x28) -> [CONV -> RELU -> POOL]*2 -> FC -> RELU -> FC")
    model(torch.randn(2, 1, 28, 28)).shape    # (2, 10)
    model.features                            # conv1, relu1, pool1, conv2, relu2, pool2
    model.head                                # flatten, fc1, relu3, fc2

The text is parsed (``parser.parse_spec``), every shape is inferred before anything
is allocated (``planner.plan``), then the modules are made (``modules.make_module``).
Everything a user can get wrong surfaces as one :class:`~cnnkit.errors.SpecError`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from torch import nn

from cnnkit.errors import SpecError
from cnnkit.nn.base import CnnModel
from cnnkit.nn.spec.modules import make_module
from cnnkit.nn.spec.nodes import Layer
from cnnkit.nn.spec.parser import parse_spec
from cnnkit.nn.spec.planner import DEFAULT_INPUT, Plan, final_fc, plan
from cnnkit.nn.spec.shapes import channels_last_hint

__all__ = ["SpecModel", "from_spec"]


class SpecModel(CnnModel):
    """A CnnModel built from spec text.

    Attributes:
        spec: the spec text it was built from.
        input_shape: one sample's shape without the batch, e.g. (3, 32, 32).
        output_shape: the inferred output shape without the batch, e.g. (10,).
        layer_shapes: module name -> inferred output shape (without the batch), in order.
        spec_notes: one line per optional layer or group that was skipped.
    """

    def __init__(self, features: nn.Module, head: nn.Module, *, spec: str, built: Plan) -> None:
        super().__init__(features, head)
        self.spec = spec
        self.input_shape: tuple[int, ...] = built.input_shape
        self.output_shape: tuple[int, ...] = built.output_shape
        self.layer_shapes: dict[str, tuple[int, ...]] = {s.name: s.out_shape for s in built.steps}
        self.spec_notes: list[str] = list(built.notes)

    def extra_repr(self) -> str:
        return f"input_shape={self.input_shape}, output_shape={self.output_shape}"


def _check_input_shape(value: object) -> tuple[int, ...]:
    ok = isinstance(value, Sequence) and not isinstance(value, str) and 2 <= len(value) <= 4
    ok = ok and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)  # type: ignore[union-attr]
    if not ok:
        raise SpecError(
            f"input_shape must be (C, L), (C, H, W) or (C, D, H, W) of whole numbers >= 1 "
            f"without the batch, e.g. (3, 32, 32); got {value!r}"
        )
    hint = channels_last_hint(value)  # type: ignore[arg-type]
    if hint:
        raise SpecError(f"input_shape={tuple(value)!r} looks channels last: {hint}")  # type: ignore[arg-type]
    return tuple(value)  # type: ignore[arg-type]


def _resolve_input(declared: tuple[int, ...] | None, given: object, text: str, line: int, column: int) -> tuple[int, ...]:
    """The spec's INPUT shape, else ``input_shape``, else 3x32x32; they must agree."""
    passed = None if given is None else _check_input_shape(given)
    if declared is not None and passed is not None and declared != passed:
        raise SpecError(
            f"the spec says INPUT({'x'.join(map(str, declared))}) but input_shape="
            f"{'x'.join(map(str, passed))} was passed; give the shape in one place "
            "(a bare INPUT takes input_shape)",
            text=text,
            line=line,
            column=column,
        )
    return declared or passed or DEFAULT_INPUT


def from_spec(
    text: str, *, input_shape: tuple[int, ...] | None = None, num_classes: int | None = None
) -> SpecModel:
    """Build the model a spec describes.

    Args:
        text: the spec, e.g. ``"INPUT(3x32x32) -> [CONV -> RELU -> POOL]*2 -> FC"``.
        input_shape: (C, L), (C, H, W) or (C, D, H, W) without the batch, for a bare
            ``INPUT`` (default 3x32x32). Must match an explicit ``INPUT(...)``.
        num_classes: units of the last FC (overrides what the spec says); an error when
            the spec has no FC.

    Returns:
        A :class:`SpecModel` mapping (N, *input_shape) to (N, *output_shape).

    Raises:
        SpecError: for any malformed spec or shape that does not work.
    """
    spec = parse_spec(text)
    first = spec.items[0]
    assert isinstance(first, Layer)  # parse_spec guarantees INPUT comes first
    if num_classes is not None:
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise SpecError(f"num_classes must be a whole number >= 1, got {num_classes!r}")
        if final_fc(spec.items) is None:
            raise SpecError(
                f"num_classes={num_classes} was given but the spec has no FC layer to set; "
                "add a final FC, e.g. '... -> FC'",
                text=text,
                line=first.line,
                column=first.column,
            )
    declared = first.options["shape"]
    shape = _resolve_input(declared, input_shape, text, first.line, first.column)
    built = plan(spec, input_shape=shape, num_classes=num_classes)

    features: OrderedDict[str, nn.Module] = OrderedDict()
    head: OrderedDict[str, nn.Module] = OrderedDict()
    part = features
    for step in built.steps:
        if step.kind == "FLATTEN":
            part = head  # the flatten and everything after it form the head
        try:
            part[step.name] = make_module(step)
        except NotImplementedError:
            layer = step.layer
            raise SpecError(
                f"{step.name} {layer.source if layer else 'POOL'}: stochastic pooling is not "
                "available in this version of cnnkit; use type=max or type=avg",
                text=text,
                line=layer.line if layer else None,
                column=layer.column if layer else None,
            ) from None
    return SpecModel(nn.Sequential(features), nn.Sequential(head), spec=text, built=built)
