"""Classification metrics from true labels and predicted probabilities, in one dict a run stores as JSON.

Every number is a plain float/int/list so `result.json` can hold it; tests check them against scikit-learn.
"""

from __future__ import annotations

import math

import numpy as np


def classification_metrics(y_true, proba, classes: list[str]) -> dict:
    """Accuracy, balanced accuracy, per-class and macro precision/recall(sensitivity)/specificity/F1,
    ROC-AUC (binary: of `classes[1]`; more classes: macro one-vs-rest), confusion matrix (rows = true,
    columns = predicted), ROC curve points per class, Brier score and RMSE of the probabilities.

    `proba` is (N, C) with rows summing to 1; the prediction is its arg-max.
    """
    y = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(proba, dtype=np.float64)
    c = len(classes)
    if p.ndim != 2 or p.shape != (len(y), c):
        raise ValueError(f"proba must be (N, {c}) for {c} classes and {len(y)} labels, got {p.shape}")
    if len(y) == 0:
        raise ValueError("no samples to score")
    if y.min() < 0 or y.max() >= c:
        raise ValueError(f"labels must be in 0..{c - 1}")
    pred = p.argmax(axis=1)
    cm = confusion_matrix(y, pred, c)
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1).astype(np.float64)  # true count per class
    predicted = cm.sum(axis=0).astype(np.float64)  # predicted count per class
    negatives = len(y) - support
    tn = len(y) - support - predicted + tp
    precision = _safe_div(tp, predicted)
    recall = _safe_div(tp, support)
    specificity = _safe_div(tn, negatives)
    f1 = _safe_div(2 * precision * recall, precision + recall)
    present = support > 0

    per_class = {
        name: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "sensitivity": float(recall[i]),
            "specificity": float(specificity[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, name in enumerate(classes)
    }
    onehot = np.eye(c)[y]
    sq = (p - onehot) ** 2
    out = {
        "n": int(len(y)),
        "classes": list(classes),
        "accuracy": float(tp.sum() / len(y)),
        # Balanced accuracy: mean recall over the classes present in y_true (as scikit-learn).
        "balanced_accuracy": float(recall[present].mean()),
        "precision_macro": float(precision.mean()),
        "recall_macro": float(recall.mean()),
        "sensitivity_macro": float(recall.mean()),
        "specificity_macro": float(specificity.mean()),
        "f1_macro": float(f1.mean()),
        "per_class": per_class,
        "confusion_matrix": cm.tolist(),
        # Binary: the Brier score of the positive class (scikit-learn's brier_score_loss); more classes:
        # Brier's original multi-class score, the squared error summed over classes, averaged over samples.
        "brier": float(sq[:, 1].mean() if c == 2 else sq.sum(axis=1).mean()),
        "rmse": float(math.sqrt(sq.mean())),
        "log_loss": float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-15, 1.0)).mean()),
    }
    if c == 2:
        pos = classes[1]
        out.update(
            positive_class=pos,
            sensitivity=per_class[pos]["recall"],
            specificity=per_class[pos]["specificity"],
            precision=per_class[pos]["precision"],
            f1=per_class[pos]["f1"],
        )
    out["roc_curve"] = {}
    aucs = []
    for i in [1] if c == 2 else range(c):
        if 0 < support[i] < len(y):
            fpr, tpr, auc = roc_points(y == i, p[:, i])
            out["roc_curve"][classes[i]] = {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "auc": auc}
            aucs.append(auc)
    # ROC-AUC is undefined when a class is missing from y_true: say None rather than a made-up number.
    out["roc_auc"] = float(np.mean(aucs)) if len(aucs) == (1 if c == 2 else c) else None
    return out


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """(C, C) counts; row = true class, column = predicted class."""
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)), 1)
    return cm


def roc_points(is_positive, score) -> tuple[np.ndarray, np.ndarray, float]:
    """ROC curve (fpr, tpr at each distinct score threshold, from (0, 0) to (1, 1)) and its area.

    Ties share one threshold, so the area equals the Mann-Whitney statistic (scikit-learn's roc_auc_score).
    """
    pos = np.asarray(is_positive, dtype=bool)
    s = np.asarray(score, dtype=np.float64)
    order = np.argsort(-s, kind="mergesort")
    s, pos = s[order], pos[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tps = np.cumsum(pos)[last_of_tie]
    fps = (last_of_tie + 1) - tps
    tpr = np.r_[0.0, tps / max(pos.sum(), 1)]
    fpr = np.r_[0.0, fps / max((~pos).sum(), 1)]
    return fpr, tpr, float(np.trapezoid(tpr, fpr))


def per_class_table(metrics: dict) -> list[dict]:
    """Per-class precision/recall rows (the CycleGAN paper's Table 2 layout: one row per class with its
    precision, recall, F1 and number of test images), then the macro average."""
    rows = [
        {
            "class": name,
            "precision": m["precision"],
            "recall": m["recall"],
            "f1": m["f1"],
            "support": m["support"],
        }
        for name, m in metrics["per_class"].items()
    ]
    rows.append(
        {
            "class": "macro avg",
            "precision": metrics["precision_macro"],
            "recall": metrics["recall_macro"],
            "f1": metrics["f1_macro"],
            "support": metrics["n"],
        }
    )
    return rows


def training_summary(history: list[dict], training_time_s: float) -> dict:
    """Training time and the minimum training loss over the epochs (reported beside test metrics)."""
    losses = [h["train_loss"] for h in history if h.get("train_loss") is not None]
    return {
        "training_time_s": round(float(training_time_s), 3),
        "min_train_loss": float(min(losses)) if losses else None,
        "epochs_trained": len(history),
    }


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # 0 where the denominator is 0 (scikit-learn's zero_division=0).
    return np.divide(a, b, out=np.zeros_like(a, dtype=np.float64), where=b > 0)
