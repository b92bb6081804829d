"""Which trained network measures content and style, and where its weights come from.

:func:`open_network` turns ``--model`` / ``--weights`` / ``--allow-random-weights`` into a
:class:`~cnnkit.interpret.subject.Subject` (a frozen eval-mode model without in-place
activations, plus its input normalization), reusing :func:`cnnkit.interpret.open_subject`
for runs and torchvision weights:

- a run directory (``runs/NAME`` from ``cnnkit train``): its own weights and normalization;
- a zoo name with torchvision weights (VGG19 by default): ``--weights`` names a torchvision
  entry (``IMAGENET1K_V1``) or a local ``.pth``/``.safetensors`` file; without ``--weights``
  the default entry is read from the torch hub cache, or downloaded once when online;
- any other zoo name (or a spec): ``--weights FILE`` with a state dict of that model.

With no weights to be had (offline and nothing cached), the result is one line saying so,
unless ``allow_random_weights=True``: then the network keeps its seeded random
initialization and a warning says so. Random convolutions still respond to edges and
colours, so textures transfer, only less faithfully. Nothing falls back silently.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from cnnkit.data.tensordata import DatasetInfo
from cnnkit.errors import CnnkitError, ModelError
from cnnkit.interpret.subject import Subject, open_subject, subject_from_model
from cnnkit.style.head import release_head

__all__ = ["DEFAULT_MODEL", "GREY_MEAN", "GREY_STD", "Warn", "open_network"]

DEFAULT_MODEL = "vgg19"
GREY_MEAN, GREY_STD = (0.449,), (0.226,)  # ImageNet's statistics averaged over R, G, B

Warn = Callable[[str], None]


def _ignore(_note: str) -> None:
    pass


def open_network(
    model: str = DEFAULT_MODEL,
    *,
    weights: str | None = None,
    allow_random_weights: bool = False,
    seed: int = 0,
    device: str | torch.device = "cpu",
    warn: Warn = _ignore,
    keep_head: bool = False,
) -> tuple[Subject, bool]:
    """``model`` (a zoo name, a spec or a run directory) -> (subject, pretrained).

    ``pretrained`` is False only when ``allow_random_weights`` let random weights through
    (``warn`` has then been told). Raises ModelError/RunError with what to do otherwise.
    Unless ``keep_head``, the layers after the last feature map (VGG19's classifier) are
    released (see :mod:`cnnkit.style.head`): the subject then serves style transfer only.
    """
    subject, pretrained = _open(model, weights, allow_random_weights, seed, device, warn)
    if not keep_head:
        release_head(subject.model, subject.input_shape, subject.device)
    return subject, pretrained


def _open(
    model: str, weights: str | None, allow_random_weights: bool, seed: int, device: str | torch.device, warn: Warn
) -> tuple[Subject, bool]:
    path = Path(model).expanduser()
    if path.is_dir():
        return open_subject(path, weights=weights, device=device), True
    if weights is not None:
        return _with_weights(model, weights, device), True
    from cnnkit.nn.pretrained import PRETRAINED_CONFIGS

    if model.lower() in PRETRAINED_CONFIGS:
        cached = _torchvision_default(model, device, warn)
        if isinstance(cached, Subject):
            return cached, True
        reason = cached
    else:
        _build(model, seed)  # unknown names fail here, with a suggestion
        reason = f"{model} has no torchvision weights"
    if not allow_random_weights:
        raise ModelError(
            f"no pretrained weights for {model}: {reason}; pass --weights FILE (weights= in Python), "
            "or --allow-random-weights to run with random weights (weaker style transfer)"
        )
    warn(f"{reason}; using RANDOM weights for {model} (seed {seed}), as --allow-random-weights allows")
    return _random(model, seed, device), False


def _build(model: str, seed: int) -> nn.Module:
    """Build ``model`` with its random initialization seeded (same seed, same network)."""
    from cnnkit.nn.build import build

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build(model)


def _info(model: str, net: nn.Module, source: str) -> DatasetInfo:
    from cnnkit.nn.build import default_input_shape
    from cnnkit.nn.pretrained import IMAGENET_MEAN, IMAGENET_STD, PRETRAINED_CONFIGS

    shape = tuple(default_input_shape(model, net))
    if len(shape) != 3 or shape[0] not in (1, 3):
        raise ModelError(
            f"{model} takes inputs of {'x'.join(map(str, shape))}; style transfer needs an image "
            "model with 1 or 3 input channels (e.g. vgg19)"
        )
    config = PRETRAINED_CONFIGS.get(model.lower())
    mean, std = (config.mean, config.std) if config else (IMAGENET_MEAN, IMAGENET_STD)
    if shape[0] == 1:
        mean, std = GREY_MEAN, GREY_STD
    classes = tuple(str(i) for i in range(int(getattr(net, "num_classes", 1))))
    return DatasetInfo(name="imagenet", kind="image", input_shape=shape, classes=classes,
                       mean=tuple(mean), std=tuple(std), source=source)  # fmt: skip


def _random(model: str, seed: int, device: str | torch.device) -> Subject:
    net = _build(model, seed)
    info = _info(model, net, f"random weights (seed {seed})")
    return subject_from_model(net.to(device), info, name=f"{_short(model)} (random weights)")


def _with_weights(model: str, weights: str, device: str | torch.device) -> Subject:
    """A zoo name plus torchvision weights or a weights file."""
    from cnnkit.nn.pretrained import PRETRAINED_CONFIGS, read_weights_file

    if model.lower() in PRETRAINED_CONFIGS:
        return open_subject(model, weights=weights, device=device, features_only=True)
    # A model torchvision does not know: the file must be this cnnkit model's state dict.
    net = _build(model, 0)
    state = read_weights_file(Path(weights).expanduser())
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise ModelError(
            f"weights {weights!r} do not fit {model} ({first}); save model.state_dict() of this model, "
            "or give the run directory it was trained in"
        ) from None
    return subject_from_model(net.to(device), _info(model, net, weights), name=f"{_short(model)} ({Path(weights).name})")


def _short(model: str) -> str:
    """A name for messages: the zoo name, or 'spec model' for architecture text."""
    from cnnkit.nn.build import looks_like_spec

    return "spec model" if looks_like_spec(model) else model


def _torchvision_default(model: str, device: str | torch.device, warn: Warn) -> Subject | str:
    """torchvision's default weights from the hub cache (downloading them when missing):
    the subject, or a short reason why there are none."""
    from torchvision.models import get_model_weights

    from cnnkit.nn.pretrained import PRETRAINED_CONFIGS, hub_cache_path

    config = PRETRAINED_CONFIGS[model.lower()]
    entry = get_model_weights(config.torchvision_name).DEFAULT  # type: ignore[attr-defined]
    cache = hub_cache_path(entry.url)
    was_cached = cache.is_file()
    chatter = io.StringIO()  # torch.hub announces a download on stdout; offline, our one line says enough
    try:
        with contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter):
            subject = open_subject(model, weights=entry.name, device=device)
    except CnnkitError:
        if cache.is_file():
            raise  # the weights are there but do not load: that is not "offline"
        return f"torchvision's {entry.name} weights are not in the cache ({cache}) and could not be downloaded (offline?)"
    if not was_cached:
        warn(f"downloaded torchvision's {entry.name} weights for {model} into {cache}")
    return subject
