"""How many evaluations does a panel need? Neither paper says ([A], [C]).

One panel with the paper's settings (Neckarfront x The Starry Night, alpha/beta = 1e-3, content conv4_2,
style conv1_1 ... conv5_1, white noise) runs the whole budget (tol = 0) with each optimiser: scipy L-BFGS-B,
torch L-BFGS and Adam. The plot shows the total loss against evaluations (log y) and marks where the relative
improvement of the best loss over 50 evaluations first falls below 1e-3 and 1e-4: the evaluation at which a
run with Config.tol = 1e-3 or 1e-4 would stop, and so where the figures' budget (common.BUDGET) lies on the
curves.

    python reproduce/convergence.py          # 3 x 2000 evaluations -> figures/convergence.png + .json
"""
import sys

import numpy as np

import repo  # noqa: F401  (the repository root on sys.path)
import common  # noqa: E402
import paper  # noqa: E402
from common import plt  # noqa: E402
from config import WINDOW  # noqa: E402  the evaluations over which Config.tol measures improvement

(PHOTO, STYLE), RATIO = paper.HEADLINE_PAIR, paper.HEADLINE_RATIO  # [A] Fig 2 C
OPTIMIZERS = ("lbfgsb", "lbfgs", "adam")
THRESHOLDS = (1e-3, 1e-4)
DEFAULT_BUDGET = 2000


def gains(totals, window: int = WINDOW) -> np.ndarray:
    """gains[n]: relative improvement of the best loss over the ``window`` evaluations that end at evaluation n
    (what train.Objective compares with Config.tol); NaN where there is no full window."""
    best = np.minimum.accumulate(np.asarray(totals, dtype=float))
    out = np.full(len(best) + 1, np.nan)
    n = np.arange(window + 1, len(best) + 1)
    out[n] = (best[n - window - 1] - best[n - 1]) / best[n - 1]
    return out


def gain(totals, n: int, window: int = WINDOW) -> float | None:
    """gains(totals)[n], or None without a full window."""
    return float(gains(totals, window)[n]) if window < n <= len(totals) else None


def plateau(totals, threshold: float, window: int = WINDOW) -> int | None:
    """First evaluation count n at which the best loss improved by less than ``threshold`` (relative) over the
    last ``window`` evaluations: where train.Objective with tol = threshold stops. None if never."""
    below = np.flatnonzero(gains(totals, window) < threshold)  # NaN compares False
    return int(below[0]) if below.size else None


def main(argv=None) -> int:
    args = common.parse(__doc__, argv, __file__, budget=DEFAULT_BUDGET, only=False)
    s = common.FigureRun(args, "convergence")
    optimizers = (args.optimizer,) if args.optimizer else OPTIMIZERS
    panels = [common.Panel(opt, s.config(ratio=RATIO, content=PHOTO, style=STYLE, init=paper.INIT, tol=0.0,
                                         optimizer=opt)) for opt in optimizers]
    common.check_inputs(panels)
    fig, ax = plt.subplots(figsize=(8, 5.5), layout="constrained")
    plateaus, window_gains, finals = {}, {}, {}
    for p, colour in zip(panels, ("tab:blue", "tab:orange", "tab:green")):
        totals = [h["total"] for h in s.run(p.key, p.config).history]
        evals = np.arange(1, len(totals) + 1)
        ax.semilogy(evals, totals, color=colour, alpha=0.25, lw=0.8)
        ax.semilogy(evals, np.minimum.accumulate(totals), color=colour, lw=1.6, label=f"{p.key} (best so far)")
        plateaus[p.key] = {f"{t:g}": plateau(totals, t) for t in THRESHOLDS}
        window_gains[p.key] = {str(n): gain(totals, n) for n in (common.BUDGET, len(totals))}
        finals[p.key] = {str(n): float(min(totals[:n])) for n in (common.BUDGET, len(totals)) if n <= len(totals)}
        for t, marker in zip(THRESHOLDS, ("o", "s")):
            n = plateaus[p.key][f"{t:g}"]
            print(f"{p.key}: improvement over {WINDOW} evaluations < {t:g} first at evaluation "
                  + (str(n) if n else f"- (not within {len(totals)})"))
            if n:
                ax.plot(n, min(totals[:n]), marker, color=colour, ms=8, mfc="none",
                        label=f"{p.key}: < {t:g} per {WINDOW} at {n}")
    ax.set_xlabel("evaluations (forward + backward passes)")
    ax.set_ylabel("L_total = α·L_content + L_style")
    ax.set_title(f"Convergence: Neckarfront × The Starry Night, α/β = {common.ratio_str(RATIO)}, {args.size} px, "
                 f"start: {paper.INIT}",
                 fontsize=11)
    ax.legend(fontsize=8)
    suggestion = plateaus.get("lbfgsb", {}).get("0.0001")
    if suggestion:
        print(f"suggested BUDGET (reproduce/common.py): {suggestion} (L-BFGS-B, < 1e-4 per {WINDOW} evaluations)")
    s.save(fig, s.caption(),
           extra={"plateau_evaluation": plateaus, "window": WINDOW, "suggested_budget": suggestion,
                  "gain_over_window_ending_at": window_gains, "best_loss_at": finals})
    return 0


if __name__ == "__main__":
    sys.exit(common.cli(main))
