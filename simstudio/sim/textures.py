"""The texture bank the kernels read: tileable noise and structure textures made once per process from
a fixed seed, stored with their half-size pyramid levels in one flat float32 array.

Every plane wraps around (made on a torus: FFT filtering, periodic Voronoi cells), so a field can be
any window at any rotation. A kernel reads the level whose texels are about one pixel, so fine
textures average out at small image sizes instead of aliasing.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numba import njit

from simstudio.sim.bank_cache import disk_cached

SIDE = 512
N_LEVELS = 5  # 512 .. 32
# Plane index: (what it holds, bank texels per feature). Smooth planes have unit spread; line and dot
# planes run 0..1.
T_SMOOTH = (0, 1, 2, 3)
T_GRAIN, T_MESH, T_MESH_ATYPICAL, T_FURROWS, T_FOLLICLES, T_GYRI, T_PEPPER = 4, 5, 6, 7, 8, 9, 10
N_TEXTURES = 11
CELL_PX = {"smooth": 8.0, "grain": 2.0, "mesh": 10.0, "mesh_atypical": 13.0, "furrows": 26.0,
           "follicles": 30.0, "gyri": 14.0, "pepper": 3.0}


@functools.lru_cache(maxsize=1)
@disk_cached
def bank() -> tuple[np.ndarray, np.ndarray]:
    """(flat float32 array, int64 start offset of each pyramid level); planes are level-major."""
    rng = np.random.default_rng(20261201)
    planes = [_smooth(rng, 2.5) for _ in T_SMOOTH]
    planes.append(_smooth(rng, 0.8))
    planes.append(_cells(rng, 10.0, jitter=0.8, width=1.0, uneven=0.15, broken=0.0))
    planes.append(_cells(rng, 13.0, jitter=1.0, width=2.0, uneven=0.45, broken=0.4))
    # Skin relief: two crossing families of long furrows (the rhomboid pattern of skin lines), finer
    # polygon lines between them and a fine grain baked in (one lookup for all three).
    planes.append(np.maximum(_skin_lines(rng, 26.0), 0.3 * _cells(rng, 13.0, jitter=0.9, width=0.9, uneven=0.3,
                                                                    broken=0.45)) + 0.1 * planes[T_GRAIN])
    planes.append(_dots(rng, 30.0, radius=(1.4, 2.6), keep=0.7))
    g = _smooth(rng, 3.0, normalise=False)
    planes.append((g - _blurred(g, 3.0)) / (g - _blurred(g, 3.0)).std())
    planes.append(_dots(rng, 3.0, radius=(0.5, 0.8), keep=0.8))
    levels = [np.stack(planes).astype(np.float32)]
    for _ in range(N_LEVELS - 1):
        t = levels[-1]
        n = t.shape[-1] // 2
        levels.append(t.reshape(t.shape[0], n, 2, n, 2).mean((2, 4)).astype(np.float32))
    offsets = np.cumsum([0] + [lv.size for lv in levels[:-1]]).astype(np.int64)
    flat = np.concatenate([lv.ravel() for lv in levels])
    flat.setflags(write=False)
    offsets.setflags(write=False)
    return flat, offsets


def _blurred(x: np.ndarray, sigma: float) -> np.ndarray:
    f = np.fft.fftfreq(x.shape[0])
    g = np.exp(-2 * (np.pi * sigma) ** 2 * (f[:, None] ** 2 + f[None, :] ** 2))
    return np.real(np.fft.ifft2(np.fft.fft2(x) * g))


def _smooth(rng: np.random.Generator, sigma: float, normalise: bool = True) -> np.ndarray:
    x = _blurred(rng.standard_normal((SIDE, SIDE)), sigma)
    return (x - x.mean()) / x.std() if normalise else x


def _cells(rng: np.random.Generator, spacing: float, jitter: float, width: float, uneven: float,
           broken: float) -> np.ndarray:
    """Lines (1) along the borders of periodic Voronoi cells, 0 in the holes: a honeycomb whose line
    width varies by `uneven` and whose segments are dropped by `broken`."""
    n = int(round(SIDE / spacing))
    pts = (np.stack(np.mgrid[0:n, 0:n][::-1], -1) + 0.5 + rng.uniform(-jitter / 2, jitter / 2, (n, n, 2)))
    edge = _cell_edges(pts * (SIDE / n), SIDE)
    w = width * np.exp(np.clip(uneven * _smooth(rng, spacing * 0.7), -1.0, 0.8))
    lines = np.exp(-(edge / w) ** 2)
    if broken > 0:
        gaps = _smooth(rng, spacing * 0.5)
        lines *= np.clip((gaps + 1.6 - 3.2 * broken) * 1.5, 0.1, 1)
    return lines.astype(np.float32)


def _skin_lines(rng: np.random.Generator, spacing: float) -> np.ndarray:
    """Two families of wavy, broken, roughly parallel lines `spacing` texels apart, crossing at 50-80
    degrees, values 0..1: wave vectors are whole numbers of periods across the plane, so it tiles."""
    yy, xx = np.mgrid[0:SIDE, 0:SIDE].astype(np.float64)
    out = np.zeros((SIDE, SIDE))
    base = rng.uniform(0, np.pi)
    for ang in (base, base + rng.uniform(0.9, 1.4)):
        k = SIDE / spacing
        kx, ky = round(k * math.cos(ang)), round(k * math.sin(ang))
        phase = (kx * xx + ky * yy) / SIDE + 0.15 * _smooth(rng, 16.0)
        dist = np.abs((phase + 0.5) % 1.0 - 0.5) * spacing  # texels to the nearest crest
        width = 0.9 * np.exp(np.clip(0.3 * _smooth(rng, 6.0), -0.6, 0.6))
        gaps = np.clip(_smooth(rng, 10.0) + 1.0, 0.0, 1.0)
        out = np.maximum(out, np.exp(-(dist / width) ** 2) * gaps * rng.uniform(0.7, 1.0))
    return out.astype(np.float32)


def _dots(rng: np.random.Generator, spacing: float, radius: tuple[float, float], keep: float) -> np.ndarray:
    """Soft round dots on a jittered periodic grid, `keep` of the grid points used, values 0..1."""
    n = int(round(SIDE / spacing))
    pts = (np.stack(np.mgrid[0:n, 0:n][::-1], -1) + rng.uniform(0.15, 0.85, (n, n, 2))) * (SIDE / n)
    rad = rng.uniform(*radius, (n, n))
    amp = rng.uniform(0.4, 1.0, (n, n)) * (rng.random((n, n)) < keep)
    return _dot_image(pts, rad, amp, SIDE)


@njit(cache=True)
def _cell_edges(pts, side):
    """Half the gap between the nearest and second-nearest cell point (distance to the cell border) on
    a torus, for points on a jittered n x n grid."""
    n = pts.shape[0]
    cell = side / n
    out = np.empty((side, side), np.float32)
    for y in range(side):
        for x in range(side):
            px, py = x + 0.5, y + 0.5
            gx, gy = int(px // cell), int(py // cell)
            d1, d2 = 1e9, 1e9
            for oy in range(-1, 2):
                for ox in range(-1, 2):
                    cx, cy = gx + ox, gy + oy
                    qx = pts[cy % n, cx % n, 0] + (cx // n) * side
                    qy = pts[cy % n, cx % n, 1] + (cy // n) * side
                    d = math.sqrt((qx - px) ** 2 + (qy - py) ** 2)
                    if d < d1:
                        d2, d1 = d1, d
                    elif d < d2:
                        d2 = d
            out[y, x] = (d2 - d1) / 2
    return out


@njit(cache=True)
def _dot_image(pts, rad, amp, side):
    n = pts.shape[0]
    out = np.zeros((side, side), np.float32)
    for j in range(n):
        for i in range(n):
            if amp[j, i] <= 0:
                continue
            r = rad[j, i]
            x0, y0 = pts[j, i, 0], pts[j, i, 1]
            for y in range(int(y0 - r) - 1, int(y0 + r) + 2):
                for x in range(int(x0 - r) - 1, int(x0 + r) + 2):
                    d2 = ((x + 0.5 - x0) ** 2 + (y + 0.5 - y0) ** 2) / (r * r)
                    if d2 < 1:
                        v = amp[j, i] * (1 - d2) ** 1.5
                        yy, xx = y % side, x % side
                        if v > out[yy, xx]:
                            out[yy, xx] = v
    return out
