"""How close are our panels to the published ones? Numbers only; no published pixels enter the repo.

Style distance, defined so that numbers compare across tools: both images resized to a 256 px long edge,
features of the *plain* Caffe VGG-19 with max pooling (the trained network, nothing of ours), G = F F^T / M
on conv1_1 ... conv5_1, distance = mean over those layers of ||G(ours) - G(published)||_F / ||G(published)||_F.
Baseline: the same distance for the plain content photo (Fig 1's style reconstructions: the Neckarfront).
Content distance: ||F(x) - F(photo)|| / ||F(photo)|| at conv4_2 of the same network, for ours and for the
published panel, so one sees whether both keep the photo equally well.

Table mode (default): every published result panel in MANIFEST.tsv that one of our figures names as its
counterpart (the ``published`` field of a panel in <figures>/<figure>.json, whose pixels are in
<figures>/panels/<figure>/<panel>.png); prints the table and writes <figures>/compare.md.

    python reproduce/compare.py --published ../shared/published-cvpr2016 [--figures figures/]
    python reproduce/compare.py --published DIR --panel fig3_C_starry_night_8e-4.jpg --ours a.png b.png
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import models  # noqa: E402
from reproduce.common import published_dir, ratio_str  # noqa: E402
from train import ImageError, load_rgb, resolve_image  # noqa: E402

SIZE = 256
STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
CONTENT_LAYER = "conv4_2"
CONTENT_PHOTO = "neckarfront_tuebingen.jpg"
# The paper's own spread: its other runs of CVPR Fig 3C (four noise seeds, content and style init; Fig 6).
SPREAD_REFERENCE = "fig3_C_starry_night_8e-4.jpg"
SPREAD = ("fig6_C_noise_seed1.jpg", "fig6_C_noise_seed2.jpg", "fig6_C_noise_seed3.jpg", "fig6_C_noise_seed4.jpg",
          "fig6_A_init_content.jpg", "fig6_B_init_style.jpg")
# The paintings as printed in the insets of CVPR Fig 3, against the files this repo uses: a distance here is
# a different reproduction of the painting (colours, contrast), which no optimisation can remove.
INSETS = {"fig3_B_inset_style_turner_shipwreck.jpg": "turner_shipwreck_of_the_minotaur.jpg",
          "fig3_C_inset_style_starry_night.jpg": "van_gogh_starry_night.jpg",
          "fig3_D_inset_style_scream.jpg": "munch_the_scream.jpg",
          "fig3_E_inset_style_picasso_femme_nue_assise.jpg": "picasso_femme_nue_assise.jpg",
          "fig3_F_inset_style_kandinsky_composition_vii.jpg": "kandinsky_composition_vii.jpg"}


def reference_network() -> models.VGG19:
    return models.build_vgg19(normalised=False, pooling="max")


@torch.no_grad()
def describe(net: models.VGG19, rgb: torch.Tensor) -> dict[str, torch.Tensor]:
    """Gram matrices G / M on the style layers and the conv4_2 response of an RGB image."""
    feats = net(net.preprocessing.to_net(rgb), STYLE_LAYERS + (CONTENT_LAYER,))
    out = {}
    for layer in STYLE_LAYERS:
        F = feats[layer][0].flatten(1)
        out[layer] = F @ F.T / F.shape[1]
    out[CONTENT_LAYER] = feats[CONTENT_LAYER]
    return out


def style_distance(a: dict, b: dict) -> float:
    """Mean over the five style layers of ||G(a) - G(b)||_F / ||G(b)||_F (b is the reference)."""
    return sum(layer_distances(a, b)) / len(STYLE_LAYERS)


def layer_distances(a: dict, b: dict) -> list[float]:
    """The five terms of style_distance, conv1_1 ... conv5_1: where a distance comes from."""
    return [((a[l] - b[l]).norm() / b[l].norm()).item() for l in STYLE_LAYERS]


def content_distance(a: dict, photo: dict) -> float:
    """||F(a) - F(photo)|| / ||F(photo)|| at conv4_2; needs both at the same size."""
    fa, fp = a[CONTENT_LAYER], photo[CONTENT_LAYER]
    if fa.shape != fp.shape:
        fa = torch.nn.functional.interpolate(fa, size=fp.shape[-2:], mode="bilinear", align_corners=False)
    return ((fa - fp).norm() / fp.norm()).item()


def load(path: Path, hw: tuple[int, int] | None = None) -> torch.Tensor:
    return load_rgb(path, hw if hw is not None else SIZE)


def compare_pair(net, ours: Path, published: Path, photo: Path | None) -> dict:
    pub_rgb = load(published)
    hw = tuple(pub_rgb.shape[-2:])
    pub, mine = describe(net, pub_rgb), describe(net, load(ours, hw))
    row = {"style_distance": style_distance(mine, pub)}
    if photo is not None:
        ph = describe(net, load(photo, hw))
        row["photo_style_distance"] = style_distance(ph, pub)
        row["content_distance_ours"] = content_distance(mine, ph)
        row["content_distance_published"] = content_distance(pub, ph)
    return row


def read_manifest(published: Path) -> dict[str, dict[str, str]]:
    with open(published / "MANIFEST.tsv", newline="", encoding="utf-8") as f:
        return {row["file"]: row for row in csv.DictReader(f, delimiter="\t")}


def counterparts(figures: Path) -> list[dict]:
    """(published file, our panel) pairs named by the figure JSONs in ``figures``."""
    pairs = []
    for meta_path in sorted(figures.glob("*.json")):
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        for panel in meta.get("panels", []) if isinstance(meta, dict) else []:
            for name in panel.get("published") or []:
                pairs.append({"figure": meta["figure"], "key": panel["key"], "published": name,
                              "ours": figures / panel["image"], "config": panel["config"],
                              "evaluations": panel.get("evaluations")})
    return pairs


def table(net, published: Path, figures: Path, images: str | None,
          quick: bool = False) -> tuple[list[dict], list[str]]:
    """One row per published panel with a counterpart, in MANIFEST order; and the result panels without one."""
    manifest = read_manifest(published)
    pairs = sorted((p for p in counterparts(figures) if p["published"] in manifest),
                   key=lambda p: list(manifest).index(p["published"]))
    matched = {p["published"] for p in pairs}
    if quick:
        pairs = [p for i, p in enumerate(pairs) if all(q["figure"] != p["figure"] for q in pairs[:i])]
    rows, memo = [], {}
    for pair in pairs:
        if not pair["ours"].is_file():
            print(f"warning: {pair['ours']} missing; skipped", file=sys.stderr)
            continue
        cfg = pair["config"]
        pub_rgb = load(published / pair["published"])
        hw = tuple(pub_rgb.shape[-2:])
        photo_path = resolve_image(cfg["content"] or CONTENT_PHOTO, cfg["images"] or images)
        if (photo_path, hw) not in memo:
            memo[photo_path, hw] = describe(net, load(photo_path, hw))
        pub, mine, photo = describe(net, pub_rgb), describe(net, load(pair["ours"], hw)), memo[photo_path, hw]
        has_content = cfg["content"] is not None
        painting = None
        if has_content and cfg["style"]:
            style_path = resolve_image(cfg["style"], cfg["images"] or images)
            if (style_path, hw) not in memo:
                memo[style_path, hw] = describe(net, load(style_path, hw))
            painting = memo[style_path, hw]
        rows.append({"figure": manifest[pair["published"]]["figure"], "published": pair["published"],
                     "ours": f"{pair['figure']}/{pair['key']}", "size": cfg["size"], "evaluations": pair["evaluations"],
                     "ratio": cfg["ratio"] if cfg["content"] and cfg["style"] else None,
                     "style_distance": style_distance(mine, pub), "photo_style_distance": style_distance(photo, pub),
                     "content_distance_ours": content_distance(mine, photo) if has_content else None,
                     "content_distance_published": content_distance(pub, photo) if has_content else None,
                     "layers": layer_distances(mine, pub),
                     "painting_distance_ours": style_distance(mine, painting) if painting else None,
                     "painting_distance_published": style_distance(pub, painting) if painting else None})
    missing = [name for name, row in manifest.items()
               if row["init"] != "-" and row["figure"] != "2" and name not in matched]  # results, not inputs/schematic
    return rows, missing


def references(net, published: Path, images: str | None) -> dict[str, list[tuple[str, str, list[float]]]]:
    """Per-layer distances that involve no panel of ours: the paper's seed spread, and our paintings vs its insets."""
    manifest = read_manifest(published)
    out = {"spread": [], "insets": []}
    if SPREAD_REFERENCE in manifest:
        ref = load(published / SPREAD_REFERENCE)
        hw, g_ref = tuple(ref.shape[-2:]), describe(net, ref)
        out["spread"] = [(name, SPREAD_REFERENCE, layer_distances(describe(net, load(published / name, hw)), g_ref))
                         for name in SPREAD if name in manifest]
    for inset, painting in INSETS.items():
        if inset in manifest:
            pub = load(published / inset)
            ours = load(resolve_image(painting, images), tuple(pub.shape[-2:]))
            out["insets"].append((painting, inset, layer_distances(describe(net, ours), describe(net, pub))))
    return out


