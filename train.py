"""Style transfer by optimising the pixels of an image (Gatys, Ecker & Bethge; CVPR 2016 §2.3).

    python train.py                                   # Neckarfront + The Starry Night, the paper's settings
    python train.py --content photo.jpg --style painting.jpg --out out.png --size 512 --ratio 1e-3
    python train.py --content photo.jpg --content-layer conv2_1 --out recon.png   # content-only (Fig. 1)

Python API:

    from train import Config, stylize, save_result
    result = stylize(Config(content="photo.jpg", style="painting.jpg", size=256))
    save_result(result, "out.png")          # out.png + out.json (config, loss history, timing)

``--ratio`` is alpha/beta as printed in the paper; ``paper.equation_ratio`` turns it into the alpha/beta of
Eq. 7 that this repository's network needs (``--literal-ratio`` uses it as it is). What a run is (``Config``)
lives in config.py; here, top to bottom: the objective every optimiser calls; the three optimisers;
``stylize``; saving; the command line.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

import images
import loss as L
import machine
import models
import paper
from config import BAD_INPUT, WINDOW, Config, check, check_size


# --------------------------------------------------------------------------- #
# The objective: counts evaluations, keeps the best image and the history, decides when to stop
# --------------------------------------------------------------------------- #
class Stop(Exception):
    """Raised from inside an optimiser's function call to end the run."""
    BUDGET, CONVERGED, NON_FINITE, STALLED = "budget", "converged", "non-finite", "stalled"

    def __init__(self, kind: str, reason: str):
        super().__init__(reason)
        self.kind, self.reason = kind, reason


@dataclass
class Progress:
    """Handed to the callback after every evaluation."""
    evaluation: int
    loss: float                 # L_total at this evaluation (unscaled)
    terms: dict[str, float]     # content, style, style/<layer>, tv
    best_loss: float
    best_x: torch.Tensor        # best image so far, network input space
    preprocessing: models.Preprocessing

    def image(self) -> torch.Tensor:
        """The best image so far as RGB in [0, 1]."""
        return self.preprocessing.to_rgb(self.best_x).clamp(0, 1)


# A reduced-precision L-BFGS run that has not lowered its best loss in this many evaluations has stalled: its
# line search is re-evaluating steps too small for bfloat16 to see, and would go on doing so for dozens of
# evaluations before giving up by itself. Chosen just above the longest run without a new best of a working
# line search in reproduce/precision.py's bf16 runs (figures/performance.md).
STALL_PATIENCE = 8


