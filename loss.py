"""The paper's losses (equation numbers as in both [A] arXiv 1508.06576 and [C] CVPR 2016).

Notation: F^l is the N_l x M_l matrix of layer l's rectified responses to the generated image x
(N_l filters, M_l = height * width positions); P^l the same for the content photo p; A^l the Gram
matrix of the style image a. alpha and beta weight content and style (only alpha/beta is reported).

The pure functions below are the equations. The modules hold their targets (P^l, A^l), computed
once from the target images and kept as buffers, and report every term so a run can log them.
"""
from __future__ import annotations

import torch
from torch import nn


def flatten(feature: torch.Tensor) -> torch.Tensor:
    """[1, N_l, H, W] -> F^l of shape [N_l, M_l]: a view in either memory format (channels_last gives F^l with
    strides (1, N_l)), in the network's dtype."""
    return feature.reshape(feature.shape[1], -1)


def at_least_float32(t: torch.Tensor) -> torch.Tensor:
    """Losses are summed in float32 (or float64 when given it), whatever precision the network ran in."""
    return t.to(torch.promote_types(t.dtype, torch.float32))


def gram(F: torch.Tensor) -> torch.Tensor:
    """Eq. 3: G^l_ij = sum_k F^l_ik F^l_jk. Unnormalised, as written in the paper. The products are taken in at
    least float32, so a bf16 F gives the exact Gram matrix of its numbers (used for the targets A^l, once)."""
    wide = at_least_float32(F)
    return wide @ wide.T


def product_dtype(network_dtype: torch.dtype) -> torch.dtype:
    """The dtype G - A is multiplied in: the network's, except float16, whose range (65504) a Gram matrix
    exceeds; float16 features are widened to float32 for the product."""
    return torch.float32 if network_dtype == torch.float16 else network_dtype


