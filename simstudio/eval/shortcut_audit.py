"""Shortcut audit of a labelled image set: how much of the label can be read from how the photo was taken?

`audit_dataset(cols, labels, classes)` takes the per-image features of `eval.audit_features` and fits a
standardised, median-imputed logistic regression (C = 1) on the acquisition features only, the lesion
features only and both, scored by 5-fold stratified cross-validation repeated over 5 seeds (the recipe of
REAL-STATS.md). Each feature set's ROC-AUC comes with a 95 % bootstrap interval, every single feature's
AUC too (ranked), and a one-line verdict says what a classifier trained on the set will learn.
`acquisition_medians` gives the per-class medians and rates of the acquisition cues (what a
shortcut-flipped test set or a de-shortcut simulator needs).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from simstudio.eval.audit_features import ACQUISITION_FEATURES, AUDIT_FEATURES, LESION_FEATURES

# Bootstrap draws for every interval (REAL-STATS used 200).
N_BOOT = 200
CV_FOLDS = 5
CV_SEEDS = (0, 1, 2, 3, 4)
# Acquisition cue rates, thresholds of REAL-STATS.md (set there by looking at flagged images).
VIGNETTE_DROP = 10.0      # corners >= 10 L* darker than the skin: visible vignetting
FIELD_STOP_AREA = 0.01    # dark field stop on >= 1 % of the image
HAIR_FRAC = 0.002         # "some hair": >= 0.2 % of the off-lesion pixels
# A ruler: >= 15 % of the thin-mark spectrum (3-24 px periods) in one peak. Set on constructed rulers and hair
# (tests/eval/test_audit_features.py); the real rate is a lower bound, as REAL-STATS' detector was.
RULER_SCORE = 0.15
FEATURE_SETS = {"acquisition": ACQUISITION_FEATURES, "lesion": LESION_FEATURES,
                "both": ACQUISITION_FEATURES + LESION_FEATURES}


def positive_index(classes: Sequence[str]) -> int:
    """The class whose probability the audit reads: malignant or melanoma when present, else the last."""
    classes = list(classes)
    return next((classes.index(c) for c in ("malignant", "melanoma") if c in classes), len(classes) - 1)


def auc_score(y: np.ndarray, score: np.ndarray) -> float:
    """ROC-AUC of `score` for the binary labels `y` (Mann-Whitney with mid-ranks); NaN for one class."""
    from scipy.stats import rankdata

    y = np.asarray(y, bool)
    n1, n0 = int(y.sum()), int((~y).sum())
    if n1 == 0 or n0 == 0:
        return math.nan
    r = rankdata(score)
    return float((r[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def auc_with_ci(y: np.ndarray, score: np.ndarray, n_boot: int = N_BOOT, seed: int = 0,
                level: float = 0.95) -> tuple[float, float, float]:
    """(AUC, low, high): the percentile interval of a class-stratified bootstrap over images."""
    y, score = np.asarray(y, bool), np.asarray(score, float)
    auc = auc_score(y, score)
    if math.isnan(auc):
        return auc, math.nan, math.nan
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y), np.flatnonzero(~y)
    draws = []
    for _ in range(n_boot):
        idx = np.r_[rng.choice(pos, len(pos)), rng.choice(neg, len(neg))]
        draws.append(auc_score(y[idx], score[idx]))
    lo, hi = np.percentile(draws, [50 * (1 - level), 100 - 50 * (1 - level)])
    return auc, float(lo), float(hi)


def cross_validated_scores(X: np.ndarray, y: np.ndarray, seeds: Sequence[int] = CV_SEEDS,
                           folds: int = CV_FOLDS) -> tuple[np.ndarray, list[float]]:
    """Out-of-fold P(positive) of the audit's logistic regression, averaged over the seeds' fold splits,
    and every fold's AUC. Columns that are NaN throughout are dropped; other NaNs get the training
    fold's median."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = np.asarray(X, float)
    y = np.asarray(y, int)
    X = X[:, ~np.isnan(X).all(0)]
    folds = min(folds, int(np.bincount(y, minlength=2).min()))
    if folds < 2 or X.shape[1] == 0:
        raise ValueError("cross-validation needs at least 2 images of each class and one measured feature")
    scores = np.zeros(len(y))
    fold_aucs = []
    for s in seeds:
        oof = np.zeros(len(y))
        for train, test in StratifiedKFold(folds, shuffle=True, random_state=s).split(X, y):
            model = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(),
                                  LogisticRegression(C=1.0, max_iter=2000))
            model.fit(X[train], y[train])
            oof[test] = model.predict_proba(X[test])[:, 1]
            fold_aucs.append(auc_score(y[test], oof[test]))
        scores += oof / len(seeds)
    return scores, fold_aucs


