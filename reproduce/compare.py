"""How close is a rebuilt panel to the published one? Numbers only; no published pixels enter the repo.

Style distance, defined so that numbers compare across tools: both images resized to a 256 px long edge,
features of the *plain* Caffe VGG-19 with max pooling (the trained network, nothing of ours), G = F F^T / M
on conv1_1 ... conv5_1, distance = mean over those layers of ||G(ours) - G(published)||_F / ||G(published)||_F.
Content distance: ||F(x) - F(photo)|| / ||F(photo)|| at conv4_2 of the same network, for ours and for the
published panel, so one sees whether both keep the photo equally well.

    python reproduce/compare.py --published ../shared/published-cvpr2016
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
from train import load_rgb, resolve_image  # noqa: E402

SIZE = 256
STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
CONTENT_LAYER = "conv4_2"
CONTENT_PHOTO = "neckarfront_tuebingen.jpg"


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
    return sum(((a[l] - b[l]).norm() / b[l].norm()).item() for l in STYLE_LAYERS) / len(STYLE_LAYERS)


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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--published", type=Path, required=True, help="directory of published panels with MANIFEST.tsv")
    p.add_argument("--ours", type=Path, nargs="+", required=True, help="our panel image(s)")
    p.add_argument("--panel", required=True, help="published file name to compare against")
    p.add_argument("--images", help="paper image directory (for the content photo baseline)")
    args = p.parse_args(argv)
    net = reference_network()
    photo = resolve_image(CONTENT_PHOTO, args.images)
    for ours in args.ours:
        row = compare_pair(net, ours, args.published / args.panel, photo)
        print(json.dumps({"ours": str(ours), "panel": args.panel, **{k: round(v, 3) for k, v in row.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
