"""Torch functions the tracer knows by name, and receptive-field rules for the functional
forms of convolution and pooling (``F.conv2d``, ``F.max_pool2d``, ``F.adaptive_avg_pool2d``)
that a model's ``forward`` may call directly instead of through a module.

Names are as the torch function mode sees them, leading underscores removed
(``F.max_pool2d`` arrives as ``_max_pool2d``).
"""

from __future__ import annotations

from typing import Any

from cnnkit.analysis import receptive
from cnnkit.analysis.geometry import adaptive_field
from cnnkit.analysis.receptive import Field

__all__ = [
    "CONV_OPS",
    "GLOBAL_OPS",
    "MERGE_OPS",
    "POOL_OPS",
    "RESHAPE_OPS",
    "WINDOW_OPS",
    "functional_conv",
    "functional_pool",
]

MERGE_OPS = {
    "add": "add", "add_": "add", "__add__": "add", "__radd__": "add", "__iadd__": "add",
    "sub": "sub", "sub_": "sub", "__sub__": "sub", "__isub__": "sub",
    "mul": "mul", "mul_": "mul", "__mul__": "mul", "__rmul__": "mul", "__imul__": "mul",
    "cat": "cat", "concat": "cat", "concatenate": "cat", "stack": "stack",
}
CONV_OPS = {"conv1d", "conv2d", "conv3d"}
WINDOW_OPS = CONV_OPS | {
    "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
    "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
    "interpolate", "upsample", "pixel_shuffle", "pixel_unshuffle",
}
POOL_OPS = {
    "max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
    "max_pool1d_with_indices", "max_pool2d_with_indices", "max_pool3d_with_indices",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
    "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
}
RESHAPE_OPS = {"flatten", "view", "reshape", "unflatten", "permute", "transpose", "movedim"}
GLOBAL_OPS = {"linear", "matmul", "mm", "bmm", "addmm", "einsum", "__matmul__"}


def functional_pool(name: str, field: Field, out_spatial: tuple[int, ...], args: Any, kwargs: Any) -> Field:
    """Field after F.max_pool*/avg_pool*(input, kernel_size, stride, padding, ...) or adaptive pooling."""
    if name.startswith("adaptive"):
        return adaptive_field(field, out_spatial)
    names = ("input", "kernel_size", "stride", "padding")
    names += ("dilation",) if name.startswith("max") else ()
    bound = dict(zip(names, args))
    bound.update(kwargs)
    kernel = bound["kernel_size"]
    stride = bound.get("stride") or kernel  # None or [] mean "same as the kernel"
    return receptive.window(
        field, out_spatial, kernel=kernel, stride=stride,
        padding=bound.get("padding", 0), dilation=bound.get("dilation", 1),
    )


def functional_conv(field: Field, out_spatial: tuple[int, ...], args: Any, kwargs: Any) -> Field:
    """Field after torch.conv{1,2,3}d(input, weight, bias, stride, padding, dilation, groups)."""
    names = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
    bound = dict(zip(names, args))
    bound.update(kwargs)
    kernel = tuple(bound["weight"].shape[2:])
    rank = len(kernel)
    dilation = bound.get("dilation", 1)
    dilation = (dilation,) * rank if isinstance(dilation, int) else tuple(dilation)
    padding = bound.get("padding", 0)
    if padding == "same":
        padding = tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation))
    elif padding == "valid":
        padding = 0
    return receptive.window(
        field, out_spatial, kernel=kernel, stride=bound.get("stride", 1),
        padding=padding, dilation=dilation,
    )
