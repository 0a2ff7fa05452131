"""classification_metrics equals scikit-learn on fixed inputs (binary and three classes)."""

import numpy as np
import pytest
from sklearn import metrics as skm

from simstudio.eval.metrics import classification_metrics, per_class_table, roc_points, training_summary


def _proba(n, c, seed):
    rng = np.random.default_rng(seed)
    p = rng.random((n, c)) ** 2
    return p / p.sum(axis=1, keepdims=True)


@pytest.fixture
def binary():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 60)
    p1 = np.clip(0.35 * y + rng.random(60) * 0.65, 0, 1)
    p1[:6] = 0.5  # ties, which the ROC must handle as one threshold
    return y, np.c_[1 - p1, p1]


def test_binary_metrics_match_sklearn(binary):
    y, p = binary
    m = classification_metrics(y, p, ["benign", "malignant"])
    pred = p.argmax(1)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p[:, 1]))
    assert m["brier"] == pytest.approx(skm.brier_score_loss(y, p[:, 1]))
    assert m["rmse"] == pytest.approx(np.sqrt(skm.brier_score_loss(y, p[:, 1])))
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, p))
    assert m["confusion_matrix"] == skm.confusion_matrix(y, pred).tolist()
    # Binary headline numbers are those of the positive class (classes[1]).
    assert m["sensitivity"] == pytest.approx(skm.recall_score(y, pred))
    assert m["specificity"] == pytest.approx(skm.recall_score(y, pred, pos_label=0))
    assert m["precision"] == pytest.approx(skm.precision_score(y, pred))
    assert m["f1"] == pytest.approx(skm.f1_score(y, pred))
    assert m["f1_macro"] == pytest.approx(skm.f1_score(y, pred, average="macro"))


def test_three_class_metrics_match_sklearn():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 90)
    p = _proba(90, 3, 2)
    p[np.arange(90), y] += 0.4 * rng.random(90)
    p /= p.sum(1, keepdims=True)
    classes = ["nevus", "melanoma", "bcc"]
    m = classification_metrics(y, p, classes)
    pred = p.argmax(1)
    prec, rec, f1, support = skm.precision_recall_fscore_support(y, pred, zero_division=0)
    for i, c in enumerate(classes):
        assert m["per_class"][c]["precision"] == pytest.approx(prec[i])
        assert m["per_class"][c]["recall"] == pytest.approx(rec[i])
        assert m["per_class"][c]["f1"] == pytest.approx(f1[i])
        assert m["per_class"][c]["support"] == support[i]
        # Specificity of class i = recall of "not i".
        assert m["per_class"][c]["specificity"] == pytest.approx(skm.recall_score(y != i, pred != i))
    assert m["precision_macro"] == pytest.approx(
        skm.precision_score(y, pred, average="macro", zero_division=0)
    )
    assert m["recall_macro"] == pytest.approx(skm.recall_score(y, pred, average="macro"))
    assert m["f1_macro"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p, multi_class="ovr", average="macro"))
    onehot = np.eye(3)[y]
    assert m["brier"] == pytest.approx(((p - onehot) ** 2).sum(1).mean())
    assert m["confusion_matrix"] == skm.confusion_matrix(y, pred).tolist()
    assert set(m["roc_curve"]) == set(classes)


def test_roc_points_match_sklearn_curve(binary):
    y, p = binary
    fpr, tpr, auc = roc_points(y == 1, p[:, 1])
    sk_fpr, sk_tpr, _ = skm.roc_curve(y, p[:, 1], drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)
    assert auc == pytest.approx(skm.auc(sk_fpr, sk_tpr))


def test_missing_class_gives_no_auc_and_sklearn_balanced_accuracy():
    y = np.array([0, 0, 1, 1, 0])
    p = _proba(5, 3, 3)
    m = classification_metrics(y, p, ["a", "b", "c"])
    assert m["roc_auc"] is None  # undefined, not invented
    with pytest.warns(UserWarning):
        expected = skm.balanced_accuracy_score(y, p.argmax(1))
    assert m["balanced_accuracy"] == pytest.approx(expected)


def test_per_class_table_layout_and_training_summary(binary):
    y, p = binary
    m = classification_metrics(y, p, ["benign", "malignant"])
    rows = per_class_table(m)
    assert [r["class"] for r in rows] == ["benign", "malignant", "macro avg"]
    assert set(rows[0]) == {"class", "precision", "recall", "f1", "support"}
    assert rows[-1]["support"] == len(y)
    s = training_summary([{"train_loss": 0.9}, {"train_loss": 0.4}, {"train_loss": 0.5}], 12.5)
    assert s == {"training_time_s": 12.5, "min_train_loss": 0.4, "epochs_trained": 3}


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="proba must be"):
        classification_metrics([0, 1], np.ones((2, 3)) / 3, ["a", "b"])
    with pytest.raises(ValueError, match="labels must be"):
        classification_metrics([0, 2], np.ones((2, 2)) / 2, ["a", "b"])
