"""Running an experiment: every arm x repeat unit trained in turn, each saved the moment it finishes.

`run_experiment(config, ctx)` is the job (app, CLI and library run the same function). Each unit is a
train run nested in the experiment's folder (`units/<arm>-r<j>/`: config, events, checkpoints,
`predictions.json` when done). Started again on the same run (`resume_experiment`), it re-plans from the
saved split, skips every unit whose predictions are saved, and lets a half-trained unit continue from its
last checkpoint: a crashed or cancelled experiment loses at most the epoch in flight.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

import numpy as np

from simstudio.experiments.analysis import summarize
from simstudio.experiments.config import ExperimentConfig, experiment_from_dict
from simstudio.experiments.plan import Prepared, Unit, class_counts, prepare
from simstudio.jobs import Cancelled, JobContext, execute_job, get_runner
from simstudio.runs import Run, atomic_write_json, new_run, open_run, read_json

EXPERIMENT_KIND = "experiment"
GALLERY_PER_CLASS = 6


def run_experiment(config: ExperimentConfig | dict, ctx: JobContext) -> dict:
    """The experiment job: plan and check everything, train the unfinished units, write the report."""
    from simstudio.experiments.report import write_report

    cfg = experiment_from_dict(config)
    if ctx.run_dir is None:
        raise ValueError(
            "an experiment needs a run folder: start it with start_experiment() or "
            "run_experiment_here(), not with a bare JobContext"
        )
    run_dir = Path(ctx.run_dir)
    t0 = time.time()
    prep = prepare(cfg, run_dir, ctx)
    _save_plan(run_dir, prep)
    _save_galleries(run_dir, prep)
    todo = [u for u in prep.units if not unit_finished(run_dir, u.key)]
    n_done = len(prep.units) - len(todo)
    ctx.log(f"{len(prep.units)} arm x repeat units; {n_done} already finished, {len(todo)} to run")
    ctx.report("plan", units=len(prep.units), finished=n_done, todo=[u.key for u in todo])
    n_arms = len(cfg.arms)
    rounds = prep.units[-1].repeat + 1
    word = "fold" if prep.split.folds is not None else "repeat"
    scale = 1000  # progress steps per unit, so the bar moves within a unit too
    for k, u in enumerate(todo):
        ctx.check_cancel()
        where = f"arm {u.arm_index + 1} of {n_arms} ({u.arm}), {word} {u.repeat + 1} of {rounds}"
        extra = {
            "arm": u.arm,
            "arm_index": u.arm_index,
            "repeat": u.repeat,
            "unit": u.key,
            "units_done": n_done + k,
            "units_total": len(prep.units),
        }
        ctx.progress(k * scale, len(todo) * scale, message=where, **extra)

        def forward(event, k=k, where=where, extra=extra):
            if event.get("type") == "progress" and event.get("total"):
                frac = min(1.0, event["done"] / event["total"])
                ctx.progress(
                    k * scale + int(frac * (scale - 1)),
                    len(todo) * scale,
                    message=f"{where}: {event.get('message', '')}",
                    **extra,
                )

        _run_unit(prep, u, run_dir, ctx, forward)
        pred = read_json(run_dir / "units" / u.key / "predictions.json")
        ctx.report(
            "unit",
            key=u.key,
            arm=u.arm,
            repeat=u.repeat,
            roc_auc=pred["metrics"]["test"].get("roc_auc"),
            balanced_accuracy=pred["metrics"]["test"].get("balanced_accuracy"),
        )
    total = max(1, len(todo)) * scale
    ctx.progress(
        total,
        total,
        message="all units finished; computing statistics",
        units_done=len(prep.units),
        units_total=len(prep.units),
    )
    summary = summarize(run_dir)
    summary["wall_time_s"] = round(time.time() - t0, 1)
    files = write_report(run_dir, summary)
    for row_verdict in summary["arms"]:
        ctx.log(f"{row_verdict['name']}: {row_verdict.get('verdict', '')}")
    return {**summary, "report": {k: str(v) for k, v in files.items()}}


def start_experiment(config: ExperimentConfig | dict, name: str = ""):
    """Submit the experiment to the app's job runner (it waits its turn behind other heavy jobs)."""
    cfg = experiment_from_dict(config)
    return get_runner().submit(EXPERIMENT_KIND, run_experiment, cfg.to_dict(), name=name or cfg.name)


