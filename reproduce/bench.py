"""Speed and memory of one style-transfer evaluation, ours against the beginner pattern and the `pastiche` package.

One evaluation = one forward and one backward pass of the full paper loss (Eq. 7: conv4_2 content, conv1_1 ...
conv5_1 style, Neckarfront + The Starry Night, 4:3, style resized to the output's H x W as in [C] §2.3).

    python reproduce/bench.py                          # sections 1-8 (21 min on 2 cores with --profile and
                                                       # --quality-size 512, where the CPU has native bf16)
    python reproduce/bench.py --out figures/bench.md   # also write it, with the machine description
    python reproduce/bench.py --profile                # plus a torch.profiler breakdown of one 512 px evaluation
    python reproduce/bench.py --tiny                   # 64 px, 2 timed evaluations: the CI smoke test
    python reproduce/bench.py --quality-size 512       # section 8 at the paper's size
    python reproduce/bench.py --device cuda            # section 9 alone, on a GPU (a few minutes)

Sections, all measured in the same run:
  1. seconds per evaluation at 256/512/1024 px long edge: ours fp32, ours fast (what --precision auto runs: a
     bf16 network + channels_last where the CPU has native bf16, else fp32 + channels_last),
     the beginner pattern (fp32, content and style targets recomputed inside every evaluation) and pastiche's
     own model and loss (PasticheArtist._calc_loss() + backward). Variants are timed round-robin, one
     evaluation each in turn, so that a change of machine load hits all of them alike; medians after warm-up.
  2. wall time per evaluation of each optimiser path (train.stylize, 512 px, fast path, tol 0), each run in a
     fresh process; the scipy path also without its one-thread BLAS limit (what the limit saves).
  3. achieved GFLOP/s of the VGG pass (conv FLOPs counted analytically) against a matmul peak measured now.
  4. peak resident memory (ru_maxrss, a fresh process per size) of one fast-path evaluation at 512/1024/2048 px.
  5. with --profile: the top operators by self CPU time of one fast-path evaluation at 512 px.
  6. what each figure of the paper costs here from scratch: its panels and budgets from the figure script's own
     --plan, times section 1's seconds per evaluation (scaled from the nearest measured size by the square of
     the long edge). The evaluations' cost only: a figure's measured wall time (its JSON) adds the optimiser's
     own work (section 2), set-up, and the float32 continuation of a bf16 run that stalls.
  7. the two command lines as a user times them: `python train.py` against the `pastiche` CLI at 512 px, whole
     processes, each run with a short and a long budget; the difference over the extra evaluations is the cost
     of one evaluation with everything a user pays for (optimiser, bookkeeping), start-up excluded.
  8. time-to-quality of coarse-to-fine (reproduce/coarse_to_fine.py's measure, CVPR Fig 3C, fast path): the
     wall time a --schedule run needs to reach the loss a direct 500-evaluation run ends with, as a fraction of
     the direct run's time, at --quality-size (256 px by default, to keep the benchmark short; 512 px is the
     paper's size and takes about 6 minutes more).
  9. with --device, and only then: section 1's variants on that device (a GPU) at 512 px, its matmul peaks, and
     whole 500-evaluation panels with scipy L-BFGS-B and torch LBFGS in fp32 and bf16, against the paper's
     "up to an hour on a Nvidia K40 GPU".

Sections 1-8 run on the CPU; section 9 alone with --device. Every timing calls .item() after each evaluation,
which waits for a GPU too. Other processes on the machine slow everything down: the load average is recorded
at the start of every section and printed with the table.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import os
import resource
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import torch

REPO = Path(__file__).resolve().parent.parent
import repo  # noqa: F401  (the repository root on sys.path)

from images import load_rgb, resolve_image, target_size, write_text_atomic  # noqa: E402
import machine  # noqa: E402
import models  # noqa: E402
import paper  # noqa: E402
import train  # noqa: E402
import coarse_to_fine  # noqa: E402
import common  # noqa: E402

CPU = torch.device("cpu")
CONTENT, STYLE = paper.HEADLINE_PAIR
FAST = "auto"  # sections 1-8, the fast path: what the CLI runs by default on this machine (network_label)
DEVICE_FAST = "bf16"  # section 9's reduced precision on a GPU, named rather than auto: what it costs is the question
FLOP_LAYER = "conv5_1"  # deepest layer the paper loss needs


# --------------------------------------------------------------------------- #
# Helpers
# --------------------------------------------------------------------------- #
def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def timed(fn: Callable[[], object]) -> float:
    """Seconds ``fn`` takes, a GPU's queued work included (a loss summed on the CPU returns before the
    backward kernels have run, and the next variant would pay for them)."""
    synchronize()
    t = time.perf_counter()
    fn()
    synchronize()
    return time.perf_counter() - t


def synchronize() -> None:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def round_robin(variants: dict[str, Callable[[], object]], warmup: int, reps: int) -> dict[str, list[float]]:
    """Each variant once in turn, ``reps`` times, after ``warmup`` untimed rounds."""
    for _ in range(warmup):
        for fn in variants.values():
            fn()
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(reps):
        for name, fn in variants.items():
            samples[name].append(timed(fn))
    return samples


def fmt(x: float | None, digits: int = 3) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{x:.{digits}g}" if abs(x) < 1000 else f"{x:,.0f}"


def md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def paper_images(images: str | None) -> tuple[Path, Path]:
    return resolve_image(CONTENT, images), resolve_image(STYLE, images)


def load_pair(images: str | None, long_edge: int) -> tuple[tuple[int, int], torch.Tensor, torch.Tensor, Path, Path]:
    """(H, W), content RGB, style RGB at the content's H x W (as train.prepare_images does by default)."""
    content_path, style_path = paper_images(images)
    hw = target_size(content_path, long_edge)
    return hw, load_rgb(content_path, hw), load_rgb(style_path, hw), content_path, style_path


def build_net(precision: str, device: torch.device = CPU) -> models.VGG19:
    dtype, channels_last = machine.resolve_precision(precision, device)
    return models.build_vgg19(None, True, "avg", device, dtype, channels_last)


def dtype_name(precision: str, device: torch.device = CPU) -> str:
    """The network dtype ``precision`` runs in on ``device``: 'bf16' or 'fp32' for auto, else itself."""
    return {v: k for k, v in machine.PRECISIONS.items()}[machine.resolve_precision(precision, device)[0]]


def network_label(precision: str, device: torch.device = CPU) -> str:
    """What ``precision`` runs as on ``device``: 'bf16 + channels_last', 'fp32, NCHW', ..."""
    channels_last = machine.resolve_precision(precision, device)[1]
    return dtype_name(precision, device) + (" + channels_last" if channels_last else ", NCHW")


def config(long_edge: int, precision: str, images: str | None, device: torch.device = CPU) -> train.Config:
    return train.Config(content=CONTENT, style=STYLE, size=long_edge, precision=precision, tol=0.0, images=images,
                        device=str(device))


