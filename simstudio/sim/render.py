"""`render_lesion`: draw one dermoscopic lesion from `LesionParams` with numpy and OpenCV.

The picture is composed in CIELAB (skin, then pigment, then structures, then scope artefacts) and
converted to RGB once, before the camera effects (blur, noise, JPEG). Every random choice comes from a
child generator of the seed per component (shape, colour, structures, skin, hair, ...), so changing one
parameter leaves the rest of the picture as it was: counterfactual sweeps compare like with like.

Lengths are millimetres of skin and every random field is a window of a fixed texture bank chosen by the
seed and resampled to the output size, so one seed draws the same lesion at 32 px and at 512 px. Reading
windows of precomputed textures (instead of drawing noise per image) also keeps a 128 px image at a few
milliseconds of one core (benchmarks/bench_simulate.py prints the figure).
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

# Fitzpatrick I-VI skin as CIELAB of a dermoscopic photo before the camera cast (REAL-STATS.md: skin L*
# 55-82, median ~66; the a*, b* spread of real sets is mostly the cast, added separately as tint_a/b).
_SKIN_LAB = np.array([[78, 10, 11], [72, 11, 13], [65, 12, 16], [56, 12, 18], [44, 11, 17], [32, 9, 12]],
                     np.float32)
_HAIR_LAB = {"black": (10, 1, 1), "dark_brown": (18, 5, 8), "brown": (30, 9, 15), "blond": (60, 6, 24),
             "grey": (55, 0, 2)}
_BROWNS = ("tan", "light_brown", "dark_brown", "black")  # the melanin ramp, light to dark
# How each named colour is painted (CIELAB before the camera cast). Real lesions are redder than the
# measurement palette's anchors (REAL-STATS: lesion - skin da* +6-8, db* +8-10); each paint colour still
# lies nearest to its own palette anchor, so `measure` counts it under its name.
_PAINT_LAB = {"tan": (60.0, 18.0, 26.0), "light_brown": (50.0, 24.0, 30.0), "dark_brown": (30.0, 19.0, 20.0),
              "black": (15.0, 6.0, 3.0), "red": (52.0, 36.0, 16.0), "white": (84.0, 3.0, 2.0),
              "blue_grey": (50.0, 1.0, -10.0)}
# Share of the lesion a blotch of a rare colour covers (threshold on a unit Gaussian field): real
# melanomas carry black, blue-grey, white and red in small patches (REAL-STATS: present in 7-22 %).
_PATCH_THRESHOLD = {"red": 0.3, "white": 0.6, "blue_grey": 0.4}
# How much of the pigment a patch of a rare colour replaces: red is a flush of vessels, white a scar,
# blue-grey melanin deep in the dermis seen through the skin; none of them covers like paint.
_PATCH_OPACITY = {"red": 0.45, "white": 0.55, "blue_grey": 0.5}
_COMPONENTS = ("shape", "colour", "network", "globules", "streaks", "veil", "sk", "extra", "skin", "hair",
               "artefacts", "camera")
_BANK_SIDE = 512


def render_lesion(params: LesionParams, size: int = 128, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The RGB image (uint8, size×size×3) and lesion mask (bool, size×size) of `params` under `seed`."""
    params.validate()
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"size = {size!r} is out of range: expected an integer in [{MIN_SIZE}, {MAX_SIZE}] px")
    size = int(size)
    words = _seed_words(seed)
    rngs = {name: _Stream(words, k) for k, name in enumerate(_COMPONENTS)}
    p = params
    view = _View(size, p.fov_mm)

    lab = _skin(p, rngs["skin"], view)
    lesion = _lesion(p, rngs["shape"], rngs["extra"], rngs["streaks"], view)
    lab = _pigment(p, rngs["colour"], lab, lesion, view)
    if p.network > 0.02:
        lab = _network(p, rngs["network"], lab, lesion, view)
    if p.cerebriform > 0.02 or p.milia_cysts > 0:
        lab = _seborrheic(p, rngs["sk"], lab, lesion, view)
    if p.blue_white_veil > 0.02 or p.regression > 0.02:
        lab = _veil_and_regression(p, rngs["veil"], lab, lesion, view)
    if p.globules > 0 or p.streaks > 0.02:
        lab = _dots_and_streaks(p, rngs["globules"], rngs["streaks"], lab, lesion, view)
    if p.hair_count > 0:
        lab = _hair(p, rngs["hair"], lab, view)
    lab = _scope(p, rngs["artefacts"], lab, view)
    rgb = _lab_to_rgb8(lab, p.tint_a, p.tint_b)
    rgb = _camera(p, rngs["camera"], rgb, view)
    return rgb, lesion.mask


# -- geometry and texture fields -------------------------------------------------------------------------

