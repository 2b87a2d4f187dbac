"""The figure scripts cannot rot: `reproduce/all.py --quick` runs every one of them at 64 px with 5 evaluations
(about a minute on two busy CPU cores) and must leave each figure's PNG and JSON in the output directory.
The paper images come from conftest's image directory (the test skips without them); CVPR Fig 5 and 7 run only
where the published-panel directory exists."""
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

FIGURES = ("fig1", "cvpr_fig1", "fig2", "cvpr_fig3", "fig3", "cvpr_fig4", "cvpr_fig6", "ratio_sweep",
           "ablation_style_representation", "ablation_content_loss", "convergence", "coarse_to_fine")
NEED_PUBLISHED = ("cvpr_fig5", "cvpr_fig7")  # their inputs exist only among the published panels
SCRIPTS = ("fig1", "fig2", "fig3", "cvpr_fig5", "cvpr_fig6", "cvpr_fig7", "ratio_sweep", "ablations", "convergence",
           "all", "compare", "coarse_to_fine")


def run(*args, env=None):
    return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "MPLBACKEND": "Agg", **(env or {})})


def have_published() -> bool:
    import argparse

    from common import has_manifest, published_dir
    return has_manifest(published_dir(argparse.Namespace()))  # $GATYS_PUBLISHED


def test_all_quick(tmp_path, neckarfront):
    from common import git_state
    result = run("reproduce/all.py", "--quick", "--out-dir", str(tmp_path),
                 env={"GATYS_IMAGES": str(neckarfront.parent)})
    assert result.returncode == 0, result.stderr[-4000:]
    for name in FIGURES + (NEED_PUBLISHED if have_published() else ()):
        assert (tmp_path / f"{name}.png").stat().st_size > 0, name
        meta = json.loads((tmp_path / f"{name}.json").read_text())
        assert meta["settings"]["quick"] and meta["panels"] and meta["machine"], name
        assert all(p["evaluations"] > 0 for p in meta["panels"] if p["config"] is not None), name
        assert all(p["computed_at"] == git_state() for p in meta["panels"] if p["config"] is not None), name
        for p in meta["panels"]:  # a panel image in panels/ has its record beside it
            if p.get("image"):
                beside = json.loads((tmp_path / p["image"]).with_suffix(".json").read_text())
                assert beside["figure"] == name and beside["config"] == p["config"], (name, p["key"])
    if have_published():
        compare = (tmp_path / "compare.md").read_text()
        assert "| 3 | fig3_B_turner_1e-3.jpg |" in compare
        assert "| paper: fig6_C_noise_seed1.jpg vs fig3_C_starry_night_8e-4.jpg | 0.00" in compare  # seed spread
        assert "| munch_the_scream.jpg | fig3_D_inset_style_scream.jpg |" in compare
        sweep = json.loads((tmp_path / "ratio_sweep.json").read_text())["published_match"]  # --quick: the first
        assert [m["published"] for m in sweep] == ["fig4_kandinsky_1e-4.jpg"]
        assert len(sweep[0]["style_distance_print"]) == len(sweep[0]["ratios"]) == 9


