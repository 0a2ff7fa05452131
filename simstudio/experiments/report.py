"""The experiment's report: one self-contained HTML file (plotly.js embedded once, no CDN, since users
are often offline), CSV and JSON of every number, and the exact command that re-runs the experiment."""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import shlex
from pathlib import Path

from simstudio.experiments.analysis import METRIC_NAMES, number_rows, per_class_rows, results_rows
from simstudio.runs import atomic_write_json, atomic_write_text, read_json


def experiment_figures(summary: dict) -> dict:
    """The plotly figures of an experiment, by name (the Compare tab and the report draw the same ones)."""
    from simstudio import plots

    figs = {}
    arms = [a for a in summary.get("arms", []) if a.get("metrics")]
    if summary.get("roc"):
        figs["roc"] = plots.roc_overlay_figure(summary["roc"], "ROC curves on the real test set (mean over repeats)")
    else:
        figs["roc"] = plots.empty_figure("ROC curves appear when the first arm finishes")
    if summary.get("ood_roc"):
        figs["ood_roc"] = plots.roc_overlay_figure(summary["ood_roc"], "ROC curves, out-of-distribution test set")
    if summary.get("flipped_roc"):
        figs["flipped_roc"] = plots.roc_overlay_figure(summary["flipped_roc"],
                                                       "ROC curves, shortcut-flipped test set")
    if arms:
        metrics = {}
        for m in ("roc_auc", "balanced_accuracy", "sensitivity", "specificity"):
            vals = [a["metrics"].get(m) for a in arms]
            if all(v is not None for v in vals):
                metrics[METRIC_NAMES[m]] = ([v["mean"] for v in vals], [v["std"] for v in vals])
        for part, label in (("ood_metrics", "OOD ROC-AUC"), ("flipped_metrics", "flipped-test ROC-AUC")):
            vals = [a.get(part, {}).get("roc_auc") for a in arms]
            if all(v is not None for v in vals):
                metrics[label] = ([v["mean"] for v in vals], [v["std"] for v in vals])
        figs["bars"] = plots.metric_bars_figure([a["name"] for a in arms], metrics)
    else:
        figs["bars"] = plots.empty_figure("metric bars appear when the first arm finishes")
    sweep = summary.get("sweep")
    if sweep:
        series = {
            f"{name}: {METRIC_NAMES[m]}": (ser["x"], v["mean"], v["std"])
            for name, ser in sweep["series"].items()
            for m, v in ser["metrics"].items()
        }
        figs["sweep"] = plots.sweep_band_figure(series, sweep["label"])
    curves = summary.get("curves") or {}
    if curves:
        runs = [r for rs in curves.values() for r in rs]
        seen = all("images_seen" in r for r in runs)
        x = {"x_key": "images_seen", "x_title": "training images seen"} if seen else {}
        figs["train_loss"] = plots.curves_overlay_figure(curves, "train_loss", "Training loss", **x)
        if any("val_loss" in r for r in runs):
            figs["val_loss"] = plots.curves_overlay_figure(curves, "val_loss", "Validation loss", **x)
    return figs


def write_report(run_dir: str | Path, summary: dict, out_dir: str | Path | None = None) -> dict[str, Path]:
    """Write report.html, results.json, results.csv, numbers.csv, per_class.csv and command.txt into
    `out_dir` (default: the run folder). Returns their paths."""
    run_dir = Path(run_dir)
    out = Path(out_dir) if out_dir is not None else run_dir
    out.mkdir(parents=True, exist_ok=True)
    command = rerun_command(run_dir)
    files = {
        "html": out / "report.html",
        "json": out / "results.json",
        "csv": out / "results.csv",
        "numbers": out / "numbers.csv",
        "per_class": out / "per_class.csv",
        "command": out / "command.txt",
    }
    atomic_write_json(files["json"], {**summary, "command": command})
    atomic_write_text(files["csv"], _csv(results_rows(summary)))
    atomic_write_text(files["numbers"], _csv(number_rows(summary)))
    atomic_write_text(files["per_class"], _csv(per_class_rows(summary)))
    atomic_write_text(files["command"], command + "\n")
    atomic_write_text(files["html"], report_html(summary, command, run_dir))
    return files


def rerun_command(run_dir: str | Path) -> str:
    """The command that runs this experiment again from scratch: its saved config names the data, the
    split file pins the test images."""
    run_dir = Path(run_dir).resolve()
    return (
        f"python -m simstudio experiment {shlex.quote(str(run_dir / 'config.json'))} "
        f"--split {shlex.quote(str(run_dir / 'split.csv'))}"
    )


