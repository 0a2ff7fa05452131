"""What every drawing kernel shares: the packed parameter layout, counter-based random numbers and
texture-bank lookups. numba `@njit(cache=True)` with the settings of `njit` below: the same params and
seed give the same bytes on one install, whatever else the process rendered before.

Random numbers are a hash of (seed, component, index) (SplitMix64's finaliser, Steele et al., OOPSLA
2014), not a generator's state: a component's draws do not depend on how many another one made, so
changing the hair leaves the lesion as it was, and any image can be drawn alone.
"""

from __future__ import annotations

import math

import numba
import numpy as np

# The order in which `render.pack_params` writes a `LesionParams` into the float64 vector the kernels
# read. Choice parameters are written as their index, colours as one 0/1 flag each.
BROWNS = ("tan", "light_brown", "dark_brown", "black")
RARE = ("red", "white", "blue_grey")
PACKED = (
    "diameter_mm", "fov_mm", "elongation", "rotation_deg", "asymmetry", "border_irregularity", "lobes",
    "border_width", "abrupt_segments", "offset_x", "offset_y",
    *(f"colour_{c}" for c in BROWNS + RARE), "colour_layout", "epidermal_melanin", "dermal_melanin",
    "haemoglobin", "colour_variegation",
    "network", "network_atypia", "negative_network", "globules", "globule_irregularity", "streaks",
    "blue_white_veil", "regression", "vessels", "vessel_pattern", "cerebriform", "milia_cysts",
    "comedo_openings", "stuck_on", "n_lesions",
    "skin_type", "skin_texture", "erythema", "tint_a", "tint_b", "hair_count", "hair_thickness_mm",
    "hair_colour", "hair_curl", "vignette", "gel_bubbles", "ruler", "specular", "illumination_gradient",
    "skin_grain", "lens_falloff", "pigment_gaps",
)
IDX = {name: k for k, name in enumerate(PACKED)}


def njit(*args, **options):
    """`numba.njit` with the renderer's settings. nogil: an export renders on threads of one process
    (one copy of the runtime and texture bank in memory, no worker start-up). error_model "numpy": no
    zero test before each float division (a division by zero, which raised, gives inf instead).
    fastmath: ~20 % less render CPU; the bytes matched the strict build's on every image compared (310
    images and their masks at 64-384 px, both default presets), and one build gives the same bytes for
    the same params and seed in any process."""
    return numba.njit(*args, **{"nogil": True, "error_model": "numpy", "fastmath": True, **options})


# Random streams (components): one per drawing step.
C_SHAPE, C_COLOUR, C_NETWORK, C_GLOBULES, C_STREAKS, C_VEIL, C_SK, C_EXTRA = 1, 2, 3, 4, 5, 6, 7, 8
C_SKIN, C_HAIR, C_SCOPE, C_CAMERA, C_VESSELS, C_FIELDS, C_ABRUPT = 9, 10, 11, 12, 13, 14, 15

# Planes of the chromophore image every kernel writes into (channel-first float32).
PL_MEL, PL_DEEP, PL_HB, PL_SCAT, PL_SHADE, PL_SPEC, PL_HAIR = 0, 1, 2, 3, 4, 5, 6
N_PLANES = 7
# Bits of the structure mask image (uint8).
B_LESION, B_NETWORK, B_NEGATIVE, B_STREAKS, B_GLOBULES, B_MILIA, B_HAIR = 1, 2, 4, 8, 16, 32, 64

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_INV53 = 1.0 / 9007199254740992.0


@njit(cache=True)
def mix64(z):
    z = np.uint64(z)
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def rand(seed, comp, i):
    """Uniform in [0, 1) from (seed, component, index)."""
    h = mix64(np.uint64(seed) ^ mix64(np.uint64(comp) * _GOLDEN + np.uint64(i)))
    return float(h >> np.uint64(11)) * _INV53


@njit(cache=True)
def randn(seed, comp, i):
    """Standard normal (Box-Muller on two hashed uniforms)."""
    u1 = rand(seed, comp, 2 * i) + 1e-12
    u2 = rand(seed, comp, 2 * i + 1)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


@njit(cache=True)
def pixel_rand(seed, comp, i):
    """A cheaper uniform for per-pixel noise (one mix)."""
    h = mix64(np.uint64(seed) + (np.uint64(comp) << np.uint64(40)) + np.uint64(i) * _GOLDEN)
    return float(h >> np.uint64(40)) * (1.0 / 16777216.0)


@njit(cache=True)
def fast_atan2(y, x):
    """atan2 to ~1e-5 rad with a minimax polynomial (deterministic, ~4x cheaper than libm's)."""
    ax, ay = abs(x), abs(y)
    mx = max(ax, ay)
    if mx == 0.0:
        return 0.0
    a = min(ax, ay) / mx
    s = a * a
    r = ((-0.0464964749 * s + 0.15931422) * s - 0.327622764) * s * a + a
    if ay > ax:
        r = 1.57079637 - r
    if x < 0:
        r = 3.14159274 - r
    if y < 0:
        r = -r
    return r


@njit(cache=True)
def smoothstep(e0, e1, x):
    t = min(max((x - e0) / (e1 - e0), 0.0), 1.0)
    return t * t * (3.0 - 2.0 * t)


# -- texture banks: a flat float32 array holding every plane at every pyramid level ------------------

# Bank indices are cast to unsigned (they are never negative): numba adds a negative-index wrap-around
# (compare and add) to every read through a signed index, and the lesion pass reads ~40 texels a pixel;
# unsigned reads made it ~13 % faster (1.84 -> 1.60 ms per 128 px image), the same bytes.
_U = np.uint64

