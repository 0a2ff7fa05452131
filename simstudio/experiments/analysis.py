"""Everything an experiment found, computed from the files its units saved (never from memory).

`summarize(run_dir)` reads the experiment's config, plan and each finished unit's predictions and
returns one JSON-able dict: the results table (metric mean ± std per arm), the paired comparisons
against the baseline with verdicts, out-of-distribution results, per-class precision/recall, ROC
curves, training curves, the sweep, and warnings. Because it works from saved files, it serves a
running experiment (partial results), a finished one, and one reopened months later alike.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from simstudio.experiments import stats
from simstudio.experiments.config import experiment_from_dict
from simstudio.runs import read_json

TABLE_METRICS = ("roc_auc", "balanced_accuracy", "accuracy", "sensitivity", "specificity", "f1_macro")
METRIC_NAMES = {
    "roc_auc": "ROC-AUC",
    "balanced_accuracy": "balanced accuracy",
    "accuracy": "accuracy",
    "sensitivity": "sensitivity",
    "specificity": "specificity",
    "f1_macro": "macro F1",
    "train_time_s": "training time (s)",
}
ROC_GRID = np.linspace(0.0, 1.0, 101)


def summarize(run_dir: str | Path, with_stats: bool = True) -> dict:
    """The experiment's results from its run folder (see the module docstring)."""
    run_dir = Path(run_dir)
    cfg = experiment_from_dict(read_json(run_dir / "config.json", {}))
    plan = read_json(run_dir / "plan.json")
    if plan is None:
        return {
            "name": cfg.name,
            "config": cfg.to_dict(),
            "arms": [],
            "units": [],
            "complete": False,
            "warnings": ["nothing planned yet: the experiment has not loaded its data"],
        }
    classes = plan["classes"]
    units = plan["units"]
    done = {u["key"]: read_json(run_dir / "units" / u["key"] / "predictions.json") for u in units}
    kfold = plan.get("kfold", 0)
    baseline = cfg.baseline_arm.name
    out = {
        "name": cfg.name,
        "description": cfg.description,
        "config": cfg.to_dict(),
        "classes": classes,
        "baseline": baseline,
        "kfold": kfold,
        "repeats": plan["rounds"],
        "primary_metric": "roc_auc",
        "n_test": plan["n_test"],
        "test_class_counts": plan["test_class_counts"],
        "n_ood": plan.get("n_ood", 0),
        "ood_class_counts": plan.get("ood_class_counts"),
        "units": [],
        "arms": [],
        "roc": {},
        "ood_roc": {},
        "n_flipped": plan.get("n_flipped", 0),
        "flipped_report": plan.get("flipped"),
        "flipped_roc": {},
        "curves": {},
        "warnings": [],
        "units_done": sum(p is not None for p in done.values()),
        "units_total": len(units),
    }
    out["complete"] = out["units_done"] == out["units_total"]
    for u in units:
        p = done[u["key"]]
        row = {"key": u["key"], "arm": u["arm"], "repeat": u["repeat"], "done": p is not None}
        if p is not None:
            row.update({m: p["metrics"]["test"].get(m) for m in TABLE_METRICS})
            row["train_time_s"] = p.get("train_time_s")
            if p.get("metrics", {}).get("ood"):
                row.update({f"ood_{m}": p["metrics"]["ood"].get(m) for m in TABLE_METRICS})
            if p.get("metrics", {}).get("flipped"):
                row.update({f"flipped_{m}": p["metrics"]["flipped"].get(m) for m in TABLE_METRICS})
        out["units"].append(row)

    arm_preds = {}
    for arm in cfg.arms:
        arm_units = [u for u in units if u["arm"] == arm.name]
        fin = [done[u["key"]] for u in arm_units if done[u["key"]] is not None]
        entry = _arm_entry(arm, arm_units, fin, classes)
        if cfg.audit:
            from simstudio.experiments.audit_columns import arm_audit

            entry["audit"] = arm_audit(run_dir, [u["key"] for u in arm_units])
        out["arms"].append(entry)
        if fin:
            out["roc"][arm.name] = _mean_roc([p["metrics"]["test"] for p in fin])
            ood = [p["metrics"]["ood"] for p in fin if p["metrics"].get("ood")]
            if ood:
                out["ood_roc"][arm.name] = _mean_roc(ood)
            flipped = [p["metrics"]["flipped"] for p in fin if p["metrics"].get("flipped")]
            if flipped:
                out["flipped_roc"][arm.name] = _mean_roc(flipped)
            out["curves"][arm.name] = [{"repeat": p["unit"]["repeat"], **p.get("history", {})} for p in fin]
        arm_preds[arm.name] = (
            _stack(fin, "test", kfold, len(arm_units)),
            _stack(fin, "ood", kfold, len(arm_units)),
            _stack(fin, "flipped", kfold, len(arm_units)),
        )

    out["contrasts"] = []
    if with_stats:
        _compare(out, cfg, arm_preds, baseline, classes)
        out["contrasts"] = _contrasts(cfg, arm_preds)
    out["sweep"] = _sweep(cfg, out["arms"])
    out["warnings"] = _warnings(out, cfg, plan, classes)
    return out


