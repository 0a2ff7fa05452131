import cv2
import numpy as np
import pytest

from simstudio.sim.measure import asymmetry_index, measure_abcd
from simstudio.sim.params import LesionParams
from simstudio.sim.presets import CLASS_PRESETS, sample_params
from simstudio.sim.render import MASK_NAMES, RENDERER_VERSION, render_lesion, warm_up

# A plain lesion on plain skin: no artefacts, so a test sees only the parameter it moves.
PLAIN = LesionParams(hair_count=0, specular=0.0, gel_bubbles=0, vignette=0.0, noise=0.0, blur_mm=0.0,
                     illumination_gradient=0.0, network=0.0, globules=0, skin_texture=0.0, erythema=0.0,
                     tint_a=0.0, tint_b=0.0, colour_variegation=0.0)


def _lab(img):
    return cv2.cvtColor(img.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)


def _mean_over_seeds(fn, params, seeds=range(4), size=96):
    return np.mean([fn(*render_lesion(params, size, seed=s)) for s in seeds])


def _lesion_lab(img, mask):
    inner = cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    return _lab(img)[inner].mean(0)


def test_renderer_has_a_version_and_warms_up():
    assert RENDERER_VERSION == 7
    assert warm_up() >= 0


def test_each_renderer_version_says_what_it_changed():
    from simstudio.sim.render import RENDERER_CHANGES, renderer_changes_since

    assert RENDERER_VERSION in RENDERER_CHANGES  # a version bump must say what it draws differently
    assert renderer_changes_since(RENDERER_VERSION) == "nothing"
    assert renderer_changes_since(RENDERER_VERSION - 1).startswith(f"version {RENDERER_VERSION}: ")
    assert renderer_changes_since(1).startswith("the look of every image")


def test_same_params_and_seed_give_byte_identical_images():
    p = sample_params("melanoma", np.random.default_rng(3)).replace(hair_count=5, noise=0.01)
    a, ma, sa = render_lesion(p, 96, seed=11, masks=True)
    render_lesion(sample_params("nevus", np.random.default_rng(4)), 64, seed=2)  # other work in between
    b, mb, sb = render_lesion(p, 96, seed=11, masks=True)
    assert a.tobytes() == b.tobytes() and ma.tobytes() == mb.tobytes()
    assert all(sa[k].tobytes() == sb[k].tobytes() for k in MASK_NAMES)
    c, _ = render_lesion(p, 96, seed=12)
    assert a.tobytes() != c.tobytes()


def test_huge_seeds_are_accepted():
    a, _ = render_lesion(PLAIN, 32, seed=2**63 - 1)
    b, _ = render_lesion(PLAIN, 32, seed=2**63 - 2)
    assert a.tobytes() != b.tobytes()


@pytest.mark.parametrize("size", [32, 64, 200, 512])
def test_any_size_from_32_to_512(size):
    img, mask, masks = render_lesion(sample_params("nevus", np.random.default_rng(0)), size, seed=1, masks=True)
    assert img.shape == (size, size, 3) and img.dtype == np.uint8
    assert mask.shape == (size, size) and mask.dtype == bool and mask.any()
    assert set(masks) == {"pigment_network", "negative_network", "streaks", "globules", "milia_cysts", "hair"}
    assert all(m.shape == (size, size) and m.dtype == bool for m in masks.values())


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


