"""The knobs a simulator fit searches: which centres, rates and weights of a preset's distributions a
trial may move, their bounds, and how a trial's values are written back into a preset (a uniform keeps its
width, a normal its spread, every draw stays inside its parameter's range)."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

SPACES = ("compact", "full")


@dataclass(frozen=True)
class Knob:
    """One searched number: `op` applied to parameter `param` of `target` ("acquisition" or a class preset
    name; in matching mode "acquisition:<output class>"). `colour` names the optional colour of a
    "colour" knob. A "weight" knob (target "classes:<output class>", param a class preset) sets how often
    that output class draws that kind of lesion (e.g. nevus vs SK among benign images)."""

    target: str
    param: str
    op: str  # "centre" (a distribution's location) | "prob" (a maybe's rate) | "colour" | "weight"
    low: float
    high: float
    colour: str = ""

    @property
    def name(self) -> str:
        suffix = f".{self.colour}" if self.colour else f".{self.op}" if self.op in ("prob", "weight") else ""
        return f"{self.target}.{self.param}{suffix}"


def search_space(preset, mode: str = "fair", space: str = "compact", knobs: list[str] | None = None) -> list[Knob]:
    """The knobs of `preset` (a `SimulatorPreset`) that a fit searches, with their bounds; `knobs` keeps
    only those names."""
    from simstudio.sim.params import PARAM_SPECS

    only = knobs
    used = sorted({kind for mix in preset.classes.values() for kind in mix})
    lesion_centres = _COMPACT_LESION if space == "compact" else _FULL_LESION
    found: list[Knob] = []
    for kind in used:
        dists = preset.lesion[kind]
        for param in lesion_centres:
            if param in dists and _location(dists[param]) is not None:
                spec = PARAM_SPECS[param]
                found.append(Knob(kind, param, "centre", *_bounds(param, spec)))
        if space == "full":
            for param, d in dists.items():
                if isinstance(d, dict) and "maybe" in d:
                    found.append(Knob(kind, param, "prob", 0.0, 1.0))
            colours = dists.get("colours", {})
            if isinstance(colours, dict) and "colours" in colours:
                for colour in colours["colours"].get("optional", {}):
                    found.append(Knob(kind, "colours", "colour", 0.0, 1.0, colour))
    for out_cls, mix in preset.classes.items():
        if len(mix) > 1 and space == "full":  # which kinds of lesion an output class is made of
            found += [Knob(f"classes:{out_cls}", kind, "weight", 0.05, 1.0) for kind in mix]
    acq_targets = ["acquisition"] if mode == "fair" else [f"acquisition:{c}" for c in preset.classes]
    acq_params = _COMPACT_ACQUISITION if space == "compact" else _FULL_ACQUISITION
    for target in acq_targets:
        for param, op in acq_params:
            d = preset.acquisition.get(param)
            if (
                d is None
                or (op == "centre" and _location(d) is None)
                or (op == "prob" and not (isinstance(d, dict) and "maybe" in d))
            ):
                continue
            lo, hi = _bounds(param, PARAM_SPECS[param]) if op == "centre" else (0.0, 1.0)
            found.append(Knob(target, param, op, lo, hi))
    if only:
        names = {k.name for k in found}
        unknown = sorted(set(only) - names)
        if unknown:
            raise ValueError(f"unknown knob(s) {', '.join(unknown)}; this preset has {', '.join(sorted(names))}")
        found = [k for k in found if k.name in set(only)]
    return found


def near(knobs: list[Knob], start: dict[str, float], radius: float) -> list[Knob]:
    """The knobs with their bounds narrowed to `start` +- `radius` of each knob's range (a trust region:
    1 keeps the whole range)."""
    out = []
    for k in knobs:
        r = radius * (k.high - k.low)
        v = start[k.name]
        out.append(Knob(k.target, k.param, k.op, max(k.low, v - r), min(k.high, v + r), k.colour))
    return out


def knob_values(preset, knobs: list[Knob]) -> dict[str, float]:
    """The current value of each knob in `preset` (clipped to the knob's bounds): where a search starts."""
    out = {}
    for k in knobs:
        if k.op == "weight":
            out[k.name] = float(min(max(preset.classes[k.target.split(":", 1)[1]][k.param], k.low), k.high))
            continue
        d = _spec_of(preset, k)
        if k.op == "centre":
            v = _location(d)
        elif k.op == "prob":
            v = float(d["maybe"])
        else:
            v = float(d["colours"].get("optional", {}).get(k.colour, 0.0))
        out[k.name] = float(min(max(v, k.low), k.high))
    return out


def apply_knobs(preset, knobs: list[Knob], values: dict[str, float]):
    """A copy of `preset` with each knob set to `values[knob.name]`; the distributions keep their shape
    (a uniform keeps its width, a normal its spread) and stay inside the parameter's range."""
    from simstudio.sim.params import PARAM_SPECS

    out = copy.deepcopy(preset)
    for k in knobs:
        if k.name not in values:
            continue
        v = float(values[k.name])
        if k.op == "weight":
            out.classes[k.target.split(":", 1)[1]][k.param] = round(v, 4)
            continue
        if k.target.startswith("acquisition:"):
            cls = k.target.split(":", 1)[1]
            out.mode = "matching"
            per = out.acquisition_by_class.setdefault(cls, {})
            if k.param not in per:
                per[k.param] = copy.deepcopy(out.acquisition[k.param])
            holder = per
        elif k.target == "acquisition":
            holder = out.acquisition
        else:
            holder = out.lesion[k.target]
        if k.op == "centre":
            holder[k.param] = _with_location(holder[k.param], v, PARAM_SPECS[k.param])
        elif k.op == "prob":
            holder[k.param] = {**holder[k.param], "maybe": round(v, 4)}
        else:
            colours = copy.deepcopy(holder[k.param])
            colours["colours"].setdefault("optional", {})[k.colour] = round(v, 4)
            holder[k.param] = colours
    return out.validate()


_COMPACT_LESION = (
    "diameter_mm",
    "asymmetry",
    "border_irregularity",
    "border_width",
    "epidermal_melanin",
    "dermal_melanin",  # renderer v2: blue-grey from deep melanin and red from blood are lesion colours
    "haemoglobin",
    "colour_variegation",
)
_FULL_LESION = (
    *_COMPACT_LESION,
    "elongation",
    "abrupt_segments",
    "network",
    "network_atypia",
    "negative_network",
    "globule_irregularity",
    "vessels",
    "cerebriform",
    "stuck_on",
    "pigment_gaps",
)
_COMPACT_ACQUISITION = (("tint_a", "centre"), ("tint_b", "centre"), ("white_balance", "centre"), ("exposure", "centre"),
                        ("erythema", "centre"), ("blur_mm", "centre"))
_FULL_ACQUISITION = (
    *_COMPACT_ACQUISITION,
    ("skin_texture", "centre"),
    ("skin_grain", "centre"),
    ("illumination_gradient", "centre"),
    ("noise", "centre"),
    ("hair_count", "prob"),
    ("vignette", "prob"),
    ("lens_falloff", "prob"),
)


def _spec_of(preset, k: Knob):
    if k.target.startswith("acquisition:"):
        cls = k.target.split(":", 1)[1]
        return preset.acquisition_by_class.get(cls, {}).get(k.param, preset.acquisition[k.param])
    if k.target == "acquisition":
        return preset.acquisition[k.param]
    return preset.lesion[k.target][k.param]


def _location(d) -> float | None:
    """Where a distribution sits: the centre of a uniform/randint, the mean of a normal, the median of a
    lognormal, a constant's value, the 'then' part of a maybe. None when it has no numeric location."""
    if isinstance(d, bool):
        return None
    if isinstance(d, (int, float)):
        return float(d)
    if not isinstance(d, dict):
        return None
    if "maybe" in d:
        return _location(d["then"])
    if "const" in d:
        return float(d["const"]) if isinstance(d["const"], (int, float)) and not isinstance(d["const"], bool) else None
    for key in ("uniform", "randint"):
        if key in d:
            return (float(d[key][0]) + float(d[key][1])) / 2
    for key in ("normal", "lognormal"):
        if key in d:
            return float(d[key][0])
    return None


def _with_location(d, v: float, spec):
    """`d` moved so that its location is `v`, keeping its spread, inside the parameter's range."""
    lo, hi = float(spec.low), float(spec.high)
    v = min(max(v, lo), hi)
    if isinstance(d, (int, float)) and not isinstance(d, bool):
        return {"const": _typed(v, spec)}
    d = copy.deepcopy(d)
    if "maybe" in d:
        d["then"] = _with_location(d["then"], v, spec)
        return d
    if "const" in d:
        d["const"] = _typed(v, spec)
    for key in ("uniform", "randint"):
        if key in d:
            half = (float(d[key][1]) - float(d[key][0])) / 2
            a, b = max(lo, v - half), min(hi, v + half)
            d[key] = (
                [_typed(a, spec, "floor"), _typed(b, spec, "ceil")] if key == "randint" else [round(a, 4), round(b, 4)]
            )
    for key in ("normal", "lognormal"):
        if key in d:
            d[key] = [round(max(v, 1e-3) if key == "lognormal" else v, 4), d[key][1]]
    return d


def _typed(v: float, spec, how: str = "round"):
    if spec.kind == "int":
        return int(math.floor(v) if how == "floor" else math.ceil(v) if how == "ceil" else round(v))
    return round(float(v), 4)


def _bounds(param: str, spec) -> tuple[float, float]:
    """Search bounds of a centre knob: the parameter's range, narrowed where the extremes draw nothing
    lesion-like (a 25 mm lesion fills any field of view)."""
    narrow = {"diameter_mm": (3.0, 18.0), "border_width": (0.03, 0.35), "blur_mm": (0.0, 0.2)}
    return narrow.get(param, (float(spec.low), float(spec.high)))
