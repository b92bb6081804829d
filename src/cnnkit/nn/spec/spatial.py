"""Shape inference for the spatial layers: CONV, DECONV and POOL.

Each function takes a layer's parsed options, the input shape of one sample
(C, *spatial) and the spatial rank, and returns ``(kind, output shape, module
arguments, parameter count)``. A size that does not fit raises ``NoFit`` (an optional
layer is then skipped); arguments that can never work raise ``BadArgs``.
"""

from __future__ import annotations

import math
from typing import Any

from cnnkit.nn.spec.shapes import (
    BadArgs,
    NoFit,
    conv_out,
    deconv_out,
    dims,
    per_dim,
    pool_out,
    same_padding,
    size_text,
)

__all__ = ["Inferred", "conv", "deconv", "pool"]

Inferred = tuple[str, tuple[int, ...], dict[str, Any], int]


def _groups(o: dict[str, Any], channels: int) -> int:
    groups = o["groups"]
    if channels % groups or o["filters"] % groups:
        raise NoFit(
            f"groups={groups} must divide both the input channels {channels} "
            f"and the filters {o['filters']}"
        )
    return groups


def conv(o: dict[str, Any], shape: tuple[int, ...], rank: int) -> Inferred:
    """CONV on a (C, *spatial) input; ``o`` are the parsed options."""
    c, spatial = shape[0], shape[1:]
    k = per_dim(o["kernel"], rank, "kernel")
    s = per_dim(o["stride"], rank, "stride")
    d = per_dim(o["dilation"], rank, "dilation")
    groups = _groups(o, c)
    padding: tuple[int, ...] | str
    if o["padding"] == "same":
        if max(s) > 1:
            suggestion = "x".join(str(di * (ki - 1) // 2) for ki, di in zip(k, d))
            if len(set(suggestion.split("x"))) == 1:
                suggestion = suggestion.split("x")[0]
            raise BadArgs(
                f"p=same works only with stride 1 (torch keeps the size only then), found stride "
                f"{dims(s)}; give the padding as a number, e.g. p={suggestion}"
            )
        sides = same_padding(k, d)
        out = tuple(spatial)
        padding = "same"
    else:
        p = (0,) * rank if o["padding"] == "valid" else per_dim(o["padding"], rank, "padding")
        sides = [(pi, pi) for pi in p]
        out = conv_out(spatial, k, s, p, d)
        padding = p
    _check_mode(o["padding_mode"], sides, spatial)
    params = o["filters"] * (c // groups) * math.prod(k) + (o["filters"] if o["bias"] else 0)
    args = {"dim": rank, "in": c, "out": o["filters"], "kernel": k, "stride": s, "padding": padding,
            "dilation": d, "groups": groups, "padding_mode": o["padding_mode"], "bias": o["bias"]}  # fmt: skip
    return "CONV", (o["filters"], *out), args, params


def _check_mode(mode: str, sides: list[tuple[int, int]], spatial: tuple[int, ...]) -> None:
    """torch's reflect padding needs pad < size; circular needs pad <= size."""
    widest = max((max(pair) for pair in sides), default=0)
    if mode == "reflect" and any(max(pair) >= n for pair, n in zip(sides, spatial)):
        raise NoFit(f"reflect padding {widest} needs an input larger than {widest}, found {dims(spatial)}")
    if mode == "circular" and any(max(pair) > n for pair, n in zip(sides, spatial)):
        raise NoFit(f"circular padding {widest} needs an input of at least {widest}, found {dims(spatial)}")


def deconv(o: dict[str, Any], shape: tuple[int, ...], rank: int) -> Inferred:
    """DECONV (transposed convolution) on a (C, *spatial) input."""
    c, spatial = shape[0], shape[1:]
    k = per_dim(o["kernel"], rank, "kernel")
    s = per_dim(o["stride"], rank, "stride")
    p = per_dim(o["padding"], rank, "padding")
    op = per_dim(o["output_padding"], rank, "output padding")
    d = per_dim(o["dilation"], rank, "dilation")
    groups = _groups(o, c)
    out = deconv_out(spatial, k, s, p, op, d)
    params = c * (o["filters"] // groups) * math.prod(k) + (o["filters"] if o["bias"] else 0)
    args = {"dim": rank, "in": c, "out": o["filters"], "kernel": k, "stride": s, "padding": p,
            "output_padding": op, "dilation": d, "groups": groups, "bias": o["bias"]}  # fmt: skip
    return "DECONV", (o["filters"], *out), args, params


def pool(o: dict[str, Any], shape: tuple[int, ...], rank: int) -> Inferred:
    """POOL of any type, windowed or global, on a (C, *spatial) input."""
    c, spatial = shape[0], shape[1:]
    kind = o["type"]
    if o["kernel"] == "global":
        if o["stride"] is not None or o["padding"] != 0:
            raise BadArgs("global pooling takes no stride or padding; write POOL(global) or GAP")
        if kind == "stochastic":
            raise BadArgs("global pooling is avg or max; write GAP or GMP")
        ones = (1,) * rank
        return "POOL", (c, *ones), {"dim": rank, "type": kind, "global": True}, 0
    k = per_dim(o["kernel"], rank, "kernel")
    s = k if o["stride"] is None else per_dim(o["stride"], rank, "stride")
    p = per_dim(o["padding"], rank, "padding")
    out = pool_out(spatial, k, s, p)
    if kind == "avg" and rank == 3 and any(ki > n for ki, n in zip(k, spatial)):
        # torch's avg_pool3d (unlike 1-D, 2-D and max) checks the window against the unpadded input
        raise NoFit(f"window {size_text(k)} larger than input {dims(spatial)} (3-D average pooling ignores padding here)")
    args = {"dim": rank, "type": kind, "global": False, "kernel": k, "stride": s, "padding": p}
    return "POOL", (c, *out), args, 0