@pytest.mark.parametrize("change, message", [
    ({"asymmetry": 1.7}, r"asymmetry = 1.7 is out of range: expected \[0, 1\]"),
    ({"border_width": 0.5}, r"border_width = 0.5 is out of range: expected \[0, 0.4\]"),
    ({"abrupt_segments": 9}, r"abrupt_segments = 9 is out of range: expected \[0, 8\]"),
    ({"dermal_melanin": -0.1}, r"dermal_melanin = -0.1 is out of range"),
    ({"haemoglobin": 1.5}, r"haemoglobin = 1.5 is out of range"),
    ({"epidermal_melanin": 0.0}, r"epidermal_melanin = 0.0 is out of range"),
    ({"vessels": 2.0}, r"vessels = 2.0 is out of range"),
    ({"vessel_pattern": "wavy"}, r"vessel_pattern = 'wavy' is out of range: expected one of dotted, hairpin"),
    ({"negative_network": 1.1}, r"negative_network = 1.1 is out of range"),
    ({"comedo_openings": 31}, r"comedo_openings = 31 is out of range"),
    ({"white_balance": 30.0}, r"white_balance = 30.0 is out of range: expected \[-25, 25\] b\*"),
    ({"exposure": -2.0}, r"exposure = -2.0 is out of range: expected \[-1.5, 1.5\] EV"),
    ({"colours": ("purple",)}, r"colours .* out of range"),
    ({"lens_falloff": 1.5}, r"lens_falloff = 1.5 is out of range"),
    ({"pigment_gaps": -0.1}, r"pigment_gaps = -0.1 is out of range"),
])
def test_out_of_range_parameter_names_itself_and_its_range(change, message):
    with pytest.raises(ValueError, match=message):
        render_lesion(PLAIN.replace(**change), 64)


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
    assert lo < 0.1 and hi > 2 * lo


def test_more_border_irregularity_gives_a_less_compact_contour():
    def compact(irr):
        return _mean_over_seeds(lambda img, m: measure_abcd(img, m, 20)["compactness"],
                                PLAIN.replace(border_irregularity=irr, diameter_mm=8, lobes=0))

    assert compact(0.0) < compact(0.5) < compact(1.0)


def test_more_colours_give_more_distinct_colour_clusters():
    def n_present(colours):
        p = PLAIN.replace(colours=colours, colour_layout="blotchy", diameter_mm=12, colour_variegation=0.6)
        return np.mean([len(measure_abcd(*render_lesion(p, 128, seed=s), fov_mm=20)["colours_present"])
                        for s in range(6)])

    one = n_present(("dark_brown",))
    three = n_present(("dark_brown", "black", "blue_grey"))
    five = n_present(("light_brown", "dark_brown", "black", "blue_grey", "white"))
    assert one < three < five


@pytest.mark.parametrize("colour", ["light_brown", "dark_brown", "black", "red", "white", "blue_grey"])
def test_each_named_colour_is_counted_under_its_name(colour):
    # The C of ABCD: a lesion drawn with a colour shows that colour to `measure` (no camera cast).
    base = ("light_brown",) if colour != "light_brown" else ("dark_brown",)
    p = PLAIN.replace(colours=(*base, colour), colour_layout="blotchy", diameter_mm=12, haemoglobin=0.0,
                      colour_variegation=0.6)
    found = [colour in measure_abcd(*render_lesion(p, 128, seed=s), fov_mm=20)["colours_present"]
             for s in range(6)]
    assert np.mean(found) >= 0.5


def test_more_dermal_melanin_gives_a_bluer_lesion():
    lo = _lesion_lab(*render_lesion(PLAIN.replace(diameter_mm=10, dermal_melanin=0.0), 96, seed=1))
    hi = _lesion_lab(*render_lesion(PLAIN.replace(diameter_mm=10, dermal_melanin=1.0), 96, seed=1))
    assert hi[2] < lo[2] - 8  # b*: toward blue (Tyndall)
    assert hi[0] < lo[0]  # and darker


def test_more_haemoglobin_gives_a_redder_lesion():
    # A light brown lesion: dark brown carries much blood of its own (renderer 6), so its a* is near where
    # more blood only darkens it.
    plain = PLAIN.replace(diameter_mm=10, colours=("light_brown",))
    lo = _lesion_lab(*render_lesion(plain.replace(haemoglobin=0.0), 96, seed=1))
    hi = _lesion_lab(*render_lesion(plain.replace(haemoglobin=1.0), 96, seed=1))
    assert hi[1] > lo[1] + 4  # a*
    assert hi[1] - hi[2] > lo[1] - lo[2] + 8  # the hue turns from brown toward red


def test_more_epidermal_melanin_gives_a_darker_lesion():
    def lesion_L(amount):
        return _mean_over_seeds(lambda img, m: _lesion_lab(img, m)[0], PLAIN.replace(epidermal_melanin=amount))

    assert lesion_L(0.3) > lesion_L(0.8) + 3 > lesion_L(1.4) + 6


