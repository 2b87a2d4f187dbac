"""Distances of our images to a published CVPR panel, with reproduce/compare.py's definitions: style distance
raw and in print colour, its five per-layer terms (conv1_1..conv5_1, print colour), content distance, grain ratio.

    python reproduce/network_search_eval.py fig3_C_starry_night_8e-4.jpg .cache/network_search/a.png [b.png ...]
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import repo  # noqa: F401  (the repository root on sys.path)

import compare  # noqa: E402
from common import PUBLISHED_ENV  # noqa: E402
from images import resolve_image  # noqa: E402


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    panel, ours = argv[0], [Path(a) for a in argv[1:]]
    published_dir = Path(os.environ[PUBLISHED_ENV])  # the published CVPR panels, from your own copy of the paper
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
    sys.exit(main())