def test_missing_image_is_one_line_and_exit_2(tmp_path):
    result = run("reproduce/fig2.py", "--quick", "--out-dir", str(tmp_path), "--images", str(tmp_path / "none"),
                 env={"GATYS_IMAGES_MIRROR": "http://127.0.0.1:9"})  # nothing listens: the download fails at once
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_an_unreadable_painting_is_refused_before_the_first_panel(tmp_path, neckarfront):
    """The second panel's painting is cut in half: fig2 stops in one line before computing the first."""
    images = tmp_path / "images"
    images.mkdir()
    for name in ("neckarfront_tuebingen.jpg", "turner_shipwreck_of_the_minotaur.jpg"):
        (images / name).write_bytes((neckarfront.parent / name).read_bytes())
    starry = (neckarfront.parent / "van_gogh_starry_night.jpg").read_bytes()
    (images / "van_gogh_starry_night.jpg").write_bytes(starry[: len(starry) // 2])
    result = run("reproduce/fig2.py", "--quick", "--out-dir", str(tmp_path / "out"), "--images", str(images))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {images / 'van_gogh_starry_night.jpg'}: not a readable image")
    assert not any((tmp_path / "out").rglob("*.png"))


def test_ratio_sweep_refuses_a_published_directory_without_manifest_before_any_panel(tmp_path, neckarfront):
    result = run("reproduce/ratio_sweep.py", "--quick", "--out-dir", str(tmp_path), "--published",
                 str(tmp_path / "none"), env={"GATYS_IMAGES": str(neckarfront.parent)})
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "MANIFEST.tsv" in result.stderr and not any(tmp_path.rglob("*.png"))


def test_quick_never_writes_into_figures():
    import common
    with pytest.raises(SystemExit):
        common.parse("", ["--quick", "--out-dir", str(REPO / "figures")], "fig1.py")


@pytest.mark.parametrize("script, argv, message", [
    ("fig2", ["--size", "0"], "--size must be at least 1, not 0"),
    ("fig2", ["--budget", "0"], "--budget must be at least 1, not 0"),
    ("fig2", ["--out-dir", "/proc/figures"], "/proc/figures: cannot write there"),
    ("coarse_to_fine", ["--final", "0"], "--final must be at least 1, not 0"),
    ("all", ["--only", "fig2,fig9"], "--only: no job fig9; choose from fig1,"),
    ("all", ["--published", "/proc"], "--published /proc: no MANIFEST.tsv there"),
    ("fidelity", ["--published", "/proc"], "--published /proc: no MANIFEST.tsv there"),
    ("network_search", ["balance", "--published", "/proc"], "--published /proc: no MANIFEST.tsv there"),
])
def test_scripts_refuse_bad_arguments_in_one_line_before_any_work(script, argv, message, capsys):
    """A 0 is refused, not taken for "not given"; an output directory that cannot be written is refused before
    hours of panels; all.py refuses a job it does not have and a --published without panels."""
    module = importlib.import_module(script)
    with pytest.raises(SystemExit) as exit:
        module.main(argv)
    err = capsys.readouterr().err.splitlines()
    assert exit.value.code == 2 and len(err) == 1 and err[0].startswith(f"error: {message}"), err


@pytest.mark.skipif(not have_published(), reason="needs $GATYS_PUBLISHED")
def test_compare_refuses_to_write_where_it_should_not_before_any_work(capsys):
    """--quick (a partial table) never lands in figures/compare.md, and an unwritable --figures is refused
    before the network is built."""
    import compare
    with pytest.raises(SystemExit) as exit:
        compare.main(["--quick"])
    assert exit.value.code == 2 and "--quick never writes into figures/" in capsys.readouterr().err
    assert compare.main(["--figures", "/proc/figures"]) == 2
    assert capsys.readouterr().err.startswith("error: /proc/figures/compare.md: cannot write there")


def test_network_flags_reach_every_panel_and_all_py_forwards_them():
    """--scales/--optimizer/--precision of a figure script end up in each panel's Config (and so in its cache key
    and JSON); all.py passes them on to every script."""
    import all as all_figures
    import common
    args = common.parse("", ["--scales", "filter", "--optimizer", "lbfgsb-unbounded", "--precision", "fp32"], "fig2.py")
    cfg = common.FigureRun(args, "fig2").config(ratio=1e-3)
    assert (cfg.scales, cfg.optimizer, cfg.precision) == ("filter", "lbfgsb-unbounded", "fp32")
    assert common.cache_key(cfg) != common.cache_key(common.FigureRun(common.parse("", [], "fig2.py"), "fig2")
                                                     .config(ratio=1e-3))
    assert {"scales", "optimizer", "precision"} <= set(all_figures.FORWARDED)


@pytest.mark.parametrize("script", ["fig3", "convergence"])
def test_the_json_command_names_the_script_that_ran(script, tmp_path):
    """The command a figure's JSON records is the script itself with the flags as given (it once named the
    last --scales-like option the parser added)."""
    import common
    import matplotlib.pyplot as plt
    args = common.parse("", ["--budget", "7", "--out-dir", str(tmp_path)], f"reproduce/{script}.py")
    common.FigureRun(args, "x").save(plt.figure(), "caption")
    meta = json.loads((tmp_path / "x.json").read_text())
    assert meta["command"] == f"python reproduce/{script}.py --budget 7 --out-dir {tmp_path}"
    assert meta["settings"]["script"] == script


def test_plateau_is_where_the_tol_rule_stops():
    from convergence import plateau
    totals = [100.0 / n for n in range(1, 400)]  # after n evaluations the last 50 improved by 50 / (n - 50)
    assert plateau(totals, 0.2) == 301            # the first n with 50 / (n - 50) < 0.2
    assert plateau([1.0] * 40, 1e-4) is None  # shorter than the window


def test_gain_is_the_relative_improvement_plateau_compares_with_tol():
    from convergence import gain, plateau
    totals = [100.0 / n for n in range(1, 400)]
    assert gain(totals, 301) == pytest.approx(50 / 251) and gain(totals, 300) == pytest.approx(50 / 250)
    assert gain(totals, 301) < 0.2 <= gain(totals, 300) and plateau(totals, 0.2) == 301
    assert gain(totals, 50) is None and gain(totals, 400) is None  # no full window; beyond the run


@pytest.mark.parametrize("script", SCRIPTS)
def test_help(script, capsys):
    module = importlib.import_module(script)  # reproduce/ is on sys.path (pytest.ini), as for the scripts
    with pytest.raises(SystemExit) as exit:
        module.main(["--help"])
    assert exit.value.code == 0 and capsys.readouterr().out.startswith(f"usage: python reproduce/{script}.py")


def test_only_computes_the_named_panels_into_the_cache_and_writes_no_figure(tmp_path, neckarfront):
    env = {"GATYS_IMAGES": str(neckarfront.parent)}
    result = run("reproduce/fig2.py", "--quick", "--out-dir", str(tmp_path), "--only", "C", env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(list((tmp_path / "cache").glob("*.png"))) == 1 and not (tmp_path / "fig2.png").exists()
    result = run("reproduce/fig2.py", "--quick", "--out-dir", str(tmp_path), "--only", "Z", env=env)
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        "error: --only: no computed panel Z in fig2; choose from B, C, D, E, F"]


def test_coarse_to_fine_names_runs_timed_on_different_machines():
    from coarse_to_fine import timed_apart
    here = {"cpu": "AMD EPYC", "device": "cpu", "network_dtype": "bfloat16", "torch_threads": 2}
    assert timed_apart(here, dict(here)) is None
    assert timed_apart(here, {**here, "cpu": "Intel Xeon", "torch_threads": 16}) == \
        "cpu AMD EPYC vs Intel Xeon; torch_threads 2 vs 16"


def test_a_cached_panel_made_with_another_factor_is_not_reused(tmp_path, monkeypatch):
    """The cache key holds the printed alpha/beta; a panel made when paper.py translated it differently is a
    miss, so that a recalibrated factor recomputes the panels instead of relabelling old ones."""
    import torch
    import common
    import paper
    from train import Config, Result, save_result
    cfg = Config(content="neckarfront_tuebingen.jpg", style="van_gogh_starry_night.jpg", size=64, budget=1)
    save_result(Result(cfg, torch.zeros(1, 3, 48, 64), [{"total": 1.0}], 1, 0.0, "budget"),
                tmp_path / f"{common.cache_key(cfg)}.png")
    assert common.cached(cfg, tmp_path) == tmp_path / f"{common.cache_key(cfg)}.png"
    monkeypatch.setitem(paper.NETWORK_FACTOR, cfg.network_name(), 2 * paper.NETWORK_FACTOR[cfg.network_name()])
    assert common.cached(cfg, tmp_path) is None


def test_plan_lists_the_panels_and_what_is_cached_without_computing(tmp_path, neckarfront):
    env = {"GATYS_IMAGES": str(neckarfront.parent)}
    quick = ("--quick", "--out-dir", str(tmp_path))
    assert run("reproduce/fig2.py", *quick, "--only", "C", env=env).returncode == 0
    result = run("reproduce/fig2.py", *quick, "--plan", env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    plan = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(p["key"], p["size"], p["budget"], p["cached"]) for p in plan] == [
        (k, 64, 5, k == "C") for k in "BCDEF"]
    from common import git_state
    assert [p.get("computed_at", "-") for p in plan] == ["-", git_state(), "-", "-", "-"]
    assert sorted(f.stem for f in (tmp_path / "cache").glob("*.png")) == [plan[1]["cache_key"]]  # nothing new
    assert not (tmp_path / "fig2.png").exists()


def test_plan_and_only_cover_every_figure_of_a_script_with_two(tmp_path, neckarfront):
    """ablations.py makes two figures: --plan lists the panels of both, and --only takes a key of the second
    (a content-only panel, the cheapest) without computing anything of the first."""
    env = {"GATYS_IMAGES": str(neckarfront.parent)}
    quick = ("--quick", "--out-dir", str(tmp_path))
    result = run("reproduce/ablations.py", *quick, "--plan", env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    plan = [json.loads(line) for line in result.stdout.splitlines()]
    assert [p["figure"] for p in plan] == ["ablation_style_representation"] * 4 + ["ablation_content_loss"] * 6
    result = run("reproduce/ablations.py", *quick, "--only", "dot_content_only", env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    dot = next(p["cache_key"] for p in plan if p["key"] == "dot_content_only")
    assert [f.stem for f in (tmp_path / "cache").glob("*.png")] == [dot] and not list(tmp_path.glob("*.png"))


def test_plan_into_a_pipe_whose_reader_has_gone_exits_quietly(neckarfront):
    """`--plan | head -1`: once the reader has gone, writing raises BrokenPipeError. Here the read end is
    closed before the script starts, so that happens on every run: the script must still end with 0 and
    no traceback."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run([sys.executable, "reproduce/ratio_sweep.py", "--plan"], cwd=REPO, text=True,
                              stdout=write_end, stderr=subprocess.PIPE, timeout=120,
                              env={**os.environ, "MPLBACKEND": "Agg", "GATYS_IMAGES": str(neckarfront.parent)})
    finally:
        os.close(write_end)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr and "Error" not in proc.stderr, proc.stderr


def test_time_to_quality_reads_the_crossing_at_the_final_size():
    from coarse_to_fine import time_to_quality
    direct = [{"total": t, "seconds": s} for t, s in ((10, 1), (8, 2), (6, 3), (5, 4))]
    scheduled = ([{"total": t, "seconds": s, "size": 256} for t, s in ((20, 0.1), (1, 0.2))] +  # own objective
                 [{"total": t, "seconds": s, "size": 512} for t, s in ((7, 0.5), (5.5, 0.9), (4.9, 1.3), (6, 1.7))])
    got = time_to_quality(direct, scheduled, 512)
    assert got == {"direct_loss": 5.0, "direct_seconds": 4.0, "scheduled_loss": 4.9, "scheduled_seconds": 1.7,
                   "seconds_to_direct_loss": 1.3, "fraction": 1.3 / 4.0}
    assert time_to_quality(direct, scheduled[:4], 512)["fraction"] is None  # never reached


def test_final_stage_terms_are_multiples_of_the_direct_runs_best():
    from coarse_to_fine import terms_against_direct, terms_at
    direct = [{"total": t, "content": c, "style": st} for t, c, st in ((9, 6, 3), (5, 4, 1), (6, 2, 4))]
    scheduled = ([{"total": 1, "content": 1, "style": 1, "size": 256}] +  # a coarse stage: not counted
                 [{"total": t, "content": c, "style": st, "size": 512} for t, c, st in ((12, 8, 4), (6, 5, 1))])
    terms = terms_against_direct(direct, scheduled, 512)
    assert terms["content"].tolist() == [2.0, 1.25] and terms["style"].tolist() == [4.0, 1.0]  # against (4, 1)
    assert terms_at(terms, (1, 2, 3)) == {"1": {"content": 2.0, "style": 4.0}, "2": {"content": 1.25, "style": 1.0}}


def test_crossing_interpolates_in_log_ratio_and_is_none_outside():
    from ratio_sweep import crossing
    ratios, falling = (1e-4, 1e-3, 1e-2), (1.5, 1.0, 0.5)
    assert crossing(ratios, falling, 1.0) == pytest.approx(1e-3)
    assert crossing(ratios, falling, 0.75) == pytest.approx(10 ** -2.5)  # halfway in distance = halfway in log
    assert crossing(ratios, falling, 1.25) == pytest.approx(10 ** -3.5)
    assert crossing(ratios, falling, 1.6) is None and crossing(ratios, falling, 0.4) is None


def test_coarse_to_fine_quick(tmp_path, neckarfront):
    result = run("reproduce/coarse_to_fine.py", "--quick", "--out-dir", str(tmp_path), "--panels", "C",
                 "--schedule", "32:2", "--final", "2", env={"GATYS_IMAGES": str(neckarfront.parent)})
    assert result.returncode == 0, result.stderr[-2000:]
    meta = json.loads((tmp_path / "coarse_to_fine.json").read_text())
    assert set(meta["time_to_quality"]["C"]) >= {"direct_loss", "fraction", "final_stage_terms"}
    panels = [json.loads(p.read_text()) for p in (tmp_path / "cache").glob("*.json")]
    scheduled = [p for p in panels if p["config"]["schedule"]]
    assert len(panels) == 2 and [h["size"] for h in scheduled[0]["history"]] == [32, 32, 64, 64]


def test_precision_quick(tmp_path, neckarfront):
    """precision.py at 32 px, 3 evaluations, two seeds: one fp32 and one bf16 run per seed, each judged in float32,
    the differences in the JSON computed from those judgements, the picture written. Both runs of a seed start
    from the same noise, so their first (own) losses agree to bf16's rounding of the activations (~1e-3)."""
    result = run("reproduce/precision.py", "--size", "32", "--budget", "3", "--seeds", "0,1", "--out-dir",
                 str(tmp_path), env={"GATYS_IMAGES": str(neckarfront.parent)})
    assert result.returncode == 0, result.stderr[-4000:]
    summary = json.loads((tmp_path / "precision.json").read_text())
    assert (tmp_path / "precision.png").stat().st_size > 0
    assert list(summary["seeds"]) == ["0", "1"]
    for seed in summary["seeds"].values():
        fp32, bf16 = seed["runs"]["fp32"], seed["runs"]["bf16"]
        assert fp32["environment"]["network_dtype"] == "float32"
        assert bf16["environment"]["network_dtype"] == "bfloat16"
        assert seed["relative_difference"] == pytest.approx(bf16["fp32_loss"] / fp32["fp32_loss"] - 1)
        assert bf16["history_total"][0] == pytest.approx(fp32["history_total"][0], rel=1e-2)
    first = [s["runs"]["fp32"]["history_total"][0] for s in summary["seeds"].values()]
    assert first[0] != first[1]  # the seeds are different noise
    mean = sum(s["relative_difference"] for s in summary["seeds"].values()) / 2
    assert summary["mean_relative_difference"] == pytest.approx(mean)


def test_rounded_weight_energies_against_a_known_scaling():
    """Scaling one layer's W and b by c scales its rectified output by c (ReLU is positively homogeneous), so
    its energy by c^2: 'alone' is c^2 - 1 at every layer and 'compounded' c^(2k) - 1; the first layer sees the
    exact input in both runs, so there 'whole' equals 'alone'. Identity 'rounding' changes nothing. Float64
    throughout, which no CPU kind computes in bf16 or AMX: the largest relative error measured (AMD EPYC) was
    2e-13, four orders below the tolerance 1e-9."""
    import precision
    import torch
    import models
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 50
    weights = {name: (w.double(), b.double()) for name, (w, b) in models.load_caffe_weights().items()}
    c = 1.001  # in float64, so that c * W is exact to 1e-16 (in float32 its rounding would show at 1e-7)
    rows = precision.rounded_weight_energies(x, weights, "conv3_1", rounding=lambda t: t * c)
    assert [r["layer"] for r in rows] == ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1"]
    for k, r in enumerate(rows, 1):
        assert r["alone"] == pytest.approx(c ** 2 - 1, rel=1e-9)
        assert r["compounded"] == pytest.approx(c ** (2 * k) - 1, rel=1e-9)
    assert rows[0]["whole"] == rows[0]["alone"]
    same = precision.rounded_weight_energies(x, weights, "conv2_1", rounding=lambda t: t)
    assert all(r[key] == 0.0 for r in same for key in ("alone", "compounded", "whole"))


def test_precision_rounded_weights_refuses_a_photo_too_small_in_one_line(neckarfront):
    result = run("reproduce/precision.py", "--rounded-weights", "--size", "8",
                 env={"GATYS_IMAGES": str(neckarfront.parent)})
    assert result.returncode == 2 and result.stdout == "" and len(result.stderr.splitlines()) == 1, result.stderr
    assert "conv5_1 needs at least 16 px" in result.stderr


def test_precision_judge_is_the_loss_the_run_computes(tmp_path, neckarfront, starry_night):
    """--judge's float32 judge of a run's Config gives the loss the run itself computed at the same image (its
    start), and the command reads a saved result's settings from its JSON."""
    import precision
    import torch
    import train
    cfg = train.Config(content=str(neckarfront), style=str(starry_night), size=32, precision="fp32", device="cpu",
                       budget=1, tol=0.0, out=str(tmp_path / "out.png"))
    result = train.stylize(cfg)
    judge, prep, hw = precision.judge_of(cfg, "fp32")
    net = cfg.network().build()
    content_x = net.preprocessing.to_net(train.prepare_images(cfg, torch.device("cpu"))[0])
    x0 = train.initial_image(cfg, net, content_x, None, content_x.shape, content_x.device)
    assert hw == (24, 32) and judge(x0) == pytest.approx(result.history[0]["total"], rel=1e-6)
    train.save_result(result, cfg.out)
    judged = run("reproduce/precision.py", "--judge", cfg.out)
    assert judged.returncode == 0, judged.stderr[-3000:]
    assert judged.stdout.startswith(f"{cfg.out}: L_total fp32 ") and "the bf16 network reads" in judged.stdout
    missing = run("reproduce/precision.py", "--judge", str(tmp_path / "none.png"))
    assert missing.returncode == 2 and missing.stderr.startswith(f"error: --judge: {tmp_path / 'none.json'} is not")
    (tmp_path / "figure.json").write_text('{"panels": []}')  # a figure's JSON, not a result's
    (tmp_path / "figure.png").write_bytes((tmp_path / "out.png").read_bytes())
    figure = run("reproduce/precision.py", "--judge", str(tmp_path / "figure.png"))
    assert figure.returncode == 2 and len(figure.stderr.splitlines()) == 1, figure.stderr
    (tmp_path / "broken.json").write_text((tmp_path / "out.json").read_text())
    (tmp_path / "broken.png").write_bytes(b"not a png")
    broken = run("reproduce/precision.py", "--judge", cfg.out, str(tmp_path / "broken.png"))
    assert broken.returncode == 2 and broken.stdout == "" and broken.stderr.startswith("error: ")
    assert len(broken.stderr.splitlines()) == 1, broken.stderr