class Objective:
    """f(x) = L_total(x) / L_total(x0) and its gradient, for any optimiser.

    The division by the first loss value (on the plain Caffe network the loss starts at the order of 1e13)
    keeps torch's L-BFGS line search out of float32 overflow; it changes no minimiser. Every optimiser counts the
    same thing: one call = one forward and one backward pass.
    """

    def __init__(self, net: models.VGG19, loss: L.TotalLoss, budget: int, tol: float,
                 callback: Callable[[Progress], None] | None = None, earlier: int = 0, start: float | None = None,
                 patience: int = 0):
        """``earlier``, ``start``: evaluations and clock of the stages before this one (--schedule), so that the
        history and the progress count on across stages. ``patience``: stop (Stop.STALLED) after that many
        evaluations without a new best loss; 0 never."""
        self.net, self.loss, self.budget, self.tol, self.callback = net, loss, budget, tol, callback
        self.patience = patience
        self.scale: float | None = None
        self.evaluations, self.earlier = 0, earlier
        self.history: list[dict] = []
        self.best_loss, self.best_x = math.inf, None
        self.best_so_far: list[float] = []  # best loss after each evaluation, for the --tol window
        self.start = start

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check_stop()
        self.start = self.start or time.perf_counter()
        x = x.detach().requires_grad_(True)
        total, terms = self.loss(self.net(x, self.loss.layers), x)
        grad = torch.autograd.grad(total, x)[0].contiguous()  # channels_last inside the net leaks into grad
        value = total.item()
        self.evaluations += 1
        record = {"evaluation": self.earlier + self.evaluations, "total": value,
                  **{k: v.item() for k, v in terms.items()}, "seconds": time.perf_counter() - self.start}
        self.history.append(record)
        if not math.isfinite(value) or not torch.isfinite(grad).all():
            raise Stop(Stop.NON_FINITE, f"non-finite loss or gradient at evaluation {self.evaluations}; "
                                        "kept the last finite image")
        if value < self.best_loss:
            self.best_loss, self.best_x = value, x.detach().clone()
        self.best_so_far.append(self.best_loss)
        if self.scale is None:
            self.scale = value if value > 0 else 1.0
        if self.callback is not None:
            shown = {k: v for k, v in record.items() if k not in ("evaluation", "total", "seconds")}
            self.callback(Progress(self.earlier + self.evaluations, value, shown, self.best_loss, self.best_x,
                                   self.net.preprocessing))
        return total.detach() / self.scale, grad / self.scale

    def _check_stop(self) -> None:
        if self.evaluations >= self.budget:
            raise Stop(Stop.BUDGET, f"budget of {self.budget} evaluations used")
        if self.tol > 0 and self.evaluations > WINDOW:
            before = self.best_so_far[-WINDOW - 1]
            if before - self.best_loss < self.tol * self.best_loss or before == self.best_loss:  # stuck at 0 too
                raise Stop(Stop.CONVERGED, f"converged: best loss improved by < {self.tol:g} over {WINDOW} "
                                           "evaluations")
        if self.patience and len(self.best_so_far) > self.patience \
                and self.best_so_far[-self.patience - 1] == self.best_loss:
            raise Stop(Stop.STALLED, f"stalled: no new best loss in {self.patience} evaluations")


# --------------------------------------------------------------------------- #
# Optimisers: each runs until the objective raises Stop (or gives up by itself)
# --------------------------------------------------------------------------- #
def run_lbfgsb(objective: Objective, x0: torch.Tensor, memory: int,
               bounds: tuple[torch.Tensor, torch.Tensor] | None) -> str:
    """scipy's L-BFGS-B on the flattened image, float64, with the valid pixel range (lower, upper) as
    ``bounds`` (as in the authors' DeepTextures). The torch graph runs on the image's device; only the flat
    vector crosses.

    With bounds, every step starts with a generalised Cauchy point: a search over one breakpoint per
    variable, which adds to scipy's own work per step (figures/performance.md measures how much).
    ``bounds=None`` skips it and, like torch LBFGS, leaves the image to be clipped when saved. They are handed
    over as a ``Bounds`` object: as (low, high) pairs scipy would first convert them in Python loops over the
    variables.

    L-BFGS-B's first step has unit Euclidean length in the variables it sees. In raw network units that
    moves each pixel by ~1/sqrt(n) of a grey level: at the figures' sizes too little for a bfloat16 network
    to see, and the line search found no decrease. The variables are therefore x / sqrt(n): a unit step is then ~1 unit per pixel
    RMS. Only that first step changes; L-BFGS is invariant to this rescaling afterwards.
    """
    from scipy.optimize import Bounds, minimize
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
                          bounds=None if bounds is None else Bounds(flat(bounds[0]), flat(bounds[1])),
                          options={"maxcor": memory, "maxfun": 10**9, "maxiter": 10**9,
                                   "ftol": 0.0, "gtol": 0.0, "maxls": 20})
    return f"scipy stopped: {result.message}"


