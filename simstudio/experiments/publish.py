"""Publish a trained classifier into `models/`: the weights (a slim checkpoint, loadable with
`torch.load(weights_only=True)`) and a model card written from the run's own config, the simulator export
it was trained on, an evaluation on held-out real images (ROC-AUC with DeLong and bootstrap 95 % CIs),
and reference predictions on the example images, so anyone can check that the shipped file predicts
exactly what its run did.

`publish_model(config, ctx)` is the job behind `python -m simstudio publish-model RUN --name NAME`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simstudio.eval.predict import NOT_A_DEVICE

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "assets" / "examples"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
CARD_FORMAT = "simstudio-model-card-1"
DATA_PARTS = ("test", "val", "train", "all")


@dataclass
class PublishConfig:
    run: str  # a finished classifier training run (id or folder) or a checkpoint file
    name: str  # the shipped model's name: models/<name>.pt, .json, .md
    evaluate: str = ""  # real dataset run (its saved split's `part`) or image folder (every image); "" = none
    part: str = "test"
    out: str = ""  # the models folder ("" = the repository's models/, or $SIMSTUDIO_MODELS)
    examples: str = ""  # folder of example images whose P(positive) the card records ("" = assets/examples)
    default: bool = False  # make it the model the app picks when none is chosen
    overwrite: bool = False
    n_boot: int = 2000  # bootstrap draws for the AUC's percentile CI (Efron & Tibshirani 1993)
    seed: int = 0

    def validate(self) -> PublishConfig:
        if not NAME_PATTERN.match(self.name or ""):
            raise ValueError(f"model name {self.name!r}: use 1-64 letters, digits, '.', '_' or '-' "
                             "(it becomes models/<name>.pt)")
        if self.part not in DATA_PARTS:
            raise ValueError(f"part must be one of {', '.join(DATA_PARTS)}, got {self.part!r}")
        if self.n_boot < 100:
            raise ValueError(f"n_boot must be >= 100, got {self.n_boot}")
        return self


def publish_model(config: PublishConfig | dict, ctx=None) -> dict:
    """Copy the run's weights into the models folder and write `<name>.json` and `<name>.md`."""
    from simstudio.config import config_from_dict
    from simstudio.eval.predict import load_predictor, predict_files
    from simstudio.jobs import JobContext
    from simstudio.train.checkpoints import read_checkpoint, save_checkpoint
    from simstudio.train.shipped import shipped_models

    if isinstance(config, dict):
        config = config_from_dict(PublishConfig, config)
    ctx = ctx or JobContext.local()
    source, target = check_publish(config)
    ckpt = read_checkpoint(source)
    meta = dict(ckpt["meta"])
    run = _training_run(source)
    out = target.parent
    ctx.progress(0, 3, "evaluating")

    predictor = load_predictor(str(source))
    evaluation = evaluate_on_real(predictor, config.evaluate, config.part, config.n_boot, config.seed) \
        if config.evaluate else None
    if evaluation is not None and run is not None and run.result and config.part == "test" \
            and config.evaluate == (meta.get("config") or {}).get("real"):
        # The run tested on these same images: a different AUC would mean the card describes another model.
        ran = (run.result.get("test") or {}).get("roc_auc")
        evaluation["run_reported_roc_auc"] = ran
        evaluation["matches_run"] = ran is not None and abs(ran - evaluation["roc_auc"]) < 1e-4
        if not evaluation["matches_run"]:
            ctx.log(f"the run reported test ROC-AUC {ran}, this evaluation {evaluation['roc_auc']:.6f}",
                    level="warning")
    ctx.progress(1, 3, "reference predictions")
    examples = Path(config.examples).expanduser() if config.examples else EXAMPLES_DIR
    files = sorted(p for p in examples.glob("*.png")) if examples.is_dir() else []
    references = [{"file": _display_path(Path(r["file"])), "sha1": _sha1_file(Path(r["file"])),
                   "p_positive": r["p_positive"]} for r in predict_files(predictor, files)]

    out.mkdir(parents=True, exist_ok=True)
    save_checkpoint(target, {"model": ckpt["model"], "meta": meta})
    card = model_card(config, meta, run, evaluation, references, target)
    if config.default:
        for other in shipped_models(out):  # one default: the newest published with default=True
            if other.name != config.name and other.card.get("default"):
                _write_json(other.checkpoint.with_suffix(".json"), {**other.card, "default": False})
    _write_json(target.with_suffix(".json"), card)
    from simstudio.runs import atomic_write_text

    atomic_write_text(target.with_suffix(".md"), card_markdown(card))
    ctx.progress(3, 3, "published")
    ctx.log(f"published {config.name} to {target} ({card['file']['bytes']} bytes)")
    return {"name": config.name, "checkpoint": str(target), "card": str(target.with_suffix(".json")),
            "markdown": str(target.with_suffix(".md")), "evaluation": evaluation,
            "reference_predictions": references, "bytes": card["file"]["bytes"]}


