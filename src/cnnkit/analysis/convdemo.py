"""One 2-D convolution worked by hand: every output cell as products, sums and a bias.

:func:`explain_conv` takes an input volume (C, H, W), filters (F, C, kh, kw) and biases
(F,), zero-pads the input, and records for each output cell (f, i, j) the window of the
padded input under filter f, the per-channel sums of window * weights, the bias and the
total. The output volume (F, H_out, W_out) is assembled from those sums alone (it never
calls torch's convolution), so comparing it with ``torch.nn.functional.conv2d`` is a
real check. :func:`cnnkit.analysis.convdemo_text.render_walkthrough` prints it all as
plain text for an 80-100 column terminal.

Without values, a small seeded example is made (by default the classic one: a 5x5x3
input with values 0..2, two 3x3x3 filters with weights -1..1, biases 1 and 0, padding 1,
stride 2), so the arithmetic is easy to follow by hand. Stride 2 and padding 1 belong to
that example; numbers of one's own get torch's ``Conv2d`` defaults, stride 1 and padding 0.

Output size per side: floor((n + 2p - d*(f - 1) - 1) / s) + 1, which is the familiar
floor((n + 2p - f) / s) + 1 when the dilation d is 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from cnnkit.errors import ShapeError

__all__ = [
    "EXAMPLE_PADDING",
    "EXAMPLE_STRIDE",
    "MAX_TERMS",
    "ConvCell",
    "ConvWalkthrough",
    "explain_conv",
]

EXAMPLE_STRIDE, EXAMPLE_PADDING = 2, 1  # the classic example's, for generated numbers only
MAX_TERMS = 20_000_000  # products kept in memory; a worked example never needs more


@dataclass(frozen=True)
class ConvCell:
    """One output cell worked out. ``window``, ``weight`` and ``products`` are (C, kh, kw)."""

    filter: int
    row: int
    col: int
    top: int  # padded-input row of the window's first tap
    left: int  # padded-input column of the window's first tap
    window: Tensor
    weight: Tensor
    products: Tensor
    channel_sums: Tensor  # (C,)
    bias: float
    total: float


@dataclass(frozen=True)
class ConvWalkthrough:
    """A convolution with every intermediate number. All tensors are float64.

    input (C, H, W); padded (C, H + 2p, W + 2p); weight (F, C, kh, kw); bias (F,);
    windows (H_out, W_out, C, kh, kw): the padded-input values each output position sees;
    channel_sums (F, H_out, W_out, C): sum of window * weight per channel;
    output (F, H_out, W_out) = channel_sums summed over C, plus the bias.
    """

    input: Tensor
    padded: Tensor
    weight: Tensor
    bias: Tensor
    stride: int
    padding: int
    dilation: int
    windows: Tensor
    channel_sums: Tensor
    output: Tensor

    def cell(self, f: int, i: int, j: int) -> ConvCell:
        """The worked numbers of output cell (f, i, j); raises ShapeError when out of range."""
        n_f, h_out, w_out = self.output.shape
        if not (0 <= f < n_f and 0 <= i < h_out and 0 <= j < w_out):
            raise ShapeError(
                f"output cell ({f}, {i}, {j}) does not exist; the output is {n_f}x{h_out}x{w_out}, "
                f"so pick f in 0..{n_f - 1}, i in 0..{h_out - 1}, j in 0..{w_out - 1}"
            )
        window = self.windows[i, j]
        weight = self.weight[f]
        return ConvCell(
            filter=f, row=i, col=j, top=i * self.stride, left=j * self.stride,
            window=window, weight=weight, products=window * weight,
            channel_sums=self.channel_sums[f, i, j], bias=float(self.bias[f]),
            total=float(self.output[f, i, j]),
        )

    def size_formulas(self) -> list[str]:
        """The output-size formula with this example's numbers, one line per side."""
        k_h, k_w = self.weight.shape[2:]
        lines = []
        for side, n, k, out in (
            ("rows", self.input.shape[1], k_h, self.output.shape[1]),
            ("cols", self.input.shape[2], k_w, self.output.shape[2]),
        ):
            p, s, d = self.padding, self.stride, self.dilation
            if d == 1:
                text = f"floor((n + 2p - f) / s) + 1 = floor(({n} + 2*{p} - {k}) / {s}) + 1 = {out}"
            else:
                text = (f"floor((n + 2p - d*(f-1) - 1) / s) + 1 = "
                        f"floor(({n} + 2*{p} - {d}*({k}-1) - 1) / {s}) + 1 = {out}")
            lines.append(f"{side}: {text}")
        if lines[0][6:] == lines[1][6:]:  # square: one line says it for both sides
            return ["each side: " + lines[0][6:]]
        return lines

    def to_dict(self, cells: Sequence[tuple[int, int, int]] | None = None) -> dict[str, Any]:
        """Plain numbers for JSON. ``cells`` picks the cells to include (default: all)."""
        n_f, h_out, w_out = self.output.shape
        if cells is None:
            cells = [(f, i, j) for f in range(n_f) for i in range(h_out) for j in range(w_out)]
        worked = []
        for f, i, j in cells:
            c = self.cell(f, i, j)
            worked.append({
                "filter": f, "row": i, "col": j, "window_top": c.top, "window_left": c.left,
                "window": _plain(c.window), "products": _plain(c.products),
                "channel_sums": _plain(c.channel_sums), "bias": _plain(c.bias), "total": _plain(c.total),
            })
        return {
            "stride": self.stride, "padding": self.padding, "dilation": self.dilation,
            "input": _plain(self.input), "padded": _plain(self.padded),
            "weight": _plain(self.weight), "bias": _plain(self.bias),
            "output_size": self.size_formulas(), "output": _plain(self.output),
            "cells_total": n_f * h_out * w_out, "cells": worked,
        }


