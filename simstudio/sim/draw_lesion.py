"""The lesion and the skin as chromophore maps, one pass over the pixels (numba).

Each pixel gets epidermal melanin, dermal melanin, haemoglobin and back-scatter densities (see
`optics`), a shading factor, and the bits of the structures drawn there. The lesion is a contour
r(theta) (harmonics for A and B of ABCD) whose pigment fades into the skin over a border zone whose
10-90 % width is a parameter, with segments where pigment stops abruptly (B).
"""

from __future__ import annotations

import math

import numpy as np

from simstudio.sim.kernel_base import (
    B_LESION,
    B_NEGATIVE,
    B_NETWORK,
    C_ABRUPT,
    C_COLOUR,
    C_EXTRA,
    C_SHAPE,
    IDX,
    PL_DEEP,
    PL_HB,
    PL_MEL,
    PL_SCAT,
    PL_SHADE,
    fast_atan2,
    field_setup,
    njit,
    rand,
    randn,
    sample,
    sample2,
    sample4,
    smoothstep,
)
from simstudio.sim.textures import (
    CELL_PX,
    N_LEVELS,
    SIDE,
    T_FOLLICLES,
    T_FURROWS,
    T_GRAIN,
    T_GYRI,
    T_MESH,
    T_MESH_ATYPICAL,
    T_PEPPER,
)

FRAME_LEN = 400
N_TABLE = 256
F_TABLE, F_ABRUPT, F_SAT = 100, 10, 20
# 10-90 % rise of a logistic is 2 ln 9 = 4.394 of its scale.
LOGISTIC_10_90 = 4.394

# Chromophores (epidermal melanin, dermal melanin, haemoglobin, back-scatter) of each named colour on
# fair skin without a camera cast, fitted so each reads nearest its REAL-STATS palette anchor in CIELAB
# and sits where real lesions sit against their skin (REAL-STATS: dL* -19, da* +8, db* +10):
# (each alone on Fitzpatrick I skin, no cast, renderer 6: tan ~(61, 19, 17), light brown ~(55, 23, 22), dark
# brown ~(31, 20, 18) against the anchor (29, 17, 19), black ~(20, 8, 3): brown-black; renderer 5: red
# ~(54, 35, 10), white ~(77, 7, 0); blue-grey: see the rare colours' haze). Dark brown and black carry three times the
# blood of renderer 5's: real lesions keep da* +8 over their skin however dark they are (REAL-STATS, train
# part: da* 8.8 on the darkest benign bin, dL* < -28), where renderer 5's fell to +4.5 (benign) and +0.4
# (melanoma) and read olive; renderer 5's dark brown was ~(35, 16, 25).
RECIPES = np.array([[0.45, 0.0, 0.75, 0.0], [0.65, 0.0, 1.0, 0.0], [1.5, 0.5, 3.0, 0.06], [4.0, 0.6, 2.1, 0.03],
                    [0.1, 0.0, 2.0, 0.0], [0.2, 0.25, 0.45, 0.4], [0.1, 3.5, 0.8, 0.25]])
