import cv2
import numpy as np
import pytest

from simstudio.sim import acquisition as A
from simstudio.sim.acquisition import AcquisitionParams, apply_acquisition, sample_acquisition


def lesion_image(size=64, seed=0, skin=(205, 150, 140)):
    """Pinkish skin with a little texture and a dark brown disc in the middle."""
    rng = np.random.default_rng(seed)
    img = np.empty((size, size, 3), np.float32)
    img[:] = skin
    img += rng.normal(0, 3, (size, size, 1))
    yy, xx = np.mgrid[:size, :size]
    disc = (xx - size / 2) ** 2 + (yy - size / 2) ** 2 < (size / 5) ** 2
    img[disc] = (90, 55, 40)
    return np.clip(img, 0, 255).astype(np.uint8), disc


def lab(img):
    return cv2.cvtColor(img, cv2.COLOR_RGB2Lab).astype(np.float32) - (0, 128, 128)


def lapvar(img):
    return float(cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var())


def test_zero_strength_draw_returns_the_input_as_a_new_array():
    img, _ = lesion_image()
    before = img.copy()
    for k in range(20):
        p = sample_acquisition(k, strength=0.0)
        assert p.is_identity()
        out = apply_acquisition(img, p, seed=k)
        assert out is not img and np.array_equal(out, img)
    assert np.array_equal(img, before)


def test_every_layer_at_zero_is_the_identity():
    img, _ = lesion_image()
    for out in (A.shift_cast(img, 0, 0), A.add_vignette(img, 0), A.add_field_stop(img, 1.0), A.add_hair(img, 0, 1)[0],
                A.add_bubbles(img, 0, 1)[0], A.add_glare(img, 0, 1), A.blur(img, 0), A.sharpen(img, 0),
                A.add_noise(img, 0, 1), A.jpeg(img, 100)):
        assert np.array_equal(out, img) and out is not img


def test_no_layer_writes_to_its_input():
    img, _ = lesion_image()
    before = img.copy()
    A.shift_cast(img, 10, -5)
    A.add_vignette(img, 0.5, 1)
    A.add_field_stop(img, 0.8, 0.05, 1)
    A.add_hair(img, 5, 1)
    A.add_ruler(img, 1)
    A.add_bubbles(img, 3, 1)
    A.add_glare(img, 0.8, 1)
    A.blur(img, 1.0)
    A.sharpen(img, 1.0)
    A.add_noise(img, 5, 1)
    A.jpeg(img, 50)
    apply_acquisition(img, sample_acquisition(3, strength=3.0), 3)
    assert np.array_equal(img, before)


@pytest.mark.parametrize("layer", ["hair", "ruler", "bubbles"])
def test_mask_layers_change_only_the_pixels_of_their_mask(layer):
    img, _ = lesion_image(96)
    for seed in range(6):
        if layer == "hair":
            out, mask = A.add_hair(img, 6, seed)
        elif layer == "ruler":
            out, mask = A.add_ruler(img, seed)
        else:
            out, mask = A.add_bubbles(img, 3, seed)
        assert mask.dtype == bool and mask.shape == img.shape[:2]
        assert 0 < mask.mean() < 0.5
        assert np.array_equal(out[~mask], img[~mask])
        assert (out[mask] != img[mask]).any(axis=1).mean() > 0.5


def test_hair_is_dark_and_ruler_lies_along_one_edge():
    img, disc = lesion_image(96)
    out, mask = A.add_hair(img, 10, 4)
    assert lab(out)[mask & ~disc, 0].mean() < lab(img)[mask & ~disc, 0].mean() - 5
    for seed in range(8):
        _, mask = A.add_ruler(img, seed)
        ys, xs = np.nonzero(mask)
        band = (ys.max() < 0.3 * 96) or (ys.min() > 0.7 * 96) or (xs.max() < 0.3 * 96) or (xs.min() > 0.7 * 96)
        assert band, f"seed {seed}: ruler mask not confined to one edge band"


