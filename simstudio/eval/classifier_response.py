"""What moves a classifier's answers *within* a class, on real images: the observational half of the
classifier audit (the edits are the interventional half), and SimDeepL's loop of feeding what a
classifier uses back into the simulator.

Within one class the label is fixed, so a measured feature that goes with P(positive) there is something
the classifier reads beyond the label. On a lesion feature that can be fine (a more asymmetric nevus
looks more like a melanoma); on an acquisition feature (hair, vignette, sharpness, the cast) it is a
cue the classifier should not use. For a simulator-trained classifier it names the acquisition range the
simulator should widen or the structure it draws too often in one class: on derm-real's validation
images a classifier trained on the built-in preset rated hairy nevi as melanomas (hair fraction
Spearman rho +0.44 and +0.53 within benign over two training seeds; its most confident errors were
hairy nevi), which the hair edit then confirmed (43 % of answers flipped).

`within_class_response` gives Spearman's rho per class and feature with a bootstrap interval over the
class's images; `response_verdict` one line per classifier; `confident_errors` the images it got most
wrong, so a user can look at them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.stats import rankdata

from simstudio.eval.audit_features import AUDIT_FEATURES

# A cue "moves" the answers when |rho| reaches this and its 95 % interval excludes 0: rho 0.3 is a
# medium association (Cohen 1988), well above what 150 images of noise give (sd of rho ~0.08).
MOVES_RHO = 0.3
# Fewer images of a class than this, or fewer distinct values of a feature, give no rho.
MIN_IMAGES = 20
MIN_DISTINCT = 5


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho (average ranks for ties); NaN when either side is constant."""
    rx, ry = rankdata(x), rankdata(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    den = math.sqrt(float((rx * rx).sum() * (ry * ry).sum()))
    return float((rx * ry).sum() / den) if den > 0 else math.nan


def within_class_response(cols: dict[str, np.ndarray], labels: np.ndarray, p_positive: np.ndarray,
                          classes: Sequence[str], names: Sequence[str] | None = None, n_boot: int = 200,
                          seed: int = 0) -> list[dict]:
    """One row per class and feature: {"class", "feature", "group", "n", "rho", "low", "high"}, the
    strongest first (|rho|). `cols`: feature -> per-image values (NaN = not measured); `p_positive`:
    the classifier's P(positive class) per image. The interval is the percentile interval of rho over
    `n_boot` resamples of the class's images."""
    labels = np.asarray(labels, int)
    p = np.asarray(p_positive, float)
    if len(p) != len(labels):
        raise ValueError(f"{len(p)} probabilities for {len(labels)} labels")
    names = [k for k in (names or AUDIT_FEATURES) if k in cols]
    rng = np.random.default_rng(seed)
    rows = []
    for c, cname in enumerate(classes):
        in_class = labels == c
        for k in names:
            v = np.asarray(cols[k], float)
            ok = in_class & np.isfinite(v) & np.isfinite(p)
            x, y = v[ok], p[ok]
            if len(x) < MIN_IMAGES or len(np.unique(x)) < MIN_DISTINCT:
                continue
            rho = spearman(x, y)
            if math.isnan(rho):
                continue
            lo, hi = np.nanpercentile(_boot_spearman(x, y, n_boot, rng), [2.5, 97.5])
            rows.append({"class": cname, "feature": k, "group": AUDIT_FEATURES.get(k, ("", "lesion"))[1],
                         "n": int(len(x)), "rho": rho, "low": float(lo), "high": float(hi)})
    rows.sort(key=lambda r: -abs(r["rho"]))
    return rows


def _boot_spearman(x: np.ndarray, y: np.ndarray, n_boot: int, rng) -> np.ndarray:
    """rho of `n_boot` resamples of the pairs at once (one ranking call per side, not one per resample);
    NaN for a resample where a side came out constant."""
    idx = rng.integers(0, len(x), (n_boot, len(x)))
    rx, ry = rankdata(x[idx], axis=1), rankdata(y[idx], axis=1)
    rx -= rx.mean(1, keepdims=True)
    ry -= ry.mean(1, keepdims=True)
    den = np.sqrt((rx * rx).sum(1) * (ry * ry).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (rx * ry).sum(1) / den, np.nan)


def moves(row: dict) -> bool:
    """The feature moves the answers: |rho| >= MOVES_RHO and the interval excludes 0."""
    return abs(row["rho"]) >= MOVES_RHO and (row["low"] > 0 or row["high"] < 0)


def response_verdict(name: str, rows: list[dict], positive: str) -> str:
    """One line: the acquisition features that go with `name`'s P(positive) within a class, or that none
    do."""
    cues = [r for r in rows if r["group"] == "acquisition" and moves(r)]
    if not cues:
        return (f"{name}: no acquisition feature goes with P({positive}) within a class "
                f"(every |rho| < {MOVES_RHO} or its interval spans 0)")
    said = "; ".join(f"{r['feature']} rho {r['rho']:+.2f} [{r['low']:+.2f}, {r['high']:+.2f}] in {r['class']}"
                     for r in cues[:4])
    return f"{name}: P({positive}) goes with how the photo was taken, within a class: {said}"


# Said once wherever the verdicts are listed (CLI, report, Gap tab), not once per classifier.
CAVEAT = ("observed, not caused: a feature that goes with the lesion goes with P too; an edit or a look at "
          "the most confident errors tells")


def confident_errors(p_positive: np.ndarray, labels: np.ndarray, positive: int, classes: Sequence[str],
                     k: int = 8) -> list[dict]:
    """The k most confident wrong answers per class, worst first: positives with the lowest
    P(positive) below 0.5, the others with the highest at or above it. Rows {"index", "class", "p"}."""
    p = np.asarray(p_positive, float)
    labels = np.asarray(labels, int)
    out = []
    for c, cname in enumerate(classes):
        idx = np.flatnonzero(labels == c)
        if c == positive:
            wrong = idx[p[idx] < 0.5]
            wrong = wrong[np.argsort(p[wrong], kind="stable")]
        else:
            wrong = idx[p[idx] >= 0.5]
            wrong = wrong[np.argsort(-p[wrong], kind="stable")]
        out += [{"index": int(i), "class": cname, "p": float(p[i])} for i in wrong[:k]]
    return out
