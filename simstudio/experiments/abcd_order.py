"""The clinical order a simulator preset must keep: melanomas more asymmetric, more irregular and more
varied than the benign lesions beside them (the ABCD rule, Stolz et al. 1994; LESIONS.md).

A fit that scores only how well a quick classifier does on real images will happily break that order
when a dataset rewards it (on derm-real, a 42-knob fit drew nevi with regression in 94 % of them, and
another gave nevi the more irregular border): the pictures are then clinically wrong, whatever the number.
`abcd_breaks` names each broken rule, comparing the mean of each parameter's distribution in the
malignant class preset with each benign one the preset draws.
"""

from __future__ import annotations

import math
from typing import Any

MALIGNANT = ("melanoma",)

# (parameter, what the rule says): the malignant preset's mean must be at least each benign preset's.
RULES = (
    ("asymmetry", "A: melanomas are the more asymmetric"),
    ("border_irregularity", "B: melanomas have the more irregular border"),
    ("abrupt_segments", "B: melanomas stop abruptly on more border segments"),
    ("colour_variegation", "C: melanomas are the more varied in colour"),
    ("network_atypia", "D: an atypical network belongs to melanoma"),
    ("streaks", "D: streaks belong to melanoma"),
    ("blue_white_veil", "D: a blue-white veil belongs to melanoma"),
    ("regression", "D: regression belongs to melanoma"),
    ("negative_network", "D: a negative network belongs to melanoma"),
)
# Colours a melanoma shows more often than a benign lesion (C of ABCD; REAL-STATS after cast removal).
COLOUR_RULES = ("black", "blue_grey", "white")


def mean_of(spec: Any) -> float | None:
    """The mean of a preset distribution before clipping to the parameter's range (None where it has no
    numeric mean). A 'maybe' counts its 'else' value at the rate it is drawn."""
    if isinstance(spec, bool):
        return float(spec)
    if isinstance(spec, (int, float)):
        return float(spec)
    if not isinstance(spec, dict):
        return None
    if "maybe" in spec:
        then, other = mean_of(spec["then"]), mean_of(spec.get("else", 0.0))
        if then is None or other is None:
            return None
        p = float(spec["maybe"])
        return p * then + (1 - p) * other
    if "const" in spec:
        return mean_of(spec["const"])
    if "choice" in spec:
        values = [mean_of(v) for v in spec["choice"]]
        if any(v is None for v in values):
            return None
        p = spec.get("p", [1.0] * len(values))
        return sum(v * w for v, w in zip(values, p, strict=True)) / sum(p)
    for key in ("uniform", "randint"):
        if key in spec:
            return (float(spec[key][0]) + float(spec[key][1])) / 2
    if "normal" in spec:
        return float(spec["normal"][0])
    if "lognormal" in spec:
        median, sigma = spec["lognormal"]
        return float(median) * math.exp(float(sigma) ** 2 / 2)
    return None


def colour_rate(spec: Any, colour: str) -> float:
    """How often a 'colours' distribution draws `colour` (1 when always, its probability when optional)."""
    if not isinstance(spec, dict) or "colours" not in spec:
        return 0.0
    c = spec["colours"]
    if colour in c.get("always", []):
        return 1.0
    return float(c.get("optional", {}).get(colour, 0.0))


def abcd_breaks(preset) -> list[str]:
    """One line per broken rule of a `SimulatorPreset`, empty when it keeps the order (or draws no
    malignant and benign class presets side by side)."""
    kinds = sorted({kind for mix in preset.classes.values() for kind, w in mix.items() if w > 0})
    malignant = [k for k in kinds if k in MALIGNANT]
    benign = [k for k in kinds if k not in MALIGNANT]
    out = []
    for m in malignant:
        for b in benign:
            dm, db = preset.lesion[m], preset.lesion[b]
            for param, rule in RULES:
                vm, vb = mean_of(dm.get(param, 0.0)), mean_of(db.get(param, 0.0))
                if vm is not None and vb is not None and vb > vm + 1e-9:
                    out.append(f"{b} {param} {vb:.3g} > {m} {vm:.3g} ({rule})")
            for colour in COLOUR_RULES:
                rm, rb = colour_rate(dm.get("colours"), colour), colour_rate(db.get("colours"), colour)
                if rb > rm + 1e-9:
                    out.append(f"{b} draws {colour} more often than {m} ({rb:.2f} > {rm:.2f}; C: the rare "
                               "colours belong to melanoma)")
    return out


def rule_of(line: str) -> str:
    """The rule a line of `abcd_breaks` names, without the numbers (e.g. "nevus asymmetry"), to count them."""
    words = line.split()
    return " ".join(words[:3]) if words[1] == "draws" else " ".join(words[:2])
