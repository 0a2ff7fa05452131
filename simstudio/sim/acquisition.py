"""The simulator's acquisition layers for any existing RGB image: colour cast, vignette, dark field stop,
hair, ruler ticks, gel bubbles, specular glare, blur or sharpening, noise and JPEG.

Each layer takes a uint8 RGB (H, W, 3) image and returns a new one (the input is never written to), is
deterministic in its seed, and is the identity at strength 0. `sample_acquisition` draws the strengths
from ONE distribution for every class (ranges and rates pooled over the classes of derm-real,
/work/shared/REAL-STATS.md), so applied to training images it decorrelates the camera from the label
instead of copying the dataset's shortcut; `apply_acquisition` applies a draw. The layers drawn in front
of the skin (hair, ruler, bubbles, glare) are in `overlays`.

Lengths in `AcquisitionParams` are px at 224 px (REAL-STATS' side) and scale with the image; the
functions below take px of the image they are given. numpy + OpenCV only, no torch: a 64 px image
costs a few hundred microseconds of one core (benchmarks/bench_acquisition.py prints the figure).
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, fields

import cv2
import numpy as np

from simstudio.sim.overlays import (
    REFERENCE_SIDE,
    _check,
    _nothing_to_draw,
    _to_u8,
    add_bubbles,
    add_glare,
    add_hair,
    add_ruler,
)

# Pooled skin colour of derm-real, 5-95 %: a* 3-40, b* -7..24 (REAL-STATS: "mostly the camera, not the
# person"); a draw moves the image's skin to a target in this box whatever its class.
CAST_A_RANGE = (3.0, 40.0)
CAST_B_RANGE = (-7.0, 24.0)
# Rates per image, pooled over benign and malignant (REAL-STATS artefact table, mean of the two classes):
# mild vignette 13.2/38.8 %, black field stop 6.7/25.3 %, some hair 17.7/36.1 %, ruler 0.3/9.7 %.
VIGNETTE_RATE = 0.26
FIELD_STOP_RATE = 0.16
HAIR_RATE = 0.27
HEAVY_HAIR_SHARE = 0.24  # heavy hair (>= 3 % of skin) is 6.5 % of images, about a quarter of the hairy ones
RULER_RATE = 0.05
# Not measured in REAL-STATS (no detector): modest rates so they add variety, not a new signature.
BUBBLE_RATE = 0.10
GLARE_RATE = 0.15
# Sharpness: Laplacian variance 35-450 benign, 49-640 malignant (5-95 %), malignant 2x sharper: blur some
# images and sharpen others so sharpness stops naming the class.
BLUR_RATE = 0.35
SHARPEN_RATE = 0.35
NOISE_RATE = 0.30
JPEG_RATE = 0.50

@dataclass
class AcquisitionParams:
    """One acquisition draw. Every field at its default = the identity."""

    cast_mix: float = 0.0  # 0 = keep the image's colour; 1 = move its skin a*, b* to (cast_a, cast_b)
    cast_a: float = 19.0  # target skin a* (REAL-STATS pooled median 19)
    cast_b: float = 9.0  # target skin b* (pooled median 9)
    vignette: float = 0.0  # share of brightness lost at the corners, 0..0.9
    field_stop_radius: float = 0.0  # 0 = none; else the dark scope edge's radius / half-diagonal, 0.5..1
    field_stop_softness: float = 0.05  # width of its edge / half-diagonal
    hair: int = 0  # number of hairs
    hair_width: float = 2.5  # px at 224 (at the root; hairs taper)
    ruler: bool = False
    bubbles: int = 0
    glare: float = 0.0  # 0..1
    blur: float = 0.0  # Gaussian sigma, px at 224
    sharpen: float = 0.0  # unsharp-mask amount, 0..3
    noise: float = 0.0  # sigma in 8-bit levels, 0..30
    jpeg_quality: int = 100  # 100 = no JPEG round trip

    _RANGES = {
        "cast_mix": (0.0, 1.0), "cast_a": (-60.0, 80.0), "cast_b": (-60.0, 80.0), "vignette": (0.0, 0.9),
        "field_stop_softness": (0.005, 0.5), "hair": (0, 200), "hair_width": (0.2, 20.0),
        "bubbles": (0, 50), "glare": (0.0, 1.0), "blur": (0.0, 20.0), "sharpen": (0.0, 3.0),
        "noise": (0.0, 30.0), "jpeg_quality": (5, 100),
    }

    def validate(self) -> AcquisitionParams:
        """Raise ValueError naming the first field out of its range."""
        for name, (lo, hi) in self._RANGES.items():
            v = getattr(self, name)
            integer = isinstance(lo, int)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or (
                    integer and int(v) != v) or not math.isfinite(float(v)):
                kind = "an integer" if integer else "a number"
                raise ValueError(f"AcquisitionParams.{name} = {v!r}: expected {kind} in [{lo}, {hi}]")
            if not lo <= v <= hi:
                raise ValueError(f"AcquisitionParams.{name} = {v!r} is out of range [{lo}, {hi}]")
        r = self.field_stop_radius
        if isinstance(r, bool) or not isinstance(r, (int, float, np.integer, np.floating)) or not (
                r == 0 or 0.5 <= r <= 1.0):
            raise ValueError(f"AcquisitionParams.field_stop_radius = {r!r} is out of range: 0 (none) or [0.5, 1]")
        if not isinstance(self.ruler, (bool, np.bool_)):
            raise ValueError(f"AcquisitionParams.ruler = {self.ruler!r}: expected true or false")
        return self

    def is_identity(self) -> bool:
        return (self.cast_mix == 0 and self.vignette == 0 and self.field_stop_radius == 0 and self.hair == 0
                and not self.ruler and self.bubbles == 0 and self.glare == 0 and self.blur == 0
                and self.sharpen == 0 and self.noise == 0 and self.jpeg_quality >= 100)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> AcquisitionParams:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown acquisition setting(s): {', '.join(unknown)}")
        return cls(**data).validate()


def sample_acquisition(seed_or_rng, strength: float = 1.0) -> AcquisitionParams:
    """One draw from the class-independent acquisition distribution. `strength` scales every rate (capped
    at 1) and the cast mix: 0 = the identity, 1 = derm-real's pooled rates, 2 = twice as often."""
    if isinstance(strength, bool) or not 0 <= float(strength) <= 4:
        raise ValueError(f"acquisition strength must be in [0, 4], got {strength!r}")
    rng = seed_or_rng if isinstance(seed_or_rng, np.random.Generator) else np.random.default_rng(seed_or_rng)
    s = float(strength)
    u = rng.random(12)  # one number per decision, in a fixed order, so a rate change moves nothing else

    def rate(r: float, k: int) -> bool:
        return bool(u[k] < min(1.0, r * s))

    p = AcquisitionParams(cast_mix=min(1.0, s), cast_a=float(rng.uniform(*CAST_A_RANGE)),
                          cast_b=float(rng.uniform(*CAST_B_RANGE)))
    if rate(VIGNETTE_RATE, 0):
        p.vignette = float(rng.uniform(0.15, 0.55))
    if rate(FIELD_STOP_RATE, 1):
        p.field_stop_radius = float(rng.uniform(0.72, 0.97))
        p.field_stop_softness = float(rng.uniform(0.02, 0.08))
    if rate(HAIR_RATE, 2):
        heavy = u[3] < HEAVY_HAIR_SHARE
        p.hair = int(rng.integers(8, 25) if heavy else rng.integers(1, 6))
        p.hair_width = float(rng.uniform(1.5, 4.0))
    p.ruler = rate(RULER_RATE, 4)
    if rate(BUBBLE_RATE, 5):
        p.bubbles = int(rng.integers(1, 5))
    if rate(GLARE_RATE, 6):
        p.glare = float(rng.uniform(0.2, 0.8))
    if rate(BLUR_RATE, 7):
        p.blur = float(rng.uniform(0.6, 2.0))
    elif rate(SHARPEN_RATE, 8):  # of the images not blurred
        p.sharpen = float(rng.uniform(0.3, 1.2))
    if rate(NOISE_RATE, 9):
        p.noise = float(rng.uniform(1.0, 5.0))
    if rate(JPEG_RATE, 10):
        p.jpeg_quality = int(rng.integers(60, 96))
    return p


