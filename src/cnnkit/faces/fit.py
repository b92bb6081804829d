"""Training an embedding network with the triplet (or contrastive) loss on P x K batches.

One step: a :class:`~cnnkit.faces.sampler.PKSampler` batch of P identities x K images
(uint8, kept in memory) -> batched augmentation on the device -> one forward pass through
the single :class:`~cnnkit.faces.embed.EmbeddingNet` (Siamese: every anchor, positive and
negative goes through the same weights) -> triplets mined in the batch
(:func:`~cnnkit.faces.mining.batch_triplet_loss`) or every pair of the batch for the
contrastive loss -> AdamW with a one-cycle learning rate.

After each epoch, with validation pairs, the record holds the verification ROC AUC on them
(:func:`~cnnkit.faces.verify.verification_metrics`); embeddings are computed once per
evaluation, never per pair.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor

from cnnkit.data.augment import Augment, AugmentConfig
from cnnkit.errors import DataError
from cnnkit.faces.embed import EmbeddingNet
from cnnkit.faces.identities import IdentitySet
from cnnkit.faces.losses import contrastive_loss
from cnnkit.faces.mining import STRATEGIES, batch_triplet_loss
from cnnkit.faces.pairs_file import IndexPairs
from cnnkit.faces.sampler import PKSampler
from cnnkit.nn.seeded_layers import seed_stochastic_layers
from cnnkit.faces.verify import pair_distances, verification_metrics
from cnnkit.numbers import check_range

__all__ = ["EmbedFitConfig", "ValidationPairs", "check_config", "fit_embedder", "pair_scores"]


def _default_augment() -> AugmentConfig:
    return AugmentConfig(crop_padding=2, flip=True)


@dataclass(frozen=True)
class EmbedFitConfig:
    """Training settings (units in the comments)."""

    epochs: int = 10
    p: int = 8  # identities per batch (lowered to the number of identities with 2+ images)
    k: int = 8  # images per identity in a batch
    batches_per_epoch: int | None = None  # None: about one pass over the images
    lr: float = 3e-3  # peak learning rate of the one-cycle schedule
    weight_decay: float = 5e-4
    loss: Literal["triplet", "contrastive"] = "triplet"
    mining: str = "semi_hard"  # random | batch_all | batch_hard | semi_hard (triplet loss only)
    margin: float = 0.2  # squared-distance units: alpha of the triplet loss (contrastive: use ~1.0)
    augment: AugmentConfig = field(default_factory=_default_augment)
    seed: int = 0
    grad_clip: float = 10.0


@dataclass
class ValidationPairs:
    """Images with identities and the pairs among them to verify: what ``fit`` scores."""

    data: IdentitySet
    pairs: IndexPairs


def pair_scores(net: EmbeddingNet, val: ValidationPairs) -> tuple[Tensor, Tensor]:
    """(squared distances (M,), same (M,)) of ``val``'s pairs; each image embedded once."""
    emb = net.embed(val.data.images).cpu()  # (N, d), computed once for every pair that uses it
    return pair_distances(emb, val.pairs.i, val.pairs.j), val.pairs.same


def check_config(cfg: EmbedFitConfig) -> None:
    """DataError (CnnkitError for a non-finite or out-of-range number) for settings no
    training can run with."""
    if cfg.epochs < 1:
        raise DataError(f"epochs must be at least 1, got {cfg.epochs}")
    check_range("--lr", cfg.lr, 0, strict=True)  # inf or nan trains to NaN weights without a word
    check_range("--margin", cfg.margin, 0)
    if cfg.loss not in ("triplet", "contrastive"):
        raise DataError(f"loss must be 'triplet' or 'contrastive', got {cfg.loss!r}")
    if cfg.mining not in STRATEGIES:
        raise DataError(f"mining must be one of {', '.join(STRATEGIES)}, got {cfg.mining!r}")


def _check(net: EmbeddingNet, data: IdentitySet, cfg: EmbedFitConfig) -> None:
    check_config(cfg)
    if data.images.shape[1] != net.in_channels:
        raise DataError(
            f"the images have {data.images.shape[1]} channels but the embedder was built for {net.in_channels}; "
            f"build it with in_channels={data.images.shape[1]}"
        )


