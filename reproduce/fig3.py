"""Fig 3 of arXiv [A] (5 x 4) and Fig 4 of CVPR [C] (2 x 2): Composition VII on the Neckarfront, trading
content against style.

arXiv: rows A-E match style on {conv1_1}, {conv1_1, conv2_1}, ... {conv1_1 ... conv5_1} (w_l = 1/count);
columns alpha/beta = 1e-5, 1e-4, 1e-3, 1e-2. CVPR: the all-layers row only, alpha/beta 1e-4 ... 1e-1.
Content on conv4_2, white-noise start.

    python reproduce/fig3.py                 # arXiv Fig 3 -> figures/fig3.png
    python reproduce/fig3.py --paper cvpr    # CVPR Fig 4  -> figures/cvpr_fig4.png
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from reproduce import common  # noqa: E402
from reproduce.common import Panel  # noqa: E402

PHOTO = "neckarfront_tuebingen.jpg"       # [C] Fig 4 bitmaps; [A] Fig 3 caption
STYLE = "kandinsky_composition_vii.jpg"   # [A] Fig 3 caption; [C] Fig 4 identified from the bitmaps
CONTENT_LAYER = "conv4_2"                 # [A] Methods ("always conv4_2")
INIT = "noise"                            # implied by [A] Methods; [C] §3.3
ALL_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
ROWS = {"arxiv": tuple(ALL_LAYERS[:n] for n in range(1, 6)),  # [A] Fig 3 rows A-E
        "cvpr": (ALL_LAYERS,)}                                 # [C] Fig 4: all five layers
RATIOS = {"arxiv": (1e-5, 1e-4, 1e-3, 1e-2),  # printed above the columns of [A] Fig 3 (PAPER.md §1a)
          "cvpr": (1e-4, 1e-3, 1e-2, 1e-1)}   # printed on [C] Fig 4, top left to bottom right


def main(argv=None) -> int:
    args = common.parse(__doc__, argv, __file__, paper=True)
    cvpr = args.paper == "cvpr"
    s = common.Session(args, "cvpr_fig4" if cvpr else "fig3")
    grid = []
    for i, layers in enumerate(ROWS[args.paper]):
        row = []
        for ratio in RATIOS[args.paper]:
            cfg = s.config(paper_ratio=ratio, content=PHOTO, style=STYLE, content_layer=CONTENT_LAYER,
                           style_layers=layers, init=INIT)
            key = f"{'ABCDE'[i]}_{common.ratio_str(ratio)}" if not cvpr else common.ratio_str(ratio)
            row.append(Panel(key, cfg, title=s.ratio_label(ratio) if cvpr else "",
                             published=(f"fig4_kandinsky_{common.ratio_str(ratio)}.jpg",) if cvpr else ()))
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
