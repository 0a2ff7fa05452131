"""How far is a synthetic image set from a real one? Numbers and views for the Gap tab and `gap A B`.

- `c2st`: classifier two-sample test. A small real-vs-synthetic discriminator is trained on one half
  of the data and scored on the other (and the halves swapped); its held-out ROC-AUC is the headline gap
  number: 0.5 = indistinguishable to that discriminator, 1.0 = told apart every time.
- `embed_2d`: PCA or t-SNE coordinates of both sets together, for a scatter plot.
- `per_class_fidelity`: KID/FID per class in a feature space (from `simstudio.eval.fidelity`).
- `nearest_real`: for each synthetic sample, the closest real samples (a memorisation check and the
  gallery that shows what a simulated image "looks like" to the feature space).
- `image_descriptor`: a fixed, training-free feature vector of raw images (colour thumbnail, colour
  histograms, gradient energy), so a C2ST on images works without any trained network.

Feature spaces by name (`compute_features`): "stats" (measured lesion statistics, interpretable),
"pixels" (`image_descriptor`), or a classifier checkpoint path / training run id (penultimate features
of a network trained on the real data: the "domain feature space" of the issue).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

BUILTIN_FEATURE_SPACES = ("stats", "pixels")


@dataclass
class C2STResult:
    auc: float                      # held-out ROC-AUC of the discriminator, averaged over repeats
    ci: tuple[float, float]         # 95 % bootstrap interval of the AUC (first repeat's held-out scores)
    n_a: int
    n_b: int
    classifier: str
    repeats: int
    scores: np.ndarray = field(repr=False)  # held-out P(set B) per sample of the first repeat, rows a then b

    def summary(self) -> str:
        verdict = ("indistinguishable" if self.auc < 0.55 else "hard to tell apart" if self.auc < 0.7
                   else "clearly different" if self.auc > 0.9 else "distinguishable")
        return (f"C2ST AUC {self.auc:.3f} (95% CI {self.ci[0]:.3f}-{self.ci[1]:.3f};"
                f" 0.5 = indistinguishable): {verdict} ({self.classifier}, {self.n_a} vs {self.n_b} samples)")

    def as_dict(self) -> dict:
        return {"auc": self.auc, "ci": list(self.ci), "n_a": self.n_a, "n_b": self.n_b,
                "classifier": self.classifier, "repeats": self.repeats}


def c2st(a: np.ndarray, b: np.ndarray, *, classifier: str = "logistic", repeats: int = 3, seed: int = 0,
         bootstrap: int = 200) -> C2STResult:
    """Classifier two-sample test between feature matrices `a` (N, D) and `b` (M, D).

    Each repeat splits both sets into stratified halves, trains on one half and scores the other, then
    swaps: every sample gets a held-out score, and the AUC of those scores is the repeat's result.
    `classifier`: "logistic" (standardised logistic regression; fast, fine for network features) or
    "boosting" (histogram gradient boosting; catches non-linear differences in a few statistics).
    """
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    a, b = _as_matrix(a, "a"), _as_matrix(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature widths differ: {a.shape[1]} vs {b.shape[1]}")
    if min(len(a), len(b)) < 4:
        raise ValueError(f"C2ST needs at least 4 samples per set, got {len(a)} and {len(b)}")
    X = np.concatenate([a, b])
    y = np.r_[np.zeros(len(a), int), np.ones(len(b), int)]
    aucs, first = [], None
    for r in range(max(1, repeats)):
        scores = np.zeros(len(y))
        for train, test in StratifiedKFold(2, shuffle=True, random_state=seed + r).split(X, y):
            model = _discriminator(classifier, seed + r).fit(X[train], y[train])
            scores[test] = model.predict_proba(X[test])[:, 1]
        aucs.append(roc_auc_score(y, scores))
        first = scores if first is None else first
    return C2STResult(auc=float(np.mean(aucs)), ci=_bootstrap_auc(y, first, bootstrap, seed),
                      n_a=len(a), n_b=len(b), classifier=classifier, repeats=len(aucs), scores=first)


def embed_2d(X: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """(N, 2) coordinates of the rows of X (standardised first): "pca" or "tsne"."""
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    X = StandardScaler().fit_transform(_as_matrix(X, "X"))
    if len(X) < 3:
        raise ValueError(f"an embedding needs at least 3 samples, got {len(X)}")
    if method == "pca":
        out = PCA(n_components=min(2, X.shape[1]), random_state=seed).fit_transform(X)
        return out if out.shape[1] == 2 else np.c_[out, np.zeros(len(out))]
    if method == "tsne":
        from sklearn.manifold import TSNE

        if X.shape[1] > 50:   # the usual t-SNE recipe: denoise with PCA first
            X = PCA(n_components=50, random_state=seed).fit_transform(X)
        perplexity = float(min(30.0, max(2.0, (len(X) - 1) / 3)))
        return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(X)
    raise ValueError(f"unknown embedding {method!r}; choose pca or tsne")


def nearest_real(real: np.ndarray, synthetic: np.ndarray, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """For each synthetic row, the indices (M, k) of its k nearest real rows and their distances (M, k),
    Euclidean after standardising with the real set's mean and spread."""
    from sklearn.neighbors import NearestNeighbors

    real, synthetic = _as_matrix(real, "real"), _as_matrix(synthetic, "synthetic")
    mu, sd = real.mean(0), real.std(0)
    sd[sd < 1e-8] = 1.0
    k = min(k, len(real))
    nn = NearestNeighbors(n_neighbors=k).fit((real - mu) / sd)
    dist, idx = nn.kneighbors((synthetic - mu) / sd)
    return idx, dist


