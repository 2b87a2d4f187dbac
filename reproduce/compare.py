"""How close are our panels to the published ones? Numbers only; no published pixels enter the repo.

Style distance, defined so that numbers compare across tools: both images resized to a 256 px long edge,
features of the *plain* Caffe VGG-19 with max pooling (the trained network, nothing of ours), G = F F^T / M
on conv1_1 ... conv5_1, distance = mean over those layers of ||G(ours) - G(published)||_F / ||G(published)||_F.
Baseline: the same distance for the plain content photo (Fig 1's style reconstructions: the Neckarfront).
Content distance: ||F(x) - F(photo)|| / ||F(photo)|| at conv4_2 of the same network, for ours and for the
published panel, so one sees whether both keep the photo equally well.

Print colour: the published Fig 1 reconstructions from conv1_2, conv2_2 and conv3_2 (the 512x384 zoom sources,
which the paper calls almost perfect reconstructions) differ from the Neckarfront photo by an almost affine
per-channel map, published ~ gain * photo + offset, gain ~0.92 and offsets ~(+1, +8, +19) grey levels (R, G, B).
The published input photos match the photo file, so the shift comes from the authors' synthesis/figure pipeline
and is in every published result panel, not in ours. fit_colour_map fits gain and offset per channel by least
squares over all pixels of those three panels against the photo resized to 512x384; "print colour" distances
apply that map to our image first, so that they measure what is left beyond the colour shift.

Grain: RMS (grey levels) of an image minus its Gaussian blur (sigma 1 px) over the smoothest 30 % of the
content photo (lowest local variance of its luminance, Gaussian window sigma 3 px: sky and water), at the
published panel's pixel size; the mask is computed on the photo alone, so ours and the published panel are
measured on the same pixels. Reported as ours / published (1.0 = same grain), for Neckarfront panels only. Our
image is measured in print colour (the gain scales grain too). The published panels are JPEGs taken from the
PDF, and JPEG quantisation removes high-frequency energy exactly in smooth regions, so a lossless PNG of ours
against a JPEG overstates our grain: the "JPEG" ratio first re-encodes ours with the published file's own
quantisation tables and chroma subsampling (lossless published panels have none: no JPEG ratio).

Table mode (default): every published result panel in MANIFEST.tsv that one of our figures names as its
counterpart (the ``published`` field of a panel in <figures>/<figure>.json, whose pixels are in
<figures>/panels/<figure>/<panel>.png); prints the table and writes <figures>/compare.md.

    python reproduce/compare.py --published DIR [--figures figures/]
    python reproduce/compare.py --published DIR --panel fig3_C_starry_night_8e-4.jpg --ours a.png b.png
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image, JpegImagePlugin
from scipy.ndimage import gaussian_filter

import repo  # noqa: F401  (the repository root on sys.path)

import models  # noqa: E402
import paper  # noqa: E402
import common  # noqa: E402
from common import has_manifest, published_dir, ratio_str, trade_off_published  # noqa: E402
from config import BAD_INPUT, Config  # noqa: E402
from images import check_directory_writable, load_rgb, resolve_image, write_text_atomic  # noqa: E402
from train import OneLineParser  # noqa: E402

SIZE = 256
STYLE_LAYERS, CONTENT_LAYER, CONTENT_PHOTO = paper.STYLE_LAYERS, paper.CONTENT_LAYER, paper.PHOTO
# The paper's own spread: its other runs of CVPR Fig 3C (four noise seeds, content and style init; Fig 6).
SPREAD_REFERENCE = "fig3_C_starry_night_8e-4.jpg"
SPREAD = ("fig6_C_noise_seed1.jpg", "fig6_C_noise_seed2.jpg", "fig6_C_noise_seed3.jpg", "fig6_C_noise_seed4.jpg",
          "fig6_A_init_content.jpg", "fig6_B_init_style.jpg")
# The paintings as printed in the insets of CVPR Fig 3, against the files this repo uses: a distance here is
# a different reproduction of the painting (colours, contrast), which no optimisation can remove.
INSETS = dict(zip(("fig3_B_inset_style_turner_shipwreck.jpg", "fig3_C_inset_style_starry_night.jpg",
                   "fig3_D_inset_style_scream.jpg", "fig3_E_inset_style_picasso_femme_nue_assise.jpg",
                   "fig3_F_inset_style_kandinsky_composition_vii.jpg"), (p.file for p in paper.PAINTINGS)))
# The panels the paper itself calls almost perfect reconstructions of the photo: their only systematic
# difference from it is the colour of the authors' pipeline.
COLOUR_PANELS = tuple(f"fig1_content_conv{k}_2_512x384_zoomsource.jpg" for k in (1, 2, 3))
GRAIN_SIGMA = 1.0       # px: grain is what a 1 px blur removes
SMOOTH_FRACTION = 0.3   # of the photo's pixels, the smoothest ones, where grain is not hidden by content
SMOOTH_WINDOW = 3.0     # px: sigma of the window in which the photo's local variance is taken


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


# --------------------------------------------------------------------------- #
# Print colour and grain
# --------------------------------------------------------------------------- #
def pixels(path: Path, hw: tuple[int, int] | None = None) -> np.ndarray:
    """An image as float64 [H, W, 3] in grey levels 0..255, at its own size or resized (Lanczos) to hw."""
    return to_levels(load_rgb(path, hw))


def to_levels(rgb: torch.Tensor) -> np.ndarray:
    return rgb[0].permute(1, 2, 0).double().numpy() * 255.0


def fit_colour_map(photo: np.ndarray, panels: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, float]:
    """Least-squares panel ~ gain * photo + offset, per channel over all pixels of all panels (each [H, W, 3]
    in grey levels, at the photo's size). Returns gain [3], offset [3] in grey levels, and the RMS residual
    in grey levels (how far from affine the relation is, reconstruction error included)."""
    x = np.concatenate([photo.reshape(-1, 3)] * len(panels))
    y = np.concatenate([p.reshape(-1, 3) for p in panels])
    gain, offset, sq = np.empty(3), np.empty(3), 0.0
    for c in range(3):
        design = np.stack([x[:, c], np.ones(len(x))], axis=1)
        (gain[c], offset[c]), *_ = np.linalg.lstsq(design, y[:, c], rcond=None)
        sq += ((design @ [gain[c], offset[c]] - y[:, c]) ** 2).sum()
    return gain, offset, float(np.sqrt(sq / y.size))


def print_colour_map(published: Path, photo: Path) -> tuple[np.ndarray, np.ndarray, float] | None:
    """fit_colour_map on the published COLOUR_PANELS against the photo; None when a panel is missing."""
    if not all((published / name).is_file() for name in COLOUR_PANELS):
        return None
    panels = [pixels(published / name) for name in COLOUR_PANELS]
    return fit_colour_map(pixels(photo, panels[0].shape[:2]), panels)


def print_colour(rgb: torch.Tensor, cmap) -> torch.Tensor:
    """Our [1, 3, H, W] image in [0, 1] as the authors' pipeline would have printed it (cmap None: unchanged)."""
    if cmap is None:
        return rgb
    gain, offset, _ = cmap
    shape = (1, 3, 1, 1)
    return (rgb * torch.tensor(gain, dtype=rgb.dtype).view(shape)
            + torch.tensor(offset / 255.0, dtype=rgb.dtype).view(shape)).clamp(0, 1)


def smooth_mask(photo: np.ndarray, fraction: float = SMOOTH_FRACTION) -> np.ndarray:
    """[H, W] bool: the ``fraction`` of pixels of the photo with the lowest local variance of luminance."""
    lum = photo.mean(axis=2)
    local_var = gaussian_filter(lum ** 2, SMOOTH_WINDOW) - gaussian_filter(lum, SMOOTH_WINDOW) ** 2
    return local_var <= np.quantile(local_var, fraction)


def grain(image: np.ndarray, mask: np.ndarray) -> float:
    """RMS in grey levels of image - GaussianBlur(image, GRAIN_SIGMA) over the mask's pixels, all channels."""
    residual = image - gaussian_filter(image, (GRAIN_SIGMA, GRAIN_SIGMA, 0))
    return float(np.sqrt((residual[mask] ** 2).mean()))


def jpeg_settings(path: Path) -> tuple[dict, int] | None:
    """A JPEG's quantisation tables (natural order, as Pillow reads them) and chroma subsampling
    (0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0, -1 unknown); None for a lossless file."""
    with Image.open(path) as img:
        if img.format != "JPEG":
            return None
        return dict(img.quantization), JpegImagePlugin.get_sampling(img)


def jpeg_roundtrip(image: np.ndarray, qtables: dict, subsampling: int = -1) -> np.ndarray:
    """image ([H, W, 3] grey levels) encoded as JPEG with these tables and decoded again."""
    buf = io.BytesIO()
    extra = {"subsampling": subsampling} if subsampling >= 0 else {}
    Image.fromarray(np.clip(np.rint(image), 0, 255).astype(np.uint8), "RGB").save(
        buf, format="JPEG", qtables=qtables, **extra)
    buf.seek(0)
    with Image.open(buf) as img:
        return np.asarray(img.convert("RGB"), dtype=np.float64)


def grain_ratios(ours: Path, published: Path, photo: Path, cmap, mask_memo: dict | None = None) -> dict:
    """Grain of the published panel (grey levels) and, relative to it, the grain of ours in print colour and
    of the plain content photo, each lossless and after the published file's JPEG round trip; all at the
    published panel's pixel size (ours resized to it)."""
    pub = pixels(published)
    hw = pub.shape[:2]
    memo = {} if mask_memo is None else mask_memo
    if (photo, hw) not in memo:
        memo[photo, hw] = smooth_mask(pixels(photo, hw))
    mask, settings = memo[photo, hw], jpeg_settings(published)
    g_pub = grain(pub, mask)
    out = {"grain_published": g_pub}
    for name, image in (("ours", to_levels(print_colour(load_rgb(ours, hw), cmap))), ("photo", pixels(photo, hw))):
        image = np.rint(image)  # an 8-bit file, as the JPEG round trip sees it
        out[f"grain_{name}"] = grain(image, mask) / g_pub
        out[f"grain_{name}_jpeg"] = grain(jpeg_roundtrip(image, *settings), mask) / g_pub if settings else None
    return out


def compare_pair(net, ours: Path, published: Path, photo: Path | None, cmap=None, with_grain: bool = False) -> dict:
    """Single-panel mode: the table's numbers for one image of ours; ``*_print`` with ours in print colour."""
    pub_rgb = load(published)
    hw = tuple(pub_rgb.shape[-2:])
    ours_rgb = load(ours, hw)
    pub, mine, mine_print = describe(net, pub_rgb), describe(net, ours_rgb), describe(net, print_colour(ours_rgb, cmap))
    row = {"style_distance": style_distance(mine, pub), "style_distance_print": style_distance(mine_print, pub)}
    if photo is not None:
        ph = describe(net, load(photo, hw))
        row["photo_style_distance"] = style_distance(ph, pub)
        row["content_distance_ours"] = content_distance(mine, ph)
        row["content_distance_ours_print"] = content_distance(mine_print, ph)
        row["content_distance_published"] = content_distance(pub, ph)
        if with_grain:
            row.update(grain_ratios(ours, published, photo, cmap))
    return row


def read_manifest(published: Path) -> dict[str, dict[str, str]]:
    with open(published / "MANIFEST.tsv", newline="", encoding="utf-8") as f:
        return {row["file"]: row for row in csv.DictReader(f, delimiter="\t")}


def run_input(spec: str, image_dir: str | None, published: Path, manifest: dict) -> Path:
    """A run's input image: CVPR Figs 5 and 7 take theirs from the published panels, recorded where the run
    found them, so they are looked up by name in this --published; the paper images as a run resolves them."""
    name = Path(spec).name
    return published / name if name in manifest else resolve_image(spec, image_dir)


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
          quick: bool = False, cmap=None) -> tuple[list[dict], list[str]]:
    """One row per published panel with a counterpart, in MANIFEST order; and the result panels without one."""
    manifest = read_manifest(published)
    pairs = sorted((p for p in counterparts(figures) if p["published"] in manifest),
                   key=lambda p: list(manifest).index(p["published"]))
    matched = {p["published"] for p in pairs}
    if quick:
        pairs = [p for i, p in enumerate(pairs) if all(q["figure"] != p["figure"] for q in pairs[:i])]
    rows, memo, masks = [], {}, {}
    for pair in pairs:
        if not pair["ours"].is_file():
            print(f"warning: {pair['ours']} missing; skipped", file=sys.stderr)
            continue
        cfg = Config(**pair["config"])
        pub_rgb = load(published / pair["published"])
        hw = tuple(pub_rgb.shape[-2:])
        photo_path = run_input(cfg.content or CONTENT_PHOTO, cfg.images or images, published, manifest)
        if (photo_path, hw) not in memo:
            memo[photo_path, hw] = describe(net, load(photo_path, hw))
        ours_rgb = load(pair["ours"], hw)
        pub, mine, photo = describe(net, pub_rgb), describe(net, ours_rgb), memo[photo_path, hw]
        mine_print = describe(net, print_colour(ours_rgb, cmap))
        has_content = cfg.content is not None
        neckarfront = has_content and photo_path.name == CONTENT_PHOTO
        painting = None
        if has_content and cfg.style:
            style_path = run_input(cfg.style, cfg.images or images, published, manifest)
            if (style_path, hw) not in memo:
                memo[style_path, hw] = describe(net, load(style_path, hw))
            painting = memo[style_path, hw]
        rows.append({"figure": manifest[pair["published"]]["figure"], "published": pair["published"],
                     "ours": f"{pair['figure']}/{pair['key']}", "size": cfg.size, "evaluations": pair["evaluations"],
                     "ratio": cfg.equation_ratio() if cfg.content and cfg.style else None,
                     "network": cfg.network_name(),
                     "style_distance": style_distance(mine, pub), "photo_style_distance": style_distance(photo, pub),
                     "style_distance_print": style_distance(mine_print, pub),
                     "content_distance_ours": content_distance(mine, photo) if has_content else None,
                     "content_distance_ours_print": content_distance(mine_print, photo) if has_content else None,
                     "content_distance_published": content_distance(pub, photo) if has_content else None,
                     "layers": layer_distances(mine, pub),
                     "painting_distance_ours": style_distance(mine, painting) if painting else None,
                     "painting_distance_published": style_distance(pub, painting) if painting else None,
                     "grain": grain_ratios(pair["ours"], published / pair["published"], photo_path, cmap, masks)
                     if neckarfront else None})
    missing = [name for name, row in manifest.items()
               if row["init"] != "-" and row["figure"] != "2" and name not in matched]  # results, not inputs/schematic
    return rows, missing


