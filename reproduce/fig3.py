"""Fig 3 of arXiv [A] (5 x 4) and Fig 4 of CVPR [C] (2 x 2): Composition VII on the Neckarfront, trading
content against style.

arXiv: rows A-E match style on {conv1_1}, {conv1_1, conv2_1}, ... {conv1_1 ... conv5_1} (w_l = 1/count);
columns alpha/beta = 1e-5, 1e-4, 1e-3, 1e-2. CVPR: the all-layers row only, alpha/beta 1e-4 ... 1e-1.
Content on conv4_2, white-noise start.

    python reproduce/fig3.py                 # arXiv Fig 3 -> figures/fig3.png
    python reproduce/fig3.py --paper cvpr    # CVPR Fig 4  -> figures/cvpr_fig4.png
"""
import sys

import repo  # noqa: F401  (the repository root on sys.path)
import common  # noqa: E402
import paper  # noqa: E402
from common import Panel  # noqa: E402

# Neckarfront x Composition VII ([A] Fig 3 caption; [C] Fig 4 identified from the bitmaps)
ROWS = {"arxiv": paper.STYLE_SUBSETS,        # [A] Fig 3 rows A-E
        "cvpr": (paper.STYLE_LAYERS,)}      # [C] Fig 4: all five layers
RATIOS = paper.TRADE_OFF_RATIOS


def main(argv=None) -> int:
    args = common.parse(__doc__, argv, __file__, versions=True)
    cvpr = args.paper == "cvpr"
    s = common.FigureRun(args, "cvpr_fig4" if cvpr else "fig3")
    grid = []
    for i, layers in enumerate(ROWS[args.paper]):
        row = []
        for ratio in RATIOS[args.paper]:
            cfg = s.config(ratio=ratio, content=paper.PHOTO, style=paper.KANDINSKY,
                           content_layer=paper.CONTENT_LAYER, style_layers=layers, init=paper.INIT)
            key = f"{'ABCDE'[i]}_{common.ratio_str(ratio)}" if not cvpr else common.ratio_str(ratio)
            row.append(Panel(key, cfg, title=s.ratio_label(ratio) if cvpr else "",
                             published=(common.trade_off_published(ratio),) if cvpr else ()))
        grid.append(row)
    if cvpr:  # 2 x 2, alpha/beta increasing from top left to bottom right
        common.figure(s, [grid[0][:2], grid[0][2:]], title="CVPR Fig 4: Composition VII, content vs style weight")
    else:
        common.figure(s, grid, title="arXiv Fig 3: Composition VII, style layers (rows) × α/β (columns)",
                      row_labels=[f"{'ABCDE'[i]}  conv1_1 … {r[-1]}" if len(r) > 1 else f"A  {r[0]}"
                                  for i, r in enumerate(ROWS["arxiv"])],
                      col_titles=[s.ratio_label(r) for r in RATIOS["arxiv"]])
    return 0


if __name__ == "__main__":
    sys.exit(common.cli(main))