def run_lbfgs(objective: Objective, x0: torch.Tensor, memory: int) -> str:
    """torch.optim.LBFGS with a strong-Wolfe line search. It has no bounds: the image is clipped to the
    valid range only when saved, because changing it inside the closure would break the curvature pairs.

    Its first step is g / |g|_1 long; the variables are x / n (n pixels x channels) so that this first step
    moves each pixel by about one network unit, for the same reason as in ``run_lbfgsb``.
    """
    unit = float(x0.numel())
    y = (x0 / unit).requires_grad_(True)
    opt = torch.optim.LBFGS([y], lr=1.0, max_iter=10**9, max_eval=10**9, tolerance_grad=0.0,
                            tolerance_change=0.0, history_size=memory, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        value, grad = objective(y.detach() * unit)
        y.grad = grad * unit
        return value

    opt.step(closure)
    return "torch LBFGS stopped by itself"


def run_adam(objective: Objective, x0: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor, lr: float) -> str:
    """Adam, projected onto the valid pixel range after each step (outside any line search, so harmless)."""
    x = x0.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr)
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

    def last_stage(self) -> list[dict]:
        """The history of the stage the image comes from: a schedule's stages have losses of their own sizes,
        not comparable with one another."""
        size = self.history[-1].get("size") if self.history else None
        return [h for h in self.history if h.get("size") == size]

    def best(self) -> dict:
        """The record of the lowest loss in the last stage reached (the image's evaluation); {} if none."""
        return min(self.last_stage(), key=lambda h: h["total"], default={})

    def to_json(self) -> dict:
        last = self.history[-1] if self.history else {}
        best = self.best()
        return {"config": self.config.to_json(),
                "alpha_over_beta": {"printed": self.config.ratio, "equation": self.config.equation_ratio(),
                                    "literal": self.config.literal_ratio},
                "evaluations": self.evaluations, "wall_time_s": round(self.wall_time, 3),
                "stop_reason": self.stop_reason, "interrupted": self.interrupted, "finite": self.finite,
                "final": last, "best": best, "environment": self.environment, "history": self.history}

    @classmethod
    def from_json(cls, meta: dict, image: torch.Tensor) -> "Result":
        return cls(Config(**meta["config"]), image, meta["history"], meta["evaluations"], meta["wall_time_s"],
                   meta["stop_reason"], meta["interrupted"], meta["finite"], meta["environment"])


def prepare_images(cfg: Config, device: torch.device) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Content at --size long edge; style at the content's H x W (paper) or its own --style-size."""
    layers = cfg.layers()
    content_path = images.resolve_image(cfg.content, cfg.images) if cfg.content else None
    style_path = images.resolve_image(cfg.style, cfg.images) if cfg.style else None
    if content_path is not None:
        hw = images.target_size(content_path, cfg.size)
        check_size(*hw, layers, device, f"output ({content_path.name})")
        content = images.load_rgb(content_path, hw)
    else:
        hw, content = images.target_size(style_path, cfg.size), None
        if cfg.height is not None:
            hw = (cfg.height, cfg.size)
        check_size(*hw, layers, device, "output")
    style = None
    if style_path is not None:
        style_hw = hw if cfg.style_size is None else images.target_size(style_path, cfg.style_size)
        check_size(*style_hw, layers, device, f"style image ({style_path.name})")
        style = images.load_rgb(style_path, style_hw)
    return content, style


def build_loss(net: models.VGG19, cfg: Config, content_x: torch.Tensor | None, style_x: torch.Tensor | None,
               out_hw: tuple[int, int]) -> L.TotalLoss:
    """Targets computed once: P^l from the content photo, A^l from the style image; alpha/beta of Eq. 7."""
    with torch.no_grad():
        content = None if content_x is None else L.ContentLoss(
            cfg.content_layer, net(content_x, [cfg.content_layer])[cfg.content_layer], cfg.content_loss)
        style = None
        if style_x is not None:
            positions = {l: math.prod(models.feature_shape(l, *out_hw)[1:]) for l in cfg.style_layers}
            style = L.StyleLoss(net(style_x, cfg.style_layers), L.equal_layer_weights(cfg.style_layers), positions,
                                cfg.style_representation)
    return L.TotalLoss(content, style, alpha=cfg.equation_ratio(), beta=1.0, tv_weight=cfg.tv_weight)


