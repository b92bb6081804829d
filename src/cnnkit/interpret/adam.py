"""Adam for one tensor, without ``torch.optim``.

Creating any ``torch.optim`` optimizer imports ``torch._dynamo`` (about 900 modules: 1.5 to
3 s on a busy 2-core machine), longer than a whole activation maximization. The update is
torch's Adam (no weight decay, no AMSGrad), term for term; tests compare the two.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["Adam"]


class Adam:
    """Adam on ``param`` (a leaf tensor that requires grad): ``step()`` after ``backward()``.

    ``lr``: the step size; ``betas``, ``eps`` as in ``torch.optim.Adam``.
    """

    def __init__(self, param: Tensor, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        self.param, self.lr, self.betas, self.eps = param, lr, betas, eps
        self.exp_avg = torch.zeros_like(param)
        self.exp_avg_sq = torch.zeros_like(param)
        self.steps = 0

    def zero_grad(self) -> None:
        self.param.grad = None

    @torch.no_grad()
    def step(self) -> None:
        grad = self.param.grad
        if grad is None:
            return
        beta1, beta2 = self.betas
        self.steps += 1
        self.exp_avg.lerp_(grad, 1 - beta1)
        self.exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        step_size = self.lr / (1 - beta1**self.steps)
        denom = (self.exp_avg_sq.sqrt() / math.sqrt(1 - beta2**self.steps)).add_(self.eps)
        self.param.addcdiv_(self.exp_avg, denom, value=-step_size)
