"""Quality parity of the fast path: the same synthesis in fp32 and in bf16 + channels_last, both judged in fp32.

For each noise seed, ``--budget`` evaluations of the figures' optimiser (scipy L-BFGS-B, tol 0; ``--optimizer``)
at 256 px, Neckarfront + The Starry Night at the balance the figures use (printed 1e-3 x the measured factor,
scaled to the size), once with the network in float32 and once in the fast path (bf16 network, channels_last;
losses, optimiser state and image float32 in both). Each run's best iterate is then evaluated with the float32
network and float32 targets, so both numbers are on the same scale; the relative difference (bf16 - fp32) / fp32
is the figure of merit (target: within 1 %). Two runs of the same problem drift apart however they round (the
optimisation amplifies any difference), so one seed's difference is part rounding, part chance; the mean over
``--seeds`` separates the two.

When the bf16 run stalls or its optimiser stops by itself before the budget, train.stylize continues it in
float32; the script then also reports how many evaluations ran in bf16 and the difference at that count (own
losses).

    python reproduce/precision.py                          # 3 seeds x 500 evaluations x 2 precisions
    python reproduce/precision.py --budget 20 --seeds 0    # a quick check
    python reproduce/precision.py --judge out.png          # a saved result's loss under both networks
    python reproduce/precision.py --rounded-weights        # where the bf16 network's responses lose energy

Writes figures/precision.png (the two images side by side, fp32 losses in the titles, and both loss curves)
and figures/precision.json.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
import repo  # noqa: F401  (the repository root on sys.path)

import common  # noqa: E402
import machine  # noqa: E402
import models  # noqa: E402
import paper  # noqa: E402
import train  # noqa: E402
from config import ConfigError, check, check_size  # noqa: E402
from images import (check_writable, load_rgb, open_image, resolve_image, target_size, write_atomic,  # noqa: E402
                    write_text_atomic)

CPU = torch.device("cpu")
RUNS = (("fp32", "fp32 network"), ("bf16", "bf16 network + channels_last"))


def run(precision: str, args, seed: int) -> dict:
    """One synthesis; keeps the best iterate in network space (unclamped where the optimiser has no bounds)."""
    best = {}

    def keep(p: train.Progress) -> None:
        best["x"] = p.best_x

    cfg = train.Config(content=paper.PHOTO, style=paper.STARRY_NIGHT, size=args.size,
                       ratio=paper.FIG6_RATIO, optimizer=args.optimizer, budget=args.budget, tol=0.0,
                       seed=seed, precision=precision, images=args.images, scales=args.scales)
    print(f"[precision] seed {seed}, {precision}: {args.budget} evaluations at {args.size} px "
          f"(load {machine.load_average()})",
          file=sys.stderr, flush=True)
    result = train.stylize(cfg, keep)
    if result.interrupted:  # a cut-short run would enter the comparison as if complete
        raise KeyboardInterrupt
    totals = [h["total"] for h in result.history]
    in_bf16 = sum(1 for h in result.history if h.get("network_dtype") != "float32")
    return {"config": cfg, "result": result, "best_x": best["x"], "own_best": min(totals), "history": totals,
            "evaluations_before_float32": in_bf16 if in_bf16 < len(totals) else None,
            "seconds_per_eval": result.history[-1]["seconds"] / max(1, result.evaluations)}


def judge_of(cfg: train.Config, precision: str):
    """f(x) -> L_total of ``cfg``'s problem on the CPU with the network in ``precision`` and that network's own
    targets (train.build_problem); the network's preprocessing; the image's height and width."""
    cfg = dataclasses.replace(cfg, precision=precision, device="cpu", schedule=())
    net = cfg.network().build()
    problem = train.build_problem(cfg, net, *train.prepare_images(cfg, CPU))

    @torch.no_grad()
    def judge(x: torch.Tensor) -> float:
        x = x.to(CPU)  # a run on a GPU hands over its iterate there
        return problem.loss(net(x, problem.loss.layers), x)[0].item()

    return judge, net.preprocessing, tuple(problem.shape[-2:])


def fp32_judge(images: str | None, size: int, scales: str):
    """The float32 judge of this script's problem."""
    judge, prep, _ = judge_of(train.Config(content=paper.PHOTO, style=paper.STARRY_NIGHT, size=size,
                                           ratio=paper.FIG6_RATIO, images=images, scales=scales), "fp32")
    return judge, prep


