"""Per-image features of the shortcut audit: how the photo was taken (acquisition) and what the lesion
looks like (lesion), measured the same way on every image of any dataset.

Acquisition: the skin's colour cast in CIELAB, corner vignetting and the dark field stop, hair, ruler
marks, ink, sharpness, noise, JPEG blocking and whether the lesion runs off the frame. Lesion: ABCD-type
shape, border and colour figures, colours referenced to the image's own skin so the cast drops out.

The segmentation and the colour and shape figures come from `eval.lesion_stats` (the REAL-STATS pipeline)
run at `ANALYSIS_SIDE` px (96): shapes and colour medians barely move there, and it is 4x cheaper.
The fine-grained texture figures (sharpness, noise, JPEG blocking, hair, ruler ticks) are measured on the
full-resolution grey image, where a 1 px hair or a 5 px tick period still exists.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Sequence

import cv2
import numpy as np

from simstudio.data.preprocess import shades_of_gray
from simstudio.eval import lesion_stats as ls

# Segmentation side (px): shapes and colour medians of a 224 px photo barely move at 96 px, and it is
# 4x cheaper than 224 (the speed target is 200 images/s on 2 cores). Smaller images keep their side.
ANALYSIS_SIDE = 96

# name -> (description, group). The groups are what the audit's classifiers see.
AUDIT_FEATURES: dict[str, tuple[str, str]] = {
    "skin_L": ("skin ring median L*", "acquisition"),
    "skin_a": ("skin ring median a* (colour cast)", "acquisition"),
    "skin_b": ("skin ring median b* (colour cast)", "acquisition"),
    "vignette_drop": ("skin L* - L* of the lesion-free corners", "acquisition"),
    "field_stop_area": ("dark field-stop area / image area", "acquisition"),
    "hair_frac": ("hair pixels / off-lesion pixels", "acquisition"),
    "ruler_score": ("periodic thin-dark-mark strength off the lesion (ruler ticks)", "acquisition"),
    "ink_frac": ("off-lesion pixels with b* < -25 (ink, marker, blue tape)", "acquisition"),
    "sharpness": ("variance of the Laplacian of grey on the skin, at the image's side", "acquisition"),
    "noise_sigma": ("noise std of grey on the skin (Immerkaer 1996)", "acquisition"),
    "jpeg_blockiness": ("steps across 8 px block edges / steps inside blocks", "acquisition"),
    "touches_edge": ("lesion mask touches the image edge (0/1)", "acquisition"),
    # the lesion statistics as lesion_stats defines them (touches_edge is an acquisition fact here: the
    # framing of the photo, not the lesion)
    **{k: (ls.STATISTICS[k][0], "lesion") for k in ls.LESION_STATS if k not in ("touches_edge", "eq_diam_rel")},
}
FEATURE_NAMES = tuple(AUDIT_FEATURES)
ACQUISITION_FEATURES = tuple(k for k, (_, g) in AUDIT_FEATURES.items() if g == "acquisition")
LESION_FEATURES = tuple(k for k, (_, g) in AUDIT_FEATURES.items() if g == "lesion")
# lesion_stats name -> audit name where they differ
_RENAMED = {"vignette_area": "field_stop_area"}
# Hair as REAL-STATS thresholds it: black-hat response of L* above 12, thin strands.
HAIR_THRESHOLD = 12.0
# Ticks: the black-hat response above 10 L*, off the lesion (REAL-STATS' ruler candidate pixels).
TICK_THRESHOLD = 10.0


def measure_audit_features(rgb: np.ndarray) -> dict[str, float]:
    """Every `AUDIT_FEATURES` value of one uint8 RGB image (H, W, 3); NaN where undefined."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or min(rgb.shape[:2]) < 16:
        raise ValueError(f"expected an RGB image (H, W, 3) of at least 16 px, got shape {rgb.shape}")
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = rgb.shape[:2]
    side = min(h, w)
    s = side / ls.REFERENCE_SIDE
    small = rgb
    if side > ANALYSIS_SIDE:
        f = ANALYSIS_SIDE / side
        small = cv2.resize(rgb, (max(16, round(w * f)), max(16, round(h * f))), interpolation=cv2.INTER_AREA)
    # Segment under colour constancy, so the mask (hence every lesion figure) does not move with the
    # cast; the colours are then read from the photo as taken.
    seg = ls.segment_lesion(shades_of_gray(small))
    seg.rgb, seg.lab = small, ls.rgb_to_lab(small)
    stats = ls.measure_segmentation(seg)
    out = {name: float(stats.get(src, math.nan)) for src, name in
           [(k, _RENAMED.get(k, k)) for k in stats] if name in AUDIT_FEATURES}
    free_small = ~(cv2.dilate(seg.mask.astype(np.uint8), _disc(9 * min(seg.mask.shape) / ls.REFERENCE_SIDE)) > 0)
    off = free_small & ~seg.field_stop
    out["ink_frac"] = float(((seg.lab[..., 2] < -25) & off).mean())
    # Full-resolution texture figures, off the lesion and the field stop.
    if small is not rgb:
        def up(m):
            return cv2.resize(m.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
        off_full, stop_full, lesion_full = up(off), up(seg.field_stop), up(seg.mask)
    else:
        off_full, stop_full, lesion_full = off, seg.field_stop, seg.mask
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    lap = cv2.Laplacian(grey, cv2.CV_32F)
    # Focus of the skin texture: off the lesion (whose edge adds Laplacian energy with its size) and off
    # the field stop's rim; the whole image when too little skin is left.
    near = cv2.dilate(lesion_full.astype(np.uint8), _disc(max(7.0, 15 * s))) > 0
    calm = ~near & ~(cv2.dilate(stop_full.astype(np.uint8), _disc(9 * s)) > 0)
    out["sharpness"] = float(lap[calm].var() if calm.sum() >= 0.05 * h * w else lap.var())
    # L* from grey: cheap (no full-resolution Lab) and what the thin-dark filters respond to.
    L = grey.astype(np.float32) * (100.0 / 255.0)
    bh = cv2.morphologyEx(L, cv2.MORPH_BLACKHAT, _disc(11 * s))
    hair = thin_strands(bh > HAIR_THRESHOLD, s)
    n_off = int(off_full.sum())
    out["hair_frac"] = float(hair[off_full].mean()) if n_off >= 500 * s * s else math.nan
    out["ruler_score"] = ruler_score((bh > TICK_THRESHOLD) & off_full)
    skin = off_full & ~stop_full & ~(cv2.dilate(hair.astype(np.uint8), _disc(5 * s)) > 0)
    out["noise_sigma"] = noise_sigma(grey, skin)
    out["jpeg_blockiness"] = jpeg_blockiness(grey)
    return {k: out.get(k, math.nan) for k in FEATURE_NAMES}


def measure_many(images, progress: Callable[[int, int], None] | None = None,
                 workers: int = 0, chunk: int = 32) -> dict[str, np.ndarray]:
    """`measure_audit_features` of many images as columns: name -> float array (N,). `workers` processes
    (0 = every core; small sets are measured here). `progress(done, total)` may raise to stop."""
    n = len(images)
    cols = {k: np.full(n, np.nan) for k in FEATURE_NAMES}
    workers = (os.cpu_count() or 1) if workers <= 0 else workers
    starts = list(range(0, n, chunk))
    pool = _pool(workers) if workers > 1 and n >= 4 * chunk else None
    try:
        if pool is None:
            results = (_measure_chunk(np.asarray(images[a:a + chunk])) for a in starts)
        else:
            results = pool.imap(_measure_chunk, (np.asarray(images[a:a + chunk]) for a in starts))
        for a, rows in zip(starts, results, strict=True):
            for j, row in enumerate(rows):
                for k in FEATURE_NAMES:
                    cols[k][a + j] = row[k]
            if progress is not None:
                progress(min(n, a + chunk), n)
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
    return cols


def thin_strands(candidates: np.ndarray, s: float = 1.0) -> np.ndarray:
    """Hair: components of a thin-dark mask that are long (bounding-box diagonal >= ~15 px at 224) and
    thin (area / diagonal <= ~5 px), from one connected-components pass."""
    cand = candidates.astype(np.uint8)
    n, comp, st, _ = cv2.connectedComponentsWithStats(cand, connectivity=8)
    if n <= 1:
        return np.zeros(cand.shape, bool)
    diag = np.hypot(st[:, cv2.CC_STAT_WIDTH], st[:, cv2.CC_STAT_HEIGHT])
    width = st[:, cv2.CC_STAT_AREA] / np.maximum(diag, 1)
    keep = (diag >= max(4.0, 15 * s)) & (width <= max(1.5, 5 * s))
    keep[0] = False
    return keep[comp]


def ruler_score(ticks: np.ndarray, min_period: float = 3.0, max_period: float = 24.0) -> float:
    """How much of a thin-dark-mark mask repeats at one spacing: the share of the mask's spectral power
    at periods of `min_period`-`max_period` px that sits in its strongest peak (a 7 x 7 bin window: a
    tick is short, so its peak spreads along the tick). Evenly spaced ruler ticks put a large share
    there; hair, pores and noise spread it. 0 when there are no marks."""
    m = ticks.astype(np.float32)
    if m.sum() < 30:
        return 0.0
    from scipy import fft

    p = np.abs(fft.rfft2(m - m.mean(), workers=1)) ** 2
    band = _ruler_band(m.shape, min_period, max_period)
    inband = np.where(band, p, 0.0)
    total = float(inband.sum())
    if total <= 0:
        return 0.0
    i, j = np.unravel_index(int(np.argmax(inband)), p.shape)
    rows = np.arange(i - 3, i + 4) % p.shape[0]
    cols = np.arange(max(0, j - 3), min(p.shape[1], j + 4))
    return float(inband[np.ix_(rows, cols)].sum() / total)


@functools.lru_cache(maxsize=8)
def _ruler_band(shape: tuple[int, int], min_period: float, max_period: float) -> np.ndarray:
    h, w = shape
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    r = np.hypot(fy, fx)
    band = (r >= 1 / max_period) & (r <= 1 / min_period)
    # JPEG's 8 px grid puts peaks on the axes at 1/8 and its harmonics: not a ruler.
    on_axis = (np.abs(fx) < 1.5 / w) | (np.abs(fy) < 1.5 / h)
    grid = on_axis & (np.abs(r * 8 - np.round(r * 8)) < 1.5 / min(h, w) * 8)
    return band & ~grid


def noise_sigma(grey: np.ndarray, where: np.ndarray | None = None) -> float:
    """Immerkaer's (1996) fast noise estimate: the mean |response| of a Laplacian-difference kernel that
    cancels smooth image structure, times sqrt(pi/2) / 6, over `where` (grey levels)."""
    k = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
    resp = np.abs(cv2.filter2D(grey.astype(np.float32), -1, k, borderType=cv2.BORDER_REFLECT))[1:-1, 1:-1]
    if where is not None:
        sel = np.asarray(where, bool)[1:-1, 1:-1]
        if sel.sum() < 200:
            return math.nan
        resp = resp[sel]
    return float(math.sqrt(math.pi / 2) * resp.mean() / 6)


def jpeg_blockiness(grey: np.ndarray, block: int = 8) -> float:
    """Mean absolute step between neighbouring pixels across 8 px block edges divided by the mean step
    inside blocks, both directions: ~1 for an image never JPEG-coded on this grid, > 1 with blocking."""
    g = grey.astype(np.float32)
    ratios = []
    for d in (np.abs(np.diff(g, axis=1)), np.abs(np.diff(g, axis=0)).T):
        pos = np.arange(d.shape[1])
        edge = (pos % block) == block - 1
        if edge.sum() == 0 or (~edge).sum() == 0:
            continue
        inside = d[:, ~edge].mean()
        ratios.append(d[:, edge].mean() / max(inside, 1e-6))
    return float(np.mean(ratios)) if ratios else math.nan


def features_matrix(cols: dict[str, np.ndarray], names: Sequence[str]) -> np.ndarray:
    """(N, len(names)) float matrix of the chosen columns (NaN kept: the audit imputes inside its CV)."""
    return np.stack([np.asarray(cols[k], float) for k in names], 1)


# -- private helpers --------------------------------------------------------------------------------
def _disc(diameter: float) -> np.ndarray:
    k = max(3, int(round(diameter)))
    k += 1 - k % 2
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))


def _measure_chunk(images: np.ndarray) -> list[dict[str, float]]:
    return [measure_audit_features(im) for im in images]


def _init_worker() -> None:
    # One OpenCV thread per worker: the workers already fill the cores, and idle pool threads spinning
    # beside them cost CPU time on a shared machine.
    cv2.setNumThreads(1)


def _pool(workers: int):
    """A pool from a clean server process ('forkserver'): forking the app would copy its threads' locks."""
    import multiprocessing as mp

    for method in ("forkserver", "spawn"):
        try:
            ctx = mp.get_context(method)
            if method == "forkserver":
                ctx.set_forkserver_preload(["simstudio.eval.audit_features"])
            return ctx.Pool(workers, initializer=_init_worker)
        except (ValueError, OSError, RuntimeError):
            continue
    return None