def results_rows(summary: dict) -> list[dict]:
    """The results table, one row per arm (what the CLI prints, the tab shows and the CSV holds)."""
    rows = []
    for a in summary["arms"]:
        row = {
            "arm": a["name"],
            "composition": a["composition"],
            "repeats": f"{a['n_done']}/{a['n_total']}",
            "train images": a["train_images"],
        }
        for m in ("roc_auc", "balanced_accuracy", "accuracy", "sensitivity", "specificity"):
            row[METRIC_NAMES[m]] = _pm(a["metrics"].get(m))
            if m == "roc_auc":
                ci = (a["metrics"].get(m) or {}).get("ci95")
                row["ROC-AUC 95% CI (repeats)"] = f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "n/a"
        if summary.get("n_ood"):
            row["OOD ROC-AUC"] = _pm(a.get("ood_metrics", {}).get("roc_auc"))
        if summary.get("config", {}).get("audit"):
            from simstudio.experiments.audit_columns import audit_cells

            row.update(audit_cells(a))
        if summary.get("n_flipped"):
            row["flipped-test ROC-AUC"] = _pm(a.get("flipped_metrics", {}).get("roc_auc"))
            ci = (a.get("flipped_metrics", {}).get("roc_auc") or {}).get("ci95")
            row["flipped-test ROC-AUC 95% CI (repeats)"] = f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "n/a"
        row["training time (s)"] = _pm(a["metrics"].get("train_time_s"), digits=1)
        row["verdict"] = a.get("verdict", "")
        if summary.get("n_ood"):
            row["OOD verdict"] = a.get("ood_verdict", "")
        if summary.get("n_flipped"):
            row["flipped-test verdict"] = a.get("flipped_verdict", "")
        rows.append(row)
    return rows


def per_class_rows(summary: dict) -> list[dict]:
    """Per-class precision and recall, mean ± std over repeats, one row per arm x class."""
    rows = []
    for a in summary["arms"]:
        for cls, v in a.get("per_class", {}).items():
            rows.append(
                {
                    "arm": a["name"],
                    "class": cls,
                    "precision": _pm(v["precision"]),
                    "recall": _pm(v["recall"]),
                    "f1": _pm(v["f1"]),
                    "test images": v["support"],
                }
            )
    return rows