class _View:
    """The image as a patch of skin: pixel centres in mm (image centre at 0) and pixels per mm."""

    def __init__(self, size: int, fov_mm: float):
        self.size = size
        self.fov = fov_mm
        self.ppm = size / fov_mm
        self.xf, self.yf = _grid(size)  # fractions of the width, read-only
        self.X = self.xf * np.float32(fov_mm)
        self.Y = self.yf * np.float32(fov_mm)

    def field(self, rng: np.random.Generator, feature_mm: float, bank: str = "smooth",
              planes: tuple[int, ...] = (0,)) -> list[np.ndarray]:
        """Random fields with features about `feature_mm` across: one window of a texture bank (the
        `planes` asked for), resampled to the image. Treat them as read-only.

        The window depends on the seed and on millimetres only, so a smooth field is the same at every
        size. Detail banks are read from a pyramid level near the image's scale, and when that level is
        within 25 % of it the window is used as is: fine texture costs nothing to resample."""
        levels = _bank()[bank]
        w0 = self.fov / feature_mm * _BANK_CELL_PX[bank]
        fx, fy = rng.random(2)
        level = 0
        while bank in _DETAIL_BANKS and w0 / 2 ** level > 1.25 * self.size and level + 1 < len(levels):
            level += 1
        tex = levels[level]
        side = tex.shape[-1]
        w = int(min(max(round(w0 / 2 ** level), 3), side))
        direct = bank in _DETAIL_BANKS and 0.8 * self.size <= w <= 1.25 * self.size and self.size <= side
        if direct:
            w = self.size
        x0, y0 = int(fx * (side - w)), int(fy * (side - w))
        if direct:
            return [tex[k, y0:y0 + w, x0:x0 + w] for k in planes]
        interp = cv2.INTER_AREA if w > self.size else (cv2.INTER_CUBIC if 4 * w < self.size else cv2.INTER_LINEAR)
        return [cv2.resize(tex[k, y0:y0 + w, x0:x0 + w], (self.size, self.size), interpolation=interp)
                for k in planes]


