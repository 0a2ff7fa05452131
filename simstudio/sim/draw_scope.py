"""Hair, the scope and the camera (numba): hairs, gel bubbles, glare and ruler ticks stamped into the
planes, then every pixel's chromophores turned into light (`optics`), lit, vignetted, cast, noised and
encoded to sRGB bytes.
"""

from __future__ import annotations

import math

import numpy as np

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
    njit,
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
        bend = curl * 0.3 * length * randn(seed, C_HAIR, b + 4)
        bend2 = curl * 0.12 * length * randn(seed, C_HAIR, b + 5)
        width = P[_I_HTHICK] * ppm * (0.4 + 0.9 * rand(seed, C_HAIR, b + 6))
        dark = 0.35 + 0.65 * rand(seed, C_HAIR, b + 7) ** 0.7  # some hairs are faint, most dark
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
                if hair[y, x] > 0.04:
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
                          yc + r * math.sin(a1), rim / 2, rim / 2, 0.8, 0.25, False)
            rr = r - 1.2 * rim
            if rr > 1:
                stamp_segment(pl[PL_HAIR], xc + rr * math.cos(a0), yc + rr * math.sin(a0), xc + rr * math.cos(a1),
                              yc + rr * math.sin(a1), rim / 2, rim / 2, 1.2, 0.08, False)
        stamp_disc(pl[PL_SPEC], xc - 0.35 * r, yc - 0.35 * r, max(0.12 * r, 0.8), 1.0, 0.5, False)
    # -- specular glare: small bright spots (more on a ridged, waxy SK surface)
    spec = P[_I_SPEC]
    if spec > 0.02:
        k = int(1 + 5 * spec + 6 * P[_I_CER] * spec)
        for i in range(k):
            b = 2000 + 10 * i
            xc = (0.05 + 0.9 * rand(seed, C_SCOPE, b)) * size
            yc = (0.05 + 0.9 * rand(seed, C_SCOPE, b + 1)) * size
            r = (0.08 + 0.25 * rand(seed, C_SCOPE, b + 2)) * ppm
            stamp_disc(pl[PL_SPEC], xc, yc, r, 1.5, 0.25 + 0.5 * spec, False)
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


_EXP_STEPS = 256  # table entries per unit of optical density
_EXP_MAX = 24.0
_EXP_TABLE = np.exp(-np.arange(int(_EXP_MAX * _EXP_STEPS) + 2) / _EXP_STEPS)


@njit(cache=True)
def exp_neg(x):
    """exp(-x) for x >= 0 from a table with linear interpolation (relative error < 2e-6): six per
    pixel, several times cheaper than libm's."""
    q = x * _EXP_STEPS
    if q <= 0:
        return 1.0
    if q >= _EXP_MAX * _EXP_STEPS:
        return 0.0
    j = int(q)
    w = q - j
    return _EXP_TABLE[j] + (_EXP_TABLE[j + 1] - _EXP_TABLE[j]) * w