def number_rows(summary: dict) -> list[dict]:
    """Every number, long format (level, arm, repeat, metric, value), for the CSV export."""
    rows = []
    for u in summary["units"]:
        if not u["done"]:
            continue
        for k, v in u.items():
            if k in ("key", "arm", "repeat", "done") or v is None:
                continue
            rows.append({"level": "unit", "arm": u["arm"], "repeat": u["repeat"], "metric": k, "value": v})
    for a in summary["arms"]:
        for part, metrics in (("test", a["metrics"]), ("ood", a.get("ood_metrics", {})),
                              ("flipped", a.get("flipped_metrics", {}))):
            for m, v in metrics.items():
                if v is None:
                    continue
                prefix = "" if part == "test" else f"{part}_"
                rows.append(
                    {
                        "level": "arm",
                        "arm": a["name"],
                        "repeat": "",
                        "metric": f"{prefix}{m}_mean",
                        "value": v["mean"],
                    }
                )
                rows.append(
                    {
                        "level": "arm",
                        "arm": a["name"],
                        "repeat": "",
                        "metric": f"{prefix}{m}_std",
                        "value": v["std"],
                    }
                )
                for bound, value in zip(("low", "high"), v.get("ci95", ()), strict=False):
                    rows.append({"level": "arm", "arm": a["name"], "repeat": "",
                                 "metric": f"{prefix}{m}_ci95_{bound}", "value": value})
        for part in ("comparison", "ood_comparison", "flipped_comparison"):
            comp = a.get(part)
            if not comp:
                continue
            prefix = "" if part == "comparison" else part.replace("comparison", "")
            for m, d in comp.get("bootstrap", {}).items():
                for k in ("diff", "low", "high"):
                    rows.append(
                        {
                            "level": "vs baseline",
                            "arm": a["name"],
                            "repeat": "",
                            "metric": f"{prefix}{m}_{k}",
                            "value": d[k],
                        }
                    )
            for test in ("delong", "mcnemar"):
                if "p_value" in comp.get(test, {}):
                    rows.append(
                        {
                            "level": "vs baseline",
                            "arm": a["name"],
                            "repeat": "",
                            "metric": f"{prefix}{test}_p",
                            "value": comp[test]["p_value"],
                        }
                    )
        for key, v in (a.get("audit") or {}).items():
            for stat in ("mean", "std"):
                rows.append({"level": "arm", "arm": a["name"], "repeat": "", "metric": f"audit_{key}_{stat}",
                             "value": v[stat]})
        for cls, v in a.get("per_class", {}).items():
            for k in ("precision", "recall", "f1"):
                rows.append(
                    {
                        "level": "per class",
                        "arm": a["name"],
                        "repeat": cls,
                        "metric": f"{k}_mean",
                        "value": v[k]["mean"],
                    }
                )
    for c in summary.get("contrasts", []):
        label = f"{c['arm']} vs {c['reference']}"
        for m, d in c.get("bootstrap", {}).items():
            for k in ("diff", "low", "high"):
                rows.append({"level": "contrast", "arm": label, "repeat": "", "metric": f"{m}_{k}", "value": d[k]})
        for m, d in (c.get("flipped") or {}).get("bootstrap", {}).items():
            for k in ("diff", "low", "high"):
                rows.append({"level": "contrast", "arm": label, "repeat": "", "metric": f"flipped_{m}_{k}",
                             "value": d[k]})
        for test in ("delong", "mcnemar"):
            if "p_value" in c.get(test, {}):
                rows.append({"level": "contrast", "arm": label, "repeat": "", "metric": f"{test}_p",
                             "value": c[test]["p_value"]})
    return rows


# -- internals ------------------------------------------------------------------------------------
def _arm_entry(arm, arm_units: list[dict], fin: list[dict], classes: list[str]) -> dict:
    counts = arm_units[0]["counts"] if arm_units else {}
    n_real = sum(counts.get("real", {}).values())
    n_syn = sum(counts.get("synthetic", {}).values())
    entry = {
        "name": arm.name,
        "composition": arm.composition,
        "synthetic": arm_units[0]["synthetic"] if arm_units else "",
        "n_done": len(fin),
        "n_total": len(arm_units),
        "train_counts": counts,
        "train_images": _images_text(n_real, n_syn),
        "epochs": arm_units[0]["epochs"] if arm_units else 0,
        "sweep_value": arm.sweep_value,
        "metrics": {},
        "ood_metrics": {},
        "flipped_metrics": {},
        "per_class": {},
    }
    if not fin:
        return entry
    for m in TABLE_METRICS:
        entry["metrics"][m] = _ms([p["metrics"]["test"].get(m) for p in fin])
    entry["metrics"]["train_time_s"] = _ms([p.get("train_time_s") for p in fin])
    if any(p["metrics"].get("ood") for p in fin):
        for m in TABLE_METRICS:
            entry["ood_metrics"][m] = _ms(
                [p["metrics"]["ood"].get(m) for p in fin if p["metrics"].get("ood")]
            )
    if any(p["metrics"].get("flipped") for p in fin):
        for m in TABLE_METRICS:
            entry["flipped_metrics"][m] = _ms(
                [p["metrics"]["flipped"].get(m) for p in fin if p["metrics"].get("flipped")]
            )
    for cls in classes:
        per = [p["metrics"]["test"]["per_class"][cls] for p in fin]
        entry["per_class"][cls] = {k: _ms([q[k] for q in per]) for k in ("precision", "recall", "f1")}
        entry["per_class"][cls]["support"] = per[0]["support"]
    return entry


