"""images.py: the paper image directory and its checksummed download (against a local HTTP server), reading,
mode conversion and resizing, writing PNG or JPEG by the extension, and checking an output path before any
work."""
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

import images
import paper

KANDINSKY = paper.KANDINSKY


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
    monkeypatch.delenv(images.IMAGES_ENV, raising=False)
    return cwd


def test_download_from_mirror_verifies_sha256(serve, image_dir, tmp_path, monkeypatch, elsewhere):
    if not (image_dir / KANDINSKY).is_file():
        pytest.skip(f"{KANDINSKY} not in {image_dir}")
    monkeypatch.setenv(images.MIRROR_ENV, serve(image_dir))
    target = tmp_path / "images"  # does not exist yet
    path = images.resolve_image(KANDINSKY, str(target))
    assert path == target / KANDINSKY
    assert path.read_bytes() == (image_dir / KANDINSKY).read_bytes()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == images.read_manifest()[KANDINSKY]["sha256"]
    assert sorted(p.name for p in target.iterdir()) == [KANDINSKY]  # no *.tmp left


def test_download_with_wrong_checksum_is_refused(serve, image_dir, tmp_path, monkeypatch, elsewhere):
    bad_dir = tmp_path / "corrupted"
    bad_dir.mkdir()
    data = bytearray((image_dir / KANDINSKY).read_bytes() if (image_dir / KANDINSKY).is_file() else b"x" * 1000)
    data[len(data) // 2] ^= 0xFF  # one flipped byte under the same name
    (bad_dir / KANDINSKY).write_bytes(bytes(data))
    monkeypatch.setenv(images.MIRROR_ENV, serve(bad_dir))
    target = tmp_path / "images"
    target.mkdir()
    with pytest.raises(images.ImageError, match="sha256") as info:
        images.resolve_image(KANDINSKY, str(target))
    assert KANDINSKY in str(info.value) and "refused" in str(info.value)
    assert list(target.iterdir()) == []


def test_download_failure_is_an_image_error(serve, tmp_path, monkeypatch, elsewhere):
    empty = tmp_path / "empty_server"
    empty.mkdir()
    monkeypatch.setenv(images.MIRROR_ENV, serve(empty))  # 404 for everything
    target = tmp_path / "images"
    with pytest.raises(images.ImageError, match="download") as info:
        images.resolve_image(KANDINSKY, str(target))
    assert KANDINSKY in str(info.value)
    assert not (target / KANDINSKY).exists()


def test_local_copy_is_used_without_download(image_dir, tmp_path, monkeypatch, elsewhere):
    monkeypatch.setenv(images.MIRROR_ENV, "http://127.0.0.1:9/")  # nothing listens: a download would fail
    (tmp_path / KANDINSKY).write_bytes(b"local copy")
    assert images.resolve_image(KANDINSKY, str(tmp_path)) == tmp_path / KANDINSKY
    monkeypatch.setenv(images.IMAGES_ENV, str(tmp_path))
    assert images.resolve_image(KANDINSKY) == tmp_path / KANDINSKY


def test_unknown_name_is_an_image_error(tmp_path, elsewhere):
    with pytest.raises(images.ImageError, match="no_such_image.jpg"):
        images.resolve_image("no_such_image.jpg", str(tmp_path))


def test_image_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv(images.IMAGES_ENV, str(tmp_path / "env"))
    assert images.image_dir(str(tmp_path / "flag")) == tmp_path / "flag"
    assert images.image_dir(None) == tmp_path / "env"
    monkeypatch.delenv(images.IMAGES_ENV)
    assert images.image_dir(None) == images.DEFAULT_IMAGES


def test_manifest_pins_the_paper_images(image_dir):
    """The repo's manifest agrees with the image directory's own MANIFEST.tsv (where it has one) and with the
    files' actual checksums."""
    ours = images.read_manifest()
    assert len(ours) == 6 and set(paper.HEADLINE_PAIR) <= set(ours)
    listed = image_dir / "MANIFEST.tsv"
    if listed.is_file():
        with open(listed, newline="", encoding="utf-8") as f:
            theirs = {row["file"]: row for row in csv.DictReader(f, delimiter="\t")}
        assert {n: r["sha256"] for n, r in ours.items()} == {n: r["sha256"] for n, r in theirs.items()}
    for name, row in ours.items():
        assert row["url (same bytes, pinned commit)"].startswith("https://")
        if (image_dir / name).is_file():
            assert images.sha256(image_dir / name) == row["sha256"], name


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
    assert images.fit_long_edge(width, height, long_edge) == expected


def rgb_of(img: Image.Image) -> np.ndarray:
    out = images.as_rgb8(img)
    assert out.mode == "RGB" and out.size == img.size
    return np.asarray(out).astype(int)


def test_as_rgb8_alpha_composited_on_white():
    rgba = Image.new("RGBA", (3, 1))
    rgba.putdata([(200, 10, 20, 255), (200, 10, 20, 0), (0, 0, 0, 128)])
    px = rgb_of(rgba)[0]
    assert px[0].tolist() == [200, 10, 20]
    assert px[1].tolist() == [255, 255, 255]
    assert np.abs(px[2] - 127).max() <= 1  # Pillow composites in integer arithmetic: 127 or 128 on any CPU
    la = Image.new("LA", (2, 1))
    la.putdata([(40, 255), (40, 0)])
    assert rgb_of(la)[0].tolist() == [[40, 40, 40], [255, 255, 255]]


def test_as_rgb8_palette_with_transparency():
    p = Image.new("P", (2, 1))
    p.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    p.putdata([0, 1])
    p.info["transparency"] = 0
    assert rgb_of(p)[0].tolist() == [[255, 255, 255], [200, 100, 50]]
    del p.info["transparency"]
    assert rgb_of(p)[0].tolist() == [[10, 20, 30], [200, 100, 50]]


def test_as_rgb8_16_bit_and_float_greyscale():
    i16 = Image.fromarray(np.array([[0, 32768, 65535]], dtype=np.uint16))
    assert i16.mode == "I;16"
    assert rgb_of(i16)[0, :, 0].tolist() == [0, 128, 255]
    f = Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32))
    assert f.mode == "F"
    assert rgb_of(f)[0, :, 0].tolist() == [0, 128, 255]
    i32 = Image.fromarray(np.array([[0, 100, 255]], dtype=np.int32))
    assert i32.mode == "I"
    assert rgb_of(i32)[0, :, 1].tolist() == [0, 100, 255]


