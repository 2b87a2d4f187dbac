"""The content/style trade-off as numbers: final L_content against L_style for alpha/beta from 1e-5 to 1e-1.

The papers show this trade-off only as pictures ([A] Fig 3 columns, [C] Fig 4). Here the Neckarfront is
synthesised in the style of Composition VII (content conv4_2, style conv1_1 ... conv5_1, w_l = 1/5, white
noise, the same seed for every ratio) at nine log-spaced ratios. As alpha/beta grows the content loss should
fall and the style loss rise; the script checks both and exits 1 if either is violated (not with --quick).

Which of our ratios looks like each published panel? With the published CVPR panels (--published or
$GATYS_PUBLISHED), every sweep panel is measured against each published Composition VII panel (CVPR Fig 4 and
Fig 3F) with compare.py's definitions, in print colour: the style distance, and the content distance, whose
crossing with the published panel's own gives the ratio at which ours keeps as much of the photo. The two
versions of the paper print different ratios for these panels (the trade-off row: 1e-4 ... 1e-1 in [C] Fig 4,
1e-5 ... 1e-2 in [A] Fig 3; Fig 3F: 5e-4 in [C], 1e-4 in [A] Fig 2F); the plot marks both.

    python reproduce/ratio_sweep.py          # -> figures/ratio_sweep.png + .json
"""
import sys
import tempfile
from pathlib import Path

import numpy as np

import repo  # noqa: F401  (the repository root on sys.path)
import common  # noqa: E402
import compare  # noqa: E402
import paper  # noqa: E402
from common import plt, ratio_str  # noqa: E402
from images import ImageError, resolve_image, save_rgb  # noqa: E402

PHOTO, STYLE = paper.PHOTO, paper.KANDINSKY  # as [A] Fig 3 / [C] Fig 4
RATIOS = tuple(float(f"{10 ** (k / 2):.3g}") for k in range(-10, -1))  # 1e-5, 3.16e-5, ..., 1e-1: half decades
KANDINSKY_F = next(p for p in paper.PAINTINGS if p.file == STYLE)
# (published panel, alpha/beta printed in [C], in [A]) for every published panel of Photo x Composition VII
COUNTERPARTS = tuple((common.trade_off_published(cvpr), cvpr, arxiv) for cvpr, arxiv in
                     zip(paper.TRADE_OFF_RATIOS["cvpr"], paper.TRADE_OFF_RATIOS["arxiv"])) + \
    ((KANDINSKY_F.published, KANDINSKY_F.cvpr_ratio, KANDINSKY_F.arxiv_ratio),)


def monotonic(values, rising: bool) -> list[int]:
    """Indices i where values[i] -> values[i + 1] goes the wrong way."""
    return [i for i in range(len(values) - 1) if (values[i + 1] < values[i]) == rising and values[i + 1] != values[i]]


def main(argv=None) -> int:
    args = common.parse(__doc__, argv, __file__, published=True)
    published = common.published_dir(args)
    if published is not None and not common.has_manifest(published):  # refused before hours of panels
        raise ImageError(f"{published / 'MANIFEST.tsv'} not found: --published (or ${common.PUBLISHED_ENV}) names "
                         "the directory of the published CVPR panels")
    s = common.FigureRun(args, "ratio_sweep")
    panels = [common.Panel(ratio_str(r), s.config(ratio=r, content=PHOTO, style=STYLE, style_layers=paper.STYLE_LAYERS,
                                                  init=paper.INIT), f"α/β = {ratio_str(r)}")
              for r in RATIOS]
    pictures = common.compute(s, [panels])
    content = [rec["losses"]["content"] for rec in s.records]
    style = [rec["losses"]["style"] for rec in s.records]

    matches = match_published(pictures, published, args.images, args.quick) if published else []
    fig, axes = plt.subplots(1, 3 if matches else 1, figsize=(19 if matches else 7, 5.5), layout="constrained",
                             squeeze=False)
    ax = axes[0][0]
    ax.loglog(style, content, "o-", color="tab:blue")
    for r, x, y in zip(RATIOS, style, content):  # right of its point: down a falling curve the labels keep its order
        ax.annotate(f"α/β = {ratio_str(r)}", (x, y), textcoords="offset points", xytext=(8, 0), va="center",
                    fontsize=8)
    ax.set_xlabel("final L_style (Eq. 5)")
    ax.set_ylabel("final L_content (Eq. 1, conv4_2)")
    ax.set_title("Neckarfront × Composition VII: final losses as α/β grows", fontsize=11)

    bad_content, bad_style = monotonic(content, rising=False), monotonic(style, rising=True)
    for name, bad, word in (("L_content", bad_content, "falls"), ("L_style", bad_style, "rises")):
        steps = ", ".join(f"{ratio_str(RATIOS[i])} -> {ratio_str(RATIOS[i + 1])}" for i in bad)
        print(f"{name} {word} monotonically as alpha/beta grows: " + ("yes" if not bad else f"NO, not at {steps}"))
    check = {"content_falls": not bad_content, "style_rises": not bad_style,
             "violations": {"content": [[RATIOS[i], RATIOS[i + 1]] for i in bad_content],
                            "style": [[RATIOS[i], RATIOS[i + 1]] for i in bad_style]}}
    if matches:
        plot_matches(axes[0][1], axes[0][2], matches)
        for m in matches:
            print(f"{m['published']}: printed {ratio_str(m['cvpr_ratio'])} ([C]), {ratio_str(m['arxiv_ratio'])} "
                  f"([A]); nearest of ours by style distance {ratio_str(m['nearest'])}, as much photo at "
                  + ("–" if m["content_matched"] is None else ratio_str(m["content_matched"])))
    else:
        print("no published panels (--published or $GATYS_PUBLISHED): the sweep is not matched to them",
              file=sys.stderr)
    s.save(fig, s.caption("α/β as labelled"), extra={"monotonic": check, "published_match": matches})
    return 0 if args.quick or not (bad_content or bad_style) else 1


