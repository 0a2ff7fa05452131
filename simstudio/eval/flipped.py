"""A shortcut-flipped test set: each real test image's acquisition moved toward the OTHER class's median,
the lesion kept, so robustness to the camera is measurable without a second clinic.

From the test images themselves the shortcut audit measures the per-class medians and artefact rates
(eval/audit_features per image, eval/shortcut_audit.acquisition_medians per class: skin a*, b*,
Laplacian sharpness, vignette, field stop, hair and ruler rates, REAL-STATS' thresholds); then every
image of class c gets:
- the colour cast shifted by (median of the other class - median of c) in skin a*, b*: the class's
  median lands on the other's and the spread within it stays. A white balance acts on every pixel, so
  the whole image moves and the lesion keeps its colour relative to the skin (its absolute colour is the
  camera's: REAL-STATS' lesion a* "feature" is the cast);
- the sharpness of the skin scaled by the ratio of the class medians (Gaussian blur or unsharp mask,
  the amount found per image by bisection), the lesion left as it was (its border sharpness is a lesion
  cue: malignant borders are relatively sharper whatever the image's focus, REAL-STATS);
- vignette, field stop, hair and ruler added at the rate difference when the other class has more of
  them (to images without one), and hair removed (DullRazor inpainting) when it has less. A vignette, a
  black field stop or a ruler cannot be taken out of a photo, so those rates only move up: the report
  says which moved.
Lesion pixels (lesion_stats' mask) are kept as they are after the cast, through the focus change and
the artefact layers: a classifier that reads the lesion keeps its AUC here, one that reads the camera
loses it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from simstudio.sim import acquisition as acq

FEATURES = ("skin_a", "skin_b", "sharpness", "vignette", "field_stop", "hair", "ruler")
# The audit's names for them (shortcut_audit.acquisition_medians).
_AUDIT_NAMES = {"skin_a": "cast_a", "skin_b": "cast_b", "sharpness": "sharpness", "vignette": "vignette_rate",
                "field_stop": "field_stop_rate", "hair": "hair_rate", "ruler": "ruler_rate"}


@dataclass
class FlipReport:
    """What was measured and done: per class {feature: median or rate}, before and after the flip."""

    classes: list[str]
    before: dict = field(default_factory=dict)
    after: dict = field(default_factory=dict)
    moved: dict = field(default_factory=dict)  # feature -> "moved" | "only up" note
    source: str = "simstudio.eval.shortcut_audit.acquisition_medians (eval/audit_features per image)"

    def to_dict(self) -> dict:
        return {"classes": self.classes, "before": self.before, "after": self.after, "moved": self.moved,
                "source": self.source}


def acquisition_features(images) -> list[dict[str, float]]:
    """Per image: the flip's features (skin a*, b*, sharpness; 0/1 for vignette, field stop, hair and
    ruler at the audit's thresholds), measured by the shortcut audit."""
    from simstudio.eval import shortcut_audit as sa
    from simstudio.eval.audit_features import measure_many

    cols = measure_many(np.asarray(images), workers=1)

    def flag(name, threshold):
        v = np.asarray(cols[name], float)
        return np.where(np.isnan(v), 0.0, (v >= threshold).astype(float))

    per = {"skin_a": cols["skin_a"], "skin_b": cols["skin_b"], "sharpness": cols["sharpness"],
           "vignette": flag("vignette_drop", sa.VIGNETTE_DROP),
           "field_stop": flag("field_stop_area", sa.FIELD_STOP_AREA),
           "hair": flag("hair_frac", sa.HAIR_FRAC), "ruler": flag("ruler_score", sa.RULER_SCORE)}
    return [{k: float(per[k][i]) for k in FEATURES} for i in range(len(cols["skin_a"]))], cols


def class_medians(images, labels, classes: list[str]) -> tuple[dict[str, dict[str, float]], list[dict]]:
    """Per class: the audit's median skin a*, b* and sharpness and its artefact rates (the flip's names),
    and the per-image features."""
    from simstudio.eval.shortcut_audit import acquisition_medians

    feats, cols = acquisition_features(images)
    med = acquisition_medians(cols, np.asarray(labels), list(classes))
    return {c: {k: float(med[c][_AUDIT_NAMES[k]]) for k in FEATURES} for c in classes}, feats


