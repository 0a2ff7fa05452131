"""The camera of a real set, photo by photo: each real image's skin colour turned into the renderer's skin
type, colour cast and exposure that reproduce it, kept together as one joint draw a fair preset shares
across classes.

Uniform ranges of tint and exposure drawn apart make skins no camera takes: in derm-real the skin's a* and
L* go together (r = -0.38; darker skin photos are redder) and its b* spreads less than a uniform b* range
gives. Drawing the whole camera of one real photo at a time keeps those links. The table pools every class,
so it carries the set's camera, not a class's (the camera is read where there is no lesion: the skin ring).

How a row is found. The renderer's skin of each Fitzpatrick type under a neutral camera is measured once
(the same skin-ring median `lesion_stats` measures on real images). A camera is per-band gains on linear
light (`render.cast_gains`: a cast that moves the reference skin by (tint_a, tint_b) in a*, b*, times
2**exposure), so the gains that carry the type's skin to the photo's skin follow in closed form: exposure
from luminance, then the cast from the chromaticity left. Which type a photo shows is drawn from the
preset's own skin-type rates times how plausible the exposure it needs is under the preset's exposure
spread (a pale photo of fair skin and a bright photo of darker skin both make a light skin ring).
"""

from __future__ import annotations

import copy
from typing import Any

import cv2
import numpy as np

# The joint key the table is written under, and the acquisition parameters it replaces.
CAMERA_KEY = "skin_type+tint_a+tint_b+exposure"
REPLACED = ("skin_type", "tint_a", "tint_b", "white_balance", "exposure")
# Smoothing of the bootstrap: a camera a little off each measured one (a*/b* units, stops), about the
# spread of the skin-ring median itself between two photos of one skin.
JITTER = (0.0, 1.0, 1.0, 0.03)
_DEFAULT_TYPE_P = (0.45, 0.3, 0.13, 0.08, 0.03, 0.01)  # the built-in preset's rates (REAL-STATS ITA)
_DEFAULT_EXPOSURE_SD = 0.28
MIN_PHOTOS = 20


def renderer_skins(preset, size: int = 128, per_type: int = 40, seed: int = 5) -> np.ndarray:
    """(6, 3) CIELAB skin-ring median of the renderer's skin of Fitzpatrick types I-VI under a neutral
    camera (no cast, no white balance, exposure 0), over `per_type` draws of the preset's other parameters."""
    from simstudio.eval.lesion_stats import measure_images
    from simstudio.sim.export import image_seed
    from simstudio.sim.presets import sample_for_class
    from simstudio.sim.render import render_lesion

    out = np.zeros((6, 3))
    cls = preset.output_classes[0]
    for t in range(1, 7):
        images = []
        for i in range(per_type):
            s = image_seed(seed, t, i)
            p, _ = sample_for_class(preset, cls, np.random.default_rng(s))
            p = p.replace(skin_type=t, tint_a=0.0, tint_b=0.0, white_balance=0.0, exposure=0.0)
            images.append(render_lesion(p, size, s)[0])
        m = measure_images(np.stack(images))
        out[t - 1] = [np.nanmedian(m[k]) for k in ("skin_L", "skin_a", "skin_b")]
    return out


def solve_camera(base_lab: np.ndarray, target_lab: np.ndarray) -> np.ndarray:
    """(n, 3) (tint_a, tint_b, exposure) whose gains carry skin `base_lab` to `target_lab` ((n, 3) CIELAB
    each), white balance 0. Unclipped: a row may need more than a parameter's range allows."""
    from simstudio.sim.optics import LUMA
    from simstudio.sim.render import CAST_REFERENCE, reference_linear

    base = _lab_to_linear(base_lab)
    target = _lab_to_linear(target_lab)
    # gains = lin(reference + cast) / lin(reference) * 2**e must equal target / base per band
    q = reference_linear() * target / np.maximum(base, 1e-6)
    # lin(reference + cast) keeps the reference's luminance, so 2**e carries all of q's
    gain = np.maximum(q @ LUMA, 1e-6) / (reference_linear() @ LUMA)
    cast = _linear_to_lab(q / gain[:, None])
    return np.stack([cast[:, 1] - CAST_REFERENCE[1], cast[:, 2] - CAST_REFERENCE[2], np.log2(gain)], axis=1)


