import cv2
import numpy as np
import pytest

from simstudio.data.preprocess import (
    Preprocessing,
    bilateral_filter,
    fit_square,
    gamma_correct,
    hair_mask,
    preprocess_image,
    remove_hair,
    shades_of_gray,
)


def test_gamma_above_one_brightens_mid_tones_and_keeps_black_and_white():
    ramp = np.tile(np.arange(256, dtype=np.uint8), (4, 1))[..., None].repeat(3, axis=2)
    out = gamma_correct(ramp, 1.5)  # the paper's G
    assert out[0, 128, 0] > 128 + 20  # mid-grey lifts (to ~161)
    assert out[0, 0, 0] == 0 and out[0, 255, 0] == 255
    assert (np.diff(out[0, :, 0].astype(int)) >= 0).all()  # still monotone
    assert gamma_correct(ramp, 1 / 1.5)[0, 128, 0] < 128  # the inverse darkens
    assert np.array_equal(gamma_correct(ramp, 1.0), ramp)


def test_bilateral_keeps_a_step_edge_sharper_than_a_gaussian_of_the_same_strength():
    rng = np.random.default_rng(0)
    img = np.full((64, 64, 3), 60, np.float32)
    img[:, 32:] = 190
    img = np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)
    sigma_space = 5.0
    bil = bilateral_filter(img, d=15, sigma_color=40, sigma_space=sigma_space)
    gauss = cv2.GaussianBlur(img, (15, 15), sigma_space)

    def edge_jump(x):  # mean difference between the two columns either side of the step
        return float(x[:, 32].astype(int).mean() - x[:, 31].astype(int).mean())

    assert edge_jump(bil) > 100  # nearly the full 130 step survives
    assert edge_jump(bil) > 3 * edge_jump(gauss)
    # ... while the noise on the flat parts is smoothed as well as the Gaussian does.
    assert bil[:, 5:25].std() < img[:, 5:25].std() / 2


def test_hair_removal_fills_thin_dark_lines_but_keeps_a_lesion():
    skin = np.full((96, 96, 3), (200, 150, 130), np.uint8)
    cv2.circle(skin, (48, 48), 20, (90, 50, 40), -1)  # a lesion far wider than a hair
    hairy = skin.copy()
    cv2.line(hairy, (0, 10), (95, 30), (20, 15, 10), 1)
    cv2.line(hairy, (10, 95), (90, 0), (20, 15, 10), 2)
    mask = hair_mask(hairy, kernel=9)
    assert mask[10, 0] == 255  # on the hair
    out = remove_hair(hairy, kernel=9)
    off_lesion = np.hypot(*np.mgrid[-48:48, -48:48]) > 24
    hair_px = (np.abs(hairy.astype(int) - skin.astype(int)).sum(2) > 60) & off_lesion
    err_before = np.abs(hairy.astype(int) - skin.astype(int))[hair_px].mean()
    err_after = np.abs(out.astype(int) - skin.astype(int))[hair_px].mean()
    assert err_after < err_before / 3
    assert np.abs(out[48, 48].astype(int) - (90, 50, 40)).max() < 15  # lesion centre untouched


def test_shades_of_gray_removes_a_colour_cast():
    rng = np.random.default_rng(1)
    neutral = rng.integers(60, 200, (32, 32, 1)).repeat(3, axis=2).astype(np.float32)
    cast = np.clip(neutral * (1.25, 1.0, 0.75), 0, 255).astype(np.uint8)
    out = shades_of_gray(cast, p=6).astype(float)
    means = out.reshape(-1, 3).mean(0)
    assert np.ptp(means) < 0.2 * np.ptp(cast.reshape(-1, 3).mean(0))


def test_fit_square_modes():
    img = np.zeros((40, 80, 3), np.uint8)
    img[:, 20:60] = 255  # the centre square is white
    assert fit_square(img, 32, "resize").shape == (32, 32, 3)
    assert fit_square(img, 32, "crop").min() == 255  # only the white centre is kept
    padded = fit_square(img, 32, "pad")
    assert padded.shape == (32, 32, 3) and padded[0].max() == 0 and padded[16, 16, 0] == 255
    with pytest.raises(ValueError, match="fit must be"):
        fit_square(img, 32, "stretch")


def test_preprocess_image_runs_every_step_and_validate_names_bad_settings():
    rng = np.random.default_rng(2)
    img = rng.integers(0, 255, (50, 70, 3)).astype(np.uint8)
    pre = Preprocessing(size=24, fit="crop", bilateral=True, gamma=1.5, hair_removal=True,
                        shades_of_gray=True)
    out = preprocess_image(img, pre.validate())
    assert out.shape == (24, 24, 3) and out.dtype == np.uint8
    assert "gamma 1.5" in pre.describe() and "bilateral" in pre.describe()
    assert Preprocessing(size=24).key() != pre.key()
    with pytest.raises(ValueError, match="gamma"):
        Preprocessing(gamma=0).validate()
    with pytest.raises(ValueError, match="size"):
        Preprocessing(size=2).validate()