class Ours:
    """The evaluation as train.stylize runs it: cached targets (train.build_problem) and train.Objective."""

    def __init__(self, net: models.VGG19, cfg: train.Config, content_rgb: torch.Tensor, style_rgb: torch.Tensor):
        with machine.ieee_float32(next(net.parameters()).device):  # the targets too, as train.stylize builds them
            problem = train.build_problem(cfg, net, content_rgb, style_rgb)
        self.net, self.cfg, self.loss = net, cfg, problem.loss
        self.content_x, self.style_x, self.hw = problem.content_x, problem.style_x, tuple(problem.shape[-2:])
        self.x0 = train.initial_image(cfg, net, self.content_x, self.style_x, problem.shape, self.content_x.device)
        self.objective = train.Objective(net, self.loss, budget=10**12, tol=0.0)

    def __call__(self) -> float:
        with machine.ieee_float32(self.x0.device):  # as train.stylize runs it
            value, grad = self.objective(self.x0)
        return float(value)


class Beginner(Ours):
    """The same evaluation, but the content and style features are recomputed inside every call."""

    def __call__(self) -> float:
        loss = train.build_loss(self.net, self.cfg, self.content_x, self.style_x, self.hw)
        value, grad = train.Objective(self.net, loss, budget=10**12, tol=0.0)(self.x0)
        return float(value)


def _fast_pastiche_weights() -> None:
    """pastiche decodes its 8-bit weights through a Python list (``W_table[W_q.flatten().tolist()]``), about
    10 s per construction on this CPU. Set-up only, never timed; the same file decoded as a tensor index gives
    bit-identical weights (checked below), so every PasticheArtist of the run shares one decoded network."""
    from pastiche import vgg19 as pvgg

    if getattr(pvgg.VGG19, "_bench_cached", False):
        return
    cache: dict[str, pvgg.VGG19] = {}
    state = torch.load(models.pastiche_weights_path(), map_location="cpu", weights_only=True)

    def from_quantized_bin(path, pooling=pvgg.DEFAULT_POOLING):
        if pooling not in cache:
            weights = {f: (state[f + "_W_table"][state[f + "_W_q"].long()], state[f + "_b"])
                       for f in pvgg.VGG19.Weights._fields}
            cache[pooling] = pvgg.VGG19(pvgg.VGG19.Weights(**weights), pooling=pooling)
        return cache[pooling]

    f = "block1_conv1"  # the package's own decoding of one layer, to check the shortcut
    assert torch.equal(state[f + "_W_table"][state[f + "_W_q"].flatten().tolist()].reshape(state[f + "_W_q"].shape),
                       state[f + "_W_table"][state[f + "_W_q"].long()])
    pvgg.VGG19.from_quantized_bin = staticmethod(from_quantized_bin)
    pvgg.VGG19._bench_cached = True


class Pastiche:
    """pastiche's own model and loss: PasticheArtist (noise start, average pooling), _calc_loss() + backward.
    Its style image keeps its own aspect ratio at the content's pixel count (the package's default)."""

    def __init__(self, content_path: Path, style_path: Path, long_edge: int, device: torch.device = CPU):
        _fast_pastiche_weights()
        from pastiche.pastiche import PasticheArtist

        torch.manual_seed(0)
        self.artist = PasticheArtist(str(content_path), [str(style_path)], pooling="avg", random_init=True,
                                     device=str(device), size=long_edge)
        self.hw, self.device = tuple(self.artist.content_size), device

    def __call__(self) -> float:
        with machine.ieee_float32(self.device):  # float32 as ours is, not a GPU's default TF32 convolutions
            self.artist.pastiche.grad = None
            value = self.artist._calc_loss()
            value.backward()
        return value.item()


def vgg_flops(height: int, width: int, last: str = FLOP_LAYER) -> float:
    """Conv FLOPs of the forward pass up to ``last`` plus the input-gradient backward (the same again):
    2 * Cin * Cout * 9 * H * W per conv and direction. ReLU, pooling and the loss are not counted."""
    total, h, w = 0.0, height, width
    for item in models.ARCHITECTURE:
        if isinstance(item, str):
            h, w = h // 2, w // 2
            continue
        name, cin, cout = item
        total += 2.0 * cin * cout * 9 * h * w
        if name == last:
            break
    return 2.0 * total


def vgg_pass(net: models.VGG19, x0: torch.Tensor) -> Callable[[], float]:
    def run() -> float:
        x = x0.detach().requires_grad_(True)
        out = net(x, [FLOP_LAYER])[FLOP_LAYER]
        (grad,) = torch.autograd.grad(out, x, grad_outputs=torch.ones_like(out))
        return float(grad[0, 0, 0, 0])
    return run