@njit(cache=True)
def composite(P, seed, size, pl, K, gains, hair_od, lut, noise, out):
    """Chromophores -> light -> camera -> sRGB bytes. K: `optics.kernel_constants()`; gains: the camera
    cast as per-band multipliers; hair_od: the hair colour's optical density per band; lut: linear ->
    sRGB byte table over [0, 1]."""
    size * size
    me = pl[PL_MEL].ravel()
    md = pl[PL_DEEP].ravel()
    hb = pl[PL_HB].ravel()
    sc = pl[PL_SCAT].ravel()
    hair = pl[PL_HAIR].ravel()
    ke0, ke1, ke2 = K[0, 0], K[0, 1], K[0, 2]
    kb0, kb1, kb2 = K[6, 0], K[6, 1], K[6, 2]
    kd0, kd1, kd2 = K[1, 0], K[1, 1], K[1, 2]
    kh0, kh1, kh2 = K[2, 0], K[2, 1], K[2, 2]
    hr0, hr1, hr2 = hair_od[0], hair_od[1], hair_od[2]
    illum = P[_I_ILLUM]
    ang = 2 * math.pi * rand(seed, C_CAMERA, 0)
    gx, gy = math.cos(ang) * illum * 0.56, math.sin(ang) * illum * 0.56
    vig = P[_I_VIG]
    stop = 1.75 - 0.9 * vig  # field-stop radius in half-widths: beyond the corners unless vignette > ~0.3
    soft = 0.03 + 0.04 * rand(seed, C_CAMERA, 1)
    scx = 0.08 * randn(seed, C_CAMERA, 2) * vig
    scy = 0.08 * randn(seed, C_CAMERA, 3) * vig
    nl = lut.shape[0] - 1
    sat1 = 1 + K[8, 0]
    surface = K[7, 0]
    u0, u1, u2 = K[3, 0], K[3, 1], K[3, 2]
    g0, g1, g2 = K[4, 0], K[4, 1], K[4, 2]
    a0, a1, a2 = K[5, 0], K[5, 1], K[5, 2]
    amp = noise * 3.4641  # uniform noise of this standard deviation
    seed_u = np.uint64(seed) * np.uint64(0x2545F4914F6CDD1D)
    shade = pl[PL_SHADE].ravel()
    spec = pl[PL_SPEC].ravel()
    for y in range(size):
        fy = (y + 0.5) / size - 0.5
        for x in range(size):
            i = y * size + x
            fx = (x + 0.5) / size - 0.5
            light = shade[i] * (1 + gx * fx + gy * fy)
            if vig > 0.01:
                rr = 2 * math.sqrt((fx - scx) ** 2 + (fy - scy) ** 2)
                fall = min(max(rr - 0.55, 0.0), 1.0)
                light *= 1 - 0.45 * vig * fall * fall
                edge = min(max((rr - stop) / soft + 0.5, 0.0), 1.0)
                light *= 1 - 0.97 * edge
            s = sc[i]
            ua = min(u0 + s * g0, 0.95)
            ub = min(u1 + s * g1, 0.95)
            uc = min(u2 + s * g2, 0.95)
            e, dd, bl, hh = me[i], md[i], hb[i], hair[i]
            r0 = exp_neg(e * ke0 + kb0 + hh * hr0) * (ua + (1 - ua) * a0 * exp_neg(dd * kd0 + bl * kh0)) + surface
            r1 = exp_neg(e * ke1 + kb1 + hh * hr1) * (ub + (1 - ub) * a1 * exp_neg(dd * kd1 + bl * kh1)) + surface
            r2 = exp_neg(e * ke2 + kb2 + hh * hr2) * (uc + (1 - uc) * a2 * exp_neg(dd * kd2 + bl * kh2)) + surface
            lum = 0.2126 * r0 + 0.7152 * r1 + 0.0722 * r2
            v0 = (lum + (r0 - lum) * sat1) * gains[0] * light + spec[i]
            v1 = (lum + (r1 - lum) * sat1) * gains[1] * light + spec[i]
            v2 = (lum + (r2 - lum) * sat1) * gains[2] * light + spec[i]
            if noise > 0:
                h = mix64(seed_u + np.uint64(i))
                m = np.uint64(0x1FFFFF)
                q0 = float(h & m) * (1.0 / 2097152.0) - 0.5
                q1 = float((h >> np.uint64(21)) & m) * (1.0 / 2097152.0) - 0.5
                q2 = float((h >> np.uint64(42)) & m) * (1.0 / 2097152.0) - 0.5
                v0 += q0 * amp * (0.3 + 0.7 * math.sqrt(max(v0, 0.0)))
                v1 += q1 * amp * (0.3 + 0.7 * math.sqrt(max(v1, 0.0)))
                v2 += q2 * amp * (0.3 + 0.7 * math.sqrt(max(v2, 0.0)))
            out[y, x, 0] = lut[min(max(int(v0 * nl + 0.5), 0), nl)]
            out[y, x, 1] = lut[min(max(int(v1 * nl + 0.5), 0), nl)]
            out[y, x, 2] = lut[min(max(int(v2 * nl + 0.5), 0), nl)]
