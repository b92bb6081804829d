"""Neural style transfer (Gatys et al., 2015): a content photo painted in another picture's style.

Start with :func:`style_transfer`. The modules, one concept each:

- ``gram.py``: the Gram (style) matrix of a layer's activations;
- ``costs.py``: content cost, per-layer and summed style cost, total variation;
- ``network.py``: which network measures content and style, and its weights (VGG19 with
  torchvision's ImageNet weights by default, any zoo model or run, random only when allowed);
- ``head.py``: frees the layers after the last feature map (VGG19's classifier), never run;
- ``memory.py``: refuses a ``--size`` whose activations would not fit in free memory;
- ``extractor.py``: the chosen layers' activations in one forward pass; lecture layer names
  (``conv4_2``) and the default layers;
- ``objective.py``: J = alpha J_content + beta J_style + tv J_tv, and how beta is chosen;
- ``transfer.py``: the optimization (L-BFGS or Adam) and :func:`style_transfer`;
- ``images.py``: reading pictures of any size and mode, writing the PNG;
- ``color.py``: keeping the content photo's colours (``preserve_color``).
"""

from __future__ import annotations

from cnnkit.style.costs import (
    content_cost,
    layer_style_cost,
    style_cost,
    total_variation,
)
from cnnkit.style.extractor import FeatureExtractor
from cnnkit.style.gram import gram_matrix
from cnnkit.style.network import open_network
from cnnkit.style.objective import StyleObjective
from cnnkit.style.transfer import StyleResult, style_transfer

__all__ = [
    "FeatureExtractor",
    "StyleObjective",
    "StyleResult",
    "content_cost",
    "gram_matrix",
    "layer_style_cost",
    "open_network",
    "style_cost",
    "style_transfer",
    "total_variation",
]
