"""The Gap tab's audit handlers: bad input gives a message, a finished audit run gives every view."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "eval"))
from audit_data import tint_only_set, write_folder

from simstudio.eval.audit_run import AuditConfig, run_audit
from simstudio.jobs import run_in_foreground
from simstudio.ui.audit_section import audit_run_choices, audit_views, start_audit


def test_bad_input_gives_a_message_and_no_job():
    assert start_audit("")[0] == "" and "Choose a dataset" in start_audit("")[1]
    run_id, msg = start_audit("/no/such/folder")
    assert run_id == "" and "neither a folder nor a run" in msg
    run_id, msg = start_audit("/tmp", edits=["zoom"])
    assert run_id == "" and "zoom" in msg


def test_a_finished_audit_run_gives_the_verdict_tables_and_figures(tmp_path):
    folder = write_folder(tmp_path / "set", *tint_only_set(10, size=48, seed=5))
    run, result = run_in_foreground("audit", run_audit, AuditConfig(dataset=str(folder), workers=1), echo=False)
    status, verdict, sets, aucs, hist, edits, edit_fig, response, errors = audit_views(run.id)
    assert "finished" in status and "acquisition alone predicts the label" in verdict
    assert list(sets["features"]) == ["acquisition", "lesion", "both"]
    assert len(aucs.data) >= 1 and len(hist.data) >= 2
    assert edits is None and response is None and errors == []   # no classifier was audited


def test_an_audit_with_a_classifier_shows_what_moves_it_and_its_worst_errors(tmp_path):
    from audit_data import size_only_set
    from test_classifier_audit import train_tiny

    from simstudio.runs import runs_root

    size = train_tiny(*size_only_set(48, size=64, seed=1), runs_root())
    # >= 20 images a class, so each class and feature gets a rho
    folder = write_folder(tmp_path / "set", *tint_only_set(24, size=64, seed=5))
    run, _ = run_in_foreground("audit", run_audit, AuditConfig(dataset=str(folder), classifiers=[size],
                                                               classifier_part="", edits=["tint"], workers=1),
                               echo=False)
    assert run.id in audit_run_choices()   # reopened from "…or open a past audit"
    *_, response, errors = audit_views(run.id)
    assert set(response["class"]) == {"benign", "malignant"} and "Spearman rho" in response.columns
    # a size reader on a set where size carries no label: it gets some wrong, shown as saved images
    assert errors and all(Path(path).is_file() and caption.split()[0] in ("benign", "malignant")
                          for path, caption in errors)