def resume_experiment(run_id: str):
    """Start a stopped (cancelled, failed, interrupted) experiment again on its own run folder."""
    run = _resumable(run_id)
    return get_runner().submit(EXPERIMENT_KIND, run_experiment, run.config, run=run)


def run_experiment_here(
    config: ExperimentConfig | dict | None,
    echo: bool = False,
    resume: str = "",
    root: str | Path | None = None,
    ctx_hook=None,
) -> tuple[Run, dict | None]:
    """Run in this process (CLI, scripts, tests): a new run, or `resume` an existing one by id/path.

    `ctx_hook(event, ctx)` sees every event as it is reported (e.g. to cancel after some unit)."""
    from simstudio.jobs import ProgressPrinter

    if resume:
        run = _resumable(resume, root)
        config = run.config
    else:
        cfg = experiment_from_dict(config)
        config = cfg.to_dict()
        run = new_run(EXPERIMENT_KIND, config, root=root, name=cfg.name)
    printer = ProgressPrinter() if echo else None
    ctx = JobContext(run)

    def on_event(event):
        if printer is not None:
            printer(event)
        if ctx_hook is not None:
            ctx_hook(event, ctx)

    ctx.on_event = on_event
    return run, execute_job(run, run_experiment, config, ctx)


def unit_finished(run_dir: str | Path, key: str) -> bool:
    return (Path(run_dir) / "units" / key / "predictions.json").is_file()


# -- one unit -------------------------------------------------------------------------------------
def _run_unit(prep: Prepared, u: Unit, run_dir: Path, ctx: JobContext, forward) -> None:
    from simstudio.train.classifier import fit_classifier

    cfg = prep.config
    ccfg = _classifier_config(cfg, u, prep)
    unit_run = _unit_run(run_dir / "units" / u.key, ccfg, u)
    data = _training_data(prep, u, unit_run)
    unit_ctx = JobContext(unit_run, cancel_event=ctx.cancel_event, on_event=forward)
    started = time.time()
    result = execute_job(unit_run, lambda c, c_ctx: fit_classifier(c, data, c_ctx), ccfg, unit_ctx)
    status = unit_run.status
    if status == "cancelled" or ctx.cancelled:
        raise Cancelled(f"cancelled during {u.key}")
    if status != "finished" or result is None:
        last = (unit_run.error or "no result").strip().splitlines()
        raise RuntimeError(
            f"arm {u.arm!r} repeat {u.repeat + 1} failed: {last[0] if last else ''} "
            f"(details in {unit_run.path / 'error.txt'})"
        )
    _save_predictions(prep, u, unit_run, result, time.time() - started, ctx)
    if not cfg.keep_checkpoints:
        # the predictions are what the statistics need; a model per arm x repeat can run to gigabytes
        shutil.rmtree(unit_run.path / "checkpoints", ignore_errors=True)


def _classifier_config(cfg: ExperimentConfig, u: Unit, prep: Prepared) -> dict:
    from simstudio.train.classifier import ClassifierConfig, coerce_config

    arm = cfg.arm(u.arm)
    mode = {
        "real": "real",
        "augment": "real",
        "synthetic": "synthetic",
        "mix": "mix",
        "balance": "mix",
        "pretrain": "pretrain",
    }[arm.composition]
    augment = arm.augment or ("flip_rotate" if arm.composition == "augment" else cfg.augment)
    settings = {**cfg.model, **arm.model}
    known = set(ClassifierConfig.__dataclass_fields__)
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ValueError(f"arm {arm.name!r}: unknown classifier setting(s) {', '.join(unknown)}")
    src = cfg.source(arm.synthetic).path if u.synthetic else ""
    ccfg = {
        **settings,
        "real": cfg.real,
        "synthetic": src,
        "mode": mode,
        "mix": "add",
        # the experiment draws the synthetic images itself (shared across arms), so take all given
        "synthetic_per_class": 0,
        "val_fraction": 0.0,
        "image_size": cfg.image_size,
        "augment": augment,
        "epochs": u.epochs,
        "seed": u.seed,
    }
    if mode == "pretrain":
        ccfg["pretrain_epochs"] = u.pretrain_epochs
    return json.loads(json.dumps(coerce_config(ccfg).__dict__))


