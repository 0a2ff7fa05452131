"""Texture by scale: how much lightness detail an image has at each spatial scale, inside the lesion and
in the skin around it, and how a synthetic set's profile differs from a real one's, class by class.

The lightness L* is split into difference-of-Gaussian bands (sigma doubling from 0.7 px at 224 px, the
side of REAL-STATS' images, scaled with the image): band k is G(sigma_k) - G(sigma_k+1) of L*, the finest
band L* - G(0.7). Each band's RMS over the (eroded) lesion is its energy; the skin gets the three finest
bands, the coarse ones mix in the lesion's edge. A C2ST says *that* two sets differ; this says at which
scale: sponge-like blotches show as too much coarse energy, airbrushed skin as too little fine energy,
sensor noise and sharpness as the finest band.

Two numbers per band: the real-vs-synthetic AUC of its energy within a class (0.5 = the same spread), and
the class signal, the AUC of its energy for one class against the rest, in each set: a band whose class
signal is strong in the synthetic set and absent in the real one teaches a classifier a cue that real
images do not carry. Real images' finest bands also carry their camera (REAL-STATS: derm-real's malignant
images are twice as sharp), so a class signal there can be acquisition, not lesion.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np

from simstudio.eval.lesion_stats import LesionSegmentation, _disc, _segmented

REFERENCE_SIDE = 224
SIGMAS_224 = (0.7, 1.4, 2.8, 5.6, 11.2)  # band edges, px at 224 px: 0.06-1 mm at derm-real's ~20 mm field
LESION_BANDS = tuple(f"lesion_{i}" for i in range(len(SIGMAS_224)))
SKIN_BANDS = tuple(f"skin_{i}" for i in range(3))
BAND_NAMES = LESION_BANDS + SKIN_BANDS
MIN_PIXELS = 200  # fewer measured pixels than this (at 224 px) leave a band's energy undefined


def band_labels(names: Sequence[str] = BAND_NAMES) -> list[str]:
    """Readable label of each band: where, and its sigma range in px at 224 px."""
    edges = (0.0, *SIGMAS_224)
    out = []
    for name in names:
        where, k = name.split("_")
        out.append(f"{where} σ {edges[int(k)]:g}–{edges[int(k) + 1]:g} px")
    return out


def texture_bands(rgb: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Band energies (BAND_NAMES order, NaN where too few pixels) of one uint8 RGB image; `mask` is the
    lesion (bool H x W), found by `lesion_stats.segment_lesion` when None (hair is found either way)."""
    return texture_of(_segmented(rgb, mask))


def texture_of(seg: LesionSegmentation) -> np.ndarray:
    """`texture_bands` of an image already segmented (e.g. by `measure_images`, through `texture_into`)."""
    lesion = seg.mask
    side = min(lesion.shape)
    s = side / REFERENCE_SIDE
    L = seg.lab[..., 0]
    pyramid = [L] + [cv2.GaussianBlur(L, (0, 0), sg * s) for sg in SIGMAS_224]
    hair = _grow(seg.hair, 2 * s)
    inner = _shrink(lesion & ~hair, 3 * s)
    skin = _shrink(~_grow(lesion, 7 * s) & ~seg.field_stop & ~hair, 4 * s)
    enough = MIN_PIXELS * s * s
    out = np.full(len(BAND_NAMES), np.nan)
    for k in range(len(SIGMAS_224)):
        band = pyramid[k] - pyramid[k + 1]
        if inner.sum() >= enough:
            out[k] = np.sqrt(np.mean(band[inner] ** 2))
        if k < len(SKIN_BANDS) and skin.sum() >= enough:
            out[len(LESION_BANDS) + k] = np.sqrt(np.mean(band[skin] ** 2))
    return out


def texture_into(rows: np.ndarray) -> Callable[[int, LesionSegmentation], None]:
    """A `measure_images(each=...)` hook that writes image i's band energies into rows[i], so statistics
    and texture share one segmentation per image."""
    def put(i: int, seg: LesionSegmentation) -> None:
        rows[i] = texture_of(seg)

    return put


