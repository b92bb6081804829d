"""EmbeddingNet and build_embedder: shapes, unit rows, the pipeline against its formula."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnkit.errors import ModelError, ShapeError
from cnnkit.faces.embed import EmbeddingNet, build_embedder

SPEC = "INPUT(1x16x16) -> CONV(4, k=3, p=1) -> RELU -> POOL(2) -> FC(3)"


def _images(n: int, c: int = 1, size: int = 16, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, c, size, size), generator=g, dtype=torch.uint8)


def test_forward_matches_trunk_pool_linear_normalize() -> None:
    torch.manual_seed(0)
    net = build_embedder(SPEC, dim=8, image_size=(16, 16)).eval()
    x = net.normalize(_images(2))
    out = net(x)
    # the reference: trunk map averaged over space, the linear layer, divided by its L2 norm
    pooled = net.trunk(x).mean(dim=(2, 3))
    raw = pooled @ net.proj.weight.T + net.proj.bias
    expected = raw / raw.norm(dim=1, keepdim=True)
    assert out.shape == (2, 8)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(2))


def test_zoo_trunk_and_module_trunk() -> None:
    net = build_embedder("quicknet", dim=16, image_size=(16, 16))
    assert net.embed(_images(2)).shape == (2, 16)
    trunk = nn.Sequential(nn.Conv2d(3, 5, 3, stride=2), nn.ReLU())
    net3 = build_embedder(trunk, dim=4, in_channels=3, image_size=(9, 9))
    assert net3.proj.in_features == 5 and net3.mean.shape == (3,)
    assert net3.embed(_images(2, c=3, size=9)).shape == (2, 4)


def test_normalize_uint8_and_float_agree() -> None:
    net = build_embedder(SPEC, dim=4, image_size=(16, 16))
    net.mean.fill_(0.3)
    net.std.fill_(0.2)
    imgs = _images(2)
    expected = (imgs.float() / 255.0 - 0.3) / 0.2
    torch.testing.assert_close(net.normalize(imgs), expected)
    torch.testing.assert_close(net.normalize(imgs.float() / 255.0), expected)
    assert {"mean", "std"} <= set(net.state_dict())


def test_embed_is_eval_no_grad_chunked_and_restores_mode() -> None:
    torch.manual_seed(0)
    net = build_embedder("quicknet", dim=8, image_size=(16, 16), dropout=0.5)
    net.train()
    imgs = _images(5)
    whole = net.embed(imgs, batch_size=256)
    chunked = net.embed(imgs, batch_size=2)
    assert net.training  # mode restored
    assert not whole.requires_grad
    torch.testing.assert_close(whole, chunked)  # eval-mode BN and no dropout: chunking changes nothing
    net.eval()
    torch.testing.assert_close(whole, net(net.normalize(imgs)))
    assert not net.training
    assert net.embed(imgs[:0]).shape == (0, 8)


def test_siamese_use_is_one_module_for_every_input() -> None:
    torch.manual_seed(0)
    net = build_embedder(SPEC, dim=6, image_size=(16, 16)).eval()
    a, b = net.normalize(_images(2, seed=1)), net.normalize(_images(2, seed=2))
    both = net(torch.cat([a, b]))
    torch.testing.assert_close(both, torch.cat([net(a), net(b)]))
    # the squared distance between the branches is the lecture's d, in [0, 4]
    d = (net(a) - net(b)).pow(2).sum(1)
    assert bool((d >= 0).all() and (d <= 4).all())


def test_gradients_reach_the_trunk() -> None:
    net = build_embedder(SPEC, dim=4, image_size=(16, 16))
    out = net(net.normalize(_images(2)))
    F.mse_loss(out, torch.zeros_like(out)).backward()
    assert all(p.grad is not None for p in net.trunk.parameters())


def test_builder_errors() -> None:
    with pytest.raises(ShapeError, match="feature map"):
        build_embedder(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten()), image_size=(8, 8))
    with pytest.raises(ShapeError, match="cannot take"):
        build_embedder("quicknet", image_size=(4, 4))
    with pytest.raises(ShapeError, match="cannot take"):
        build_embedder(SPEC, in_channels=3, image_size=(16, 16))
    with pytest.raises(ShapeError, match="image_size"):
        build_embedder(SPEC, image_size=(0, 16))
    with pytest.raises(ModelError, match="dropout"):
        build_embedder(SPEC, image_size=(16, 16), dropout=1.0)
    with pytest.raises(ModelError, match="dim"):
        EmbeddingNet(nn.Identity(), trunk_channels=4, dim=0)
    net = build_embedder(SPEC, dim=4, image_size=(16, 16))
    with pytest.raises(ShapeError, match="channel"):
        net.embed(_images(2, c=3))
    with pytest.raises(ModelError, match="batch_size"):
        net.embed(_images(2), batch_size=0)