def per_class_fidelity(real: np.ndarray, real_labels: np.ndarray, synthetic: np.ndarray,
                       synthetic_labels: np.ndarray, classes: Sequence[str],
                       seed: int = 0) -> dict[str, dict]:
    """KID (unbiased, x1000 is the usual display) and FID between the real and synthetic rows of each class
    in the given feature space, plus "all" over every row. Classes with fewer than 2 rows on a side are
    skipped (the estimators are undefined there)."""
    real, synthetic = _as_matrix(real, "real"), _as_matrix(synthetic, "synthetic")
    real_labels, synthetic_labels = np.asarray(real_labels), np.asarray(synthetic_labels)
    out = {}
    groups = [(c, real_labels == i, synthetic_labels == i) for i, c in enumerate(classes)]
    groups.append(("all", np.ones(len(real), bool), np.ones(len(synthetic), bool)))
    for name, rs, ss in groups:
        if rs.sum() >= 2 and ss.sum() >= 2:
            out[name] = _fidelity(real[rs], synthetic[ss], seed)
    return out


def image_descriptor(images: np.ndarray | Sequence[np.ndarray], side: int = 64) -> np.ndarray:
    """Training-free features of uint8 RGB images (N, H, W, 3) -> (N, D) float32: an 8x8 CIELAB thumbnail
    (layout and colour), 8-bin histograms of L*, a*, b* (colour distribution) and gradient / Laplacian
    energy at two scales (texture and sharpness). Images are first resized to `side`."""
    from simstudio.eval.lesion_stats import rgb_to_lab

    rows = []
    for img in images:
        img = np.asarray(img, np.uint8)
        if img.shape[0] != side or img.shape[1] != side:
            img = cv2.resize(img, (side, side), interpolation=cv2.INTER_AREA)
        lab = rgb_to_lab(img)
        thumb = cv2.resize(lab, (8, 8), interpolation=cv2.INTER_AREA).ravel() / 50.0
        hists = [np.histogram(lab[..., j], bins=8, range=rng)[0] / lab[..., j].size
                 for j, rng in enumerate(((0, 100), (-20, 60), (-30, 50)))]
        L = lab[..., 0]
        tex = []
        for scale in (L, cv2.pyrDown(L)):
            gx, gy = cv2.Sobel(scale, cv2.CV_32F, 1, 0), cv2.Sobel(scale, cv2.CV_32F, 0, 1)
            tex += [float(np.log1p(np.mean(gx * gx + gy * gy))),
                    float(np.log1p(cv2.Laplacian(scale, cv2.CV_32F).var()))]
        rows.append(np.concatenate([thumb, *hists, tex]).astype(np.float32))
    return np.stack(rows) if rows else np.zeros((0, 64 * 3 + 24 + 4), np.float32)


