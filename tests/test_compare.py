"""compare.py's print-colour fit, grain measure and JPEG round trip, on small synthetic images (numpy, scipy and
Pillow only: no network, no torch kernels). The tests on the published panels skip when their directory
(``common.published_dir``: $GATYS_PUBLISHED) is not given or holds no MANIFEST.tsv.

Tolerances, all on fixed-seed numpy data in float64 (numpy's generators give the same numbers on every CPU,
and scipy's filters and LAPACK round at ~1e-15): the colour fit recovers its map to 4e-15 against atol 1e-9 /
1e-7; the grain comparisons hold by measured factors of 0.024 (< 0.2), 0.95 (< 1), 0.58 (< 0.7) and 1.002
(> 0.95), margins of >= 5 % against rounding of ~1e-15. The JPEG round trips give the same ratios with
libjpeg-turbo's SIMD switched off (JSIMD_FORCENONE=1), so they do not depend on the CPU's vector units.
"""
import argparse
import io

import numpy as np
import pytest
import torch
from PIL import Image

import compare  # reproduce/ is on sys.path (pytest.ini), as for the scripts themselves
from common import published_dir

PUBLISHED = published_dir(argparse.Namespace())
needs_published = pytest.mark.skipif(PUBLISHED is None or not (PUBLISHED / "MANIFEST.tsv").is_file(),
                                     reason=f"published panels not in {PUBLISHED} (set GATYS_PUBLISHED)")


def noise(shape, seed=0, mean=128.0, sd=30.0):
    return np.random.default_rng(seed).normal(mean, sd, shape)


def standard_tables(quality: int) -> dict:
    """The IJG (JPEG Annex K) quantisation tables at this quality, as Pillow reads them back."""
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    with Image.open(buf) as img:
        return dict(img.quantization)


def test_colour_fit_recovers_a_known_affine_map():
    photo = np.random.default_rng(1).uniform(0, 255, (24, 32, 3))
    gain, offset = np.array([0.91, 0.95, 1.08]), np.array([1.5, -6.0, 19.0])
    panel = photo * gain + offset
    fit_gain, fit_offset, rms = compare.fit_colour_map(photo, [panel, panel])
    np.testing.assert_allclose(fit_gain, gain, atol=1e-9)
    np.testing.assert_allclose(fit_offset, offset, atol=1e-7)
    assert rms < 1e-7


def test_colour_fit_is_least_squares_over_all_panels():
    """Two panels with opposite errors around one map: the fit is the map between them, the residual their error."""
    photo = np.random.default_rng(2).uniform(0, 255, (8, 8, 3))
    fit_gain, fit_offset, rms = compare.fit_colour_map(photo, [photo * 0.9 + 10 + 4, photo * 0.9 + 10 - 4])
    np.testing.assert_allclose(fit_gain, 0.9, atol=1e-9)
    np.testing.assert_allclose(fit_offset, 10, atol=1e-7)
    assert rms == pytest.approx(4.0)


def test_print_colour_applies_the_map_in_grey_levels():
    """Known values: mid grey and white through gain (0.9, 1.0, 1.1) and offsets (+2, 0, -5.1) grey levels,
    clipped to [0, 1]."""
    rgb = torch.tensor([0.5, 1.0], dtype=torch.float64).view(1, 1, 1, 2).expand(1, 3, 1, 2)
    gain, offset = np.array([0.9, 1.0, 1.1]), np.array([2.0, 0.0, -5.1])
    out = compare.print_colour(rgb, (gain, offset, 0.0))
    grey = torch.tensor([0.45 + 2 / 255, 0.5, 0.55 - 0.02], dtype=torch.float64)
    white = torch.tensor([0.9 + 2 / 255, 1.0, 1.0], dtype=torch.float64)  # 1.1 - 0.02 clipped
    torch.testing.assert_close(out[0, :, 0], torch.stack([grey, white], dim=1), rtol=0, atol=1e-12)
    assert compare.print_colour(rgb, None) is rgb


def test_grain_is_zero_when_constant_and_lower_when_blurred():
    from scipy.ndimage import gaussian_filter
    mask = np.ones((48, 48), bool)
    assert compare.grain(np.full((48, 48, 3), 117.0), mask) < 1e-9
    image = noise((48, 48, 3))
    blurred = gaussian_filter(image, (2, 2, 0))
    noisier = image + noise(image.shape, seed=3, mean=0.0, sd=10.0)
    assert compare.grain(blurred, mask) < 0.2 * compare.grain(image, mask) < 0.2 * compare.grain(noisier, mask)


def test_grain_counts_only_the_masked_pixels():
    image = np.full((40, 40, 3), 50.0)
    image[:, 20:] = noise((40, 20, 3))
    left = np.zeros((40, 40), bool)
    left[:, :12] = True  # 8 px away from the noise: beyond the 1 px blur's reach
    assert compare.grain(image, left) < 1e-9
    assert compare.grain(image, ~left) > 5


