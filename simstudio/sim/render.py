"""`render_lesion`: draw one dermoscopic lesion from `LesionParams` with numpy and OpenCV.

The picture is composed in CIELAB (skin, then pigment layers, then structures, then scope artefacts) and
converted to RGB once, before the camera effects (blur, noise, JPEG). Every random choice comes from a
child generator of the seed per component (shape, colour, structures, skin, hair, ...), so changing one
parameter leaves the rest of the picture as it was: counterfactual sweeps compare like with like.
Everything is in millimetres of skin, so one seed draws the same lesion at 32 px and at 512 px.
"""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np

from simstudio.sim.params import COLOURS, LesionParams

MIN_SIZE, MAX_SIZE = 32, 512

# At these image sizes OpenCV's thread pool costs more than it saves (and stalls under load); the
# exporter gets its parallelism from processes instead.
cv2.setNumThreads(1)

# Fitzpatrick I-VI skin as CIELAB of a dermoscopic photo (REAL-STATS.md: skin L* 55-82, median ~66;
# the a*, b* spread in real sets is mostly the camera cast, added separately via tint_a / tint_b).
_SKIN_LAB = np.array([[76, 10, 12], [70, 11, 14], [63, 12, 17], [54, 12, 19], [42, 11, 18], [31, 9, 13]],
                     np.float32)
_HAIR_LAB = {"black": (12, 1, 1), "dark_brown": (20, 5, 8), "brown": (32, 9, 15), "blond": (62, 6, 24),
             "grey": (55, 0, 2)}
_RARE = {"black": 0.7, "blue_grey": 1.1, "red": 1.1, "white": 1.4}
_COMPONENTS = ("shape", "colour", "network", "globules", "streaks", "veil", "sk", "extra", "skin", "hair",
               "artefacts", "camera")