@dataclass
class Problem:
    """cfg's objective at its size on one network: the images in network space and the loss with its targets."""
    loss: L.TotalLoss
    content_x: torch.Tensor | None
    style_x: torch.Tensor | None
    shape: torch.Size            # [1, 3, H, W] of the image to optimise: the content's, else the style's


def build_problem(cfg: Config, net: models.VGG19, content_rgb: torch.Tensor | None,
                  style_rgb: torch.Tensor | None) -> Problem:
    """The images (``prepare_images``) moved to ``net``'s device and space, and ``build_loss`` at their size."""
    device, prep = next(net.parameters()).device, net.preprocessing
    content_x = None if content_rgb is None else prep.to_net(content_rgb.to(device))
    style_x = None if style_rgb is None else prep.to_net(style_rgb.to(device))
    shape = (content_x if content_x is not None else style_x).shape
    return Problem(build_loss(net, cfg, content_x, style_x, tuple(shape[-2:])), content_x, style_x, shape)


def initial_image(cfg: Config, net: models.VGG19, content_x, style_x, shape, device) -> torch.Tensor:
    """The start x0 in network space. Noise: N(mean pixel, noise_std grey levels), drawn on the CPU from
    ``seed``, so a CUDA run starts from the CPU's noise (CPUs of other kinds may differ in the last bits)."""
    if cfg.init == "noise":
        g = torch.Generator().manual_seed(cfg.seed)
        noise = torch.randn(shape, generator=g) * cfg.noise_std
        prep = net.preprocessing
        mean_rgb = torch.tensor(models.CAFFE.mean[::-1]).view(1, 3, 1, 1) / 255.0  # the ImageNet mean pixel
        centre = prep.to_net(mean_rgb)
        per_level = prep.to_net(mean_rgb + 1.0 / 255.0) - centre  # network units of one grey level
        return (centre + noise * per_level).to(device)
    if cfg.init == "content":
        return content_x.clone()
    if cfg.init == "style":
        if style_x.shape != torch.Size(shape):
            style_x = torch.nn.functional.interpolate(style_x, size=shape[-2:], mode="bilinear", align_corners=False)
        return style_x.clone()
    rgb = images.load_rgb(images.resolve_image(cfg.init, cfg.images), tuple(shape[-2:]))
    return net.preprocessing.to_net(rgb).to(device)


def stylize(cfg: Config, callback: Callable[[Progress], None] | None = None,
            net: models.VGG19 | None = None) -> Result:
    """Run one synthesis: one stage at --size, after the coarser stages of --schedule if any. Ctrl-C and NaN
    end it early but still return the best image so far (at the size of the stage it was reached in).
    ``net``: ``cfg.network().build()`` built once and passed in, to share it across runs (a figure script
    builds it once instead of once per panel)."""
    t0 = time.perf_counter()
    check(cfg)
    spec = cfg.network()
    stages = [dataclasses.replace(cfg, size=edge, budget=count, schedule=()) for edge, count in cfg.stages()]
    inputs = [prepare_images(stage, spec.device) for stage in stages]  # every size refused before any work
    if cfg.init_file() is not None:  # decoded now: readable before any work
        images.open_image(images.resolve_image(cfg.init_file(), cfg.images))
    net = net if net is not None else spec.build()
    history, start, x, reason, interrupted, finite = [], None, None, "", False, True
    with machine.ieee_float32(spec.device):  # a GPU's float32 convolutions are TF32 unless told otherwise
        for number, (stage, (content_rgb, style_rgb)) in enumerate(zip(stages, inputs), 1):
            try:
                run = run_stage(stage, net, content_rgb, style_rgb, x, callback, len(history), start)
            except KeyboardInterrupt:  # while computing this stage's targets: keep the last stage's image
                if x is None:
                    raise
                reason, interrupted = f"interrupted (Ctrl-C) before stage {number} of {len(stages)}", True
                break
            if run.gave_up and net.dtype != torch.float32 and run.objective.evaluations < stage.budget:
                run = continue_in_float32(run, stage, spec, content_rgb, style_rgb, callback, len(history))
            objective, reason, interrupted, finite = run.objective, run.reason, run.interrupted, run.finite
            x, start = objective.best_x, objective.start
            if len(stages) > 1:
                for record in objective.history:
                    record["size"] = stage.size
                if number < len(stages) and (interrupted or not finite):
                    reason += f" (in stage {number} of {len(stages)}, at {stage.size} px)"
            history += objective.history
            if interrupted or not finite:
                break
    image = net.preprocessing.to_rgb(x).clamp(0, 1).cpu()
    environment = {**machine.describe(spec.device), "network_dtype": str(spec.dtype).replace("torch.", ""),
                   "channels_last": spec.channels_last}
    return Result(cfg, image, history, len(history), time.perf_counter() - t0, reason, interrupted, finite,
                  environment)


