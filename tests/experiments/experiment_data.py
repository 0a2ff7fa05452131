"""Tiny image folders the experiment tests write themselves: two classes a small CNN learns in a few
epochs (a bright vs a dark centred disc on noisy skin), 16 px so a whole experiment trains in seconds."""

import numpy as np
from PIL import Image

SIZE = 16


def write_folder(root, n_per_class, seed, classes=("benign", "malignant"), prefix="img"):
    """`root/<class>/<prefix>_<i>.png`; every image differs (its own noise), so no two share a hash."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    disc = (yy - SIZE / 2 + 0.5) ** 2 + (xx - SIZE / 2 + 0.5) ** 2 < (SIZE / 3.2) ** 2
    for c, cls in enumerate(classes):
        d = root / cls
        d.mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            img = rng.normal(170, 25, size=(SIZE, SIZE, 3))
            level = (120 if c == 0 else 40) + rng.normal(0, 25)
            img[disc] = level + rng.normal(0, 15, size=(int(disc.sum()), 3))
            Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(d / f"{prefix}_{i:03d}.png")
    return root


def tiny_config(real, synthetic=None, **overrides):
    cfg = {
        "name": "tiny",
        "real": str(real),
        "split_spec": "70/30",
        "repeats": 2,
        "image_size": SIZE,
        "model": {"model": "smallcnn", "epochs": 2, "batch_size": 16, "lr": 0.02, "device": "cpu"},
        "n_boot": 200,
        "arms": [
            {"name": "real only", "composition": "real"},
            {"name": "synthetic only", "composition": "synthetic"},
        ],
        "synthetic": [{"name": "sim", "path": str(synthetic)}] if synthetic else [],
    }
    cfg.update(overrides)
    return cfg
