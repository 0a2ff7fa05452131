"""Ask a trained classifier about images: P(positive class), the Grad-CAM overlay, penultimate features.

One path for the CLI (`python -m simstudio predict`), the Predict tab and the model card's reference
numbers: an image of any size is made square and resized as the importer does (`fit_square`, "resize"),
then prepared as in the model's training (`prepare_images`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

POSITIVE_NAMES = ("malignant", "melanoma")
NOT_A_DEVICE = "research demo, not a medical device"
DISPLAY_MAX = 256  # px: side of the Grad-CAM overlay for large uploads


@dataclass
class Predictor:
    """A loaded classifier and what it is called; `positive` indexes `classes`."""

    model: object
    meta: dict
    name: str
    positive: int

    @property
    def classes(self) -> list[str]:
        return list(self.meta["classes"])

    @property
    def positive_class(self) -> str:
        return self.classes[self.positive]


@dataclass
class Prediction:
    p_positive: float
    probs: dict[str, float]
    overlay: np.ndarray | None  # uint8 (V, V, 3): Grad-CAM of the positive class over the squared image
    features: np.ndarray  # (D,) penultimate features, for nearest neighbours


def load_predictor(ref: str = "") -> Predictor:
    """A shipped model's name, a training run id/folder or a checkpoint file; "" = the default shipped
    model. A clear error when there is nothing to load."""
    from simstudio.train.checkpoints import load_classifier
    from simstudio.train.shipped import default_model, shipped_names

    ref = (ref or "").strip()
    if not ref:
        model = default_model()
        if model is None:
            raise FileNotFoundError("no shipped model in models/ and none chosen: give a training run id, "
                                    "a checkpoint or a model name (--model)")
        ref = model.name
    try:
        model, meta = load_classifier(ref)
    except FileNotFoundError:
        names = ", ".join(shipped_names()) or "none"
        raise FileNotFoundError(f"no classifier {ref!r}: not a checkpoint file, a training run or a shipped "
                                f"model (shipped: {names})") from None
    classes = list(meta["classes"])
    positive = next((classes.index(c) for c in POSITIVE_NAMES if c in classes), len(classes) - 1)
    name = Path(ref).name if Path(ref).is_dir() else ref
    return Predictor(model, meta, name, positive)


def read_images(paths) -> list[np.ndarray]:
    """Decode image files to RGB uint8; a missing or unreadable file raises naming it."""
    from simstudio.data.images import ImageDecodeError, read_image

    out = []
    for p in paths:
        path = Path(p)
        if not path.is_file():
            raise FileNotFoundError(f"no such image file: {p}")
        try:
            out.append(read_image(path))
        except (ImageDecodeError, OSError) as exc:
            raise ValueError(f"cannot read {p} as an image: {exc}") from None
    return out


def model_view(predictor: Predictor, image: np.ndarray) -> np.ndarray:
    """(S, S, 3) uint8: the image as the model sees it (square by resizing, at its training side)."""
    from simstudio.data.preprocess import fit_square
    from simstudio.train.checkpoints import prepare_images

    img = np.asarray(image)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] < 3:
        raise ValueError(f"expected an RGB image (H, W, 3), got shape {img.shape}")
    img = np.ascontiguousarray(img[:, :, :3]).astype(np.uint8)
    side = int(predictor.meta.get("data_size") or predictor.meta["image_size"])
    return prepare_images(fit_square(img, side, "resize"), predictor.meta)[0]


def display_view(predictor: Predictor, image: np.ndarray) -> np.ndarray:
    """The image squared the way the model saw it, at its own side (at least the model's, at most
    DISPLAY_MAX px), to lay the Grad-CAM map over without the blur of the model's small input."""
    from simstudio.data.preprocess import fit_square

    img = np.asarray(image)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    img = np.ascontiguousarray(img[:, :, :3]).astype(np.uint8)
    side = max(int(predictor.meta["image_size"]), min(max(img.shape[:2]), DISPLAY_MAX))
    return fit_square(img, side, "resize")


def predict(predictor: Predictor, images, gradcam: bool = True) -> list[Prediction]:
    """One Prediction per image (any size, RGB uint8)."""
    from simstudio.eval.gradcam import grad_cam, overlay_heatmap
    from simstudio.train.checkpoints import embed, predict_proba

    images = list(images)
    if not images:
        return []
    x = np.stack([model_view(predictor, im) for im in images])
    probs = predict_proba(predictor.model, x)
    feats = embed(predictor.model, x)
    cams = grad_cam(predictor.model, x, target=predictor.positive) if gradcam else [None] * len(x)
    out = []
    for i in range(len(x)):
        overlay = overlay_heatmap(display_view(predictor, images[i]), cams[i]) if gradcam else None
        out.append(Prediction(p_positive=float(probs[i, predictor.positive]),
                              probs={c: float(p) for c, p in zip(predictor.classes, probs[i], strict=True)},
                              overlay=overlay, features=np.asarray(feats[i], np.float32)))
    return out


def predict_files(predictor: Predictor, paths, gradcam_dir: str | os.PathLike | None = None) -> list[dict]:
    """[{file, p_positive, probs, gradcam}] for image files; overlays are written as
    `<gradcam_dir>/<stem>_gradcam.png` when a folder is given."""
    paths = [Path(p) for p in paths]
    preds = predict(predictor, read_images(paths), gradcam=gradcam_dir is not None)
    rows = []
    out_dir = Path(gradcam_dir) if gradcam_dir is not None else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    for path, pred in zip(paths, preds, strict=True):
        row = {"file": str(path), "p_positive": pred.p_positive, "probs": pred.probs}
        if out_dir is not None:
            row["gradcam"] = str(write_png(out_dir / f"{path.stem}_gradcam.png", pred.overlay))
        rows.append(row)
    return rows


def write_png(path: str | os.PathLike, rgb: np.ndarray) -> Path:
    import cv2

    from simstudio.runs import atomic_write_bytes

    ok, png = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f"could not encode {path} as PNG")
    return atomic_write_bytes(path, png.tobytes())
