"""Every figure of the reproduction, in order, in one process (panels shared between figures are computed once):
arXiv Fig 1-3 and their CVPR variants (CVPR Fig 1, 3, 4), CVPR Fig 5-7, the ratio sweep, the two ablations,
the convergence measurement, coarse-to-fine against the direct run, then the comparison table against the published panels.

    python reproduce/all.py                  # everything at 512 px -> figures/ (hours on a CPU)
    python reproduce/all.py --quick          # every code path at 64 px, 5 evaluations -> .cache/quick (CI)
    python reproduce/all.py --only fig2,compare

CVPR Fig 5 and 7 and the comparison need the published-panel directory; without it they are skipped with a
message. The flags are passed on to every script.
"""
import sys
import time

import repo  # noqa: F401  (the repository root on sys.path)
import ablations, coarse_to_fine, common, compare, convergence, cvpr_fig5, cvpr_fig6, cvpr_fig7  # noqa: E402,E401
import fig1, fig2, fig3, ratio_sweep  # noqa: E402,E401

# (name, module, extra flags, the published panels: "needs" them, "uses" them when given, or "")
JOBS = (("fig1", fig1, [], ""), ("cvpr_fig1", fig1, ["--paper", "cvpr"], ""),
        ("fig2", fig2, [], ""), ("cvpr_fig3", fig2, ["--paper", "cvpr"], ""),
        ("fig3", fig3, [], ""), ("cvpr_fig4", fig3, ["--paper", "cvpr"], ""),
        ("cvpr_fig5", cvpr_fig5, [], "needs"), ("cvpr_fig6", cvpr_fig6, [], ""), ("cvpr_fig7", cvpr_fig7, [], "needs"),
        ("ratio_sweep", ratio_sweep, [], "uses"), ("ablations", ablations, [], ""),
        ("convergence", convergence, [], ""), ("coarse_to_fine", coarse_to_fine, [], ""))
FORWARDED = ("size", "budget", "images", "out_dir", "cache_dir", "precision", "optimizer", "scales")


def main(argv=None) -> int:
    p = common.parser(__doc__, __file__, published=True, only=False)
    p.add_argument("--only", help="comma-separated subset of: " + ", ".join([j[0] for j in JOBS] + ["compare"]))
    args = common.resolve(p, argv)
    only = set(args.only.split(",")) if args.only else None
    known = [j[0] for j in JOBS] + ["compare"]
    if only and not only <= set(known):
        p.error(f"--only: no job {', '.join(sorted(only - set(known)))}; choose from {', '.join(known)}")
    flags = [f for name in FORWARDED if args.given[name] is not None
             for f in (f"--{name.replace('_', '-')}", str(args.given[name]))]
    flags += ["--quick"] * args.quick + ["--literal-ratio"] * args.literal_ratio
    published = common.published_dir(args)
    have_published = common.has_manifest(published)
    if args.published is not None and not have_published:  # asked for by name: not skipped quietly
        p.error(f"--published {args.published}: no MANIFEST.tsv there")
    times, failed, start = {}, [], time.perf_counter()
    for name, module, extra, published_panels in JOBS:
        if only and name not in only:
            continue
        if published_panels == "needs" and not have_published:
            print(f"skipping {name}: published-panel directory {published} not found (--published DIR)",
                  file=sys.stderr)
            continue
        t = time.perf_counter()
        job_argv = flags + extra + (["--published", str(published)] if published_panels and have_published else [])
        print(f"=== {name}: python reproduce/{module.__name__.split('.')[-1]}.py {' '.join(job_argv)}", file=sys.stderr)
        code = common.cli(lambda: module.main(job_argv))
        times[name] = time.perf_counter() - t
        if code == 130:  # Ctrl-C stops everything; the finished panels are cached
            return 130
        if code != 0:
            failed.append(name)
    if (not only or "compare" in only) and have_published:
        t = time.perf_counter()
        images = ["--images", args.images] if args.images else []
        quick = ["--quick"] if args.quick else []
        code = common.cli(lambda: compare.main(["--published", str(published), "--figures", str(args.out_dir),
                                                *images, *quick]))
        if code == 130:
            return 130
        if code != 0:
            failed.append("compare")
        times["compare"] = time.perf_counter() - t
    elif not have_published:
        print(f"skipping compare: published-panel directory {published} not found", file=sys.stderr)
    print("wall time: " + ", ".join(f"{k} {v:.0f} s" for k, v in times.items())
          + f"; total {time.perf_counter() - start:.0f} s", file=sys.stderr)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
