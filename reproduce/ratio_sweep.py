"""The content/style trade-off as numbers: final L_content against L_style for alpha/beta from 1e-5 to 1e-1.

The papers show this trade-off only as pictures ([A] Fig 3 columns, [C] Fig 4). Here the Neckarfront is
synthesised in the style of Composition VII (content conv4_2, style conv1_1 ... conv5_1, w_l = 1/5, white
noise, the same seed for every ratio) at nine log-spaced ratios. As alpha/beta grows the content loss should
fall and the style loss rise; the script checks both and exits 1 if either is violated (not with --quick).

    python reproduce/ratio_sweep.py          # -> figures/ratio_sweep.png + .json
"""
import sys

import repo  # noqa: F401  (the repository root on sys.path)
import common  # noqa: E402
import paper  # noqa: E402
from common import plt, ratio_str  # noqa: E402

PHOTO, STYLE = paper.PHOTO, paper.KANDINSKY  # as [A] Fig 3 / [C] Fig 4
RATIOS = tuple(float(f"{10 ** (k / 2):.3g}") for k in range(-10, -1))  # 1e-5, 3.16e-5, ..., 1e-1: half decades


def monotonic(values, rising: bool) -> list[int]:
    """Indices i where values[i] -> values[i + 1] goes the wrong way."""
    return [i for i in range(len(values) - 1) if (values[i + 1] < values[i]) == rising and values[i + 1] != values[i]]


def main(argv=None) -> int:
    args = common.parse(__doc__, argv, __file__)
    s = common.FigureRun(args, "ratio_sweep")
    panels = [common.Panel(ratio_str(r), s.config(ratio=r, content=PHOTO, style=STYLE, style_layers=paper.STYLE_LAYERS,
                                                  init="noise"), f"α/β = {ratio_str(r)}")
              for r in RATIOS]
    common.compute(s, [panels])
    content = [rec["losses"]["content"] for rec in s.records]
    style = [rec["losses"]["style"] for rec in s.records]

    fig, ax = plt.subplots(figsize=(7, 5.5), layout="constrained")
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
    s.save(fig, s.caption("α/β as labelled"), extra={"monotonic": check})
    return 0 if args.quick or not (bad_content or bad_style) else 1


if __name__ == "__main__":
    sys.exit(common.cli(main))
