import cv2
import numpy as np

from simstudio.sim.measure import asymmetry_index, colours_present, compactness, measure_abcd


def _disc(size=128, r=30, centre=(64, 64)):
    m = np.zeros((size, size), np.uint8)
    cv2.circle(m, centre, r, 1, -1)
    return m.astype(bool)


def test_disc_is_symmetric_and_compact():
    m = _disc()
    # A rasterised disc is not perfectly round: a few per cent of mismatch and perimeter remain.
    assert asymmetry_index(m) < 0.06
    assert 0.95 < compactness(m) < 1.2


def test_lopsided_and_notched_shapes_score_higher():
    m = _disc()
    lopsided = m.copy()
    cv2.circle(lopsided.view(np.uint8), (100, 50), 16, 1, -1)  # a bud off one side, off the long axis
    assert asymmetry_index(lopsided) > 2 * asymmetry_index(m) + 0.05
    notched = m.copy()
    for a in np.linspace(0, 2 * np.pi, 12, endpoint=False):
        cv2.circle(notched.view(np.uint8), (int(64 + 30 * np.cos(a)), int(64 + 30 * np.sin(a))), 5, 0, -1)
    assert compactness(notched) > compactness(m) + 0.2


def test_colours_and_diameter_recovered_from_a_known_image():
    img = np.full((100, 100, 3), 230, np.uint8)
    m = _disc(100, 25, (50, 50))
    img[m] = (100, 58, 40)  # dark brown
    img[40:50, 40:60][m[40:50, 40:60]] = (115, 125, 150)  # a blue-grey patch, ~10 % of the lesion
    out = measure_abcd(img, m, fov_mm=20)
    assert out["colours_present"] == ["dark_brown", "blue_grey"]
    assert abs(out["diameter_mm"] - 10.0) < 0.3  # 50 px across a 100 px, 20 mm field
    assert colours_present(img, np.zeros_like(m)) == []
