"""What moves a classifier's answers within a class: Spearman rho with a bootstrap interval per class and
feature, a verdict naming the acquisition cues that move it, and its most confident errors."""

import math

import numpy as np
import pytest

from simstudio.eval.classifier_response import (
    confident_errors,
    moves,
    response_verdict,
    spearman,
    within_class_response,
)

CLASSES = ["benign", "malignant"]


def test_spearman_is_rank_correlation_and_nan_when_one_side_is_constant():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert spearman(x, x ** 3) == pytest.approx(1.0)
    assert spearman(x, -x) == pytest.approx(-1.0)
    assert math.isnan(spearman(x, np.ones(5)))


def test_a_cue_that_drives_the_answer_within_one_class_is_found_and_named():
    rng = np.random.default_rng(0)
    n = 80
    labels = np.r_[np.zeros(n, int), np.ones(n, int)]
    hair = rng.uniform(0, 0.05, 2 * n)
    cast = rng.normal(20, 8, 2 * n)
    asym = rng.uniform(0.1, 0.5, 2 * n)
    # benign photos with more hair read as more malignant; malignant answers follow asymmetry (a lesion cue)
    p = np.where(labels == 0, 0.1 + 8 * hair, 0.4 + asym) + rng.normal(0, 0.03, 2 * n)
    cols = {"hair_frac": hair, "skin_a": cast, "asymmetry": asym, "ink_frac": np.zeros(2 * n)}
    rows = within_class_response(cols, labels, p, CLASSES, n_boot=100)
    by = {(r["class"], r["feature"]): r for r in rows}
    assert by[("benign", "hair_frac")]["rho"] > 0.8 and moves(by[("benign", "hair_frac")])
    assert by[("malignant", "asymmetry")]["rho"] > 0.8 and by[("malignant", "asymmetry")]["group"] == "lesion"
    assert not moves(by[("benign", "skin_a")]) and not moves(by[("malignant", "hair_frac")])
    assert ("benign", "ink_frac") not in by   # a constant feature gives no rho
    assert [abs(r["rho"]) for r in rows] == sorted((abs(r["rho"]) for r in rows), reverse=True)
    line = response_verdict("sim-trained", rows, "malignant")
    assert "hair_frac" in line and "benign" in line and "asymmetry" not in line   # lesion cues are not blamed
    calm = [r for r in rows if r["feature"] != "hair_frac"]
    assert "no acquisition feature goes with" in response_verdict("sim-trained", calm, "malignant")


def test_too_few_images_of_a_class_give_no_rows_and_mismatched_lengths_are_refused():
    cols = {"hair_frac": np.linspace(0, 1, 10)}
    assert within_class_response(cols, np.zeros(10, int), np.linspace(0, 1, 10), CLASSES) == []
    with pytest.raises(ValueError, match="9 probabilities for 10 labels"):
        within_class_response(cols, np.zeros(10, int), np.zeros(9), CLASSES)


def test_confident_errors_are_the_wrong_answers_worst_first():
    p = np.array([0.9, 0.2, 0.6, 0.7, 0.1, 0.45, 0.3])
    y = np.array([0, 0, 0, 1, 1, 1, 1])
    rows = confident_errors(p, y, 1, CLASSES, k=2)
    assert [(r["class"], r["index"]) for r in rows] == [("benign", 0), ("benign", 2), ("malignant", 4),
                                                         ("malignant", 6)]


def test_the_bootstrap_draws_are_the_rho_of_each_resample():
    from simstudio.eval.classifier_response import _boot_spearman

    rng = np.random.default_rng(3)
    x = rng.normal(size=40)
    y = x + rng.normal(size=40)
    draws = _boot_spearman(x, y, 6, np.random.default_rng(1))
    idx = np.random.default_rng(1).integers(0, 40, (6, 40))
    assert np.allclose(draws, [spearman(x[i], y[i]) for i in idx])
