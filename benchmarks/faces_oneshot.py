"""One-shot verification and identification on classes never seen in training (issue 6).

The embedding is trained with the triplet loss (``cnnkit.faces.fit.fit_embedder``) on
Fashion-MNIST classes 0-6 (training images), then judged on the TEST images of the unseen
classes 7-9 (Sneaker, Bag, Ankle boot). Beside it, the baseline: the same trunk trained as a
plain 7-class softmax classifier on the same images (same epochs, batch size, optimizer,
schedule and augmentation), whose penultimate layer (the pooled trunk features, before the
last FC layer) is the embedding, L2-normalized.

For both, on the same seeded pairs of classes 7-9: ROC AUC, EER, TAR at FAR 1e-3 and 1e-2,
accuracy at a tau chosen for best accuracy on VALIDATION pairs of held-out images of the
training classes (the test images of classes 0-6, never trained on), the oracle accuracy
(tau chosen on the test pairs themselves; optimistic), one-shot identification accuracy
(1 enrolled image per class, every other test image of 7-9 identified by the nearest
enrolled embedding; mean and standard deviation over seeded enrolment draws) and training
time. Targets: AUC >= 0.95, one-shot accuracy well above the baseline, training < 10 min.

    .venv/bin/python benchmarks/faces_oneshot.py [--per-class 2000] [--epochs 8] [--trunk quicknet]
        [--dim 128] [--p 7] [--k 16] [--lr 3e-3] [--margin 0.2] [--mining semi_hard]
        [--train-classes fashion-mnist:0-6] [--unseen-classes fashion-mnist:7-9]
        [--augment light|strong|none] [--seed 0] [--threads 0] [--pairs 3000] [--draws 20]
        [--no-baseline] [--json FILE]
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnkit.data.augment import Augment, AugmentConfig
from cnnkit.faces.embed import build_embedder
from cnnkit.faces.fit import EmbedFitConfig, ValidationPairs, fit_embedder
from cnnkit.faces.gallery import enroll, identify
from cnnkit.faces.identities import IdentitySet, split_within
from cnnkit.faces.identity_sources import load_identities
from cnnkit.faces.pairs_file import IndexPairs, make_pairs
from cnnkit.faces.verify import choose_threshold, pair_distances, verification_metrics

TRAIN_CLASSES = "fashion-mnist:0-6"
UNSEEN_CLASSES = "fashion-mnist:7-9"
Embed = Callable[[Tensor], Tensor]  # uint8 images (N, C, H, W) -> unit rows (N, d)


def machine() -> str:
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
            f"{torch.get_num_threads()} torch threads, torch {torch.__version__}, Python {platform.python_version()}")


def augment_config(level: str, mean: float, std: float) -> AugmentConfig:
    """Shifts and flips ("light"), plus rotation and zoom ("strong"); what moves in is black."""
    fill = -mean / std  # raw 0 after normalizing: Fashion-MNIST's background
    if level == "none":
        return AugmentConfig(fill=fill)
    if level == "light":
        return AugmentConfig(crop_padding=2, flip=True, fill=fill)
    return AugmentConfig(crop_padding=2, flip=True, rotate=10.0, scale=0.1, fill=fill)


# ----------------------------------------------------------------------------- baseline
class ClassifierEmbedding:
    """A trained classifier's penultimate layer as an embedding: every head module before
    the last Linear (the global pool and flatten), then L2 normalization."""

    def __init__(self, model: nn.Module, mean: float, std: float) -> None:
        self.model, self.mean, self.std = model, mean, std
        layers = list(model.head.children())
        last = max(k for k, layer in enumerate(layers) if isinstance(layer, nn.Linear))
        self.pre = nn.Sequential(*layers[:last])

    @torch.no_grad()
    def __call__(self, images: Tensor) -> Tensor:
        self.model.eval()
        chunks = []
        for start in range(0, len(images), 512):
            x = (images[start : start + 512].float() / 255 - self.mean) / self.std
            chunks.append(F.normalize(self.pre(self.model.features(x)).flatten(1), dim=1))
        return torch.cat(chunks)


def train_classifier(args: argparse.Namespace, train: IdentitySet, batches: int) -> tuple[ClassifierEmbedding, float]:
    """The baseline: the same trunk as a plain softmax classifier, trained with the embedder's
    optimizer, schedule, augmentation, batch size (P*K) and number of steps."""
    from cnnkit.nn.build import build

    torch.manual_seed(args.seed)
    model = build(args.trunk, num_classes=len(train.names), in_channels=train.image_shape[0])
    pixels = train.images.float().div(255)
    mean, std = float(pixels.mean()), float(pixels.std())
    augment = Augment(augment_config(args.augment, mean, std))
    gen = torch.Generator().manual_seed(args.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.epochs * batches, pct_start=0.15)
    batch = args.p * args.k
    start = time.perf_counter()
    model.train()
    for _ in range(args.epochs):
        order = torch.randperm(len(train), generator=gen)
        for step in range(batches):
            rows = order[(step * batch) % len(train) :][:batch]
            x = augment((train.images[rows].float() / 255 - mean) / std, gen)
            loss = F.cross_entropy(model(x), train.identities[rows])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return ClassifierEmbedding(model, mean, std), time.perf_counter() - start


# ----------------------------------------------------------------------------- evaluation
def one_shot(embed: Embed, test: IdentitySet, draws: int, seed: int) -> list[float]:
    """Accuracy of 1:K identification with one enrolled image per class, per seeded draw."""
    accuracies = []
    for draw in range(draws):
        gen = torch.Generator().manual_seed(seed + 1000 + draw)
        enrolled, probes = split_within(test, first=1, generator=gen)
        # tau 4.0 = the largest squared distance of unit vectors: nothing is "unknown" here
        gallery = enroll(embed(enrolled.images), enrolled.identities, enrolled.names, tau=4.0,
                         model_fingerprint="benchmark")
        matches = identify(gallery, embed(probes.images))
        truth = [probes.names[k] for k in probes.identities.tolist()]
        accuracies.append(sum(m.nearest == t for m, t in zip(matches, truth)) / len(truth))
    return accuracies


def evaluate(embed: Embed, val: tuple[IdentitySet, IndexPairs], test: tuple[IdentitySet, IndexPairs],
             draws: int, seed: int) -> dict[str, Any]:
    val_set, val_pairs = val
    test_set, test_pairs = test
    d_val = pair_distances(embed(val_set.images), val_pairs.i, val_pairs.j)
    tau = choose_threshold(d_val, val_pairs.same, rule="accuracy")
    val_auc = float(verification_metrics(d_val, val_pairs.same, fars=())["auc"])
    d_test = pair_distances(embed(test_set.images), test_pairs.i, test_pairs.j)
    m = verification_metrics(d_test, test_pairs.same, tau=tau, fars=(1e-3, 1e-2))
    shots = one_shot(embed, test_set, draws, seed)
    return {
        "val_auc": val_auc, "auc": m["auc"], "eer": m["eer"],
        "tar_far_1e-3": m["tar_at_far"][0]["tar"], "tar_far_1e-2": m["tar_at_far"][1]["tar"],
        "tau": tau, "accuracy_at_tau": m["accuracy"], "best_accuracy": m["best_accuracy"],
        "best_tau": m["best_tau"], "one_shot": statistics.mean(shots),
        "one_shot_std": statistics.stdev(shots) if len(shots) > 1 else 0.0,
    }


def _fmt(value: Any, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def classes(source: str) -> str:
    """'fashion-mnist:0-6' -> '0-6': the class part of a data source, for table labels."""
    return source.partition(":")[2] or source


def print_table(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    names = list(results)
    rows = [
        (f"val ROC AUC (held-out {classes(args.train_classes)})", "val_auc"),
        (f"ROC AUC (unseen {classes(args.unseen_classes)})", "auc"), ("EER", "eer"),
        ("TAR @ FAR 1e-3", "tar_far_1e-3"), ("TAR @ FAR 1e-2", "tar_far_1e-2"),
        ("tau (best accuracy on val)", "tau"), ("accuracy @ val tau", "accuracy_at_tau"),
        ("accuracy @ oracle tau", "best_accuracy"), (f"one-shot accuracy ({args.draws} draws)", "one_shot"),
        ("  std over draws", "one_shot_std"), ("training seconds", "train_seconds"),
    ]
    width = max(len(label) for label, _ in rows) + 2
    print(f"{'':<{width}}" + "".join(f"{n:>22}" for n in names))
    for label, key in rows:
        digits = 0 if key == "train_seconds" else 4 if key in ("auc", "tau") else 3
        print(f"{label:<{width}}" + "".join(f"{_fmt(results[n].get(key), digits):>22}" for n in names))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--per-class", type=int, default=2000, help="training images per class (of 6000)")
    add("--epochs", type=int, default=8)
    add("--trunk", default="quicknet", help="zoo name or spec of the trunk (both models)")
    add("--dim", type=int, default=128)
    add("--p", type=int, default=7, help="classes per batch")
    add("--k", type=int, default=16, help="images per class in a batch")
    add("--lr", type=float, default=3e-3)
    add("--weight-decay", type=float, default=5e-4)
    add("--margin", type=float, default=0.2)
    add("--mining", default="semi_hard", help="cnnkit faces train's default")
    add("--train-classes", default=TRAIN_CLASSES, help="identities to train on (default %(default)s)")
    add("--unseen-classes", default=UNSEEN_CLASSES, help="identities never seen in training (default %(default)s)")
    add("--augment", default="light", choices=("none", "light", "strong"))
    add("--seed", type=int, default=0)
    add("--threads", type=int, default=0, help="torch threads; 0: torch's default (every core)")
    add("--pairs", type=int, default=3000, help="same and as many different pairs, for val and for test")
    add("--draws", type=int, default=20, help="one-shot enrolment draws")
    add("--no-baseline", action="store_true", help="skip the classifier baseline")
    add("--json", type=Path, default=None, help="also write the results as JSON here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"machine: {machine()}")
    print(f"command: {shlex.join(['python', *sys.argv])}")

    train = load_identities(args.train_classes, per_identity=args.per_class, seed=args.seed)
    held_out = load_identities(args.train_classes, split="test")  # seen classes, unseen images: for tau
    test = load_identities(args.unseen_classes, split="test")
    val_pairs = make_pairs(held_out, same=args.pairs, different=args.pairs, generator=torch.Generator().manual_seed(1))
    test_pairs = make_pairs(test, same=args.pairs, different=args.pairs, generator=torch.Generator().manual_seed(0))
    print(f"data: train {len(train)} images of {args.train_classes}; tau from {len(val_pairs)} pairs of the "
          f"{len(held_out)} test images of {args.train_classes}; scored on {len(test_pairs)} pairs of the "
          f"{len(test)} test images of {args.unseen_classes} ({', '.join(test.names)})")

    pixels = train.images.float().div(255)
    mean, std = float(pixels.mean()), float(pixels.std())
    torch.manual_seed(args.seed)
    net = build_embedder(args.trunk, dim=args.dim, in_channels=train.image_shape[0],
                         image_size=train.image_shape[1:])
    config = EmbedFitConfig(epochs=args.epochs, p=args.p, k=args.k, lr=args.lr, weight_decay=args.weight_decay,
                            mining=args.mining, margin=args.margin, augment=augment_config(args.augment, mean, std),
                            seed=args.seed)
    history = fit_embedder(net, train, config, val=ValidationPairs(held_out, val_pairs),
                           log=lambda r: print(f"  epoch {int(r['epoch'])}: loss {r['loss']:.4f}, active "
                                               f"{r['active']:.2f}, val AUC {r['val_auc']:.4f}, {r['seconds']:.1f} s",
                                               flush=True))
    seconds = sum(r["seconds"] for r in history)  # training steps only, not the per-epoch validation
    results: dict[str, dict[str, Any]] = {}
    results["triplet embedding"] = {**evaluate(net.embed, (held_out, val_pairs), (test, test_pairs), args.draws,
                                               args.seed), "train_seconds": seconds}
    if not args.no_baseline:
        batches = max(1, len(train) // (args.p * args.k))  # as the P x K sampler's epoch
        classifier, seconds = train_classifier(args, train, batches)
        results["classifier baseline"] = {**evaluate(classifier, (held_out, val_pairs), (test, test_pairs),
                                                     args.draws, args.seed), "train_seconds": seconds}
    print()
    print_table(results, args)
    if args.json is not None:
        from cnnkit.atomic import write_json

        write_json(args.json, {"command": shlex.join(["python", *sys.argv]), "machine": machine(),
                               "settings": vars(args) | {"json": str(args.json)}, "results": results})


if __name__ == "__main__":
    main()
