"""How far is a synthetic image set from a real one? Numbers and views for the Gap tab and `gap A B`.

- `c2st`: classifier two-sample test. A small real-vs-synthetic discriminator is trained on one half
  of the data and scored on the other (and the halves swapped); its held-out ROC-AUC is the headline gap
  number: 0.5 = indistinguishable to that discriminator, 1.0 = told apart every time.
- `embed_2d`: PCA or t-SNE coordinates of both sets together, for a scatter plot.
- `per_class_fidelity`: KID/FID per class in a feature space (from `simstudio.eval.fidelity`).
- `nearest_real`: for each synthetic sample, the closest real samples (a memorisation check and the
  gallery that shows what a simulated image "looks like" to the feature space).
- texture by scale (`texture_scales`): at which spatial scale the sets' detail differs, per class.
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


@dataclass
class GapConfig:
    """What `run_gap` compares (the Gap tab's form and `python -m simstudio gap A B`)."""

    real: str = ""             # dataset run id or image folder of real images
    synthetic: str = ""        # image folder (simulator / GAN export) or dataset run
    real_part: str = ""        # "", "train", "val" or "test": only that part of the real set's split
    split_file: str = ""       # a split CSV for a real folder (an imported dataset carries its own)
    size: int = 128            # both sets are compared at this side (px)
    per_class: int = 200       # at most this many images per class and set (a seeded random subset)
    features: str = "stats"    # "stats", "pixels", or a classifier run id / checkpoint (domain features)
    embedding: str = "pca"     # "pca" or "tsne"
    classifier: str = "logistic"  # C2ST discriminator: "logistic" or "boosting"
    neighbours: int = 8        # synthetic samples beside their nearest real image; telling images per set
    seed: int = 0


@dataclass
class GapReport:
    classes: list[str]
    feature_space: str
    c2st: C2STResult                        # real vs synthetic, all classes together
    c2st_per_class: dict[str, C2STResult]   # real class c vs synthetic class c
    fidelity: dict[str, dict]               # per class (and "all"): kid, kid_std, fid, counts
    points: dict[str, np.ndarray]           # x, y (embedding), set (0 real / 1 synthetic), label, index
    stats: dict[str, dict[str, np.ndarray]]  # "real" / "synthetic" -> lesion statistic -> values
    labels: dict[str, np.ndarray]           # "real" / "synthetic" -> class index per measured image
    neighbours: list[dict]                  # {synthetic, real, distance, class}: rows of the two sets
    texture: dict = field(default_factory=dict)  # `texture_scales.compare_texture`: detail by scale
    telling: dict = field(default_factory=dict)  # `telling_images`: what gives the synthetic set away
    telling_stats: dict = field(default_factory=dict)  # `telling_stats.telling_statistics`: which statistics
    c2st_groups: dict = field(default_factory=dict)  # `telling_stats.c2st_by_group`: lesion or acquisition

    def summary(self) -> dict:
        """JSON-able headline numbers (what result.json and the CLI print)."""
        return {
            "classes": self.classes, "feature_space": self.feature_space,
            "c2st": self.c2st.as_dict(),
            "c2st_per_class": {c: r.as_dict() for c, r in self.c2st_per_class.items()},
            "fidelity": self.fidelity,
            "n_real": int((self.points["set"] == 0).sum()),
            "n_synthetic": int((self.points["set"] == 1).sum()),
            "texture": self.texture,
            "telling": self.telling,
            "telling_stats": self.telling_stats,
            "c2st_groups": self.c2st_groups,
        }


def compute_gap(real_images: np.ndarray, real_labels: np.ndarray, synthetic_images: np.ndarray,
                synthetic_labels: np.ndarray, classes: Sequence[str], *, features: str = "stats",
                embedding: str = "pca", classifier: str = "logistic", neighbours: int = 8, seed: int = 0,
                progress: Callable[[int, int, str], None] | None = None) -> GapReport:
    """Every gap view for two labelled image sets of the same side (labels index `classes`)."""
    progress = progress or (lambda done, total, msg: None)
    real_labels, synthetic_labels = np.asarray(real_labels), np.asarray(synthetic_labels)
    from simstudio.eval.lesion_stats import STAT_NAMES, measure_images, statistics_matrix
    from simstudio.eval.telling_stats import c2st_by_group, telling_statistics
    from simstudio.eval.texture_scales import BAND_NAMES, compare_texture, texture_into

    n_all = len(real_images) + len(synthetic_images)
    # one segmentation per image serves the statistics and the texture by scale
    bands = {k: np.full((len(v), len(BAND_NAMES)), np.nan)
             for k, v in (("real", real_images), ("synthetic", synthetic_images))}
    stats = {"real": measure_images(real_images, progress=lambda d, t: progress(d, n_all, "measuring real"),
                                    each=texture_into(bands["real"])),
             "synthetic": measure_images(synthetic_images, progress=lambda d, t: progress(
                 len(real_images) + d, n_all, "measuring synthetic"), each=texture_into(bands["synthetic"]))}
    if features == "stats":
        both = statistics_matrix({k: np.r_[stats["real"][k], stats["synthetic"][k]] for k in STAT_NAMES})
        # Statistics come in very different units (sharpness ~100s, fractions ~0.1): put them in units of
        # the real set's spread so KID, the embedding and the neighbours weigh each one alike.
        mu, sd = both[:len(real_images)].mean(0), both[:len(real_images)].std(0)
        both = (both - mu) / np.where(sd < 1e-9, 1.0, sd)
        fa, fb = both[:len(real_images)], both[len(real_images):]
    else:
        fa = compute_features(real_images, features)[0]
        fb = compute_features(synthetic_images, features)[0]
    texture = compare_texture(bands["real"], real_labels, bands["synthetic"], synthetic_labels, classes)
    progress(n_all, n_all, "two-sample tests")
    headline = c2st(fa, fb, classifier=classifier, seed=seed)
    per_class = {}
    for i, c in enumerate(classes):
        ra, sb = fa[real_labels == i], fb[synthetic_labels == i]
        if min(len(ra), len(sb)) >= 4:
            per_class[c] = c2st(ra, sb, classifier=classifier, seed=seed)
    fidelity = per_class_fidelity(fa, real_labels, fb, synthetic_labels, classes, seed=seed)
    xy = embed_2d(np.r_[fa, fb], embedding, seed=seed)
    points = {"x": xy[:, 0], "y": xy[:, 1], "set": np.r_[np.zeros(len(fa), int), np.ones(len(fb), int)],
              "label": np.r_[real_labels, synthetic_labels],
              "index": np.r_[np.arange(len(fa)), np.arange(len(fb))]}
    return GapReport(classes=list(classes), feature_space=features, c2st=headline, c2st_per_class=per_class,
                     fidelity=fidelity, points=points, stats=stats,
                     labels={"real": real_labels, "synthetic": synthetic_labels},
                     neighbours=_neighbour_pairs(fa, real_labels, fb, synthetic_labels, classes, neighbours,
                                                 seed),
                     texture=texture,
                     telling=telling_images(headline, real_labels, synthetic_labels, classes, neighbours),
                     telling_stats=telling_statistics(stats["real"], stats["synthetic"], real_labels,
                                                      synthetic_labels, classes, seed=seed),
                     c2st_groups=c2st_by_group(stats["real"], stats["synthetic"], real_labels, synthetic_labels,
                                               classes, classifier=classifier, seed=seed))


def telling_images(result: C2STResult, real_labels: np.ndarray, synthetic_labels: np.ndarray,
                   classes: Sequence[str], count: int = 8) -> dict[str, list[dict]]:
    """What gives a synthetic set away, from the two-sample test's held-out scores (each image scored by a
    discriminator that never saw it): the `count` synthetic images it was surest were synthetic, and the
    `count` real ones it most took for synthetic. {"synthetic"/"real": [{index, p_synthetic, class}]}."""
    out = {}
    for name, scores, labels in (("synthetic", result.scores[result.n_a:], synthetic_labels),
                                 ("real", result.scores[:result.n_a], real_labels)):
        order = np.argsort(-scores, kind="stable")[:count]
        out[name] = [{"index": int(i), "p_synthetic": round(float(scores[i]), 4), "class": classes[int(labels[i])]}
                     for i in order]
    return out


def run_gap(config: GapConfig, ctx) -> dict:
    """Job: load both sets, `compute_gap`, save the views into the run folder (gap_points.json,
    gap_stats.json, gap_neighbours.json, gap_telling.json, samples/nn_*.png and samples/telling_*.png) and
    return the headline numbers."""
    from simstudio.config import config_from_dict

    if isinstance(config, dict):
        config = config_from_dict(GapConfig, config)
    real, real_labels, synthetic, synthetic_labels, classes = load_gap_sets(config, ctx)
    ctx.log(f"comparing {len(real)} real and {len(synthetic)} synthetic images at {config.size}px "
            f"({', '.join(classes)}) in feature space {config.features!r}")

    def progress(done, total, message):
        ctx.check_cancel()
        ctx.progress(done, total, message)

    report = compute_gap(real, real_labels, synthetic, synthetic_labels, classes, features=config.features,
                         embedding=config.embedding, classifier=config.classifier,
                         neighbours=config.neighbours, seed=config.seed, progress=progress)
    if ctx.run_dir is not None:
        save_gap_views(report, real, synthetic, ctx.run_dir)
        for i, _ in enumerate(report.neighbours):
            ctx.report("image", path=f"samples/nn_{i:02d}.png", kind="nearest_real")
    summary = report.summary()
    ctx.metric(c2st_auc=report.c2st.auc, **{f"kid_{c}": v["kid"] for c, v in report.fidelity.items()})
    ctx.log(report.c2st.summary())
    return summary


def load_gap_sets(config: GapConfig, ctx=None):
    """(real images, labels, synthetic images, labels, classes): both at `config.size`, restricted to the
    classes they share and to `config.real_part`, at most `config.per_class` per class and set."""
    from simstudio.data.dataset import load_dataset

    if not config.real or not config.synthetic:
        raise ValueError("choose both a real set and a synthetic set")
    real = load_dataset(config.real, size=config.size)
    if config.real_part:
        real = real.subset(_split_for(real, config.split_file).indices(config.real_part, real))
    synthetic = load_dataset(config.synthetic, size=config.size)
    classes = [c for c in real.classes if c in synthetic.classes]
    if not classes:
        raise ValueError(f"the sets share no class: real has {', '.join(real.classes)}, "
                         f"synthetic has {', '.join(synthetic.classes)}")
    rng = np.random.default_rng(config.seed)
    out = []
    for ds in (real, synthetic):
        rows, labels = [], []
        for i, c in enumerate(classes):
            idx = np.flatnonzero(ds.labels == ds.classes.index(c))
            if len(idx) > config.per_class:
                idx = np.sort(rng.choice(idx, config.per_class, replace=False))
            rows.append(idx)
            labels.append(np.full(len(idx), i))
        rows_all = np.concatenate(rows)
        out += [np.asarray(ds.images[rows_all]), np.concatenate(labels)]
    return out[0], out[1], out[2], out[3], classes


def save_gap_views(report: GapReport, real_images: np.ndarray, synthetic_images: np.ndarray, run_dir) -> None:
    """Write what the Gap tab draws into a run folder (plain JSON + PNGs)."""
    from simstudio.runs import atomic_write_bytes, atomic_write_json

    run_dir = Path(run_dir)
    atomic_write_json(run_dir / "gap_points.json", {k: v.tolist() for k, v in report.points.items()})
    atomic_write_json(run_dir / "gap_stats.json", {
        "classes": report.classes,
        "labels": {k: v.tolist() for k, v in report.labels.items()},
        "stats": {s: {k: [None if np.isnan(x) else float(x) for x in v] for k, v in cols.items()}
                  for s, cols in report.stats.items()}})
    atomic_write_json(run_dir / "gap_neighbours.json", report.neighbours)
    tiles = {f"nn_{i:02d}": np.concatenate([synthetic_images[pair["synthetic"]], real_images[pair["real"]]], axis=1)
             for i, pair in enumerate(report.neighbours)}
    atomic_write_json(run_dir / "gap_telling.json", report.telling)
    for name, images in (("synthetic", synthetic_images), ("real", real_images)):
        tiles.update({f"telling_{name}_{i:02d}": images[row["index"]]
                      for i, row in enumerate(report.telling.get(name, []))})
    for stem, tile in tiles.items():
        ok, png = cv2.imencode(".png", cv2.cvtColor(tile, cv2.COLOR_RGB2BGR))
        if ok:
            atomic_write_bytes(run_dir / "samples" / f"{stem}.png", png.tobytes())


# -- private helpers --------------------------------------------------------------------------------
def _neighbour_pairs(fa, la, fb, lb, classes, count: int, seed: int) -> list[dict]:
    """`count` synthetic samples spread over the classes, each with its nearest real sample of the same
    class in feature space (the gallery)."""
    rng = np.random.default_rng(seed)
    pairs = []
    per = max(1, -(-count // max(1, len(classes))))
    for i, c in enumerate(classes):
        syn, real = np.flatnonzero(lb == i), np.flatnonzero(la == i)
        if len(syn) == 0 or len(real) == 0:
            continue
        pick = np.sort(rng.choice(syn, min(per, len(syn)), replace=False))
        idx, dist = nearest_real(fa[real], fb[pick], k=1)
        pairs += [{"synthetic": int(s_), "real": int(real[j[0]]), "distance": float(d[0]), "class": c}
                  for s_, j, d in zip(pick, idx, dist, strict=True)]
    return pairs[:count]


def _split_for(dataset, split_file: str):
    from simstudio.data.splits import load_split

    if split_file:
        return load_split(split_file)
    split = dataset.saved_split()
    if split is None:
        raise ValueError("this real set has no saved split: import it as a dataset (with a split) or give "
                         "a split file")
    return split


def _classifier_features(images: np.ndarray, ref: str, progress) -> tuple[np.ndarray, list[str]]:
    """Penultimate features of a trained classifier (a checkpoint or training run), through the fidelity
    module's feature spaces (so both report the same numbers and share the feature cache)."""
    from simstudio.eval.fidelity import extract_features, feature_space

    try:
        space = feature_space(ref)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"feature space {ref!r} is neither {', '.join(BUILTIN_FEATURE_SPACES)} nor a classifier "
            "checkpoint or training run") from None
    X = extract_features(np.asarray(images), space)
    if progress is not None:
        progress(len(images), len(images))
    return X, [f"feature_{i}" for i in range(X.shape[1])]


def _fidelity(a: np.ndarray, b: np.ndarray, seed: int) -> dict:
    from simstudio.eval.fidelity import fid, kid

    kid_mean, kid_std, m = kid(a, b, n_subsets=50, subset_size=1000, seed=seed)
    return {"n_real": len(a), "n_synthetic": len(b), "kid": kid_mean, "kid_std": kid_std,
            "kid_subset_size": m, "fid": fid(a, b)}


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