def _border_width_px(img, mask):
    """10-90 % rise of the mean L* profile against signed distance to the mask edge (REAL-STATS)."""
    L = _lab(img)[..., 0]
    m = mask.astype(np.uint8)
    inside = cv2.distanceTransform(m, cv2.DIST_L2, 5)
    outside = cv2.distanceTransform(1 - m, cv2.DIST_L2, 5)
    signed = np.where(mask, -inside, outside)
    bins = np.arange(-25, 26)
    ring = [(signed >= b - 0.5) & (signed < b + 0.5) for b in bins]
    keep = [k for k, r in enumerate(ring) if r.any()]  # a small lesion has no pixels 25 px deep
    bins = bins[keep]
    prof = np.array([L[ring[k]].mean() for k in keep])
    lo, hi = prof[:10].mean(), prof[-10:].mean()
    frac = (prof - lo) / (hi - lo)
    return float(np.interp(0.9, frac, bins) - np.interp(0.1, frac, bins))


def test_wider_border_zone_gives_a_wider_measured_transition():
    def width(bw, **kw):
        p = PLAIN.replace(diameter_mm=9, elongation=1.0, border_width=bw, border_irregularity=0.0, **kw)
        return np.mean([_border_width_px(*render_lesion(p, 224, seed=s)) for s in range(3)])

    narrow, mid, wide = width(0.05), width(0.18), width(0.3)
    assert narrow < mid < wide
    # 9 mm of a 20 mm field at 224 px is ~100 px across: 0.18 of it is ~18 px (REAL-STATS benign median).
    assert 11 < mid < 26
    assert width(0.18, abrupt_segments=8) < 0.65 * mid  # B: pigment stops abruptly all round


def test_network_adds_a_periodic_texture_inside_the_lesion():
    def band_power(network, atypia=0.0):
        p = PLAIN.replace(diameter_mm=14, network=network, network_atypia=atypia, fov_mm=20)
        img, mask = render_lesion(p, 256, seed=3)
        L = _lab(img)[..., 0][96:160, 96:160]
        assert mask[96:160, 96:160].all()
        spec = np.abs(np.fft.fftshift(np.fft.fft2((L - L.mean()) * np.hanning(64)[:, None] * np.hanning(64))))
        f = np.hypot(*np.meshgrid(np.arange(-32, 32), np.arange(-32, 32))) / 64  # cycles per pixel
        period_px = 0.42 * 256 / 20  # hole spacing 0.42 mm
        ring = (f > 0.6 / period_px) & (f < 1.6 / period_px)
        return spec[ring].sum() / spec[f > 0.02].sum()

    assert band_power(1.0) > 1.5 * band_power(0.0)


def test_structure_masks_lie_inside_the_lesion_and_cover_what_was_drawn():
    base = PLAIN.replace(diameter_mm=11, fov_mm=20)
    ref, _ = render_lesion(base, 160, seed=4)
    for change, name in [({"globules": 25, "globule_irregularity": 0.5}, "globules"),
                         ({"streaks": 1.0}, "streaks"),
                         ({"milia_cysts": 12}, "milia_cysts"),
                         ({"hair_count": 8, "hair_colour": "black"}, "hair"),
                         ({"network": 1.0}, "pigment_network"),
                         ({"negative_network": 1.0}, "negative_network")]:
        img, lesion, masks = render_lesion(base.replace(**change), 160, seed=4, masks=True)
        m = masks[name]
        assert m.sum() > 20, name
        if name != "hair":
            assert not (m & ~lesion).any(), name
        others = [k for k in masks if k != name]
        assert not any(masks[k].any() for k in others), (name, [k for k in others if masks[k].any()])
        changed = np.abs(img.astype(int) - ref.astype(int)).max(-1) > 12
        near = cv2.dilate(m.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        if name in ("pigment_network", "negative_network"):
            near = lesion  # a region attribute: it changes the lesion where it is drawn
        assert changed.sum() > 10 and (changed & near).sum() >= 0.9 * changed.sum(), name


def test_more_hair_gives_more_thin_dark_strokes():
    def stroke_pixels(n):
        img, mask = render_lesion(PLAIN.replace(hair_count=n, hair_colour="black", diameter_mm=4), 128, seed=4)
        gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))
        blackhat = cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT, kernel)
        skin = cv2.dilate(mask.astype(np.uint8), kernel, iterations=2) == 0
        return int(((blackhat > 25) & skin).sum())

    counts = [stroke_pixels(n) for n in (0, 5, 20)]
    assert counts[0] < 10 and counts[0] < counts[1] < counts[2]


