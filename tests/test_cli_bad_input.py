"""The command line on bad and unusual input, run as ``python train.py ...`` subprocesses in the repo, and the
same refusals through the Python API (``config.check``, ``train.stylize``).

Bad input: exit code 2, exactly one stderr line, starting 'error:' and naming the flag or file, no traceback,
no output image or JSON, and nothing started (the config line and the progress bar come only after every
argument has been checked). Unusual image modes are converted and run. A non-finite loss: exit 3 with the image
saved. Ctrl-C: exit 130 with the image and JSON saved. Never a *.tmp left behind.
"""
from __future__ import annotations

import json
import math
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import config
import images
import machine
import models
import train
from conftest import REPO, cli_env

FAST = ("--size", "64", "--budget", "3", "--device", "cpu")


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, image_dir):
    d = tmp_path_factory.mktemp("bad")
    jpeg = (image_dir / "neckarfront_tuebingen.jpg").read_bytes()
    (d / "empty.jpg").write_bytes(b"")
    (d / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (d / "notes.png").write_text("not an image, just text with a .png name\n")
    torch.save({"features.0.weight": torch.zeros(1)}, d / "torchvision.pth")  # the keys of a torchvision vgg19
    return d


# --------------------------------------------------------------------------- #
# Every class of bad argument, one row each: refused in one line before anything starts
# --------------------------------------------------------------------------- #
# (id, flags that replace or extend the base run's, text(s) the error line must contain). In flags and texts,
# {d} is the row's own directory (holding only afile.txt and adir.png), {bad} the bad_files directory and
# {neckarfront} / {starry_night} the paper images; a flag given as None is left out of the base run, one given
# as True has no value. The base
# run is valid: 32 px, 2 evaluations, fp32 on the CPU, written to {d}/out.png.
NO_CUDA = not torch.cuda.is_available()
BAD_ARGUMENTS = [
    ("out-under-a-regular-file", {"--out": "{d}/afile.txt/out.png"}, "cannot write"),
    ("out-in-proc", {"--out": "/proc/x.png"}, "cannot write"),
    ("out-is-a-directory", {"--out": "{d}/adir.png"}, "is a directory"),
    ("out-gif", {"--out": "{d}/out.gif"}, "unsupported output format .gif"),
    ("out-without-extension", {"--out": "{d}/out"}, "unsupported output format (no extension)"),
    ("budget-0", {"--budget": "0"}, "--budget must be at least 1"),
    ("size-0", {"--size": "0"}, "--size must be at least 1"),
    ("size-negative", {"--size": "-5"}, "--size must be at least 1, not -5"),
    ("size-not-an-integer", {"--size": "abc"}, "--size: invalid int value: 'abc'"),
    ("lbfgs-memory-0", {"--lbfgs-memory": "0"}, "--lbfgs-memory must be at least 1"),
    ("save-every-negative", {"--save-every": "-1"}, "--save-every must be 0 or more"),
    ("height-0", {"--height": "0"}, "--height must be at least 1"),
    ("style-size-0", {"--style-size": "0"}, "--style-size must be at least 1"),
    ("ratio-negative", {"--ratio": "-1"}, "--ratio must be a finite number > 0"),
    ("ratio-0", {"--ratio": "0"}, "--ratio must be a finite number > 0"),
    ("ratio-nan", {"--ratio": "nan"}, "--ratio must be a finite number > 0"),
    ("ratio-inf", {"--ratio": "inf"}, "--ratio must be a finite number > 0"),
    ("lr-0", {"--lr": "0"}, "--lr must be a finite number > 0"),
    ("tv-weight-negative", {"--tv-weight": "-1"}, "--tv-weight must be a finite number >= 0"),
    ("noise-std-negative", {"--noise-std": "-1"}, "--noise-std must be a finite number >= 0"),
    ("tol-nan", {"--tol": "nan"}, "--tol must be a finite number >= 0"),
    ("device-cuda-7", {"--device": "cuda:7"}, "device 'cuda:7' is not available here"),
    ("device-cuda-without-gpu", {"--device": "cuda"}, "device 'cuda' is not available here"),
    ("device-tpu", {"--device": "tpu"}, "unknown device 'tpu'"),
    ("unknown-content-layer", {"--content-layer": "conv9_9"}, "unknown layer 'conv9_9'"),
    ("unknown-style-layer", {"--style-layers": "conv1_1,conv9_9"}, "unknown layer 'conv9_9'"),
    ("duplicate-style-layers", {"--style-layers": "conv1_1,conv2_1,conv1_1"}, "names a layer twice"),
    ("empty-style-layers", {"--style-layers": ""}, "--style-layers is empty"),
    ("init-content-without-content", {"--content": None, "--init": "content"}, "--init content needs --content"),
    ("init-missing-file", {"--init": "nosuch.png"}, "nosuch.png: no such file"),
    ("height-with-content", {"--height": "24"}, "--height is for a run without --content"),
    ("style-size-without-style", {"--style": None, "--style-size": "32"}, "--style-size needs --style"),
    ("missing-content-file", {"--content": "{d}/missing.jpg"}, "{d}/missing.jpg: no such file"),
    ("empty-content-file", {"--content": "{bad}/empty.jpg"}, "{bad}/empty.jpg: empty file"),
    ("truncated-content-file", {"--content": "{bad}/truncated.jpg"}, "{bad}/truncated.jpg: not a readable image"),
    ("content-file-not-an-image", {"--content": "{bad}/notes.png"}, "{bad}/notes.png: not a readable image"),
    ("truncated-style-file", {"--style": "{bad}/truncated.jpg"}, "{bad}/truncated.jpg: not a readable image"),
    ("truncated-init-file", {"--init": "{bad}/truncated.jpg"}, "{bad}/truncated.jpg: not a readable image"),
    ("weights-file-not-a-checkpoint", {"--weights": "{bad}/notes.png", "--no-normalised": True},
     "{bad}/notes.png: not a PyTorch checkpoint"),
    ("image-too-small-for-deepest-layer", {"--size": "8"},
     "output (neckarfront_tuebingen.jpg) is 8x6 px; conv5_1 needs at least 16 px"),
    ("size-beyond-free-memory", {"--size": "200000"},
     ("output (neckarfront_tuebingen.jpg) at 200000x150000 px needs about", "GiB free on cpu; lower --size")),
    ("missing-weights-file", {"--weights": "{d}/nosuch.pth"}, "nosuch.pth: no such file"),
    ("torchvision-weights-with-a-printed-ratio", {"--weights": "{bad}/torchvision.pth", "--no-normalised": True},
     "no measured translation of the printed alpha/beta for a torchvision network"),
    ("max-pooling-with-normalised-network", {"--pooling": "max"}, "calibrated with avg pooling, not max"),
    ("unknown-choice", {"--optimizer": "sgd"}, "--optimizer: invalid choice: 'sgd'"),
    ("unknown-scales", {"--scales": "mine"}, "--scales: invalid choice: 'mine'"),
    ("schedule-not-pairs", {"--schedule": "256:x"}, "'256:x' is not LONG_EDGE:EVALUATIONS"),
    ("schedule-not-below-size", {"--schedule": "64:3"}, "must grow from stage to stage and stay below --size 32"),
    ("schedule-not-growing", {"--schedule": "24:3,20:3"}, "not 24, 20, 32"),
    ("schedule-zero-evaluations", {"--schedule": "16:0"}, "every LONG_EDGE and count must be at least 1, not 16:0"),
    ("schedule-stage-too-small", {"--schedule": "8:3"},
     "output (neckarfront_tuebingen.jpg) is 8x6 px; conv5_1 needs at least 16 px"),
    ("unknown-flag", {"--sizes": "32"}, "unrecognized arguments: --sizes"),
]
SKIP = {"device-cuda-7": torch.cuda.device_count() > 7, "device-cuda-without-gpu": not NO_CUDA}


def bad_argv(flags: dict, names: dict) -> list[str]:
    base = {"--content": "{neckarfront}", "--style": "{starry_night}", "--out": "{d}/out.png", "--size": "32",
            "--budget": "2", "--device": "cpu", "--precision": "fp32"}
    argv = []
    for flag, value in {**base, **flags}.items():
        if value is not None:
            argv += [flag] if value is True else [flag, value.format(**names)]
    return argv


@pytest.fixture(scope="module")
def bad_argument_runs(tmp_path_factory, image_dir, bad_files, neckarfront, starry_night):
    """Every row as its own ``python train.py`` process: row id -> (names for the row's placeholders, its argv,
    the result).

    The rows run through tests/cli_fork.py, which starts the interpreter and imports torch once and forks one
    child per row that executes train.py as ``__main__`` (a fresh ``python train.py`` per row spends ~3 s of
    one core here on start-up alone, 2 minutes for the table). Four rows also run as fresh interpreters, one
    per kind of refusal (argparse, ConfigError, ImageError from the output check, DeviceError), to show the
    forked runs behave as `python train.py` does."""
    root = tmp_path_factory.mktemp("bad_arguments")
    jobs = {}
    for row, flags, _ in BAD_ARGUMENTS:
        if SKIP.get(row):
            continue
        d = root / row
        d.mkdir()
        (d / "afile.txt").write_text("a regular file, not a directory\n")
        (d / "adir.png").mkdir()
        names = {"d": d, "bad": bad_files, "neckarfront": neckarfront, "starry_night": starry_night}
        jobs[row] = (names, bad_argv(flags, names))
    proc = subprocess.run([sys.executable, str(REPO / "tests" / "cli_fork.py")], cwd=REPO, env=cli_env(image_dir),
                          input=json.dumps([argv for _, argv in jobs.values()]), capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    return {row: (*jobs[row], subprocess.CompletedProcess(jobs[row][1], r["returncode"], r["stdout"], r["stderr"]))
            for row, r in zip(jobs, results)}


@pytest.mark.parametrize("row", ["size-not-an-integer", "budget-0", "out-under-a-regular-file", "device-tpu"])
def test_forked_runs_are_what_python_train_py_does(bad_argument_runs, run_cli, row):
    _, argv, forked = bad_argument_runs[row]
    fresh = run_cli(*argv)
    assert (fresh.returncode, fresh.stdout, fresh.stderr) == (forked.returncode, forked.stdout, forked.stderr)


@pytest.mark.parametrize("row, flags, expected", BAD_ARGUMENTS, ids=[r[0] for r in BAD_ARGUMENTS])
def test_bad_arguments_are_refused_in_one_line(bad_argument_runs, row, flags, expected):
    """Exit 2; stderr is one line, 'error: ...' naming the problem; no traceback; nothing on stdout; no image,
    JSON, probe or *.tmp file written anywhere the run could write. One line also shows that no evaluation
    started: the progress bar appears at the first one."""
    if SKIP.get(row):
        pytest.skip(f"{row}: this machine has that device")
    names, argv, proc = bad_argument_runs[row]
    d = names["d"]
    assert proc.returncode == 2, (argv, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "eval" not in proc.stderr
    for text in (expected,) if isinstance(expected, str) else expected:
        assert text.format(**names) in lines[-1], lines[-1]
    assert proc.stdout == ""
    assert sorted(p.name for p in d.iterdir()) == ["adir.png", "afile.txt"]  # nothing written, nothing left
    assert list((d / "adir.png").iterdir()) == [] and (d / "afile.txt").is_file()
    assert not Path("/proc/x.png").exists() and not Path("/proc/x.json").exists()
    assert sorted(p.name for p in names["bad"].iterdir()) == ["empty.jpg", "notes.png", "torchvision.pth",
                                                              "truncated.jpg"]


# The same refusals through the Python API: a ValueError subclass with a one-line message, before any image is
# read or any network built.
API_BAD = [
    ("neither-image", {"content": None, "style": None}, "give --content, --style or both"),
    ("budget-0", {"budget": 0}, "--budget must be at least 1"),
    ("size-negative", {"size": -5}, "--size must be at least 1"),
    ("height-0", {"height": 0}, "--height must be at least 1"),
    ("ratio-nan", {"ratio": math.nan}, "--ratio must be a finite number > 0"),
    ("ratio-0", {"ratio": 0.0, "literal_ratio": True}, "--ratio must be a finite number > 0"),
    ("lr-0", {"lr": 0.0}, "--lr must be a finite number > 0"),
    ("tol-inf", {"tol": math.inf}, "--tol must be a finite number >= 0"),
    ("unknown-layer", {"content_layer": "conv9_9"}, "unknown layer 'conv9_9'"),
    ("duplicate-style-layers", {"style_layers": ("conv1_1", "conv1_1")}, "names a layer twice"),
    ("empty-style-layers", {"style_layers": ()}, "--style-layers is empty"),
    ("init-content-without-content", {"content": None, "init": "content"}, "--init content needs --content"),
    ("init-missing-file", {"init": "nosuch.png"}, "nosuch.png: no such file"),
    ("missing-content-file", {"content": "nosuch.jpg"}, "nosuch.jpg: no such file"),
    ("missing-weights-file", {"weights": "nosuch.pth"}, "nosuch.pth: no such file"),
    ("max-pooling-with-normalised-network", {"pooling": "max"}, "calibrated with avg pooling, not max"),
    ("device-tpu", {"device": "tpu"}, "unknown device 'tpu'"),
    ("unknown-scales", {"scales": "mine"}, "unknown normalisation scales 'mine'"),
    ("schedule-not-growing", {"schedule": ((64, 3),), "size": 32}, "stay below --size 32"),
    ("device-cuda-99", {"device": "cuda:99"}, "device 'cuda:99' is not available here"),
]


@pytest.fixture
def nothing_may_start(monkeypatch):
    """Fail loudly if a network is built or an image decoded."""
    def forbidden(*args, **kwargs):
        raise AssertionError("reached work that a bad Config must never reach")

    monkeypatch.setattr(models.NetworkSpec, "build", forbidden)
    monkeypatch.setattr(models, "build_vgg19", forbidden)
    monkeypatch.setattr(images, "open_image", forbidden)


@pytest.mark.parametrize("row, overrides, expected", API_BAD, ids=[r[0] for r in API_BAD])
def test_bad_config_is_refused_by_check_and_stylize(nothing_may_start, neckarfront, starry_night, tmp_path, row,
                                                   overrides, expected):
    cfg = train.Config(**{"content": str(neckarfront), "style": str(starry_night), "out": str(tmp_path / "o.png"),
                          "size": 32, "budget": 2, "device": "cpu", "precision": "fp32", **overrides})
    for attempt in (lambda: config.check(cfg), lambda: config.check(cfg, writes_output=True),
                    lambda: train.stylize(cfg)):
        with pytest.raises(ValueError) as info:
            attempt()
        assert isinstance(info.value, config.BAD_INPUT), type(info.value)
        message = str(info.value)
        assert expected in message and "\n" not in message, message
    assert list(tmp_path.iterdir()) == []


def test_unreadable_start_image_is_refused_before_the_network_is_built(monkeypatch, neckarfront, starry_night,
                                                                      bad_files):
    def forbidden(*args, **kwargs):
        raise AssertionError("the network was built for a run whose start image cannot be read")

    monkeypatch.setattr(models.NetworkSpec, "build", forbidden)
    cfg = train.Config(content=str(neckarfront), style=str(starry_night), init=str(bad_files / "truncated.jpg"),
                       size=32, budget=2, device="cpu", precision="fp32")
    with pytest.raises(images.ImageError, match="truncated.jpg: not a readable image"):
        train.stylize(cfg)


@pytest.mark.parametrize("out, expected", [("o.gif", "unsupported output format .gif"), ("o", "(no extension)"),
                                           ("adir.png", "is a directory"), ("afile.txt/o.png", "cannot write")])
def test_bad_output_path_is_refused_by_check_before_any_work(nothing_may_start, neckarfront, tmp_path, out,
                                                             expected):
    """stylize writes nothing, so it does not look at --out; check(..., writes_output=True), as main() calls it,
    does."""
    (tmp_path / "adir.png").mkdir()
    (tmp_path / "afile.txt").write_text("a regular file\n")
    cfg = train.Config(content=str(neckarfront), out=str(tmp_path / out), size=32, device="cpu", precision="fp32")
    config.check(cfg)
    with pytest.raises(images.ImageError, match=re.escape(expected)) as info:
        config.check(cfg, writes_output=True)
    assert "\n" not in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir.png", "afile.txt"]


def test_bad_input_classes_are_value_errors():
    """main() reports exactly these in one line (exit 2); anything else is a bug and keeps its traceback."""
    assert set(config.BAD_INPUT) == {config.ConfigError, images.ImageError, models.WeightsError,
                                     machine.DeviceError}
    assert all(issubclass(e, ValueError) for e in config.BAD_INPUT)


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


@pytest.mark.parametrize("content, style, out_name, precision, size", [
    ("rgba.png", "la.png", "out.png", "fp32", 64),
    ("grey.png", "palette.png", "out.jpg", "bf16", 32),  # bf16 forced (emulated, and slow, without native bf16)
    ("cmyk.jpg", "grey16.png", "out.jpeg", "fp32", 64),
])
def test_unusual_modes_are_converted_and_run(run_cli, odd_images, tmp_path, content, style, out_name, precision,
                                             size):
    """Also: the output is written in the format of its extension, with its JSON beside it."""
    out = tmp_path / out_name
    proc = run_cli("--content", odd_images / content, "--style", odd_images / style, "--out", out, *FAST,
                   "--precision", precision, "--size", str(size))
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    fmt = "PNG" if out_name.endswith(".png") else "JPEG"
    assert out.read_bytes()[:2] == (b"\x89P" if fmt == "PNG" else b"\xff\xd8")
    with Image.open(out) as img:
        assert img.format == fmt and img.mode == "RGB" and img.size == (size, size * 3 // 4)  # 3 x 8 bits
        assert np.asarray(img).dtype == np.uint8
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["evaluations"] == 3
    assert meta["environment"]["network_dtype"] == {"fp32": "float32", "bf16": "bfloat16"}[precision]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([out_name, "out.json"])  # no *.tmp


# --------------------------------------------------------------------------- #
# NaN and Ctrl-C
# --------------------------------------------------------------------------- #
def test_non_finite_loss_exits_3_and_saves(run_cli, neckarfront, starry_night, tmp_path):
    """alpha = 1e300, taken literally, is a finite --ratio (so it passes the checks) but overflows float32:
    the very first loss is infinite. The run stops, saves the start image, says so. (--ratio nan is refused
    before the run, see test_bad_arguments_are_refused_in_one_line.)"""
    out = tmp_path / "out.png"
    proc = run_cli("--content", neckarfront, "--style", starry_night, "--out", out, "--ratio", "1e300",
                   "--literal-ratio", "--size", "32", "--budget", "5", "--device", "cpu", "--precision", "fp32")
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = error_lines(proc.stderr)
    assert len(errors) == 1 and "non-finite" in errors[0] and str(out) in errors[0]
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["finite"] is False and meta["evaluations"] == 1
    with Image.open(out) as img:
        assert img.mode == "RGB"
    assert not list(tmp_path.glob("*.tmp"))


def default_sigint() -> None:
    """In the child before it starts: SIGINT back to its default. A shell that starts the suite in the background
    (``bash .ci/run &``) leaves SIGINT ignored, children inherit that, and Python then installs no
    KeyboardInterrupt handler: the CLI would go on running, as it should for a user's background job."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_saves_image_and_json_and_exits_130(image_dir, neckarfront, starry_night, tmp_path):
    out = tmp_path / "out.png"
    log = tmp_path / "stderr.txt"
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, "train.py", "--content", str(neckarfront), "--style",
                                 str(starry_night), "--out", str(out), "--size", "64", "--budget", "100000",
                                 "--tol", "0", "--device", "cpu", "--precision", "fp32"],
                                cwd=REPO, env={**cli_env(image_dir), "PYTHONFAULTHANDLER": "1"},
                                stdout=subprocess.DEVNULL, stderr=err, preexec_fn=default_sigint)
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
            try:
                code = proc.wait(timeout=60)
            except subprocess.TimeoutExpired:  # SIGABRT makes faulthandler print where every thread is
                proc.send_signal(signal.SIGABRT)
                proc.wait(timeout=30)
                pytest.fail("still running 60 s after Ctrl-C:\n" + log.read_text()[-6000:])
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