def apply_acquisition(rgb: np.ndarray, params: AcquisitionParams, seed: int = 0,
                      shades_of_gray_first: bool = False) -> np.ndarray:
    """`rgb` photographed again under `params`: Shades of Gray first when asked (so the new cast replaces
    the old one instead of adding to it), then cast, hair, ruler, bubbles, glare, vignette, field stop,
    blur or sharpening, noise and JPEG, the order light takes from skin to file."""
    rgb = _check(rgb)
    params.validate()
    scale = rgb.shape[0] / REFERENCE_SIDE
    out = rgb
    if shades_of_gray_first:
        from simstudio.data.preprocess import shades_of_gray

        out = shades_of_gray(out)
    if params.cast_mix > 0:
        out = cast_to(out, params.cast_a, params.cast_b, params.cast_mix)
    seeds = _layer_seeds(seed)
    if params.hair:
        out, _ = add_hair(out, params.hair, seeds[0], width=params.hair_width * scale)
    if params.ruler:
        out, _ = add_ruler(out, seeds[1])
    if params.bubbles:
        out, _ = add_bubbles(out, params.bubbles, seeds[2])
    if params.glare:
        out = add_glare(out, params.glare, seeds[3])
    if params.vignette:
        out = add_vignette(out, params.vignette, seeds[4])
    if params.field_stop_radius:
        out = add_field_stop(out, params.field_stop_radius, params.field_stop_softness, seeds[5])
    if params.blur:
        out = blur(out, params.blur * scale)
    if params.sharpen:
        out = sharpen(out, params.sharpen)
    if params.noise:
        out = add_noise(out, params.noise, seeds[6])
    if params.jpeg_quality < 100:
        out = jpeg(out, params.jpeg_quality)
    return out.copy() if out is rgb else out