def saved_config(path: Path, images: str | None) -> train.Config:
    """The Config in the JSON beside a saved result, checked, and its image checked to be readable."""
    meta_path = path.with_suffix(".json")
    try:
        cfg = train.Config(**json.loads(meta_path.read_text())["config"])
    except (OSError, ValueError, KeyError, TypeError):
        raise ConfigError(f"--judge: {meta_path} is not the JSON of a result (train.py and the panel cache write "
                          "one beside each image)") from None
    cfg = dataclasses.replace(cfg, images=images or cfg.images)
    check(cfg)
    open_image(path)
    return cfg


def judge_saved(results: list[tuple[Path, train.Config]]) -> None:
    """--judge: each saved result evaluated with the float32 and with the bf16 network, its own settings
    otherwise: how far the loss a bf16 network reports for an image lies from the float32 loss of the same image."""
    for path, cfg in results:
        losses = {}
        for precision in ("fp32", "bf16"):
            judge, prep, hw = judge_of(cfg, precision)
            losses[precision] = judge(prep.to_net(load_rgb(path, hw)))
        print(f"{path}: L_total fp32 {losses['fp32']:.6g}, bf16 {losses['bf16']:.6g}: the bf16 network reads "
              f"{100 * (losses['bf16'] / losses['fp32'] - 1):+.2f} %")


def to_bf16_and_back(t: torch.Tensor) -> torch.Tensor:
    return t.to(torch.bfloat16).to(t.dtype)


def rounded_weight_energies(x: torch.Tensor, weights: models.Weights, deepest: str = "conv5_1",
                            rounding=to_bf16_and_back) -> list[dict]:
    """What holding the conv weights and biases in bfloat16 (as the fast path's network does) does to the
    energy of each layer's rectified responses, sum F^2, for the network input ``x``; float64 otherwise. Per
    layer up to ``deepest``: 'alone', that layer rounded with exact input (its own change); 'compounded', the
    product of 1 + 'alone' over the layers so far; 'whole', every layer rounded. Relative changes."""
    layers = models.CONV_LAYERS[:models.CONV_LAYERS.index(deepest) + 1]
    rounded = {name: (rounding(w), rounding(b)) for name, (w, b) in weights.items()}
    energy = lambda net, names: {n: f.pow(2).sum().item() for n, f in net(x, names).items()}
    network = lambda w: models.VGG19(w, models.CAFFE, "avg", torch.float64)
    exact, whole = energy(network(weights), layers), energy(network(rounded), layers)
    rows, compounded = [], 1.0
    for name in layers:
        alone = energy(network({**weights, name: rounded[name]}), [name])[name] / exact[name] - 1
        compounded *= 1 + alone
        rows.append({"layer": name, "alone": alone, "compounded": compounded - 1,
                     "whole": whole[name] / exact[name] - 1})
    return rows


def report_rounded_weights(images: str | None, size: int, scales: str) -> None:
    """--rounded-weights: rounded_weight_energies on the content photo at ``size``, as a table."""
    if size < 1:
        raise ConfigError(f"--size must be at least 1, not {size}")
    photo = resolve_image(paper.PHOTO, images)
    hw = target_size(photo, size)
    check_size(*hw, ("conv5_1",), CPU, f"{paper.PHOTO} at --size {size}")
    x = models.CAFFE.to_net(load_rgb(photo, hw)).double()
    weights = models.apply_scales(models.load_caffe_weights(), models.load_scales(models.SCALES_FILES[scales]))
    print(f"sum F^2 of each layer's rectified responses, {paper.PHOTO} at {size} px, network '{scales}', float64; "
          "relative change when the weights and biases are rounded to bfloat16:")
    print("layer     alone      compounded  whole network")
    for row in rounded_weight_energies(x, weights):
        print(f"{row['layer']:8s} {100 * row['alone']:+8.3f} %  {100 * row['compounded']:+8.3f} %  "
              f"{100 * row['whole']:+8.3f} %")


