"""Texture by scale: band energies move with the detail an image has at that scale, and the comparison
tells which band and class differ."""

import cv2
import numpy as np
import pytest

from simstudio.eval.texture_scales import (
    BAND_NAMES,
    LESION_BANDS,
    compare_texture,
    format_texture,
    texture_bands,
    texture_matrix,
)

SKIN = (222, 172, 150)
LESION = (130, 80, 60)


def lesion_image(size=128, fine=0.0, blotch=0.0, skin_fine=0.0, seed=0, radius=0.3):
    """A soft brown disc on skin; `fine` adds per-pixel detail inside it, `blotch` lightness patches ~size/16
    across, `skin_fine` per-pixel detail in the skin."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    r = np.hypot(xx - size / 2, yy - size / 2) / size
    inside = 1 / (1 + np.exp((r - radius) / 0.015))
    img = np.array(SKIN, np.float32) * (1 - inside[..., None]) + np.array(LESION, np.float32) * inside[..., None]
    if blotch:
        patches = cv2.GaussianBlur(rng.normal(0, 1, (size, size)).astype(np.float32), (0, 0), size / 40)
        img += (blotch * patches / patches.std() * inside)[..., None]
    if fine:
        img += (fine * rng.normal(0, 1, (size, size)) * inside)[..., None]
    if skin_fine:
        img += (skin_fine * rng.normal(0, 1, (size, size)) * (1 - inside))[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


def test_fine_detail_raises_the_fine_lesion_bands_and_not_the_coarse_ones():
    smooth, grainy = texture_bands(lesion_image()), texture_bands(lesion_image(fine=12))
    assert grainy.shape == (len(BAND_NAMES),)
    assert grainy[0] > 3 * smooth[0] and grainy[1] > 2 * smooth[1]
    assert grainy[4] < smooth[4] + 0.5  # patches 1-2 mm across are not made by pixel noise


def test_blotches_raise_the_coarse_lesion_bands_most():
    smooth, blotchy = texture_bands(lesion_image()), texture_bands(lesion_image(blotch=25))
    gain = blotchy[:5] - smooth[:5]
    assert gain[4] > 1.0 and gain[4] > 5 * gain[0]


def test_skin_bands_measure_the_skin_only():
    plain, rough_skin = texture_bands(lesion_image()), texture_bands(lesion_image(skin_fine=12))
    k = len(LESION_BANDS)
    assert rough_skin[k] > 3 * plain[k]
    assert abs(rough_skin[0] - plain[0]) < 0.3  # the lesion's own detail is unchanged


def test_bands_are_undefined_without_enough_pixels_and_a_given_mask_is_used():
    out = texture_bands(lesion_image(), mask=np.ones((128, 128), bool))  # all lesion: no skin to measure
    assert np.isnan(out[len(LESION_BANDS):]).all() and np.isfinite(out[:len(LESION_BANDS)]).all()
    none = texture_bands(lesion_image(), mask=np.zeros((128, 128), bool))
    assert np.isnan(none[:len(LESION_BANDS)]).all()
    with pytest.raises(ValueError, match="mask is"):
        texture_bands(lesion_image(), mask=np.zeros((64, 64), bool))


def test_compare_texture_names_the_band_and_class_that_differ():
    classes = ["benign", "malignant"]
    real = texture_matrix([lesion_image(seed=s, fine=4 * (s % 2)) for s in range(16)])
    real_y = np.arange(16) % 2
    # synthetic: the malignant class is blotchy instead of grainy
    syn = texture_matrix([lesion_image(seed=100 + s, blotch=25 * (s % 2)) for s in range(16)])
    out = compare_texture(real, real_y, syn, real_y, classes)
    assert out["bands"] == list(BAND_NAMES) and len(out["labels"]) == len(BAND_NAMES)
    mal = out["per_class"]["malignant"]
    assert mal["n_real"] == 8 and mal["auc"][4] > 0.9      # coarse energy: synthetic malignant stands out
    assert mal["auc"][0] < 0.1                              # finest band: real malignant is grainier
    signal = out["class_signal"]["malignant"]
    assert signal["real"][0] > 0.9 and signal["synthetic"][4] > 0.9
    same = compare_texture(real, real_y, real, real_y, classes)
    assert all(v == pytest.approx(0.5) for v in same["per_class"]["benign"]["auc"] if v is not None)
    table = format_texture(out)
    assert "lesion σ 0–0.7 px" in table and "malignant signal" in table
    assert format_texture(out, markdown=True).count("\n") == len(BAND_NAMES) + 1
