"""Fig 6 of CVPR [C]: the starting image. Neckarfront x The Starry Night at alpha/beta = 1e-3, started from
A the content photo, B the style image (resized to the photo), C four different white-noise samples.

    python reproduce/cvpr_fig6.py            # -> figures/cvpr_fig6.png
"""
import sys

import repo  # noqa: F401  (the repository root on sys.path)
import common  # noqa: E402
import paper  # noqa: E402
from common import Panel  # noqa: E402

PHOTO, STYLE = paper.HEADLINE_PAIR    # [C] Fig 6 bitmaps; layers not restated there: the standard ones
# key, init, noise seed, title, published panel. The paper gives no seeds; ours are 1-4 in reading order.
STARTS = (("A", "content", 0, "A  init: content photo", "fig6_A_init_content.jpg"),
          ("B", "style", 0, "B  init: style image", "fig6_B_init_style.jpg"),
          *((f"C{k}", "noise", k, f"C  white noise, seed {k}", f"fig6_C_noise_seed{k}.jpg") for k in range(1, 5)))


def main(argv=None) -> int:
    args = common.parse(__doc__, argv, __file__)
    s = common.FigureRun(args, "cvpr_fig6")
    panels = [Panel(key, s.config(ratio=paper.FIG6_RATIO, content=PHOTO, style=STYLE,
                                  content_layer=paper.CONTENT_LAYER, style_layers=paper.STYLE_LAYERS, init=init, seed=seed),
                    title=title, published=(published,))
              for key, init, seed, title, published in STARTS]
    common.figure(s, [panels[0:2], panels[2:4], panels[4:6]],
                  title=f"CVPR Fig 6: Neckarfront × The Starry Night from different starts, {s.ratio_label(paper.FIG6_RATIO)}")
    return 0


if __name__ == "__main__":
    sys.exit(common.cli(main))
