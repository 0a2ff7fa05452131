"""ABCD figures measured from a rendered image and its mask, the way REAL-STATS.md measures real ones.

They let a user check that a slider moved the clinical cue it names (the asymmetry slider raises the
measured asymmetry, and so on), and let tests assert it.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from simstudio.sim.params import COLOURS

# The six colours of the ABCD rule's C (LESIONS.md), counted when they cover >= 5 % of the lesion.
ABCD_COLOURS = ("light_brown", "dark_brown", "black", "red", "white", "blue_grey")
MIN_COLOUR_FRACTION = 0.05


def measure_abcd(rgb: np.ndarray, mask: np.ndarray, fov_mm: float) -> dict:
    """Asymmetry (mirror mismatch, mean of 2 principal axes), compactness (perimeter²/4π·area),
    colours present, equivalent diameter in mm and area fraction of the lesion in one image."""
    mask = np.asarray(mask).astype(bool)
    area = int(mask.sum())
    size = mask.shape[1]
    if area < 4:
        return {"asymmetry": float("nan"), "compactness": float("nan"), "n_colours": 0,
                "colours_present": [], "diameter_mm": 0.0, "area_frac": area / mask.size}
    colours = colours_present(rgb, mask)
    return {
        "asymmetry": asymmetry_index(mask),
        "compactness": compactness(mask),
        "n_colours": len(colours),
        "colours_present": colours,
        "diameter_mm": math.sqrt(4 * area / math.pi) * fov_mm / size,
        "area_frac": area / mask.size,
    }


def asymmetry_index(mask: np.ndarray) -> float:
    """Area of (mask XOR its mirror image) / area, mirrored about each principal axis through the
    centroid, averaged over the two axes: 0 for an ellipse, larger for lopsided shapes."""
    m = np.asarray(mask).astype(np.uint8)
    mom = cv2.moments(m, binaryImage=True)
    if mom["m00"] == 0:
        return float("nan")
    cx, cy = mom["m10"] / mom["m00"], mom["m01"] / mom["m00"]
    angle = 0.5 * math.degrees(math.atan2(2 * mom["mu11"], mom["mu20"] - mom["mu02"]))
    # Work on a square just big enough to hold the lesion at any rotation about its centroid.
    ys, xs = np.nonzero(m)
    reach = int(math.ceil(max(np.hypot(xs - cx, ys - cy).max(), 1.0))) + 2
    side = 2 * reach + 1
    shift = np.float64([[1, 0, reach - cx], [0, 1, reach - cy]])
    rot = cv2.getRotationMatrix2D((reach, reach), angle, 1.0)
    full = np.vstack([rot, [0, 0, 1]]) @ np.vstack([shift, [0, 0, 1]])
    aligned = cv2.warpAffine(m, full[:2], (side, side), flags=cv2.INTER_NEAREST) > 0
    area = aligned.sum()
    mismatch = [np.logical_xor(aligned, aligned[::-1, :]).sum(), np.logical_xor(aligned, aligned[:, ::-1]).sum()]
    return float(np.mean(mismatch) / area)


def compactness(mask: np.ndarray) -> float:
    """Perimeter² / (4π·area) of the largest region: 1 for a disc, larger for notched borders."""
    m = np.asarray(mask).astype(np.uint8)
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return float("nan")
    c = max(contours, key=cv2.contourArea)
    area = cv2.contourArea(c)
    if area <= 0:
        return float("nan")
    return float(cv2.arcLength(c, True) ** 2 / (4 * math.pi * area))


def colours_present(rgb: np.ndarray, mask: np.ndarray) -> list[str]:
    """ABCD colours covering >= 5 % of the lesion: each pixel takes the nearest palette colour in Lab."""
    pix = np.asarray(rgb)[np.asarray(mask).astype(bool)]
    if pix.size == 0:
        return []
    lab = cv2.cvtColor(pix.reshape(-1, 1, 3).astype(np.float32) / 255, cv2.COLOR_RGB2Lab).reshape(-1, 3)
    # Squared distance to each palette colour one plane at a time: the float32 sums (dL² + da²) + db² in the
    # order a sum over a (pixels, 6, 3) array takes them, at a fifth of its cost (16 images per preview).
    planes = np.ascontiguousarray(lab.T)
    palette = _palette_lab()
    dL, da, db = (planes[j][None] - palette[:, j, None] for j in range(3))
    d = dL * dL + da * da + db * db
    share = np.bincount(d.argmin(0), minlength=len(ABCD_COLOURS)) / len(lab)
    return [c for c, s in zip(ABCD_COLOURS, share, strict=True) if s >= MIN_COLOUR_FRACTION]


def summarise(measures: list[dict]) -> dict[str, tuple[float, float]]:
    """Mean and standard deviation of each numeric ABCD figure over several images."""
    out = {}
    for key in ("asymmetry", "compactness", "n_colours", "diameter_mm", "area_frac"):
        vals = np.array([m[key] for m in measures], float)
        vals = vals[np.isfinite(vals)]
        out[key] = (float(vals.mean()), float(vals.std())) if vals.size else (float("nan"), float("nan"))
    return out


_PALETTE: np.ndarray | None = None


def _palette_lab() -> np.ndarray:
    global _PALETTE
    if _PALETTE is None:
        rgb = np.array([[COLOURS[c] for c in ABCD_COLOURS]], np.float32) / 255
        _PALETTE = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)[0]
    return _PALETTE