def test_hairs_on_one_patch_of_skin_lie_mostly_one_way():
    def coherence(seed):  # 1 = every hair edge parallel, 0 = no preferred direction
        _, _, masks = render_lesion(PLAIN.replace(hair_count=20, hair_curl=0.0, diameter_mm=3), 128, seed, masks=True)
        hair = masks["hair"].astype(np.float32)
        gx, gy = cv2.Sobel(hair, cv2.CV_32F, 1, 0), cv2.Sobel(hair, cv2.CV_32F, 0, 1)
        jxx, jyy, jxy = (gx * gx).sum(), (gy * gy).sum(), (gx * gy).sum()
        return np.sqrt((jxx - jyy) ** 2 + 4 * jxy ** 2) / (jxx + jyy)

    # a hair stream: randomly oriented hairs give ~0.2 here, a stream with a few strays ~0.6
    assert np.mean([coherence(s) for s in range(8)]) > 0.4


def test_changing_an_acquisition_parameter_keeps_the_lesion():
    # Each component draws from its own random stream: adding hair must not reshape the lesion.
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


def test_darker_fitzpatrick_type_gives_darker_skin():
    def skin_L(kind):
        return _mean_over_seeds(lambda img, m: _lab(img)[..., 0][~m].mean(), PLAIN.replace(skin_type=kind))

    levels = [skin_L(k) for k in (1, 3, 6)]
    assert levels[0] > levels[1] + 5 > levels[2] + 10


def test_tint_shifts_the_whole_picture_the_way_it_is_named():
    def skin(channel, **kw):
        return _mean_over_seeds(lambda img, m: _lab(img)[..., channel][~m].mean(), PLAIN.replace(**kw))

    assert skin(1, tint_a=20) > skin(1, tint_a=0) + 12
    assert skin(2, tint_b=15) > skin(2, tint_b=-10) + 18


def test_warm_white_balance_moves_a_and_b_together_and_exposure_brightens():
    def skin(channel, **kw):
        return _mean_over_seeds(lambda img, m: _lab(img)[..., channel][~m].mean(), PLAIN.replace(**kw))

    # warm: yellower and redder at once (the warm-cool axis moves a* half as far as b*); cool: bluer
    assert skin(2, white_balance=15) > skin(2, white_balance=-15) + 20
    assert skin(1, white_balance=15) > skin(1, white_balance=-15) + 8
    assert skin(0, exposure=0.5) > skin(0, exposure=0.0) + 4 > skin(0, exposure=-0.5) + 8


def test_erythema_reddens_the_skin():
    def skin_a(e):
        return _mean_over_seeds(lambda img, m: _lab(img)[..., 1][~m].mean(), PLAIN.replace(erythema=e))

    assert skin_a(1.0) > skin_a(0.0) + 4


def test_vessels_add_red_inside_the_lesion():
    for pattern in ("dotted", "hairpin", "irregular", "arborising"):
        # vessels show where pigment is light (amelanotic areas, SK, regression): a light brown lesion, since
        # dark brown carries much blood of its own (renderer 6)
        base = PLAIN.replace(diameter_mm=10, haemoglobin=0.0, vessel_pattern=pattern, epidermal_melanin=0.4,
                             colours=("light_brown",))
        a_without = _lab(render_lesion(base, 200, seed=2)[0])[..., 1]
        img, mask = render_lesion(base.replace(vessels=1.0), 200, seed=2)
        gain = _lab(img)[..., 1] - a_without
        assert gain[mask].max() > 10 and (gain[~mask] > 10).mean() < 0.01, pattern