@dataclass
class DatasetAudit:
    classes: list[str]
    positive: str
    n: int
    class_counts: dict[str, int]
    sets: dict[str, dict]            # feature set -> auc, low, high, fold_mean, fold_sd, n_features
    features: list[dict]             # every feature: name, group, auc, low, high, direction, n
    medians: dict[str, dict]         # class -> acquisition cue -> median / rate
    verdict: str
    scores: dict[str, np.ndarray] = field(repr=False, default_factory=dict)  # set -> OOF P(positive)

    def as_dict(self) -> dict:
        return {"classes": self.classes, "positive": self.positive, "n": self.n,
                "class_counts": self.class_counts, "sets": self.sets, "features": self.features,
                "medians": self.medians, "verdict": self.verdict}

    def top_shortcuts(self, k: int = 6) -> list[str]:
        """The `k` acquisition features that separate the classes best."""
        return [f["name"] for f in self.features if f["group"] == "acquisition"][:k]


def audit_dataset(cols: dict[str, np.ndarray], labels: np.ndarray, classes: Sequence[str],
                  n_boot: int = N_BOOT, seed: int = 0) -> DatasetAudit:
    """The dataset audit from measured features (see the module docstring). `labels` index `classes`;
    with more than two classes the positive class (`positive_index`) is read against the rest."""
    from simstudio.eval.audit_features import features_matrix

    classes = list(classes)
    labels = np.asarray(labels, int)
    pos = positive_index(classes)
    y = labels == pos
    if y.all() or not y.any():
        raise ValueError(f"the audit needs images of {classes[pos]!r} and of another class")
    sets, scores = {}, {}
    for name, names in FEATURE_SETS.items():
        p, fold_aucs = cross_validated_scores(features_matrix(cols, names), y.astype(int))
        auc, lo, hi = auc_with_ci(y, p, n_boot, seed)
        sets[name] = {"auc": auc, "low": lo, "high": hi, "fold_mean": float(np.nanmean(fold_aucs)),
                      "fold_sd": float(np.nanstd(fold_aucs)), "n_features": len(names)}
        scores[name] = p
    feats = []
    for name, (desc, group) in AUDIT_FEATURES.items():
        v = np.asarray(cols[name], float)
        ok = ~np.isnan(v)
        if ok.sum() < 4 or y[ok].all() or not y[ok].any() or np.ptp(v[ok]) == 0:
            feats.append({"name": name, "group": group, "description": desc, "auc": 0.5, "low": math.nan,
                          "high": math.nan, "direction": "constant", "n": int(ok.sum())})
            continue
        auc, lo, hi = auc_with_ci(y[ok], v[ok], n_boot, seed)
        higher = auc >= 0.5
        if not higher:
            auc, lo, hi = 1 - auc, 1 - hi, 1 - lo
        feats.append({"name": name, "group": group, "description": desc, "auc": auc, "low": lo, "high": hi,
                      "direction": f"{'higher' if higher else 'lower'} in {classes[pos]}", "n": int(ok.sum())})
    feats.sort(key=lambda f: -f["auc"])
    counts = {c: int((labels == i).sum()) for i, c in enumerate(classes)}
    audit = DatasetAudit(classes=classes, positive=classes[pos], n=len(labels), class_counts=counts,
                         sets=sets, features=feats, medians=acquisition_medians(cols, labels, classes),
                         verdict="", scores=scores)
    audit.verdict = dataset_verdict(audit)
    return audit


