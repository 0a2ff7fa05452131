"""Things in front of the skin that an acquisition layer draws over an RGB image: hair, ruler ticks,
immersion-gel bubbles and specular glare, and the compositing they share.

Each takes a uint8 RGB (H, W, 3) image, never writes it, and returns a new one (hair, ruler and bubbles
also the bool mask of the pixels they touched); lengths are px of the image given, defaults scaled from
REAL-STATS' 224 px. `acquisition` draws their strengths and applies them in order.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

REFERENCE_SIDE = 224  # REAL-STATS lengths are px at this side

# Hair colours (sRGB): black, dark brown, brown, auburn, blond, grey; each hair jitters around one.
_HAIR_RGB = np.array([[20, 16, 15], [45, 30, 24], [75, 52, 38], [100, 58, 40], [150, 120, 80], [140, 138, 135]],
                     np.float32)



def add_hair(rgb: np.ndarray, count: int, seed: int, width: float | None = None,
             curl: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`count` hairs: cubic curves that taper from root to tip, each its own width and colour. Returns the
    image and the bool mask of the pixels a hair touched (every other pixel is unchanged)."""
    rgb = _check(rgb)
    if count <= 0:
        return _untouched(rgb)
    h, w = rgb.shape[:2]
    rng = np.random.default_rng(seed)
    side = min(h, w)
    base_w = width if width is not None else 2.5 * side / REFERENCE_SIDE
    # Premultiplied (R, G, B) * opacity and opacity in one layer: a later hair covers an earlier one, and
    # the softening blur below is right for premultiplied colour. All draws at once, in a fixed order.
    n = int(count)
    start = rng.uniform(-0.1, 1.1, (n, 2)) * (w, h)
    ang = rng.uniform(0, 2 * math.pi, n)
    length = rng.uniform(0.3, 1.2, n) * side
    bend = (np.full(n, curl) if curl is not None else rng.uniform(0.05, 0.5, n)) * length
    z = rng.normal(0, 1, (n, 2))
    wi = base_w * rng.uniform(0.6, 1.4, n)
    col = (_HAIR_RGB[rng.integers(len(_HAIR_RGB), size=n)] * rng.uniform(0.75, 1.2, (n, 1))
           * rng.uniform(0.96, 1.04, (n, 3)))
    d = np.stack([np.cos(ang), np.sin(ang)], 1)
    nrm = np.stack([-d[:, 1], d[:, 0]], 1)
    L = length[:, None]
    p1 = start + d * L / 3 + nrm * z[:, :1] * bend[:, None]
    p2 = start + d * 2 * L / 3 + nrm * z[:, 1:] * bend[:, None]
    p3 = start + d * L
    b0, b1, b2, b3 = _HAIR_BEZIER
    pts = (b0 * start[:, None] + b1 * p1[:, None] + b2 * p2[:, None] + b3 * p3[:, None]) * 4
    pts = np.round(pts).astype(np.int32).tolist()
    opacity = np.minimum(0.95, 0.35 + 0.5 * wi)  # a hair thinner than a pixel reads lighter
    op = opacity[:, None] * _HAIR_FADE  # (hair, segment): fainter toward the tip
    thick = np.maximum(1, np.round(wi[:, None] * _HAIR_TAPER)).astype(int).tolist()
    paint = (col[:, None, :] * op[..., None]).tolist()
    op = op.tolist()
    layer = np.zeros((h, w, 4), np.float32)
    for i in range(n):
        q, t, c, o = pts[i], thick[i], paint[i], op[i]
        for k in range(len(q) - 1):
            cv2.line(layer, q[k], q[k + 1], (*c[k], o[k]), t[k], cv2.LINE_8, shift=2)
    layer = cv2.GaussianBlur(layer, (0, 0), 0.5)
    return _over_premultiplied(rgb, layer)


