"""Coarse-to-fine against the paper's direct run: the wall time each needs for the same loss (beyond the paper).

The paper optimises at the output size from white noise ([A] Methods, [C] §2.3). Gatys et al., "Controlling
Perceptual Factors in Neural Style Transfer" (CVPR 2017), start at a lower resolution and upsample. For each
CVPR Fig 3 painting asked for, two runs with the paper's settings at --size:
  direct     the Fig 3 panel itself (--budget evaluations; shared with reproduce/fig2.py through the panel cache);
  scheduled  --schedule's coarse stages, then --final evaluations at --size (Config.schedule).
Both optimise the same objective at --size, so their losses there compare directly. Time-to-quality is the
wall time after which the scheduled run's best loss at --size is at or below the direct run's final best loss,
as a fraction of the direct run's wall time (both counted from the first evaluation, so image reading and
network set-up, equal for both, are left out). The lower row splits the scheduled run's stage at --size into
Eq. 7's two terms, each as a multiple of the direct run's at its best: which one its evaluations go to.

    python reproduce/coarse_to_fine.py                 # C and B at 512 px -> figures/coarse_to_fine.png + .json
    python reproduce/coarse_to_fine.py --quick         # 64 px, 5 evaluations: a smoke test
    python reproduce/coarse_to_fine.py --panels C --schedule 256:200 --final 200
"""
import sys

import numpy as np

import repo  # noqa: F401  (the repository root on sys.path)
import common  # noqa: E402
import paper  # noqa: E402
from common import plt  # noqa: E402
from config import check, parse_schedule  # noqa: E402

DEFAULT_STAGE, DEFAULT_FINAL = 200, 300  # evaluations at --size/4 and --size/2, then at --size
TERMS_AFTER = 50  # evaluations at --size after which the JSON records the scheduled run's terms