def split_target(A: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """A^l = A_high + A_low with A_high in the network's ``dtype`` (A itself when that is float32 or wider) and
    A_low the remainder, so that ``gram_minus`` can subtract A_high inside the product and A_low after it.
    ``dtype``: ``product_dtype`` of the network's."""
    high = A.to(dtype)
    return high, A - high.to(A.dtype)


def gram_minus(F: torch.Tensor, A_high: torch.Tensor, A_low: torch.Tensor) -> torch.Tensor:
    """G^l - A^l, the bracket of Eq. 4, at least float32, with A^l = A_high + A_low (``split_target``); the
    product is taken in A_high's dtype."""
    return _GramMinusTarget.apply(F, A_high) - A_low


class _GramMinusTarget(torch.autograd.Function):
    """F F^T - A_high as one product in F's precision and layout, with a one-product backward.

    Why one product: in a bfloat16 network the matmul multiplies bf16 numbers exactly and sums in float32, but
    rounds its output to bf16, 2^-9 of each entry. Rounded, G^l itself would be off by 2^-9 |G|, while what
    the loss needs is G - A, which near a solution is a small fraction of G: the loss would be mostly rounding
    noise, and L-BFGS's line search stops early. addmm adds -A_high inside the float32 accumulator, so the one
    rounding is 2^-9 of |G - A_high| instead. (Widening F to float32 first would cost a copy of every feature
    map and a float32 product, several times slower.)

    Backward: autograd would treat the two factors of F F^T as unrelated and spend two N x N x M products
    (g F and g^T F); since both are F, dL/dF = (g + g^T) F, one product, computed in F's dtype (the gradient
    flows into a convolution of that dtype) and laid out like F, so that autograd adds it to the gradient from
    the next layer without a strided copy.
    """

    @staticmethod
    def forward(ctx, F: torch.Tensor, A_high: torch.Tensor) -> torch.Tensor:
        P = F.to(A_high.dtype)  # F itself, unless it is float16 (product_dtype)
        ctx.save_for_backward(P)
        ctx.feature_dtype = F.dtype
        return at_least_float32(torch.addmm(A_high, P, P.T, beta=-1))

    @staticmethod
    def backward(ctx, g: torch.Tensor) -> tuple[torch.Tensor, None]:
        (P,) = ctx.saved_tensors
        symmetric = (g + g.T).to(P.dtype)
        if P.stride(0) == 1 and P.shape[0] > 1:  # P is the transpose of a contiguous M x N matrix (channels_last)
            grad = (P.T @ symmetric).T
        else:
            grad = symmetric @ P
        return grad.to(ctx.feature_dtype), None


def content_loss(F: torch.Tensor, P: torch.Tensor) -> torch.Tensor:
    """Eq. 1: L_content = 1/2 sum_ij (F^l_ij - P^l_ij)^2, a plain sum, not a mean.
    Its gradient (Eq. 2) is (F - P)_ij where F > 0 and 0 elsewhere (the ReLU's mask)."""
    return 0.5 * (F - P).pow(2).sum()


def dot_content_loss(F: torch.Tensor, P: torch.Tensor) -> torch.Tensor:
    """Ablation, not in the paper: ||P||^2 - <F, P>. Zero at F = P but unbounded below, so it rewards
    ever stronger responses in the directions of P rather than matching them."""
    return P.pow(2).sum() - (F * P).sum()


def cosine_content_loss(F: torch.Tensor, P: torch.Tensor) -> torch.Tensor:
    """Ablation, not in the paper: ||P||^2 (1 - cos(F, P)). Equal to Eq. 1 when ||F|| = ||P||; blind to
    the overall intensity of F."""
    cos = (F * P).sum() / (F.norm() * P.norm()).clamp_min(1e-12)
    return P.pow(2).sum() * (1.0 - cos)


CONTENT_LOSSES = {"sse": content_loss, "dot": dot_content_loss, "cosine": cosine_content_loss}


def style_layer_loss(G_minus_A: torch.Tensor, N: int, M: int) -> torch.Tensor:
    """Eq. 4: E_l = 1 / (4 N_l^2 M_l^2) sum_ij (G^l_ij - A^l_ij)^2, given G^l - A^l.
    Its gradient w.r.t. F^l (Eq. 6) is ((G^l - A^l) F^l)_ij / (N_l^2 M_l^2), an N_l x M_l matrix like F^l (the
    paper writes it ((F^l)^T (G^l - A^l))_ji), and 0 where F^l_ij < 0."""
    return G_minus_A.pow(2).sum() / (4.0 * N**2 * M**2)


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Not in the paper ([C] §2.3 stresses that no image prior is used). Offered as an option:
    TV(x) = sum over pixels and channels of the squared differences to the right and lower neighbour,
    in network input units."""
    return (x[..., :, 1:] - x[..., :, :-1]).pow(2).sum() + (x[..., 1:, :] - x[..., :-1, :]).pow(2).sum()


class ContentLoss(nn.Module):
    """Eq. 1 on one layer, with P^l computed once from the content photo's features.
    ``measure`` swaps Eq. 1 for an ablation: "dot" or "cosine" (see above)."""

    def __init__(self, layer: str, content_feature: torch.Tensor, measure: str = "sse"):
        super().__init__()
        if measure not in CONTENT_LOSSES:
            raise ValueError(f"content measure must be one of {', '.join(CONTENT_LOSSES)}, not {measure!r}")
        self.layer, self.measure = layer, CONTENT_LOSSES[measure]
        self.register_buffer("P", at_least_float32(flatten(content_feature).detach()))  # P^l

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.measure(at_least_float32(flatten(features[self.layer])), self.P)


class StyleLoss(nn.Module):
    """Eq. 5: L_style = sum_l w_l E_l, with the Gram matrices A^l of the style image cached.

    When the style image has M_l^s positions and x has M_l (style not resized to the content, a
    departure from [C] §2.3), A^l is rescaled by M_l / M_l^s: the Gram matrix is a sum over positions,
    so this is the Gram matrix the same statistics would give at x's size. A^l is kept split for ``gram_minus``
    (buffers ``A_high_<layer>`` + ``A_low_<layer>``, which sum to it exactly).

    ``representation="raw"`` is an ablation: the style image's feature maps themselves are matched,
    E_l = sum_ij (F_ij - S_ij)^2 / (4 N_l^2 M_l), a normalisation chosen here (not from the paper) so the
    term has a magnitude of the order of Eq. 4's; it needs the style image at x's size and keeps the
    painting's layout.
    """

    def __init__(self, style_features: dict[str, torch.Tensor], layer_weights: dict[str, float],
                 generated_positions: dict[str, int], representation: str = "gram"):
        super().__init__()
        if representation not in ("gram", "raw"):
            raise ValueError(f"style representation must be 'gram' or 'raw', not {representation!r}")
        self.layers, self.representation = list(layer_weights), representation
        self.w = dict(layer_weights)  # w_l
        for layer in self.layers:
            S = flatten(style_features[layer])
            if representation == "raw":
                if S.shape[1] != generated_positions[layer]:
                    raise ValueError("the raw-feature style loss needs the style image at the output's size")
                self.register_buffer(f"A_{layer}", at_least_float32(S).detach())
            else:
                target = gram(S) * (generated_positions[layer] / S.shape[1])  # A^l, at x's M_l
                high, low = split_target(target, product_dtype(S.dtype))
                self.register_buffer(f"A_high_{layer}", high.detach())
                self.register_buffer(f"A_low_{layer}", low.detach())

    def target(self, layer: str) -> torch.Tensor:
        """A^l (the style image's feature maps for ``representation="raw"``)."""
        if self.representation == "raw":
            return getattr(self, f"A_{layer}")
        low = getattr(self, f"A_low_{layer}")
        return getattr(self, f"A_high_{layer}").to(low.dtype) + low

    def forward(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Per-layer w_l E_l; their sum is L_style."""
        terms = {}
        for layer in self.layers:
            F = flatten(features[layer])
            N, M = F.shape
            if self.representation == "raw":
                E = M * (at_least_float32(F) - getattr(self, f"A_{layer}")).pow(2).sum() / (4.0 * N**2 * M**2)
            else:
                E = style_layer_loss(gram_minus(F, getattr(self, f"A_high_{layer}"), getattr(self, f"A_low_{layer}")),
                                     N, M)
            terms[layer] = self.w[layer] * E
        return terms


def equal_layer_weights(layers) -> dict[str, float]:
    """w_l = 1 / (number of active layers): 1/5 for the paper's five style layers."""
    layers = list(layers)
    return {layer: 1.0 / len(layers) for layer in layers}


class TotalLoss(nn.Module):
    """Eq. 7: L_total = alpha * L_content + beta * L_style (+ tv_weight * TV, off in the paper).

    Either part may be absent: content-only and style-only reconstructions (Fig. 1) are the same
    objective with the other image missing.
    """

    def __init__(self, content: ContentLoss | None, style: StyleLoss | None,
                 alpha: float, beta: float, tv_weight: float = 0.0):
        super().__init__()
        if content is None and style is None:
            raise ValueError("nothing to optimise: give a content image, a style image or both")
        self.content, self.style = content, style
        self.alpha, self.beta, self.tv_weight = alpha, beta, tv_weight

    @property
    def layers(self) -> list[str]:
        """Every layer the network must return for this loss."""
        layers = [] if self.content is None else [self.content.layer]
        return layers + ([] if self.style is None else [l for l in self.style.layers if l not in layers])

    def forward(self, features: dict[str, torch.Tensor], x: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """Returns L_total and its unweighted parts: content, style, each style layer's w_l E_l, tv."""
        terms: dict[str, torch.Tensor] = {}
        total = x.new_zeros(())
        if self.content is not None:
            terms["content"] = self.content(features)
            total = total + self.alpha * terms["content"]
        if self.style is not None:
            per_layer = self.style(features)
            terms["style"] = sum(per_layer.values())
            terms.update({f"style/{layer}": v for layer, v in per_layer.items()})
            total = total + self.beta * terms["style"]
        if self.tv_weight:
            terms["tv"] = total_variation(x)
            total = total + self.tv_weight * terms["tv"]
        return total, terms
