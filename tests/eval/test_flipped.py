import cv2
import numpy as np
import pytest

from simstudio.eval.flipped import class_medians, flip_image, flip_test_set, match_sharpness
from simstudio.eval.lesion_stats import segment_lesion
from simstudio.sim import acquisition as acq

CLASSES = ["benign", "malignant"]


def lapvar(img):
    return cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var()


def shortcut_set(n=14, size=64, colour=True):
    """Benign: pink and soft, no artefacts; malignant: neutral, sharp, most with a field stop and hair.
    The lesion (a dark irregular blob) is drawn alike in both."""
    rng = np.random.default_rng(0)
    imgs, labels = [], []
    for y in (0, 1):
        for i in range(n):
            img = np.empty((size, size, 3), np.float32)
            img[:] = (215, 150, 150) if (y == 0 and colour) else (200, 165, 140)
            img += rng.normal(0, 6, (size, size, 1))
            yy, xx = np.mgrid[:size, :size]
            r = size / 5 * (1 + 0.15 * np.sin(3 * np.arctan2(yy - size / 2, xx - size / 2) + i))
            img[np.hypot(xx - size / 2, yy - size / 2) < r] = (95, 60, 45)
            img = np.clip(img, 0, 255).astype(np.uint8)
            img = cv2.GaussianBlur(img, (0, 0), 0.6) if y == 0 else img
            if y == 1 and i % 4 != 0:
                img = acq.add_field_stop(img, 0.8, 0.03, i)
            if y == 1 and i % 3 != 0:
                img, _ = acq.add_hair(img, 6, i, width=1.5)
            imgs.append(img)
            labels.append(y)
    return np.stack(imgs), np.array(labels)


def test_flipped_set_moves_each_class_toward_the_other_classs_medians():
    x, y = shortcut_set()
    flipped, report = flip_test_set(x, y, CLASSES, seed=0)
    assert flipped.shape == x.shape and flipped.dtype == np.uint8
    b, m = report.before["benign"], report.before["malignant"]
    fb, fm = report.after["benign"], report.after["malignant"]
    assert b["skin_a"] > m["skin_a"] + 5 and m["sharpness"] > 2 * b["sharpness"]  # the shortcut is there
    for k in ("skin_a", "sharpness"):
        assert abs(fb[k] - m[k]) < 0.5 * abs(b[k] - m[k]), k  # benign moved most of the way to malignant
        assert abs(fm[k] - b[k]) < 0.5 * abs(b[k] - m[k]), k
    assert m["field_stop"] > 0.5 and b["field_stop"] == 0 and fb["field_stop"] > 0.4
    assert fb["hair"] > b["hair"] + 0.3 and fm["hair"] < m["hair"]
    again, _ = flip_test_set(x, y, CLASSES, seed=0)
    assert np.array_equal(flipped, again)
    measured, _ = class_medians(flipped, y, CLASSES)
    assert measured == report.after


def test_lesion_pixels_are_kept_under_the_artefact_layers():
    x, y = shortcut_set(n=4)
    own = {"skin_a": 10.0, "skin_b": 5.0, "sharpness": 100.0, "vignette": 0.0, "field_stop": 0.0, "hair": 0.0,
           "ruler": 0.0}
    other = {**own, "vignette": 1.0, "field_stop": 1.0, "hair": 1.0, "ruler": 1.0}
    none = dict.fromkeys(("vignette", "field_stop", "hair", "ruler"), 0.0)
    for k, img in enumerate(x[y == 0]):
        out = flip_image(img, own, other, none, seed=k)
        mask = segment_lesion(img).mask
        assert mask.mean() > 0.05
        assert np.array_equal(out[mask], img[mask])
        assert (out[~mask] != img[~mask]).any(axis=1).mean() > 0.1
        assert out[:2, :2].max() < 40  # the field stop every image had to get
        sharper = flip_image(img, own, {**own, "sharpness": 300.0}, none, seed=k)
        assert np.array_equal(sharper[mask], img[mask])  # focus changes the skin, not the lesion's border
        assert lapvar(sharper) > 1.3 * lapvar(img)


def test_match_sharpness_hits_the_target_both_ways():
    x, _ = shortcut_set(n=2)
    img = x[-1]
    v = cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var()
    for target in (0.4 * v, 2.0 * v):
        out = match_sharpness(img, target)
        got = cv2.Laplacian(cv2.cvtColor(out, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var()
        assert abs(got - target) < 0.15 * target


def test_refuses_what_it_cannot_flip():
    x, y = shortcut_set(n=3)
    with pytest.raises(ValueError, match="both classes"):
        flip_test_set(x[y == 0], y[y == 0], CLASSES)
    with pytest.raises(ValueError, match="two classes"):
        flip_test_set(x, y, ["a", "b", "c"])
