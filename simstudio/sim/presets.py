"""Class presets: distributions over `LesionParams`, and the simulator preset that ties them to a task.

Class presets (melanoma, nevus, seborrheic keratosis) differ only in **lesion** parameters, following the
ABCD rules and the melanoma-vs-nevus/SK table of the SimDeepL paper (LESIONS.md), with ranges set from
the measured real set (REAL-STATS.md: area fraction 0.15 vs 0.22, asymmetry 0.16 vs 0.31, border width
18 % vs 13.5 % of the diameter, rare colours in melanoma). **Acquisition** parameters come from one shared
distribution ("fair" mode) unless a preset in "matching" mode gives a class its own, which then labels
every result that uses it: in real sets the acquisition differs by class and teaches shortcuts.

A distribution is a small JSON object:
  {"uniform": [lo, hi]}  {"normal": [mean, sd]}  {"lognormal": [median, sigma]}  {"randint": [lo, hi]}
  {"choice": [v1, v2, ...], "p": [...]}  {"const": v}  {"maybe": prob, "then": {...}, "else": v}
  {"colours": {"always": [...], "optional": {"name": prob, ...}, "max": k}}
Draws are clipped to the parameter's range. Numeric parameters that go together are drawn jointly under
one key naming them with "+": {"tint_a+tint_b+exposure": {"rows": [[a, b, e], ...], "jitter": [sa, sb, se]}}
picks one row at random and adds normal jitter of those spreads (a smoothed bootstrap, Efron & Tibshirani
1993, ch. 16), so a camera measured photo by photo keeps its casts and exposures together.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simstudio.sim.params import COLOURS, PARAM_SPECS, LesionParams, check_value, coerce_value

PRESETS_DIR = Path(__file__).resolve().parents[2] / "assets" / "presets"

CLASS_PRESETS = ("melanoma", "nevus", "seborrheic_keratosis")
MODES = ("fair", "matching")

_SHARED_SHAPE = {  # lesion parameters whose real distribution does not differ by class (REAL-STATS)
    "elongation": {"normal": [1.42, 0.22]},
    "rotation_deg": {"uniform": [0, 180]},
}

LESION_DISTRIBUTIONS: dict[str, dict[str, Any]] = {
    "nevus": {
        **_SHARED_SHAPE,
        "diameter_mm": {"lognormal": [9.2, 0.35]},  # area 0.15 [0.09, 0.26] of a ~20 mm field
        "asymmetry": {"uniform": [0.0, 0.55]},
        "border_irregularity": {"uniform": [0.05, 0.4]},
        "lobes": {"maybe": 0.2, "then": {"randint": [2, 3]}, "else": 0},
        # Measured 10-90 % L* edge width ~18.5 % of the diameter (REAL-STATS); the parameter is the pigment's
        # zone, which that measurement (Otsu mask, mean profile, saturating near 18-20 px) reads narrower.
        "border_width": {"normal": [0.36, 0.05]},
        "abrupt_segments": {"maybe": 0.15, "then": {"randint": [1, 2]}, "else": 0},
        "colours": {"colours": {"always": ["light_brown"], "optional": {"dark_brown": 0.7, "tan": 0.3}, "max": 3}},
        "colour_layout": {"choice": ["concentric", "uniform", "blotchy"], "p": [0.5, 0.3, 0.2]},
        "epidermal_melanin": {"uniform": [0.45, 1.5]},  # lesion 8-36 L* darker than skin (REAL-STATS 5-95 %)
        "dermal_melanin": {"maybe": 0.1, "then": {"uniform": [0.1, 0.4]}, "else": 0.0},
        # nevi redder than melanomas: lesion a* +8 vs +6 over skin (REAL-STATS); renderer 6: +7.2 vs +4.5
        "haemoglobin": {"uniform": [0.35, 0.85]},
        "colour_variegation": {"uniform": [0.15, 0.45]},
        "network": {"uniform": [0.3, 0.9]},
        "network_atypia": {"uniform": [0.0, 0.25]},
        "negative_network": {"const": 0.0},
        "globules": {"maybe": 0.5, "then": {"randint": [3, 18]}, "else": 0},
        "globule_irregularity": {"uniform": [0.0, 0.3]},
        "streaks": {"const": 0.0},
        "blue_white_veil": {"const": 0.0},
        "regression": {"maybe": 0.05, "then": {"uniform": [0.1, 0.3]}, "else": 0.0},
        "vessels": {"maybe": 0.15, "then": {"uniform": [0.1, 0.4]}, "else": 0.0},
        "vessel_pattern": {"choice": ["dotted", "hairpin"], "p": [0.7, 0.3]},
        "cerebriform": {"const": 0.0},
        "milia_cysts": {"maybe": 0.1, "then": {"randint": [1, 3]}, "else": 0},
        "comedo_openings": {"const": 0},
        "stuck_on": {"const": 0.0},
        "n_lesions": {"const": 1},
        # last, so adding it left every other draw of an image as it was
        "pigment_gaps": {"maybe": 0.25, "then": {"uniform": [0.2, 0.8]}, "else": 0.0},
    },
    "seborrheic_keratosis": {
        **_SHARED_SHAPE,
        "diameter_mm": {"lognormal": [9.4, 0.35]},
        "asymmetry": {"uniform": [0.05, 0.4]},
        "border_irregularity": {"uniform": [0.15, 0.5]},  # moth-eaten border
        "lobes": {"maybe": 0.3, "then": {"randint": [2, 4]}, "else": 0},
        "border_width": {"normal": [0.16, 0.04]},  # sharply demarcated, 'stuck-on'
        "abrupt_segments": {"const": 0},
        "colours": {"colours": {"always": ["tan"], "optional": {"light_brown": 0.6, "dark_brown": 0.4}, "max": 3}},
        "colour_layout": {"choice": ["uniform", "blotchy", "concentric"], "p": [0.5, 0.35, 0.15]},
        "epidermal_melanin": {"uniform": [0.7, 1.3]},
        "dermal_melanin": {"const": 0.0},
        "haemoglobin": {"uniform": [0.2, 0.55]},
        "colour_variegation": {"uniform": [0.2, 0.5]},
        "network": {"uniform": [0.0, 0.15]},
        "network_atypia": {"uniform": [0.0, 0.3]},
        "negative_network": {"const": 0.0},
        "globules": {"maybe": 0.2, "then": {"randint": [1, 5]}, "else": 0},
        "globule_irregularity": {"uniform": [0.2, 0.6]},
        "streaks": {"const": 0.0},
        "blue_white_veil": {"const": 0.0},
        "regression": {"const": 0.0},
        "vessels": {"maybe": 0.3, "then": {"uniform": [0.2, 0.7]}, "else": 0.0},
        "vessel_pattern": {"const": "hairpin"},
        "cerebriform": {"uniform": [0.2, 0.8]},
        "milia_cysts": {"randint": [0, 8]},
        "comedo_openings": {"randint": [0, 8]},
        "stuck_on": {"uniform": [0.2, 0.6]},
        "n_lesions": {"choice": [1, 2, 3], "p": [0.75, 0.2, 0.05]},
    },
    "melanoma": {
        **_SHARED_SHAPE,
        "diameter_mm": {"lognormal": [10.6, 0.35]},  # area 0.22 [0.12, 0.35]
        "asymmetry": {"uniform": [0.2, 1.0]},
        "border_irregularity": {"uniform": [0.3, 1.0]},
        "lobes": {"maybe": 0.6, "then": {"randint": [3, 7]}, "else": 0},
        # Measured edge width ~13.5 % of the diameter: sharper than benign, with abrupt segments.
        "border_width": {"normal": [0.37, 0.05]},
        "abrupt_segments": {"randint": [1, 3]},  # B of ABCD: melanomas stop abruptly on some of 8
        # Not every melanoma is blotched dark on light: in derm-real, coarse lightness detail (sigma 2.8-11.2 px at
        # 224 px) barely tells melanoma from benign (texture by scale, class signal 0.50-0.63) where always
        # light + dark brown and mostly blotchy layouts made it a cue (0.73-0.78).
        "colours": {"colours": {"always": ["light_brown"],
                                "optional": {"dark_brown": 0.85, "black": 0.15, "blue_grey": 0.15, "red": 0.15,
                                             "white": 0.08, "tan": 0.45}, "max": 6}},
        "colour_layout": {"choice": ["blotchy", "concentric", "uniform"], "p": [0.25, 0.45, 0.3]},
        "epidermal_melanin": {"uniform": [0.35, 1.5]},  # from faint in-situ lesions to black nodules
        "dermal_melanin": {"maybe": 0.2, "then": {"uniform": [0.1, 0.4]}, "else": 0.0},
        "haemoglobin": {"uniform": [0.1, 0.5]},
        "colour_variegation": {"uniform": [0.3, 0.9]},
        "network": {"uniform": [0.2, 0.9]},
        "network_atypia": {"uniform": [0.5, 1.0]},
        "negative_network": {"maybe": 0.15, "then": {"uniform": [0.3, 0.8]}, "else": 0.0},
        "globules": {"maybe": 0.7, "then": {"randint": [3, 25]}, "else": 0},
        "globule_irregularity": {"uniform": [0.5, 1.0]},
        "streaks": {"maybe": 0.4, "then": {"uniform": [0.2, 1.0]}, "else": 0.0},
        # Blue-grey on >= 5 % of the lesion in ~7-22 % of real melanomas, white in ~5-9 %.
        "blue_white_veil": {"maybe": 0.12, "then": {"uniform": [0.3, 0.8]}, "else": 0.0},
        "regression": {"maybe": 0.15, "then": {"uniform": [0.2, 0.8]}, "else": 0.0},
        # 7-point checklist: atypical vascular pattern (irregular dotted / linear irregular vessels).
        "vessels": {"maybe": 0.25, "then": {"uniform": [0.2, 0.8]}, "else": 0.0},
        "vessel_pattern": {"choice": ["dotted", "irregular"], "p": [0.5, 0.5]},
        "cerebriform": {"const": 0.0},
        "milia_cysts": {"const": 0},
        "comedo_openings": {"const": 0},
        "stuck_on": {"const": 0.0},
        "n_lesions": {"const": 1},
        # Multicomponent melanomas with light areas: real melanoma masks are far more ragged and lopsided
        # (derm-real train part: compactness 90th percentile 5.3, asymmetry 0.75; whole blobs read 2.7 and 0.42).
        "pigment_gaps": {"maybe": 0.7, "then": {"uniform": [0.4, 1.0]}, "else": 0.0},
    },
}

# One acquisition distribution for every class (fair mode); rates from REAL-STATS.md pooled over classes.
SHARED_ACQUISITION: dict[str, Any] = {
    "fov_mm": {"uniform": [16.0, 23.0]},
    "offset_x": {"normal": [0.0, 0.08]},
    "offset_y": {"normal": [0.0, 0.08]},
    # ITA of the real skin ring (REAL-STATS): ~60 % very light or cast, ~16 % light, ~12 % intermediate, ~9 % tan
    "skin_type": {"choice": [1, 2, 3, 4, 5, 6], "p": [0.45, 0.3, 0.13, 0.08, 0.03, 0.01]},
    "skin_texture": {"uniform": [0.3, 0.9]},
    # fine speckle of real skin (derm-real train part, skin L* detail at 0.25-0.5 mm: 0.45 RMS; 0.43 drawn so)
    "skin_grain": {"uniform": [0.25, 0.75]},
    "erythema": {"uniform": [0.0, 0.6]},
    # Skin a* 3-40 and b* -7 to 24 in real sets is mostly the camera (the renderer's skin is ~(14, 12)),
    # and a* and b* go together (r ~ 0.4): a white balance along the warm-cool axis plus a free tint.
    "tint_a": {"uniform": [-10.0, 26.0]},  # pooled real skin a* 3-40, median ~23
    "tint_b": {"uniform": [-15.0, 1.0]},
    "white_balance": {"normal": [0.0, 8.0]},
    "hair_count": {"maybe": 0.3, "then": {"randint": [1, 30]}, "else": 0},  # some hair in 18-36 %
    "hair_thickness_mm": {"uniform": [0.05, 0.13]},  # shafts 1-2.5 px wide at 224 px, as hairs read in real sets
    # body hair under a dermoscope reads mid to dark brown more often than black
    "hair_colour": {"choice": ["black", "dark_brown", "brown", "blond", "grey"], "p": [0.15, 0.35, 0.3, 0.15, 0.05]},
    "hair_curl": {"uniform": [0.1, 0.6]},
    # A dark field stop in ~25 % of real photos (derm-real train part, pooled), mostly clipping the corners: its
    # area is 0.016 of the image at the median, 0.18 at the 90th percentile; a vignette above ~0.37 draws it.
    "vignette": {"maybe": 0.3, "then": {"lognormal": [0.47, 0.25]}, "else": 0.0},
    "gel_bubbles": {"maybe": 0.08, "then": {"randint": [1, 3]}, "else": 0},
    "ruler": {"maybe": 0.05, "then": {"const": True}, "else": False},
    "specular": {"maybe": 0.25, "then": {"uniform": [0.05, 0.3]}, "else": 0.0},  # glare is rare under contact gel
    "illumination_gradient": {"uniform": [0.0, 0.5]},
    "blur_mm": {"uniform": [0.0, 0.06]},  # sharpness varies ~10x across real images
    "exposure": {"normal": [0.0, 0.28]},  # skin L* 55-82 (REAL-STATS): exposure varies from photo to photo
    "noise": {"uniform": [0.006, 0.025]},
    # Real sets are JPEGs of many qualities; below ~200 px the blocks are mostly gone after resizing.
    "jpeg_quality": {"maybe": 0.5, "then": {"randint": [60, 95]}, "else": 100},
    # Real photos' skin darkens toward the corners (train part: skin L* 1.7 lower at the corners than beside
    # the lesion in benign photos, 4.9 in malignant ones, median); last of the camera's draws, so those before it
    # are as they were (the lesion's, drawn after, move).
    "lens_falloff": {"maybe": 0.85, "then": {"uniform": [0.2, 1.0]}, "else": 0.0},
}

TASKS = {
    # Benign: mostly nevi, as in ISIC-derived sets (SK ~ 1 in 5 benign lesions).
    "binary": {"benign": {"nevus": 0.8, "seborrheic_keratosis": 0.2}, "malignant": {"melanoma": 1.0}},
    "three_class": {"melanoma": {"melanoma": 1.0}, "nevus": {"nevus": 1.0},
                    "seborrheic_keratosis": {"seborrheic_keratosis": 1.0}},
}


@dataclass
class SimulatorPreset:
    """Everything the simulator needs to draw a labelled dataset."""

    name: str = "default"
    mode: str = "fair"
    classes: dict[str, dict[str, float]] = field(default_factory=lambda: copy.deepcopy(TASKS["binary"]))
    lesion: dict[str, dict[str, Any]] = field(default_factory=lambda: copy.deepcopy(LESION_DISTRIBUTIONS))
    acquisition: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(SHARED_ACQUISITION))
    acquisition_by_class: dict[str, dict[str, Any]] = field(default_factory=dict)  # matching mode only
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def output_classes(self) -> list[str]:
        return list(self.classes)

    def validate(self) -> SimulatorPreset:
        if self.mode not in MODES:
            raise ValueError(f"preset mode = {self.mode!r} is out of range: expected one of {', '.join(MODES)}")
        if self.mode == "fair" and self.acquisition_by_class:
            raise ValueError("a 'fair' preset cannot give classes their own acquisition parameters "
                             "(acquisition_by_class); set mode to 'matching' to do that on purpose")
        if not self.classes:
            raise ValueError("preset has no classes")
        for out_cls, mix in self.classes.items():
            if not mix or any(w < 0 for w in mix.values()) or sum(mix.values()) <= 0:
                raise ValueError(f"class {out_cls!r}: its class-preset weights must be positive")
            for name in mix:
                if name not in self.lesion:
                    raise ValueError(f"class {out_cls!r} uses class preset {name!r}, which the preset does not "
                                     f"define (defined: {', '.join(self.lesion)})")
        for where, dists in [("acquisition", self.acquisition), *(
                (f"lesion[{k}]", v) for k, v in self.lesion.items()), *(
                (f"acquisition_by_class[{k}]", v) for k, v in self.acquisition_by_class.items())]:
            seen: set[str] = set()
            for pname, spec in dists.items():
                names = joint_names(pname)
                for name in names:
                    if name not in PARAM_SPECS:
                        raise ValueError(f"{where}: unknown lesion parameter {name!r}")
                    if name in seen:
                        raise ValueError(f"{where}: {name!r} is drawn twice (alone and in a joint key, or in "
                                         "two joint keys); give each parameter one distribution")
                    seen.add(name)
                if len(names) > 1:
                    _check_joint(where, pname, names, spec)
                else:
                    _check_spec(pname, spec)
        for k in self.acquisition_by_class:
            if k not in self.classes:
                raise ValueError(f"acquisition_by_class names class {k!r}, which the preset does not have")
        return self


def default_preset(task: str = "binary") -> SimulatorPreset:
    if task not in TASKS:
        raise ValueError(f"task = {task!r} is out of range: expected one of {', '.join(TASKS)}")
    return SimulatorPreset(name=f"default-{task}", classes=copy.deepcopy(TASKS[task]))


def sample_params(preset: str, rng: np.random.Generator, study: SimulatorPreset | None = None,
                  output_class: str | None = None) -> LesionParams:
    """One draw of class preset `preset` ('melanoma', 'nevus', 'seborrheic_keratosis')."""
    study = study or default_preset()
    if preset not in study.lesion:
        raise ValueError(f"unknown class preset {preset!r}: expected one of {', '.join(study.lesion)}")
    values: dict[str, Any] = {}
    _draw_all(study.acquisition, rng, values)
    _draw_all(study.lesion[preset], rng, values)
    if study.mode == "matching" and output_class in study.acquisition_by_class:
        _draw_all(study.acquisition_by_class[output_class], rng, values)
    return LesionParams(**values).validate()


def joint_names(key: str) -> list[str]:
    """The parameters a distribution key draws: one name, or several joined by "+"."""
    return key.split("+")


def _draw_all(dists: dict[str, Any], rng: np.random.Generator, values: dict[str, Any]) -> None:
    for key, spec in dists.items():
        names = joint_names(key)
        if len(names) == 1:
            values[key] = _draw(key, spec, rng)
        else:
            values.update(_draw_joint(names, spec, rng))


def sample_for_class(study: SimulatorPreset, class_name: str, rng: np.random.Generator) -> tuple[LesionParams, str]:
    """A draw for output class `class_name` (e.g. 'benign' picks nevus or SK by weight)."""
    if class_name not in study.classes:
        raise ValueError(f"unknown class {class_name!r}: the preset has {', '.join(study.classes)}")
    mix = study.classes[class_name]
    names = list(mix)
    w = np.array([mix[n] for n in names], float)
    kind = names[int(rng.choice(len(names), p=w / w.sum()))] if len(names) > 1 else names[0]
    return sample_params(kind, rng, study, output_class=class_name), kind


def save_preset(study: SimulatorPreset, path: str | Path) -> Path:
    from simstudio.runs import atomic_write_json

    study.validate()
    return atomic_write_json(path, preset_to_dict(study))


def preset_to_dict(study: SimulatorPreset) -> dict[str, Any]:
    return {"name": study.name, "mode": study.mode, "classes": study.classes, "lesion": study.lesion,
            "acquisition": study.acquisition, "acquisition_by_class": study.acquisition_by_class,
            "provenance": study.provenance}


def preset_from_dict(data: dict[str, Any]) -> SimulatorPreset:
    if not isinstance(data, dict):
        raise ValueError("a simulator preset must be a JSON object")
    known = {"name", "mode", "classes", "lesion", "acquisition", "acquisition_by_class", "provenance"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown preset field(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    base = default_preset()
    study = SimulatorPreset(
        name=data.get("name", "preset"), mode=data.get("mode", "fair"),
        classes=data.get("classes", base.classes), lesion=data.get("lesion", base.lesion),
        acquisition=data.get("acquisition", base.acquisition),
        acquisition_by_class=data.get("acquisition_by_class", {}), provenance=data.get("provenance", {}))
    return study.validate()


def preset_names() -> list[str]:
    """The presets shipped in assets/presets (e.g. 'default-binary', 'fitted-derm-real')."""
    return sorted(p.stem for p in PRESETS_DIR.glob("*.json"))


def load_preset(path: str | Path) -> SimulatorPreset:
    """A preset JSON file, or the name of a shipped preset (see `preset_names`)."""
    path = Path(path)
    if not path.is_file() and path.suffix.lower() != ".json" and (PRESETS_DIR / f"{path}.json").is_file():
        path = PRESETS_DIR / f"{path}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"preset file not found: {path} (shipped presets: {', '.join(preset_names())})") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"preset file {path} is not valid JSON: {exc}") from None
    try:
        return preset_from_dict(data)
    except ValueError as exc:
        raise ValueError(f"preset file {path}: {exc}") from None


# -- private helpers ----------------------------------------------------------------------------------

def _draw(pname: str, spec: Any, rng: np.random.Generator) -> Any:
    ps = PARAM_SPECS[pname]
    if not isinstance(spec, dict):
        return coerce_value(ps, spec)
    if "maybe" in spec:
        if rng.random() < float(spec["maybe"]):
            return _draw(pname, spec["then"], rng)
        return coerce_value(ps, spec["else"])
    if "const" in spec:
        return coerce_value(ps, spec["const"])
    if "choice" in spec:
        vals = spec["choice"]
        p = np.asarray(spec.get("p", [1] * len(vals)), float)
        # What rng.choice(len(vals), p=p / p.sum()) computes (same draw, same index), without its checks,
        # which cost more than the rest of a parameter draw; the preset was validated when it was loaded.
        cdf = np.cumsum(p / p.sum())
        cdf /= cdf[-1]
        return coerce_value(ps, vals[int(np.searchsorted(cdf, rng.random(), side="right"))])
    if "colours" in spec:
        c = spec["colours"]
        chosen = list(c.get("always", []))
        for name, prob in c.get("optional", {}).items():
            if name not in chosen and rng.random() < prob:
                chosen.append(name)
        return tuple(chosen[: int(c.get("max", 6))] or ["light_brown"])
    # The Generator's own formulas for one number (low + range * u, loc + scale * z): the same values as
    # rng.uniform / rng.normal at a third of the cost.
    if "uniform" in spec:
        low, high = spec["uniform"]
        v = low + (high - low) * rng.random()
    elif "normal" in spec:
        loc, scale = spec["normal"]
        v = loc + scale * rng.standard_normal()
    elif "lognormal" in spec:
        median, sigma = spec["lognormal"]
        v = median * float(np.exp(0 + sigma * rng.standard_normal()))
    elif "randint" in spec:
        lo, hi = spec["randint"]
        v = rng.integers(int(lo), int(hi) + 1)
    else:  # validated before sampling, so this is a programming error
        raise ValueError(f"{pname}: unknown distribution {spec}")
    v = min(max(float(v), ps.low), ps.high) if ps.kind in ("float", "int") else v
    return coerce_value(ps, v)


def _draw_joint(names: list[str], spec: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    rows = spec["rows"]
    row = rows[int(rng.integers(len(rows)))]
    jitter = spec.get("jitter") or [0.0] * len(names)
    out = {}
    for name, v, sd in zip(names, row, jitter, strict=True):
        ps = PARAM_SPECS[name]
        v = float(v) + (float(sd) * rng.standard_normal() if sd else 0.0)
        out[name] = coerce_value(ps, min(max(v, ps.low), ps.high))
    return out


def _check_joint(where: str, key: str, names: list[str], spec: Any) -> None:
    k = len(names)
    if not isinstance(spec, dict) or not isinstance(spec.get("rows"), list) or not spec["rows"]:
        raise ValueError(f"{where}: {key}: a joint draw needs {{\"rows\": [[{', '.join(names)}], ...]}} "
                         "with at least one row")
    for name in names:
        if PARAM_SPECS[name].kind not in ("float", "int"):
            raise ValueError(f"{where}: {key}: {name} is not numeric; only numeric parameters can be drawn "
                             "jointly")
    unknown = sorted(set(spec) - {"rows", "jitter"})
    if unknown:
        raise ValueError(f"{where}: {key}: unknown field(s) {', '.join(unknown)}; a joint draw has rows and "
                         "jitter")
    for i, row in enumerate(spec["rows"]):
        if not isinstance(row, (list, tuple)) or len(row) != k:
            raise ValueError(f"{where}: {key}: row {i} must hold {k} numbers ({', '.join(names)})")
        for name, v in zip(names, row, strict=True):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"{where}: {key}: row {i}: {name} = {v!r} is not a number")
            try:
                check_value(PARAM_SPECS[name], coerce_value(PARAM_SPECS[name], v))
            except ValueError as exc:
                raise ValueError(f"{where}: {key}: row {i}: {exc}") from None
    jitter = spec.get("jitter")
    if jitter is not None and (
            not isinstance(jitter, (list, tuple)) or len(jitter) != k
            or any(isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0 for v in jitter)):
        raise ValueError(f"{where}: {key}: jitter must be {k} spreads >= 0 ({', '.join(names)})")


def _check_spec(pname: str, spec: Any) -> None:
    ps = PARAM_SPECS[pname]
    if not isinstance(spec, dict):
        check_value(ps, coerce_value(ps, spec))
        return
    kinds = {"uniform", "normal", "lognormal", "randint", "choice", "const", "maybe", "colours"}
    if not (set(spec) & kinds):
        raise ValueError(f"{pname}: unknown distribution {json.dumps(spec)}; use one of {', '.join(sorted(kinds))}")
    if "maybe" in spec:
        if not 0 <= float(spec["maybe"]) <= 1:
            raise ValueError(f"{pname}: 'maybe' must be a probability in [0, 1]")
        _check_spec(pname, spec["then"])
        check_value(ps, coerce_value(ps, spec.get("else", ps.default)))
    elif "const" in spec:
        check_value(ps, coerce_value(ps, spec["const"]))
    elif "choice" in spec:
        for v in spec["choice"]:
            check_value(ps, coerce_value(ps, v))
        if "p" in spec and len(spec["p"]) != len(spec["choice"]):
            raise ValueError(f"{pname}: 'p' must have one probability per choice")
    elif "colours" in spec:
        names = list(spec["colours"].get("always", [])) + list(spec["colours"].get("optional", {}))
        bad = [n for n in names if n not in COLOURS]
        if bad:
            raise ValueError(f"{pname}: unknown colour(s) {', '.join(bad)}; known: {', '.join(COLOURS)}")
    elif "uniform" in spec or "randint" in spec:
        lo, hi = spec.get("uniform") or spec.get("randint")
        if lo > hi:
            raise ValueError(f"{pname}: range [{lo}, {hi}] has low > high")
        for v in (lo, hi):
            check_value(ps, coerce_value(ps, v))
    elif "normal" in spec or "lognormal" in spec:
        _, sd = spec.get("normal") or spec.get("lognormal")
        if sd < 0:
            raise ValueError(f"{pname}: the spread must not be negative")
