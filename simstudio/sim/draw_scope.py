"""Hair, the scope and the camera (numba): hairs, gel bubbles, glare and ruler ticks stamped into the
planes, then every pixel's chromophores turned into light (`optics`), lit, vignetted, cast, noised and
encoded to sRGB bytes.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from simstudio.sim.draw_structures import stamp_disc, stamp_segment
from simstudio.sim.kernel_base import (
    B_HAIR,
    C_CAMERA,
    C_HAIR,
    C_SCOPE,
    IDX,
    PL_DEEP,
    PL_HAIR,
    PL_HB,
    PL_MEL,
    PL_SCAT,
    PL_SHADE,
    PL_SPEC,
    mix64,
    rand,
    randn,
)

_I_FOV, _I_HAIR, _I_HTHICK, _I_HCURL = IDX["fov_mm"], IDX["hair_count"], IDX["hair_thickness_mm"], IDX["hair_curl"]
_I_VIG, _I_BUB, _I_RULER, _I_SPEC, _I_ILLUM = (IDX["vignette"], IDX["gel_bubbles"], IDX["ruler"], IDX["specular"],
                                               IDX["illumination_gradient"])
_I_CER = IDX["cerebriform"]
_HAIR_SEGMENTS = 14


@njit(cache=True)
def scope_pass(P, seed, size, pl, bits):
    fov = P[_I_FOV]
    ppm = size / fov
    # -- hairs: tapered curved shafts of varying width and darkness, some out of focus
    n = int(P[_I_HAIR])
    curl = P[_I_HCURL]
    hair = pl[PL_HAIR]
    for i in range(n):
        b = 20 * i
        x0 = (rand(seed, C_HAIR, b) * 1.2 - 0.1) * size
        y0 = (rand(seed, C_HAIR, b + 1) * 1.2 - 0.1) * size
        ang = 2 * math.pi * rand(seed, C_HAIR, b + 2)
        length = (0.3 + 1.0 * rand(seed, C_HAIR, b + 3)) * size
        bend = curl * 0.5 * length * randn(seed, C_HAIR, b + 4)
        bend2 = curl * 0.25 * length * randn(seed, C_HAIR, b + 5)
        width = P[_I_HTHICK] * ppm * (0.55 + 0.9 * rand(seed, C_HAIR, b + 6))
        dark = 0.55 + 0.45 * rand(seed, C_HAIR, b + 7)
        focus = 0.8 + 2.2 * rand(seed, C_HAIR, b + 8) ** 2  # px of edge softness: some hairs are blurred
        taper_from = 0.5 + 0.4 * rand(seed, C_HAIR, b + 9)
        ca, sa = math.cos(ang), math.sin(ang)
        px, py = x0, y0
        for j in range(1, _HAIR_SEGMENTS + 1):
            t = j / _HAIR_SEGMENTS
            # a cubic bend across the shaft
            off = bend * 4 * t * (1 - t) + bend2 * math.sin(3 * t + b)
            nx = x0 + ca * length * t - sa * off
            ny = y0 + sa * length * t + ca * off
            t0 = (j - 1) / _HAIR_SEGMENTS
            w0 = width * (1 if t0 < taper_from else max(1 - (t0 - taper_from) / (1 - taper_from), 0.15))
            w1 = width * (1 if t < taper_from else max(1 - (t - taper_from) / (1 - taper_from), 0.15))
            soft = focus
            # out-of-focus hair: the same ink spread wider, so paler
            amp = dark * min(1.0, (w0 + w1) / (w0 + w1 + 0.6 * (focus - 0.8)))
            stamp_segment(hair, px, py, nx, ny, w0 / 2, w1 / 2, soft, amp, False)
            px, py = nx, ny
    if n > 0:
        for y in range(size):
            for x in range(size):
                if hair[y, x] > 0.25:
                    bits[y, x] |= B_HAIR
    # -- gel bubbles: a thin bright rim, a darker ring inside it and a small highlight
    for i in range(int(P[_I_BUB])):
        b = 1000 + 10 * i
        xc = rand(seed, C_SCOPE, b) * size
        yc = rand(seed, C_SCOPE, b + 1) * size
        r = (0.3 + 1.4 * rand(seed, C_SCOPE, b + 2)) * ppm
        rim = max(0.05 * ppm, 0.7)
        steps = max(int(2 * math.pi * r / 2), 12)
        for j in range(steps):
            a0, a1 = 2 * math.pi * j / steps, 2 * math.pi * (j + 1) / steps
            stamp_segment(pl[PL_SPEC], xc + r * math.cos(a0), yc + r * math.sin(a0), xc + r * math.cos(a1),
                          yc + r * math.sin(a1), rim / 2, rim / 2, 0.8, 0.35, False)
            rr = r - 1.2 * rim
            if rr > 1:
                stamp_segment(pl[PL_HAIR], xc + rr * math.cos(a0), yc + rr * math.sin(a0), xc + rr * math.cos(a1),
                              yc + rr * math.sin(a1), rim / 2, rim / 2, 1.2, 0.08, False)
        stamp_disc(pl[PL_SPEC], xc - 0.35 * r, yc - 0.35 * r, max(0.12 * r, 0.8), 1.0, 0.5, False)
    # -- specular glare: small bright spots (more on a ridged, waxy SK surface)
    spec = P[_I_SPEC]
    if spec > 0.02:
        k = int(1 + 8 * spec + 6 * P[_I_CER] * spec)
        for i in range(k):
            b = 2000 + 10 * i
            xc = (0.05 + 0.9 * rand(seed, C_SCOPE, b)) * size
            yc = (0.05 + 0.9 * rand(seed, C_SCOPE, b + 1)) * size
            r = (0.03 + 0.12 * rand(seed, C_SCOPE, b + 2)) * ppm
            stamp_disc(pl[PL_SPEC], xc, yc, r, 1.5, min(1.0, 0.4 + spec), False)
    # -- ruler: ticks every half millimetre along one edge, longer every 5 and 10
    if P[_I_RULER] > 0.5:
        period = (0.45 + 0.5 * rand(seed, C_SCOPE, 3000)) * ppm
        edge = int(4 * rand(seed, C_SCOPE, 3001))
        margin = 0.04 * size
        m = int(size / period) + 1
        shade = pl[PL_SHADE]
        scratch = np.zeros((size, size), np.float32)
        for i in range(m):
            pos = (i + 0.5) * period
            ln = (0.7 if i % 10 == 0 else 0.45 if i % 5 == 0 else 0.3) * ppm
            stamp_segment(scratch, pos, margin, pos, margin + ln, 0.45, 0.45, 0.8, 1.0, False)
        stamp_segment(scratch, 0, margin, size, margin, 0.45, 0.45, 0.8, 1.0, False)
        for y in range(size):
            for x in range(size):
                if edge == 0:
                    c = scratch[y, x]
                elif edge == 1:
                    c = scratch[x, size - 1 - y]
                elif edge == 2:
                    c = scratch[size - 1 - y, size - 1 - x]
                else:
                    c = scratch[size - 1 - x, y]
                if c > 0:
                    shade[y, x] *= 1 - 0.85 * c


@njit(cache=True)
def composite(P, seed, size, pl, K, gains, hair_od, lut, noise, out):
    """Chromophores -> light -> camera -> sRGB bytes. K: `optics.kernel_constants()`; gains: the camera
    cast as per-band multipliers; hair_od: the hair colour's optical density per band; lut: linear ->
    sRGB byte table over [0, 1]."""
    illum = P[_I_ILLUM]
    ang = 2 * math.pi * rand(seed, C_CAMERA, 0)
    gx, gy = math.cos(ang) * illum * 0.28, math.sin(ang) * illum * 0.28
    vig = P[_I_VIG]
    stop = 1.75 - 0.9 * vig  # field-stop radius in half-widths: beyond the corners unless vignette > ~0.3
    soft = 0.03 + 0.04 * rand(seed, C_CAMERA, 1)
    scx = 0.08 * randn(seed, C_CAMERA, 2) * vig
    scy = 0.08 * randn(seed, C_CAMERA, 3) * vig
    nl = lut.shape[0] - 1
    sat = K[8, 0]
    amp = noise * 3.4641  # uniform noise of this standard deviation
    seed_u = np.uint64(seed)
    for y in range(size):
        fy = (y + 0.5) / size - 0.5
        for x in range(size):
            fx = (x + 0.5) / size - 0.5
            me = pl[PL_MEL, y, x]
            md = pl[PL_DEEP, y, x]
            hb = pl[PL_HB, y, x]
            sc = pl[PL_SCAT, y, x]
            h = pl[PL_HAIR, y, x]
            light = pl[PL_SHADE, y, x] * (1 + gx * fx * 2 + gy * fy * 2)
            rr = 2 * math.sqrt((fx - scx) ** 2 + (fy - scy) ** 2)
            if vig > 0.01:
                light *= 1 - 0.45 * vig * min(max(rr - 0.55, 0.0), 1.0) ** 1.5
                edge = min(max((rr - stop) / soft + 0.5, 0.0), 1.0)
                light *= 1 - 0.97 * edge
            spec = pl[PL_SPEC, y, x]
            r3 = np.empty(3)
            for c in range(3):
                od_e = me * K[0, c] + K[6, c]
                od_d = md * K[1, c] + hb * K[2, c]
                u = min(K[3, c] + sc * K[4, c], 0.95)
                v = math.exp(-od_e) * (u + (1 - u) * K[5, c] * math.exp(-od_d)) + K[7, 1]
                if h > 0:
                    v *= math.exp(-h * hair_od[c])
                r3[c] = v
            lum = 0.2126 * r3[0] + 0.7152 * r3[1] + 0.0722 * r3[2]
            hbits = mix64(seed_u * np.uint64(0x2545F4914F6CDD1D) + np.uint64(y * size + x))
            for c in range(3):
                v = (lum + (r3[c] - lum) * (1 + sat)) * gains[c] * light + spec
                if noise > 0:
                    q = float((hbits >> np.uint64(21 * c)) & np.uint64(0x1FFFFF)) * (1.0 / 2097152.0) - 0.5
                    v += q * amp * (0.3 + 0.7 * math.sqrt(max(v, 0.0)))
                i = int(v * nl + 0.5)
                out[y, x, c] = lut[min(max(i, 0), nl)]
