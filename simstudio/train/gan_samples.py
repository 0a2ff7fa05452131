"""Sample grids, the progression strip and a sample-diversity measure, from generated image batches.

The progression strip lays the same fixed-noise samples at several epochs one above the other (like the
epoch 400/1000/3000 figures of the GAN papers), so change and collapse are visible at a glance.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import torch

from simstudio.runs import atomic_write_bytes

PAD = 2
LABEL_WIDTH = 64


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """Generator output (B, 3, H, W) in [-1, 1] → uint8 (B, H, W, 3), rounded to nearest.

    Works on the NHWC view (free for channels-last output) in three passes: ×127.5, +128 then clamp,
    where the +0.5 of rounding rides on the +127.5 offset and the uint8 cast truncates."""
    y = x.detach().permute(0, 2, 3, 1).float()
    return y.mul(127.5).add_(128.0).clamp_(0, 255).to(torch.uint8).contiguous().cpu().numpy()


def to_model_range(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (B, H, W, 3) → float (B, 3, H, W) in [-1, 1] (the generators' output range)."""
    x = torch.as_tensor(np.asarray(images)) if not isinstance(images, torch.Tensor) else images
    return x.permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def image_grid(images: np.ndarray, nrow: int = 8, pad: int = PAD, fill: int = 255) -> np.ndarray:
    """uint8 (N, H, W, 3) → one uint8 image with `nrow` images per row and `pad` px between them."""
    n, h, w, c = images.shape
    ncol = min(nrow, n)
    rows = -(-n // ncol)
    out = np.full((rows * (h + pad) + pad, ncol * (w + pad) + pad, c), fill, np.uint8)
    for i in range(n):
        r, k = divmod(i, ncol)
        top, left = pad + r * (h + pad), pad + k * (w + pad)
        out[top:top + h, left:left + w] = images[i]
    return out


def write_png(path: str | os.PathLike, image: np.ndarray) -> Path:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, "PNG", compress_level=1)
    return atomic_write_bytes(path, buf.getvalue())


def progression_strip(rows: list[tuple[int, np.ndarray]], pad: int = PAD) -> np.ndarray:
    """[(epoch, uint8 (k, H, W, 3))] → one image: a row of k samples per epoch, labelled on the left."""
    import cv2

    if not rows:
        raise ValueError("no sample rows for a progression strip")
    strips = []
    for epoch, images in rows:
        row = image_grid(images, nrow=len(images), pad=pad)
        label = np.full((row.shape[0], LABEL_WIDTH, 3), 255, np.uint8)
        scale = 0.4 if row.shape[0] < 40 else 0.5
        cv2.putText(label, f"ep {epoch}", (4, row.shape[0] // 2 + 4), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (40, 40, 40), 1, cv2.LINE_AA)
        strips.append(np.concatenate([label, row], axis=1))
    width = max(s.shape[1] for s in strips)
    strips = [np.pad(s, ((0, 0), (0, width - s.shape[1]), (0, 0)), constant_values=255) for s in strips]
    return np.concatenate(strips, axis=0)


def sample_diversity(images: np.ndarray, side: int = 16) -> float:
    """Mean pairwise L2 distance between images shrunk to side×side in [0, 1]: near 0 when every
    sample looks the same (mode collapse); compare with the same number on real images."""
    if len(images) < 2:
        return 0.0
    x = torch.as_tensor(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div(255)
    x = torch.nn.functional.interpolate(x, size=(side, side), mode="area").flatten(1)
    d = torch.cdist(x, x)
    n = len(x)
    return float(d.sum() / (n * (n - 1)))
