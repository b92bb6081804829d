"""Which layers the grammar knows, which arguments each takes, and their defaults.

This table is the single source of truth for argument names, aliases, value checks
and defaults; the parser uses it to turn ``CONV(64, k=5)`` into
``{'filters': 64, 'kernel': 5, 'stride': 1, ...}`` and docs/grammar.md describes it.
Sizes (kernel, stride, padding, dilation) are an int or a tuple written like ``3x5``
(one size per spatial dimension; the builder checks the count against the input).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cnnkit.errors import SpecError, did_you_mean
from cnnkit.nn.spec.nodes import Arg, Value
from cnnkit.nn.spec.shapes import channels_last_hint

__all__ = [
    "LAYERS",
    "BadValue",
    "Check",
    "LayerKind",
    "Param",
    "boolean",
    "choice",
    "input_shape",
    "lookup",
    "number",
    "resolve_args",
    "sizes",
    "whole",
]


class BadValue(Exception):
    """A value that does not fit its parameter: what was expected, and maybe a suggestion."""

    def __init__(self, wanted: str, hint: str = "") -> None:
        super().__init__(wanted)
        self.wanted, self.hint = wanted, hint


Check = Callable[[Value], Any]


@dataclass(frozen=True)
class Param:
    """One argument: canonical name, short aliases, value check, default."""

    name: str
    check: Check
    default: Any
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class LayerKind:
    """A layer keyword. ``fixed`` options are implied by the keyword (MAXPOOL: type=max);
    ``bare`` options replace defaults when the layer is written without arguments."""

    kind: str  # canonical kind the builder dispatches on, e.g. 'POOL'
    params: tuple[Param, ...] = ()
    fixed: dict[str, Any] = field(default_factory=dict)
    bare: dict[str, Any] = field(default_factory=dict)
    finish: Callable[[dict[str, Any]], None] | None = None  # fills defaults that depend on others


# ---- value checks ---------------------------------------------------------------


def whole(minimum: int) -> Check:
    def check(v: Value) -> int:
        if v.kind == "int" and isinstance(v.value, int) and v.value >= minimum:
            return v.value
        raise BadValue(f"a whole number >= {minimum}")

    return check


def sizes(minimum: int, words: tuple[str, ...] = ()) -> Check:
    """An int, a per-dimension tuple like 3x5, or one of ``words`` (lower-cased)."""
    wanted = f"a whole number >= {minimum} or sizes like 3x5" + "".join(
        f", {w!r}" for w in words
    )

    def check(v: Value) -> int | tuple[int, ...] | str:
        if v.kind == "int" and isinstance(v.value, int) and v.value >= minimum:
            return v.value
        if v.kind == "shape" and isinstance(v.value, tuple) and min(v.value) >= minimum:
            return v.value
        if v.kind in ("word", "string") and str(v.value).lower() in words:
            return str(v.value).lower()
        hint = did_you_mean(str(v.value), words) if v.kind in ("word", "string") else ""
        raise BadValue(wanted, hint)

    return check


def number(low: float | None = None, high: float | None = None) -> Check:
    """A real number in [low, high) (either bound may be open-ended)."""
    if low is not None and high is not None:
        wanted = f"a number from {low} up to (not including) {high}"
    else:
        wanted = "a number" if low is None else f"a number >= {low}"

    def check(v: Value) -> float:
        if v.kind in ("int", "float"):
            x = float(v.value)  # type: ignore[arg-type]
            if (low is None or x >= low) and (high is None or x < high) and x == x:
                return x
        raise BadValue(wanted)

    return check


def choice(mapping: dict[str, str]) -> Check:
    """A word (or quoted string) among ``mapping``'s keys; returns the mapped value."""
    names = list(dict.fromkeys(mapping.values()))
    wanted = "one of " + ", ".join(names)

    def check(v: Value) -> str:
        word = str(v.value).lower()
        if v.kind in ("word", "string") and word in mapping:
            return mapping[word]
        hint = did_you_mean(word, mapping) if v.kind in ("word", "string") else ""
        raise BadValue(wanted, hint)

    return check


