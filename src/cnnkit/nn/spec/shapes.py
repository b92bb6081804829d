"""Output sizes of convolution, transposed convolution and pooling, per spatial dim.

These are the formulas torch uses (``ceil_mode=False``)::

    conv:    out = floor((n + 2p - d(k - 1) - 1) / s) + 1
    deconv:  out = (n - 1)s - 2p + d(k - 1) + op + 1
    pool:    out = floor((n + 2p - k) / s) + 1

Each function takes the spatial sizes of one sample (H, W, ... without N and C) and
raises :class:`NoFit` with a message naming the sizes when the layer cannot apply.
:func:`channels_last_hint` catches a whole input shape written channels last (32x32x3).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "BadArgs",
    "NoFit",
    "channels_last_hint",
    "conv_out",
    "deconv_out",
    "dims",
    "per_dim",
    "pool_out",
    "same_padding",
    "size_text",
]


class NoFit(Exception):
    """The layer does not fit the current input; the message says why, with sizes.

    A layer marked optional (``POOL?``) is skipped when this is raised."""


class BadArgs(Exception):
    """Arguments that cannot work together whatever the input; optional or not, an error."""


def dims(sizes: Sequence[int]) -> str:
    """(3, 3) -> '3x3'."""
    return "x".join(str(s) for s in sizes)


_LAYOUTS = {2: "CxL", 3: "CxHxW", 4: "CxDxHxW"}


def channels_last_hint(shape: Sequence[int]) -> str:
    """'' for a plausible channels-first shape (C, *spatial); for one that looks written
    channels last, the fix: 'shapes are CxHxW; did you mean 3x32x32?' (CxL or CxDxHxW by
    the number of sizes).

    Channels last means: the last size looks like channels (1 or 3) and the sizes before
    it look like an image's sides (8 or more each), so small channels-first inputs such as
    2x3x3 stay valid. Taken at face value, 32x32x3 is 32 channels of 32x3, which fails
    layers later with a message about a window larger than 30x1.
    """
    if len(shape) < 2 or shape[-1] not in (1, 3) or min(shape[:-1]) < 8:
        return ""
    layout = _LAYOUTS.get(len(shape), "channels first")
    return f"shapes are {layout}; did you mean {dims((shape[-1], *shape[:-1]))}?"


def size_text(sizes: Sequence[int]) -> str:
    """A kernel or window as written: '5' when square, '3x5' otherwise."""
    return str(sizes[0]) if len(set(sizes)) == 1 else dims(sizes)


def per_dim(value: int | tuple[int, ...], rank: int, what: str) -> tuple[int, ...]:
    """An int repeated ``rank`` times, or a tuple that must have ``rank`` entries."""
    if isinstance(value, int):
        return (value,) * rank
    if len(value) != rank:
        raise BadArgs(
            f"{what} {dims(value)} gives {len(value)} sizes but the input has {rank} spatial "
            f"dimension{'s' if rank > 1 else ''}; give {rank} sizes or one number"
        )
    return tuple(value)


def same_padding(kernel: Sequence[int], dilation: Sequence[int]) -> list[tuple[int, int]]:
    """(before, after) padding per dim that keeps the size at stride 1, as torch splits it."""
    pads = []
    for k, d in zip(kernel, dilation):
        total = d * (k - 1)
        pads.append((total // 2, total - total // 2))
    return pads


def conv_out(
    spatial: Sequence[int],
    kernel: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
) -> tuple[int, ...]:
    extent = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    padded = [n + 2 * p for n, p in zip(spatial, padding)]
    if any(e > m for e, m in zip(extent, padded)):
        where = "padded input" if any(padding) else "input"
        raise NoFit(
            f"kernel {size_text(kernel)} (dilated extent {size_text(extent)}) is larger than the "
            f"{where} {dims(padded)}"
        )
    return tuple((m - e) // s + 1 for m, e, s in zip(padded, extent, stride))


def deconv_out(
    spatial: Sequence[int],
    kernel: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[int],
    output_padding: Sequence[int],
    dilation: Sequence[int],
) -> tuple[int, ...]:
    for op, s, d in zip(output_padding, stride, dilation):
        if op >= max(s, d):
            raise BadArgs(
                f"output padding {op} must be smaller than the stride {s} or the dilation {d}"
            )
    out = tuple(
        (n - 1) * s - 2 * p + d * (k - 1) + op + 1
        for n, k, s, p, op, d in zip(spatial, kernel, stride, padding, output_padding, dilation)
    )
    if min(out) < 1:
        raise NoFit(
            f"DECONV output would be empty: input {dims(spatial)} gives {dims(out)} "
            f"((n-1)*s - 2p + d*(k-1) + op + 1); use less padding"
        )
    return out


def pool_out(
    spatial: Sequence[int],
    kernel: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[int],
) -> tuple[int, ...]:
    for k, p in zip(kernel, padding):
        if 2 * p > k:
            raise BadArgs(f"pool padding {p} is more than half the window {k}; use p <= {k // 2}")
    padded = [n + 2 * p for n, p in zip(spatial, padding)]
    if any(k > m for k, m in zip(kernel, padded)):
        where = "padded input" if any(padding) else "input"
        raise NoFit(f"window {size_text(kernel)} larger than {where} {dims(padded)}")
    return tuple((m - k) // s + 1 for m, k, s in zip(padded, kernel, stride))