def best_so_far(history: list[dict], size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(seconds, best total loss so far) over the evaluations at ``size`` (all when None)."""
    rows = [h for h in history if size is None or h.get("size", size) == size]
    return (np.array([h["seconds"] for h in rows]),
            np.minimum.accumulate(np.array([h["total"] for h in rows], dtype=float)))


def default_schedule(size: int, stage: int = DEFAULT_STAGE) -> tuple[tuple[int, int], ...]:
    """The coarse stages before ``size``: ``stage`` evaluations at a quarter and at half of it."""
    return (size // 4, stage), (size // 2, stage)


def time_to_quality(direct: list[dict], scheduled: list[dict], size: int) -> dict:
    """Seconds the scheduled run needs at ``size`` to reach the direct run's final best loss, and both runs'
    wall times; ``fraction`` is None when the scheduled run never gets there."""
    d_seconds, d_best = best_so_far(direct)
    s_seconds, s_best = best_so_far(scheduled, size)
    reached = np.flatnonzero(s_best <= d_best[-1])
    seconds = float(s_seconds[reached[0]]) if reached.size else None
    return {"direct_loss": float(d_best[-1]), "direct_seconds": float(d_seconds[-1]),
            "scheduled_loss": float(s_best[-1]), "scheduled_seconds": float(s_seconds[-1]),
            "seconds_to_direct_loss": seconds,
            "fraction": None if seconds is None else seconds / float(d_seconds[-1])}


def timed_apart(direct: dict, scheduled: dict) -> str | None:
    """How the machines of two runs' ``environment`` differ, or None: a panel can come from the cache of
    another machine, and a ratio of wall times across machines says nothing."""
    keys = ("cpu", "gpu", "device", "network_dtype", "torch_threads")
    differences = [f"{k} {direct.get(k)} vs {scheduled.get(k)}" for k in keys if direct.get(k) != scheduled.get(k)]
    return "; ".join(differences) or None


def terms_against_direct(direct: list[dict], scheduled: list[dict], size: int) -> dict[str, np.ndarray]:
    """alpha L_content and beta L_style (Eq. 7) at each evaluation of the scheduled run at ``size``, as multiples
    of the direct run's at its best evaluation (alpha is the same for both): which term the last stage spends
    its evaluations on."""
    best = min(direct, key=lambda h: h["total"])
    rows = [h for h in scheduled if h.get("size", size) == size]
    return {term: np.array([h[term] for h in rows], dtype=float) / best[term] for term in ("content", "style")}


def terms_at(terms: dict[str, np.ndarray], counts: tuple[int, ...]) -> dict[str, dict[str, float]]:
    """``terms`` after each of ``counts`` evaluations (those the stage reached), for the JSON."""
    return {str(n): {term: round(float(values[n - 1]), 4) for term, values in terms.items()}
            for n in counts if 0 < n <= len(terms["content"])}


def main(argv=None) -> int:
    p = common.parser(__doc__, __file__, only=False)
    p.add_argument("--panels", default="C,B", help="CVPR Fig 3 paintings by letter (default C,B)")
    p.add_argument("--schedule", type=parse_schedule,
                   help=f"coarse stages, LONG_EDGE:EVALUATIONS[,...] (default: {DEFAULT_STAGE} evaluations at "
                        f"--size/4 and at --size/2, e.g. 128:{DEFAULT_STAGE},256:{DEFAULT_STAGE}; --quick: "
                        "--size/2 with --budget)")
    p.add_argument("--final", type=int, help=f"evaluations of the scheduled run at --size (default "
                                             f"{DEFAULT_FINAL}; --quick: --budget)")
    args = common.resolve(p, argv)
    if args.schedule is None:
        args.schedule = ((args.size // 2, args.budget),) if args.quick else default_schedule(args.size)
    if args.final is None:
        args.final = args.budget if args.quick else DEFAULT_FINAL
    if args.final < 1:
        p.error(f"--final must be at least 1, not {args.final}")
    paintings = {painting.panel: painting for painting in paper.PAINTINGS}
    chosen = [paintings[letter] for letter in args.panels.split(",") if letter in paintings]
    if len(chosen) != len(args.panels.split(",")):
        p.error(f"--panels: choose letters from {','.join(paintings)}")
    s = common.FigureRun(args, "coarse_to_fine")
    runs = []
    for painting in chosen:
        direct = s.config(ratio=painting.cvpr_ratio, content=paper.PHOTO, style=painting.file)
        scheduled = s.config(ratio=painting.cvpr_ratio, content=paper.PHOTO, style=painting.file,
                             schedule=args.schedule, budget=args.final)
        runs.append((painting, direct, scheduled))
    for _, *configs in runs:  # every input and stage refused before the first panel is computed
        for cfg in configs:
            check(cfg)

    stages = " → ".join(f"{edge} px × {count}" for edge, count in (*args.schedule, (args.size, args.final)))
    fig, axes = plt.subplots(2, len(runs), figsize=(max(6 * len(runs), 10), 8.5), layout="constrained",
                             squeeze=False, height_ratios=(3, 2))
    results = {}
    for ax, terms_ax, (painting, direct_cfg, scheduled_cfg) in zip(axes[0], axes[1], runs):
        direct = s.run(f"{painting.panel}_direct", direct_cfg, f"{painting.caption}, direct")
        scheduled = s.run(f"{painting.panel}_scheduled", scheduled_cfg, f"{painting.caption}, {stages}")
        ttq = results[painting.panel] = time_to_quality(direct.history, scheduled.history, args.size)
        ax.semilogy(*best_so_far(direct.history), color="tab:blue", label=f"direct, {args.size} px")
        seconds, best = best_so_far(scheduled.history, args.size)
        ax.semilogy(seconds, best, color="tab:orange", label=f"scheduled, its stage at {args.size} px")
        if len(seconds):  # the coarse stages optimise their own objectives: shown as a span, not a curve
            ax.axvspan(0, seconds[0], color="tab:orange", alpha=0.12, label="scheduled, coarse stages")
        ax.axhline(ttq["direct_loss"], color="tab:blue", ls=":", lw=0.8)
        if ttq["seconds_to_direct_loss"] is not None:
            ax.axvline(ttq["seconds_to_direct_loss"], color="tab:red", ls="--", lw=0.8)
        verdict = ("never reached" if ttq["fraction"] is None else
                   f"{ttq['seconds_to_direct_loss']:.0f} s vs {ttq['direct_seconds']:.0f} s "
                   f"({ttq['fraction']:.2f}×)")
        ttq["timed_apart"] = timed_apart(direct.environment, scheduled.environment)
        if ttq["timed_apart"]:
            verdict += " — timed on different machines"
            print(f"warning: Fig 3{painting.panel}: direct and scheduled runs timed on different machines "
                  f"({ttq['timed_apart']}); --cache-dir with an empty directory times both here", file=sys.stderr)
        ax.set_title(f"CVPR Fig 3{painting.panel}, {painting.caption}\ndirect run's final loss: {verdict}",
                     fontsize=9)
        ax.set_xlabel("wall time from the first evaluation (s)")
        ax.set_ylabel("best L_total so far")
        ax.legend(fontsize=7)
        terms = terms_against_direct(direct.history, scheduled.history, args.size)
        for (term, values), (label, color) in zip(terms.items(), (("α L_content", "tab:green"),
                                                                   ("β L_style", "tab:purple"))):
            terms_ax.semilogy(np.arange(1, len(values) + 1), values, color=color, label=f"{label} / direct run's")
        terms_ax.axhline(1.0, color="tab:blue", ls=":", lw=0.8)
        terms_ax.set_ylim(0.5, 4)  # the stage starts far above; what matters is how it settles near 1
        terms_ax.set_yticks([0.5, 1, 2, 4], ["0.5", "1", "2", "4"], minor=False)
        terms_ax.minorticks_off()
        terms_ax.set_xlabel(f"evaluation of the scheduled run's stage at {args.size} px")
        terms_ax.set_ylabel("term / the direct run's at its best")
        terms_ax.legend(fontsize=7)
        ttq["final_stage_terms"] = terms_at(terms, (TERMS_AFTER, len(terms["content"])))
        print(f"Fig 3{painting.panel}: {verdict}; at {args.size} px after {TERMS_AFTER} evaluations and at the end, "
              f"as multiples of the direct run's: {ttq['final_stage_terms']}")
    fig.suptitle(f"Coarse-to-fine ({stages}) vs direct ({args.budget} evaluations at {args.size} px)",
                 fontsize=11)
    s.save(fig, s.caption(), extra={"schedule": args.schedule, "final": args.final, "time_to_quality": results})
    return 0


if __name__ == "__main__":
    sys.exit(common.cli(main))
