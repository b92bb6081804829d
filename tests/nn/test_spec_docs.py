"""docs/grammar.md stays true: its patterns build and its pasted errors are the real ones."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from cnnkit.errors import SpecError
from cnnkit.nn.spec import from_spec

_DOC = Path(__file__).resolve().parents[2] / "docs" / "grammar.md"
_BLOCKS = re.findall(r"```text\n(.*?)```", _DOC.read_text(encoding="utf-8"), flags=re.S)
_ERRORS = [b for b in _BLOCKS if b.startswith("spec line")]
_PATTERNS = [b for b in _BLOCKS if b.lstrip().startswith("INPUT")]


def _specs(block: str) -> list[str]:
    """A block of one-line specs gives each; a block whose lines continue with '->' is one spec."""
    lines = [line for line in block.splitlines() if line.strip()]
    if any(line.lstrip().startswith("->") for line in lines):
        return [block]
    return lines


@pytest.mark.parametrize("block", _PATTERNS)
def test_documented_patterns_build_and_run(block: str) -> None:
    for text in _specs(block):
        model = from_spec(text)
        model.eval()
        assert model(torch.randn(2, *model.input_shape)).shape == (2, *model.output_shape)


@pytest.mark.parametrize("block", _ERRORS)
def test_documented_errors_are_the_real_messages(block: str) -> None:
    source = block.splitlines()[1][2:]  # the spec line as printed under the message
    with pytest.raises(SpecError) as info:
        from_spec(source)
    assert str(info.value) == block.rstrip("\n")


def test_the_doc_has_examples() -> None:
    assert len(_ERRORS) >= 8 and len(_PATTERNS) >= 3
