"""Training configuration: one typed dataclass with units, and named presets.

    config = TrainConfig.from_preset("fast", epochs=3, lr=0.05)
    config.to_dict()                      # JSON-able; config.json in a run directory
    TrainConfig.from_dict(saved)          # rejects unknown keys with a suggestion

A :class:`TrainConfig` holds everything needed to reproduce a run (together with the
cnnkit version): the model (zoo name or spec text), the dataset name, and every
optimisation, augmentation and runtime choice. Presets are partial dictionaries laid
over the dataclass defaults; explicit overrides are laid over the preset.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from cnnkit.errors import CnnkitError, did_you_mean
from cnnkit.numbers import check_range as _check_range

__all__ = [
    "AMP_MODES",
    "AUGMENT_KEYS",
    "AUGMENT_LEVELS",
    "DEFAULT_MODEL",
    "DEVICES",
    "OPTIMIZERS",
    "PRESETS",
    "SCHEDULES",
    "SWITCHES",
    "TrainConfig",
]

# The zoo's QuickNet (cnnkit/nn/zoo/quicknet.py): pool-first conv stages of 24/48/96
# filters and a global max pool, so it takes any image size and channel count.
DEFAULT_MODEL = "quicknet"

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("onecycle", "cosine", "constant")
AMP_MODES = ("auto", "bf16", "off")
SWITCHES = ("auto", "on", "off")
DEVICES = ("auto", "cpu", "cuda", "mps")
AUGMENT_LEVELS = ("light", "none", "strong")
AUGMENT_KEYS = ("crop_padding", "flip", "rotate", "scale", "cutout")


@dataclass
class TrainConfig:
    """Every choice a training run makes. Defaults are sensible for small image sets."""

    # what to train on
    model: str = DEFAULT_MODEL  # zoo name (`cnnkit models`), spec text, or a spec file path
    data: str = "fashion-mnist"  # a dataset name (`cnnkit data list`) or folder:PATH
    input_shape: tuple[int, ...] | None = None  # convert the data to this (C, H, W); None: the
    #   spec's INPUT(...) shape if it has one, else the data's own shape
    num_classes: int | None = None  # classifier outputs; None: the dataset's class count
    in_channels: int | None = None  # zoo models' input channels; None: the data's channels
    limit: int | None = None  # keep at most this many samples per split (quick demos, tests)
    val_fraction: float = 0.1  # share of the training data held out for validation
    skip_bad: bool = False  # folder: data: leave unreadable image files out (a note names
    #   them) instead of stopping at the first

    # optimisation
    epochs: int = 10  # full passes over the training split
    batch_size: int = 256  # images per optimiser step, summed over all DDP processes
    optimizer: str = "sgd"  # sgd (with momentum) or adamw
    lr: float = 0.1  # peak learning rate (per step, reached after warm-up)
    lr_reference_batch: int | None = None  # the batch size ``lr`` was chosen for; while set
    #   (a preset's lr, not one the user gave) lr follows batch_size linearly: lr / batch_size
    #   stays constant when the batch size changes (see :meth:`replace`). None: lr is fixed
    momentum: float = 0.9  # SGD momentum; AdamW's beta1
    nesterov: bool = True  # Nesterov momentum for SGD
    weight_decay: float = 5e-4  # L2 penalty (SGD) or decoupled decay (AdamW); not on BN/bias
    schedule: str = "onecycle"  # onecycle, cosine (with warm-up) or constant (with warm-up)
    warmup_epochs: float = 1.0  # epochs of learning-rate warm-up (fractions allowed)
    label_smoothing: float = 0.1  # cross-entropy target smoothing, 0 = hard targets
    grad_clip: float = 0.0  # max global gradient L2 norm, 0 = off
    early_stopping: int = 0  # stop after this many epochs without a better val accuracy, 0 = off

    # augmentation (see cnnkit.data.augment.AugmentConfig)
    augment: str = "light"  # level: light, none or strong
    augment_options: dict[str, Any] = field(default_factory=dict)  # overrides, e.g. {"cutout": 8}
    flips: bool | None = None  # a horizontal flip keeps the label: None = the dataset's own
    #   say (DatasetInfo.flip_ok: yes for clothes and CIFAR, no for digits and folders); it
    #   turns flip augmentation and flip TTA on or off and is stored with the run

    # evaluation
    tta_flip: bool = False  # test-time augmentation: average logits of image and mirror image
    eval_batch_size: int = 1024  # images per forward pass when evaluating

    # runtime
    seed: int = 0  # seeds the val split, the model init, shuffling, augmentation, dropout
    device: str = "auto"  # auto (cuda, then mps, then cpu), cpu, cuda or mps
    amp: str = "auto"  # bf16 autocast: auto (CUDA with bf16, or a CPU with AMX/AVX512-BF16), bf16, off
    channels_last: str = "auto"  # NHWC memory layout for 2-D models: auto (on), on, off
    compile: bool = False  # torch.compile the model (slow to start, faster per step)
    preset: str | None = None  # the preset these values started from, for the record
    transfer: dict[str, Any] | None = None  # fine-tuning runs: source, freeze choice, per_class ...
    #   (written by cnnkit.train.transfer; None for a run trained from scratch)
    more: list[dict[str, Any]] = field(default_factory=list)  # continuations of the finished
    #   run, oldest first: {"after_epoch", "epochs", "lr", "command"}; each is a new learning-rate
    #   cycle (warm-up, then the schedule's decay) over its epochs (cnnkit.train.cycles)
    command: str | None = None  # the command line that started the run (report.md shows it)

    def __post_init__(self) -> None:
        if isinstance(self.input_shape, list):
            self.input_shape = tuple(self.input_shape)
        # any spelling of a choice (AdamW, one-cycle) is stored as the canonical one
        self.optimizer = _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        self.schedule = _check_choice("schedule", self.schedule, SCHEDULES)
        self.amp = _check_choice("amp", self.amp, AMP_MODES)
        self.channels_last = _check_choice("channels_last", self.channels_last, SWITCHES)
        kind, _, index = self.device.partition(":")
        self.device = _check_choice("device", kind, DEVICES) + (f":{index}" if index else "")
        self.augment = _check_choice("augment", self.augment, AUGMENT_LEVELS)
        for key in self.augment_options:
            if key not in AUGMENT_KEYS:
                raise CnnkitError(
                    f"unknown augmentation option {key!r}{did_you_mean(key, AUGMENT_KEYS)}; "
                    f"known: {', '.join(AUGMENT_KEYS)}"
                )
        _check_range("epochs", self.epochs, 1, integer=True)
        _check_range("batch_size", self.batch_size, 1, integer=True)
        _check_range("eval_batch_size", self.eval_batch_size, 1, integer=True)
        _check_range("lr", self.lr, 0.0, strict=True)
        _check_range("momentum", self.momentum, 0.0, 0.999999)
        _check_range("weight_decay", self.weight_decay, 0.0)
        _check_range("warmup_epochs", self.warmup_epochs, 0.0)
        _check_range("label_smoothing", self.label_smoothing, 0.0, 0.999999)
        _check_range("grad_clip", self.grad_clip, 0.0)
        _check_range("early_stopping", self.early_stopping, 0, integer=True)
        _check_range("val_fraction", self.val_fraction, 0.0, 0.9)
        if self.limit is not None:
            _check_range("limit", self.limit, 1, integer=True)
        for name in ("num_classes", "in_channels", "lr_reference_batch"):
            value = getattr(self, name)
            if value is not None:
                _check_range(name, value, 1, integer=True)

    @classmethod
    def from_preset(cls, name: str | None = "fast", **overrides: Any) -> TrainConfig:
        """The dataclass defaults, then preset ``name``'s values, then ``overrides``."""
        values: dict[str, Any] = {}
        if name is not None:
            if name not in PRESETS:
                raise CnnkitError(
                    f"unknown preset {name!r}{did_you_mean(name, PRESETS)}; "
                    f"choose one of: {', '.join(PRESETS)}"
                )
            values.update(PRESETS[name])
            values["preset"] = name
            values["lr_reference_batch"] = values.get("batch_size", cls.batch_size)  # the preset's lr is for its batch
        base = cls.from_dict(values)
        return base.replace(**overrides) if overrides else base

    def replace(self, **overrides: Any) -> TrainConfig:
        """A copy with some fields changed (unknown names rejected).

        The linear scaling rule: while ``lr_reference_batch`` is set, a new ``batch_size``
        without a new ``lr`` scales lr by new / old batch size, so the step per sample stays
        the same (a preset's lr of 0.4 for batch 512 is 0.0125 for batch 16). Giving ``lr``
        fixes it: ``lr_reference_batch`` becomes None and later batch changes keep it.
        """
        data = self.to_dict()
        data.update(overrides)
        if "lr" in overrides:
            data["lr_reference_batch"] = overrides.get("lr_reference_batch")  # a chosen lr is kept as given
        elif self.lr_reference_batch is not None and "batch_size" in overrides:
            data["lr"] = self.lr * int(overrides["batch_size"]) / self.batch_size
        return TrainConfig.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: tuples become lists."""
        data = dataclasses.asdict(self)
        if data["input_shape"] is not None:
            data["input_shape"] = list(data["input_shape"])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; an unknown key is an error naming the closest one."""
        known = [f.name for f in dataclasses.fields(cls)]
        for key in data:
            if key not in known:
                raise CnnkitError(
                    f"unknown training option {key!r}{did_you_mean(key, known)}; "
                    f"see docs/training.md for the list"
                )
        values = dict(data)
        if values.get("input_shape") is not None:
            values["input_shape"] = tuple(int(v) for v in values["input_shape"])
        if "augment_options" in values:
            values["augment_options"] = dict(values["augment_options"] or {})
        return cls(**values)


