"""Fit the simulator's class presets to a real dataset: an optuna search over the means and rates of the
preset's parameter distributions that makes simulated images look like the real ones.

What is fitted ("knobs"): for each class preset the output classes use (nevus, SK, melanoma, ...) the
centre of its lesion distributions (diameter, asymmetry, border irregularity and blur, pigment, ...), and
the centre of the shared acquisition distributions (tint, white balance, exposure, erythema, blur). The
"full" space adds the rates of optional colours and structures, the benign mix (nevus vs SK) and more
centres: searched freely, those rates are where a fit buys AUC with clinically wrong pictures. By default
no trial may break the ABCD order (`abcd_order`): a drawn preset that does is skipped unrendered and does
not count as a trial.

In **fair** mode (the default) acquisition knobs are shared by every class, so only lesion parameters can
differ by class; **matching** mode gives each output class its own acquisition knobs, and the preset says
so (`mode: matching`) wherever it goes.

Objectives (each trial renders `per_class` images per class with the same seeds, so trials differ only by
their parameters):
- "stats" (minimise): mean 1-D Wasserstein distance between simulated and real measured lesion statistics
  (`simstudio.eval.lesion_stats`), in units of the real spread; lesion statistics per class, acquisition
  statistics pooled over classes in fair mode (per class in matching mode).
- "c2st" (minimise): C2ST AUC between simulated and real images of each class in the statistics space.
- "kid" (minimise): KID per class in the penultimate features of a classifier trained on real images.
- "sim_auc" (maximise): ROC-AUC on the real images of a small CNN trained for a few epochs on the
  simulated ones only (the goal itself; the slowest).
- "stats_auc" (maximise): ROC-AUC on the real images of a logistic regression trained on the simulated
  images' measured lesion statistics: do the simulated classes differ the way the real ones do?
- "domain_auc" (maximise): the same with the features of a classifier trained on real images (its
  training part): a cheap proxy of "sim_auc" that looks at what a CNN sees.
Matching the statistics ("stats") does not by itself make simulated images teach a classifier: the
AUC objectives score the class differences, which is what transfers.

The real images come from the parts of a split named in `real_parts` (default: the validation part).
The test part is never read: asking for it is refused, and the rows read are checked against it.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simstudio.data.preprocess import shades_of_gray_all
from simstudio.experiments import fit_keep as keep
from simstudio.experiments.abcd_order import abcd_breaks, rule_of
from simstudio.experiments.fit_knobs import SPACES, apply_knobs, knob_values, near, search_space
from simstudio.experiments.fit_objective import TrialObjective, render_set

OBJECTIVES = {"stats": "minimize", "c2st": "minimize", "kid": "minimize", "sim_auc": "maximize",
              "stats_auc": "maximize", "domain_auc": "maximize"}
CAMERAS = ("ranges", "photos")
# Draws in a row that may break the ABCD order before a fit gives up: such draws cost no render, and
# with 30 knobs at random nearly every one of the sampler's first draws breaks some rule.
MAX_DRAWS_PER_TRIAL = 2000
MAX_SEEDS = 20  # fresh seeds a fit may be confirmed on (`confirm`)
SHA1_PREFIX = 12  # hex digits of a source file's sha1 kept in a fitted preset's provenance (48 bits)
FIT_KIND = "simfit"


@dataclass
class SimFitConfig:
    real: str = ""  # dataset run id (with its split) or image folder + split_file
    split_file: str = ""  # split CSV; "" = the dataset's saved split
    real_parts: list[str] = field(default_factory=lambda: ["val"])  # never "test"
    base_preset: str = ""  # preset JSON to start from; "" = the default binary preset
    mode: str = "fair"  # fair | matching
    objective: str = "stats"  # stats | c2st | kid | sim_auc
    space: str = "compact"  # compact | full (which knobs are searched)
    knobs: list[str] = field(default_factory=list)  # only these knob names ("" = the whole space)
    keep_abcd: bool = True  # skip drawn presets that break the ABCD order (abcd_order.RULES)
    n_trials: int = 30
    per_class: int = 120  # simulated images per class and trial
    size: int = 96  # side at which real and simulated images are compared
    real_per_class: int = 300  # at most this many real images per class
    seed: int = 0
    classifier: str = ""  # "kid": a classifier run / checkpoint trained on real images
    quick_epochs: int = 4  # "sim_auc": epochs of the quick classifier
    quick_size: int = 64  # "sim_auc": its input side
    preview_per_class: int = 4  # best-so-far preview images per class
    colour_constancy: bool = False  # Shades of Gray on the real and the simulated images before comparing
    # Realism constraint: a trial counts only where the lesion statistics' C2ST (mean over classes) is at most
    # this; 0 = none. An AUC-only fit bought its AUC with realism: the renderer-6 fitted-derm-real's C2ST is
    # 0.94-0.95 on validation where the built-in preset reads 0.79-0.81 (renderer 7).
    max_c2st: float = 0.0
    # How far from the start preset a trial may move each knob, as a share of the knob's range (1 = anywhere).
    # Over the whole range 28 of 32 trials drew presets a C2ST told from real at >= 0.95 (the start: 0.86).
    radius: float = 1.0
    # Re-score the start and the best few trials on this many fresh seeds after the search and keep the best
    # mean (`fit_keep`: the best single score of a noisy objective is biased upward); 0 = keep the best score.
    confirm: int = 0
    # "ranges": the start preset's own camera distributions (searched as knobs); "photos": skin type, cast
    # and exposure drawn together from the real photos' own cameras (`camera_fit`), not searched
    camera: str = "ranges"
    out: str = ""  # also save the fitted preset here (e.g. assets/presets/fitted-x.json)
    name: str = ""  # name of the fitted preset ("" = fitted-<dataset>)

    def validate(self) -> SimFitConfig:
        if not self.real:
            raise ValueError("choose the real dataset to fit to")
        parts = list(self.real_parts)
        if not parts:
            raise ValueError("real_parts is empty: name the split part(s) to fit to, e.g. val")
        if "test" in parts:
            raise ValueError(
                "the simulator fit never reads the test part of a split: fit to 'val' "
                "(or 'train'), so the test images stay unseen for the final comparison"
            )
        bad = [p for p in parts if p not in ("train", "val")]
        if bad:
            raise ValueError(f"real_parts must be 'train' and/or 'val', got {', '.join(bad)}")
        if self.mode not in ("fair", "matching"):
            raise ValueError(f"mode = {self.mode!r}: expected fair or matching")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective = {self.objective!r}: expected one of {', '.join(OBJECTIVES)}")
        if self.space not in SPACES:
            raise ValueError(f"space = {self.space!r}: expected one of {', '.join(SPACES)}")
        if self.camera not in CAMERAS:
            raise ValueError(f"camera = {self.camera!r}: expected one of {', '.join(CAMERAS)}")
        if self.max_c2st and not 0.5 <= float(self.max_c2st) <= 1.0:
            raise ValueError(f"max_c2st = {self.max_c2st} is out of range: expected 0 (no constraint) or a C2ST AUC "
                             "in [0.5, 1] (0.5: indistinguishable from real)")
        if not 0.01 <= float(self.radius) <= 1.0:
            raise ValueError(f"radius = {self.radius} is out of range: expected a share of each knob's range in "
                             "[0.01, 1] (1 = the whole range)")
        if isinstance(self.confirm, bool) or not 0 <= int(self.confirm) <= MAX_SEEDS:
            raise ValueError(f"confirm = {self.confirm!r} is out of range: expected 0 (no confirmation) to {MAX_SEEDS} "
                             "fresh seeds")
        if self.max_c2st and self.objective == "c2st":
            raise ValueError("max_c2st constrains another objective by the C2ST; the c2st objective already "
                             "minimises it: leave max_c2st at 0")
        if self.objective in ("kid", "domain_auc") and not self.classifier:
            raise ValueError(f"the {self.objective} objective needs a classifier trained on real images "
                             "(classifier=RUN)")
        for name, v, lo, hi in (
            ("n_trials", self.n_trials, 1, 10000),
            ("per_class", self.per_class, 4, 100000),
            ("size", self.size, 32, 512),
            ("real_per_class", self.real_per_class, 4, 10**6),
        ):
            if not lo <= int(v) <= hi:
                raise ValueError(f"{name} = {v} is out of range: expected [{lo}, {hi}]")
        return self


def fit_simulator(config: SimFitConfig | dict, ctx=None) -> dict:
    """The fit job: search, report each trial, keep the best preset (JSON with provenance) and a preview."""
    from simstudio.config import config_from_dict
    from simstudio.jobs import JobContext

    if isinstance(config, dict):
        config = config_from_dict(SimFitConfig, config)
    config.validate()
    ctx = ctx or JobContext.local()
    import optuna

    base = _base_preset(config)
    real = load_fit_data(config, ctx)
    camera = {}
    if config.camera == "photos":
        from simstudio.experiments.camera_fit import fit_camera

        ctx.progress(0, config.n_trials, "reading the camera of each real photo")
        base, camera = fit_camera(base, real.photos, seed=config.seed)
        ctx.log(f"camera: skin type, cast and exposure of {camera['rows']} real photos, drawn together "
                f"(skin types {camera['skin_types']})")
    knobs = search_space(base, config.mode, config.space, config.knobs)
    if not knobs:
        raise ValueError("no knob to search: the preset has no fittable distribution of the chosen names")
    if config.radius < 1:
        knobs = near(knobs, knob_values(base, knobs), float(config.radius))
    if config.keep_abcd:
        broken = abcd_breaks(apply_knobs(base, knobs, knob_values(base, knobs)))
        if broken:
            raise ValueError(f"the start preset {base.name!r} already breaks the ABCD order ({'; '.join(broken)}): "
                             "fix it, or fit with keep_abcd off (--any-order) on purpose")
    objective = TrialObjective(config, real, base, knobs)
    direction = OBJECTIVES[config.objective]
    ctx.log(
        f"fitting {len(knobs)} knobs of preset {base.name!r} ({config.mode} mode) to "
        f"{sum(real.counts.values())} real images ({'+'.join(config.real_parts)} of {real.dataset}), "
        f"objective {config.objective} ({direction})"
    )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    cap = float(config.max_c2st)
    if cap:
        ctx.log(f"realism constraint: a trial counts only where the lesion statistics' C2ST is at most {cap:g}")
    study = optuna.create_study(
        direction=direction,
        sampler=optuna.samplers.TPESampler(
            seed=config.seed, multivariate=True, n_startup_trials=min(10, max(2, config.n_trials // 3))
        ),
    )
    # Trial 0 is the starting preset itself: the "before" number every later trial is compared with.
    study.enqueue_trial(knob_values(base, knobs))
    table: list[dict] = []
    best_preview_of = None
    t0 = time.time()
    skipped: Counter = Counter()  # rule -> drawn presets that broke it (never rendered)
    index_of: dict[int, int] = {}  # optuna trial number -> row of the trial table
    for i in range(config.n_trials):
        for _draw in range(MAX_DRAWS_PER_TRIAL):
            ctx.check_cancel()
            trial = study.ask({k.name: optuna.distributions.FloatDistribution(k.low, k.high) for k in knobs})
            preset = apply_knobs(base, knobs, trial.params)
            broken = abcd_breaks(preset) if config.keep_abcd else []
            if not broken:
                break
            # Not rendered and not counted as a trial: TPE ranks a pruned trial without a value below every
            # scored one, so the search learns to stay inside the clinical order.
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            skipped.update(rule_of(b) for b in broken)
            ctx.progress(i, config.n_trials, f"skipped a draw that breaks the ABCD order ({broken[0]})")
        else:
            raise ValueError(
                f"{MAX_DRAWS_PER_TRIAL} draws in a row broke the ABCD order (most often: "
                f"{skipped.most_common(1)[0][0]}): search fewer knobs, or fit with keep_abcd off (--any-order)")
        started = time.time()
        value, details = objective.score(preset)
        if cap:  # TPE then models which draws keep it (a constraint value <= 0 keeps it)
            trial.set_user_attr("c2st", details["c2st"])
            trial.set_constraint("c2st", details["c2st"] - cap)
            if i == 0 and details["c2st"] > cap:
                ctx.log(f"⚠ the start preset itself reads C2ST {details['c2st']:.3f}, over the cap {cap:g}: trials "
                        "near it may all break the cap too (a cap at or above the start's, with --radius, keeps "
                        "the search near a realistic start)")
        study.tell(trial, value)
        best_trial = keep.best_trial(study, cap)
        index_of[trial.number] = i
        row = {
            "trial": i,
            "value": value,
            "seconds": round(time.time() - started, 2),
            **{k: round(v, 4) for k, v in details.items()},
            "params": trial.params,
        }
        table.append(row)
        ctx.report("trial", **row)
        ctx.progress(i + 1, config.n_trials,
                     f"trial {i}: {config.objective} {value:.4f}"
                     + (f" (C2ST {details['c2st']:.3f})" if cap else "") + f", best {best_trial.value:.4f}")
        if ctx.run_dir is not None:
            _save_json(ctx.run_dir / "trials.json", table)
        if ctx.run_dir is not None and best_trial.number != best_preview_of:
            # A cancelled or crashed fit still leaves its best preset so far, and what it looks like.
            from simstudio.sim.presets import save_preset

            best_preview_of = best_trial.number
            best_so_far = apply_knobs(base, knobs, best_trial.params)
            save_preset(best_so_far, ctx.run_dir / "best_so_far_preset.json")
            preview = _preview(best_so_far, config, ctx.run_dir)
            ctx.report("image", path=preview, trial=index_of[best_preview_of], kind="best_preview")
    from simstudio.sim.render import RENDERER_VERSION

    best_trial = keep.best_trial(study, cap)
    realism = keep.realism(best_trial, cap)
    confirmed = {}
    if config.confirm and (not cap or realism["constraint_met"]):
        best_trial, confirmed = keep.confirm_kept(study, cap, objective, lambda p: apply_knobs(base, knobs, p),
                                                  keep.fresh_seeds(config.seed, int(config.confirm)), index_of,
                                                  OBJECTIVES[config.objective] == "maximize", ctx)
        realism = keep.realism(best_trial, cap)
    elif config.confirm:
        ctx.log("no trial kept the realism cap, so there was nothing to confirm on fresh seeds")
    if cap and not realism["constraint_met"]:
        ctx.log(f"no trial kept the lesion statistics' C2ST at or below {cap:g}: the fitted preset is the most "
                f"realistic trial (C2ST {realism['best_c2st']:.3f}), not the best by {config.objective}")
    best = apply_knobs(base, knobs, best_trial.params)
    if ctx.run_dir is not None and best_trial.number != best_preview_of:  # confirmation kept another trial
        _preview(best, config, ctx.run_dir)
    n_skipped = sum(1 for t in study.trials if t.state == optuna.trial.TrialState.PRUNED)
    best.name = config.name or f"fitted-{_slug(real.dataset)}"
    best.provenance = {
        "fitted_by": "simstudio.experiments.simfit",
        "base_preset": config.base_preset or base.name,
        "dataset": real.dataset,
        "split": real.split_source,
        "parts": list(config.real_parts),
        "real_images": real.counts,
        # Which real images shaped the preset (source-file sha1, 12 hex digits): an experiment refuses to
        # test a preset fitted to its own test images, whatever import or split it uses.
        "real_sha1": sorted(h[:SHA1_PREFIX] for h in real.hashes),
        "objective": config.objective,
        "direction": direction,
        "mode": config.mode,
        "space": config.space,
        "classifier": config.classifier,
        "knobs": [k.name for k in knobs],
        "radius": config.radius,
        "keep_abcd": config.keep_abcd,
        "trials": len(table),
        "abcd_skipped": n_skipped,
        "abcd_rules_broken": dict(skipped.most_common()),
        "best_trial": index_of[best_trial.number],
        "best_value": best_trial.value,
        "start_value": table[0]["value"],
        **realism,
        **confirmed,
        "size": config.size,
        "colour_constancy": config.colour_constancy,
        "camera": config.camera,
        **({"camera_table": camera} if camera else {}),
        "renderer_version": RENDERER_VERSION,  # what the fit saw: another renderer draws other images
        "per_class": config.per_class,
        "seed": config.seed,
        "fitted_at": time.strftime("%Y-%m-%d %H:%M:%S"),
        "seconds": round(time.time() - t0, 1),
    }
    if base.provenance:  # a fit of a fitted preset keeps the history of how its start was made
        best.provenance["base_provenance"] = base.provenance
    saved = save_fitted_preset(best, config, ctx.run_dir)
    return {
        "preset": saved,
        "best_value": best_trial.value,
        "start_value": table[0]["value"],
        "best_trial": index_of[best_trial.number],
        **realism,
        **confirmed,
        "trials": len(table),
        "abcd_skipped": n_skipped,
        "abcd_rules_broken": dict(skipped.most_common()),
        "objective": config.objective,
        "direction": direction,
        "mode": config.mode,
        "knobs": [k.name for k in knobs],
        "best_params": best_trial.params,
        "real_images": real.counts,
        "parts": list(config.real_parts),
        "camera": config.camera,
        **({"camera_table": camera} if camera else {}),
    }


@dataclass
class FitData:
    """The real images a fit may look at (never the test part), at the fit's side."""

    dataset: str
    split_source: str
    classes: list[str]
    images: np.ndarray
    labels: np.ndarray
    files: list[str]
    counts: dict[str, int]
    hashes: list[str] = field(default_factory=list)  # sha1 of each file read, for experiments' leakage guard
    raw: np.ndarray | None = None  # the images as taken, where `images` went through colour constancy

    @property
    def photos(self) -> np.ndarray:
        """The images as the camera took them (the camera fit reads their casts)."""
        return self.images if self.raw is None else self.raw