# -- colour ---------------------------------------------------------------------------------------------

def shift_cast(rgb: np.ndarray, da: float, db: float) -> np.ndarray:
    """Add `da`, `db` (CIELAB a*, b* units, rounded to whole units) to every pixel: a white-balance change."""
    rgb = _check(rgb)
    ia, ib = int(round(float(da))), int(round(float(db)))
    if ia == 0 and ib == 0:
        return rgb.copy()
    # OpenCV's 8-bit Lab stores a* + 128 and b* + 128, so one level is one a*/b* unit.
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)
    lab = cv2.LUT(lab, _cast_lut(ia, ib))
    return cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)


@functools.lru_cache(maxsize=4096)
def _cast_lut(ia: int, ib: int) -> np.ndarray:
    ramp = np.arange(256, dtype=np.int32)
    lut = np.stack([ramp, np.clip(ramp + ia, 0, 255), np.clip(ramp + ib, 0, 255)], -1).astype(np.uint8)
    lut = lut.reshape(256, 1, 3)
    lut.setflags(write=False)
    return lut


def cast_to(rgb: np.ndarray, a: float, b: float, mix: float = 1.0) -> np.ndarray:
    """Move the image's skin colour (`skin_ab`) `mix` of the way to a*, b* = (`a`, `b`): the same shift
    for every pixel, so the lesion keeps its colour relative to the skin."""
    rgb = _check(rgb)
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)
    sa, sb = _skin_ab_lab8(lab.reshape(-1, 3))
    ia, ib = int(round(mix * (a - sa))), int(round(mix * (b - sb)))
    if ia == 0 and ib == 0:
        return rgb.copy()
    return cv2.cvtColor(cv2.LUT(lab, _cast_lut(ia, ib)), cv2.COLOR_Lab2RGB)