_TS = np.linspace(0, 1, 10)[:, None]
_HAIR_BEZIER = ((1 - _TS) ** 3, 3 * (1 - _TS) ** 2 * _TS, 3 * (1 - _TS) * _TS ** 2, _TS ** 3)
_HAIR_TAPER = 1 - 0.65 * np.linspace(0, 1, 9)  # width of each of the 9 segments, root to tip
_HAIR_FADE = 0.5 + 0.5 * _HAIR_TAPER


def add_ruler(rgb: np.ndarray, seed: int, period: float | None = None,
              edge: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Dark ruler ticks along one edge (`edge` 0-3: top, right, bottom, left; seeded when None), every
    `period` px (default 5 px at 224, REAL-STATS' median), longer every 5th and 10th, on a baseline.
    Drawn at a fine scale and shrunk, so at 64 px the ticks blur into a band as a real ruler's do."""
    rgb = _check(rgb)
    h, w = rgb.shape[:2]
    rng = np.random.default_rng(seed)
    side = min(h, w)
    period = period if period is not None else 5.0 * side / REFERENCE_SIDE
    if period <= 0:
        raise ValueError(f"ruler period must be > 0 px, got {period}")
    edge = int(rng.integers(4)) if edge is None else int(edge) % 4
    length = w if edge in (0, 2) else h
    sup = max(1, int(math.ceil(4 / period)))  # draw with >= 4 px per tick period, then shrink
    inset = rng.uniform(0.02, 0.1) * side
    band = int(math.ceil(inset + 0.12 * side)) + 2
    L, B = length * sup, band * sup
    strip = np.zeros((B, L), np.float32)
    phase = rng.uniform(0, period)
    base = int(round(inset * sup))
    ink = float(rng.uniform(0.6, 0.9))
    x, i = phase, 0
    while x < length:
        tall = 0.11 if i % 10 == 0 else 0.075 if i % 5 == 0 else 0.045
        xs = int(round(x * sup))
        cv2.line(strip, (xs, base), (xs, base + int(round(tall * side * sup))), ink, max(1, sup // 2))
        x += period
        i += 1
    cv2.line(strip, (0, base), (L - 1, base), ink, max(1, sup // 2))
    if sup > 1:
        strip = cv2.resize(strip, (length, band), interpolation=cv2.INTER_AREA)
    cover = np.zeros((h, w), np.float32)
    strip = strip[:min(band, h if edge in (0, 2) else w)]
    if edge == 0:
        cover[:strip.shape[0], :] = strip
    elif edge == 2:
        cover[h - strip.shape[0]:, :] = strip[::-1]
    elif edge == 1:
        cover[:, w - strip.shape[0]:] = strip[::-1].T
    else:
        cover[:, :strip.shape[0]] = strip.T
    return _over(rgb, (18, 16, 16), cover)


def add_bubbles(rgb: np.ndarray, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` immersion-gel bubbles: a thin bright rim, a small highlight and a faintly lighter inside.
    Returns the image and the bool mask of the pixels a bubble touched."""
    rgb = _check(rgb)
    if count <= 0:
        return _untouched(rgb)
    h, w = rgb.shape[:2]
    rng = np.random.default_rng(seed)
    side = min(h, w)
    cover = np.zeros((h, w), np.float32)
    for _ in range(int(count)):
        c = rng.uniform(0.05, 0.95, 2) * (w, h)
        r = rng.uniform(0.02, 0.09) * side
        q = (int(round(c[0] * 4)), int(round(c[1] * 4)))
        inside = np.zeros((h, w), np.float32)
        cv2.circle(inside, q, max(4, int(round(r * 4))), 0.12, -1, cv2.LINE_AA, shift=2)
        cv2.circle(inside, q, max(4, int(round(r * 4))), 0.75, max(1, int(round(0.06 * r))), cv2.LINE_AA,
                   shift=2)
        hq = (int(round((c[0] - 0.35 * r) * 4)), int(round((c[1] - 0.35 * r) * 4)))
        cv2.circle(inside, hq, max(2, int(round(r * 0.8))), 0.9, -1, cv2.LINE_AA, shift=2)
        np.maximum(cover, inside, out=cover)
    return _over(rgb, (250, 250, 252), cover)


def add_glare(rgb: np.ndarray, strength: float, seed: int) -> np.ndarray:
    """Specular glare: a few small white spots and one soft bright patch, brighter with `strength` (0..1)."""
    rgb = _check(rgb)
    if _nothing_to_draw(strength, 1, "glare strength"):
        return rgb.copy()
    rng = np.random.default_rng(seed)
    h, w = rgb.shape[:2]
    side = min(h, w)
    cover = np.zeros((h, w), np.float32)
    for _ in range(int(rng.integers(2, 7))):
        c = rng.uniform(0.05, 0.95, 2) * (w, h)
        r = max(0.6, rng.uniform(0.004, 0.02) * side)
        cv2.circle(cover, (int(c[0] * 4), int(c[1] * 4)), max(2, int(r * 4)), 1.0, -1, cv2.LINE_AA, shift=2)
    c = rng.uniform(0.15, 0.85, 2) * (w, h)
    axes = (max(1, int(rng.uniform(0.05, 0.15) * side)), max(1, int(rng.uniform(0.02, 0.06) * side)))
    patch = np.zeros((h, w), np.float32)
    cv2.ellipse(patch, (int(c[0]), int(c[1])), axes, float(rng.uniform(0, 180)), 0, 360, 0.5, -1)
    cover = np.maximum(cover, patch)
    cover = cv2.GaussianBlur(cover, (0, 0), max(0.5, 0.006 * side)) * np.float32(strength)
    out, _ = _over(rgb, (255, 255, 255), np.minimum(cover, 1))
    return out



# -- compositing ------------------------------------------------------------------------------------------

def _check(rgb: np.ndarray) -> np.ndarray:
    arr = np.asarray(rgb)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected a uint8 RGB image (H, W, 3), got {arr.dtype} {arr.shape}")
    if min(arr.shape[:2]) < 8:
        raise ValueError(f"image is {arr.shape[0]}x{arr.shape[1]} px; at least 8x8 is needed")
    return np.ascontiguousarray(arr)


def _untouched(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What a layer with nothing to draw returns: a copy of the image and an empty mask."""
    return rgb.copy(), np.zeros(rgb.shape[:2], bool)


def _nothing_to_draw(strength: float, top: float, what: str) -> bool:
    """True when `strength` <= 0 (the layer returns the image unchanged); above `top`, a ValueError that
    names `what` and its range."""
    if strength > top:
        raise ValueError(f"{what} must be in [0, {top:g}], got {strength}")
    return strength <= 0


def _over(rgb: np.ndarray, colour, cover: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """rgb + (colour - rgb) * cover for one colour triple; returns (image, mask of changed pixels)."""
    layer = np.empty(cover.shape + (4,), np.float32)
    for k in range(3):
        np.multiply(cover, np.float32(colour[k]), out=layer[..., k])
    layer[..., 3] = cover
    return _over_premultiplied(rgb, layer)


def _over_premultiplied(rgb: np.ndarray, layer: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """rgb * (1 - a) + premultiplied colour, with a = layer[..., 3]; pixels with a <= 1/255 are left
    exactly as they were (and outside the returned mask)."""
    a = layer[..., 3]
    mask = a > np.float32(1 / 255)
    if not mask.any():
        return rgb.copy(), mask
    k = mask.astype(np.float32)
    a = np.minimum(a, np.float32(1)) * k
    out = rgb.astype(np.float32)
    out *= (1 - a)[..., None]
    out += layer[..., :3] * k[..., None]
    return _to_u8(out), mask


def _to_u8(x: np.ndarray) -> np.ndarray:
    """float -> uint8, rounded and saturated (OpenCV: one pass; an exact integer stays itself)."""
    return cv2.convertScaleAbs(np.maximum(x, 0, out=x))
