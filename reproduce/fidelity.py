"""Which network makes the published alpha/beta meaningful? The balance alpha*L_content / (beta*L_style),
evaluated on the published CVPR panels themselves (Fig 3 B-F, Fig 4), under each network variant.

If a panel is (near) an optimum of Eq. 7 at its printed ratio, the two weighted terms are of comparable
order there, and a network whose balances are ~1 and consistent across panels is the one the ratios were
tuned for. A consistent balance far from 1 means the printed ratios need one common factor on that network.
Forward passes only (no optimisation), three networks at 512x384. Numbers only are written.

    python reproduce/fidelity.py [--published DIR] [--out figures/fidelity.md]
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path

import torch

import repo  # noqa: F401  (the repository root on sys.path)

import common  # noqa: E402
import machine  # noqa: E402
import paper  # noqa: E402
import train  # noqa: E402
from images import check_directory_writable, load_rgb, write_text_atomic  # noqa: E402

# a word in the published panel's file name -> the painting it shows
PAINTING = {"turner": paper.PAINTINGS[0].file, "starry": paper.STARRY_NIGHT, "scream": paper.PAINTINGS[2].file,
            "picasso": paper.PAINTINGS[3].file, "kandinsky": paper.KANDINSKY}
# name in the table -> Config fields; every variant with average pooling, as the paper synthesises
VARIANTS = {"plain Caffe": dict(normalised=False),
            "one scale per layer (default)": dict(normalised=True, scales="layer"),
            "per-filter scales": dict(normalised=True, scales="filter")}
DEFAULT = "one scale per layer (default)"  # the network of the second table and of our counterpart panels


def panels(published: Path) -> list[tuple[str, str, float]]:
    """(file, painting, printed alpha/beta) of the CVPR Fig 3 and Fig 4 transfer panels."""
    rows = csv.DictReader(open(published / "MANIFEST.tsv", encoding="utf-8"), delimiter="\t")
    out = []
    for r in rows:
        if r["figure"] in ("3", "4") and r["alpha_over_beta"] not in ("-", ""):
            painting = next(v for k, v in PAINTING.items() if k in r["file"])
            out.append((r["file"], painting, float(r["alpha_over_beta"])))
    return out


@torch.no_grad()
def terms_of(net, cfg: train.Config, images: list[Path], load=load_rgb) -> list[dict[str, float]]:
    """Every term of Eq. 7 (L_content, L_style, each w_l E_l) for images resized to the content's size, with
    the targets built exactly as a run would; ``load(path, (height, width))`` reads an image as RGB in [0, 1]."""
    device = next(net.parameters()).device
    with machine.ieee_float32(device):
        problem = train.build_problem(cfg, net, *train.prepare_images(cfg, device))
        prep, loss = net.preprocessing, problem.loss
        out = []
        for path in images:
            x = prep.to_net(load(path, tuple(problem.shape[-2:])).to(device))
            _, terms = loss(net(x, loss.layers), x)
            out.append({k: v.item() for k, v in terms.items()})
    return out


def our_panels(figures: Path) -> dict[str, tuple[Path, int]]:
    """published file -> (our counterpart panel, its size in px), from the figure JSONs."""
    from compare import counterparts
    return {p["published"]: (p["ours"], p["config"]["size"]) for p in counterparts(figures) if p["ours"].is_file()}


def main(argv: list[str] | None = None) -> int:
    p = train.OneLineParser(prog="python reproduce/fidelity.py", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--published", type=Path, default=os.environ.get(common.PUBLISHED_ENV),
                   required=not os.environ.get(common.PUBLISHED_ENV),
                   help="the published CVPR panels, from your own copy of the paper (default $GATYS_PUBLISHED)")
    p.add_argument("--images")
    p.add_argument("--out", type=Path, help="also write the table here (markdown)")
    p.add_argument("--figures", type=Path, default=common.DEFAULT_OUT,
                   help="our figure JSONs and panels/, for the counterpart columns (default figures/)")
    args = p.parse_args(argv)
    if not common.has_manifest(args.published):
        p.error(f"--published {args.published}: no MANIFEST.tsv there")
    if args.out is not None:
        check_directory_writable(args.out.parent, args.out)  # one line by common.cli
    rows, header = [], ["published panel", "printed α/β"]
    for name, kw in VARIANTS.items():
        header += [f"{name}: L_content", "L_style", "α·L_c / β·L_s", "α/β for balance 1", "÷ printed"]
    ours = our_panels(args.figures)
    layers = paper.STYLE_LAYERS
    rows2 = []
    for file, painting, ratio in panels(args.published):
        row = [file, f"{ratio:g}"]
        for name, kw in VARIANTS.items():
            cfg = train.Config(content=paper.PHOTO, style=painting, size=512, precision="fp32",
                               images=args.images, **kw)
            paths = [args.published / file] + ([ours[file][0]] if file in ours and name == DEFAULT else [])
            t = terms_of(common.shared_network(cfg.network()), cfg, paths)
            lc, ls = t[0]["content"], t[0]["style"]
            row += [f"{lc:.3g}", f"{ls:.3g}", f"{ratio * lc / ls:.3g}", f"{ls / lc:.2g}", f"{ls / lc / ratio:.2g}"]
            if name == DEFAULT:
                shares = " / ".join(f"{100 * t[0][f'style/{l}'] / ls:.0f}" for l in layers)
                mine = (f"{ours[file][1]} px: {t[1]['content']:.3g}, {t[1]['style']:.3g}" if len(t) > 1 else "–")
                rows2.append([file, shares, f"{lc:.3g}, {ls:.3g}", mine])
        rows.append(row)
        print(" | ".join(row), flush=True)
    table = "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] +
                      ["| " + " | ".join(r) + " |" for r in rows])
    header2 = ["published panel", f"share of L_style in % ({' / '.join(layers)})", "published: L_content, L_style",
               "ours (size it was made at): L_content, L_style"]
    table2 = "\n".join(["| " + " | ".join(header2) + " |", "|" + "---|" * len(header2)] +
                       ["| " + " | ".join(r) + " |" for r in rows2])
    text = ("# Balance of the two loss terms on the published CVPR panels\n\nWritten by `python reproduce/fidelity.py "
            "--out figures/fidelity.md`: 512x384, fp32, Eq. 1 on conv4_2 and Eq. 5 on conv1_1 ... conv5_1 (w_l = 1/5), "
            "targets from the paper images exactly as a run builds them, the published panel as x. "
            "'α/β for balance 1' = L_style / L_content; '÷ printed' = that over the printed α/β, the factor a "
            "network would need if the published panels sat at balance 1. The factors this repository uses "
            "(paper.NETWORK_FACTOR, printed α/β × factor at 512 px): "
            + ", ".join(f"{k} {v:g}" for k, v in paper.NETWORK_FACTOR.items()) + ".\n\n" + table + "\n\n"
            "## Which terms, and is the published panel an optimum of this objective?\n\n"
            f"On this repo's default network ({DEFAULT}): how L_style of the published panel splits over the five layers, and "
            "both terms for the published panel and for our counterpart (figures/panels/, resized to 512x384; "
            "an upscaled smaller panel is blurrier, which raises its conv1_1 term). If ours has *both* terms lower, "
            "the published panel is not an optimum of this objective at any α/β: the gap is in the objective "
            "(network, normalisation, layer weights) or the inputs, not in the optimiser.\n\n" + table2 + "\n")
    print(text)
    if args.out:
        write_text_atomic(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(common.cli(main, "nothing written"))
