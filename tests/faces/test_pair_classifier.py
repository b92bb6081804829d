"""The binary pair classifier: its output is the lecture's formula, it learns a separable
toy set from stored embeddings, and bad pairs fail clearly."""

from __future__ import annotations

import math

import pytest
import torch

from cnnkit.errors import DataError, ModelError, ShapeError
from cnnkit.faces.pair_classifier import PairClassifier, fit_pair_classifier


def test_output_is_sigmoid_of_weighted_abs_difference() -> None:
    g = torch.Generator().manual_seed(0)
    clf = PairClassifier(5)
    with torch.no_grad():
        clf.linear.weight.copy_(torch.randn(1, 5, generator=g))
        clf.linear.bias.fill_(0.3)
    e1, e2 = torch.randn(4, 5, generator=g), torch.randn(4, 5, generator=g)
    w = clf.linear.weight[0].tolist()
    expected = [
        1.0 / (1.0 + math.exp(-(sum(wk * abs(a - b) for wk, a, b in zip(w, r1, r2)) + 0.3)))
        for r1, r2 in zip(e1.tolist(), e2.tolist())
    ]
    torch.testing.assert_close(clf.predict_proba(e1, e2), torch.tensor(expected))
    # symmetric in its two inputs, as a verification score should be
    torch.testing.assert_close(clf.predict_proba(e1, e2), clf.predict_proba(e2, e1))


def _toy_set() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Unit embeddings of 4 identities x 3 images, tight clusters; every pair of images."""
    g = torch.Generator().manual_seed(3)
    centres = torch.nn.functional.normalize(torch.randn(4, 8, generator=g), dim=1)
    emb = centres.repeat_interleave(3, 0) + 0.02 * torch.randn(12, 8, generator=g)
    emb = torch.nn.functional.normalize(emb, dim=1)
    labels = torch.arange(4).repeat_interleave(3)
    i, j = torch.triu_indices(12, 12, offset=1)
    return emb, i, j, labels[i] == labels[j]


def test_learns_a_separable_set_from_stored_embeddings() -> None:
    emb, i, j, same = _toy_set()
    stored = emb.clone()
    clf = fit_pair_classifier(emb, i, j, same, epochs=150, lr=0.1, generator=torch.Generator().manual_seed(0))
    proba = clf.predict_proba(emb[i], emb[j])
    accuracy = ((proba > 0.5) == same).float().mean().item()
    assert accuracy == 1.0
    assert torch.equal(emb, stored)  # the stored table is read, never changed
    assert not clf.training
    # same pairs have small |e_i - e_j|, so the learned weights are mostly negative
    assert clf.linear.weight.sum().item() < 0


def test_fit_is_deterministic_given_the_generator() -> None:
    emb, i, j, same = _toy_set()
    fits = [
        fit_pair_classifier(emb, i, j, same, epochs=5, batch_size=16, generator=torch.Generator().manual_seed(4))
        for _ in range(2)
    ]
    torch.testing.assert_close(fits[0].linear.weight, fits[1].linear.weight, rtol=0, atol=0)


def test_the_fit_needs_a_generator_not_the_global_random_state() -> None:
    emb, i, j, same = _toy_set()
    with pytest.raises(TypeError, match="generator"):
        fit_pair_classifier(emb, i, j, same, epochs=1)  # type: ignore[call-arg]


def test_pair_errors() -> None:
    emb, i, j, same = _toy_set()
    g = torch.Generator()
    with pytest.raises(DataError, match="both same-identity and different-identity"):
        fit_pair_classifier(emb, i, j, torch.ones_like(same), generator=g)
    with pytest.raises(DataError, match="row indices in 0..11"):
        fit_pair_classifier(emb, i, j + 1, same, generator=g)
    with pytest.raises(DataError, match="no pairs"):
        fit_pair_classifier(emb, i[:0], j[:0], same[:0], generator=g)
    with pytest.raises(ShapeError, match="one length"):
        fit_pair_classifier(emb, i, j[:-1], same, generator=g)
    with pytest.raises(ModelError, match="epochs"):
        fit_pair_classifier(emb, i, j, same, epochs=0, generator=g)
    with pytest.raises(ShapeError, match=r"\(M, 5\)"):
        PairClassifier(5)(torch.zeros(2, 4), torch.zeros(2, 4))
    with pytest.raises(ModelError, match="dim"):
        PairClassifier(0)
