"""Gallery enroll -> save -> load -> identify, unknown rejection, and the file's error cases."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from torch import nn

from cnnkit.errors import DataError, RunError
from cnnkit.faces.gallery import Gallery, Match, enroll, fingerprint, identify, load_gallery, save_gallery


def _unit(*rows: list[float]) -> torch.Tensor:
    return nn.functional.normalize(torch.tensor(rows, dtype=torch.float32), dim=1)


@pytest.fixture
def gallery() -> Gallery:
    # Three identities on three axes in 4-d; bob has two enrolled views.
    embeddings = _unit([1, 0, 0, 0], [0, 1, 0, 0], [0, 0.8, 0.6, 0], [0, 0, 0, 1])
    identities = torch.tensor([0, 1, 1, 2])
    return enroll(embeddings, identities, ("alice", "bob", "carol"), tau=0.5, model_fingerprint="abc123",
                  sources=["a.png", "b1.png", "b2.png", "c.png"])


def test_enroll_groups_by_identity(gallery: Gallery) -> None:
    assert gallery.names == ("alice", "bob", "carol") and gallery.dim == 4
    assert [tuple(e.shape) for e in gallery.embeddings] == [(1, 4), (2, 4), (1, 4)]
    assert gallery.sources == [["a.png"], ["b1.png", "b2.png"], ["c.png"]]
    stacked, owners = gallery.stacked()
    assert stacked.shape == (4, 4) and owners.tolist() == [0, 1, 1, 2]


def test_round_trip_identifies_the_right_people(gallery: Gallery, tmp_path: Path) -> None:
    path = save_gallery(gallery, tmp_path / "gallery.json")
    loaded = load_gallery(path, expected_fingerprint="abc123", expected_dim=4)
    assert loaded.names == gallery.names and loaded.tau == 0.5 and loaded.sources == gallery.sources
    for a, b in zip(loaded.embeddings, gallery.embeddings):
        assert torch.equal(a, b)  # float32 survives JSON exactly
    queries = _unit([0.95, 0.1, 0, 0], [0.05, 0.1, 0.1, 0.98], [0, 0.1, 0, 0.05])
    matches = identify(loaded, queries)
    assert [m.name for m in matches] == ["alice", "carol", "bob"]
    reference = torch.cdist(queries, loaded.stacked()[0]) ** 2
    for match, row in zip(matches, reference):
        assert match.distance == pytest.approx(float(row.min()), abs=1e-6)


def test_nearest_of_several_embeddings_per_identity(gallery: Gallery) -> None:
    # Close to bob's second view (0, .8, .6, 0) and far from his first (0, 1, 0, 0).
    query = _unit([0, 0.75, 0.66, 0])
    (match,) = identify(gallery, query)
    second_view = gallery.embeddings[1][1]
    assert match.name == "bob"
    assert match.distance == pytest.approx(float(((query[0] - second_view) ** 2).sum()), abs=1e-6)
    assert match.distance < float(((query[0] - gallery.embeddings[1][0]) ** 2).sum())


def test_unknown_when_nothing_is_within_tau(gallery: Gallery) -> None:
    # Halfway between alice and carol: squared distance 2 - sqrt(2) ~ 0.586 to both, above tau 0.5.
    halfway = _unit([1, 0, 0, 1])
    (match,) = identify(gallery, halfway)
    assert match == Match(name=None, distance=pytest.approx(2 - 2**0.5, abs=1e-6), nearest=match.nearest)
    assert match.nearest in ("alice", "carol") and not match.known
    # The same query is accepted once tau allows it (d <= tau, the lecture's rule).
    gallery.tau = 0.6
    assert identify(gallery, halfway)[0].known


def test_another_models_gallery_is_refused(gallery: Gallery, tmp_path: Path) -> None:
    path = save_gallery(gallery, tmp_path / "gallery.json")
    with pytest.raises(RunError, match=r"gallery.json was enrolled with another model \(fingerprint abc123, "
                                       r"this model ffff\); enroll again with this run"):
        load_gallery(path, expected_fingerprint="ffff")
    with pytest.raises(RunError, match="4-d embeddings but this model makes 8-d"):
        load_gallery(path, expected_dim=8)
    with pytest.raises(RunError, match="enroll the gallery again"):
        identify(gallery, torch.zeros(1, 8))


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "does not exist"),
        ("{not json", "not readable JSON"),
        ('{"format": "something-else"}', "not a cnnkit gallery"),
        ('{"format": "cnnkit-gallery", "format_version": 99}', "gallery format 99"),
        (('{"format": "cnnkit-gallery", "format_version": 1, "tau": 0.5, "identities": '
          '[{"name": "a", "embeddings": [[1, 0]]}, {"name": "b", "embeddings": [[1, 0, 0]]}]}'), "damaged"),
        ('{"format": "cnnkit-gallery", "format_version": 1, "identities": []}', "damaged"),
        (('{"format": "cnnkit-gallery", "format_version": 1, "tau": 0.5, "dim": 3, "identities": '
          '[{"name": "a", "embeddings": [[1, 0]]}]}'), "says its embeddings are 3-d"),
    ],
)
def test_bad_files(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "gallery.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(RunError, match=message):
        load_gallery(path)


def test_enroll_errors() -> None:
    with pytest.raises(DataError, match="'carol' has no image"):
        enroll(_unit([1, 0], [0, 1]), torch.tensor([0, 1]), ("alice", "bob", "carol"), tau=0.5, model_fingerprint="x")
    with pytest.raises(DataError, match="unique"):
        Gallery(names=("a", "a"), embeddings=[torch.zeros(1, 2), torch.zeros(1, 2)], tau=0.5, model_fingerprint="x")


def test_fingerprint_is_sha256_of_the_weights_in_key_order() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    state = model.state_dict()
    digest = hashlib.sha256()
    for key in sorted(state):
        t = state[key].contiguous()
        digest.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.numpy().tobytes())
    assert fingerprint(state) == digest.hexdigest()[:16]
    assert fingerprint(dict(reversed(list(state.items())))) == fingerprint(state)
    with torch.no_grad():
        model[0].weight[0, 0] += 1e-6  # any change in any weight changes the fingerprint
    assert fingerprint(model.state_dict()) != digest.hexdigest()[:16]
    assert len(fingerprint({"w": torch.ones(2, dtype=torch.bfloat16)})) == 16


def test_saved_file_is_plain_json(gallery: Gallery, tmp_path: Path) -> None:
    data = json.loads(save_gallery(gallery, tmp_path / "g.json").read_text())
    assert data["format"] == "cnnkit-gallery" and data["metric"] == "sq_l2" and data["dim"] == 4
    assert [e["name"] for e in data["identities"]] == ["alice", "bob", "carol"]
