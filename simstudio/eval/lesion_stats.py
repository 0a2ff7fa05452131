"""Measured statistics of a dermoscopy image: a simple lesion segmentation plus ABCD-type shape, border
and colour figures, skin colour and acquisition artefacts (hair, vignette, sharpness).

The same measurement is applied to real and simulated images, so the Gap tab and the simulator fit
compare like with like. The pipeline follows the one behind `REAL-STATS.md` (black-hat hair mask and
inpainting, min(R,G,B) as the pigment channel, blur, Otsu outside the dark field stop, open/close, the
centre-weighted largest component, filled). Lengths scale with the image side: REAL-STATS measured at
224 px, and a 64 px image gets the same pipeline shrunk by 64/224.

numpy + OpenCV + scipy only (no torch), so the simulator's tests and the UI can use it cheaply.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage as ndi

# Fixed dermoscopy palette (sRGB anchors of REAL-STATS.md); lookup is in CIELAB.
PALETTE_SRGB = {
    "light_brown": (170, 115, 75),
    "dark_brown": (100, 58, 40),
    "black": (40, 32, 32),
    "red": (200, 75, 80),
    "white": (225, 220, 222),
    "blue_grey": (115, 125, 150),
}
COLOUR_NAMES = tuple(PALETTE_SRGB)
# A colour counts as present when it is the nearest palette colour of >= 5 % of the lesion pixels.
MIN_COLOUR_FRAC = 0.05
# Pooled median skin a*, b* of the real set: shifting each lesion by (this - its own skin a*, b*)
# removes the per-image colour cast before the palette lookup ("skin-referenced" colours).
SKIN_REF_AB = (19.0, 9.0)
# REAL-STATS lengths are in px at this side.
REFERENCE_SIDE = 224

# name -> (description, group). "lesion" statistics are what a dermatologist reads; "acquisition"
# statistics describe the photo (skin, camera, artefacts). Fair-mode fitting matches lesion statistics
# per class and acquisition statistics pooled over classes.
STATISTICS: dict[str, tuple[str, str]] = {
    "area_frac": ("lesion area / image area", "lesion"),
    "eq_diam_rel": ("equivalent diameter / image side", "lesion"),
    "elongation": ("major / minor axis of the fitted ellipse", "lesion"),
    "asymmetry": ("mirror XOR / area, mean over the 2 principal axes", "lesion"),
    "compactness": ("perimeter^2 / (4 pi area), 1 = disc", "lesion"),
    "border_width_rel": ("10-90 % L* transition width / equivalent diameter", "lesion"),
    "touches_edge": ("mask touches the image edge (0/1)", "lesion"),
    "dL": ("lesion - skin L*", "lesion"),
    "da": ("lesion - skin a*", "lesion"),
    "db": ("lesion - skin b*", "lesion"),
    "dE": ("dE76 lesion vs skin", "lesion"),
    "lesion_std_L": ("within-lesion std of L*", "lesion"),
    "lesion_std_b": ("within-lesion std of b*", "lesion"),
    "n_colours": ("palette colours on >= 5 % of the lesion (skin-referenced)", "lesion"),
    **{f"col_{k}": (f"fraction of lesion nearest to {k.replace('_', ' ')} (skin-referenced)", "lesion")
       for k in PALETTE_SRGB},
    "lesion_L": ("lesion mean L*", "acquisition"),
    "lesion_a": ("lesion mean a*", "acquisition"),
    "lesion_b": ("lesion mean b*", "acquisition"),
    "skin_L": ("skin ring median L*", "acquisition"),
    "skin_a": ("skin ring median a*", "acquisition"),
    "skin_b": ("skin ring median b*", "acquisition"),
    "n_colours_raw": ("palette colours on >= 5 % of the lesion, no cast removal", "acquisition"),
    "hair_frac": ("hair pixels / non-lesion pixels", "acquisition"),
    "vignette_drop": ("skin L* - mean L* of the 4 lesion-free corners", "acquisition"),
    "vignette_area": ("dark field-stop area / image area", "acquisition"),
    "sharpness": ("variance of the Laplacian of grey (depends on the side: compare at one size)",
                  "acquisition"),
}
STAT_NAMES = tuple(STATISTICS)
LESION_STATS = tuple(k for k, (_, g) in STATISTICS.items() if g == "lesion")
ACQUISITION_STATS = tuple(k for k, (_, g) in STATISTICS.items() if g == "acquisition")
# What the Gap tab draws side by side per class (the list).
HISTOGRAM_STATS = ("area_frac", "asymmetry", "compactness", "border_width_rel", "n_colours", "dE",
                   "lesion_L", "lesion_a", "lesion_b", "skin_L", "skin_a", "skin_b", "hair_frac",
                   "vignette_drop", "sharpness")


@dataclass
class LesionSegmentation:
    mask: np.ndarray        # bool (H, W): the lesion
    field_stop: np.ndarray  # bool (H, W): dark region joined to the corners (scope edge, strong vignette)
    hair: np.ndarray        # bool (H, W): thin dark strands (hair) found by the black-hat filter
    lab: np.ndarray         # float32 (H, W, 3): CIELAB of the input
    rgb: np.ndarray         # uint8 (H, W, 3): the input


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB (..., 3) -> float32 CIELAB (L 0..100, signed a, b), sRGB/D65 as OpenCV implements it."""
    arr = np.ascontiguousarray(rgb, dtype=np.uint8)
    flat = arr.reshape(-1, 1, 3).astype(np.float32) / 255.0
    return cv2.cvtColor(flat, cv2.COLOR_RGB2Lab).reshape(arr.shape).astype(np.float32)


