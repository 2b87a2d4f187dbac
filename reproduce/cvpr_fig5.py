"""Fig 5 of CVPR [C]: which layer the content is matched on. The cottage photo in the style of Feininger's
Jesuiten III with content on conv2_2 (the painting looks blended over the photo) and on conv4_2 (edges and
colours bend to the style, the objects stay), both at alpha/beta = 1e-3, from white noise.

Both inputs exist only as the low-resolution bitmaps of the published PDF, so they are read from the
published-panel directory at run time; they are not shown in the figure, so none of their pixels enter it.

    python reproduce/cvpr_fig5.py --published ../shared/published-cvpr2016   # -> figures/cvpr_fig5.png
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from reproduce import common  # noqa: E402
from reproduce.common import Panel  # noqa: E402

CONTENT = "fig5_content_photo.png"    # [C] Fig 5 top: stone cottage, garden, black cat (no credit given)
STYLE = "fig5_style_feininger.jpg"    # [C] Fig 5 inset: Lyonel Feininger, Jesuiten III (1915)
CONTENT_LAYERS = ("conv2_2", "conv4_2")  # [C] Fig 5 middle and bottom, §3.2
STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")  # [C] §3.2: the five _1 layers
RATIO = 1e-3                          # [C] Fig 5 caption: 1e-3 for both
INIT = "noise"                        # [C] §3.3


def main(argv=None) -> int:
    args = common.parse(__doc__, argv, __file__, published=True)
    content, style = common.published_image(args, CONTENT), common.published_image(args, STYLE)
    s = common.Session(args, "cvpr_fig5")
    panels = [Panel(layer, s.config(paper_ratio=RATIO, content=content, style=style, content_layer=layer,
                                    style_layers=STYLE_LAYERS, init=INIT),
                    title=f"content on {layer} · {s.ratio_label(RATIO)}", published=(f"fig5_{layer}_1e-3.jpg",))
              for layer in CONTENT_LAYERS]
    common.figure(s, [[p] for p in panels], title="CVPR Fig 5: cottage photo × Feininger, Jesuiten III")
    return 0


if __name__ == "__main__":
    sys.exit(common.cli(main))