def matmul_peak(dtype: torch.dtype, n: int, reps: int, device: torch.device = CPU) -> tuple[float, float]:
    """Best of ``reps`` n x n x n products: (seconds, GFLOP/s). On a GPU each product is waited for (``timed``)."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g).to(device, dtype)
    b = torch.randn(n, n, generator=g).to(device, dtype)

    def product() -> None:
        torch.mm(a, b)

    product()
    best = min(timed(product) for _ in range(reps))
    return best, 2.0 * n**3 / best / 1e9


# --------------------------------------------------------------------------- #
# Children: a fresh process per memory measurement and per optimiser run
# --------------------------------------------------------------------------- #
def child_memory(long_edge: int, images: str | None) -> dict:
    def maxrss() -> int:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux

    imported = maxrss()
    net = build_net(FAST)
    hw, content_rgb, style_rgb, _, _ = load_pair(images, long_edge)
    ours = Ours(net, config(long_edge, FAST, images), content_rgb, style_rgb)
    setup = maxrss()
    seconds = timed(ours)
    return {"long_edge": long_edge, "hw": list(hw), "rss_after_imports": imported, "rss_after_setup": setup,
            "rss_peak": maxrss(), "seconds": seconds,
            "estimate_fp32": models.estimate_memory_bytes(*hw, ["conv4_2", *paper.STYLE_LAYERS])}


def child_optimizer(optimizer: str, long_edge: int, budget: int, images: str | None) -> dict:
    if os.environ.get(UNLIMITED_BLAS):
        import contextlib
        import threadpoolctl
        threadpoolctl.threadpool_limits = lambda *args, **kwargs: contextlib.nullcontext()
    result = train.stylize(train.Config(content=CONTENT, style=STYLE, size=long_edge, optimizer=optimizer,
                                        budget=budget, tol=0.0, precision=FAST, images=images))
    seconds = [h["seconds"] for h in result.history]
    return {"optimizer": optimizer, "evaluations": result.evaluations, "stop_reason": result.stop_reason,
            "intervals": [b - a for a, b in zip(seconds, seconds[1:])], "wall_time": result.wall_time,
            "evaluating_seconds": seconds[-1] if seconds else None,
            "final_loss": result.history[-1]["total"] if result.history else None,
            "blas_threads_limited": not os.environ.get(UNLIMITED_BLAS)}


def run_child(args: list[str], env: dict | None = None) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if proc.returncode != 0:
        raise RuntimeError(f"child {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- #
# Sections
# --------------------------------------------------------------------------- #
VARIANTS = ("ours fp32", "ours fast", "beginner fp32", "pastiche fp32")


def section_evaluations(sizes: list[int], reps: dict[int, int], images: str | None, nets: dict) -> dict:
    out = {}
    for size in sizes:
        log(f"evaluations at {size} px (load {machine.load_average()})")
        hw, content_rgb, style_rgb, content_path, style_path = load_pair(images, size)
        variants = {
            "ours fp32": Ours(nets["fp32"], config(size, "fp32", images), content_rgb, style_rgb),
            "ours fast": Ours(nets[FAST], config(size, FAST, images), content_rgb, style_rgb),
            "beginner fp32": Beginner(nets["fp32"], config(size, "fp32", images), content_rgb, style_rgb),
            "pastiche fp32": Pastiche(content_path, style_path, size),
        }
        assert variants["pastiche fp32"].hw == hw, (variants["pastiche fp32"].hw, hw)
        samples = round_robin(variants, warmup=1, reps=reps[size])
        out[size] = {"hw": hw, "load": machine.load_average(), "samples": samples,
                     "median": {k: statistics.median(v) for k, v in samples.items()}}
        del variants
    return out


def section_flops(size: int, reps: int, mm_sizes: dict, images: str | None, nets: dict) -> dict:
    log(f"GFLOP/s at {size} px and matmul peaks (load {machine.load_average()})")
    hw, content_rgb, _, _, _ = load_pair(images, size)
    x0 = {p: nets[p].preprocessing.to_net(content_rgb) for p in ("fp32", FAST)}
    samples = round_robin({p: vgg_pass(nets[p], x0[p]) for p in ("fp32", FAST)}, warmup=1, reps=reps)
    fast_dtype = machine.resolve_precision(FAST, CPU)[0]
    peaks = {"fp32": matmul_peak(torch.float32, mm_sizes["fp32"], 5),
             FAST: matmul_peak(fast_dtype, mm_sizes[FAST], 5)}
    flops = vgg_flops(*hw)
    return {"size": size, "hw": hw, "flops": flops, "load": machine.load_average(), "mm_n": mm_sizes,
            "vgg_seconds": {p: statistics.median(s) for p, s in samples.items()}, "vgg_samples": samples,
            "peak_seconds": {p: v[0] for p, v in peaks.items()}, "peak_gflops": {p: v[1] for p, v in peaks.items()}}


# The last row is the scipy path as it was before run_lbfgsb held scipy's OpenBLAS to one thread (the
# environment variable below only tells the child process to skip that limit): it measures the fix.
UNLIMITED_BLAS = "BENCH_UNLIMITED_BLAS"
OPTIMIZER_RUNS = (("lbfgsb", "scipy L-BFGS-B", {}),
                  ("lbfgsb-unbounded", "scipy L-BFGS-B, no bounds", {}),
                  ("lbfgs", "torch LBFGS", {}),
                  ("adam", "Adam", {}),
                  ("lbfgsb", "scipy L-BFGS-B, BLAS threads not limited", {UNLIMITED_BLAS: "1"}))


def optimizer_own_work(n: int, short: int = 15, long: int = 55, repeats: int = 3) -> dict[str, float]:
    """Seconds per evaluation that each L-BFGS spends outside the objective for n variables (an image's pixels x
    channels), scipy's with its BLAS on one thread and with the same memory (10) as train.run_lbfgsb. The
    objective is a diagonal quadratic (curvatures over four decades, so that neither converges within ``long``
    evaluations) whose minimum lies inside the box, so the bounds never bind: what they add is the cost of
    handling them (the generalised Cauchy point), not a different path. Each figure is the difference of a
    ``long`` and a ``short`` run divided by the difference in evaluations, which cancels the set-up: scipy
    turns the bounds into its own arrays in Python loops over the variables (reported as "scipy set-up").
    Median of ``repeats``: one repeat moves by tens of % with what else runs on the cores."""
    import numpy as np
    from scipy.optimize import Bounds, minimize
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    curvature, centre = 10.0 ** rng.uniform(-2.0, 2.0, n), rng.normal(0.0, 1.0, n)
    box = Bounds(np.full(n, -50.0), np.full(n, 50.0))

    def scipy_run(bounds, budget: int) -> tuple[float, int]:
        spent = []

        def f(x):
            t = time.perf_counter()
            r = x - centre
            value, grad = float((curvature * r * r).sum()), 2.0 * curvature * r
            spent.append(time.perf_counter() - t)
            return value, grad

        with threadpool_limits(limits=1, user_api="blas"):
            start = time.perf_counter()
            minimize(f, np.zeros(n), jac=True, method="L-BFGS-B", bounds=bounds,
                     options={"maxcor": 10, "maxfun": budget, "maxiter": 10**9, "ftol": 0.0, "gtol": 0.0})
            return time.perf_counter() - start - sum(spent), len(spent)

    def torch_run(budget: int) -> tuple[float, int]:
        c, m = torch.from_numpy(curvature).float(), torch.from_numpy(centre).float()
        x, spent = torch.zeros(n, requires_grad=True), []
        opt = torch.optim.LBFGS([x], lr=1.0, max_iter=10**9, max_eval=budget, tolerance_grad=0.0,
                                tolerance_change=0.0, history_size=10, line_search_fn="strong_wolfe")

        def closure():
            t = time.perf_counter()
            r = x.detach() - m
            value, x.grad = (c * r * r).sum(), 2.0 * c * r
            spent.append(time.perf_counter() - t)
            return value

        start = time.perf_counter()
        opt.step(closure)
        return time.perf_counter() - start - sum(spent), len(spent)

    runs = {"scipy L-BFGS-B": lambda b: scipy_run(box, b), "scipy L-BFGS-B, no bounds": lambda b: scipy_run(None, b),
            "torch LBFGS": torch_run}
    samples: dict[str, list[float]] = {label: [] for label in [*runs, "scipy set-up"]}
    for _ in range(repeats):
        for label, run in runs.items():
            (t1, n1), (t2, n2) = run(short), run(long)
            samples[label].append((t2 - t1) / (n2 - n1))
            if label == "scipy L-BFGS-B":
                samples["scipy set-up"].append(t1 - n1 * samples[label][-1])
    return {label: statistics.median(values) for label, values in samples.items()}


def section_optimizers(size: int, budget: int, rounds: int, images: str | None, fresh: bool = True) -> dict:
    """``fresh``: each run in its own process (clean allocator and thread state); --tiny runs them in this
    process to stay fast and drops the unlimited-BLAS row."""
    log(f"optimiser paths at {size} px, {budget} evaluations x {rounds} rounds (load {machine.load_average()})")
    plan = OPTIMIZER_RUNS if fresh else tuple(r for r in OPTIMIZER_RUNS if not r[2])
    runs: dict[str, list[dict]] = {label: [] for _, label, _ in plan}
    for _ in range(rounds):
        for opt, label, env in plan:
            extra = ["--images", images] if images else []
            runs[label].append(run_child(["--child-optimizer", opt, str(size), str(budget), *extra], env) if fresh
                               else child_optimizer(opt, size, budget, images))
    out = {}
    for label, rs in runs.items():
        intervals = [t for r in rs for t in r["intervals"]]
        out[label] = {"evaluations": [r["evaluations"] for r in rs], "stop_reason": rs[-1]["stop_reason"],
                      "median": statistics.median(intervals), "mean": statistics.fmean(intervals),
                      "raw": sum(r["evaluating_seconds"] for r in rs) / sum(r["evaluations"] for r in rs),
                      "intervals": intervals}
    hw = target_size(resolve_image(CONTENT, images), size)
    own = optimizer_own_work(3 * hw[0] * hw[1])
    return {"size": size, "budget": budget, "rounds": rounds, "load": machine.load_average(), "runs": out,
            "fresh": fresh, "own_work": own, "variables": 3 * hw[0] * hw[1]}


FIGURES = (("fig1", ()), ("fig1", ("--paper", "cvpr")), ("fig2", ()), ("fig2", ("--paper", "cvpr")),
           ("fig3", ()), ("fig3", ("--paper", "cvpr")), ("cvpr_fig5", ()), ("cvpr_fig6", ()), ("cvpr_fig7", ()))


def figure_plan(script: str, args: tuple[str, ...], images: str | None) -> list[dict] | str:
    """The panels a figure script computes at its defaults, from its own --plan against an empty cache (nothing
    is run); the one-line error instead where it cannot plan (e.g. the published panels are not there)."""
    import contextlib
    import importlib
    import io
    import tempfile

    from config import BAD_INPUT

    module, out = importlib.import_module(script), io.StringIO()
    with tempfile.TemporaryDirectory() as empty:
        argv = [*args, "--plan", "--cache-dir", empty, *(["--images", images] if images else [])]
        try:
            with contextlib.redirect_stdout(out):
                module.main(argv)
        except common.OnlyDone:
            pass
        except BAD_INPUT as e:
            return str(e)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def section_figures(ev: dict, images: str | None) -> dict:
    """Section 6: per figure, its panels and evaluations (--plan) and the wall time they need at section 1's
    measured seconds per evaluation, for the fp32 and the fast network."""
    log("figure costs from the figure scripts' --plan")

    def seconds(size: int, variant: str) -> float:
        nearest = min(ev, key=lambda s: abs(s - size))
        return ev[nearest]["median"][variant] * (size / nearest) ** 2

    rows, seen, total = [], set(), {"ours fp32": 0.0, "ours fast": 0.0}
    for script, args in FIGURES:
        plan = figure_plan(script, args, images)
        name = " ".join([f"reproduce/{script}.py", *args])
        if isinstance(plan, str):
            rows.append({"figure": name, "error": plan})
            continue
        cost = {v: sum(p["budget"] * seconds(p["size"], v) for p in plan) for v in total}
        for p in plan:
            if p["cache_key"] not in seen:  # all.py computes a panel shared by two figures once
                seen.add(p["cache_key"])
                for v in total:
                    total[v] += p["budget"] * seconds(p["size"], v)
        rows.append({"figure": name, "panels": len(plan), "sizes": sorted({p["size"] for p in plan}),
                     "evaluations": sum(p["budget"] for p in plan), "seconds": cost})
    return {"rows": rows, "total_seconds": total, "distinct_panels": len(seen)}


CLI_BUDGETS = (5, 35)  # evaluations: the difference of the two runs is 30 evaluations' worth of wall time


def cli_command(tool: str, size: int, evaluations: int, images: str | None, out: Path) -> list[str]:
    """The command a user would type: our defaults (white noise, L-BFGS-B, fast path where the CPU has it) and
    pastiche's closest match (white noise, torch L-BFGS, average pooling); tol 0 so ours runs its budget."""
    content, style = (str(resolve_image(name, images)) for name in paper.HEADLINE_PAIR)
    if tool == "ours":
        return [sys.executable, str(REPO / "train.py"), "--content", content, "--style", style, "--size", str(size),
                "--budget", str(evaluations), "--tol", "0", "--out", str(out)]
    # pastiche's L-BFGS takes max_iter=1 per step: one step is one evaluation
    return [sys.executable, "-m", "pastiche", "--content", content, "--styles", style, "--output", str(out),
            "--size", str(size), "--num-steps", str(evaluations), "--random-init", "--pooling", "avg",
            "--optimizer", "lbfgs", "--seed", "0", "--no-verbose"]


