"""The command line on bad and unusual input, run as ``python train.py ...`` subprocesses in the repo.

Bad input: exit code 2, exactly one stderr line starting 'error:' that names the file, no traceback, and no
output PNG/JSON. Unusual image modes are converted and run. NaN: exit 3 with the image saved. Ctrl-C: exit 130
with the image and JSON saved. Never a *.tmp left behind.
"""
from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import REPO, cli_env

FAST = ("--size", "64", "--iters", "3")


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def assert_refused(proc: subprocess.CompletedProcess, out: Path, *names: str) -> str:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = error_lines(proc.stderr)
    assert len(errors) == 1, proc.stderr
    for name in names:
        assert name in errors[0], errors[0]
    assert not out.exists() and not out.with_suffix(".json").exists()
    assert not list(out.parent.glob("*.tmp"))
    return errors[0]


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, image_dir):
    d = tmp_path_factory.mktemp("bad")
    jpeg = (image_dir / "neckarfront_tuebingen.jpg").read_bytes()
    (d / "empty.jpg").write_bytes(b"")
    (d / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (d / "notes.png").write_text("not an image, just text with a .png name\n")
    return d


@pytest.mark.parametrize("kind", ["missing.jpg", "empty.jpg", "truncated.jpg", "notes.png"])
def test_bad_content_file_is_refused(run_cli, bad_files, starry_night, tmp_path, kind):
    bad = bad_files / kind
    out = tmp_path / "out.png"
    proc = run_cli("--content", bad, "--style", starry_night, "--out", out, *FAST)
    assert_refused(proc, out, str(bad))


def test_bad_style_file_is_refused(run_cli, bad_files, neckarfront, tmp_path):
    bad = bad_files / "truncated.jpg"
    out = tmp_path / "out.png"
    proc = run_cli("--content", neckarfront, "--style", bad, "--out", out, *FAST)
    assert_refused(proc, out, str(bad))


def test_bad_weights_file_is_refused(run_cli, bad_files, neckarfront, tmp_path):
    bad = bad_files / "notes.png"
    out = tmp_path / "out.png"
    proc = run_cli("--content", neckarfront, "--weights", bad, "--no-normalised", "--out", out, *FAST)
    assert_refused(proc, out, str(bad))


def test_image_too_small_for_deepest_layer(run_cli, neckarfront, starry_night, tmp_path):
    out = tmp_path / "out.png"
    proc = run_cli("--content", neckarfront, "--style", starry_night, "--out", out, "--size", "8", "--iters", "3")
    message = assert_refused(proc, out, neckarfront.name)
    assert "conv5_1" in message and "16 px" in message


def test_size_beyond_free_memory_is_refused_quickly(run_cli, neckarfront, starry_night, tmp_path):
    out = tmp_path / "out.png"
    start = time.perf_counter()
    proc = run_cli("--content", neckarfront, "--style", starry_night, "--out", out, "--size", "200000",
                   "--iters", "3")
    elapsed = time.perf_counter() - start
    message = assert_refused(proc, out, neckarfront.name)
    assert "GiB" in message and "--size" in message
    assert elapsed < 45, elapsed  # mostly interpreter and torch start-up; a 150000 x 200000 image never exists


# --------------------------------------------------------------------------- #
# Unusual image modes are converted and run
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="module")
def odd_images(tmp_path_factory, image_dir):
    d = tmp_path_factory.mktemp("modes")
    base = Image.open(image_dir / "neckarfront_tuebingen.jpg").convert("RGB").resize((80, 60))
    grey = base.convert("L")
    rgba = base.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(base.size))
    rgba.save(d / "rgba.png")
    la = grey.convert("LA")
    la.putalpha(Image.linear_gradient("L").rotate(90).resize(base.size))
    la.save(d / "la.png")
    grey.save(d / "grey.png")
    palette = base.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    palette.save(d / "palette.png", transparency=0)
    base.convert("CMYK").save(d / "cmyk.jpg")
    Image.fromarray(np.asarray(grey, dtype=np.uint16) * 257).save(d / "grey16.png")  # mode I;16
    expected = {"rgba.png": "RGBA", "la.png": "LA", "grey.png": "L", "palette.png": "P", "cmyk.jpg": "CMYK",
                "grey16.png": "I;16"}
    for name, mode in expected.items():  # the files really are in the modes under test
        with Image.open(d / name) as img:
            assert img.mode == mode, (name, img.mode)
            if mode == "P":
                assert "transparency" in img.info
    return d


@pytest.mark.parametrize("content, style", [("rgba.png", "la.png"), ("grey.png", "palette.png"),
                                            ("cmyk.jpg", "grey16.png")])
def test_unusual_modes_are_converted_and_run(run_cli, odd_images, tmp_path, content, style):
    out = tmp_path / "out.png"
    proc = run_cli("--content", odd_images / content, "--style", odd_images / style, "--out", out, *FAST)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    with Image.open(out) as img:
        assert img.mode == "RGB" and img.size == (64, 48)  # 3 channels, 8 bits each
        assert np.asarray(img).dtype == np.uint8
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["evaluations"] == 3
    assert not list(tmp_path.glob("*.tmp"))


# --------------------------------------------------------------------------- #
# NaN and Ctrl-C
# --------------------------------------------------------------------------- #
def test_nan_loss_exits_3_and_saves(run_cli, neckarfront, starry_night, tmp_path):
    """alpha = NaN makes the very first loss NaN: the run stops, saves the start image, says so."""
    out = tmp_path / "out.png"
    proc = run_cli("--content", neckarfront, "--style", starry_night, "--out", out, "--ratio", "nan",
                   "--size", "32", "--iters", "5")
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = error_lines(proc.stderr)
    assert len(errors) == 1 and "non-finite" in errors[0] and str(out) in errors[0]
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["finite"] is False and meta["evaluations"] == 1
    with Image.open(out) as img:
        assert img.mode == "RGB"
    assert not list(tmp_path.glob("*.tmp"))


def test_ctrl_c_saves_image_and_json_and_exits_130(image_dir, neckarfront, starry_night, tmp_path):
    out = tmp_path / "out.png"
    log = tmp_path / "stderr.txt"
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, "train.py", "--content", str(neckarfront), "--style",
                                 str(starry_night), "--out", str(out), "--size", "64", "--iters", "100000",
                                 "--tol", "0"], cwd=REPO, env=cli_env(image_dir), stdout=subprocess.DEVNULL,
                                stderr=err)
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:  # wait until the progress bar shows a finished evaluation
                if re.search(r"\b[1-9]\d*/100000\b", log.read_text()):
                    break
                assert proc.poll() is None, log.read_text()
                time.sleep(0.2)
            else:
                pytest.fail("no progress within 120 s:\n" + log.read_text())
            proc.send_signal(signal.SIGINT)
            code = proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    stderr = log.read_text()
    assert code == 130, stderr
    assert "Traceback" not in stderr
    assert "interrupted" in stderr
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["interrupted"] is True
    assert 1 <= meta["evaluations"] < 100000 and len(meta["history"]) == meta["evaluations"]
    with Image.open(out) as img:
        assert img.mode == "RGB" and img.size == (64, 48)
    assert not list(tmp_path.glob("*.tmp"))
