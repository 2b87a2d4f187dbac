"""Fig 1 (both versions): what the layers of the network keep of a photo and of a painting.

Top row: content reconstructions of the Neckarfront photo, each from one layer alone (content loss only,
Eq. 1), starting from white noise. Bottom row: style reconstructions of The Starry Night (style loss only,
Eq. 5) on growing sets of layers, w_l = 1/count. The arXiv version [A] names conv1_1 ... conv5_1 for the
content row, the CVPR version [C] conv1_2 ... conv5_2; the style row is the same in both.

    python reproduce/fig1.py                 # arXiv Fig 1 -> figures/fig1.png
    python reproduce/fig1.py --paper cvpr    # CVPR Fig 1  -> figures/cvpr_fig1.png
"""
import sys

import repo  # noqa: F401  (the repository root on sys.path)
import common  # noqa: E402
import paper  # noqa: E402
from common import Panel  # noqa: E402

# [C] Fig 1 bitmaps show the Neckarfront photo and The Starry Night; [A]'s text names no inputs.
CONTENT_IMAGE, STYLE_IMAGE = paper.HEADLINE_PAIR


def published_content(layer: str) -> tuple[str, ...]:
    """The CVPR panel and the full 512x384 image behind its zoom inset (conv5_2 is stored losslessly: PNG)."""
    ext = "png" if layer == "conv5_2" else "jpg"
    return f"fig1_content_{layer}.{ext}", f"fig1_content_{layer}_512x384_zoomsource.{ext}"


def published_style(layers: tuple[str, ...]) -> tuple[str, ...]:
    return ("fig1_style_conv1_1.jpg",) if len(layers) == 1 else (f"fig1_style_upto_{layers[-1]}.jpg",)


def main(argv=None) -> int:
    args = common.parse(__doc__, argv, __file__, versions=True)
    cvpr = args.paper == "cvpr"
    s = common.FigureRun(args, "cvpr_fig1" if cvpr else "fig1")
    content_row = [Panel(f"content_{layer}",  # alpha = 1: a single loss, the ratio plays no part
                         s.config(content=CONTENT_IMAGE, content_layer=layer, init=paper.INIT, ratio=1.0,
                                  literal_ratio=True),
                         title=f"{'abcde'[i]}  {layer}", published=published_content(layer) if cvpr else ())
                   for i, layer in enumerate(paper.FIG1_CONTENT_LAYERS[args.paper])]
    # height: the content row's aspect, as in the paper (Starry Night itself is 1.26:1)
    style_row = [Panel(f"style_upto_{layers[-1]}", s.config(style=STYLE_IMAGE, style_layers=layers, init=paper.INIT,
                                                            height=int(args.size * paper.FIG1_STYLE_ASPECT)),
                       title=f"{'abcde'[i]}  " + (layers[0] if len(layers) == 1 else f"conv1_1 … {layers[-1]}"),
                       published=published_style(layers) if cvpr else ())
                 for i, layers in enumerate(paper.STYLE_SUBSETS)]
    common.figure(s, [content_row, style_row],
                  title=f"{'CVPR' if cvpr else 'arXiv'} Fig 1: reconstructions from white noise",
                  row_labels=["content: Neckarfront\nfrom one layer", "style: The Starry Night\nfrom layers up to"],
                  ratio_note="single-loss reconstructions (no α/β)")
    return 0


if __name__ == "__main__":
    sys.exit(common.cli(main))
