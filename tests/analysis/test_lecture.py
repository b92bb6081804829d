"""The corrected seed-004 tables: real numbers from torch layers built here by hand, and a
note on every row where the notes' count differs."""

from __future__ import annotations

import pytest
from torch import nn

from cnnkit.analysis.lecture import lecture_markdown, lecture_tables


def _numel(*layers: nn.Module) -> list[int]:
    return [sum(p.numel() for p in layer.parameters()) for layer in layers]


@pytest.fixture(scope="module")
def tables():  # type: ignore[no-untyped-def]
    from cnnkit.nn.build import MODELS, _load_zoo

    _load_zoo()
    if "lenet5" not in MODELS:
        pytest.skip("the zoo has no lenet5 yet")
    return lecture_tables()


def test_lenet_numbers_come_from_the_real_layers(tables) -> None:  # type: ignore[no-untyped-def]
    lenet = tables[0]
    conv1, conv2 = nn.Conv2d(3, 6, 5), nn.Conv2d(6, 16, 5)
    fc3, fc4, out = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)
    expected = [0, *_numel(conv1), 0, *_numel(conv2), 0, *_numel(fc3, fc4, out)]
    assert [r.params for r in lenet.rows] == expected
    assert expected[1:4:2] == [456, 2416] and expected[5] == 48120  # the README's figures
    assert lenet.total_params == sum(expected)
    # the notes' shapes and sizes are right; only their parameter counts are wrong
    assert all(r.shape == r.notes_shape and r.total_size == r.notes_total_size for r in lenet.rows)


def test_alexnet_numbers_come_from_the_real_layers(tables) -> None:  # type: ignore[no-untyped-def]
    alex = tables[1]
    convs = [nn.Conv2d(3, 96, 11), nn.Conv2d(96, 256, 5), nn.Conv2d(256, 384, 3),
             nn.Conv2d(384, 384, 3), nn.Conv2d(384, 256, 3)]
    fcs = [nn.Linear(9216, 4096), nn.Linear(4096, 4096), nn.Linear(4096, 1000)]
    by_label = {r.layer.split()[0]: r.params for r in alex.rows}
    assert [by_label[f"CONV{i}"] for i in range(1, 6)] == _numel(*convs)
    assert [by_label["FC6"], by_label["FC7"], by_label["Softmax"]] == _numel(*fcs)
    assert by_label["FC5"] == 0 and by_label["POOL5"] == 0
    assert alex.total_params == sum(_numel(*convs, *fcs))
    assert all(r.shape == r.notes_shape for r in alex.rows)


def test_every_differing_row_has_its_reason(tables) -> None:  # type: ignore[no-untyped-def]
    for table in tables:
        for r in table.rows:
            if r.params != r.notes_params:
                assert r.note, r.layer
            if r.layer.startswith("CONV"):
                assert r.params != r.notes_params and "forgetting the" in r.note
            if r.layer.startswith("FC") and r.params:
                assert "one bias for the whole layer" in r.note
    softmax = tables[1].rows[-1]
    assert "leave out the biases" in softmax.note and "4096*1000 = 4,096,000" in softmax.note
    assert "(5*5*3+1)*6 = 456" in tables[0].rows[1].note


def test_markdown_has_the_seed_columns(tables) -> None:  # type: ignore[no-untyped-def]
    md = lecture_markdown(tables)
    assert "| Layer | Shape | Total Size | #params | notes say | note |" in md
    assert "| CONV1 (Layer 1) | 28 x 28 x 6 | 4,704 | 456 | 156 |" in md