# Melanin beyond DEEP_FROM (green OD) is partly dermal, DEEP_SHARE of the excess (junctional nests,
# melanophages). Renderer 5 used 0.25 to keep dark browns from turning yellow; the sieve effect of packaged
# melanin (`optics.SIEVE_OD`) now does that, and a quarter greyed them toward olive.
DEEP_SHARE, DEEP_FROM = 0.1, 0.6
# Epidermal melanin of Fitzpatrick I-VI skin (green optical density).
SKIN_MELANIN = np.array([0.12, 0.22, 0.38, 0.6, 1.0, 1.8])
_CS, _C_MESH = CELL_PX["smooth"], CELL_PX["mesh"]
_C_FURROWS, _C_GYRI, _C_PEPPER = CELL_PX["furrows"], CELL_PX["gyri"], CELL_PX["pepper"]
_C_GRAIN = CELL_PX["grain"]
_RARE_THRESHOLD = np.array([0.15, 0.5, -0.55])  # where a rare colour's patch starts (smooth noise, sd 1)
_RARE_MAX = np.array([0.85, 0.9, 0.8])  # at most this much of a rare colour's recipe: a haze over browns
# Noise units over which a patch rises to its full strength: real red, white and blue-grey areas are
# structureless zones that blend into the browns over a millimetre or more, not cut-out shapes.
_RARE_RISE = np.array([1.1, 0.9, 2.4])
# Blue-grey areas and the blue-white veil are large structureless zones inside the lesion (Menzies'
# criteria; Argenziano et al., JAAD 48, 2003): a field 0.75 of the radius across with a quarter of the
# blotch scale's irregularity, fading out over the outer 40 % of the radius. On the blotch scale alone
# (0.32 of the radius) they were confetti of cut-out patches, some floating at the rim.
ZONE_SCALE, ZONE_DETAIL = 0.75, 0.25

_I_D, _I_FOV, _I_EL, _I_ROT = IDX["diameter_mm"], IDX["fov_mm"], IDX["elongation"], IDX["rotation_deg"]
_I_ASYM, _I_IRR, _I_LOBES = IDX["asymmetry"], IDX["border_irregularity"], IDX["lobes"]
_I_BW, _I_AB, _I_OX, _I_OY = IDX["border_width"], IDX["abrupt_segments"], IDX["offset_x"], IDX["offset_y"]
_I_COL0, _I_LAYOUT = IDX["colour_tan"], IDX["colour_layout"]
_I_EPI, _I_DERM, _I_HB, _I_VAR = (IDX["epidermal_melanin"], IDX["dermal_melanin"], IDX["haemoglobin"],
                                  IDX["colour_variegation"])
_I_NET, _I_ATYP, _I_NEG = IDX["network"], IDX["network_atypia"], IDX["negative_network"]
_I_VEIL, _I_REG, _I_CER = IDX["blue_white_veil"], IDX["regression"], IDX["cerebriform"]
_I_STUCK, _I_NLES = IDX["stuck_on"], IDX["n_lesions"]
_I_GAPS = IDX["pigment_gaps"]
# Pigment gaps: where a smooth field (sd 1) passes GAP_FROM the pigment starts to thin, and by GAP_FULL it keeps
# only 1 - GAP_MEL of its melanin at pigment_gaps = 1, which leaves fair skin's own (real melanomas are often
# multicomponent, with light, skin-coloured areas between the pigmented ones: Argenziano et al., JAAD 48, 2003).
GAP_FROM, GAP_FULL, GAP_MEL, GAP_SCALE = -0.3, 1.5, 0.8, 0.55
_I_SKIN, _I_TEX, _I_ERY, _I_SGRAIN = IDX["skin_type"], IDX["skin_texture"], IDX["erythema"], IDX["skin_grain"]
# Skin grain at skin_grain = 1: haemoglobin and melanin modulation per unit of the grain noise (sd 1). Real
# skin under a dermoscope is finely speckled (derm-real, train part: skin L* detail 0.45 RMS at 0.25-0.5 mm
# where renderer 6's skin had 0.27 and the built-in preset's skin_grain 0.25-0.75 gives 0.43).
GRAIN_HB, GRAIN_MEL = 0.2, 0.24
SKIN_GRAIN_MM = 0.35


