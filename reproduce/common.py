"""Shared machinery of the figure scripts: the common flags, a cache of computed panels, and one grid layout.

A figure script states its settings as data, builds one ``Config`` per panel through ``FigureRun.config`` and
hands a grid of ``Panel``s to ``figure``. Each panel is computed once and cached as
``.cache/panels/<key>.png`` + ``.json``, where ``key`` is the sha256 of the panel's Config as canonical JSON
(without ``out`` and ``save_every``, which do not change the pixels). Re-running a figure after a layout change
therefore costs nothing, an interrupted figure resumes panel by panel, and figures that share a panel (e.g.
Starry Night at 1e-3 in Fig 2 and in the ablations) compute it once. The cache cannot see code changes:
CACHE_VERSION, part of the key, is bumped by hand when a change alters what a Config produces; a panel made
with another translation of the printed alpha/beta (paper.py) is recomputed. A Config's ``precision`` and
``device`` stay as given ("auto"), so a panel is reused on a machine where they resolve otherwise; each
figure's record says what its panels ran with and on which machine.

Every figure is written as <out-dir>/<name>.png with <name>.json beside it: the full Config, final losses,
evaluations and wall time of each panel, total wall time, the machine and the exact command line.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import json
import os
import shlex
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import repo  # noqa: F401  (the repository root on sys.path)

import matplotlib.pyplot as plt  # noqa: E402  (without a display matplotlib picks its file-only backend)
import torch  # noqa: E402

import machine  # noqa: E402
import models  # noqa: E402
import paper  # noqa: E402
from config import BAD_INPUT, Config, ConfigError, check  # noqa: E402
from images import (ImageError, check_directory_writable, load_rgb, open_image, resolve_image,  # noqa: E402
                    save_rgb, write_atomic, write_text_atomic)
from train import OneLineParser, Result, progress_bar, save_result, stylize  # noqa: E402

REPO = repo.ROOT
# Evaluations per panel. The paper gives no iteration count ([A], [C]); every panel also stops early by
# Config.tol (relative improvement < 1e-4 over 50 evaluations). 500 is what the committed 512 px figures used,
# so the bare commands rebuild them; figures/convergence.png shows that the loss still falls there.
BUDGET = 500
QUICK_SIZE, QUICK_BUDGET = 64, 5     # --quick: a smoke test of every code path, not a result
DEFAULT_OUT = REPO / "figures"
DEFAULT_CACHE = REPO / ".cache" / "panels"
QUICK_OUT = REPO / ".cache" / "quick"
DPI = 100  # figures are laid out in inches and saved at this resolution: one inch of panel is 100 of its pixels
# The published CVPR panels are never part of this repository: a user points here at the figure bitmaps of
# their own copy of the paper (extracted from the PDF, e.g. with `pdfimages -all`), named as in compare.py.
PUBLISHED_ENV = "GATYS_PUBLISHED"
CONFIG_FIELDS = {f.name: f for f in dataclasses.fields(Config)}

# Bump when a change to models.py, loss.py or train.py changes the pixels a Config produces: it is part of
# every cache key, so stale panels are recomputed instead of reused. 3: the bf16 network's split image and the
# stall rule (version 2 panels also span the Gram and bf16 changes before them; the figures committed before
# this bump were laid out from those).
CACHE_VERSION = 3


# --------------------------------------------------------------------------- #
# Command line shared by every figure script
# --------------------------------------------------------------------------- #
def parser(doc: str, script: str, versions: bool = False, published: bool = False,
           budget: int | None = None, size: int | None = None, only: bool = True) -> argparse.ArgumentParser:
    """The common flags. ``budget``, ``size``: this script's defaults where they are not BUDGET and the
    paper's usual 512 px. ``only``: the script lays out its panels through ``compute`` (--only works)."""
    name = Path(script).stem
    p = OneLineParser(prog=f"python reproduce/{name}.py", description=doc,
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    if versions:
        p.add_argument("--paper", choices=("arxiv", "cvpr"), default="arxiv",
                       help="whose settings: arXiv 1508.06576 [A] (default) or CVPR 2016 [C]")
    p.add_argument("--size", type=int, help=f"long edge of every panel in px (default {size or paper.SIZE}, "
                                            "as in the paper)")
    p.add_argument("--budget", type=int, help=f"budget in evaluations per panel (default {budget or BUDGET}); "
                                             "a panel also stops when its loss improves < 1e-4 over 50 evaluations")
    p.add_argument("--images", help="paper image directory (default $GATYS_IMAGES, else data/paper-images; "
                                    "missing images are downloaded and checksummed)")
    if published:
        p.add_argument("--published", type=Path, help=f"directory of the published CVPR panels, from your own "
                                                      f"copy of the paper (default ${PUBLISHED_ENV}); read at run "
                                                      "time, never copied into the repo")
    p.add_argument("--quick", action="store_true", help=f"smoke test: {QUICK_SIZE} px, {QUICK_BUDGET} evaluations, "
                                                        "written to .cache/quick (never to figures/)")
    p.add_argument("--out-dir", type=Path, help="where <figure>.png and .json go (default figures/; "
                                                ".cache/quick with --quick)")
    p.add_argument("--cache-dir", type=Path, help="panel cache (default .cache/panels; <out-dir>/cache with --quick)")
    for field in ("precision", "optimizer", "scales"):  # the Config's choices and default, as train.py offers them
        option = CONFIG_FIELDS[field]
        p.add_argument(f"--{field}", choices=option.metadata["choices"], help=f"default {option.default}: "
                                                                              f"{option.metadata['help']}")
    if only:
        p.add_argument("--only", type=lambda s: tuple(k for k in s.split(",") if k), metavar="KEY[,KEY]",
                       help="compute only these panels into the cache (keys as in the figure's JSON, e.g. C,B) "
                            "and write no figure: for splitting a long figure over several sessions")
        p.add_argument("--plan", action="store_true",
                       help="compute nothing: print one JSON line per computed panel (key, size, budget, cache "
                            "key, whether it is cached and by which commit) and exit")
    p.add_argument("--literal-ratio", action="store_true",
                   help="put the printed alpha/beta into Eq. 7 as they are, without paper.equation_ratio's "
                        "translation to this repository's network and size")
    p.set_defaults(script=name, default_budget=budget, default_size=size)
    return p


def resolve(p: argparse.ArgumentParser, argv: list[str] | None = None) -> argparse.Namespace:
    """Parse, keep the flags as given (``args.given``, for all.py to forward), then fill in the defaults."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = p.parse_args(argv)
    args.argv, args.given = argv, dict(vars(args))
    if args.size is None:  # 0 is given, and refused below
        args.size = QUICK_SIZE if args.quick else args.default_size or paper.SIZE
    if args.budget is None:
        args.budget = QUICK_BUDGET if args.quick else args.default_budget or BUDGET
    args.out_dir = (args.out_dir or (QUICK_OUT if args.quick else DEFAULT_OUT)).resolve()
    if args.quick and args.out_dir == DEFAULT_OUT.resolve():
        p.error("--quick never writes into figures/; choose another --out-dir")
    args.cache_dir = args.cache_dir or (args.out_dir / "cache" if args.quick else DEFAULT_CACHE)
    for name in ("size", "budget"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be at least 1, not {getattr(args, name)}")
    if not getattr(args, "plan", False):  # hours of panels must not end in a directory that cannot be written
        try:
            for directory in (args.out_dir, args.cache_dir):
                check_directory_writable(directory)
        except ImageError as e:
            p.error(str(e))
    return args


def parse(doc: str, argv: list[str] | None, script: str, **kw) -> argparse.Namespace:
    return resolve(parser(doc, script, **kw), argv)


def published_dir(args: argparse.Namespace) -> Path | None:
    """--published, else $GATYS_PUBLISHED, else None (the figures that need the published panels say so)."""
    given = getattr(args, "published", None) or os.environ.get(PUBLISHED_ENV)
    return Path(given) if given else None


def has_manifest(published: Path | None) -> bool:
    """Whether ``published`` is a directory of published panels (it holds their MANIFEST.tsv)."""
    return published is not None and (published / "MANIFEST.tsv").is_file()


def published_image(args: argparse.Namespace, name: str) -> str:
    """Path of an input that exists only as a published CVPR bitmap (cottage, Feininger, London, New York)."""
    if published_dir(args) is None:
        raise ImageError(f"{name}: this input exists only among the published CVPR panels; give --published DIR "
                         f"or ${PUBLISHED_ENV}")
    path = published_dir(args) / name
    if not path.is_file():
        raise ImageError(f"{path}: not found; this input exists only among the published CVPR panels "
                         f"(give --published DIR or ${PUBLISHED_ENV})")
    return str(path)


def cli(main, interrupted: str = "finished panels are cached; run the same command again to resume") -> int:
    """Run a script's main(); one-line errors with exit 2 for unusable inputs, 130 on Ctrl-C (``interrupted``:
    what the user has then)."""
    try:
        try:
            return main() or 0
        except OnlyDone:
            return 0
        finally:
            sys.stdout.flush()  # a reader that has gone (--plan | head) shows up here rather than at exit
    except BAD_INPUT as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted: {interrupted}", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. --plan | head: the reader has gone; nothing left to say to it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


# --------------------------------------------------------------------------- #
# Panel cache
# --------------------------------------------------------------------------- #
def cache_key(cfg: Config) -> str:
    """sha256 (first 16 hex digits) of the Config as canonical JSON, without out and save_every."""
    d = cfg.to_json()
    d.pop("out"), d.pop("save_every")
    d["cache_version"] = CACHE_VERSION
    return hashlib.sha256(json.dumps(d, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def cached(cfg: Config, cache_dir: Path = DEFAULT_CACHE) -> Path | None:
    """The cached PNG of this Config, if any (save_result writes the PNG before the JSON) and if it was made
    with the alpha/beta that Eq. 7 would use now: the key holds the printed ratio, and a new factor in
    paper.py must not reuse panels made with the old one."""
    png = Path(cache_dir) / f"{cache_key(cfg)}.png"
    if not (png.with_suffix(".json").is_file() and png.is_file()):
        return None
    made_with = json.loads(png.with_suffix(".json").read_text())["alpha_over_beta"]["equation"]
    return png if made_with == cfg.equation_ratio() else None


@functools.cache
def shared_network(spec: models.NetworkSpec) -> models.VGG19:
    """One network per distinct spec in this process: building one costs more than a whole --quick panel, and
    all.py runs ~80 panels."""
    return spec.build()


def run_panel(cfg: Config, cache_dir: Path = DEFAULT_CACHE, description: str = "") -> Result:
    """stylize(cfg) with a progress bar, or the cached Result of an identical Config."""
    png = cached(cfg, cache_dir)
    if png is not None:
        return Result.from_json(json.loads(png.with_suffix(".json").read_text()), load_rgb(png))
    bar = progress_bar(cfg.total_budget(), description)
    try:
        result = stylize(cfg, bar, shared_network(cfg.network()))
    finally:
        bar.close()
    if result.interrupted:  # never cache a partial panel
        raise KeyboardInterrupt
    if not result.finite:
        print(f"warning: {description}: {result.stop_reason}", file=sys.stderr)
    result.environment["git"] = git_state()  # the code that computed it, which a later figure may reuse
    save_result(result, Path(cache_dir) / f"{cache_key(cfg)}.png")
    return result


# --------------------------------------------------------------------------- #
# One figure: its panels, timing and the JSON sidecar
# --------------------------------------------------------------------------- #
def ratio_str(r: float) -> str:
    """1e-3, 8e-4, 3.16e-5."""
    mantissa, exponent = f"{r:.2e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def trade_off_published(cvpr_ratio: float) -> str:
    """The published CVPR Fig 4 panel printed with this alpha/beta, e.g. fig4_kandinsky_1e-3.jpg."""
    return f"fig4_kandinsky_{ratio_str(cvpr_ratio)}.jpg"


def git_state() -> dict:
    try:
        run = lambda *a: subprocess.run(["git", *a], cwd=REPO, capture_output=True, text=True, timeout=10).stdout
        return {"commit": run("rev-parse", "HEAD").strip(), "dirty": bool(run("status", "--porcelain").strip())}
    except (OSError, subprocess.SubprocessError):
        return {}


class FigureRun:
    """One figure: computes and records its panels, then writes <out-dir>/<name>.png and <name>.json."""

    def __init__(self, args: argparse.Namespace, name: str):
        self.args, self.name, self.records = args, name, []
        self.start = time.perf_counter()
        self.git = git_state()  # the tree the command started from; by save() its own output has made it dirty

    def config(self, **settings) -> Config:
        """A panel's Config: the common flags plus ``settings``; ``ratio`` is the alpha/beta as printed."""
        a = self.args
        base = {"size": a.size, "budget": a.budget, "images": a.images, "literal_ratio": a.literal_ratio}
        base.update({k: getattr(a, k) for k in ("precision", "optimizer", "scales") if getattr(a, k)})
        return Config(**{**base, **settings})

    def ratio_label(self, printed: float) -> str:
        return f"α/β = {ratio_str(printed)}"

    def run(self, key: str, cfg: Config, title: str = "", published=()) -> Result:
        """Compute (or fetch) one panel and record it. Panels with a published counterpart are also written
        to <out-dir>/panels/<figure>/<key>.png, which compare.py reads, with their record beside it as JSON."""
        was_cached = cached(cfg, self.args.cache_dir) is not None
        n = len(self.records) + 1
        result = run_panel(cfg, self.args.cache_dir, f"{self.name} {key} ({n})")
        if was_cached:
            print(f"{self.name} {key} ({n}): cached", file=sys.stderr)
        best = result.best()
        record = {"key": key, "title": title, "config": cfg.to_json(), "cache_key": cache_key(cfg),
                  "cached": was_cached, "evaluations": result.evaluations, "stop_reason": result.stop_reason,
                  "finite": result.finite, "wall_time_s": round(result.wall_time, 2),
                  "computed_at": result.environment.get("git"),  # None: cached before panels recorded it
                  "computed_on": {k: result.environment[k] for k in ("cpu", "gpu", "network_dtype")
                                  if k in result.environment},
                  "losses": {"total": best.get("total"), "content": best.get("content"), "style": best.get("style"),
                             "alpha_content": None if best.get("content") is None else
                             cfg.equation_ratio() * best["content"]},
                  "published": list(published), "image": None}
        if published:
            rel = Path("panels") / self.name / f"{key}.png"
            save_rgb(result.image, self.args.out_dir / rel)
            record["image"] = str(rel)
            beside = {"figure": self.name, **{k: v for k, v in record.items() if k != "cached"}}
            write_text_atomic((self.args.out_dir / rel).with_suffix(".json"),
                              json.dumps(beside, indent=1, ensure_ascii=False) + "\n")
        self.records.append(record)
        return result

    def caption(self, ratio_note: str | None = None) -> str:
        """One line: size, evaluations, and the published alpha/beta against the one used."""
        computed = [r for r in self.records if r.get("evaluations")]
        cfg = computed[0]["config"] if computed else {}
        evals = sorted(r["evaluations"] for r in computed)
        used = f"{evals[0]}–{evals[-1]}" if evals and evals[0] != evals[-1] else (str(evals[0]) if evals else "0")
        network = Config(**cfg).network_name() if cfg else Config().network_name()
        factor = paper.ratio_factor(self.args.size, network)
        ratio = ratio_note or ("α/β as printed, used as they are" if self.args.literal_ratio or factor == 1 else
                               f"α/β as printed; Eq. 7 uses printed × "
                               f"{paper.NETWORK_FACTOR[network]:.3g} × "
                               f"({paper.REFERENCE_SIZE}/{self.args.size})² = × {factor:.3g}")
        tol = f", tol {cfg['tol']:g}" if "tol" in cfg else ""
        return (("QUICK SMOKE TEST, not a result · " if self.args.quick else "")
                + f"{self.args.size} px long edge · {cfg.get('optimizer', '')}, budget {self.args.budget} evaluations"
                + f"{tol}, used {used} · {ratio}")

    def save(self, fig, caption: str, extra: dict | None = None) -> Path:
        """Write the figure PNG (atomically) with the caption under it, and its JSON sidecar."""
        out = self.args.out_dir / f"{self.name}.png"
        # wrapped to the figure's width (about 6.5 px per character at 8 pt), else a narrow figure cuts the
        # line off at both ends
        fig.supxlabel(textwrap.fill(caption, int(fig.get_figwidth() * DPI / 6.5)), fontsize=8)
        write_atomic(out, lambda tmp: fig.savefig(tmp, format="png", dpi=DPI))
        plt.close(fig)
        wall = time.perf_counter() - self.start
        meta = {"figure": self.name, "png": out.name, "caption": caption,
                "command": shlex.join(["python", f"reproduce/{self.args.script}.py", *self.args.argv]),
                "invoked_as": shlex.join(sys.argv),
                "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(self.args).items()
                             if k not in ("argv", "given", "default_budget", "default_size")},
                **(extra or {}),
                "panels": self.records,
                "wall_time_s": {"this_run": round(wall, 1),
                                "panels_computed_from_scratch": round(sum(r.get("wall_time_s") or 0
                                                                          for r in self.records), 1)},
                "machine": machine.describe(machine.resolve_device("auto")), "git": self.git}
        side = write_text_atomic(out.with_suffix(".json"), json.dumps(meta, indent=1, ensure_ascii=False) + "\n")
        fresh = sum(not r.get("cached", True) for r in self.records)
        print(f"wrote {out} and {side.name}: {len(self.records)} panels ({fresh} computed), {wall:.1f} s",
              file=sys.stderr)
        return out


