"""How a user may name things: layers by a unique suffix, choices in any spelling.

One rule for every command, so that what works in one place works in all:

- **Layers** (:func:`resolve_layer`): the full dotted name (``features.stage2.conv1``), or
  any unique dotted suffix of it (``stage2.conv1``, ``conv1`` when only one layer ends so).
  When several layers end in the suffix, the shallowest one is meant if it alone is the
  shallowest (``conv1`` is ``features.conv1``, not ``features.stage2.conv1``); otherwise
  the message lists the candidates.
- **Choices** (:func:`pick_choice`): case and the separators ``-``, ``_`` and space do not
  matter: ``grad-cam``, ``grad_cam`` and ``GradCAM`` name the same method, ``semi-hard``
  and ``semi_hard`` the same mining.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from cnnkit.errors import CnnkitError, did_you_mean

__all__ = ["choice_key", "pick_choice", "resolve_layer"]


def choice_key(text: str) -> str:
    """The spelling-free key of a choice: lower case, letters and digits only."""
    return re.sub(r"[^a-z0-9]", "", text.lower())


def pick_choice(value: str, choices: Sequence[str], *, what: str) -> str:
    """The member of ``choices`` that ``value`` spells (``semi-hard`` -> ``semi_hard``).

    CnnkitError naming ``what`` (e.g. "--mining", "method"), the closest choice and all
    of them when none matches."""
    key = choice_key(value)
    for choice in choices:
        if choice_key(choice) == key:
            return choice
    raise CnnkitError(f"{what} {value!r} is not known{did_you_mean(value, choices)}; choose one of: {', '.join(choices)}")


def resolve_layer(name: str, names: Iterable[str], *, where: str, listing: str) -> str:
    """The full layer name that ``name`` means among ``names`` (dotted module names).

    ``where`` names the model in messages ("runs/fm"); ``listing`` says which command lists
    the layers. CnnkitError when no layer or several equally shallow layers end in ``name``.
    """
    known = [n for n in names if n]
    key = name.strip()
    if key in known:
        return key
    ending = [n for n in known if n.endswith("." + key)]
    if ending:
        shallow = min(n.count(".") for n in ending)
        top = [n for n in ending if n.count(".") == shallow]
        if len(top) == 1:
            return top[0]
        more = f", ... ({len(top)} in all)" if len(top) > 6 else ""
        raise CnnkitError(
            f"layer {key!r} is ambiguous in {where}: {', '.join(top[:6])}{more}; give more of the name"
        )
    short = sorted({n.rsplit(".", 1)[-1] for n in known})
    raise CnnkitError(f"{where} has no layer {key!r}{did_you_mean(key, known + short)}; {listing} lists the layer names")
