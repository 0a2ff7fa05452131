"""Does a trained classifier lean on a shortcut? Its answers on real test images before and after each
acquisition-only edit (`eval.audit_edits`).

Per edit and classifier: the mean and spread of the change in P(positive class), that change signed
the way the shortcut points (+ = the answer moved the way the other class's acquisition would move it,
or toward the class whose photos show an added cue more often), the share of predictions that flip, and
the ROC-AUC on the edited set against the unedited one with a paired bootstrap interval. A
simulator-trained classifier audited beside a real-trained one shows what "not leaning" looks like on
the same images.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from simstudio.eval.audit_edits import EDIT_NAMES, EDITS, apply_edit, edit_context, other_class_targets
from simstudio.eval.classifier_response import confident_errors, response_verdict, within_class_response
from simstudio.eval.shortcut_audit import N_BOOT, auc_score, auc_with_ci, positive_index

# A classifier "leans" on a cue when an edit flips this share of its answers or moves P this far toward
# the other class on average. Chance-level flips of a calibrated model under invisible edits are ~0-2 %.
LEAN_FLIPS = 0.10
LEAN_TOWARD = 0.05


def edit_plan(images: np.ndarray, labels: np.ndarray, classes: Sequence[str], workers: int = 1):
    """(per-image edit contexts, per-class acquisition medians, per-class targets, per-image audit
    features): every image measured once. The cast targets are the other class's median skin a*, b*;
    the sharpness target its median Laplacian variance of the whole image (what `match_sharpness`
    matches)."""
    from simstudio.eval.audit_features import measure_many
    from simstudio.eval.shortcut_audit import acquisition_medians

    contexts = [edit_context(im, lab) for im, lab in zip(images, labels, strict=True)]
    cols = measure_many(images, workers=workers)
    medians = acquisition_medians(cols, labels, classes)
    own = acquisition_medians({"skin_a": np.array([c.skin_a for c in contexts]),
                               "skin_b": np.array([c.skin_b for c in contexts]),
                               "sharpness": np.array([c.sharpness for c in contexts])}, labels, classes)
    return contexts, medians, other_class_targets(own, list(classes)), cols


# Edits that add or remove a cue on every image: their shortcut direction is toward (add) or away from
# (remove) the class whose photos show the cue more often. The rest move each image toward the other
# class's acquisition (tint, sharpness) or toward neutral between them (colour constancy).
_CUE_RATE = {"add_vignette": ("vignette_rate", 1), "remove_vignette": ("vignette_rate", -1),
             "hair": ("hair_rate", 1), "ruler": ("ruler_rate", 1)}


def shortcut_sign(edit: str, labels: np.ndarray, positive: int, medians: dict, classes: Sequence[str]):
    """Per image +1 / -1: the direction of P(positive) that would mean "the edit moved the answer the way
    the acquisition shortcut points" (see `_CUE_RATE`)."""
    y = np.asarray(labels) == positive
    if edit not in _CUE_RATE:
        return np.where(y, -1.0, 1.0)
    rate, sense = _CUE_RATE[edit]
    pos_rate = medians.get(classes[positive], {}).get(rate, math.nan)
    others = [medians[c].get(rate, math.nan) for c in classes if c != classes[positive] and c in medians]
    other_rate = float(np.nanmean(others)) if others else math.nan
    richer = 1.0 if not (pos_rate < other_rate) else -1.0   # unknown rates: the positive class
    return np.full(len(y), sense * richer)


def edit_images(name: str, images: np.ndarray, contexts, targets: dict, seed: int = 0) -> np.ndarray:
    """Edit `name` applied to every image; image i gets seed `seed + i`, so every classifier sees the
    same edited set."""
    return np.stack([apply_edit(name, im, ctx, targets, seed=seed + i)
                     for i, (im, ctx) in enumerate(zip(images, contexts, strict=True))])


def edit_effect(p0: np.ndarray, p1: np.ndarray, labels: np.ndarray, positive: int,
                n_boot: int = N_BOOT, seed: int = 0, pred0: np.ndarray | None = None,
                pred1: np.ndarray | None = None, sign: np.ndarray | None = None) -> dict:
    """The figures of one edit for one classifier from P(positive) before (`p0`) and after (`p1`).
    `pred0`/`pred1`: predicted class indices (default: P(positive) >= 0.5). `sign`: per image, the
    direction of P(positive) the shortcut points (default: toward the other class)."""
    y = np.asarray(labels) == positive
    d = np.asarray(p1, float) - np.asarray(p0, float)
    toward = d * (np.where(y, -1.0, 1.0) if sign is None else np.asarray(sign, float))
    pred0 = (p0 >= 0.5) if pred0 is None else pred0
    pred1 = (p1 >= 0.5) if pred1 is None else pred1
    a0, a1 = auc_score(y, p0), auc_score(y, p1)
    a1_ci = auc_with_ci(y, p1, n_boot, seed)
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y), np.flatnonzero(~y)
    diffs = []
    if len(pos) and len(neg):
        for _ in range(n_boot):
            idx = np.r_[rng.choice(pos, len(pos)), rng.choice(neg, len(neg))]
            diffs.append(auc_score(y[idx], p1[idx]) - auc_score(y[idx], p0[idx]))
    lo, hi = (np.percentile(diffs, [2.5, 97.5]) if diffs else (math.nan, math.nan))
    q = np.percentile(d, [5, 25, 50, 75, 95])
    return {"mean_delta": float(d.mean()), "sd_delta": float(d.std()), "quantiles": [float(v) for v in q],
            "mean_toward": float(toward.mean()), "flip_rate": float(np.mean(pred0 != pred1)),
            "auc_before": a0, "auc_after": a1, "auc_after_low": a1_ci[1], "auc_after_high": a1_ci[2],
            "delta_auc": a1 - a0, "delta_auc_low": float(lo), "delta_auc_high": float(hi),
            "n": int(len(d)), "deltas": [round(float(v), 5) for v in d]}