def test_vignette_darkens_the_corners_and_leaves_the_lesion():
    a, _ = render_lesion(PLAIN, 96, seed=1)
    b, _ = render_lesion(PLAIN.replace(vignette=0.9), 96, seed=1)
    corners = np.concatenate([x[:8, :8].ravel() for x in (b, b[:, ::-1], b[::-1], b[::-1, ::-1])])
    corners_before = np.concatenate([x[:8, :8].ravel() for x in (a, a[:, ::-1], a[::-1], a[::-1, ::-1])])
    assert corners.mean() < corners_before.mean() - 60
    centre = (slice(40, 56), slice(40, 56))
    assert np.abs(a[centre].astype(int) - b[centre].astype(int)).mean() < 3


def test_lens_falloff_darkens_the_corners_smoothly_without_a_field_stop():
    from simstudio.eval.lesion_stats import measure_lesion

    a, mask_a = render_lesion(PLAIN, 96, seed=1)
    b, mask_b = render_lesion(PLAIN.replace(lens_falloff=1.0), 96, seed=1)
    L_a, L_b = _lab(a)[..., 0], _lab(b)[..., 0]
    corner = (slice(0, 6), slice(0, 6))
    # ~40 % less light in the corners: ~10 L* darker on this skin; the centre as it was
    assert 7 < L_a[corner].mean() - L_b[corner].mean() < 16
    centre = (slice(44, 52), slice(44, 52))
    assert abs(L_a[centre].mean() - L_b[centre].mean()) < 1.0
    # a gradual fall-off, not a dark ring: halfway to the corner it has lost about a quarter of the corner's drop
    mid = (slice(22, 28), slice(22, 28))
    drop_mid, drop_corner = L_a[mid].mean() - L_b[mid].mean(), L_a[corner].mean() - L_b[corner].mean()
    assert 0.1 * drop_corner < drop_mid < 0.5 * drop_corner
    assert (mask_a == mask_b).all()
    # what the lesion statistics read: the corners darker than the skin ring, no field stop found
    before, after = measure_lesion(a), measure_lesion(b)
    assert after["vignette_drop"] > before["vignette_drop"] + 5 and after["vignette_area"] == 0


def test_pigment_gaps_lighten_parts_of_the_lesion_and_make_its_outline_ragged():
    from simstudio.eval.lesion_stats import measure_lesion

    base = PLAIN.replace(diameter_mm=12.0, epidermal_melanin=1.0)
    compact, asym = [], []
    for seed in range(4):
        a, mask_a = render_lesion(base, 128, seed=seed)
        b, mask_b = render_lesion(base.replace(pigment_gaps=1.0), 128, seed=seed)
        lighter = _lab(b)[..., 0] - _lab(a)[..., 0]
        # the drawn lesion (ground truth) keeps its outline; gaps are lighter lesion, never darker
        assert (mask_a == mask_b).all()
        assert lighter.min() > -0.5
        # some of the lesion, not all of it, turns near skin-coloured (>= 8 L* lighter)
        assert 0.1 < (lighter[mask_a] > 8).mean() < 0.7
        assert lighter[mask_a].max() > 20
        before, after = measure_lesion(a), measure_lesion(b)
        compact.append(after["compactness"] - before["compactness"])
        asym.append(after["asymmetry"] - before["asymmetry"])
    # what the measured (segmented) lesion reads: a more ragged and lopsided outline, as real melanomas have
    assert np.mean(compact) > 0.3 and np.mean(asym) > 0.1


def test_pigment_gaps_leave_the_network_mask_where_the_network_still_shows():
    p = PLAIN.replace(diameter_mm=12.0, network=0.8, epidermal_melanin=1.0)
    _, lesion, whole = render_lesion(p, 128, 3, masks=True)
    _, lesion_g, gapped = render_lesion(p.replace(pigment_gaps=1.0), 128, 3, masks=True)
    assert (lesion == lesion_g).all()
    net, net_g = whole["pigment_network"], gapped["pigment_network"]
    assert net_g.sum() < 0.9 * net.sum() and not (net_g & ~net).any()


def test_blur_and_noise_move_the_sharpness_the_way_they_say():
    def sharpness(img, mask):
        return cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var()

    sharp = _mean_over_seeds(sharpness, PLAIN.replace(blur_mm=0.0, skin_texture=0.8, network=0.8))
    blurred = _mean_over_seeds(sharpness, PLAIN.replace(blur_mm=0.3, skin_texture=0.8, network=0.8))
    noisy = _mean_over_seeds(sharpness, PLAIN.replace(noise=0.05, skin_texture=0.8, network=0.8))
    assert blurred < 0.5 * sharp < noisy


