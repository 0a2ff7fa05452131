"""`render_lesion`: draw one dermoscopic image from `LesionParams` (the version drawn is `RENDERER_VERSION`).

Skin and lesion are composed as chromophore maps in optical density (epidermal melanin, dermal
melanin, haemoglobin, back-scatter; `optics` has the spectra and their sources) and turned into light
per pixel, so blue-grey comes out of deep melanin, red out of blood and white out of scattering. Five
numba kernels do the work (lesion geometry and the per-pixel pass in `draw_lesion`, stamped structures
in `draw_structures`, hair/scope and the optics composite in `draw_scope`); this module packs the
parameters, runs them and applies the camera's blur and JPEG with OpenCV.

Lengths are millimetres of skin and every random choice is a hash of (seed, component, index), so one
seed draws the same lesion at 32 px and at 512 px, changing one component (hair, say) leaves the rest
as it was, and the same params + seed give the same bytes in any process.
"""

from __future__ import annotations

import functools
import threading
import time

import cv2
import numpy as np

from simstudio.sim import optics
from simstudio.sim.draw_lesion import lesion_frame, lesion_pass
from simstudio.sim.draw_scope import composite, scope_pass
from simstudio.sim.draw_structures import structures_pass
from simstudio.sim.kernel_base import (
    B_GLOBULES,
    B_HAIR,
    B_LESION,
    B_MILIA,
    B_NEGATIVE,
    B_NETWORK,
    B_STREAKS,
    N_PLANES,
    PACKED,
)
from simstudio.sim.params import HAIR_COLOURS, LAYOUTS, VESSEL_PATTERNS, LesionParams
from simstudio.sim.textures import bank

RENDERER_VERSION = 7
# What each version draws differently from the one before it, for messages about a preset fitted on an
# older renderer (versions up to 6 each redrew the look of every image).
RENDERER_CHANGES = {
    7: "blue-grey areas and the blue-white veil as a few large zones inside the lesion, bluer; nothing else",
}
MIN_SIZE, MAX_SIZE = 32, 512
# The structure masks `render_lesion(..., masks=True)` returns: the five ISIC 2018 Task 2 attributes
# and hair.
MASK_NAMES = ("pigment_network", "negative_network", "streaks", "globules", "milia_cysts", "hair")
_MASK_BITS = (B_NETWORK, B_NEGATIVE, B_STREAKS, B_GLOBULES, B_MILIA, B_HAIR)

# At these image sizes OpenCV's thread pool costs more than it saves; exports get parallelism from
# processes instead.
cv2.setNumThreads(1)

# Reference skin (CIELAB) at which a camera cast of (tint_a, tint_b) is exact: the renderer's fair skin.
CAST_REFERENCE = (68.0, 14.0, 12.0)


def render_lesion(params: LesionParams, size: int = 128, seed: int = 0, masks: bool = False):
    """(rgb uint8 size x size x 3, lesion mask bool size x size) of `params` under `seed`; with
    masks=True also a dict of bool masks of the structures drawn (MASK_NAMES), each inside the lesion
    mask except hair."""
    params.validate()
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"size = {size!r} is out of range: expected an integer in [{MIN_SIZE}, {MAX_SIZE}] px")
    size = int(size)
    seed = abs(int(seed)) & 0xFFFFFFFFFFFFFFFF
    P = pack_params(params)
    flat, offsets = bank()
    planes, bits, scratch = _work_buffers(size)
    planes[N_PLANES - 2:] = 0  # specular and hair are only stamped
    frame = lesion_frame(P, seed)
    lesion_pass(P, seed, size, frame, flat, offsets, planes, bits)
    structures_pass(P, seed, size, frame, planes, bits, scratch)
    scope_pass(P, seed, size, planes, bits)
    rgb = np.empty((size, size, 3), np.uint8)
    composite(P, seed, size, planes, _constants(),
              cast_gains(params.tint_a, params.tint_b, params.white_balance, params.exposure),
              _hair_od(params.hair_colour), _srgb_lut(), float(params.noise), rgb)
    rgb = _camera(params, rgb, size)
    lesion = (bits & B_LESION) > 0
    if not masks:
        return rgb, lesion
    out = {name: (bits & bit) > 0 for name, bit in zip(MASK_NAMES, _MASK_BITS, strict=True)}
    for name in MASK_NAMES[:-1]:
        out[name] &= lesion
    return rgb, lesion, out


def renderer_changes_since(version: int) -> str:
    """What this install draws differently from renderer `version`, in words."""
    if version >= RENDERER_VERSION:
        return "nothing"
    changes = [f"version {v}: {RENDERER_CHANGES[v]}" for v in range(version + 1, RENDERER_VERSION + 1)
               if v in RENDERER_CHANGES]
    if len(changes) < RENDERER_VERSION - version:
        return "the look of every image (colours, textures and structures were redrawn since)"
    return "; ".join(changes)


def fitted_renderer(provenance: dict | None) -> int | None:
    """The renderer version a fitted preset was fitted on (1 for a fit from before versions were recorded);
    None for a preset no fit wrote."""
    return int(provenance.get("renderer_version", 1)) if provenance else None


def fitted_renderer_note(version: int) -> str:
    """"fitted on renderer version N", and what this install draws differently when N is another version."""
    if version == RENDERER_VERSION:
        return f"fitted on renderer version {version}"
    return (f"fitted on renderer version {version}; this SimStudio renders version {RENDERER_VERSION}, which "
            f"differs in {renderer_changes_since(version)}")


def pack_params(p: LesionParams) -> np.ndarray:
    """The float64 vector the kernels read (`kernel_base.PACKED` order)."""
    d = p.__dict__
    colours = set(p.colours)
    values = [float(d[name]) if kind is None else
              (1.0 if name in colours else 0.0) if kind is _FLAG else float(kind.index(d[name]))
              for name, kind in _PACK_PLAN]
    return np.array(values, np.float64)