# --------------------------------------------------------------------------- #
# Grid layout
# --------------------------------------------------------------------------- #
@dataclass
class Panel:
    key: str                          # short id: file name under figures/panels/<figure>/, key in the JSON
    config: Config | None = None      # what to compute; None: show ``image`` as it is (e.g. the content photo)
    title: str = ""
    image: str | None = None          # paper image name or path, shown when config is None
    inset: str | None = None          # style image shown small in the bottom-left corner, as in the paper
    published: tuple[str, ...] = ()   # counterpart file(s) among the published CVPR panels (compare.py)


def check_inputs(panels) -> None:
    """Fail with one line before any computation if a panel's Config is refused (config.check) or one of its
    input images is missing or unreadable: not after the panels before it have run for an hour."""
    decoded = set()
    for panel in filter(None, panels):
        cfg = panel.config
        if cfg is not None:
            check(cfg)
        specs = [panel.image, panel.inset] + ([] if cfg is None else [cfg.content, cfg.style, cfg.init_file()])
        for path in (resolve_image(spec, None if cfg is None else cfg.images) for spec in filter(None, specs)):
            if path not in decoded:
                open_image(path)
                decoded.add(path)


def to_array(rgb: torch.Tensor):
    return rgb[0].permute(1, 2, 0).clamp(0, 1).numpy()