def load_fit_data(config: SimFitConfig, ctx=None) -> FitData:
    """The rows of `config.real_parts` of the real set's split, at most `real_per_class` per class. Raises
    when the split is missing or the rows would touch its test part."""
    from simstudio.data.dataset import load_dataset
    from simstudio.data.splits import load_split

    config.validate()
    ds = load_dataset(config.real, size=config.size)
    split = load_split(config.split_file) if config.split_file else ds.saved_split()
    if split is None:
        raise ValueError(
            f"{config.real} has no saved split: import it with a train/val/test split, or give "
            "split_file, so the fit can stay off the test images"
        )
    rows = np.concatenate([split.indices(p, ds) for p in config.real_parts])
    test_files = {f for f, p in zip(split.files, split.parts, strict=True) if p == "test"}
    if test_files & {ds.files[i] for i in rows}:  # a real check, not an assert: -O must not remove it
        raise RuntimeError("the fit rows overlap the split's test part; refusing to read test images")
    rng = np.random.default_rng(config.seed)
    keep = []
    for c in range(len(ds.classes)):
        r = rows[ds.labels[rows] == c]
        keep.append(
            np.sort(rng.choice(r, config.real_per_class, replace=False)) if len(r) > config.real_per_class else r
        )
    rows = np.sort(np.concatenate(keep))
    if len(rows) == 0:
        raise ValueError(f"the {'+'.join(config.real_parts)} part of the split holds no image")
    labels = ds.labels[rows]
    images = np.asarray(ds.images[rows])
    return FitData(
        dataset=ds.id or str(ds.root),
        split_source=config.split_file or "saved with the dataset",
        classes=list(ds.classes),
        images=shades_of_gray_all(images) if config.colour_constancy else images,
        labels=labels,
        files=[ds.files[i] for i in rows],
        counts={c: int((labels == i).sum()) for i, c in enumerate(ds.classes)},
        hashes=[ds.hashes[i] for i in rows],
        raw=images if config.colour_constancy else None,
    )