def check_publish(config: PublishConfig) -> tuple[Path, Path]:
    """(checkpoint to publish, target .pt) or a clear error, before any work."""
    from simstudio.train.checkpoints import checkpoint_file
    from simstudio.train.shipped import models_dir

    config.validate()
    source = checkpoint_file(config.run)
    run = _training_run(source)
    if run is not None and run.status != "finished":
        raise ValueError(f"run {run.id} is {run.status}: publish a finished training run")
    if config.evaluate and not Path(config.evaluate).expanduser().is_dir():
        from simstudio.runs import open_run

        open_run(config.evaluate)  # FileNotFoundError naming it
    out = Path(config.out).expanduser() if config.out else models_dir()
    target = out / f"{config.name}.pt"
    if target.exists() and not config.overwrite:
        raise ValueError(f"{target} exists; choose another name or replace it (--overwrite)")
    return source, target


def evaluate_on_real(predictor, ref: str, part: str = "test", n_boot: int = 2000, seed: int = 0) -> dict:
    """ROC-AUC (positive class vs the rest) with DeLong and stratified bootstrap 95 % CIs, and the
    threshold-0.5 metrics, on `part` of a dataset run's saved split (or every image of a folder)."""
    from simstudio.data.dataset import load_dataset
    from simstudio.eval.metrics import classification_metrics
    from simstudio.train.checkpoints import predict_proba

    side = int(predictor.meta.get("data_size") or predictor.meta["image_size"])
    ds = load_dataset(ref, size=side)
    if part != "all":
        split = ds.saved_split()
        if split is None:
            raise ValueError(f"{ref} has no saved split to take its {part} part from; use part 'all'")
        ds = ds.subset(split.indices(part, ds))
    missing = sorted(set(ds.classes) - set(predictor.classes))
    if missing:
        raise ValueError(f"{ref} has class(es) {', '.join(missing)} the model does not know "
                         f"(it predicts {', '.join(predictor.classes)})")
    labels = np.array([predictor.classes.index(ds.classes[i]) for i in ds.labels])
    proba = predict_proba(predictor.model, np.array(ds.images)).astype(np.float64)  # a copy: the cache is read-only
    y = (labels == predictor.positive).astype(int)
    score = proba[:, predictor.positive]
    auc, delong = auc_delong_ci(y, score)
    boot = auc_bootstrap_ci(y, score, n_boot=n_boot, seed=seed)
    m = classification_metrics(labels, proba, predictor.classes)
    per_class = {c: int((labels == i).sum()) for i, c in enumerate(predictor.classes)}
    return {"dataset": str(ref), "part": part, "n": int(len(y)), "per_class": per_class,
            "positive_class": predictor.positive_class, "roc_auc": auc, "ci": delong, "ci_method": "DeLong",
            "ci_bootstrap": boot, "n_boot": n_boot, "bootstrap_seed": seed,
            "accuracy": m["accuracy"], "balanced_accuracy": m["balanced_accuracy"],
            "sensitivity": m.get("sensitivity"), "specificity": m.get("specificity"),
            "images_sha1": hashlib.sha1("".join(sorted(ds.hashes)).encode()).hexdigest()}