def compare(seed: int, args, judge, prep) -> dict:
    """Both runs from one noise seed, judged in float32."""
    runs = {prec: run(prec, args, seed) for prec, _ in RUNS}
    for r in runs.values():
        r["fp32_loss"] = judge(r["best_x"])                                   # the iterate itself
        r["fp32_loss_clamped"] = judge(prep.to_net(r["result"].image))        # the saved, clipped image
    ref, fast = runs["fp32"], runs["bf16"]
    switch = fast["evaluations_before_float32"]
    return {
        "runs": runs,
        "relative_difference": fast["fp32_loss"] / ref["fp32_loss"] - 1,
        "relative_difference_clamped": fast["fp32_loss_clamped"] / ref["fp32_loss_clamped"] - 1,
        # how far the bf16 run's own (bf16-network) loss is from the fp32 judgement of the same image
        "bf16_own_loss_vs_fp32_judgement": fast["own_best"] / fast["fp32_loss"] - 1,
        "bf16_evaluations_before_float32": switch,
        "relative_difference_own_losses_at_that_count":
            None if switch is None else min(fast["history"][:switch]) / min(ref["history"][:switch]) - 1,
    }


def main(argv: list[str] | None = None) -> int:
    p = train.OneLineParser(prog="python reproduce/precision.py", description=__doc__.split("\n")[0])
    p.add_argument("--budget", type=int, default=500, help="L-BFGS evaluations per run")
    p.add_argument("--size", type=int, default=256, help="long edge in px")
    p.add_argument("--seeds", default="0,1,2", help="noise seeds, comma-separated (each: one fp32 and one bf16 "
                                                   "run from the same noise); the picture shows the first")
    p.add_argument("--optimizer", choices=("lbfgsb", "lbfgs"), default="lbfgsb", help="the optimiser of both runs")
    p.add_argument("--images", help="paper image directory (default: $GATYS_IMAGES, else data/paper-images)")
    p.add_argument("--out-dir", default=str(REPO / "figures"), help="where precision.png and .json go")
    p.add_argument("--scales", choices=models.SCALES_FILES, default=models.DEFAULT_SCALES,
                   help=f"the normalised network's scales (default {models.DEFAULT_SCALES})")
    p.add_argument("--judge", nargs="+", type=Path, metavar="PNG",
                   help="instead: evaluate saved results (each with its JSON beside it) with the float32 and the "
                        "bf16 network, to see how far a bf16 run's own loss reads from the float32 loss")
    p.add_argument("--rounded-weights", action="store_true",
                   help="instead: how rounding the conv weights to bfloat16 changes the energy of each layer's "
                        "responses on the content photo at --size, layer by layer and through the whole network")
    args = p.parse_args(argv)
    if args.rounded_weights:
        report_rounded_weights(args.images, args.size, args.scales)  # bad input: one line by common.cli
        return 0
    if args.judge:
        saved = [(path, saved_config(path, args.images)) for path in args.judge]
        train.warn_if_emulated("bf16", torch.device("cpu"))  # the judge uses the bf16 network
        judge_saved(saved)
        return 0
    try:
        seeds = [int(seed) for seed in args.seeds.split(",")]
    except ValueError:
        p.exit(2, f"error: --seeds must be integers separated by commas, not {args.seeds!r}\n")

    t0 = time.perf_counter()
    load_start = machine.load_average()
    out = Path(args.out_dir)
    check_writable(out / "precision.png")
    train.warn_if_emulated("bf16", torch.device("cpu"))
    judge, prep = fp32_judge(args.images, args.size, args.scales)
    results = {seed: compare(seed, args, judge, prep) for seed in seeds}
    differences = [r["relative_difference"] for r in results.values()]
    mean = sum(differences) / len(differences)

    out.mkdir(parents=True, exist_ok=True)
    first = results[seeds[0]]["runs"]
    summary = {
        "command": " ".join(["python reproduce/precision.py", *(sys.argv[1:] if argv is None else argv)]),
        "settings": {"size": args.size, "ratio": paper.FIG6_RATIO,
                     "equation_ratio": first["fp32"]["result"].config.equation_ratio(), "budget": args.budget,
                     "seeds": seeds, "optimizer": args.optimizer, "tol": 0,
                     "content": paper.PHOTO, "style": paper.STARRY_NIGHT,
                     "torch": torch.__version__, "threads": torch.get_num_threads()},
        "mean_relative_difference": mean,
        "load_start": load_start, "load_end": machine.load_average(), "wall_seconds": time.perf_counter() - t0,
        "seeds": {seed: {**{k: v for k, v in r.items() if k != "runs"},
                         "runs": {prec: {"label": label, "fp32_loss": r["runs"][prec]["fp32_loss"],
                                         "fp32_loss_clamped": r["runs"][prec]["fp32_loss_clamped"],
                                         "own_best_loss": r["runs"][prec]["own_best"],
                                         "evaluations": r["runs"][prec]["result"].evaluations,
                                         "stop_reason": r["runs"][prec]["result"].stop_reason,
                                         "finite": r["runs"][prec]["result"].finite,
                                         "seconds_per_eval": r["runs"][prec]["seconds_per_eval"],
                                         "environment": r["runs"][prec]["result"].environment,
                                         "history_total": r["runs"][prec]["history"]} for prec, label in RUNS}}
                  for seed, r in results.items()},
    }
    write_text_atomic(out / "precision.json", json.dumps(summary, indent=1) + "\n")
    figure(first, differences, args, out / "precision.png")
    for seed, r in results.items():
        ref, fast = r["runs"]["fp32"], r["runs"]["bf16"]
        print(f"seed {seed}: fp32 L = {ref['fp32_loss']:.6g} ({ref['seconds_per_eval']:.3f} s/eval), bf16 L = "
              f"{fast['fp32_loss']:.6g} ({fast['seconds_per_eval']:.3f} s/eval), both judged in fp32: "
              f"{100 * r['relative_difference']:+.2f} % (clipped images {100 * r['relative_difference_clamped']:+.2f} %"
              f"; bf16's own loss vs its fp32 judgement {100 * r['bf16_own_loss_vs_fp32_judgement']:+.2f} %)")
        if r["bf16_evaluations_before_float32"] is not None:
            print(f"  the bf16 run stalled or its optimiser stopped after {r['bf16_evaluations_before_float32']} "
                  f"evaluations (the rest ran in float32); own best losses at that count: "
                  f"{100 * r['relative_difference_own_losses_at_that_count']:+.2f} %")
    print(f"mean over {len(seeds)} seeds: (bf16 - fp32) / fp32 = {100 * mean:+.2f} %")
    print(f"wrote {out / 'precision.png'} and {out / 'precision.json'} (load {load_start} -> {machine.load_average()})")
    return 0