def kandinsky_series() -> list[tuple[str, float, float]]:
    """The published Composition VII transfers of [C] (Fig 3F, then Fig 4) as (file, alpha/beta printed in [C],
    alpha/beta printed in [A] for the same image: [A] Fig 2F, [A] Fig 3's row of all five layers)."""
    fig3f = next(p for p in paper.PAINTINGS if p.file == paper.KANDINSKY)
    fig4 = zip(paper.TRADE_OFF_RATIOS["cvpr"], paper.TRADE_OFF_RATIOS["arxiv"])
    return [(fig3f.published, fig3f.cvpr_ratio, fig3f.arxiv_ratio)] + [(trade_off_published(c), c, a) for c, a in fig4]


def label_check(net, published: Path, images: str | None) -> list[tuple[str, float, float, float, float]]:
    """Do the published Composition VII panels agree with their own printed alpha/beta? For each panel of
    ``kandinsky_series`` (file, [C] ratio, [A] ratio): its content distance to the photo and its style distance
    to Fig 3F, from the published pixels alone."""
    manifest, series = read_manifest(published), kandinsky_series()
    present = [row for row in series if row[0] in manifest]
    if series[0] not in present:
        return []
    fig3f = load(published / series[0][0])
    hw = tuple(fig3f.shape[-2:])
    photo, g_fig3f = describe(net, load(resolve_image(CONTENT_PHOTO, images), hw)), describe(net, fig3f)
    out = []
    for name, cvpr, arxiv in sorted(present, key=lambda row: row[1]):
        d = describe(net, load(published / name, hw))
        out.append((name, cvpr, arxiv, content_distance(d, photo), style_distance(d, g_fig3f)))
    return out


