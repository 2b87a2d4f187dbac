"""Fig 5 of CVPR [C]: which layer the content is matched on. The cottage photo in the style of Feininger's
Jesuiten III with content on conv2_2 (the painting looks blended over the photo) and on conv4_2 (edges and
colours bend to the style, the objects stay), both at alpha/beta = 1e-3, from white noise.

Both inputs exist only as the low-resolution bitmaps of the published PDF, so they are read from the
published-panel directory at run time; they are not shown in the figure, so none of their pixels enter it.

    python reproduce/cvpr_fig5.py --published DIR   # -> figures/cvpr_fig5.png
"""
import sys

import repo  # noqa: F401  (the repository root on sys.path)
import common  # noqa: E402
import paper  # noqa: E402
from common import Panel  # noqa: E402

CONTENT = "fig5_content_photo.png"    # [C] Fig 5 top: stone cottage, garden, black cat (no credit given)
STYLE = "fig5_style_feininger.jpg"    # [C] Fig 5 inset: Lyonel Feininger, Jesuiten III (1915)


def main(argv=None) -> int:
    args = common.parse(__doc__, argv, __file__, published=True, size=paper.FIG5_SIZE)
    content, style = common.published_image(args, CONTENT), common.published_image(args, STYLE)
    s = common.FigureRun(args, "cvpr_fig5")
    panels = [Panel(layer, s.config(ratio=paper.FIG5_RATIO, content=content, style=style, content_layer=layer,
                                    style_layers=paper.STYLE_LAYERS, init=paper.INIT),
                    title=f"content on {layer} · {s.ratio_label(paper.FIG5_RATIO)}",
                    published=(f"fig5_{layer}_{common.ratio_str(paper.FIG5_RATIO)}.jpg",))
              for layer in paper.FIG5_CONTENT_LAYERS]
    common.figure(s, [[p] for p in panels], title="CVPR Fig 5: cottage photo × Feininger, Jesuiten III")
    return 0


if __name__ == "__main__":
    sys.exit(common.cli(main))
