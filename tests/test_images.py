"""Image files: the paper image directory and its checksummed download (against a local HTTP server), reading,
mode conversion and resizing."""
from __future__ import annotations

import csv
import functools
import hashlib
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import train

KANDINSKY = "kandinsky_composition_vii.jpg"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def serve():
    """serve(directory) -> base URL of an HTTP server on 127.0.0.1 (random port) serving that directory."""
    servers = []

    def start(directory: Path) -> str:
        handler = functools.partial(QuietHandler, directory=str(directory))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """Run from an empty directory, so a bare paper image name is never found as a relative path."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.delenv(train.IMAGES_ENV, raising=False)
    return cwd


def test_download_from_mirror_verifies_sha256(serve, image_dir, tmp_path, monkeypatch, elsewhere):
    if not (image_dir / KANDINSKY).is_file():
        pytest.skip(f"{KANDINSKY} not in {image_dir}")
    monkeypatch.setenv(train.MIRROR_ENV, serve(image_dir))
    target = tmp_path / "images"  # does not exist yet
    path = train.resolve_image(KANDINSKY, str(target))
    assert path == target / KANDINSKY
    assert path.read_bytes() == (image_dir / KANDINSKY).read_bytes()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == train.read_manifest()[KANDINSKY]["sha256"]
    assert sorted(p.name for p in target.iterdir()) == [KANDINSKY]  # no *.tmp left


def test_download_with_wrong_checksum_is_refused(serve, image_dir, tmp_path, monkeypatch, elsewhere):
    bad_dir = tmp_path / "corrupted"
    bad_dir.mkdir()
    data = bytearray((image_dir / KANDINSKY).read_bytes() if (image_dir / KANDINSKY).is_file() else b"x" * 1000)
    data[len(data) // 2] ^= 0xFF  # one flipped byte under the same name
    (bad_dir / KANDINSKY).write_bytes(bytes(data))
    monkeypatch.setenv(train.MIRROR_ENV, serve(bad_dir))
    target = tmp_path / "images"
    target.mkdir()
    with pytest.raises(train.ImageError, match="sha256") as info:
        train.resolve_image(KANDINSKY, str(target))
    assert KANDINSKY in str(info.value) and "refused" in str(info.value)
    assert list(target.iterdir()) == []


def test_download_failure_is_an_image_error(serve, tmp_path, monkeypatch, elsewhere):
    empty = tmp_path / "empty_server"
    empty.mkdir()
    monkeypatch.setenv(train.MIRROR_ENV, serve(empty))  # 404 for everything
    target = tmp_path / "images"
    with pytest.raises(train.ImageError, match="download") as info:
        train.resolve_image(KANDINSKY, str(target))
    assert KANDINSKY in str(info.value)
    assert not (target / KANDINSKY).exists()


def test_local_copy_is_used_without_download(image_dir, tmp_path, monkeypatch, elsewhere):
    monkeypatch.setenv(train.MIRROR_ENV, "http://127.0.0.1:9/")  # nothing listens: a download would fail
    (tmp_path / KANDINSKY).write_bytes(b"local copy")
    assert train.resolve_image(KANDINSKY, str(tmp_path)) == tmp_path / KANDINSKY
    monkeypatch.setenv(train.IMAGES_ENV, str(tmp_path))
    assert train.resolve_image(KANDINSKY) == tmp_path / KANDINSKY


def test_unknown_name_is_an_image_error(tmp_path, elsewhere):
    with pytest.raises(train.ImageError, match="no_such_image.jpg"):
        train.resolve_image("no_such_image.jpg", str(tmp_path))


def test_image_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv(train.IMAGES_ENV, str(tmp_path / "env"))
    assert train.image_dir(str(tmp_path / "flag")) == tmp_path / "flag"
    assert train.image_dir(None) == tmp_path / "env"
    monkeypatch.delenv(train.IMAGES_ENV)
    assert train.image_dir(None) == train.REPO / "data" / "paper-images"


def test_manifest_pins_the_paper_images(image_dir):
    """The repo's manifest agrees with the shared one and with the files' actual checksums."""
    ours = train.read_manifest()
    assert len(ours) == 6 and set(train.HEADLINE_PAIR) <= set(ours)
    shared = image_dir / "MANIFEST.tsv"
    if shared.is_file():
        with open(shared, newline="", encoding="utf-8") as f:
            theirs = {row["file"]: row for row in csv.DictReader(f, delimiter="\t")}
        assert {n: r["sha256"] for n, r in ours.items()} == {n: r["sha256"] for n, r in theirs.items()}
    for name, row in ours.items():
        assert row["url (same bytes, pinned commit)"].startswith("https://")
        if (image_dir / name).is_file():
            assert train.sha256(image_dir / name) == row["sha256"], name


# --------------------------------------------------------------------------- #
# Reading and converting
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("width, height, long_edge, expected", [
    (1024, 768, 512, (384, 512)),   # Neckarfront -> the paper's 512 x 384
    (768, 1024, 512, (512, 384)),   # portrait
    (1280, 1014, 64, (51, 64)),     # Starry Night
    (650, 845, 64, (64, 49)),       # Picasso, portrait, rounded
    (100, 100, 37, (37, 37)),
    (4000, 10, 64, (1, 64)),        # never 0 px
])
def test_fit_long_edge(width, height, long_edge, expected):
    assert train.fit_long_edge(width, height, long_edge) == expected


def rgb_of(img: Image.Image) -> np.ndarray:
    out = train.to_rgb(img)
    assert out.mode == "RGB" and out.size == img.size
    return np.asarray(out).astype(int)


def test_to_rgb_alpha_composited_on_white():
    rgba = Image.new("RGBA", (3, 1))
    rgba.putdata([(200, 10, 20, 255), (200, 10, 20, 0), (0, 0, 0, 128)])
    px = rgb_of(rgba)[0]
    assert px[0].tolist() == [200, 10, 20]
    assert px[1].tolist() == [255, 255, 255]
    assert np.abs(px[2] - 127).max() <= 1
    la = Image.new("LA", (2, 1))
    la.putdata([(40, 255), (40, 0)])
    assert rgb_of(la)[0].tolist() == [[40, 40, 40], [255, 255, 255]]


def test_to_rgb_palette_with_transparency():
    p = Image.new("P", (2, 1))
    p.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    p.putdata([0, 1])
    p.info["transparency"] = 0
    assert rgb_of(p)[0].tolist() == [[255, 255, 255], [200, 100, 50]]
    del p.info["transparency"]
    assert rgb_of(p)[0].tolist() == [[10, 20, 30], [200, 100, 50]]


def test_to_rgb_16_bit_and_float_greyscale():
    i16 = Image.fromarray(np.array([[0, 32768, 65535]], dtype=np.uint16))
    assert i16.mode == "I;16"
    assert rgb_of(i16)[0, :, 0].tolist() == [0, 128, 255]
    f = Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32))
    assert f.mode == "F"
    assert rgb_of(f)[0, :, 0].tolist() == [0, 128, 255]
    i32 = Image.fromarray(np.array([[0, 100, 255]], dtype=np.int32))
    assert i32.mode == "I"
    assert rgb_of(i32)[0, :, 1].tolist() == [0, 100, 255]


def test_to_rgb_cmyk_and_grey():
    cmyk = Image.new("CMYK", (1, 1), (0, 255, 255, 0))  # full magenta + yellow = red
    assert rgb_of(cmyk)[0, 0].tolist() == [255, 0, 0]
    grey = Image.new("L", (1, 1), 77)
    assert rgb_of(grey)[0, 0].tolist() == [77, 77, 77]


def test_load_rgb(neckarfront):
    x = train.load_rgb(neckarfront, 64)
    assert x.shape == (1, 3, 48, 64) and x.dtype == torch.float32
    assert 0 <= x.min() and x.max() <= 1 and x.std() > 0.05
    y = train.load_rgb(neckarfront, (30, 50))  # explicit (H, W), aspect not kept
    assert y.shape == (1, 3, 30, 50)


def test_load_rgb_exact_values(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "p.png")
    x = train.load_rgb(tmp_path / "p.png")
    assert x.shape == (1, 3, 5, 7)
    np.testing.assert_array_equal(x[0].permute(1, 2, 0).numpy(), pixels.astype(np.float32) / 255)
    # the size of an unchanged image leaves it untouched
    np.testing.assert_array_equal(train.load_rgb(tmp_path / "p.png", 7).numpy(), x.numpy())


def test_open_image_errors_name_the_file(tmp_path, neckarfront):
    data = neckarfront.read_bytes()
    cases = {"missing.jpg": None, "empty.jpg": b"", "truncated.jpg": data[: len(data) // 2],
             "text.png": b"hello\n"}
    for name, content in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        with pytest.raises(train.ImageError) as info:
            train.load_rgb(path, 32)
        assert str(path) in str(info.value) and "\n" not in str(info.value), name
