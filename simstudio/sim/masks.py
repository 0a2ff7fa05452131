"""Ground-truth masks of a rendered lesion: their names, their files in an export, and how the preview
shows them.

`render_lesion(..., masks=True)` returns a bool mask per structure it drew. An export with masks writes
them beside each image the way ISIC 2018 does (Codella et al., arXiv:1902.03368: Task 1
`<image id>_segmentation.png`, Task 2 `<image id>_attribute_<name>.png`, 0 / 255 grey PNGs), so a
segmentation or attribute-detection model reads a simulated set like the challenge's. Hair is not an
ISIC attribute; it is written the same way, for hair-removal models.
"""

from __future__ import annotations

import numpy as np

# The five ISIC 2018 Task 2 attributes, in the challenge's spelling, then hair.
ISIC_ATTRIBUTES = ("pigment_network", "negative_network", "streaks", "globules", "milia_like_cyst")
STRUCTURE_MASKS = (*ISIC_ATTRIBUTES, "hair")
LESION_MASK = "lesion"
SEGMENTATION_SUFFIX = "_segmentation"
ATTRIBUTE_INFIX = "_attribute_"
# What the preview can lay over its images: the lesion outline or one structure's mask.
OVERLAYS = ("none", LESION_MASK, *STRUCTURE_MASKS)
OVERLAY_LABELS = {name: name.replace("_", " ").replace("milia like", "milia-like") for name in OVERLAYS}
# Drawn in a colour no lesion, skin or hair has, so the overlay never reads as part of the picture.
OVERLAY_RGB = (60, 255, 60)
OVERLAY_OPACITY = 0.55


# The renderer's own key where it differs from ISIC's spelling (it names a mask after the parameter that
# draws it: `milia_cysts`).
_RENDERER_KEYS = {"milia_like_cyst": ("milia_like_cyst", "milia_cysts")}


def isic_masks(masks: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The renderer's structure masks under the names of STRUCTURE_MASKS (ISIC 2018 spelling); a name it
    did not return is left out (`check_masks` refuses that before anything is written)."""
    out = {}
    for name in STRUCTURE_MASKS:
        for key in _RENDERER_KEYS.get(name, (name,)):
            if key in masks:
                out[name] = masks[key]
                break
    return out


def mask_files(image_id: str) -> dict[str, str]:
    """The file name of every mask of image `image_id` (the image's name without `.png`), by mask name."""
    files = {LESION_MASK: f"{image_id}{SEGMENTATION_SUFFIX}.png"}
    files.update({name: f"{image_id}{ATTRIBUTE_INFIX}{name}.png" for name in STRUCTURE_MASKS})
    return files


def mask_png(mask: np.ndarray) -> np.ndarray:
    """A bool mask as the uint8 0 / 255 grey image ISIC 2018 ships."""
    return np.where(np.asarray(mask, bool), np.uint8(255), np.uint8(0))


def check_masks(lesion: np.ndarray, masks: dict[str, np.ndarray], size: int) -> None:
    """ValueError when the renderer's masks are not what an export writes: one bool size×size mask per
    name of STRUCTURE_MASKS (a renderer that drew no masks is refused rather than exported blank)."""
    missing = [n for n in STRUCTURE_MASKS if n not in masks]
    if missing:
        raise ValueError(f"the renderer returned no mask for {', '.join(missing)}")
    for name, m in [(LESION_MASK, lesion), *((n, masks[n]) for n in STRUCTURE_MASKS)]:
        m = np.asarray(m)
        if m.dtype != bool or m.shape != (size, size):
            raise ValueError(f"mask {name!r}: expected bool {size}x{size}, got {m.dtype} {m.shape}")


def overlay_mask(rgb: np.ndarray, lesion: np.ndarray, masks: dict[str, np.ndarray] | None, name: str) -> np.ndarray:
    """`rgb` with mask `name` shown on it: the lesion as its outline, a structure as a translucent fill
    (a thin structure such as a network line would vanish under an outline). "none" returns `rgb`."""
    import cv2

    if name not in OVERLAYS:
        raise ValueError(f"overlay = {name!r}: expected one of {', '.join(OVERLAYS)}")
    if name == "none":
        return rgb
    out = np.ascontiguousarray(rgb).copy()
    if name == LESION_MASK:
        contours, _ = cv2.findContours(np.asarray(lesion, np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(out, contours, -1, OVERLAY_RGB, 1)
        return out
    if masks is None or name not in masks:
        raise ValueError(f"no {name} mask to overlay: render with masks=True")
    m = np.asarray(masks[name], bool)
    tint = np.asarray(OVERLAY_RGB, np.float32)
    out[m] = np.round(out[m] * (1 - OVERLAY_OPACITY) + tint * OVERLAY_OPACITY).astype(np.uint8)
    return out
