"""Which cue does a real-trained classifier use? Counterfactual sweeps and saliency on simulated lesions.

`sweep_parameter` varies one simulator parameter over its range while everything else (the other
parameters and every random draw, thanks to the renderer's per-component seeds) stays fixed, and records
the classifier's P(positive class) for each value: a rising curve for `asymmetry` says the classifier
reacts to asymmetry the way a dermatologist would; a rising curve for `vignette` says it learnt a
shortcut. `cam_grid` puts Grad-CAM maps of simulated images beside real ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

MEASURED = ("area_frac", "asymmetry", "compactness", "border_width_rel", "n_colours")


@dataclass
class SweepResult:
    param: str
    values: list                  # the parameter values, in sweep order
    probs: np.ndarray             # (len(values), n_samples) P(positive class)
    positive_class: str
    measured: dict[str, list[float]] = field(default_factory=dict)  # stat -> mean over samples per value
    images: np.ndarray | None = None  # (len(values), size, size, 3): the first sample along the sweep

    @property
    def mean(self) -> np.ndarray:
        return self.probs.mean(1)

    @property
    def std(self) -> np.ndarray:
        return self.probs.std(1)

    def as_dict(self) -> dict:
        return {"param": self.param, "values": [_plain(v) for v in self.values],
                "positive_class": self.positive_class, "mean": self.mean.tolist(), "std": self.std.tolist(),
                "probs": self.probs.tolist(), "measured": self.measured,
                "change": float(self.mean[-1] - self.mean[0])}


def sweep_values(param: str, n: int = 9, low: float | None = None, high: float | None = None) -> list:
    """`n` evenly spaced values over the parameter's range (or [low, high]); [False, True] for a switch."""
    from simstudio.sim.params import PARAM_SPECS

    if param not in PARAM_SPECS:
        raise ValueError(f"unknown simulator parameter {param!r}; sweepable: {', '.join(sweepable_params())}")
    spec = PARAM_SPECS[param]
    if spec.kind == "bool":
        return [False, True]
    if spec.kind not in ("float", "int"):
        raise ValueError(f"{param} is a {spec.kind} parameter and cannot be swept along a line; sweepable: "
                         f"{', '.join(sweepable_params())}")
    lo = spec.low if low is None else float(low)
    hi = spec.high if high is None else float(high)
    if not spec.low <= lo < hi <= spec.high:
        raise ValueError(f"{param}: sweep range [{lo:g}, {hi:g}] must lie inside {spec.range_text()} with "
                         "low < high")
    vals = np.linspace(lo, hi, max(2, int(n)))
    if spec.kind == "int":
        return sorted({int(round(v)) for v in vals})
    return [round(float(v), 4) for v in vals]


def sweepable_params() -> list[str]:
    from simstudio.sim.params import PARAM_SPECS

    return [n for n, s in PARAM_SPECS.items() if s.kind in ("float", "int", "bool")]


def base_lesions(class_name: str, n: int, seed: int = 0, preset=None) -> list:
    """`n` parameter draws (`LesionParams`) of an output class ('benign') or class preset ('nevus')."""
    from simstudio.sim.presets import default_preset, sample_for_class, sample_params

    study = preset or default_preset()
    rng = np.random.default_rng(seed)
    if class_name in study.classes:
        return [sample_for_class(study, class_name, rng)[0] for _ in range(n)]
    if class_name in study.lesion:
        return [sample_params(class_name, rng, study) for _ in range(n)]
    raise ValueError(f"unknown class {class_name!r}: expected one of "
                     f"{', '.join([*study.classes, *study.lesion])}")


def sweep_parameter(predict: Callable[[np.ndarray], np.ndarray], param: str, values: Sequence,
                    lesions: Sequence, *, size: int = 128, seed: int = 0, positive: int = -1,
                    positive_class: str = "", measure: bool = True,
                    progress: Callable[[int, int], None] | None = None) -> SweepResult:
    """P(class `positive`) from `predict(images) -> (N, C)` for every lesion in `lesions` with `param`
    set to each value. Lesion i is always drawn with seed `seed + i`, so only `param` changes."""
    from simstudio.eval.lesion_stats import measure_lesion
    from simstudio.sim.render import render_lesion

    if not lesions:
        raise ValueError("no lesion to sweep: draw at least one")
    probs = np.zeros((len(values), len(lesions)))
    measured = {k: [] for k in MEASURED} if measure else {}
    strip = np.zeros((len(values), size, size, 3), np.uint8)
    for vi, value in enumerate(values):
        batch, stats = [], {k: [] for k in MEASURED}
        for li, base in enumerate(lesions):
            rgb, mask = render_lesion(base.replace(**{param: value}), size=size, seed=seed + li)
            batch.append(rgb)
            if measure:
                row = measure_lesion(rgb, mask=mask)
                for k in MEASURED:
                    stats[k].append(row[k])
        images = np.stack(batch)
        strip[vi] = images[0]
        probs[vi] = np.asarray(predict(images))[:, positive]
        for k in measured:
            v = np.asarray(stats[k], float)
            measured[k].append(float(np.nanmean(v)) if np.isfinite(v).any() else float("nan"))
        if progress is not None:
            progress(vi + 1, len(values))
    return SweepResult(param=param, values=list(values), probs=probs, positive_class=positive_class,
                       measured=measured, images=strip)


def classifier_predictor(ref: str) -> tuple[Callable[[np.ndarray], np.ndarray], dict, int]:
    """(predict function, checkpoint meta, index of the positive class) of a trained classifier run or
    checkpoint; the positive class is "malignant" or "melanoma" when present, else the last class."""
    from simstudio.train.checkpoints import load_classifier, predict_proba

    model, meta = load_classifier(ref)
    classes = list(meta["classes"])
    positive = next((classes.index(c) for c in ("malignant", "melanoma") if c in classes), len(classes) - 1)
    return (lambda images: predict_proba(model, images)), meta, positive