def test_low_jpeg_quality_changes_the_image_only_a_little():
    a, _ = render_lesion(PLAIN.replace(skin_texture=0.8), 96, seed=2)
    b, _ = render_lesion(PLAIN.replace(skin_texture=0.8, jpeg_quality=30), 96, seed=2)
    diff = np.abs(a.astype(int) - b.astype(int)).mean()
    assert 0.2 < diff < 6


def test_every_structure_and_artefact_changes_the_picture():
    base, _ = render_lesion(PLAIN, 96, seed=3)
    for change in ({"ruler": True}, {"gel_bubbles": 4}, {"specular": 0.8}, {"streaks": 1.0},
                   {"blue_white_veil": 1.0}, {"regression": 1.0}, {"cerebriform": 1.0}, {"erythema": 1.0},
                   {"hair_curl": 1.0, "hair_count": 5}, {"comedo_openings": 10}, {"milia_cysts": 10},
                   {"negative_network": 1.0}, {"vessels": 1.0}, {"stuck_on": 1.0}, {"n_lesions": 3},
                   {"skin_texture": 1.0}, {"illumination_gradient": 1.0}):
        img, _ = render_lesion(PLAIN.replace(**change), 96, seed=3)
        assert (np.abs(img.astype(int) - base.astype(int)).max(-1) > 8).mean() > 0.001, change


def test_blue_grey_comes_as_a_few_zones_inside_the_lesion():
    # Real blue-grey areas are large structureless zones within the lesion; renderer 6 scattered ~10 cut-out
    # patches per lesion, some beyond its rim.
    p = PLAIN.replace(colours=("light_brown", "dark_brown", "blue_grey"), colour_layout="blotchy", diameter_mm=12,
                      colour_variegation=0.6)
    zones, blue_px, outside = [], 0, 0
    for s in range(8):
        img, mask = render_lesion(p, 128, seed=s)
        b = cv2.cvtColor(img, cv2.COLOR_RGB2Lab)[..., 2].astype(float)
        blue = b < np.median(b[mask]) - 12
        zones.append(cv2.connectedComponents(blue.astype(np.uint8), connectivity=8)[0] - 1)
        blue_px += blue.sum()
        outside += (blue & ~mask).sum()
    assert blue_px > 8 * 50  # there is blue-grey to speak of
    assert np.mean(zones) <= 4
    assert outside <= 0.01 * blue_px


def test_regression_is_white_and_veil_is_blue():
    lo = _lesion_lab(*render_lesion(PLAIN.replace(diameter_mm=12), 128, seed=5))
    reg = _lesion_lab(*render_lesion(PLAIN.replace(diameter_mm=12, regression=1.0), 128, seed=5))
    veil = _lesion_lab(*render_lesion(PLAIN.replace(diameter_mm=12, blue_white_veil=1.0), 128, seed=5))
    assert reg[0] > lo[0] + 3  # whiter
    assert veil[2] < lo[2] - 4  # bluer


def test_skin_grain_speckles_the_skin_at_its_scale_and_leaves_zero_as_it_was():
    from simstudio.eval.texture_scales import BAND_NAMES, texture_bands

    def skin_detail(img, mask):  # L* detail of the skin at ~0.25-0.5 mm (the band the grain lives in)
        return texture_bands(img, mask)[BAND_NAMES.index("skin_2")]

    plain = PLAIN.replace(diameter_mm=6)
    flat = _mean_over_seeds(skin_detail, plain, size=128)
    some = _mean_over_seeds(skin_detail, plain.replace(skin_grain=0.5), size=128)
    more = _mean_over_seeds(skin_detail, plain.replace(skin_grain=1.0), size=128)
    assert flat * 1.5 < some < more * 0.8
    # the grain is the skin's: the lesion's mean colour barely moves
    a = _lesion_lab(*render_lesion(plain, 128, seed=1))
    b = _lesion_lab(*render_lesion(plain.replace(skin_grain=1.0), 128, seed=1))
    assert np.abs(a - b).max() < 1.5