def test_ruler_ticks_have_the_asked_period():
    img = np.full((224, 224, 3), 200, np.uint8)
    out, _ = A.add_ruler(img, 0, period=5.0, edge=0)
    # The tick row below the baseline: dark every 5 px.
    g = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY).astype(np.float32)
    rows = np.nonzero((g < 150).mean(1) > 0.05)[0]
    profile = g[rows[len(rows) // 2] + 2]
    spectrum = np.abs(np.fft.rfft(profile - profile.mean()))
    freq = np.argmax(spectrum[1:]) + 1
    assert abs(224 / freq - 5.0) < 0.3


def test_cast_moves_a_b_by_the_asked_amount_and_keeps_lightness():
    img, disc = lesion_image()
    out = A.shift_cast(img, 12, -8)
    d = lab(out) - lab(img)
    assert abs(np.median(d[~disc, 1]) - 12) <= 1.5
    assert abs(np.median(d[~disc, 2]) + 8) <= 1.5
    assert abs(np.median(d[..., 0])) <= 2


def test_cast_to_sets_the_skin_colour_whatever_the_start():
    for skin in ((220, 140, 150), (190, 170, 150), (160, 150, 170)):
        img, _ = lesion_image(skin=skin)
        out = A.cast_to(img, 25.0, 5.0)
        a, b = A.skin_ab(out)
        assert abs(a - 25) <= 2.5 and abs(b - 5) <= 2.5


def test_vignette_only_darkens_toward_the_corners():
    img, _ = lesion_image()
    out = A.add_vignette(img, 0.6, 3)
    assert (out.astype(int) <= img.astype(int)).all()
    assert np.array_equal(out[28:36, 28:36], img[28:36, 28:36])
    corner = lab(out)[:4, :4, 0].mean()
    assert corner < lab(img)[:4, :4, 0].mean() - 10


def test_field_stop_is_dark_outside_its_circle_and_untouched_inside():
    img, _ = lesion_image(128)
    out = A.add_field_stop(img, 0.8, 0.05, 2)
    assert out[:3, :3].max() < 30
    X, Y = A._grid(128, 128)
    inside = np.hypot(X, Y) < 0.8 - 0.02
    assert np.array_equal(out[inside], img[inside])


def test_glare_only_brightens_and_blur_sharpen_move_sharpness():
    img, _ = lesion_image()
    g = A.add_glare(img, 0.9, 5)
    assert (g.astype(int) >= img.astype(int)).all() and (g != img).any()
    assert lapvar(A.blur(img, 1.0)) < 0.5 * lapvar(img)
    assert lapvar(A.sharpen(img, 1.0)) > 1.5 * lapvar(img)
    assert abs(A.blur(img, 1.0).mean() - img.mean()) < 1.5
    n = A.add_noise(img, 6, 1).astype(float) - img
    assert 3 < n.std() < 8
    j = A.jpeg(img, 30)
    assert j.shape == img.shape and (j != img).any()


def test_same_seed_same_edit_other_seed_other_edit():
    img, _ = lesion_image()
    p = sample_acquisition(7, strength=3.0)
    assert np.array_equal(apply_acquisition(img, p, 11), apply_acquisition(img, p, 11))
    assert not np.array_equal(apply_acquisition(img, p, 11), apply_acquisition(img, p, 12))
    assert sample_acquisition(5) == sample_acquisition(5)
    assert sample_acquisition(5) != sample_acquisition(6)
    for f in (lambda s: A.add_hair(img, 4, s)[0], lambda s: A.add_ruler(img, s)[0],
              lambda s: A.add_bubbles(img, 2, s)[0], lambda s: A.add_glare(img, 0.5, s),
              lambda s: A.add_noise(img, 4, s), lambda s: A.add_vignette(img, 0.5, s)):
        assert np.array_equal(f(1), f(1)) and not np.array_equal(f(1), f(2))


def test_draws_share_one_distribution_with_the_pooled_rates():
    draws = [sample_acquisition(k) for k in range(3000)]
    rate = {
        "field stop": np.mean([d.field_stop_radius > 0 for d in draws]),
        "vignette": np.mean([d.vignette > 0 for d in draws]),
        "hair": np.mean([d.hair > 0 for d in draws]),
        "ruler": np.mean([d.ruler for d in draws]),
    }
    assert abs(rate["field stop"] - A.FIELD_STOP_RATE) < 0.03
    assert abs(rate["vignette"] - A.VIGNETTE_RATE) < 0.03
    assert abs(rate["hair"] - A.HAIR_RATE) < 0.03
    assert abs(rate["ruler"] - A.RULER_RATE) < 0.015
    a = np.array([d.cast_a for d in draws])
    b = np.array([d.cast_b for d in draws])
    assert a.min() >= 3 and a.max() <= 40 and b.min() >= -7 and b.max() <= 24
    twice = np.mean([sample_acquisition(k, strength=2.0).field_stop_radius > 0 for k in range(3000)])
    assert abs(twice - 2 * A.FIELD_STOP_RATE) < 0.04
    for d in draws[:200]:
        d.validate()


def test_shades_of_gray_first_removes_the_old_cast():
    pink, _ = lesion_image(skin=(230, 140, 160))
    plain, _ = lesion_image(skin=(200, 170, 150))
    p = AcquisitionParams(cast_mix=0.0)
    a1 = A.skin_ab(apply_acquisition(pink, p, 0, shades_of_gray_first=True))
    a2 = A.skin_ab(apply_acquisition(plain, p, 0, shades_of_gray_first=True))
    assert abs(a1[0] - a2[0]) < abs(A.skin_ab(pink)[0] - A.skin_ab(plain)[0])


@pytest.mark.parametrize("field, value, words", [
    ("vignette", 1.5, "vignette = 1.5 is out of range [0.0, 0.9]"),
    ("hair", 2.5, "hair = 2.5: expected an integer"),
    ("jpeg_quality", 2, "jpeg_quality = 2 is out of range [5, 100]"),
    ("field_stop_radius", 0.3, "field_stop_radius = 0.3 is out of range: 0 (none) or [0.5, 1]"),
    ("noise", float("nan"), "noise = nan"),
    ("ruler", "yes", "ruler = 'yes'"),
])
def test_validate_names_the_bad_field_and_its_range(field, value, words):
    with pytest.raises(ValueError, match=words.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")
                       .replace(")", r"\)").replace(".", r"\.")):
        AcquisitionParams(**{field: value}).validate()
    with pytest.raises(ValueError, match="strength"):
        sample_acquisition(0, strength=5)
    with pytest.raises(ValueError, match="uint8 RGB"):
        apply_acquisition(np.zeros((32, 32), np.uint8), AcquisitionParams())


def test_from_dict_refuses_unknown_settings():
    assert AcquisitionParams.from_dict({"vignette": 0.3}).vignette == 0.3
    with pytest.raises(ValueError, match="unknown acquisition setting"):
        AcquisitionParams.from_dict({"vignete": 0.3})