def _images_text(n_real: int, n_syn: int) -> str:
    if n_real and n_syn:
        return f"{n_real} real + {n_syn} synthetic"
    return f"{n_syn} synthetic" if n_syn else f"{n_real} real"


def _ms(values) -> dict | None:
    vals = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not vals:
        return None
    m, s = stats.mean_std(vals)
    out = {"mean": m, "std": s, "n": len(vals), "values": vals}
    ci = stats.mean_interval(vals)
    if ci:
        out["ci95"] = list(ci)
    return out


def _pm(v: dict | None, digits: int = 3) -> str:
    if not v:
        return "n/a"
    return f"{v['mean']:.{digits}f} ± {v['std']:.{digits}f}" if v["n"] > 1 else f"{v['mean']:.{digits}f}"


def _stack(fin: list[dict], part: str, kfold: int, n_units: int):
    """(y, proba (R, N, C)) for the paired tests: the repeats' predictions of the shared test images, or
    with k-fold the out-of-fold predictions (one per image), only once every fold has finished."""
    parts = [p[part] for p in fin if p.get(part)]
    if not parts:
        return None
    if kfold and part in ("test", "flipped"):
        if len(parts) < n_units:
            return None
        rows = np.concatenate([q["rows"] for q in parts])
        order = np.argsort(rows)
        y = np.concatenate([q["y"] for q in parts])[order]
        proba = np.concatenate([np.asarray(q["proba"], dtype=float) for q in parts])[order]
        return rows[order], y, proba[None]
    ref = parts[0]
    for q in parts[1:]:
        if q["rows"] != ref["rows"]:
            raise ValueError(
                "the repeats of an arm were tested on different images; the experiment's "
                "split changed under it"
            )
    return (
        np.asarray(ref["rows"]),
        np.asarray(ref["y"]),
        np.stack([np.asarray(q["proba"], float) for q in parts]),
    )


def _compare(out: dict, cfg, arm_preds: dict, baseline: str, classes: list[str]) -> None:
    base_test, base_ood, base_flipped = arm_preds.get(baseline, (None, None, None))
    for entry in out["arms"]:
        name = entry["name"]
        if name == baseline:
            entry["verdict"] = "baseline"
            entry["ood_verdict"] = "baseline" if base_ood is not None else ""
            entry["flipped_verdict"] = "baseline" if base_flipped is not None else ""
            continue
        test, ood, flipped = arm_preds[name]
        for key, mine, base in (("comparison", test, base_test), ("ood_comparison", ood, base_ood),
                                ("flipped_comparison", flipped, base_flipped)):
            label = key.replace("comparison", "verdict")
            if mine is None or base is None:
                waiting = key == "comparison" or out.get("n_" + key.replace("_comparison", ""))
                entry[label] = "waiting for results" if waiting else ""
                continue
            rows_a, y, pa = mine
            rows_b, _, pb = base
            if not np.array_equal(rows_a, rows_b):
                raise ValueError(f"arm {name!r} and the baseline were tested on different images")
            try:
                comp = stats.compare_to_baseline(y, pa, pb, n_boot=cfg.n_boot, level=cfg.level, seed=cfg.seed)
            except ValueError as exc:  # e.g. a class missing from a tiny test set
                entry[label] = f"not computed: {exc}"
                continue
            entry[key] = comp
            entry[label] = comp["verdict"]