@dataclass
class StageRun:
    objective: Objective        # best image and history
    reason: str                 # why it stopped
    interrupted: bool = False   # Ctrl-C
    finite: bool = True         # False when it stopped on NaN/inf
    gave_up: bool = False       # the optimiser stopped by itself (its line search found no decrease) or stalled


def continue_in_float32(run: StageRun, cfg: Config, spec: models.NetworkSpec, content_rgb, style_rgb,
                        callback, earlier: int) -> StageRun:
    """The rest of the budget with the float32 network, from the best image so far.

    A bfloat16 gradient carries a rounding error of about 2^-9 per layer; once the steps are small, the
    differences of successive gradients that L-BFGS builds its curvature from are of that size too, and the
    line search stops finding a decrease while a float32 run would still make progress. The targets are
    recomputed with the float32 network; the history counts on and marks these evaluations."""
    done = run.objective.evaluations
    rest = dataclasses.replace(cfg, budget=cfg.budget - done)
    try:
        net = dataclasses.replace(spec, dtype=torch.float32, channels_last=False).build()
        more = run_stage(rest, net, content_rgb, style_rgb, run.objective.best_x, callback, earlier + done,
                         run.objective.start)
    except KeyboardInterrupt:  # while building the float32 network or its targets: keep the bfloat16 run
        run.reason, run.interrupted = f"{run.reason}; interrupted (Ctrl-C) before the float32 continuation", True
        return run
    for record in more.objective.history:
        record["network_dtype"] = "float32"
    more.objective.history[:0] = run.objective.history
    more.objective.evaluations += done
    more.reason = f"{run.reason}; continued in float32 after evaluation {earlier + done}: {more.reason}"
    return more


def run_stage(cfg: Config, net: models.VGG19, content_rgb, style_rgb, start_x: torch.Tensor | None,
              callback, earlier: int, clock: float | None) -> StageRun:
    """One optimisation at cfg.size: targets at that size, from ``start_x`` (a coarser stage's best image,
    upsampled, or a best image to continue from) or else from cfg.init."""
    device, prep = next(net.parameters()).device, net.preprocessing
    problem = build_problem(cfg, net, content_rgb, style_rgb)
    loss, shape = problem.loss, problem.shape
    if start_x is None:
        x0 = initial_image(cfg, net, problem.content_x, problem.style_x, shape, device)
    elif start_x.shape[-2:] != shape[-2:]:  # bilinear weights are convex: the upsampled image stays within bounds
        x0 = torch.nn.functional.interpolate(start_x, size=shape[-2:], mode="bilinear", align_corners=False)
    else:
        x0 = start_x.clone()
    lower, upper = prep.bounds(x0)
    stalls = net.dtype != torch.float32 and cfg.optimizer != "adam"  # Adam's best loss may rest a while
    objective = Objective(net, loss, cfg.budget, cfg.tol, callback, earlier, clock, STALL_PATIENCE if stalls else 0)
    run = StageRun(objective, "")
    try:
        if cfg.optimizer in ("lbfgsb", "lbfgsb-unbounded"):
            bounds = (lower, upper) if cfg.optimizer == "lbfgsb" else None
            run.reason = run_lbfgsb(objective, x0, cfg.lbfgs_memory, bounds)
        elif cfg.optimizer == "lbfgs":
            run.reason = run_lbfgs(objective, x0, cfg.lbfgs_memory)
        else:
            run.reason = run_adam(objective, x0, lower, upper, cfg.lr)
        run.gave_up = True
    except Stop as stop:
        run.reason, run.finite, run.gave_up = stop.reason, stop.kind != Stop.NON_FINITE, stop.kind == Stop.STALLED
    except KeyboardInterrupt:
        run.reason, run.interrupted = "interrupted (Ctrl-C)", True
    if objective.best_x is None:  # interrupted or non-finite before a first finite evaluation
        objective.best_x = x0
    return run