def test_as_rgb8_cmyk_and_grey():
    cmyk = Image.new("CMYK", (1, 1), (0, 255, 255, 0))  # full magenta + yellow = red
    assert rgb_of(cmyk)[0, 0].tolist() == [255, 0, 0]
    grey = Image.new("L", (1, 1), 77)
    assert rgb_of(grey)[0, 0].tolist() == [77, 77, 77]


def test_load_rgb(neckarfront):
    x = images.load_rgb(neckarfront, 64)
    assert x.shape == (1, 3, 48, 64) and x.dtype == torch.float32
    assert 0 <= x.min() and x.max() <= 1 and x.std() > 0.05  # a photograph, not a flat image (its std is ~0.2)
    y = images.load_rgb(neckarfront, (30, 50))  # explicit (H, W), aspect not kept
    assert y.shape == (1, 3, 30, 50)


def test_load_rgb_exact_values(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "p.png")
    x = images.load_rgb(tmp_path / "p.png")
    assert x.shape == (1, 3, 5, 7)
    np.testing.assert_array_equal(x[0].permute(1, 2, 0).numpy(), pixels.astype(np.float32) / 255)
    # the size of an unchanged image leaves it untouched
    np.testing.assert_array_equal(images.load_rgb(tmp_path / "p.png", 7).numpy(), x.numpy())


