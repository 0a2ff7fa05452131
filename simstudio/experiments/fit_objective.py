"""What a simulator fit minimises or maximises: each trial renders its preset with fixed seeds and scores
the images against the real ones (`simfit.OBJECTIVES` names the objectives and their directions)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from simstudio.data.preprocess import shades_of_gray_all
from simstudio.experiments.fit_knobs import Knob, apply_knobs

if TYPE_CHECKING:
    from simstudio.experiments.simfit import FitData, SimFitConfig


class TrialObjective:
    """Renders the trial's preset with fixed seeds and scores it against the real images."""

    def __init__(self, config: SimFitConfig, real: FitData, base, knobs: list[Knob]):
        from simstudio.eval.lesion_stats import measure_images

        self.config, self.real, self.base, self.knobs = config, real, base, knobs
        self._measured = None
        self.classes = [c for c in base.output_classes if c in real.classes]
        if not self.classes:
            raise ValueError(
                f"the preset's classes ({', '.join(base.output_classes)}) and the real set's "
                f"({', '.join(real.classes)}) have none in common"
            )
        self.real_labels = np.array(
            [self.classes.index(real.classes[y]) if real.classes[y] in self.classes else -1 for y in real.labels]
        )
        keep = self.real_labels >= 0
        self.real_images, self.real_labels = real.images[keep], self.real_labels[keep]
        if config.objective in ("stats", "c2st", "stats_auc") or config.max_c2st:
            self.real_stats = measure_images(self.real_images)
            self._scale = {k: _robust_spread(v) for k, v in self.real_stats.items()}
        if config.objective in ("kid", "domain_auc"):
            from simstudio.eval.fidelity import extract_features, feature_space

            self.space = feature_space(config.classifier)
            self.real_features = extract_features(self.real_images, self.space, cache=False)

    def reseeded(self, seed: int) -> TrialObjective:
        """The same objective (real images and their statistics measured once) scoring with another seed: the
        simulated images and the quick classifier's initialisation change, the real images do not."""
        import copy
        import dataclasses

        other = copy.copy(self)
        other.config = dataclasses.replace(self.config, seed=int(seed))
        other._measured = None
        return other

    def __call__(self, params: dict[str, float]) -> tuple[float, dict]:
        return self.score(apply_knobs(self.base, self.knobs, params))

    def score(self, preset) -> tuple[float, dict]:
        # Rendered at the comparison side even for "sim_auc": the quick classifier then resizes simulated and
        # real images alike (rendering straight at 64 px gives crisper pixels than a downsized photo).
        images, labels = render_set(preset, self.classes, self.config.per_class, self.config.size, self.config.seed)
        if self.config.colour_constancy:
            images = shades_of_gray_all(images)
        self._measured = None  # this trial's images, measured once for the objective and the realism cap
        value, details = getattr(self, f"_{self.config.objective}")(images, labels)
        if self.config.max_c2st:  # the realism constraint's measure, beside whatever the objective is
            realism, per_class = self._c2st(images, labels)
            details = {**details, **per_class, "c2st": realism}
        return value, details

    def _stats(self, images, labels) -> tuple[float, dict]:
        from simstudio.eval.lesion_stats import ACQUISITION_STATS, LESION_STATS

        sim = self._measure(images)
        per_class = {c: [] for c in self.classes}
        for name in LESION_STATS:
            for i, c in enumerate(self.classes):
                per_class[c].append(self._w1(name, sim, labels == i, self.real_labels == i))
        acq = []
        for name in ACQUISITION_STATS:
            if self.config.mode == "fair":
                acq.append(self._w1(name, sim, np.ones(len(labels), bool), np.ones(len(self.real_labels), bool)))
            else:
                acq += [self._w1(name, sim, labels == i, self.real_labels == i) for i in range(len(self.classes))]
        details = {f"w1_{c}": float(np.nanmean(v)) for c, v in per_class.items()}
        details["w1_acquisition"] = float(np.nanmean(acq))
        terms = [details[f"w1_{c}"] for c in self.classes] + [details["w1_acquisition"]]
        return float(np.mean(terms)), details

    def _c2st(self, images, labels) -> tuple[float, dict]:
        from simstudio.eval.domain_gap import c2st
        from simstudio.eval.lesion_stats import STAT_NAMES, statistics_matrix

        sim = self._measure(images)
        both = statistics_matrix({k: np.r_[self.real_stats[k], sim[k]] for k in STAT_NAMES})
        fr, fs = both[: len(self.real_labels)], both[len(self.real_labels) :]
        details = {}
        for i, c in enumerate(self.classes):
            details[f"c2st_{c}"] = c2st(
                fr[self.real_labels == i], fs[labels == i], seed=self.config.seed, repeats=1, bootstrap=0
            ).auc
        return float(np.mean(list(details.values()))), details

    def _measure(self, images) -> dict:
        from simstudio.eval.lesion_stats import measure_images

        if self._measured is None:
            self._measured = measure_images(images)
        return self._measured

    def _kid(self, images, labels) -> tuple[float, dict]:
        from simstudio.eval.fidelity import extract_features, kid

        feats = extract_features(images, self.space, cache=False)
        details = {}
        for i, c in enumerate(self.classes):
            details[f"kid_{c}"] = kid(
                self.real_features[self.real_labels == i],
                feats[labels == i],
                n_subsets=20,
                subset_size=500,
                seed=self.config.seed,
            )[0]
        return float(np.mean(list(details.values()))), details

    def _stats_auc(self, images, labels) -> tuple[float, dict]:
        from simstudio.eval.lesion_stats import LESION_STATS, statistics_matrix

        sim = self._measure(images)
        # Lesion statistics only: acquisition is shared by the classes in fair mode, so it cannot help.
        both = statistics_matrix({k: np.r_[sim[k], self.real_stats[k]] for k in LESION_STATS}, LESION_STATS)
        auc = _transfer_auc(both[:len(labels)], labels, both[len(labels):], self.real_labels)
        return auc, {"real_auc": auc}

    def _domain_auc(self, images, labels) -> tuple[float, dict]:
        from simstudio.eval.fidelity import extract_features

        feats = extract_features(images, self.space, cache=False)
        auc = _transfer_auc(feats, labels, self.real_features, self.real_labels)
        return auc, {"real_auc": auc}

    def _sim_auc(self, images, labels) -> tuple[float, dict]:
        auc = quick_sim_only_auc(
            images,
            labels,
            self.real_images,
            self.real_labels,
            self.classes,
            epochs=self.config.quick_epochs,
            size=self.config.quick_size,
            seed=self.config.seed,
        )
        return auc, {"val_auc": auc}

    def _w1(self, name, sim, sim_rows, real_rows) -> float:
        a = self.real_stats[name][real_rows]
        b = sim[name][sim_rows]
        a, b = a[~np.isnan(a)], b[~np.isnan(b)]
        if len(a) < 2 or len(b) < 2:
            # A statistic the renderer never produces (e.g. no lesion found) is as far as it gets.
            return 3.0 if len(a) >= 2 else math.nan
        return float(_wasserstein_1d(a, b) / self._scale[name])


