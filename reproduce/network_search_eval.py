"""Distances of our images to a published CVPR panel, with reproduce/compare.py's definitions: style distance
raw and in print colour, its five per-layer terms (conv1_1..conv5_1, print colour), content distance, grain ratio.

    python reproduce/network_search_eval.py fig3_C_starry_night_8e-4.jpg .cache/network_search/a.png [b.png ...]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import repo  # noqa: F401  (the repository root on sys.path)

import common  # noqa: E402
import compare  # noqa: E402
from images import ImageError, resolve_image  # noqa: E402
from train import OneLineParser  # noqa: E402


def main(argv=None) -> int:
    p = OneLineParser(prog="python reproduce/network_search_eval.py", description=__doc__,
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("panel", help="file name of the published panel, e.g. fig3_C_starry_night_8e-4.jpg")
    p.add_argument("ours", nargs="+", type=Path, help="our images")
    p.add_argument("--published", type=Path, help=f"directory of the published CVPR panels, from your own copy "
                                                  f"of the paper (default ${common.PUBLISHED_ENV})")
    args = p.parse_args(argv)
    panel, ours, published_dir = args.panel, args.ours, common.published_dir(args)
    if published_dir is None:
        raise ImageError(f"the published panels are needed: give --published DIR or ${common.PUBLISHED_ENV}")
    published = published_dir / panel
    photo = resolve_image(compare.CONTENT_PHOTO)
    net, cmap = compare.reference_network(), compare.print_colour_map(published_dir, photo)
    pub_rgb = compare.load(published)
    hw = tuple(pub_rgb.shape[-2:])
    pub = compare.describe(net, pub_rgb)
    print("| image | panel | style dist raw | print colour | per layer (print) | content dist ours / published "
          "| grain ours/published (lossless, JPEG) |")
    print("|---|---|---|---|---|---|---|")
    for path in ours:
        rgb = compare.load(path, hw)
        mine, mine_p = compare.describe(net, rgb), compare.describe(net, compare.print_colour(rgb, cmap))
        row = compare.compare_pair(net, path, published, photo, cmap, with_grain=True)
        layers = " ".join(f"{d:.2f}" for d in compare.layer_distances(mine_p, pub))
        print(f"| {path.name} | {panel} | {compare.style_distance(mine, pub):.3f} | "
              f"{compare.style_distance(mine_p, pub):.3f} | {layers} | {row['content_distance_ours_print']:.3f} / "
              f"{row['content_distance_published']:.3f} | {row['grain_ours']:.2f}, {row['grain_ours_jpeg']:.2f} |",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(common.cli(main))