def section_cli(size: int, images: str | None, rounds: int = 3) -> dict:
    """Section 7: wall time of whole CLI processes, ours and pastiche, at two budgets each; ``rounds`` times,
    the tools alternating, because one round's ratio moves by a few % with the load of the shared cores."""
    import tempfile
    runs: list[dict[str, dict[int, float]]] = []  # per round: tool -> evaluations -> seconds
    with tempfile.TemporaryDirectory() as tmp:
        for number in range(1, rounds + 1):
            seconds: dict[str, dict[int, float]] = {"ours": {}, "pastiche": {}}
            for evaluations in CLI_BUDGETS:
                for tool in seconds:
                    cmd = cli_command(tool, size, evaluations, images, Path(tmp) / f"{tool}_{evaluations}.png")
                    log(f"CLI round {number}/{rounds}: {tool}, {evaluations} evaluations at {size} px "
                        f"(load {machine.load_average()})")
                    t0 = time.perf_counter()
                    proc = subprocess.run(cmd, capture_output=True, text=True)
                    if proc.returncode != 0:
                        raise RuntimeError(f"{shlex.join(cmd)} failed:\n{proc.stderr[-2000:]}")
                    seconds[tool][evaluations] = time.perf_counter() - t0
            runs.append(seconds)
    commands = {tool: shown_command(cli_command(tool, size, CLI_BUDGETS[-1], images, Path("out.png")), images)
                for tool in ("ours", "pastiche")}
    return cli_summary(size, runs, commands, machine.load_average())


def cli_summary(size: int, runs: list[dict[str, dict[int, float]]], commands: dict[str, str], load: str) -> dict:
    """Per round: each tool's seconds per evaluation and pastiche / ours; the median ratio over the rounds."""
    rounds = [{"seconds": seconds, "per_evaluation": per_evaluation(seconds)} for seconds in runs]
    ratios = [r["per_evaluation"]["pastiche"] / r["per_evaluation"]["ours"] for r in rounds]
    return {"size": size, "budgets": sorted(runs[0]["ours"]), "rounds": rounds, "ratios": ratios,
            "median_ratio": statistics.median(ratios), "load": load, "commands": commands}


def per_evaluation(seconds: dict[str, dict[int, float]]) -> dict[str, float]:
    """Seconds per evaluation of each tool from its whole-process times at two budgets: start-up cancels."""
    out = {}
    for tool, by_budget in seconds.items():
        (short, t_short), (long, t_long) = sorted(by_budget.items())
        out[tool] = (t_long - t_short) / (long - short)
    return out


def shown_command(cmd: list[str], images: str | None) -> str:
    """The command as a reader would type it: python, paths relative to the repository and the image directory."""
    image_dir = str(resolve_image(CONTENT, images).parent)
    return shlex.join(cmd).replace(sys.executable, "python").replace(str(REPO) + "/", "").replace(
        image_dir, "$GATYS_IMAGES")