def markdown(rows: list[dict], missing: list[str], figures: Path, refs: dict | None = None) -> str:
    num = lambda v: "–" if v is None else f"{v:.3f}"
    repo = Path(__file__).resolve().parent.parent
    shown = figures.resolve().relative_to(repo) if figures.resolve().is_relative_to(repo) else figures
    lines = ["# Our panels against the published CVPR 2016 panels", "",
             f"Written by `python reproduce/compare.py --figures {shown}`. Style distance: mean over "
             "conv1_1 … conv5_1 of ‖G(x) − G(published)‖_F / ‖G(published)‖_F, G = FFᵀ/M of the plain Caffe "
             "VGG-19 (max pooling), both images at the published panel's size with a 256 px long edge; lower is "
             "closer. Baseline: the same for the content photo. Content distance: ‖F(x) − F(photo)‖/‖F(photo)‖ at "
             "conv4_2, for ours and for the published panel.", "",
             "| CVPR fig | published panel | ours | px | evaluations | α/β used | style dist. ours | "
             "style dist. content photo | content dist. ours | content dist. published |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = "–" if r["ratio"] is None else ratio_str(r["ratio"])
        lines.append(f"| {r['figure']} | {r['published']} | {r['ours']} | {r['size']} | {r['evaluations']} | {ratio} | "
                     f"{num(r['style_distance'])} | {num(r['photo_style_distance'])} | "
                     f"{num(r['content_distance_ours'])} | {num(r['content_distance_published'])} |")
    if missing:
        lines += ["", "Published result panels without a counterpart yet: " + ", ".join(missing) + "."]
    per_layer = [r for r in rows if r["painting_distance_ours"] is not None]
    if per_layer:
        layers = " | ".join(STYLE_LAYERS)
        lines += ["", "## Where the distance comes from", "",
                  "Style distance per layer, ours against the published panel; and the mean distance of each "
                  "to the painting file we used (‖G(x) − G(painting)‖/‖G(painting)‖), which says whether ours "
                  "matches the painting's statistics more or less closely than the paper's panel does. The rows "
                  "'paper' are the paper's own other runs of Fig 3C against Fig 3C: its seed spread.", "",
                  f"| ours vs published | {layers} | mean | to painting: ours | to painting: published |",
                  "|---|" + "---|" * (len(STYLE_LAYERS) + 3)]
        for r in per_layer:
            lines.append(f"| {r['ours']} ({r['size']} px) | " + " | ".join(num(v) for v in r["layers"]) +
                         f" | {num(r['style_distance'])} | {num(r['painting_distance_ours'])} | "
                         f"{num(r['painting_distance_published'])} |")
        for name, ref, d in (refs or {}).get("spread", []):
            lines.append(f"| paper: {name} vs {ref} | " + " | ".join(num(v) for v in d) +
                         f" | {num(sum(d) / len(d))} | – | – |")
    if refs and refs.get("insets"):
        lines += ["", "## Our painting files against the paper's insets", "",
                  "The same per-layer distance between the painting file this repo uses (data/paper-images.tsv) "
                  "and the painting as printed in the inset of CVPR Fig 3. Large values mean the paper used "
                  "another reproduction of the painting (other colours or contrast): part of the distance of "
                  "those panels comes from the input, not from the algorithm.", "",
                  f"| our file | paper's inset | {' | '.join(STYLE_LAYERS)} | mean |",
                  "|---|---|" + "---|" * (len(STYLE_LAYERS) + 1)]
        for ours, inset, d in refs["insets"]:
            lines.append(f"| {ours} | {inset} | " + " | ".join(num(v) for v in d) + f" | {num(sum(d) / len(d))} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python reproduce/compare.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--published", type=Path, help="directory of published panels with MANIFEST.tsv (default "
                   "$GATYS_PUBLISHED, else ../shared/published-cvpr2016)")
    p.add_argument("--figures", type=Path, default=Path(__file__).resolve().parent.parent / "figures",
                   help="directory of our figure JSONs and panels/ (default figures/); compare.md is written here")
    p.add_argument("--ours", type=Path, nargs="+", help="single-panel mode: our image(s), compared with --panel")
    p.add_argument("--panel", help="single-panel mode: published file name to compare against")
    p.add_argument("--images", help="paper image directory (for the content photo baseline)")
    p.add_argument("--quick", action="store_true", help="smoke test: only the first counterpart of each figure")
    args = p.parse_args(argv)
    published = published_dir(args)
    if not (published / "MANIFEST.tsv").is_file():
        print(f"error: {published}/MANIFEST.tsv not found (give --published DIR)", file=sys.stderr)
        return 2
    if bool(args.ours) != bool(args.panel):
        p.error("--ours and --panel go together")
    net = reference_network()
    try:
        if args.ours:
            photo = resolve_image(CONTENT_PHOTO, args.images)
            for ours in args.ours:
                row = compare_pair(net, ours, published / args.panel, photo)
                print(json.dumps({"ours": str(ours), "panel": args.panel, **{k: round(v, 3) for k, v in row.items()}}))
            return 0
        rows, missing = table(net, published, args.figures, args.images, args.quick)
        refs = references(net, published, args.images)
    except ImageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    text = markdown(rows, missing, args.figures, refs)
    print(text, end="")
    out = args.figures / "compare.md"
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(out)
    print(f"wrote {out}: {len(rows)} rows", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