def figure(runs: dict, differences: list[float], args, path: Path) -> None:
    """The first seed's two images and loss curves; the title gives every seed's difference."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4), gridspec_kw={"width_ratios": [1, 1, 0.9]})
    for ax, (prec, label) in zip(axes, RUNS):
        r = runs[prec]
        ax.imshow(r["result"].image[0].permute(1, 2, 0).numpy())
        ax.set_title(f"{label}\nfp32 loss {r['fp32_loss']:.5g}", fontsize=10)
        ax.axis("off")
    ax = axes[2]
    for prec, label in RUNS:
        ax.semilogy(range(1, len(runs[prec]["history"]) + 1), runs[prec]["history"], label=f"{label} (own loss)")
    if runs["bf16"]["evaluations_before_float32"] is not None:
        ax.axvline(runs["bf16"]["evaluations_before_float32"], color="grey", lw=0.8, ls=":",
                   label="bf16 run continues in float32")
    ax.set_xlabel("evaluation")
    ax.set_ylabel("L_total")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    shown = ", ".join(f"{100 * d:+.2f} %" for d in differences)
    fig.suptitle(f"{args.optimizer}, {args.budget} evaluations at {args.size} px, same noise for both; "
                 f"(bf16 - fp32) / fp32, judged in fp32, for seeds {args.seeds}: {shown}", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(common.cli(main, "nothing written (the runs are not cached)"))