_BOOLS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}


def boolean(v: Value) -> bool:
    if v.kind in ("word", "string") and str(v.value).lower() in _BOOLS:
        return _BOOLS[str(v.value).lower()]
    if v.kind == "int" and v.value in (0, 1):
        return bool(v.value)
    raise BadValue("true or false")


def input_shape(v: Value) -> tuple[int, ...]:
    if v.kind == "shape" and isinstance(v.value, tuple) and 2 <= len(v.value) <= 4 and min(v.value) >= 1:
        hint = channels_last_hint(v.value)
        if hint:
            raise BadValue("channels first", f": {hint}")
        return v.value
    raise BadValue("CxL, CxHxW or CxDxHxW (whole numbers >= 1 joined by 'x'), e.g. 3x32x32")


# ---- the table ------------------------------------------------------------------

_MODES = {"zero": "zeros", "zeros": "zeros", "replicate": "replicate", "reflect": "reflect",
          "circular": "circular"}  # fmt: skip
_POOL_TYPES = {"max": "max", "avg": "avg", "average": "avg", "mean": "avg",
               "stochastic": "stochastic", "stoch": "stochastic"}  # fmt: skip

_FILTERS = Param("filters", whole(1), 32)
_KERNEL = Param("kernel", sizes(1), 3, ("k",))
_STRIDE = Param("stride", sizes(1), 1, ("s",))
_DILATION = Param("dilation", sizes(1), 1, ("d",))
_GROUPS = Param("groups", whole(1), 1)
_BIAS = Param("bias", boolean, True)
_POOL_PARAMS = (
    Param("kernel", sizes(1, ("global",)), 2, ("k",)),
    Param("stride", sizes(1), None, ("s",)),  # None: same as the kernel
    Param("padding", sizes(0), 0, ("p",)),
)

def _pool_type(options: dict[str, Any]) -> None:
    """POOL(global) averages (the lecture's GAP); a window pool takes the maximum."""
    if options["type"] is None:
        options["type"] = "avg" if options["kernel"] == "global" else "max"


LAYERS: dict[str, LayerKind] = {
    "INPUT": LayerKind("INPUT", (Param("shape", input_shape, None),)),
    "CONV": LayerKind(
        "CONV",
        (
            _FILTERS,
            _KERNEL,
            _STRIDE,
            Param("padding", sizes(0, ("same", "valid")), 0, ("p",)),
            _DILATION,
            _GROUPS,
            Param("padding_mode", choice(_MODES), "zeros", ("mode",)),
            _BIAS,
        ),
        bare={"padding": "same"},
    ),
    "DECONV": LayerKind(
        "DECONV",
        (
            _FILTERS,
            Param("kernel", sizes(1), 2, ("k",)),
            Param("stride", sizes(1), 2, ("s",)),
            Param("padding", sizes(0), 0, ("p",)),
            Param("output_padding", sizes(0), 0, ("op",)),
            _DILATION,
            _GROUPS,
            _BIAS,
        ),
    ),
    "POOL": LayerKind("POOL", (*_POOL_PARAMS, Param("type", choice(_POOL_TYPES), None)), finish=_pool_type),
    "MAXPOOL": LayerKind("POOL", _POOL_PARAMS, fixed={"type": "max"}),
    "AVGPOOL": LayerKind("POOL", _POOL_PARAMS, fixed={"type": "avg"}),
    "STOCHPOOL": LayerKind("POOL", _POOL_PARAMS, fixed={"type": "stochastic"}),
    "GAP": LayerKind("POOL", fixed={"kernel": "global", "stride": None, "padding": 0, "type": "avg"}),
    "GMP": LayerKind("POOL", fixed={"kernel": "global", "stride": None, "padding": 0, "type": "max"}),
    "BN": LayerKind("BN"),
    "RELU": LayerKind("RELU"),
    "LEAKYRELU": LayerKind("LEAKYRELU", (Param("slope", number(), 0.01, ("negative_slope",)),)),
    "ELU": LayerKind("ELU", (Param("alpha", number(0.0), 1.0),)),
    "SELU": LayerKind("SELU"),
    "GELU": LayerKind("GELU"),
    "SILU": LayerKind("SILU"),
    "SIGMOID": LayerKind("SIGMOID"),
    "TANH": LayerKind("TANH"),
    "DROPOUT": LayerKind("DROPOUT", (Param("p", number(0.0, 1.0), 0.5),)),
    "FLATTEN": LayerKind("FLATTEN"),
    "FC": LayerKind("FC", (Param("units", whole(1), None), _BIAS)),  # None: decided by position
    "SOFTMAX": LayerKind("SOFTMAX"),
}


