"""Helpers that write tiny test images (32 px, numpy + PIL); imported by the data tests."""

import io

import numpy as np
from PIL import Image


def image_bytes(seed: int, size: int = 32, fmt: str = "PNG", mode: str = "RGB") -> bytes:
    """A small random-but-smooth image, distinct per seed, encoded as `fmt`."""
    rng = np.random.default_rng(seed)
    base = rng.integers(30, 220, size=(4, 4, 3)).astype(np.uint8)
    arr = np.asarray(Image.fromarray(base).resize((size, size), Image.BILINEAR))
    im = Image.fromarray(arr)
    if mode != "RGB":
        im = im.convert(mode)
    buf = io.BytesIO()
    im.save(buf, fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buf.getvalue()


def write_folder(root, counts: dict[str, int], fmt: str = "PNG", start: int = 0) -> list[str]:
    """root/<class>/<i>.<ext> for each class; returns the relative paths written."""
    ext = {"PNG": "png", "JPEG": "jpg"}[fmt]
    files = []
    seed = start
    for cls, n in counts.items():
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            rel = f"{cls}/{cls}_{i}.{ext}"
            (root / rel).write_bytes(image_bytes(seed, fmt=fmt))
            files.append(rel)
            seed += 1
    return files
