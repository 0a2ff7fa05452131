import cv2
import numpy as np
import pytest

from simstudio.sim.measure import asymmetry_index, measure_abcd
from simstudio.sim.params import LesionParams
from simstudio.sim.presets import CLASS_PRESETS, sample_params
from simstudio.sim.render import render_lesion

# A plain lesion on plain skin: no artefacts, so a test sees only the parameter it moves.
PLAIN = LesionParams(hair_count=0, specular=0.0, gel_bubbles=0, vignette=0.0, noise=0.0, blur_mm=0.0,
                     illumination_gradient=0.0, network=0.0, globules=0, skin_texture=0.0, erythema=0.0)


def test_same_params_and_seed_give_byte_identical_images():
    p = sample_params("melanoma", np.random.default_rng(3))
    a, ma = render_lesion(p, 96, seed=11)
    b, mb = render_lesion(p, 96, seed=11)
    assert a.tobytes() == b.tobytes() and ma.tobytes() == mb.tobytes()
    c, _ = render_lesion(p, 96, seed=12)
    assert a.tobytes() != c.tobytes()


@pytest.mark.parametrize("size", [32, 64, 200, 512])
def test_any_size_from_32_to_512(size):
    img, mask = render_lesion(sample_params("nevus", np.random.default_rng(0)), size, seed=1)
    assert img.shape == (size, size, 3) and img.dtype == np.uint8
    assert mask.shape == (size, size) and mask.dtype == bool and mask.any()


def test_same_lesion_at_every_resolution():
    p = PLAIN.replace(asymmetry=0.8, border_irregularity=0.6)
    _, small = render_lesion(p, 64, seed=5)
    _, big = render_lesion(p, 256, seed=5)
    big_down = cv2.resize(big.astype(np.uint8), (64, 64), interpolation=cv2.INTER_AREA) > 0
    assert (small ^ big_down).mean() < 0.03


@pytest.mark.parametrize("size", [16, 513, 128.5])
def test_size_out_of_range_is_named(size):
    with pytest.raises(ValueError, match=r"size .* \[32, 512\]"):
        render_lesion(PLAIN, size)


def test_out_of_range_parameter_names_itself_and_its_range():
    with pytest.raises(ValueError, match=r"asymmetry = 1.7 is out of range: expected \[0, 1\]"):
        render_lesion(PLAIN.replace(asymmetry=1.7), 64)
    with pytest.raises(ValueError, match="colours .* out of range"):
        render_lesion(PLAIN.replace(colours=("purple",)), 64)


def test_larger_diameter_gives_larger_mask():
    areas = [render_lesion(PLAIN.replace(diameter_mm=d), 128, seed=2)[1].mean() for d in (3, 6, 12)]
    assert areas[0] < areas[1] < areas[2]
    # Diameter is in mm of skin: the measured equivalent diameter tracks it.
    m = measure_abcd(*render_lesion(PLAIN.replace(diameter_mm=8, elongation=1.0), 128, seed=2), fov_mm=20)
    assert 6.5 < m["diameter_mm"] < 9.5


def test_more_asymmetry_gives_larger_mirror_mismatch():
    def mean_asym(a):
        return np.mean([asymmetry_index(render_lesion(PLAIN.replace(asymmetry=a), 128, seed=s)[1])
                        for s in range(6)])

    lo, mid, hi = mean_asym(0.0), mean_asym(0.5), mean_asym(1.0)
    assert lo < mid < hi
    assert lo < 0.08 and hi > 2 * lo


def test_more_colours_give_more_distinct_colour_clusters():
    def n_present(colours):
        p = PLAIN.replace(colours=colours, colour_layout="blotchy", pigment_intensity=1.0, tint_a=0, tint_b=0,
                          diameter_mm=12)
        return np.mean([len(measure_abcd(*render_lesion(p, 128, seed=s), fov_mm=20)["colours_present"])
                        for s in range(5)])

    one = n_present(("dark_brown",))
    three = n_present(("dark_brown", "black", "blue_grey"))
    five = n_present(("light_brown", "dark_brown", "black", "blue_grey", "white"))
    assert one < three < five


