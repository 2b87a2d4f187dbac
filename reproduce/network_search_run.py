"""One synthesis of the network search (figures/network_search.md), with any of the named scales or the plain
network, alpha/beta given as the literal Eq. 7 weight:

    python reproduce/network_search_run.py NAME --scales layer --style van_gogh_starry_night.jpg \
        --ratio 1.1e-7 [--budget 500] [--size 256]

Writes .cache/network_search/NAME.png and NAME.json (train.save_result), then prints the distances of
reproduce/compare.py (raw and print colour, per layer, grain) against --published-panel when given.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


REPO = Path(__file__).resolve().parent.parent
import repo  # noqa: F401  (the repository root on sys.path)

import common  # noqa: E402
import models  # noqa: E402
import paper  # noqa: E402
from images import write_text_atomic  # noqa: E402
import train  # noqa: E402

OUT = REPO / ".cache" / "network_search"


def main(argv=None) -> int:
    p = train.OneLineParser(prog="python reproduce/network_search_run.py", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name")
    p.add_argument("--scales", default="plain", choices=("plain", *models.SCALES_FILES),
                   help="the plain network or a named normalisation (models.SCALES_FILES)")
    p.add_argument("--style", help="painting (omit for a content-only reconstruction)")
    p.add_argument("--ratio", type=float, default=1e-3)
    p.add_argument("--budget", type=int, default=500)
    p.add_argument("--content-layer", default="conv4_2")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=int, default=512)
    args = p.parse_args(argv)
    cfg = train.Config(content=paper.PHOTO, style=args.style, size=args.size, ratio=args.ratio, literal_ratio=True,
                       content_layer=args.content_layer, budget=args.budget, tol=0.0, seed=args.seed,
                       normalised=args.scales != "plain",
                       scales=models.DEFAULT_SCALES if args.scales == "plain" else args.scales)
    bar = train.progress_bar(cfg.budget, args.name)
    result = train.stylize(cfg, bar)
    OUT.mkdir(parents=True, exist_ok=True)
    out = train.save_result(result, OUT / f"{args.name}.png")
    meta = json.loads(out.with_suffix(".json").read_text())
    meta["network_search"] = {"command": "python reproduce/network_search_run.py "
                              + " ".join(sys.argv[1:] if argv is None else argv)}
    write_text_atomic(out.with_suffix(".json"), json.dumps(meta, indent=1) + "\n")
    last = result.history[-1]
    print(f"{out}: {result.evaluations} evaluations, {result.wall_time:.0f} s, {result.stop_reason}; "
          f"L_content {last.get('content', 0):.4g}, L_style {last.get('style', 0):.4g}")
    return 0


if __name__ == "__main__":
    sys.exit(common.cli(main, "nothing written"))
