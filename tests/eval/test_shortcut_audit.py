"""The dataset audit on constructed sets where one known thing carries the label: a colour cast
(acquisition) or lesion size (lesion). The audit must say which."""

import math

import numpy as np
import pytest
from audit_data import size_only_set, tint_only_set

from simstudio.eval.audit_features import ACQUISITION_FEATURES, FEATURE_NAMES, measure_audit_features, measure_many
from simstudio.eval.shortcut_audit import (
    acquisition_medians,
    auc_score,
    auc_with_ci,
    audit_dataset,
)
from simstudio.sim import acquisition as acq

CLASSES = ["benign", "malignant"]


@pytest.fixture(scope="module")
def tint_audit():
    x, y = tint_only_set()
    return audit_dataset(measure_many(x, workers=1), y, CLASSES, n_boot=50), x, y


@pytest.fixture(scope="module")
def size_audit():
    x, y = size_only_set()
    return audit_dataset(measure_many(x, workers=1), y, CLASSES, n_boot=50)


def test_a_label_carried_by_the_cast_is_read_from_acquisition_not_from_the_lesion(tint_audit):
    audit, _, _ = tint_audit
    assert audit.sets["acquisition"]["auc"] >= 0.95
    assert audit.sets["lesion"]["auc"] <= 0.7
    assert audit.sets["acquisition"]["low"] <= audit.sets["acquisition"]["auc"] <= audit.sets["acquisition"]["high"]
    assert audit.features[0]["name"] in ("skin_a", "skin_b")
    assert "will learn the camera" in audit.verdict
    assert audit.verdict.startswith("acquisition alone predicts the label with AUC")


def test_a_label_carried_by_lesion_size_is_read_from_the_lesion_not_from_acquisition(size_audit):
    assert size_audit.sets["lesion"]["auc"] >= 0.95
    assert size_audit.sets["acquisition"]["auc"] <= 0.7
    assert size_audit.features[0]["group"] == "lesion"
    assert "will learn the camera" not in size_audit.verdict


def test_every_feature_is_ranked_with_an_interval_and_the_medians_give_each_class_its_cast(tint_audit):
    audit, x, y = tint_audit
    aucs = [f["auc"] for f in audit.features]
    assert aucs == sorted(aucs, reverse=True) and len(aucs) == len(FEATURE_NAMES)
    assert all(f["low"] <= f["auc"] <= f["high"] for f in audit.features if not math.isnan(f["low"]))
    med = audit.medians
    # The constructed cast is da = -12, db = +6 on the malignant photos.
    assert med["malignant"]["cast_a"] - med["benign"]["cast_a"] == pytest.approx(-12, abs=2.5)
    assert med["malignant"]["cast_b"] - med["benign"]["cast_b"] == pytest.approx(6, abs=2.5)
    assert set(med["benign"]) >= {"cast_a", "cast_b", "vignette_rate", "field_stop_rate", "hair_rate",
                                  "sharpness", "ruler_rate", "n"}
    assert audit.top_shortcuts(2)[0] in ACQUISITION_FEATURES


def test_acquisition_medians_count_rates_per_class():
    cols = {"skin_a": np.array([10, 12, 30, 32.0]), "skin_b": np.array([1, 3, 5, 7.0]),
            "field_stop_area": np.array([0, 0.05, 0, 0.0]), "vignette_drop": np.array([0, 25, 30, 0.0]),
            "hair_frac": np.array([0, 0, 0.01, 0.02]), "sharpness": np.array([50, 70, 200, 220.0])}
    med = acquisition_medians(cols, np.array([0, 0, 1, 1]), CLASSES)
    assert med["benign"]["cast_a"] == 11 and med["malignant"]["cast_b"] == 6
    assert med["benign"]["field_stop_rate"] == 0.5 and med["malignant"]["field_stop_rate"] == 0
    assert med["malignant"]["hair_rate"] == 1.0 and med["benign"]["vignette_rate"] == 0.5
    assert math.isnan(med["benign"]["ruler_rate"])   # not measured: NaN, never a made-up rate


def test_auc_interval_and_ties():
    y = np.r_[np.zeros(50), np.ones(50)].astype(bool)
    assert auc_score(y, y.astype(float)) == 1.0
    assert auc_score(y, np.ones(100)) == 0.5
    rng = np.random.default_rng(0)
    auc, lo, hi = auc_with_ci(y, y + rng.normal(0, 1, 100), n_boot=100)
    assert lo < auc < hi and 0.6 < auc < 0.9


def test_the_detectors_see_what_the_simulator_draws():
    x, _ = size_only_set(1, size=128)
    img = x[0]
    plain = measure_audit_features(img)
    assert plain["field_stop_area"] == 0 and plain["ruler_score"] < 0.05
    stop = measure_audit_features(acq.add_field_stop(img, 0.8, seed=0))
    assert stop["field_stop_area"] > 0.02 and stop["vignette_drop"] > 20
    hair = measure_audit_features(acq.add_hair(img, 10, seed=0)[0])
    assert hair["hair_frac"] > 0.005 > plain["hair_frac"]
    ruler = measure_audit_features(acq.add_ruler(img, seed=0)[0])
    assert ruler["ruler_score"] > plain["ruler_score"] + 0.1
    blurred = measure_audit_features(acq.blur(img, 1.5))
    assert blurred["sharpness"] < 0.5 * plain["sharpness"]
    noisy = measure_audit_features(acq.add_noise(img, 8, seed=0))
    assert noisy["noise_sigma"] > plain["noise_sigma"] + 3
    blocky = measure_audit_features(acq.jpeg(img, 20))
    assert blocky["jpeg_blockiness"] > plain["jpeg_blockiness"] + 0.1


def test_bad_input_is_refused_with_a_message():
    with pytest.raises(ValueError, match="RGB"):
        measure_audit_features(np.zeros((64, 64), np.uint8))
    cols = measure_many(tint_only_set(4)[0], workers=1)
    with pytest.raises(ValueError, match="malignant"):
        audit_dataset(cols, np.zeros(8, int), CLASSES)
