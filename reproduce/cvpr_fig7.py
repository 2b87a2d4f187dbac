"""Fig 7 of CVPR [C]: photo-to-photo ("photorealistic") transfer. A photo of London by day in the style of a
photo of New York by night, alpha/beta = 1e-2, started from the content photo. Expect the night colours and
lighting, and the filter-like high-frequency noise [C] §4 warns of when both inputs are photographs.

Both photos exist only as the low-resolution bitmaps of the published PDF, so they are read from the
published-panel directory at run time; they are not shown in the figure, so none of their pixels enter it.

    python reproduce/cvpr_fig7.py --published DIR   # -> figures/cvpr_fig7.png
"""
import sys

import repo  # noqa: F401  (the repository root on sys.path)
import common  # noqa: E402
import paper  # noqa: E402
from common import Panel  # noqa: E402

CONTENT = "fig7_content_london.jpg"      # [C] Fig 7 "Content Image": London skyline by day
STYLE = "fig7_style_newyork_night.jpg"   # [C] Fig 7 "Style Image": New York by night


def main(argv=None) -> int:
    args = common.parse(__doc__, argv, __file__, published=True, size=paper.FIG7_SIZE)
    content, style = common.published_image(args, CONTENT), common.published_image(args, STYLE)
    s = common.FigureRun(args, "cvpr_fig7")
    cfg = s.config(ratio=paper.FIG7_RATIO, content=content, style=style, content_layer=paper.CONTENT_LAYER,
                   style_layers=paper.STYLE_LAYERS, init=paper.FIG7_INIT)
    panel = Panel("result", cfg,
                  title=f"London by day in the style of New York by night · {s.ratio_label(paper.FIG7_RATIO)}",
                  published=(f"fig7_result_{common.ratio_str(paper.FIG7_RATIO)}.jpg",))
    common.figure(s, [[panel]], title="CVPR Fig 7: photo-to-photo transfer")
    return 0


if __name__ == "__main__":
    sys.exit(common.cli(main))
