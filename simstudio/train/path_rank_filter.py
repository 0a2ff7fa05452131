"""Path-Rank-Filter: let a classifier trained on the real data rank the target-domain (Y) images by its
confidence that they belong to the target class, and train the CycleGAN on the top fraction α only
(α ∈ {1/8, 1/4, 1/2, 1} in the study), so the translation learns from the most typical examples.
"""

from __future__ import annotations

import math

import numpy as np

PAPER_ALPHAS = (0.125, 0.25, 0.5, 1.0)


def keep_top_alpha(confidences: np.ndarray, alpha: float) -> np.ndarray:
    """Indices of the ceil(α·N) most confident images, most confident first (ties: lower index first)."""
    conf = np.asarray(confidences, dtype=np.float64).reshape(-1)
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")
    if len(conf) == 0:
        raise ValueError("no images to rank")
    n_keep = max(1, math.ceil(alpha * len(conf) - 1e-9))
    order = np.lexsort((np.arange(len(conf)), -conf))  # primary: confidence desc; then index asc
    return order[:n_keep]


def class_confidence(images: np.ndarray, classifier: str, target_class: str) -> np.ndarray:
    """P(target_class | image) from a classifier run id / checkpoint, for uint8 images (N, H, W, 3)."""
    from simstudio.train.checkpoints import load_classifier, predict_proba

    model, meta = load_classifier(classifier)
    classes = list(meta.get("classes", []))
    if target_class not in classes:
        raise ValueError(f"the Path-Rank-Filter classifier knows {', '.join(classes)}, not {target_class!r}")
    return predict_proba(model, images)[:, classes.index(target_class)]


def path_rank_filter(images: np.ndarray, classifier: str, target_class: str, alpha: float) -> dict:
    """The images to keep: {"indices", "confidence" (of every image), "threshold" (lowest kept), "alpha"}."""
    conf = class_confidence(images, classifier, target_class)
    keep = keep_top_alpha(conf, alpha)
    return {"indices": keep, "confidence": conf, "threshold": float(conf[keep].min()), "alpha": alpha,
            "kept": int(len(keep)), "of": int(len(conf))}