def _plain(value: Tensor | float) -> Any:
    """Tensor or float -> nested lists of numbers, integer-valued numbers as ints."""
    data = value.tolist() if isinstance(value, Tensor) else value
    if isinstance(data, list):
        return [_plain(v) for v in data]
    return int(data) if float(data).is_integer() else data


def _as_tensor(value: Any, name: str, dims: int, shape_hint: str) -> Tensor:
    try:
        t = torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ShapeError(f"{name} is not a rectangular array of numbers ({err}); give shape {shape_hint}") from None
    if t.dim() != dims:
        raise ShapeError(f"{name} has shape {tuple(t.shape)}; it must be {dims}-D, {shape_hint}")
    if not torch.isfinite(t).all():
        raise ShapeError(f"{name} holds NaN or infinite values; use finite numbers")
    return t


def _agree(given: int | None, actual: int, what: str, source: str) -> None:
    if given is not None and given != actual:
        raise ShapeError(f"{what}={given} disagrees with the {source} ({actual}); drop {what} or change the values")


def explain_conv(
    input: Any = None,
    weight: Any = None,
    bias: Any = None,
    *,
    stride: int | None = None,
    padding: int | None = None,
    dilation: int = 1,
    seed: int = 0,
    input_size: int | None = None,
    channels: int | None = None,
    filters: int | None = None,
    kernel: int | None = None,
) -> ConvWalkthrough:
    """Work a convolution through by hand.

    input: (C, H, W) numbers, or None for a seeded example of integers 0..2 of size
    channels x input_size x input_size (defaults 3 x 5 x 5). weight: (F, C, kh, kw), or
    None for integers -1..1 of shape filters x C x kernel x kernel (defaults 2, 3). bias:
    (F,), or None for 1, 0, 1, 0, ... with generated filters and zeros with given ones.
    Sizes given next to explicit values must agree with them. stride and padding default
    to the example's 2 and 1 when both input and weight are generated, else to torch's
    Conv2d defaults 1 and 0. Raises ShapeError (a CnnkitError) for shapes that do not fit.
    """
    own = input is not None or weight is not None
    if stride is None:
        stride = 1 if own else EXAMPLE_STRIDE
    if padding is None:
        padding = 0 if own else EXAMPLE_PADDING
    for name, value, low in (("stride", stride, 1), ("padding", padding, 0), ("dilation", dilation, 1)):
        if not isinstance(value, int) or value < low:
            raise ShapeError(f"{name} must be an integer >= {low}; got {value!r}")
    for name, value in (("input_size", input_size), ("channels", channels), ("filters", filters), ("kernel", kernel)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ShapeError(f"{name} must be an integer >= 1; got {value!r}")
    gen = torch.Generator().manual_seed(seed)
    if input is None:
        c = channels or 3
        if weight is not None:
            c = _as_tensor(weight, "weight", 4, "(filters, channels, kernel_h, kernel_w)").shape[1]
            _agree(channels, c, "channels", "weight's channel count")
        n = input_size or 5
        x = torch.randint(0, 3, (c, n, n), generator=gen).double()
    else:
        x = _as_tensor(input, "input", 3, "(channels, height, width)")
        _agree(channels, x.shape[0], "channels", "input's channel count")
        if input_size is not None and not input_size == x.shape[1] == x.shape[2]:
            raise ShapeError(f"input_size={input_size} disagrees with the input's {x.shape[1]}x{x.shape[2]}; drop input_size")
    if weight is None:
        k = kernel or 3
        w = torch.randint(-1, 2, (filters or 2, x.shape[0], k, k), generator=gen).double()
    else:
        w = _as_tensor(weight, "weight", 4, "(filters, channels, kernel_h, kernel_w)")
        _agree(filters, w.shape[0], "filters", "weight's filter count")
        if kernel is not None and not kernel == w.shape[2] == w.shape[3]:
            raise ShapeError(f"kernel={kernel} disagrees with the weight's {w.shape[2]}x{w.shape[3]} filters; drop kernel")
    if w.shape[1] != x.shape[0]:
        raise ShapeError(
            f"the filters have {w.shape[1]} channels but the input has {x.shape[0]}; "
            "each filter needs one kernel slice per input channel"
        )
    n_f = w.shape[0]
    if bias is None:
        b = torch.tensor([(f + 1) % 2 if weight is None else 0 for f in range(n_f)], dtype=torch.float64)
    else:
        b = _as_tensor(bias, "bias", 1, "(filters,)")
        if b.shape[0] != n_f:
            raise ShapeError(f"bias has {b.shape[0]} values but there are {n_f} filters; give one bias per filter")
    return _work(x, w, b, stride=stride, padding=padding, dilation=dilation)


def _work(x: Tensor, w: Tensor, b: Tensor, *, stride: int, padding: int, dilation: int) -> ConvWalkthrough:
    c, h, w_in = x.shape
    n_f, _, k_h, k_w = w.shape
    span_h, span_w = dilation * (k_h - 1) + 1, dilation * (k_w - 1) + 1  # taps' extent
    padded = torch.nn.functional.pad(x, [padding] * 4)  # (C, H + 2p, W + 2p), zeros around
    if span_h > padded.shape[1] or span_w > padded.shape[2]:
        spanning = f" (spanning {span_h}x{span_w} with dilation {dilation})" if dilation > 1 else ""
        raise ShapeError(
            f"the {k_h}x{k_w} filter{spanning} is larger than "
            f"the padded {padded.shape[1]}x{padded.shape[2]} input; use a smaller kernel or more padding"
        )
    h_out = (h + 2 * padding - span_h) // stride + 1
    w_out = (w_in + 2 * padding - span_w) // stride + 1
    if n_f * h_out * w_out * c * k_h * k_w > MAX_TERMS:
        raise ShapeError(
            f"{n_f * h_out * w_out} output cells of {c * k_h * k_w} products each is too big to work by "
            "hand; use a smaller input, fewer filters or a larger stride"
        )
    # Slide a span-sized window with the stride, then keep every d-th tap (dilation).
    windows = padded.unfold(1, span_h, stride).unfold(2, span_w, stride)  # (C, H_out, W_out, span_h, span_w)
    windows = windows[..., ::dilation, ::dilation].permute(1, 2, 0, 3, 4).contiguous()  # (H_out, W_out, C, kh, kw)
    channel_sums = torch.einsum("ijcab,fcab->fijc", windows, w)  # (F, H_out, W_out, C)
    output = channel_sums.sum(dim=-1) + b[:, None, None]  # (F, H_out, W_out)
    return ConvWalkthrough(
        input=x, padded=padded, weight=w, bias=b, stride=stride, padding=padding, dilation=dilation,
        windows=windows, channel_sums=channel_sums, output=output,
    )


# --- plain-text rendering ---------------------------------------------------------------