def cam_grid(ref: str, images: np.ndarray, target: int | None = None) -> np.ndarray:
    """Grad-CAM overlays (N, S, S, 3) of a classifier for `images`, at the classifier's input side S;
    `target` = the class explained (None = each image's predicted class)."""
    from simstudio.eval.gradcam import grad_cam, overlay_heatmap
    from simstudio.train.checkpoints import load_classifier, prepare_images

    model, meta = load_classifier(ref)
    x = prepare_images(np.asarray(images), meta)
    cams = grad_cam(model, x, target=target)
    return np.stack([overlay_heatmap(img, cam) for img, cam in zip(x, cams, strict=True)])


@dataclass
class CounterfactualConfig:
    """The sweep job of the Gap tab and `python -m simstudio counterfactual`."""

    classifier: str = ""          # a classifier run id / checkpoint / shipped model ("" = the shipped default)
    param: str = "asymmetry"
    n_values: int = 9
    low: float | None = None      # sweep range (None = the parameter's whole range)
    high: float | None = None
    class_name: str = "benign"    # the lesions swept are draws of this output class or class preset
    preset: str = ""              # simulator preset JSON ("" = the default)
    n_samples: int = 8
    size: int = 128
    seed: int = 0
    real: str = ""                # real images for Grad-CAM beside the simulated ones ("" = none)
    real_part: str = ""           # "" = any image of the real set, else a part of its split
    n_cam: int = 4                # images per row of the Grad-CAM grid


def run_counterfactual(config: CounterfactualConfig | dict, ctx=None) -> dict:
    """Job: the sweep, a strip of the first lesion along it, and Grad-CAM on simulated vs real images
    (samples/sweep_strip.png, samples/cam_simulated.png, samples/cam_real.png, sweep.json)."""
    from simstudio.config import config_from_dict
    from simstudio.jobs import JobContext

    if isinstance(config, dict):
        config = config_from_dict(CounterfactualConfig, config)
    ctx = ctx or JobContext.local()
    if not config.classifier:
        from simstudio.train.shipped import default_model

        shipped = default_model()
        if shipped is None:
            raise ValueError("choose a classifier (a training run id or checkpoint); no model is shipped in "
                             "models/")
        config.classifier = shipped.name  # works with no data at all
    values = sweep_values(config.param, config.n_values, config.low, config.high)
    preset = None
    if config.preset:
        from simstudio.sim.presets import load_preset

        preset = load_preset(config.preset)
    lesions = base_lesions(config.class_name, config.n_samples, config.seed, preset)
    predict, meta, positive = classifier_predictor(config.classifier)

    def progress(done, total):
        ctx.check_cancel()
        ctx.progress(done, total + 1, f"{config.param} = {values[done - 1]}")

    result = sweep_parameter(predict, config.param, values, lesions, size=config.size, seed=config.seed,
                             positive=positive, positive_class=meta["classes"][positive], progress=progress)
    summary = result.as_dict()
    summary.update(classifier=config.classifier, class_name=config.class_name, n_samples=len(lesions))
    if ctx.run_dir is not None:
        _save_outputs(ctx, config, result, lesions)
    ctx.progress(len(values) + 1, len(values) + 1, "done")
    ctx.log(f"P({summary['positive_class']}) goes from {summary['mean'][0]:.3f} at {config.param} = "
            f"{values[0]} to {summary['mean'][-1]:.3f} at {values[-1]}")
    return summary


# -- private helpers --------------------------------------------------------------------------------
def _save_outputs(ctx, config: CounterfactualConfig, result: SweepResult, lesions) -> None:
    from simstudio.runs import atomic_write_json
    from simstudio.sim.render import render_lesion

    run_dir = ctx.run_dir
    atomic_write_json(run_dir / "sweep.json", result.as_dict())
    _write_png(run_dir / "samples" / "sweep_strip.png", np.concatenate(list(result.images), 1))
    ctx.report("image", path="samples/sweep_strip.png", kind="sweep_strip")
    sim = np.stack([render_lesion(p, size=config.size, seed=config.seed + i)[0]
                    for i, p in enumerate(lesions[:config.n_cam])])
    rows = {"simulated": sim}
    if config.real:
        rows["real"] = _real_images(config, len(sim))
    for name, images in rows.items():
        cams = cam_grid(config.classifier, images)
        _write_png(run_dir / "samples" / f"cam_{name}.png", np.concatenate(list(cams), 1))
        ctx.report("image", path=f"samples/cam_{name}.png", kind=f"cam_{name}")


def _real_images(config: CounterfactualConfig, n: int) -> np.ndarray:
    from simstudio.data.dataset import load_dataset

    ds = load_dataset(config.real, size=config.size)
    rows = np.arange(len(ds))
    if config.real_part:
        split = ds.saved_split()
        if split is None:
            raise ValueError(f"{config.real} has no saved split to take the {config.real_part} part from")
        rows = split.indices(config.real_part, ds)
    rng = np.random.default_rng(config.seed)
    pick = np.sort(rng.choice(rows, min(n, len(rows)), replace=False))
    return np.asarray(ds.images[pick])


def _write_png(path, rgb: np.ndarray) -> None:
    import cv2

    from simstudio.runs import atomic_write_bytes

    ok, png = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
    if ok:
        atomic_write_bytes(path, png.tobytes())


def _plain(v):
    return bool(v) if isinstance(v, (bool, np.bool_)) else float(v) if isinstance(v, float) else int(v)