@functools.lru_cache(maxsize=16)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centres as fractions of the image width, centred on 0 (shared, read-only)."""
    c = (np.arange(size, dtype=np.float32) + 0.5) / size - 0.5
    xx, yy = np.meshgrid(c, c)
    xx.setflags(write=False)
    yy.setflags(write=False)
    return xx, yy


# Bank pixels per feature of each texture (how finely a bank is sampled).
_BANK_CELL_PX = {"smooth": 8.0, "fine": 2.0, "mesh": 10.0, "mesh_atypical": 12.0}
_DETAIL_BANKS = ("fine", "mesh", "mesh_atypical")  # textures near pixel scale: any level will do


@functools.lru_cache(maxsize=1)
def _bank() -> dict[str, list[np.ndarray]]:
    """Texture bank, made once per process from a fixed seed (so every process draws the same images).
    Each texture is channel-first (planes, side, side) with a pyramid of half-size levels:
    smooth noise (4 independent planes, unit spread); fine texture (grain, pores, pigment granules,
    speckle); pigment-network meshes (a regular honeycomb; an atypical one with uneven cells and thick,
    broken lines)."""
    rng = np.random.default_rng(20240607)
    side = _BANK_SIDE
    smooth = np.stack([cv2.GaussianBlur(rng.standard_normal((side, side)).astype(np.float32), (0, 0), 2.5,
                                        borderType=cv2.BORDER_REFLECT) for _ in range(4)])
    smooth /= smooth.reshape(4, -1).std(1)[:, None, None]
    grain = cv2.GaussianBlur(rng.standard_normal((side, side)).astype(np.float32), (0, 0), 0.7)
    speckle = cv2.GaussianBlur(rng.standard_normal((side, side)).astype(np.float32), (0, 0), 1.3)
    fine = np.stack([grain / grain.std(),  # grain, unit spread
                     _dots(rng, side, spacing=4.0, radius=0.6),  # pores, 0..1
                     _dots(rng, side, spacing=3.0, radius=0.45),  # pigment granules, 0..1
                     speckle / speckle.std()])  # speckle a little coarser than the grain
    bank = {"smooth": smooth, "fine": fine,
            "mesh": _mesh(rng, side, spacing=10.0, jitter=0.75, width=1.1, broken=0.0)[None],
            "mesh_atypical": _mesh(rng, side, spacing=12.0, jitter=0.9, width=1.9, broken=0.35)[None]}
    pyramids = {}
    for name, tex in bank.items():
        levels = [np.ascontiguousarray(tex, np.float32)]
        while name in _DETAIL_BANKS and levels[-1].shape[-1] > 64:
            levels.append(np.stack([cv2.pyrDown(plane) for plane in levels[-1]]))
        for level in levels:
            level.setflags(write=False)
        pyramids[name] = levels
    return pyramids


def _dots(rng: np.random.Generator, side: int, spacing: float, radius: float) -> np.ndarray:
    """Small soft dots scattered about `spacing` px apart, values 0..1."""
    n = int(side * side / spacing ** 2)
    layer = np.zeros((side, side), np.float32)
    pts = rng.uniform(0, side, (n, 2))
    amp = rng.uniform(0.3, 1.0, n)
    layer[pts[:, 1].astype(int), pts[:, 0].astype(int)] = amp
    layer = cv2.GaussianBlur(layer, (0, 0), radius + 0.4)
    return np.clip(layer / layer.max() * 2.2, 0, 1)


def _mesh(rng: np.random.Generator, side: int, spacing: float, jitter: float, width: float,
          broken: float) -> np.ndarray:
    """Pigment network: dark lines (1) on the borders of Voronoi cells around jittered grid points, 0 in
    the holes. Jitter makes the cells uneven; `broken` drops line segments (an atypical network)."""
    n = int(side / spacing)
    gy, gx = np.mgrid[0:n, 0:n].astype(np.float32)
    pts = (np.stack([gx, gy], -1) + 0.5 + rng.uniform(-jitter / 2, jitter / 2, (n, n, 2))) * spacing
    seeds = np.full((side, side), 255, np.uint8)
    xy = np.clip(pts.reshape(-1, 2).astype(int), 0, side - 1)
    seeds[xy[:, 1], xy[:, 0]] = 0
    _, labels = cv2.distanceTransformWithLabels(seeds, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    edge = np.zeros((side, side), bool)
    edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    edge[1:, :] |= labels[1:, :] != labels[:-1, :]
    dist = cv2.distanceTransform((~edge).astype(np.uint8), cv2.DIST_L2, 5)
    w = width * (1 + 0.6 * jitter * cv2.GaussianBlur(rng.standard_normal((side, side)).astype(np.float32),
                                                     (0, 0), spacing) * 4)
    lines = np.exp(-(dist / np.maximum(w, 0.4)) ** 2).astype(np.float32)
    if broken > 0:
        gaps = cv2.GaussianBlur(rng.standard_normal((side, side)).astype(np.float32), (0, 0), spacing * 0.6)
        lines *= np.clip((gaps / gaps.std() + 1.2 - 2.5 * broken) * 2, 0.15, 1)
    return lines.astype(np.float32)


class _Stream:
    """The generator of one component, made on first use: child k of SeedSequence(seed), exactly what
    `SeedSequence(seed).spawn(...)[k]` gives, without paying for the components an image does not draw
    (making a generator costs about as much as drawing a small lesion's dots)."""

    __slots__ = ("_words", "_k", "_rng")

    def __init__(self, words: list[int], k: int):
        self._words, self._k, self._rng = words, k, None

    def _gen(self) -> np.random.Generator:
        if self._rng is None:
            self._rng = np.random.default_rng(np.random.SeedSequence(self._words, spawn_key=(self._k,)))
        return self._rng

    # One number between plain bounds: the Generator's own formulas (low + range * u, loc + scale * z)
    # give the same values at a third of the cost of its argument handling (~60 draws per image).
    def uniform(self, low=0.0, high=1.0, size=None):
        if size is None and type(low) in _PLAIN and type(high) in _PLAIN:
            return low + (high - low) * self._gen().random()
        return self._gen().uniform(low, high, size)

    def normal(self, loc=0.0, scale=1.0, size=None):
        if size is None and type(loc) in _PLAIN and type(scale) in _PLAIN:
            return loc + scale * self._gen().standard_normal()
        return self._gen().normal(loc, scale, size)

    def __getattr__(self, name: str):
        return getattr(self._gen(), name)


_PLAIN = (int, float)


def _seed_words(seed: int) -> list[int]:
    """The seed as 32-bit words for SeedSequence, every bit of it (exported seeds are 63-bit)."""
    s = abs(int(seed))
    words = []
    while True:
        words.append(s & 0xFFFFFFFF)
        s >>= 32
        if not s:
            return words


def _blend(lab: np.ndarray, colour, opacity: np.ndarray) -> np.ndarray:
    """lab + (colour - lab) * opacity, in place (the over-operator). `lab` is channel-first (3, H, W) so
    each pass runs over whole planes; `colour` is a Lab triple or another (3, H, W) image."""
    colour = np.asarray(colour)  # no cast: a float64 colour blends in float64, and the images depend on it
    diff = (colour[:, None, None] if colour.ndim == 1 else colour) - lab
    diff *= opacity
    lab += diff
    return lab


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """Logistic function via tanh (one pass, no overflow)."""
    out = np.tanh(z * np.float32(0.5))
    out *= np.float32(0.5)
    out += np.float32(0.5)
    return out


# -- the lesion ----------------------------------------------------------------------------------------

class _Lesion:
    """Where the lesion is: pigment opacity `alpha` (soft, ragged border), boolean `mask`, normalised radius
    `t` (0 centre, 1 rim) and the main contour (for placing dots in the lesion's own frame)."""

    def __init__(self, alpha, mask, t, shape, sigma):
        self.alpha, self.mask, self.t, self.shape, self.sigma = alpha, mask, t, shape, sigma


def _lesion(p: LesionParams, rng, rng_extra, rng_streaks, view: _View) -> _Lesion:
    R = p.diameter_mm / 2
    cx, cy = p.offset_x * p.fov_mm, p.offset_y * p.fov_mm
    shape = _Shape(p, rng, view, cx, cy, R, rng_streaks)
    # Border irregularity beyond what a radius function can draw: notches that fold back, bays, islands.
    d = shape.d
    irregular = view.field(rng, max(R * 0.45, 0.5))[0]
    # Quadratic in the slider: mild bumps for benign values, bays and fragments only near the top
    # (REAL-STATS: compactness 1.3 benign, 1.9 malignant with a tail to 7).
    d += irregular * np.float32((0.02 + 0.3 * p.border_irregularity ** 2) * R)
    # Soft edge (REAL-STATS: a step blurred with sigma 6-7 px at 224 px, sharper in melanoma and SK).
    sigma = max(p.border_blur * (1 - 0.8 * p.stuck_on) * R, 0.7 / view.ppm)
    ragged = view.field(rng, 0.5, "fine", (3,))[0]
    z = d * np.float32(-1.7 / sigma)
    z -= ragged * np.float32(0.45 * (1 - 0.7 * p.stuck_on))
    alpha = _sigmoid(z)
    mask = d < 0
    t = shape.t
    for _ in range(p.n_lesions - 1):
        ang = rng_extra.uniform(0, 2 * math.pi)
        dist = rng_extra.uniform(0.9, 1.6) * R + rng_extra.uniform(0.5, 2.0)
        r2 = R * rng_extra.uniform(0.3, 0.6)
        s2 = _Shape(p, rng_extra, view, cx + dist * math.cos(ang), cy + dist * math.sin(ang), r2)
        a2 = _sigmoid(s2.d * np.float32(-1.7 / max(sigma * r2 / R, 0.7 / view.ppm)))
        take = a2 > alpha
        t = np.where(take, s2.t, t)
        alpha = np.maximum(alpha, a2)
        mask |= s2.d < 0
    return _Lesion(alpha, mask, t, shape, sigma)


class _Shape:
    """Signed radial distance (mm) to a contour r(θ) built from harmonics (A and B of ABCD)."""

    def __init__(self, p: LesionParams, rng: np.random.Generator, view: _View, cx: float, cy: float, R: float,
                 rng_streaks: np.random.Generator | None = None):
        self.cx, self.cy, self.R = cx, cy, R
        self.rot = math.radians(p.rotation_deg)
        self.sx, self.sy = math.sqrt(p.elongation), 1 / math.sqrt(p.elongation)
        c, s = math.cos(self.rot), math.sin(self.rot)
        dx, dy = view.X - np.float32(cx), view.Y - np.float32(cy)
        u = dx * np.float32(c / self.sx) + dy * np.float32(s / self.sx)
        v = dy * np.float32(c / self.sy) - dx * np.float32(s / self.sy)
        rho, theta = cv2.cartToPolar(u, v)
        self.table = _radius_table(p, rng, R, rng_streaks)
        r = _lookup(self.table, theta)
        self.d = rho - r
        self.t = rho / r
        self.u, self.v = u, v

    def to_image(self, rho_frac: np.ndarray, theta: np.ndarray, view: _View) -> tuple[np.ndarray, np.ndarray]:
        """Points given in the lesion's own frame (fraction of the local radius, angle) as pixel x, y."""
        r = _lookup(self.table, np.mod(theta, 2 * math.pi).astype(np.float32)) * rho_frac
        u, v = r * np.cos(theta) * self.sx, r * np.sin(theta) * self.sy
        c, s = math.cos(self.rot), math.sin(self.rot)
        x = u * c - v * s + self.cx
        y = u * s + v * c + self.cy
        return x * view.ppm + view.size / 2, y * view.ppm + view.size / 2


_TABLE_N = 1024
_TABLE_ANGLES = np.linspace(0, 2 * math.pi, _TABLE_N, endpoint=False)
_TABLE_ANGLES.setflags(write=False)


def _lookup(table: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Nearest sample of a periodic table over [0, 2π) at angles `theta` (1024 samples: < 0.4° apart)."""
    idx = (theta * np.float32(_TABLE_N / (2 * math.pi))).astype(np.int32)
    idx &= _TABLE_N - 1
    return table[idx]


def _radius_table(p: LesionParams, rng: np.random.Generator, R: float,
                  rng_streaks: np.random.Generator | None = None) -> np.ndarray:
    # r(θ) = 1 + Σ a_k cos(kθ + φ_k), summed by one inverse FFT of the harmonics' amplitudes and phases.
    spectrum = np.zeros(_TABLE_N // 2 + 1, complex)
    # Asymmetry: odd harmonics and a low-order bulge break both mirror axes (REAL-STATS: 0.16 vs 0.31).
    for k, amp in ((1, 0.16), (2, 0.10), (3, 0.13)):
        spectrum[k] += p.asymmetry * amp * rng.uniform(0.6, 1.0) * np.exp(1j * rng.uniform(0, 2 * math.pi))
    if p.lobes > 0:
        depth = 0.05 + 0.08 * p.border_irregularity
        spectrum[p.lobes] += depth * (1 + 0.5 * rng.standard_normal()) * np.exp(1j * rng.uniform(0, 2 * math.pi))
    # Border irregularity: notches and ragged edges as a 1/k spectrum of higher harmonics.
    ks = np.arange(4, 29)
    amps = p.border_irregularity * 0.12 / ks * rng.standard_normal(ks.size)
    spectrum[ks] += amps * np.exp(1j * rng.uniform(0, 2 * math.pi, ks.size))
    r = 1 + np.fft.irfft(spectrum * (_TABLE_N / 2), _TABLE_N)
    th = _TABLE_ANGLES
    if p.streaks > 0.02 and rng_streaks is not None:
        # Pseudopods: short bulges of the rim where the streaks start, clustered on one side.
        centre = rng_streaks.uniform(0, 2 * math.pi)
        for ang in centre + rng_streaks.normal(0, 0.5 + 1.0 * (1 - p.streaks), int(2 + 4 * p.streaks)):
            dth = np.angle(np.exp(1j * (th - ang)))
            r += rng_streaks.uniform(0.04, 0.1) * np.exp(-0.5 * (dth / rng_streaks.uniform(0.05, 0.1)) ** 2)
    return (np.maximum(r, 0.3) * R).astype(np.float32)


# -- skin ----------------------------------------------------------------------------------------------

def _skin(p: LesionParams, rng, view: _View) -> np.ndarray:
    """Skin under immersion gel: an even tone with slow shading, fine grain, pores, faint relief lines
    and blotchy redness (erythema)."""
    base = _SKIN_LAB[p.skin_type - 1]
    shading, redness, yellowness = view.field(rng, view.fov / 2.5, "smooth", (0, 1, 2))
    grain, pores, speckle = view.field(rng, 0.14, "fine", (0, 1, 3))
    relief = view.field(rng, 0.9)[0]
    tex = np.float32(p.skin_texture)
    size = view.size
    lab = np.empty((3, size, size), np.float32)
    L, a, b = lab
    np.multiply(shading, np.float32(1.6), out=L)
    L += base[0] - 2.5 * p.erythema
    L += grain * (0.6 + 1.6 * tex)
    L -= pores * (6.0 * tex)
    L += speckle * (0.5 + 1.2 * tex)
    if tex > 0.05:
        # Skin relief lines: thin, slightly lighter ridges where gel fills the furrows.
        ridge = np.abs(relief)
        ridge = np.clip(1 - ridge * np.float32(4.0), 0, 1)
        L += ridge * (3.0 * tex)
    red = np.clip(redness + 0.6, 0, None)
    np.multiply(red, np.float32(6.0 * p.erythema), out=a)
    a += base[1] + 4.0 * p.erythema
    a += speckle * np.float32(0.5)
    np.multiply(yellowness, np.float32(1.2), out=b)
    b += base[2]
    return lab


# -- pigment (C of ABCD) -----------------------------------------------------------------------------

def _pigment(p: LesionParams, rng, lab: np.ndarray, les: _Lesion, view: _View) -> np.ndarray:
    """Melanin as a density field read through the lesion's brown ramp (tan → light brown → dark brown →
    black), laid out uniform, concentric or in blotches, with granular texture; the rare colours (red,
    white, blue-grey) as patches on top."""
    ramp = [c for c in _BROWNS if c in p.colours]
    rare = [c for c in p.colours if c not in _BROWNS]
    if not ramp:  # only rare colours chosen: the first one is the body of the lesion
        ramp, rare = [rare[0]], rare[1:]
    blot = view.field(rng, max(p.diameter_mm / 3.0, 0.6), "smooth", (0, 1, 2, 3))
    grain, granules, speckle = view.field(rng, 0.35, "fine", (0, 2, 3))
    var = np.float32(0.25 + 0.75 * p.colour_variegation)
    mottle = blot[0]
    if p.colour_layout == "concentric":
        # Dark centre, lighter rim; asymmetry moves the dark centre off the middle (asymmetry of colour).
        ang = rng.uniform(0, 2 * math.pi)
        off = 0.45 * p.asymmetry
        du, dv = les.shape.u - np.float32(off * les.shape.R * math.cos(ang)), les.shape.v - np.float32(
            off * les.shape.R * math.sin(ang))
        tc = cv2.magnitude(du, dv) * np.float32(1 / les.shape.R)
        m = 1.05 - tc
        m += mottle * (0.3 * var)
    elif p.colour_layout == "blotchy":
        m = np.tanh(mottle * (0.9 * var + 0.3))
        m *= np.float32(0.55)
        m += np.float32(0.5)
    else:  # uniform
        m = mottle * (0.25 * var)
        m += np.float32(0.5)
    m += speckle * np.float32(0.05 + 0.05 * p.colour_variegation)
    # Intensity: denser melanin reads darker along the ramp.
    m += np.float32(0.35 * (p.pigment_intensity - 0.8))
    np.clip(m, 0, 0.999, out=m)

    lut = _ramp_lut(tuple(ramp), round(p.pigment_intensity, 3))
    pig = np.take(lut, (m * np.float32(lut.shape[1])).astype(np.int32), axis=1)
    # Granular melanin: clods and speckle within the lesion (real within-lesion std L* 7-9).
    pig[0] -= granules * np.float32((3.0 + 5.0 * p.colour_variegation) * min(p.pigment_intensity, 1.0))
    pig[0] += grain * np.float32(1.8)
    # Warmer and cooler browns across the lesion (real within-lesion std b* 4-5).
    pig[2] += blot[3] * np.float32(2.0 + 2.5 * p.colour_variegation)
    for k, colour in enumerate(rare[:3]):
        field = blot[k + 1]
        patch = np.clip((field - np.float32(_PATCH_THRESHOLD[colour])) * np.float32(0.9), 0, 1)
        patch *= speckle * np.float32(0.15) + np.float32(_PATCH_OPACITY[colour])
        _blend(pig, np.array(_PAINT_LAB[colour], np.float32), patch)
    opacity = les.alpha * np.float32(0.85 + 0.15 * min(p.pigment_intensity, 1.0))
    if p.stuck_on > 0:
        # A stuck-on lesion is a flat, evenly pigmented plateau up to its sharp border.
        opacity = np.minimum(opacity * np.float32(1 + 0.3 * p.stuck_on), 1)
    return _blend(lab, pig, opacity)


@functools.lru_cache(maxsize=256)
def _ramp_lut(colours: tuple[str, ...], intensity: float) -> np.ndarray:
    """64 Lab colours (channel-first) from the lightest to the darkest of `colours`; one colour alone
    shades from lighter to darker around itself (deeper with intensity)."""
    anchors = np.array([_PAINT_LAB[c] for c in colours], np.float32)
    if len(anchors) == 1:
        # One colour still shades: lighter and darker versions of it around the anchor.
        c = anchors[0]
        anchors = np.stack([c + (6.0, -1.0, 2.0), c, c - (7.0 * intensity, 1.0, 3.0)]).astype(np.float32)
    pos = np.linspace(0, 1, len(anchors))
    x = (np.arange(64, dtype=np.float32) + 0.5) / 64
    return np.stack([np.interp(x, pos, anchors[:, j]) for j in range(3)]).astype(np.float32)  # (3, 64)


# -- dermoscopic structures ------------------------------------------------------------------------

def _network(p, rng, lab, les: _Lesion, view: _View) -> np.ndarray:
    """Pigment network: a mesh of brown lines over the lesion. A regular one is thin and fades toward
    the rim; an atypical one is thick, uneven and broken and stops abruptly at the border."""
    atypia = p.network_atypia
    spacing = 0.5 + 0.3 * atypia  # mm between holes (~8 px at 224 px in a real ~18 mm field)
    mesh = view.field(rng, spacing, "mesh_atypical" if atypia >= 0.5 else "mesh")[0]
    if atypia >= 0.5:
        fade = np.clip((1.05 - les.t) * 8, 0, 1)
    else:
        fade = np.clip(1.2 - les.t, 0, 1)
    w = mesh * fade
    w *= les.alpha
    # Sub-pixel meshes blur into a mottle of the same mean darkness: keep the mean, lose the contrast.
    visible = min(1.0, spacing * view.ppm / 3.0)
    w *= np.float32(p.network * (0.6 + 0.15 * atypia) * (0.6 + 0.4 * visible))
    ink = np.array(_PAINT_LAB["dark_brown"], np.float32) - (6.0 * atypia, 0, 0)
    if atypia >= 0.5:
        # Thick atypical lines are smudged, not drawn: soften them by about a line width.
        w = cv2.GaussianBlur(w, (0, 0), max(0.5, 0.05 * view.ppm))
    return _blend(lab, ink, w)


def _seborrheic(p, rng, lab, les: _Lesion, view: _View) -> np.ndarray:
    """SK surface: dark fissures between lighter waxy ridges (brain-like), comedo-like openings and
    white-yellow milia-like cysts."""
    if p.cerebriform > 0.02:
        # Gyri and sulci: the zero crossings of a smooth field are long winding lines (the fissures);
        # its crests are the waxy ridges between them.
        n = view.field(rng, 1.3)[0]
        fissure = np.clip(1 - np.abs(n) * np.float32(2.2), 0, 1)
        ridge = np.clip(np.abs(n) - 1.0, 0, 1)
        w = les.alpha * np.float32(p.cerebriform)
        lab[0] += w * (ridge * 4.0 - fissure * 9.0)
        lab[2] += w * ridge * 2.0
        # Comedo-like openings: a few dark round crypts, more with a more cerebriform surface.
        n_open = int(p.cerebriform * 4 * (p.diameter_mm / 6) ** 2)
        if n_open:
            lab = _spots(lab, les.shape, view, rng, n_open, (0.1, 0.2), 0.8, (30.0, 14.0, 16.0), 0.6)
    if p.milia_cysts > 0:
        lab = _spots(lab, les.shape, view, rng, p.milia_cysts, (0.12, 0.25), 0.8, (84.0, 2.0, 18.0), 0.5)
    return lab


def _spots(lab, shape: _Shape, view: _View, rng, n: int, radius_mm: tuple[float, float], spread: float,
           colour, strength: float) -> np.ndarray:
    """`n` soft round spots of `colour` scattered inside the lesion."""
    layer = np.zeros((view.size, view.size), np.float32)
    x, y = shape.to_image(np.sqrt(rng.uniform(0, spread, n)), rng.uniform(0, 2 * math.pi, n), view)
    radii = rng.uniform(*radius_mm, n) * view.ppm
    for xi, yi, ri in zip(x, y, radii, strict=True):
        cv2.circle(layer, (int(round(xi * 4)), int(round(yi * 4))), max(2, int(round(ri * 4))), 1.0, -1,
                   cv2.LINE_AA, shift=2)
    layer = cv2.GaussianBlur(layer, (0, 0), max(0.5, 0.03 * view.ppm))
    layer *= np.float32(strength)
    return _blend(lab, np.array(colour, np.float32), layer)


def _veil_and_regression(p, rng, lab, les: _Lesion, view: _View) -> np.ndarray:
    if p.blue_white_veil > 0.02:
        region = view.field(rng, max(p.diameter_mm * 0.35, 0.6))[0]
        region = np.clip((region + np.float32(0.1)) * np.float32(1.2), 0, 1)
        region *= les.alpha
        region *= np.float32(p.blue_white_veil * 0.6)
        # A haze over the pigment, not a paint: it keeps the texture below and pulls it to blue-grey-white.
        lab = _blend(lab, np.array((58.0, 0.0, -9.0), np.float32), region)
    if p.regression > 0.02:
        region = view.field(rng, max(p.diameter_mm * 0.3, 0.6))[0]
        region = np.clip((region - np.float32(0.3)) * np.float32(1.5), 0, 1)
        region *= les.alpha
        lab = _blend(lab, np.array((80.0, 6.0, 4.0), np.float32), region * np.float32(p.regression * 0.75))
        # Blue-grey peppering: fine granules inside the regressed area.
        pepper = view.field(rng, 0.25, "fine", (2,))[0] * region
        pepper *= np.float32(0.9 * p.regression)
        lab = _blend(lab, np.array(_lab_of("blue_grey"), np.float32) - (10, 0, 0), pepper)
    return lab


def _dots_and_streaks(p, rng_g, rng_s, lab, les: _Lesion, view: _View) -> np.ndarray:
    layer = np.zeros((view.size, view.size), np.float32)
    ppm = view.ppm
    if p.globules > 0:
        n = p.globules
        irr = p.globule_irregularity
        # Regular: spread evenly (a ring in a growing nevus); irregular: clustered off-centre, mixed sizes.
        even = np.linspace(0, 2 * math.pi, n, endpoint=False) + rng_g.uniform(0, 2 * math.pi)
        sector = rng_g.uniform(0, 2 * math.pi) + rng_g.normal(0, 0.7, n)
        th = (1 - irr) * even + irr * sector + rng_g.normal(0, 0.2, n)
        rf = np.clip((1 - irr) * rng_g.uniform(0.3, 0.85, n) + irr * rng_g.uniform(0.15, 1.05, n), 0, 1.1)
        x, y = les.shape.to_image(rf, th, view)
        radii = (0.07 + 0.07 * rng_g.random(n) * (1 + 1.5 * irr)) * ppm
        for xi, yi, ri in zip(x, y, radii, strict=True):
            cv2.circle(layer, (int(round(xi * 4)), int(round(yi * 4))), max(2, int(round(ri * 4))), 1.0, -1,
                       cv2.LINE_AA, shift=2)
    if p.streaks > 0.02:
        # Streaks: thin dark lines radiating from the rim, clustered in one sector (irregular streaks).
        n = int(2 + 8 * p.streaks)
        centre = rng_s.uniform(0, 2 * math.pi)
        th = centre + rng_s.normal(0, 0.5 + 1.2 * (1 - p.streaks), n)
        x0, y0 = les.shape.to_image(rng_s.uniform(0.6, 0.85, n), th, view)
        x1, y1 = les.shape.to_image(rng_s.uniform(1.05, 1.3, n), th + rng_s.normal(0, 0.05, n), view)
        width = max(1, int(round(0.08 * ppm)))
        for a, b, c, d in zip(x0, y0, x1, y1, strict=True):
            # Tapered: full strength from the rim to midway, fainter toward the tip.
            mx, my = (a + c) / 2, (b + d) / 2
            cv2.line(layer, (int(a * 4), int(b * 4)), (int(mx * 4), int(my * 4)), 0.8, width, cv2.LINE_AA, shift=2)
            cv2.line(layer, (int(mx * 4), int(my * 4)), (int(c * 4), int(d * 4)), 0.45, width, cv2.LINE_AA, shift=2)
    layer = cv2.GaussianBlur(layer, (0, 0), max(0.6, 0.05 * ppm))
    layer *= np.float32(min(0.8, 0.35 + 0.35 * p.pigment_intensity))
    ink = np.array(_PAINT_LAB["dark_brown"], np.float32) - (10.0 * max(p.pigment_intensity - 0.6, 0), 0, 0)
    return _blend(lab, ink, layer)


# -- acquisition: hair, glare, bubbles, ruler, light ---------------------------------------------------

def _hair(p, rng, lab, view: _View) -> np.ndarray:
    """Hairs as anti-aliased cubic curves; thinner than a pixel reads lighter, as in a real photo."""
    size = view.size
    n = p.hair_count
    # The draws, hair by hair in a fixed order; the curves of all hairs are then computed at once.
    thick_px, start, direction, length, z = (np.empty(n), np.empty((n, 2)), np.empty((n, 2)), np.empty(n),
                                             np.empty((n, 2)))
    for i in range(n):
        thick_px[i] = p.hair_thickness_mm * view.ppm * rng.uniform(0.7, 1.3)
        start[i] = rng.uniform(-0.1, 1.1, 2) * size
        ang = rng.uniform(0, 2 * math.pi)
        direction[i] = math.cos(ang), math.sin(ang)
        length[i] = rng.uniform(0.4, 1.3) * size
        z[i, 0] = rng.normal(0, 1)
        z[i, 1] = rng.normal(0, 1)
    normal = np.stack([-direction[:, 1], direction[:, 0]], 1)
    length = length[:, None]
    bend = p.hair_curl * 0.45 * length
    c1 = start + direction * length / 3 + normal * z[:, :1] * bend
    c2 = start + direction * 2 * length / 3 + normal * z[:, 1:] * bend
    end = start + direction * length
    b0, b1, b2, b3 = _BEZIER
    pts = b0 * start[:, None] + b1 * c1[:, None] + b2 * c2[:, None] + b3 * end[:, None]
    pts = np.round(pts * 4).astype(np.int32)
    layer = np.zeros((size, size), np.float32)
    for i in range(n):
        width = max(1, int(round(thick_px[i])))
        value = float(min(0.95, 0.3 + 0.6 * thick_px[i]))
        cv2.polylines(layer, [pts[i]], False, value, width, cv2.LINE_AA, shift=2)
    h = cv2.GaussianBlur(layer, (0, 0), 0.55)
    np.clip(h, 0, 1, out=h)
    return _blend(lab, np.array(_HAIR_LAB[p.hair_colour], np.float32), h)


def _bezier_weights(n: int = 28) -> tuple[np.ndarray, ...]:
    """The cubic Bernstein weights at `n` points along a curve, shaped to broadcast over (hair, point, xy)."""
    ts = np.linspace(0, 1, n)[:, None]
    return (1 - ts) ** 3, 3 * (1 - ts) ** 2 * ts, 3 * (1 - ts) * ts ** 2, ts ** 3


_BEZIER = _bezier_weights()


def _scope(p, rng, lab, view: _View) -> np.ndarray:
    size, ppm = view.size, view.ppm
    xx, yy = view.xf, view.yf
    if p.specular > 0.02:
        spots = np.zeros((size, size), np.float32)
        for _ in range(int(1 + 6 * p.specular)):
            c = rng.uniform(0.05, 0.95, 2) * size
            r = max(1.0, rng.uniform(0.03, 0.15) * ppm)
            cv2.circle(spots, (int(c[0] * 4), int(c[1] * 4)), int(r * 4), 1.0, -1, cv2.LINE_AA, shift=2)
        s = cv2.GaussianBlur(spots, (0, 0), max(0.6, 0.04 * ppm)) * np.float32(min(1.0, 1.5 * p.specular))
        _blend(lab, np.array((98.0, 0.0, 0.0), np.float32), s)
    if p.gel_bubbles > 0:
        rim = np.zeros((size, size), np.float32)
        for _ in range(p.gel_bubbles):
            c = rng.uniform(0, 1, 2) * size
            r = max(2, int(rng.uniform(0.3, 1.6) * ppm))
            cv2.circle(rim, (int(c[0]), int(c[1])), r, 1.0, max(1, int(0.06 * ppm)), cv2.LINE_AA)
            cv2.circle(rim, (int(c[0] - 0.3 * r), int(c[1] - 0.3 * r)), max(1, r // 5), 0.8, -1, cv2.LINE_AA)
        rim = cv2.GaussianBlur(rim, (0, 0), 0.6) * np.float32(0.7)
        _blend(lab, np.array((97.0, 0.0, 0.0), np.float32), rim)
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
        ticks = np.rot90(ticks, edge) * np.float32(0.8)
        lab[0] -= ticks * lab[0]
    if p.illumination_gradient > 0.01:
        ang = rng.uniform(0, 2 * math.pi)
        lab[0] += (xx * math.cos(ang) + yy * math.sin(ang)) * np.float32(p.illumination_gradient * 16)
    if p.vignette > 0.01:
        rr = cv2.magnitude(xx, yy) * np.float32(2)  # 1 at the mid-edges, 1.41 at the corners
        # Field-stop radius: beyond the corners (lens fall-off only) up to ~0.37, inside the edges near 1.
        stop = 1.75 - 0.9 * p.vignette
        soft = 0.04 + 0.05 * rng.random()
        dark = np.clip((rr - stop) * np.float32(1 / soft) + 0.5, 0, 1)
        dark += np.clip(rr - 0.6, 0, 1) * np.float32(0.35 * p.vignette)  # lens fall-off toward the stop
        keep = np.clip(1 - dark, 0.03, 1)
        lab *= keep
    return lab


# -- camera --------------------------------------------------------------------------------------------

def _lab_to_rgb8(lab: np.ndarray, tint_a: float, tint_b: float) -> np.ndarray:
    """CIELAB (float) plus the camera's colour cast -> sRGB uint8 through OpenCV's 8-bit Lab path,
    which is ~8x faster than its float path at the same visible precision."""
    # One pass per plane: scale, offset, round and saturate to uint8 (no plane is ever below zero).
    lab8 = cv2.merge([cv2.convertScaleAbs(lab[0], alpha=255 / 100),
                      cv2.convertScaleAbs(lab[1], beta=128 + tint_a),
                      cv2.convertScaleAbs(lab[2], beta=128 + tint_b)])
    return cv2.cvtColor(lab8, cv2.COLOR_Lab2RGB)


def _camera(p, rng, rgb: np.ndarray, view: _View) -> np.ndarray:
    sigma = p.blur_mm * view.ppm
    if sigma > 0.3:
        rgb = cv2.GaussianBlur(rgb, (0, 0), sigma)
    if p.noise > 0:
        # A random window into one fixed noise texture: as random to the eye, and no per-pixel RNG draws.
        size = view.size
        ox, oy = (int(v) for v in rng.integers(0, size, 2))
        grain = _grain(size)[oy:oy + size, ox:ox + size]
        noisy = cv2.scaleAdd(grain, p.noise * 255, rgb.astype(np.float32))
        rgb = cv2.convertScaleAbs(noisy)  # rounds and saturates; |x| only touches the darkest pixels
    if p.jpeg_quality < 100:
        _, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                              [cv2.IMWRITE_JPEG_QUALITY, int(p.jpeg_quality)])
        rgb = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return rgb


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
