"""Fig 2 of arXiv [A] = Fig 3 of CVPR [C]: the Neckarfront photo in the styles of five paintings.

Panel A is the photo; B-F are white-noise-initialised syntheses with content on conv4_2 and style on
conv1_1 ... conv5_1 (w_l = 1/5), each with its painting inset bottom-left, as in the paper. The two versions
print different alpha/beta for the same panels ([A] Methods, [C] Fig 3 caption).

    python reproduce/fig2.py                 # arXiv ratios -> figures/fig2.png
    python reproduce/fig2.py --paper cvpr    # CVPR ratios  -> figures/cvpr_fig3.png
"""
import sys

import repo  # noqa: F401  (the repository root on sys.path)
import common  # noqa: E402
import paper  # noqa: E402
from common import Panel  # noqa: E402


def main(argv=None) -> int:
    args = common.parse(__doc__, argv, __file__, versions=True)
    cvpr = args.paper == "cvpr"
    s = common.FigureRun(args, "cvpr_fig3" if cvpr else "fig2")
    panels = [Panel("A", image=paper.PHOTO, title="A  Neckarfront, Tübingen (photo)")]
    for p in paper.PAINTINGS:
        ratio = p.cvpr_ratio if cvpr else p.arxiv_ratio
        cfg = s.config(ratio=ratio, content=paper.PHOTO, style=p.file, content_layer=paper.CONTENT_LAYER,
                       style_layers=paper.STYLE_LAYERS, init=paper.INIT)
        panels.append(Panel(p.panel, cfg, f"{p.panel}  {p.caption}\n{s.ratio_label(ratio)}", inset=p.file,
                            published=(p.published,) if cvpr else ()))
    common.figure(s, [panels[0:2], panels[2:4], panels[4:6]],
                  title=f"{'CVPR Fig 3' if cvpr else 'arXiv Fig 2'}: the Neckarfront in five styles")
    return 0


if __name__ == "__main__":
    sys.exit(common.cli(main))