@njit(cache=True)
def lesion_frame(P, seed):
    """Geometry of the lesion(s) as a float64 vector: centre, rotation, stretch, radius table r(theta),
    border scale, abrupt segments, satellite lesions."""
    fr = np.zeros(FRAME_LEN)
    R = P[_I_D] / 2
    fr[0] = P[_I_OX] * P[_I_FOV]
    fr[1] = P[_I_OY] * P[_I_FOV]
    rot = math.radians(P[_I_ROT])
    fr[2], fr[3] = math.cos(rot), math.sin(rot)
    fr[4] = math.sqrt(P[_I_EL])
    fr[5] = 1 / fr[4]
    fr[6] = R
    # Harmonics: low orders break symmetry (A), high orders and lobes make the border irregular (B).
    asym, irr, lobes = P[_I_ASYM], P[_I_IRR], int(P[_I_LOBES])
    amp = np.zeros(16)
    ph = np.zeros(16)
    for k in range(1, 16):
        ph[k] = 2 * math.pi * rand(seed, C_SHAPE, k)
        z = abs(randn(seed, C_SHAPE, 100 + k))
        if k <= 3:
            # up to the mirror asymmetry of real melanomas (REAL-STATS IQR 0.20-0.51, tail past 0.9)
            amp[k] = (0.02 + 0.2 * asym) * z / k ** 0.5
        else:
            amp[k] = (0.01 + 0.06 * irr * irr) * z / (k / 4.0) ** 1.3
    if lobes >= 2:
        amp[lobes] += 0.05 + 0.04 * rand(seed, C_SHAPE, 200)
    rsum = 0.0
    for j in range(N_TABLE):
        th = -math.pi + 2 * math.pi * j / N_TABLE
        r = 1.0
        for k in range(1, 16):
            r += amp[k] * math.cos(k * th + ph[k])
        r = max(r, 0.3)
        fr[F_TABLE + j] = r
        rsum += r * r
    norm = R / math.sqrt(rsum / N_TABLE)  # keep the area of a disc of diameter D
    rmax = 0.0
    for j in range(N_TABLE):
        fr[F_TABLE + j] *= norm
        rmax = max(rmax, fr[F_TABLE + j])
    fr[F_TABLE + N_TABLE] = fr[F_TABLE]  # wrap for interpolation
    # Border zone: logistic scale whose 10-90 % rise is border_width of the diameter; SK's stuck-on
    # border is sharp on purpose.
    px_mm = P[_I_FOV] / 1024.0
    s = P[_I_BW] * 2 * R / LOGISTIC_10_90 * (1 - 0.92 * P[_I_STUCK])
    fr[7] = max(s, px_mm)
    fr[8] = rmax * max(fr[4], fr[5]) + 5 * fr[7] + 0.5  # beyond 5 border scales < 0.7 % of the pigment
    # Abrupt segments: which of the 8 (a random choice of `abrupt_segments` of them).
    n_ab = int(P[_I_AB])
    keys = np.zeros(8)
    for j in range(8):
        keys[j] = rand(seed, C_ABRUPT, j)
    order = np.argsort(keys)
    for j in range(n_ab):
        fr[F_ABRUPT + order[j]] = 1.0
    # Satellite lesions (SK often several in one field): centre, radius, two harmonics.
    n_sat = int(P[_I_NLES]) - 1
    fr[9] = n_sat
    for k in range(n_sat):
        b = F_SAT + 8 * k
        ang = 2 * math.pi * rand(seed, C_EXTRA, 10 * k)
        dist = (0.9 + 0.7 * rand(seed, C_EXTRA, 10 * k + 1)) * R + 0.5 + 1.5 * rand(seed, C_EXTRA, 10 * k + 2)
        fr[b] = fr[0] + dist * math.cos(ang)
        fr[b + 1] = fr[1] + dist * math.sin(ang)
        fr[b + 2] = R * (0.3 + 0.3 * rand(seed, C_EXTRA, 10 * k + 3))
        fr[b + 3] = fr[7] * fr[b + 2] / R
        fr[b + 4] = 0.12 * rand(seed, C_EXTRA, 10 * k + 4)
        fr[b + 5] = 2 * math.pi * rand(seed, C_EXTRA, 10 * k + 5)
        fr[b + 6] = 0.08 * rand(seed, C_EXTRA, 10 * k + 6)
        fr[b + 7] = 2 * math.pi * rand(seed, C_EXTRA, 10 * k + 7)
    return fr