def test_more_hair_gives_more_thin_dark_strokes():
    def stroke_pixels(n):
        img, mask = render_lesion(PLAIN.replace(hair_count=n, hair_colour="black", diameter_mm=4), 128, seed=4)
        gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))
        blackhat = cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT, kernel)
        skin = cv2.dilate(mask.astype(np.uint8), kernel, iterations=2) == 0  # strokes on the skin only
        return int(((blackhat > 25) & skin).sum())

    counts = [stroke_pixels(n) for n in (0, 5, 20)]
    assert counts[0] < 10 and counts[0] < counts[1] < counts[2]


def test_changing_an_acquisition_parameter_keeps_the_lesion():
    # Each component draws from its own stream: adding hair must not reshape the lesion.
    p = sample_params("melanoma", np.random.default_rng(9))
    _, m1 = render_lesion(p.replace(hair_count=0), 96, seed=3)
    _, m2 = render_lesion(p.replace(hair_count=25), 96, seed=3)
    assert (m1 == m2).all()


@pytest.mark.parametrize("preset", CLASS_PRESETS)
def test_every_class_preset_renders(preset):
    rng = np.random.default_rng(1)
    for i in range(5):
        img, mask = render_lesion(sample_params(preset, rng), 64, seed=i)
        assert 0.005 < mask.mean() < 0.95 and img.std() > 3


def _lab(img):
    return cv2.cvtColor(img.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)


def _mean_over_seeds(fn, params, seeds=range(4), size=96):
    return np.mean([fn(*render_lesion(params, size, seed=s)) for s in seeds])


def test_more_border_irregularity_gives_a_less_compact_contour():
    def compact(irr):
        return _mean_over_seeds(lambda img, m: measure_abcd(img, m, 20)["compactness"],
                                PLAIN.replace(border_irregularity=irr, diameter_mm=8))

    assert compact(0.0) < compact(0.5) < compact(1.0)


def test_more_border_blur_gives_a_softer_edge():
    def edge_gradient(blur):
        def grad(img, mask):
            L = _lab(img)[..., 0]
            g = np.hypot(cv2.Sobel(L, cv2.CV_32F, 1, 0), cv2.Sobel(L, cv2.CV_32F, 0, 1))
            rim = mask ^ (cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
            return g[rim].mean()
        return _mean_over_seeds(grad, PLAIN.replace(border_blur=blur, diameter_mm=8))

    assert edge_gradient(0.05) > edge_gradient(0.2) > edge_gradient(0.5)


def test_more_pigment_intensity_gives_a_darker_lesion():
    def lesion_L(intensity):
        return _mean_over_seeds(lambda img, m: _lab(img)[..., 0][m].mean(),
                                PLAIN.replace(pigment_intensity=intensity))

    assert lesion_L(0.3) > lesion_L(0.8) + 3 > lesion_L(1.4) + 6


def test_darker_fitzpatrick_type_gives_darker_skin():
    def skin_L(kind):
        return _mean_over_seeds(lambda img, m: _lab(img)[..., 0][~m].mean(), PLAIN.replace(skin_type=kind))

    levels = [skin_L(k) for k in (1, 3, 6)]
    assert levels[0] > levels[1] + 5 > levels[2] + 10


def test_tint_shifts_the_whole_picture_the_way_it_is_named():
    base = _mean_over_seeds(lambda img, m: _lab(img)[..., 1:].reshape(-1, 2).mean(0)[0], PLAIN.replace(tint_a=0))
    pink = _mean_over_seeds(lambda img, m: _lab(img)[..., 1:].reshape(-1, 2).mean(0)[0], PLAIN.replace(tint_a=20))
    assert pink > base + 12
    yellow = _mean_over_seeds(lambda img, m: _lab(img)[..., 2].mean(), PLAIN.replace(tint_b=15))
    violet = _mean_over_seeds(lambda img, m: _lab(img)[..., 2].mean(), PLAIN.replace(tint_b=-10))
    assert yellow > violet + 18


def test_network_adds_fine_structure_inside_the_lesion():
    def detail(network, atypia=0.1):
        def hf(img, mask):
            L = _lab(img)[..., 0]
            return np.abs(L - cv2.GaussianBlur(L, (0, 0), 2))[mask].mean()
        return _mean_over_seeds(hf, PLAIN.replace(network=network, network_atypia=atypia, diameter_mm=10,
                                                  colour_variegation=0.0), size=256)

    assert detail(1.0) > 1.25 * detail(0.0)
    assert detail(1.0, atypia=0.8) > 1.2 * detail(1.0)  # thick atypical lines stand out more


def test_globules_are_dark_dots_inside_the_lesion():
    def dots(n):
        def count(img, mask):
            L = _lab(img)[..., 0]
            blackhat = cv2.morphologyEx(L, cv2.MORPH_BLACKHAT, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7)))
            return ((blackhat > 8) & mask).sum()
        return _mean_over_seeds(count, PLAIN.replace(globules=n, diameter_mm=10), size=200)

    assert dots(0) < dots(20) < dots(60)


