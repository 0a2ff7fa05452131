"""Discrete structures stamped into the chromophore planes (numba): dots and globules, streaks and
pseudopods, milia-like cysts, comedo-like openings and vessels. Each is placed in the lesion's own
frame (a fraction of the contour radius at an angle), so it sits where the lesion is at any size.
"""

from __future__ import annotations

import math

from simstudio.sim.draw_lesion import radius_at
from simstudio.sim.kernel_base import (
    B_GLOBULES,
    B_LESION,
    B_MILIA,
    B_STREAKS,
    C_GLOBULES,
    C_SK,
    C_STREAKS,
    C_VESSELS,
    IDX,
    PL_DEEP,
    PL_HB,
    PL_MEL,
    PL_SCAT,
    PL_SHADE,
    njit,
    rand,
    randn,
)

_I_FOV, _I_GLOB, _I_GIRR, _I_STREAKS = IDX["fov_mm"], IDX["globules"], IDX["globule_irregularity"], IDX["streaks"]
_I_MILIA, _I_COMEDO, _I_VES, _I_VPAT = (IDX["milia_cysts"], IDX["comedo_openings"], IDX["vessels"],
                                        IDX["vessel_pattern"])
_I_EPI, _I_D, _I_CER = IDX["epidermal_melanin"], IDX["diameter_mm"], IDX["cerebriform"]


@njit(cache=True)
def to_pixels(fr, rf, th, fov, size):
    """Lesion-frame point (fraction of the contour radius, angle) -> pixel coordinates."""
    r = rf * radius_at(fr, ((th + math.pi) % (2 * math.pi)) - math.pi)
    u, v = r * math.cos(th), r * math.sin(th)
    cs, sn, sx, sy = fr[2], fr[3], fr[4], fr[5]
    x = fr[0] + u * sx * cs - v * sy * sn
    y = fr[1] + u * sx * sn + v * sy * cs
    return (x / fov + 0.5) * size, (y / fov + 0.5) * size


@njit(cache=True)
def stamp_disc(dst, xc, yc, r, power, amp, additive):
    """A soft round spot of radius r px, profile (1 - (d/r)^2)^power, anti-aliased to at least a pixel."""
    size = dst.shape[0]
    re = max(r, 0.6)
    for y in range(max(int(yc - re - 1), 0), min(int(yc + re + 2), size)):
        for x in range(max(int(xc - re - 1), 0), min(int(xc + re + 2), size)):
            q = ((x + 0.5 - xc) ** 2 + (y + 0.5 - yc) ** 2) / (re * re)
            if q < 1:
                v = amp * (1 - q) ** power * min(r / re, 1.0) ** 2
                if additive:
                    dst[y, x] += v
                elif v > dst[y, x]:
                    dst[y, x] = v


@njit(cache=True)
def stamp_segment(dst, x0, y0, x1, y1, r0, r1, soft, amp, additive):
    """A line from (x0, y0) to (x1, y1) whose half-width goes from r0 to r1 px, edges softened over
    `soft` px; thinner than a pixel reads fainter, as in a photo."""
    size = dst.shape[0]
    rmax = max(r0, r1) + soft + 1
    dx, dy = x1 - x0, y1 - y0
    ll = dx * dx + dy * dy + 1e-9
    for y in range(max(int(min(y0, y1) - rmax), 0), min(int(max(y0, y1) + rmax) + 1, size)):
        for x in range(max(int(min(x0, x1) - rmax), 0), min(int(max(x0, x1) + rmax) + 1, size)):
            px, py = x + 0.5, y + 0.5
            t = min(max(((px - x0) * dx + (py - y0) * dy) / ll, 0.0), 1.0)
            ex, ey = px - x0 - t * dx, py - y0 - t * dy
            dist = math.sqrt(ex * ex + ey * ey)
            r = r0 + (r1 - r0) * t
            re = max(r, 0.5)
            cov = min(max((re + 0.5 * soft - dist) / soft, 0.0), 1.0) * min(r / re, 1.0)
            if cov > 0:
                v = amp * cov
                if additive:
                    dst[y, x] += v
                elif v > dst[y, x]:
                    dst[y, x] = v