@njit(cache=True)
def radius_at(fr, th):
    q = (th + math.pi) * (N_TABLE / (2 * math.pi))
    j = min(int(q), N_TABLE - 1)
    w = q - j
    return fr[F_TABLE + j] * (1 - w) + fr[F_TABLE + j + 1] * w


@njit(cache=True)
def abrupt_at(fr, th):
    """1 inside an abrupt segment, 0 elsewhere, with a short smooth change between segments."""
    q = (th + math.pi) * (8 / (2 * math.pi)) - 0.5
    j = int(math.floor(q))
    w = q - j
    w = w * w * (3 - 2 * w)
    return fr[F_ABRUPT + (j % 8)] * (1 - w) + fr[F_ABRUPT + ((j + 1) % 8)] * w


@njit(cache=True)
def lesion_pass(P, seed, size, fr, bank, offsets, pl, bits):
    """Skin and lesion chromophores and the lesion/network bits of every pixel."""
    fov = P[_I_FOV]
    fov / size
    R = fr[6]
    cx, cy, cs, sn, sx, sy = fr[0], fr[1], fr[2], fr[3], fr[4], fr[5]
    s_border = fr[7]
    reach = fr[8]
    n_sat = int(fr[9])
    irr = P[_I_IRR]
    stuck = P[_I_STUCK]
    k = 0

    f_mott = field_setup(seed, 39, 3, 1.6, _CS, fov, size, offsets, SIDE, N_LEVELS)
    f_furrow = field_setup(seed, 36, T_FURROWS, 1.8, _C_FURROWS, fov, size, offsets, SIDE, N_LEVELS)
    f_foll = field_setup(seed, 36, T_FOLLICLES, 1.8, _C_FURROWS, fov, size, offsets, SIDE, N_LEVELS)
    # Two windows of the four smooth planes serve every lesion-scale field (one lookup each):
    # w1 = (border raggedness, blotches, red patches, white patches and regression),
    # w2 = (variegation, blue-grey detail, network patchiness / negative network, veil detail); the blue-grey
    # and veil zones themselves come from a coarser window (ZONE_SCALE).
    f_w1 = field_setup(seed, 41, 0, max(R * 0.45, 0.5), _CS, fov, size, offsets, SIDE, N_LEVELS)
    f_w2 = field_setup(seed, 43, 0, max(R * 0.32, 0.4), _CS, fov, size, offsets, SIDE, N_LEVELS)
    f_zone = field_setup(seed, 45, 0, max(R * ZONE_SCALE, 0.8), _CS, fov, size, offsets, SIDE, N_LEVELS)
    zone_norm = 1 / math.sqrt(1 + ZONE_DETAIL * ZONE_DETAIL)
    f_rag2 = field_setup(seed, 42, 1, 0.25, _CS, fov, size, offsets, SIDE, N_LEVELS)
    # a middle octave between blotches and granules: clods and uneven density, not airbrushed patches
    f_mid = field_setup(seed, 44, 2, max(R * 0.12, 0.25), _CS, fov, size, offsets, SIDE, N_LEVELS)
    atyp = P[_I_ATYP]
    f_net = field_setup(seed, 48, T_MESH, 0.42, _C_MESH, fov, size, offsets, SIDE, N_LEVELS)
    f_neta = field_setup(seed, 48, T_MESH_ATYPICAL, 0.42, _C_MESH, fov, size, offsets, SIDE, N_LEVELS)
    f_neg = field_setup(seed, 51, T_MESH, 0.75, _C_MESH, fov, size, offsets, SIDE, N_LEVELS)
    f_pep = field_setup(seed, 55, T_PEPPER, 0.1, _C_PEPPER, fov, size, offsets, SIDE, N_LEVELS)
    f_gyri = field_setup(seed, 56, T_GYRI, 1.5, _C_GYRI, fov, size, offsets, SIDE, N_LEVELS)
    # granules ~0.2 mm apart: resolved at 224 px (the 0.1 mm pepper of regression averages out there)
    f_gran = field_setup(seed, 57, T_PEPPER, 0.2, _C_PEPPER, fov, size, offsets, SIDE, N_LEVELS)
    f_grain = field_setup(seed, 58, T_GRAIN, 0.25, _C_GRAIN, fov, size, offsets, SIDE, N_LEVELS)
    f_skin_grain = field_setup(seed, 59, T_GRAIN, SKIN_GRAIN_MM, _C_GRAIN, fov, size, offsets, SIDE, N_LEVELS)
    gaps = P[_I_GAPS]
    f_gaps = field_setup(seed, 61, 1, max(R * GAP_SCALE, 0.5), _CS, fov, size, offsets, SIDE, N_LEVELS)

    # Colours present: browns (light to dark) make the ramp; rare colours come as patches.
    nb = 0
    ramp = np.zeros((4, 4))
    for j in range(4):
        if P[_I_COL0 + j] > 0.5:
            ramp[nb] = RECIPES[j]
            nb += 1
    rare = np.zeros(3)
    for j in range(3):
        rare[j] = P[_I_COL0 + 4 + j]
    if nb == 0:  # only rare colours: a faint tan base under large patches
        ramp[0] = RECIPES[0] * 0.6
        nb = 1
    layout = int(P[_I_LAYOUT])
    has_black = P[_I_COL0 + 3] > 0.5 and nb > 1
    epi = P[_I_EPI] / 0.8
    derm, hb_les, var = P[_I_DERM], P[_I_HB], P[_I_VAR]
    net, neg, veil, reg, cer = P[_I_NET], P[_I_NEG], P[_I_VEIL], P[_I_REG], P[_I_CER]
    zones = rare[2] > 0.5 or veil > 0.02
    # Colour asymmetry: a tilt of the colour ramp across the lesion in a random direction.
    tilt = 0.5 * P[_I_ASYM]
    tang = 2 * math.pi * rand(seed, C_COLOUR, 1)
    tcx, tsn = math.cos(tang) * tilt, math.sin(tang) * tilt
    skin_mel = SKIN_MELANIN[int(P[_I_SKIN]) - 1]
    ery = P[_I_ERY]
    tex = P[_I_TEX]
    skin_hb = 0.22 + 0.4 * ery
    sgrain = P[_I_SGRAIN]
    # the melanin speckle keeps fair skin's absolute depth on darker skin: in proportion to the skin's melanin
    # it blotched types III-VI like camouflage, where darker skin under a dermoscope is evenly pigmented
    grain_mel = GRAIN_MEL * min(1.0, SKIN_MELANIN[1] / skin_mel)
    rag_amp = (0.03 + 0.13 * irr * irr) * R
    # clumped melanin (0.2 mm granules): visible in atypical lesions, but as texture, not a sponge of specks
    gran = 0.55 * atyp * (0.5 + 0.5 * var)
    # every lesion is grainy at the pixel scale (melanin in keratinocyte clumps); atypical ones more so
    grain_amp = (0.05 + 0.12 * atyp) * (1 - 0.5 * P[_I_NET])  # where a network is, it is the texture

    for y in range(size):
        py = y + 0.5
        ymm = (py / size - 0.5) * fov
        for x in range(size):
            px = x + 0.5
            xmm = (px / size - 0.5) * fov
            # -- skin: melanin, mottled haemoglobin, skin lines and follicles
            mott = sample(bank, f_mott, px, py)
            # faint mottling: under a contact dermoscope's gel, skin reads even, not cloudy
            me = skin_mel * (1 + 0.04 * mott)
            hb = skin_hb * (1 + (0.04 + 0.09 * ery) * mott)
            if sgrain > 0:  # (a branch, not a zero factor: 0 draws renderer 6's bytes and saves the lookup)
                g = sgrain * sample(bank, f_skin_grain, px, py)
                hb *= 1 + GRAIN_HB * g
                me *= 1 + grain_mel * g
            furrow, foll = sample2(bank, f_furrow, f_foll, px, py)
            # skin lines read as fine whitish lines in dermoscopy (gel and scatter in the furrows)
            shade = 1 - tex * 0.03 * furrow
            # faint and uneven: a lattice of even white lines reads as cracked glaze, not skin
            # (0.04: some back-scatter everywhere, skin under gel is pale)
            sc = 0.04 + tex * 0.26 * furrow * max(0.6 + 0.6 * mott, 0.0)
            md = 0.0
            me += tex * 0.5 * foll * skin_mel
            shade *= 1 - tex * 0.3 * foll
            b = 0
            # -- lesion
            dx, dy = xmm - cx, ymm - cy
            if dx * dx + dy * dy < reach * reach or n_sat > 0:
                u = (dx * cs + dy * sn) / sx
                v = (dy * cs - dx * sn) / sy
                rho = math.sqrt(u * u + v * v)
                th = fast_atan2(v, u)
                r = radius_at(fr, th)
                w1a, w1b, w1c, w1d = sample4(bank, f_w1, px, py)
                d = rho - r + w1a * rag_amp
                s = s_border * (1 - 0.75 * abrupt_at(fr, th))
                if abs(d) < 4 * s + 0.1 * R:
                    d += sample(bank, f_rag2, px, py) * (0.004 + 0.015 * irr) * R * (1 - stuck)
                t = rho / r
                for q in range(n_sat):
                    o = F_SAT + 8 * q
                    ddx, ddy = xmm - fr[o], ymm - fr[o + 1]
                    uu = (ddx * cs + ddy * sn) / sx
                    vv = (ddy * cs - ddx * sn) / sy
                    rr = math.sqrt(uu * uu + vv * vv)
                    tt = fast_atan2(vv, uu)
                    r2 = fr[o + 2] * (1 + fr[o + 4] * math.cos(2 * tt + fr[o + 5])
                                      + fr[o + 6] * math.cos(3 * tt + fr[o + 7]))
                    d2 = rr - r2
                    if d2 / fr[o + 3] < d / s:
                        d, s, t = d2, fr[o + 3], rr / r2
                z = d / s
                if z < 6:  # beyond, under 0.25 % of the pigment: not worth a pixel's work
                    f = 1 / (1 + math.exp(z))
                    if d < 0:
                        b |= B_LESION
                    # colour ramp position
                    nvar, w2b, w2c, w2d = sample4(bank, f_w2, px, py)
                    mid = sample(bank, f_mid, px, py)
                    if layout == 1:
                        zc = 1.1 - 0.95 * t + 0.25 * nvar
                    elif layout == 2:
                        zc = 0.5 + (0.25 + 0.25 * var) * w1b + 0.15 * nvar
                    else:
                        zc = 0.5 + 0.12 * nvar
                    # a regular lesion keeps its browns close; a variegated one spreads them
                    zc = 0.5 + (zc - 0.5) * (0.45 + 0.45 * var) + (u * tcx + v * tsn) / R + 0.1 * var * mid
                    zc = min(max(zc, 0.0), 1.0)
                    if has_black:  # black is a dark touch at the darkest end, not half the lesion
                        zc = min(1.2 * zc, 1.0)
                        zc = zc * math.sqrt(zc)
                    qz = zc * (nb - 1)
                    j0 = min(int(qz), nb - 1)
                    j1 = min(j0 + 1, nb - 1)
                    wq = qz - j0
                    lme = ramp[j0, 0] * (1 - wq) + ramp[j1, 0] * wq
                    lmd = ramp[j0, 1] * (1 - wq) + ramp[j1, 1] * wq
                    lhb = ramp[j0, 2] * (1 - wq) + ramp[j1, 2] * wq
                    lsc = ramp[j0, 3] * (1 - wq) + ramp[j1, 3] * wq
                    if nb == 1:
                        lme *= 0.75 + 0.5 * zc
                    lme *= epi * (1 + var * 0.3 * nvar)
                    # dense pigment sits deeper too (junctional nests, melanophages): real lesions do not get
                    # yellower as they darken (REAL-STATS: db* does not follow dL*), which pure epidermal
                    # melanin would make them
                    lmd += DEEP_SHARE * max(lme - DEEP_FROM, 0.0)
                    lhb += hb_les * 1.5 * (0.8 + 0.25 * mott)
                    # dermal melanin gathers in zones (blue-grey areas beside pure browns); spread evenly
                    # under the whole lesion it greys every brown into olive
                    lmd += derm * 2.2 * (0.15 + 1.3 * smoothstep(-0.4, 0.8, nvar))
                    lsc += derm * 0.05
                    # Variegated lesions fade out toward parts of their rim (a soft, partly-fading border)
                    if t > 0.55:
                        rf = 0.35 * var * min(max(0.6 + 0.5 * w2d, 0.0), 1.0)
                        fade = 1 - rf * min((t - 0.55) * 2.2, 1.0)
                        lme *= fade
                        lhb *= fade  # the fading part is thinner lesion, not a patch of blood
                    # Fine granularity (melanin clumped in keratinocytes and melanophages): real atypical
                    # lesions are grainy at the pixel scale, not smooth airbrush.
                    grain = 0.0
                    if z < 4:  # (beyond z = 4 under 2 % of the pigment is left)
                        grain = sample(bank, f_grain, px, py)
                        lme *= max(1 + grain_amp * grain, 0.3)
                        if gran > 0.1:
                            lme *= 1 + gran * (1.6 * sample(bank, f_gran, px, py) - 0.35)
                    lme *= 1 + 0.12 * mid
                    zbg = zveil = inner = 0.0
                    if zones:
                        inner = 1 - smoothstep(0.6, 1.0, t)
                        if inner > 0:
                            za, zb, _, _ = sample4(bank, f_zone, px, py)
                            zbg = (za + ZONE_DETAIL * w2b) * zone_norm
                            zveil = (zb + ZONE_DETAIL * w2d) * zone_norm
                    # rare colours as hazy patches that fade out and never fully replace the browns
                    for j in range(3):
                        if rare[j] > 0.5:
                            nr = w1c if j == 0 else w1d if j == 1 else zbg
                            pa = _RARE_MAX[j] * smoothstep(_RARE_THRESHOLD[j], _RARE_THRESHOLD[j] + _RARE_RISE[j], nr)
                            if j == 2:
                                pa *= inner
                            pa *= 0.8 + 0.2 * nvar
                            if pa > 0:
                                rec = RECIPES[4 + j]
                                # browns show through a rare colour's haze rather than leaving a hole: a
                                # tenth of them. Renderer 6 kept 45 % under blue-grey, which read olive-grey
                                # (0.8 of the recipe over light brown (49, 1, 1) in CIELAB, over dark brown
                                # (41, 1, 11)) where real blue-grey areas are steel- to violet-blue (REAL-STATS
                                # anchor (52, 2, -15)); now (53, 1, -9) and (48, 0, -2), about as blue as this
                                # optical model makes deep melanin.
                                lme += (rec[0] - lme) * pa * 0.9
                                lmd += (rec[1] - lmd) * pa
                                if j > 0:  # blue-grey and white (regression) are peppered with grey granules
                                    lmd += 0.9 * pa * sample(bank, f_gran, px, py)
                                lhb += (rec[2] - lhb) * pa
                                lsc += (rec[3] - lsc) * pa
                    # pigment network: typical thins toward the rim, atypical is thick, grey and stops
                    if net > 0.02:
                        lt, la = sample2(bank, f_net, f_neta, px, py)
                        line = lt * (1 - atyp) + la * atyp
                        fade_t = min(max(1.25 - t, 0.0), 1.0)
                        fade_a = min(max((1.02 - t) * 12, 0.0), 1.0)
                        # a network shows in parts of a lesion and fades between them (patchy even when
                        # typical), and its lines are fine texture on the browns, not a honeycomb overlay
                        patch = min(max((w2c + 0.6) * 3, 0.0), 1.0)
                        patch_t = min(max((w2c + 0.9) * 1.2, 0.15), 1.0)
                        w = 0.42 * net * ((1 - atyp) * fade_t * patch_t + atyp * fade_a * patch)
                        lme *= 1 + w * (1.8 * line - 0.55)
                        lmd += w * atyp * line * 0.5
                        if w > 0.1 and d < 0:
                            b |= B_NETWORK
                    if neg > 0.02:
                        region = min(max((0.2 - w2c) * 2.5, 0.0), 1.0)
                        w = neg * region * min(max(-z, 0.0), 1.0)  # only inside the lesion's edge
                        if w > 0:
                            ln = sample(bank, f_neg, px, py)
                            lme *= (1 + 0.5 * w) * (1 - 0.8 * w * ln)
                            if w > 0.15 and d < 0:
                                b |= B_NEGATIVE
                    if veil > 0.02:
                        # a bluish-white haze over thinned browns (orthokeratosis over dermal melanin)
                        region = min(max((zveil + 0.2) * 0.7, 0.0), 0.8) * veil * inner
                        lmd += 2.2 * region
                        lsc += 0.45 * region
                        lme *= 1 - 0.6 * region
                    if reg > 0.02:
                        region = min(max((w1d - 0.2) * 0.6, 0.0), 0.7) * reg
                        if region > 0:
                            pep = sample(bank, f_pep, px, py)
                            lme *= 1 - 0.6 * region
                            lhb *= 1 - 0.2 * region
                            lsc += 0.25 * region
                            lmd = lmd * (1 - region) + region * 3.0 * pep
                    if cer > 0.02:
                        # fissures and ridges come and go across an SK (patchy, of varying width), not
                        # one even maze
                        g = sample(bank, f_gyri, px, py)
                        cl = cer * min(max(0.6 + 0.45 * w2c, 0.2), 1.0)
                        fis = max(1 - abs(g) * max(0.8 + 0.4 * w1b, 0.5), 0.0)
                        fis *= math.sqrt(fis)
                        ridge = min(max(abs(g) - 0.8, 0.0), 1.0)
                        lme *= 1 + cl * (1.6 * fis - 0.2 * ridge)
                        lsc += cl * 0.12 * ridge
                        shade *= 1 - cl * 0.2 * fis
                    if gaps > 0:  # (a branch, not a zero factor: 0 draws the bytes of presets from before it)
                        thin = gaps * smoothstep(GAP_FROM, GAP_FULL, sample(bank, f_gaps, px, py))
                        lme *= 1 - GAP_MEL * thin
                        lmd *= 1 - thin
                        lhb *= 1 - 0.5 * thin  # the gaps stay a little pink: thinned lesion, not scar
                        lsc *= 1 - thin
                        if thin > 0.6:  # no network left to see there: keep it out of the attribute masks
                            b &= ~(B_NETWORK | B_NEGATIVE)
                    lme = max(lme - 0.25, 0.0)  # the recipes include fair skin's own melanin
                    me += f * lme
                    md += f * lmd
                    # blood follows the pigment into the lesion: a faint rim is brown, not a pink halo
                    hb += f * f * (lhb - hb)
                    sc += f * lsc
            pl[PL_MEL, y, x] = me
            pl[PL_DEEP, y, x] = md
            pl[PL_HB, y, x] = hb
            pl[PL_SCAT, y, x] = sc
            pl[PL_SHADE, y, x] = shade
            bits[y, x] = b
            k += 1
