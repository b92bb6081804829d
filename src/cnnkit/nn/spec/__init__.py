"""The architecture grammar: ``INPUT -> [[CONV -> RELU]*N -> POOL?]*M -> [FC -> RELU]*K -> FC``.

- :func:`parse_spec` turns text into a checked syntax tree (:class:`Spec`).
- :func:`from_spec` builds a :class:`SpecModel` (a CnnModel) with every shape inferred.

The user guide is docs/grammar.md. Files, in the order the text flows through them:
``lexer`` (tokens), ``parser`` (syntax tree), ``schema`` (layers, arguments, defaults),
``planner`` (repeats, optional layers, naming) with ``spatial`` and ``shapes`` (the size
arithmetic), ``modules`` (torch modules) and ``builder`` (from_spec, SpecModel).
"""

from __future__ import annotations

from cnnkit.nn.spec.builder import SpecModel, from_spec
from cnnkit.nn.spec.nodes import Arg, Layer, Repeat, Spec, Value
from cnnkit.nn.spec.parser import parse_spec
from cnnkit.nn.spec.schema import LAYERS

__all__ = ["LAYERS", "Arg", "Layer", "Repeat", "Spec", "SpecModel", "Value", "from_spec", "parse_spec"]