def show(ax, rgb: torch.Tensor, title: str = "", inset: torch.Tensor | None = None) -> None:
    ax.imshow(to_array(rgb))
    ax.set_xticks([]), ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title, fontsize=9)
    if inset is not None:  # bottom-left, at most 40 % x 30 % of the panel, white frame
        box = ax.inset_axes([0, 0, 0.4, 0.3])
        box.imshow(to_array(inset))
        box.set_anchor("SW")
        box.set_xticks([]), box.set_yticks([])
        for spine in box.spines.values():
            spine.set_edgecolor("white"), spine.set_linewidth(2)


def compute(figure_run: FigureRun, grid: list[list[Panel | None]]) -> dict[str, torch.Tensor]:
    """Every panel of ``grid`` as RGB [1, 3, H, W]: computed or cached, or the image it shows."""
    return compute_figures([(figure_run, grid)])[0]


def compute_figures(figures: list[tuple[FigureRun, list[list[Panel | None]]]]) -> list[dict[str, torch.Tensor]]:
    """``compute`` for the figures of one script together, so that --plan lists all of their panels and --only
    takes keys from any of them (keys unique across the figures) before anything runs."""
    panels = [(run, p) for run, grid in figures for row in grid for p in row if p is not None]
    args = figures[0][0].args
    if getattr(args, "plan", False):
        print_plan(panels)
    if getattr(args, "only", None):
        compute_only(panels, args.only)
    check_inputs(p for _, p in panels)
    if args.quick:  # tiny images gain nothing from threads, and threads collapse on a shared, busy CPU
        torch.set_num_threads(1)
    return [picture_grid(figure_run, grid) for figure_run, grid in figures]


