"""Counterfactual edits of acquisition only: the same real photo, taken differently.

Each edit changes one thing a camera or a clinic decides (the colour cast, a vignette or dark field stop,
hair, a ruler, focus, colour constancy) and keeps every other pixel. The additive layers come from the
simulator's own `sim.acquisition`; removing a vignette or field stop is measurement-driven and lives here:
the detected dark corner region is refilled from the surrounding skin and the radial fall-off divided
out, off the lesion only. Targets ("toward the other class") come from per-class medians of the audit's
measurements (`shortcut_audit.acquisition_medians`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from simstudio.sim import acquisition as acq

# Edit name -> what it does (the report and the CLI print these).
EDITS: dict[str, str] = {
    "tint": "colour cast moved to the other class's median skin a*, b*",
    "add_vignette": "a dark vignette and field stop added in the corners (lesion kept)",
    "remove_vignette": "a detected vignette / field stop filled from the skin (lesion kept)",
    "hair": "hair drawn over the image",
    "ruler": "ruler ticks drawn along one edge",
    "sharpness": "blurred or sharpened to the other class's median sharpness",
    "colour_constancy": "Shades-of-Gray colour constancy (p = 6)",
}
EDIT_NAMES = tuple(EDITS)
# Strength of the added vignette and field stop: corners ~30 L* darker, REAL-STATS' "strong" vignette
# (>= 20 L*) seen in 17 % of malignant images; a stop at 0.85 of the half-diagonal clips only the corners.
VIGNETTE_STRENGTH = 0.6
FIELD_STOP_RADIUS = 0.85
HAIR_COUNT = 8
# Search grids for the sharpness edit (Gaussian sigma in px of the image, unsharp-mask amount).
_SIGMAS = (0.3, 0.45, 0.6, 0.8, 1.0, 1.3, 1.7, 2.2, 3.0)
_AMOUNTS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)


@dataclass
class EditContext:
    """What the edits of one image need to know about it, measured once."""

    lesion: np.ndarray       # bool (H, W) lesion mask at the image's side
    field_stop: np.ndarray   # bool (H, W) detected dark field stop
    skin_a: float
    skin_b: float
    sharpness: float
    label: int


def edit_context(rgb: np.ndarray, label: int) -> EditContext:
    """Segment and measure one image for the edits (the same pipeline as the audit's features)."""
    from simstudio.eval import lesion_stats as ls

    seg = ls.segment_lesion(rgb)
    stats = ls.measure_segmentation(seg)
    grey = cv2.cvtColor(np.ascontiguousarray(rgb, np.uint8), cv2.COLOR_RGB2GRAY)
    return EditContext(lesion=seg.mask, field_stop=seg.field_stop, skin_a=stats["skin_a"],
                       skin_b=stats["skin_b"], sharpness=float(cv2.Laplacian(grey, cv2.CV_64F).var()),
                       label=int(label))


def apply_edit(name: str, rgb: np.ndarray, ctx: EditContext, targets: dict, seed: int = 0) -> np.ndarray:
    """Edit `name` of one uint8 RGB image; a new array, the input untouched. `targets` maps a class
    index to the medians that class's images are moved toward (`other_class_targets`)."""
    if name not in EDITS:
        raise ValueError(f"unknown edit {name!r}; choose from {', '.join(EDIT_NAMES)}")
    rgb = np.ascontiguousarray(rgb, np.uint8)
    t = targets.get(ctx.label, {})
    if name == "tint":
        if math.isnan(ctx.skin_a) or math.isnan(t.get("cast_a", math.nan)):
            return rgb.copy()
        return acq.shift_cast(rgb, t["cast_a"] - ctx.skin_a, t["cast_b"] - ctx.skin_b)
    if name == "add_vignette":
        out = acq.add_field_stop(acq.add_vignette(rgb, VIGNETTE_STRENGTH, seed=seed), FIELD_STOP_RADIUS,
                                 softness=0.05, seed=seed)
        return keep_lesion(out, rgb, ctx.lesion)
    if name == "remove_vignette":
        return remove_vignette(rgb, ctx.lesion, ctx.field_stop)
    if name == "hair":
        return acq.add_hair(rgb, HAIR_COUNT, seed)[0]
    if name == "ruler":
        return acq.add_ruler(rgb, seed)[0]
    if name == "sharpness":
        return match_sharpness(rgb, t.get("sharpness", math.nan), ctx.sharpness)
    from simstudio.data.preprocess import shades_of_gray

    return shades_of_gray(rgb)


def other_class_targets(medians: dict[str, dict], classes: list[str]) -> dict[int, dict]:
    """Class index -> the medians of the class its images move toward: the other class of two; with
    more classes, the median over the other classes' medians."""
    out = {}
    for i, c in enumerate(classes):
        others = [medians[o] for o in classes if o != c and o in medians]
        if not others:
            continue
        out[i] = {k: float(np.nanmedian([m[k] for m in others])) for k in ("cast_a", "cast_b", "sharpness")}
    return out


def keep_lesion(edited: np.ndarray, original: np.ndarray, lesion: np.ndarray) -> np.ndarray:
    """`edited` with the lesion's pixels put back from `original`."""
    out = edited.copy()
    out[lesion] = original[lesion]
    return out


def remove_vignette(rgb: np.ndarray, lesion: np.ndarray, field_stop: np.ndarray) -> np.ndarray:
    """Undo corner darkening off the lesion: fill the detected field stop from the surrounding skin
    (Telea inpainting), then divide out the radial fall-off of the skin's brightness (the median L* per
    ring against the inner skin's). Lesion pixels are kept; an image without either comes back as is."""
    h, w = rgb.shape[:2]
    out = rgb.copy()
    lesion = np.asarray(lesion, bool)
    stop = np.asarray(field_stop, bool) & ~lesion
    if stop.any():
        if stop.mean() > 0.6:   # nothing left to fill from
            return out
        grown = cv2.dilate(stop.astype(np.uint8), np.ones((3, 3), np.uint8)) & ~lesion.astype(np.uint8)
        out = cv2.inpaint(out, grown.astype(np.uint8), max(3.0, 5 * min(h, w) / 224), cv2.INPAINT_TELEA)
    L = cv2.cvtColor(out, cv2.COLOR_RGB2Lab)[..., 0].astype(np.float32)
    yy, xx = np.mgrid[:h, :w]
    r = np.hypot(yy - (h - 1) / 2, xx - (w - 1) / 2) / math.hypot(h / 2, w / 2)
    skin = ~(cv2.dilate(lesion.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0)
    edges = np.linspace(0, 1.0001, 11)
    ring = np.clip(np.digitize(r, edges) - 1, 0, 9)
    prof = np.full(10, np.nan)
    for k in range(10):
        sel = skin & (ring == k)
        if sel.sum() >= 20:
            prof[k] = np.median(L[sel])
    inner = prof[:5][~np.isnan(prof[:5])]
    if len(inner) == 0:
        out[lesion] = rgb[lesion]
        return out
    ref = float(np.max(inner))
    centres = (edges[:-1] + edges[1:]) / 2
    ok = ~np.isnan(prof)
    gain_r = np.where(centres >= 0.5, np.clip(ref / np.maximum(prof, 1.0), 1.0, 3.0), 1.0)
    gain = np.interp(r, centres[ok], gain_r[ok]).astype(np.float32)
    fixed = np.clip(out.astype(np.float32) * gain[..., None] + 0.5, 0, 255).astype(np.uint8)
    out = np.where(skin[..., None], fixed, out)
    out[lesion] = rgb[lesion]
    return out


def match_sharpness(rgb: np.ndarray, target: float, current: float | None = None) -> np.ndarray:
    """Blur (Gaussian) or sharpen (unsharp mask) `rgb` so its Laplacian variance of grey comes closest
    to `target`; the image as is when `target` is NaN."""
    if target is None or math.isnan(target):
        return rgb.copy()
    current = _lapvar(rgb) if current is None else current
    best, best_err = rgb.copy(), abs(math.log(max(current, 1e-6) / max(target, 1e-6)))
    trials = ([acq.blur(rgb, s) for s in _SIGMAS] if target < current
              else [acq.sharpen(rgb, a) for a in _AMOUNTS])
    for out in trials:
        err = abs(math.log(max(_lapvar(out), 1e-6) / max(target, 1e-6)))
        if err < best_err:
            best, best_err = out, err
    return best


def _lapvar(rgb: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var())
