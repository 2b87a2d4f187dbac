"""Quality parity of the fast path: the same synthesis in fp32 and in bf16 + channels_last, both judged in fp32.

From the same noise seed, ``--budget`` evaluations of torch L-BFGS (tol 0) at 256 px, Neckarfront + The Starry
Night at the balance the figures use (printed 1e-3 x the measured factor, scaled to the size), once with the
network in float32 and once in the fast path (bf16 network, channels_last; the Gram matrices, losses,
optimiser state and image are float32 in both). Each run's best iterate is then evaluated
with the float32 network and float32 targets, so both numbers are on the same scale; the relative difference
(bf16 - fp32) / fp32 is the figure of merit (target: within 1 %).

    python reproduce/precision.py                 # 500 evaluations each, about 4 minutes on 2 cores
    python reproduce/precision.py --budget 20      # a quick check

Writes figures/precision.png (the two images side by side, fp32 losses in the titles, and both loss curves)
and figures/precision.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
import repo  # noqa: F401  (the repository root on sys.path)

import machine  # noqa: E402
import models  # noqa: E402
import paper  # noqa: E402
import train  # noqa: E402
from images import write_atomic, write_text_atomic  # noqa: E402

CPU = torch.device("cpu")
RUNS = (("fp32", "fp32 network"), ("bf16", "bf16 network + channels_last"))


def run(precision: str, args) -> dict:
    """One synthesis; keeps the best iterate in network space (unclamped: torch LBFGS has no bounds)."""
    best = {}

    def keep(p: train.Progress) -> None:
        best["x"] = p.best_x

    cfg = train.Config(content=paper.PHOTO, style=paper.STARRY_NIGHT, size=args.size,
                       ratio=paper.FIG6_RATIO, optimizer="lbfgs", budget=args.budget, tol=0.0,
                       seed=args.seed, precision=precision, images=args.images, scales=args.scales)
    print(f"[precision] {precision}: {args.budget} evaluations at {args.size} px (load {machine.load_average()})",
          file=sys.stderr, flush=True)
    result = train.stylize(cfg, keep)
    totals = [h["total"] for h in result.history]
    return {"config": cfg, "result": result, "best_x": best["x"], "own_best": min(totals), "history": totals,
            "seconds_per_eval": result.history[-1]["seconds"] / max(1, result.evaluations)}


@torch.no_grad()
def fp32_judge(images: str | None, size: int, scales: str):
    """f(x) -> L_total with the float32 network and float32 targets (the cached targets of train.build_loss)."""
    net = models.build_vgg19(None, True, "avg", CPU, torch.float32, False, scales=scales)
    cfg = train.Config(content=paper.PHOTO, style=paper.STARRY_NIGHT, size=size, ratio=paper.FIG6_RATIO,
                       images=images, scales=scales)
    content_rgb, style_rgb = train.prepare_images(cfg, CPU)
    prep = net.preprocessing
    content_x, style_x = prep.to_net(content_rgb), prep.to_net(style_rgb)
    loss = train.build_loss(net, cfg, content_x, style_x, tuple(content_x.shape[-2:]))

    def judge(x: torch.Tensor) -> float:
        return loss(net(x, loss.layers), x)[0].item()

    return judge, prep


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--budget", type=int, default=500, help="L-BFGS evaluations per run")
    p.add_argument("--size", type=int, default=256, help="long edge in px")
    p.add_argument("--seed", type=int, default=0, help="noise seed (the same for both runs)")
    p.add_argument("--images", help="paper image directory (default: $GATYS_IMAGES, else data/paper-images)")
    p.add_argument("--out-dir", default=str(REPO / "figures"), help="where precision.png and .json go")
    p.add_argument("--scales", choices=models.SCALES_FILES, default=models.DEFAULT_SCALES,
                   help=f"the normalised network's scales (default {models.DEFAULT_SCALES})")
    args = p.parse_args(argv)

    t0 = time.perf_counter()
    load_start = machine.load_average()
    runs = {prec: run(prec, args) for prec, _ in RUNS}
    judge, prep = fp32_judge(args.images, args.size, args.scales)
    for r in runs.values():
        r["fp32_loss"] = judge(r["best_x"])                                   # the iterate itself
        r["fp32_loss_clamped"] = judge(prep.to_net(r["result"].image))        # the saved, clipped image
    ref, fast = runs["fp32"], runs["bf16"]
    rel = (fast["fp32_loss"] - ref["fp32_loss"]) / ref["fp32_loss"]
    rel_clamped = (fast["fp32_loss_clamped"] - ref["fp32_loss_clamped"]) / ref["fp32_loss_clamped"]
    # How far the bf16 run's own (bf16-network) loss is from the fp32 judgement of the same image.
    bf16_self = (fast["own_best"] - fast["fp32_loss"]) / fast["fp32_loss"]

    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = {
        "command": " ".join(["python reproduce/precision.py", *(sys.argv[1:] if argv is None else argv)]),
        "settings": {"size": args.size, "ratio": paper.FIG6_RATIO, "equation_ratio": runs["fp32"]["result"].config.equation_ratio(), "budget": args.budget, "seed": args.seed,
                     "optimizer": "lbfgs", "tol": 0,
                     "content": paper.PHOTO, "style": paper.STARRY_NIGHT,
                     "torch": torch.__version__, "threads": torch.get_num_threads()},
        "relative_difference": rel, "relative_difference_clamped": rel_clamped,
        "bf16_own_loss_vs_fp32_judgement": bf16_self,
        "load_start": load_start, "load_end": machine.load_average(), "wall_seconds": time.perf_counter() - t0,
        "runs": {prec: {"label": label, "fp32_loss": runs[prec]["fp32_loss"],
                        "fp32_loss_clamped": runs[prec]["fp32_loss_clamped"],
                        "own_best_loss": runs[prec]["own_best"], "evaluations": runs[prec]["result"].evaluations,
                        "stop_reason": runs[prec]["result"].stop_reason, "finite": runs[prec]["result"].finite,
                        "seconds_per_eval": runs[prec]["seconds_per_eval"],
                        "environment": runs[prec]["result"].environment,
                        "history_total": runs[prec]["history"]} for prec, label in RUNS},
    }
    write_text_atomic(out / "precision.json", json.dumps(summary, indent=1) + "\n")
    figure(runs, rel, args, out / "precision.png")
    print(f"fp32 network:      L = {ref['fp32_loss']:.6g} (fp32), {ref['result'].evaluations} evaluations, "
          f"{ref['seconds_per_eval']:.3f} s/eval, {ref['result'].stop_reason}")
    print(f"bf16 fast path:    L = {fast['fp32_loss']:.6g} (fp32), {fast['result'].evaluations} evaluations, "
          f"{fast['seconds_per_eval']:.3f} s/eval, {fast['result'].stop_reason}")
    print(f"relative difference (bf16 - fp32) / fp32: {100 * rel:+.3f} %  (clipped images: {100 * rel_clamped:+.3f} %)")
    print(f"bf16 run's own loss vs its fp32 re-evaluation: {100 * bf16_self:+.3f} %")
    print(f"wrote {out / 'precision.png'} and {out / 'precision.json'} (load {load_start} -> {machine.load_average()})")
    return 0


def figure(runs: dict, rel: float, args, path: Path) -> None:
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
    ax.set_xlabel("evaluation")
    ax.set_ylabel("L_total")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.suptitle(f"Same noise seed, torch L-BFGS, {args.budget} evaluations at {args.size} px: "
                 f"(bf16 - fp32) / fp32 = {100 * rel:+.2f} % (both losses evaluated in fp32)", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