def texture_matrix(images: np.ndarray | Sequence[np.ndarray],
                   progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """(N, len(BAND_NAMES)) band energies of uint8 RGB images."""
    rows = []
    for i, im in enumerate(images):
        rows.append(texture_bands(im))
        if progress is not None and (i + 1) % 32 == 0:
            progress(i + 1, len(images))
    return np.stack(rows) if rows else np.zeros((0, len(BAND_NAMES)))


def compare_texture(real: np.ndarray, real_labels: np.ndarray, synthetic: np.ndarray,
                    synthetic_labels: np.ndarray, classes: Sequence[str]) -> dict:
    """Per band: per class the median energy of each set and their real-vs-synthetic AUC, and each
    set's class signal (AUC of one class against the rest; for two classes, the second against the
    first). JSON-able; NaN (no images, one class only) is written as None."""
    real_labels, synthetic_labels = np.asarray(real_labels), np.asarray(synthetic_labels)
    signal_classes = list(classes[1:]) if len(classes) == 2 else list(classes)
    out = {"bands": list(BAND_NAMES), "labels": band_labels(), "per_class": {}, "class_signal": {}}
    for i, c in enumerate(classes):
        ra, sb = real[real_labels == i], synthetic[synthetic_labels == i]
        out["per_class"][c] = {
            "n_real": int(len(ra)), "n_synthetic": int(len(sb)),
            "real": [_num(_median(ra[:, j])) for j in range(len(BAND_NAMES))],
            "synthetic": [_num(_median(sb[:, j])) for j in range(len(BAND_NAMES))],
            "auc": [_num(_auc(ra[:, j], sb[:, j])) for j in range(len(BAND_NAMES))]}
    for c in signal_classes:
        i = list(classes).index(c)
        out["class_signal"][c] = {
            name: [_num(_auc(X[y != i, j], X[y == i, j])) for j in range(len(BAND_NAMES))]
            for name, X, y in (("real", real, real_labels), ("synthetic", synthetic, synthetic_labels))}
    return out


def format_texture(texture: dict, markdown: bool = False) -> str:
    """The comparison as a table: per band and class the real and synthetic median energy and their AUC,
    then the class signal in each set."""
    classes = list(texture["per_class"])
    signal = list(texture["class_signal"])
    head = (["band"] + [f"{c}: real / synthetic (AUC)" for c in classes]
            + [f"{c} signal real / synthetic" for c in signal])
    rows = []
    for j, label in enumerate(texture["labels"]):
        cells = [label]
        for c in classes:
            pc = texture["per_class"][c]
            cells.append(f"{_fmt(pc['real'][j], 2)} / {_fmt(pc['synthetic'][j], 2)} ({_fmt(pc['auc'][j], 3)})")
        for c in signal:
            cs = texture["class_signal"][c]
            cells.append(f"{_fmt(cs['real'][j], 3)} / {_fmt(cs['synthetic'][j], 3)}")
        rows.append(cells)
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    widths = [max(len(r[k]) for r in [head, *rows]) for k in range(len(head))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
                     for r in [head, *rows])


def _median(v: np.ndarray) -> float:
    v = v[~np.isnan(v)]
    return float(np.median(v)) if len(v) else float("nan")


def _auc(a: np.ndarray, b: np.ndarray) -> float:
    """ROC-AUC of telling b from a by this value (0.5: the same spread)."""
    from sklearn.metrics import roc_auc_score

    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if len(a) == 0 or len(b) == 0:
        return float("nan")
    return float(roc_auc_score(np.r_[np.zeros(len(a)), np.ones(len(b))], np.r_[a, b]))


def _grow(mask: np.ndarray, radius: float) -> np.ndarray:
    return cv2.dilate(mask.astype(np.uint8), _disc(2 * max(1, round(radius)) + 1)).astype(bool)


def _shrink(mask: np.ndarray, radius: float) -> np.ndarray:
    return cv2.erode(mask.astype(np.uint8), _disc(2 * max(1, round(radius)) + 1)).astype(bool)


def _num(v: float):
    return None if v is None or not np.isfinite(v) else round(float(v), 4)


def _fmt(v, digits: int) -> str:
    return "–" if v is None else f"{v:.{digits}f}"
