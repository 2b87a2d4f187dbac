"""Fig 6 of CVPR [C]: the starting image. Neckarfront x The Starry Night at alpha/beta = 1e-3, started from
A the content photo, B the style image (resized to the photo), C four different white-noise samples.

    python reproduce/cvpr_fig6.py            # -> figures/cvpr_fig6.png
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from reproduce import common  # noqa: E402
from reproduce.common import Panel  # noqa: E402

PHOTO = "neckarfront_tuebingen.jpg"   # [C] Fig 6 bitmaps
STYLE = "van_gogh_starry_night.jpg"   # [C] Fig 6 bitmaps
RATIO = 1e-3                          # [C] Fig 6 caption: 1e-3 for all panels
CONTENT_LAYER = "conv4_2"             # not restated in [C] Fig 6; the standard setting
STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
# key, init, noise seed, title, published panel. The paper gives no seeds; ours are 1-4 in reading order.
STARTS = (("A", "content", 0, "A  init: content photo", "fig6_A_init_content.jpg"),
          ("B", "style", 0, "B  init: style image", "fig6_B_init_style.jpg"),
          *((f"C{k}", "noise", k, f"C  white noise, seed {k}", f"fig6_C_noise_seed{k}.jpg") for k in range(1, 5)))


def main(argv=None) -> int:
    args = common.parse(__doc__, argv, __file__)
    s = common.Session(args, "cvpr_fig6")
    panels = [Panel(key, s.config(paper_ratio=RATIO, content=PHOTO, style=STYLE, content_layer=CONTENT_LAYER,
                                  style_layers=STYLE_LAYERS, init=init, seed=seed),
                    title=title, published=(published,))
              for key, init, seed, title, published in STARTS]
    common.figure(s, [panels[0:2], panels[2:4], panels[4:6]],
                  title=f"CVPR Fig 6: Neckarfront × The Starry Night from different starts, {s.ratio_label(RATIO)}")
    return 0


if __name__ == "__main__":
    sys.exit(common.cli(main))