def test_smooth_mask_takes_the_flat_part_of_the_photo():
    photo = np.full((40, 60, 3), 200.0)
    photo[:, 30:] = noise((40, 30, 3))
    mask = compare.smooth_mask(photo)
    assert mask.mean() == pytest.approx(compare.SMOOTH_FRACTION, abs=0.01)
    assert not mask[:, 30:].any()


def test_jpeg_roundtrip_with_given_tables_lowers_the_grain_of_white_noise():
    image = np.clip(np.rint(noise((64, 64, 3))), 0, 255)
    mask = np.ones((64, 64), bool)
    coarse = standard_tables(quality=50)  # steps growing with frequency, as in the published panels
    out = compare.jpeg_roundtrip(image, coarse, subsampling=2)
    assert out.shape == image.shape and out.dtype == np.float64
    assert compare.grain(out, mask) < 0.7 * compare.grain(image, mask)
    fine = {0: [1] * 64, 1: [1] * 64}  # quantisation step 1: nearly lossless, so the effect is the tables'
    assert compare.grain(compare.jpeg_roundtrip(image, fine, subsampling=0), mask) > 0.95 * compare.grain(image, mask)


@needs_published
def test_published_jpeg_reencoded_with_its_own_tables_is_nearly_unchanged():
    """Catches tables passed in the wrong (zigzag) order: re-encoding then changes the pixels several times more."""
    path = PUBLISHED / "fig3_C_starry_night_8e-4.jpg"
    if not path.is_file():
        pytest.skip(f"{path.name} not in {PUBLISHED}")
    pub = compare.pixels(path)
    qtables, subsampling = compare.jpeg_settings(path)
    assert subsampling in (0, 1, 2) and len(qtables) >= 2
    assert np.abs(compare.jpeg_roundtrip(pub, qtables, subsampling) - pub).mean() < 0.5
    png = PUBLISHED / "fig1_content_conv5_2.png"
    if png.is_file():
        assert compare.jpeg_settings(png) is None


@needs_published
def test_published_print_colour_map(neckarfront):
    cmap = compare.print_colour_map(PUBLISHED, neckarfront)
    if cmap is None:
        pytest.skip(f"{compare.COLOUR_PANELS} not all in {PUBLISHED}")
    gain, offset, rms = cmap
    assert np.all(np.abs(gain - 0.92) < 0.02), gain
    np.testing.assert_allclose(offset, [1.3, 7.8, 19.4], atol=1.5)
    assert rms < 20


def test_kandinsky_series_pairs_each_published_panel_with_both_printed_ratios():
    # [C] Fig 3 caption and Fig 4; [A] Methods (Fig 2F) and the columns of [A] Fig 3, which shows the same images
    assert compare.kandinsky_series() == [("fig3_F_kandinsky_5e-4.jpg", 5e-4, 1e-4),
                                          ("fig4_kandinsky_1e-4.jpg", 1e-4, 1e-5),
                                          ("fig4_kandinsky_1e-3.jpg", 1e-3, 1e-4),
                                          ("fig4_kandinsky_1e-2.jpg", 1e-2, 1e-3),
                                          ("fig4_kandinsky_1e-1.jpg", 1e-1, 1e-2)]


@needs_published
def test_published_kandinsky_panels_keep_more_of_the_photo_as_their_ratio_rises(neckarfront):
    # The published panels' content distances are 4 % or more apart (compare.md), far above rounding.
    rows = compare.label_check(compare.reference_network(), PUBLISHED, str(neckarfront.parent))
    if len(rows) < 5:
        pytest.skip(f"the Composition VII panels are not all in {PUBLISHED}")
    assert [r[1] for r in rows] == [1e-4, 5e-4, 1e-3, 1e-2, 1e-1]  # in the order of the [C] ratio
    content = [r[3] for r in rows]
    assert all(a > b for a, b in zip(content, content[1:])), content
    assert rows[1][4] == 0.0  # Fig 3F against itself


def test_a_runs_published_input_is_found_in_this_published_directory(tmp_path, neckarfront):
    """CVPR Figs 5 and 7 record the published panel they started from with the path of the machine that ran
    them; compare.py finds it by name in the --published it is given, and paper images as a run does."""
    published = tmp_path / "my-copy-of-the-pdf"
    manifest = {"fig5_content_photo.png": {}}
    elsewhere = "/another/machine/published-cvpr2016/fig5_content_photo.png"
    assert compare.run_input(elsewhere, None, published, manifest) == published / "fig5_content_photo.png"
    assert compare.run_input(neckarfront.name, str(neckarfront.parent), published, manifest) == neckarfront