def test_open_image_errors_name_the_file(tmp_path, neckarfront):
    data = neckarfront.read_bytes()
    cases = {"missing.jpg": None, "empty.jpg": b"", "truncated.jpg": data[: len(data) // 2],
             "text.png": b"hello\n"}
    for name, content in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        with pytest.raises(images.ImageError) as info:
            images.load_rgb(path, 32)
        assert str(path) in str(info.value) and "\n" not in str(info.value), name


# --------------------------------------------------------------------------- #
# Writing: PNG or JPEG by the extension, and the output path checked before any work
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("name, fmt, magic", [("x.png", "PNG", b"\x89PNG\r\n\x1a\n"),
                                              ("x.jpg", "JPEG", b"\xff\xd8\xff"),
                                              ("x.JPEG", "JPEG", b"\xff\xd8\xff")], ids=["png", "jpg", "JPEG"])
def test_save_rgb_writes_the_format_of_the_extension(tmp_path, name, fmt, magic):
    ramp_y, ramp_x = torch.meshgrid(torch.linspace(0, 1, 48), torch.linspace(0, 1, 64), indexing="ij")
    rgb = torch.stack([ramp_x, ramp_y, 1 - 0.5 * (ramp_x + ramp_y)]).unsqueeze(0)  # smooth, as JPEG expects
    out = images.save_rgb(rgb, tmp_path / name)
    assert images.output_format(out) == fmt
    assert out.read_bytes().startswith(magic)  # PNG signature / JPEG start-of-image marker
    with Image.open(out) as img:
        assert img.format == fmt and img.mode == "RGB" and img.size == (64, 48)
        pixels = np.asarray(img).astype(int)
    expected = (rgb[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(int)
    if fmt == "PNG":
        np.testing.assert_array_equal(pixels, expected)  # lossless
    else:
        # quality 95 on smooth ramps: 0.72 grey levels off on average, the same with libjpeg-turbo's SIMD
        # switched off or held to SSE2 (JSIMD_FORCENONE / JSIMD_FORCESSE2), so not a matter of the CPU; 3 is 4x that
        assert np.abs(pixels - expected).mean() < 3
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no *.tmp left


@pytest.mark.parametrize("name", ["x.gif", "x.tiff", "x", "x.png.bak"])
def test_other_output_extensions_are_refused(tmp_path, name):
    with pytest.raises(images.ImageError, match="unsupported output format") as info:
        images.save_rgb(torch.zeros(1, 3, 4, 4), tmp_path / name)
    assert "\n" not in str(info.value) and ".png" in str(info.value)
    with pytest.raises(images.ImageError, match="unsupported output format"):
        images.check_writable(tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_check_writable(tmp_path):
    images.check_writable(tmp_path / "out.png")
    images.check_writable(tmp_path / "new" / "deeper" / "out.jpg")  # directories that would be made
    assert list(tmp_path.iterdir()) == []  # neither the probe file nor the directories are left behind
    (tmp_path / "afile.txt").write_text("a regular file\n")
    (tmp_path / "adir.png").mkdir()
    bad = {tmp_path / "afile.txt" / "out.png": "cannot write", tmp_path / "adir.png": "is a directory",
           Path("/proc/x.png"): "cannot write"}
    for path, message in bad.items():
        with pytest.raises(images.ImageError, match=message) as info:
            images.check_writable(path)
        assert str(path) in str(info.value) and "\n" not in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir.png", "afile.txt"]


@pytest.mark.parametrize("orientation, upright", [(1, lambda a: a), (6, lambda a: np.rot90(a, -1)),
                                                  (3, lambda a: np.rot90(a, 2))])
def test_exif_orientation_is_applied(tmp_path, orientation, upright):
    """A phone's photo stored sideways with an orientation tag loads upright, with its size swapped for
    target_size too (6: rotate 90 degrees clockwise to view, 3: 180). Lossless PNG, so pixels compare exactly."""
    stored = np.zeros((4, 6, 3), dtype=np.uint8)
    stored[0, 0] = 255  # one white pixel, top left as stored
    exif = Image.Exif()
    exif[images.EXIF_ORIENTATION] = orientation
    path = tmp_path / "phone.png"
    Image.fromarray(stored).save(path, exif=exif)
    expected = np.ascontiguousarray(upright(stored))
    got = (images.load_rgb(path) * 255).round().byte()[0].permute(1, 2, 0).numpy()
    assert np.array_equal(got, expected)
    assert images.target_size(path, 12) == fit(expected.shape[0], expected.shape[1], 12)


def fit(height: int, width: int, long_edge: int) -> tuple[int, int]:
    return (long_edge * height // max(height, width), long_edge * width // max(height, width))
