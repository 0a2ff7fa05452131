"""The camera of a real set, photo by photo: the cast solve inverts the renderer's camera, the rows keep
each photo's skin type, cast and exposure together, and a preset given a set's camera draws skins like
that set's."""

import cv2
import numpy as np
import pytest

from simstudio.eval.lesion_stats import measure_images
from simstudio.experiments.camera_fit import (
    CAMERA_KEY,
    MIN_PHOTOS,
    camera_rows,
    fit_camera,
    solve_camera,
)
from simstudio.sim.presets import default_preset, sample_for_class
from simstudio.sim.render import cast_gains, from_linear, render_lesion, to_linear


def _lab(lin):
    return cv2.cvtColor(from_linear(lin).astype(np.float32).reshape(-1, 1, 3), cv2.COLOR_RGB2Lab).reshape(-1, 3)


def test_the_solve_inverts_the_renderers_camera():
    base = np.array([[66.0, 13.0, 11.0], [58.0, 14.0, 24.0]])
    cameras = [(12.0, -8.0, 0.3), (-6.0, 5.0, -0.4), (25.0, -20.0, 0.1)]
    for b in base:
        lin = to_linear(cv2.cvtColor(b.astype(np.float32).reshape(1, 1, 3), cv2.COLOR_Lab2RGB).reshape(3))
        targets = np.array([_lab(lin * cast_gains(ta, tb, 0.0, e))[0] for ta, tb, e in cameras])
        got = solve_camera(np.repeat(b[None], len(cameras), 0), targets)
        np.testing.assert_allclose(got, np.array(cameras), atol=0.4)


def test_rows_follow_the_photos_and_darker_photos_get_darker_skin_types():
    skins = np.array([[70, 13, 9], [68, 13, 12], [64, 13, 18], [59, 13, 24], [52, 15, 32], [39, 20, 25.0]])
    rng = np.random.default_rng(0)
    light = np.column_stack([rng.normal(72, 2, 60), rng.normal(15, 3, 60), rng.normal(8, 3, 60)])
    dark = np.column_stack([rng.normal(50, 2, 60), rng.normal(15, 3, 60), rng.normal(28, 3, 60)])
    photos = np.vstack([light, dark, [[np.nan, 10, 10]]])
    rows = camera_rows(photos, skins, seed=0)
    assert rows.shape == (120, 4)  # the photo without a skin ring is left out
    assert rows[60:, 0].mean() > rows[:60, 0].mean() + 1.5  # dark photos are mostly darker skin types
    assert np.abs(rows[:, 3]).max() <= 1.5 and rows[:, 1].max() <= 40 and rows[:, 2].min() >= -35
    with pytest.raises(ValueError, match=f"needs at least {MIN_PHOTOS}"):
        camera_rows(light[:MIN_PHOTOS - 1], skins)


def _whole_lesions():
    """The built-in preset with lesions drawn whole: pigment gaps move the skin ring's median b* by ~0.5 on 40
    images, which is lesion, not camera."""
    preset = default_preset()
    for kind in preset.lesion.values():
        kind.pop("pigment_gaps", None)
    return preset


def test_a_preset_given_a_sets_camera_draws_skins_like_that_sets():
    # "real" photos from one warm, bright camera the default preset's ranges centre elsewhere
    photos_of = _whole_lesions()
    photos_of.acquisition.update(tint_a={"normal": [24.0, 2.0]}, tint_b={"normal": [-14.0, 2.0]},
                                 exposure={"normal": [0.35, 0.05]}, white_balance={"const": 0.0},
                                 hair_count={"const": 0}, vignette={"const": 0.0})
    photos = _render(photos_of, 40, seed=1)
    fitted, summary = fit_camera(_whole_lesions(), photos, size=64)
    assert CAMERA_KEY in fitted.acquisition and "tint_a" not in fitted.acquisition
    assert summary["rows"] == 40 and sum(summary["skin_types"].values()) == 40
    target = _skin(photos)
    assert np.abs(_skin(_render(fitted, 40, seed=2)) - target).max() < 3.0
    assert np.abs(_skin(_render(_whole_lesions(), 40, seed=2)) - target).max() > 6.0  # the ranges do not


def _render(preset, n, seed):
    out = []
    for i in range(n):
        p, _ = sample_for_class(preset, ("benign", "malignant")[i % 2], np.random.default_rng(seed * 1000 + i))
        out.append(render_lesion(p, 64, seed * 1000 + i)[0])
    return np.stack(out)


def _skin(images):
    m = measure_images(images)
    return np.array([np.nanmedian(m[k]) for k in ("skin_L", "skin_a", "skin_b")])