def _transfer_auc(X_sim, y_sim, X_real, y_real) -> float:
    """ROC-AUC on the real rows of a standardised logistic regression fitted on the simulated rows (binary:
    the last class is positive; more classes: macro one-vs-rest)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000)).fit(X_sim, y_sim)
    proba = model.predict_proba(X_real)
    if proba.shape[1] == 2:
        return float(roc_auc_score(y_real, proba[:, 1]))
    return float(roc_auc_score(y_real, proba, multi_class="ovr"))


def render_set(preset, classes: list[str], per_class: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`per_class` images of each class of `preset` at `size`, with the exporter's per-image seeds, so
    the same (seed, class, index) draws the same random numbers whatever the preset's values."""
    from simstudio.sim.export import image_seed, render_image

    images = np.empty((len(classes) * per_class, size, size, 3), np.uint8)
    labels = np.repeat(np.arange(len(classes)), per_class)
    k = 0
    for c in classes:
        out_index = list(preset.output_classes).index(c)
        for j in range(per_class):
            images[k] = render_image(preset, c, image_seed(seed, out_index, j), size)[0]
            k += 1
    return images, labels


def quick_sim_only_auc(
    sim_images,
    sim_labels,
    real_images,
    real_labels,
    classes,
    *,
    epochs: int = 4,
    size: int = 64,
    seed: int = 0,
    model: str = "smallcnn",
) -> float:
    """ROC-AUC on the given real images of a classifier trained on the simulated images only (fixed epochs:
    no epoch is chosen on real images). Both sets are area-resized to `size` first, the same way."""
    from simstudio.jobs import JobContext
    from simstudio.train.classifier import ClassifierConfig, TrainingData, fit_classifier

    cfg = ClassifierConfig(
        mode="synthetic",
        model=model,
        image_size=size,
        epochs=epochs,
        optimizer="adam",
        lr=1e-3,
        schedule="cosine",
        batch_size=64,
        augment="flip_rotate",
        seed=seed,
        val_fraction=0.0,
        select_best=False,
    )
    data = TrainingData.from_arrays(
        classes, test=(_resized(real_images, size), real_labels), synthetic=(_resized(sim_images, size), sim_labels)
    )
    result = fit_classifier(cfg, data, JobContext.local())
    return float(result["test"]["roc_auc"])


def _resized(images: np.ndarray, size: int) -> np.ndarray:
    import cv2

    images = np.asarray(images)
    if images.shape[1] == size and images.shape[2] == size:
        return images
    return np.stack([cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA) for im in images])


def _wasserstein_1d(a: np.ndarray, b: np.ndarray) -> float:
    """W1 between two empirical 1-D distributions (area between their quantile functions)."""
    q = np.linspace(0.005, 0.995, 100)
    return float(np.mean(np.abs(np.quantile(a, q) - np.quantile(b, q))))


def _robust_spread(v: np.ndarray) -> float:
    v = v[~np.isnan(v)]
    if len(v) < 2:
        return 1.0
    iqr = float(np.subtract(*np.percentile(v, [75, 25])))
    return max(iqr / 1.349, float(v.std()) * 0.5, 1e-3)
