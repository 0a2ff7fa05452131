"""The opt-in shortcut audit of an experiment: every arm's model gets "Δ AUC under tint shift" and
"flips under vignette" in the results table, numbers.csv and the report, which says no OOD set was given."""

import sys
from html import escape as html_escape
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "eval"))
from audit_data import tint_only_set, write_folder

from simstudio.experiments.analysis import number_rows, results_rows
from simstudio.experiments.audit_columns import COLUMNS, NO_OOD_NOTE
from simstudio.experiments.runner import run_experiment_here


def config(real, **kw):
    return {"name": "audited", "real": str(real), "split_spec": "70/30", "repeats": 1, "image_size": 32,
            "model": {"model": "smallcnn", "epochs": 3, "batch_size": 16, "lr": 0.01, "device": "cpu"},
            "n_boot": 100, "arms": [{"name": "real only", "composition": "real"}], **kw}


def test_an_audited_experiment_shows_the_audit_columns_and_says_no_ood_set_was_given(tmp_path):
    real = write_folder(tmp_path / "real", *tint_only_set(20, size=32, seed=4))
    run, result = run_experiment_here(config(real, audit=True))
    assert run.status == "finished", run.error
    row = results_rows(result)[0]
    assert set(COLUMNS.values()) <= set(row)
    assert row["Δ AUC under tint shift"] != "n/a" and row["flips under vignette"].endswith("%")
    metrics = {r["metric"] for r in number_rows(result)}
    assert {"audit_tint_delta_auc_mean", "audit_vignette_flips_mean"} <= metrics
    unit = next((run.path / "units").iterdir())
    assert (unit / "audit.json").is_file()
    html = (run.path / "report.html").read_text()
    assert html_escape(NO_OOD_NOTE) in html and "Δ AUC under tint shift" in html


def test_without_the_opt_in_nothing_is_audited(tmp_path):
    real = write_folder(tmp_path / "real", *tint_only_set(20, size=32, seed=4))
    run, result = run_experiment_here(config(real))
    assert run.status == "finished", run.error
    assert "Δ AUC under tint shift" not in results_rows(result)[0]
    assert not list((run.path / "units").glob("*/audit.json"))