def save_fitted_preset(preset, config: SimFitConfig, run_dir: Path | None) -> str:
    """Write the preset into the run folder (and to `config.out` when given); returns where it is."""
    from simstudio.sim.presets import save_preset

    where = ""
    if run_dir is not None:
        where = str(save_preset(preset, Path(run_dir) / "fitted_preset.json"))
    if config.out:
        where = str(save_preset(preset, Path(config.out).expanduser()))
    return where


def trial_table(run_dir: Path | str) -> list[dict]:
    """Trials of a fit run (from its events, so a running fit shows what it has done so far)."""
    from simstudio.runs import open_run

    return [{k: v for k, v in e.items() if k not in ("t", "type")} for e in open_run(run_dir).events("trial")]


# -- private helpers --------------------------------------------------------------------------------
def _base_preset(config: SimFitConfig):
    from simstudio.sim.presets import default_preset, load_preset

    base = load_preset(config.base_preset) if config.base_preset else default_preset()
    if config.mode == "fair" and base.acquisition_by_class:
        raise ValueError(
            "fair mode cannot start from a preset that gives classes their own acquisition "
            "parameters; choose matching mode or a fair preset"
        )
    return base


def _preview(preset, config: SimFitConfig, run_dir: Path) -> str:
    """A grid of the best-so-far preset (one row per class) saved as samples/best.png."""
    import cv2

    from simstudio.runs import atomic_write_bytes

    classes = list(preset.output_classes)
    images, _ = render_set(preset, classes, config.preview_per_class, 96, config.seed + 1)
    rows = [
        np.concatenate(list(images[i * config.preview_per_class : (i + 1) * config.preview_per_class]), 1)
        for i in range(len(classes))
    ]
    ok, png = cv2.imencode(".png", cv2.cvtColor(np.concatenate(rows, 0), cv2.COLOR_RGB2BGR))
    if ok:
        atomic_write_bytes(run_dir / "samples" / "best.png", png.tobytes())
    return "samples/best.png"


