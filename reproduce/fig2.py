"""Fig 2 of arXiv [A] = Fig 3 of CVPR [C]: the Neckarfront photo in the styles of five paintings.

Panel A is the photo; B-F are white-noise-initialised syntheses with content on conv4_2 and style on
conv1_1 ... conv5_1 (w_l = 1/5), each with its painting inset bottom-left, as in the paper. The two versions
print different alpha/beta for the same panels (PAPER.md §3).

    python reproduce/fig2.py                 # arXiv ratios -> figures/fig2.png
    python reproduce/fig2.py --paper cvpr    # CVPR ratios  -> figures/cvpr_fig3.png
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from reproduce import common  # noqa: E402
from reproduce.common import Panel  # noqa: E402

PHOTO = "neckarfront_tuebingen.jpg"  # panel A; [A] Fig 2 / [C] Fig 3 caption (photo: Andreas Praefcke)
CONTENT_LAYER = "conv4_2"            # [A] Methods, [C] §3
STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")  # both; w_l = 1/5
INIT = "noise"                       # [C] §3.3: "all images shown so far" start from white noise
# panel, painting, caption, alpha/beta in [A] (Methods), in [C] (Fig 3 caption), the published CVPR panel
PAINTINGS = (
    ("B", "turner_shipwreck_of_the_minotaur.jpg", "Turner, The Shipwreck of the Minotaur", 1e-3, 1e-3,
     "fig3_B_turner_1e-3.jpg"),
    ("C", "van_gogh_starry_night.jpg", "van Gogh, The Starry Night", 1e-3, 8e-4, "fig3_C_starry_night_8e-4.jpg"),
    ("D", "munch_the_scream.jpg", "Munch, Der Schrei", 1e-3, 5e-3, "fig3_D_scream_5e-3.jpg"),
    ("E", "picasso_femme_nue_assise.jpg", "Picasso, Femme nue assise", 1e-4, 5e-4, "fig3_E_picasso_5e-4.jpg"),
    ("F", "kandinsky_composition_vii.jpg", "Kandinsky, Composition VII", 1e-4, 5e-4, "fig3_F_kandinsky_5e-4.jpg"),
)


def main(argv=None) -> int:
    args = common.parse(__doc__, argv, __file__, paper=True)
    cvpr = args.paper == "cvpr"
    s = common.Session(args, "cvpr_fig3" if cvpr else "fig2")
    panels = [Panel("A", image=PHOTO, title="A  Neckarfront, Tübingen (photo)")]
    for key, painting, caption, arxiv_ratio, cvpr_ratio, published in PAINTINGS:
        ratio = cvpr_ratio if cvpr else arxiv_ratio
        cfg = s.config(paper_ratio=ratio, content=PHOTO, style=painting, content_layer=CONTENT_LAYER,
                       style_layers=STYLE_LAYERS, init=INIT)
        panels.append(Panel(key, cfg, f"{key}  {caption}\n{s.ratio_label(ratio)}", inset=painting,
                            published=(published,) if cvpr else ()))
    common.figure(s, [panels[0:2], panels[2:4], panels[4:6]],
                  title=f"{'CVPR Fig 3' if cvpr else 'arXiv Fig 2'}: the Neckarfront in five styles")
    return 0


if __name__ == "__main__":
    sys.exit(common.cli(main))