def dataset_verdict(audit: DatasetAudit) -> str:
    """One line: how well acquisition alone predicts the label, and what that means for training."""
    a, les = audit.sets["acquisition"], audit.sets["lesion"]
    ci = f"AUC {a['auc']:.2f} [{a['low']:.2f}, {a['high']:.2f}]"
    top = ", ".join(audit.top_shortcuts(3))
    if a["low"] >= 0.75:
        what = f"a classifier trained on this set will learn the camera (strongest cues: {top})"
    elif a["low"] >= 0.6:
        what = f"a classifier trained on this set can take a shortcut through the acquisition ({top})"
    elif a["high"] >= 0.6:
        what = "acquisition carries a little of the label; check the top cues before trusting a number"
    else:
        what = "no acquisition shortcut the audit can measure"
    return (f"acquisition alone predicts the label with {ci} (lesion alone {les['auc']:.2f} "
            f"[{les['low']:.2f}, {les['high']:.2f}]): {what}")


def acquisition_medians(cols: dict[str, np.ndarray], labels: np.ndarray,
                        classes: Sequence[str]) -> dict[str, dict[str, float]]:
    """Per class: median skin cast (`cast_a`, `cast_b`, `skin_L`), median `sharpness`, `noise_sigma`,
    `vignette_drop`, and the share of images with visible vignetting (`vignette_rate`), a dark field stop
    (`field_stop_rate`), some hair (`hair_rate`), a ruler (`ruler_rate`) and the lesion running off the
    frame (`edge_rate`); `n` images. A cue missing from `cols` is NaN. Sharpness depends on the side:
    compare at one size."""
    labels = np.asarray(labels, int)
    out = {}

    def med(name, sel):
        if name not in cols:
            return math.nan
        v = np.asarray(cols[name], float)[sel]
        v = v[~np.isnan(v)]
        return float(np.median(v)) if len(v) else math.nan

    def rate(name, sel, threshold):
        if name not in cols:
            return math.nan
        v = np.asarray(cols[name], float)[sel]
        v = v[~np.isnan(v)]
        return float((v >= threshold).mean()) if len(v) else math.nan

    for i, c in enumerate(classes):
        sel = labels == i
        out[c] = {"n": int(sel.sum()), "cast_a": med("skin_a", sel), "cast_b": med("skin_b", sel),
                  "skin_L": med("skin_L", sel), "sharpness": med("sharpness", sel),
                  "noise_sigma": med("noise_sigma", sel), "vignette_drop": med("vignette_drop", sel),
                  "vignette_rate": rate("vignette_drop", sel, VIGNETTE_DROP),
                  "field_stop_rate": rate("field_stop_area", sel, FIELD_STOP_AREA),
                  "hair_rate": rate("hair_frac", sel, HAIR_FRAC),
                  "ruler_rate": rate("ruler_score", sel, RULER_SCORE),
                  "edge_rate": rate("touches_edge", sel, 0.5)}
    return out


def measure_acquisition_medians(dataset: str, part: str = "", size: int | None = None,
                                workers: int = 0) -> dict[str, dict[str, float]]:
    """`acquisition_medians` of a dataset run or image folder (only `part` of its saved split when
    given), measured at `size` px (None = the set's own side)."""
    from simstudio.eval.audit_features import measure_many

    images, labels, classes, _ = load_audit_images(dataset, part=part, size=size)
    return acquisition_medians(measure_many(images, workers=workers), labels, classes)


def load_audit_images(dataset: str, part: str = "", size: int | None = None, max_per_class: int = 0,
                      seed: int = 0):
    """(images, labels, classes, files) of a dataset run or folder, `part` of its saved split only when
    given, at most `max_per_class` images per class (a seeded subset; 0 = all)."""
    from simstudio.data.dataset import load_dataset

    if not dataset:
        raise ValueError("choose a dataset to audit (a dataset run id or an image folder)")
    ds = load_dataset(dataset, size=size or None)
    rows = np.arange(len(ds))
    if part:
        split = ds.saved_split()
        if split is None:
            raise ValueError(f"{dataset} has no saved split to take the {part!r} part from")
        rows = np.asarray(split.indices(part, ds))
    if max_per_class > 0:
        rng = np.random.default_rng(seed)
        keep = []
        for c in range(len(ds.classes)):
            idx = rows[ds.labels[rows] == c]
            keep.append(np.sort(rng.choice(idx, max_per_class, replace=False)) if len(idx) > max_per_class
                        else idx)
        rows = np.sort(np.concatenate(keep))
    return np.asarray(ds.images[rows]), np.asarray(ds.labels[rows]), list(ds.classes), \
        [ds.files[i] for i in rows]