def _save_json(path: Path, obj: Any) -> None:
    from simstudio.runs import atomic_write_json

    atomic_write_json(path, obj)


def _slug(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_-]+", "-", Path(text).name)[:40] or "dataset"


def abcd_summary(result: dict) -> str:
    """One line on the drawn presets a fit skipped for breaking the ABCD order (from its result)."""
    rules = result.get("abcd_rules_broken", {})
    top = ", ".join(f"{rule} ({n})" for rule, n in list(rules.items())[:3])
    return (f"{result['abcd_skipped']} drawn preset(s) broke the ABCD order and were skipped unrendered "
            f"(most often: {top}); --any-order or the Gap tab's checkbox lets them run.")


_ROMAN = ("I", "II", "III", "IV", "V", "VI")


def camera_summary(result: dict) -> str:
    """One line on a fit's camera ("photos": read from the real photos), empty for "ranges"."""
    table = result.get("camera_table")
    if not table:
        return ""
    types = ", ".join(f"{_ROMAN[int(t) - 1]} {n}" for t, n in table["skin_types"].items() if n)
    return (f"Camera: skin type, cast and exposure drawn together from {table['rows']} real photos, all classes "
            f"pooled (skin types {types}; tint a* {table['tint_a_p5_p95'][0]:g} to {table['tint_a_p5_p95'][1]:g}, "
            f"b* {table['tint_b_p5_p95'][0]:g} to {table['tint_b_p5_p95'][1]:g}, 5-95 %).")
