"""loss.py against the paper's equations ([C] §2.1-2.3: Eq. 1-7), on random features in float64.

Every tolerance is for float64 on matrices of <= 40 x 40: rounding is ~1e-16 relative per operation, so even
after a few hundred additions (in whatever order a CPU's BLAS and vector kernels sum) the error is < 1e-13,
10-1000x inside the tolerances used (rtol 1e-12 / 1e-10, atol 1e-14 on gradients of size ~1e-3, whose
absolute rounding error is ~1e-18).
"""
from __future__ import annotations


import pytest
import torch

import loss as L

DTYPE = torch.float64


def features(N: int, M: int, seed: int, negative: bool = False) -> torch.Tensor:
    """Random N x M feature matrix; rectified-looking (>= 0) unless ``negative``."""
    g = torch.Generator().manual_seed(seed)
    F = torch.randn(N, M, generator=g, dtype=DTYPE)
    return F if negative else F.abs()


# --------------------------------------------------------------------------- #
# Closed-form gradients (Eq. 2 and Eq. 6)
# --------------------------------------------------------------------------- #
def test_content_gradient_is_F_minus_P():
    F = features(7, 23, 0).requires_grad_(True)
    P = features(7, 23, 1)
    (grad,) = torch.autograd.grad(L.content_loss(F, P), F)
    torch.testing.assert_close(grad, F.detach() - P, rtol=1e-12, atol=1e-12)


def test_content_loss_is_half_sum_not_mean():
    F, P = features(4, 9, 2), features(4, 9, 3)
    expected = 0.5 * sum((F[i, k] - P[i, k]).item() ** 2 for i in range(4) for k in range(9))
    assert L.content_loss(F, P).item() == pytest.approx(expected, rel=1e-12)


def test_content_gradient_through_relu_is_masked():
    """Eq. 2: (F - P) where F > 0, zero elsewhere, when F is the ReLU of a pre-activation with negatives."""
    Z = features(7, 23, 4, negative=True).requires_grad_(True)
    P = features(7, 23, 5)
    F = torch.relu(Z)
    assert (Z < 0).any() and (Z > 0).any()
    (grad,) = torch.autograd.grad(L.content_loss(F, P), Z)
    expected = torch.where(Z.detach() > 0, F.detach() - P, torch.zeros_like(P))
    torch.testing.assert_close(grad, expected, rtol=1e-12, atol=1e-12)


