"""Classifier checkpoints: written atomically, read with `torch.load(weights_only=True)` (a checkpoint is
data, never code), and the three things other layers do with a trained classifier: load, predict, embed.

`last.pt` holds the full training state (model, optimizer, scheduler, epoch, RNG states, history) so a
killed run resumes from its last finished epoch; `best.pt` holds only the weights and meta.
"""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path

import numpy as np
import torch

FORMAT = "simstudio-classifier-1"


def load_classifier(path: str | os.PathLike, device: str | None = None) -> tuple[torch.nn.Module, dict]:
    """(model in eval mode, meta) from a checkpoint file, or a train run's folder/id (best.pt, else last.pt).

    meta: classes, image_size, model (name), normalisation, config, and epoch when known.
    """
    from simstudio.nets import build_model

    file = checkpoint_file(path)
    ckpt = torch.load(file, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ValueError(f"{file} is not a SimStudio classifier checkpoint")
    meta = dict(ckpt["meta"])
    model = build_model(meta["model"], len(meta["classes"]), pretrained=False)
    model.load_state_dict(ckpt["model"])
    attach_meta(model, meta)
    if device:
        model.to(device)
    return model.eval(), meta


def predict_proba(model: torch.nn.Module, images, batch: int = 256) -> np.ndarray:
    """Class probabilities (N, C) for uint8 images (N, H, W, 3), prepared as in training (centre crop
    for a crop-trained model, else resized to the model's size when they differ)."""
    return _batched(model, images, batch, lambda m, x: torch.softmax(_logits(m(x)).float(), dim=1))


def embed(model: torch.nn.Module, images, batch: int = 256) -> np.ndarray:
    """Penultimate features (N, D) for uint8 images (N, H, W, 3), e.g. for domain-gap or FID-like measures."""
    return _batched(model, images, batch, lambda m, x: m.features(x).float())


def prepare_images(images, meta: dict) -> np.ndarray:
    """uint8 images (N, H, W, 3) or one (H, W, 3) -> (N, S, S, 3) as the model saw them in training:
    the centre crop for a crop-trained model, else resized to its side S when they differ."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    crop = meta.get("eval_crop")
    if crop and images.shape[1] == meta.get("data_size") and images.shape[1] > crop:
        off = (images.shape[1] - crop) // 2  # trained on random crops: test on the centre crop
        images = images[:, off : off + crop, off : off + crop]
    return _resize_to(images, meta.get("image_size"))


def checkpoint_file(path: str | os.PathLike) -> Path:
    """Resolve a checkpoint file, a shipped model's name (models/), a run folder, or a run id to the
    checkpoint to load."""
    p = Path(path)
    if p.is_file():
        return p
    from simstudio.train.shipped import shipped_model

    shipped = shipped_model(str(path))
    if shipped is not None:
        return shipped.checkpoint
    if not p.is_dir():
        from simstudio.runs import open_run

        p = open_run(str(path)).path
    for name in ("best.pt", "last.pt"):
        if (p / "checkpoints" / name).is_file():
            return p / "checkpoints" / name
    raise FileNotFoundError(f"no classifier checkpoint (checkpoints/best.pt or last.pt) in {p}")


def attach_meta(model: torch.nn.Module, meta: dict) -> None:
    """Keep the preprocessing a model was trained with on the model, for predict_proba/embed/grad_cam."""
    model.simstudio_meta = dict(meta)


def save_checkpoint(path: Path, obj: dict) -> None:
    """torch.save to a temp file in the same folder, fsync, rename: a crash leaves the old file whole."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save({"format": FORMAT, **obj}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_checkpoint(path: Path) -> dict:
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ValueError(f"{path} is not a SimStudio classifier checkpoint")
    return ckpt


def rng_state() -> dict:
    """Every RNG a training step may draw from, as tensors and ints (loadable with weights_only)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy_keys": torch.from_numpy(keys.astype(np.int64)),
        "numpy": [kind, int(pos), int(has_gauss), float(gauss)],
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    kind, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, state["numpy_keys"].numpy().astype(np.uint32), pos, has_gauss, gauss))
    random.setstate(_as_tuples(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuples(x):
    return tuple(_as_tuples(v) for v in x) if isinstance(x, (list, tuple)) else x


def _logits(out):
    return out[0] if isinstance(out, tuple) else out


@torch.no_grad()
def _batched(model, images, batch: int, fn) -> np.ndarray:
    from simstudio.nets.model_input import to_model_input

    meta = getattr(model, "simstudio_meta", {})
    images = prepare_images(images, meta)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    try:
        for i in range(0, len(images), batch):
            x = to_model_input(images[i : i + batch], meta.get("normalisation"), device)
            out.append(fn(model, x).cpu().numpy())
    finally:
        model.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)


def _resize_to(images: np.ndarray, size: int | None) -> np.ndarray:
    if size is None or images.ndim < 3 or images.shape[-3:-1] == (size, size):
        return images
    import cv2

    one = images.ndim == 3
    batch = images[None] if one else images
    out = np.stack(
        [cv2.resize(np.ascontiguousarray(im), (size, size), interpolation=cv2.INTER_AREA) for im in batch]
    )
    return out[0] if one else out