def compute_features(images: np.ndarray, space: str = "stats",
                     progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, list[str]]:
    """Feature matrix (N, D) and column names of uint8 RGB images in the named space (see module doc)."""
    if space == "stats":
        from simstudio.eval.lesion_stats import STAT_NAMES, measure_images, statistics_matrix

        return statistics_matrix(measure_images(images, progress=progress)), list(STAT_NAMES)
    if space == "pixels":
        X = image_descriptor(images)
        if progress is not None:
            progress(len(images), len(images))
        return X, [f"pixel_{i}" for i in range(X.shape[1])]
    return _classifier_features(images, space, progress)


# -- private helpers --------------------------------------------------------------------------------
def _classifier_features(images: np.ndarray, ref: str, progress) -> tuple[np.ndarray, list[str]]:
    """Penultimate features of a trained classifier given as a checkpoint file or a training run."""
    path = _checkpoint_path(ref)
    from simstudio.train.checkpoints import embed, load_classifier

    model, meta = load_classifier(path)
    X = np.asarray(embed(model, np.asarray(images)), np.float32)
    if progress is not None:
        progress(len(images), len(images))
    return X, [f"{meta.get('model', 'net')}_{i}" for i in range(X.shape[1])]


def _checkpoint_path(ref: str) -> Path:
    p = Path(ref)
    if p.is_file():
        return p
    from simstudio.runs import open_run

    try:
        run_dir = p if p.is_dir() else open_run(ref).path
    except FileNotFoundError:
        raise FileNotFoundError(
            f"feature space {ref!r} is neither {', '.join(BUILTIN_FEATURE_SPACES)} nor a classifier "
            "checkpoint or training run") from None
    for name in ("best.pt", "last.pt"):
        if (run_dir / "checkpoints" / name).is_file():
            return run_dir / "checkpoints" / name
    raise FileNotFoundError(f"run {run_dir.name} has no checkpoints/best.pt or last.pt")


def _fidelity(a: np.ndarray, b: np.ndarray, seed: int) -> dict:
    from simstudio.eval import fidelity

    return {"n_real": len(a), "n_synthetic": len(b), **fidelity.feature_fidelity(a, b, seed=seed)}


def _discriminator(name: str, seed: int):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if name == "logistic":
        from sklearn.linear_model import LogisticRegression

        return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    if name == "boosting":
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(max_iter=150, learning_rate=0.1, max_leaf_nodes=15,
                                              random_state=seed)
    raise ValueError(f"unknown C2ST classifier {name!r}; choose logistic or boosting")


def _bootstrap_auc(y: np.ndarray, scores: np.ndarray, draws: int, seed: int) -> tuple[float, float]:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    ia, ib = np.flatnonzero(y == 0), np.flatnonzero(y == 1)
    vals = []
    for _ in range(draws):   # resample within each set so every draw has both
        s = np.r_[rng.choice(ia, len(ia)), rng.choice(ib, len(ib))]
        vals.append(roc_auc_score(y[s], scores[s]))
    if not vals:
        auc = float(roc_auc_score(y, scores))
        return auc, auc
    lo, hi = np.percentile(vals, [2.5, 97.5])
    return float(lo), float(hi)


def _as_matrix(x, name: str) -> np.ndarray:
    x = np.asarray(x, np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"{name} must be a (samples, features) matrix, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return x

