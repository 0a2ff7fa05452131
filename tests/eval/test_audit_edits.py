"""Each acquisition edit changes only what it names: the lesion stays under a vignette, the cast edit
moves the skin's a*, b* medians by the asked amount, a removed field stop is gone."""

import cv2
import numpy as np
import pytest
from audit_data import lesion_image, tint_only_set

from simstudio.data.preprocess import shades_of_gray
from simstudio.eval.audit_edits import (
    EDIT_NAMES,
    EditContext,
    apply_edit,
    edit_context,
    match_sharpness,
    other_class_targets,
    remove_vignette,
)
from simstudio.eval.audit_features import measure_audit_features, measure_many
from simstudio.eval.shortcut_audit import acquisition_medians
from simstudio.sim import acquisition as acq

CLASSES = ["benign", "malignant"]


def one_image(size=96, seed=0):
    return lesion_image(size, 0.22 * size, np.random.default_rng(seed))


def test_vignette_edit_keeps_every_lesion_pixel_and_darkens_the_corners():
    img, mask = one_image()
    ctx = EditContext(lesion=mask, field_stop=np.zeros_like(mask), skin_a=0, skin_b=0, sharpness=1, label=0)
    out = apply_edit("add_vignette", img, ctx, {}, seed=3)
    assert np.array_equal(out[mask], img[mask])
    assert out[:6, :6].mean() < 0.3 * img[:6, :6].mean()
    before, after = measure_audit_features(img), measure_audit_features(out)
    assert after["vignette_drop"] > before["vignette_drop"] + 20
    assert before["field_stop_area"] == 0 and after["field_stop_area"] > 0.01


def test_the_input_is_untouched_and_the_same_seed_gives_the_same_edit():
    img, _ = one_image()
    keep = img.copy()
    ctx = edit_context(img, 0)
    for name in EDIT_NAMES:
        a = apply_edit(name, img, ctx, {0: {"cast_a": 5.0, "cast_b": 2.0, "sharpness": 40.0}}, seed=1)
        b = apply_edit(name, img, ctx, {0: {"cast_a": 5.0, "cast_b": 2.0, "sharpness": 40.0}}, seed=1)
        assert np.array_equal(a, b) and a.shape == img.shape and a.dtype == np.uint8, name
    assert np.array_equal(img, keep)


def test_cast_edit_moves_the_skin_medians_by_the_asked_amount():
    x, y = tint_only_set(12, size=64)
    benign = x[y == 0]
    cols = measure_many(x, workers=1)
    med = acquisition_medians(cols, y, CLASSES)
    targets = other_class_targets(med, CLASSES)
    edited = np.stack([apply_edit("tint", im, edit_context(im, 0), targets) for im in benign])
    after = acquisition_medians(measure_many(edited, workers=1), np.zeros(len(edited), int), CLASSES)
    asked_a = targets[0]["cast_a"] - med["benign"]["cast_a"]
    asked_b = targets[0]["cast_b"] - med["benign"]["cast_b"]
    assert abs(asked_a) > 8   # the constructed cast is da = -12, db = +6
    assert after["benign"]["cast_a"] - med["benign"]["cast_a"] == pytest.approx(asked_a, abs=1.5)
    assert after["benign"]["cast_b"] - med["benign"]["cast_b"] == pytest.approx(asked_b, abs=1.5)
    # ... and the lesion keeps its colour relative to the skin.
    da0 = np.nanmedian(cols["da"][y == 0])
    da1 = np.nanmedian(measure_many(edited, workers=1)["da"])
    assert da1 == pytest.approx(da0, abs=1.5)


def test_removing_a_field_stop_fills_it_from_the_skin_and_keeps_the_lesion():
    img, mask = one_image(128)
    stopped = acq.add_field_stop(img, 0.8, seed=0)
    ctx = edit_context(stopped, 1)
    assert ctx.field_stop.mean() > 0.02
    out = remove_vignette(stopped, ctx.lesion, ctx.field_stop)
    assert np.array_equal(out[ctx.lesion], stopped[ctx.lesion])
    m = measure_audit_features(out)
    assert m["field_stop_area"] < 0.005
    assert abs(m["vignette_drop"]) < 8
    plain = measure_audit_features(img)
    assert abs(m["skin_L"] - plain["skin_L"]) < 4


def test_sharpness_edit_reaches_the_target_and_colour_constancy_is_shades_of_gray():
    img, _ = one_image()
    def lapvar(im):
        return cv2.Laplacian(cv2.cvtColor(im, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var()

    soft = match_sharpness(img, 0.3 * lapvar(img))
    assert lapvar(soft) < 0.6 * lapvar(img)
    sharp = match_sharpness(img, 3 * lapvar(img))
    assert lapvar(sharp) > 1.8 * lapvar(img)
    ctx = edit_context(img, 0)
    assert np.array_equal(apply_edit("colour_constancy", img, ctx, {}), shades_of_gray(img))


def test_an_unknown_edit_is_named():
    img, _ = one_image()
    with pytest.raises(ValueError, match="unknown edit 'zoom'"):
        apply_edit("zoom", img, edit_context(img, 0), {})