def paper_style_gradient(F: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """[C] Eq. 6, literally: dE_l/dF^l = 1/(N^2 M^2) * ((F^T (G - A))^T) where F > 0."""
    N, M = F.shape
    G = F @ F.T
    return (F.T @ (G - A)).T / (N**2 * M**2)


def test_style_gradient_matches_eq6():
    N, M = 6, 17
    F = features(N, M, 6).requires_grad_(True)
    A = L.gram(features(N, M, 7))
    E = L.style_layer_loss(L.gram_minus(F, *L.split_target(A, F.dtype)), N, M)  # as StyleLoss computes it
    (grad,) = torch.autograd.grad(E, F)
    expected = paper_style_gradient(F.detach(), A)
    assert expected.abs().max() > 1e-6  # a non-trivial comparison
    torch.testing.assert_close(grad, expected, rtol=1e-10, atol=1e-14)


def test_gram_minus_gradient_keeps_the_layout_of_F():
    """A channels_last feature map flattens to F^l with strides (1, N): G - A and its gradient are the same
    numbers as for the contiguous F^l, and the gradient comes back laid out like F (so autograd adds it to the
    next layer's gradient without a strided copy)."""
    N, M = 6, 17
    F = features(N, M, 10)
    A = L.gram(features(N, M, 9))
    F_transposed_layout = F.T.contiguous().T  # same values, strides (1, N)
    assert F_transposed_layout.stride() == (1, N)
    g = features(N, N, 11, negative=True)  # any upstream gradient, not symmetric
    grads = []
    for F_in in (F.clone(), F_transposed_layout):
        F_in.requires_grad_(True)
        D = L.gram_minus(F_in, *L.split_target(A, F_in.dtype))
        torch.testing.assert_close(D, F @ F.T - A, rtol=1e-12, atol=1e-12)
        (grad,) = torch.autograd.grad(D, F_in, g)
        assert grad.stride() == F_in.stride()
        grads.append(grad)
    torch.testing.assert_close(grads[0], (g + g.T) @ F, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-12, atol=1e-14)


def test_split_target_is_exact():
    """A_high + A_low == A bit for bit: A_high is A rounded to bf16 (within 2^-9 of A, same sign), so the float32
    subtraction A - A_high is exact (Sterbenz) and so is adding it back."""
    A = L.gram(features(16, 50, 17, negative=True).float())
    high, low = L.split_target(A, torch.bfloat16)
    assert high.dtype == torch.bfloat16 and low.dtype == torch.float32
    assert (low != 0).any()
    assert torch.equal(high.float() + low, A)
    same, zero = L.split_target(A, torch.float32)
    assert torch.equal(same, A) and not zero.any()


def test_bfloat16_gram_minus_rounds_the_difference_once():
    """The fast path: bf16 features, float32 results. gram(F) widens F, so the targets A^l are the exact Gram
    matrices of the bf16 numbers up to float32 summation (4096 positive products: ~5e-6 of an entry even when
    summed one after another; bound 1e-4, 20x below one bf16 rounding, 2^-9). gram_minus rounds once, after
    subtracting A_high inside the float32 accumulator: within 2^-8 of |G - A| (one bf16 rounding is <= 2^-9 of
    each entry).
    F and the style features here are alike, as near a solution, so |G - A| is a few % of |G| and rounding G
    first (2^-9 of |G|) would miss this bound by about 10x."""
    N, M = 16, 4096
    F = features(N, M, 12).to(torch.bfloat16)
    A = L.gram(features(N, M, 13).to(torch.bfloat16))
    exact_A = features(N, M, 13).to(torch.bfloat16).double()
    exact_A = exact_A @ exact_A.T
    assert A.dtype == torch.float32
    assert ((A.double() - exact_A).abs() <= 1e-4 * exact_A).all()
    D = L.gram_minus(F, *L.split_target(A, torch.bfloat16))
    assert D.dtype == torch.float32
    exact_D = F.double() @ F.double().T - A.double()
    assert exact_D.norm() < 0.1 * exact_A.norm()  # the regime the bound is about
    assert (D.double() - exact_D).norm() <= 2.0**-8 * exact_D.norm()


def test_float16_features_are_multiplied_in_float32():
    """A Gram matrix outgrows float16's range (65504): here |G| ~ 4e5. The product is taken in float32 (fp16
    products are exact there), so G - A is finite and as accurate as float32 summation: ~1e-6 of |G|, which is
    up to 5e-5 of |G - A| (2.3 % of |G| here) when summed one after another; bound 1e-3 (a product in float16
    overflows). The gradient comes back in float16 for the float16 network."""
    N, M = 8, 4096
    F = (10 * features(N, M, 19)).to(torch.float16).requires_grad_(True)
    A = L.gram((10 * features(N, M, 20)).to(torch.float16))
    assert A.max() > 65504
    assert L.product_dtype(torch.float16) == torch.float32 and L.product_dtype(torch.bfloat16) == torch.bfloat16
    D = L.gram_minus(F, *L.split_target(A, L.product_dtype(F.dtype)))
    exact = F.detach().double() @ F.detach().double().T - A.double()
    assert torch.isfinite(D).all()
    assert (D.double() - exact).norm() <= 1e-3 * exact.norm()
    (grad,) = torch.autograd.grad(1e-3 * D.sum(), F)  # (g + g^T) F with g = 1e-3: entries ~0.1
    assert grad.dtype == torch.float16 and torch.isfinite(grad).all()


def test_style_gradient_through_relu_is_masked():
    N, M = 6, 17
    Z = features(N, M, 8, negative=True).requires_grad_(True)
    F = torch.relu(Z)
    A = L.gram(features(N, M, 9))
    (grad,) = torch.autograd.grad(L.style_layer_loss(L.gram_minus(F, *L.split_target(A, F.dtype)), N, M), Z)
    expected = torch.where(Z.detach() > 0, paper_style_gradient(F.detach(), A), torch.zeros(N, M, dtype=DTYPE))
    assert (grad[Z.detach() < 0] == 0).all()
    torch.testing.assert_close(grad, expected, rtol=1e-10, atol=1e-14)


def test_style_layer_loss_value_eq4():
    N, M = 5, 11
    G, A = L.gram(features(N, M, 10)), L.gram(features(N, M, 11))
    expected = sum((G[i, j] - A[i, j]).item() ** 2 for i in range(N) for j in range(N)) / (4 * N**2 * M**2)
    assert L.style_layer_loss(G - A, N, M).item() == pytest.approx(expected, rel=1e-12)


# --------------------------------------------------------------------------- #
# Gram matrix (Eq. 3)
# --------------------------------------------------------------------------- #
def test_gram_matches_explicit_sum():
    F = features(5, 13, 12, negative=True)
    loop = torch.zeros(5, 5, dtype=DTYPE)
    for i in range(5):
        for j in range(5):
            loop[i, j] = sum(F[i, k] * F[j, k] for k in range(13))
    torch.testing.assert_close(L.gram(F), loop, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(L.gram(F), torch.einsum("ik,jk->ij", F, F), rtol=1e-12, atol=1e-12)


def test_gram_minus_backward_matches_finite_differences():
    """The one-product backward (g + g^T) F, with a non-symmetric upstream gradient so that a missing
    transpose would show."""
    F = features(4, 9, 15, negative=True).requires_grad_()
    A_high, A_low = L.split_target(L.gram(features(4, 9, 18)), DTYPE)
    weight = torch.randn(4, 4, dtype=DTYPE, generator=torch.Generator().manual_seed(16))
    assert torch.autograd.gradcheck(lambda F: (L.gram_minus(F, A_high, A_low) * weight).sum(), (F,))
    (grad,) = torch.autograd.grad((L.gram_minus(F, A_high, A_low) * weight).sum(), F)
    torch.testing.assert_close(grad, (weight + weight.T) @ F.detach(), rtol=1e-12, atol=1e-12)


def test_gram_is_unnormalised():
    """G scales with the number of positions: the same columns twice give twice the Gram matrix."""
    F = features(4, 10, 13)
    torch.testing.assert_close(L.gram(torch.cat([F, F], 1)), 2 * L.gram(F), rtol=1e-12, atol=0)


def test_gram_invariant_to_spatial_permutation():
    F = features(8, 40, 14)
    perm = torch.randperm(40, generator=torch.Generator().manual_seed(0))
    assert not torch.equal(perm, torch.arange(40))
    torch.testing.assert_close(L.gram(F[:, perm]), L.gram(F), rtol=1e-12, atol=1e-12)


def test_flatten_keeps_channels_as_rows():
    x = torch.arange(2 * 3 * 4, dtype=DTYPE).view(1, 2, 3, 4)
    F = L.flatten(x)
    assert F.shape == (2, 12)
    torch.testing.assert_close(F[1], x[0, 1].reshape(-1))


# --------------------------------------------------------------------------- #
# Style and content modules, layer weights, total loss (Eq. 5 and 7)
# --------------------------------------------------------------------------- #
def as_map(F: torch.Tensor, H: int, W: int) -> torch.Tensor:
    return F.reshape(1, F.shape[0], H, W)


def test_equal_layer_weights_one_fifth():
    layers = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
    assert L.equal_layer_weights(layers) == {layer: pytest.approx(0.2, abs=1e-15) for layer in layers}
    for k in range(1, 6):  # [A] Fig 3 rows: 1, 1/2, ..., 1/5
        weights = L.equal_layer_weights(layers[:k])
        assert list(weights) == list(layers[:k])
        assert list(weights.values()) == pytest.approx([1 / k] * k, abs=1e-15)


def test_style_loss_with_style_at_another_size_is_zero_for_tiled_statistics():
    """StyleLoss rescales A by M_x / M_s: x whose features are the style features repeated twice side by
    side has G / M equal to the style's, so E must be exactly zero; without the rescaling it would not be."""
    N, H, W = 6, 3, 5
    S = features(N, H * W, 15)
    style_map = as_map(S, H, W)
    x_map = torch.cat([style_map, style_map], dim=3)  # [1, N, H, 2W]
    style = L.StyleLoss({"conv1_1": style_map}, {"conv1_1": 1.0}, {"conv1_1": 2 * H * W})
    E = style({"conv1_1": x_map})["conv1_1"]
    assert E.item() == pytest.approx(0.0, abs=1e-12)
    # and it measures something: the un-tiled style features at x's size are a mismatch
    unscaled = L.StyleLoss({"conv1_1": style_map}, {"conv1_1": 1.0}, {"conv1_1": H * W})
    assert unscaled({"conv1_1": x_map})["conv1_1"].item() > 1e-3
    torch.testing.assert_close(style.target("conv1_1"), 2 * L.gram(S))


def test_style_loss_terms_are_weighted_eq4():
    N, H, W = 4, 3, 3
    layers = {"conv1_1": 0.25, "conv2_1": 0.75}
    style_maps = {l: as_map(features(N, H * W, 20 + i), H, W) for i, l in enumerate(layers)}
    x_maps = {l: as_map(features(N, H * W, 30 + i), H, W) for i, l in enumerate(layers)}
    style = L.StyleLoss(style_maps, layers, {l: H * W for l in layers})
    terms = style(x_maps)
    assert list(terms) == list(layers)
    for l, w in layers.items():
        G, A = L.gram(L.flatten(x_maps[l])), L.gram(L.flatten(style_maps[l]))
        expected = w * ((G - A) ** 2).sum() / (4 * N**2 * (H * W) ** 2)
        torch.testing.assert_close(terms[l], expected, rtol=1e-12, atol=0)


def test_raw_style_representation():
    N, H, W = 3, 2, 4
    S = as_map(features(N, H * W, 40), H, W)
    X = as_map(features(N, H * W, 41), H, W)
    raw = L.StyleLoss({"conv1_1": S}, {"conv1_1": 1.0}, {"conv1_1": H * W}, representation="raw")
    assert raw({"conv1_1": S})["conv1_1"].item() == 0.0
    M = H * W
    expected = M * ((X - S) ** 2).sum() / (4 * N**2 * M**2)
    torch.testing.assert_close(raw({"conv1_1": X})["conv1_1"], expected, rtol=1e-12, atol=0)
    with pytest.raises(ValueError, match="size"):
        L.StyleLoss({"conv1_1": S}, {"conv1_1": 1.0}, {"conv1_1": 2 * M}, representation="raw")


def test_content_loss_module_keeps_target():
    P = as_map(features(3, 8, 50), 2, 4)
    F = as_map(features(3, 8, 51), 2, 4)
    module = L.ContentLoss("conv4_2", P)
    assert "P" in dict(module.named_buffers())
    torch.testing.assert_close(module({"conv4_2": F}), L.content_loss(L.flatten(F), L.flatten(P)))
    assert module({"conv4_2": P}).item() == 0.0
    with pytest.raises(ValueError):
        L.ContentLoss("conv4_2", P, measure="l1")


def test_ablation_content_losses():
    P, F = features(3, 8, 52), features(3, 8, 53)
    assert L.dot_content_loss(P, P).item() == pytest.approx(0.0, abs=1e-12)
    assert L.cosine_content_loss(P, P).item() == pytest.approx(0.0, abs=1e-12)
    # cosine is blind to intensity, Eq. 1 is not
    assert L.cosine_content_loss(3.0 * P, P).item() == pytest.approx(0.0, abs=1e-9)
    assert L.content_loss(3.0 * P, P).item() > 1.0
    # equal to Eq. 1 when the norms agree
    Fn = F * (P.norm() / F.norm())
    assert L.cosine_content_loss(Fn, P).item() == pytest.approx(L.content_loss(Fn, P).item(), rel=1e-10)
    assert L.dot_content_loss(2.0 * P, P).item() < 0  # unbounded below, as the docstring says


def make_total(alpha: float, beta: float, tv_weight: float = 0.0):
    N, H, W = 4, 3, 5
    layers = {"conv1_1": 0.5, "conv2_1": 0.5}
    content = L.ContentLoss("conv4_2", as_map(features(N, H * W, 60), H, W))
    style = L.StyleLoss({l: as_map(features(N, H * W, 61 + i), H, W) for i, l in enumerate(layers)}, layers,
                        {l: H * W for l in layers})
    feats = {"conv4_2": as_map(features(N, H * W, 70), H, W),
             "conv1_1": as_map(features(N, H * W, 71), H, W),
             "conv2_1": as_map(features(N, H * W, 72), H, W)}
    return content, style, feats


def test_total_loss_combines_alpha_content_and_beta_style():
    content, style, feats = make_total(1e-3, 1.0)
    x = torch.randn(1, 3, 6, 7, dtype=DTYPE, generator=torch.Generator().manual_seed(0))
    alpha, beta = 0.37, 2.5
    total, terms = L.TotalLoss(content, style, alpha, beta)(feats, x)
    c = content(feats)
    per_layer = style(feats)
    s = sum(per_layer.values())
    torch.testing.assert_close(terms["content"], c)
    torch.testing.assert_close(terms["style"], s)
    for layer, v in per_layer.items():
        torch.testing.assert_close(terms[f"style/{layer}"], v)
    assert "tv" not in terms
    torch.testing.assert_close(total, alpha * c + beta * s, rtol=1e-12, atol=0)
    assert c.item() > 0 and s.item() > 0


def test_total_loss_tv_term():
    content, style, feats = make_total(1.0, 1.0)
    x = torch.randn(1, 3, 6, 7, dtype=DTYPE, generator=torch.Generator().manual_seed(1))
    total, terms = L.TotalLoss(content, style, 1.0, 1.0, tv_weight=0.5)(feats, x)
    tv = sum(((x[0, c, i, j + 1] - x[0, c, i, j]) ** 2).item() for c in range(3) for i in range(6) for j in range(6)) \
        + sum(((x[0, c, i + 1, j] - x[0, c, i, j]) ** 2).item() for c in range(3) for i in range(5) for j in range(7))
    assert terms["tv"].item() == pytest.approx(tv, rel=1e-12)
    assert total.item() == pytest.approx(terms["content"].item() + terms["style"].item() + 0.5 * tv, rel=1e-12)


def test_total_loss_one_part_missing():
    content, style, feats = make_total(1.0, 1.0)
    x = torch.zeros(1, 3, 4, 4, dtype=DTYPE)
    only_content = L.TotalLoss(content, None, 2.0, 1.0)
    assert only_content.layers == ["conv4_2"]
    total, terms = only_content(feats, x)
    assert set(terms) == {"content"} and total.item() == pytest.approx(2 * content(feats).item(), rel=1e-12)
    only_style = L.TotalLoss(None, style, 2.0, 3.0)
    assert only_style.layers == ["conv1_1", "conv2_1"]
    total, terms = only_style(feats, x)
    assert "content" not in terms
    assert total.item() == pytest.approx(3 * sum(v.item() for v in style(feats).values()), rel=1e-12)
    with pytest.raises(ValueError):
        L.TotalLoss(None, None, 1.0, 1.0)


def test_total_loss_layers_unique_and_ordered():
    N, H, W = 2, 2, 2
    layers = {"conv4_2": 0.5, "conv1_1": 0.5}
    content = L.ContentLoss("conv4_2", as_map(features(N, H * W, 80), H, W))
    style = L.StyleLoss({l: as_map(features(N, H * W, 81), H, W) for l in layers}, layers,
                        {l: H * W for l in layers})
    assert L.TotalLoss(content, style, 1.0, 1.0).layers == ["conv4_2", "conv1_1"]


def test_style_targets_are_detached_buffers():
    S = as_map(features(3, 4, 90), 2, 2).requires_grad_(True)
    style = L.StyleLoss({"conv1_1": S}, {"conv1_1": 1.0}, {"conv1_1": 4})
    buffers = dict(style.named_buffers())
    assert {"A_high_conv1_1", "A_low_conv1_1"} <= set(buffers)
    assert not any(buffers[name].requires_grad for name in ("A_high_conv1_1", "A_low_conv1_1"))
