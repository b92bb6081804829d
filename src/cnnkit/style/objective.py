"""J(G) = alpha * J_content(C, G) + beta * J_style(S, G) + tv * J_tv(G), ready to minimize.

:class:`StyleObjective` runs the content and style images through the network once, keeps
their targets (content activations, style Gram matrices), and then scores any generated
image of the content image's size in one forward pass.

**Choosing beta.** The costs are raw sums (the lecture's normalization), so their sizes
depend on the network, its weights, the layers and the image size: with torchvision's
VGG19 at 512 px the content cost is millions of times the style cost, with another model
or size the factor is different. A fixed default beta therefore suits one setting only.
When ``beta`` is not given it is set from the two images themselves:

    beta = balance * alpha * R_content / R_style,

where R_content = 1/2 ||a^[l](C)||^2 is the content cost of an image whose activations
are all zero and R_style = sum_l lambda^[l] ||G^[l](S)||^2 / (2 n_H n_W n_C)^2 is that
image's style cost. With ``balance`` = 1 a blank image is equally far from the content and
from the style; larger values favour the style. Pass ``beta`` to use the lecture's
formula with your own weight (the chosen value is always reported).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from cnnkit.errors import CnnkitError, ShapeError
from cnnkit.numbers import check_range
from cnnkit.style.costs import (
    StyleTarget,
    content_cost,
    reference_content_cost,
    style_cost,
    total_variation,
)
from cnnkit.style.extractor import FeatureExtractor

__all__ = ["DEFAULT_BALANCE", "PARTS", "StyleObjective", "auto_beta", "style_layer_weights"]

PARTS = ("content", "style", "tv", "total")  # the names of the loss parts, in report order
DEFAULT_BALANCE = 30.0  # style favoured 30:1; chosen by looking at results with VGG19 (docs/style.md)


def style_layer_weights(spec: str | Sequence[str] | Mapping[str, float] | None, default: Sequence[str]) -> dict[str, float]:
    """Style layers and their lambda weights.

    ``spec``: None (``default``, equal weights), 'conv1_1,conv2_1:2' (text; a missing
    weight is 1), a list of names (equal weights) or a {name: weight} mapping. Weights are
    rescaled to sum to 1, as the lecture's lambdas usually do. CnnkitError for bad text.
    """
    if spec is None:
        raw: dict[str, float] = {name: 1.0 for name in default}
    elif isinstance(spec, Mapping):
        raw = {str(k).strip(): float(v) for k, v in spec.items()}
    else:
        items = spec.split(",") if isinstance(spec, str) else list(spec)
        raw = {}
        for item in (str(i).strip() for i in items):
            if not item:
                continue
            name, _, weight = item.partition(":")
            try:
                raw[name.strip()] = float(weight) if weight.strip() else 1.0
            except ValueError:
                raise CnnkitError(
                    f"style layer {item!r}: the weight after ':' must be a number, e.g. conv1_1:0.5"
                ) from None
    if not raw:
        raise CnnkitError("--style-layers is empty; give layer names such as conv1_1,conv2_1,conv3_1")
    if any(w < 0 for w in raw.values()) or sum(raw.values()) <= 0:
        raise CnnkitError(f"style layer weights must be >= 0 and not all 0, got {raw}")
    total = sum(raw.values())
    return {name: w / total for name, w in raw.items()}


def auto_beta(reference_content: float, reference_style: float, *, alpha: float, balance: float) -> float:
    """beta = balance * alpha * R_content / R_style (see the module doc)."""
    if reference_style <= 0 or reference_content <= 0:
        raise CnnkitError(
            "the chosen layers are all zero for the content or the style image, so beta cannot be set "
            "from them; choose other layers or give --beta"
        )
    return balance * alpha * reference_content / reference_style


@dataclass
class StyleObjective:
    """The cost of a generated image; build it with :meth:`create`.

    Call it with pixels (1, C, H, W) in [0, 1] of the content image's size: it returns
    (J, {"content": ..., "style": ..., "tv": ..., "total": ...}) with J a differentiable
    scalar and the parts as detached scalars.
    """

    extractor: FeatureExtractor
    content_layer: str
    style_weights: dict[str, float]
    content_target: Tensor
    style_targets: dict[str, StyleTarget]
    alpha: float
    beta: float
    tv: float
    reference: float  # alpha * R_content + beta * R_style: a fixed scale for the optimizer

    @classmethod
    @torch.no_grad()
    def create(
        cls,
        extractor: FeatureExtractor,
        content: Tensor,
        style: Tensor,
        *,
        content_layer: str | None = None,
        style_layers: str | Sequence[str] | Mapping[str, float] | None = None,
        alpha: float = 1.0,
        beta: float | None = None,
        balance: float = DEFAULT_BALANCE,
        tv: float = 0.0,
    ) -> StyleObjective:
        """Targets from ``content`` and ``style`` pixels (1, C, H, W) in [0, 1] (sizes may differ)."""
        for name, value in (("alpha", alpha), ("tv", tv), ("balance", balance), ("beta", beta)):
            if value is not None or name != "beta":  # beta None: set from balance
                check_range(name, value, 0)  # inf weights make NaN costs (a black picture)
        layer = (content_layer or extractor.layers.default_content).strip()
        weights = style_layer_weights(style_layers, extractor.layers.default_style)
        for name in (layer, *weights):
            extractor.resolve(name)  # every bad name fails here, before any work
        for what, x in (("content", content), ("style", style)):
            if x.dim() != 4 or x.shape[0] != 1:
                raise ShapeError(f"the {what} image must be pixels (1, C, H, W), got {tuple(x.shape)}")
        content_target = extractor(content, [layer])[layer].detach()
        style_acts = extractor(style, list(weights))
        targets = {name: StyleTarget.from_activations(style_acts[name]) for name in weights}
        r_content = float(reference_content_cost(content_target))
        r_style = float(sum(w * targets[n].reference_cost() for n, w in weights.items()))
        if beta is None:
            beta = auto_beta(r_content, r_style, alpha=alpha, balance=balance)
        reference = alpha * r_content + beta * r_style
        return cls(extractor, layer, weights, content_target, targets, float(alpha), float(beta), float(tv),
                   reference if reference > 0 else 1.0)  # fmt: skip

    @property
    def layers(self) -> list[str]:
        """Every layer the objective reads, content first (duplicates removed)."""
        return list(dict.fromkeys([self.content_layer, *self.style_weights]))

    def __call__(self, pixels: Tensor) -> tuple[Tensor, dict[str, float]]:
        acts = self.extractor(pixels, self.layers)
        j_content = content_cost(self.content_target, acts[self.content_layer])
        j_style = style_cost(self.style_targets, acts, self.style_weights)
        total = self.alpha * j_content + self.beta * j_style
        j_tv = total_variation(pixels) if self.tv > 0 else torch.zeros((), device=pixels.device)
        if self.tv > 0:
            total = total + self.tv * j_tv
        parts = torch.stack([j_content, j_style, j_tv, total]).detach().tolist()
        return total, dict(zip(PARTS, parts))