PALETTE_LAB = rgb_to_lab(np.array(list(PALETTE_SRGB.values()), np.uint8))


def segment_lesion(rgb: np.ndarray) -> LesionSegmentation:
    """Find the lesion in one uint8 RGB image (H, W, 3)."""
    rgb = _check_rgb(rgb)
    h, w = rgb.shape[:2]
    s = min(h, w) / REFERENCE_SIDE
    lab = rgb_to_lab(rgb)
    L = lab[..., 0]
    field_stop = _field_stop_mask(L, s)
    hair = _hair_mask(L, s)
    clean = rgb
    if hair.any():
        # Hair is darker than most lesions; inpainting it keeps it out of the pigment threshold.
        hd = cv2.dilate(hair.astype(np.uint8), _disc(3))
        clean = cv2.inpaint(rgb, hd, max(1.0, 5 * s), cv2.INPAINT_TELEA)
    pigment = clean.min(axis=2).astype(np.float32) / 2.55          # dark in any channel = pigment
    pigment = cv2.GaussianBlur(pigment, (0, 0), max(0.5, 2.0 * s))
    valid = ~field_stop
    values = pigment[valid] if valid.sum() > 0.05 * h * w else pigment.ravel()
    fg = ((pigment < otsu_threshold(values)) & valid).astype(np.uint8)
    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, _disc(_odd(5 * s)))
    fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, _disc(_odd(7 * s)))
    mask = _central_component(fg, field_stop, s)
    return LesionSegmentation(mask=mask, field_stop=field_stop, hair=hair, lab=lab, rgb=rgb)


def measure_lesion(rgb: np.ndarray, mask: np.ndarray | None = None) -> dict[str, float]:
    """All `STATISTICS` of one image. `mask` (bool H x W) skips the segmentation (a known mask, e.g. the
    simulator's own); hair and field stop are still detected. NaN where a figure is undefined (no lesion,
    no skin left to measure)."""
    return _measure(_segmented(rgb, mask))


def measure_segmentation(seg: LesionSegmentation) -> dict[str, float]:
    """All `STATISTICS` of an image already segmented (the segmentation's mask may have been edited)."""
    return _measure(seg)


