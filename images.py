"""Image files: the paper's images (manifest, image directory, download with a checksum), reading any image as
RGB, writing PNG or JPEG, and the one way this repository writes a file atomically.

    from images import load_rgb, resolve_image, save_rgb
    rgb = load_rgb(resolve_image("neckarfront_tuebingen.jpg"), 512)   # [1, 3, 384, 512] in [0, 1]
"""
from __future__ import annotations

import csv
import hashlib
import os
import tempfile
import urllib.request
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

REPO = Path(__file__).resolve().parent
MANIFEST = REPO / "data" / "paper-images.tsv"
IMAGES_ENV = "GATYS_IMAGES"          # directory holding the paper images
MIRROR_ENV = "GATYS_IMAGES_MIRROR"   # base URL that replaces the manifest's URLs (tests, mirrors)
DEFAULT_IMAGES = REPO / "data" / "paper-images"
OUTPUT_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}


class ImageError(ValueError):
    """An input image or output path that cannot be used; the message is one line naming the file."""


# --------------------------------------------------------------------------- #
# Writing files
# --------------------------------------------------------------------------- #
def write_atomic(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """``write(tmp)`` then rename tmp over ``path``: a crash or Ctrl-C never leaves a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        write(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def output_format(path: str | os.PathLike) -> str:
    """The PIL format an output file name asks for; refuses other extensions."""
    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise ImageError(f"{path}: unsupported output format {suffix or '(no extension)'}; "
                         f"use one of {', '.join(OUTPUT_FORMATS)}")
    return OUTPUT_FORMATS[suffix]


def check_writable(path: str | os.PathLike) -> None:
    """Refuse, before any work, an output path that could not be written at the end: a probe file is created
    and removed in the first existing directory on the way (permission bits alone say nothing to root)."""
    path = Path(path)
    output_format(path)
    if path.is_dir():
        raise ImageError(f"{path}: is a directory; give a file name")
    check_directory_writable(path.parent, path)


def check_directory_writable(directory: str | os.PathLike, what: str | os.PathLike | None = None) -> None:
    """Refuse, before any work, a directory that files could not be written into (``what``: the name the
    error gives, the directory by default)."""
    parent = Path(directory)
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent  # the first existing ancestor is where the directories would be made
    try:
        with tempfile.NamedTemporaryFile(dir=parent, prefix=".write-probe-"):
            pass
    except OSError as e:
        raise ImageError(f"{what or directory}: cannot write there ({parent}: {e.strerror or e})") from None


def save_rgb(rgb: torch.Tensor, path: str | os.PathLike) -> Path:
    """Write [1, 3, H, W] in [0, 1] as PNG or JPEG (by the extension), atomically."""
    fmt = output_format(path)
    array = (rgb[0].detach().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
    options = {"quality": 95} if fmt == "JPEG" else {}
    return write_atomic(path, lambda tmp: Image.fromarray(array, "RGB").save(tmp, format=fmt, **options))


# --------------------------------------------------------------------------- #
# The paper's images
# --------------------------------------------------------------------------- #
def read_manifest(path: Path = MANIFEST) -> dict[str, dict[str, str]]:
    """data/paper-images.tsv: file name -> row (sha256, work, licence, url)."""
    with open(path, newline="", encoding="utf-8") as f:
        return {row["file"]: row for row in csv.DictReader(f, delimiter="\t")}


def image_dir(images: str | os.PathLike | None = None) -> Path:
    """--images, else $GATYS_IMAGES, else data/paper-images."""
    return Path(images or os.environ.get(IMAGES_ENV) or DEFAULT_IMAGES)


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def download_paper_image(name: str, directory: Path, manifest: Path = MANIFEST) -> Path:
    """Fetch a paper image by the manifest's pinned URL (or $GATYS_IMAGES_MIRROR + name) and refuse
    it unless its sha256 matches the manifest."""
    row = read_manifest(manifest)[name]
    mirror = os.environ.get(MIRROR_ENV)
    url = mirror.rstrip("/") + "/" + name if mirror else row["url (same bytes, pinned commit)"]
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            data = response.read()
    except OSError as e:
        raise ImageError(f"{name}: not in {directory} and the download from {url} failed ({e})") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != row["sha256"]:
        raise ImageError(f"{name}: downloaded from {url} but sha256 {digest[:12]}... != manifest "
                         f"{row['sha256'][:12]}...; refused")
    return write_atomic(directory / name, lambda tmp: tmp.write_bytes(data))


def resolve_image(spec: str, images: str | None = None) -> Path:
    """A path to an image file, or the file name of a paper image (data/paper-images.tsv), which is looked
    up in the image directory and downloaded when missing."""
    path = Path(spec)
    if path.exists():
        return path
    manifest = read_manifest()
    if spec in manifest:
        local = image_dir(images) / spec
        return local if local.exists() else download_paper_image(spec, image_dir(images))
    raise ImageError(f"{spec}: no such file (and not a paper image name: {', '.join(manifest)})")


# --------------------------------------------------------------------------- #
# Reading images
# --------------------------------------------------------------------------- #
EXIF_ORIENTATION = 0x0112  # the EXIF tag: 1 upright, 2-8 mirrored and/or rotated


def open_image(path: Path) -> Image.Image:
    """Open and fully decode, so truncated files fail here with one line, not later with a traceback; upright,
    as a camera's EXIF orientation tag says the photo was taken."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise ImageError(f"{path}: empty file")
    try:
        img = Image.open(path)
        img.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise ImageError(f"{path}: not a readable image ({e})") from None
    if img.getexif().get(EXIF_ORIENTATION, 1) != 1:
        img = ImageOps.exif_transpose(img)
    return img


def as_rgb8(img: Image.Image) -> Image.Image:
    """Any PIL mode as 8-bit RGB: 16/32-bit greyscale rescaled, alpha composited on white, CMYK and palette
    converted."""
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or a.max() > 255 else (
            1.0 if img.mode == "F" and a.max() <= 1 else 255.0)
        img = Image.fromarray(np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return img.convert("RGB")


def fit_long_edge(width: int, height: int, long_edge: int) -> tuple[int, int]:
    """(height, width) with the longer side equal to long_edge, aspect kept."""
    scale = long_edge / max(width, height)
    return max(1, round(height * scale)), max(1, round(width * scale))


def target_size(path: Path, long_edge: int) -> tuple[int, int]:
    """(height, width) of an image file resized to ``long_edge``."""
    return fit_long_edge(*open_image(path).size, long_edge)


def load_rgb(path: Path, size: tuple[int, int] | int | None = None) -> torch.Tensor:
    """An image file as a [1, 3, H, W] float tensor in [0, 1]. ``size``: (H, W), or the long edge in px."""
    img = open_image(Path(path))
    if isinstance(size, int):
        size = fit_long_edge(*img.size, size)
    img = as_rgb8(img)
    if size is not None and (img.height, img.width) != tuple(size):
        img = img.resize((size[1], size[0]), Image.LANCZOS)
    array = np.asarray(img, dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous()
