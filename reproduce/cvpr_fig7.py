"""Fig 7 of CVPR [C]: photo-to-photo ("photorealistic") transfer. A photo of London by day in the style of a
photo of New York by night, alpha/beta = 1e-2, started from the content photo. Expect the night colours and
lighting, and the filter-like high-frequency noise [C] §4 warns of when both inputs are photographs.

Both photos exist only as the low-resolution bitmaps of the published PDF, so they are read from the
published-panel directory at run time; they are not shown in the figure, so none of their pixels enter it.

    python reproduce/cvpr_fig7.py --published ../shared/published-cvpr2016   # -> figures/cvpr_fig7.png
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from reproduce import common  # noqa: E402
from reproduce.common import Panel  # noqa: E402

CONTENT = "fig7_content_london.jpg"      # [C] Fig 7 "Content Image": London skyline by day
STYLE = "fig7_style_newyork_night.jpg"   # [C] Fig 7 "Style Image": New York by night
RATIO = 1e-2                             # [C] Fig 7 caption
INIT = "content"                         # [C] Fig 7 caption: initialised from the content image
CONTENT_LAYER = "conv4_2"                # not restated in [C] Fig 7; the standard setting
STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")


def main(argv=None) -> int:
    args = common.parse(__doc__, argv, __file__, published=True)
    content, style = common.published_image(args, CONTENT), common.published_image(args, STYLE)
    s = common.Session(args, "cvpr_fig7")
    cfg = s.config(paper_ratio=RATIO, content=content, style=style, content_layer=CONTENT_LAYER,
                   style_layers=STYLE_LAYERS, init=INIT)
    panel = Panel("result", cfg, title=f"London by day in the style of New York by night · {s.ratio_label(RATIO)}",
                  published=("fig7_result_1e-2.jpg",))
    common.figure(s, [[panel]], title="CVPR Fig 7: photo-to-photo transfer")
    return 0


if __name__ == "__main__":
    sys.exit(common.cli(main))