@njit(cache=True)
def field_setup(seed, k, plane, feature_mm, cell_px, fov, size, offsets, side, n_levels):
    """The affine map pixel -> bank texel of one random field (a rotated, shifted window whose features
    are `feature_mm` across), read at the pyramid level whose texels are about a pixel. Returns
    (start of the plane in the flat bank, level side, a, b, c, d, ox, oy) with
    texel = (a*px + b*py + ox, c*px + d*py + oy). The same `k` with another plane gives the same window."""
    tex_per_mm = cell_px / feature_mm
    tpp = tex_per_mm * fov / size  # level-0 texels per pixel
    level = 0
    while tpp > 1.5 * 2.0 ** level and level + 1 < n_levels:
        level += 1
    scale = tpp / 2.0 ** level
    ang = 2.0 * math.pi * rand(seed, C_FIELDS, 3 * k)
    cs, sn = math.cos(ang) * scale, math.sin(ang) * scale
    lside = side >> level
    ox = rand(seed, C_FIELDS, 3 * k + 1) * lside
    oy = rand(seed, C_FIELDS, 3 * k + 2) * lside
    # Centre the window on the image centre so a field is the same lesion-relative texture at any size.
    ox -= cs * size * 0.5 - sn * size * 0.5
    oy -= sn * size * 0.5 + cs * size * 0.5
    return offsets[level] + plane * lside * lside, lside, cs, -sn, sn, cs, ox, oy


@njit(cache=True)
def sample(bank, f, px, py):
    """Bilinear, wrapping lookup of field `f` (from `field_setup`) at pixel centre (px, py)."""
    base, lside, a, b, c, d, ox, oy = f
    mask = lside - 1
    tx = a * px + b * py + ox
    ty = c * px + d * py + oy
    fx = math.floor(tx)
    fy = math.floor(ty)
    wx = tx - fx
    wy = ty - fy
    x0 = int(fx) & mask
    y0 = int(fy) & mask
    x1 = (x0 + 1) & mask
    r0 = base + y0 * lside
    r1 = base + ((y0 + 1) & mask) * lside
    top = bank[_U(r0 + x0)] + (bank[_U(r0 + x1)] - bank[_U(r0 + x0)]) * wx
    bot = bank[_U(r1 + x0)] + (bank[_U(r1 + x1)] - bank[_U(r1 + x0)]) * wx
    return top + (bot - top) * wy


@njit(cache=True)
def sample2(bank, f, f2, px, py):
    """`sample` of two planes read through the same window (f2: the same field_setup `k`, another
    plane), with one set of index arithmetic."""
    base, lside, a, b, c, d, ox, oy = f
    base2 = f2[0]
    mask = lside - 1
    tx = a * px + b * py + ox
    ty = c * px + d * py + oy
    fx = math.floor(tx)
    fy = math.floor(ty)
    wx = tx - fx
    wy = ty - fy
    x0 = int(fx) & mask
    y0 = int(fy) & mask
    x1 = (x0 + 1) & mask
    o0 = y0 * lside
    o1 = ((y0 + 1) & mask) * lside
    r0, r1 = base + o0, base + o1
    top = bank[_U(r0 + x0)] + (bank[_U(r0 + x1)] - bank[_U(r0 + x0)]) * wx
    bot = bank[_U(r1 + x0)] + (bank[_U(r1 + x1)] - bank[_U(r1 + x0)]) * wx
    v1 = top + (bot - top) * wy
    r0, r1 = base2 + o0, base2 + o1
    top = bank[_U(r0 + x0)] + (bank[_U(r0 + x1)] - bank[_U(r0 + x0)]) * wx
    bot = bank[_U(r1 + x0)] + (bank[_U(r1 + x1)] - bank[_U(r1 + x0)]) * wx
    return v1, top + (bot - top) * wy


@njit(cache=True, inline="always")  # LLVM left it a call in lesion_pass's pixel loop
def sample4(bank, f, px, py):
    """`sample` of four consecutive planes (the smooth noise planes) through one window."""
    base, lside, a, b, c, d, ox, oy = f
    mask = lside - 1
    tx = a * px + b * py + ox
    ty = c * px + d * py + oy
    fx = math.floor(tx)
    fy = math.floor(ty)
    wx = tx - fx
    wy = ty - fy
    x0 = int(fx) & mask
    y0 = int(fy) & mask
    x1 = (x0 + 1) & mask
    o0 = base + y0 * lside
    o1 = base + ((y0 + 1) & mask) * lside
    step = lside * lside
    w00 = (1 - wx) * (1 - wy)
    w01 = wx * (1 - wy)
    w10 = (1 - wx) * wy
    w11 = wx * wy
    v0 = bank[_U(o0 + x0)] * w00 + bank[_U(o0 + x1)] * w01 + bank[_U(o1 + x0)] * w10 + bank[_U(o1 + x1)] * w11
    o0 += step
    o1 += step
    v1 = bank[_U(o0 + x0)] * w00 + bank[_U(o0 + x1)] * w01 + bank[_U(o1 + x0)] * w10 + bank[_U(o1 + x1)] * w11
    o0 += step
    o1 += step
    v2 = bank[_U(o0 + x0)] * w00 + bank[_U(o0 + x1)] * w01 + bank[_U(o1 + x0)] * w10 + bank[_U(o1 + x1)] * w11
    o0 += step
    o1 += step
    v3 = bank[_U(o0 + x0)] * w00 + bank[_U(o0 + x1)] * w01 + bank[_U(o1 + x0)] * w10 + bank[_U(o1 + x1)] * w11
    return v0, v1, v2, v3