def section_memory(sizes: list[int], images: str | None) -> dict:
    out = {}
    for size in sizes:
        log(f"peak memory at {size} px in a fresh process (load {machine.load_average()})")
        out[size] = run_child(["--child-memory", str(size), *(["--images", images] if images else [])])
    return out


def section_profile(size: int, images: str | None, nets: dict, top: int = 15) -> dict:
    from torch.profiler import ProfilerActivity, profile

    log(f"profiling one fast-path evaluation at {size} px (load {machine.load_average()})")
    hw, content_rgb, style_rgb, _, _ = load_pair(images, size)
    ours = Ours(nets[FAST], config(size, FAST, images), content_rgb, style_rgb)
    ours(), ours()  # warm-up
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        wall = timed(ours)
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events)
    rows = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)
    groups: dict[str, float] = {}
    for e in events:
        groups[op_group(e.key)] = groups.get(op_group(e.key), 0.0) + e.self_cpu_time_total
    return {"size": size, "hw": hw, "wall": wall, "self_total_us": total, "load": machine.load_average(),
            "top": [{"op": e.key, "self_ms": e.self_cpu_time_total / 1e3, "calls": e.count,
                     "share": e.self_cpu_time_total / total} for e in rows[:top]],
            "groups": {k: v / 1e3 for k, v in sorted(groups.items(), key=lambda kv: -kv[1])}}


def op_group(op: str) -> str:
    if "convolution_backward" in op:
        return "conv backward (input gradient)"
    if "conv" in op:
        return "conv forward"
    if op in ("aten::copy_", "aten::_to_copy", "aten::clone", "aten::contiguous", "aten::to", "aten::empty_like",
              "aten::reshape", "aten::_reshape_alias", "aten::view"):
        return "copies, casts and layout changes"
    if op in ("aten::mm", "aten::matmul", "aten::addmm", "aten::bmm"):
        return "matmul (Gram matrices and their backward)"
    if "pool" in op:
        return "pooling (forward and backward)"
    if "relu" in op or "threshold" in op or "clamp_min" in op:
        return "ReLU (forward and backward)"
    return "other (loss arithmetic, reductions, bookkeeping)"


# --------------------------------------------------------------------------- #
# Report
# --------------------------------------------------------------------------- #
def report(meta: dict, ev: dict, fl: dict, opt: dict, mem: dict, prof: dict | None, figs: dict | None,
           cli: dict | None, quality: dict) -> str:
    parts = []
    gib = 2**30
    # 1. per-evaluation times and ratios
    rows, spread = [], []
    for size, r in ev.items():
        m = r["median"]
        flops = vgg_flops(*r["hw"])
        rows.append([f"{size}", f"{r['hw'][1]}×{r['hw'][0]}", *(fmt(m[v]) for v in VARIANTS),
                     fmt(m["ours fast"] / m["ours fp32"], 2), fmt(m["ours fp32"] / m["pastiche fp32"], 2),
                     fmt(m["ours fast"] / m["pastiche fp32"], 2), fmt(m["beginner fp32"] / m["ours fp32"], 2),
                     fmt(flops / m["ours fp32"] / 1e9), fmt(flops / m["ours fast"] / 1e9), r["load"]])
        for v in VARIANTS:
            s = r["samples"][v]
            spread.append([f"{size}", v, str(len(s)), fmt(min(s)), fmt(statistics.median(s)), fmt(max(s))])
    parts.append("## 1. Seconds per evaluation (forward + backward of the full paper loss)\n\n"
                 "Median over timed evaluations after one warm-up, the four variants timed round-robin. "
                 f"*fast* = what `--precision auto` runs on this CPU: {meta['fast']}; G − A "
                 "accumulated in float32 (`loss.gram_minus`), losses and the image float32. *beginner* = ours in "
                 "fp32 with the content and style targets recomputed inside every evaluation. *pastiche* = "
                 "`PasticheArtist(random_init=True, pooling='avg')`, "
                 "`_calc_loss()` + `backward()`. Ratios are time ratios (< 1: the numerator is faster). "
                 "GFLOP/s = analytic VGG conv FLOPs up to conv5_1 (forward + input gradient) / evaluation time.\n\n"
                 + md_table(["long edge", "W×H", "ours fp32 s", "ours fast s", "beginner s", "pastiche s",
                             "fast/fp32", "ours fp32/pastiche", "ours fast/pastiche", "beginner/ours fp32",
                             "GFLOP/s fp32", "GFLOP/s fast", "load (1/5/15 min)"], rows)
                 + "\n\nSpread (seconds):\n\n"
                 + md_table(["long edge", "variant", "n", "min", "median", "max"], spread))
    # 2. optimiser paths
    runs = opt["runs"]
    lb = runs["torch LBFGS"]["median"]
    bare = ev.get(opt["size"], {}).get("median", {}).get("ours fast")
    rows = [[label, "+".join(map(str, r["evaluations"])), fmt(r["median"]), fmt(r["mean"]), fmt(r["raw"]),
             fmt(r["median"] / lb, 3), fmt(r["median"] / bare, 3) if bare else "n/a"] for label, r in runs.items()]
    parts.append(f"## 2. Optimiser paths: wall time per evaluation at {opt['size']} px, fast path\n\n"
                 f"`train.stylize(Config(..., optimizer=X, budget={opt['budget']}, tol=0))` ({meta['fast']}), "
                 f"{opt['rounds']} round(s), "
                 + ("each run in a fresh process" if opt["fresh"] else "in the benchmark's process (--tiny)")
                 + "; per evaluation = interval between consecutive evaluations (first one excluded), so it "
                 "includes the optimiser's own work; *raw* = all evaluations including the first (warm-up) / "
                 "their number. The last column divides by the bare `train.Objective` call "
                 "of §1 (ours fast, same size)."
                 + (" The last row repeats the scipy path without holding scipy's OpenBLAS to one thread "
                    "(as before that fix in train.run_lbfgsb)." if opt["fresh"] else "") + "\n\n"
                 + md_table(["optimiser", "evaluations", "median s/eval", "mean s/eval", "raw s/eval",
                             "median ratio to torch LBFGS",
                             "ratio to bare evaluation (§1)"], rows)
                 + f"\n\nThe optimisers' own work per evaluation for {opt['variables']} variables "
                 "(`optimizer_own_work`: a diagonal quadratic, set-up cancelled; scipy's BLAS on one thread): "
                 + ", ".join(f"{label} {1e3 * opt['own_work'][label]:.1f} ms" for label in
                             ("scipy L-BFGS-B", "scipy L-BFGS-B, no bounds", "torch LBFGS"))
                 + "; scipy's set-up with the bounds (Python loops over the variables, work arrays), once per run: "
                 f"{opt['own_work']['scipy set-up']:.2f} s."
                 + f"\n\nLoad at the end of this section: {opt['load']}.")
    # 3. GFLOP/s
    rows = []
    for p, label in (("fp32", "fp32"), (FAST, dtype_name(FAST))):
        n = fl["mm_n"][p]
        rows.append([f"torch.mm {n}×{n}×{n} (best of 5)", label, fmt(2.0 * n**3 / 1e9), fmt(fl["peak_seconds"][p], 3),
                     fmt(fl["peak_gflops"][p]), "100 %"])
    for p, label in (("fp32", "fp32, NCHW"), (FAST, meta["fast"])):
        s = fl["vgg_seconds"][p]
        g = fl["flops"] / s / 1e9
        rows.append([f"VGG conv1_1..conv5_1 fwd + input-grad, {fl['hw'][1]}×{fl['hw'][0]} (median)", label,
                     fmt(fl["flops"] / 1e9), fmt(s, 3), fmt(g), f"{100 * g / fl['peak_gflops'][p]:.0f} %"])
    parts.append("## 3. Achieved GFLOP/s against the matmul peak measured in this run\n\n"
                 "FLOPs counted analytically: 2·Cin·Cout·9·H·W per conv forward, the same again for the input "
                 "gradient (no weight gradients are needed), layers up to conv5_1.\n\n"
                 + md_table(["measurement", "precision", "GFLOP", "seconds", "GFLOP/s", "of peak"], rows)
                 + f"\n\nLoad during this section: {fl['load']}.")
    # 4. memory
    rows = [[str(size), f"{m['hw'][1]}×{m['hw'][0]}", fmt(m["rss_after_imports"] / gib, 3),
             fmt(m["rss_after_setup"] / gib, 3), fmt(m["rss_peak"] / gib, 3), fmt(m["estimate_fp32"] / gib, 3),
             fmt(m["seconds"], 3)] for size, m in mem.items()]
    parts.append("## 4. Peak memory of one fast-path evaluation (fresh process per size)\n\n"
                 "`resource.getrusage(RUSAGE_SELF).ru_maxrss` (high-water mark of resident memory): after imports, "
                 "after building the network and the cached targets, and after one evaluation. The estimate is "
                 "`models.estimate_memory_bytes` (the pessimistic fp32 bound `config.check_size` refuses with).\n\n"
                 + md_table(["long edge", "W×H", "after imports GiB", "after set-up GiB", "peak GiB",
                             "estimate GiB", "evaluation s (cold)"], rows))
    # 5. profile
    if prof:
        rows = [[f"`{r['op']}`", fmt(r["self_ms"], 4), str(r["calls"]), f"{100 * r['share']:.1f} %"]
                for r in prof["top"]]
        groups = [[k, fmt(v, 4), f"{100 * v * 1e3 / prof['self_total_us']:.1f} %"] for k, v in prof["groups"].items()]
        parts.append(f"## 5. Profile of one fast-path evaluation at {prof['size']} px "
                     f"({prof['hw'][1]}×{prof['hw'][0]}, torch.profiler, CPU)\n\n"
                     f"Wall time under the profiler {prof['wall']:.3f} s; sum of self CPU times "
                     f"{prof['self_total_us'] / 1e6:.3f} s (per thread-op, so it can exceed the wall time). "
                     f"Load: {prof['load']}.\n\nBy group:\n\n"
                     + md_table(["group", "self CPU ms", "share"], groups)
                     + "\n\nTop operators by self CPU time:\n\n"
                     + md_table(["operator", "self CPU ms", "calls", "share"], rows))
    # 6. figures
    if figs:
        hours = lambda seconds: [fmt(seconds["ours fp32"] / 3600, 2), fmt(seconds["ours fast"] / 3600, 2)]
        rows = [[f"`python {r['figure']}`", "needs: " + r["error"], "", "", "", ""] if "error" in r else
                [f"`python {r['figure']}`", str(r["panels"]), ", ".join(map(str, r["sizes"])), str(r["evaluations"]),
                 *hours(r["seconds"])] for r in figs["rows"]]
        rows.append([f"all of the above, shared panels once ({figs['distinct_panels']} panels)", "", "", "",
                     *hours(figs["total_seconds"])])
        parts.append("## 6. What each figure costs here, from scratch\n\n"
                     "Panels and budgets from each script's `--plan` at its defaults; hours = Σ budget × section 1's "
                     "median seconds per evaluation at the nearest measured size × (long edge / that size)²: the "
                     "evaluations' cost only. A figure's measured wall time (`wall_time_s` in its JSON) adds the "
                     "optimiser's own work (section 2), set-up, and the float32 continuation of a bf16 run that "
                     "stalls; cached panels cost nothing.\n\n"
                     + md_table(["figure", "panels", "long edge px", "evaluations", "hours, fp32", "hours, fast"],
                                rows))
    if cli:
        parts.append(cli_section(cli))
    parts.append(quality_section(quality))
    return report_text(meta, parts)


