"""Freezing the lower layers of a model for transfer learning.

    report = freeze(model, layers=4, input_shape=(1, 28, 28))       # the first 4 weighted layers
    report = freeze(model, until="features.stage2", input_shape=...) # up to and including a module
    report = freeze(model, layers="all", input_shape=...)            # all but the classifier
    print(report.line())

A *weighted layer* is a convolution or a linear layer. Layers are counted in the order
the forward pass calls them (found by running one zero sample through the model with
hooks), not in the order they were registered. A weighted layer is frozen together with
the modules that run after it and before the next weighted layer and own parameters or
running statistics (its batch norm, a PReLU ...): ``layers=1`` on QuickNet freezes
``stage1.conv1`` and ``stage1.bn1``. The classifier (``CnnModel``'s last linear layer)
is never frozen: fine-tuning replaces it.

Frozen means: ``requires_grad=False`` on the parameters (the trainer leaves them out of
the optimizer, so they stay bit-identical), and batch-norm layers marked so that
:func:`keep_frozen_norms_in_eval` holds them in eval mode during training (they
normalize with, and do not update, their running statistics).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd

from cnnkit.errors import CnnkitError, ModelError

__all__ = [
    "FROZEN_MARK",
    "WEIGHTED",
    "ForwardOrder",
    "FreezeReport",
    "LayerGroup",
    "classifier_name",
    "forward_order",
    "freeze",
    "keep_frozen_norms_in_eval",
]

WEIGHTED = (_ConvNd, nn.Linear)
FROZEN_MARK = (
    "_cnnkit_frozen"  # set on frozen batch-norm modules (also covers affine=False BN)
)


@dataclass(frozen=True)
class LayerGroup:
    """One weighted layer and the parameter-owning modules that run after it (its BN)."""

    layer: str  # the weighted layer's module name, e.g. "features.stage1.conv1"
    members: tuple[str, ...]  # every module of the group, the layer first


@dataclass(frozen=True)
class ForwardOrder:
    """How one forward pass runs through a model.

    ``calls``: module names in the order their forward started (first call of each).
    ``ends``: name -> number of modules started when its forward returned, so the
    modules ``calls[:ends[name]]`` all ran before or inside it.
    ``groups``: the weighted layers in forward order, each with its followers.
    ``classifier``: the name of the layer fine-tuning replaces.
    """

    calls: tuple[str, ...]
    ends: dict[str, int]
    groups: tuple[LayerGroup, ...]
    classifier: str

    @property
    def below_classifier(self) -> tuple[LayerGroup, ...]:
        """The groups that may be frozen: those before the classifier's."""
        index = next(i for i, g in enumerate(self.groups) if g.layer == self.classifier)
        return self.groups[:index]


@dataclass(frozen=True)
class FreezeReport:
    """What :func:`freeze` did; ``to_dict`` is recorded in the run's config.json."""

    choice: str  # "none", "3", "all" or "until:NAME"
    frozen_layers: tuple[str, ...]  # weighted layers frozen, in forward order
    frozen_modules: tuple[str, ...]  # every module whose parameters were frozen
    frozen_parameters: int
    trainable_parameters: int
    weighted_layers: (
        int  # weighted layers below the classifier (the most --freeze takes)
    )

    def line(self) -> str:
        """'froze 2 of 6 weighted layers below the classifier (...): 5,448 parameters frozen, ...'."""
        if self.choice == "all":
            what = "everything but the classifier"
        elif self.frozen_layers:
            span = (
                self.frozen_layers[0]
                if len(self.frozen_layers) == 1
                else (f"{self.frozen_layers[0]} .. {self.frozen_layers[-1]}")
            )
            what = f"{len(self.frozen_layers)} of {self.weighted_layers} weighted layers ({span})"
        else:
            what = "nothing"
        return (
            f"froze {what}: {self.frozen_parameters:,} parameters frozen, "
            f"{self.trainable_parameters:,} trainable"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "choice": self.choice,
            "frozen_layers": list(self.frozen_layers),
            "frozen_modules": list(self.frozen_modules),
            "frozen_parameters": self.frozen_parameters,
            "trainable_parameters": self.trainable_parameters,
            "weighted_layers": self.weighted_layers,
        }


def _owns_state(module: nn.Module) -> bool:
    return isinstance(module, _BatchNorm) or any(
        True for _ in module.parameters(recurse=False)
    )


def classifier_name(model: nn.Module) -> str:
    """The module name of the classifier that ``CnnModel.reset_classifier`` replaces."""
    slot = getattr(model, "_classifier_slot", None)
    if slot is None:
        raise ModelError(
            f"cannot find the classifier of a {type(model).__name__}; fine-tuning needs a model made "
            "by cnnkit.build (a zoo name or a spec)"
        )
    layer = slot()[2]
    return next(name for name, module in model.named_modules() if module is layer)


def forward_order(model: nn.Module, input_shape: tuple[int, ...]) -> ForwardOrder:
    """Trace one zero sample of ``input_shape`` (no batch) through ``model`` (eval, no grad)."""
    modules = dict(model.named_modules())
    calls: list[str] = []
    ends: dict[str, int] = {}
    handles = []

    def pre_hook(name: str) -> Any:
        def hook(module: nn.Module, args: Any) -> None:
            if name not in ends and name not in calls:
                calls.append(name)

        return hook

    def post_hook(name: str) -> Any:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            ends.setdefault(name, len(calls))

        return hook

    for name, module in modules.items():
        if name:  # the root is the whole model
            handles.append(module.register_forward_pre_hook(pre_hook(name)))
            handles.append(module.register_forward_hook(post_hook(name)))
    was_training = model.training
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)

    groups: list[list[str]] = []
    leading: list[
        str
    ] = []  # parameter owners before the first weighted layer join its group
    for name in calls:
        module = modules[name]
        if isinstance(module, WEIGHTED):
            groups.append([name, *leading] if not groups else [name])
            leading = []
        elif _owns_state(module):
            (groups[-1] if groups else leading).append(name)
    return ForwardOrder(
        calls=tuple(calls),
        ends=ends,
        groups=tuple(LayerGroup(g[0], tuple(g)) for g in groups),
        classifier=classifier_name(model),
    )


