"""Shape inference: walk a parsed spec and decide every layer before building any.

``plan(spec, ...)`` writes the repeats out, tracks the tensor shape of one sample
through every layer, skips optional layers that do not fit, names layers (conv1,
relu1, pool1, ...) and returns a :class:`Plan`: a list of :class:`Step` recipes that
``modules.make_module`` turns into torch modules. Nothing is allocated here, so a
spec whose shapes fail, or whose model would be absurdly large, costs nothing.

Shapes exclude the batch: (C, L), (C, H, W) or (C, D, H, W) for feature maps and
(F,) once flat.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from cnnkit.errors import SpecError
from cnnkit.nn.spec import spatial
from cnnkit.nn.spec.nodes import Item, Layer, Repeat, Spec
from cnnkit.nn.spec.shapes import BadArgs, NoFit, dims

__all__ = [
    "DEFAULT_CLASSES",
    "DEFAULT_HIDDEN",
    "DEFAULT_INPUT",
    "MAX_PARAMETERS",
    "MAX_VALUES",
    "Plan",
    "Step",
    "final_fc",
    "plan",
]

DEFAULT_INPUT = (3, 32, 32)  # CS231n's CIFAR-sized volume, for a bare INPUT
DEFAULT_CLASSES = 10  # units of a bare final FC when num_classes is not given
DEFAULT_HIDDEN = 128  # units of any other bare FC
MAX_PARAMETERS = 2**31  # ~8 GiB of float32 weights: beyond this a spec is surely a typo
MAX_VALUES = 2**31  # values in one sample's feature map (~8 GiB of float32): same reasoning

_ACTIVATIONS = {"RELU", "LEAKYRELU", "ELU", "SELU", "GELU", "SILU", "SIGMOID", "TANH", "SOFTMAX", "DROPOUT"}


@dataclass
class Step:
    """One module to build: its name, the node it comes from, shapes and arguments.

    ``kind`` is the layer kind ('CONV', ..., or 'FLATTEN' for the implied flatten,
    whose ``layer`` is None); ``args`` are exactly what ``make_module`` needs.
    """

    name: str
    kind: str
    layer: Layer | None
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    args: dict[str, Any]
    params: int


@dataclass
class Plan:
    input_shape: tuple[int, ...]
    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.steps[-1].out_shape if self.steps else self.input_shape


@dataclass
class _State:
    shape: tuple[int, ...]
    flat: bool
    steps: list[Step]
    notes: list[str]
    counts: dict[str, int]
    params: int

    def copy(self) -> _State:
        return _State(self.shape, self.flat, list(self.steps), list(self.notes), dict(self.counts), self.params)


class _Failed(Exception):
    """A non-optional layer did not fit; unwinds to the nearest optional group."""

    def __init__(self, layer: Layer, name: str, reason: str, hard: bool) -> None:
        super().__init__(reason)
        self.layer, self.name, self.reason, self.hard = layer, name, reason, hard


def _after(state: _State) -> str:
    """' (after conv8)': which repetition a note is about."""
    return f" (after {state.steps[-1].name})" if state.steps else ""


def final_fc(items: list[Item]) -> Layer | None:
    """The textually last FC that is not inside a repeat of zero (the last one built)."""
    last: Layer | None = None
    for item in items:
        if isinstance(item, Layer):
            if item.kind == "FC":
                last = item
        elif item.count > 0:
            last = final_fc(item.body) or last
    return last


class _Planner:
    def __init__(self, spec: Spec, input_shape: tuple[int, ...], num_classes: int | None) -> None:
        self.spec = spec
        self.rank = len(input_shape) - 1
        self.num_classes = num_classes
        self.final_fc = final_fc(spec.items)

    # -- walking -----------------------------------------------------------------------

    def items(self, items: list[Item], state: _State, last_round: bool) -> None:
        for item in items:
            if isinstance(item, Repeat):
                self.repeat(item, state, last_round)
            elif item.optional:
                self.optional(item, state, last_round)
            else:
                self.layer(item, state, last_round)

    def repeat(self, rep: Repeat, state: _State, last_round: bool) -> None:
        trial = state.copy() if rep.optional else state
        try:
            for i in range(rep.count):
                self.items(rep.body, trial, last_round and i == rep.count - 1)
        except _Failed as failed:
            if not rep.optional or failed.hard:
                raise
            state.notes.append(
                f"skipped {rep.source}? at line {rep.line}, column {rep.column}{_after(state)}: "
                f"{failed.name} {failed.layer.source}: {failed.reason}"
            )
            return
        if rep.optional:
            state.__dict__.update(trial.__dict__)

    def optional(self, layer: Layer, state: _State, last_round: bool) -> None:
        trial = state.copy()  # an implied FLATTEN must not stay behind when the FC is skipped
        try:
            self.layer(layer, trial, last_round)
        except _Failed as failed:
            if failed.hard:
                raise
            state.notes.append(
                f"skipped {layer.source}? at line {layer.line}, column {layer.column}{_after(state)}: {failed.reason}"
            )
            return
        state.__dict__.update(trial.__dict__)

    def layer(self, layer: Layer, state: _State, last_round: bool) -> None:
        prefix = layer.kind.lower()
        name = "flatten" if layer.kind == "FLATTEN" else f"{prefix}{state.counts.get(prefix, 0) + 1}"
        try:
            if layer.kind == "FC" and not state.flat:
                self.add(state, self.flatten_step(state, None))
            kind, out_shape, args, params = self.infer(layer, state, last_round)
        except NoFit as bad:
            raise _Failed(layer, name, str(bad), hard=False) from None
        except BadArgs as bad:
            raise _Failed(layer, name, str(bad), hard=True) from None
        if kind != "FLATTEN":
            state.counts[prefix] = state.counts.get(prefix, 0) + 1
        self.add(state, Step(name, kind, layer, state.shape, out_shape, args, params))
        if math.prod(out_shape) > MAX_VALUES:
            raise _Failed(
                layer,
                name,
                f"its output {dims(out_shape)} would hold {math.prod(out_shape):,} values per sample, "
                f"more than {MAX_VALUES:,}; use a smaller input, fewer filters or fewer upsampling layers",
                hard=True,
            )
        if state.params > MAX_PARAMETERS:
            raise _Failed(
                layer,
                name,
                f"the model would have {state.params:,} parameters, more than {MAX_PARAMETERS:,}; "
                "use fewer filters or units, or pool (e.g. GAP) before the first FC",
                hard=True,
            )

    def add(self, state: _State, step: Step) -> None:
        state.steps.append(step)
        state.shape = step.out_shape
        state.params += step.params
        if step.kind == "FLATTEN":
            state.flat = True

    def flatten_step(self, state: _State, layer: Layer | None) -> Step:
        features = math.prod(state.shape)
        return Step("flatten", "FLATTEN", layer, state.shape, (features,), {}, 0)

    # -- one layer ---------------------------------------------------------------------

    def infer(
        self, layer: Layer, state: _State, last_round: bool
    ) -> tuple[str, tuple[int, ...], dict[str, Any], int]:
        """(kind, output shape, module arguments, parameter count) of one layer."""
        o, kind, shape = layer.options, layer.kind, state.shape
        if kind in ("CONV", "DECONV", "POOL") and state.flat:
            raise BadArgs(
                f"needs a feature map but the input here is already flat ({shape[0]} features); "
                "move it before the first FC or FLATTEN"
            )
        if kind == "CONV":
            return spatial.conv(o, shape, self.rank)
        if kind == "DECONV":
            return spatial.deconv(o, shape, self.rank)
        if kind == "POOL":
            return spatial.pool(o, shape, self.rank)
        if kind == "FLATTEN":
            if state.flat:
                raise BadArgs(f"the input here is already flat ({shape[0]} features); remove this FLATTEN")
            step = self.flatten_step(state, layer)
            return "FLATTEN", step.out_shape, {}, 0
        if kind == "FC":
            units = o["units"]
            if layer is self.final_fc and last_round:
                units = self.num_classes or units or DEFAULT_CLASSES
            units = units or DEFAULT_HIDDEN
            params = shape[0] * units + (units if o["bias"] else 0)
            return "FC", (units,), {"in": shape[0], "out": units, "bias": o["bias"]}, params
        if kind == "BN":
            dim = 1 if state.flat else self.rank
            return "BN", shape, {"dim": dim, "channels": shape[0]}, 2 * shape[0]
        if kind in _ACTIVATIONS:
            return kind, shape, dict(o), 0
        raise AssertionError(f"unhandled layer kind {kind}")  # schema and planner disagree


def _fail_message(failed: _Failed) -> str:
    hint = ""
    if not failed.hard and failed.layer.kind == "POOL" and "window" in failed.reason:
        hint = f" (mark it {failed.layer.source}? to skip it where it does not fit)"
    elif not failed.hard and failed.layer.kind == "CONV" and "kernel" in failed.reason:
        hint = "; use a smaller kernel, add padding (p=same) or pool less before it"
    return f"{failed.name} {failed.layer.source}: {failed.reason}{hint}"


def plan(spec: Spec, *, input_shape: tuple[int, ...], num_classes: int | None) -> Plan:
    """Infer every layer's shape and arguments. Raises :class:`SpecError` naming the
    layer, its place in the text and the sizes when a non-optional layer does not fit."""
    planner = _Planner(spec, input_shape, num_classes)
    state = _State(tuple(input_shape), False, [], [], {}, 0)
    try:
        planner.items(spec.items[1:], state, last_round=True)
    except _Failed as failed:
        raise SpecError(
            _fail_message(failed), text=spec.text, line=failed.layer.line, column=failed.layer.column
        ) from None
    return Plan(tuple(input_shape), state.steps, state.notes)
