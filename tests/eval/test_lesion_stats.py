"""The lesion-statistics measure recovers what was drawn: area, colour, shape, border, artefacts."""

import cv2
import numpy as np
import pytest

from simstudio.eval.lesion_stats import (
    PALETTE_SRGB,
    STAT_NAMES,
    asymmetry_index,
    compactness,
    measure_images,
    measure_lesion,
    otsu_threshold,
    rgb_to_lab,
    segment_lesion,
    statistics_matrix,
)

SKIN = (222, 172, 150)
LESION = (120, 72, 52)


def draw(mask: np.ndarray, lesion=LESION, skin=SKIN, blur: float = 0.0, noise: float = 2.0, seed: int = 0):
    """An image of flat skin with the lesion colour inside `mask`, optionally blurred, with mild noise."""
    img = np.empty((*mask.shape, 3), np.float32)
    img[:] = skin
    img[mask] = lesion
    if blur:
        img = cv2.GaussianBlur(img, (0, 0), blur)
    img += np.random.default_rng(seed).normal(0, noise, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def ellipse_mask(size=128, axes=(32, 32), centre=None, angle=0.0):
    m = np.zeros((size, size), np.uint8)
    centre = centre or (size // 2, size // 2)
    cv2.ellipse(m, centre, axes, angle, 0, 360, 1, -1)
    return m > 0


def lobed_mask(size=128, r=30, lobes=7, depth=0.35):
    """A star-like blob: radius modulated by a cosine, the shape of an irregular (notched) border."""
    yy, xx = np.mgrid[:size, :size] - size / 2
    theta, rad = np.arctan2(yy, xx), np.hypot(yy, xx)
    return rad < r * (1 + depth * np.cos(lobes * theta))


@pytest.mark.parametrize("size", [64, 128, 224])
def test_disc_area_and_colours_are_recovered(size):
    mask = ellipse_mask(size, (int(size * 0.22), int(size * 0.22)))
    stats = measure_lesion(draw(mask))
    assert stats["area_frac"] == pytest.approx(mask.mean(), rel=0.04)
    want_lesion, want_skin = rgb_to_lab(np.array([LESION, SKIN], np.uint8))
    got_lesion = np.array([stats["lesion_L"], stats["lesion_a"], stats["lesion_b"]])
    got_skin = np.array([stats["skin_L"], stats["skin_a"], stats["skin_b"]])
    assert np.linalg.norm(got_lesion - want_lesion) < 2.0
    assert np.linalg.norm(got_skin - want_skin) < 2.0
    assert stats["dL"] == pytest.approx(want_lesion[0] - want_skin[0], abs=2.0)
    assert stats["compactness"] == pytest.approx(1.0, abs=0.06)
    assert stats["asymmetry"] < 0.05
    assert stats["touches_edge"] == 0


def test_segmentation_matches_a_known_irregular_mask():
    mask = lobed_mask(128)
    seg = segment_lesion(draw(mask, blur=1.0))
    iou = (seg.mask & mask).sum() / (seg.mask | mask).sum()
    assert iou > 0.9


def test_a_given_mask_is_used_as_is():
    mask = ellipse_mask(96, (20, 20))
    half = mask.copy()
    half[:, 48:] = False
    assert measure_lesion(draw(mask), mask=half)["area_frac"] == pytest.approx(half.mean())
    with pytest.raises(ValueError, match="mask shape"):
        measure_lesion(draw(mask), mask=half[:50])


def test_shape_figures_move_with_the_shape():
    disc, ellipse = ellipse_mask(128, (30, 30)), ellipse_mask(128, (40, 20), angle=30)
    lobed = lobed_mask(128)
    lopsided = ellipse_mask(128, (30, 30)) | ellipse_mask(128, (14, 14), centre=(96, 64))
    assert measure_lesion(draw(ellipse))["elongation"] == pytest.approx(2.0, rel=0.08)
    assert compactness(lobed) > compactness(disc) + 0.3
    assert asymmetry_index(lopsided) > asymmetry_index(ellipse) + 0.1
    assert asymmetry_index(ellipse) < 0.05


def test_border_width_follows_the_edge_blur():
    mask = ellipse_mask(224, (50, 50))
    widths = [measure_lesion(draw(mask, blur=b))["border_width_rel"] * np.sqrt(4 * mask.sum() / np.pi)
              for b in (0.0, 3.0, 5.0)]
    assert widths[0] < 3.0
    # A Gaussian-blurred step rises from 10 % to 90 % over 2 * 1.2816 sigma.
    assert widths[1] == pytest.approx(2 * 1.2816 * 3.0, rel=0.2)
    assert widths[2] == pytest.approx(2 * 1.2816 * 5.0, rel=0.2)


def test_colour_count_sees_two_palette_colours():
    mask = ellipse_mask(128, (34, 34))
    img = draw(mask, lesion=PALETTE_SRGB["light_brown"], noise=1.0)
    img[mask & (np.arange(128)[None, :] >= 64)] = PALETTE_SRGB["dark_brown"]
    one = measure_lesion(draw(mask, lesion=PALETTE_SRGB["light_brown"], noise=1.0))
    two = measure_lesion(img)
    assert one["n_colours_raw"] == 1 and two["n_colours_raw"] == 2
    assert two["col_dark_brown"] == pytest.approx(0.5, abs=0.1)


def test_hair_vignette_and_blur_are_detected():
    mask = ellipse_mask(128, (26, 26))
    clean = draw(mask)
    hairy = clean.copy()
    for x in (12, 30, 100, 116):
        cv2.line(hairy, (x, 0), (x + 10, 127), (30, 20, 15), 1)
    yy, xx = np.mgrid[:128, :128] - 63.5
    scoped = clean.copy()
    scoped[np.hypot(yy, xx) > 70] = 0          # the black field stop of a dermatoscope
    s_clean, s_hairy, s_scoped = measure_lesion(clean), measure_lesion(hairy), measure_lesion(scoped)
    assert s_clean["hair_frac"] == 0 and s_hairy["hair_frac"] > 0.01
    assert s_clean["vignette_area"] == 0 and s_scoped["vignette_area"] > 0.1
    assert s_scoped["vignette_drop"] > 20 and abs(s_clean["vignette_drop"]) < 3
    assert s_scoped["area_frac"] == pytest.approx(mask.mean(), rel=0.05)   # the stop is not the lesion
    assert measure_lesion(cv2.GaussianBlur(clean, (0, 0), 2))["sharpness"] < s_clean["sharpness"] / 4


def test_many_images_give_columns_and_a_nan_free_matrix():
    imgs = [draw(ellipse_mask(64, (r, r))) for r in (8, 12, 16)]
    imgs.append(np.full((64, 64, 3), 200, np.uint8))   # no lesion at all: NaN figures, no crash
    seen = []
    cols = measure_images(imgs, progress=lambda d, t: seen.append((d, t)))
    assert set(cols) == set(STAT_NAMES) and all(len(v) == 4 for v in cols.values())
    assert np.diff(cols["area_frac"][:3]).min() > 0
    assert seen[-1] == (4, 4)
    X = statistics_matrix(cols)
    assert X.shape == (4, len(STAT_NAMES)) and np.isfinite(X).all()


def test_otsu_splits_two_modes_and_bad_input_is_named():
    rng = np.random.default_rng(0)
    t = otsu_threshold(np.r_[rng.normal(20, 3, 500), rng.normal(70, 3, 300)])
    assert 35 < t < 55
    with pytest.raises(ValueError, match="RGB"):
        measure_lesion(np.zeros((32, 32), np.uint8))


def test_segmentation_recovers_the_simulators_own_mask():
    """On rendered lesions (soft border, network, skin texture) the segmentation finds the renderer's mask
    and the measured area follows the drawn diameter."""
    from simstudio.sim.params import LesionParams
    from simstudio.sim.render import render_lesion

    areas = []
    for i, d in enumerate((5.0, 8.0, 11.0)):
        params = LesionParams(diameter_mm=d, asymmetry=0.3, hair_count=0, vignette=0.0, rotation_deg=40.0 * i)
        rgb, mask = render_lesion(params, size=128, seed=i)
        seg = segment_lesion(rgb).mask
        assert (seg & mask).sum() / (seg | mask).sum() > 0.75
        stats = measure_lesion(rgb)
        assert stats["area_frac"] == pytest.approx(mask.mean(), rel=0.3)
        assert stats["dL"] < -5                     # the lesion is darker than its skin
        areas.append(stats["area_frac"])
    assert areas[0] < areas[1] < areas[2]