# How each PACKED entry is read, worked out once (the per-name string tests cost ~half of pack_params):
# (field, None) a number; (colour, _FLAG) 1.0 when that colour is present; (field, choices) its index.
_FLAG = object()
_PACK_PLAN = tuple(
    (name[7:], _FLAG) if name.startswith("colour_") and name not in ("colour_layout", "colour_variegation")
    else (name, {"colour_layout": LAYOUTS, "vessel_pattern": VESSEL_PATTERNS, "hair_colour": HAIR_COLOURS}.get(name))
    for name in PACKED)


# Planes, structure bits and stamping scratch of the last image size each thread drew: a new ~0.5 MB at
# 128 px per image came from fresh pages (the allocator hands such blocks back to the system), whose
# faults cost ~0.1 ms of 3 per image. Every kernel writes a buffer before it reads it, so reuse leaves
# the bytes as they were; no returned array is a view of one. Above 256 px the saving is small next to
# the drawing and each thread of a server would keep megabytes, so those sizes allocate per image.
_BUFFERS = threading.local()
_REUSE_MAX = 256


def _work_buffers(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    held = getattr(_BUFFERS, "arrays", None)
    if held is not None and held[1].shape[0] == size:
        return held
    arrays = (np.empty((N_PLANES, size, size), np.float32), np.empty((size, size), np.uint8),
              np.empty((size, size), np.float32))
    _BUFFERS.arrays = arrays if size <= _REUSE_MAX else None
    return arrays


def warm_up() -> float:
    """Load (or, on a fresh install, compile) the kernels and map (there: build) the texture bank; seconds
    taken. Safe to call from a background thread at start-up so the first preview is fast."""
    with _WARM_LOCK:
        start = time.perf_counter()
        render_lesion(LesionParams(hair_count=2, globules=3, streaks=0.5, milia_cysts=1, comedo_openings=1,
                                   vessels=0.5, gel_bubbles=1, ruler=True, n_lesions=2, jpeg_quality=90),
                      MIN_SIZE, 0)
        return time.perf_counter() - start


_WARM_LOCK = threading.Lock()


def _camera(p: LesionParams, rgb: np.ndarray, size: int) -> np.ndarray:
    sigma = p.blur_mm * size / p.fov_mm
    if sigma > 0.3:
        rgb = cv2.GaussianBlur(rgb, (0, 0), sigma)
    if p.jpeg_quality < 100:
        # cvtColor, not a reversed view: OpenCV copies a negative-stride array slowly (the same bytes, half the time)
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        _, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(p.jpeg_quality)])
        rgb = _decode_rgb(buf)
    return rgb


if hasattr(cv2, "IMREAD_COLOR_RGB"):  # OpenCV >= 4.10: libjpeg writes RGB, one conversion less (the same pixels)
    def _decode_rgb(buf: np.ndarray) -> np.ndarray:
        return cv2.imdecode(buf, cv2.IMREAD_COLOR_RGB)
else:
    def _decode_rgb(buf: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


@functools.lru_cache(maxsize=1)
def _constants() -> np.ndarray:
    return optics.kernel_constants()


@functools.lru_cache(maxsize=8)
def _hair_od(colour: str) -> np.ndarray:
    return np.array(optics.HAIR_OD[colour], np.float64)


@functools.lru_cache(maxsize=1)
def _srgb_lut() -> np.ndarray:
    """Linear light [0, 1] -> sRGB byte (IEC 61966-2-1), 4096 steps."""
    return np.round(from_linear(np.linspace(0, 1, 4096)) * 255).astype(np.uint8)


# A white-balance error along the warm-cool (colour temperature) axis moves a* half as far as b*: warm
# casts are yellow-red, cool ones blue, which is why real casts' a* and b* go together.
_WARM_A_PER_B = 0.5


@functools.lru_cache(maxsize=4096)
def cast_gains(tint_a: float, tint_b: float, white_balance: float = 0.0, exposure: float = 0.0) -> np.ndarray:
    """Per-band gains that move the reference skin by (tint_a, tint_b) in a*, b* plus `white_balance`
    along the warm-cool axis, times 2**exposure: the camera's white balance and exposure."""
    ref = np.array([[CAST_REFERENCE]], np.float32)
    shift = [0.0, tint_a + _WARM_A_PER_B * white_balance, tint_b + white_balance]
    cast = ref + np.array([[shift]], np.float32)
    gains = to_linear(cv2.cvtColor(cast, cv2.COLOR_Lab2RGB)[0, 0]) / reference_linear() * 2.0 ** exposure
    return gains.astype(np.float64)


@functools.lru_cache(maxsize=1)
def reference_linear() -> np.ndarray:
    """The reference skin in linear RGB (floored at 1e-6): the same for every cast, and every image
    draws its own cast, so worked out once instead of per image."""
    ref = np.array([[CAST_REFERENCE]], np.float32)
    return np.maximum(to_linear(cv2.cvtColor(ref, cv2.COLOR_Lab2RGB)[0, 0]), 1e-6)


def from_linear(v: np.ndarray) -> np.ndarray:
    """Linear light -> sRGB in [0, 1] (IEC 61966-2-1), clipped to [0, 1]."""
    v = np.clip(v, 0.0, 1.0)
    return np.where(v <= 0.0031308, 12.92 * v, 1.055 * v ** (1 / 2.4) - 0.055)


def to_linear(s: np.ndarray) -> np.ndarray:
    s = np.clip(s.astype(np.float64), 0, 1)
    return np.where(s <= 0.04045, s / 12.92, ((s + 0.055) / 1.055) ** 2.4)