def _unit_run(path: Path, ccfg: dict, u: Unit) -> Run:
    """The unit's train run at a fixed path (so a resumed experiment finds it), created once."""
    if not (path / "meta.json").is_file():
        path.mkdir(parents=True, exist_ok=True)
        atomic_write_json(
            path / "meta.json", {"kind": "train", "name": f"{u.arm} #{u.repeat + 1}", "created": time.time()}
        )
    atomic_write_json(path / "config.json", ccfg)
    return Run(path)


def _training_data(prep: Prepared, u: Unit, unit_run: Run):
    from simstudio.train.classifier import TrainingData
    from simstudio.train.composition import LabelledImages

    real = prep.real

    def take(rows, source="real"):
        rows = np.asarray(rows, dtype=np.int64)
        return LabelledImages(np.asarray(real.images[rows]), real.labels[rows], source)

    train = take(u.train_rows) if len(u.train_rows) else None
    val = take(u.val_rows) if len(u.val_rows) else None
    syn, syn_files = None, []
    if u.synthetic:
        ds = prep.synthetic[u.synthetic]
        rows = _synthetic_rows(prep, u, ds)
        index = {c: i for i, c in enumerate(real.classes)}
        labels = np.array([index[ds.classes[int(lab)]] for lab in ds.labels[rows]], dtype=np.int64)
        syn = LabelledImages(np.asarray(ds.images[rows]), labels, "synthetic")
        syn_files = [ds.files[i] for i in rows]
    atomic_write_json(
        unit_run.path / "training_set.json",
        {
            "real_train": [real.files[i] for i in u.train_rows],
            "val": [real.files[i] for i in u.val_rows],
            "test": [real.files[i] for i in u.test_rows],
            "synthetic": syn_files,
            "counts": u.counts,
        },
    )
    return TrainingData(
        classes=list(real.classes),
        test=take(u.test_rows),
        real_train=train,
        val=val,
        synthetic=syn,
        info={"experiment_unit": u.key},
    )


def _synthetic_rows(prep: Prepared, u: Unit, ds) -> np.ndarray:
    """The planned number of synthetic images per class, drawn from one fixed permutation per repeat:
    arms asking for 500 and 1000 per class share the first 500, so a sweep adds images, never swaps them."""
    rng = np.random.default_rng([prep.config.seed, u.repeat, 3])
    out = []
    for cls, n in u.counts["synthetic"].items():
        if n <= 0:
            continue
        lab = ds.classes.index(cls)
        rows = np.flatnonzero(ds.labels == lab)
        out.append(rows[rng.permutation(len(rows))][:n] if n < len(rows) else rows)
    return np.sort(np.concatenate(out)) if out else np.zeros(0, dtype=np.int64)


