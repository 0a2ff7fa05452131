"""`LesionParams`: every knob of the lesion simulator, with its range, unit and clinical meaning.

Two groups (DESIGN.md): **lesion** parameters are what a dermatologist reads (ABCD: shape, border,
colours, structures); **acquisition** parameters are how the photo was taken (skin, hair, scope, camera).
Lengths are in millimetres of skin, so an image looks the same at any pixel size.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

# sRGB anchors of the dermoscopy palette (REAL-STATS.md colour table; "tan" from LESIONS.md, between
# light brown and skin).
COLOURS: dict[str, tuple[int, int, int]] = {
    "light_brown": (170, 115, 75),
    "dark_brown": (100, 58, 40),
    "tan": (196, 150, 110),
    "black": (40, 32, 32),
    "red": (200, 75, 80),
    "white": (225, 220, 222),
    "blue_grey": (115, 125, 150),
}
LAYOUTS = ("uniform", "concentric", "blotchy")
VESSEL_PATTERNS = ("dotted", "hairpin", "irregular", "arborising")
HAIR_COLOURS = ("black", "dark_brown", "brown", "blond", "grey")
SECTIONS = ("Shape", "Colour", "Structures", "Skin & scope", "Post")


@dataclass(frozen=True)
class ParamSpec:
    name: str
    kind: str  # float | int | bool | choice | colours
    low: float | None
    high: float | None
    default: Any
    group: str  # lesion | acquisition
    section: str
    unit: str = ""
    help: str = ""
    choices: tuple = ()

    def range_text(self) -> str:
        if self.kind in ("float", "int"):
            return f"[{self.low:g}, {self.high:g}]" + (f" {self.unit}" if self.unit else "")
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        if self.kind == "colours":
            return "1 to 6 of " + ", ".join(COLOURS)
        return "true or false"


def _f(name, low, high, default, group, section, unit="", help=""):
    return ParamSpec(name, "float", low, high, default, group, section, unit, help)


def _i(name, low, high, default, group, section, unit="", help=""):
    return ParamSpec(name, "int", low, high, default, group, section, unit, help)


_SPECS = [
    # -- Shape (A, B, D) ------------------------------------------------------------------------------
    _f("diameter_mm", 1.5, 25.0, 6.0, "lesion", "Shape", "mm", "D: lesion diameter; > 6 mm is typical of melanoma"),
    _f("fov_mm", 8.0, 40.0, 20.0, "acquisition", "Shape", "mm", "field of view across the image (15-25 mm common)"),
    _f("elongation", 1.0, 2.5, 1.35, "lesion", "Shape", "ratio", "major/minor axis ratio"),
    _f("rotation_deg", 0.0, 180.0, 0.0, "lesion", "Shape", "deg", "orientation of the long axis"),
    _f("asymmetry", 0.0, 1.0, 0.1, "lesion", "Shape", "", "A: breaks mirror symmetry of contour and pigment"),
    _f("border_irregularity", 0.0, 1.0, 0.1, "lesion", "Shape", "", "B: notched, ragged contour"),
    _i("lobes", 0, 8, 0, "lesion", "Shape", "", "B: number of scalloped lobes on the contour"),
    _f("border_width", 0.0, 0.4, 0.185, "lesion", "Shape", "of diameter",
       "B: 10-90 % width of the zone where pigment fades into skin (real: 0.185 benign, 0.135 melanoma)"),
    _i("abrupt_segments", 0, 8, 0, "lesion", "Shape", "of 8", "B: border segments where pigment stops abruptly"),
    _f("offset_x", -0.35, 0.35, 0.0, "acquisition", "Shape", "of field", "lesion centre left/right of centre"),
    _f("offset_y", -0.35, 0.35, 0.0, "acquisition", "Shape", "of field", "lesion centre above/below the image centre"),
    # -- Colour (C) ---------------------------------------------------------------------------------
    ParamSpec("colours", "colours", 1, 6, ("light_brown", "dark_brown"), "lesion", "Colour", "",
              "C: colours present (white, red, light/dark brown, tan, blue-grey, black)"),
    ParamSpec("colour_layout", "choice", None, None, "concentric", "lesion", "Colour", "",
              "how colours are arranged: uniform, concentric rings or blotches", LAYOUTS),
    _f("epidermal_melanin", 0.2, 1.5, 0.8, "lesion", "Colour", "",
       "melanin in the epidermis: light to dark brown, black at the top"),
    _f("dermal_melanin", 0.0, 1.0, 0.0, "lesion", "Colour", "",
       "melanin deep in the dermis, seen through scattering tissue: blue-grey (Tyndall)"),
    _f("haemoglobin", 0.0, 1.0, 0.2, "lesion", "Colour", "", "blood in the lesion: pink to red"),
    _f("colour_variegation", 0.0, 1.0, 0.3, "lesion", "Colour", "", "within-lesion mottling of the pigment"),
    _f("pigment_gaps", 0.0, 1.0, 0.0, "lesion", "Colour", "",
       "skin-coloured gaps where the pigment thins out inside the lesion (multicomponent, partly regressed)"),
    # -- Dermoscopic structures ---------------------------------------------------------------------
    _f("network", 0.0, 1.0, 0.4, "lesion", "Structures", "", "pigment network strength"),
    _f("network_atypia", 0.0, 1.0, 0.1, "lesion", "Structures", "",
       "0 = regular thin mesh fading at the rim, 1 = thick, uneven, broken lines"),
    _f("negative_network", 0.0, 1.0, 0.0, "lesion", "Structures", "",
       "negative network: light lines around dark clods (part of the lesion)"),
    _i("globules", 0, 80, 5, "lesion", "Structures", "", "number of dots/globules"),
    _f("globule_irregularity", 0.0, 1.0, 0.2, "lesion", "Structures", "",
       "0 = even, regular dots; 1 = clustered, off-centre, mixed sizes"),
    _f("streaks", 0.0, 1.0, 0.0, "lesion", "Structures", "", "streaks / pseudopods at the rim"),
    _f("blue_white_veil", 0.0, 1.0, 0.0, "lesion", "Structures", "", "blue-whitish veil over part of the lesion"),
    _f("regression", 0.0, 1.0, 0.0, "lesion", "Structures", "", "white scar-like areas with blue-grey peppering"),
    _f("vessels", 0.0, 1.0, 0.0, "lesion", "Structures", "", "how many vessels are visible"),
    ParamSpec("vessel_pattern", "choice", None, None, "dotted", "lesion", "Structures", "",
              "vessel shape: dotted, hairpin (SK), irregular (melanoma), arborising", VESSEL_PATTERNS),
    _f("cerebriform", 0.0, 1.0, 0.0, "lesion", "Structures", "", "SK: fissures and ridges, brain-like waxy surface"),
    _i("milia_cysts", 0, 30, 0, "lesion", "Structures", "", "SK: white-yellow milia-like cysts"),
    _i("comedo_openings", 0, 30, 0, "lesion", "Structures", "", "SK: dark comedo-like openings (crypts)"),
    _f("stuck_on", 0.0, 1.0, 0.0, "lesion", "Structures", "", "SK: sharp 'stuck-on' border, flat plateau"),
    _i("n_lesions", 1, 4, 1, "lesion", "Structures", "", "lesions in the field (SK often several)"),
    # -- Skin & scope (acquisition) -----------------------------------------------------------------
    _i("skin_type", 1, 6, 2, "acquisition", "Skin & scope", "Fitzpatrick", "skin tone I (very fair) to VI"),
    _f("skin_texture", 0.0, 1.0, 0.5, "acquisition", "Skin & scope", "",
       "skin furrows (skin lines) and follicular openings"),
    _f("skin_grain", 0.0, 1.0, 0.0, "acquisition", "Skin & scope", "",
       "fine speckle of the skin (~0.35 mm): capillary loops and basal melanin; 0 = airbrushed"),
    _f("erythema", 0.0, 1.0, 0.3, "acquisition", "Skin & scope", "", "blood in the surrounding skin, mottled"),
    _f("tint_a", -15.0, 40.0, 5.0, "acquisition", "Skin & scope", "a*", "camera cast: + pink/red, - green"),
    _f("tint_b", -35.0, 20.0, -3.0, "acquisition", "Skin & scope", "b*", "camera cast: + yellow, - violet/blue"),
    _f("white_balance", -25.0, 25.0, 0.0, "acquisition", "Skin & scope", "b*",
       "white balance along the warm-cool axis: + warm (yellower and redder), - cool (bluer)"),
    _i("hair_count", 0, 60, 0, "acquisition", "Skin & scope", "", "number of hairs"),
    _f("hair_thickness_mm", 0.02, 0.2, 0.07, "acquisition", "Skin & scope", "mm", "hair shaft width"),
    ParamSpec("hair_colour", "choice", None, None, "dark_brown", "acquisition", "Skin & scope", "", "hair colour",
              HAIR_COLOURS),
    _f("hair_curl", 0.0, 1.0, 0.3, "acquisition", "Skin & scope", "", "0 = straight, 1 = strongly curved"),
    _f("vignette", 0.0, 1.0, 0.0, "acquisition", "Skin & scope", "",
       "lens fall-off toward the corners and, above ~0.3, the scope's dark circular field stop"),
    _f("lens_falloff", 0.0, 1.0, 0.0, "acquisition", "Skin & scope", "",
       "lens fall-off alone, no field stop: corners up to 40 % darker (1), as most dermoscope photos"),
    _i("gel_bubbles", 0, 12, 0, "acquisition", "Skin & scope", "", "air bubbles in the immersion gel"),
    ParamSpec("ruler", "bool", None, None, False, "acquisition", "Skin & scope", "", "ruler tick marks at an edge"),
    _f("specular", 0.0, 1.0, 0.1, "acquisition", "Skin & scope", "", "specular glare spots"),
    _f("illumination_gradient", 0.0, 1.0, 0.2, "acquisition", "Skin & scope", "", "uneven lighting across the field"),
    # -- Post (camera) ------------------------------------------------------------------------------
    _f("blur_mm", 0.0, 0.4, 0.03, "acquisition", "Post", "mm", "Gaussian defocus blur (sigma)"),
    _f("exposure", -1.5, 1.5, 0.0, "acquisition", "Post", "EV", "camera exposure in stops: + brighter"),
    _f("noise", 0.0, 0.08, 0.01, "acquisition", "Post", "", "sensor noise (std, fraction of full scale)"),
    _i("jpeg_quality", 30, 100, 100, "acquisition", "Post", "", "JPEG compression quality (100 = none)"),
]

PARAM_SPECS: dict[str, ParamSpec] = {s.name: s for s in _SPECS}
_NUMERIC_RANGES = tuple((s.name, s.low, s.high) for s in _SPECS if s.kind in ("float", "int"))
_OTHER_SPECS = tuple(s for s in _SPECS if s.kind not in ("float", "int"))


@dataclass
class LesionParams:
    """One lesion and one photograph of it. Defaults: a small, regular, two-brown nevus on fair skin."""

    diameter_mm: float = 6.0
    fov_mm: float = 20.0
    elongation: float = 1.35
    rotation_deg: float = 0.0
    asymmetry: float = 0.1
    border_irregularity: float = 0.1
    lobes: int = 0
    border_width: float = 0.185  # real benign edges: 10-90 % width ~18.5 % of the diameter (REAL-STATS)
    abrupt_segments: int = 0
    offset_x: float = 0.0
    offset_y: float = 0.0
    colours: tuple[str, ...] = field(default=("light_brown", "dark_brown"))
    colour_layout: str = "concentric"
    epidermal_melanin: float = 0.8
    dermal_melanin: float = 0.0
    haemoglobin: float = 0.2
    colour_variegation: float = 0.3
    pigment_gaps: float = 0.0
    network: float = 0.4
    network_atypia: float = 0.1
    negative_network: float = 0.0
    globules: int = 5
    globule_irregularity: float = 0.2
    streaks: float = 0.0
    blue_white_veil: float = 0.0
    regression: float = 0.0
    vessels: float = 0.0
    vessel_pattern: str = "dotted"
    cerebriform: float = 0.0
    milia_cysts: int = 0
    comedo_openings: int = 0
    stuck_on: float = 0.0
    n_lesions: int = 1
    skin_type: int = 2
    skin_texture: float = 0.5
    skin_grain: float = 0.0
    erythema: float = 0.3
    tint_a: float = 5.0
    tint_b: float = -3.0
    white_balance: float = 0.0
    hair_count: int = 0
    hair_thickness_mm: float = 0.07
    hair_colour: str = "dark_brown"
    hair_curl: float = 0.3
    vignette: float = 0.0
    lens_falloff: float = 0.0
    gel_bubbles: int = 0
    ruler: bool = False
    specular: float = 0.1
    illumination_gradient: float = 0.2
    blur_mm: float = 0.03
    exposure: float = 0.0
    noise: float = 0.01
    jpeg_quality: int = 100

    def validate(self) -> LesionParams:
        """Raise ValueError naming the first parameter outside its range; return self when all are fine."""
        # Every image is checked (twice in an export): when all numbers are plain and in range, only the
        # other kinds need the full check.
        for spec in _OTHER_SPECS if self._numbers_in_range() else _SPECS:
            check_value(spec, getattr(self, spec.name))
        return self

    def _numbers_in_range(self) -> bool:
        for name, low, high in _NUMERIC_RANGES:
            v = getattr(self, name)
            if type(v) not in (int, float) or not low <= v <= high:  # NaN fails the comparison too
                return False
        return True

    def to_dict(self) -> dict[str, Any]:
        # Flat fields only, so a plain read beats dataclasses.asdict's recursive copy (once per image).
        d = {name: getattr(self, name) for name in PARAM_SPECS}
        d["colours"] = list(self.colours)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LesionParams:
        unknown = sorted(set(data) - set(PARAM_SPECS))
        if unknown:
            raise ValueError(f"unknown lesion parameter(s): {', '.join(unknown)}")
        values = {}
        for name, value in data.items():
            values[name] = coerce_value(PARAM_SPECS[name], value)
        return cls(**values)

    def replace(self, **changes: Any) -> LesionParams:
        return dataclasses.replace(self, **{k: coerce_value(PARAM_SPECS[k], v) for k, v in changes.items()})


def check_value(spec: ParamSpec, value: Any) -> None:
    """ValueError naming the parameter and its range when `value` is outside it."""
    bad = False
    if spec.kind in ("float", "int"):
        try:
            v = float(value)
        except (TypeError, ValueError):
            bad = True
        else:
            bad = not (spec.low <= v <= spec.high) or v != v  # NaN is never in range
    elif spec.kind == "choice":
        bad = value not in spec.choices
    elif spec.kind == "colours":
        names = list(value) if isinstance(value, (list, tuple)) else None
        bad = (not names or len(names) > 6 or any(c not in COLOURS for c in names)
               or len(set(names)) != len(names))
    elif spec.kind == "bool":
        bad = not isinstance(value, (bool, int)) or value not in (0, 1, True, False)
    if bad:
        raise ValueError(f"{spec.name} = {value!r} is out of range: expected {spec.range_text()}")


def coerce_value(spec: ParamSpec, value: Any) -> Any:
    """Convert a JSON/CSV/widget value to the field's type (numbers from strings, lists to tuples)."""
    if spec.kind == "float":
        return float(value)
    if spec.kind == "int":
        return int(round(float(value)))
    if spec.kind == "bool":
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes")
        return bool(value)
    if spec.kind == "colours":
        if isinstance(value, str):
            value = [c for c in value.replace(";", "|").split("|") if c]
        return tuple(value)
    return value
