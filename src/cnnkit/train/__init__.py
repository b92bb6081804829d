"""Training: configuration, the loop, schedules, checkpoints, run directories, transfer, DDP.

``cnnkit.train`` is both this package and the training function: once any submodule is
imported, Python binds the package to the attribute ``cnnkit.train``, which would hide a
function of the same name. Making the package callable keeps ``cnnkit.train(...)`` working
either way; it forwards to :func:`cnnkit.train.trainer.train`.
"""

from __future__ import annotations

import sys
import types
from typing import Any

__all__: list[str] = []


class _CallablePackage(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from cnnkit.train.trainer import train

        return train(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
