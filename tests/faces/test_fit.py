"""fit_embedder: a small embedder learns to tell identities apart; settings are checked."""

from __future__ import annotations

import pytest
import torch

from cnnkit.data.augment import AugmentConfig
from cnnkit.errors import DataError
from cnnkit.faces.embed import build_embedder
from cnnkit.faces.fit import EmbedFitConfig, ValidationPairs, fit_embedder, pair_scores
from cnnkit.faces.identities import IdentitySet
from cnnkit.faces.pairs_file import make_pairs
from cnnkit.faces.verify import pair_distances, verification_metrics

TRUNK = "INPUT(1x16x16) -> [CONV(16, k=3, p=1) -> BN -> RELU -> POOL(2)]*2 -> FC(2)"


def _patterns(per_identity: int, identities: int = 6, seed: int = 0) -> IdentitySet:
    """16x16 images: identity k is its own random 6x6 binary pattern, pasted at a random
    place in noise (so the net must learn shapes, not places)."""
    g = torch.Generator().manual_seed(seed)
    shapes = torch.rand(identities, 6, 6, generator=torch.Generator().manual_seed(99)) > 0.5  # same for every seed
    n = per_identity * identities
    labels = torch.arange(identities).repeat_interleave(per_identity)
    images = torch.randint(0, 60, (n, 1, 16, 16), generator=g, dtype=torch.uint8)
    for r, k in enumerate(labels.tolist()):
        y, x = torch.randint(0, 11, (2,), generator=g).tolist()
        patch = images[r, 0, y : y + 6, x : x + 6]
        patch[shapes[k]] = 230
    return IdentitySet(images, labels, tuple(f"id{k}" for k in range(identities)), "patterns")


def _config(**kw: object) -> EmbedFitConfig:
    # no flips: a mirrored pattern would be another identity's
    base = {"epochs": 10, "p": 6, "k": 4, "batches_per_epoch": 10, "lr": 3e-3, "augment": AugmentConfig()}
    return EmbedFitConfig(**{**base, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize("loss, margin", [("triplet", 0.2), ("contrastive", 1.0)])
def test_training_separates_identities(loss: str, margin: float) -> None:
    torch.manual_seed(0)
    train, held = _patterns(12), _patterns(8, seed=1)
    pairs = make_pairs(held, same=60, different=60, generator=torch.Generator().manual_seed(0))
    val = ValidationPairs(held, pairs)
    net = build_embedder(TRUNK, dim=16, image_size=(16, 16))
    before = verification_metrics(*pair_scores(net, val), fars=())["auc"]
    history = fit_embedder(net, train, _config(loss=loss, margin=margin), val=val)
    assert len(history) == 10 and history[-1]["val_auc"] == pytest.approx(
        verification_metrics(*pair_scores(net, val), fars=())["auc"])
    assert history[-1]["val_auc"] > 0.95 > before
    assert history[-1]["loss"] < history[0]["loss"]
    assert not net.training
    # the recorded statistics are the training images' own
    assert net.mean.item() == pytest.approx(train.images.float().div(255).mean().item(), rel=1e-5)


def test_pair_scores_embed_each_image_once_and_match_the_formula() -> None:
    held = _patterns(3)
    pairs = make_pairs(held, same=10, different=10, generator=torch.Generator().manual_seed(2))
    net = build_embedder(TRUNK, dim=8, image_size=(16, 16))
    calls = []
    net.register_forward_hook(lambda *_: calls.append(1))
    distances, same = pair_scores(net, ValidationPairs(held, pairs))
    assert len(calls) == 1  # one batch of 18 images, whatever the number of pairs
    emb = net.embed(held.images)
    assert torch.allclose(distances, (emb[pairs.i] - emb[pairs.j]).pow(2).sum(1), atol=1e-6)
    assert torch.equal(distances, pair_distances(emb, pairs.i, pairs.j)) and torch.equal(same, pairs.same)


def test_fit_checks_its_settings() -> None:
    data = _patterns(4)
    net = build_embedder(TRUNK, dim=8, image_size=(16, 16))
    with pytest.raises(DataError, match="mining"):
        fit_embedder(net, data, _config(mining="hardest"))
    with pytest.raises(DataError, match="loss"):
        fit_embedder(net, data, _config(loss="arcface"))  # type: ignore[arg-type]
    with pytest.raises(DataError, match="epochs"):
        fit_embedder(net, data, _config(epochs=0))
    rgb = build_embedder("quicknet", dim=8, image_size=(16, 16), in_channels=3)
    with pytest.raises(DataError, match="in_channels=1"):
        fit_embedder(rgb, data, _config())
