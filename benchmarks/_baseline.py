"""Plain PyTorch reference code that the training benchmarks run beside cnnkit.

Nothing here uses cnnkit's trainer: a straightforward loop as a person would write it,
so the printed ratios say what cnnkit adds. The data arrays come from cnnkit's loader
(reading the files is not what is being measured).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def three_block_cnn(widths: tuple[int, int, int] = (24, 48, 96), classes: int = 10) -> nn.Sequential:
    """The issue's reference model: three conv-BN-ReLU-pool blocks, then one linear layer.

    (N, 1, 28, 28) -> (N, classes); after three 2x2 pools the map is 3x3.
    """
    layers: list[nn.Module] = []
    c_in = 1
    for width in widths:
        layers += [nn.Conv2d(c_in, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2)]
        c_in = width
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(c_in * 3 * 3, classes))


def normalize(x: Tensor, mean: float, std: float) -> Tensor:
    """uint8 (N, 1, H, W) -> float, standardized."""
    return (x.float() / 255 - mean) / std


def test_accuracy(model: nn.Module, x: Tensor, y: Tensor, mean: float, std: float, *, batch: int = 1000,
                  autocast: bool = False, channels_last: bool = False) -> float:
    """Top-1 accuracy of ``model`` on uint8 ``x`` (moved to the model's device)."""
    device = next(model.parameters()).device
    x, y = x.to(device), y.to(device)
    model.eval()
    correct = 0
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
        for i in range(0, len(y), batch):
            xb = normalize(x[i : i + batch], mean, std)
            if channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            correct += int((model(xb).argmax(1) == y[i : i + batch]).sum())
    model.train()
    return correct / len(y)


def train_epochs(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    mean: float,
    std: float,
    seed: int = 0,
    flip: bool = True,
    autocast: bool = False,
    channels_last: bool = False,
    after_epoch: Callable[[int, float], bool] | None = None,
    device: str | torch.device = "cpu",
) -> float:
    """SGD (Nesterov momentum 0.9, weight decay 5e-4) with torch's OneCycleLR and random
    horizontal flips. ``after_epoch(epoch, elapsed_s)`` may return True to stop early.
    On a GPU the whole uint8 dataset is moved there first, as any GPU user would.
    Returns the training seconds (the callback's own time excluded)."""
    device = torch.device(device)
    model.to(device)
    x, y = x.to(device), y.to(device)
    gen = torch.Generator(device).manual_seed(seed)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    steps_per_epoch = len(y) // batch_size
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch)
    spent = 0.0
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        order = torch.randperm(len(y), generator=gen, device=device)
        for step in range(steps_per_epoch):
            idx = order[step * batch_size : (step + 1) * batch_size]
            xb, yb = normalize(x[idx], mean, std), y[idx]
            if flip:
                mirror = torch.rand(len(idx), generator=gen, device=device) < 0.5
                xb = torch.where(mirror.view(-1, 1, 1, 1), xb.flip(3), xb)
            if channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)  # count the queued GPU work in this epoch's time
        spent += time.perf_counter() - start
        if after_epoch is not None and after_epoch(epoch, spent):
            break
    return spent
