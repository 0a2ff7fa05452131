"""Tiny constructed dermoscopy-like sets where the label is carried by exactly one thing."""

import cv2
import numpy as np

from simstudio.sim import acquisition as acq

SKIN = (205, 160, 140)
LESION = (110, 70, 50)


def lesion_image(size: int, radius: float, rng, cast=(0, 0)) -> tuple[np.ndarray, np.ndarray]:
    """Pink skin with sensor noise and a soft dark-brown ellipse near the middle; (image, lesion mask).
    `cast` = (da, db) shifts the whole photo's colour (the acquisition shortcut)."""
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    cy, cx = size / 2 + rng.uniform(-2, 2, 2)
    ry, rx = radius * rng.uniform(0.85, 1.15, 2)
    ang = rng.uniform(0, np.pi)
    dy, dx = yy - cy, xx - cx
    u = (dx * np.cos(ang) + dy * np.sin(ang)) / rx
    v = (-dx * np.sin(ang) + dy * np.cos(ang)) / ry
    inside = (u * u + v * v <= 1.0).astype(np.float32)
    alpha = cv2.GaussianBlur(inside, (0, 0), 1.0 * size / 64)
    # Skin and lesion colours vary from photo to photo as they do in life (and so a tiny systematic
    # shift in one figure cannot pose as a signal).
    skin = np.array(SKIN, np.float32) * rng.uniform(0.95, 1.05, 3)
    lesion = np.array(LESION, np.float32) * rng.uniform(0.8, 1.2, 3)
    img = (1 - alpha[..., None]) * skin + alpha[..., None] * lesion
    img = img * rng.uniform(0.92, 1.08) + rng.normal(0, 3.0, img.shape)
    img = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    if cast != (0, 0):
        img = acq.shift_cast(img, *cast)
    return img, inside > 0.5


def tint_only_set(n_per_class: int = 48, size: int = 64, seed: int = 0, cast=(-12, 6)):
    """Both classes draw lesions from one distribution; class 1 photos carry a colour cast."""
    rng = np.random.default_rng(seed)
    imgs, labels = [], []
    for c in (0, 1):
        for _ in range(n_per_class):
            img, _ = lesion_image(size, rng.uniform(0.18, 0.3) * size, rng, cast if c else (0, 0))
            imgs.append(img)
            labels.append(c)
    return np.stack(imgs), np.array(labels)


def size_only_set(n_per_class: int = 48, size: int = 64, seed: int = 0):
    """One acquisition for every photo; class 1 lesions are larger."""
    rng = np.random.default_rng(seed)
    imgs, labels = [], []
    for c in (0, 1):
        for _ in range(n_per_class):
            r = rng.uniform(0.26, 0.33) if c else rng.uniform(0.12, 0.18)
            img, _ = lesion_image(size, r * size, rng)
            imgs.append(img)
            labels.append(c)
    return np.stack(imgs), np.array(labels)


def write_folder(root, images, labels, classes=("benign", "malignant")):
    """The set as root/<class>/<i>.png (what `import`/`load_dataset` read)."""
    for i, (im, lab) in enumerate(zip(images, labels, strict=True)):
        d = root / classes[int(lab)]
        d.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(d / f"{i:04d}.png"), cv2.cvtColor(im, cv2.COLOR_RGB2BGR))
    return root