def match_published(pictures: dict, published: Path, images: str | None, quick: bool) -> list[dict]:
    """compare.py's numbers for every sweep panel against each published Composition VII panel (only the first
    with --quick): style distance and our content distance in print colour, the published panel's content
    distance, our grain relative to its (JPEG round trip), the sweep ratio nearest in style, and the ratio at
    which our content distance equals the published panel's (log-interpolated; None outside the sweep)."""
    names = [c for c in COUNTERPARTS if (published / c[0]).is_file()][:1 if quick else None]
    if not names:
        return []
    net, photo = compare.reference_network(), resolve_image(PHOTO, images)
    cmap = compare.print_colour_map(published, photo)
    out = []
    with tempfile.TemporaryDirectory() as tmp:  # compare.py measures 8-bit files, as committed panels are
        paths = [save_rgb(pictures[ratio_str(r)], Path(tmp) / f"{ratio_str(r)}.png") for r in RATIOS]
        for name, cvpr, arxiv in names:
            rows = [compare.compare_pair(net, path, published / name, photo, cmap, with_grain=True) for path in paths]
            style = [row["style_distance_print"] for row in rows]
            ours = [row["content_distance_ours_print"] for row in rows]
            theirs = rows[0]["content_distance_published"]
            out.append({"published": name, "cvpr_ratio": cvpr, "arxiv_ratio": arxiv, "ratios": list(RATIOS),
                        "style_distance_print": style, "content_distance_ours_print": ours,
                        "content_distance_published": theirs, "grain_jpeg": [row["grain_ours_jpeg"] for row in rows],
                        "nearest": RATIOS[int(np.argmin(style))], "content_matched": crossing(RATIOS, ours, theirs)})
    return out


def crossing(ratios, distances, level: float) -> float | None:
    """The ratio at which a falling ``distances`` curve passes ``level``, interpolated in log ratio."""
    for (r0, d0), (r1, d1) in zip(zip(ratios, distances), zip(ratios[1:], distances[1:])):
        if d0 >= level >= d1 and d0 != d1:
            t = (d0 - level) / (d0 - d1)
            return float(10 ** (np.log10(r0) + t * (np.log10(r1) - np.log10(r0))))
    return None


def plot_matches(style_ax, content_ax, matches: list[dict]) -> None:
    """Style distance to each published panel, and our content distance against theirs, over our alpha/beta;
    each published panel's printed ratios marked: [C] open circle, [A] filled star."""
    for m, colour in zip(matches, plt.rcParams["axes.prop_cycle"].by_key()["color"]):
        label = m["published"].removesuffix(".jpg")
        style_ax.semilogx(m["ratios"], m["style_distance_print"], "-", color=colour, label=label)
        for printed, marker, fill in ((m["cvpr_ratio"], "o", "none"), (m["arxiv_ratio"], "*", colour)):
            style_ax.plot(printed, np.interp(np.log10(printed), np.log10(m["ratios"]), m["style_distance_print"]),
                          marker, color=colour, markerfacecolor=fill, markersize=10)
        content_ax.axhline(m["content_distance_published"], color=colour, ls="--", lw=1, label=label)
        if m["content_matched"] is not None:
            content_ax.plot(m["content_matched"], m["content_distance_published"], "|", color=colour, markersize=14)
    style_ax.set_xlabel("our α/β (printed units)")
    style_ax.set_ylabel("style distance to the published panel (print colour)")
    style_ax.set_title("Which of ours looks like each published panel?\n○ α/β printed in [C], ★ in [A]", fontsize=10)
    style_ax.legend(fontsize=7)
    content_ax.semilogx(matches[0]["ratios"], matches[0]["content_distance_ours_print"], "o-", color="black",
                        label="ours")
    content_ax.set_xlabel("our α/β (printed units)")
    content_ax.set_ylabel("content distance to the photo (conv4_2)")
    content_ax.set_title("How much of the photo: ours (black) and each published panel (dashed)", fontsize=10)
    content_ax.legend(fontsize=7)


if __name__ == "__main__":
    sys.exit(common.cli(main))