def measure_images(images: np.ndarray | Sequence[np.ndarray], masks: Sequence[np.ndarray] | None = None,
                   progress: Callable[[int, int], None] | None = None,
                   each: Callable[[int, LesionSegmentation], None] | None = None) -> dict[str, np.ndarray]:
    """Statistics of many images as columns: name -> float array (N,). `progress(done, total)` is called
    as it goes and may raise to stop (e.g. a job's cancel check); `each(i, segmentation)` lets a caller
    measure more from image i's segmentation without segmenting it again."""
    n = len(images)
    cols = {k: np.full(n, np.nan) for k in STAT_NAMES}
    for i in range(n):
        seg = _segmented(images[i], None if masks is None else masks[i])
        row = _measure(seg)
        if each is not None:
            each(i, seg)
        for k in STAT_NAMES:
            cols[k][i] = row[k]
        if progress is not None:
            progress(i + 1, n)
    return cols


def _segmented(rgb: np.ndarray, mask: np.ndarray | None) -> LesionSegmentation:
    """`segment_lesion`, with a known lesion mask in place of the one it finds."""
    seg = segment_lesion(rgb)
    if mask is not None:
        mask = np.asarray(mask, bool)
        if mask.shape != seg.mask.shape:
            raise ValueError(f"mask is {mask.shape}, the image {seg.mask.shape}: the mask shape must match")
        seg.mask = mask
    return seg


def statistics_matrix(stats: dict[str, np.ndarray], names: Sequence[str] = STAT_NAMES) -> np.ndarray:
    """(N, len(names)) float matrix of the chosen columns, NaN filled with each column's median (0 when
    the whole column is NaN), for classifiers and embeddings."""
    X = np.stack([np.asarray(stats[k], float) for k in names], 1)
    med = np.nanmedian(np.where(np.isnan(X).all(0, keepdims=True), 0.0, X), axis=0)
    return np.where(np.isnan(X), med, X)


def colour_fractions(lab_pixels: np.ndarray) -> np.ndarray:
    """Fraction of the given Lab pixels (N, 3) whose nearest palette colour (dE76) is each of
    `COLOUR_NAMES`."""
    if len(lab_pixels) == 0:
        return np.zeros(len(PALETTE_LAB))
    d = ((lab_pixels[:, None, :] - PALETTE_LAB[None]) ** 2).sum(-1)
    return np.bincount(d.argmin(1), minlength=len(PALETTE_LAB)) / len(lab_pixels)


def asymmetry_index(mask: np.ndarray) -> float:
    """Mean over the two principal axes of area(mask XOR its mirror image) / area(mask); 0 for an
    ellipse, up to ~1 for very lopsided shapes."""
    mask = np.asarray(mask, bool)
    if mask.sum() < 20:
        return math.nan
    m = cv2.moments(mask.astype(np.uint8), binaryImage=True)
    cx, cy = m["m10"] / m["m00"], m["m01"] / m["m00"]
    theta = 0.5 * math.degrees(math.atan2(2 * m["mu11"], m["mu20"] - m["mu02"]))
    side = 2 * max(mask.shape) + 1
    M = cv2.getRotationMatrix2D((cx, cy), theta, 1.0)   # major axis onto x, centroid to the middle
    M[0, 2] += (side - 1) / 2 - cx
    M[1, 2] += (side - 1) / 2 - cy
    R = cv2.warpAffine(mask.astype(np.uint8), M, (side, side), flags=cv2.INTER_NEAREST) > 0
    area = max(int(R.sum()), 1)
    return 0.5 * (np.logical_xor(R, R[::-1]).sum() + np.logical_xor(R, R[:, ::-1]).sum()) / area


def compactness(mask: np.ndarray) -> float:
    """perimeter^2 / (4 pi area): 1 for a disc, larger for lobed or notched borders. The perimeter is a
    4-direction Cauchy-Crofton estimate, which (unlike counting contour steps) is unbiased on discs."""
    mask = np.asarray(mask, bool)
    area = mask.sum()
    if area < 20:
        return math.nan
    m = np.pad(mask, 1)
    th = np.count_nonzero(m[:, 1:] != m[:, :-1])
    tv = np.count_nonzero(m[1:] != m[:-1])
    td1 = np.count_nonzero(m[1:, 1:] != m[:-1, :-1])
    td2 = np.count_nonzero(m[1:, :-1] != m[:-1, 1:])
    perimeter = math.pi / 8 * (th + tv + (td1 + td2) / math.sqrt(2))
    return float(perimeter ** 2 / (4 * math.pi * area))