def _param_names(kind: LayerKind) -> list[str]:
    return [n for p in kind.params for n in (*p.aliases, p.name)]


def _error(message: str, text: str, line: int, column: int) -> SpecError:
    return SpecError(message, text=text, line=line, column=column)


def lookup(name: str, *, text: str, line: int, column: int) -> LayerKind:
    """The layer kind for a keyword (any case); unknown names get a suggestion."""
    kind = LAYERS.get(name.upper())
    if kind is None:
        hint = did_you_mean(name.upper(), LAYERS)
        if not hint:
            hint = "; the layers are " + ", ".join(LAYERS)
        raise _error(f"unknown layer {name!r}{hint}", text, line, column)
    return kind


def resolve_args(
    name: str, kind: LayerKind, args: list[Arg], *, text: str
) -> dict[str, Any]:
    """Check ``args`` against ``kind`` and return every option with defaults filled in."""
    upper = name.upper()
    given: dict[str, Any] = {}
    seen_keyword = False
    by_name = {n: p for p in kind.params for n in (p.name, *p.aliases)}
    for index, arg in enumerate(args):
        if arg.key is None:
            if not kind.params:
                raise _error(f"{upper} takes no arguments; write {upper} alone", text, arg.line, arg.column)
            if seen_keyword or index > 0:
                raise _error(_positional_message(upper, kind, arg, seen_keyword), text, arg.line, arg.column)
            param = kind.params[0]
        else:
            seen_keyword = True
            found = by_name.get(arg.key)
            if found is None:
                if not kind.params:
                    raise _error(f"{upper} takes no arguments; write {upper} alone", text, arg.line, arg.column)
                hint = did_you_mean(arg.key, _param_names(kind)) or (
                    "; it takes " + ", ".join(_describe(p) for p in kind.params)
                )
                raise _error(f"{upper} does not take argument {arg.key!r}{hint}", text, arg.line, arg.column)
            param = found
        if param.name in given:
            raise _error(f"{upper} got {_describe(param)} twice; give it once", text, arg.line, arg.column)
        try:
            given[param.name] = param.check(arg.value)
        except BadValue as bad:
            label = arg.key if arg.key is not None else param.name
            long = f" ({param.name})" if label != param.name else ""
            v = arg.value
            raise _error(
                f"{upper} {label}{long} must be {bad.wanted}, found {v.text!r}{bad.hint}", text, v.line, v.column
            ) from None
    options = {p.name: p.default for p in kind.params}
    if not args:
        options.update(kind.bare)
    options.update(given)
    options.update(kind.fixed)
    if kind.finish is not None:
        kind.finish(options)
    return options


def _positional_message(upper: str, kind: LayerKind, arg: Arg, after_keyword: bool) -> str:
    first = kind.params[0]
    if len(kind.params) == 1:
        return f"{upper} takes one argument ({first.name}), found a second one {arg.value.text!r}; remove it"
    example = (kind.params[1].aliases or (kind.params[1].name,))[0]
    if after_keyword:
        return (
            f"{upper} got the positional value {arg.value.text!r} after a keyword argument; "
            f"put {first.name} first and name the others, e.g. {example}=..."
        )
    return (
        f"{upper} takes one positional argument ({first.name}), found a second one "
        f"{arg.value.text!r}; name it, e.g. {example}=..."
    )


def _describe(param: Param) -> str:
    return "/".join((*param.aliases, param.name))