def audit_classifiers(predictors: dict[str, Callable[[np.ndarray], np.ndarray]], images: np.ndarray,
                      labels: np.ndarray, classes: Sequence[str], edits: Sequence[str] = EDIT_NAMES,
                      seed: int = 0, n_boot: int = N_BOOT,
                      progress: Callable[[int, int, str], None] | None = None) -> dict:
    """Every edit applied to `images` (labels index `classes`) and read by every classifier:
    `predictors = {name: images -> (N, C) probabilities in `classes` order}`. Returns
    {"classes", "positive", "edits": {edit: {classifier: edit_effect + verdict}}, "verdicts":
    {edit: line}, "medians", "auc": {classifier: (auc, low, high) unedited}, "response": {classifier:
    `within_class_response` rows}, "response_verdicts": {classifier: line}, "errors": {classifier:
    `confident_errors` rows}}."""
    classes = list(classes)
    pos = positive_index(classes)
    labels = np.asarray(labels, int)
    base = {name: np.asarray(f(images)) for name, f in predictors.items()}
    y = labels == pos
    out = {"classes": classes, "positive": classes[pos], "n": int(len(labels)), "edits": {}, "verdicts": {},
           "auc": {n: list(auc_with_ci(y, p[:, pos], n_boot, seed)) for n, p in base.items()}}
    bad = [e for e in edits if e not in EDITS]
    if bad:
        raise ValueError(f"unknown edit(s) {', '.join(bad)}; choose from {', '.join(EDIT_NAMES)}")
    contexts, out["medians"], targets, cols = edit_plan(images, labels, classes)
    out["response"], out["response_verdicts"], out["errors"] = {}, {}, {}
    for name, p in base.items():
        rows = within_class_response(cols, labels, p[:, pos], classes, n_boot=n_boot, seed=seed)
        out["response"][name] = rows
        out["response_verdicts"][name] = response_verdict(name, rows, classes[pos])
        out["errors"][name] = confident_errors(p[:, pos], labels, pos, classes)
    for k, edit in enumerate(edits):
        if progress is not None:
            progress(k, len(edits), f"edit {k + 1} of {len(edits)}: {edit}")
        edited = edit_images(edit, images, contexts, targets, seed)
        signs = shortcut_sign(edit, labels, pos, out["medians"], classes)
        row = {}
        for name, f in predictors.items():
            p1 = np.asarray(f(edited))
            p0 = base[name]
            eff = edit_effect(p0[:, pos], p1[:, pos], labels, pos, n_boot, seed, pred0=p0.argmax(1),
                              pred1=p1.argmax(1), sign=signs)
            eff["verdict"] = lean_verdict(eff)
            row[name] = eff
        out["edits"][edit] = row
        out["verdicts"][edit] = edit_verdict(edit, row)
    return out


def lean_verdict(eff: dict) -> str:
    """How much one classifier leans on the edited cue."""
    flips, toward = eff["flip_rate"], eff["mean_toward"]
    if flips >= 2 * LEAN_FLIPS or toward >= 2 * LEAN_TOWARD:
        return "leans on it"
    if flips >= LEAN_FLIPS or toward >= LEAN_TOWARD:
        return "leans on it a little"
    return "does not lean on it"


def edit_verdict(edit: str, row: dict) -> str:
    """One line per edit: every classifier's flips, shift toward the other class and AUC change."""
    parts = []
    for name, e in row.items():
        parts.append(f"{name} {e['verdict']} ({100 * e['flip_rate']:.0f}% flip, P moves "
                     f"{e['mean_toward']:+.3f} the way the shortcut points, AUC {e['auc_before']:.3f} -> "
                     f"{e['auc_after']:.3f}, Δ {e['delta_auc']:+.3f} [{e['delta_auc_low']:+.3f}, "
                     f"{e['delta_auc_high']:+.3f}])")
    return f"{edit} ({EDITS[edit]}): " + "; ".join(parts)


def classifier_predictor(ref: str, classes: Sequence[str]) -> Callable[[np.ndarray], np.ndarray]:
    """images -> (N, len(classes)) probabilities of a trained classifier run or checkpoint, its columns
    put in `classes` order (a classifier must know every class of the audited set)."""
    from simstudio.train.checkpoints import load_classifier, predict_proba

    model, meta = load_classifier(ref)
    own = list(meta["classes"])
    missing = [c for c in classes if c not in own]
    if missing:
        raise ValueError(f"classifier {ref} does not know class(es) {', '.join(missing)} "
                         f"(it knows {', '.join(own)})")
    order = [own.index(c) for c in classes]

    def predict(images):
        p = predict_proba(model, np.array(images))[:, order]
        return p / np.maximum(p.sum(1, keepdims=True), 1e-12)

    return predict
