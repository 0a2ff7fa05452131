"""The shortcut-audit job (`python -m simstudio audit`, the Gap tab's audit section, experiments' opt-in):
measure a dataset, audit it, optionally audit classifiers on edited test images, and save it all as a run
(audit.json, features.csv, feature_aucs.csv, classifier_audit.csv, report.html)."""

from __future__ import annotations

import csv
import html
import io
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from simstudio.eval.audit_edits import EDIT_NAMES, EDITS

AUDIT_KIND = "audit"


@dataclass
class AuditConfig:
    """What `run_audit` audits."""

    dataset: str = ""                  # dataset run id or image folder
    part: str = ""                     # dataset audit on this part of its split ("" = every image)
    size: int = 0                      # measure at this side (0 = the dataset's own)
    max_per_class: int = 0             # at most this many images per class (a seeded subset; 0 = all)
    classifiers: list[str] = field(default_factory=list)   # train runs / checkpoints to audit
    classifier_part: str = "test"      # the classifiers are audited on this part ("" = every image)
    edits: list[str] = field(default_factory=lambda: list(EDIT_NAMES))
    n_boot: int = 200
    seed: int = 0
    workers: int = 0                   # measuring processes (0 = every core)

    def validate(self) -> AuditConfig:
        if not self.dataset:
            raise ValueError("choose a dataset to audit (a dataset run id or an image folder)")
        for name, part in (("part", self.part), ("classifier_part", self.classifier_part)):
            if part not in ("", "train", "val", "test"):
                raise ValueError(f"{name} must be '', train, val or test, got {part!r}")
        bad = [e for e in self.edits if e not in EDITS]
        if bad:
            raise ValueError(f"unknown edit(s) {', '.join(bad)}; choose from {', '.join(EDIT_NAMES)}")
        if self.size and not 32 <= self.size <= 1024:
            raise ValueError(f"size must be 0 (the dataset's own) or 32-1024 px, got {self.size}")
        if self.max_per_class < 0 or self.n_boot < 10:
            raise ValueError("max_per_class must be >= 0 and n_boot >= 10")
        return self


def run_audit(config: AuditConfig | dict, ctx) -> dict:
    """Job: the dataset audit, then each classifier on the edited `classifier_part` images."""
    from simstudio.config import config_from_dict
    from simstudio.eval.audit_features import measure_many
    from simstudio.eval.shortcut_audit import audit_dataset, load_audit_images

    if isinstance(config, dict):
        config = config_from_dict(AuditConfig, config)
    config.validate()
    images, labels, classes, files = load_audit_images(config.dataset, config.part, config.size or None,
                                                       config.max_per_class, config.seed)
    n = len(images)
    ctx.log(f"auditing {n} images of {config.dataset} ({', '.join(classes)}) at {images.shape[1]} px")

    def progress(done, total):
        ctx.check_cancel()
        ctx.progress(done, total, "measuring acquisition and lesion features")

    t0, c0 = time.perf_counter(), time.process_time()
    cols = measure_many(images, progress=progress, workers=config.workers)
    wall = time.perf_counter() - t0
    ctx.metric(images_per_s=n / max(wall, 1e-9), measure_wall_s=wall, parent_cpu_s=time.process_time() - c0)
    audit = audit_dataset(cols, labels, classes, n_boot=config.n_boot, seed=config.seed)
    result = {"dataset": config.dataset, "part": config.part or "all", "side": int(images.shape[1]),
              **audit.as_dict(), "measure_images_per_s": n / max(wall, 1e-9)}
    ctx.log(audit.verdict)
    if config.classifiers:
        result["classifier_audit"] = _classifier_audit(config, ctx)
        for line in result["classifier_audit"]["verdicts"].values():
            ctx.log(line)
    if ctx.run_dir is not None:
        save_audit(Path(ctx.run_dir), result, cols, labels, files)
    ctx.progress(1, 1, "done")
    return result


