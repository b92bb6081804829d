"""Stochastic pooling (Zeiler and Fergus, 2013) for 1-D, 2-D and 3-D inputs.

Each pooling region R holds activations a_1..a_n. The probability of a cell is its
share of the region's total, p_i = a_i / sum_k a_k.

* Training: the region outputs ONE of its activations, drawn with probability p_i.
  The gradient flows to the drawn cell only (as max pooling sends it to the maximum).
* Evaluation: the region outputs the probability-weighted average
  sum_i p_i * a_i = sum_i a_i^2 / sum_i a_i, and the gradient flows through that formula.

Inputs are meant to be non-negative (they usually come straight from a ReLU). Negative
values are clamped to 0 before anything else, so they can never be drawn and add
nothing to the average. A region whose clamped values are all 0 outputs 0 (never NaN)
and its gradient is 0 rather than NaN. Zero padding adds cells of probability 0, so
padding never changes which values can be drawn.

Sampling is reproducible when a ``torch.Generator`` is given, either to the
constructor (``generator=``, kept as the ``generator`` attribute and used on every
call) or to a single call (``pool(x, generator=g)``, which wins over the attribute).
The generator must live on the same device as the input, as ``torch.multinomial``
requires. Without one, sampling uses torch's global generator.

Shapes (the batch dimension N is optional, as in torch's pooling layers):

* StochasticPool1d: (N, C, L)       -> (N, C, L_out)
* StochasticPool2d: (N, C, H, W)    -> (N, C, H_out, W_out)
* StochasticPool3d: (N, C, D, H, W) -> (N, C, D_out, H_out, W_out)

with out = floor((n + 2 * padding - kernel) / stride) + 1 per spatial side, the same
sizes as torch's max pooling with the same kernel, stride and padding.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnkit.errors import ModelError, ShapeError

__all__ = ["IntOrTuple", "StochasticPool1d", "StochasticPool2d", "StochasticPool3d"]

IntOrTuple = int | Sequence[int]


def _expand(value: IntOrTuple, dims: int, name: str, *, minimum: int) -> tuple[int, ...]:
    """Turn an int or a per-dimension sequence into a tuple of ``dims`` checked ints."""
    values = (value,) * dims if isinstance(value, int) else tuple(value)
    if len(values) != dims or not all(isinstance(v, int) and v >= minimum for v in values):
        raise ModelError(
            f"stochastic pooling {name}={value!r} is invalid; give one integer >= {minimum} "
            f"or {dims} of them (one per spatial dimension)"
        )
    return values


class _StochasticPoolNd(nn.Module):
    """Shared implementation; subclasses only fix the number of spatial dimensions."""

    dims: int = 2

    def __init__(
        self,
        kernel_size: IntOrTuple,
        stride: IntOrTuple | None = None,
        padding: IntOrTuple = 0,
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.kernel_size = _expand(kernel_size, self.dims, "kernel_size", minimum=1)
        # As in torch's pooling layers, the stride defaults to the kernel size.
        self.stride = self.kernel_size if stride is None else _expand(stride, self.dims, "stride", minimum=1)
        self.padding = _expand(padding, self.dims, "padding", minimum=0)
        self.generator = generator

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"

    def _regions(self, x: Tensor) -> Tensor:
        """(N, C, *S) -> (N, C, *S_out, R): every pooling region laid out along the last dim.

        Zero padding first, then Tensor.unfold once per spatial dimension (a strided view,
        no copy and no Python loop over regions); the kernel axes unfold lands at the end.
        """
        pads: list[int] = []
        for p in reversed(self.padding):  # F.pad lists the last dimension first
            pads += [p, p]
        x = F.pad(x, pads)
        for d, (k, s) in enumerate(zip(self.kernel_size, self.stride)):
            x = x.unfold(2 + d, k, s)  # (..., S_out_d, ..., k_d) with k_d appended at the end
        return x.flatten(start_dim=2 + self.dims)  # (N, C, *S_out, k_1 * ... * k_dims)

    def _check(self, x: Tensor) -> None:
        name = type(self).__name__
        if x.dim() not in (self.dims + 1, self.dims + 2):
            raise ShapeError(
                f"{name} takes a {self.dims + 2}-D input (N, C, spatial x {self.dims}) or a "
                f"{self.dims + 1}-D one without the batch; got shape {tuple(x.shape)}"
            )
        if not x.is_floating_point():
            raise ShapeError(f"{name} needs a floating-point input; got {x.dtype} (convert with x.float())")
        spatial = x.shape[-self.dims :]
        for n, k, p in zip(spatial, self.kernel_size, self.padding):
            if n + 2 * p < k:
                raise ShapeError(
                    f"{name}: kernel {self.kernel_size} is larger than the padded input "
                    f"{tuple(spatial)} (padding {self.padding}); use a smaller kernel or a larger input"
                )

    def forward(self, x: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """Pool ``x``; see the module docstring for shapes and the two modes."""
        self._check(x)
        unbatched = x.dim() == self.dims + 1
        if unbatched:
            x = x.unsqueeze(0)
        # Negative activations get probability 0 and contribute 0 (documented above).
        regions = self._regions(x.clamp(min=0))  # (N, C, *S_out, R)
        if self.training:
            out = self._sample(regions, generator if generator is not None else self.generator)
        else:
            out = self._weighted_average(regions)
        return out.squeeze(0) if unbatched else out

    @staticmethod
    def _weighted_average(regions: Tensor) -> Tensor:
        """sum(a^2) / sum(a) over the last dim; 0 for an all-zero region."""
        total = regions.sum(dim=-1)
        # A safe denominator (1 where the total is 0) keeps both value and gradient finite;
        # there the numerator is 0 too, so the output is 0.
        safe = torch.where(total > 0, total, torch.ones_like(total))
        return (regions * regions).sum(dim=-1) / safe

    @staticmethod
    def _sample(regions: Tensor, generator: torch.Generator | None) -> Tensor:
        """Draw one cell per region with probability a_i / sum(a); gather its value."""
        flat = regions.detach().reshape(-1, regions.shape[-1])  # (regions, R)
        # multinomial needs a positive row sum: an all-zero region draws uniformly
        # among its zeros, which outputs 0 either way.
        weights = torch.where(flat.sum(dim=-1, keepdim=True) > 0, flat, torch.ones_like(flat))
        picks = torch.multinomial(weights, 1, generator=generator)  # (regions, 1)
        picks = picks.reshape(*regions.shape[:-1], 1)
        # gather keeps the graph: the gradient reaches the drawn cell only.
        return regions.gather(-1, picks).squeeze(-1)


class StochasticPool1d(_StochasticPoolNd):
    """Stochastic pooling over (N, C, L) signals; see the module docstring."""

    dims = 1


class StochasticPool2d(_StochasticPoolNd):
    """Stochastic pooling over (N, C, H, W) images; see the module docstring.

    Example::

        pool = StochasticPool2d(2, generator=torch.Generator().manual_seed(0))
        y = pool(torch.relu(torch.randn(8, 16, 32, 32)))   # (8, 16, 16, 16)
        pool.eval(); y = pool(x)                           # weighted average instead
    """

    dims = 2


class StochasticPool3d(_StochasticPoolNd):
    """Stochastic pooling over (N, C, D, H, W) volumes; see the module docstring."""

    dims = 3