def _contrasts(cfg, arm_preds: dict) -> list[dict]:
    """The config's extra [arm, reference] pairs, compared like an arm with the baseline."""
    out = []
    for a, b in cfg.contrasts:
        entry = {"arm": a, "reference": b}
        mine, ref = arm_preds.get(a, (None, None))[0], arm_preds.get(b, (None, None))[0]
        if mine is None or ref is None:
            entry["verdict"] = "waiting for results"
        else:
            try:
                entry.update(stats.compare_to_baseline(mine[1], mine[2], ref[2], n_boot=cfg.n_boot,
                                                       level=cfg.level, seed=cfg.seed))
            except ValueError as exc:
                entry["verdict"] = f"not computed: {exc}"
        f_mine, f_ref = (arm_preds.get(n, (None, None, None))[2] for n in (a, b))
        if f_mine is not None and f_ref is not None:
            try:
                entry["flipped"] = stats.compare_to_baseline(f_mine[1], f_mine[2], f_ref[2], n_boot=cfg.n_boot,
                                                             level=cfg.level, seed=cfg.seed)
            except ValueError as exc:
                entry["flipped"] = {"verdict": f"not computed: {exc}"}
        out.append(entry)
    return out


def _mean_roc(metric_dicts: list[dict]) -> dict | None:
    """Vertical average of the repeats' ROC curves (binary: the positive class), so the curve's area is
    close to the mean AUC the table shows."""
    tprs = []
    for m in metric_dicts:
        curves = m.get("roc_curve") or {}
        if len(curves) != 1:
            return None
        c = next(iter(curves.values()))
        tprs.append(np.interp(ROC_GRID, c["fpr"], c["tpr"]))
    if not tprs:
        return None
    t = np.mean(tprs, axis=0)
    t[0] = 0.0
    aucs = [m.get("roc_auc") for m in metric_dicts if m.get("roc_auc") is not None]
    return {
        "fpr": ROC_GRID.tolist(),
        "tpr": t.tolist(),
        "std": np.std(tprs, axis=0).tolist(),
        "auc": float(np.mean(aucs)) if aucs else None,
    }


def _sweep(cfg, arms: list[dict]) -> dict | None:
    """Arms with a sweep value as lines over it: one series of synthetic arms and, where present, one of
    classical-augmentation arms on the same budgets; the real-only arm starts both."""
    pts = [a for a in arms if a["sweep_value"] is not None and a["metrics"]]
    if len(pts) < 2:
        return None
    series: dict[str, list[dict]] = {}
    for a in sorted(pts, key=lambda a: a["sweep_value"]):
        if a["composition"] == "real":
            names = ["synthetic", "classical augmentation"]
        else:
            names = ["classical augmentation" if a["composition"] == "augment" else "synthetic"]
        for n in names:
            series.setdefault(n, []).append(a)
    out = {"label": cfg.sweep_label or "sweep value", "series": {}}
    for name, members in series.items():
        if len(members) < 2:
            continue
        entry = {
            "x": [a["sweep_value"] for a in members],
            "arms": [a["name"] for a in members],
            "metrics": {},
        }
        for m in ("roc_auc", "balanced_accuracy"):
            vals = [a["metrics"].get(m) for a in members]
            if all(v is not None for v in vals):
                entry["metrics"][m] = {"mean": [v["mean"] for v in vals], "std": [v["std"] for v in vals]}
        out["series"][name] = entry
    return out if out["series"] else None


def _warnings(out: dict, cfg, plan: dict, classes: list[str]) -> list[str]:
    y_counts = plan["test_class_counts"]
    y = np.repeat(np.arange(len(classes)), [y_counts[c] for c in classes])
    w = [f"test set: {x}" for x in stats.sample_size_warnings(y, classes, repeats=None)]
    w += stats.sample_size_warnings(np.repeat([0, 1], stats.MIN_PER_CLASS), None, repeats=plan["rounds"])
    if plan.get("ood_class_counts"):
        oc = plan["ood_class_counts"]
        yo = np.repeat(np.arange(len(classes)), [oc.get(c, 0) for c in classes])
        w += [f"out-of-distribution test set: {x}" for x in stats.sample_size_warnings(yo, classes, None)]
    w += [f"tuning run, not a result: {x}" for x in plan.get("fit_overlap", [])]
    if not out["complete"]:
        w.append(f"partial results: {out['units_done']} of {out['units_total']} arm x repeat units finished")
    return w