def _classifier_audit(config: AuditConfig, ctx) -> dict:
    from simstudio.eval.classifier_audit import audit_classifiers, classifier_predictor
    from simstudio.eval.shortcut_audit import load_audit_images

    images, labels, classes, files = load_audit_images(config.dataset, config.classifier_part,
                                                       config.size or None, 0, config.seed)
    predictors = {}
    for ref in config.classifiers:
        name = Path(ref).name if Path(ref).exists() else ref
        predictors[name] = classifier_predictor(ref, classes)

    def progress(done, total, message):
        ctx.check_cancel()
        ctx.progress(done, total, message)

    ctx.log(f"classifier audit: {len(predictors)} classifier(s) on {len(images)} "
            f"{config.classifier_part or 'all'} images, edits {', '.join(config.edits)}")
    out = audit_classifiers(predictors, images, labels, classes, config.edits, seed=config.seed,
                            n_boot=config.n_boot, progress=progress)
    from simstudio.eval.predict import write_png

    for n, rows in enumerate(out["errors"].values()):
        for j, r in enumerate(rows):
            r["file"] = files[r["index"]]
            if ctx.run_dir is not None:  # the images themselves, so the run shows them wherever the data went
                r["image"] = f"errors/{n}-{j:02d}.png"
                write_png(Path(ctx.run_dir) / r["image"], images[r["index"]])
    out["part"] = config.classifier_part or "all"
    out["seed"] = config.seed
    return out


# -- saving and the report --------------------------------------------------------------------------
def save_audit(run_dir: Path, result: dict, cols: dict, labels: np.ndarray, files: list[str]) -> None:
    from simstudio.runs import atomic_write_json, atomic_write_text

    atomic_write_json(run_dir / "audit.json", result)
    classes = result["classes"]
    names = list(cols)
    rows = [{"file": f, "class": classes[int(lab)], **{k: _num(cols[k][i]) for k in names}}
            for i, (f, lab) in enumerate(zip(files, labels, strict=True))]
    atomic_write_text(run_dir / "features.csv", _csv(rows))
    atomic_write_text(run_dir / "feature_aucs.csv", _csv(feature_rows(result)))
    if result.get("classifier_audit"):
        ca = result["classifier_audit"]
        atomic_write_text(run_dir / "classifier_audit.csv", _csv(edit_rows(ca)))
        atomic_write_text(run_dir / "classifier_response.csv", _csv(response_rows(ca, top=0)))
        atomic_write_text(run_dir / "classifier_errors.csv", _csv(error_rows(ca)))
    atomic_write_text(run_dir / "report.html", report_html(result, cols, labels))


def set_rows(result: dict) -> list[dict]:
    """The three feature sets' cross-validated AUCs, one row each."""
    return [{"features": name, "n features": s["n_features"], "CV ROC-AUC": f"{s['auc']:.3f}",
             "95% CI": f"[{s['low']:.3f}, {s['high']:.3f}]",
             "mean fold AUC (sd)": f"{s['fold_mean']:.3f} ({s['fold_sd']:.3f})"}
            for name, s in result["sets"].items()]


def feature_rows(result: dict) -> list[dict]:
    return [{"rank": i + 1, "feature": f["name"], "group": f["group"], "AUC": round(f["auc"], 4),
             "low": _num(f["low"], 4), "high": _num(f["high"], 4), "direction": f["direction"],
             "description": f["description"]} for i, f in enumerate(result["features"])]


def median_rows(result: dict) -> list[dict]:
    return [{"class": c, **{k: (v if k == "n" else _num(v, 3)) for k, v in m.items()}}
            for c, m in result["medians"].items()]


def edit_rows(ca: dict) -> list[dict]:
    """One row per edit and classifier (the CSV and the tables)."""
    rows = []
    for edit, per in ca["edits"].items():
        for name, e in per.items():
            rows.append({"edit": edit, "classifier": name, "mean ΔP": round(e["mean_delta"], 4),
                         "sd ΔP": round(e["sd_delta"], 4), "ΔP along the shortcut": round(e["mean_toward"], 4),
                         "flips": round(e["flip_rate"], 4), "AUC before": round(e["auc_before"], 4),
                         "AUC after": round(e["auc_after"], 4),
                         "AUC after 95% CI": f"[{e['auc_after_low']:.3f}, {e['auc_after_high']:.3f}]",
                         "Δ AUC": round(e["delta_auc"], 4),
                         "Δ AUC 95% CI": f"[{e['delta_auc_low']:+.3f}, {e['delta_auc_high']:+.3f}]",
                         "verdict": e["verdict"]})
    return rows