def skin_ab(rgb: np.ndarray) -> tuple[float, float]:
    """The skin's a*, b*: medians over the lighter 40 % of pixels (skin is lighter than a lesion), leaving
    out the brightest 2 % (glare) and near-black (a field stop). Histogram medians: whole a*/b* units."""
    return _skin_ab_lab8(cv2.cvtColor(_check(rgb), cv2.COLOR_RGB2Lab).reshape(-1, 3))


def _skin_ab_lab8(lab: np.ndarray) -> tuple[float, float]:
    light = lab[:, 0]
    cum = np.cumsum(np.bincount(light, minlength=256))
    n = cum[-1]
    lo, hi = int(np.searchsorted(cum, 0.6 * n)), int(np.searchsorted(cum, 0.98 * n))
    sel = (light >= max(lo, 64)) & (light <= hi)  # 8-bit L 64 = L* 25
    if np.count_nonzero(sel) < 8:
        sel = np.ones(len(light), bool)
    return _hist_median(lab[sel, 1]) - 128.0, _hist_median(lab[sel, 2]) - 128.0


def _hist_median(v: np.ndarray) -> float:
    cum = np.cumsum(np.bincount(v, minlength=256))
    return float(np.searchsorted(cum, 0.5 * cum[-1]))


# -- optics ---------------------------------------------------------------------------------------------

def add_vignette(rgb: np.ndarray, strength: float, seed: int = 0) -> np.ndarray:
    """Lens fall-off: brightness drops smoothly toward the corners, by `strength` (0..0.9) of it there."""
    rgb = _check(rgb)
    if _nothing_to_draw(strength, 0.9, "vignette strength"):
        return rgb.copy()
    rng = np.random.default_rng(seed)
    h, w = rgb.shape[:2]
    cx, cy = rng.uniform(-0.08, 0.08, 2)
    start = rng.uniform(0.35, 0.6)  # radius (of the half-diagonal) where the fall-off begins
    r = _radius(h, w, cx, cy)
    t = np.clip((r - np.float32(start)) / np.float32(1.0 - start), 0, None)
    keep = 1 - np.float32(strength) * np.minimum(t * t, 1.4)
    return _scale(rgb, np.clip(keep, 0.05, 1))


def add_field_stop(rgb: np.ndarray, radius: float, softness: float = 0.05, seed: int = 0) -> np.ndarray:
    """The dermatoscope's dark circular edge: near-black outside a circle of `radius` (a fraction of the
    half-diagonal, so 1 touches the corners and no pixel changes) with an edge `softness` wide."""
    rgb = _check(rgb)
    if radius <= 0 or radius >= 1:
        if radius < 0 or radius > 1:
            raise ValueError(f"field stop radius must be in (0, 1] of the half-diagonal, got {radius}")
        return rgb.copy()
    if softness <= 0:
        raise ValueError(f"field stop softness must be > 0, got {softness}")
    rng = np.random.default_rng(seed)
    h, w = rgb.shape[:2]
    cx, cy = rng.uniform(-0.05, 0.05, 2) * (1 - radius)  # a stop off-centre by a little
    r = _radius(h, w, cx, cy)
    dark = np.clip((r - np.float32(radius)) / np.float32(softness), 0, 1)
    floor = rng.uniform(0.02, 0.08)  # the stop is very dark, not pure black
    keep = 1 - dark * np.float32(1 - floor)
    return _scale(rgb, keep)