def report_text(meta: dict, parts: list[str]) -> str:
    """The machine and the run, then the sections."""
    head = ["# Benchmark: one evaluation of the Gatys et al. objective", "",
            f"- command: `{meta['command']}`", f"- date: {meta['date']}",
            f"- cpu: {meta['cpu']}, {meta['cores']} logical cores, native bf16: {meta['cpu_bf16']}",
            *([f"- gpu: {meta['gpu']}"] if "gpu" in meta else []),
            f"- torch {meta['torch']} ({meta['torch_threads']} threads), numpy {meta['numpy']}, scipy {meta['scipy']}, "
            f"python {meta['python']}, pastiche {meta['pastiche']}",
            f"- images: {CONTENT} + {STYLE}; memory total {meta['memory']}",
            f"- load average (1/5/15 min) at start: {meta['load_start']}; at end: {meta['load_end']}; "
            f"run time {meta['run_seconds']:.0f} s",
            "- other processes share these cores: compare ratios within one run rather than absolute times "
            "across runs."]
    return "\n".join(head) + "\n\n" + "\n\n".join(parts) + "\n"


def cli_section(cli: dict) -> str:
    """Section 7 as markdown."""
    short, long = cli["budgets"]
    rows = [[str(number), tool, fmt(r["seconds"][tool][short]), fmt(r["seconds"][tool][long]),
             fmt(r["per_evaluation"][tool], 3)]
            + ([fmt(cli["ratios"][number - 1], 3)] if tool == "pastiche" else [""])
            for number, r in enumerate(cli["rounds"], 1) for tool in ("ours", "pastiche")]
    return (f"## 7. Through the command lines, as a user times them ({cli['size']} px)\n\n"
            f"Whole processes, wall time; per evaluation = (time at {long} − time at {short}) / "
            f"{long - short}, so start-up (imports, weights, targets) cancels; {len(cli['rounds'])} rounds, the "
            f"tools alternating. Commands (at {long} evaluations):\n\n"
            + "".join(f"- {tool}: `{cmd}`\n" for tool, cmd in cli["commands"].items()) + "\n"
            + md_table(["round", "CLI", f"s, {short} evaluations", f"s, {long} evaluations", "s per evaluation",
                        "pastiche / ours"], rows)
            + f"\n\npastiche / ours per evaluation, median of the rounds: **{cli['median_ratio']:.2f}x** "
            f"(rounds: {', '.join(f'{r:.2f}' for r in cli['ratios'])}). Load at the end: {cli['load']}.")


