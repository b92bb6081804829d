"""cnnkit: a workbench for convolutional neural networks on PyTorch and torchvision.

The public API, importable from the package top level::

    import cnnkit
    model = cnnkit.build("resnet18", num_classes=10)
    net = cnnkit.from_spec("INPUT(1x28x28) -> [CONV(32, k=3) -> RELU -> POOL(2)]*2 -> FC(10)")
    print(cnnkit.summary(net))
    result = cnnkit.train("resnet20", "fashion-mnist", epochs=5, out="runs/r20")
    run = cnnkit.load_run("runs/r20")
    subject = cnnkit.open_subject("runs/r20")   # then cnnkit.interpret.attribution.saliency(...)

Names are imported lazily so that ``cnnkit --help`` answers without loading torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "CnnkitError": "cnnkit.errors",
    "SpecError": "cnnkit.errors",
    "ModelError": "cnnkit.errors",
    "ShapeError": "cnnkit.errors",
    "DataError": "cnnkit.errors",
    "RunError": "cnnkit.errors",
    "CnnModel": "cnnkit.nn.base",
    "build": "cnnkit.nn.build",
    "list_models": "cnnkit.nn.build",
    "default_input_shape": "cnnkit.nn.build",
    "from_spec": "cnnkit.nn.spec",
    "parse_spec": "cnnkit.nn.spec",
    "summary": "cnnkit.analysis.summary",
    "LayerTable": "cnnkit.analysis.summary",
    "explain_layer": "cnnkit.analysis.formulas",
    "explain_conv": "cnnkit.analysis.convdemo",
    "TrainConfig": "cnnkit.train.config",
    "TrainResult": "cnnkit.train.trainer",
    "load_run": "cnnkit.train.run",
    "finetune": "cnnkit.train.transfer",
    "load_dataset": "cnnkit.data.sources",
    "list_datasets": "cnnkit.data.sources",
    "open_subject": "cnnkit.interpret.subject",
    "style_transfer": "cnnkit.style.transfer",
}

__all__ = sorted([*_EXPORTS, "train"]) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name == "train":
        # the package cnnkit.train is callable: cnnkit.train(model, data, ...) trains
        return importlib.import_module("cnnkit.train")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'cnnkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # cache: later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return __all__