def picture_grid(figure_run: FigureRun, grid: list[list[Panel | None]]) -> dict[str, torch.Tensor]:
    """The pictures of one grid by panel key: computed or cached, or the image a panel shows."""
    pictures = {}
    for p in (p for row in grid for p in row if p is not None):
        if p.config is not None:
            pictures[p.key] = figure_run.run(p.key, p.config, p.title, p.published).image
        else:
            pictures[p.key] = load_rgb(resolve_image(p.image, figure_run.args.images), figure_run.args.size)
            figure_run.records.append({"key": p.key, "title": p.title, "config": None, "shows": p.image})
    return pictures


def layout(figure_run: FigureRun, grid: list[list[Panel | None]], pictures: dict[str, torch.Tensor], title: str,
           row_labels=None, col_titles=None, ratio_note: str | None = None, extra: dict | None = None) -> Path:
    """Lay out the panels (rows of Panels; None leaves a cell empty) with titles, labels and insets; save."""
    height, width = next(iter(pictures.values())).shape[-2:]
    cell = max(width, 320) / DPI  # inches: panels shown near their own pixel size
    nrows, ncols = len(grid), max(len(r) for r in grid)
    figsize = (max(ncols * cell + 0.5 * bool(row_labels), 8), nrows * (cell * height / width + 0.4) + 0.7)
    fig, axes = plt.subplots(nrows, ncols, squeeze=False, layout="constrained", figsize=figsize)
    fig.suptitle(title, fontsize=11)
    for i, row in enumerate(grid):
        for j in range(ncols):
            ax, panel = axes[i][j], row[j] if j < len(row) else None
            if panel is None:
                ax.axis("off")
                continue
            heading = " · ".join(filter(None, [col_titles[j] if col_titles and i == 0 else "", panel.title]))
            inset = load_rgb(resolve_image(panel.inset, figure_run.args.images), 160) if panel.inset else None
            show(ax, pictures[panel.key], heading, inset)
            if row_labels and j == 0:
                ax.set_ylabel(row_labels[i], fontsize=9)
    return figure_run.save(fig, figure_run.caption(ratio_note), extra)