# Starting points laid over the defaults. A later speed helper tunes these against the
# targets in BENCHMARKS.md; the values here are reasonable placeholders.
PRESETS: dict[str, dict[str, Any]] = {
    # Tuned for the default model on Fashion-MNIST on a 2-core CPU (benchmarks/
    # fast_preset.py): five epochs of large batches at a high one-cycle peak. Flips only:
    # random shifts pay off only in longer runs. Flip TTA costs one extra test pass.
    "fast": {
        "epochs": 5,
        "batch_size": 512,
        "optimizer": "sgd",
        "lr": 0.4,
        "schedule": "onecycle",
        "warmup_epochs": 1.25,
        "label_smoothing": 0.1,
        "augment": "light",
        "augment_options": {"crop_padding": 0},
        "tta_flip": True,
    },
    # At least 94.5% on Fashion-MNIST within 30 minutes on a 2-core CPU (benchmarks/
    # BENCHMARKS.md): the wider QuickNet, 40 epochs with shifts and flips, flip TTA.
    # The preset's model applies only when no model is named.
    "best": {
        "model": "quicknet_wide",
        "epochs": 40,
        "batch_size": 256,
        "optimizer": "sgd",
        "lr": 0.2,
        "schedule": "onecycle",
        "warmup_epochs": 8.0,
        "label_smoothing": 0.1,
        "augment": "light",
        "tta_flip": True,
    },
}


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    """The choice ``value`` spells, in any case and with - or _ (cnnkit.names.pick_choice);
    a ConfigError naming the setting otherwise."""
    from cnnkit.errors import ConfigError
    from cnnkit.names import pick_choice

    try:
        return pick_choice(str(value), choices, what=name)
    except CnnkitError as err:
        raise ConfigError(str(err), parameter=name) from None