def _freeze_module(module: nn.Module) -> None:
    for param in module.parameters(recurse=False):
        param.requires_grad_(False)
    if isinstance(module, _BatchNorm):
        setattr(module, FROZEN_MARK, True)


def _count(model: nn.Module, trainable: bool) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad == trainable)


def freeze(
    model: nn.Module,
    *,
    input_shape: tuple[int, ...],
    layers: int | str | None = None,
    until: str | None = None,
) -> FreezeReport:
    """Freeze the lower part of ``model`` in place and say what was frozen.

    Args:
        model: a CnnModel (zoo or spec), usually after ``reset_classifier``.
        input_shape: one sample without the batch, e.g. (1, 28, 28), to trace the forward order.
        layers: the number of weighted layers to freeze (0 = none), or "all" for everything
            but the classifier (a linear probe).
        until: a module name (``cnnkit summary`` shows them): freeze the weighted layers
            that run up to and including it, with their batch norms.

    Raises:
        CnnkitError: both ``layers`` and ``until``, or a ``layers`` that is not a number or "all".
        ModelError: more layers than the model has below its classifier, an unknown module
            name (with a suggestion), or a module at or after the classifier.
    """
    if layers is not None and until is not None:
        raise CnnkitError("give either --freeze N or --freeze-until LAYER, not both")
    order = forward_order(model, input_shape)
    below = order.below_classifier
    names = dict(model.named_modules())
    chosen: list[LayerGroup] = []
    extra: list[
        str
    ] = []  # "all" and "until" also take parameter owners outside the groups
    if isinstance(layers, str) and layers.strip().lower() == "all":
        choice = "all"
        chosen = list(below)
        classifier = names[order.classifier]
        extra = [
            n for n, m in names.items() if n and _owns_state(m) and m is not classifier
        ]
    elif layers is not None:
        count = _as_count(layers)
        if count > len(below):
            raise ModelError(
                f"cannot freeze {count} weighted layers: the model has {len(below)} below its classifier "
                f"({order.classifier}); use --freeze 0 to {len(below)}, or --freeze all"
            )
        choice = str(count) if count else "none"
        chosen = list(below[:count])
    elif until is not None:
        chosen, extra, full = _until(order, names, until)
        choice = f"until:{full}"
    else:
        choice = "none"

    frozen = [m for g in chosen for m in g.members] + [
        m for m in extra if m != order.classifier
    ]
    frozen = list(dict.fromkeys(frozen))  # unique, in order
    for name in frozen:
        _freeze_module(names[name])
    return FreezeReport(
        choice=choice,
        frozen_layers=tuple(g.layer for g in chosen),
        frozen_modules=tuple(frozen),
        frozen_parameters=_count(model, trainable=False),
        trainable_parameters=_count(model, trainable=True),
        weighted_layers=len(below),
    )


def _as_count(layers: int | str) -> int:
    try:
        count = int(layers)
    except (TypeError, ValueError):
        raise CnnkitError(
            f"--freeze takes a number of layers or 'all', got {layers!r}; to freeze up to a named "
            "layer use --freeze-until NAME"
        ) from None
    if count < 0:
        raise CnnkitError(f"--freeze must be 0 or more layers, got {count}")
    return count


def _until(
    order: ForwardOrder, names: dict[str, nn.Module], until: str
) -> tuple[list[LayerGroup], list[str], str]:
    """The groups (and other parameter owners) that run up to and including module ``until``,
    and the module's full name."""
    from cnnkit.names import resolve_layer

    try:  # a full name or a unique suffix ("stage2" for features.stage2), as everywhere
        key = resolve_layer(until, names, where="the model", listing="`cnnkit summary` (e.g. features.stage2)")
    except CnnkitError as err:
        raise ModelError(str(err)) from None
    if key not in order.ends:
        raise ModelError(
            f"layer {key!r} does not run in the model's forward pass; name a layer that does"
        )
    end = order.ends[key]
    position = {name: i for i, name in enumerate(order.calls)}
    if position[order.classifier] < end:
        raise ModelError(
            f"--freeze-until {key} would freeze the classifier ({order.classifier}), which fine-tuning "
            "replaces; name a layer before it, or use --freeze all for a linear probe"
        )
    groups = [g for g in order.below_classifier if position[g.layer] < end]
    extra = [n for n in order.calls[:end] if _owns_state(names[n])]
    return groups, extra, key


def keep_frozen_norms_in_eval(model: nn.Module) -> int:
    """Put frozen batch-norm layers back in eval mode after ``model.train()``; returns how many.

    A batch norm counts as frozen when :func:`freeze` marked it, or when it has
    parameters and none of them requires a gradient. In eval mode it normalizes with
    its running statistics and leaves them untouched, so the frozen features stay
    exactly those the source model learned. The trainer calls this every epoch.
    """
    count = 0
    for module in model.modules():
        if not isinstance(module, _BatchNorm) or not module.training:
            continue
        params = list(module.parameters(recurse=False))
        if getattr(module, FROZEN_MARK, False) or (
            params and not any(p.requires_grad for p in params)
        ):
            module.eval()
            count += 1
    return count