def test_milia_cysts_are_bright_spots_and_several_lesions_are_several_regions():
    def bright(n):
        def count(img, mask):
            L = _lab(img)[..., 0]
            tophat = cv2.morphologyEx(L, cv2.MORPH_TOPHAT, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7)))
            return ((tophat > 10) & mask).sum()
        return _mean_over_seeds(count, PLAIN.replace(milia_cysts=n, diameter_mm=10), size=200)

    assert bright(0) < bright(20)

    def regions(n):
        def count(img, mask):
            return cv2.connectedComponents(mask.astype(np.uint8))[0] - 1
        return _mean_over_seeds(count, PLAIN.replace(n_lesions=n, diameter_mm=5))

    assert regions(1) < regions(3)


def test_vignette_darkens_the_corners_and_leaves_the_lesion():
    a, _ = render_lesion(PLAIN, 96, seed=1)
    b, _ = render_lesion(PLAIN.replace(vignette=0.9), 96, seed=1)
    corners = np.concatenate([x[:8, :8].ravel() for x in (b, b[:, ::-1], b[::-1], b[::-1, ::-1])])
    corners_before = np.concatenate([x[:8, :8].ravel() for x in (a, a[:, ::-1], a[::-1], a[::-1, ::-1])])
    assert corners.mean() < corners_before.mean() - 60
    centre = (slice(36, 60), slice(36, 60))
    assert np.abs(a[centre].astype(int) - b[centre].astype(int)).mean() < 2


def test_blur_and_noise_move_the_sharpness_the_way_they_say():
    def sharpness(img, mask):
        return cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var()

    sharp = _mean_over_seeds(sharpness, PLAIN.replace(blur_mm=0.0, skin_texture=0.8))
    blurred = _mean_over_seeds(sharpness, PLAIN.replace(blur_mm=0.3, skin_texture=0.8))
    noisy = _mean_over_seeds(sharpness, PLAIN.replace(noise=0.05, skin_texture=0.8))
    assert blurred < 0.5 * sharp < noisy


def test_low_jpeg_quality_changes_the_image_only_a_little():
    a, _ = render_lesion(PLAIN, 96, seed=2)
    b, _ = render_lesion(PLAIN.replace(jpeg_quality=30), 96, seed=2)
    diff = np.abs(a.astype(int) - b.astype(int)).mean()
    assert 0.2 < diff < 6


def test_ruler_gel_bubbles_and_glare_each_change_the_picture():
    base, _ = render_lesion(PLAIN, 96, seed=3)
    for change in ({"ruler": True}, {"gel_bubbles": 4}, {"specular": 0.8}, {"streaks": 1.0},
                   {"blue_white_veil": 1.0}, {"regression": 1.0}, {"cerebriform": 1.0}, {"erythema": 1.0},
                   {"hair_curl": 1.0, "hair_count": 5}):
        img, _ = render_lesion(PLAIN.replace(**change), 96, seed=3)
        assert (np.abs(img.astype(int) - base.astype(int)).max(-1) > 8).mean() > 0.001, change
