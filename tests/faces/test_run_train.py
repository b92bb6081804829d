"""faces.run_train pieces: one-shot identification and the pair classifier's scores, against hand computation."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from face_folders import make_folder
from sklearn.metrics import roc_auc_score

from cnnkit.errors import DataError
from cnnkit.faces.embed import build_embedder
from cnnkit.faces.identities import IdentitySet
from cnnkit.faces.pair_classifier import PairClassifier
from cnnkit.faces.pairs_file import make_pairs
from cnnkit.faces.run_train import FaceTrainSettings, eval_pairs, evaluate, load_splits, one_shot_identification


def test_one_shot_identification_on_hand_made_embeddings() -> None:
    # three identities on three axes; one image of identity 2 lies nearer identity 0
    emb = torch.tensor([[1.0, 0, 0], [0.9, 0.1, 0], [0, 1.0, 0], [0, 0.9, 0.1], [0, 0, 1.0], [0.8, 0, 0.2]])
    ids = torch.tensor([0, 0, 1, 1, 2, 2])
    result = one_shot_identification(emb, ids, ("a", "b", "c"), tau=0.5, draws=8, seed=0)
    # each draw has 3 probes: a's and b's are always right; c's is right only when [0.8, 0, 0.2] is
    # the enrolled one (probe [0, 0, 1] is then nearest to it), so a draw scores 1 or 2/3
    assert result["identities"] == 3 and 2 / 3 <= result["accuracy"] <= 1
    assert result["accepted_right"] <= result["accepted"] <= 1
    with pytest.raises(DataError, match="two identities"):
        one_shot_identification(emb[:2], ids[:2], ("a",), tau=0.5)


def test_evaluate_scores_the_pair_classifier_like_sklearn() -> None:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (24, 1, 8, 8), generator=g, dtype=torch.uint8)
    data = IdentitySet(images, torch.arange(4).repeat_interleave(6), ("a", "b", "c", "d"), "random")
    pairs = make_pairs(data, same=20, different=20, generator=g)
    net = build_embedder("INPUT(1x8x8) -> CONV(4, k=3, p=1) -> RELU -> FC(2)", dim=6, image_size=(8, 8))
    clf = PairClassifier(6)
    with torch.no_grad():
        clf.linear.weight.copy_(torch.randn(1, 6, generator=g))
        clf.linear.bias.fill_(0.3)
    result = evaluate(net, data, pairs, tau=0.1, pair_classifier=clf)
    emb = net.embed(images)
    prob = torch.sigmoid((emb[pairs.i] - emb[pairs.j]).abs() @ clf.linear.weight[0] + 0.3)
    assert result["pair_classifier"]["auc"] == pytest.approx(roc_auc_score(pairs.same.numpy(), prob.detach().numpy()))
    assert result["pair_classifier"]["accuracy"] == pytest.approx(float(((prob >= 0.5) == pairs.same).float().mean()))
    d = (emb[pairs.i] - emb[pairs.j]).pow(2).sum(1)
    assert result["auc"] == pytest.approx(roc_auc_score(pairs.same.numpy(), (-d).numpy()))


def test_a_folder_of_eight_images_a_person_gives_validation_pairs(tmp_path: Path) -> None:
    """10 people x 8 images: 2 people go to the test, and each of the 8 others gives 2
    validation images (not round(0.8) = 1), so tau has 8 "same" pairs to be chosen on."""
    make_folder(tmp_path, {f"P{k}": 8 for k in range(10)})
    train, val, test = load_splits(FaceTrainSettings(data=f"folder:{tmp_path}", image_size=8, channels=1))
    assert len(test.counts()) == 2
    assert val.counts().tolist() == [2] * 8 and train.counts().tolist() == [6] * 8
    pairs = eval_pairs(val, 3000, seed=0)
    assert int(pairs.same.sum()) == 8  # one pair per person: C(2, 2) = 1
    assert bool((val.identities[pairs.i] == val.identities[pairs.j]).eq(pairs.same).all())