# --------------------------------------------------------------------------- #
# Saving and progress
# --------------------------------------------------------------------------- #
def save_result(result: Result, out: str | Path) -> Path:
    """out.png (or .jpg) and out.json (config, history, timing, environment), both written atomically."""
    out = Path(out)
    images.save_rgb(result.image, out)
    images.write_text_atomic(out.with_suffix(".json"), json.dumps(result.to_json(), indent=1) + "\n")
    return out


def progress_bar(total: int, description: str = "", save_every: int = 0,
                 save: Callable[[torch.Tensor], None] | None = None) -> Callable[[Progress], None]:
    """A tqdm bar showing the loss terms; optionally hands the best image to ``save`` every N evaluations.
    The bar appears at the first evaluation, so an input refused while the images are read is one line."""
    from tqdm import tqdm
    bars = []

    def update(p: Progress) -> None:
        if not bars:
            bars.append(tqdm(total=total, desc=description, unit="eval", dynamic_ncols=True, leave=True))
        bar = bars[0]
        bar.update(1)
        shown = {k: f"{v:.3g}" for k, v in p.terms.items() if "/" not in k}
        bar.set_postfix(loss=f"{p.loss:.4g}", **shown, refresh=False)
        if save_every and save is not None and p.evaluation % save_every == 0:
            save(p.image())
        if p.evaluation >= total:
            bar.close()

    update.close = lambda: [bar.close() for bar in bars]  # type: ignore[attr-defined]
    return update


# --------------------------------------------------------------------------- #
# Command line: a thin adapter over stylize
# --------------------------------------------------------------------------- #
class OneLineParser(argparse.ArgumentParser):
    """argparse with its errors in one line, not its usage block: the CLI and every script under reproduce/."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """Flags generated from Config: names, defaults and help come from one place."""
    parser = OneLineParser(
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
        args["content"], args["style"] = paper.HEADLINE_PAIR
    return Config(**args)


def warn_if_emulated(precision: str, device: torch.device) -> None:
    """One line on stderr, once the input is known to be good, where the precision asked for is emulated."""
    warning = machine.emulation_warning(precision, device)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    cfg = config_from_args(argv)
    out = Path(cfg.out)
    try:
        check(cfg, writes_output=True)
    except BAD_INPUT as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    warn_if_emulated(cfg.precision, machine.resolve_device(cfg.device))
    bar = progress_bar(cfg.total_budget(), out.name, cfg.save_every, lambda rgb: images.save_rgb(rgb, out))
    try:
        result = stylize(cfg, bar)
    except BAD_INPUT as e:
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
    first, best = result.last_stage()[0]["total"], result.best()["total"]
    print(f"{out}: {result.evaluations} evaluations in {result.wall_time:.1f} s, loss {first:.4g} -> {best:.4g} "
          f"({result.stop_reason})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