def _save_predictions(prep: Prepared, u: Unit, unit_run: Run, result: dict, seconds: float, ctx: JobContext) -> None:
    from simstudio.device import default_device
    from simstudio.eval.metrics import classification_metrics
    from simstudio.train.checkpoints import load_classifier

    real = prep.real
    ckpt = unit_run.path / (result.get("checkpoint") or "checkpoints/last.pt")
    model, meta = load_classifier(ckpt, device=(unit_run.config.get("device") or default_device()))
    rows = np.asarray(u.test_rows, dtype=np.int64)
    proba = _predict(model, meta, real.images[rows])
    y = real.labels[rows]
    metrics = {"test": classification_metrics(y, proba, real.classes)}
    reported = (result.get("test") or {}).get("roc_auc")
    mine = metrics["test"].get("roc_auc")
    if reported is not None and mine is not None and abs(reported - mine) > 1e-3:
        ctx.log(
            f"{u.key}: re-predicted test AUC {mine:.4f} differs from training's {reported:.4f}",
            level="warning",
        )
    ood = None
    if prep.ood is not None:
        o_proba = _predict(model, meta, prep.ood.images)
        index = {c: i for i, c in enumerate(real.classes)}
        o_y = np.array([index[prep.ood.classes[int(v)]] for v in prep.ood.labels], dtype=np.int64)
        ood = {
            "rows": list(range(len(o_y))),
            "files": list(prep.ood.files),
            "y": o_y.tolist(),
            "proba": np.round(o_proba, 6).tolist(),
        }
        metrics["ood"] = classification_metrics(o_y, o_proba, real.classes)
    if prep.config.audit:
        from simstudio.experiments.audit_columns import audit_unit

        audit_unit(unit_run.path, model, real.images[rows], y, list(real.classes), seed=u.seed)
    flipped = None
    if prep.flipped is not None:
        f_proba = _predict(model, meta, prep.flipped[rows])
        flipped = {"rows": rows.tolist(), "y": y.tolist(), "proba": np.round(f_proba, 6).tolist()}
        metrics["flipped"] = classification_metrics(y, f_proba, real.classes)
    history = {}
    shown = 0
    for row in result.get("history", []):
        for k, v in row.items():
            history.setdefault(k, []).append(v)
        if isinstance(row.get("seen"), dict):
            # images shown so far: arms with different set sizes compare on one axis of training effort
            shown += sum(row["seen"].values())
            history.setdefault("images_seen", []).append(shown)
    atomic_write_json(
        unit_run.path / "predictions.json",
        {
            "unit": {k: v for k, v in u.to_dict().items() if not k.endswith("_rows")},
            "fingerprint": unit_fingerprint(u, real),
            "classes": list(real.classes),
            "test": {
                "rows": rows.tolist(),
                "files": [real.files[i] for i in rows],
                "y": y.tolist(),
                "proba": np.round(proba, 6).tolist(),
            },
            "ood": ood,
            "flipped": flipped,
            "metrics": metrics,
            "history": history,
            "train_time_s": result.get("training_time_s", round(seconds, 3)),
            "wall_time_s": round(seconds, 3),
            "tested_weights": result.get("tested_weights"),
            "composition": result.get("composition"),
            "training_reported_roc_auc": reported,
        },
    )


def _predict(model, meta: dict, images) -> np.ndarray:
    """Test-set probabilities as training computed them: centre crop when the model trained on crops."""
    from simstudio.train.checkpoints import predict_proba

    images = np.array(images)  # a writable copy: the dataset cache is a read-only memory map
    crop = meta.get("eval_crop")
    if crop and images.shape[1] > crop:
        off = (images.shape[1] - crop) // 2
        images = images[:, off : off + crop, off : off + crop]
    return predict_proba(model, images).astype(np.float64)


# -- plan and galleries ---------------------------------------------------------------------------
def unit_fingerprint(u: Unit, real) -> str:
    """sha1 of what a unit trains and tests on (file names and epochs): a resumed experiment refuses to
    mix units trained on different data."""
    h = hashlib.sha1()
    for rows in (u.train_rows, u.val_rows, u.test_rows):
        h.update("\n".join(real.files[i] for i in rows).encode())
        h.update(b"|")
    h.update(json.dumps([u.counts, u.epochs, u.pretrain_epochs, u.synthetic, u.seed], sort_keys=True).encode())
    return h.hexdigest()