def figure(figure_run: FigureRun, grid: list[list[Panel | None]], title: str, **layout_options) -> Path:
    """compute + layout: the whole of a grid figure."""
    return layout(figure_run, grid, compute(figure_run, grid), title, **layout_options)


class OnlyDone(Exception):
    """Raised once --only has computed its panels, or --plan has listed them: the script writes no figure;
    ``cli`` exits 0."""


def print_plan(panels: list[tuple[FigureRun, Panel]]) -> None:
    """--plan: what the figures would compute, one JSON line per computed panel; nothing is run. A cached panel
    also shows the commit that computed it (``computed_at``; None if cached before panels recorded it)."""
    for figure_run, p in panels:
        if p.config is not None:
            png = cached(p.config, figure_run.args.cache_dir)
            line = {"figure": figure_run.name, "key": p.key, "size": p.config.size, "budget": p.config.total_budget(),
                    "cache_key": cache_key(p.config), "cached": png is not None}
            if png is not None:
                line["computed_at"] = json.loads(png.with_suffix(".json").read_text())["environment"].get("git")
            print(json.dumps(line))
    raise OnlyDone


def compute_only(panels: list[tuple[FigureRun, Panel]], keys: tuple[str, ...]) -> None:
    """--only: run the named panels into the panel cache; the figures and their files stay as they are."""
    computed = {p.key: (run, p) for run, p in panels if p.config is not None}
    unknown = [key for key in keys if key not in computed]
    if unknown:
        names = ", ".join(dict.fromkeys(run.name for run, _ in panels))
        raise ConfigError(f"--only: no computed panel {', '.join(unknown)} in {names}; "
                          f"choose from {', '.join(computed)}")
    chosen = [computed[key] for key in keys]
    check_inputs(p for _, p in chosen)
    for figure_run, p in chosen:
        result = run_panel(p.config, figure_run.args.cache_dir, f"{figure_run.name} {p.key}")
        print(f"{figure_run.name} {p.key}: {cached(p.config, figure_run.args.cache_dir)} ({result.evaluations} "
              f"evaluations, {result.wall_time:.0f} s)", file=sys.stderr)
    raise OnlyDone