def camera_rows(skin_lab: np.ndarray, skins: np.ndarray, type_p=_DEFAULT_TYPE_P,
                exposure_sd: float = _DEFAULT_EXPOSURE_SD, seed: int = 0) -> np.ndarray:
    """(n, 4) rows (skin_type, tint_a, tint_b, exposure), one per measured photo skin (`skin_lab`, (n, 3),
    rows with a NaN left out), clipped to the parameters' ranges."""
    from simstudio.sim.params import PARAM_SPECS

    skin_lab = np.asarray(skin_lab, float)
    skin_lab = skin_lab[np.isfinite(skin_lab).all(axis=1)]
    n = len(skin_lab)
    if n < MIN_PHOTOS:
        raise ValueError(f"only {n} real photos have a measurable skin ring; the camera table needs at least "
                         f"{MIN_PHOTOS} (lesions that fill the frame leave no skin to read)")
    prior = np.asarray(type_p, float)
    cands = np.stack([solve_camera(np.repeat(skins[t][None], n, 0), skin_lab) for t in range(6)], axis=1)
    logw = np.log(np.maximum(prior, 1e-12))[None] - 0.5 * (cands[:, :, 2] / exposure_sd) ** 2
    w = np.exp(logw - logw.max(axis=1, keepdims=True))
    w /= w.sum(axis=1, keepdims=True)
    u = np.random.default_rng(seed).random(n)
    types = np.minimum((w.cumsum(axis=1) < u[:, None]).sum(axis=1), 5)
    chosen = cands[np.arange(n), types]
    rows = np.column_stack([types + 1, chosen])
    for j, name in enumerate(CAMERA_KEY.split("+")):
        rows[:, j] = np.clip(rows[:, j], PARAM_SPECS[name].low, PARAM_SPECS[name].high)
    return rows


def with_camera_table(preset, rows: np.ndarray, jitter=JITTER):
    """A copy of `preset` whose skin type, cast, white balance and exposure are drawn together from `rows`
    (fair: one table for every class; matching presets keep any per-class camera of their own)."""
    out = copy.deepcopy(preset)
    for name in REPLACED:
        out.acquisition.pop(name, None)
    for key in [k for k in out.acquisition if "+" in k and set(k.split("+")) & set(REPLACED)]:
        del out.acquisition[key]
    out.acquisition[CAMERA_KEY] = {
        "rows": [[int(r[0]), round(float(r[1]), 2), round(float(r[2]), 2), round(float(r[3]), 3)] for r in rows],
        "jitter": list(jitter)}
    return out.validate()


def fit_camera(preset, images: np.ndarray, seed: int = 0, size: int = 128) -> tuple[Any, dict]:
    """`preset` with the camera of `images` (uint8 (n, H, W, 3) real photos, every class, as taken: no
    colour constancy), and a summary of what was read."""
    from simstudio.eval.lesion_stats import measure_images

    m = measure_images(images)
    skin = np.column_stack([m["skin_L"], m["skin_a"], m["skin_b"]])
    skins = renderer_skins(preset, size=size)
    type_p, exposure_sd = _priors(preset)
    rows = camera_rows(skin, skins, type_p, exposure_sd, seed)
    counts = np.bincount(rows[:, 0].astype(int), minlength=7)[1:]
    summary = {"photos": int(len(images)), "rows": int(len(rows)),
               "skin_types": {str(t + 1): int(c) for t, c in enumerate(counts)},
               **{f"{name}_p5_p95": [round(float(np.percentile(rows[:, j], 5)), 2),
                                     round(float(np.percentile(rows[:, j], 95)), 2)]
                  for j, name in enumerate(CAMERA_KEY.split("+")) if j}}
    return with_camera_table(preset, rows), summary


def _priors(preset) -> tuple[np.ndarray, float]:
    """The preset's own skin-type rates and exposure spread (the built-in's where it has no such
    distribution)."""
    spec = preset.acquisition.get("skin_type")
    type_p = np.array(_DEFAULT_TYPE_P)
    if isinstance(spec, dict) and "choice" in spec:
        p = np.zeros(6)
        weights = spec.get("p", [1.0] * len(spec["choice"]))
        for v, w in zip(spec["choice"], weights, strict=True):
            p[int(v) - 1] += float(w)
        type_p = p if p.sum() > 0 else type_p
    elif isinstance(spec, (int, float)) or (isinstance(spec, dict) and "const" in spec):
        type_p = np.eye(6)[int(spec["const"] if isinstance(spec, dict) else spec) - 1]
    e = preset.acquisition.get("exposure")
    sd = float(e["normal"][1]) if isinstance(e, dict) and "normal" in e and e["normal"][1] > 0 else _DEFAULT_EXPOSURE_SD
    return type_p / type_p.sum(), sd


def _lab_to_linear(lab: np.ndarray) -> np.ndarray:
    from simstudio.sim.render import to_linear

    srgb = cv2.cvtColor(np.asarray(lab, np.float32).reshape(-1, 1, 3), cv2.COLOR_Lab2RGB).reshape(-1, 3)
    return to_linear(srgb)


def _linear_to_lab(lin: np.ndarray) -> np.ndarray:
    from simstudio.sim.render import from_linear

    srgb = from_linear(lin).astype(np.float32).reshape(-1, 1, 3)
    return cv2.cvtColor(srgb, cv2.COLOR_RGB2Lab).reshape(-1, 3).astype(float)