def _save_plan(run_dir: Path, prep: Prepared) -> None:
    real = prep.real
    test_rows = prep.test_rows
    units = []
    for u in prep.units:
        fp = unit_fingerprint(u, real)
        saved = read_json(run_dir / "units" / u.key / "predictions.json")
        if saved is not None and saved.get("fingerprint") != fp:
            raise ValueError(
                f"unit {u.key} finished on different data than this experiment now plans "
                "(the dataset or synthetic folder changed): start a new experiment"
            )
        d = {k: v for k, v in u.to_dict().items() if not k.endswith("_rows")}
        d.update(fingerprint=fp, n_train_real=len(u.train_rows), n_val=len(u.val_rows), n_test=len(u.test_rows))
        units.append(d)
    plan = {
        "classes": list(real.classes),
        "kfold": prep.split.k if prep.split.folds is not None else 0,
        "rounds": prep.units[-1].repeat + 1,
        "n_real": len(real.files),
        "n_test": int(len(test_rows)),
        "test_class_counts": class_counts(real.labels[test_rows], real.classes),
        "units": units,
    }
    if prep.ood is not None:
        index = {c: i for i, c in enumerate(real.classes)}
        plan["n_ood"] = len(prep.ood.files)
        plan["ood_class_counts"] = class_counts(
            [index[prep.ood.classes[int(v)]] for v in prep.ood.labels], real.classes
        )
    plan["fit_overlap"] = prep.fit_overlap
    if prep.flip_report is not None:
        plan["flipped"] = prep.flip_report
        plan["n_flipped"] = int(len(test_rows))
    plan["synthetic"] = {
        name: {"path": str(ds.root), "n": len(ds.files), "per_class": class_counts(ds.labels, ds.classes)}
        for name, ds in prep.synthetic.items()
    }
    atomic_write_json(run_dir / "plan.json", plan)


def _save_galleries(run_dir: Path, prep: Prepared) -> None:
    """One grid per source (rows = classes) for the real | simulated | GAN galleries."""
    from PIL import Image

    out = run_dir / "samples"
    out.mkdir(exist_ok=True)
    sources = [("real", "real", prep.real)] + [
        (name, prep.config.source(name).kind, ds) for name, ds in prep.synthetic.items()
    ]
    index = []
    for name, kind, ds in sources:
        path = out / f"gallery-{name}.png"
        if not path.is_file():
            rng = np.random.default_rng(0)
            size = min(ds.size, 96)
            rows = []
            for c in range(len(ds.classes)):
                idx = np.flatnonzero(np.asarray(ds.labels) == c)
                pick = np.sort(rng.choice(idx, size=min(GALLERY_PER_CLASS, len(idx)), replace=False))
                tiles = [np.asarray(Image.fromarray(np.asarray(ds.images[i])).resize((size, size))) for i in pick]
                tiles += [np.full((size, size, 3), 255, np.uint8)] * (GALLERY_PER_CLASS - len(tiles))
                rows.append(np.concatenate(tiles, axis=1))
            Image.fromarray(np.concatenate(rows, axis=0)).save(path)
        index.append({"name": name, "kind": kind, "file": f"samples/{path.name}", "classes": list(ds.classes)})
    if prep.flipped is not None:
        path = out / "gallery-flipped.png"
        rows = prep.test_rows
        if not path.is_file():
            labels = np.asarray(prep.real.labels)[rows]
            pick = np.concatenate([rows[labels == c][:GALLERY_PER_CLASS] for c in range(len(prep.real.classes))])
            top = np.concatenate([np.asarray(prep.real.images[i]) for i in pick], axis=1)
            Image.fromarray(np.concatenate([top, np.concatenate(list(prep.flipped[pick]), axis=1)])).save(path)
        index.append({"name": "shortcut-flipped test (top: as taken, bottom: flipped)", "kind": "flipped",
                      "file": f"samples/{path.name}", "classes": list(prep.real.classes)})
    atomic_write_json(out / "galleries.json", index)


def _resumable(run_id: str, root: str | Path | None = None) -> Run:
    run = open_run(run_id, root=root)
    if run.kind != EXPERIMENT_KIND:
        raise ValueError(f"{run.id} is a {run.kind!r} run, not an experiment")
    if run.status in ("running", "queued"):
        raise ValueError(f"experiment {run.id} is {run.status}; it cannot be resumed twice")
    return run
