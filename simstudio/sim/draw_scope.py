"""Hair, the scope and the camera (numba): hairs, gel bubbles, glare and ruler ticks stamped into the
planes, then every pixel's chromophores turned into light (`optics`), lit, vignetted, cast, noised and
encoded to sRGB bytes.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

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
_I_FALL = IDX["lens_falloff"]
# Light lost at the corners at lens_falloff = 1: natural vignetting (the cos^4 law, ~1 - k r^2 near the axis)
# without the field stop that `vignette` brings in above ~0.37.
LENS_FALLOFF = 0.4
_I_VIG, _I_BUB, _I_RULER, _I_SPEC, _I_ILLUM = (IDX["vignette"], IDX["gel_bubbles"], IDX["ruler"], IDX["specular"],
                                               IDX["illumination_gradient"])
_I_CER = IDX["cerebriform"]
# Enough segments that a curled shaft reads as a curve: 14 showed kinks at the joints at 224 px
# ("pen-line" hair), and hairs are only ~1 in 3 images, so the extra stamping costs little.
_HAIR_SEGMENTS = 48
_HAIR_STREAM = 100000  # counter index of the hair stream direction (per-hair indices stay below it)


@njit(cache=True)
def scope_pass(P, seed, size, pl, bits):
    fov = P[_I_FOV]
    ppm = size / fov
    # -- hairs: tapered curved shafts of varying width and darkness, some out of focus
    n = int(P[_I_HAIR])
    curl = P[_I_HCURL]
    hair = pl[PL_HAIR]
    # hairs on one patch of skin grow in one stream: most lie within ~20 degrees of it, a few stray
    stream = math.pi * rand(seed, C_HAIR, _HAIR_STREAM)
    for i in range(n):
        b = 20 * i
        x0 = (rand(seed, C_HAIR, b) * 1.2 - 0.1) * size
        y0 = (rand(seed, C_HAIR, b + 1) * 1.2 - 0.1) * size
        if rand(seed, C_HAIR, b + 10) < 0.75:
            ang = stream + 0.35 * randn(seed, C_HAIR, b + 2) + math.pi * (rand(seed, C_HAIR, b + 11) < 0.5)
        else:
            ang = 2 * math.pi * rand(seed, C_HAIR, b + 2)
        length = (0.3 + 1.0 * rand(seed, C_HAIR, b + 3)) * size
        bend = curl * 0.2 * length * randn(seed, C_HAIR, b + 4)
        bend2 = curl * 0.12 * length * randn(seed, C_HAIR, b + 5)
        width = P[_I_HTHICK] * ppm * (0.4 + 0.9 * rand(seed, C_HAIR, b + 6))
        dark = 0.35 + 0.65 * rand(seed, C_HAIR, b + 7) ** 0.7  # some hairs are faint, most dark
        focus = 1.0 + 2.2 * rand(seed, C_HAIR, b + 8) ** 2  # px of edge softness: some hairs are blurred
        taper_from = 0.5 + 0.4 * rand(seed, C_HAIR, b + 9)
        ca, sa = math.cos(ang), math.sin(ang)
        off = bend2 * math.sin(b)  # the shaft starts on its own curve (a jump there read as a kink)
        px, py = x0 - sa * off, y0 + ca * off
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
        k = int(1 + 4 * spec + 6 * P[_I_CER] * spec)
        for i in range(k):
            b = 2000 + 10 * i
            xc = (0.05 + 0.9 * rand(seed, C_SCOPE, b)) * size
            yc = (0.05 + 0.9 * rand(seed, C_SCOPE, b + 1)) * size
            r = (0.1 + 0.35 * rand(seed, C_SCOPE, b + 2)) * ppm
            # under gel glare is a soft sheen, not a white pixel (a bright speck reads as paint)
            stamp_disc(pl[PL_SPEC], xc, yc, r, 1.5, 0.1 + 0.5 * spec, False)
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


# exp(-x) as the renderer defines it: linear interpolation in a table of exp(-j / 256), j = 0 .. 6144
# (relative error < 2e-6). The table is not read but computed (`_table_exp`), so the compositing loop
# has no memory lookup and LLVM vectorises it. Past x = 24 it gives exp(-24) ~ 4e-11 (the table's code
# gave 0): no byte tells them apart.
_EXP_STEPS = 256  # table entries per unit of optical density
_EXP_MAX = 24.0
_EXP_LAST = _EXP_MAX * _EXP_STEPS
_EXP_RATIO = math.exp(-1.0 / _EXP_STEPS)  # one table entry to the next
_LOG2E = 1.4426950408889634
_LN2_HI, _LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10  # Cody-Waite split of ln 2


@intrinsic
def _float_from_bits(typingctx, bits):
    """The float64 whose IEEE bits are the int64 `bits` (numba has no scalar bit cast)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.int64), codegen