def report_html(summary: dict, command: str, run_dir: str | Path | None = None) -> str:
    from plotly.offline import get_plotlyjs

    figs = experiment_figures(summary)
    e = html.escape
    parts = [f"<h1>{e(summary.get('name', 'experiment'))}</h1>"]
    if summary.get("description"):
        parts.append(f"<p>{e(summary['description'])}</p>")
    parts.append(_facts(summary))
    verdicts = [a for a in summary.get("arms", []) if a.get("verdict") and a["verdict"] != "baseline"]
    if verdicts:
        items = "".join(
            f"<li><b>{e(a['name'])}</b> vs {e(summary['baseline'])}: {e(a['verdict'])}"
            + (f"; out of distribution: {e(a['ood_verdict'])}" if a.get("ood_verdict") else "")
            + (f"; shortcut-flipped test: {e(a['flipped_verdict'])}" if a.get("flipped_verdict") else "")
            + "</li>"
            for a in verdicts
        )
        parts.append(f"<h2>Verdicts</h2><ul class='verdicts'>{items}</ul>")
    if summary.get("contrasts"):
        items = "".join(f"<li><b>{e(c['arm'])}</b> vs {e(c['reference'])}: {e(c['verdict'])}"
                        + (f" (DeLong p = {c['delong']['p_value']:.2g})" if "p_value" in c.get("delong", {}) else "")
                        + (f"; shortcut-flipped test: {e(c['flipped']['verdict'])}" if c.get("flipped") else "")
                        + "</li>" for c in summary["contrasts"])
        parts.append(f"<h2>Other comparisons</h2><ul class='verdicts'>{items}</ul>")
    if summary.get("warnings"):
        items = "".join(f"<li>{e(w)}</li>" for w in summary["warnings"])
        parts.append(f"<div class='warn'><b>Warnings</b><ul>{items}</ul></div>")
    parts.append("<h2>Results</h2>" + _table(results_rows(summary), "results"))
    parts.append(
        "<p class='note'>Metric = mean ± standard deviation over repeats (seeds) or folds. "
        "Verdict: paired, class-stratified bootstrap of the difference in ROC-AUC against the "
        f"baseline on the same test images ({summary['config'].get('n_boot')} draws, repeats "
        "resampled too); 'no significant difference' when the interval contains 0.</p>"
    )
    pooled = (
        "the out-of-fold predictions (each image predicted once, by the fold model that did not train on it)"
        if summary.get("kfold")
        else "the repeat-averaged probabilities (one score per image)"
    )
    parts.append(
        "<h2>Against the baseline</h2>"
        + _table(_comparison_rows(summary), "comparisons")
        + f"<p class='note'>DeLong's test (AUC, fast midrank form) and McNemar's test (accuracy; exact "
        f"binomial below 25 discordant images) use {pooled}"
        + ("." if summary.get("kfold") else "; the bootstrap intervals use every repeat.")
        + "</p>"
    )
    for name in ("roc", "ood_roc", "flipped_roc", "bars", "sweep", "train_loss", "val_loss"):
        if name in figs:
            parts.append(f"<div class='fig'>{figs[name].to_html(full_html=False, include_plotlyjs=False)}</div>")
    parts.append("<h2>Per class (mean ± std)</h2>" + _table(per_class_rows(summary), "per-class"))
    parts.append("<h2>Training sets</h2>" + _table(_composition_rows(summary), "composition"))
    if run_dir is not None:
        parts.append(_galleries(Path(run_dir)))
    parts.append(f"<h2>Re-run</h2><pre>{e(command)}</pre>")
    parts.append(
        "<details><summary>Experiment config (JSON)</summary><pre>"
        f"{e(json.dumps(summary.get('config', {}), indent=2))}</pre></details>"
    )
    body = "\n".join(parts)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{e(summary.get('name', 'experiment'))}"
        f"</title><style>{_CSS}</style><script type='text/javascript'>{get_plotlyjs()}</script></head>"
        f"<body>{body}</body></html>"
    )