def fit_embedder(
    net: EmbeddingNet,
    data: IdentitySet,
    config: EmbedFitConfig | None = None,
    *,
    val: ValidationPairs | None = None,
    device: torch.device | str = "cpu",
    log: Callable[[dict[str, float]], None] | None = None,
) -> list[dict[str, float]]:
    """Train ``net`` on ``data`` in place; returns one record per epoch.

    Records: ``epoch``, ``loss`` (mean over steps), ``triplets`` (mean mined per step; 0 for
    the contrastive loss), ``active`` (share of mined triplets or pairs with a positive loss),
    ``seconds`` and, with ``val``, ``val_auc``. ``log`` is called with each record. Before
    training, the net's ``mean``/``std`` are set from ``data``'s images. Every random draw
    (batches, augmentation, mining, dropout, stochastic pooling) comes from generators seeded
    with ``config.seed``, never from torch's global state: on the CPU the same seed and the
    same starting weights give the same trained weights.
    """
    cfg = config or EmbedFitConfig()
    _check(net, data, cfg)
    device = torch.device(device)
    net.to(device)
    gen = torch.Generator().manual_seed(cfg.seed)
    # dropout and stochastic pooling draw from generators too, not torch's global state
    seed_stochastic_layers(net, gen, torch.Generator(device=device).manual_seed(cfg.seed))
    counts = data.counts()
    usable = int((counts >= 2).sum())
    sampler = PKSampler(data.identities, p=min(cfg.p, max(usable, 2)), k=cfg.k,
                        num_batches=cfg.batches_per_epoch, generator=gen)
    with torch.no_grad():
        pixels = data.images.float().div(255).transpose(0, 1).reshape(data.images.shape[1], -1)
        net.mean.copy_(pixels.mean(dim=1))
        net.std.copy_(pixels.std(dim=1).clamp(min=1e-3))
    augment = Augment(cfg.augment)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * len(sampler),
                                                pct_start=0.15)
    history: list[dict[str, float]] = []
    for epoch in range(1, cfg.epochs + 1):
        net.train()
        start = time.perf_counter()
        totals = {"loss": 0.0, "triplets": 0.0, "active": 0.0}
        for rows in sampler:
            x = net.normalize(data.images[rows].to(device))
            x = augment(x, gen)
            labels = data.identities[rows].to(device)
            emb = net(x)  # (P*K, d): one Siamese pass for every anchor, positive and negative
            if cfg.loss == "triplet":
                loss, found = batch_triplet_loss(emb, labels, strategy=cfg.mining, margin=cfg.margin, generator=gen)
                mined = found.size
                with torch.no_grad():
                    a, p, n = found.anchor, found.positive, found.negative
                    gaps = (emb[a] - emb[p]).pow(2).sum(1) - (emb[a] - emb[n]).pow(2).sum(1) + cfg.margin
                    active = float((gaps > 0).float().mean()) if mined else 0.0
            else:
                i, j = torch.triu_indices(len(rows), len(rows), offset=1, device=device)
                same = labels[i] == labels[j]
                loss = contrastive_loss(emb[i], emb[j], same, margin=cfg.margin)
                mined = 0
                with torch.no_grad():
                    d = (emb[i] - emb[j]).pow(2).sum(1)
                    active = float(torch.where(same, d > 0, d < cfg.margin).float().mean())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
            opt.step()
            sched.step()
            totals["loss"] += float(loss.detach())
            totals["triplets"] += mined
            totals["active"] += active
        steps = len(sampler)
        record = {"epoch": float(epoch), **{k: v / steps for k, v in totals.items()},
                  "seconds": time.perf_counter() - start}
        if val is not None:
            distances, same = pair_scores(net, val)
            record["val_auc"] = float(verification_metrics(distances, same, fars=())["auc"])
        history.append(record)
        if log is not None:
            log(record)
    net.eval()
    return history