@njit(cache=True)
def structures_pass(P, seed, size, fr, pl, bits, scratch):
    fov = P[_I_FOV]
    ppm = size / fov
    epi = P[_I_EPI] / 0.8
    # -- dots and globules: regular = evenly spread and sized; irregular = clustered off-centre, mixed
    n = int(P[_I_GLOB])
    if n > 0:
        irr = P[_I_GIRR]
        scratch[:] = 0
        deep = scratch  # reuse: globules first, the deep (blue-grey) dots share the plane
        start = 2 * math.pi * rand(seed, C_GLOBULES, 0)
        sector = 2 * math.pi * rand(seed, C_GLOBULES, 1)
        for i in range(n):
            even = start + 2 * math.pi * i / n
            th = (1 - irr) * even + irr * (sector + 0.8 * randn(seed, C_GLOBULES, 10 + i)) \
                + 0.2 * randn(seed, C_GLOBULES, 200 + i)
            rf = (1 - irr) * (0.3 + 0.55 * rand(seed, C_GLOBULES, 400 + i)) \
                + irr * (0.15 + 0.9 * rand(seed, C_GLOBULES, 600 + i))
            x, y = to_pixels(fr, min(rf, 1.05), th, fov, size)
            # dots ~0.1 mm, globules up to ~0.4 mm across (LESIONS.md): brown clods, a few darker
            r = (0.05 + 0.13 * rand(seed, C_GLOBULES, 800 + i) ** 2 * (1 + irr)) * ppm
            stamp_disc(deep, x, y, r, 1.2, 0.55 + 0.45 * rand(seed, C_GLOBULES, 900 + i), False)
        for y in range(size):
            for x in range(size):
                c = scratch[y, x]
                if c > 0:
                    pl[PL_MEL, y, x] += c * 1.2 * max(epi, 0.6)
                    pl[PL_DEEP, y, x] += c * (0.1 + 0.5 * irr)
                    pl[PL_SHADE, y, x] *= 1 - 0.08 * c
                    if c > 0.3:
                        bits[y, x] |= B_GLOBULES | B_LESION
    # -- streaks and pseudopods: radial lines from inside the rim outward, clustered in one sector
    st = P[_I_STREAKS]
    if st > 0.02:
        scratch[:] = 0
        m = int(5 + 16 * st)
        centre = 2 * math.pi * rand(seed, C_STREAKS, 0)
        spread = 0.5 + 1.6 * (1 - st)
        for i in range(m):
            th = centre + spread * randn(seed, C_STREAKS, 10 + i)
            x0, y0 = to_pixels(fr, 0.85 + 0.1 * rand(seed, C_STREAKS, 100 + i), th, fov, size)
            th1 = th + 0.05 * randn(seed, C_STREAKS, 200 + i)
            x1, y1 = to_pixels(fr, 1.02 + 0.12 * rand(seed, C_STREAKS, 300 + i), th1, fov, size)
            # thin radial lines that fade outward (0.07-0.14 mm wide), some ending in a small knob
            w = (0.035 + 0.035 * rand(seed, C_STREAKS, 400 + i)) * ppm
            amp = 0.4 + 0.35 * rand(seed, C_STREAKS, 450 + i)
            stamp_segment(scratch, x0, y0, x1, y1, w, 0.6 * w, 1.2, amp, False)
            if rand(seed, C_STREAKS, 500 + i) < 0.25:  # pseudopod: a bulbous end
                stamp_disc(scratch, x1, y1, 1.5 * w + 0.4, 1.0, 0.8 * amp, False)
        for y in range(size):
            for x in range(size):
                c = scratch[y, x]
                if c > 0:
                    pl[PL_MEL, y, x] += c * 1.5 * max(epi, 0.6)
                    if c > 0.12:  # streaks are faint lines: the mask holds all of what shows
                        bits[y, x] |= B_STREAKS | B_LESION
    # -- SK: milia-like cysts (white-yellow, round) and comedo-like openings (dark crypts)
    n = int(P[_I_MILIA])
    if n > 0:
        scratch[:] = 0
        for i in range(n):
            th = 2 * math.pi * rand(seed, C_SK, 10 + i)
            x, y = to_pixels(fr, 0.8 * math.sqrt(rand(seed, C_SK, 100 + i)), th, fov, size)
            stamp_disc(scratch, x, y, (0.08 + 0.1 * rand(seed, C_SK, 200 + i)) * ppm, 0.7, 1.0, False)
        for y in range(size):
            for x in range(size):
                c = scratch[y, x]
                if c > 0 and bits[y, x] & B_LESION:
                    pl[PL_MEL, y, x] *= 1 - 0.8 * c
                    pl[PL_DEEP, y, x] *= 1 - c
                    pl[PL_SCAT, y, x] += 0.55 * c
                    pl[PL_HB, y, x] *= 1 - 0.5 * c
                    if c > 0.3:
                        bits[y, x] |= B_MILIA
    n = int(P[_I_COMEDO])
    if n > 0:
        scratch[:] = 0
        for i in range(n):
            th = 2 * math.pi * rand(seed, C_SK, 1000 + i)
            x, y = to_pixels(fr, 0.85 * math.sqrt(rand(seed, C_SK, 1100 + i)), th, fov, size)
            r = (0.07 + 0.1 * rand(seed, C_SK, 1200 + i)) * ppm
            stamp_disc(scratch, x, y, r, 0.5, 1.0, False)
            stamp_disc(scratch, x + 0.5 * r * randn(seed, C_SK, 1300 + i), y + 0.5 * r * randn(seed, C_SK, 1400 + i),
                       0.7 * r, 0.5, 1.0, False)
        for y in range(size):
            for x in range(size):
                c = scratch[y, x]
                if c > 0 and bits[y, x] & B_LESION:
                    pl[PL_MEL, y, x] += 2.5 * c
                    pl[PL_SHADE, y, x] *= 1 - 0.3 * c
    # -- vessels: dotted, hairpin (SK, with a whitish halo), irregular (melanoma), arborising
    amount = P[_I_VES]
    if amount > 0.02:
        scratch[:] = 0
        pattern = int(P[_I_VPAT])
        halo = pattern == 1
        if pattern == 0:
            k = int(4 + 70 * amount)
            cl = 2 * math.pi * rand(seed, C_VESSELS, 0)
            for i in range(k):
                th = cl + 1.2 * randn(seed, C_VESSELS, 10 + i)
                x, y = to_pixels(fr, 0.95 * math.sqrt(rand(seed, C_VESSELS, 200 + i)), th, fov, size)
                stamp_disc(scratch, x, y, (0.05 + 0.04 * rand(seed, C_VESSELS, 400 + i)) * ppm, 0.6, 1.0, False)
        elif pattern == 1:
            k = int(2 + 16 * amount)
            for i in range(k):
                th = 2 * math.pi * rand(seed, C_VESSELS, 10 + i)
                x, y = to_pixels(fr, 0.85 * math.sqrt(rand(seed, C_VESSELS, 200 + i)), th, fov, size)
                ang = 2 * math.pi * rand(seed, C_VESSELS, 400 + i)
                ln = (0.25 + 0.35 * rand(seed, C_VESSELS, 600 + i)) * ppm
                gap = 0.06 * ppm
                w = 0.06 * ppm
                ca, sa = math.cos(ang), math.sin(ang)
                for side in (-1.0, 1.0):
                    ox, oy = -sa * gap * side, ca * gap * side
                    stamp_segment(scratch, x + ox, y + oy, x + ox + ca * ln, y + oy + sa * ln, w, w, 0.8, 1.0, False)
                for j in range(6):  # the loop at the tip
                    a0 = math.pi * j / 6 - math.pi / 2
                    a1 = math.pi * (j + 1) / 6 - math.pi / 2
                    ex, ey = x + ca * ln, y + sa * ln
                    stamp_segment(scratch, ex + gap * (ca * math.cos(a0) - sa * math.sin(a0)),
                                  ey + gap * (sa * math.cos(a0) + ca * math.sin(a0)),
                                  ex + gap * (ca * math.cos(a1) - sa * math.sin(a1)),
                                  ey + gap * (sa * math.cos(a1) + ca * math.sin(a1)), w, w, 0.8, 1.0, False)
        else:
            trunks = int(1 + 5 * amount) if pattern == 2 else int(1 + 2 * amount)
            idx = 0
            for i in range(trunks):
                th = 2 * math.pi * rand(seed, C_VESSELS, 10 + i)
                x, y = to_pixels(fr, 0.8 * math.sqrt(rand(seed, C_VESSELS, 200 + i)), th, fov, size)
                ang = 2 * math.pi * rand(seed, C_VESSELS, 400 + i)
                w = (0.05 if pattern == 3 else 0.03) * ppm
                steps = 10 if pattern == 2 else 7
                for j in range(steps):
                    idx += 1
                    ang += (0.9 if pattern == 2 else 0.35) * randn(seed, C_VESSELS, 1000 + idx)
                    ln = (0.12 + 0.12 * rand(seed, C_VESSELS, 3000 + idx)) * ppm
                    nx, ny = x + math.cos(ang) * ln, y + math.sin(ang) * ln
                    w1 = w * (0.85 if pattern == 3 else 1.0 + 0.3 * randn(seed, C_VESSELS, 5000 + idx))
                    w1 = max(w1, 0.012 * ppm)
                    stamp_segment(scratch, x, y, nx, ny, w, w1, 0.8, 1.0, False)
                    if pattern == 3 and rand(seed, C_VESSELS, 7000 + idx) < 0.5:  # a branch
                        ba = ang + (0.6 + 0.5 * rand(seed, C_VESSELS, 8000 + idx)) * (1 if j % 2 else -1)
                        stamp_segment(scratch, x, y, x + math.cos(ba) * ln * 1.4, y + math.sin(ba) * ln * 1.4,
                                      0.6 * w1, 0.3 * w1, 0.8, 1.0, False)
                    x, y, w = nx, ny, w1
        for y in range(size):
            for x in range(size):
                c = scratch[y, x]
                if c > 0:
                    pl[PL_HB, y, x] += 3.5 * c * (0.5 + 0.5 * amount)
                    pl[PL_MEL, y, x] *= 1 - 0.7 * c
                    if halo:  # SK's whitish halo: on the loop's soft edge, not over the blood
                        pl[PL_SCAT, y, x] += 0.3 * c * (1 - c)