def render_lesion(params: LesionParams, size: int = 128, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The RGB image (uint8, size×size×3) and lesion mask (bool, size×size) of `params` under `seed`."""
    params.validate()
    if not isinstance(size, (int, np.integer)) or not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"size = {size!r} is out of range: expected an integer in [{MIN_SIZE}, {MAX_SIZE}] px")
    rngs = dict(zip(_COMPONENTS, (np.random.default_rng(s) for s in
                                  np.random.SeedSequence(abs(int(seed))).spawn(len(_COMPONENTS))),
                    strict=True))
    p = params
    ppm = size / p.fov_mm  # pixels per millimetre
    xx, yy = _grid(size)
    X, Y = xx * p.fov_mm, yy * p.fov_mm  # mm, image centre at 0

    lab = _skin(p, rngs["skin"], size, X, Y, ppm)

    # -- the lesion(s) --------------------------------------------------------------------------------
    R = p.diameter_mm / 2
    cx, cy = p.offset_x * p.fov_mm, p.offset_y * p.fov_mm
    shape = _Shape(p, rngs["shape"], X, Y, cx, cy, R, rngs["streaks"])
    sigma = max(p.border_blur * (1 - 0.85 * p.stuck_on) * R, 0.6 / ppm)
    edge_noise = _noise(rngs["shape"], size, p.fov_mm / 1.2) * 0.35 * sigma
    alpha = _soft_inside(shape.d + edge_noise, sigma)
    mask = shape.d < 0
    t = shape.t
    extra = rngs["extra"]
    for _ in range(p.n_lesions - 1):
        ang = extra.uniform(0, 2 * math.pi)
        dist = extra.uniform(0.9, 1.6) * R + extra.uniform(0.5, 2.0)
        r2 = R * extra.uniform(0.3, 0.6)
        s2 = _Shape(p, extra, X, Y, cx + dist * math.cos(ang), cy + dist * math.sin(ang), r2)
        a2 = _soft_inside(s2.d, max(sigma * r2 / R, 0.6 / ppm))
        take = a2 > alpha
        t = np.where(take, s2.t, t)
        alpha = np.maximum(alpha, a2)
        mask |= s2.d < 0

    lab = _pigment(p, rngs["colour"], lab, alpha, t, size)
    if p.network > 0.02:
        lab = _network(p, rngs["network"], lab, alpha, t, size, X, Y)
    if p.cerebriform > 0.02:
        lab = _cerebriform(p, rngs["sk"], lab, alpha, size)
    if p.blue_white_veil > 0.02 or p.regression > 0.02:
        lab = _veil_and_regression(p, rngs["veil"], lab, alpha, size, ppm, shape)
    if p.globules > 0 or p.milia_cysts > 0:
        lab = _dots_and_cysts(p, rngs["globules"], rngs["sk"], lab, size, ppm, shape)

    # -- acquisition: hair, glare, bubbles, ruler, light ----------------------------------------------
    if p.hair_count > 0:
        lab = _hair(p, rngs["hair"], lab, size, ppm)
    lab = _scope(p, rngs["artefacts"], lab, size, ppm, xx, yy)
    rgb = _lab_to_rgb8(lab, p.tint_a, p.tint_b)
    rgb = _camera(p, rngs["camera"], rgb, ppm)
    return rgb, mask


@functools.lru_cache(maxsize=16)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centres as fractions of the image width, centred on 0 (shared, read-only)."""
    c = (np.arange(size, dtype=np.float32) + 0.5) / size - 0.5
    xx, yy = np.meshgrid(c, c)
    xx.setflags(write=False)
    yy.setflags(write=False)
    return xx, yy


def _noise(rng: np.random.Generator, size: int, cells: float) -> np.ndarray:
    """A smooth random field (about unit variance) with `cells` features across the image.

    The random grid depends only on `cells`, not on `size`, so the same seed gives the same field at
    every resolution (it is only resampled)."""
    n = int(np.clip(round(cells), 2, 96))
    g = rng.standard_normal((n + 1, n + 1)).astype(np.float32)
    if n >= size // 2:
        return cv2.resize(g, (size, size), interpolation=cv2.INTER_AREA)
    # Cubic upsampling of white noise keeps about 0.8 of its spread; scale back to unit variance.
    return cv2.resize(g, (size, size), interpolation=cv2.INTER_CUBIC) * np.float32(1.25)


def _blend(lab: np.ndarray, colour: np.ndarray, opacity: np.ndarray) -> np.ndarray:
    """lab + (colour - lab) * opacity, in place: the over-operator without temporaries."""
    diff = colour - lab
    diff *= opacity
    lab += diff
    return lab


def _soft_inside(d: np.ndarray, sigma: float) -> np.ndarray:
    """Pigment opacity across the border: a logistic step with the spread of a Gaussian of `sigma` mm."""
    z = np.clip(d * (1.7 / sigma), -30, 30)
    return 1.0 / (1.0 + np.exp(z, dtype=np.float32))


class _Shape:
    """Signed radial distance to a lesion contour r(θ) built from harmonics (A and B of ABCD)."""

    def __init__(self, p: LesionParams, rng: np.random.Generator, X, Y, cx: float, cy: float, R: float,
                 rng_streaks: np.random.Generator | None = None):
        self.cx, self.cy, self.R = cx, cy, R
        self.rot = math.radians(p.rotation_deg)
        self.sx, self.sy = math.sqrt(p.elongation), 1 / math.sqrt(p.elongation)
        c, s = math.cos(self.rot), math.sin(self.rot)
        dx, dy = X - cx, Y - cy
        u = (dx * c + dy * s) / self.sx
        v = (-dx * s + dy * c) / self.sy
        rho = np.sqrt(u * u + v * v)
        theta = np.arctan2(v, u)
        self.table = _radius_table(p, rng, R, rng_streaks)
        r = _lookup(self.table, theta)
        self.d = rho - r
        self.t = rho / np.maximum(r, 1e-3)

    def to_image(self, rho_frac: np.ndarray, theta: np.ndarray, ppm: float, size: int):
        """Points given in the lesion's own frame (fraction of the local radius, angle) as pixel x, y."""
        r = _lookup(self.table, np.asarray(theta, np.float32)) * rho_frac
        u, v = r * np.cos(theta) * self.sx, r * np.sin(theta) * self.sy
        c, s = math.cos(self.rot), math.sin(self.rot)
        x = u * c - v * s + self.cx
        y = u * s + v * c + self.cy
        return x * ppm + size / 2, y * ppm + size / 2


def _lookup(table: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Linear interpolation of a periodic table sampled on [-pi, pi) at angles `theta`."""
    n = table.size
    pos = (theta + np.float32(math.pi)) * np.float32(n / (2 * math.pi))
    i0 = np.floor(pos)
    frac = pos - i0
    i0 = i0.astype(np.int32) % n
    ext = np.append(table, table[0])
    return ext[i0] * (1 - frac) + ext[i0 + 1] * frac


def _radius_table(p: LesionParams, rng: np.random.Generator, R: float,
                  rng_streaks: np.random.Generator | None = None, n: int = 256) -> np.ndarray:
    th = np.linspace(-math.pi, math.pi, n, endpoint=False)
    r = np.ones(n)
    # Asymmetry: odd harmonics and a low-order bulge break both mirror axes (REAL-STATS: 0.16 vs 0.31).
    for k, amp in ((1, 0.16), (2, 0.10), (3, 0.13)):
        r += p.asymmetry * amp * rng.uniform(0.6, 1.0) * np.cos(k * th + rng.uniform(0, 2 * math.pi))
    if p.lobes > 0:
        depth = 0.05 + 0.08 * p.border_irregularity
        r += depth * np.cos(p.lobes * th + rng.uniform(0, 2 * math.pi)) * (1 + 0.5 * rng.standard_normal())
    if p.streaks > 0.02 and rng_streaks is not None:
        # Pseudopods / streaks: narrow fingers of pigment pushing out of the rim, clustered on one side.
        n = int(3 + 10 * p.streaks)
        centre = rng_streaks.uniform(-math.pi, math.pi)
        for ang in centre + rng_streaks.normal(0, 0.4 + 1.2 * (1 - p.streaks), n):
            dth = np.angle(np.exp(1j * (th - ang)))
            r += rng_streaks.uniform(0.08, 0.22) * np.exp(-0.5 * (dth / rng_streaks.uniform(0.03, 0.06)) ** 2)
    # Border irregularity: notches and ragged edges as a 1/k spectrum of higher harmonics.
    ks = np.arange(4, 29)
    amps = p.border_irregularity * 0.16 / ks * rng.standard_normal(ks.size)
    phases = rng.uniform(0, 2 * math.pi, ks.size)
    r += (amps[:, None] * np.cos(ks[:, None] * th[None, :] + phases[:, None])).sum(0)
    return (np.maximum(r, 0.3) * R).astype(np.float32)


def _skin(p: LesionParams, rng, size, X, Y, ppm) -> np.ndarray:
    base = _SKIN_LAB[p.skin_type - 1]
    lab = np.empty((size, size, 3), np.float32)
    low = _noise(rng, size, p.fov_mm / 6)
    red = _noise(rng, size, p.fov_mm / 4)
    fine = _noise(rng, size, p.fov_mm / 0.7)
    lab[..., 0] = base[0] + low * 2.0 + fine * (0.6 + 1.4 * p.skin_texture) - 3.0 * p.erythema
    lab[..., 1] = base[1] + p.erythema * (10 + 5 * red) + fine * 0.6
    lab[..., 2] = base[2] + low * 1.2
    if p.skin_texture > 0.05:
        # Furrows: thin valleys of a ridged field, crossing at random angles like the skin's relief lines.
        ridge = np.abs(_noise(rng, size, p.fov_mm / 1.6))
        furrow = np.clip(1 - ridge / 0.12, 0, 1)
        lab[..., 0] -= furrow * 2.0 * p.skin_texture
        n_pores = int(p.skin_texture * p.fov_mm ** 2 * 0.35)
        if n_pores:
            pores = np.zeros((size, size), np.float32)
            pts = rng.uniform(0, size, (n_pores, 2))
            rad = max(1, int(round(0.05 * ppm)))
            for x, y in pts:
                cv2.circle(pores, (int(x), int(y)), rad, 1.0, -1, cv2.LINE_AA)
            lab[..., 0] -= cv2.GaussianBlur(pores, (0, 0), 0.5 + 0.02 * ppm) * 5.0 * p.skin_texture
    return lab


def _pigment(p: LesionParams, rng, lab, alpha, t, size) -> np.ndarray:
    """Blend the lesion's colours over the skin by layout, intensity and mottling (C of ABCD)."""
    cols = np.array([_lab_of(c) for c in p.colours], np.float32)
    # Darkest colour sits where the pigment is densest: centre for concentric, blotches otherwise.
    order = np.argsort(cols[:, 0])
    cols = cols[order]
    k = len(cols)
    mottle = _noise(rng, size, p.diameter_mm * 1.2 * size / size) * p.colour_variegation
    if k == 1:
        weights = np.ones((1, size, size), np.float32)
    elif p.colour_layout == "concentric":
        tt = np.clip(t + 0.18 * mottle + p.asymmetry * 0.25 * _noise(rng, size, 3), 0, 1.2)
        centres = np.linspace(0.0, 1.0, k, dtype=np.float32)
        width = 0.9 / k
        weights = np.exp(-(((tt[None] - centres[:, None, None]) / width) ** 2))
    elif p.colour_layout == "blotchy":
        fields = np.stack([_noise(rng, size, p.fov_mm / max(p.diameter_mm / 2.5, 0.8)) for _ in range(k)])
        # Browns cover most of a lesion; the rare colours (black, blue-grey, red, white) form smaller
        # patches, as in real melanomas (REAL-STATS: present on >= 5 % of the lesion in 7-22 %).
        rare = np.array([_RARE.get(c, 0.0) for c in np.array(p.colours)[order]], np.float32)
        weights = np.exp(2.2 * (fields - rare[:, None, None]))
    else:  # uniform: one main colour, the others faint
        weights = np.full((k, size, size), 0.15, np.float32)
        weights[k // 2] = 1.0
        weights += 0.15 * np.abs(mottle)[None]
    weights *= 1 / weights.sum(0, keepdims=True)
    pig = np.empty((size, size, 3), np.float32)
    for c in range(3):
        pig[..., c] = np.tensordot(cols[:, c], weights, axes=1)
    density = (0.9 + 0.1 * np.clip(1 - t, 0, 1) + 0.1 * mottle) * (0.6 + 0.4 * min(p.pigment_intensity, 1.0))
    if p.stuck_on > 0:
        density = density * (1 - p.stuck_on) + p.stuck_on * 0.95
    a = np.clip(alpha * density, 0, 1)[..., None]
    # Intensity also darkens the pigment itself (melanin density), not only its coverage.
    pig[..., 0] *= 1.12 - 0.3 * p.pigment_intensity
    return _blend(lab, pig, a)


def _network(p, rng, lab, alpha, t, size, X, Y) -> np.ndarray:
    """Pigment network: a honeycomb of thin lines; atypia thickens, breaks and distorts it."""
    spacing = 0.45 + 0.35 * p.network_atypia * rng.uniform(0.5, 1.0)  # mm between holes
    k = 2 * math.pi / spacing
    warp_cells = p.fov_mm / (1.5 - 1.0 * p.network_atypia)
    wx = _noise(rng, size, warp_cells) * (0.08 + 0.35 * p.network_atypia) * spacing
    wy = _noise(rng, size, warp_cells) * (0.08 + 0.35 * p.network_atypia) * spacing
    a0 = rng.uniform(0, math.pi)
    Xw, Yw = X + wx, Y + wy
    n = sum(np.cos(k * (Xw * math.cos(a0 + j * 2.094) + Yw * math.sin(a0 + j * 2.094))) for j in range(3))
    width = 0.9 + 1.2 * p.network_atypia * (0.5 + 0.5 * np.abs(_noise(rng, size, p.fov_mm / 2)))
    lines = cv2.GaussianBlur(np.clip((0.2 - n) / width + 0.5, 0, 1), (0, 0), 0.6)
    if p.network_atypia > 0.05:
        broken = _noise(rng, size, p.fov_mm / 1.5) > (1.2 - 1.6 * p.network_atypia)
        lines = np.where(broken, lines * 0.25, lines)
    # A typical network thins out toward the rim; an atypical one stops abruptly at it.
    fade = np.clip(1.25 - t, 0, 1) if p.network_atypia < 0.5 else (t < 1).astype(np.float32)
    # Lines finer than ~3 px alias into a moire mesh: let them fade into mottling instead.
    visible = min(1.0, spacing * size / p.fov_mm / 4.0)
    s = (p.network * 0.3 * visible * alpha * fade * lines)[..., None]
    ink = np.array(_lab_of("dark_brown"), np.float32)
    return _blend(lab, ink, s)


def _cerebriform(p, rng, lab, alpha, size) -> np.ndarray:
    """SK surface: dark fissures between lighter waxy ridges (brain-like)."""
    n = _noise(rng, size, p.fov_mm / 0.9) + 0.5 * _noise(rng, size, p.fov_mm / 0.45)
    fissure = np.clip(1 - np.abs(n) / 0.35, 0, 1)
    ridge = np.clip(np.abs(n) - 0.8, 0, 1.5)
    w = alpha * p.cerebriform
    lab[..., 0] += w * (ridge * 6.0 - fissure * 9.0)
    lab[..., 2] += w * ridge * 3.0
    return lab


def _veil_and_regression(p, rng, lab, alpha, size, ppm, shape) -> np.ndarray:
    if p.blue_white_veil > 0.02:
        region = np.clip((_noise(rng, size, p.fov_mm / max(p.diameter_mm * 0.6, 1)) + 0.3) * 1.5, 0, 1)
        v = (alpha * region * p.blue_white_veil * 0.75)[..., None]
        veil = np.array(_lab_of("blue_grey"), np.float32) * 0.7 + np.array(_lab_of("white"), np.float32) * 0.3
        lab = _blend(lab, veil, v)
    if p.regression > 0.02:
        region = np.clip((_noise(rng, size, p.fov_mm / max(p.diameter_mm * 0.5, 1)) - 0.2) * 1.5, 0, 1)
        w = (alpha * region * p.regression * 0.7)[..., None]
        scar = np.array((80.0, 6.0, 4.0), np.float32)
        lab = _blend(lab, scar, w)
        # Blue-grey peppering: fine granules inside the regressed area.
        n = int(60 * p.regression * (p.diameter_mm / 6) ** 2)
        if n:
            dots = np.zeros((size, size), np.float32)
            th = rng.uniform(-math.pi, math.pi, n)
            x, y = shape.to_image(np.sqrt(rng.uniform(0, 0.9, n)), th, ppm, size)
            rad = max(1, int(round(0.04 * ppm)))
            for xi, yi in zip(x, y, strict=True):
                cv2.circle(dots, (int(xi), int(yi)), rad, 1.0, -1, cv2.LINE_AA)
            d = (dots * region * 0.6)[..., None]
            lab = _blend(lab, np.array(_lab_of("blue_grey"), np.float32), d)
    return lab


def _dots_and_cysts(p, rng_g, rng_sk, lab, size, ppm, shape) -> np.ndarray:
    dark = np.zeros((size, size), np.float32)
    if p.globules > 0:
        n = p.globules
        irr = p.globule_irregularity
        # Regular: evenly spread over a ring (a growing nevus); irregular: clustered off-centre, mixed sizes.
        even = np.linspace(-math.pi, math.pi, n, endpoint=False) + rng_g.uniform(0, 2 * math.pi)
        sector = rng_g.uniform(-math.pi, math.pi) + rng_g.normal(0, 0.6, n)
        th = (1 - irr) * even + irr * sector + rng_g.normal(0, 0.15, n)
        rf = np.clip((1 - irr) * rng_g.uniform(0.45, 0.85, n) + irr * rng_g.uniform(0.2, 1.05, n), 0, 1.1)
        x, y = shape.to_image(rf, th, ppm, size)
        radii = (0.07 + 0.05 * rng_g.random(n) * (1 + 2.5 * irr)) * ppm
        for xi, yi, ri in zip(x, y, radii, strict=True):
            cv2.circle(dark, (int(round(xi * 4)), int(round(yi * 4))), max(2, int(round(ri * 4))), 1.0, -1,
                       cv2.LINE_AA, shift=2)
    if dark.any():
        dark = cv2.GaussianBlur(dark, (0, 0), max(0.5, 0.05 * ppm))
        w = (dark * min(0.85, 0.4 + 0.35 * p.pigment_intensity))[..., None]
        ink = np.array(_lab_of("dark_brown" if p.pigment_intensity < 1 else "black"), np.float32)
        lab = _blend(lab, ink, w)
    if p.milia_cysts > 0:
        cysts = np.zeros((size, size), np.float32)
        n = p.milia_cysts
        x, y = shape.to_image(np.sqrt(rng_sk.uniform(0, 0.8, n)), rng_sk.uniform(-math.pi, math.pi, n), ppm, size)
        for xi, yi in zip(x, y, strict=True):
            cv2.circle(cysts, (int(xi), int(yi)), max(1, int(round(rng_sk.uniform(0.07, 0.18) * ppm))), 1.0, -1,
                       cv2.LINE_AA)
        c = (cv2.GaussianBlur(cysts, (0, 0), max(0.5, 0.03 * ppm)) * 0.85)[..., None]
        lab = _blend(lab, np.array((88.0, 1.0, 16.0), np.float32), c)
    return lab


def _hair(p, rng, lab, size, ppm) -> np.ndarray:
    layer = np.zeros((size, size), np.float32)
    thick_px = p.hair_thickness_mm * ppm
    width = max(1, int(round(thick_px)))
    strength = min(1.0, 0.55 + 0.6 * thick_px)  # sub-pixel hairs read lighter, as in a real photo
    ts = np.linspace(0, 1, 24)[:, None]
    for _ in range(p.hair_count):
        start = rng.uniform(-0.1, 1.1, 2) * size
        ang = rng.uniform(0, 2 * math.pi)
        length = rng.uniform(0.4, 1.2) * size
        end = start + length * np.array([math.cos(ang), math.sin(ang)])
        normal = np.array([-math.sin(ang), math.cos(ang)])
        ctrl = (start + end) / 2 + normal * rng.normal(0, 1) * p.hair_curl * 0.35 * length
        pts = (1 - ts) ** 2 * start + 2 * (1 - ts) * ts * ctrl + ts ** 2 * end
        cv2.polylines(layer, [np.round(pts * 4).astype(np.int32)], False, 1.0, width, cv2.LINE_AA, shift=2)
    layer = cv2.GaussianBlur(layer, (0, 0), 0.5)
    h = (np.clip(layer, 0, 1) * strength)[..., None]
    return _blend(lab, np.array(_HAIR_LAB[p.hair_colour], np.float32), h)


def _scope(p, rng, lab, size, ppm, xx, yy) -> np.ndarray:
    if p.specular > 0.02:
        spots = np.zeros((size, size), np.float32)
        for _ in range(int(1 + 6 * p.specular)):
            c = rng.uniform(0.05, 0.95, 2) * size
            cv2.circle(spots, (int(c[0]), int(c[1])), max(1, int(rng.uniform(0.05, 0.25) * ppm)), 1.0, -1,
                       cv2.LINE_AA)
        s = cv2.GaussianBlur(spots, (0, 0), max(0.6, 0.05 * ppm)) * p.specular
        lab[..., 0] += s * (100 - lab[..., 0])
        lab[..., 1:] *= (1 - s)[..., None]
    if p.gel_bubbles > 0:
        rim = np.zeros((size, size), np.float32)
        for _ in range(p.gel_bubbles):
            c = rng.uniform(0, 1, 2) * size
            r = max(2, int(rng.uniform(0.3, 1.6) * ppm))
            cv2.circle(rim, (int(c[0]), int(c[1])), r, 1.0, max(1, int(0.06 * ppm)), cv2.LINE_AA)
            cv2.circle(rim, (int(c[0] - 0.3 * r), int(c[1] - 0.3 * r)), max(1, r // 5), 0.8, -1, cv2.LINE_AA)
        rim = cv2.GaussianBlur(rim, (0, 0), 0.6) * 0.7
        lab[..., 0] += rim * (100 - lab[..., 0])
    if p.ruler:
        ticks = np.zeros((size, size), np.float32)
        period = max(2.0, 0.5 * ppm)  # half-millimetre ticks
        edge = int(rng.integers(4))
        margin = int(0.04 * size)
        for i in range(int(size / period)):
            pos = int(i * period + period / 2)
            length = int((0.7 if i % 10 == 0 else 0.45 if i % 5 == 0 else 0.3) * ppm) + margin
            cv2.line(ticks, (pos, margin), (pos, length), 1.0, 1, cv2.LINE_AA)
        cv2.line(ticks, (0, margin), (size, margin), 1.0, 1, cv2.LINE_AA)
        ticks = np.rot90(ticks, edge).copy()
        lab[..., 0] -= ticks * 0.8 * lab[..., 0]
    if p.illumination_gradient > 0.01:
        ang = rng.uniform(0, 2 * math.pi)
        g = (xx * math.cos(ang) + yy * math.sin(ang)) * p.illumination_gradient * 16
        lab[..., 0] += g
    if p.vignette > 0.01:
        rr = np.sqrt(xx * xx + yy * yy) * 2  # 1 at the mid-edges, 1.41 at the corners
        stop = 1.5 - 0.7 * p.vignette  # field stop radius: from beyond the corners to inside the edges
        soft = 0.06 + 0.06 * rng.random()
        dark = np.clip((rr - stop) / soft + 0.5, 0, 1) + 0.35 * p.vignette * np.clip(rr - 0.6, 0, 1)
        keep = np.clip(1 - dark, 0.03, 1)
        lab[..., 0] *= keep
        lab[..., 1:] *= keep[..., None]
    return lab


def _lab_to_rgb8(lab: np.ndarray, tint_a: float, tint_b: float) -> np.ndarray:
    """CIELAB (float) plus the camera's colour cast -> sRGB uint8 through OpenCV's 8-bit Lab path,
    which is ~8x faster than its float path at the same visible precision."""
    scale = np.array([255 / 100, 1, 1], np.float32)
    shift = np.array([0, 128 + tint_a, 128 + tint_b], np.float32)
    lab8 = np.clip(lab * scale + shift, 0, 255).astype(np.uint8)
    return cv2.cvtColor(lab8, cv2.COLOR_Lab2RGB)


def _camera(p, rng, rgb: np.ndarray, ppm: float) -> np.ndarray:
    sigma = p.blur_mm * ppm
    if sigma > 0.3:
        rgb = cv2.GaussianBlur(rgb, (0, 0), sigma)
    if p.noise > 0:
        # A random window into one fixed noise texture: as random to the eye, and no per-pixel RNG draws.
        size = rgb.shape[0]
        ox, oy = rng.integers(0, size, 2)
        grain = _grain(size)[oy:oy + size, ox:ox + size]
        noisy = rgb.astype(np.float32) + grain * np.float32(p.noise * 255)
        rgb = np.clip(noisy + 0.5, 0, 255).astype(np.uint8)
    if p.jpeg_quality < 100:
        _, buf = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(p.jpeg_quality)])
        rgb = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
    return np.ascontiguousarray(rgb)


@functools.lru_cache(maxsize=8)
def _grain(size: int) -> np.ndarray:
    g = np.random.default_rng(20240531).standard_normal((2 * size, 2 * size, 3), dtype=np.float32)
    g.setflags(write=False)
    return g


@functools.lru_cache(maxsize=32)
def _lab_of(name: str) -> tuple[float, float, float]:
    rgb = np.array([[COLOURS[name]]], np.float32) / 255
    L, a, b = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)[0, 0]
    return float(L), float(a), float(b)
