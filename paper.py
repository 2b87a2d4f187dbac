"""The paper's settings, each typed once, with where it comes from.

[A] Gatys, Ecker & Bethge, "A Neural Algorithm of Artistic Style", arXiv 1508.06576 v2 (2015).
[C] Gatys, Ecker & Bethge, "Image Style Transfer Using Convolutional Neural Networks", CVPR 2016.

Every script reads the paper from here; figure scripts add only their layout. The one place where this
repository departs from a printed number is ``equation_ratio``: it turns an alpha/beta as printed in the paper
into the alpha/beta of Eq. 7 that this repository's network needs for the same look.
"""
from __future__ import annotations

from dataclasses import dataclass

# --------------------------------------------------------------------------- #
# Inputs (file names of data/paper-images.tsv)
# --------------------------------------------------------------------------- #
PHOTO = "neckarfront_tuebingen.jpg"      # [A] Fig 2A, [C] Fig 3A (photo: Andreas Praefcke)
STARRY_NIGHT = "van_gogh_starry_night.jpg"
KANDINSKY = "kandinsky_composition_vii.jpg"
HEADLINE_PAIR = (PHOTO, STARRY_NIGHT)    # [C] Figs 1, 2, 6 bitmaps; the default of `python train.py`


@dataclass(frozen=True)
class Painting:
    panel: str          # letter in [A] Fig 2 / [C] Fig 3
    file: str
    caption: str
    arxiv_ratio: float  # alpha/beta printed in [A] Methods
    cvpr_ratio: float   # alpha/beta printed in the [C] Fig 3 caption
    published: str      # the [C] Fig 3 panel's file among the published CVPR bitmaps


PAINTINGS = (
    Painting("B", "turner_shipwreck_of_the_minotaur.jpg", "Turner, The Shipwreck of the Minotaur", 1e-3, 1e-3,
             "fig3_B_turner_1e-3.jpg"),
    Painting("C", STARRY_NIGHT, "van Gogh, The Starry Night", 1e-3, 8e-4, "fig3_C_starry_night_8e-4.jpg"),
    Painting("D", "munch_the_scream.jpg", "Munch, Der Schrei", 1e-3, 5e-3, "fig3_D_scream_5e-3.jpg"),
    Painting("E", "picasso_femme_nue_assise.jpg", "Picasso, Femme nue assise", 1e-4, 5e-4,
             "fig3_E_picasso_5e-4.jpg"),
    Painting("F", KANDINSKY, "Kandinsky, Composition VII", 1e-4, 5e-4, "fig3_F_kandinsky_5e-4.jpg"),
)
HEADLINE_RATIO = PAINTINGS[1].arxiv_ratio  # Starry Night in [A] Fig 2C; the default of `python train.py`

# --------------------------------------------------------------------------- #
# Layers and weights
# --------------------------------------------------------------------------- #
CONTENT_LAYER = "conv4_2"   # [A] Methods, [C] §2.3 and §3.2: every transfer figure
STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")  # [A] Methods, [C] §2.3; w_l = 1/5
STYLE_SUBSETS = tuple(STYLE_LAYERS[:n] for n in range(1, 6))  # [A] Fig 1, 3 rows; [C] Fig 1 style row
FIG1_CONTENT_LAYERS = {"arxiv": ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"),  # [A] Fig 1 caption
                       "cvpr": ("conv1_2", "conv2_2", "conv3_2", "conv4_2", "conv5_2")}   # [C] Fig 1 caption
FIG5_CONTENT_LAYERS = ("conv2_2", "conv4_2")  # [C] Fig 5 middle and bottom, §3.2

# --------------------------------------------------------------------------- #
# Printed alpha/beta (Eq. 7), per figure
# --------------------------------------------------------------------------- #
TRADE_OFF_RATIOS = {"arxiv": (1e-5, 1e-4, 1e-3, 1e-2),  # printed above the columns of [A] Fig 3
                    "cvpr": (1e-4, 1e-3, 1e-2, 1e-1)}   # printed on [C] Fig 4, top left to bottom right
FIG5_RATIO = 1e-3   # [C] Fig 5 caption, both panels
FIG6_RATIO = 1e-3   # [C] Fig 6 caption, all panels
FIG7_RATIO = 1e-2   # [C] Fig 7 caption

# --------------------------------------------------------------------------- #
# Start image and size
# --------------------------------------------------------------------------- #
INIT = "noise"      # [A] Methods "white noise"; [C] §3.3: "all images shown so far" (Fig 6A/B, 7: content)
FIG7_INIT = "content"  # [C] Fig 7 caption: initialised from the content image
SIZE = 512          # long edge, px: [C] §4 "about 512 x 512"; the [C] Figs 1, 3, 4, 6 bitmaps are 512x384
FIG1_STYLE_ASPECT = 3 / 4  # height / width of the [C] Fig 1 style row, 512x384 like its content row
FIG5_SIZE = 640     # [C] Fig 5 bitmaps are 640x426
FIG7_SIZE = 960     # [C] Fig 7 bitmap is 960x540

# --------------------------------------------------------------------------- #
# Printed alpha/beta -> the alpha/beta of Eq. 7 for this repository's network
# --------------------------------------------------------------------------- #
# The printed ratios hold for the authors' normalised network at the size of their figures. Two things move
# them here, each measured (figures/network_search.md):
# 1. The network. The authors' scales are not available and neither paper names the images they were measured
#    on, so ours are recalibrated (models.SCALES_FILES). At their printed ratios the published CVPR Fig 3
#    panels have a balance alpha L_content / beta L_style of 1e4-1e5 on our recalibrated networks, so a factor
#    of about 1e-5 to 1e-4 on the printed ratio balances them, and of 0.6-3.7 on the plain Caffe network
#    (figures/fidelity.md). The factor of each network is the one whose synthesis keeps as much of the photo
#    as the published panel does: for "layer", CVPR Fig 3C at 256 px, content distance 0.904 against the
#    published 0.920 at 8.5e-6 (0.739 at 3.4e-5, the factor that balances the published panel itself;
#    section 3). "filter" keeps the factor of figures/per_filter_network.md (CVPR Fig 3C's content distance
#    0.91 against 0.92), "layer-paper" its median balance factor (section 2). On the plain network the printed
#    ratio is used as it is.
# 2. The size. Eq. 1 sums over the M_l positions of the content layer while Eq. 4 divides by M_l^2: at a long
#    edge s instead of 512 px, alpha/beta needs (512/s)^2 for the same balance; at 256 px this keeps the
#    content retained within 0.01 of the 512 px run (figures/network_search.md, section 3).
REFERENCE_SIZE = 512
# Keyed by Config.network_name(): the normalisation scales' name (models.SCALES_FILES), or "plain".
NETWORK_FACTOR = {"layer": 8.5e-6, "filter": 2.5e-5, "layer-paper": 4.8e-5, "plain": 1.0}


def ratio_factor(size: int, network: str) -> float:
    """equation alpha/beta = printed alpha/beta x this factor (network factor x (512/size)^2)."""
    return NETWORK_FACTOR[network] * (REFERENCE_SIZE / size) ** 2


def equation_ratio(printed: float, size: int, network: str) -> float:
    """The alpha/beta of Eq. 7 that gives, on this repository's ``network`` at ``size`` px, the look the paper
    printed ``printed`` for."""
    return printed * ratio_factor(size, network)