def response_rows(ca: dict, top: int = 12) -> list[dict]:
    """What moves each classifier's P(positive) within a class: the `top` strongest rows per classifier
    (0 = all), acquisition and lesion features together."""
    from simstudio.eval.classifier_response import moves

    rows = []
    for name, resp in ca.get("response", {}).items():
        for r in resp[:top] if top else resp:
            rows.append({"classifier": name, "class": r["class"], "feature": r["feature"], "group": r["group"],
                         "n": r["n"], "Spearman rho": round(r["rho"], 3),
                         "95% CI": f"[{r['low']:+.3f}, {r['high']:+.3f}]", "strong": "yes" if moves(r) else ""})
    return rows


def error_rows(ca: dict) -> list[dict]:
    """Each classifier's most confident wrong answers per class (file, true class, P(positive))."""
    return [{"classifier": name, "file": r.get("file", str(r["index"])), "class": r["class"],
             f"P({ca['positive']})": round(r["p"], 3)}
            for name, rows in ca.get("errors", {}).items() for r in rows]


def audit_figures(result: dict, cols: dict | None = None, labels=None, top: int = 6) -> dict:
    """The plotly figures of an audit run, by name (the Gap tab and the report draw the same ones)."""
    from simstudio import plots
    from simstudio.eval.audit_features import AUDIT_FEATURES

    figs = {"aucs": plots.feature_auc_figure(result["features"])}
    if cols is not None:
        names = [f["name"] for f in result["features"] if f["group"] == "acquisition"][:top]
        figs["histograms"] = plots.class_histograms_figure(
            {k: list(cols[k]) for k in names}, list(labels), result["classes"], names,
            {k: v[0] for k, v in AUDIT_FEATURES.items()})
    ca = result.get("classifier_audit")
    if ca:
        deltas = {name: {edit: ca["edits"][edit][name]["deltas"] for edit in ca["edits"]}
                  for name in next(iter(ca["edits"].values()), {})}
        figs["edits"] = plots.edit_effects_figure(deltas, f"Change in P({ca['positive']}) per edit "
                                                          f"({ca['n']} {ca['part']} images)")
    return figs