@njit(cache=True, inline="always")
def _table_exp(j):
    """exp(-j / 256) of an integer j in [0, 6144] to ~1e-13: 2**n times a degree-10 Taylor polynomial
    of the rest (|r| < 0.35). Far below a 4096-step sRGB level, so the bytes are those of the table."""
    y = j * (-1.0 / _EXP_STEPS)
    n = math.floor(y * _LOG2E + 0.5)
    r = y - n * _LN2_HI
    r = r - n * _LN2_LO
    p = 1.0 + r * (1.0 + r * (1 / 2 + r * (1 / 6 + r * (1 / 24 + r * (1 / 120 + r * (1 / 720 + r * (1 / 5040 + r * (
        1 / 40320 + r * (1 / 362880 + r * (1 / 3628800))))))))))
    return p * _float_from_bits((np.int64(n) + 1023) << 52)


@njit(cache=True, inline="always")
def exp_neg(x):
    """exp(-x) for x >= 0, interpolated between table entries (see `_EXP_STEPS`); branch-free."""
    q = min(max(x * _EXP_STEPS, 0.0), _EXP_LAST)
    j = int(q)
    t = _table_exp(j)
    return t + (t * _EXP_RATIO - t) * (q - j)


@njit(cache=True)
def composite(P, seed, size, pl, K, gains, hair_od, lut, noise, out):
    """Chromophores -> light -> camera -> sRGB bytes. K: `optics.kernel_constants()`; gains: the camera
    cast as per-band multipliers; hair_od: the hair colour's optical density per band; lut: linear ->
    sRGB byte table over [0, 1].

    Each row is two loops: the light arithmetic, with no branch or memory lookup so that LLVM runs it
    several pixels at a time (~0.6 -> ~0.35 ms per 128 px image, the same bytes), and the sRGB table
    reads."""
    me = pl[PL_MEL].ravel()
    md = pl[PL_DEEP].ravel()
    hb = pl[PL_HB].ravel()
    sc = pl[PL_SCAT].ravel()
    hair = pl[PL_HAIR].ravel()
    shade = pl[PL_SHADE].ravel()
    spec = pl[PL_SPEC].ravel()
    ke0, ke1, ke2 = K[0, 0], K[0, 1], K[0, 2]
    kb0, kb1, kb2 = K[6, 0], K[6, 1], K[6, 2]
    kd0, kd1, kd2 = K[1, 0], K[1, 1], K[1, 2]
    kh0, kh1, kh2 = K[2, 0], K[2, 1], K[2, 2]
    hr0, hr1, hr2 = hair_od[0], hair_od[1], hair_od[2]
    gain0, gain1, gain2 = gains[0], gains[1], gains[2]
    illum = P[_I_ILLUM]
    ang = 2 * math.pi * rand(seed, C_CAMERA, 0)
    gx, gy = math.cos(ang) * illum * 0.56, math.sin(ang) * illum * 0.56
    vig = P[_I_VIG]
    has_vig = vig > 0.01
    fall_k = 2 * LENS_FALLOFF * P[_I_FALL]  # x2: the corners are at fx^2 + fy^2 = 0.5
    has_fall = fall_k > 0  # (a branch, not a zero factor: 0 draws the bytes of presets from before it)
    stop = 1.75 - 0.9 * vig  # field-stop radius in half-widths: beyond the corners unless vignette > ~0.3
    soft = 0.03 + 0.04 * rand(seed, C_CAMERA, 1)
    scx = 0.08 * randn(seed, C_CAMERA, 2) * vig
    scy = 0.08 * randn(seed, C_CAMERA, 3) * vig
    nl = lut.shape[0] - 1
    sat1 = 1 + K[8, 0]
    surface = K[7, 0]
    sieve, sieve_from = K[9, 0], K[9, 1]
    u0, u1, u2 = K[3, 0], K[3, 1], K[3, 2]
    g0, g1, g2 = K[4, 0], K[4, 1], K[4, 2]
    a0, a1, a2 = K[5, 0], K[5, 1], K[5, 2]
    amp = noise * 3.4641  # uniform noise of this standard deviation
    has_noise = noise > 0
    seed_u = np.uint64(seed) * np.uint64(0x2545F4914F6CDD1D)
    bits21 = np.uint64(0x1FFFFF)
    flat = out.reshape(size * size * 3)
    level = np.empty(3 * size)  # one row's sRGB table positions
    for y in range(size):
        fy = (y + 0.5) / size - 0.5
        row = y * size
        for x in range(size):
            i = row + x
            fx = (x + 0.5) / size - 0.5
            light = shade[i] * (1 + gx * fx + gy * fy)
            if has_fall:
                light *= 1 - fall_k * (fx * fx + fy * fy)
            if has_vig:
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
            # packaged melanin (`optics.sieve`): dense pigment reads dark brown, not an ever yellower brown
            o0, o1, o2 = e * ke0, e * ke1, e * ke2
            x0, x1, x2 = max(o0 - sieve_from, 0.0), max(o1 - sieve_from, 0.0), max(o2 - sieve_from, 0.0)
            o0 -= x0 - x0 * sieve / (sieve + x0)
            o1 -= x1 - x1 * sieve / (sieve + x1)
            o2 -= x2 - x2 * sieve / (sieve + x2)
            r0 = exp_neg(o0 + kb0 + hh * hr0) * (ua + (1 - ua) * a0 * exp_neg(dd * kd0 + bl * kh0)) + surface
            r1 = exp_neg(o1 + kb1 + hh * hr1) * (ub + (1 - ub) * a1 * exp_neg(dd * kd1 + bl * kh1)) + surface
            r2 = exp_neg(o2 + kb2 + hh * hr2) * (uc + (1 - uc) * a2 * exp_neg(dd * kd2 + bl * kh2)) + surface
            lum = 0.2126 * r0 + 0.7152 * r1 + 0.0722 * r2
            v0 = (lum + (r0 - lum) * sat1) * gain0 * light + spec[i]
            v1 = (lum + (r1 - lum) * sat1) * gain1 * light + spec[i]
            v2 = (lum + (r2 - lum) * sat1) * gain2 * light + spec[i]
            if has_noise:
                h = mix64(seed_u + np.uint64(i))
                q0 = float(h & bits21) * (1.0 / 2097152.0) - 0.5
                q1 = float((h >> np.uint64(21)) & bits21) * (1.0 / 2097152.0) - 0.5
                q2 = float((h >> np.uint64(42)) & bits21) * (1.0 / 2097152.0) - 0.5
                v0 += q0 * amp * (0.3 + 0.7 * math.sqrt(max(v0, 0.0)))
                v1 += q1 * amp * (0.3 + 0.7 * math.sqrt(max(v1, 0.0)))
                v2 += q2 * amp * (0.3 + 0.7 * math.sqrt(max(v2, 0.0)))
            # clamped before the int conversion, which truncates: the same index as rounding then clamping
            level[3 * x] = min(max(v0 * nl + 0.5, 0.0), nl)
            level[3 * x + 1] = min(max(v1 * nl + 0.5, 0.0), nl)
            level[3 * x + 2] = min(max(v2 * nl + 0.5, 0.0), nl)
        start = 3 * row
        for k in range(3 * size):
            flat[start + k] = lut[int(level[k])]