def _radius(h: int, w: int, cx: float, cy: float) -> np.ndarray:
    """Distance of each pixel centre from (cx, cy) (fractions of the side from the middle), over the
    half-diagonal, so the corners of a centred square sit at 1."""
    X, Y = _grid(h, w)
    half_diag = math.hypot(h, w) / 2
    return cv2.magnitude(X - np.float32(cx * w / half_diag), Y - np.float32(cy * h / half_diag))


@functools.lru_cache(maxsize=16)
def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centres relative to the image centre, in half-diagonals (read-only, shared)."""
    half_diag = math.hypot(h, w) / 2
    ys = ((np.arange(h, dtype=np.float32) + 0.5) - h / 2) / np.float32(half_diag)
    xs = ((np.arange(w, dtype=np.float32) + 0.5) - w / 2) / np.float32(half_diag)
    X, Y = np.meshgrid(xs, ys)
    X.setflags(write=False)
    Y.setflags(write=False)
    return X, Y


def _scale(rgb: np.ndarray, keep: np.ndarray) -> np.ndarray:
    out = rgb.astype(np.float32)
    out *= keep[..., None]
    return _to_u8(out)


# -- camera ---------------------------------------------------------------------------------------------

def blur(rgb: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian defocus, `sigma` px of this image (0 = none)."""
    rgb = _check(rgb)
    if sigma < 0:
        raise ValueError(f"blur sigma must be >= 0 px, got {sigma}")
    if sigma < 0.05:
        return rgb.copy()
    return cv2.GaussianBlur(rgb, (0, 0), float(sigma), borderType=cv2.BORDER_REFLECT)


def sharpen(rgb: np.ndarray, amount: float, sigma: float = 1.0) -> np.ndarray:
    """Unsharp mask: rgb + amount * (rgb - blur(rgb, sigma)), what camera firmware does (0 = none)."""
    rgb = _check(rgb)
    if amount < 0:
        raise ValueError(f"sharpen amount must be >= 0, got {amount}")
    if amount == 0:
        return rgb.copy()
    soft = cv2.GaussianBlur(rgb, (0, 0), float(sigma), borderType=cv2.BORDER_REFLECT)
    return cv2.addWeighted(rgb, 1 + float(amount), soft, -float(amount), 0)


def add_noise(rgb: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    """Sensor noise with `sigma` 8-bit levels: a seeded window of a fixed Gaussian texture (as random to
    the eye as a fresh draw, at a fraction of its cost)."""
    rgb = _check(rgb)
    if sigma < 0:
        raise ValueError(f"noise sigma must be >= 0, got {sigma}")
    if sigma == 0:
        return rgb.copy()
    h, w = rgb.shape[:2]
    rng = np.random.default_rng(seed)
    tex = _grain(max(h, w))
    oy, ox = (int(v) for v in rng.integers(0, tex.shape[0] - max(h, w) + 1, 2))
    grain = tex[oy:oy + h, ox:ox + w]
    if rng.random() < 0.5:
        grain = grain[::-1]
    noisy = cv2.scaleAdd(np.ascontiguousarray(grain), float(sigma), rgb.astype(np.float32))
    return _to_u8(noisy)


@functools.lru_cache(maxsize=8)
def _grain(side: int) -> np.ndarray:
    g = np.random.default_rng(20261201).standard_normal((2 * side, 2 * side, 3), dtype=np.float32)
    g.setflags(write=False)
    return g


def jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    """A JPEG round trip at `quality` (5-100; 100 = none)."""
    rgb = _check(rgb)
    if not 5 <= int(quality) <= 100:
        raise ValueError(f"JPEG quality must be in [5, 100], got {quality}")
    if quality >= 100:
        return rgb.copy()
    ok, buf = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])


# -- helpers --------------------------------------------------------------------------------------------

def _layer_seeds(seed: int) -> list[int]:
    """Seven independent integer seeds, one per random layer, from the image's seed."""
    return [int(v) for v in np.random.SeedSequence(abs(int(seed))).generate_state(7)]