def references(net, published: Path, images: str | None) -> dict[str, list[tuple]]:
    """Distances that involve no panel of ours: the paper's seed spread, our paintings vs its insets, and the
    published Composition VII panels against their own printed ratios."""
    manifest = read_manifest(published)
    out = {"spread": [], "insets": [], "labels": label_check(net, published, images)}
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


def markdown(rows: list[dict], missing: list[str], figures: Path, refs: dict | None = None, cmap=None) -> str:
    num = lambda v: "–" if v is None else f"{v:.3f}"
    shown = figures.resolve().relative_to(repo.ROOT) if figures.resolve().is_relative_to(repo.ROOT) else figures
    lines = ["# Our panels against the published CVPR 2016 panels", "",
             f"Written by `python reproduce/compare.py --figures {shown}`. Style distance: mean over "
             "conv1_1 … conv5_1 of ‖G(x) − G(published)‖_F / ‖G(published)‖_F, G = FFᵀ/M of the plain Caffe "
             "VGG-19 (max pooling), both images at the published panel's size with a 256 px long edge; lower is "
             "closer. Baseline: the same for the content photo. Content distance: ‖F(x) − F(photo)‖/‖F(photo)‖ at "
             "conv4_2, for ours and for the published panel. 'print colour': ours through the published "
             "pipeline's colour map first (section Print colour). Network: the normalised network's scales "
             "(`layer`, the default; `filter`, the figures made before it).", "",
             "| CVPR fig | published panel | ours | network | px | evaluations | α/β used | style dist. ours | "
             "style dist. ours, print colour | style dist. content photo | content dist. ours | "
             "content dist. ours, print colour | content dist. published |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = "–" if r["ratio"] is None else ratio_str(r["ratio"])
        lines.append(f"| {r['figure']} | {r['published']} | {r['ours']} | {r['network']} | {r['size']} | {r['evaluations']} | {ratio} | "
                     f"{num(r['style_distance'])} | {num(r['style_distance_print'])} | "
                     f"{num(r['photo_style_distance'])} | {num(r['content_distance_ours'])} | "
                     f"{num(r['content_distance_ours_print'])} | {num(r['content_distance_published'])} |")
    if missing:
        lines += ["", "Published result panels without a counterpart yet: " + ", ".join(missing) + "."]
    lines += colour_section(cmap) + grain_section([r for r in rows if r.get("grain")])
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
    return "\n".join(lines + label_section((refs or {}).get("labels", []))) + "\n"


def label_section(rows: list[tuple[str, float, float, float, float]]) -> list[str]:
    """compare.md lines: the published Composition VII panels in the order of their [C] ratio."""
    if not rows:
        return []
    lines = ["", "## The published Composition VII panels against their own printed α/β", "",
             "[C] prints Fig 3F at 5e-4 and Fig 4 at 1e-4 … 1e-1; [A] prints the same images 5 to 10 times "
             "lower. From the published pixels alone, no synthesis of ours: content distance to the photo at "
             "conv4_2 and style distance to Fig 3F, as above. If one version's ratios are consistent, the content "
             "distance falls as its printed ratio rises, and Fig 3F sits among the Fig 4 panels where its ratio "
             "puts it.", "",
             "| published panel | α/β printed in [C] | in [A] | content dist. to photo | style dist. to Fig 3F |",
             "|---|---|---|---|---|"]
    for name, cvpr, arxiv, content, style in rows:
        lines.append(f"| {name} | {ratio_str(cvpr)} | {ratio_str(arxiv)} | {content:.3f} | {style:.3f} |")
    return lines


def colour_section(cmap) -> list[str]:
    """compare.md lines stating the fitted print-colour map."""
    lines = ["", "## Print colour", ""]
    if cmap is None:
        return lines + [f"Not fitted: {', '.join(COLOUR_PANELS)} not all in the published directory; the "
                        "print-colour columns equal the raw ones."]
    gain, offset, rms = cmap
    per = lambda v, fmt: ", ".join(f"{c} {fmt.format(x)}" for c, x in zip("RGB", v))
    return lines + [
        "The published Fig 1 reconstructions from conv1_2, conv2_2 and conv3_2 (" + ", ".join(COLOUR_PANELS) +
        ") against the Neckarfront photo resized to 512x384, least squares per channel over all their pixels: "
        f"published ≈ gain · photo + offset with gain {per(gain, '{:.3f}')} and offset {per(offset, '{:+.1f}')} "
        f"grey levels (RMS residual {rms:.1f} grey levels, reconstruction error included). The published input "
        "photos match the photo file, so this shift belongs to the authors' synthesis/figure pipeline; the "
        "print-colour columns apply it to ours before measuring."]


def grain_section(rows: list[dict]) -> list[str]:
    """compare.md lines with the grain ratios of the Neckarfront panels."""
    if not rows:
        return []
    num = lambda v: "–" if v is None else f"{v:.2f}"
    lines = ["", "## Grain", "",
             f"Grain: RMS of image − GaussianBlur(image, σ = {GRAIN_SIGMA:g} px) over the smoothest "
             f"{SMOOTH_FRACTION:.0%} of the content photo (lowest local luminance variance, window σ = "
             f"{SMOOTH_WINDOW:g} px: sky and water), at the published panel's pixel size, the same pixels for "
             "every image. Ratios to the published panel's grain, 1.00 = same. Ours is measured in print colour, "
             "resized to the published panel (panels of 128 px are upsampled, Lanczos, which removes fine grain: "
             "their ratios are low by construction). The published panels are JPEGs from the PDF, whose "
             "quantisation removes high-frequency energy exactly in smooth regions, so the 'JPEG' columns first "
             "re-encode ours (and the photo) with the published file's own quantisation tables and chroma "
             "subsampling; a lossless published panel has no JPEG column. 'photo': the plain content photo.", "",
             "| published panel | ours | px (ours) | grain published (grey levels) | ours / published | "
             "ours / published, JPEG | photo / published | photo / published, JPEG |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        g = r["grain"]
        lines.append(f"| {r['published']} | {r['ours']} | {r['size']} | {g['grain_published']:.2f} | "
                     f"{num(g['grain_ours'])} | {num(g['grain_ours_jpeg'])} | {num(g['grain_photo'])} | "
                     f"{num(g['grain_photo_jpeg'])} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = OneLineParser(prog="python reproduce/compare.py", description=__doc__,
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--published", type=Path, help="directory of the published panels with MANIFEST.tsv, from your "
                   "own copy of the paper (default $GATYS_PUBLISHED)")
    p.add_argument("--figures", type=Path, default=Path(__file__).resolve().parent.parent / "figures",
                   help="directory of our figure JSONs and panels/ (default figures/); compare.md is written here")
    p.add_argument("--ours", type=Path, nargs="+", help="single-panel mode: our image(s), compared with --panel")
    p.add_argument("--panel", help="single-panel mode: published file name to compare against")
    p.add_argument("--images", help="paper image directory (for the content photo baseline)")
    p.add_argument("--quick", action="store_true", help="smoke test: only the first counterpart of each figure")
    args = p.parse_args(argv)
    published = published_dir(args)
    if not has_manifest(published):
        print(f"error: {published}/MANIFEST.tsv not found (give --published DIR)", file=sys.stderr)
        return 2
    if bool(args.ours) != bool(args.panel):
        p.error("--ours and --panel go together")
    if args.quick and args.figures.resolve() == (repo.ROOT / "figures").resolve():
        p.error("--quick never writes into figures/; choose another --figures")
    try:
        if not args.ours:
            check_directory_writable(args.figures, args.figures / "compare.md")
        net = reference_network()
        photo = resolve_image(CONTENT_PHOTO, args.images)
        cmap = print_colour_map(published, photo)
        if args.ours:
            if cmap is not None:
                print("print colour: gain " + " ".join(f"{g:.3f}" for g in cmap[0]) + ", offset " +
                      " ".join(f"{o:+.1f}" for o in cmap[1]) + " grey levels (R G B)", file=sys.stderr)
            shows = read_manifest(published).get(args.panel, {}).get("what it shows", "")
            for ours in args.ours:
                row = compare_pair(net, ours, published / args.panel, photo, cmap, "Neckarfront" in shows)
                print(json.dumps({"ours": str(ours), "panel": args.panel,
                                  **{k: None if v is None else round(v, 3) for k, v in row.items()}}))
            return 0
        rows, missing = table(net, published, args.figures, args.images, args.quick, cmap)
        refs = references(net, published, args.images)
    except BAD_INPUT as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    text = markdown(rows, missing, args.figures, refs, cmap)
    print(text, end="")
    out = args.figures / "compare.md"
    write_text_atomic(out, text)
    print(f"wrote {out}: {len(rows)} rows", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(common.cli(main))