# -- internals ------------------------------------------------------------------------------------
def _facts(summary: dict) -> str:
    counts = ", ".join(f"{c} {n}" for c, n in summary.get("test_class_counts", {}).items())
    design = (
        f"{summary['kfold']}-fold cross-validation"
        if summary.get("kfold")
        else f"{summary.get('repeats')} repeats (seeds)"
    )
    lines = [
        f"Real test images: {summary.get('n_test')} ({counts}), the same for every arm",
        f"Design: {design}; baseline arm: {summary.get('baseline')}",
        f"Units finished: {summary.get('units_done')} of {summary.get('units_total')}",
    ]
    if summary.get("n_ood"):
        lines.append(f"Out-of-distribution test images: {summary['n_ood']} ({summary['config'].get('ood_test')})")
    if summary.get("config", {}).get("audit") and not summary.get("n_ood"):
        from simstudio.experiments.audit_columns import NO_OOD_NOTE

        lines.append(NO_OOD_NOTE)
    if summary.get("n_flipped"):
        rep = summary.get("flipped_report") or {}
        cls = rep.get("classes", [])
        moved = "; ".join(
            f"{k}: " + " / ".join(f"{c} {rep['before'][c][k]:.3g} -> {rep['after'][c][k]:.3g}" for c in cls)
            for k in ("skin_a", "skin_b", "sharpness", "vignette", "field_stop", "hair", "ruler")
            if all(k in rep.get("before", {}).get(c, {}) for c in cls))
        lines.append(f"Shortcut-flipped test images: {summary['n_flipped']} (the test images with each class's "
                     f"acquisition moved toward the other's, lesion pixels kept; class medians / rates {moved})")
    if summary.get("wall_time_s") is not None:
        lines.append(f"Wall time: {summary['wall_time_s']:.0f} s")
    return "<ul class='facts'>" + "".join(f"<li>{html.escape(x)}</li>" for x in lines) + "</ul>"


def _comparison_rows(summary: dict) -> list[dict]:
    rows = []
    for a in summary.get("arms", []):
        for part, label in (("comparison", "test"), ("ood_comparison", "out of distribution"),
                            ("flipped_comparison", "shortcut-flipped test")):
            c = a.get(part)
            if not c:
                continue
            b = c["bootstrap"]
            row = {"arm": a["name"], "test set": label}
            for m in ("roc_auc", "balanced_accuracy"):
                d = b[m]
                row[f"Δ {METRIC_NAMES[m]} [{round(d['level'] * 100)}% CI]"] = (
                    f"{d['diff']:+.3f} [{d['low']:.3f}, {d['high']:.3f}]"
                )
            dl = c.get("delong", {})
            row["DeLong p"] = f"{dl['p_value']:.4f}" if "p_value" in dl else dl.get("error", "")
            mc = c.get("mcnemar", {})
            row["McNemar p"] = (
                f"{mc['p_value']:.4f} ({mc['method']}, {mc['a_only']} vs {mc['b_only']})" if "p_value" in mc else ""
            )
            rows.append(row)
    return rows


def _composition_rows(summary: dict) -> list[dict]:
    rows = []
    for a in summary.get("arms", []):
        counts = a.get("train_counts", {})
        row = {"arm": a["name"], "composition": a["composition"], "epochs": a.get("epochs")}
        for c in summary.get("classes", []):
            row[f"real {c}"] = counts.get("real", {}).get(c, 0)
            row[f"synthetic {c}"] = counts.get("synthetic", {}).get(c, 0)
        if counts.get("budget_of"):
            row["note"] = f"epochs matched to the image presentations of {counts['budget_of']!r}"
        rows.append(row)
    return rows


def _galleries(run_dir: Path) -> str:
    index = read_json(run_dir / "samples" / "galleries.json") or []
    cells = []
    for g in index:
        p = run_dir / g["file"]
        if not p.is_file():
            continue
        data = base64.b64encode(p.read_bytes()).decode()
        cells.append(
            f"<figure><img src='data:image/png;base64,{data}' alt='{html.escape(g['name'])}'>"
            f"<figcaption>{html.escape(g['name'])} ({html.escape(g['kind'])}); rows: "
            f"{html.escape(', '.join(g['classes']))}</figcaption></figure>"
        )
    if not cells:
        return ""
    return "<h2>Samples: real | synthetic</h2><div class='galleries'>" + "".join(cells) + "</div>"


def _table(rows: list[dict], css_id: str) -> str:
    if not rows:
        return "<p class='note'>nothing yet</p>"
    cols = list(dict.fromkeys(k for r in rows for k in r))
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(r.get(c, '')))}</td>" for c in cols) + "</tr>" for r in rows)
    return f"<table id='{css_id}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    if rows:
        cols = list(dict.fromkeys(k for r in rows for k in r))
        w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return buf.getvalue()


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1200px;
color:#222;padding:0 16px}
h1{margin-bottom:4px}h2{margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;font-size:14px;margin:8px 0}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}th{background:#f3f3f3}
.warn{background:#fff6e0;border:1px solid #f0c36d;padding:8px 12px;margin:12px 0}
.note{color:#555;font-size:13px}.verdicts li{margin:4px 0}
.galleries{display:flex;gap:16px;flex-wrap:wrap}
.galleries img{image-rendering:pixelated;width:min(380px,100%)}
pre{background:#f6f6f6;padding:8px;overflow-x:auto}.fig{margin:12px 0}
"""