def flip_test_set(images, labels, classes: list[str], seed: int = 0) -> tuple[np.ndarray, FlipReport]:
    """The flipped copy of a binary test set (uint8 (N, H, W, 3)) and what it measured and did."""
    images = np.asarray(images)
    labels = np.asarray(labels, dtype=np.int64)
    if len(classes) != 2:
        raise ValueError(f"the shortcut-flipped test set swaps two classes' acquisition; got {len(classes)} classes")
    present = set(labels.tolist())
    if present != {0, 1}:
        raise ValueError("the shortcut-flipped test set needs test images of both classes")
    before, feats = class_medians(images, labels, classes)
    out = np.empty_like(images)
    rng = np.random.default_rng(seed)
    for i, (img, y) in enumerate(zip(images, labels, strict=True)):
        own, other = before[classes[y]], before[classes[1 - y]]
        out[i] = flip_image(img, own, other, feats[i], int(rng.integers(2**31 - 1)))
    after, _ = class_medians(out, labels, classes)
    moved = {k: "moved" for k in FEATURES}
    for k in ("vignette", "field_stop", "ruler"):
        if before[classes[0]][k] != before[classes[1]][k]:
            moved[k] = "added to the class with fewer (cannot be removed from a photo)"
    moved["hair"] = "added to the class with fewer, removed from the class with more"
    return out, FlipReport(list(classes), before, after, moved)


def flip_image(rgb: np.ndarray, own: dict, other: dict, feats: dict, seed: int) -> np.ndarray:
    """One image of a class with medians `own` moved toward `other` (see the module docstring)."""
    from simstudio.data.preprocess import hair_mask, inpaint_mask
    from simstudio.eval.lesion_stats import segment_lesion

    rng = np.random.default_rng(seed)
    lesion = segment_lesion(rgb).mask
    out = acq.shift_cast(rgb, _diff(other, own, "skin_a"), _diff(other, own, "skin_b"))
    ratio = other["sharpness"] / own["sharpness"] if own["sharpness"] > 0 else 1.0
    base = out
    if math.isfinite(ratio) and abs(math.log(max(ratio, 1e-6))) > 0.05:
        out = match_sharpness(base, _lapvar(base) * ratio)
    seeds = [int(v) for v in rng.integers(0, 2**31 - 1, 5)]
    if _gets(rng, feats["vignette"], own["vignette"], other["vignette"]):
        out = acq.add_vignette(out, float(rng.uniform(0.35, 0.6)), seeds[0])
    if _gets(rng, feats["field_stop"], own["field_stop"], other["field_stop"]):
        out = acq.add_field_stop(out, float(rng.uniform(0.75, 0.92)), float(rng.uniform(0.02, 0.06)), seeds[1])
    if _gets(rng, feats["hair"], own["hair"], other["hair"]):
        out, _ = acq.add_hair(out, int(rng.integers(3, 10)), seeds[2])
    elif feats["hair"] and own["hair"] > other["hair"] and rng.random() < (own["hair"] - other["hair"]) / own["hair"]:
        mask = hair_mask(out)
        mask[lesion] = 0
        out = inpaint_mask(out, mask)
    if _gets(rng, feats["ruler"], own["ruler"], other["ruler"]):
        out, _ = acq.add_ruler(out, seeds[3])
    out = out.copy()
    out[lesion] = base[lesion]  # the lesion's pixels are kept (after the camera's cast)
    return out


def _diff(other: dict, own: dict, key: str) -> float:
    d = other[key] - own[key]
    return d if math.isfinite(d) else 0.0


def _gets(rng, has: float, own_rate: float, other_rate: float) -> bool:
    """Whether an image without the artefact gets one, so the class's rate reaches the other's."""
    if has or other_rate <= own_rate or own_rate >= 1:
        return False
    return bool(rng.random() < (other_rate - own_rate) / (1 - own_rate))


def _lapvar(rgb: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var())


def match_sharpness(rgb: np.ndarray, target: float, iterations: int = 12) -> np.ndarray:
    """Blur or unsharp-mask `rgb` until its Laplacian variance is about `target` (bisection on the
    blur sigma or the sharpening amount)."""
    now = _lapvar(rgb)
    if now <= 0 or target <= 0:
        return rgb.copy()
    if target < now:
        lo, hi, edit = 0.0, 4.0, acq.blur
    else:
        lo, hi, edit = 0.0, 3.0, acq.sharpen
    best = rgb
    for _ in range(iterations):
        mid = (lo + hi) / 2
        cand = edit(rgb, mid)
        v = _lapvar(cand)
        best = cand
        if (v > target) == (edit is acq.blur):
            lo = mid
        else:
            hi = mid
    return best
