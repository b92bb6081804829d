"""cnnkit.nn.capture against torchvision's create_feature_extractor on a real ResNet-18."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import Tensor, nn
from torchvision.models.feature_extraction import create_feature_extractor

from cnnkit.nn.capture import capture

# A stem layer, a block's shared ReLU (run twice per block), a block, the pooled vector.
LAYERS = ["maxpool", "layer1.0.relu", "layer2", "layer3.1.conv2", "avgpool"]


@pytest.fixture(scope="module")
def resnet() -> nn.Module:
    return torchvision.models.resnet18(weights=None, num_classes=7).eval()  # random weights


def _image(*shape: int) -> Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(0))


def test_outputs_match_torchvision_feature_extraction(resnet: nn.Module) -> None:
    x = _image(2, 3, 64, 80)
    # FX names a module's first call by its name and its second call name_1
    nodes = {**{n: n for n in LAYERS}, "layer1.0.relu_1": "second_relu", "fc": "fc"}
    theirs = create_feature_extractor(resnet, return_nodes=nodes)
    with torch.no_grad():
        reference = theirs(x)
        output, first = capture(resnet, LAYERS, x)
        _, last = capture(resnet, {"second_relu": resnet.layer1[0].relu}, x, call="last")
    assert list(first) == LAYERS
    for name in LAYERS:
        torch.testing.assert_close(first[name], reference[name], rtol=0, atol=0)
    torch.testing.assert_close(last["second_relu"], reference["second_relu"], rtol=0, atol=0)
    torch.testing.assert_close(output, reference["fc"], rtol=0, atol=0)
    assert not torch.equal(first["layer1.0.relu"], last["second_relu"])  # the two calls differ


def test_names_and_modules_give_the_same_outputs(resnet: nn.Module) -> None:
    x = _image(1, 3, 32, 32)
    modules = dict(resnet.named_modules())
    with torch.no_grad():
        _, by_name = capture(resnet, [*LAYERS, "layer2"], x)  # a repeated name is read once
        _, by_module = capture(resnet, {f"my {n}": modules[n] for n in LAYERS}, x)
    assert list(by_name) == LAYERS
    for name in LAYERS:
        assert torch.equal(by_name[name], by_module[f"my {name}"])
    with pytest.raises(KeyError):
        capture(resnet, ["layer9"], x)


def test_activations_keep_the_graph_for_gradients(resnet: nn.Module) -> None:
    x = _image(1, 3, 48, 48).requires_grad_(True)
    theirs = create_feature_extractor(resnet, return_nodes=["layer2"])
    (expected,) = torch.autograd.grad(theirs(x)["layer2"].pow(2).sum(), x)
    _, found = capture(resnet, ["layer2"], x, stop_early=True)
    (grad,) = torch.autograd.grad(found["layer2"].pow(2).sum(), x)
    torch.testing.assert_close(grad, expected)


def test_stop_early_skips_the_layers_after_the_last_wanted_one(resnet: nn.Module) -> None:
    x = _image(1, 3, 32, 32)
    with torch.no_grad():
        reference = resnet.layer2(resnet.layer1(resnet.maxpool(resnet.relu(resnet.bn1(resnet.conv1(x))))))
    calls: list[str] = []
    handles = [m.register_forward_hook(lambda *_a, n=n: calls.append(n)) for n, m in resnet.named_children()]
    try:
        with torch.no_grad():
            output, found = capture(resnet, ["layer2", "layer1.0.conv1"], x, stop_early=True)
    finally:
        for handle in handles:
            handle.remove()
    assert output is None
    assert calls == ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2"]  # no layer3, avgpool or fc
    assert list(found) == ["layer1.0.conv1", "layer2"]
    torch.testing.assert_close(found["layer2"], reference, rtol=0, atol=0)
    with pytest.raises(ValueError, match="first"):
        capture(resnet, ["layer2"], x, stop_early=True, call="last")


class _Pair(nn.Module):
    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return x, -x


class _Branchy(nn.Module):
    """A block returning a tuple, and a branch no forward pass reaches."""

    def __init__(self) -> None:
        super().__init__()
        self.pair = _Pair()
        self.unused = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        a, b = self.pair(x)
        return a + b


def test_non_tensor_outputs_and_unreached_layers_are_left_out() -> None:
    model = _Branchy()
    x = _image(2, 3)
    output, found = capture(model, ["pair", "unused"], x, stop_early=True)  # never complete: runs to the end
    assert found == {}
    torch.testing.assert_close(output, torch.zeros(2, 3))
