"""The experiment's opt-in shortcut audit (`ExperimentConfig.audit`, `experiment --audit`): each arm x
repeat model is read on its real test images after the colour cast is moved to the other class's median
and after a vignette / field stop is added (`eval.classifier_audit`), so the results table can show
"Δ AUC under tint shift" and "flips under vignette" beside the accuracy."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from simstudio.runs import atomic_write_json, read_json

AUDIT_EDITS = ("tint", "add_vignette")
COLUMNS = {"tint_delta_auc": "Δ AUC under tint shift", "vignette_flips": "flips under vignette"}
NO_OOD_NOTE = ("No out-of-distribution test set was given (--ood): the audit columns show how each arm's "
               "answers move when only the acquisition of its test images is edited; a test set from another "
               "clinic and camera remains the direct measure of robustness.")


def audit_unit(unit_dir: Path, model, images: np.ndarray, y: np.ndarray, classes: list[str],
               seed: int = 0, n_boot: int = 200) -> dict:
    """Audit one unit's model on its test images; saves units/<key>/audit.json and returns it."""
    from simstudio.eval.classifier_audit import audit_classifiers
    from simstudio.train.checkpoints import predict_proba

    def predict(batch):
        return predict_proba(model, np.array(batch))

    out = audit_classifiers({"model": predict}, np.asarray(images), np.asarray(y), classes, AUDIT_EDITS,
                            seed=seed, n_boot=n_boot)
    slim = {"tint_delta_auc": out["edits"]["tint"]["model"]["delta_auc"],
            "vignette_flips": out["edits"]["add_vignette"]["model"]["flip_rate"],
            "verdicts": out["verdicts"],
            "edits": {e: {k: v for k, v in r["model"].items() if k != "deltas"} for e, r in out["edits"].items()}}
    atomic_write_json(Path(unit_dir) / "audit.json", slim)
    return slim


def arm_audit(run_dir: Path, unit_keys: list[str]) -> dict:
    """Mean and sd over an arm's finished units of each audit column (empty when none was audited)."""
    rows = [read_json(Path(run_dir) / "units" / k / "audit.json") for k in unit_keys]
    rows = [r for r in rows if r]
    out = {}
    for key in COLUMNS:
        vals = [float(r[key]) for r in rows if r.get(key) is not None]
        if vals:
            out[key] = {"mean": float(np.mean(vals)), "std": float(np.std(vals)), "n": len(vals),
                        "values": vals}
    return out


def audit_cells(arm: dict) -> dict:
    """The results-table cells of one arm: mean ± sd over repeats, 'n/a' when not audited."""
    cells = {}
    for key, label in COLUMNS.items():
        v = (arm.get("audit") or {}).get(key)
        if not v:
            cells[label] = "n/a"
        elif key == "vignette_flips":
            cells[label] = (f"{100 * v['mean']:.1f}% ± {100 * v['std']:.1f}" if v["n"] > 1
                            else f"{100 * v['mean']:.1f}%")
        else:
            cells[label] = f"{v['mean']:+.3f} ± {v['std']:.3f}" if v["n"] > 1 else f"{v['mean']:+.3f}"
    return cells