def border_width(L: np.ndarray, mask: np.ndarray, usable: np.ndarray | None = None,
                 inside: float = 15, outside: float = 25) -> float:
    """10-90 % rise distance (px) of the mean L* profile against signed distance to the mask border:
    a few px for a crisp edge, ~2.5 sigma for an edge blurred with a Gaussian of sigma px. `inside` and
    `outside` are the profile's reach in px."""
    mask = np.asarray(mask, bool)
    usable = np.ones(mask.shape, bool) if usable is None else usable
    d = np.where(mask, -ndi.distance_transform_edt(mask) + 0.5, ndi.distance_transform_edt(~mask) - 0.5)
    lo, hi = -int(round(inside)), int(round(outside))
    sel = usable & (d > lo - 0.5) & (d < hi + 0.5)
    if sel.sum() < 50:
        return math.nan
    idx = np.clip(np.round(d[sel]).astype(int) - lo, 0, hi - lo)
    cnt = np.bincount(idx, minlength=hi - lo + 1)
    prof = np.bincount(idx, weights=L[sel], minlength=hi - lo + 1) / np.maximum(cnt, 1)
    good = cnt >= 5
    if good.sum() < 8:
        return math.nan
    x, p = np.arange(lo, hi + 1)[good].astype(float), prof[good]
    # Plateaus: well inside and well outside the border (2/3 of each reach).
    inner = p[x <= 2 * lo / 3] if (x <= 2 * lo / 3).any() else p[:3]
    outer = p[x >= 2 * hi / 3] if (x >= 2 * hi / 3).any() else p[-3:]
    step = outer.mean() - inner.mean()
    if step < 3:   # no visible edge (L* units)
        return math.nan
    q = np.maximum.accumulate(np.clip((p - inner.mean()) / step, 0, 1))
    ramp = q + np.arange(len(q)) * 1e-6    # strictly increasing for interpolation
    return float(np.interp(0.9, ramp, x) - np.interp(0.1, ramp, x))


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of a 1-D sample (maximises the between-class variance of a histogram)."""
    v = np.asarray(values, np.float64).ravel()
    lo, hi = float(v.min()), float(v.max())
    if hi - lo < 1e-9:
        return hi
    hist, edges = np.histogram(v, bins=bins, range=(lo, hi))
    centres = 0.5 * (edges[:-1] + edges[1:])
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    s0 = np.cumsum(hist * centres)
    m0 = s0 / np.maximum(w0, 1)
    m1 = (s0[-1] - s0) / np.maximum(w1, 1)
    between = (w0 * w1 * (m0 - m1) ** 2)[:-1]
    # Between well-separated modes every cut in the gap scores the same: take the middle of that plateau.
    best = np.flatnonzero(between >= between.max() * (1 - 1e-9))
    return float(edges[int(round(best.mean())) + 1])


# -- private helpers --------------------------------------------------------------------------------
def _measure(seg: LesionSegmentation) -> dict[str, float]:
    mask, lab, hair, stop = seg.mask, seg.lab, seg.hair, seg.field_stop
    h, w = mask.shape
    s = min(h, w) / REFERENCE_SIDE
    L = lab[..., 0]
    out = dict.fromkeys(STAT_NAMES, math.nan)
    area = int(mask.sum())
    out["area_frac"] = area / (h * w)
    out["eq_diam_rel"] = math.sqrt(4 * area / math.pi) / min(h, w)
    out["touches_edge"] = float(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())
    hair_d = cv2.dilate(hair.astype(np.uint8), _disc(_odd(5 * s))) > 0
    if 20 <= area <= 0.95 * h * w:
        out["elongation"] = _elongation(mask)
        out["asymmetry"] = asymmetry_index(mask)
        out["compactness"] = compactness(mask)
        usable = np.zeros((h, w), bool)
        edge = max(1, round(4 * s))
        usable[edge:-edge, edge:-edge] = True
        usable &= ~(cv2.dilate(stop.astype(np.uint8), _disc(_odd(9 * s))) > 0) & ~hair_d
        bw = border_width(L, mask, usable, inside=15 * s, outside=25 * s)
        out["border_width_rel"] = bw / max(math.sqrt(4 * area / math.pi), 1.0)
    lesion_px = mask & ~hair_d & ~stop
    m8 = mask.astype(np.uint8)
    ring = (cv2.dilate(m8, _disc(_odd(25 * s))) > 0) & ~(cv2.dilate(m8, _disc(_odd(7 * s))) > 0)
    ring &= ~stop & ~hair_d
    if ring.sum() < 200 * s * s:   # lesion fills the frame: any non-lesion pixel is skin
        ring = ~(cv2.dilate(m8, _disc(_odd(7 * s))) > 0) & ~stop & ~hair_d
    if ring.sum() >= 30:
        skin = np.median(lab[ring], axis=0)
        out["skin_L"], out["skin_a"], out["skin_b"] = (float(v) for v in skin)
    if lesion_px.sum() >= 20:
        lv = lab[lesion_px]
        mean = lv.mean(0)
        out["lesion_L"], out["lesion_a"], out["lesion_b"] = (float(v) for v in mean)
        out["lesion_std_L"], out["lesion_std_b"] = float(lv[:, 0].std()), float(lv[:, 2].std())
        raw = colour_fractions(lv)
        out["n_colours_raw"] = float((raw >= MIN_COLOUR_FRAC).sum())
        if not math.isnan(out["skin_a"]):
            out["dL"] = out["lesion_L"] - out["skin_L"]
            out["da"] = out["lesion_a"] - out["skin_a"]
            out["db"] = out["lesion_b"] - out["skin_b"]
            out["dE"] = math.sqrt(out["dL"] ** 2 + out["da"] ** 2 + out["db"] ** 2)
            shift = np.array([0.0, SKIN_REF_AB[0] - out["skin_a"], SKIN_REF_AB[1] - out["skin_b"]],
                             np.float32)
            ref = colour_fractions(lv + shift)
            out["n_colours"] = float((ref >= MIN_COLOUR_FRAC).sum())
            for k, f in zip(COLOUR_NAMES, ref, strict=True):
                out[f"col_{k}"] = float(f)
    # Acquisition: corner darkening against the skin, field stop, hair, sharpness.
    cs = max(2, round(16 * s))
    free = ~(cv2.dilate(m8, _disc(_odd(9 * s))) > 0)
    corners = [(slice(None, cs), slice(None, cs)), (slice(None, cs), slice(-cs, None)),
               (slice(-cs, None), slice(None, cs)), (slice(-cs, None), slice(-cs, None))]
    corner_L = [L[c][free[c]].mean() for c in corners if free[c].sum() >= 0.5 * cs * cs]
    if corner_L:
        ref_L = out["skin_L"] if not math.isnan(out["skin_L"]) else float(np.median(L))
        out["vignette_drop"] = ref_L - float(np.mean(corner_L))
    out["vignette_area"] = float(stop.mean())
    nonlesion = free & ~stop
    if nonlesion.sum() >= 500 * s * s:
        out["hair_frac"] = float(hair[nonlesion].mean())
    grey = cv2.cvtColor(seg.rgb, cv2.COLOR_RGB2GRAY)
    out["sharpness"] = float(cv2.Laplacian(grey, cv2.CV_64F).var())
    return out


def _field_stop_mask(L: np.ndarray, s: float) -> np.ndarray:
    """Dark region connected to the image corners (the dermatoscope's field stop or strong vignetting)."""
    h, w = L.shape
    Lb = cv2.GaussianBlur(L, (0, 0), max(0.5, 2 * s))
    yy, xx = np.mgrid[:h, :w]
    centre = np.hypot(yy - h / 2, xx - w / 2) < 0.35 * min(h, w)
    thr = max(30.0, 0.6 * float(np.percentile(Lb[centre], 75)))
    n, comp = cv2.connectedComponents((Lb < thr).astype(np.uint8), connectivity=8)
    c = max(1, round(4 * s))
    corner_ids = np.unique(np.concatenate([comp[:c, :c].ravel(), comp[:c, -c:].ravel(),
                                           comp[-c:, :c].ravel(), comp[-c:, -c:].ravel()]))
    keep = np.zeros(n, bool)
    keep[corner_ids] = True
    keep[0] = False
    stop = keep[comp]
    if stop.any():
        stop = cv2.dilate(stop.astype(np.uint8), _disc(_odd(9 * s))) > 0
    return stop


def _hair_mask(L: np.ndarray, s: float, threshold: float = 12.0) -> np.ndarray:
    """Thin, long, dark strands: black-hat response of L* above `threshold` L*, in components at most
    ~5 px wide (at 224 px) and at least ~15 px long."""
    bh = cv2.morphologyEx(L, cv2.MORPH_BLACKHAT, _disc(_odd(11 * s)))
    cand = (bh > threshold).astype(np.uint8)
    n, comp = cv2.connectedComponents(cand, connectivity=8)
    if n <= 1:
        return np.zeros(L.shape, bool)
    dist = cv2.distanceTransform(cand, cv2.DIST_L2, 3)
    # Per-component maximum over the candidate pixels only (ndi.maximum sorts the whole image: 10x slower).
    on = cand > 0
    half_width = np.zeros(n, np.float32)
    np.maximum.at(half_width, comp[on], dist[on])
    extent = np.zeros(n)
    for i, sl in enumerate(ndi.find_objects(comp), start=1):
        if sl is not None:
            extent[i] = math.hypot(sl[0].stop - sl[0].start, sl[1].stop - sl[1].start)
    keep = (half_width <= max(1.0, 2.5 * s)) & (extent >= max(4.0, 15 * s))
    keep[0] = False
    return keep[comp]


def _central_component(fg: np.ndarray, field_stop: np.ndarray, s: float) -> np.ndarray:
    """The component with the largest centre-weighted area; components touching a corner or the field
    stop count a tenth (they are usually scope edge or shading, not the lesion). Holes filled."""
    h, w = fg.shape
    n, comp = cv2.connectedComponents(fg, connectivity=8)
    if n <= 1:
        return np.zeros((h, w), bool)
    c = max(1, round(8 * s))
    corner = np.zeros((h, w), bool)
    corner[:c, :c] = corner[:c, -c:] = corner[-c:, :c] = corner[-c:, -c:] = True
    near_stop = cv2.dilate(field_stop.astype(np.uint8), _disc(_odd(5 * s))) > 0
    touches = np.zeros(n, bool)
    touches[np.unique(comp[corner | near_stop])] = True
    yy, xx = np.mgrid[:h, :w]
    weight = np.exp(-((np.hypot(yy - h / 2, xx - w / 2) / (0.35 * min(h, w))) ** 2))
    score = ndi.sum(weight, comp, np.arange(n)) * np.where(touches, 0.1, 1.0)
    score[0] = -1
    return ndi.binary_fill_holes(comp == int(np.argmax(score)))


def _elongation(mask: np.ndarray) -> float:
    m = cv2.moments(mask.astype(np.uint8), binaryImage=True)
    a, b, c = m["mu20"] / m["m00"], m["mu11"] / m["m00"], m["mu02"] / m["m00"]
    root = math.sqrt(max((a - c) ** 2 + 4 * b * b, 0.0))
    major, minor = (a + c + root) / 2, (a + c - root) / 2
    return math.sqrt(major / max(minor, 1e-6))


def _check_rgb(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an RGB image (H, W, 3), got shape {rgb.shape}")
    if min(rgb.shape[:2]) < 16:
        raise ValueError(f"image too small to measure: {rgb.shape[:2]} (need at least 16 px)")
    return np.ascontiguousarray(rgb, dtype=np.uint8)


def _odd(k: float) -> int:
    k = max(3, int(round(k)))
    return k if k % 2 else k + 1


def _disc(k: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