def section_quality(size: int, images: str | None, direct_budget: int, stage: int, final: int) -> dict:
    """Section 8: one direct and one coarse-to-fine run of CVPR Fig 3C at ``size``, in this process, timed by
    coarse_to_fine.time_to_quality (from each run's first evaluation)."""
    painting = {p.panel: p for p in paper.PAINTINGS}["C"]
    log(f"time-to-quality at {size} px (load {machine.load_average()})")
    base = train.Config(content=paper.PHOTO, style=painting.file, ratio=painting.cvpr_ratio, size=size,
                        precision=FAST, tol=0.0, images=images)
    schedule = coarse_to_fine.default_schedule(size, stage)
    direct = train.stylize(dataclasses.replace(base, budget=direct_budget))
    scheduled = train.stylize(dataclasses.replace(base, budget=final, schedule=schedule))
    return {"size": size, "panel": f"CVPR Fig 3{painting.panel}", "direct_budget": direct_budget,
            "schedule": [list(stage) for stage in schedule], "final": final, "load": machine.load_average(),
            **coarse_to_fine.time_to_quality(direct.history, scheduled.history, size)}


def quality_section(q: dict) -> str:
    """Section 8 as markdown."""
    stages = " → ".join(f"{edge} px × {count}" for edge, count in (*q["schedule"], (q["size"], q["final"])))
    reached = "never" if q["seconds_to_direct_loss"] is None else fmt(q["seconds_to_direct_loss"])
    fraction = "n/a" if q["fraction"] is None else fmt(q["fraction"], 2)
    return (f"## 8. Time-to-quality of coarse-to-fine ({q['panel']}, {q['size']} px, fast path)\n\n"
            f"Direct: {q['direct_budget']} evaluations at {q['size']} px from noise. Scheduled: {stages}. Seconds "
            "from each run's first evaluation; *reached* = when the scheduled run's best loss at the full size is "
            "at or below the direct run's final best loss.\n\n"
            + md_table(["direct final loss", "direct s", "scheduled final loss", "scheduled s", "reached at s",
                        "fraction of direct"],
                       [[fmt(q["direct_loss"], 4), fmt(q["direct_seconds"]), fmt(q["scheduled_loss"], 4),
                         fmt(q["scheduled_seconds"]), reached, fraction]])
            + f"\n\nLoad at the end: {q['load']}.")


# The paper's own cost: synthesis at about 512 x 512 "could take up to an hour on a Nvidia K40 GPU" ([C] §4)
PAPER_SECONDS_PER_IMAGE = 3600.0


def peak_device_memory(device: torch.device) -> int | None:
    return torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None


def section_device(device: torch.device, size: int, reps: int, budget: int, mm_n: int, images: str | None,
                   save: Callable[[dict], None] = lambda d: None) -> dict:
    """Section 9 (``--device``): on one device, typically a GPU, in this process: seconds per evaluation of ours in
    fp32 and bf16 and of pastiche (round-robin, as section 1), the device's matmul peaks, and whole panels at
    ``size``: the headline pair, ``budget`` evaluations (tol 0) with scipy L-BFGS-B (the figures' optimiser,
    which runs on the CPU and exchanges the image with the device every evaluation) and with torch LBFGS (all
    on the device), in each precision. ``save`` receives the section so far after the per-evaluation rows and
    after each panel, so that a run cut short by its time limit still leaves what it measured; a peer or a
    panel that fails is recorded with its error and the rest goes on."""
    log(f"section 9 on {device} at {size} px")
    hw, content_rgb, style_rgb, content_path, style_path = load_pair(images, size)
    nets = {p: build_net(p, device) for p in ("fp32", DEVICE_FAST)}
    variants = {"ours fp32": Ours(nets["fp32"], config(size, "fp32", images, device), content_rgb, style_rgb),
                "ours fast": Ours(nets[DEVICE_FAST], config(size, DEVICE_FAST, images, device), content_rgb,
                                  style_rgb)}
    errors = {}
    try:
        variants["pastiche fp32"] = Pastiche(content_path, style_path, size, device)
    except Exception as e:  # the peer is not ours to fix; our rows still count
        errors["pastiche fp32"] = f"{type(e).__name__}: {e}"
    samples = round_robin(variants, warmup=2, reps=reps)
    del variants, nets
    peaks = {"fp32": matmul_peak(torch.float32, mm_n, 5, device),
             DEVICE_FAST: matmul_peak(torch.bfloat16, mm_n, 5, device)}
    section = {"device": str(device), "size": size, "hw": hw, "flops": vgg_flops(*hw), "budget": budget,
               "samples": samples, "median": {k: statistics.median(v) for k, v in samples.items()}, "mm_n": mm_n,
               "peak_gflops": {p: v[1] for p, v in peaks.items()}, "panels": {}, "errors": errors,
               "load": machine.load_average()}
    save(section)
    for precision in ("fp32", DEVICE_FAST):
        for optimizer in ("lbfgsb", "lbfgs"):
            key = f"{precision} {optimizer}"
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            try:
                result = train.stylize(dataclasses.replace(config(size, precision, images, device), budget=budget,
                                                           optimizer=optimizer))
            except Exception as e:
                errors[key] = f"{type(e).__name__}: {e}"
                log(f"panel {key} failed: {errors[key]}")
                continue
            section["panels"][key] = {
                "precision": precision, "optimizer": optimizer, "evaluations": result.evaluations,
                "wall_time": result.wall_time, "evaluating_seconds": result.history[-1]["seconds"],
                "final_loss": result.history[-1]["total"], "stop_reason": result.stop_reason,
                "peak_memory": peak_device_memory(device)}
            log(f"panel {key}: {result.evaluations} evaluations in {result.wall_time:.1f} s ({result.stop_reason})")
            section["load"] = machine.load_average()
            save(section)
    return section


