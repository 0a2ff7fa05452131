"""The simulated lesions a classifier was trained on, as a bank to find "what the model thinks this looks
like": the nearest simulated images to an uploaded one in the model's penultimate feature space.

The bank re-renders the first `per_class` images of every class of the model's training export from its
preset, size and seed (image i of class c has seed `image_seed(seed, c, i)`, so these are exactly the
first training images), embeds them once with the model, and caches images and features under
`<run store>/cache/lesion-bank/`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BANK_PER_CLASS = 200  # 400 images for a binary model: about 10 s to render and embed once on one core


@dataclass
class SimulatedSource:
    """What a model's simulated training images were made with (a simulator export's settings)."""

    preset: dict
    size: int
    seed: int
    # False when the model's own training images cannot be redrawn (a shipped model trained under another
    # renderer version): the bank then holds the current renderer's built-in preset instead
    training_images: bool = True

    def key(self) -> str:
        text = json.dumps({"preset": self.preset, "size": self.size, "seed": self.seed}, sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:16]


@dataclass
class LesionBank:
    images: np.ndarray  # uint8 (N, S, S, 3), at the export's size
    labels: list[str]  # class of each image
    features: np.ndarray  # float32 (N, D), unit length
    source: SimulatedSource

    def nearest(self, features: np.ndarray, k: int = 3) -> list[list[tuple[int, float]]]:
        """For each feature row: the k bank images closest in cosine distance, as (index, distance)."""
        f = _unit(np.atleast_2d(np.asarray(features, np.float32)))
        dist = 1.0 - f @ self.features.T
        order = np.argsort(dist, axis=1, kind="stable")[:, :k]
        return [[(int(j), float(dist[i, j])) for j in row] for i, row in enumerate(order)]


def training_source(predictor) -> SimulatedSource | None:
    """The simulated source a model was trained on: from a shipped model's card, else from the export
    marker of the run's synthetic folder; None for a model that saw no simulated images we can redraw."""
    from simstudio.train.shipped import shipped_model

    shipped = shipped_model(predictor.name)
    if shipped is not None:
        syn = shipped.card.get("training", {}).get("synthetic") or {}
        if syn.get("preset"):
            from simstudio.sim.render import RENDERER_VERSION

            if str(shipped.card.get("renderer", {}).get("version", RENDERER_VERSION)) != str(RENDERER_VERSION):
                from simstudio.sim.presets import load_preset, preset_to_dict

                built_in = preset_to_dict(load_preset("default-binary"))
                return SimulatedSource(built_in, int(syn["size"]), int(syn["seed"]), training_images=False)
            return SimulatedSource(syn["preset"], int(syn["size"]), int(syn["seed"]))
    cfg = predictor.meta.get("config") or {}
    return export_source(cfg.get("synthetic", "")) if cfg.get("mode") != "real" else None


def export_source(folder: str) -> SimulatedSource | None:
    """The settings a simulator export folder recorded (its marker file), or None."""
    from simstudio.sim.export import MARKER

    if not folder:
        return None
    marker = Path(folder).expanduser() / MARKER
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return SimulatedSource(data["preset"], int(data["size"]), int(data["seed"]))


def lesion_bank(predictor, source: SimulatedSource, per_class: int = BANK_PER_CLASS, progress=None
                ) -> LesionBank:
    """The bank for `predictor` over `source`, from the cache when it was built before."""
    from simstudio.runs import runs_root

    ckpt_id = _checkpoint_id(predictor)
    path = runs_root() / "cache" / "lesion-bank" / f"{source.key()}-{per_class}-{ckpt_id}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            return LesionBank(z["images"], [str(s) for s in z["labels"]], z["features"], source)
    images, labels = render_bank(source, per_class, progress)
    from simstudio.eval.predict import model_view
    from simstudio.train.checkpoints import embed

    x = np.stack([model_view(predictor, im) for im in images])
    features = _unit(np.asarray(embed(predictor.model, x), np.float32))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, images=images, labels=np.array(labels), features=features)
    tmp.replace(path)
    return LesionBank(images, labels, features, source)


def render_bank(source: SimulatedSource, per_class: int, progress=None) -> tuple[np.ndarray, list[str]]:
    """The first `per_class` images of every class of the export `source` describes, bit for bit."""
    from simstudio.sim.export import image_seed, render_image
    from simstudio.sim.presets import preset_from_dict

    study = preset_from_dict(source.preset)
    classes = list(study.output_classes)
    images, labels = [], []
    total = per_class * len(classes)
    for c, name in enumerate(classes):
        for i in range(per_class):
            rgb = render_image(study, name, image_seed(source.seed, c, i), source.size)[0]
            images.append(rgb)
            labels.append(name)
            if progress is not None:
                progress(len(images), total)
    return np.stack(images), labels


def _checkpoint_id(predictor) -> str:
    from simstudio.train.classifier import weights_digest

    return weights_digest(predictor.model.state_dict())[:12]


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-12, None)