def report_html(result: dict, cols: dict | None = None, labels=None) -> str:
    """One self-contained HTML page (plotly.js embedded once, no CDN: users are often offline)."""
    from plotly.offline import get_plotlyjs

    e = html.escape
    figs = audit_figures(result, cols, labels)
    parts = [f"<h1>Shortcut audit of {e(result['dataset'])}</h1>",
             f"<p class='verdict'><b>{e(result['verdict'])}</b></p>",
             f"<p>{result['n']} images ({', '.join(f'{c}: {k}' for c, k in result['class_counts'].items())}), "
             f"part: {e(result['part'])}, measured at {result['side']} px. Positive class: "
             f"{e(result['positive'])}. Logistic regression (standardised, median-imputed, C = 1), "
             "5-fold stratified CV over 5 seeds; AUC of the seed-averaged out-of-fold scores with a 200-draw "
             "class-stratified bootstrap 95% CI.</p>",
             "<h2>What predicts the label</h2>" + _table(set_rows(result)),
             "<h2>Every feature, ranked</h2>" + _table(feature_rows(result)),
             "<h2>Acquisition per class (medians and rates)</h2>" + _table(median_rows(result))]
    for name in ("aucs", "histograms"):
        if name in figs:
            parts.append(f"<div class='fig'>{figs[name].to_html(full_html=False, include_plotlyjs=False)}</div>")
    ca = result.get("classifier_audit")
    if ca:
        items = "".join(f"<li>{e(v)}</li>" for v in ca["verdicts"].values())
        aucs = "; ".join(f"{e(n)} {a[0]:.3f} [{a[1]:.3f}, {a[2]:.3f}]" for n, a in ca["auc"].items())
        parts.append(f"<h2>Classifier audit ({ca['n']} {e(ca['part'])} images, seed {ca['seed']})</h2>"
                     f"<p>Unedited ROC-AUC: {aucs}.</p><ul class='verdicts'>{items}</ul>"
                     + _table(edit_rows(ca)))
        parts.append(f"<div class='fig'>{figs['edits'].to_html(full_html=False, include_plotlyjs=False)}</div>")
        if ca.get("response"):
            from simstudio.eval.classifier_response import CAVEAT

            items = "".join(f"<li>{e(v)}</li>" for v in ca["response_verdicts"].values())
            parts.append("<h2>What moves each classifier's answer within a class</h2>"
                         f"<ul class='verdicts'>{items}</ul><p class='note'>{e(CAVEAT.capitalize())}.</p>"
                         + _table(response_rows(ca))
                         + "<p class='note'>Spearman rho between a measured feature and P(positive) among the "
                         "images of one class (the label fixed), with a 200-draw bootstrap 95% CI over those "
                         "images. An acquisition feature here is a cue the classifier reads beyond the lesion; "
                         "for a simulator-trained classifier, the range the simulator should widen.</p>"
                         "<h3>Most confident errors</h3>" + _table(error_rows(ca)))
        parts.append("<p class='note'>Each edit changes acquisition only and keeps every other pixel. "
                     "'ΔP along the shortcut' is the change in P(positive) signed so that + means the "
                     "answer moved the way the shortcut points: toward the other class for the cast and "
                     "sharpness edits (toward neutral for colour constancy), toward the class whose photos "
                     "show the cue more often when it is added (away when removed). Flips: the predicted class "
                     "changes. Δ AUC: edited minus unedited, paired class-stratified bootstrap 95% CI.</p>")
    style = ("body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}table{border-collapse:"
             "collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}.verdict{font-size:17px}"
             ".note{color:#555;font-size:13px}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Shortcut audit</title><style>{style}"
            f"</style><script>{get_plotlyjs()}</script></head><body>{''.join(parts)}</body></html>")


def format_audit(result: dict) -> str:
    """What the CLI prints: the verdicts, the three AUCs, the top features, the edits."""
    lines = [f"verdict: {result['verdict']}"]
    for name, s in result["sets"].items():
        lines.append(f"  {name:<12} CV ROC-AUC {s['auc']:.3f} [{s['low']:.3f}, {s['high']:.3f}]  "
                     f"({s['n_features']} features; mean fold {s['fold_mean']:.3f} ± {s['fold_sd']:.3f})")
    lines.append("top features:")
    for f in result["features"][:8]:
        lines.append(f"  {f['name']:<18} {f['group']:<12} AUC {f['auc']:.3f} [{f['low']:.3f}, {f['high']:.3f}] "
                     f"{f['direction']}")
    ca = result.get("classifier_audit")
    if ca:
        lines.append(f"classifier audit on {ca['n']} {ca['part']} images (seed {ca['seed']}):")
        lines += [f"  {v}" for v in ca["verdicts"].values()]
        if ca.get("response"):
            from simstudio.eval.classifier_response import CAVEAT

            lines.append(f"what moves each classifier's answer within a class (Spearman rho, 95% CI; {CAVEAT}):")
            lines += [f"  {v}" for v in ca["response_verdicts"].values()]
            for r in response_rows(ca, top=5):
                lines.append(f"    {r['classifier']:<16} {r['class']:<10} {r['feature']:<18} {r['group']:<12} "
                             f"rho {r['Spearman rho']:+.3f} {r['95% CI']}")
    return "\n".join(lines)


def _table(rows: list[dict]) -> str:
    if not rows:
        return "<p>(none)</p>"
    e = html.escape
    head = "".join(f"<th>{e(str(k))}</th>" for k in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{e(str(v))}</td>" for v in r.values()) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return buf.getvalue()


def _num(v, digits: int = 6):
    v = float(v)
    return "" if math.isnan(v) else round(v, digits)