def device_section(d: dict) -> str:
    """Section 9 as markdown."""
    m, gib = d["median"], 2**30
    peer = m.get("pastiche fp32")
    peak = {variant: d["peak_gflops"]["fp32" if "fp32" in variant else DEVICE_FAST] for variant in d["samples"]}
    rows = [[variant, str(len(d["samples"][variant])), fmt(min(d["samples"][variant])), fmt(m[variant]),
             fmt(max(d["samples"][variant])), "n/a" if peer is None else fmt(m[variant] / peer, 3),
             fmt(d["flops"] / m[variant] / 1e9), f"{100 * d['flops'] / m[variant] / 1e9 / peak[variant]:.0f} %"]
            for variant in d["samples"]]
    labels = {opt: label for opt, label, env in OPTIMIZER_RUNS if not env}
    panels = [[r["precision"], labels[r["optimizer"]],
               str(r["evaluations"]), fmt(r["wall_time"]), fmt(r["evaluating_seconds"] / r["evaluations"], 3),
               fmt(PAPER_SECONDS_PER_IMAGE / r["wall_time"]),
               "n/a" if r["peak_memory"] is None else fmt(r["peak_memory"] / gib, 3), r["stop_reason"]]
              for r in d["panels"].values()]
    return (f"## 9. On {d['device']} ({d['size']} px, {d['hw'][1]}×{d['hw'][0]})\n\n"
            "Seconds per evaluation, the variants of section 1 timed round-robin after two warm-ups (every "
            "evaluation ends in `.item()`, which waits for the device). GFLOP/s-equivalent = the VGG pass's "
            f"analytic FLOPs / evaluation time, against this device's {d['mm_n']}³ matmul peak in the variant's "
            f"precision (fp32 {fmt(d['peak_gflops']['fp32'])}, bf16 {fmt(d['peak_gflops'][DEVICE_FAST])} GFLOP/s).\n\n"
            + md_table(["variant", "n", "min s", "median s", "max s", "ratio to pastiche", "GFLOP/s", "of peak"], rows)
            + f"\n\nWhole panels: `train.stylize` of the headline pair, {d['budget']} evaluations, tol 0, wall time "
            "including set-up. scipy L-BFGS-B works on the CPU in float64 and exchanges the image with the device "
            "every evaluation; torch LBFGS stays on the device. *Panels per paper hour* = 3600 s / wall time: the "
            "paper's synthesis at about 512 × 512 \"could take up to an hour on a Nvidia K40 GPU\" ([C] §4).\n\n"
            + md_table(["network", "optimiser", "evaluations", "wall s", "s per evaluation", "panels per paper hour",
                        "peak device memory GiB", "stop"], panels)
            + "".join(f"\n\n{what} failed: `{error}`" for what, error in d.get("errors", {}).items())
            + f"\n\nLoad at the end: {d['load']}.")


def run_record(argv: list[str], device: torch.device = CPU) -> dict:
    from importlib.metadata import version
    return {"command": "python reproduce/bench.py" + ("" if not argv else " " + shlex.join(argv)),
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            **machine.describe(device), "pastiche": version("pastiche"), "load_start": machine.load_average()}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = train.OneLineParser(prog="python reproduce/bench.py", description=__doc__.split("\n")[0])
    p.add_argument("--tiny", action="store_true", help="64 px, 2 timed evaluations, no 1024/2048 (CI smoke test)")
    p.add_argument("--out", help="also write the markdown here (e.g. figures/bench.md) and the raw samples "
                                 "beside it as .json")
    p.add_argument("--profile", action="store_true", help="add a torch.profiler breakdown of one fast-path "
                                                          "evaluation at 512 px (64 px with --tiny)")
    p.add_argument("--images", help="paper image directory (default: $GATYS_IMAGES, else data/paper-images)")
    p.add_argument("--quality-size", type=int, default=256, help="long edge of section 8's two runs (512: the "
                                                                  "paper's size, about 6 minutes more)")
    p.add_argument("--device", help="measure only section 9, on this device (e.g. cuda): seconds per evaluation, "
                                    "matmul peaks and whole 512 px panels (--tiny: 64 px, 3 evaluations)")
    p.add_argument("--child-memory", type=int, help=argparse.SUPPRESS)
    p.add_argument("--child-optimizer", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if not 64 <= args.quality_size <= 2048:
        p.error(f"--quality-size must be between 64 and 2048 px, not {args.quality_size}")

    if args.child_memory:
        print(json.dumps(child_memory(args.child_memory, args.images)))
        return 0
    if args.child_optimizer:
        opt, size, budget = args.child_optimizer
        print(json.dumps(child_optimizer(opt, int(size), int(budget), args.images)))
        return 0

    t0 = time.perf_counter()
    if args.device:
        try:
            device = machine.resolve_device(args.device)
        except machine.DeviceError as e:
            p.exit(2, f"error: {e}\n")
        meta = run_record(argv, device)
        size, reps, budget, mm_n = (64, 2, 3, 512) if args.tiny else (512, 10, common.BUDGET, 8192)

        def save(section: dict) -> None:
            meta["load_end"], meta["run_seconds"] = machine.load_average(), time.perf_counter() - t0
            if args.out:
                write_report(report_text(meta, [device_section(section)]), {"machine": meta, "device": section},
                             args.out)

        on_device = section_device(device, size, reps, budget, mm_n, args.images, save)
        meta["load_end"], meta["run_seconds"] = machine.load_average(), time.perf_counter() - t0
        return publish(report_text(meta, [device_section(on_device)]), {"machine": meta, "device": on_device},
                       args.out, t0)
    meta = {**run_record(argv), "fast": network_label(FAST)}
    log(f"load average at start: {meta['load_start']}; the fast path here: {meta['fast']}")
    if args.tiny:
        sizes, reps, mem_sizes, main_size = [64], {64: 2}, [64], 64
        opt_budget, opt_rounds, mm_sizes = 3, 1, {"fp32": 512, FAST: 512}
    else:
        sizes, reps, mem_sizes, main_size = [256, 512, 1024], {256: 7, 512: 5, 1024: 3}, [512, 1024, 2048], 512
        opt_budget, opt_rounds, mm_sizes = 41, 3, {"fp32": 2048, FAST: 4096}
    paper_images(args.images)  # fetch (with checksum) before any timing
    nets = {"fp32": build_net("fp32"), FAST: build_net(FAST)}
    ev = section_evaluations(sizes, reps, args.images, nets)
    fl = section_flops(main_size, reps[main_size], mm_sizes, args.images, nets)
    prof = section_profile(main_size, args.images, nets) if args.profile else None
    del nets
    opt = section_optimizers(main_size, opt_budget, opt_rounds, args.images, fresh=not args.tiny)
    mem = section_memory(mem_sizes, args.images)
    figs = None if args.tiny else section_figures(ev, args.images)
    cli = None if args.tiny else section_cli(main_size, args.images)
    quality = (section_quality(128, args.images, direct_budget=6, stage=3, final=3) if args.tiny else
               section_quality(args.quality_size, args.images, direct_budget=common.BUDGET,
                               stage=coarse_to_fine.DEFAULT_STAGE, final=coarse_to_fine.DEFAULT_FINAL))
    meta["load_end"], meta["run_seconds"] = machine.load_average(), time.perf_counter() - t0
    raw = {"machine": meta, "evaluations": {str(k): v for k, v in ev.items()}, "flops": fl, "optimizers": opt,
           "memory": {str(k): v for k, v in mem.items()}, "profile": prof, "figures": figs,
           "cli": cli, "time_to_quality": quality}
    return publish(report(meta, ev, fl, opt, mem, prof, figs, cli, quality), raw, args.out, t0)


def publish(text: str, raw: dict, out: str | None, t0: float) -> int:
    """The report on stdout and, with --out, as markdown with the raw samples beside it as JSON."""
    print(text)
    if out:
        out = write_report(text, raw, out)
        log(f"wrote {out} and {out.with_suffix('.json')}")
    log(f"done in {time.perf_counter() - t0:.0f} s (load {machine.load_average()})")
    return 0


def write_report(text: str, raw: dict, out: str) -> Path:
    out = write_text_atomic(out, text)
    write_text_atomic(out.with_suffix(".json"), json.dumps(raw, indent=1) + "\n")
    return out


if __name__ == "__main__":
    sys.exit(common.cli(main, "nothing written, except what --device saved as it went"))