def auc_delong_ci(y, score, level: float = 0.95) -> tuple[float, list[float]]:
    """AUC and its DeLong (1988) normal-approximation CI, clipped to [0, 1]."""
    from scipy import stats as sps

    from simstudio.experiments.stats import delong_covariance

    aucs, cov = delong_covariance(y, score)
    auc, se = float(aucs[0]), math.sqrt(max(float(cov[0, 0]), 0.0))
    z = float(sps.norm.ppf(0.5 + level / 2))
    return auc, [max(0.0, auc - z * se), min(1.0, auc + z * se)]


def auc_bootstrap_ci(y, score, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> list[float]:
    """Percentile CI of the AUC over class-stratified resamples of the images (as pROC does)."""
    from scipy import stats as sps

    y = np.asarray(y).astype(int)
    s = np.asarray(score, dtype=float)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    rng = np.random.default_rng(seed)
    idx = np.concatenate([rng.choice(pos, (n_boot, len(pos))), rng.choice(neg, (n_boot, len(neg)))], axis=1)
    ranks = sps.rankdata(s[idx], axis=1)
    n1, n0 = len(pos), len(neg)
    aucs = (ranks[:, :n1].sum(axis=1) - n1 * (n1 + 1) / 2) / (n1 * n0)
    lo, hi = np.quantile(aucs, [(1 - level) / 2, (1 + level) / 2])
    return [float(lo), float(hi)]


def model_card(config: PublishConfig, meta: dict, run, evaluation: dict | None, references: list[dict],
               target: Path) -> dict:
    """The machine-readable card: what the model is, what it saw, how it scored, how to rebuild it."""
    from simstudio.eval.lesion_bank import export_source

    cfg = dict(meta.get("config") or {})
    source = export_source(cfg.get("synthetic", "")) if cfg.get("mode") != "real" else None
    real_in_training = cfg.get("mode") != "synthetic"
    synthetic = None
    if source is not None:
        synthetic = {"preset_file": _shipped_preset_name(source.preset), "preset_name": source.preset.get("name"),
                     "preset_mode": source.preset.get("mode"), "preset_sha1": _sha1_json(source.preset),
                     "per_class": _export_per_class(cfg.get("synthetic", "")), "size": source.size,
                     "seed": source.seed, "preset": source.preset}
    keys = ("mode", "model", "image_size", "augment", "optimizer", "lr", "weight_decay", "schedule", "epochs",
            "batch_size", "seed", "select_best", "class_balance")
    training = {
        "run": run.id if run is not None else "",
        "config": {k: cfg.get(k) for k in keys if k in cfg},
        "real_images_in_training": real_in_training,
        "epoch_kept": meta.get("epoch"),
        "weights_kept": "last epoch" if not cfg.get("select_best", True) else "best on the validation images",
        "synthetic": synthetic,
        "summary": _training_summary(cfg, synthetic),
    }
    if run is not None and run.result:
        training["training_time_s"] = run.result.get("training_time_s")
    stat = target.stat()
    return {
        "format": CARD_FORMAT,
        "name": config.name,
        "intended_use": f"{NOT_A_DEVICE.capitalize()}. It shows what a classifier trained on "
                        f"{training['summary']} makes of an image; it must not be used to diagnose anyone.",
        "default": bool(config.default),
        "model": {"architecture": meta.get("model"), "classes": list(meta.get("classes", [])),
                  "positive_class": _positive(meta), "input_size": meta.get("image_size"),
                  "data_size": meta.get("data_size"), "normalisation": meta.get("normalisation"),
                  "input": "any RGB image, made square by resizing (the importer's default) to the input size"},
        "training": training,
        "renderer": renderer_identity(),
        "evaluation": evaluation,
        "reference_predictions": references,
        "file": {"path": target.name, "bytes": stat.st_size, "sha1": _sha1_file(target),
                 "load": "torch.load(path, weights_only=True)"},
        "published": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "reproduce": reproduce_commands(config, cfg, synthetic, evaluation),
    }


def renderer_identity() -> dict:
    """Which simulator drew the training images: its version and the sha1 of its source files, so a card
    can say whether today's renderer still draws what the model saw."""
    from simstudio.sim import render

    sim_dir = Path(render.__file__).parent
    h = hashlib.sha1()
    for f in sorted(sim_dir.glob("*.py")):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return {"version": str(getattr(render, "RENDERER_VERSION", "1")), "source_sha1": h.hexdigest(),
            "source": "simstudio/sim/*.py"}


def reproduce_commands(config: PublishConfig, cfg: dict, synthetic: dict | None, evaluation: dict | None
                       ) -> list[str]:
    """The commands that rebuild this model from nothing but the repository and the real test set."""
    cmds = []
    if synthetic is not None and synthetic.get("preset_file"):
        cmds.append(f"python -m simstudio simulate --preset assets/presets/{synthetic['preset_file']}.json "
                    f"--per-class {synthetic['per_class']} --size {synthetic['size']} --seed {synthetic['seed']} "
                    "--out sim-train")
    flags = {"--mode": cfg.get("mode"), "--model": cfg.get("model"), "--size": cfg.get("image_size"),
             "--epochs": cfg.get("epochs"), "--batch-size": cfg.get("batch_size"),
             "--optimizer": cfg.get("optimizer"), "--lr": cfg.get("lr"), "--schedule": cfg.get("schedule"),
             "--augment": cfg.get("augment"), "--val-fraction": cfg.get("val_fraction"),
             "--select": "best" if cfg.get("select_best", True) else "last", "--seed": cfg.get("seed")}
    real = cfg.get("real") or "DATASET"
    train = (f"python -m simstudio train-classifier --real {real} "
             + ("--synthetic sim-train " if synthetic is not None else "")
             + " ".join(f"{k} {v}" for k, v in flags.items() if v is not None))
    cmds.append(train)
    ev = f" --evaluate {evaluation['dataset']}" if evaluation else ""
    if evaluation and evaluation.get("part", "test") != "test":
        ev += f" --part {evaluation['part']}"
    cmds.append(f"python -m simstudio publish-model RUN --name {config.name}{ev}"
                + (" --default" if config.default else ""))
    return cmds


def card_markdown(card: dict) -> str:
    """The human-readable card (models/<name>.md)."""
    m, t, ev, r = card["model"], card["training"], card.get("evaluation"), card["renderer"]
    syn = t.get("synthetic") or {}
    lines = [f"# {card['name']}", "", f"**{NOT_A_DEVICE.capitalize()}.** {card['intended_use'].split('. ', 1)[1]}",
             "", "| | |", "|---|---|",
             f"| architecture | {m['architecture']}, {m['input_size']}×{m['input_size']} px input |",
             f"| classes | {', '.join(m['classes'])} (P({m['positive_class']}) is reported) |",
             f"| trained on | {t['summary']} |",
             f"| real images in training | {'yes' if t['real_images_in_training'] else 'none'} |",
             f"| weights kept | {t['weights_kept']} (epoch {t.get('epoch_kept')}) |"]
    if syn:
        lines.append(f"| simulator | preset `{syn.get('preset_file') or syn.get('preset_name')}` "
                     f"({syn.get('preset_mode')} mode, sha1 {syn['preset_sha1'][:12]}), {syn['per_class']} per "
                     f"class at {syn['size']} px, export seed {syn['seed']}; renderer v{r['version']} "
                     f"(source sha1 {r['source_sha1'][:12]}) |")
    c = t["config"]
    lines.append(f"| training | seed {c.get('seed')}, {c.get('epochs')} epochs, {c.get('optimizer')} lr "
                 f"{c.get('lr')}, {c.get('schedule')} schedule, batch {c.get('batch_size')}, augment "
                 f"{c.get('augment')}" + (f", {t['training_time_s']:.0f} s" if t.get("training_time_s") else "")
                 + " |")
    if ev:
        lo, hi = ev["ci"]
        blo, bhi = ev["ci_bootstrap"]
        lines += [f"| ROC-AUC on real images | **{ev['roc_auc']:.3f}** (95 % CI {lo:.3f}–{hi:.3f}, DeLong; "
                  f"bootstrap {blo:.3f}–{bhi:.3f}) on the {ev['part']} part of `{ev['dataset']}`, {ev['n']} "
                  f"images ({', '.join(f'{k} {v}' for k, v in ev['per_class'].items())}) |",
                  f"| at threshold 0.5 | accuracy {ev['accuracy']:.3f}, balanced accuracy "
                  f"{ev['balanced_accuracy']:.3f}, sensitivity {_f(ev.get('sensitivity'))}, specificity "
                  f"{_f(ev.get('specificity'))} |"]
    lines += [f"| file | `{card['file']['path']}`, {card['file']['bytes']:,} bytes, sha1 "
              f"{card['file']['sha1'][:12]}; `{card['file']['load']}` |", "", "## Rebuild it", "", "```bash",
              *card["reproduce"], "```", "",
              "The shipped file predicts exactly what its run did on the example images "
              f"(`{card['name']}.json`, `reference_predictions`; checked by the tests).", ""]
    return "\n".join(lines)


# -- private helpers --------------------------------------------------------------------------------
def _training_run(checkpoint: Path):
    from simstudio.runs import open_run

    folder = checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else None
    if folder is None:
        return None
    try:
        return open_run(folder)
    except FileNotFoundError:
        return None


def _positive(meta: dict) -> str:
    from simstudio.eval.predict import POSITIVE_NAMES

    classes = list(meta.get("classes", []))
    return next((c for c in POSITIVE_NAMES if c in classes), classes[-1] if classes else "")


def _training_summary(cfg: dict, synthetic: dict | None) -> str:
    if cfg.get("mode") == "synthetic" and synthetic is not None:
        preset = synthetic.get("preset_file") or synthetic.get("preset_name")
        return f"simulated images only ({synthetic['per_class']}/class, preset {preset})"
    return {"real": "real images only", "mix": "real + simulated images",
            "pretrain": "simulated, then fine-tuned on real images"}.get(cfg.get("mode"), str(cfg.get("mode")))


def _shipped_preset_name(preset: dict) -> str:
    """The assets/presets file holding exactly this preset, or ""."""
    from simstudio.sim.presets import load_preset, preset_names, preset_to_dict

    want = _sha1_json(preset)
    for name in preset_names():
        try:
            if _sha1_json(json.loads(json.dumps(preset_to_dict(load_preset(name))))) == want:
                return name
        except ValueError:
            continue
    return ""


def _export_per_class(folder: str) -> int | None:
    from simstudio.sim.export import MARKER

    try:
        return int(json.loads((Path(folder).expanduser() / MARKER).read_text(encoding="utf-8"))["per_class"])
    except (OSError, ValueError, KeyError):
        return None


def _sha1_json(obj) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def _sha1_file(path: Path) -> str:
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()


def _display_path(path: Path) -> str:
    root = Path(__file__).resolve().parents[2]
    try:
        return str(path.resolve().relative_to(root))
    except ValueError:
        return str(path)


def _write_json(path: Path, obj: dict) -> None:
    from simstudio.runs import atomic_write_json

    atomic_write_json(path, obj)


def _f(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"

