"""The experiment config: one real test set (a split) + arms, repeated over seeds or folds.

An experiment is described by one JSON file (`ExperimentConfig`), saved with its run, so the whole
study re-runs from `python -m simstudio experiment config.json`. Presets reproducing the source
papers' designs live in `assets/experiments/*.json` and load through `load_preset`.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from simstudio.config import config_from_dict

# What an arm trains on.
#   real       the real training images (the baseline)
#   augment    the real images with classical augmentation, on the training budget of a synthetic arm,
#              so a gain is credited to synthetic data only when it beats flips/rotations at equal cost
#   synthetic  synthetic images only
#   mix        real + `synthetic_per_class` synthetic images per class (0 = the whole folder)
#   balance    real + synthetic images topping up each smaller class to the largest (minority balancing)
#   pretrain   pretrain on synthetic images, then fine-tune on the real ones (hESCnet configuration c)
COMPOSITIONS = ("real", "augment", "synthetic", "mix", "balance", "pretrain")
SYNTHETIC_COMPOSITIONS = ("synthetic", "mix", "balance", "pretrain")
PRESETS_DIR = Path(__file__).resolve().parents[2] / "assets" / "experiments"


@dataclass
class SyntheticSource:
    """A folder of synthetic images (`<root>/<class>/*.png`, a simulator or GAN export) named for the arms."""

    name: str
    path: str = ""
    kind: str = "simulated"  # "simulated" | "gan": which gallery column it belongs to
    # With no path: a simulator preset (a JSON file or a shipped name, e.g. 'fitted-derm-real') that the
    # experiment exports itself, `per_class` images per class at `size` px, into a cache shared by runs.
    preset: str = ""
    per_class: int = 1000
    size: int = 128
    seed: int = 1
    # an optional source (e.g. a GAN or refined folder given on the command line): while it has neither a
    # folder nor a preset, the arms drawing on it are left out instead of refusing the experiment
    optional: bool = False


@dataclass
class ArmConfig:
    name: str
    composition: str = "real"
    synthetic: str = ""  # a SyntheticSource name; "" = the first source
    synthetic_per_class: int = 0  # mix: added per class; synthetic/pretrain: cap per class (0 = all)
    train_fraction: float = 0.0  # share of the whole real set to train on, drawn from the training pool
    augment: str = ""  # augmentation preset; "" = the experiment's
    budget_of: str = ""  # augment arms: the arm whose number of training images per epoch to match
    pretrain_epochs: int = 0  # pretrain arms: epochs on synthetic images (0 = the experiment's epochs)
    model: dict = field(default_factory=dict)  # classifier settings that differ from the experiment's
    sweep_value: float | None = None  # x of this arm in the sweep plot (e.g. synthetic images added)
    # real images per class, drawn from the training pool as nested subsets (one permutation per class and
    # repeat: a larger size holds every image of a smaller one); 0 = the whole pool (or train_fraction)
    real_per_class: int = 0
    curve: str = ""  # the data-efficiency line this arm is a point of (set by real_sizes x curve_arms)


@dataclass
class ExperimentConfig:
    name: str = "experiment"
    description: str = ""
    real: str = ""  # dataset run id or image folder of the real images
    synthetic: list[SyntheticSource] = field(default_factory=list)
    # a saved split CSV; "dataset" = the one saved with the real dataset (the split a simulator fit kept its
    # test part out of); "" = make one from `split_spec` and save it with the run
    split: str = ""
    split_spec: str = "85/15"  # "85/15", "80/10/10", "kfold:10" (see simstudio.data.splits)
    split_seed: int = 0
    val_fraction: float = 0.0  # share of the whole set held out of the training pool for validation
    repeats: int = 3  # seeds per arm (holdout); with k-fold every fold is one repeat
    seed: int = 0
    image_size: int = 64
    model: dict = field(default_factory=lambda: {"model": "smallcnn", "epochs": 10})
    augment: str = "none"
    # Shades-of-Gray (p=6) on every image, real and synthetic, before anything else: the camera's colour
    # cast (in derm-real benign photos are much pinker) is gone, so no arm can learn it as a shortcut.
    colour_constancy: bool = False
    # images shown per unit (epochs x training-set size); > 0 sets each arm's epochs so every arm gets
    # the same number of gradient steps however many images it has (0 = every arm trains `epochs`)
    train_budget: int = 0
    arms: list[ArmConfig] = field(default_factory=list)
    # A data-efficiency curve (see experiments/data_efficiency.py): every arm of `curve_arms` is trained at
    # every size of `real_sizes` (real images per class, 0 = the whole training pool) on nested subsets;
    # the expanded arms are added to `arms`.
    real_sizes: list[int] = field(default_factory=list)
    curve_arms: list[ArmConfig] = field(default_factory=list)
    # False: no unit sees the split's validation part (a curve over n labelled images has no others to
    # choose epochs on)
    validation: bool = True
    baseline: str = ""  # arm every other arm is compared with; "" = the first real-only arm
    # more paired comparisons, each [arm, reference] (e.g. simulated after fitting vs before fitting)
    contrasts: list = field(default_factory=list)
    ood_test: str = ""  # a second real test set (another site), reported as out-of-distribution
    # a shortcut-flipped copy of the real test images (eval/flipped.py: each image's acquisition moved
    # toward the other class's median, the lesion kept), reported beside the test and OOD sets
    flipped_test: bool = False
    sweep_label: str = ""  # x-axis title when arms carry sweep values
    n_boot: int = 2000
    level: float = 0.95
    keep_checkpoints: bool = False  # keep every arm x repeat model (can be GBs for large models)
    # Opt-in shortcut audit of every arm x repeat model on its test images (experiments/audit_columns.py)
    audit: bool = False
    # Tuning only: allow testing on real images a fitted simulator preset was fitted to (e.g. choosing
    # training settings on the validation part); every result of such a run carries a warning.
    fit_overlap_ok: bool = False

    # -- derived ------------------------------------------------------------------------------------
    @property
    def kfold(self) -> int:
        spec = self.split_spec.strip().lower()
        if spec.startswith("kfold"):
            _, _, k = spec.partition(":")
            return int(k or 10)
        return 0

    @property
    def baseline_arm(self) -> ArmConfig:
        if self.baseline:
            for arm in self.arms:
                if arm.name == self.baseline:
                    return arm
            raise ValueError(
                f"baseline {self.baseline!r} is not one of the arms ({', '.join(a.name for a in self.arms)})"
            )
        for arm in self.arms:
            if arm.composition == "real":
                return arm
        return self.arms[0]

    def source(self, name: str) -> SyntheticSource:
        if not self.synthetic:
            raise ValueError("this arm needs synthetic images: give a synthetic folder (--synthetic DIR)")
        if not name:
            return self.synthetic[0]
        for s in self.synthetic:
            if s.name == name:
                return s
        have = ", ".join(s.name for s in self.synthetic)
        raise ValueError(f"no synthetic source named {name!r}; have {have}")

    def arm(self, name: str) -> ArmConfig:
        for a in self.arms:
            if a.name == name:
                return a
        raise ValueError(f"no arm named {name!r}")

    def to_dict(self) -> dict:
        return asdict(self)


def experiment_from_dict(data: dict) -> ExperimentConfig:
    """Build and validate a config from JSON data (unknown fields are named in the error)."""
    if isinstance(data, ExperimentConfig):
        from simstudio.experiments.data_efficiency import expand_curve

        return validate(expand_curve(data))
    data = dict(data)
    data.pop("_comment", None)
    arms = [config_from_dict(ArmConfig, a) for a in data.pop("arms", [])]
    templates = [config_from_dict(ArmConfig, a) for a in data.pop("curve_arms", [])]
    sources = [config_from_dict(SyntheticSource, s) for s in data.pop("synthetic", [])]
    cfg = config_from_dict(ExperimentConfig, {**data, "arms": arms, "curve_arms": templates, "synthetic": sources})
    from simstudio.experiments.data_efficiency import expand_curve

    return validate(expand_curve(cfg))


def validate(cfg: ExperimentConfig) -> ExperimentConfig:
    """Refuse a config that cannot run, with the reason, before any data is touched."""
    if not cfg.arms:
        raise ValueError("an experiment needs at least one arm")
    names = [a.name for a in cfg.arms]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"arm names must be unique; repeated: {', '.join(dup)}")
    slugs: dict[str, str] = {}
    for a in cfg.arms:
        other = slugs.setdefault(arm_slug(a.name), a.name)
        if other != a.name:
            # units are folders named by the slug: two arms would overwrite each other's results
            raise ValueError(f"arms {other!r} and {a.name!r} give the same folder name {arm_slug(a.name)!r}; "
                             "make the names differ within their first 40 letters and digits")
    for a in cfg.arms:
        if not a.name.strip():
            raise ValueError("every arm needs a name")
        if a.composition not in COMPOSITIONS:
            raise ValueError(
                f"arm {a.name!r}: unknown composition {a.composition!r}; one of {', '.join(COMPOSITIONS)}"
            )
        if a.composition in SYNTHETIC_COMPOSITIONS:
            cfg.source(a.synthetic)
        if not 0.0 <= a.train_fraction <= 1.0:
            raise ValueError(f"arm {a.name!r}: train_fraction must be in [0, 1], got {a.train_fraction}")
        if a.synthetic_per_class < 0:
            raise ValueError(f"arm {a.name!r}: synthetic_per_class must be >= 0")
        if a.real_per_class < 0 or (a.real_per_class and a.train_fraction):
            raise ValueError(f"arm {a.name!r}: real_per_class must be >= 0 and not given with train_fraction")
        if a.budget_of:
            other = cfg.arm(a.budget_of)
            if other.composition == "augment":
                raise ValueError(f"arm {a.name!r}: budget_of must name a non-augment arm")
    src_names = [s.name for s in cfg.synthetic]
    if len(set(src_names)) != len(src_names):
        raise ValueError("synthetic source names must be unique")
    for s in cfg.synthetic:
        if s.preset and not s.path and not (1 <= s.per_class <= 1_000_000 and 32 <= s.size <= 512):
            raise ValueError(f"synthetic source {s.name!r}: per_class must be in [1, 1000000] and size in "
                             f"[32, 512] px, got {s.per_class} and {s.size}")
    cfg.baseline_arm  # noqa: B018 (raises for an unknown baseline name)
    for pair in cfg.contrasts:
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and pair[0] != pair[1]):
            raise ValueError(f"a contrast is [arm, reference], two different arm names; got {pair!r}")
        for name in pair:
            cfg.arm(name)
    if cfg.repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {cfg.repeats}")
    if cfg.kfold == 1 or cfg.kfold < 0:
        raise ValueError(f"k-fold needs k >= 2 (split_spec {cfg.split_spec!r})")
    if not 0.0 <= cfg.val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {cfg.val_fraction}")
    if cfg.n_boot < 100:
        raise ValueError(f"n_boot must be at least 100 for a percentile interval, got {cfg.n_boot}")
    if not 0.5 < cfg.level < 1.0:
        raise ValueError(f"level must be in (0.5, 1), got {cfg.level}")
    if cfg.train_budget < 0:
        raise ValueError(f"train_budget must be >= 0, got {cfg.train_budget}")
    if cfg.image_size < 8:
        raise ValueError(f"image_size must be at least 8 px, got {cfg.image_size}")
    return cfg


def load_experiment(path_or_preset: str | Path) -> ExperimentConfig:
    """A config JSON file, or the name of a preset in assets/experiments (e.g. 'simdeepl_table1')."""
    p = Path(path_or_preset)
    if p.suffix.lower() == ".json" or p.is_file():
        if not p.is_file():
            raise FileNotFoundError(f"no experiment config {p}")
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{p} is not valid JSON: {exc}") from None
        return experiment_from_dict(data)
    return load_preset(str(path_or_preset))


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.json"))


def load_preset(name: str) -> ExperimentConfig:
    path = PRESETS_DIR / f"{name}.json"
    if not path.is_file():
        raise ValueError(f"no experiment preset {name!r}; presets: {', '.join(preset_names())}")
    return experiment_from_dict(json.loads(path.read_text(encoding="utf-8")))


def with_data(
    cfg: ExperimentConfig,
    real: str = "",
    synthetic: list[str] | None = None,
    ood_test: str = "",
    **overrides: Any,
) -> ExperimentConfig:
    """A copy of `cfg` pointed at data: `synthetic` entries are `DIR` (filling the sources in order) or
    `NAME=DIR`; a source kind can be given as `NAME:gan=DIR`. Other keyword overrides set config fields."""
    data = cfg.to_dict()
    if real:
        data["real"] = str(real)
    if ood_test:
        data["ood_test"] = str(ood_test)
    sources = [dict(s) for s in data["synthetic"]]
    for i, spec in enumerate(synthetic or []):
        name, kind, path = _parse_source(spec)
        if name:
            match = [s for s in sources if s["name"] == name]
            if match:
                match[0]["path"] = path
                if kind:
                    match[0]["kind"] = kind
            else:
                sources.append({"name": name, "path": path, "kind": kind or "simulated"})
        elif i < len(sources):
            sources[i]["path"] = path
        else:
            sources.append(
                {
                    "name": _slug(Path(path).name) or f"synthetic{i + 1}",
                    "path": path,
                    "kind": kind or "simulated",
                }
            )
    data["synthetic"] = sources
    known = {f.name for f in fields(ExperimentConfig)}
    for k, v in overrides.items():
        if v is None:
            continue
        if k not in known:
            raise ValueError(f"unknown experiment setting {k!r}")
        data[k] = v
    return experiment_from_dict(data)


def arm_slug(name: str) -> str:
    return _slug(name) or "arm"


def _parse_source(spec: str) -> tuple[str, str, str]:
    spec = str(spec)
    if "=" in spec and not Path(spec).exists():
        head, _, path = spec.partition("=")
        name, _, kind = head.partition(":")
        return name.strip(), kind.strip(), path.strip()
    return "", "", spec


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:40]
