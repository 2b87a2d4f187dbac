"""Two ablations a reader of the paper asks about; one figure each, with a conclusion in its JSON.

1. ablation_style_representation: why Gram matrices? Style loss on the raw feature maps (the painting's
   responses position by position, Config.style_representation='raw') against the paper's Gram matrices
   (Eq. 3-5: which features occur together, summed over positions). Style-only reconstructions of The Starry
   Night, and a transfer onto the Neckarfront at alpha/beta = 1e-3.
2. ablation_content_loss: why the squared error? The paper's Eq. 1 against a dot product ||P||^2 - <F, P>
   and a cosine ||P||^2 (1 - cos(F, P)) (Config.content_loss; see loss.py). Content-only reconstructions
   from conv4_2, and the same transfer.

The conclusions are written from measured numbers (pixel correlations, contrast); a --quick run leaves a
placeholder instead, since 64 px and 5 evaluations show nothing.

    python reproduce/ablations.py            # -> figures/ablation_style_representation.png, ablation_content_loss.png
"""
import sys

import torch

import repo  # noqa: F401  (the repository root on sys.path)
import common  # noqa: E402
import paper  # noqa: E402
from common import Panel  # noqa: E402
from images import load_rgb, resolve_image  # noqa: E402

PHOTO, STYLE = paper.HEADLINE_PAIR
RATIO = paper.HEADLINE_RATIO            # [A] Fig 2 C
CONTENT_LAYER = paper.CONTENT_LAYER     # [C] Fig 1 d shows its reconstruction
STYLE_REPRESENTATIONS = ("gram", "raw")
CONTENT_LOSSES = ("sse", "dot", "cosine")
PENDING = "TODO: conclusion pending a full-size run (this was a --quick run: 64 px, 5 evaluations). Measured: "


def grey(rgb: torch.Tensor) -> torch.Tensor:
    return rgb[0].mean(0)


def correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Pearson correlation of two images' grey levels (b resized to a's size): shared layout."""
    b = torch.nn.functional.interpolate(b, size=a.shape[-2:], mode="bilinear", align_corners=False)
    x, y = grey(a).flatten(), grey(b).flatten()
    x, y = x - x.mean(), y - y.mean()
    return float((x @ y) / (x.norm() * y.norm()).clamp_min(1e-12))


def contrast(a: torch.Tensor, b: torch.Tensor) -> float:
    """Std of a's grey levels over b's: 1 = the same contrast."""
    return float(grey(a).std() / grey(b).std().clamp_min(1e-6))


def style_representation_grid(s: common.FigureRun) -> list[list[Panel]]:
    return [[Panel(f"{rep}_style_only", s.config(style=STYLE, style_representation=rep), f"{rep}: style only",
                   inset=STYLE),
             Panel(f"{rep}_transfer", s.config(ratio=RATIO, content=PHOTO, style=STYLE, style_representation=rep),
                   f"{rep}: transfer, {s.ratio_label(RATIO)}", inset=STYLE)]
            for rep in STYLE_REPRESENTATIONS]


def style_representation(s: common.FigureRun, grid: list[list[Panel]], pictures: dict[str, torch.Tensor]) -> None:
    args = s.args
    photo, painting = (load_rgb(resolve_image(n, args.images), args.size) for n in (PHOTO, STYLE))
    m = {key: {"corr_painting": round(correlation(x, painting), 3), "corr_photo": round(correlation(x, photo), 3)}
         for key, x in pictures.items()}
    numbers = (f"pixel correlation with the painting: style-only raw {m['raw_style_only']['corr_painting']:.2f}, "
               f"Gram {m['gram_style_only']['corr_painting']:.2f}; transfer, with the photo: raw "
               f"{m['raw_transfer']['corr_photo']:.2f}, Gram {m['gram_transfer']['corr_photo']:.2f}; with the "
               f"painting: raw {m['raw_transfer']['corr_painting']:.2f}, "
               f"Gram {m['gram_transfer']['corr_painting']:.2f}.")
    if args.quick:
        conclusion = PENDING + numbers
    elif m["raw_style_only"]["corr_painting"] > m["gram_style_only"]["corr_painting"] + 0.2:
        conclusion = ("Matching the raw feature maps rebuilds the painting itself, its layout included, while the "
                      "Gram matrices rebuild a texture of it with the layout lost: they record which features occur "
                      "together, summed over positions, and that position-free summary is what lets the paper call "
                      "them a style representation and combine them with another image's layout. " + numbers)
    else:
        conclusion = ("The expected difference (raw feature maps copying the painting's layout, Gram matrices not) "
                      "does not show in these numbers; check the figure. " + numbers)
    common.layout(s, grid, pictures, "Ablation: style loss on Gram matrices (paper) vs raw feature maps",
                  row_labels=["Gram matrices (Eq. 3-5)", "raw feature maps"],
                  extra={"measures": m, "conclusion": conclusion})


def content_loss_grid(s: common.FigureRun) -> list[list[Panel]]:
    recon = [Panel(f"{loss}_content_only", s.config(content=PHOTO, content_layer=CONTENT_LAYER, content_loss=loss,
                                                   ratio=1.0, literal_ratio=True), f"{loss}: content only, {CONTENT_LAYER}")
             for loss in CONTENT_LOSSES]
    transfer = [Panel(f"{loss}_transfer", s.config(ratio=RATIO, content=PHOTO, style=STYLE, content_loss=loss),
                      f"{loss}: transfer, {s.ratio_label(RATIO)}", inset=STYLE) for loss in CONTENT_LOSSES]
    return [recon, transfer]


def content_loss(s: common.FigureRun, grid: list[list[Panel]], pictures: dict[str, torch.Tensor]) -> None:
    args = s.args
    photo = load_rgb(resolve_image(PHOTO, args.images), args.size)
    m = {key: {"corr_photo": round(correlation(x, photo), 3), "contrast_vs_photo": round(contrast(x, photo), 3)}
         for key, x in pictures.items()}
    numbers = "; ".join(f"{k}: correlation with the photo {v['corr_photo']:.2f}, contrast {v['contrast_vs_photo']:.2f}"
                        f" x the photo's" for k, v in m.items()) + "."
    if args.quick:
        conclusion = PENDING + numbers
    else:
        sse, dot, cos = (m[f"{loss}_content_only"] for loss in CONTENT_LOSSES)
        parts = [f"Content-only reconstructions from {CONTENT_LAYER}: the squared error (Eq. 1) reaches a pixel "
                 f"correlation of {sse['corr_photo']:.2f} with the photo at {sse['contrast_vs_photo']:.2f} x its "
                 "contrast."]
        parts.append("The dot product, which rewards ever stronger responses along P instead of matching them, "
                     + ("inflates the contrast" if dot["contrast_vs_photo"] > 1.25 * sse["contrast_vs_photo"]
                        else "does not inflate the contrast here")
                     + f" ({dot['contrast_vs_photo']:.2f} x; correlation {dot['corr_photo']:.2f}).")
        parts.append("The cosine, blind to the overall strength of the responses, "
                     + ("keeps the structure" if cos["corr_photo"] > sse["corr_photo"] - 0.1 else "loses structure")
                     + " and " + ("lets the intensity drift" if abs(cos["contrast_vs_photo"] - 1) >
                                  abs(sse["contrast_vs_photo"] - 1) + 0.15 else "keeps the contrast close to Eq. 1's")
                     + f" (correlation {cos['corr_photo']:.2f}, contrast {cos['contrast_vs_photo']:.2f} x).")
        conclusion = " ".join(parts) + " All numbers: " + numbers
    common.layout(s, grid, pictures, "Ablation: content loss, squared error (paper) vs dot product vs cosine",
                  row_labels=[f"content only ({CONTENT_LAYER})", "transfer"],
                  extra={"measures": m, "conclusion": conclusion})


def main(argv=None) -> int:
    args = common.parse(__doc__, argv, __file__)
    style = common.FigureRun(args, "ablation_style_representation")
    content = common.FigureRun(args, "ablation_content_loss")
    style_grid, content_grid = style_representation_grid(style), content_loss_grid(content)
    style_pictures, content_pictures = common.compute_figures([(style, style_grid), (content, content_grid)])
    style_representation(style, style_grid, style_pictures)
    content_loss(content, content_grid, content_pictures)
    return 0


if __name__ == "__main__":
    sys.exit(common.cli(main))
